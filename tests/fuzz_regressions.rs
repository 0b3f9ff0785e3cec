//! Regression tests for bugs the fuzzers found (fuzz/README.md), named after the findings.

use std::path::Path;
use std::sync::Arc;

use provledger::storage::{Backend, SimBackend};
use provledger::{verify_with, Draft, Durability, Ledger, Options, SigningKey, TrustAnchor};

fn key() -> SigningKey {
    SigningKey::from_seed(&[31; 32])
}

/// Options for a ledger on the simulated `disk`.
fn sim(disk: &SimBackend, durability: Durability, segment_size: u64) -> Options {
    let backend: Arc<dyn Backend> = Arc::new(disk.clone());
    Options {
        backend,
        durability,
        segment_size,
        ..Options::default()
    }
}

fn event(i: u64) -> Draft {
    Draft::application("text/plain", format!("event {i}").into_bytes())
}

const DIR: &str = "/ledger";

/// F1: `Ledger::open` claimed every recovered entry durable without syncing the newest
/// segment, so a power loss right after could lose entries reported durable.
#[test]
fn fuzz_f1_open_syncs_before_claiming_entries_durable() {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    let opts = || sim(&disk, Durability::None, 1 << 20);
    let mut l = Ledger::create(dir, &key(), "f1", opts()).unwrap();
    l.append_batch((0..20).map(event).collect()).unwrap();
    assert_eq!(l.durable_len(), 1, "only genesis was synced");
    drop(l); // the process ends; the OS still holds the unsynced bytes
    let l = Ledger::open(dir, &key(), opts()).unwrap();
    assert_eq!((l.len(), l.durable_len()), (21, 21));
    drop(l);
    disk.crash();
    let l = Ledger::open(dir, &key(), opts()).unwrap();
    assert_eq!(l.len(), 21, "entries open reported durable survive a power loss");
}

/// F2: a disk filling up while `redact` overwrote the payload left a section failing its
/// checksum, and every later open failed finishing the erasure: the ledger was bricked.
#[test]
fn fuzz_f2_a_full_disk_during_erasure_does_not_brick_the_ledger() {
    let anchor = TrustAnchor::PublicKey(key().verifying_key());
    let mut outcomes = [false; 2];
    for budget in 0..900u64 {
        let disk = SimBackend::new();
        let dir = Path::new(DIR);
        let mut l = Ledger::create(dir, &key(), "f2", sim(&disk, Durability::PerBatch, 4096)).unwrap();
        let target = l.append(Draft::application("text/plain", vec![b'p'; 300])).unwrap();
        disk.set_write_budget(Some(budget));
        let result = l.redact(target.seq.0, "request");
        drop(l);
        disk.set_write_budget(None);
        let l = Ledger::open(dir, &key(), sim(&disk, Durability::PerBatch, 4096))
            .unwrap_or_else(|e| panic!("budget {budget}: open after a full disk: {e}"));
        let recorded = l.len() == 3;
        drop(l);
        let report = verify_with(&disk, dir, &anchor).unwrap();
        assert!(report.is_ok(), "budget {budget}: {:?}", report.failure);
        assert_eq!(report.redacted == vec![target.seq.0], recorded, "budget {budget}");
        assert!(result.is_err() || recorded, "budget {budget}");
        outcomes[usize::from(recorded)] = true;
    }
    assert_eq!(
        outcomes,
        [true, true],
        "the sweep must cut before and after the redaction entry"
    );
}

/// F3: `Ledger::open` trusted stored tree nodes, so after damage to a tree file the writer
/// signed checkpoints over a root its entries do not have.
#[test]
fn fuzz_f3_a_checkpoint_after_tree_damage_signs_the_true_root() {
    for damage_before_checkpoint in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = || Options {
            durability: Durability::None,
            ..Options::default()
        };
        let mut l = Ledger::create(dir.path(), &key(), "f3", opts()).unwrap();
        l.append_batch((0..40).map(event).collect()).unwrap();
        l.checkpoint().unwrap();
        l.append_batch((40..70).map(event).collect()).unwrap();
        drop(l);
        // Flip a leaf hash: before the checkpoint (leaf 3) or after it (leaf 60).
        let leaf = if damage_before_checkpoint { 3 } else { 60 };
        let level0 = dir.path().join("tree/level-00.hashes");
        let mut bytes = std::fs::read(&level0).unwrap();
        bytes[32 + leaf * 32] ^= 0x80;
        std::fs::write(&level0, &bytes).unwrap();
        let anchor = TrustAnchor::PublicKey(key().verifying_key());
        let mut l = Ledger::open(dir.path(), &key(), opts()).unwrap();
        l.append_batch((70..80).map(event).collect()).unwrap();
        l.checkpoint().unwrap();
        drop(l);
        // Damage the frontier did not depend on may remain in the stored tree (derived data):
        // reported as such, never as a bad checkpoint. After a rebuild, both checkpoints (the
        // one signed after the damage included) verify against the entries.
        let report = provledger::verify(dir.path(), &anchor).unwrap();
        if let Some(f) = &report.failure {
            assert_eq!(f.check, provledger::Check::Tree, "{f}");
        }
        let mut l = Ledger::open(dir.path(), &key(), opts()).unwrap();
        l.rebuild_tree().unwrap();
        drop(l);
        let report = provledger::verify(dir.path(), &anchor).unwrap();
        assert!(
            report.is_ok(),
            "damage before checkpoint: {damage_before_checkpoint}: {:?}",
            report.failure
        );
        assert_eq!(report.checkpoints_verified, 2);
    }
}

