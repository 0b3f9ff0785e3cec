//! Guarantee 4 (DESIGN.md §1): a crash at any instant loses at most the entries not yet
//! reported durable, and never damages earlier ones; on open only an incomplete final write is
//! cut (and reported); damage anywhere else is an error naming offset and sequence number,
//! never "repaired" by truncation.
//!
//! In format v2 every write ends with a sealed frame (docs/FORMAT.md §7.5, §8), so a crash can
//! cut the newest segment back only to the end of its last seal: the complete frames of a write
//! whose seal never arrived are cut with it.
//!
//! Everything runs on the simulated disk (`SimBackend`, through `tests/common`), which keeps
//! written and synced bytes apart, cuts power at any point, and fails writes at any byte.

mod common;

use std::path::Path;

use common::{
    assert_verifies, big_draft, draft, entry_hashes, file, key, power_loss, power_loss_idle, process_crash, put_file,
    restore, set_fail_sync, set_write_budget, sim_dir, sim_layout, sim_ledger, sim_opts, snapshot, Segment, Snapshot,
    MIN_SEGMENT,
};
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::segment::MAX_TORN;
use provledger::storage::SimBackend;
use provledger::{
    rebuild_derived, AppendError, Check, Digest, Durability, Ledger, OpenError, Options, Receipt, StorageError,
    SyncError,
};

const MODES: [Durability; 2] = [Durability::Synced, Durability::Buffered];

fn open(disk: &SimBackend, durability: Durability) -> Result<Ledger, OpenError> {
    Ledger::open(sim_dir(), key(1), sim_opts(disk, durability, MIN_SEGMENT))
}

/// A new ledger on `disk`, as [`open`] opens it.
fn create(disk: &SimBackend, durability: Durability) -> Ledger {
    Ledger::create(sim_dir(), key(1), "sim", sim_opts(disk, durability, MIN_SEGMENT)).expect("create")
}

fn newest(disk: &SimBackend) -> Segment {
    sim_layout(disk, &sim_dir()).pop().expect("a segment")
}

fn verify(disk: &SimBackend) -> provledger::VerifyReport {
    common::sim_verify(disk, &sim_dir(), &common::anchor(&key(1)))
}

/// Appends one entry that fills the active segment but for about `room` bytes.
fn fill_segment(disk: &SimBackend, ledger: &Ledger, room: usize) -> Receipt {
    let seg = newest(disk);
    // A big frame is the payload plus 296 bytes (header, record, section prefix, seal, CRC).
    let payload = MIN_SEGMENT as usize - seg.bytes.len() - 296 - room;
    let r = ledger.append(big_draft(0, payload)).expect("fill");
    let left = MIN_SEGMENT as usize - newest(disk).bytes.len();
    assert_eq!(left, room, "the segment has {room} bytes of room left");
    r
}

/// Genesis (and, with `two_segments`, an entry filling segment 0 so that the rest goes to a
/// newest segment 1), then two single appends (each a write of its own), a batch of three (one
/// write, one seal at its end) and a single append. Returns the disk, a snapshot of it, and
/// every entry's chain value (`chains[seq]`).
fn base_ledger(two_segments: bool) -> (SimBackend, Snapshot, Vec<Digest>) {
    let disk = common::new_disk();
    let l = Ledger::create(
        sim_dir(),
        key(1),
        "base",
        sim_opts(&disk, Durability::Synced, MIN_SEGMENT),
    )
    .unwrap();
    let mut chains = vec![l.head()];
    if two_segments {
        chains.push(fill_segment(&disk, &l, 100).chain);
    }
    let n = chains.len() as u64;
    chains.push(l.append(draft(n)).unwrap().chain);
    chains.push(l.append(draft(n + 1)).unwrap().chain);
    let batch = l.append_batch(vec![draft(n + 2), draft(n + 3), draft(n + 4)]).unwrap();
    chains.extend(batch.iter().map(|r| r.chain));
    chains.push(l.append(draft(n + 5)).unwrap().chain);
    l.close().unwrap();
    let segs = sim_layout(&disk, &sim_dir());
    assert_eq!(segs.len(), 1 + usize::from(two_segments));
    let sealed: Vec<bool> = segs.last().unwrap().frames.iter().map(|f| f.sealed).collect();
    let want: &[bool] = if two_segments {
        &[true, true, false, false, true, true]
    } else {
        &[true, true, true, false, false, true, true]
    };
    assert_eq!(sealed, want, "one seal per write");
    let snap = snapshot(&disk);
    (disk, snap, chains)
}

/// Cut the newest segment at every byte offset from its second frame on — inside single
/// writes and inside the batch — with the index either ahead of the segment (slots for the
/// lost frames) or behind it (none for the batch): the ledger reopens at the last complete seal,
/// the batch's complete but unsealed frames go with its seal, and the cut is reported.
#[test]
fn a_torn_tail_is_cut_back_to_the_last_seal() {
    let (disk, snap, chains) = base_ledger(false);
    let seg = newest(&disk);
    let hashes = entry_hashes(&sim_layout(&disk, &sim_dir()));
    let idx = file(&disk, &seg.idx_path).expect("idx");
    let lagging_idx = idx[..INDEX_HEADER_LEN + 4 * 3].to_vec();
    let mut cut_frames = 0;
    for index_lags in [false, true] {
        for cut in seg.frames[2].offset..=seg.bytes.len() {
            let what = format!("cut at {cut} (index lags: {index_lags})");
            let d = restore(&snap);
            put_file(&d, &seg.path, seg.bytes[..cut].to_vec());
            if index_lags {
                put_file(&d, &seg.idx_path, lagging_idx.clone());
            }
            let complete: Vec<_> = seg.frames.iter().filter(|f| f.end() <= cut).collect();
            let kept = complete.iter().rposition(|f| f.sealed).map_or(0, |i| i + 1);
            let boundary = if kept == 0 { 64 } else { complete[kept - 1].end() };
            let want_len = seg.first_seq + kept as u64;

            let ledger = open(&d, Durability::Synced).unwrap_or_else(|e| panic!("{what}: {e}"));
            let rec = ledger.recovery().clone();
            assert_eq!(ledger.len(), want_len, "{what}");
            assert_eq!(ledger.head(), chains[want_len as usize - 1], "{what}");
            if cut == boundary {
                assert_eq!(rec.torn_tail, None, "{what}");
            } else {
                let t = rec
                    .torn_tail
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what}: no torn tail reported"));
                assert_eq!(t.file, seg.path, "{what}");
                assert_eq!(
                    (t.offset, t.bytes, t.frames),
                    (boundary as u64, (cut - boundary) as u64, (complete.len() - kept) as u64),
                    "{what}"
                );
                cut_frames += t.frames;
            }
            assert_eq!(rec.removed_segment, None, "{what}");
            assert_eq!(
                file(&d, &seg.path).expect("seg").len(),
                boundary,
                "{what}: cut elsewhere"
            );
            // The survivors are the original entries (the verify after the append below
            // covers them too, so one verify per cut suffices).
            assert_eq!(
                &entry_hashes(&sim_layout(&d, &sim_dir()))[..],
                &hashes[..want_len as usize]
            );
            let receipt = ledger
                .append(draft(99))
                .unwrap_or_else(|e| panic!("{what}: append: {e}"));
            assert_eq!(receipt.seq, want_len, "{what}");
            assert!(receipt.durable, "{what}");
            ledger.close().unwrap_or_else(|e| panic!("{what}: close: {e}"));
            let r = common::verified(&d, &sim_dir(), &key(1));
            assert_eq!((r.entries, r.torn_tail.is_none()), (want_len + 1, true), "{what}");
            assert_eq!(r.head, receipt.chain, "{what}");
        }
    }
    assert!(
        cut_frames > 0,
        "some cuts left complete frames of the batch without their seal"
    );
}

