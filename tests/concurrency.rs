//! One writer per ledger directory (an OS lock), any number of readers and producers: `verify`
//! may run while a writer appends and never reports a failure for it (an incomplete final
//! write is a torn tail, not damage); many producers share one `Ledger` through `append` and
//! `submit` (group commit), and one producer's failure — a bad draft, a co-signer that fails
//! or panics — fails that producer alone; a failed sync is never followed by a durable receipt.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{
    anchor, big_draft, draft, entry_hashes, key, power_loss, set_fail_sync, sim_dir, sim_layout, sim_opts, std_opts,
    MIN_SEGMENT,
};
use provledger::record::Policy;
use provledger::{
    verify, AppendError, DraftError, Durability, Genesis, KeyError, Ledger, LedgerReader, OpenError, Options,
    PrincipalType, Receipt, Role, SignError, Signer, SigningKey, StorageError, SyncError, TrustAnchorKey, VerifyingKey,
};

fn assert_locked(r: Result<Ledger, OpenError>, dir: &std::path::Path, what: &str) {
    match r {
        Err(OpenError::Locked { path }) => assert_eq!(path, dir, "{what}"),
        Err(e) => panic!("{what}: want Locked, got {e}"),
        Ok(_) => panic!("{what}: a second writer got in"),
    }
}

#[test]
fn a_second_writer_in_the_same_process_is_locked_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let k = key(1);
    let opts = || std_opts(Durability::Synced, MIN_SEGMENT);
    let first = Ledger::create(dir, k.clone(), "lock", opts()).expect("create");
    assert_locked(Ledger::open(dir, k.clone(), opts()), dir, "open");
    assert_locked(Ledger::create(dir, k.clone(), "again", opts()), dir, "create");
    // From another thread too (flock is per open file description, not per thread).
    let d = dir.to_path_buf();
    let k2 = k.clone();
    let other = std::thread::spawn(move || Ledger::open(&d, k2, opts()).map(drop));
    match other.join().expect("thread") {
        Err(OpenError::Locked { .. }) => {}
        r => panic!("other thread: want Locked, got {r:?}"),
    }
    // `repair` needs the lock too.
    assert!(matches!(
        provledger::rebuild_derived(dir, &opts()),
        Err(OpenError::Locked { .. })
    ));
    first.close().expect("close");
    let second = Ledger::open(dir, k.clone(), opts()).expect("open after close");
    second.append(draft(1)).expect("append");
    assert_locked(Ledger::open(dir, k.clone(), opts()), dir, "open again");
    drop(second);
    let r = verify(dir, &anchor(&k)).expect("verify");
    assert!(r.is_ok() && r.entries == 2, "{r:?}");
}

/// The payload of entry `n` in the reader tests: small, with a segment-filling one every 16
/// entries so that the writer rotates segments while the reader reads.
fn mixed_draft(n: u64) -> provledger::Draft {
    if n % 16 == 15 {
        big_draft(n, 300 << 10)
    } else {
        draft(n)
    }
}

/// A writer appends (single entries and batches, rotating segments) and checkpoints while a
/// reader verifies in a loop: every report is OK and the verified count never goes down.
fn reader_during_writes(durability: Durability) {
    const ENTRIES: u64 = 160;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let k = key(1);
    let ledger = Ledger::create(&dir, k.clone(), "rw", std_opts(durability, MIN_SEGMENT)).expect("create");
    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, k, done, started) = (dir.clone(), k.clone(), Arc::clone(&done), Arc::clone(&started));
        std::thread::spawn(move || {
            let (mut last, mut rounds, mut torn) = (0u64, 0u32, 0u32);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let finished = done.load(Ordering::Acquire);
                started.store(true, Ordering::Release);
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
    // The writer starts once the reader runs (a loaded machine may start the thread late).
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let mut n = 1;
    let mut i = 0u64;
    while n <= ENTRIES {
        let size = i % 4 + 1;
        if size == 1 {
            ledger.append(mixed_draft(n)).expect("append");
        } else {
            ledger
                .append_batch((n..n + size).map(mixed_draft).collect())
                .expect("batch");
        }
        n += size;
        i += 1;
        if i.is_multiple_of(7) {
            // Checkpoints a reader may meet in any order with the segments it lists.
            ledger.checkpoint().expect("checkpoint");
        }
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
    let segments = common::std_layout(&dir).len();
    assert!(
        segments >= 3,
        "the writer rotated while the reader read ({segments} segments)"
    );
    ledger.close().expect("close");
}

#[test]
fn verify_during_appends_synced() {
    reader_during_writes(Durability::Synced);
}

#[test]
fn verify_during_appends_buffered() {
    reader_during_writes(Durability::Buffered);
}

/// A minimal executor: polls a future on this thread, parking between wake-ups (the ticket's
/// `Future` impl is what is under test, not a runtime).
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match Pin::as_mut(&mut fut).poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_secs(1)),
        }
    }
}

