//! Append throughput, next to the raw costs it is built from (DESIGN §7, STYLE 14).
//!
//! Groups:
//! - `raw`: BLAKE3 of 256 B, Ed25519 sign / verify_strict, write + fdatasync — the floor.
//! - `append_batch_1000x256B`: one writer, `append_batch` of 1,000 entries, per element.
//! - `append_mutex_threads`: N producer threads sharing one `Arc<Mutex<Ledger>>` (the mutex
//!   baseline; there is no group-commit appender yet).
//! - `tree_cost`: what the hash chain + Merkle tree cost per entry in isolation.
//! - `checkpoint`: `Ledger::checkpoint()` on a 100k-entry ledger.
//!
//! See benches/README.md for how to read the ratios.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::Signer;
use provledger::hash::{hash_leaf, hash_node, Digest};
use provledger::merkle::Frontier;
use provledger::{Appender, Durability, Ledger, LedgerReader};

#[path = "common/mod.rs"]
mod common;
use common::{build_ledger, drafts, key, opts, BATCH, PAYLOAD_LEN};

/// A benchmark ledger is recreated (untimed) once it holds this many entries, so a long run
/// does not fill the disk (≈ 0.5 KiB per entry on disk).
const RECREATE_AT: u64 = 1_000_000;

fn raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw");
    g.throughput(Throughput::Elements(1));
    let data = [0xa5u8; PAYLOAD_LEN];
    g.bench_function("blake3_256B", |b| b.iter(|| blake3::hash(black_box(&data))));

    let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let vk = sk.verifying_key();
    let msg = *blake3::hash(b"statement").as_bytes();
    let sig = sk.sign(&msg);
    g.bench_function("ed25519_sign_32B", |b| b.iter(|| sk.sign(black_box(&msg))));
    g.bench_function("ed25519_verify_strict_32B", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).is_ok())
    });

    // Appending writes (the file grows, as a segment does), then one fdatasync.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.path().join("raw.dat"))
        .expect("create raw.dat");
    let mut write_sync = |buf: &[u8], iters: u64| {
        let mut written = 0u64;
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            if written > 64 << 20 {
                f.set_len(0).expect("truncate");
                f.sync_all().expect("sync");
                f = OpenOptions::new()
                    .append(true)
                    .open(dir.path().join("raw.dat"))
                    .expect("reopen");
                written = 0;
            }
            let t = Instant::now();
            f.write_all(buf).expect("write");
            f.sync_data().expect("fdatasync");
            total += t.elapsed();
            written += buf.len() as u64;
        }
        total
    };
    let big = vec![0x5au8; 256 << 10];
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("write_256KiB_fdatasync", |b| b.iter_custom(|n| write_sync(&big, n)));
    let batch = vec![0x3cu8; BATCH * PAYLOAD_LEN];
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("write_1000x256B_one_buffer_fdatasync", |b| {
        b.iter_custom(|n| write_sync(&batch, n))
    });
    g.finish();
}

/// Times `append_batch` of [`BATCH`] fresh drafts per iteration on one ledger made for the
/// benchmark; drafts are built outside the timed region.
fn time_batches(signed: bool, durability: Durability, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = key();
    let make = |n: u32| {
        let path = dir.path().join(format!("l{n}"));
        Ledger::create(&path, &k, "bench", opts(durability)).expect("create ledger")
    };
    let mut generation = 0;
    let mut ledger = make(generation);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if ledger.len() >= RECREATE_AT {
            drop(ledger);
            std::fs::remove_dir_all(dir.path().join(format!("l{generation}"))).expect("remove old ledger");
            generation += 1;
            ledger = make(generation);
        }
        let batch = drafts(BATCH, ledger.len(), signed);
        let t = Instant::now();
        let r = ledger.append_batch(black_box(batch)).expect("append_batch");
        total += t.elapsed();
        black_box(r);
    }
    total
}

fn append_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_batch_1000x256B");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, signed, durability) in [
        ("signed/durability_none", true, Durability::None),
        ("unsigned/durability_none", false, Durability::None),
        ("signed/per_batch_sync", true, Durability::PerBatch),
        ("unsigned/per_batch_sync", false, Durability::PerBatch),
    ] {
        g.bench_function(name, |b| b.iter_custom(|n| time_batches(signed, durability, n)));
    }
    g.finish();
}

