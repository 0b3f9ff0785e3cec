//! Merkle proofs from disk at 1M+ entries (DESIGN §7 and issue 11: "inclusion / consistency
//! proof from disk at 1 M: make ≤ 3 µs, check ≤ 3 µs"), next to the raw costs they are built
//! from (SHA-256 of a 33-byte leaf and a 65-byte node, one `verify_strict` for a checkpoint's
//! signature) and to the same proofs made from an in-memory tree.
//!
//! One fixture, built on first use and kept for the process: a ledger of 1,200,000 unsigned
//! entries with signed checkpoints at sizes 1,000, 500,000, 2^20−1, 2^20, 2^20+1 and 1,200,000
//! (the newest). Proofs are made:
//! - **warm**: with one `LedgerReader` kept open, its files in the page cache;
//! - **fresh reader**: `LedgerReader::open` + the proof each time, files in the page cache;
//! - **cold cache** (Linux): the pages of every file the proofs read dropped from the page
//!   cache before each proof (`posix_fadvise(DONTNEED)` on the ledger's own files: nothing
//!   machine-wide), with the kept reader and with a fresh one. On this VM the host may still
//!   cache the virtual disk: "cold" means a guest page-cache miss, not necessarily a device read.
//!
//! Every proof made is checked against its checkpoint before it is timed, and every timed
//! check must pass.

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use provledger::hash::hash_leaf;
use provledger::merkle::{self, MemoryTree};
use provledger::{Checkpoint, Digest, Durability, Ledger, LedgerReader, VerifyingKey};
use tempfile::TempDir;

#[path = "common/mod.rs"]
mod common;
use common::{fill_to, key, note_load, opts, raw_group, Raw, Rng};

const LADDER: [u64; 3] = [(1 << 20) - 1, 1 << 20, (1 << 20) + 1];
const NEWEST: u64 = 1_200_000;
const CHECKPOINTS: [u64; 6] = [1_000, 500_000, LADDER[0], LADDER[1], LADDER[2], NEWEST];
/// Random leaf indices cycled through, so proofs touch different parts of the level files.
const SEQS: usize = 4096;

struct Fixture {
    dir: TempDir,
    reader: LedgerReader,
    operator: VerifyingKey,
    /// The checkpoints, by size, as the writer returned them.
    checkpoints: Vec<Checkpoint>,
    /// Entry hashes of the sampled seqs, from the append receipts.
    hashes: std::collections::HashMap<u64, Digest>,
}

impl Fixture {
    fn checkpoint(&self, size: u64) -> &Checkpoint {
        self.checkpoints
            .iter()
            .find(|c| c.tree_size == size)
            .expect("a checkpoint of that size")
    }
}

/// The seqs each size's benchmarks cycle through.
fn seqs(size: u64) -> Vec<u64> {
    Rng(size ^ 0x9e37_79b9_7f4a_7c15).below(size, SEQS)
}

fn build_fixture() -> Fixture {
    let t = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::create(dir.path(), key(), "bench", opts(Durability::Buffered)).expect("create ledger");
    let mut checkpoints = Vec::new();
    for size in CHECKPOINTS {
        fill_to(&ledger, size, false);
        let cp = ledger.checkpoint().expect("checkpoint");
        assert_eq!(cp.tree_size, size);
        checkpoints.push(cp);
    }
    ledger.close().expect("close");
    let reader = LedgerReader::open(dir.path()).expect("open reader");
    let mut hashes = std::collections::HashMap::new();
    for size in [NEWEST, LADDER[0], LADDER[1], LADDER[2]] {
        for s in seqs(size) {
            let h = reader.get(s).expect("read entry").entry.hash;
            hashes.insert(s, h);
        }
    }
    eprintln!(
        "fixture: {NEWEST} unsigned entries with checkpoints built in {:.1?}",
        t.elapsed()
    );
    let operator = key().verifying_key();
    let fx = Fixture {
        dir,
        reader,
        operator,
        checkpoints,
        hashes,
    };
    // Every proof the benchmarks make must check (caught here, before anything is timed).
    for size in [NEWEST, LADDER[0], LADDER[1], LADDER[2]] {
        for s in seqs(size) {
            check_inclusion(&fx, s, size, &fx.reader.inclusion_proof(s, Some(size)).expect("proof"));
        }
    }
    check_roots(&fx);
    fx
}

/// Panics unless `p` proves entry `seq` (with the hash its receipt gave) in the checkpoint of
/// `size`.
fn check_inclusion(fx: &Fixture, seq: u64, size: u64, p: &provledger::InclusionProof) {
    let cp = fx.checkpoint(size);
    assert_eq!((p.leaf_index, p.tree_size, p.root), (seq, size, cp.root));
    assert_eq!(p.entry_hash, fx.hashes[&seq], "proof is about the entry appended");
    merkle::verify_inclusion_of_entry(&p.entry_hash, seq, size, &p.path, &cp.root).expect("inclusion proof verifies");
}