/// Many threads append to one shared `Ledger` — blocking `append` with synced durability,
/// `submit` with buffered durability and tickets waited later, `submit` awaited as a future —
/// while a reader verifies and the writer rotates segments: no sequence number is lost or
/// duplicated, every synced receipt is durable, every receipt matches the ledger, all verifies.
/// `PROVLEDGER_STRESS_THREADS` / `PROVLEDGER_STRESS_APPENDS` scale it up.
#[test]
fn many_threads_append_to_one_ledger_while_a_reader_verifies() {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (threads, per_thread) = (
        env("PROVLEDGER_STRESS_THREADS", 8),
        env("PROVLEDGER_STRESS_APPENDS", 150),
    );
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed(&[21; 32]);
    let ledger = Arc::new(
        Ledger::create(
            dir.path(),
            key.clone(),
            "stress",
            std_opts(Durability::Synced, MIN_SEGMENT),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), dir.path().to_path_buf());
        let anchor = anchor(&key);
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
    let payload = |t: usize, i: usize| {
        // Every 50th entry is large, so that segments rotate under the producers.
        let pad = if i % 50 == 49 { 100 << 10 } else { (i * 37 + t) % 300 };
        format!(r#"{{"thread":{t},"i":{i},"pad":"{}"}}"#, "x".repeat(pad)).into_bytes()
    };
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let l = Arc::clone(&ledger);
            std::thread::spawn(move || -> Vec<(Receipt, bool)> {
                let d = |i| provledger::Draft::application("application/json", payload(t, i));
                match t % 3 {
                    // Blocking appends, synced: every receipt durable.
                    0 => (0..per_thread).map(|i| (l.append(d(i)).unwrap(), true)).collect(),
                    // Many in flight, buffered; waited at the end.
                    1 => {
                        let tickets: Vec<_> = (0..per_thread)
                            .map(|i| l.submit(d(i), Durability::Buffered).unwrap())
                            .collect();
                        tickets.into_iter().map(|tk| (tk.wait().unwrap(), false)).collect()
                    }
                    // Awaited as futures, synced.
                    _ => (0..per_thread)
                        .map(|i| {
                            let tk = l.submit(d(i), Durability::Synced).unwrap();
                            (block_on(tk).unwrap(), true)
                        })
                        .collect(),
                }
            })
        })
        .collect();
    let mut receipts: Vec<(Receipt, bool)> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 1);
    for (r, synced) in &receipts {
        assert!(!synced || r.durable, "synced receipt {} not durable", r.seq);
    }
    receipts.sort_by_key(|(r, _)| r.seq);
    let seqs: Vec<u64> = receipts.iter().map(|(r, _)| r.seq).collect();
    let total = (threads * per_thread) as u64;
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "no sequence number lost or duplicated"
    );
    assert_eq!(ledger.len(), total + 1);
    assert_eq!(ledger.head(), receipts.last().unwrap().0.chain);
    Arc::into_inner(ledger).expect("the workers are done").close().unwrap();
    assert!(common::std_layout(dir.path()).len() >= 2, "segments rotated");
    let r = LedgerReader::open(dir.path()).unwrap();
    for (rc, _) in &receipts {
        assert_eq!(r.get(rc.seq).unwrap().entry.hash, rc.entry_hash, "entry {}", rc.seq);
    }
    let report = provledger::verify(dir.path(), &anchor(&key)).unwrap();
    assert!(report.is_ok() && report.entries == total + 1, "{:?}", report.failure);
    assert_eq!(report.head, receipts.last().unwrap().0.chain);
}

/// A co-signer that blocks inside `sign` until released: it holds the writer thread (which
/// signs), so that requests submitted meanwhile queue up and are then appended as one group.
struct Gate {
    key: SigningKey,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Signer for Gate {
    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv_timeout(Duration::from_secs(30));
        Ok(self.key.sign(message))
    }
}

/// How a misbehaving co-signer misbehaves.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// `sign` returns an error (a remote signer that is down).
    Fails,
    /// `sign` panics (a bug in a signer plug-in).
    Panics,
}

/// A co-signer holding a real key that misbehaves when asked to sign.
struct BadSigner(SigningKey, Bad);

impl Signer for BadSigner {
    fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    fn sign(&self, _: &[u8]) -> Result<[u8; 64], SignError> {
        match self.1 {
            Bad::Fails => Err(SignError::Unavailable("the HSM is unreachable".into())),
            Bad::Panics => panic!("co-signer plug-in bug (deliberate, in a test)"),
        }
    }
}

