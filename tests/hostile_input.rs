//! Hostile input: every malformed, oversized or misplaced thing gets a clear, typed error, in
//! bounded time and memory — never a panic, a hang, an allocation sized by an attacker, or a
//! followed symbolic link inside the ledger directory.
//!
//! Each case runs on its own thread with a deadline (a hang fails the test instead of stalling
//! it); CLI cases watch the child's peak resident memory (`VmHWM`) while it runs.
//!
//! | hostile input | surface | error observed |
//! |---|---|---|
//! | frame header, valid CRC, section length 4 GiB − 1, at the tail of the newest segment | `Ledger::open`, `LedgerReader::scan` | `StorageError::Corrupt { reason: "frame header out of bounds", offset: <frame> }` (< 1 s, nothing allocated) |
//! | same, overwriting a frame header in the middle | `verify` | `failure.check == Format`, message "frame header out of bounds", offset of the frame |
//! | same | `Ledger::open` | `StorageError::Corrupt` at the frame, naming entry 2 (open scans the newest segment); nothing is cut, and `verify` still fails afterwards |
//! | same | `provledger verify --json` | exit 1, `failure.check:"format"`, message "frame header out of bounds" |
//! | index slot holding offset 2^31 − 1 / `u32::MAX` | `Ledger::open` | opens; `recovery().index_rebuilt == true` (derived data rebuilt) |
//! | index slot holding offset 2^31 − 1 | `verify` | `failure.check == Index` |
//! | index file sparse-extended to 8 GiB | `Ledger::open` | opens, index rebuilt (< 1 s) |
//! | checkpoint log sparse-extended to 4 GiB (zero records) | `Ledger::open` | `StorageError::Corrupt` at the first zero record (checksum) |
//! | checkpoint log sparse-extended to 4 GiB | `verify` | `failure.check == Checkpoint` |
//! | tree level file sparse-extended to 4 GiB | `Ledger::open`, `verify` | opens (the tree is cut to the entries); verify passes |
//! | bincode genesis whose name length claims 2^60 bytes | `Genesis::decode` | `DecodeError::Payload` (size limit), no allocation |
//! | 10,000 levels of nested JSON on `append` stdin | CLI | exit 2, "line 1: invalid JSON: recursion limit exceeded" |
//! | a 17 MiB single line on `append` stdin | CLI | exit 2, "line 1: longer than the maximum of 16777216 bytes" (peak RSS bounded) |
//! | 1,000,000 lines of `{}` on `append --batch 1000000` stdin | CLI | exit 0, every line appended, peak RSS < 100 MiB (the batch is cut by memory, input streamed) |
//! | proof with 10,000 path elements | `InclusionProof::verify` | `ProofCheckError::Malformed` |
//! | same | `provledger verify-proof` | exit 2, `MALFORMED` |
//! | key file of 300 bytes | `SigningKey::load` | `KeyError::InvalidKeyFile { reason: "file too large to be a key file" }` |
//! | key file with 31 bytes of hex | `SigningKey::load` | `KeyError::InvalidKeyFile { reason: "key must be 64 hexadecimal digits" }` |
//! | key file with the wrong tag | `SigningKey::load` | `KeyError::InvalidKeyFile { reason: "missing 'provledger-secret-key-v1' tag" }` |
//! | key file that is not hex | `SigningKey::load` | `KeyError::InvalidKeyFile { reason: "key must be 64 hexadecimal digits" }` |
//! | key file mode 0644 | `SigningKey::load`, `append --key` | `KeyError::InsecurePermissions { mode: 0o644 }`; CLI exit 2 "must be 0600" |
//! | key "file" that is a directory | `SigningKey::load` | `KeyError::InvalidKeyFile { reason: "not a regular file" }` |
//! | symlink to a valid 0600 key | `SigningKey::load` | **loads** (the link is followed; the target's mode is checked) |
//! | symlink to a 0644 key | `SigningKey::load` | `KeyError::InsecurePermissions` (the target's mode) |
//! | segment file replaced by a symlink to a valid copy | `Ledger::open`, `verify`, `LedgerReader::open` | `StorageError::NotARegularFile { path: <segment> }`, never followed |
//! | same | `provledger verify` | exit 2, "is not a regular file" |
//! | a directory named like a segment (`…07.seg`) | `Ledger::open`, `verify` | `StorageError::NotARegularFile` |
//! | ledger "directory" that is a regular file | `Ledger::open`, `verify` | `StorageError::Io { op: "open" }` (ENOTDIR) |
//! | empty file named like the first segment | `Ledger::open` | `StorageError::Corrupt { reason: "incomplete segment header" }` |
//! | empty file named like a later (newest) segment | `Ledger::open` | opens; removed as a rotation cut short (`recovery().removed_segment`) |
//! | same | `verify` | passes, reported as `torn_tail` "incomplete segment header" |
//! | newest segment spliced from another ledger | `Ledger::open` | `StorageError::Corrupt { reason: "segment belongs to another ledger" }` |
//! | same | `verify` | `failure.check == Format`, "segment belongs to another ledger" |
//! | a dangling symlink named `LOCK` (the lock file of earlier versions) | `Ledger::open`, `provledger append` | ignored and never followed: the writer locks the directory itself |