/// Every regular file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Drops every page of `files` from the page cache (they are clean: the ledger was closed).
#[cfg(target_os = "linux")]
fn evict(files: &[PathBuf]) {
    for p in files {
        let f = std::fs::File::open(p).expect("open for fadvise");
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise(DONTNEED)");
    }
}

/// Benchmarks `make(i)` for i = 0, 1, 2 … (cycled by the caller) with the fixture's pages
/// dropped from the page cache before each call (untimed).
#[cfg(target_os = "linux")]
fn bench_cold<T>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    fx: &Fixture,
    make: impl Fn(usize) -> T,
) {
    let all = files(fx.dir.path());
    g.bench_function(id, |b| {
        let mut i = 0;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                evict(&all);
                i += 1;
                let t = Instant::now();
                black_box(make(i));
                total += t.elapsed();
            }
            total
        })
    });
}

fn inclusion(c: &mut Criterion, fx: &OnceCell<Fixture>) {
    let get = || fx.get_or_init(build_fixture);
    note_load("inclusion_from_disk");
    let mut g = c.benchmark_group("inclusion_from_disk");
    g.throughput(Throughput::Elements(1));
    for size in [NEWEST, LADDER[0], LADDER[1], LADDER[2]] {
        let s = seqs(size);
        g.bench_function(BenchmarkId::new("warm", size), |b| {
            let f = get();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % SEQS;
                f.reader.inclusion_proof(s[i], Some(size)).expect("inclusion proof")
            })
        });
    }
    let s = seqs(NEWEST);
    g.bench_function(BenchmarkId::new("fresh_reader", NEWEST), |b| {
        let f = get();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % SEQS;
            let r = LedgerReader::open(f.dir.path()).expect("open reader");
            r.inclusion_proof(s[i], None).expect("inclusion proof")
        })
    });
    #[cfg(target_os = "linux")]
    {
        g.sample_size(10).measurement_time(Duration::from_secs(2));
        let f = get();
        bench_cold(&mut g, BenchmarkId::new("cold_cache_kept_reader", NEWEST), f, |i| {
            f.reader.inclusion_proof(s[i % SEQS], None).expect("inclusion proof")
        });
        bench_cold(&mut g, BenchmarkId::new("cold_cache_fresh_reader", NEWEST), f, |i| {
            let r = LedgerReader::open(f.dir.path()).expect("open reader");
            r.inclusion_proof(s[i % SEQS], None).expect("inclusion proof")
        });
    }
    g.finish();

    note_load("inclusion_verify");
    let mut g = c.benchmark_group("inclusion_verify");
    g.throughput(Throughput::Elements(1));
    let proofs = || -> Vec<provledger::InclusionProof> {
        let f = get();
        s[..256]
            .iter()
            .map(|&q| f.reader.inclusion_proof(q, None).expect("inclusion proof"))
            .collect()
    };
    g.bench_function("InclusionProof::verify_with_checkpoint_signature", |b| {
        let (ps, op) = (proofs(), get().operator);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ps.len();
            ps[i].verify(&op).expect("valid proof")
        })
    });
    g.bench_function("merkle::verify_inclusion_of_entry", |b| {
        let ps = proofs();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ps.len();
            let p = &ps[i];
            merkle::verify_inclusion_of_entry(black_box(&p.entry_hash), p.leaf_index, p.tree_size, &p.path, &p.root)
                .expect("valid")
        })
    });
    g.finish();
}

/// Pairs of sizes for proofs between any two sizes (not checkpoint sizes), new ≤ NEWEST.
fn size_pairs() -> Vec<(u64, u64)> {
    let mut r = Rng(0x5eed);
    (0..SEQS)
        .map(|_| {
            let a = 1 + r.next_u64() % NEWEST;
            let b = 1 + r.next_u64() % NEWEST;
            (a.min(b), a.max(b))
        })
        .collect()
}

