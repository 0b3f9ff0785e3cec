//! Real crashes: the `provledger append` binary is killed with SIGKILL at random moments while
//! it appends, and the ledger is then reopened and verified (DESIGN.md §1, guarantee 4).
//!
//! For each durability mode (`every`, `batch`, `none`) a ledger is made once with `init`; then,
//! round after round, a child `provledger append DIR --key K --durability MODE --batch B` is
//! fed JSON lines by a thread while another thread collects the receipts it prints, and the
//! child is killed (`Child::kill` sends SIGKILL on Unix) after a random delay. After each kill:
//!
//! - `verify` (through the library) must pass on the crashed directory as it is — a torn tail is
//!   allowed, damage is not. Rounds verify incrementally from a checkpoint signed after the
//!   previous round (O(new entries)); every eighth round and the last round of each mode verify
//!   the whole ledger from the genesis.
//! - every receipt the child printed must be present with the same entry hash. A killed process
//!   loses nothing that reached the page cache, so this holds for `durable:false` receipts too
//!   (a process crash is not a power loss); `durable:true` receipts are the documented
//!   guarantee. With `--durability every|batch` every receipt must say `durable:true`, with
//!   `none` every one says `false`.
//! - `Ledger::open` must succeed (cutting at most the write the kill interrupted, back to the
//!   last seal), must recognise the last seal as its own (the killed child wrote with the same
//!   key, so no full verification is needed), the ledger must never shrink below what earlier
//!   rounds left, and the entries of earlier rounds keep their hashes.
//!
//! The kill delays come from a xorshift generator seeded by the mode and the round number, and
//! each round prints its seed, so a failing round reproduces (modulo scheduling).
//!
//! Default size: 34 rounds per mode (102 in all), about 10 s in a debug build on 2 cores. Full
//! size, 1000 rounds in all:
//!
//! ```sh
//! PROVLEDGER_KILL9_ROUNDS=1000 cargo test --release --test kill9 -- --nocapture
//! ```
//!
//! (`PROVLEDGER_KILL9_ROUNDS` is the total over the three modes.)
//!
//! The second test checks the writer lock across processes: while one `append` runs (its stdin
//! held open), a second `append` on the same directory exits 2 saying the ledger is locked, and
//! succeeds once the first has exited.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use provledger::{
    verify_opts, Checkpoint, Digest, Durability, Ledger, LedgerReader, Options, SigningKey, TrustAnchor, VerifyOptions,
    VerifyReport,
};

/// Rounds over all three modes when `PROVLEDGER_KILL9_ROUNDS` is not set.
const DEFAULT_TOTAL_ROUNDS: u64 = 102;
/// Lines the feeder writes per round at most (bounds the ledger's growth and the test's time).
const MAX_LINES_PER_ROUND: u64 = 1500;

/// Serializes spawning children with holding a `Ledger` in this process. The tests run on
/// several threads; a child forked by one test while another test holds its ledger's locked
/// directory descriptor inherits it until it execs (`O_CLOEXEC` closes it only then), and
/// `flock` locks belong to the open file description — so for that instant the lock outlives
/// the `Ledger`'s drop, and the other test's next `append` child would find the ledger locked.
static FORK_GATE: Mutex<()> = Mutex::new(());

fn fork_gate() -> MutexGuard<'static, ()> {
    FORK_GATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_provledger")
}

fn rounds_per_mode() -> u64 {
    let total = std::env::var("PROVLEDGER_KILL9_ROUNDS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_TOTAL_ROUNDS);
    total.div_ceil(3).max(1)
}

/// xorshift64*: small, dependency-free, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One receipt line as `append` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PrintedReceipt {
    seq: u64,
    entry_hash: Digest,
    durable: bool,
}

fn parse_receipt(line: &str) -> PrintedReceipt {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("receipt is not JSON ({e}): {line:?}"));
    let seq = v["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {line}"));
    let hash = v["entry_hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no entry_hash: {line}"));
    let durable = v["durable"].as_bool().unwrap_or_else(|| panic!("no durable: {line}"));
    PrintedReceipt {
        seq,
        entry_hash: hash.parse().unwrap_or_else(|e| panic!("bad entry_hash {hash}: {e:?}")),
        durable,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// A ledger made by `init` with a key file, for one durability mode.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key_file: PathBuf,
    key: SigningKey,
}