/// Power loss under `Durability::Buffered`: what `sync` reported durable survives, and the
/// disk keeps exactly the synced writes (each ends with a seal), nothing torn.
#[test]
fn buffered_keeps_what_sync_reported() {
    let disk = common::new_disk();
    let k = key(1);
    let ledger = Ledger::create(
        sim_dir(),
        k.clone(),
        "none",
        sim_opts(&disk, Durability::Buffered, MIN_SEGMENT),
    )
    .expect("create");
    let mut hashes = vec![ledger.head()];
    for i in 0..3 {
        let r = ledger.append(draft(i)).expect("append");
        assert!(!r.durable, "buffered receipts are not durable");
        hashes.push(r.entry_hash);
    }
    assert_eq!(ledger.sync().expect("sync"), 4);
    assert_eq!(ledger.durable_len(), 4);
    for i in 3..12 {
        let r = ledger.append(draft(i)).expect("append");
        assert!(!r.durable);
        hashes.push(r.entry_hash);
    }
    let batch = ledger.append_batch(vec![draft(12), draft(13)]).expect("batch");
    assert!(batch.iter().all(|r| !r.durable));
    assert_eq!(ledger.durable_len(), 4);
    power_loss(&disk, ledger);
    let ledger = open(&disk, Durability::Buffered).expect("reopen");
    // The simulated disk keeps exactly what was synced: the writes up to the sync.
    assert_eq!(ledger.len(), 4);
    assert_eq!(ledger.recovery().torn_tail, None, "a synced write ends with its seal");
    let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
    assert_eq!(found[1..], hashes[1..4], "surviving entries are the synced ones");
    ledger.close().unwrap();
    assert_eq!(common::verified(&disk, &sim_dir(), &k).entries, 4);
}

/// Every way of appending — `append`, `append_batch`, `submit` waited and `submit` followed by
/// `sync`, in both durabilities, across rotations — then power loss right after: every receipt
/// that said durable (or that a later `sync` covered) survives with its hash.
#[test]
fn durable_receipts_survive_power_loss_after_every_call() {
    for mode in MODES {
        let disk = common::new_disk();
        let k = key(1);
        let ledger = Ledger::create(sim_dir(), k.clone(), "pl", sim_opts(&disk, mode, MIN_SEGMENT)).expect("create");
        let mut durable: Vec<Receipt> = Vec::new();
        let mut synced_len = ledger.durable_len();
        drop(ledger);
        for round in 0..12u64 {
            let what = format!("{mode:?} round {round}");
            let ledger = open(&disk, mode).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
            assert!(ledger.len() >= synced_len, "{what}: {} < {synced_len}", ledger.len());
            let mut got = vec![ledger.append(if round % 3 == 2 {
                big_draft(round, 400 << 10)
            } else {
                draft(round)
            })];
            match round % 4 {
                0 => got.extend(
                    ledger
                        .append_batch(vec![draft(100 + round), draft(200 + round)])
                        .unwrap()
                        .into_iter()
                        .map(Ok),
                ),
                1 => got.push(ledger.submit(draft(300 + round), Durability::Synced).unwrap().wait()),
                2 => {
                    got.push(ledger.submit(draft(400 + round), Durability::Buffered).unwrap().wait());
                    assert_eq!(ledger.sync().unwrap(), ledger.len(), "{what}");
                }
                _ => got.push(ledger.append(draft(500 + round))),
            }
            let durable_len = ledger.durable_len();
            for r in got {
                let r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
                if r.durable {
                    assert!(
                        r.seq < durable_len,
                        "{what}: durable receipt {} past durable_len",
                        r.seq
                    );
                }
                if mode == Durability::Synced && round % 4 != 2 {
                    assert!(r.durable, "{what}: synced receipt {} not durable", r.seq);
                }
                if r.durable || r.seq < durable_len {
                    durable.push(r);
                }
            }
            synced_len = durable_len;
            power_loss(&disk, ledger);
            let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
            for r in &durable {
                assert_eq!(found.get(r.seq as usize), Some(&r.entry_hash), "{what}: {} lost", r.seq);
            }
        }
        assert!(sim_layout(&disk, &sim_dir()).len() >= 2, "{mode:?}: rotations happened");
        let ledger = open(&disk, mode).unwrap();
        let n = ledger.len();
        ledger.close().unwrap();
        assert_eq!(common::verified(&disk, &sim_dir(), &k).entries, n, "{mode:?}");
    }
}