fn consistency(c: &mut Criterion, fx: &OnceCell<Fixture>) {
    let get = || fx.get_or_init(build_fixture);
    note_load("consistency_from_disk");
    let mut g = c.benchmark_group("consistency_from_disk");
    g.throughput(Throughput::Elements(1));
    // Between checkpoints, with both signed checkpoints in the proof (what `provledger prove
    // --consistency` hands out).
    for from in [1_000, 500_000, LADDER[0], LADDER[1], LADDER[2]] {
        g.bench_with_input(
            BenchmarkId::new("warm_checkpoints_to_newest", from),
            &from,
            |b, &from| {
                let f = get();
                b.iter(|| {
                    f.reader
                        .consistency_proof(black_box(from), None)
                        .expect("consistency proof")
                })
            },
        );
    }
    // Between any two sizes (RFC 9162), both roots computed from the stored tree.
    let pairs = size_pairs();
    g.bench_function("warm_any_two_sizes", |b| {
        let f = get();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % pairs.len();
            let (old, new) = pairs[i];
            f.reader.consistency(old, new).expect("consistency")
        })
    });
    #[cfg(target_os = "linux")]
    {
        g.sample_size(10).measurement_time(Duration::from_secs(2));
        let f = get();
        bench_cold(
            &mut g,
            BenchmarkId::new("cold_cache_kept_reader", "500000_to_newest"),
            f,
            |_| f.reader.consistency_proof(500_000, None).expect("consistency proof"),
        );
        bench_cold(
            &mut g,
            BenchmarkId::new("cold_cache_kept_reader", "any_two_sizes"),
            f,
            |i| {
                let (old, new) = pairs[i % pairs.len()];
                f.reader.consistency(old, new).expect("consistency")
            },
        );
    }
    g.finish();

    note_load("consistency_verify");
    let mut g = c.benchmark_group("consistency_verify");
    g.throughput(Throughput::Elements(1));
    let proof = || {
        get()
            .reader
            .consistency_proof(500_000, None)
            .expect("consistency proof")
    };
    g.bench_function(
        "ConsistencyProof::verify_with_2_checkpoint_signatures/500000_to_newest",
        |b| {
            let (p, op) = (proof(), get().operator);
            b.iter(|| black_box(&p).verify(&op).expect("valid proof"))
        },
    );
    g.bench_function("merkle::verify_consistency/500000_to_newest", |b| {
        let p = proof();
        b.iter(|| {
            merkle::verify_consistency(p.old_size, p.new_size, &p.old_root, &p.new_root, black_box(&p.path))
                .expect("valid")
        })
    });
    g.bench_function("merkle::verify_consistency/any_two_sizes", |b| {
        let f = get();
        let ps: Vec<_> = pairs[..256]
            .iter()
            .map(|&(old, new)| {
                let (o, n, path) = f.reader.consistency(old, new).expect("consistency");
                (old, new, o, n, path)
            })
            .collect();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ps.len();
            let (old, new, o, n, path) = &ps[i];
            merkle::verify_consistency(*old, *new, o, n, black_box(path)).expect("valid")
        })
    });
    g.finish();
}

/// The checkpoints' roots agree with the ones the reader computes: `consistency` between
/// checkpoint sizes must return the signed roots (checked once, before timing).
fn check_roots(fx: &Fixture) {
    let newest = fx.checkpoint(NEWEST);
    for cp in &fx.checkpoints {
        let (old, new, path) = fx.reader.consistency(cp.tree_size, NEWEST).expect("consistency");
        assert_eq!(
            (old, new),
            (cp.root, newest.root),
            "stored tree agrees with checkpoint {}",
            cp.tree_size
        );
        merkle::verify_consistency(cp.tree_size, NEWEST, &old, &new, &path).expect("consistency verifies");
        assert!(cp.verify(&fx.operator), "checkpoint signature");
    }
}

fn memory_tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(hash_leaf(&Digest::from_bytes(
            *blake3::hash(&i.to_le_bytes()).as_bytes(),
        )))
        .expect("tree not full");
    }
    t
}

fn memory_baseline(c: &mut Criterion) {
    let tree: OnceCell<MemoryTree> = OnceCell::new();
    let get = || {
        tree.get_or_init(|| {
            let t = Instant::now();
            let m = memory_tree(LADDER[2]);
            eprintln!(
                "baseline: MemoryTree of {} leaves built in {:.1?}",
                LADDER[2],
                t.elapsed()
            );
            m
        })
    };
    note_load("memory_tree_baseline");
    let mut g = c.benchmark_group("memory_tree_baseline");
    g.throughput(Throughput::Elements(1));
    for size in LADDER {
        let s = seqs(size);
        g.bench_with_input(BenchmarkId::new("inclusion_generate", size), &size, |b, &size| {
            let m = get();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % SEQS;
                merkle::inclusion_proof(m, s[i], size).expect("inclusion proof")
            })
        });
    }
    for from in [1_000, 500_000, LADDER[0], LADDER[1]] {
        g.bench_with_input(
            BenchmarkId::new("consistency_generate_to_2^20+1", from),
            &from,
            |b, &from| {
                let m = get();
                b.iter(|| merkle::consistency_proof(m, black_box(from), LADDER[2]).expect("consistency proof"))
            },
        );
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    raw_group(&mut c, "raw", &[Raw::Sha256Tree, Raw::Ed25519Verify], common::wall_now);
    let fx = OnceCell::new();
    inclusion(&mut c, &fx);
    consistency(&mut c, &fx);
    memory_baseline(&mut c);
    note_load("merkle: done");
    c.final_summary();
}
