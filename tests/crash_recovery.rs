//! Guarantee 4 (DESIGN.md §1): a crash at any instant loses at most the entries not yet
//! reported durable, and never damages earlier ones; on open only an incomplete final record
//! is cut (and reported); damage anywhere else is an error naming offset and sequence number,
//! never "repaired" by truncation.
//!
//! Everything runs on the simulated disk ([`SimBackend`]), which keeps written and synced bytes
//! apart and can cut power or fail writes at any byte.

mod common;

use std::path::Path;

use common::{
    assert_verifies, draft, entry_hashes, key, restore, sim_dir, sim_layout, sim_ledger, sim_opts, snapshot, Segment,
    Snapshot,
};
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::SimBackend;
use provledger::{verify_with, Durability, Error, Ledger, StorageError};

/// Segment size of most ledgers here.
const SEGMENT: u64 = 2048;

fn open(disk: &SimBackend, durability: Durability) -> Result<Ledger, Error> {
    Ledger::open(&sim_dir(), &key(1), sim_opts(disk, durability, SEGMENT))
}

fn newest(disk: &SimBackend) -> Segment {
    sim_layout(disk, &sim_dir()).pop().expect("a segment")
}

/// A ledger whose newest segment holds at least three frames, behind at least one sealed one.
fn base_ledger() -> (SimBackend, Snapshot) {
    let (disk, _, _, _) = sim_ledger(14, SEGMENT, Durability::PerBatch);
    let segs = sim_layout(&disk, &sim_dir());
    assert!(segs.len() >= 2, "{} segments", segs.len());
    assert!(segs.last().expect("seg").frames.len() >= 3, "{segs:?}");
    let snap = snapshot(&disk);
    (disk, snap)
}

/// Cut the newest segment at every byte offset inside its last two records, with the index
/// either ahead of the segment (slots for the lost frames) or behind it (no slots for them).
#[test]
fn a_torn_tail_anywhere_in_the_last_two_records_is_cut_and_reported() {
    let (disk, snap) = base_ledger();
    let seg = newest(&disk);
    let hashes = entry_hashes(&sim_layout(&disk, &sim_dir()));
    let n = seg.frames.len();
    let idx = disk.file_bytes(&seg.idx_path).expect("idx");
    let lagging_idx = idx[..INDEX_HEADER_LEN + 8 * (n - 2)].to_vec();
    for index_lags in [false, true] {
        for cut in seg.frames[n - 2].offset..=seg.bytes.len() {
            let what = format!("cut at {cut} (index lags: {index_lags})");
            let disk = restore(&snap);
            disk.set_file_bytes(&seg.path, seg.bytes[..cut].to_vec());
            if index_lags {
                disk.set_file_bytes(&seg.idx_path, lagging_idx.clone());
            }
            let complete: Vec<_> = seg.frames.iter().filter(|f| f.end() <= cut).collect();
            let boundary = complete.last().map_or(64, |f| f.end());
            let want_len = seg.first_seq + complete.len() as u64;

            let mut ledger = open(&disk, Durability::PerBatch).unwrap_or_else(|e| panic!("{what}: {e}"));
            let rec = ledger.recovery().clone();
            assert_eq!(ledger.len(), want_len, "{what}");
            assert_eq!(ledger.head(), hashes[want_len as usize - 1], "{what}");
            if cut == boundary {
                assert_eq!(rec.torn_tail, None, "{what}");
            } else {
                let t = rec
                    .torn_tail
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what}: no torn tail reported"));
                assert_eq!(t.file, seg.path, "{what}");
                assert_eq!(
                    (t.offset, t.bytes),
                    (boundary as u64, (cut - boundary) as u64),
                    "{what}"
                );
            }
            assert_eq!(rec.removed_segment, None, "{what}");
            assert_eq!(
                disk.file_bytes(&seg.path).expect("seg").len(),
                boundary,
                "{what}: cut elsewhere"
            );
            // The survivors are the original entries (the verify after the append below
            // covers them too, so one verify per cut suffices).
            assert_eq!(
                &entry_hashes(&sim_layout(&disk, &sim_dir()))[..],
                &hashes[..want_len as usize]
            );

            let receipt = ledger
                .append(draft(99))
                .unwrap_or_else(|e| panic!("{what}: append: {e}"));
            assert_eq!(receipt.seq.0, want_len, "{what}");
            drop(ledger);
            let r = assert_verifies(&disk, &sim_dir(), &key(1));
            assert_eq!((r.entries, r.torn_tail.is_none()), (want_len + 1, true), "{what}");
            assert_eq!(r.head, receipt.entry_hash, "{what}");
        }
    }
}