/// What one run of [`script`] handed out.
#[derive(Default)]
struct Outcome {
    /// Receipts of the appends that returned Ok.
    ok: Vec<Receipt>,
    /// Entries a sync or checkpoint that returned Ok made durable.
    synced_len: u64,
    /// Whether an operation failed (the script stops there: the writer is poisoned).
    failed: bool,
}

/// Step `i` of [`script`]; `Err` if it failed.
fn step(l: &Ledger, i: usize, out: &mut Outcome) -> Result<(), ()> {
    let one = |r: Result<Receipt, AppendError>| r.map(|r| vec![r]).map_err(drop);
    let receipts = match i {
        0 => one(l.append(draft(1)))?,
        1 => l.append_batch((2..6).map(draft).collect()).map_err(drop)?,
        2 => one(l
            .submit(draft(6), Durability::Buffered)
            .and_then(provledger::Ticket::wait))?,
        3 => {
            out.synced_len = l.sync().map_err(drop)?;
            vec![]
        }
        4 => one(l.append(draft(7)))?,
        5 => {
            out.synced_len = l.checkpoint().map_err(drop)?.tree_size;
            vec![]
        }
        _ => one(l
            .submit(draft(8), Durability::Synced)
            .and_then(provledger::Ticket::wait))?,
    };
    out.ok.extend(receipts);
    Ok(())
}

/// A workload of every kind of write: single appends, a batch, a buffered submit, a sync, a
/// checkpoint, a synced submit. Stops at the first failure.
fn script(l: &Ledger) -> Outcome {
    let mut out = Outcome::default();
    for i in 0..7 {
        if step(l, i, &mut out).is_err() {
            out.failed = true;
            break;
        }
    }
    out
}

/// The four ways a full disk can end, as (durability, power loss instead of a process crash).
const ENDINGS: [(Durability, bool); 4] = [
    (Durability::Synced, true),
    (Durability::Synced, false),
    (Durability::Buffered, true),
    (Durability::Buffered, false),
];

/// The endings tried at write budget `budget`: each ending every third byte, every byte by some
/// ending (a sweep of every ending at every byte costs four times as much and finds nothing
/// more: neighbouring bytes inside one write end the same way).
fn endings(budget: usize) -> impl Iterator<Item = (Durability, bool)> {
    ENDINGS
        .into_iter()
        .enumerate()
        .filter(move |(i, _)| (budget + i).is_multiple_of(3))
        .map(|(_, e)| e)
}

/// The disk fills up at any byte of a workload (every operation kind, both durabilities), then
/// the machine loses power or the process dies: reopening always works, every receipt that
/// said durable — or that a later successful sync or checkpoint covered — survives with its
/// hash, the survivors are exactly what was written up to a seal, and the ledger verifies.
/// After a process crash (no power loss) every acknowledged entry survives.
#[test]
fn disk_full_at_any_byte_then_a_crash_keeps_every_durable_receipt() {
    let (disk, _, _, _) = sim_ledger(3, MIN_SEGMENT, Durability::Synced);
    let snap = snapshot(&disk);
    let mut runs = [0u32; 2]; // [failed, completed]
    let mut budget = 0;
    loop {
        let mut all_completed = true;
        for (mode, lose_power) in endings(budget) {
            let what = format!("{mode:?}, budget {budget}, power loss {lose_power}");
            let d = restore(&snap);
            let l = open(&d, mode).unwrap();
            set_write_budget(&d, Some(budget as u64));
            let o = script(&l);
            runs[usize::from(!o.failed)] += 1;
            all_completed &= !o.failed;
            let (d, l, _, written) = crash_and_reopen(d, l, lose_power, mode, &what);
            let found = entry_hashes(&sim_layout(&d, &sim_dir()));
            assert_eq!(l.len(), found.len() as u64, "{what}");
            assert_eq!(&found[..], &written[..found.len()], "{what}: survivors differ");
            assert!(l.len() >= o.synced_len.max(4), "{what}: {} < {}", l.len(), o.synced_len);
            for r in &o.ok {
                if r.durable || r.seq < o.synced_len || !lose_power {
                    assert_eq!(found.get(r.seq as usize), Some(&r.entry_hash), "{what}: {} lost", r.seq);
                }
            }
            l.close().unwrap_or_else(|e| panic!("{what}: close: {e}"));
            let r = verify(&d);
            assert!(r.is_ok(), "{what}: {}", r.failure.expect("f"));
            assert_eq!(r.entries, found.len() as u64, "{what}");
        }
        if all_completed && budget > 0 {
            break;
        }
        budget += 1;
    }
    println!("{budget} bytes written by the script; runs failed/completed: {runs:?}");
    assert!(runs[0] as usize > budget, "the budget cut the script: {runs:?}");
}