/// F3, the frontier itself damaged: the writer notices before signing (the stored frontier no
/// longer reproduces the newest checkpoint, or the entries since it hash to another root),
/// rebuilds the tree files, and the new checkpoint verifies with nothing left to repair.
#[test]
fn fuzz_f3_damage_to_a_frontier_node_is_rebuilt_before_signing() {
    // (level, index): the [0,32) subtree under the checkpoint of size 40; the [0,64) subtree
    // past it.
    for (level, index) in [(5usize, 0usize), (6, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let opts = || Options {
            durability: Durability::None,
            ..Options::default()
        };
        let mut l = Ledger::create(dir.path(), &key(), "f3", opts()).unwrap();
        l.append_batch((1..40).map(event).collect()).unwrap();
        l.checkpoint().unwrap();
        l.append_batch((40..70).map(event).collect()).unwrap();
        drop(l);
        let file = dir.path().join(format!("tree/level-{level:02}.hashes"));
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[32 + index * 32 + 5] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        let mut l = Ledger::open(dir.path(), &key(), opts()).unwrap();
        l.checkpoint().unwrap();
        assert!(l.recovery().tree_replayed > 0, "level {level}: the tree was rebuilt");
        drop(l);
        let report = provledger::verify(dir.path(), &TrustAnchor::PublicKey(key().verifying_key())).unwrap();
        assert!(report.is_ok(), "level {level}: {:?}", report.failure);
        assert_eq!(report.checkpoints_verified, 2);
    }
}

/// F5: a stray index file under the name of the segment the writer rotates into made the
/// rotation fail ("already exists") and poisoned the writer.
#[test]
fn fuzz_f5_a_stray_index_file_does_not_block_rotation() {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    let l = Ledger::create(dir, &key(), "f5", sim(&disk, Durability::PerBatch, 4096)).unwrap();
    drop(l);
    for seq in 1..=120u64 {
        disk.set_file_bytes(&dir.join(format!("segments/{seq:020}.idx")), b"stray".to_vec());
    }
    let mut l = Ledger::open(dir, &key(), sim(&disk, Durability::PerBatch, 4096)).unwrap();
    for i in 0..100 {
        l.append(event(i)).unwrap_or_else(|e| panic!("append {i}: {e}"));
    }
    drop(l);
    let report = verify_with(&disk, dir, &TrustAnchor::PublicKey(key().verifying_key())).unwrap();
    assert!(report.is_ok() && report.entries == 101, "{:?}", report.failure);
}

/// F6: under `Durability::None` the tree files could become durable ahead of the entries (the
/// writer's drop synced the tree only) and a tree cut on open was not synced, so a second power
/// loss brought back a node of a lost entry and an honest ledger failed `verify`.
#[test]
fn fuzz_f6_tree_files_never_outlive_the_entries_they_hash() {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    let anchor = TrustAnchor::PublicKey(key().verifying_key());
    drop(Ledger::create(dir, &key(), "f6", sim(&disk, Durability::None, 4096)).unwrap());
    for round in 0..12u64 {
        let mut l = Ledger::open(dir, &key(), sim(&disk, Durability::None, 4096)).unwrap();
        l.append_batch((0..7 + round).map(event).collect()).unwrap();
        if round % 3 == 0 {
            l.sync().unwrap();
        }
        if round % 2 == 0 {
            drop(l); // a clean shutdown
        } else {
            std::mem::forget(l); // the process dies without running destructors
        }
        disk.crash();
        drop(Ledger::open(dir, &key(), sim(&disk, Durability::None, 4096)).unwrap());
        disk.crash();
        let report = verify_with(&disk, dir, &anchor).unwrap();
        assert!(report.is_ok(), "round {round}: {:?}", report.failure);
    }
}

/// F7: like F2, but the erased entry is the last of a sealed segment (the redaction entry
/// rotated into a new one): recovery checked that frame, payload included, before the erasure
/// was finished, and every open failed.
#[test]
fn fuzz_f7_a_full_disk_erasing_the_last_entry_of_a_sealed_segment() {
    let anchor = TrustAnchor::PublicKey(key().verifying_key());
    let mut outcomes = [false; 2];
    for budget in (0..2400u64).step_by(3) {
        let disk = SimBackend::new();
        let dir = Path::new(DIR);
        let opts = || sim(&disk, Durability::PerBatch, 1500);
        let mut l = Ledger::create(dir, &key(), "f7", opts()).unwrap();
        // Fill the first segment so that the target is its last entry.
        let target = l.append(Draft::application("text/plain", vec![b'p'; 700])).unwrap();
        disk.set_write_budget(Some(budget));
        let result = l.redact(target.seq.0, "request");
        drop(l);
        disk.set_write_budget(None);
        let l = Ledger::open(dir, &key(), opts()).unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        let recorded = l.len() == 3;
        drop(l);
        let report = verify_with(&disk, dir, &anchor).unwrap();
        assert!(report.is_ok(), "budget {budget}: {:?}", report.failure);
        assert_eq!(report.redacted == vec![target.seq.0], recorded, "budget {budget}");
        assert!(result.is_err() || recorded, "budget {budget}");
        outcomes[usize::from(recorded)] = true;
    }
    assert_eq!(outcomes, [true, true]);
}

/// F4: an index slot near `u64::MAX` overflowed an offset addition (a panic in debug builds)
/// when a stream was positioned through the index.
#[test]
fn fuzz_f4_a_huge_index_offset_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::create(dir.path(), &key(), "f4", Options::default()).unwrap();
    l.append_batch((0..10).map(event).collect()).unwrap();
    drop(l);
    let idx = dir.path().join("segments/00000000000000000000.idx");
    let mut bytes = std::fs::read(&idx).unwrap();
    bytes[48..56].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    std::fs::write(&idx, &bytes).unwrap();
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    // Rebuilding the tree streams from entry 0 through the damaged slot.
    let l = Ledger::open(dir.path(), &key(), Options::default()).unwrap();
    assert_eq!(l.recovery().tree_replayed, 11);
    drop(l);
    let r = provledger::LedgerReader::open(dir.path()).unwrap();
    assert_eq!(r.get(0).unwrap().entry.seq.0, 0, "found by scanning instead");
}