#![cfg(unix)]

mod common;

use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{big_draft, draft, key, std_layout, std_opts};
use provledger::encoding::crc;
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::{segment_path, SEGMENTS_DIR};
use provledger::tree::level_path;
use provledger::verify::Check;
use provledger::{
    verify, DecodeError, Durability, Error, Genesis, InclusionProof, KeyError, Ledger, LedgerReader, ProofCheckError,
    Recovery, SigningKey, StorageError, TrustAnchor, VerifyReport,
};

/// Deadline for each library case (debug build, busy 2-core machine).
const LIB_DEADLINE: Duration = Duration::from_secs(10);
/// Deadline for each CLI case.
const CLI_DEADLINE: Duration = Duration::from_secs(20);
/// What a CLI case is asserted to take at most (process start included; see `FAST`).
const CLI_FAST: Duration = Duration::from_secs(12);
/// Each case should really take milliseconds; this is what is asserted as "returns fast" (the
/// failures it catches take minutes to hours: reading a sparse terabyte, a length field taken at
/// its word). Generous so that a loaded CI machine running a debug build never trips it.
const FAST: Duration = Duration::from_secs(8);
/// Peak resident memory allowed to a CLI child (a 17 MiB line is read into a 16 MiB buffer).
const CHILD_MAX_RSS_KIB: u64 = 160 << 10;

/// Runs `f` on a thread and fails if it takes longer than `deadline` (a hang) or than `FAST`.
fn bounded<T: Send + 'static>(what: &str, deadline: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let r = match rx.recv_timeout(deadline) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {deadline:?} (hang?)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    };
    let took = start.elapsed();
    assert!(took < FAST, "{what}: took {took:?}");
    r
}

fn anchor(k: &SigningKey) -> TrustAnchor {
    TrustAnchor::PublicKey(k.verifying_key())
}

/// A ledger of `n` entries (with 1 KiB segments when `small_segments`, so there are several).
/// Serializes spawning children with holding a `Ledger` (its locked directory descriptor) in this
/// process: a child forked by another test thread inherits the descriptor until it execs, and
/// for that instant the `flock` outlives the `Ledger`'s drop (see tests/kill9.rs).
static FORK_GATE: Mutex<()> = Mutex::new(());

fn fork_gate() -> MutexGuard<'static, ()> {
    FORK_GATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What opening a ledger as its writer found: its length and what recovery did.
#[derive(Debug)]
struct Opened {
    len: u64,
    recovery: Recovery,
}

