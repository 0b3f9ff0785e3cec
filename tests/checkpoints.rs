//! Checkpoints, stored tree files, proofs from disk, high-volume (unsigned) entries and
//! incremental verification.

mod common;

use std::path::Path;

use common::{fix_frame_crcs, record_fields, std_layout, std_opts, MIN_SEGMENT};
use provledger::checkpoint::{log_path, CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
use provledger::storage::StdBackend;
use provledger::{
    verify, verify_opts, Check, Checkpoint, Draft, Durability, Ledger, LedgerId, LedgerReader, SigningKey, Timestamp,
    TrustAnchor, VerifyOptions, VerifyReport,
};

fn key() -> SigningKey {
    SigningKey::from_seed(&[11; 32])
}

fn anchor() -> TrustAnchor {
    TrustAnchor::PublicKey(key().verifying_key())
}

fn opts() -> provledger::Options {
    std_opts(Durability::Buffered, MIN_SEGMENT)
}

fn event(i: u64) -> Draft {
    Draft::application("application/json", format!(r#"{{"event":{i}}}"#).into_bytes())
}

/// A ledger of genesis and `1..n`, each appended on its own (each write ends with a seal, so
/// the ledger can be cut after any entry as an attacker would, at a frame boundary).
fn build(dir: &Path, n: u64) -> Ledger {
    let l = Ledger::create(dir, key(), "t", opts()).unwrap();
    for i in 1..n {
        l.append(event(i)).unwrap();
    }
    l
}

fn verify_from(dir: &Path, from: Option<Checkpoint>) -> VerifyReport {
    let o = VerifyOptions::default().from_checkpoint(from);
    verify_opts(&StdBackend, dir, &anchor(), &o).unwrap()
}

#[test]
fn proofs_from_disk_verify_for_every_entry_and_between_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 40);
    let first = l.checkpoint().unwrap();
    l.append_batch((40..77).map(event).collect()).unwrap();
    let second = l.checkpoint().unwrap();
    assert_eq!((first.tree_size, second.tree_size), (40, 77));
    assert_eq!(l.latest_checkpoint(), Some(second));
    let id = l.ledger_id();
    l.close().unwrap();
    let r = LedgerReader::open(dir.path()).unwrap();
    let vk = key().verifying_key();
    let other_ledger = LedgerId([7; 16]);
    for seq in 0..77 {
        let p = r.inclusion_proof(seq, None).unwrap();
        assert_eq!((p.version, p.ledger_id, p.tree_size), (2, id, 77));
        p.verify(&vk).unwrap();
        p.verify_for(&vk, Some(id)).unwrap();
        assert!(
            p.verify_for(&vk, Some(other_ledger)).is_err(),
            "a proof names its ledger"
        );
        assert_eq!(p.entry_hash, r.get(seq).unwrap().entry.hash);
        let mut bad = p.clone();
        bad.entry_hash = r.get((seq + 1) % 77).unwrap().entry.hash;
        assert!(bad.verify(&vk).is_err(), "a proof for another entry must fail");
        if seq < 40 {
            let old = r.inclusion_proof(seq, Some(40)).unwrap();
            assert_eq!(old.checkpoint, Some(first));
            old.verify(&vk).unwrap();
        }
    }
    assert!(
        r.inclusion_proof(40, Some(40)).is_err(),
        "entry 40 is not covered by size 40"
    );
    let c = r.consistency_proof(40, None).unwrap();
    assert_eq!((c.old_size, c.new_size, c.ledger_id), (40, 77, id));
    c.verify(&vk).unwrap();
    assert!(c.verify_for(&vk, Some(other_ledger)).is_err());
    let other = SigningKey::from_seed(&[12; 32]).verifying_key();
    assert!(
        c.verify(&other).is_err(),
        "checkpoints must be signed by the trusted key"
    );
    let mut forged = c.clone();
    forged.old_root = second.root;
    assert!(
        forged.verify(&vk).is_err(),
        "the old root is pinned by the old checkpoint"
    );
    let report = verify(dir.path(), &anchor()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.root, second.root);
    assert_eq!(report.latest_checkpoint, Some(second));
}

/// Cuts the ledger so that only entries `..keep` remain, and drops the derived files, as an
/// attacker with write access would.
fn cut_to(dir: &Path, keep: u64) {
    let r = LedgerReader::open(dir).unwrap();
    let e = r.get(keep).unwrap();
    drop(r);
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
    std::fs::remove_file(dir.join("segments/00000000000000000000.idx")).unwrap();
}

#[test]
fn truncation_after_a_checkpoint_is_caught_naming_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 30);
    l.checkpoint().unwrap();
    l.close().unwrap();
    cut_to(dir.path(), 20);
    // The writer reopens the cut ledger: a cut back to a seal looks like a crash.
    let l = Ledger::open(dir.path(), key(), opts()).unwrap();
    assert_eq!(l.len(), 20);
    l.close().unwrap();
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("truncation must be detected");
    assert_eq!((f.check, f.seq), (Check::Checkpoint, Some(20)), "{f}");
    assert!(f.message.contains("checkpoint #0"), "{}", f.message);
}