/// F8: a rotation that failed after creating the new segment left its directory entry
/// unsynced; the next writer adopted the segment, reported appends there durable, and a power
/// loss removed the file with them.
#[test]
fn fuzz_f8_entries_in_an_adopted_segment_are_durable_when_reported() {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    // Every append starts a new segment.
    let opts = || sim(&disk, Durability::PerBatch, 257);
    let mut ledger = Ledger::create(dir, &key(), "f8", opts()).unwrap();
    disk.set_write_budget(Some(100)); // the new segment's header is written, its index is not
    assert!(ledger.append(event(1)).is_err());
    disk.set_write_budget(None);
    drop(ledger);
    let mut ledger = Ledger::open(dir, &key(), opts()).unwrap();
    let r = ledger.append(event(2)).unwrap();
    assert!(r.durable);
    drop(ledger);
    disk.crash();
    let ledger = Ledger::open(dir, &key(), opts()).unwrap();
    assert!(
        ledger.len() > r.seq.0,
        "durable entry {} lost; {} left",
        r.seq.0,
        ledger.len()
    );
    assert_eq!(ledger.head(), r.entry_hash);
}

/// F9 (`decode_json`): `Genesis::encode` encoded records that `Genesis::decode` refuses (no
/// anchors, no admin, a duplicate key, an over-long name…), so a genesis taken from JSON could
/// be written as bytes no reader accepts. `encode` now makes the same checks.
#[test]
fn fuzz_f9_genesis_encode_refuses_what_decode_refuses() {
    use provledger::record::{Policy, PrincipalType, Role, TrustAnchorKey, MAX_NAME_LEN};
    use provledger::{DecodeError, Genesis};
    let pk = key().verifying_key().to_bytes();
    let anchor = |roles: Vec<Role>| TrustAnchorKey {
        public_key: pk,
        principal_id: "svc".into(),
        principal_type: PrincipalType::Service,
        roles,
    };
    let genesis = |name: &str, anchors| Genesis {
        name: name.into(),
        anchors,
        policy: Policy::default(),
    };
    let good = genesis("ok", vec![anchor(vec![Role::Admin])]);
    assert_eq!(Genesis::decode(&good.encode().unwrap()), Ok(good));
    let too_long = "n".repeat(MAX_NAME_LEN + 1);
    for (what, bad) in [
        ("no anchors", genesis("x", vec![])),
        ("no admin", genesis("x", vec![anchor(vec![Role::Operator])])),
        (
            "duplicate key",
            genesis("x", vec![anchor(vec![Role::Admin]), anchor(vec![])]),
        ),
        ("long name", genesis(&too_long, vec![anchor(vec![Role::Admin])])),
        ("65 anchors", genesis("x", vec![anchor(vec![Role::Admin]); 65])),
    ] {
        let err = bad.encode().expect_err(what);
        assert!(
            matches!(
                err,
                DecodeError::Invalid { context: "genesis", .. } | DecodeError::TooLong { .. }
            ),
            "{what}: {err:?}"
        );
    }
}