fn ledger(n: u64, small_segments: bool) -> (tempfile::TempDir, PathBuf) {
    let _gate = fork_gate();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    // 1 MiB segments (the smallest) filled by 100 kB payloads: about ten entries each.
    let seg = if small_segments { 1 << 20 } else { 64 << 20 };
    let l = Ledger::create(&dir, key(1), "hostile", std_opts(Durability::Synced, seg)).expect("create");
    for i in 1..=n {
        let d = if small_segments {
            big_draft(i, 100_000)
        } else {
            draft(i)
        };
        l.append(d).expect("append");
    }
    (tmp, dir)
}

fn open(dir: &Path) -> Result<Ledger, Error> {
    Ledger::open(dir, key(1), std_opts(Durability::Synced, 1 << 20)).map_err(Error::from)
}

/// Opens the ledger as its writer (under the fork gate) and closes it again.
fn open_bounded(dir: &Path, what: &str) -> Result<Opened, Error> {
    let d = dir.to_path_buf();
    bounded(what, LIB_DEADLINE, move || {
        let _gate = fork_gate();
        open(&d).map(|l| Opened {
            len: l.len(),
            recovery: l.recovery().clone(),
        })
    })
}

fn verify_bounded(dir: &Path, what: &str) -> Result<VerifyReport, Error> {
    let d = dir.to_path_buf();
    bounded(what, LIB_DEADLINE, move || {
        verify(&d, &anchor(&key(1))).map_err(Error::from)
    })
}

fn expect_err<T>(r: Result<T, Error>, what: &str) -> Error {
    match r {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => e,
    }
}

fn assert_corrupt(e: &Error, want_reason: &str, what: &str) -> u64 {
    match e.storage() {
        Some(StorageError::Corrupt { reason, offset, .. }) => {
            assert!(reason.contains(want_reason), "{what}: reason {reason:?}");
            *offset
        }
        _ => panic!("{what}: want Corrupt({want_reason}), got {e:?}"),
    }
}

fn assert_failure(r: &VerifyReport, check: Check, needle: &str, what: &str) {
    let f = r
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: verify passed: {r:?}"));
    assert_eq!(f.check, check, "{what}: {f}");
    assert!(f.message.contains(needle), "{what}: message {:?}", f.message);
}

/// A frame header whose checksum is right but whose section length is 4 GiB − 1 (a legal
/// record length, no flags).
fn huge_frame_header() -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..2].copy_from_slice(&100u16.to_le_bytes());
    h[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let c = crc(&[&h[..8]]);
    h[8..].copy_from_slice(&c.to_le_bytes());
    h
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(bytes).expect("append bytes");
}

fn write_at(path: &Path, offset: usize, bytes: &[u8]) {
    let mut b = std::fs::read(path).expect("read");
    b[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, b).expect("write");
}

fn sparse_extend(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).expect("open");
    f.set_len(len).expect("set_len (sparse)");
}

// ---------------------------------------------------------------- frames and lengths

#[test]
fn a_frame_claiming_4_gib_at_the_tail_is_corrupt_not_allocated() {
    let (_t, dir) = ledger(3, false);
    let seg = segment_path(&dir, 0);
    let at = std::fs::metadata(&seg).expect("stat").len();
    append_bytes(&seg, &huge_frame_header());
    append_bytes(&seg, &[7u8; 100]);
    let e = expect_err(open_bounded(&dir, "open"), "open");
    assert_eq!(assert_corrupt(&e, "frame header out of bounds", "open"), at);
    let d = dir.clone();
    let r = bounded("reader scan", LIB_DEADLINE, move || {
        let reader = LedgerReader::open(&d)?;
        reader.scan(0, |_| Ok(true))
    });
    assert_corrupt(&expect_err(r, "scan"), "frame header out of bounds", "scan");
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert_failure(&r, Check::Format, "frame header out of bounds", "verify");
    assert_eq!(r.failure.as_ref().and_then(|f| f.offset), Some(at));
}

