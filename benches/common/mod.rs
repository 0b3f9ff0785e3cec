//! Helpers shared by the bench binaries (included with `#[path]`, not a bench target itself):
//! a fixed key, drafts and ledgers to measure, the raw baselines every file measures next to
//! its library figures, the machine load, and peak memory.

#![allow(dead_code)] // each bench binary uses a different subset

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use ed25519_dalek::Signer as _;
use provledger::{Draft, Durability, Ledger, Options, SigningKey, TrustAnchor, VerifyReport};

/// Payload size of every benchmarked entry (DESIGN §7 workload).
pub const PAYLOAD_LEN: usize = 256;

/// Entries per `append_batch` call.
pub const BATCH: usize = 1000;

/// Segment size large enough that rotation is not part of what is measured.
pub const BIG_SEGMENT: u64 = 256 << 20;

/// Content type of every benchmarked entry.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// A fixed key, so runs are comparable.
pub fn key() -> SigningKey {
    SigningKey::from_seed(&[7u8; 32])
}

/// The trust anchor for [`key`].
pub fn anchor() -> TrustAnchor {
    TrustAnchor::PublicKey(key().verifying_key())
}

/// Options of every benchmarked ledger: the given durability, no segment rotation.
pub fn opts(durability: Durability) -> Options {
    Options::default().durability(durability).segment_size(BIG_SEGMENT)
}

/// A 256-byte payload that differs per entry (so nothing is accidentally deduplicated).
pub fn payload(i: u64) -> Vec<u8> {
    let mut p = vec![0x5au8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&i.to_le_bytes());
    p
}

/// One draft of a 256-byte payload: position-signed by the writer, or on the unsigned fast
/// path (`without_position_signature`, covered later by a signed checkpoint).
pub fn draft(i: u64, signed: bool) -> Draft {
    let d = Draft::application(CONTENT_TYPE, payload(i));
    if signed {
        d
    } else {
        d.without_position_signature()
    }
}

/// `n` drafts numbered from `start`.
pub fn drafts(n: usize, start: u64, signed: bool) -> Vec<Draft> {
    (start..start + n as u64).map(|i| draft(i, signed)).collect()
}

/// Appends entries (in batches, buffered) until the ledger holds `len` entries (genesis
/// included). Panics if an append fails.
pub fn fill_to(ledger: &Ledger, len: u64, signed: bool) {
    while ledger.len() < len {
        let n = (len - ledger.len()).min(BATCH as u64 * 10) as usize;
        let start = ledger.len();
        let receipts = ledger
            .append_batch(drafts(n, start, signed))
            .expect("bench fixture: append to a fresh tempdir ledger");
        assert_eq!(receipts.len(), n, "bench fixture: one receipt per draft");
    }
}

/// Creates a ledger in `dir` holding `len` entries (genesis included), buffered, then signs a
/// checkpoint over all of them.
pub fn build_ledger(dir: &Path, len: u64, signed: bool) -> Ledger {
    let ledger = Ledger::create(dir, key(), "bench", opts(Durability::Buffered)).expect("bench fixture: create ledger");
    fill_to(&ledger, len, signed);
    let cp = ledger.checkpoint().expect("bench fixture: checkpoint");
    assert_eq!(cp.tree_size, len, "bench fixture: checkpoint covers everything");
    ledger
}

/// Panics unless `report` is a clean verification of `entries` entries.
pub fn assert_verified(report: &VerifyReport, entries: u64) {
    assert!(report.is_ok(), "verification failed: {:?}", report.failure);
    assert_eq!(report.entries, entries, "verified entry count");
    assert_eq!(report.uncovered_tail, 0, "every unsigned entry is covered");
}

/// A small deterministic PRNG (xorshift64*), so the benches need no `rand` dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` values uniform-ish in `0..bound`.
    pub fn below(&mut self, bound: u64, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.next_u64() % bound).collect()
    }
}

/// The load averages (1, 5, 15 min) from `/proc/loadavg`, for the notes next to every figure.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Prints the machine load to stderr, before a group, so every figure has its load beside it.
pub fn note_load(what: &str) {
    eprintln!("[load {}] {what}", load());
}

/// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), in KiB (Linux).
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Wall-clock time since the first call, as a `Duration` (a clock for [`ProcessCpu`]'s
/// companion benchmarks that time regions by hand).
pub fn wall_now() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// CPU time of this process so far: user + system, every thread (`CLOCK_PROCESS_CPUTIME_ID`).
#[cfg(unix)]
pub fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A criterion measurement of process CPU time (all threads, user + system) instead of wall
/// time. On this shared 2-core machine wall time depends on what the other engineers run;
/// CPU time per entry much less so (cache and SMT contention aside). It shows the work, not
/// the speed: `2 / (CPU time per entry)` is what two idle cores could do at best, and a wall
/// time close to CPU time ÷ 2 means both cores were busy for us.
#[cfg(unix)]
pub struct ProcessCpu(criterion::measurement::WallTime);

#[cfg(unix)]
impl Default for ProcessCpu {
    fn default() -> Self {
        ProcessCpu(criterion::measurement::WallTime)
    }
}

#[cfg(unix)]
impl criterion::measurement::Measurement for ProcessCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        criterion::measurement::Measurement::formatter(&self.0)
    }
}

/// The raw costs an entry is built from. Each bench file measures those its figures are
/// made of, in the same run (absolute times drift on this machine; ratios hold).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// BLAKE3 keyed hash of 256 B (a payload) and of 288 B (salt ‖ payload: the commitment).
    Blake3Payload,
    /// BLAKE3 keyed hash of 64 B: one chain step `H_chain(L_{n-1} ‖ E_n)`.
    Blake3Chain,
    /// SHA-256 of 33 B (Merkle leaf) and of 65 B (Merkle node).
    Sha256Tree,
    /// CRC-32C of 400 B (≈ one frame).
    Crc32c,
    /// Ed25519 sign of an 87-byte position message (ed25519-dalek).
    Ed25519Sign,
    /// ed25519-dalek `verify_strict` of that signature, and ed25519-consensus (ZIP-215) batch
    /// verification of 64 signatures by one key (the per-signature batch ceiling).
    Ed25519Verify,
    /// write + fdatasync: one 256 KiB buffer, and 1,000 × 256 B as one buffer.
    WriteSync,
}

/// The raw costs that are CPU work (all but write + fdatasync), for the `raw_cpu` group.
pub const CPU_RAW: [Raw; 6] = [
    Raw::Blake3Payload,
    Raw::Blake3Chain,
    Raw::Sha256Tree,
    Raw::Crc32c,
    Raw::Ed25519Sign,
    Raw::Ed25519Verify,
];

/// Every raw cost.
pub const ALL_RAW: [Raw; 7] = [
    Raw::Blake3Payload,
    Raw::Blake3Chain,
    Raw::Sha256Tree,
    Raw::Crc32c,
    Raw::Ed25519Sign,
    Raw::Ed25519Verify,
    Raw::WriteSync,
];

