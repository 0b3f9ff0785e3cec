//! Append throughput, next to the raw costs it is built from (DESIGN §7, issue 11, STYLE 14).
//!
//! Groups (see benches/README.md for what to divide by what):
//! - `raw`: every per-entry cost in isolation — BLAKE3 keyed of 256/288 B and of 64 B, SHA-256
//!   of 33/65 B, CRC-32C of 400 B, Ed25519 sign / `verify_strict`, write + fdatasync.
//! - `append_batch_1000x256B`: one caller, `append_batch` of 1,000 entries, unsigned fast path
//!   and position-signed, `Buffered` and `Synced`.
//! - `producers`: 1, 2, 8 or 64 threads sharing one `Ledger`, each submitting single entries —
//!   `submit` with up to 64 tickets in flight, or blocking `append` — unsigned and signed,
//!   `Buffered` and `Synced` (group commit).
//! - `peer_shape`: the workload shapes of the peer harness (`../shared/peers`), timed the way
//!   its adapter times them, and `synced_stream_<batch>`: one producer streaming synced
//!   batches, two in flight.
//! - `checkpoint`: `Ledger::checkpoint()` on a 100k-entry ledger after 1,000 new entries.
//! - `append_batch_1000x256B_cpu`, `peer_shape_cpu`: the same, in process CPU time (all
//!   threads; `common::ProcessCpu`), which the other engineers' load disturbs much less.
//!
//! Every append, checkpoint and close is checked: a failing operation panics the bench.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use provledger::{verify, Draft, Durability, Ledger, Receipt, Ticket, Timestamp};

#[path = "common/mod.rs"]
mod common;
use common::{
    anchor, assert_verified, build_ledger, draft, drafts, key, note_load, opts, raw_group, wall_now, ALL_RAW, BATCH,
    CONTENT_TYPE,
};

/// A benchmark ledger is recreated (untimed) once it holds this many entries, so a long run
/// does not fill the disk.
const RECREATE_AT: u64 = 1_000_000;

/// Tickets each `submit` producer keeps in flight (the harness's `provledger-pipelined-64p`).
const IN_FLIGHT: usize = 64;

/// Entries each producer appends per criterion iteration.
const PER_THREAD: u64 = 64;

fn mode_name(signed: bool, durability: Durability) -> String {
    let s = if signed { "signed" } else { "unsigned" };
    let d = if durability == Durability::Synced {
        "synced"
    } else {
        "buffered"
    };
    format!("{s}/{d}")
}

/// Panics unless a receipt kept the promise of its durability.
fn check_receipt(r: &Receipt, durability: Durability) {
    if durability == Durability::Synced {
        assert!(r.durable, "a Synced append was acknowledged without its sync");
    }
}

/// Times `append_batch` of [`BATCH`] fresh drafts per iteration on one ledger made for the
/// benchmark; drafts are built outside the timed region.
fn time_batches(signed: bool, durability: Durability, iters: u64, clock: fn() -> Duration) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let make = |n: u32| Ledger::create(dir.path().join(format!("l{n}")), key(), "bench", opts(durability));
    let mut generation = 0;
    let mut ledger = make(generation).expect("create ledger");
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if ledger.len() >= RECREATE_AT {
            ledger.close().expect("close");
            std::fs::remove_dir_all(dir.path().join(format!("l{generation}"))).expect("remove old ledger");
            generation += 1;
            ledger = make(generation).expect("create ledger");
        }
        let batch = drafts(BATCH, ledger.len(), signed);
        let t = clock();
        let receipts = ledger.append_batch(black_box(batch)).expect("append_batch");
        total += clock().saturating_sub(t);
        assert_eq!(receipts.len(), BATCH);
        check_receipt(&receipts[BATCH - 1], durability);
    }
    ledger.close().expect("close");
    total
}