#[test]
fn a_frame_claiming_4_gib_in_the_middle_is_reported_with_its_offset() {
    let (_t, dir) = ledger(5, false);
    let segs = std_layout(&dir);
    let f = segs[0].frames[2];
    write_at(&segs[0].path, f.offset, &huge_frame_header());
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert_failure(&r, Check::Format, "frame header out of bounds", "verify");
    assert_eq!(r.failure.as_ref().and_then(|x| x.offset), Some(f.offset as u64));
    assert_eq!(r.entries, 2);
    // Opening scans the newest segment (its frames, seals and governance bits), so it meets
    // the damage, names it, and refuses: nothing is appended after damage.
    let e = expect_err(open_bounded(&dir, "open"), "open");
    assert_eq!(
        assert_corrupt(&e, "frame header out of bounds", "open"),
        f.offset as u64
    );
    assert!(
        matches!(e.storage(), Some(StorageError::Corrupt { seq: Some(2), .. })),
        "{e:?}"
    );
    let r = verify_bounded(&dir, "verify after open").expect("verify runs");
    assert_failure(&r, Check::Format, "frame header out of bounds", "verify after open");

    let out = run_cli(
        &["verify", s(&dir), "--trust", &key(1).verifying_key().to_hex(), "--json"],
        b"",
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["failure"]["check"], "format", "{v}");
    assert!(
        v["failure"]["message"].as_str().unwrap_or("").contains("out of bounds"),
        "{v}"
    );
}

#[test]
fn index_slots_pointing_far_past_the_segment_are_rebuilt_or_reported() {
    let (_t, dir) = ledger(4, false);
    let idx = dir.join(SEGMENTS_DIR).join("00000000000000000000.idx");
    // Slots are 4 bytes: a 31-bit offset and the governance bit (docs/FORMAT.md §7.7).
    let last = INDEX_HEADER_LEN + 4 * 4;
    write_at(&idx, last, &0x7FFF_FFFFu32.to_le_bytes());
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert_failure(&r, Check::Index, "", "verify with a 2 GiB index slot");

    let l = open_bounded(&dir, "open").expect("open rebuilds the index");
    assert!(l.recovery.index_rebuilt, "{:?}", l.recovery);
    assert_eq!(l.len, 5);
    assert!(verify_bounded(&dir, "verify after rebuild").expect("verify").is_ok());

    write_at(&idx, last, &u32::MAX.to_le_bytes());
    let l = open_bounded(&dir, "open u32::MAX slot").expect("open rebuilds the index");
    assert!(l.recovery.index_rebuilt);

    sparse_extend(&idx, 8 << 30);
    let l = open_bounded(&dir, "open 8 GiB index").expect("open rebuilds the index");
    assert!(l.recovery.index_rebuilt);
    assert_eq!(l.len, 5);
    assert!(
        std::fs::metadata(&idx).expect("stat").len() < 4096,
        "index not cut back"
    );
}

#[test]
fn a_checkpoint_log_claiming_gigabytes_is_corrupt() {
    let (_t, dir) = ledger(2, false);
    {
        let _gate = fork_gate();
        let l = open(&dir).expect("open");
        l.checkpoint().expect("checkpoint");
    }
    let log = dir.join("checkpoints.log");
    sparse_extend(&log, 4 << 30);
    let e = expect_err(open_bounded(&dir, "open"), "open");
    assert_corrupt(&e, "", "open with a 4 GiB checkpoint log");
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert_failure(&r, Check::Checkpoint, "", "verify with a 4 GiB checkpoint log");
}

#[test]
fn tree_files_claiming_gigabytes_are_cut_to_the_entries() {
    let (_t, dir) = ledger(5, false);
    let level0 = level_path(&dir, 0);
    sparse_extend(&level0, 4 << 30);
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert!(r.is_ok(), "{:?}", r.failure);
    let l = open_bounded(&dir, "open").expect("open");
    assert_eq!(l.len, 6);
    assert!(
        std::fs::metadata(&level0).expect("stat").len() < 4096,
        "level file not cut back"
    );
}