/// Power loss after `sync` under `Durability::None`: what `sync` (or a rotation) reported
/// durable survives, and what survives beyond it is intact.
#[test]
fn durability_none_keeps_what_sync_reported() {
    let disk = SimBackend::new();
    let k = key(1);
    let mut ledger =
        Ledger::create(&sim_dir(), &k, "none", sim_opts(&disk, Durability::None, SEGMENT)).expect("create");
    let mut hashes = vec![ledger.head()];
    for i in 0..3 {
        let r = ledger.append(draft(i)).expect("append");
        assert!(!r.durable, "Durability::None receipts are not durable");
        hashes.push(r.entry_hash);
    }
    assert_eq!(ledger.sync().expect("sync"), 4);
    assert_eq!(ledger.durable_len(), 4);
    for i in 3..12 {
        hashes.push(ledger.append(draft(i)).expect("append").entry_hash);
    }
    let durable = ledger.durable_len();
    assert!(durable >= 4);
    disk.crash();
    drop(ledger);
    let ledger = open(&disk, Durability::None).expect("reopen");
    assert!(ledger.len() >= durable, "{} < durable {durable}", ledger.len());
    let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
    assert_eq!(
        &found[..],
        &hashes[..found.len()],
        "surviving entries are the appended ones"
    );
    drop(ledger);
    assert_eq!(assert_verifies(&disk, &sim_dir(), &k).entries, found.len() as u64);
}

/// Under `PerBatch` and `EveryAppend`, every receipt is durable: power loss right after any
/// call loses nothing.
#[test]
fn durable_receipts_survive_power_loss_after_every_call() {
    for mode in [Durability::PerBatch, Durability::EveryAppend] {
        let disk = SimBackend::new();
        let k = key(1);
        let ledger = Ledger::create(&sim_dir(), &k, "pb", sim_opts(&disk, mode, SEGMENT)).expect("create");
        let mut hashes = vec![ledger.head()];
        drop(ledger);
        for round in 0..8u64 {
            let mut ledger = open(&disk, mode).expect("reopen");
            assert_eq!(ledger.len(), hashes.len() as u64, "{mode:?} round {round}");
            assert_eq!(ledger.head(), *hashes.last().expect("h"));
            let r = ledger.append(draft(round)).expect("append");
            let batch = ledger
                .append_batch(vec![draft(100 + round), draft(200 + round)])
                .expect("batch");
            for r in std::iter::once(&r).chain(&batch) {
                assert!(r.durable, "{mode:?}: receipt {} not durable", r.seq);
                hashes.push(r.entry_hash);
            }
            assert_eq!(ledger.durable_len(), hashes.len() as u64);
            disk.crash();
        }
        let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
        assert_eq!(found, hashes, "{mode:?}");
        assert!(sim_layout(&disk, &sim_dir()).len() >= 2, "rotations happened");
        assert_eq!(assert_verifies(&disk, &sim_dir(), &k).entries, hashes.len() as u64);
    }
}