/// A ledger whose genesis trusts the operator `key(1)` and a reviewer `key(2)` (so that entries
/// co-signed by `key(2)` verify).
fn two_key_ledger(dir: &std::path::Path, opts: Options) -> Ledger {
    let genesis = Genesis {
        name: "group".into(),
        anchors: vec![
            TrustAnchorKey::operator(&key(1).verifying_key(), "operator"),
            TrustAnchorKey {
                public_key: key(2).verifying_key().to_bytes(),
                principal_id: "reviewer".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Reviewer],
            },
        ],
        policy: Policy::default(),
    };
    Ledger::create_with_genesis(dir, key(1), &genesis, opts).expect("create")
}

/// Holds the writer inside a gated co-signature, submits `drafts` (which then wait in the
/// queue together), releases the gate, and returns the gated receipt and each draft's result.
fn in_one_group(ledger: &Ledger, drafts: Vec<provledger::Draft>) -> (Receipt, Vec<Result<Receipt, AppendError>>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Gate {
        key: key(2),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    };
    let gated = ledger
        .submit(draft(1000).cosigned_by(gate), Durability::Synced)
        .expect("submit gated");
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the writer reached the gate");
    // From other threads, as separate producers would.
    let tickets: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = drafts
            .into_iter()
            .map(|d| s.spawn(move || ledger.submit(d, Durability::Synced).expect("submit")))
            .collect();
        hs.into_iter().map(|h| h.join().expect("producer")).collect()
    });
    assert!(tickets.iter().all(|t| !t.is_ready()), "queued behind the gate");
    release.send(()).expect("release");
    let gated = gated.wait().expect("gated entry");
    (gated, tickets.into_iter().map(provledger::Ticket::wait).collect())
}

/// A rejected draft fails alone; the rest of its group is appended.
#[test]
fn a_bad_draft_in_a_group_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = two_key_ledger(dir.path(), Options::default());
    let drafts = (0..6u8)
        .map(|t| {
            let ct = if t == 3 { "not a content type" } else { "text/plain" };
            provledger::Draft::application(ct, vec![t; 4])
        })
        .collect();
    let (gated, results) = in_one_group(&ledger, drafts);
    assert_eq!(gated.seq, 1);
    for (t, r) in results.iter().enumerate() {
        match (t, r) {
            (
                3,
                Err(AppendError::InvalidDraft {
                    index: 0,
                    reason: DraftError::Field(_),
                }),
            ) => {}
            (3, other) => panic!("the bad draft: {other:?}"),
            (_, Ok(r)) => assert!(r.durable && (2..=6).contains(&r.seq), "{r:?}"),
            (_, Err(e)) => panic!("draft {t} failed with the bad one: {e}"),
        }
    }
    assert_eq!(ledger.len(), 7);
    ledger.close().unwrap();
    let report = verify(dir.path(), &anchor(&key(1))).unwrap();
    assert!(report.is_ok() && report.entries == 7, "{:?}", report.failure);
}

/// A co-signer that fails — returning an error, or panicking — fails its own request alone:
/// the other producers of the same group get their receipts, nobody hangs, and the ledger keeps
/// working afterwards.
#[test]
fn a_failing_or_panicking_cosigner_fails_its_producer_alone() {
    for bad in [Bad::Fails, Bad::Panics] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = two_key_ledger(dir.path(), Options::default());
        let drafts = vec![
            draft(1),
            draft(2).cosigned_by(BadSigner(key(2), bad)),
            draft(3).cosigned_by(key(2)),
            draft(4),
        ];
        let (gated, results) = in_one_group(&ledger, drafts);
        assert_eq!(gated.seq, 1, "{bad:?}");
        match &results[1] {
            // The signer's own error reaches its producer; a panic is "unavailable".
            Err(AppendError::Signer(KeyError::Signer(SignError::Unavailable(e)))) => {
                let want = match bad {
                    Bad::Fails => "the HSM is unreachable",
                    Bad::Panics => "the co-signer panicked",
                };
                assert_eq!(e.to_string(), want, "{bad:?}");
            }
            other => panic!("{bad:?}: the producer with the bad co-signer: {other:?}"),
        }
        let mut ok: Vec<u64> = [0, 2, 3]
            .iter()
            .map(|&i| match &results[i] {
                Ok(r) => r.seq,
                Err(e) => panic!("{bad:?}: producer {i} failed with the bad co-signer's: {e}"),
            })
            .collect();
        ok.sort_unstable();
        assert_eq!(
            ok,
            [2, 3, 4],
            "{bad:?}: the three good producers, in whatever order they queued"
        );
        // The writer is alive and well.
        let after = ledger
            .append(draft(5))
            .unwrap_or_else(|e| panic!("{bad:?}: append after: {e}"));
        assert_eq!(after.seq, 5, "{bad:?}");
        ledger.close().unwrap_or_else(|e| panic!("{bad:?}: close: {e}"));
        let report = verify(dir.path(), &anchor(&key(1))).unwrap();
        assert!(report.is_ok() && report.entries == 6, "{bad:?}: {:?}", report.failure);
    }
}