#[test]
fn a_genesis_string_claiming_2_pow_60_bytes_is_a_decode_error() {
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"name");
    let r = bounded("genesis decode", LIB_DEADLINE, move || Genesis::decode(&bytes));
    match r {
        Err(DecodeError::Payload { context, message }) => {
            assert!(!message.is_empty(), "{context}");
        }
        other => panic!("want DecodeError::Payload, got {other:?}"),
    }
}

// ---------------------------------------------------------------- CLI input

struct CliOut {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_kib: u64,
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Peak resident set of a live process, from `/proc` (0 when unavailable).
fn vm_hwm_kib(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the binary, feeding `stdin` from a thread, with a deadline and a memory watch.
fn run_cli(args: &[&str], stdin: &[u8]) -> CliOut {
    let gate = fork_gate();
    let mut child = Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(gate);
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data); // EPIPE once the child has given up: fine
    });
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let mut peak = 0;
    let status = loop {
        peak = peak.max(vm_hwm_kib(pid));
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > CLI_DEADLINE {
            let _ = child.kill();
            panic!("{args:?}: no exit within {CLI_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = start.elapsed();
    let _ = feeder.join();
    let o = CliOut {
        code: status.code(),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
        peak_rss_kib: peak,
    };
    assert!(took < CLI_FAST, "{args:?}: took {took:?}: {}", o.stderr);
    assert!(
        o.peak_rss_kib < CHILD_MAX_RSS_KIB,
        "{args:?}: peak RSS {} KiB: {}",
        o.peak_rss_kib,
        o.stderr
    );
    o
}

/// A ledger made by the CLI, with its key file.
fn cli_ledger() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key_file = tmp.path().join("op.key");
    key(1).save(&key_file).expect("save");
    let dir = tmp.path().join("ledger");
    let o = run_cli(&["init", s(&dir), "--key", s(&key_file)], b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    (tmp, dir, key_file)
}

#[test]
fn ten_thousand_levels_of_json_on_append_stdin_exit_2() {
    let (_t, dir, k) = cli_ledger();
    let mut line = "{\"a\":".to_owned();
    line.push_str(&"[".repeat(10_000));
    line.push_str(&"]".repeat(10_000));
    line.push_str("}\n");
    let o = run_cli(&["append", s(&dir), "--key", s(&k)], line.as_bytes());
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("line 1") && o.stderr.contains("recursion limit"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

#[test]
fn a_17_mib_line_on_append_stdin_exits_2_with_bounded_memory() {
    let (_t, dir, k) = cli_ledger();
    let mut line = b"{\"a\":\"".to_vec();
    line.resize(17 << 20, b'x');
    line.extend_from_slice(b"\"}\n");
    let o = run_cli(&["append", s(&dir), "--key", s(&k)], &line);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("line 1: longer than the maximum of 16777216 bytes"),
        "{}",
        o.stderr
    );
    println!("17 MiB line: child peak RSS {} KiB", o.peak_rss_kib);
}

/// Peak resident memory allowed to `append` streaming a million small lines (it measured
/// 42 MiB; reading the whole input as one batch took 2.4 GiB).
const STREAM_MAX_RSS_KIB: u64 = 100 << 10;

#[test]
fn a_million_lines_on_append_stdin_stream_in_bounded_memory() {
    const LINES: usize = 1_000_000;
    let (_t, dir, k) = cli_ledger();
    let gate = fork_gate();
    let mut child = Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args([
            "append",
            s(&dir),
            "--key",
            s(&k),
            "--batch",
            "1000000",
            "--durability",
            "none",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(gate);
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || input.write_all(&b"{}\n".repeat(LINES)));
    // Receipts are counted as they stream by, not kept (they are ~90 MB).
    let mut stdout = child.stdout.take().expect("stdout");
    let counter = std::thread::spawn(move || {
        let (mut lines, mut buf) = (0usize, [0u8; 64 << 10]);
        while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        lines
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let (start, mut peak) = (Instant::now(), 0);
    let status = loop {
        peak = peak.max(vm_hwm_kib(pid));
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(300) || peak > 4 * STREAM_MAX_RSS_KIB {
            let _ = child.kill();
            panic!(
                "append of {LINES} lines: no exit after {:?}, peak RSS {peak} KiB",
                start.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    feeder.join().expect("feeder").expect("stdin written");
    let (receipts, stderr) = (counter.join().expect("stdout"), err.join().expect("stderr"));
    println!("{LINES} lines: child peak RSS {peak} KiB, {:?}", start.elapsed());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(receipts, LINES, "{stderr}");
    assert!(stderr.contains("appended 1000000 entries"), "{stderr}");
    assert!(peak < STREAM_MAX_RSS_KIB, "peak RSS {peak} KiB");
    let reader = LedgerReader::open(&dir).expect("reader");
    assert_eq!(reader.indexed_len().expect("len"), LINES as u64 + 1);
}

#[test]
fn a_proof_with_10000_path_elements_is_malformed() {
    let (_t, dir, k) = cli_ledger();
    let o = run_cli(&["append", s(&dir), "--key", s(&k)], b"{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let o = run_cli(&["checkpoint", s(&dir), "--key", s(&k)], b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let o = run_cli(&["prove", s(&dir), "--seq", "1", "--json"], b"");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let mut proof: serde_json::Value = serde_json::from_str(&o.stdout).expect("proof JSON");
    let elem = proof["path"][0].clone();
    proof["path"] = serde_json::Value::Array(vec![elem; 10_000]);
    let text = proof.to_string();
    assert!(text.len() < 1 << 20, "{} bytes", text.len());

    let parsed: InclusionProof = serde_json::from_str(&text).expect("parses as a proof");
    let vk = key(1).verifying_key();
    let r = bounded("library verify", LIB_DEADLINE, move || parsed.verify(&vk));
    assert!(matches!(r, Err(ProofCheckError::Malformed(_))), "{r:?}");

    let file = dir.with_file_name("long-proof.json");
    std::fs::write(&file, &text).expect("write proof");
    let o = run_cli(
        &["verify-proof", s(&file), "--trust", &key(1).verifying_key().to_hex()],
        b"",
    );
    assert_eq!(o.code, Some(2), "{} {}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("MALFORMED") || o.stderr.contains("malformed"),
        "{}",
        o.stdout
    );
}

// ---------------------------------------------------------------- key files

fn key_file(dir: &Path, name: &str, body: &[u8], mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

fn invalid_key_reason(r: Result<SigningKey, KeyError>, what: &str) -> &'static str {
    match r {
        Err(KeyError::InvalidKeyFile { reason, .. }) => reason,
        Err(e) => panic!("{what}: want InvalidKeyFile, got {e:?}"),
        Ok(_) => panic!("{what}: loaded"),
    }
}

#[test]
fn malformed_key_files_get_clear_key_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let seed = provledger::hash::hex_encode(&[5u8; 32]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("too-large", vec![b'a'; 300], "file too large to be a key file"),
        (
            "short",
            format!("provledger-secret-key-v1 {}\n", &seed[..62]).into_bytes(),
            "key must be 64 hexadecimal digits",
        ),
        (
            "tag",
            format!("age-secret-key-v1 {seed}\n").into_bytes(),
            "missing 'provledger-secret-key-v1' tag",
        ),
        (
            "not-hex",
            format!("provledger-secret-key-v1 {}\n", "zz".repeat(32)).into_bytes(),
            "key must be 64 hexadecimal digits",
        ),
        ("empty", Vec::new(), "missing 'provledger-secret-key-v1' tag"),
    ];
    for (name, body, want) in cases {
        let p = key_file(d, name, &body, 0o600);
        assert_eq!(invalid_key_reason(SigningKey::load(&p), name), want, "{name}");
    }
    let good = format!("provledger-secret-key-v1 {seed}\n");
    let p = key_file(d, "open", good.as_bytes(), 0o644);
    assert!(
        matches!(
            SigningKey::load(&p),
            Err(KeyError::InsecurePermissions { mode: 0o644, .. })
        ),
        "0644"
    );
    let sub = d.join("a-directory");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(
        invalid_key_reason(SigningKey::load(&sub), "directory"),
        "not a regular file"
    );
}

#[test]
fn symlinked_key_files_follow_the_target_and_its_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let seed = provledger::hash::hex_encode(&[5u8; 32]);
    let good = format!("provledger-secret-key-v1 {seed}\n");
    let target = key_file(d, "real.key", good.as_bytes(), 0o600);
    let link = d.join("link.key");
    symlink(&target, &link).expect("symlink");
    // Observed behaviour: the link is followed (Kubernetes secret volumes are symlinks).
    let k = SigningKey::load(&link).expect("a symlink to a 0600 key loads");
    assert_eq!(*k.to_seed(), [5u8; 32]);
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        SigningKey::load(&link),
        Err(KeyError::InsecurePermissions { mode: 0o644, .. })
    ));
    let dangling = d.join("dangling.key");
    symlink(d.join("missing"), &dangling).expect("symlink");
    assert!(matches!(SigningKey::load(&dangling), Err(KeyError::Io { .. })));
}

#[test]
fn append_with_an_insecure_key_file_exits_2() {
    let (_t, dir, k) = cli_ledger();
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = run_cli(&["append", s(&dir), "--key", s(&k)], b"{}\n");
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("0600"), "{}", o.stderr);
}

// ---------------------------------------------------------------- the ledger directory

fn assert_not_regular(e: &Error, want: &Path, what: &str) {
    match e.storage() {
        Some(StorageError::NotARegularFile { path }) => assert_eq!(path, want, "{what}"),
        _ => panic!("{what}: want NotARegularFile({}), got {e:?}", want.display()),
    }
}

#[test]
fn a_segment_replaced_by_a_symlink_is_refused_never_followed() {
    let (_t, dir) = ledger(3, false);
    let seg = segment_path(&dir, 0);
    let elsewhere = dir.with_file_name("copy.seg");
    std::fs::copy(&seg, &elsewhere).expect("copy");
    std::fs::remove_file(&seg).expect("rm");
    symlink(&elsewhere, &seg).expect("symlink");
    assert_not_regular(&expect_err(open_bounded(&dir, "open"), "open"), &seg, "open");
    assert_not_regular(&expect_err(verify_bounded(&dir, "verify"), "verify"), &seg, "verify");
    let d = dir.clone();
    let r = bounded("reader", LIB_DEADLINE, move || {
        LedgerReader::open(&d).map(drop).map_err(Error::from)
    });
    assert_not_regular(&expect_err(r, "reader"), &seg, "reader");
    let o = run_cli(&["verify", s(&dir), "--trust", &key(1).verifying_key().to_hex()], b"");
    assert_eq!(o.code, Some(2), "{} {}", o.stdout, o.stderr);
    assert!(o.stderr.contains("is not a regular file"), "{}", o.stderr);
}

#[test]
fn a_directory_named_like_a_segment_is_refused() {
    let (_t, dir) = ledger(3, false);
    let fake = segment_path(&dir, 7);
    std::fs::create_dir(&fake).expect("mkdir");
    assert_not_regular(&expect_err(open_bounded(&dir, "open"), "open"), &fake, "open");
    assert_not_regular(&expect_err(verify_bounded(&dir, "verify"), "verify"), &fake, "verify");
}

#[test]
fn a_ledger_dir_that_is_a_file_is_an_io_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"hello").expect("write");
    let e = expect_err(open_bounded(&file, "open"), "open");
    match e.storage() {
        Some(StorageError::Io { op, .. }) => assert_eq!(*op, "open"),
        _ => panic!("open: {e:?}"),
    }
    let e = expect_err(verify_bounded(&file, "verify"), "verify");
    match e.storage() {
        Some(StorageError::Io { op, .. }) => assert_eq!(*op, "open"),
        _ => panic!("verify: {e:?}"),
    }
}

#[test]
fn an_empty_first_segment_is_corrupt() {
    let (_t, dir) = ledger(3, false);
    std::fs::write(segment_path(&dir, 0), b"").expect("truncate");
    let e = expect_err(open_bounded(&dir, "open"), "open");
    assert_corrupt(&e, "incomplete segment header", "open");
}

#[test]
fn an_empty_newest_segment_is_a_rotation_cut_short() {
    let (_t, dir) = ledger(3, false);
    let fake = segment_path(&dir, 4);
    std::fs::write(&fake, b"").expect("create");
    let r = verify_bounded(&dir, "verify").expect("verify runs");
    assert!(r.is_ok(), "{:?}", r.failure);
    let t = r.torn_tail.as_ref().expect("reported as a torn tail");
    assert_eq!(t.reason, "incomplete segment header");
    let l = open_bounded(&dir, "open").expect("open");
    assert_eq!(l.recovery.removed_segment.as_deref(), Some(fake.as_path()));
    assert_eq!(l.len, 4);
    assert!(!fake.exists());
}

#[test]
fn a_segment_spliced_from_another_ledger_is_corrupt() {
    let (_a, dir_a) = ledger(30, true);
    let (_b, dir_b) = ledger(30, true);
    let segs_a = std_layout(&dir_a);
    let segs_b = std_layout(&dir_b);
    assert!(segs_a.len() >= 3, "{} segments", segs_a.len());
    let newest = segs_a.last().expect("segment");
    let other = segs_b
        .iter()
        .find(|s| s.first_seq == newest.first_seq)
        .expect("same layout in both ledgers");
    std::fs::copy(&other.path, &newest.path).expect("splice");
    std::fs::copy(&other.idx_path, &newest.idx_path).expect("splice index");
    let e = expect_err(open_bounded(&dir_a, "open"), "open");
    assert_corrupt(&e, "segment belongs to another ledger", "open");
    let r = verify_bounded(&dir_a, "verify").expect("verify runs");
    assert_failure(&r, Check::Format, "segment belongs to another ledger", "verify");

    // A sealed segment in the middle, too.
    let (_c, dir_c) = ledger(30, true);
    let mid = &std_layout(&dir_c)[1];
    let other = segs_b
        .iter()
        .find(|s| s.first_seq == mid.first_seq)
        .expect("same layout");
    std::fs::copy(&other.path, &mid.path).expect("splice");
    let r = verify_bounded(&dir_c, "verify middle").expect("verify runs");
    assert_failure(&r, Check::Format, "segment belongs to another ledger", "verify middle");
}

#[test]
fn a_lock_file_of_any_kind_is_ignored_and_never_followed() {
    let (t, dir) = ledger(1, false);
    // Earlier versions locked a `LOCK` file; now the directory itself is locked, and a file
    // of that name — here a dangling symlink — is neither followed nor needed.
    let lock = dir.join("LOCK");
    let missing = t.path().join("missing");
    symlink(&missing, &lock).expect("symlink");
    let l = open_bounded(&dir, "open").expect("the lock is on the directory, not on a LOCK file");
    assert_eq!(l.len, 2);
    let key_path = t.path().join("k.key");
    key(1).save(&key_path).expect("save");
    let o = run_cli(&["append", s(&dir), "--key", s(&key_path)], b"{}\n");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(!missing.exists(), "something followed the LOCK symlink");
}