/// `append_batch` groups, timed by `clock` (wall, or process CPU for the `_cpu` group).
fn append_batch<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, group: &str, clock: fn() -> Duration) {
    note_load(group);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH as u64));
    for signed in [false, true] {
        for durability in [Durability::Buffered, Durability::Synced] {
            g.bench_function(mode_name(signed, durability), |b| {
                b.iter_custom(|n| time_batches(signed, durability, n, clock))
            });
        }
    }
    g.finish();
}

/// How each producer hands its entries to the shared ledger.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Submit {
    /// `Ledger::submit` with up to [`IN_FLIGHT`] tickets outstanding, waiting on the oldest.
    Pipelined,
    /// Blocking `Ledger::append`, one entry at a time.
    Blocking,
}

/// One producer: `n` single-entry appends numbered from `first`.
fn produce(ledger: &Ledger, how: Submit, first: u64, n: u64, signed: bool, durability: Durability) {
    match how {
        Submit::Blocking => {
            for i in first..first + n {
                check_receipt(&ledger.append(draft(i, signed)).expect("append"), durability);
            }
        }
        Submit::Pipelined => {
            let mut in_flight: VecDeque<Ticket<Receipt>> = VecDeque::with_capacity(IN_FLIGHT);
            for i in first..first + n {
                if in_flight.len() == IN_FLIGHT {
                    let t = in_flight.pop_front().expect("a full window has an oldest ticket");
                    check_receipt(&t.wait().expect("append"), durability);
                }
                in_flight.push_back(ledger.submit(draft(i, signed), durability).expect("submit"));
            }
            for t in in_flight {
                check_receipt(&t.wait().expect("append"), durability);
            }
        }
    }
}

/// `threads` producers sharing one `Ledger`, each appending `iters × PER_THREAD` single
/// entries; the ledger's durability is also what `submit` asks for.
fn time_producers(threads: usize, how: Submit, signed: bool, durability: Durability, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::create(dir.path(), key(), "bench", opts(durability)).expect("create ledger");
    let per_thread = iters * PER_THREAD;
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let (ledger, start) = (&ledger, &start);
                s.spawn(move || {
                    start.wait();
                    produce(ledger, how, t << 40, per_thread, signed, durability);
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        for h in handles {
            h.join().expect("producer thread");
        }
        t.elapsed()
    });
    assert_eq!(
        ledger.len(),
        1 + threads as u64 * per_thread,
        "every entry appended once"
    );
    ledger.close().expect("close");
    elapsed
}