/// Producers keep appending (synced and buffered, blocking and submitted) while every sync
/// starts failing: no receipt handed out after the first failed sync says durable — in fact
/// none is handed out at all — until the ledger is reopened; the entries that were reported
/// durable survive a power loss; and the reopened ledger gives durable receipts again.
#[test]
fn after_a_failed_sync_no_receipt_is_durable_until_reopen() {
    let disk = common::new_disk();
    let opts = || sim_opts(&disk, Durability::Synced, MIN_SEGMENT);
    let ledger = Arc::new(Ledger::create(sim_dir(), key(1), "sync", opts()).unwrap());
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let l = Arc::clone(&ledger);
            std::thread::spawn(move || {
                // Append until a few errors came back (the main thread makes syncs fail).
                let mut out: Vec<Result<Receipt, AppendError>> = Vec::new();
                let mut errors = 0;
                for i in 0..1_000_000u64 {
                    let d = draft(t * 1_000_000 + i);
                    let r = match t {
                        0 => l.append(d),
                        1 => l.submit(d, Durability::Buffered).and_then(provledger::Ticket::wait),
                        _ => l.submit(d, Durability::Synced).and_then(provledger::Ticket::wait),
                    };
                    errors += usize::from(r.is_err());
                    out.push(r);
                    if errors > 3 {
                        break;
                    }
                }
                out
            })
        })
        .collect();
    // Let the producers get some entries durable first.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.durable_len() < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    set_fail_sync(&disk, true);
    let results: Vec<Vec<Result<Receipt, AppendError>>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let failed_at = ledger.durable_len();
    let mut durable = Vec::new();
    let mut errors = 0;
    for (t, rs) in results.iter().enumerate() {
        let mut failed = false;
        for r in rs {
            match r {
                Ok(r) => {
                    assert!(!failed, "producer {t}: a receipt after an error: {r:?}");
                    if r.durable {
                        assert!(r.seq < failed_at, "producer {t}: durable past the failure: {r:?}");
                        durable.push(*r);
                    }
                }
                Err(e) => {
                    failed = true;
                    errors += 1;
                    assert!(
                        matches!(e, AppendError::Storage(StorageError::Io { .. }) | AppendError::Poisoned),
                        "producer {t}: {e}"
                    );
                }
            }
        }
        assert!(failed, "producer {t} never saw the failure");
    }
    assert!(
        errors >= 4 && !durable.is_empty(),
        "{errors} errors, {} durable",
        durable.len()
    );
    // Syncs work again, but the writer stays poisoned: the OS may have dropped the pages.
    set_fail_sync(&disk, false);
    assert!(matches!(ledger.sync(), Err(SyncError::Poisoned)));
    assert!(matches!(ledger.append(draft(9)), Err(AppendError::Poisoned)));
    assert!(matches!(
        ledger
            .submit(draft(9), Durability::Buffered)
            .and_then(provledger::Ticket::wait),
        Err(AppendError::Poisoned)
    ));
    assert!(ledger.checkpoint().is_err());
    assert_eq!(
        ledger.durable_len(),
        failed_at,
        "nothing became durable after the failure"
    );
    let ledger = Arc::into_inner(ledger).expect("producers are done");
    power_loss(&disk, ledger);
    let reopened = Ledger::open(sim_dir(), key(1), opts()).expect("reopen");
    assert!(reopened.len() >= failed_at, "{} < {failed_at}", reopened.len());
    let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
    for r in &durable {
        assert_eq!(found[r.seq as usize], r.entry_hash, "durable entry {} lost", r.seq);
    }
    let r = reopened.append(draft(10)).expect("append after reopen");
    assert!(r.durable, "a reopened ledger reports durable receipts again");
    reopened.close().expect("close");
    common::assert_verifies(&disk, &sim_dir(), &key(1));
}

/// How the disk fails under [`synced_entries_in_flight_are_answered_durable_only_once_synced`].
#[derive(Clone, Copy, Debug)]
enum DiskFailure {
    /// The power fails: unsynced bytes are lost, nothing more is written or synced.
    PowerLoss,
    /// Every sync starts failing (the machine keeps running).
    FailingSyncs,
}

