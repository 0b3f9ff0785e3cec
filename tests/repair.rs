//! Derived files (indexes, tree) damaged or deleted are reported by `verify` and rebuilt by
//! `rebuild_derived` (CLI: `provledger repair`) without touching the segments, the checkpoint
//! log or the payloads.

mod common;

use common::{big_draft, std_opts, MIN_SEGMENT};
use provledger::{rebuild_derived, verify, Check, Draft, Durability, Ledger, OpenError, SigningKey, TrustAnchor};

#[test]
fn damaged_indexes_and_tree_are_reported_then_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed(&[41; 32]);
    let opts = || std_opts(Durability::Buffered, MIN_SEGMENT);
    let l = Ledger::create(dir.path(), key.clone(), "r", opts()).unwrap();
    let drafts = (0..60)
        .map(|i| {
            if i % 6 == 5 {
                big_draft(i, 300 << 10)
            } else {
                Draft::application("text/plain", format!("e{i}").into_bytes())
            }
        })
        .collect();
    l.append_batch(drafts).unwrap();
    l.checkpoint().unwrap();
    l.close().unwrap();
    let files = |ext: &str| -> Vec<_> {
        let mut v: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let segments_before = files("seg");
    let indexes_before = files("idx");
    let log_before = std::fs::read(dir.path().join("checkpoints.log")).unwrap();
    assert!(
        segments_before.len() >= 3,
        "several segments: {}",
        segments_before.len()
    );
    let anchor = TrustAnchor::PublicKey(key.verifying_key());

    // A sealed segment's index deleted, another's garbled, the newest one's cut short, a node
    // of an even tree level flipped, the leaf level deleted.
    std::fs::remove_file(&indexes_before[0].0).unwrap();
    std::fs::write(&indexes_before[1].0, b"garbage").unwrap();
    let newest = indexes_before.last().unwrap();
    std::fs::write(&newest.0, &newest.1[..newest.1.len() - 4]).unwrap();
    let f = verify(dir.path(), &anchor)
        .unwrap()
        .failure
        .expect("a lost index is reported");
    assert_eq!((f.check, f.seq), (Check::Index, Some(0)), "{f}");
    let level2 = dir.path().join("tree/level-02.hashes");
    let mut t = std::fs::read(&level2).unwrap();
    t[40] ^= 1;
    std::fs::write(&level2, &t).unwrap();
    std::fs::remove_file(dir.path().join("tree/level-00.hashes")).unwrap();

    let rebuilt = rebuild_derived(dir.path(), &opts()).unwrap();
    assert_eq!(
        (rebuilt.indexes as usize, rebuilt.tree_leaves),
        (segments_before.len(), 61)
    );
    let report = verify(dir.path(), &anchor).unwrap();
    assert!(
        report.is_ok() && report.checkpoints_verified == 1 && report.tree_missing_nodes == 0,
        "{:?}",
        report.failure
    );
    assert_eq!(files("seg"), segments_before, "segments unchanged");
    assert_eq!(files("idx"), indexes_before, "indexes rebuilt byte for byte");
    assert_eq!(std::fs::read(dir.path().join("checkpoints.log")).unwrap(), log_before);
    // Nothing to do the second time, and the ledger still opens and verifies.
    let again = rebuild_derived(dir.path(), &opts()).unwrap();
    assert_eq!(again.indexes as usize, segments_before.len());
    let writer = Ledger::open(dir.path(), key, opts()).unwrap();
    assert!(!writer.recovery().index_rebuilt && writer.recovery().tree_replayed == 0);
    assert!(
        matches!(rebuild_derived(dir.path(), &opts()), Err(OpenError::Locked { .. })),
        "needs the writer lock"
    );
    writer.close().unwrap();
    assert!(verify(dir.path(), &anchor).unwrap().is_ok());
}