fn producers(c: &mut Criterion) {
    note_load("producers");
    let mut g = c.benchmark_group("producers");
    g.sample_size(10);
    for signed in [false, true] {
        for durability in [Durability::Buffered, Durability::Synced] {
            for (how, name) in [(Submit::Pipelined, "submit64"), (Submit::Blocking, "append")] {
                for threads in [1usize, 2, 8, 64] {
                    g.throughput(Throughput::Elements(threads as u64 * PER_THREAD));
                    let id = BenchmarkId::new(format!("{}/{name}", mode_name(signed, durability)), threads);
                    g.bench_function(id, |b| {
                        b.iter_custom(|n| time_producers(threads, how, signed, durability, n))
                    });
                }
            }
        }
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// The peer harness's shapes (../shared/peers/src/workload.rs and benches/peers/peer_provledger.rs)
// ---------------------------------------------------------------------------------------------

/// The harness's record: 280 bytes (`Decision::encode_binary`) with its own timestamp, 1 ms apart.
fn peer_draft(i: u64, signed: bool) -> Draft {
    const T0_NS: u64 = 1_735_689_600_000_000_000;
    let mut p = vec![0x33u8; 280];
    p[..8].copy_from_slice(&i.to_le_bytes());
    let d = Draft::application(CONTENT_TYPE, p).with_timestamp(Timestamp(T0_NS + i * 1_000_000));
    if signed {
        d
    } else {
        d.without_position_signature()
    }
}

/// The adapter's drafts per `submit_batch` call.
const PEER_BATCH: u64 = 1024;
/// Batches the adapter keeps in flight.
const PEER_IN_FLIGHT: usize = 2;
/// Checkpoints the adapter takes during `append_file` (for consistency proofs), the final one
/// included.
const PEER_CHECKPOINTS: u64 = 11;

/// One shape of the harness, timed from `Ledger::create` to `close` as the adapter does.
#[derive(Clone, Copy)]
enum Shape {
    /// `append_file`: `submit_batch(1024)` with two batches in flight, unsigned, Buffered,
    /// 10 checkpoints at spread-out sizes plus a final one.
    File,
    /// `append_file_sign`: as `append_file`, position-signed, no checkpoint.
    FileSigned,
    /// `append_file_fsync`: one `Ledger::append` per entry, Synced, unsigned, final checkpoint.
    Fsync,
    /// `provledger-pipelined-64p`: 64 producers × 64 in flight, Synced, final checkpoint.
    Pipelined64,
    /// Not a harness shape: one producer streaming `submit_batch` of this many drafts, Synced,
    /// two batches in flight, unsigned (a durable group's sync overlaps the next batch's work).
    SyncedStream(u64),
}

fn run_shape(shape: Shape, dir: &std::path::Path, n: u64) {
    let durability = match shape {
        Shape::File | Shape::FileSigned => Durability::Buffered,
        Shape::Fsync | Shape::Pipelined64 | Shape::SyncedStream(_) => Durability::Synced,
    };
    let ledger = Ledger::create(dir, key(), "peers", opts(durability)).expect("create");
    match shape {
        Shape::File | Shape::FileSigned => {
            let signed = matches!(shape, Shape::FileSigned);
            let mut next_cp = 1;
            let mut i = 0;
            let mut in_flight: VecDeque<(u64, Ticket<Vec<Receipt>>)> = VecDeque::with_capacity(PEER_IN_FLIGHT);
            let settle = |(count, t): (u64, Ticket<Vec<Receipt>>)| {
                assert_eq!(t.wait().expect("submit_batch").len() as u64, count);
            };
            while i < n {
                let end = (i + PEER_BATCH).min(n);
                if in_flight.len() == PEER_IN_FLIGHT {
                    settle(in_flight.pop_front().expect("a full window has an oldest batch"));
                }
                let drafts = (i..end).map(|j| peer_draft(j, signed)).collect();
                let ticket = ledger.submit_batch(drafts, Durability::Buffered).expect("submit_batch");
                in_flight.push_back((end - i, ticket));
                i = end;
                if !signed && next_cp < PEER_CHECKPOINTS && i >= n * next_cp / PEER_CHECKPOINTS {
                    in_flight.drain(..).for_each(settle);
                    ledger.checkpoint().expect("checkpoint");
                    next_cp += 1;
                }
            }
            in_flight.drain(..).for_each(settle);
            if !signed {
                ledger.checkpoint().expect("checkpoint");
            }
        }
        Shape::Fsync => {
            for i in 0..n {
                assert!(ledger.append(peer_draft(i, false)).expect("append").durable);
            }
            ledger.checkpoint().expect("checkpoint");
        }
        Shape::Pipelined64 => {
            std::thread::scope(|s| {
                for t in 0..64u64 {
                    let ledger = &ledger;
                    s.spawn(move || {
                        let mut in_flight: VecDeque<Ticket<Receipt>> = VecDeque::with_capacity(IN_FLIGHT);
                        for i in (t..n).step_by(64) {
                            if in_flight.len() == IN_FLIGHT {
                                let t = in_flight.pop_front().expect("a full window has an oldest ticket");
                                assert!(t.wait().expect("append").durable);
                            }
                            in_flight
                                .push_back(ledger.submit(peer_draft(i, false), Durability::Synced).expect("submit"));
                        }
                        for t in in_flight {
                            assert!(t.wait().expect("append").durable);
                        }
                    });
                }
            });
            ledger.checkpoint().expect("checkpoint");
        }
        Shape::SyncedStream(batch) => {
            let mut in_flight: VecDeque<(u64, Ticket<Vec<Receipt>>)> = VecDeque::with_capacity(PEER_IN_FLIGHT);
            let settle = |(count, t): (u64, Ticket<Vec<Receipt>>)| {
                let receipts = t.wait().expect("submit_batch");
                assert_eq!(receipts.len() as u64, count);
                assert!(
                    receipts.iter().all(|r| r.durable),
                    "a Synced batch answered before its sync"
                );
            };
            let mut i = 0;
            while i < n {
                let end = (i + batch).min(n);
                if in_flight.len() == PEER_IN_FLIGHT {
                    settle(in_flight.pop_front().expect("a full window has an oldest batch"));
                }
                let drafts = (i..end).map(|j| peer_draft(j, false)).collect();
                in_flight.push_back((
                    end - i,
                    ledger.submit_batch(drafts, Durability::Synced).expect("submit_batch"),
                ));
                i = end;
            }
            in_flight.drain(..).for_each(settle);
            ledger.checkpoint().expect("checkpoint");
        }
    }
    ledger.close().expect("close");
}

/// The harness's shapes, timed by `clock` (wall, or process CPU for the `_cpu` group).
fn peer_shape<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, group: &str, clock: fn() -> Duration) {
    note_load(group);
    let mut g = c.benchmark_group(group);
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (name, shape, n) in [
        ("append_file", Shape::File, 100_000),
        ("append_file_sign", Shape::FileSigned, 20_000),
        ("append_file_fsync", Shape::Fsync, 1_000),
        ("pipelined_64p", Shape::Pipelined64, 10_000),
        ("synced_stream_64", Shape::SyncedStream(64), 50_000),
        ("synced_stream_1024", Shape::SyncedStream(1024), 200_000),
    ] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let root = tempfile::tempdir().expect("tempdir");
                let mut total = Duration::ZERO;
                for k in 0..iters {
                    let dir = root.path().join(format!("l{k}"));
                    let t = clock();
                    run_shape(shape, &dir, n);
                    total += clock().saturating_sub(t);
                    if k + 1 == iters {
                        // The last ledger of each sample must verify (untimed).
                        assert_verified(&verify(&dir, &anchor()).expect("verify"), n + 1);
                    }
                    std::fs::remove_dir_all(&dir).expect("remove ledger");
                }
                total
            })
        });
    }
    g.finish();
}