/// Producers keep many synced entries in flight on a disk whose syncs are slow, so that the
/// writer lets a group's sync run while it writes the groups queued behind it (and rotates
/// small segments meanwhile) — with a window of thousands of entries, also groups it cut from
/// one drained batch; then, at an arbitrary moment, the disk fails. Every receipt
/// handed out says durable, each producer's receipts come in its order and never after an
/// error, nothing is durable past a failed sync, and every entry reported durable is there
/// after the power loss.
fn synced_entries_in_flight_are_answered_durable_only_once_synced(failure: DiskFailure, window: Window, cut: Duration) {
    let Window(threads, window, warm) = window;
    let disk = common::new_disk();
    disk.set_sync_delay(Some(Duration::from_micros(400)));
    let opts = || sim_opts(&disk, Durability::Buffered, MIN_SEGMENT);
    let ledger = Arc::new(Ledger::create(sim_dir(), key(1), "overlap", opts()).unwrap());
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            let l = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let mut out: Vec<Result<Receipt, AppendError>> = Vec::new();
                let mut in_flight = std::collections::VecDeque::new();
                for i in 0..1_000_000u64 {
                    if in_flight.len() == window {
                        let t: provledger::Ticket<Receipt> = in_flight.pop_front().unwrap();
                        out.push(t.wait());
                        if out.last().is_some_and(Result::is_err) {
                            break;
                        }
                    }
                    match l.submit(draft(t * 1_000_000 + i), Durability::Synced) {
                        Ok(ticket) => in_flight.push_back(ticket),
                        Err(e) => {
                            out.push(Err(e));
                            break;
                        }
                    }
                }
                out.extend(in_flight.into_iter().map(provledger::Ticket::wait));
                out
            })
        })
        .collect();
    // Some entries durable first, then the failure `cut` later.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.durable_len() < warm && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(cut);
    match failure {
        DiskFailure::PowerLoss => {
            // Writes and syncs stop first, so nothing reaches the disk after the crash.
            disk.set_write_budget(Some(0));
            disk.set_fail_sync(true);
            disk.crash();
        }
        DiskFailure::FailingSyncs => disk.set_fail_sync(true),
    }
    let results: Vec<Vec<Result<Receipt, AppendError>>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let failed_at = ledger.durable_len();
    let mut durable = Vec::new();
    for (t, rs) in results.iter().enumerate() {
        let mut error = None;
        let mut last_seq = 0;
        for r in rs {
            match r {
                Ok(r) => {
                    assert!(error.is_none(), "producer {t}: a receipt after {error:?}: {r:?}");
                    assert!(r.durable, "producer {t}: a synced append answered not durable: {r:?}");
                    assert!(
                        r.seq > last_seq,
                        "producer {t}: receipts out of order: {r:?} after {last_seq}"
                    );
                    assert!(
                        r.seq < failed_at,
                        "producer {t}: durable past the failure at {failed_at}: {r:?}"
                    );
                    last_seq = r.seq;
                    durable.push(*r);
                }
                Err(e) => {
                    assert!(
                        matches!(e, AppendError::Storage(StorageError::Io { .. }) | AppendError::Poisoned),
                        "producer {t}: {e}"
                    );
                    error = Some(e.to_string());
                }
            }
        }
        assert!(error.is_some(), "producer {t} never saw the failure ({failure:?})");
    }
    assert!(
        durable.len() >= 2 * threads as usize,
        "{} durable before the failure",
        durable.len()
    );
    let ledger = Arc::into_inner(ledger).expect("producers are done");
    power_loss(&disk, ledger);
    disk.set_sync_delay(None);
    let reopened = Ledger::open(sim_dir(), key(1), opts()).expect("reopen");
    let found = entry_hashes(&sim_layout(&disk, &sim_dir()));
    for r in &durable {
        assert_eq!(
            found.get(r.seq as usize),
            Some(&r.entry_hash),
            "durable entry {} lost ({failure:?})",
            r.seq
        );
    }
    reopened.close().expect("close");
    common::assert_verifies(&disk, &sim_dir(), &key(1));
}

/// Producers, synced entries each keeps in flight, and entries durable before the disk fails.
#[derive(Clone, Copy, Debug)]
struct Window(u64, usize, u64);

/// Six producers with eight entries in flight: groups overlap the syncs of the ones before.
const NARROW: Window = Window(6, 8, 50);
/// Eight producers with 512 in flight: the writer drains batches of thousands of synced
/// entries and cuts them into groups whose syncs overlap the rest of the batch.
const WIDE: Window = Window(8, 512, 10_000);

#[test]
fn synced_entries_in_flight_survive_a_power_loss_at_any_moment() {
    for ms in [0, 1, 3, 6, 10, 15] {
        synced_entries_in_flight_are_answered_durable_only_once_synced(
            DiskFailure::PowerLoss,
            NARROW,
            Duration::from_millis(ms),
        );
    }
    for ms in [0, 2, 5, 9] {
        synced_entries_in_flight_are_answered_durable_only_once_synced(
            DiskFailure::PowerLoss,
            WIDE,
            Duration::from_millis(ms),
        );
    }
}

#[test]
fn synced_entries_in_flight_are_not_durable_past_a_failed_sync() {
    for ms in [0, 2, 7] {
        synced_entries_in_flight_are_answered_durable_only_once_synced(
            DiskFailure::FailingSyncs,
            NARROW,
            Duration::from_millis(ms),
        );
    }
    for ms in [0, 4] {
        synced_entries_in_flight_are_answered_durable_only_once_synced(
            DiskFailure::FailingSyncs,
            WIDE,
            Duration::from_millis(ms),
        );
    }
}