/// `threads` producers, each doing `iters` batches of [`BATCH`] on one shared ledger behind a
/// mutex. Drafts are built by each producer outside the lock, inside the timed region (as a
/// real producer would).
fn time_mutex_producers(threads: usize, signed: bool, durability: Durability, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::create(dir.path(), &key(), "bench", opts(durability)).expect("create ledger");
    let ledger = Arc::new(Mutex::new(ledger));
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..iters {
                    let batch = drafts(BATCH, (t as u64) << 40 | i << 10, signed);
                    let r = ledger
                        .lock()
                        .expect("no producer panics holding the lock")
                        .append_batch(batch)
                        .expect("append_batch");
                    black_box(r);
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for h in handles {
        h.join().expect("producer thread");
    }
    t.elapsed()
}

fn append_mutex_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_mutex_threads");
    for threads in [2usize, 4] {
        g.throughput(Throughput::Elements((threads * BATCH) as u64));
        for (mode, signed, durability) in [
            ("unsigned_none", false, Durability::None),
            ("unsigned_per_batch_sync", false, Durability::PerBatch),
            ("signed_per_batch_sync", true, Durability::PerBatch),
        ] {
            g.bench_with_input(BenchmarkId::new(mode, threads), &threads, |b, &n| {
                b.iter_custom(|iters| time_mutex_producers(n, signed, durability, iters))
            });
        }
    }
    g.finish();
}

/// `threads` producers appending single entries through one [`Appender`] (group commit): each
/// does `iters × 256` appends; one write and, with `PerBatch`, one fdatasync per group.
fn time_group_commit(threads: usize, durability: Durability, iters: u64) -> Duration {
    const PER_ITER: u64 = 256;
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::create(dir.path(), &key(), "bench", opts(durability)).expect("create ledger");
    let appender = Appender::new(ledger);
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (a, start) = (appender.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for i in 0..iters * PER_ITER {
                    let d = drafts(1, (t as u64) << 40 | i, false).pop().expect("one draft");
                    black_box(a.append(d).expect("append"));
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for h in handles {
        h.join().expect("producer thread");
    }
    t.elapsed()
}

fn append_group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_group_commit");
    g.sample_size(10);
    for threads in [2usize, 8, 32] {
        g.throughput(Throughput::Elements(threads as u64 * 256));
        for (mode, durability) in [
            ("unsigned_none", Durability::None),
            ("unsigned_per_batch_sync", Durability::PerBatch),
        ] {
            g.bench_with_input(BenchmarkId::new(mode, threads), &threads, |b, &n| {
                b.iter_custom(|iters| time_group_commit(n, durability, iters))
            });
        }
    }
    g.finish();
}

fn tree_cost(c: &mut Criterion) {
    // The real bytes of an unsigned 256-byte-payload entry, to hash at their true length.
    let dir = tempfile::tempdir().expect("tempdir");
    drop(build_ledger(dir.path(), &key(), 2, false));
    let entry_bytes = LedgerReader::open(dir.path())
        .and_then(|r| r.get(1))
        .expect("read back entry 1")
        .entry
        .to_bytes()
        .expect("re-encode entry");

    let mut g = c.benchmark_group("tree_cost");
    g.throughput(Throughput::Elements(1));
    let id = format!("entry_hash_{}B_plus_leaf_hash_plus_node_hash", entry_bytes.len());
    // Per entry the tree hashes one leaf and, amortised, one interior node.
    g.bench_function(id, |b| {
        let mut prev = Digest::from_bytes([0; 32]);
        b.iter(|| {
            let e = provledger::entry::entry_hash(black_box(&entry_bytes));
            let leaf = hash_leaf(&e);
            prev = hash_node(&prev, &leaf);
            prev
        })
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    let leaves: Vec<Digest> = (0..BATCH as u64)
        .map(|i| hash_leaf(&Digest::from_bytes(*blake3::hash(&i.to_le_bytes()).as_bytes())))
        .collect();
    // Frontier::push returns a Vec of completed nodes per push: this is that cost in memory.
    g.bench_function("frontier_push_1000_leaves", |b| {
        b.iter_batched_ref(
            Frontier::new,
            |f| {
                for l in &leaves {
                    black_box(f.push(*l).expect("frontier not full"));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn checkpoint(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = build_ledger(dir.path(), &key(), 100_000, false);
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    // Each iteration first appends 1,000 unsigned entries without syncing (untimed), so the
    // checkpoint has real work: sync segment, index and tree level files, sign, log.
    g.bench_function("after_1000_new_entries/ledger_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = ledger.len();
                ledger.append_batch(drafts(BATCH, start, false)).expect("append_batch");
                let t = Instant::now();
                black_box(ledger.checkpoint().expect("checkpoint"));
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = raw, append_batch, append_mutex_threads, append_group_commit, tree_cost, checkpoint
);
criterion_main!(benches);