/// A batch that rotates to a new segment, cut by a failing write at (nearly) every byte, then
/// either power loss or a process crash: reopening always works, keeps every entry that was
/// durable, and verifies.
#[test]
fn a_batch_cut_at_any_byte_including_during_rotation_recovers() {
    let (disk, _, _, _) = sim_ledger(3, 1024, Durability::PerBatch);
    assert_eq!(sim_layout(&disk, &sim_dir()).len(), 2);
    let snap = snapshot(&disk);
    let batch = || (10..14).map(draft).collect::<Vec<_>>();
    // How many bytes the batch writes, from a run without a budget.
    let total = {
        let d = restore(&snap);
        let before: usize = snapshot(&d).iter().map(|(_, b)| b.len()).sum();
        let mut l = Ledger::open(&sim_dir(), &key(1), sim_opts(&d, Durability::EveryAppend, 1024)).expect("open");
        l.append_batch(batch()).expect("batch");
        let segs = sim_layout(&d, &sim_dir()).len();
        assert!(segs >= 3, "the batch rotates ({segs} segments)");
        snapshot(&d).iter().map(|(_, b)| b.len()).sum::<usize>() - before
    };
    let mut removed_segments = 0;
    for mode in [Durability::EveryAppend, Durability::PerBatch, Durability::None] {
        let step = if mode == Durability::EveryAppend { 3 } else { 11 };
        for budget in (0..=total + 1).step_by(step) {
            for power_loss in [true, false] {
                let what = format!("{mode:?}, budget {budget}, power loss {power_loss}");
                let d = restore(&snap);
                let mut l = Ledger::open(&sim_dir(), &key(1), sim_opts(&d, mode, 1024)).expect("open");
                let before = l.len();
                d.set_write_budget(Some(budget as u64));
                let res = l.append_batch(batch());
                if let Err(e) = &res {
                    assert!(matches!(e, Error::Storage(_)), "{what}: {e}");
                }
                let durable = l.durable_len();
                let written = entry_hashes(&sim_layout(&d, &sim_dir()));
                if power_loss {
                    d.crash();
                }
                drop(l);
                d.set_write_budget(None);
                let l = Ledger::open(&sim_dir(), &key(1), sim_opts(&d, mode, 1024))
                    .unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
                removed_segments += u32::from(l.recovery().removed_segment.is_some());
                assert!(
                    l.len() >= durable.max(before),
                    "{what}: {} < durable {durable}",
                    l.len()
                );
                if let Ok(receipts) = &res {
                    if mode != Durability::None || !power_loss {
                        assert_eq!(l.len(), before + 4, "{what}");
                    }
                    for r in receipts.iter().filter(|r| r.durable) {
                        assert_eq!(written[r.seq.0 as usize], r.entry_hash, "{what}");
                    }
                }
                drop(l);
                let found = entry_hashes(&sim_layout(&d, &sim_dir()));
                assert_eq!(&found[..], &written[..found.len()], "{what}: survivors differ");
                let r = verify_with(&d, &sim_dir(), &common::anchor(&key(1))).expect("verify");
                assert!(r.is_ok(), "{what}: {}", r.failure.expect("f"));
                assert_eq!(r.entries, found.len() as u64, "{what}");
            }
        }
    }
    assert!(
        removed_segments > 0,
        "no run cut the rotation inside the new segment's header"
    );
}

/// Damage that is not a torn tail — in any frame of any segment, with the index intact or
/// deleted — makes open fail (naming file, offset and seq) or verify fail there; the segment
/// files are never truncated.
#[test]
fn damage_before_the_tail_is_reported_and_never_cut() {
    let (disk, snap) = base_ledger();
    let segs = sim_layout(&disk, &sim_dir());
    let newest_idx = segs.last().expect("seg").idx_path.clone();
    let mut open_failures = 0;
    for seg in &segs {
        for frame in &seg.frames {
            let spots = [
                frame.offset + 1,
                frame.entry().start + 50,
                frame.section().start + 40,
                frame.end() - 1,
            ];
            for (at, delete_index) in spots.into_iter().flat_map(|a| [(a, false), (a, true)]) {
                let what = format!(
                    "flip at {}:{at} (entry {}), index deleted {delete_index}",
                    seg.path.display(),
                    frame.seq
                );
                let d = restore(&snap);
                let mut damaged = seg.bytes.clone();
                damaged[at] ^= 0x04;
                d.set_file_bytes(&seg.path, damaged.clone());
                if delete_index {
                    d.remove_file(&newest_idx).expect("rm idx");
                }
                let before: Vec<_> = sim_layout(&d, &sim_dir()).into_iter().map(|s| s.bytes).collect();
                match open(&d, Durability::PerBatch) {
                    Ok(l) => drop(l),
                    Err(Error::Storage(StorageError::Corrupt {
                        file,
                        offset,
                        seq,
                        reason,
                    })) => {
                        open_failures += 1;
                        assert_eq!(file, seg.path, "{what}: {reason}");
                        assert_eq!(
                            (offset, seq),
                            (frame.offset as u64, Some(frame.seq)),
                            "{what}: {reason}"
                        );
                    }
                    Err(e) => panic!("{what}: unexpected error {e}"),
                }
                let after: Vec<_> = sim_layout(&d, &sim_dir()).into_iter().map(|s| s.bytes).collect();
                assert!(before == after, "{what}: segment files changed by open");
                let r = verify_with(&d, &sim_dir(), &common::anchor(&key(1))).expect("verify");
                let f = r.failure.unwrap_or_else(|| panic!("{what}: verifies"));
                assert_eq!(f.seq, Some(frame.seq), "{what}: {f}");
                assert_eq!(f.file.as_deref(), Some(seg.path.as_path()), "{what}: {f}");
                assert_eq!(f.offset, Some(frame.offset as u64), "{what}: {f}");
            }
        }
    }
    // Damage in the newest segment's unindexed part and in last frames is always seen on open.
    assert!(open_failures > 0);
}