fn fixture(name: &str) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key_file = tmp.path().join("operator.key");
    let key = SigningKey::generate().expect("key");
    key.save(&key_file).expect("save key");
    let dir = tmp.path().join("ledger");
    let _gate = fork_gate();
    let out = Command::new(bin())
        .args(["init", s(&dir), "--key", s(&key_file), "--name", name])
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _tmp: tmp,
        dir,
        key_file,
        key,
    }
}

/// Writes JSON lines to the child's stdin: `limit` of them, then holds stdin open (without
/// closing it, which would let the child finish cleanly) until `stop` is set or the pipe breaks.
fn feeder(mut stdin: ChildStdin, round: u64, limit: u64, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut written = 0;
        let mut buf = Vec::with_capacity(64 << 10);
        while written < limit && !stop.load(Ordering::Relaxed) {
            buf.clear();
            let n = (limit - written).min(64);
            for i in written..written + n {
                // Payloads of varying length, so frames straddle pages and chunks differently.
                let pad = "x".repeat(usize::try_from((i * 37 + round) % 300).unwrap_or(0));
                writeln!(buf, r#"{{"round":{round},"i":{i},"pad":"{pad}"}}"#).expect("vec write");
            }
            if stdin.write_all(&buf).is_err() {
                return written; // the child is gone (EPIPE)
            }
            written += n;
        }
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(stdin);
        written
    })
}

/// Reads receipt lines from the child's stdout until EOF; a final line without its newline
/// (cut by the kill) is not a receipt. The first receipt is announced on `first`.
fn collector(stdout: impl Read + Send + 'static, first: mpsc::Sender<()>) -> JoinHandle<Vec<PrintedReceipt>> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut out = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return out,
                Ok(_) if !line.ends_with('\n') => return out,
                Ok(_) => {
                    out.push(parse_receipt(line.trim_end()));
                    if out.len() == 1 {
                        let _ = first.send(());
                    }
                }
            }
        }
    })
}

fn drain(stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stream).read_to_string(&mut s);
        s
    })
}

/// What one round of append-and-kill produced.
struct Round {
    receipts: Vec<PrintedReceipt>,
    status: ExitStatus,
    stderr: String,
    lines_written: u64,
}

