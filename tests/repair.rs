//! Derived files (indexes, tree) damaged or deleted are reported by `verify` and rebuilt by
//! `rebuild_derived` (CLI: `provledger repair`) without touching the segments.

use provledger::{rebuild_derived, verify, Check, Draft, Durability, Ledger, Options, SigningKey, TrustAnchor};

#[test]
fn damaged_indexes_and_tree_are_reported_then_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed(&[41; 32]);
    let opts = || Options {
        segment_size: 2048,
        durability: Durability::None,
        ..Options::default()
    };
    let mut l = Ledger::create(dir.path(), &key, "r", opts()).unwrap();
    let drafts = (0..60)
        .map(|i| Draft::application("text/plain", format!("e{i}").into_bytes()))
        .collect();
    l.append_batch(drafts).unwrap();
    l.checkpoint().unwrap();
    drop(l);
    let segments_before: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(segments_before.len() >= 4, "several segments");
    let first_idx = dir.path().join("segments/00000000000000000000.idx");
    std::fs::remove_file(&first_idx).unwrap();
    let anchor = TrustAnchor::PublicKey(key.verifying_key());
    assert_eq!(
        verify(dir.path(), &anchor).unwrap().failure.map(|f| f.check),
        Some(Check::Index)
    );
    let level2 = dir.path().join("tree/level-02.hashes");
    let mut t = std::fs::read(&level2).unwrap();
    t[40] ^= 1;
    std::fs::write(&level2, &t).unwrap();
    let rebuilt = rebuild_derived(dir.path(), &opts()).unwrap();
    assert_eq!(
        (rebuilt.indexes as usize, rebuilt.tree_leaves),
        (segments_before.len(), 61)
    );
    let report = verify(dir.path(), &anchor).unwrap();
    assert!(
        report.is_ok() && report.checkpoints_verified == 1,
        "{:?}",
        report.failure
    );
    for (p, bytes) in segments_before {
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{} unchanged", p.display());
    }
    let _writer = Ledger::open(dir.path(), &key, opts()).unwrap();
    assert!(rebuild_derived(dir.path(), &opts()).is_err(), "needs the writer lock");
}