/// A damaged segment header is an error on open, never a "rotation cut short" to delete.
#[test]
fn a_damaged_newest_segment_header_is_not_removed() {
    let (disk, snap) = base_ledger();
    let seg = newest(&disk);
    for at in [0, 20, 33, 63] {
        let d = restore(&snap);
        let mut b = seg.bytes.clone();
        b[at] ^= 0x01;
        d.set_file_bytes(&seg.path, b.clone());
        let e = open(&d, Durability::PerBatch).expect_err("damaged header");
        assert!(matches!(e, Error::Storage(StorageError::Corrupt { .. })), "{e}");
        assert_eq!(d.file_bytes(&seg.path), Some(b), "header byte {at}");
    }
}

/// How much the files grow by the third `append` after reopening `snap`.
fn bytes_per_append(snap: &Snapshot) -> usize {
    let d = restore(snap);
    let size = |d: &SimBackend| snapshot(d).iter().map(|(_, b)| b.len()).sum::<usize>();
    let mut l = open(&d, Durability::PerBatch).expect("open");
    l.append(draft(1)).expect("append");
    l.append(draft(2)).expect("append");
    let before = size(&d);
    l.append(draft(3)).expect("append");
    size(&d) - before
}

/// An append whose write fails part-way returns an error (no panic), poisons the handle, and
/// after reopening the ledger holds the entries whose appends returned Ok — plus the failed
/// one only if its frame was completely written (documented: "a prefix of the batch may be in
/// the ledger") and the machine did not lose power.
#[test]
fn a_failed_write_poisons_the_writer_and_reopen_keeps_the_completed_entries() {
    let (disk, snap) = base_ledger();
    let per_append = bytes_per_append(&snap);
    let frame_len = newest(&disk).frames.last().expect("frame").len();
    for budget in 0..=per_append + 1 {
        for power_loss in [false, true] {
            let what = format!("budget {budget}, power loss {power_loss}");
            let d = restore(&snap);
            let mut l = open(&d, Durability::PerBatch).expect("open");
            let mut ok = vec![l.append(draft(1)).expect("append"), l.append(draft(2)).expect("append")];
            d.set_write_budget(Some(budget as u64));
            match l.append(draft(3)) {
                Ok(r) => {
                    assert!(
                        budget >= frame_len + 8,
                        "{what}: append succeeded without room for frame and slot"
                    );
                    ok.push(r);
                }
                Err(e) => {
                    assert!(matches!(e, Error::Storage(StorageError::Io { .. })), "{what}: {e}");
                    d.set_write_budget(None);
                    let again = l.append(draft(4)).expect_err("poisoned");
                    assert!(
                        matches!(again, Error::Storage(StorageError::Poisoned)),
                        "{what}: {again}"
                    );
                }
            }
            let complete = entry_hashes(&sim_layout(&d, &sim_dir())).len() as u64;
            if power_loss {
                d.crash();
            }
            drop(l);
            d.set_write_budget(None);
            let l = open(&d, Durability::PerBatch).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
            let last_ok = ok.last().expect("ok").seq.0;
            // Every Ok entry survives; the failed one only if its frame was complete (and,
            // after power loss, synced); nothing else appears.
            assert!(l.len() == last_ok + 1 || l.len() == last_ok + 2, "{what}: {}", l.len());
            if power_loss {
                assert!(l.len() <= complete, "{what}: {} > {complete} complete frames", l.len());
            } else {
                assert_eq!(l.len(), complete, "{what}");
            }
            let found = entry_hashes(&sim_layout(&d, &sim_dir()));
            for r in &ok {
                assert_eq!(found[r.seq.0 as usize], r.entry_hash, "{what}");
            }
            drop(l);
            assert_verifies(&d, &sim_dir(), &key(1));
        }
    }
}