/// The raw group (`raw`, or `raw_cpu` under [`ProcessCpu`]): the costs in `which`, one
/// operation per element; `clock` times the hand-timed ones (write + fdatasync).
pub fn raw_group<M: Measurement<Value = Duration>>(
    c: &mut Criterion<M>,
    group: &str,
    which: &[Raw],
    clock: fn() -> Duration,
) {
    note_load(group);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let hkey = blake3::derive_key("provledger bench", b"domain");
    let data = [0xa5u8; 400];
    if which.contains(&Raw::Blake3Payload) {
        g.bench_function("blake3_keyed_256B", |b| {
            b.iter(|| blake3::keyed_hash(&hkey, black_box(&data[..256])))
        });
        g.bench_function("blake3_keyed_288B_commitment", |b| {
            b.iter(|| blake3::keyed_hash(&hkey, black_box(&data[..288])))
        });
    }
    if which.contains(&Raw::Blake3Chain) {
        g.bench_function("blake3_keyed_64B_chain_step", |b| {
            b.iter(|| blake3::keyed_hash(&hkey, black_box(&data[..64])))
        });
    }
    if which.contains(&Raw::Sha256Tree) {
        use sha2::Digest as _;
        g.bench_function("sha256_33B_leaf", |b| {
            b.iter(|| sha2::Sha256::digest(black_box(&data[..33])))
        });
        g.bench_function("sha256_65B_node", |b| {
            b.iter(|| sha2::Sha256::digest(black_box(&data[..65])))
        });
    }
    if which.contains(&Raw::Crc32c) {
        g.bench_function("crc32c_400B", |b| b.iter(|| crc32c::crc32c(black_box(&data))));
    }
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let vk = sk.verifying_key();
    let prev = provledger::Digest::from_bytes([1; 32]);
    let entry = provledger::Digest::from_bytes([2; 32]);
    let msg = provledger::entry::position_message(&prev, &entry);
    let sig = sk.sign(&msg);
    if which.contains(&Raw::Ed25519Sign) {
        g.bench_function("ed25519_sign_87B", |b| b.iter(|| sk.sign(black_box(&msg))));
    }
    if which.contains(&Raw::Ed25519Verify) {
        g.bench_function("ed25519_verify_strict_87B", |b| {
            b.iter(|| {
                vk.verify_strict(black_box(&msg), black_box(&sig))
                    .expect("a valid signature verifies")
            })
        });
    }
    if which.contains(&Raw::Ed25519Verify) {
        batch_verify(&mut g);
    }
    if which.contains(&Raw::WriteSync) {
        let big = vec![0x5au8; 256 << 10];
        g.throughput(Throughput::Bytes(big.len() as u64));
        g.bench_function("write_256KiB_fdatasync", |b| {
            b.iter_custom(|n| write_sync(&big, n, clock))
        });
        let batch = vec![0x3cu8; BATCH * PAYLOAD_LEN];
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function("write_1000x256B_one_buffer_fdatasync", |b| {
            b.iter_custom(|n| write_sync(&batch, n, clock))
        });
    }
    g.finish();
}

/// Signatures per batch in `ed25519_consensus_batch64_same_key` (the verifier's batch size).
const SIG_BATCH: usize = 64;

/// ed25519-consensus batch verification (ZIP-215 rule, issue 11) of [`SIG_BATCH`] position
/// signatures by one key, per signature.
fn batch_verify<M: Measurement>(g: &mut criterion::BenchmarkGroup<'_, M>) {
    let sk = ed25519_consensus::SigningKey::from([7u8; 32]);
    let vk = ed25519_consensus::VerificationKeyBytes::from(&sk);
    let items: Vec<([u8; 87], ed25519_consensus::Signature)> = (0..SIG_BATCH as u8)
        .map(|i| {
            let m = provledger::entry::position_message(
                &provledger::Digest::from_bytes([i; 32]),
                &provledger::Digest::from_bytes([i ^ 0xff; 32]),
            );
            (m, sk.sign(&m))
        })
        .collect();
    // The coefficients the library's verifier draws (keyed BLAKE3 stream), so that this
    // ceiling includes what the verifier pays for them.
    let mut rng = provledger::signature::Coefficients::from_os().expect("OS randomness");
    g.throughput(Throughput::Elements(SIG_BATCH as u64));
    g.bench_function("ed25519_consensus_batch64_same_key", |b| {
        b.iter(|| {
            let mut v = ed25519_consensus::batch::Verifier::new();
            for (m, s) in &items {
                v.queue((vk, *s, &m[..]));
            }
            v.verify(&mut rng).expect("a valid batch verifies");
        })
    });
    g.throughput(Throughput::Elements(1));
}

/// `iters` times: append `buf` to a growing file (as a segment grows) and `fdatasync` it.
/// The file lives in a tempdir on the same file system as the benchmarked ledgers.
fn write_sync(buf: &[u8], iters: u64, clock: fn() -> Duration) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raw.dat");
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open raw.dat")
    };
    let mut f = open();
    let mut written = 0u64;
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if written > 64 << 20 {
            drop(f);
            std::fs::remove_file(&path).expect("remove raw.dat");
            f = open();
            written = 0;
        }
        let t = clock();
        f.write_all(buf).expect("write");
        f.sync_data().expect("fdatasync");
        total += clock().saturating_sub(t);
        written += buf.len() as u64;
    }
    total
}
