//! One writer per ledger directory (an OS lock), any number of readers: `verify` may run while
//! a writer appends and never reports a failure for it (a partly written final record is a
//! torn tail, not damage).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{anchor, draft, key, std_opts};
use provledger::{verify, Draft, Durability, Error, Ledger, Options, SigningKey, StorageError};

const SEGMENT: u64 = 2048;

fn assert_locked(r: Result<Ledger, Error>, dir: &std::path::Path, what: &str) {
    match r {
        Err(Error::Storage(StorageError::Locked { path })) => assert_eq!(path, dir, "{what}"),
        Err(e) => panic!("{what}: want Locked, got {e}"),
        Ok(_) => panic!("{what}: a second writer got in"),
    }
}

#[test]
fn a_second_writer_in_the_same_process_is_locked_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let k = key(1);
    let first = Ledger::create(dir, &k, "lock", std_opts(Durability::PerBatch, SEGMENT)).expect("create");
    assert_locked(
        Ledger::open(dir, &k, std_opts(Durability::PerBatch, SEGMENT)),
        dir,
        "open",
    );
    assert_locked(
        Ledger::create(dir, &k, "again", std_opts(Durability::PerBatch, SEGMENT)),
        dir,
        "create",
    );
    // From another thread too (flock is per open file description, not per thread).
    let d = dir.to_path_buf();
    let k2 = k.clone();
    let other = std::thread::spawn(move || Ledger::open(&d, &k2, std_opts(Durability::PerBatch, SEGMENT)).map(|_| ()));
    match other.join().expect("thread") {
        Err(Error::Storage(StorageError::Locked { .. })) => {}
        r => panic!("other thread: want Locked, got {r:?}"),
    }
    drop(first);
    let mut second = Ledger::open(dir, &k, std_opts(Durability::PerBatch, SEGMENT)).expect("open after drop");
    second.append(draft(1)).expect("append");
    assert_locked(
        Ledger::open(dir, &k, std_opts(Durability::PerBatch, SEGMENT)),
        dir,
        "open again",
    );
    drop(second);
    let r = verify(dir, &anchor(&k)).expect("verify");
    assert!(r.is_ok() && r.entries == 2, "{r:?}");
}

/// A writer appends (single entries and batches, rotating segments often) while a reader
/// verifies in a loop: every report is OK and the verified count never goes down.
fn reader_during_writes(durability: Durability) {
    const ENTRIES: u64 = 160;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let k = key(1);
    let mut ledger = Ledger::create(&dir, &k, "rw", std_opts(durability, SEGMENT)).expect("create");
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, k, done) = (dir.clone(), k.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut last, mut rounds, mut torn) = (0u64, 0u32, 0u32);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let finished = done.load(Ordering::Acquire);
                let r = verify(&dir, &anchor(&k)).expect("verify runs");
                assert!(
                    r.is_ok(),
                    "{durability:?}: verify failed after {last} entries: {}",
                    r.failure.expect("f")
                );
                assert!(
                    r.entries >= last,
                    "{durability:?}: {} entries verified after {last}",
                    r.entries
                );
                last = r.entries;
                rounds += 1;
                torn += u32::from(r.torn_tail.is_some());
                if finished || Instant::now() > deadline {
                    return (last, rounds, torn);
                }
            }
        })
    };
    let mut n = 0;
    let mut i = 0u64;
    while n < ENTRIES {
        let size = i % 4 + 1;
        if size == 1 {
            ledger.append(draft(n)).expect("append");
        } else {
            ledger.append_batch((n..n + size).map(draft).collect()).expect("batch");
        }
        n += size;
        i += 1;
        // Give the reader time to interleave (unsynced appends take microseconds).
        std::thread::sleep(Duration::from_micros(300));
    }
    let total = ledger.len();
    ledger.sync().expect("sync");
    done.store(true, Ordering::Release);
    let (last, rounds, torn) = reader.join().expect("reader");
    println!("{durability:?}: {rounds} verify rounds, {torn} saw a torn tail, {total} entries");
    assert_eq!(
        last, total,
        "the final verify (after the writer finished) sees everything"
    );
    assert!(rounds >= 2, "the reader ran while the writer wrote");
    drop(ledger);
}

#[test]
fn verify_during_appends_per_batch() {
    reader_during_writes(Durability::PerBatch);
}

#[test]
fn verify_during_appends_without_sync() {
    reader_during_writes(Durability::None);
}

/// Many threads append through one `Appender` (group commit) while a reader verifies: no
/// sequence number is lost or duplicated, every receipt matches the ledger, all verifies.
/// `PROVLEDGER_STRESS_THREADS` / `PROVLEDGER_STRESS_APPENDS` scale it up.
#[test]
fn many_threads_append_through_one_appender_while_a_reader_verifies() {
    use provledger::{Appender, LedgerReader, TrustAnchor};
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (threads, per_thread) = (
        env("PROVLEDGER_STRESS_THREADS", 8),
        env("PROVLEDGER_STRESS_APPENDS", 150),
    );
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed(&[21; 32]);
    let opts = Options {
        durability: Durability::PerBatch,
        segment_size: 16 << 10,
        ..Options::default()
    };
    let appender = Appender::new(Ledger::create(dir.path(), &key, "stress", opts).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), dir.path().to_path_buf());
        let anchor = TrustAnchor::PublicKey(key.verifying_key());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                let r = provledger::verify(&path, &anchor).unwrap();
                assert!(r.is_ok(), "{:?}", r.failure);
                rounds += 1;
            }
            rounds
        })
    };
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let a = appender.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let payload = format!(r#"{{"thread":{t},"i":{i}}}"#).into_bytes();
                        let r = a.append(Draft::application("application/json", payload)).unwrap();
                        assert!(r.durable);
                        r
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut receipts: Vec<_> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 1);
    receipts.sort_by_key(|r| r.seq);
    let seqs: Vec<u64> = receipts.iter().map(|r| r.seq.0).collect();
    let total = (threads * per_thread) as u64;
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "no sequence number lost or duplicated"
    );
    appender.with_ledger(|l| assert_eq!(l.len(), total + 1));
    drop(appender);
    let r = LedgerReader::open(dir.path()).unwrap();
    for rc in &receipts {
        assert_eq!(r.get(rc.seq.0).unwrap().hash, rc.entry_hash, "entry {}", rc.seq);
    }
    let report = provledger::verify(dir.path(), &provledger::TrustAnchor::PublicKey(key.verifying_key())).unwrap();
    assert!(report.is_ok() && report.entries == total + 1, "{:?}", report.failure);
}

/// A rejected draft fails alone; the rest of its group is appended.
#[test]
fn a_bad_draft_in_a_group_fails_alone() {
    use provledger::Appender;
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed(&[22; 32]);
    let appender = Appender::new(Ledger::create(dir.path(), &key, "g", Options::default()).unwrap());
    let workers: Vec<_> = (0..6u8)
        .map(|t| {
            let a = appender.clone();
            std::thread::spawn(move || {
                let ct = if t == 3 { "not a content type" } else { "text/plain" };
                a.append(Draft::application(ct, vec![t; 4])).is_ok()
            })
        })
        .collect();
    let ok: Vec<bool> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(ok.iter().filter(|&&b| b).count(), 5, "{ok:?}");
    assert!(!ok[3]);
    appender.with_ledger(|l| assert_eq!(l.len(), 6));
}