#[test]
fn a_rewritten_entry_is_caught_against_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 30);
    l.checkpoint().unwrap();
    l.close().unwrap();
    // An insider with the operator key rewrites history from entry 12 on: every signature
    // and chain link is valid again, only the checkpoint handed out earlier disagrees.
    cut_to(dir.path(), 12);
    let l = Ledger::open(dir.path(), key(), opts()).unwrap();
    l.append(Draft::application(
        "application/json",
        br#"{"event":"rewritten"}"#.to_vec(),
    ))
    .unwrap();
    l.append_batch((13..35).map(event).collect()).unwrap();
    l.close().unwrap();
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("a fork must be detected");
    assert_eq!((f.check, f.seq), (Check::Checkpoint, Some(29)), "{f}");
    assert!(f.message.contains("checkpoint #0 (size 30)"), "{}", f.message);
    assert_eq!(report.entries, 29);
}

#[test]
fn unsigned_entries_pass_only_when_a_checkpoint_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 3);
    let unsigned = |i| event(i).without_position_signature();
    l.append_batch((3..50).map(unsigned).collect()).unwrap();
    l.checkpoint().unwrap();
    l.append_batch((50..55).map(unsigned).collect()).unwrap();
    l.close().unwrap();
    let report = verify(dir.path(), &anchor()).unwrap();
    let f = report.failure.expect("uncovered unsigned entries fail by default");
    assert_eq!((f.check, f.seq), (Check::Signature, Some(50)));
    let lenient = VerifyOptions::default().allow_uncovered_tail(true);
    let report = verify_opts(&StdBackend, dir.path(), &anchor(), &lenient).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!((report.unsigned_covered, report.uncovered_tail), (47, 5));
    // Governance entries cannot go unsigned.
    let l = Ledger::open(dir.path(), key(), opts()).unwrap();
    let rec = provledger::record::Record::Redaction(provledger::record::Redaction {
        target_seq: 1,
        target: LedgerReader::open(dir.path()).unwrap().get(1).unwrap().entry.hash,
        reason: "x".into(),
    });
    let e = l
        .append(Draft::record(&rec).unwrap().without_position_signature())
        .unwrap_err();
    assert!(matches!(e, provledger::AppendError::InvalidDraft { .. }), "{e}");
}

#[test]
fn incremental_verification_rehashes_the_prefix_and_catches_forks() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 25);
    let trusted = l.checkpoint().unwrap();
    l.append_batch((25..60).map(event).collect()).unwrap();
    l.checkpoint().unwrap();
    l.close().unwrap();
    let report = verify_from(dir.path(), Some(trusted));
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(
        (report.verified_from, report.entries, report.checkpoints_verified),
        (25, 60, 2)
    );
    // A checkpoint of another ledger is not a starting point.
    let foreign = Checkpoint {
        ledger_id: LedgerId([1; 16]),
        ..trusted
    };
    let f = verify_from(dir.path(), Some(foreign))
        .failure
        .expect("foreign checkpoint");
    assert_eq!(f.check, Check::Checkpoint, "{f}");

    let seg = std_layout(dir.path()).remove(0);
    let edit = |at: usize, frame: &common::Frame| {
        let mut b = seg.bytes.clone();
        b[at] ^= 0x04;
        fix_frame_crcs(&mut b, frame);
        std::fs::write(&seg.path, b).unwrap();
    };
    let restore = || std::fs::write(&seg.path, &seg.bytes).unwrap();
    // The prefix is re-hashed: a payload changed below the trusted checkpoint (checksums
    // fixed) is caught by the stored tree, or without tree files by the checkpoint's root.
    let m = seg.frames[10];
    edit(m.payload().start, &m);
    let f = verify_from(dir.path(), Some(trusted)).failure.expect("changed payload");
    assert_eq!((f.check, f.seq), (Check::Tree, Some(10)), "{f}");
    let tree = dir.path().join("tree");
    let saved = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&tree).unwrap() {
        let p = e.unwrap().path();
        std::fs::rename(&p, saved.path().join(p.file_name().unwrap())).unwrap();
    }
    let f = verify_from(dir.path(), Some(trusted)).failure.expect("changed payload");
    assert_eq!((f.check, f.seq), (Check::Checkpoint, Some(24)), "{f}");
    assert!(f.message.contains("(size 25) has a different root"), "{f}");
    restore();
    // Only the signatures below it are taken on the checkpoint's word: a position signature
    // changed there (not part of the entry hash) passes incrementally, and fails in full.
    let fields = record_fields(&seg.bytes[m.entry()]);
    let (_, sig) = fields.position.expect("position-signed");
    edit(m.entry().start + sig.start, &m);
    let r = verify_from(dir.path(), Some(trusted));
    assert!(r.is_ok(), "{:?}", r.failure);
    let f = verify_from(dir.path(), None)
        .failure
        .expect("full verification checks it");
    assert_eq!((f.check, f.seq), (Check::Chain, Some(10)), "{f}");
    restore();
    for e in std::fs::read_dir(saved.path()).unwrap() {
        let p = e.unwrap().path();
        std::fs::rename(&p, tree.join(p.file_name().unwrap())).unwrap();
    }
    assert!(verify_from(dir.path(), Some(trusted)).is_ok());

    // Fork the ledger below the trusted checkpoint: the entries no longer reproduce it.
    cut_to(dir.path(), 10);
    let l = Ledger::open(dir.path(), key(), opts()).unwrap();
    l.append_batch((100..160).map(event).collect()).unwrap();
    l.close().unwrap();
    let f = verify_from(dir.path(), Some(trusted))
        .failure
        .expect("fork below the trusted checkpoint");
    assert_eq!(f.check, Check::Checkpoint);
}