#[test]
fn a_failing_sync_is_an_error_and_poisons_the_writer() {
    let (disk, snap) = base_ledger();
    drop(disk);
    for mode in [Durability::PerBatch, Durability::EveryAppend, Durability::None] {
        for power_loss in [false, true] {
            let what = format!("{mode:?}, power loss {power_loss}");
            let d = restore(&snap);
            let mut l = open(&d, mode).expect("open");
            let len = l.len();
            d.set_fail_sync(true);
            if mode == Durability::None {
                let r = l.append(draft(1)).expect("no sync under Durability::None");
                assert!(!r.durable);
                let e = l.sync().expect_err("sync fails");
                assert!(matches!(e, Error::Storage(StorageError::Io { .. })), "{what}: {e}");
            } else {
                let e = l.append_batch(vec![draft(1), draft(2)]).expect_err("sync fails");
                assert!(matches!(e, Error::Storage(StorageError::Io { .. })), "{what}: {e}");
                assert_eq!(l.durable_len(), len, "{what}: nothing new is durable");
            }
            d.set_fail_sync(false);
            let e = l.append(draft(3)).expect_err("poisoned");
            assert!(matches!(e, Error::Storage(StorageError::Poisoned)), "{what}: {e}");
            if power_loss {
                d.crash();
            }
            drop(l);
            let l = open(&d, mode).expect("reopen");
            if power_loss {
                assert_eq!(l.len(), len, "{what}: unsynced entries survived power loss");
            } else {
                assert!(l.len() > len, "{what}: written entries vanished without power loss");
            }
            drop(l);
            assert_verifies(&d, &sim_dir(), &key(1));
        }
    }
}

fn reopen_with_index(snap: &Snapshot, idx: &Path, bytes: Option<Vec<u8>>) -> (SimBackend, bool) {
    let d = restore(snap);
    match bytes {
        Some(b) => d.set_file_bytes(idx, b),
        None => d.remove_file(idx).expect("rm idx"),
    }
    let l = open(&d, Durability::PerBatch).expect("reopen");
    let rebuilt = l.recovery().index_rebuilt;
    drop(l);
    (d, rebuilt)
}

/// A deleted, truncated or garbage index of the newest segment is rebuilt on open, identical
/// to the original, and the ledger verifies.
#[test]
fn a_lost_or_damaged_newest_index_is_rebuilt() {
    let (disk, snap) = base_ledger();
    let seg = newest(&disk);
    let idx = disk.file_bytes(&seg.idx_path).expect("idx");
    let garbage: Vec<u8> = (0..idx.len()).map(|i| (i * 37 + 11) as u8).collect();
    let mut bad_last_slot = idx.clone();
    *bad_last_slot.last_mut().expect("slot") ^= 0x40;
    let cases: Vec<(&str, Option<Vec<u8>>, bool)> = vec![
        ("deleted", None, true),
        ("empty", Some(Vec::new()), true),
        ("truncated inside the header", Some(idx[..20].to_vec()), true),
        ("garbage", Some(garbage), true),
        ("last slot wrong", Some(bad_last_slot), true),
        // Lagging slots are ordinary crash recovery: completed, not rebuilt.
        ("one slot short", Some(idx[..idx.len() - 8].to_vec()), false),
        ("half a slot short", Some(idx[..idx.len() - 3].to_vec()), false),
    ];
    for (what, bytes, want_rebuilt) in cases {
        let (d, rebuilt) = reopen_with_index(&snap, &seg.idx_path, bytes);
        assert_eq!(rebuilt, want_rebuilt, "{what}: recovery().index_rebuilt");
        assert_eq!(
            d.file_bytes(&seg.idx_path).as_ref(),
            Some(&idx),
            "{what}: index not restored"
        );
        assert_verifies(&d, &sim_dir(), &key(1));
    }
}