fn spawn_append(f: &Fixture, mode: &str, batch: u64) -> Child {
    let _gate = fork_gate();
    Command::new(bin())
        .args(["append", s(&f.dir), "--key", s(&f.key_file), "--durability", mode])
        .args(["--batch", &batch.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn provledger append")
}

/// Spawns `append`, kills it at a moment chosen by `rng`, and collects what it printed.
fn run_round(f: &Fixture, mode: &str, round: u64, rng: &mut Rng) -> Round {
    let batch = [1, 1, 2, 3, 7, 16, 64][usize::try_from(rng.next() % 7).unwrap_or(0)];
    let limit = rng.range(50, MAX_LINES_PER_ROUND);
    let mut child = spawn_append(f, mode, batch);
    let stop = Arc::new(AtomicBool::new(false));
    let feed = feeder(child.stdin.take().expect("stdin"), round, limit, Arc::clone(&stop));
    let (tx, first) = mpsc::channel();
    let collect = collector(child.stdout.take().expect("stdout"), tx);
    let err = drain(child.stderr.take().expect("stderr"));
    // One round in four kills at a random moment from spawn (maybe while the child is still
    // opening and recovering the ledger); the others wait for the first receipt, so the kill
    // lands while entries are being written.
    if rng.next().is_multiple_of(4) {
        std::thread::sleep(Duration::from_micros(rng.range(0, 40_000)));
    } else {
        let _ = first.recv_timeout(Duration::from_secs(10));
        std::thread::sleep(Duration::from_micros(rng.range(0, 30_000)));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    stop.store(true, Ordering::Relaxed);
    let lines_written = feed.join().expect("feeder");
    Round {
        receipts: collect.join().expect("collector"),
        status,
        stderr: err.join().expect("stderr reader"),
        lines_written,
    }
}

fn verify_state(f: &Fixture, from: Option<Checkpoint>) -> VerifyReport {
    let opts = VerifyOptions::default().from_checkpoint(from);
    let anchor = TrustAnchor::PublicKey(f.key.verifying_key());
    verify_opts(&provledger::storage::StdBackend, &f.dir, &anchor, &opts).expect("verify runs")
}

/// Totals over one mode's rounds, printed at the end.
#[derive(Default, Debug)]
struct Stats {
    receipts: u64,
    durable: u64,
    torn_tails: u64,
    killed_before_first_receipt: u64,
    full_verifies: u64,
}

/// The whole crash loop for one durability mode.
fn crash_loop(mode: &str, mode_no: u64) {
    let f = fixture(mode);
    let rounds = rounds_per_mode();
    let started = Instant::now();
    // Entry hashes by sequence number, as far as known (receipts and reopened ledgers).
    let mut known: Vec<Option<Digest>> = Vec::new();
    let mut len_before = 1u64; // the genesis
    let mut trusted: Option<Checkpoint> = None;
    let mut stats = Stats::default();
    for round in 0..rounds {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ (mode_no << 56) ^ round.wrapping_mul(0x0100_0000_01B3);
        let what = format!("mode {mode} round {round} seed {seed:#018x}");
        println!("kill9: {what}");
        let mut rng = Rng::new(seed);
        let r = run_round(&f, mode, round, &mut rng);
        // SIGKILL, never a clean or failed exit: the child was still waiting for input.
        assert!(
            r.status.code().is_none(),
            "{what}: append exited on its own ({}): {}",
            r.status,
            r.stderr
        );
        if r.receipts.is_empty() {
            stats.killed_before_first_receipt += 1;
        }
        check_receipt_flags(mode, &r.receipts, &what);
        // Verify the crashed directory as the kill left it (no writer has repaired it).
        let full = trusted.is_none() || round % 8 == 7 || round + 1 == rounds;
        let report = verify_state(&f, if full { None } else { trusted });
        stats.full_verifies += u64::from(full);
        assert!(
            report.is_ok(),
            "{what}: verify failed after SIGKILL: {} (child stderr: {})",
            report.failure.as_ref().map(ToString::to_string).unwrap_or_default(),
            r.stderr
        );
        if report.torn_tail.is_some() {
            stats.torn_tails += 1;
        }
        assert!(
            report.entries >= len_before,
            "{what}: verify saw {} entries, {len_before} before the round",
            report.entries
        );
        let printed_max = r.receipts.iter().map(|p| p.seq + 1).max().unwrap_or(0);
        assert!(
            report.entries >= printed_max,
            "{what}: receipts up to seq {} printed, verify sees {} entries",
            printed_max.saturating_sub(1),
            report.entries
        );
        // Reopen as the writer: recovery may cut only a torn tail.
        let gate = fork_gate();
        let ledger = Ledger::open(&f.dir, f.key.clone(), Options::default().durability(Durability::Synced))
            .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
        assert_eq!(ledger.len(), report.entries, "{what}: reopen and verify disagree");
        assert_eq!(ledger.head(), report.head, "{what}: reopen and verify disagree");
        assert!(
            !ledger.recovery().verified_on_open,
            "{what}: the writer did not recognise its own seal"
        );
        if let (Some(cut), Some(torn)) = (&ledger.recovery().torn_tail, &report.torn_tail) {
            assert_eq!((cut.offset, cut.bytes), (torn.offset, torn.bytes), "{what}");
        }
        let reader = LedgerReader::open(&f.dir).unwrap_or_else(|e| panic!("{what}: reader: {e}"));
        check_receipts_present(&reader, &r.receipts, &mut known, &what);
        check_earlier_rounds(&reader, &known, len_before, &what);
        stats.receipts += r.receipts.len() as u64;
        stats.durable += r.receipts.iter().filter(|p| p.durable).count() as u64;
        len_before = ledger.len();
        known.resize(usize::try_from(len_before).expect("len fits"), None);
        let last = reader
            .get(len_before - 1)
            .unwrap_or_else(|e| panic!("{what}: last entry: {e}"));
        known[usize::try_from(len_before - 1).expect("len fits")] = Some(last.entry.hash);
        trusted = Some(
            ledger
                .checkpoint()
                .unwrap_or_else(|e| panic!("{what}: checkpoint: {e}")),
        );
        ledger.close().unwrap_or_else(|e| panic!("{what}: close: {e}"));
        drop(gate);
        println!(
            "kill9: {what}: {} receipts ({} lines fed), ledger {} entries, torn tail: {}",
            r.receipts.len(),
            r.lines_written,
            len_before,
            report.torn_tail.is_some()
        );
    }
    let report = verify_state(&f, None);
    assert!(report.is_ok(), "mode {mode}: final verify: {:?}", report.failure);
    assert_eq!(report.entries, len_before, "mode {mode}: final verify");
    assert!(
        len_before > 1 + rounds / 2,
        "mode {mode}: the ledger barely grew ({len_before} entries after {rounds} rounds): {stats:?}"
    );
    println!(
        "kill9: mode {mode}: {rounds} rounds in {:.1?}, {len_before} entries, {stats:?}",
        started.elapsed()
    );
}

/// `every` and `batch` sync before printing, so every receipt is durable; `none` never is
/// before the end of input, which a killed child never reaches.
fn check_receipt_flags(mode: &str, receipts: &[PrintedReceipt], what: &str) {
    let want = mode != "none";
    for p in receipts {
        assert_eq!(p.durable, want, "{what}: receipt {p:?} under --durability {mode}");
    }
    for w in receipts.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{what}: receipts out of order: {w:?}");
    }
}

/// Every printed receipt — durable or not — is in the reopened ledger with its hash.
fn check_receipts_present(
    reader: &LedgerReader,
    receipts: &[PrintedReceipt],
    known: &mut Vec<Option<Digest>>,
    what: &str,
) {
    for p in receipts {
        let e = reader
            .get(p.seq)
            .unwrap_or_else(|e| panic!("{what}: printed receipt {p:?} missing after SIGKILL: {e}"));
        assert_eq!(e.entry.hash, p.entry_hash, "{what}: entry {} changed", p.seq);
        let i = usize::try_from(p.seq).expect("seq fits");
        if known.len() <= i {
            known.resize(i + 1, None);
        }
        known[i] = Some(p.entry_hash);
    }
}

/// Entries written before this round (sampled: the hash chain covers the rest) are unchanged.
fn check_earlier_rounds(reader: &LedgerReader, known: &[Option<Digest>], len_before: u64, what: &str) {
    let n = usize::try_from(len_before).expect("len fits");
    let step = (n / 64).max(1);
    for (seq, want) in known
        .iter()
        .enumerate()
        .take(n)
        .step_by(step)
        .chain(known.iter().enumerate().take(n).next_back())
    {
        let Some(want) = want else { continue };
        let got = reader
            .get(seq as u64)
            .unwrap_or_else(|e| panic!("{what}: entry {seq} of an earlier round is gone: {e}"));
        assert_eq!(got.entry.hash, *want, "{what}: entry {seq} of an earlier round changed");
    }
}

#[test]
fn sigkill_during_append_durability_every() {
    crash_loop("every", 1);
}

#[test]
fn sigkill_during_append_durability_batch() {
    crash_loop("batch", 2);
}

#[test]
fn sigkill_during_append_durability_none() {
    crash_loop("none", 3);
}

/// Waits for a child to exit, failing after `limit`.
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what}: did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn append_once(f: &Fixture, input: &str) -> (Option<i32>, String, String) {
    let mut child = spawn_append(f, "batch", 16);
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input.as_bytes()); // a locked-out child may exit before reading
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_writer_process_is_locked_out_until_the_first_exits() {
    let f = fixture("lock");
    let mut first = spawn_append(&f, "batch", 1);
    let mut stdin = first.stdin.take().expect("stdin");
    let mut out = BufReader::new(first.stdout.take().expect("stdout"));
    stdin.write_all(b"{\"writer\":1}\n").expect("write");
    stdin.flush().expect("flush");
    // The first receipt proves the first writer holds the lock.
    let mut line = String::new();
    out.read_line(&mut line).expect("read receipt");
    assert_eq!(parse_receipt(line.trim_end()).seq, 1, "{line}");

    let (code, stdout, stderr) = append_once(&f, "{\"writer\":2}\n");
    assert_eq!(code, Some(2), "second writer: stdout {stdout:?} stderr {stderr:?}");
    assert!(stderr.contains("locked"), "second writer's message: {stderr}");
    assert!(stdout.is_empty(), "the locked-out writer printed receipts: {stdout}");

    // The first writer goes on working, then exits cleanly when its input ends.
    stdin.write_all(b"{\"writer\":1,\"n\":2}\n").expect("write");
    drop(stdin);
    let st = wait_within(&mut first, Duration::from_secs(20), "first writer");
    assert!(st.success(), "first writer: {st}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("rest of stdout");
    assert_eq!(parse_receipt(rest.trim_end()).seq, 2, "{rest}");

    let (code, stdout, stderr) = append_once(&f, "{\"writer\":2}\n");
    assert_eq!(code, Some(0), "second writer after the first exited: {stderr}");
    assert_eq!(parse_receipt(stdout.trim_end()).seq, 3, "{stdout}");
    let report = verify_state(&f, None);
    assert!(report.is_ok() && report.entries == 4, "{report:?}");
}