/// A batch that rotates to a new segment, cut by a full disk at bytes all over it — and at
/// every step of the rotation: the new segment's header, its index, the directory sync — then
/// power loss or a process crash, in both durabilities: reopening always works, removes a new
/// segment whose header never completed, keeps every entry that was durable, and verifies.
#[test]
fn a_batch_cut_at_any_byte_including_during_rotation_recovers() {
    let disk = common::new_disk();
    let l = Ledger::create(
        sim_dir(),
        key(1),
        "rot",
        sim_opts(&disk, Durability::Synced, MIN_SEGMENT),
    )
    .unwrap();
    fill_segment(&disk, &l, 700);
    l.close().unwrap();
    let snap = snapshot(&disk);
    let batch = || (10..16).map(draft).collect::<Vec<_>>();
    // Runs the batch with a budget; returns the disk and whether the new segment was created.
    let attempt = |mode, budget: Option<u64>| {
        let d = restore(&snap);
        let l = open(&d, mode).expect("open");
        set_write_budget(&d, budget);
        let res = l.append_batch(batch());
        let rotated = sim_layout(&d, &sim_dir()).len() == 2;
        (d, l, res, rotated)
    };
    let (d, l, res, rotated) = attempt(Durability::Synced, None);
    assert!(res.is_ok() && rotated, "the batch rotates");
    let segs = sim_layout(&d, &sim_dir());
    assert!(
        segs[0].frames.len() > 3 && segs[1].frames.len() > 1,
        "and is split over both segments"
    );
    let total = common::disk_bytes(&d) - snap.iter().map(|(_, b)| b.len()).sum::<usize>();
    drop(l);
    // The first budget at which the new segment's file exists: the rotation starts there.
    let (mut lo, mut hi) = (0u64, total as u64);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if attempt(Durability::Synced, Some(mid)).3 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let rotation = lo as usize;
    // Sparse over the whole batch; at each step of the rotation (64 header bytes, 48 index
    // header bytes), at its edges and inside.
    let mut budgets: Vec<usize> = (0..=total + 1).step_by(11).collect();
    budgets.extend([0, 1, 2, 31, 62, 63, 64, 65, 66, 90, 111, 112, 113, 114, 200].map(|d| rotation - 1 + d));
    budgets.sort_unstable();
    budgets.dedup();
    let mut removed_segments = 0;
    for budget in budgets {
        for (mode, lose_power) in ENDINGS {
            let what = format!("{mode:?}, budget {budget} (rotation at {rotation}), power loss {lose_power}");
            let (d, l, res, _) = attempt(mode, Some(budget as u64));
            let before = 2;
            if let Err(e) = &res {
                assert!(matches!(e, AppendError::Storage(_)), "{what}: {e}");
            }
            let (d, l, durable, written) = crash_and_reopen(d, l, lose_power, mode, &what);
            removed_segments += u32::from(l.recovery().removed_segment.is_some());
            assert!(
                l.len() >= durable.max(before),
                "{what}: {} < durable {durable}",
                l.len()
            );
            if let Ok(receipts) = &res {
                if mode == Durability::Synced || !lose_power {
                    assert_eq!(l.len(), before + 6, "{what}");
                }
                for r in receipts.iter().filter(|r| r.durable) {
                    assert_eq!(written[r.seq as usize], r.entry_hash, "{what}");
                }
            }
            l.close().unwrap();
            let found = entry_hashes(&sim_layout(&d, &sim_dir()));
            assert_eq!(&found[..], &written[..found.len()], "{what}: survivors differ");
            let r = verify(&d);
            assert!(r.is_ok(), "{what}: {}", r.failure.expect("f"));
            assert_eq!(r.entries, found.len() as u64, "{what}");
        }
    }
    assert!(
        removed_segments > 0,
        "no run cut the rotation inside the new segment's header"
    );
}

