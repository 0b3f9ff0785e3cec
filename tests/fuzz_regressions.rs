//! Regression tests for bugs the fuzzers found (fuzz/README.md), named after the findings,
//! ported to format v2. Every finding still applies to v2 in some form; where v2 changed the
//! mechanism, the comment says how.

mod common;

use std::path::Path;

use common::{big_draft, newest_segment_len, power_loss, power_loss_idle, process_crash, set_write_budget, sim_opts};
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::SimBackend;
use provledger::{rebuild_derived, Draft, Durability, Ledger, Options, SigningKey, TrustAnchor};

fn key() -> SigningKey {
    SigningKey::from_seed(&[31; 32])
}

fn anchor() -> TrustAnchor {
    TrustAnchor::PublicKey(key().verifying_key())
}

/// Options for a ledger on the simulated `disk` (1 MiB segments, the smallest).
fn sim(disk: &SimBackend, durability: Durability) -> Options {
    sim_opts(disk, durability, common::MIN_SEGMENT)
}

fn event(i: u64) -> Draft {
    Draft::application("text/plain", format!("event {i}").into_bytes())
}

const DIR: &str = "/ledger";

fn assert_verifies(disk: &SimBackend) -> provledger::VerifyReport {
    let r = common::sim_verify(disk, Path::new(DIR), &anchor());
    assert!(r.is_ok(), "{:?}", r.failure);
    r
}

/// F1: `Ledger::open` claimed every recovered entry durable without syncing the newest
/// segment, so a power loss right after could lose entries reported durable. (In v2 a clean
/// close syncs, so the unsynced bytes are left by a process that dies.)
#[test]
fn fuzz_f1_open_syncs_before_claiming_entries_durable() {
    let disk = common::new_disk();
    let dir = Path::new(DIR);
    let l = Ledger::create(dir, key(), "f1", sim(&disk, Durability::Buffered)).unwrap();
    l.append_batch((0..20).map(event).collect()).unwrap();
    assert_eq!(l.durable_len(), 1, "only genesis was synced");
    // The process dies; the OS still holds the unsynced bytes.
    let disk = process_crash(&disk, l);
    let l = Ledger::open(dir, key(), sim(&disk, Durability::Buffered)).unwrap();
    assert_eq!((l.len(), l.durable_len()), (21, 21));
    power_loss(&disk, l);
    let l = Ledger::open(dir, key(), sim(&disk, Durability::Buffered)).unwrap();
    assert_eq!(l.len(), 21, "entries open reported durable survive a power loss");
}