/// A file system that runs `hook` once, right after the first listing of `segments/`: a writer
/// acting at the worst moment for a verifier that has begun (deterministic, unlike a race).
#[derive(Debug)]
struct ActAfterListing(Arc<Hook>);

struct Hook(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

#[derive(Debug)]
struct HookedDir(Arc<dyn provledger::storage::LedgerDir>, Arc<Hook>);

impl provledger::storage::Backend for ActAfterListing {
    fn open_dir(
        &self,
        path: &std::path::Path,
        create: bool,
    ) -> std::io::Result<Arc<dyn provledger::storage::LedgerDir>> {
        let inner = provledger::storage::StdBackend.open_dir(path, create)?;
        Ok(Arc::new(HookedDir(inner, Arc::clone(&self.0))))
    }
}

impl provledger::storage::LedgerDir for HookedDir {
    fn open_read(&self, rel: &std::path::Path) -> std::io::Result<Box<dyn provledger::storage::StorageFile>> {
        self.0.open_read(rel)
    }
    fn open_write(
        &self,
        rel: &std::path::Path,
        create_new: bool,
    ) -> std::io::Result<Box<dyn provledger::storage::StorageFile>> {
        self.0.open_write(rel, create_new)
    }
    fn list(&self, rel_dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        let names = self.0.list(rel_dir)?;
        if rel_dir == std::path::Path::new("segments") {
            let hook = self.1 .0.lock().expect("hook").take();
            if let Some(act) = hook {
                act();
            }
        }
        Ok(names)
    }
    fn remove(&self, rel: &std::path::Path) -> std::io::Result<()> {
        self.0.remove(rel)
    }
    fn sync_dir(&self, rel_dir: &std::path::Path) -> std::io::Result<()> {
        self.0.sync_dir(rel_dir)
    }
    fn create_subdir(&self, rel: &std::path::Path) -> std::io::Result<()> {
        self.0.create_subdir(rel)
    }
    fn try_lock(&self) -> std::io::Result<Option<Box<dyn provledger::storage::LockGuard>>> {
        self.0.try_lock()
    }
    fn display_path(&self, rel: &std::path::Path) -> std::path::PathBuf {
        self.0.display_path(rel)
    }
}

/// Verification sees one state of a ledger a writer is changing: after verify has listed the
/// segments, the writer rotates to a new segment (whose index trails, slots being written in
/// blocks) and, if `checkpoint_after`, signs a checkpoint of entries in it. Neither is part of that verification: the
/// report is OK and counts the entries there were (a CI run once failed on "index … has fewer
/// entries" when the index check listed the segments apart from the stream; a checkpoint read
/// after the listing would cover entries the verification never saw).
fn verify_sees_one_state(checkpoint_after: bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let k = key(1);
    let ledger = Arc::new(
        Ledger::create(&dir, k.clone(), "state", std_opts(Durability::Buffered, MIN_SEGMENT)).expect("create"),
    );
    for n in 1..=3 {
        ledger.append(draft(n)).expect("append");
    }
    ledger.checkpoint().expect("checkpoint");
    let before = ledger.len();
    let segments_before = common::std_layout(&dir).len();
    let writer = Arc::clone(&ledger);
    let hook = Arc::new(Hook(Mutex::new(Some(Box::new(move || {
        // Four segment-filling entries rotate at least twice; a few small ones go into the
        // newest segment (index slots not yet written), then a checkpoint covers all of them.
        for n in 0..4 {
            writer.append(big_draft(100 + n, 300 << 10)).expect("big append");
        }
        for n in 0..5 {
            writer.append(draft(200 + n)).expect("append");
        }
        if checkpoint_after {
            writer.checkpoint().expect("checkpoint after the listing");
        }
    })))));
    let backend = ActAfterListing(Arc::clone(&hook));
    let r = provledger::verify_opts(&backend, &dir, &anchor(&k), &provledger::VerifyOptions::default())
        .expect("verify runs");
    assert!(hook.0.lock().expect("hook").is_none(), "the writer acted during verify");
    assert!(r.is_ok(), "verify of a ledger being written: {:?}", r.failure);
    // The segments listed are read as they are when read: the newest one listed grew, and
    // the segments the writer created after the listing are not read.
    let first_new_segment = common::std_layout(&dir)
        .iter()
        .map(|s| s.first_seq)
        .find(|&first| first > before)
        .expect("a segment created after the listing");
    assert_eq!(r.entries, first_new_segment, "the entries of the segments listed");
    assert_eq!(
        r.latest_checkpoint.map(|c| c.tree_size),
        Some(before),
        "the checkpoint signed after the listing is not part of this verification"
    );
    assert!(common::std_layout(&dir).len() > segments_before, "the writer rotated");
    // The next verification sees the new state, checkpoint included.
    let after = verify(&dir, &anchor(&k)).expect("verify");
    assert!(after.is_ok(), "{:?}", after.failure);
    assert_eq!(after.entries, ledger.len());
    let newest = if checkpoint_after { ledger.len() } else { before };
    assert_eq!(after.latest_checkpoint.map(|c| c.tree_size), Some(newest));
}

#[test]
fn verify_sees_one_state_while_a_writer_rotates() {
    verify_sees_one_state(false);
}

#[test]
fn verify_sees_one_state_while_a_writer_rotates_and_checkpoints() {
    verify_sees_one_state(true);
}

/// A rotation a crash cut short leaves a newest segment shorter than its header; `verify`
/// reads it as a torn tail. A writer opening the ledger removes that segment, and if it does so
/// right after a verifier listed the segments, the verifier finds it gone: that is the ledger
/// as a listing a moment later shows it, not an error. (Before, `verify` failed with an I/O
/// error, "no such file", on an intact ledger.)
#[test]
fn verify_reads_on_when_the_newest_segment_it_listed_is_removed_by_a_writer_opening() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let k = key(1);
    let ledger = Ledger::create(&dir, k.clone(), "cut", std_opts(Durability::Synced, MIN_SEGMENT)).expect("create");
    for n in 1..=3 {
        ledger.append(draft(n)).expect("append");
    }
    ledger.close().expect("close");
    let cut = dir.join("segments").join(format!("{:020}.seg", 4));
    std::fs::write(&cut, [0u8; 20]).expect("a segment cut short");
    let torn = verify(&dir, &anchor(&k)).expect("verify");
    assert!(
        torn.is_ok() && torn.entries == 4 && torn.torn_tail.is_some(),
        "{torn:?}"
    );

    let (d, key_) = (dir.clone(), k.clone());
    let hook = Arc::new(Hook(Mutex::new(Some(Box::new(move || {
        let l = Ledger::open(&d, key_, Options::default()).expect("open");
        assert!(
            l.recovery().removed_segment.is_some(),
            "the writer removed the short segment"
        );
        l.close().expect("close");
    })))));
    let r = provledger::verify_opts(
        &ActAfterListing(Arc::clone(&hook)),
        &dir,
        &anchor(&k),
        &provledger::VerifyOptions::default(),
    )
    .expect("verify runs");
    assert!(
        hook.0.lock().expect("hook").is_none(),
        "the writer opened during verify"
    );
    assert!(!cut.exists());
    assert!(r.is_ok() && r.entries == 4 && r.torn_tail.is_none(), "{r:?}");
}

