//! Checkpoints, stored tree files, proofs from disk, high-volume (unsigned) entries and
//! incremental verification.

use std::path::Path;

use provledger::{
    verify, verify_opts, Check, Draft, Durability, Ledger, LedgerReader, Options, SigningKey, TrustAnchor,
    VerifyOptions,
};

fn key() -> SigningKey {
    SigningKey::from_seed(&[11; 32])
}

fn anchor() -> TrustAnchor {
    TrustAnchor::PublicKey(key().verifying_key())
}

fn opts() -> Options {
    Options {
        segment_size: 4096,
        durability: Durability::None,
        ..Options::default()
    }
}

fn event(i: u64) -> Draft {
    Draft::application("application/json", format!(r#"{{"event":{i}}}"#).into_bytes())
}

fn build(dir: &Path, n: u64) -> Ledger {
    let mut l = Ledger::create(dir, &key(), "t", opts()).unwrap();
    l.append_batch((1..n).map(event).collect()).unwrap();
    l
}

#[test]
fn proofs_from_disk_verify_for_every_entry_and_between_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 40);
    let first = l.checkpoint().unwrap();
    l.append_batch((40..77).map(event).collect()).unwrap();
    let second = l.checkpoint().unwrap();
    assert_eq!((first.tree_size, second.tree_size), (40, 77));
    drop(l);
    let r = LedgerReader::open(dir.path()).unwrap();
    let vk = key().verifying_key();
    for seq in 0..77 {
        let p = r.inclusion_proof(seq, None).unwrap();
        p.verify(&vk).unwrap();
        assert_eq!(p.entry_hash, r.get(seq).unwrap().hash);
        let mut bad = p.clone();
        bad.entry_hash = r.get((seq + 1) % 77).unwrap().hash;
        assert!(bad.verify(&vk).is_err(), "a proof for another entry must fail");
    }
    assert!(
        r.inclusion_proof(40, Some(40)).is_err(),
        "entry 40 is not covered by size 40"
    );
    let c = r.consistency_proof(40, None).unwrap();
    c.verify(&vk).unwrap();
    let other = SigningKey::from_seed(&[12; 32]).verifying_key();
    assert!(
        c.verify(&other).is_err(),
        "checkpoints must be signed by the trusted key"
    );
    let report = verify(dir.path(), &anchor()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.root, second.root);
}

/// Cuts the segment holding entry `keep` so that only entries `..keep` remain, and drops
/// the derived files, as an attacker with write access would.
fn cut_to(dir: &Path, keep: u64) {
    let r = LedgerReader::open(dir).unwrap();
    let e = r.get(keep).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&e.file).unwrap();
    f.set_len(e.offset).unwrap();
    std::fs::remove_dir_all(dir.join("tree")).unwrap();
    // Later segments go too (their names are their first sequence numbers).
    for ent in std::fs::read_dir(dir.join("segments")).unwrap() {
        let p = ent.unwrap().path();
        let first: u64 = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        if first > keep || (first == keep && e.offset == 64) {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn truncation_after_a_checkpoint_is_caught_naming_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 30);
    l.checkpoint().unwrap();
    drop(l);
    cut_to(dir.path(), 20);
    // The writer reopens the cut ledger happily: a clean frame boundary is not damage.
    drop(Ledger::open(dir.path(), &key(), opts()).unwrap());
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("truncation must be detected");
    assert_eq!(f.check, Check::Checkpoint);
    assert!(f.message.contains("checkpoint #0"), "{}", f.message);
    assert_eq!(f.seq, Some(20));
}

#[test]
fn a_rewritten_entry_is_caught_against_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 30);
    l.checkpoint().unwrap();
    drop(l);
    // An insider with the operator key rewrites history from entry 12 on: every signature
    // and chain link is valid again, only the checkpoint handed out earlier disagrees.
    cut_to(dir.path(), 12);
    let mut l = Ledger::open(dir.path(), &key(), opts()).unwrap();
    l.append(Draft::application(
        "application/json",
        br#"{"event":"rewritten"}"#.to_vec(),
    ))
    .unwrap();
    l.append_batch((13..35).map(event).collect()).unwrap();
    drop(l);
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("a fork must be detected");
    assert_eq!(f.check, Check::Checkpoint);
    assert_eq!(f.seq, Some(29));
    assert!(f.message.contains("checkpoint #0 (size 30)"), "{}", f.message);
}