#[test]
fn tree_files_are_checked_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 40);
    l.checkpoint().unwrap();
    l.close().unwrap();
    // Only even levels are stored (docs/FORMAT.md §11.4).
    assert!(!dir.path().join("tree/level-01.hashes").exists());
    // A flipped byte in a stored node is damage.
    let level2 = dir.path().join("tree/level-02.hashes");
    let mut bytes = std::fs::read(&level2).unwrap();
    assert_eq!(bytes.len(), 32 + 10 * 32, "⌊40 / 4⌋ nodes");
    bytes[32 + 5 * 32 + 7] ^= 0x40;
    std::fs::write(&level2, &bytes).unwrap();
    let f = verify(dir.path(), &anchor()).unwrap().failure.expect("tree damage");
    assert_eq!((f.check, f.seq), (Check::Tree, Some(23)), "{f}");
    // Missing tree files are reported, not fatal, and the writer rebuilds them.
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let report = verify(dir.path(), &anchor()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert!(report.tree_missing_nodes > 0);
    assert!(LedgerReader::open(dir.path())
        .unwrap()
        .inclusion_proof(17, None)
        .is_err());
    let l = Ledger::open(dir.path(), key(), opts()).unwrap();
    assert_eq!(l.recovery().tree_replayed, 40);
    l.close().unwrap();
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
fn damaged_or_invalid_checkpoints_fail() {
    let dir = tempfile::tempdir().unwrap();
    let l = build(dir.path(), 10);
    let cp = l.checkpoint().unwrap();
    l.close().unwrap();
    let log = log_path(dir.path());
    let clean = std::fs::read(&log).unwrap();
    assert_eq!(clean.len(), CHECKPOINT_HEADER_LEN + CHECKPOINT_RECORD_LEN);
    for i in 0..clean.len() {
        let mut b = clean.clone();
        b[i] ^= 1;
        std::fs::write(&log, &b).unwrap();
        let f = verify(dir.path(), &anchor()).unwrap().failure;
        assert_eq!(f.map(|f| f.check), Some(Check::Checkpoint), "flip at {i}");
    }
    // Checkpoints appended with valid records: a size 0, a size that shrinks, a signer that is
    // not an operator of this ledger, a root the ledger does not have.
    let other = SigningKey::from_seed(&[13; 32]);
    let now = Timestamp(1);
    let bad = [
        (
            Checkpoint::sign(cp.ledger_id, 0, cp.root, now, &key()),
            "covers no entry",
            None,
        ),
        (
            Checkpoint::sign(cp.ledger_id, 5, cp.root, now, &key()),
            "smaller",
            Some(4),
        ),
        (
            Checkpoint::sign(cp.ledger_id, 10, cp.root, now, &other),
            "operator",
            Some(9),
        ),
        (
            Checkpoint::sign(cp.ledger_id, 7, cp.root, now, &key()),
            "different root",
            Some(6),
        ),
    ];
    for (i, (c, why, seq)) in bad.into_iter().enumerate() {
        let mut b = clean.clone();
        if i == 3 {
            b.truncate(CHECKPOINT_HEADER_LEN); // alone in the log: sizes in order
        }
        b.extend_from_slice(&c.encode());
        std::fs::write(&log, &b).unwrap();
        let f = verify(dir.path(), &anchor()).unwrap().failure.expect(why);
        assert_eq!(f.check, Check::Checkpoint, "{why}: {f}");
        assert!(f.message.contains(why), "{why}: {f}");
        if let Some(seq) = seq {
            assert_eq!(f.seq, Some(seq), "{why}: {f}");
        }
    }
    // A torn final record (an interrupted append: all zeros) is ignored.
    let mut b = clean.clone();
    b.extend_from_slice(&[0; CHECKPOINT_RECORD_LEN]);
    std::fs::write(&log, &b).unwrap();
    let r = verify(dir.path(), &anchor()).unwrap();
    assert!(r.is_ok() && r.checkpoints_verified == 1, "{:?}", r.failure);
    std::fs::write(&log, &clean).unwrap();
    assert!(verify(dir.path(), &anchor()).unwrap().is_ok());
}