/// The index of the sealed segment before the newest is rebuilt too (open reads it to find
/// where the newest segment's chain starts).
#[test]
fn a_lost_index_of_the_previous_segment_is_rebuilt() {
    let (disk, snap) = base_ledger();
    let segs = sim_layout(&disk, &sim_dir());
    let prev = &segs[segs.len() - 2];
    let idx = disk.file_bytes(&prev.idx_path).expect("idx");
    for bytes in [None, Some(b"garbage".to_vec())] {
        let (d, _) = reopen_with_index(&snap, &prev.idx_path, bytes);
        assert_eq!(d.file_bytes(&prev.idx_path).as_ref(), Some(&idx));
        assert_verifies(&d, &sim_dir(), &key(1));
    }
}

/// A tail whose size reached the disk but whose data did not reads as zeros: that is a torn
/// tail too, whether whole frames or only the end of the last frame are zero.
#[test]
fn a_zero_filled_tail_is_a_torn_tail() {
    let (disk, snap) = base_ledger();
    let seg = newest(&disk);
    let last = *seg.frames.last().expect("frame");
    let mut extended = seg.bytes.clone();
    extended.resize(seg.bytes.len() + 300, 0);
    let mut zero_end = seg.bytes.clone();
    zero_end[last.section().start + 10..].fill(0);
    let mut zero_frame = seg.bytes.clone();
    zero_frame[last.offset..].fill(0);
    for (what, bytes, cut_at) in [
        ("zeros after the last frame", extended, seg.bytes.len()),
        ("last frame's end zeroed", zero_end, last.offset),
        ("last frame zeroed", zero_frame, last.offset),
    ] {
        let d = restore(&snap);
        d.set_file_bytes(&seg.path, bytes.clone());
        let l = open(&d, Durability::PerBatch).unwrap_or_else(|e| panic!("{what}: {e}"));
        let t = l
            .recovery()
            .torn_tail
            .clone()
            .unwrap_or_else(|| panic!("{what}: no torn tail"));
        assert_eq!(
            (t.offset, t.bytes),
            (cut_at as u64, (bytes.len() - cut_at) as u64),
            "{what}"
        );
        drop(l);
        assert_eq!(d.file_bytes(&seg.path).expect("seg").len(), cut_at, "{what}");
        assert_verifies(&d, &sim_dir(), &key(1));
    }
}

/// `Ledger::create` cut by a failing write (and then, or not, power loss) at any byte: the
/// directory is then either not a ledger, or a ledger with its genesis entry — never an
/// "empty" ledger that `open` accepts and that appends turn into a ledger without genesis.
#[test]
fn a_crash_during_create_never_leaves_a_ledger_without_genesis() {
    let total = {
        let d = SimBackend::new();
        Ledger::create(&sim_dir(), &key(1), "c", sim_opts(&d, Durability::PerBatch, SEGMENT)).expect("create");
        snapshot(&d).iter().map(|(_, b)| b.len()).sum::<usize>()
    };
    for budget in 0..=total {
        for power_loss in [false, true] {
            let what = format!("budget {budget}, power loss {power_loss}");
            let d = SimBackend::new();
            d.set_write_budget(Some(budget as u64));
            let created = Ledger::create(&sim_dir(), &key(1), "c", sim_opts(&d, Durability::PerBatch, SEGMENT));
            let created_ok = created.is_ok();
            if power_loss {
                d.crash();
            }
            drop(created);
            d.set_write_budget(None);
            match open(&d, Durability::PerBatch) {
                Err(_) => assert!(!created_ok, "{what}: a created ledger does not open"),
                Ok(mut l) => {
                    assert!(
                        !l.is_empty(),
                        "{what}: open accepted a ledger without its genesis entry"
                    );
                    l.append(draft(1)).expect("append");
                    drop(l);
                    assert_verifies(&d, &sim_dir(), &key(1));
                }
            }
        }
    }
}