#[test]
fn unsigned_entries_pass_only_when_a_checkpoint_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 3);
    let unsigned = |i| event(i).without_appender_signature();
    l.append_batch((3..50).map(unsigned).collect()).unwrap();
    l.checkpoint().unwrap();
    l.append_batch((50..55).map(unsigned).collect()).unwrap();
    drop(l);
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("uncovered unsigned entries fail by default");
    assert_eq!((f.check, f.seq), (Check::Signature, Some(50)));
    let lenient = VerifyOptions {
        allow_uncovered_tail: true,
        ..VerifyOptions::default()
    };
    let report = verify_opts(&provledger::storage::StdBackend, dir.path(), &anchor(), &lenient).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!((report.unsigned_covered, report.uncovered_tail), (47, 5));
}

#[test]
fn incremental_verification_reads_only_newer_entries_and_catches_forks() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 25);
    let trusted = l.checkpoint().unwrap();
    l.append_batch((25..60).map(event).collect()).unwrap();
    l.checkpoint().unwrap();
    drop(l);
    let from = VerifyOptions {
        from_checkpoint: Some(trusted),
        ..VerifyOptions::default()
    };
    let backend = provledger::storage::StdBackend;
    let report = verify_opts(&backend, dir.path(), &anchor(), &from).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(
        (report.verified_from, report.entries, report.checkpoints_verified),
        (25, 60, 1)
    );

    // Fork the ledger below the trusted checkpoint: the stored tree no longer reproduces it.
    cut_to(dir.path(), 10);
    let mut l = Ledger::open(dir.path(), &key(), opts()).unwrap();
    l.append_batch((100..160).map(event).collect()).unwrap();
    drop(l);
    let report = verify_opts(&backend, dir.path(), &anchor(), &from).unwrap();
    let f = report.failure.expect("fork below the trusted checkpoint");
    assert_eq!(f.check, Check::Checkpoint);
}

#[test]
fn tree_files_are_checked_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 40);
    l.checkpoint().unwrap();
    drop(l);
    // A flipped byte in a stored node is damage.
    let level1 = dir.path().join("tree/level-01.hashes");
    let mut bytes = std::fs::read(&level1).unwrap();
    bytes[32 + 5 * 32 + 7] ^= 0x40;
    std::fs::write(&level1, &bytes).unwrap();
    let f = verify(dir.path(), &anchor()).unwrap().failure.expect("tree damage");
    assert_eq!(f.check, Check::Tree);
    // Missing tree files are reported, not fatal, and the writer rebuilds them.
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let report = verify(dir.path(), &anchor()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert!(report.tree_missing_nodes > 0);
    let l = Ledger::open(dir.path(), &key(), opts()).unwrap();
    assert_eq!(l.recovery().tree_replayed, 40);
    drop(l);
    let report = verify(dir.path(), &anchor()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.tree_missing_nodes, 0);
    LedgerReader::open(dir.path())
        .unwrap()
        .inclusion_proof(17, None)
        .unwrap()
        .verify(&key().verifying_key())
        .unwrap();
}

#[test]
fn damaged_or_foreign_checkpoints_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = build(dir.path(), 10);
    l.checkpoint().unwrap();
    drop(l);
    let log = dir.path().join("checkpoints.log");
    let clean = std::fs::read(&log).unwrap();
    for i in (32..clean.len()).step_by(7) {
        let mut b = clean.clone();
        b[i] ^= 1;
        std::fs::write(&log, &b).unwrap();
        let f = verify(dir.path(), &anchor()).unwrap().failure;
        assert_eq!(f.map(|f| f.check), Some(Check::Checkpoint), "flip at {i}");
    }
    std::fs::write(&log, &clean).unwrap();
    assert!(verify(dir.path(), &anchor()).unwrap().is_ok());
}