/// A blocking `append` runs on the caller's thread when the writer is idle, and is queued
/// otherwise: either way each producer's entries are appended in the order it made its calls —
/// an `append` never passes a `submit` the same thread made before it, though both may be
/// waiting or being written when it is called — and the receipt of a blocking append already
/// holds (the ledger's state includes it when `append` returns).
#[test]
fn blocking_appends_keep_each_producers_order_with_submits_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(7);
    let ledger = Ledger::create(
        dir.path(),
        k.clone(),
        "order",
        std_opts(Durability::Buffered, MIN_SEGMENT),
    )
    .unwrap();
    let (threads, rounds) = (6u64, 120u64);
    let made: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let ledger = &ledger;
                s.spawn(move || {
                    let d = |i: u64| provledger::Draft::application("text/plain", format!("{t}:{i}").into_bytes());
                    let mut pending = Vec::new();
                    let mut seqs = Vec::new();
                    for i in 0..rounds {
                        // Thread t submits (t % 3) entries without waiting, then appends one
                        // blocking: the blocking one must come after them.
                        for j in 0..(t % 3) {
                            pending.push((i * 4 + j, ledger.submit(d(i * 4 + j), Durability::Buffered).unwrap()));
                        }
                        let r = ledger.append(d(i * 4 + 3)).unwrap();
                        assert!(ledger.len() > r.seq, "the state includes an appended entry");
                        seqs.push((i * 4 + 3, r.seq));
                    }
                    seqs.extend(pending.into_iter().map(|(n, tk)| (n, tk.wait().unwrap().seq)));
                    seqs
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: u64 = (0..threads).map(|t| rounds * (1 + t % 3)).sum();
    assert_eq!(ledger.len(), total + 1);
    ledger.close().unwrap();
    // Each thread's sequence numbers increase with the order of its calls, and the entry at
    // each sequence number is the one that thread made.
    let reader = LedgerReader::open(dir.path()).unwrap();
    for (t, mut calls) in made.into_iter().enumerate() {
        calls.sort_unstable();
        for w in calls.windows(2) {
            assert!(
                w[0].1 < w[1].1,
                "thread {t}: call {} got seq {} but call {} got seq {}",
                w[0].0,
                w[0].1,
                w[1].0,
                w[1].1
            );
        }
        for (n, seq) in calls {
            let e = reader.get(seq).unwrap();
            let provledger::StoredPayload::Present { bytes, .. } = &e.payload else {
                panic!("entry {seq}: payload missing")
            };
            assert_eq!(bytes, format!("{t}:{n}").as_bytes(), "entry {seq}");
        }
    }
    let report = verify(dir.path(), &anchor(&k)).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
}

/// A bulk writer that never asks for durability still keeps the torn-tail bound: once half of
/// `MAX_TORN` (16 MiB) is unsynced it syncs the segment on a thread of its own and keeps
/// writing. Entries written before that sync started are then durable without an explicit
/// sync — they survive a power loss — and a background sync that fails poisons the writer
/// exactly as a sync in line does: nothing is acknowledged after it.
#[test]
fn background_syncs_make_bulk_appends_durable_and_a_failed_one_poisons() {
    let disk = common::new_disk();
    let opts = || sim_opts(&disk, Durability::Buffered, 1 << 30);
    let ledger = Ledger::create(sim_dir(), key(1), "bulk", opts()).unwrap();
    let batch = |b: u64| (0..8).map(|i| big_draft(b * 8 + i, 64 << 10)).collect::<Vec<_>>();
    // 24 MiB in batches of 512 KiB: a background sync starts after 16 MiB.
    for b in 0..48 {
        ledger.append_batch(batch(b)).unwrap();
    }
    // It is taken into account at a later append (the sync thread may still be running).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 1000;
    while ledger.durable_len() <= 1 && Instant::now() < deadline {
        ledger.append(draft(n)).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    let durable = ledger.durable_len();
    assert!(
        durable > 200,
        "{durable} entries durable after 24 MiB of buffered appends"
    );
    common::power_loss(&disk, ledger);
    let reopened = Ledger::open(sim_dir(), key(1), opts()).unwrap();
    assert!(
        reopened.len() >= durable,
        "{} entries left of {durable} durable",
        reopened.len()
    );
    // Another 24 MiB with syncs failing: the background sync fails, and the writer stops.
    common::set_fail_sync(&disk, true);
    let mut outcome = Ok(());
    // Reported by the background sync (started at 16 MiB), well before the writer would sync
    // in line at 32 MiB unsynced: within 24 MiB.
    for b in 100..148 {
        match reopened.append_batch(batch(b)) {
            Ok(receipts) => assert!(receipts.iter().all(|r| !r.durable), "durable while syncs fail"),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let e = outcome.expect_err("a failed background sync is reported within 24 MiB");
    assert!(
        matches!(e, AppendError::Storage(StorageError::Io { op: "sync", .. })),
        "{e}"
    );
    common::set_fail_sync(&disk, false);
    assert!(matches!(reopened.append(draft(1)), Err(AppendError::Poisoned)));
    assert!(matches!(reopened.sync(), Err(SyncError::Poisoned)));
    drop(reopened);
    let report = provledger::verify_with(&disk, &sim_dir(), &anchor(&key(1))).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert!(report.entries >= durable);
}

/// A service appending from rayon tasks (here: a `par_iter` on rayon's global pool, every
/// thread of which ends up waiting for the ledger) must not deadlock. It did: the writer hashed
/// on the global pool, whose threads were all blocked on their own requests; and a caller that
/// ran its request inline on a rayon thread, while waiting for the preparation pool, could be
/// handed another task of its own pool that appended to the ledger whose writer it held. Now
/// the writer prepares on a pool of its own and never runs inline on a rayon thread. Batches
/// of 32 (the parallel one-pass path) and of 600 (the pipelined path), blocking and submitted;
/// fails after two minutes rather than hanging.
#[test]
fn appends_from_rayon_tasks_do_not_deadlock() {
    use rayon::prelude::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let l = Ledger::create(
            &path,
            key(1),
            "rayon",
            Options::default().durability(Durability::Buffered),
        )
        .expect("create");
        let mut expected = 0u64;
        for (tasks, batch) in [(64u64, 32u64), (12, 600)] {
            (0..tasks).into_par_iter().for_each(|t| {
                let drafts = |k: u64| -> Vec<provledger::Draft> {
                    (0..batch)
                        .map(|i| mixed_draft(t * 10_000 + k * 1000 + i).without_position_signature())
                        .collect()
                };
                let receipts = l.append_batch(drafts(0)).expect("append_batch");
                assert_eq!(receipts.len() as u64, batch);
                let ticket = l.submit_batch(drafts(1), Durability::Synced).expect("submit_batch");
                assert!(ticket.wait().expect("submitted batch").iter().all(|r| r.durable));
            });
            expected += tasks * batch * 2;
        }
        l.checkpoint().expect("checkpoint");
        l.close().expect("close");
        let _ = done.send(expected);
    });
    let expected = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("appends from rayon tasks deadlocked (or failed: see the panic above)");
    let report = provledger::verify(dir.path(), &common::anchor(&key(1))).expect("verify");
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.entries, expected + 1);
}