fn checkpoint(c: &mut Criterion) {
    note_load("checkpoint");
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = build_ledger(dir.path(), 100_000, false);
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    // Each iteration first appends 1,000 unsigned entries without syncing (untimed), so the
    // checkpoint has real work: sync what is unsynced, sign, append to the log.
    g.bench_function("after_1000_new_entries/ledger_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = ledger.len();
                ledger.append_batch(drafts(BATCH, start, false)).expect("append_batch");
                let t = Instant::now();
                let cp = ledger.checkpoint().expect("checkpoint");
                total += t.elapsed();
                assert_eq!(cp.tree_size, start + BATCH as u64);
            }
            total
        })
    });
    g.finish();
    ledger.close().expect("close");
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    raw_group(&mut c, "raw", &ALL_RAW, wall_now);
    append_batch(&mut c, "append_batch_1000x256B", wall_now);
    producers(&mut c);
    peer_shape(&mut c, "peer_shape", wall_now);
    checkpoint(&mut c);
    #[cfg(unix)]
    {
        let mut cpu = Criterion::default()
            .with_measurement(common::ProcessCpu::default())
            .configure_from_args();
        raw_group(&mut cpu, "raw_cpu", &common::CPU_RAW, common::cpu_now);
        append_batch(&mut cpu, "append_batch_1000x256B_cpu", common::cpu_now);
        peer_shape(&mut cpu, "peer_shape_cpu", common::cpu_now);
        cpu.final_summary();
    }
    note_load("append: done");
    c.final_summary();
}