/// Damage that is not a torn tail — in any frame of any segment, with the newest index intact
/// or deleted — makes open fail naming file, offset and sequence number, or leaves it to
/// verify, which fails there; the segment files are never truncated.
#[test]
fn damage_before_the_tail_is_reported_and_never_cut() {
    let (disk, snap, _) = base_ledger(true);
    let segs = sim_layout(&disk, &sim_dir());
    let newest_idx = segs.last().expect("seg").idx_path.clone();
    let mut open_failures = 0;
    for seg in &segs {
        for frame in &seg.frames {
            let spots = [
                frame.offset + 1,
                frame.entry().start + 20,
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
                put_file(&d, &seg.path, damaged);
                if delete_index {
                    common::remove(&d, &newest_idx);
                }
                let before: Vec<_> = sim_layout(&d, &sim_dir()).into_iter().map(|s| s.bytes).collect();
                let opened = match open(&d, Durability::Synced) {
                    Ok(l) => {
                        drop(l);
                        true
                    }
                    Err(OpenError::Storage(StorageError::Corrupt {
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
                        false
                    }
                    Err(e) => panic!("{what}: unexpected error {e}"),
                };
                let after: Vec<_> = sim_layout(&d, &sim_dir()).into_iter().map(|s| s.bytes).collect();
                assert!(before == after, "{what}: segment files changed by open");
                let r = verify(&d);
                let f = r.failure.unwrap_or_else(|| panic!("{what}: verifies"));
                // An open that failed did not rebuild the deleted index of the newest segment:
                // verify meets that at the segment's first entry, before later damage.
                let index_first = delete_index && !opened && seg.idx_path == newest_idx && frame.seq > seg.first_seq;
                if index_first {
                    assert_eq!((f.seq, f.check), (Some(seg.first_seq), Check::Index), "{what}: {f}");
                    continue;
                }
                assert_eq!((f.seq, f.check), (Some(frame.seq), Check::Format), "{what}: {f}");
                assert_eq!(f.file.as_deref(), Some(seg.path.as_path()), "{what}: {f}");
                assert_eq!(f.offset, Some(frame.offset as u64), "{what}: {f}");
            }
        }
    }
    // Damage in the newest segment is always seen on open (it is scanned to find the seal).
    assert!(open_failures >= 8 * segs[1].frames.len(), "{open_failures}");
}

/// A damaged segment header is an error on open, never a "rotation cut short" to delete.
#[test]
fn a_damaged_newest_segment_header_is_not_removed() {
    let (disk, snap, _) = base_ledger(false);
    let seg = newest(&disk);
    for at in [0, 9, 20, 33, 63] {
        let d = restore(&snap);
        let mut b = seg.bytes.clone();
        b[at] ^= 0x01;
        put_file(&d, &seg.path, b.clone());
        let e = open(&d, Durability::Synced).expect_err("damaged header");
        assert!(
            matches!(&e, OpenError::Storage(StorageError::Corrupt { file, offset: 0, .. }) if *file == seg.path),
            "header byte {at}: {e}"
        );
        assert_eq!(file(&d, &seg.path), Some(b), "header byte {at}");
    }
}

/// How much the files grow by the third `append` after reopening `snap`.
fn bytes_per_append(snap: &Snapshot, mode: Durability) -> usize {
    let d = restore(snap);
    let l = open(&d, mode).expect("open");
    l.append(draft(1)).expect("append");
    l.append(draft(2)).expect("append");
    let before = common::disk_bytes(&d);
    l.append(draft(3)).expect("append");
    common::disk_bytes(&d) - before
}

/// An append whose write fails part-way (disk full) returns an error (no panic) and poisons the
/// writer; after a process crash the ledger holds the entries whose appends returned Ok, plus
/// the failed one only if its frame and seal were completely written; after a power loss, the
/// durable ones (and nothing unsynced), in both durabilities.
#[test]
fn a_failed_write_poisons_the_writer_and_reopen_keeps_the_completed_entries() {
    let (disk, snap, _) = base_ledger(false);
    let frame_len = newest(&disk).frames.last().expect("frame").len();
    // Synced appends write into space reserved ahead, where a write cannot run out of room;
    // on a file system that cannot reserve, they write past the end of the file as buffered
    // ones do.
    for (mode, reserve) in [
        (Durability::Synced, true),
        (Durability::Synced, false),
        (Durability::Buffered, false),
    ] {
        let per_append = bytes_per_append(&snap, mode);
        for budget in 0..=per_append + 1 {
            for lose_power in [false, true] {
                let what = format!("{mode:?}, reserve {reserve}, budget {budget}, power loss {lose_power}");
                let d = restore(&snap);
                d.set_no_reserve(!reserve);
                let l = open(&d, mode).expect("open");
                let durable_before = l.durable_len();
                let mut ok = vec![l.append(draft(1)).expect("append"), l.append(draft(2)).expect("append")];
                set_write_budget(&d, Some(budget as u64));
                match l.append(draft(3)) {
                    Ok(r) => {
                        // Index slots and tree nodes are derived data, written later in blocks.
                        assert!(
                            budget >= frame_len || reserve,
                            "{what}: append succeeded without room for its frame"
                        );
                        ok.push(r);
                    }
                    Err(e) => {
                        assert!(
                            matches!(e, AppendError::Storage(StorageError::Io { .. })),
                            "{what}: {e}"
                        );
                        set_write_budget(&d, None);
                        let again = l.append(draft(4)).expect_err("poisoned");
                        assert!(matches!(again, AppendError::Poisoned), "{what}: {again}");
                        assert!(matches!(l.sync(), Err(SyncError::Poisoned)), "{what}");
                    }
                }
                let (d, l, durable_len, complete) = crash_and_reopen(d, l, lose_power, mode, &what);
                let complete = complete.len() as u64;
                let last_ok = ok.last().expect("ok").seq;
                if lose_power {
                    // Exactly what was synced survives.
                    assert_eq!(l.len(), durable_len.max(durable_before), "{what}");
                } else {
                    // Every Ok entry; the failed one only if its sealed frame is complete.
                    assert_eq!(l.len(), complete, "{what}");
                    assert!(l.len() == last_ok + 1 || l.len() == last_ok + 2, "{what}: {}", l.len());
                }
                let found = entry_hashes(&sim_layout(&d, &sim_dir()));
                for r in ok.iter().filter(|r| r.durable || !lose_power) {
                    assert_eq!(found[r.seq as usize], r.entry_hash, "{what}");
                }
                l.close().unwrap();
                assert_verifies(&d, &sim_dir(), &key(1));
            }
        }
    }
}

/// A sync that fails is an error and poisons the writer (in both durabilities): nothing is
/// reported durable after it, even once syncs work again, until the ledger is reopened.
#[test]
fn a_failing_sync_is_an_error_and_poisons_the_writer() {
    let (_, snap, _) = base_ledger(false);
    for mode in MODES {
        for lose_power in [false, true] {
            let what = format!("{mode:?}, power loss {lose_power}");
            let d = restore(&snap);
            let l = open(&d, mode).expect("open");
            let len = l.len();
            set_fail_sync(&d, true);
            if mode == Durability::Buffered {
                let r = l.append(draft(1)).expect("no sync for a buffered append");
                assert!(!r.durable);
                let e = l.sync().expect_err("sync fails");
                assert!(matches!(e, SyncError::Storage(StorageError::Io { .. })), "{what}: {e}");
            } else {
                let e = l.append_batch(vec![draft(1), draft(2)]).expect_err("sync fails");
                assert!(
                    matches!(e, AppendError::Storage(StorageError::Io { .. })),
                    "{what}: {e}"
                );
            }
            assert_eq!(l.durable_len(), len, "{what}: nothing new is durable");
            set_fail_sync(&d, false);
            let e = l.append(draft(3)).expect_err("poisoned");
            assert!(matches!(e, AppendError::Poisoned), "{what}: {e}");
            assert!(matches!(l.sync(), Err(SyncError::Poisoned)), "{what}");
            assert!(l.checkpoint().is_err(), "{what}");
            assert_eq!(l.durable_len(), len, "{what}");
            let d = if lose_power {
                power_loss(&d, l);
                d
            } else {
                process_crash(&d, l)
            };
            let l = open(&d, mode).expect("reopen");
            if lose_power {
                assert_eq!(l.len(), len, "{what}: unsynced entries survived power loss");
            } else {
                assert!(l.len() > len, "{what}: written entries vanished without power loss");
            }
            let r = l.append(draft(4)).expect("append after reopen");
            assert_eq!(r.durable, mode == Durability::Synced, "{what}");
            l.close().unwrap();
            assert_verifies(&d, &sim_dir(), &key(1));
        }
    }
}

fn reopen_with_index(snap: &Snapshot, idx: &Path, bytes: Option<Vec<u8>>) -> (SimBackend, bool) {
    let d = restore(snap);
    match bytes {
        Some(b) => put_file(&d, idx, b),
        None => common::remove(&d, idx),
    }
    let l = open(&d, Durability::Synced).expect("reopen");
    let rebuilt = l.recovery().index_rebuilt;
    l.close().unwrap();
    (d, rebuilt)
}

/// A deleted, truncated, lagging or garbage index of the newest segment is rebuilt on open,
/// identical to the original, and the ledger verifies; an intact one is left alone.
#[test]
fn a_lost_or_damaged_newest_index_is_rebuilt() {
    let (disk, snap, _) = base_ledger(false);
    let seg = newest(&disk);
    let idx = file(&disk, &seg.idx_path).expect("idx");
    assert_eq!(idx.len(), INDEX_HEADER_LEN + 4 * seg.frames.len());
    let garbage: Vec<u8> = (0..idx.len()).map(|i| (i * 37 + 11) as u8).collect();
    let mut bad_last_slot = idx.clone();
    *bad_last_slot.last_mut().expect("slot") ^= 0x40;
    let mut bad_bit = idx.clone();
    bad_bit[INDEX_HEADER_LEN + 3] ^= 0x80; // the governance bit of slot 0
    let cases: Vec<(&str, Option<Vec<u8>>, bool)> = vec![
        ("intact", Some(idx.clone()), false),
        ("deleted", None, true),
        ("empty", Some(Vec::new()), true),
        ("truncated inside the header", Some(idx[..20].to_vec()), true),
        ("garbage", Some(garbage), true),
        ("last slot wrong", Some(bad_last_slot), true),
        ("governance bit wrong", Some(bad_bit), true),
        ("one slot short", Some(idx[..idx.len() - 4].to_vec()), true),
        ("half a slot short", Some(idx[..idx.len() - 2].to_vec()), true),
        (
            "a slot too many",
            Some([&idx[..], &idx[idx.len() - 4..]].concat()),
            true,
        ),
    ];
    for (what, bytes, want_rebuilt) in cases {
        let (d, rebuilt) = reopen_with_index(&snap, &seg.idx_path, bytes);
        assert_eq!(rebuilt, want_rebuilt, "{what}: recovery().index_rebuilt");
        assert_eq!(
            file(&d, &seg.idx_path).as_ref(),
            Some(&idx),
            "{what}: index not restored"
        );
        assert_verifies(&d, &sim_dir(), &key(1));
    }
}

/// The index of a sealed segment is derived data too: lost or damaged, `verify` reports it
/// (check `index`, at the segment's first entry), the writer still opens (it reads the sealed
/// segment by scanning instead), and `rebuild_derived` restores it byte for byte.
#[test]
fn a_lost_index_of_a_sealed_segment_is_reported_and_rebuilt_by_repair() {
    let (disk, snap, _) = base_ledger(true);
    let segs = sim_layout(&disk, &sim_dir());
    let sealed = &segs[0];
    let idx = file(&disk, &sealed.idx_path).expect("idx");
    for bytes in [None, Some(b"garbage".to_vec())] {
        let d = restore(&snap);
        match bytes {
            Some(b) => put_file(&d, &sealed.idx_path, b),
            None => common::remove(&d, &sealed.idx_path),
        }
        let f = verify(&d).failure.expect("a damaged index is reported");
        assert_eq!((f.check, f.seq), (Check::Index, Some(sealed.first_seq)), "{f}");
        let l = open(&d, Durability::Synced).expect("the writer opens");
        l.append(draft(8)).expect("and appends");
        l.close().unwrap();
        rebuild_derived(&sim_dir(), &sim_opts(&d, Durability::Synced, MIN_SEGMENT)).expect("repair");
        assert_eq!(file(&d, &sealed.idx_path).as_ref(), Some(&idx));
        assert_verifies(&d, &sim_dir(), &key(1));
    }
}

/// A tail whose size reached the disk but whose data did not reads as zeros: a torn tail, cut
/// back to the last seal, whether zeros follow the last frame or replace its end or all of it.
/// Zeros beyond `MAX_TORN` after the last seal cannot be an interrupted write: damage.
#[test]
fn a_zero_filled_tail_is_a_torn_tail_up_to_max_torn() {
    let (disk, snap, _) = base_ledger(false);
    let seg = newest(&disk);
    let last = *seg.frames.last().expect("frame");
    let with_zeros = |mut b: Vec<u8>| {
        b.resize(b.len() + 300, 0);
        b
    };
    let mut zero_end = seg.bytes.clone();
    zero_end[last.section().start + 10..].fill(0);
    let mut zero_frame = seg.bytes.clone();
    zero_frame[last.offset..].fill(0);
    let mut short_header = seg.bytes.clone();
    short_header[last.offset + 5..].fill(0);
    for (what, bytes, cut_at, torn) in [
        // Space reserved ahead of writes (FORMAT §8 T1b): a clean end, cut on open.
        (
            "zeros after the last frame",
            with_zeros(seg.bytes.clone()),
            seg.bytes.len(),
            false,
        ),
        ("last frame's end zeroed", zero_end.clone(), last.offset, true),
        // A write none of whose bytes reached the disk: zeros from the last seal on (T1b).
        ("last frame zeroed", zero_frame.clone(), last.offset, false),
        // The same torn writes, into reserved space (zeros after the frame's end).
        (
            "last frame's end zeroed, then zeros",
            with_zeros(zero_end),
            last.offset,
            true,
        ),
        (
            "last frame zeroed, then zeros",
            with_zeros(zero_frame),
            last.offset,
            false,
        ),
        (
            "last frame's header cut short, then zeros",
            with_zeros(short_header),
            last.offset,
            true,
        ),
    ] {
        let d = restore(&snap);
        put_file(&d, &seg.path, bytes.clone());
        let l = open(&d, Durability::Synced).unwrap_or_else(|e| panic!("{what}: {e}"));
        let t = l.recovery().torn_tail.clone();
        if torn {
            let t = t.unwrap_or_else(|| panic!("{what}: no torn tail"));
            assert_eq!(
                (t.offset, t.bytes),
                (cut_at as u64, (bytes.len() - cut_at) as u64),
                "{what}"
            );
        } else {
            assert!(t.is_none(), "{what}: {t:?}");
        }
        l.close().unwrap();
        assert_eq!(file(&d, &seg.path).expect("seg").len(), cut_at, "{what}");
        assert_verifies(&d, &sim_dir(), &key(1));
    }
    let d = restore(&snap);
    let mut huge = seg.bytes.clone();
    huge.resize(seg.bytes.len() + MAX_TORN as usize + 1, 0);
    put_file(&d, &seg.path, huge.clone());
    let e = open(&d, Durability::Synced).expect_err("more than MAX_TORN of zeros");
    assert!(
        matches!(&e, OpenError::Storage(StorageError::Corrupt { offset, .. }) if *offset == seg.bytes.len() as u64),
        "{e}"
    );
    assert_eq!(file(&d, &seg.path).map(|b| b.len()), Some(huge.len()), "never cut");
    let f = verify(&d).failure.expect("damage");
    assert_eq!(
        (f.check, f.seq),
        (Check::Format, Some(seg.first_seq + seg.frames.len() as u64)),
        "{f}"
    );
}

/// `Ledger::create` cut by a full disk (and then, or not, power loss) at any byte: the
/// directory is then either not a ledger, or a ledger with its genesis entry — never an
/// "empty" ledger that `open` accepts — and creating it again works when it is not.
#[test]
fn a_crash_during_create_never_leaves_a_ledger_without_genesis() {
    let total = {
        let d = common::new_disk();
        let l = Ledger::create(sim_dir(), key(1), "c", sim_opts(&d, Durability::Synced, MIN_SEGMENT)).expect("create");
        l.close().unwrap();
        common::disk_bytes(&d)
    };
    for budget in 0..=total {
        for lose_power in [false, true] {
            let what = format!("budget {budget}, power loss {lose_power}");
            let d = common::new_disk();
            set_write_budget(&d, Some(budget as u64));
            let created = Ledger::create(sim_dir(), key(1), "c", sim_opts(&d, Durability::Synced, MIN_SEGMENT));
            let created_ok = created.is_ok();
            match created {
                Ok(l) if lose_power => power_loss(&d, l),
                Ok(l) => drop(l),
                Err(_) if lose_power => power_loss_idle(&d),
                Err(_) => {}
            }
            set_write_budget(&d, None);
            match open(&d, Durability::Synced) {
                Err(_) => {
                    assert!(!created_ok, "{what}: a created ledger does not open");
                    let l = Ledger::create(sim_dir(), key(1), "c", sim_opts(&d, Durability::Synced, MIN_SEGMENT))
                        .unwrap_or_else(|e| panic!("{what}: create again: {e}"));
                    l.close().unwrap();
                }
                Ok(l) => {
                    assert!(
                        !l.is_empty(),
                        "{what}: open accepted a ledger without its genesis entry"
                    );
                    l.append(draft(1)).expect("append");
                    l.close().unwrap();
                }
            }
            assert_verifies(&d, &sim_dir(), &key(1));
        }
    }
}

/// Synced appends write into space reserved ahead (FORMAT §7.5): the newest segment's file is
/// longer than its frames, and the zeros after the last seal read as a clean end (§8 T1b) —
/// `verify` reports no torn tail, and a crash leaves them to be cut by the next writer. Only
/// the newest segment ends in them: a rotation cuts them (durably) before the next segment
/// exists, and `close` cuts them. A writer on a file system that cannot allocate ahead does not
/// reserve.
#[test]
fn synced_appends_reserve_space_that_reads_as_a_clean_end_and_is_cut_when_the_segment_is_left() {
    let disk = common::new_disk();
    let l = create(&disk, Durability::Synced);
    for i in 0..5 {
        assert!(l.append(draft(i)).unwrap().durable);
    }
    let seg = newest(&disk);
    let raw = file(&disk, &seg.path).expect("segment").len();
    assert!(
        raw > seg.bytes.len(),
        "space reserved after the frames: {raw} > {}",
        seg.bytes.len()
    );
    assert!(raw as u64 <= MIN_SEGMENT, "never past the segment size");
    let r = verify(&disk);
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(
        (r.entries, r.torn_tail.clone()),
        (6, None),
        "zeros after the last seal are no torn tail"
    );

    // A power loss now: the reserved zeros were synced with the writes; the next writer cuts
    // them and reports no torn tail.
    let d = restore(&snapshot(&disk));
    let l2 = open(&d, Durability::Synced).expect("reopen after a crash");
    assert_eq!((l2.len(), l2.recovery().torn_tail.clone()), (6, None));
    assert_eq!(
        file(&d, &seg.path).expect("segment").len(),
        seg.bytes.len(),
        "cut on open"
    );
    drop(l2);

    // Rotation: the sealed segment ends exactly at its last frame.
    fill_segment(&disk, &l, 200);
    l.append(draft(9)).unwrap();
    let segs = sim_layout(&disk, &sim_dir());
    assert_eq!(segs.len(), 2, "rotated");
    assert_eq!(
        file(&disk, &segs[0].path).expect("sealed").len(),
        segs[0].bytes.len(),
        "cut at rotation"
    );
    assert!(file(&disk, &segs[1].path).expect("newest").len() > segs[1].bytes.len());
    l.close().unwrap();
    for s in sim_layout(&disk, &sim_dir()) {
        assert_eq!(
            file(&disk, &s.path).expect("segment").len(),
            s.bytes.len(),
            "cut at close"
        );
    }
    assert_verifies(&disk, &sim_dir(), &key(1));

    let disk = common::new_disk();
    disk.set_no_reserve(true);
    let l = create(&disk, Durability::Synced);
    assert!(l.append(draft(1)).unwrap().durable);
    let seg = newest(&disk);
    assert_eq!(
        file(&disk, &seg.path).expect("segment").len(),
        seg.bytes.len(),
        "no reservation"
    );
    l.close().unwrap();
}

/// The same on the real file system, where space is reserved with `fallocate`.
#[cfg(target_os = "linux")]
#[test]
fn synced_appends_reserve_space_on_the_file_system() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let l = Ledger::create(tmp.path(), key(1), "reserve", Options::default()).unwrap();
    for i in 0..5 {
        assert!(l.append(draft(i)).unwrap().durable);
    }
    let seg = common::std_layout(tmp.path()).pop().expect("segment");
    let raw = std::fs::metadata(&seg.path).expect("stat").len();
    assert!(raw > seg.bytes.len() as u64, "reserved: {raw} > {}", seg.bytes.len());
    let r = provledger::verify(tmp.path(), &common::anchor(&key(1))).expect("verify");
    assert!(r.is_ok() && r.torn_tail.is_none() && r.entries == 6, "{r:?}");
    l.close().unwrap();
    let raw = std::fs::metadata(&seg.path).expect("stat").len();
    assert_eq!(raw, seg.bytes.len() as u64, "cut at close");
}

/// Found by the `model_ops` fuzzer: buffered appends grow the segment past the space reserved
/// for synced ones; a synced append whose reservation then failed (disk full) put the file back
/// to the length it had before the buffered appends, cutting entries `append` had returned.
/// A failed reservation must leave the file as long as it was.
#[test]
fn a_failed_reservation_after_buffered_appends_keeps_them() {
    let disk = common::new_disk();
    let l = create(&disk, Durability::Buffered);
    let _ = l.close();
    let l = open(&disk, Durability::Buffered).expect("open");
    let kept: Vec<Receipt> = (0..3).map(|i| l.append(draft(i)).expect("buffered append")).collect();
    set_write_budget(&disk, Some(0));
    let synced = l
        .submit(draft(9), Durability::Synced)
        .and_then(provledger::Ticket::wait);
    assert!(synced.is_err(), "no room for the synced append");
    set_write_budget(&disk, None);
    let d = process_crash(&disk, l);
    let l = open(&d, Durability::Synced).expect("reopen");
    assert_eq!(l.len(), 4, "genesis and the three buffered entries");
    let found = entry_hashes(&sim_layout(&d, &sim_dir()));
    for r in &kept {
        assert_eq!(found[r.seq as usize], r.entry_hash);
    }
    l.close().unwrap();
    assert_verifies(&d, &sim_dir(), &key(1));
}

/// The process dies (`lose_power`: the machine too) while `l` runs on `d`, then the ledger is
/// reopened with the disk healed: the new disk and writer, and — taken just before the crash —
/// the length the writer had reported durable and the hashes of the complete entries on disk.
fn crash_and_reopen(
    d: SimBackend,
    l: Ledger,
    lose_power: bool,
    mode: Durability,
    what: &str,
) -> (SimBackend, Ledger, u64, Vec<Digest>) {
    let durable_len = l.durable_len();
    let complete = entry_hashes(&sim_layout(&d, &sim_dir()));
    let d = if lose_power {
        power_loss(&d, l);
        d
    } else {
        process_crash(&d, l)
    };
    set_write_budget(&d, None);
    let l = open(&d, mode).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    (d, l, durable_len, complete)
}

/// A batch large enough for the writer's pipelined path (pieces of 256 drafts, each written
/// while the next is prepared) that runs out of disk part-way: the call fails and answers
/// nothing, the writer is poisoned, and after a crash what survives is a prefix of the batch
/// ending at a seal — whole pieces' writes and nothing after the failed one — that verifies;
/// after a power loss, exactly what was synced before the batch. Budgets fall in each piece,
/// just before and after piece boundaries, and past the end.
#[test]
fn a_large_batch_that_runs_out_of_disk_leaves_a_sealed_prefix() {
    const N: u64 = 600; // pieces of 256, 256 and 88
    let (_, snap, _) = base_ledger(false);
    let batch = || -> Vec<provledger::Draft> { (0..N).map(|i| draft(1000 + i).without_position_signature()).collect() };
    // The bytes the batch writes when nothing fails, and where its seals fall.
    let d = restore(&snap);
    let l = open(&d, Durability::Buffered).expect("open");
    let before = common::disk_bytes(&d);
    let base_len = l.len();
    l.append_batch(batch()).expect("append_batch");
    drop(l);
    let whole = common::disk_bytes(&d) - before;
    let per_entry = whole / N as usize;
    let mut budgets: Vec<usize> = (0..=20).map(|k| whole * k / 20).collect();
    for boundary in [256usize, 512] {
        for delta in [-2isize, -1, 0, 1, 2] {
            budgets.push((boundary as isize * per_entry as isize + delta * 37).max(0) as usize);
        }
    }
    budgets.push(whole + 4096);
    let (mut failures, mut successes) = (0, 0);
    for mode in MODES {
        for &budget in &budgets {
            for lose_power in [false, true] {
                let what = format!("{mode:?}, budget {budget} of {whole}, power loss {lose_power}");
                let d = restore(&snap);
                d.set_no_reserve(true);
                let l = open(&d, mode).expect("open");
                let durable_before = l.durable_len();
                set_write_budget(&d, Some(budget as u64));
                let result = l.append_batch(batch());
                let failed = result.is_err();
                if failed {
                    failures += 1;
                } else {
                    successes += 1;
                }
                match result {
                    Ok(receipts) => {
                        assert_eq!(receipts.len() as u64, N, "{what}");
                        assert!(
                            receipts.iter().all(|r| r.durable == (mode == Durability::Synced)),
                            "{what}"
                        );
                    }
                    Err(e) => {
                        assert!(
                            matches!(e, AppendError::Storage(StorageError::Io { .. })),
                            "{what}: {e}"
                        );
                        set_write_budget(&d, None);
                        let again = l.append(draft(9)).expect_err("poisoned");
                        assert!(matches!(again, AppendError::Poisoned), "{what}: {again}");
                    }
                }
                let (d, l, durable_len, complete) = crash_and_reopen(d, l, lose_power, mode, &what);
                let complete = complete.len() as u64;
                if lose_power {
                    assert_eq!(l.len(), durable_len.max(durable_before), "{what}");
                } else {
                    assert_eq!(l.len(), complete, "{what}");
                }
                let kept = l.len() - base_len;
                if lose_power {
                    // Only the last piece's sync makes the batch durable, all of it at once.
                    let synced = !failed && mode == Durability::Synced;
                    assert_eq!(kept, if synced { N } else { 0 }, "{what}");
                } else if failed {
                    // A prefix that ends at a seal: whole pieces (one write each here), none
                    // after the one that failed.
                    assert!([0, 256, 512].contains(&kept), "{what}: {kept} entries kept");
                } else {
                    assert_eq!(kept, N, "{what}");
                }
                // The survivors are the batch's first entries, in order, with their payloads.
                let reader =
                    provledger::LedgerReader::open_with(std::sync::Arc::new(d.clone()), &sim_dir()).expect("reader");
                for i in 0..kept {
                    let got = reader.get(base_len + i).expect("entry");
                    let provledger::storage::frame::StoredPayload::Present { bytes, .. } = got.payload else {
                        panic!("{what}: payload of entry {i} erased");
                    };
                    assert_eq!(bytes, draft(1000 + i).payload(), "{what}: entry {i}");
                }
                l.checkpoint().unwrap_or_else(|e| panic!("{what}: checkpoint: {e}"));
                l.close().unwrap();
                assert_verifies(&d, &sim_dir(), &key(1));
            }
        }
    }
    // Both outcomes were exercised, failures in every piece.
    assert!(
        failures >= 4 * 18 && successes >= 4,
        "{failures} failures, {successes} successes"
    );
}