/// F2: a disk filling up while `redact` overwrote the payload left a section failing its
/// checksum, and every later open failed finishing the erasure: the ledger was bricked.
#[test]
fn fuzz_f2_a_full_disk_during_erasure_does_not_brick_the_ledger() {
    let mut outcomes = [false; 2];
    for budget in 0..900u64 {
        let disk = common::new_disk();
        let dir = Path::new(DIR);
        let l = Ledger::create(dir, key(), "f2", sim(&disk, Durability::Synced)).unwrap();
        let target = l.append(Draft::application("text/plain", vec![b'p'; 300])).unwrap();
        set_write_budget(&disk, Some(budget));
        let result = l.redact(target.seq, "request");
        drop(l);
        set_write_budget(&disk, None);
        let l = Ledger::open(dir, key(), sim(&disk, Durability::Synced))
            .unwrap_or_else(|e| panic!("budget {budget}: open after a full disk: {e}"));
        let recorded = l.len() == 3;
        drop(l);
        let report = assert_verifies(&disk);
        assert_eq!(report.redacted == vec![target.seq], recorded, "budget {budget}");
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
/// signed checkpoints over a root its entries do not have. (v2: open checks the stored tree
/// against the root in the writer's own seal, and rebuilds it from the entries if it differs.)
#[test]
fn fuzz_f3_a_checkpoint_after_tree_damage_signs_the_true_root() {
    for damage_before_checkpoint in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = || common::std_opts(Durability::Buffered, common::MIN_SEGMENT);
        let l = Ledger::create(dir.path(), key(), "f3", opts()).unwrap();
        l.append_batch((0..40).map(event).collect()).unwrap();
        l.checkpoint().unwrap();
        l.append_batch((40..70).map(event).collect()).unwrap();
        l.close().unwrap();
        // Flip a leaf hash: before the checkpoint (leaf 3) or after it (leaf 60).
        let leaf = if damage_before_checkpoint { 3 } else { 60 };
        let level0 = dir.path().join("tree/level-00.hashes");
        let mut bytes = std::fs::read(&level0).unwrap();
        bytes[32 + leaf * 32] ^= 0x80;
        std::fs::write(&level0, &bytes).unwrap();
        let l = Ledger::open(dir.path(), key(), opts()).unwrap();
        l.append_batch((70..80).map(event).collect()).unwrap();
        let cp = l.checkpoint().unwrap();
        l.close().unwrap();
        // Damage the frontier did not depend on may remain in the stored tree (derived data):
        // reported as such, never as a bad checkpoint. After a rebuild, both checkpoints (the
        // one signed after the damage included) verify against the entries.
        let report = provledger::verify(dir.path(), &anchor()).unwrap();
        if let Some(f) = &report.failure {
            assert_eq!(f.check, provledger::Check::Tree, "{f}");
        }
        rebuild_derived(dir.path(), &opts()).unwrap();
        let report = provledger::verify(dir.path(), &anchor()).unwrap();
        assert!(
            report.is_ok(),
            "damage before checkpoint: {damage_before_checkpoint}: {:?}",
            report.failure
        );
        assert_eq!((report.checkpoints_verified, report.root), (2, cp.root));
    }
}

/// F3, the frontier itself damaged: the writer notices before signing (the stored frontier no
/// longer reproduces the root of its last seal), rebuilds the tree files, and the new
/// checkpoint verifies with nothing left to repair. At 70 entries the frontier is the stored
/// nodes (level 6, index 0) = leaves 0..64, (2, 16) = 64..68, and leaves 68 and 69 (level 1
/// is not stored, v2 keeps even levels only).
#[test]
fn fuzz_f3_damage_to_a_frontier_node_is_rebuilt_before_signing() {
    for (level, index) in [(6usize, 0usize), (2, 16), (0, 69)] {
        let dir = tempfile::tempdir().unwrap();
        let opts = || common::std_opts(Durability::Buffered, common::MIN_SEGMENT);
        let l = Ledger::create(dir.path(), key(), "f3", opts()).unwrap();
        l.append_batch((1..40).map(event).collect()).unwrap();
        l.checkpoint().unwrap();
        l.append_batch((40..70).map(event).collect()).unwrap();
        l.close().unwrap();
        let file = dir.path().join(format!("tree/level-{level:02}.hashes"));
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[32 + index * 32 + 5] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        let l = Ledger::open(dir.path(), key(), opts()).unwrap();
        assert!(l.recovery().tree_replayed > 0, "level {level}: the tree was rebuilt");
        l.checkpoint().unwrap();
        l.close().unwrap();
        let report = provledger::verify(dir.path(), &anchor()).unwrap();
        assert!(report.is_ok(), "level {level}: {:?}", report.failure);
        assert_eq!((report.checkpoints_verified, report.tree_missing_nodes), (2, 0));
    }
}

/// F4: an index slot near `u64::MAX` overflowed an offset addition (a panic in debug builds)
/// when a stream was positioned through the index. v2 slots are 31-bit offsets, so that sum
/// cannot overflow any more; what remains to hold is that a slot pointing anywhere — past the
/// segment, or inside a frame — of a sealed or of the newest segment breaks nothing: open
/// rebuilds the newest index and reads the sealed one's entries by scanning, and the reader
/// finds entries by scanning instead.
#[test]
fn fuzz_f4_a_damaged_index_slot_does_not_break_open_or_the_reader() {
    for (slot, value) in [(0usize, 0x7fff_ffffu32), (1, 100)] {
        let disk = common::new_disk();
        let dir = Path::new(DIR);
        let l = Ledger::create(dir, key(), "f4", sim(&disk, Durability::Buffered)).unwrap();
        // Two segments of a few entries: the first one full, sealed.
        for i in 0..4 {
            l.append(big_draft(i, 330_000)).unwrap();
        }
        l.append_batch((0..10).map(event).collect()).unwrap();
        l.close().unwrap();
        let layout = common::sim_layout(&disk, dir);
        assert_eq!(layout.len(), 2);
        for seg in &layout {
            let mut idx = common::file(&disk, &seg.idx_path).unwrap();
            let at = INDEX_HEADER_LEN + 4 * slot;
            idx[at..at + 4].copy_from_slice(&value.to_le_bytes());
            common::put_file(&disk, &seg.idx_path, idx);
        }
        for level in ["00", "02"] {
            common::remove(&disk, &dir.join(format!("tree/level-{level}.hashes")));
        }
        // Rebuilding the tree streams every entry, from entry 0 on.
        let l =
            Ledger::open(dir, key(), sim(&disk, Durability::Buffered)).unwrap_or_else(|e| panic!("slot {slot}: {e}"));
        assert_eq!(l.recovery().tree_replayed, 15, "slot {slot}");
        l.append(event(99)).unwrap();
        l.close().unwrap();
        let r = common::sim_reader(&disk, dir);
        for seq in [0, 1, layout[1].first_seq, layout[1].first_seq + 1] {
            assert_eq!(
                r.get(seq).unwrap().entry.seq,
                seq,
                "slot {slot}: found by scanning instead"
            );
        }
        let f = common::sim_verify(&disk, dir, &anchor())
            .failure
            .expect("the sealed index is damaged");
        assert_eq!((f.check, f.seq), (provledger::Check::Index, Some(slot as u64)), "{f}");
        rebuild_derived(dir, &sim(&disk, Durability::Buffered)).unwrap();
        let _ = assert_verifies(&disk);
    }
}

/// F5: a stray index file under the name of the segment the writer rotates into made the
/// rotation fail ("already exists") and poisoned the writer.
#[test]
fn fuzz_f5_a_stray_index_file_does_not_block_rotation() {
    let disk = common::new_disk();
    let dir = Path::new(DIR);
    drop(Ledger::create(dir, key(), "f5", sim(&disk, Durability::Synced)).unwrap());
    for seq in 1..=12u64 {
        common::put_file(&disk, &dir.join(format!("segments/{seq:020}.idx")), b"stray".to_vec());
    }
    let l = Ledger::open(dir, key(), sim(&disk, Durability::Synced)).unwrap();
    // One entry per segment: every append rotates into a name with a stray index.
    for i in 0..8 {
        l.append(big_draft(i, 700_000))
            .unwrap_or_else(|e| panic!("append {i}: {e}"));
    }
    l.close().unwrap();
    assert_eq!(common::sim_layout(&disk, dir).len(), 8);
    assert_eq!(assert_verifies(&disk).entries, 9);
}

/// F6: under buffered durability the tree files could become durable ahead of the entries (the
/// writer's drop synced the tree only) and a tree cut on open was not synced, so a second power
/// loss brought back a node of a lost entry and an honest ledger failed `verify`.
#[test]
fn fuzz_f6_tree_files_never_outlive_the_entries_they_hash() {
    let disk = common::new_disk();
    let dir = Path::new(DIR);
    drop(Ledger::create(dir, key(), "f6", sim(&disk, Durability::Buffered)).unwrap());
    for round in 0..12u64 {
        let l = Ledger::open(dir, key(), sim(&disk, Durability::Buffered)).unwrap();
        l.append_batch((0..7 + round).map(event).collect()).unwrap();
        if round % 3 == 0 {
            l.sync().unwrap();
        }
        if round % 2 == 0 {
            drop(l); // a clean shutdown, then the power goes
            power_loss_idle(&disk);
        } else {
            power_loss(&disk, l); // the power goes while the writer runs
        }
        drop(Ledger::open(dir, key(), sim(&disk, Durability::Buffered)).unwrap());
        power_loss_idle(&disk);
        let report = common::sim_verify(&disk, dir, &anchor());
        assert!(report.is_ok(), "round {round}: {:?}", report.failure);
    }
}

/// F7: like F2, but the erased entry is the last of a sealed segment (the redaction entry
/// rotated into a new one): recovery checked that frame, payload included, before the erasure
/// was finished, and every open failed.
#[test]
fn fuzz_f7_a_full_disk_erasing_the_last_entry_of_a_sealed_segment() {
    // The target fills the first segment, so that the redaction entry starts a new one.
    let target_len = {
        let disk = common::new_disk();
        drop(Ledger::create(Path::new(DIR), key(), "f7", sim(&disk, Durability::Synced)).unwrap());
        common::MIN_SEGMENT as usize - newest_segment_len(&disk, Path::new(DIR)) - 296 - 100
    };
    let mut outcomes = [false; 2];
    let mut budgets: Vec<u64> = (0..1200).step_by(5).collect();
    budgets.extend((1200..target_len as u64 + 3000).step_by(40_003));
    for budget in budgets {
        let disk = common::new_disk();
        let dir = Path::new(DIR);
        let l = Ledger::create(dir, key(), "f7", sim(&disk, Durability::Synced)).unwrap();
        let target = l
            .append(Draft::application("text/plain", vec![b'p'; target_len]))
            .unwrap();
        set_write_budget(&disk, Some(budget));
        let result = l.redact(target.seq, "request");
        drop(l);
        set_write_budget(&disk, None);
        let l =
            Ledger::open(dir, key(), sim(&disk, Durability::Synced)).unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        let recorded = l.len() == 3;
        drop(l);
        let report = assert_verifies(&disk);
        assert_eq!(report.redacted == vec![target.seq], recorded, "budget {budget}");
        assert!(result.is_err() || recorded, "budget {budget}");
        if recorded {
            assert_eq!(
                common::sim_layout(&disk, dir).len(),
                2,
                "budget {budget}: the redaction rotated"
            );
        }
        outcomes[usize::from(recorded)] = true;
    }
    assert_eq!(outcomes, [true, true]);
}

/// F8: a rotation that failed after creating the new segment left its directory entry
/// unsynced; the next writer adopted the segment, reported appends there durable, and a power
/// loss removed the file with them.
#[test]
fn fuzz_f8_entries_in_an_adopted_segment_are_durable_when_reported() {
    // The rotation first flushes the derived index and tree blocks, then creates the new
    // segment: sweep the write budget so that some runs fail after the new segment's file
    // exists (its directory entry not yet synced). Every run must keep what it reports durable.
    let mut adopted = 0;
    for budget in (0..=512).step_by(8) {
        let disk = common::new_disk();
        // Without space reserved ahead, so that the big write into the new segment runs out of
        // room (in reserved space it cannot; the rotation's own writes still can).
        disk.set_no_reserve(true);
        let dir = Path::new(DIR);
        let ledger = Ledger::create(dir, key(), "f8", sim(&disk, Durability::Synced)).unwrap();
        ledger.append(big_draft(0, 700_000)).unwrap();
        set_write_budget(&disk, Some(budget));
        assert!(ledger.append(big_draft(1, 700_000)).is_err(), "budget {budget}");
        set_write_budget(&disk, None);
        drop(ledger);
        if common::sim_layout(&disk, dir).len() == 2 {
            adopted += 1;
        }
        let ledger = Ledger::open(dir, key(), sim(&disk, Durability::Synced)).unwrap();
        let r = ledger.append(event(2)).unwrap();
        assert!(r.durable);
        power_loss(&disk, ledger);
        let ledger = Ledger::open(dir, key(), sim(&disk, Durability::Synced)).unwrap();
        assert!(
            ledger.len() > r.seq,
            "budget {budget}: durable entry {} lost; {} left",
            r.seq,
            ledger.len()
        );
        assert_eq!(ledger.head(), r.chain, "budget {budget}");
    }
    assert!(adopted > 0, "no budget left a new, unsynced segment behind");
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

/// F10 (`model_ops`): an application entry co-signed by a key that is not enrolled (or was
/// revoked) was written and acknowledged, although `verify` rejects it (check `key`: "every
/// co-signer MUST be in the registry and not revoked", FORMAT §9 E5) and then stops at it
/// forever. The writer checked the signers of governance entries only; it now checks every
/// co-signed entry and refuses it alone, before anything is written.
#[test]
fn fuzz_f10_writer_refuses_an_application_cosigned_by_an_unenrolled_or_revoked_key() {
    use provledger::record::{Environment, KeyEnrollment, KeyRevocation, PrincipalType, Record, Role};
    use provledger::{AppendError, Check};
    let disk = common::new_disk();
    let dir = Path::new(DIR);
    let l = Ledger::create(dir, key(), "f10", sim(&disk, Durability::Synced)).unwrap();
    let reviewer = SigningKey::from_seed(&[32; 32]);
    let cosigned = |i| event(i).cosigned_by(reviewer.clone());
    let refused = |r: Result<provledger::Receipt, AppendError>| {
        assert!(
            matches!(r, Err(AppendError::WouldNotVerify { check: Check::Key, .. })),
            "{r:?}"
        );
    };
    refused(l.append(cosigned(1)));
    // Alone: the other entries of the same group are written.
    let t1 = l.submit(event(2), Durability::Synced).unwrap();
    let t2 = l.submit(cosigned(3), Durability::Synced).unwrap();
    let t3 = l.submit(event(4), Durability::Synced).unwrap();
    assert_eq!(t1.wait().unwrap().seq, 1);
    refused(t2.wait());
    assert_eq!(t3.wait().unwrap().seq, 2);
    let enroll = Record::KeyEnrollment(KeyEnrollment {
        public_key: reviewer.verifying_key().to_bytes(),
        principal_id: "reviewer".into(),
        display_name: String::new(),
        principal_type: PrincipalType::Person,
        roles: vec![Role::Reviewer],
        environments: vec![Environment::Production],
    });
    l.append(Draft::record(&enroll).unwrap()).unwrap();
    assert_eq!(l.append(cosigned(5)).unwrap().seq, 4);
    let revoke = Record::KeyRevocation(KeyRevocation {
        key_id: reviewer.verifying_key().key_id().0,
        reason: "left".into(),
    });
    l.append(Draft::record(&revoke).unwrap()).unwrap();
    refused(l.append(cosigned(6)));
    refused(l.append(cosigned(7).without_position_signature()));
    assert_eq!(l.len(), 6);
    l.close().unwrap();
    assert_eq!(assert_verifies(&disk).entries, 6);
}

/// F11 (`keyless_attacker`): `Ledger::open` finishes an interrupted erasure from
/// `redaction.pending` before anything else, and trusted the record there. Anyone who can write
/// the directory could plant one naming an erased entry (and the redaction entry that erased it)
/// with a made-up commitment: the writer rewrote the entry's erased section with it, changing
/// its entry hash, and a ledger that verified no longer did. Or one naming the genesis entry and
/// a redaction entry that names it: the writer erased the genesis payload. Open now discards a
/// record whose commitment differs from the one its target's intact frame holds (a crash leaves
/// the true one, or a half-written frame) or whose target's kind may not be erased.
#[test]
fn fuzz_f11_a_planted_pending_erasure_does_not_make_the_writer_rewrite_an_entry() {
    use provledger::entry::commit_payload;
    use provledger::record::{Record, Redaction};
    let disk = common::new_disk();
    let dir = Path::new(DIR);
    let l = Ledger::create(dir, key(), "f11", sim(&disk, Durability::Synced)).unwrap();
    let target = l.append(event(1)).unwrap();
    let erased = l.redact(target.seq, "request").unwrap();
    // A redaction entry naming the genesis entry, appended as a record (nothing is erased:
    // verify reports it pending).
    let genesis = common::sim_layout(&disk, dir)[0].entry_hash(&common::sim_layout(&disk, dir)[0].frames[0]);
    let names_genesis = Record::Redaction(Redaction {
        target_seq: 0,
        target: genesis,
        reason: "not allowed".into(),
    });
    let pending_genesis = l.append(Draft::record(&names_genesis).unwrap()).unwrap();
    l.close().unwrap();
    let before = assert_verifies(&disk);
    assert_eq!(before.redacted, vec![target.seq]);
    assert_eq!(before.redaction_pending, vec![0]);
    let seg = &common::sim_layout(&disk, dir)[0];
    let section = &seg.bytes[seg.frames[0].section()];
    let genesis_commitment = commit_payload(section[1..33].try_into().unwrap(), &section[33..]);
    let plant = |target: u64, redaction: u64, commitment: [u8; 32]| {
        let mut rec = target.to_le_bytes().to_vec();
        rec.extend_from_slice(&redaction.to_le_bytes());
        rec.extend_from_slice(&commitment);
        let sum = provledger::encoding::crc(&[&rec]);
        rec.extend_from_slice(&sum.to_le_bytes());
        common::put_file(&disk, &dir.join("redaction.pending"), rec);
    };
    for (t, r, c) in [
        (target.seq, erased.seq, [7u8; 32]),
        (0, pending_genesis.seq, genesis_commitment.to_bytes()),
    ] {
        plant(t, r, c);
        let l = Ledger::open(dir, key(), sim(&disk, Durability::Synced)).unwrap();
        assert_eq!(l.recovery().erasure_completed, None, "target {t}");
        l.close().unwrap();
        assert!(common::file(&disk, &dir.join("redaction.pending")).is_none());
        let after = assert_verifies(&disk);
        assert_eq!((after.entries, after.head), (before.entries, before.head));
    }
}

/// F12 (`model_ops`): when erasing failed after the redaction entry was appended (a full
/// disk half-wrote the payload section), the writer was not poisoned; a second `redact`
/// replaced `redaction.pending` — the record the next open needs to finish the first erasure —
/// and, when that write failed too, the next open found the half-written section and refused
/// the ledger for good. A failed erasure now poisons the writer: nothing else is written, and
/// the next open finishes it.
#[test]
fn fuzz_f12_a_failed_erasure_is_finished_by_the_next_open_whatever_follows() {
    let mut half_written = 0;
    for budget in 0..900u64 {
        let disk = common::new_disk();
        // Without space reserved ahead: in allocated space an overwrite cannot run out of room,
        // so only a file system that cannot reserve can half-write a payload section.
        disk.set_no_reserve(true);
        let dir = Path::new(DIR);
        let l = Ledger::create(dir, key(), "f12", sim(&disk, Durability::Synced)).unwrap();
        let first = l.append(Draft::application("text/plain", vec![b'p'; 300])).unwrap();
        let second = l.append(Draft::application("text/plain", vec![b'q'; 300])).unwrap();
        set_write_budget(&disk, Some(budget));
        let failed = l.redact(first.seq, "request").is_err();
        let appended = l.len() == 4;
        // With room again, a second erasure must not replace the first one's record.
        set_write_budget(&disk, None);
        let again = l.redact(second.seq, "request");
        if failed && appended {
            half_written += 1;
            assert!(again.is_err(), "budget {budget}: a writer whose erasure failed went on");
        }
        drop(l);
        let l = Ledger::open(dir, key(), sim(&disk, Durability::Synced))
            .unwrap_or_else(|e| panic!("budget {budget}: open after a failed erasure: {e}"));
        let len = l.len();
        drop(l);
        let report = assert_verifies(&disk);
        if appended {
            assert!(report.redacted.contains(&first.seq), "budget {budget}: {len}");
        }
    }
    assert!(
        half_written > 0,
        "no budget failed the erasure after its redaction entry"
    );
}
