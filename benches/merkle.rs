//! Merkle proofs at 1M+ entries (DESIGN §7: "inclusion / consistency proof at 1 M+ entries,
//! from disk: ≤ 2–3 µs each to make or check").
//!
//! One fixture, built lazily on first use and kept for the process: a ledger of 1,200,000
//! unsigned entries with signed checkpoints at sizes 1,000, 500,000, 2^20−1, 2^20, 2^20+1 and
//! 1,200,000 (the newest). Next to it, an in-memory [`MemoryTree`] over 2^20+1 leaves is the
//! baseline for proof generation, and `merkle::verify_*` without the checkpoint signature is
//! the baseline for proof checking.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use provledger::hash::{hash_leaf, Digest};
use provledger::merkle::{self, MemoryTree};
use provledger::{ConsistencyProof, InclusionProof, Ledger, LedgerReader, SigningKey, VerifyingKey};
use tempfile::TempDir;

#[path = "common/mod.rs"]
mod common;
use common::{fill_to, key, opts, Rng};

const LADDER: [u64; 3] = [(1 << 20) - 1, 1 << 20, (1 << 20) + 1];
const CHECKPOINTS: [u64; 6] = [1_000, 500_000, LADDER[0], LADDER[1], LADDER[2], NEWEST];
const NEWEST: u64 = 1_200_000;
/// Random leaf indices cycled through, so proofs touch different parts of the level files.
const SEQS: usize = 4096;

struct Fixture {
    _dir: TempDir,
    reader: LedgerReader,
    operator: VerifyingKey,
}

fn build_fixture() -> Fixture {
    let t = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let k: SigningKey = key();
    let mut ledger =
        Ledger::create(dir.path(), &k, "bench", opts(provledger::Durability::None)).expect("create ledger");
    for size in CHECKPOINTS {
        fill_to(&mut ledger, size, false);
        let cp = ledger.checkpoint().expect("checkpoint");
        assert_eq!(cp.tree_size, size);
    }
    drop(ledger);
    let reader = LedgerReader::open(dir.path()).expect("open reader");
    eprintln!(
        "fixture: {NEWEST} unsigned entries with checkpoints built in {:.1?}",
        t.elapsed()
    );
    Fixture {
        _dir: dir,
        reader,
        operator: k.verifying_key(),
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

fn bench_disk(c: &mut Criterion, fx: &OnceCell<Fixture>) {
    let get = || fx.get_or_init(build_fixture);
    let seqs = Rng(0x9e37_79b9_7f4a_7c15).below(NEWEST, SEQS);

    let mut g = c.benchmark_group("inclusion_from_disk");
    g.throughput(Throughput::Elements(1));
    // Against the newest checkpoint: what `provledger prove` does.
    g.bench_function(BenchmarkId::new("generate", NEWEST), |b| {
        let f = get();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % SEQS;
            f.reader.inclusion_proof(seqs[i], None).expect("inclusion proof")
        })
    });
    // Size ladder around 2^20, against the checkpoints of those sizes.
    for size in LADDER {
        let seqs = Rng(size).below(size, SEQS);
        g.bench_with_input(BenchmarkId::new("generate", size), &size, |b, &size| {
            let f = get();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % SEQS;
                f.reader.inclusion_proof(seqs[i], Some(size)).expect("inclusion proof")
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("inclusion_verify");
    g.throughput(Throughput::Elements(1));
    let proofs = || -> Vec<InclusionProof> {
        let f = get();
        seqs[..256]
            .iter()
            .map(|&s| f.reader.inclusion_proof(s, None).expect("inclusion proof"))
            .collect()
    };
    g.bench_function("InclusionProof::verify_incl_checkpoint_sig", |b| {
        let (ps, op) = (proofs(), get().operator);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ps.len();
            ps[i].verify(&op).expect("valid proof")
        })
    });
    g.bench_function("merkle::verify_inclusion_bare", |b| {
        let ps: Vec<(Digest, InclusionProof)> = proofs().into_iter().map(|p| (hash_leaf(&p.entry_hash), p)).collect();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ps.len();
            let (leaf, p) = &ps[i];
            merkle::verify_inclusion(black_box(leaf), p.leaf_index, p.tree_size, &p.path, &p.root).expect("valid")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("consistency_from_disk");
    g.throughput(Throughput::Elements(1));
    for from in [1_000, 500_000, LADDER[0], LADDER[1], LADDER[2]] {
        g.bench_with_input(BenchmarkId::new("generate_to_newest", from), &from, |b, &from| {
            let f = get();
            b.iter(|| {
                f.reader
                    .consistency_proof(black_box(from), None)
                    .expect("consistency proof")
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("consistency_verify");
    g.throughput(Throughput::Elements(1));
    let proof = || -> ConsistencyProof {
        get()
            .reader
            .consistency_proof(500_000, None)
            .expect("consistency proof")
    };
    g.bench_function(
        "ConsistencyProof::verify_incl_2_checkpoint_sigs/500000_to_newest",
        |b| {
            let (p, op) = (proof(), get().operator);
            b.iter(|| black_box(&p).verify(&op).expect("valid proof"))
        },
    );
    g.bench_function("merkle::verify_consistency_bare/500000_to_newest", |b| {
        let p = proof();
        b.iter(|| {
            merkle::verify_consistency(p.old_size, p.new_size, &p.old_root, &p.new_root, black_box(&p.path))
                .expect("valid")
        })
    });
    g.finish();
}

fn bench_memory(c: &mut Criterion) {
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
    let mut g = c.benchmark_group("memory_tree_baseline");
    g.throughput(Throughput::Elements(1));
    for size in LADDER {
        let seqs = Rng(size).below(size, SEQS);
        g.bench_with_input(BenchmarkId::new("inclusion_generate", size), &size, |b, &size| {
            let m = get();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % SEQS;
                merkle::inclusion_proof(m, seqs[i], size).expect("inclusion proof")
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
    let fx = OnceCell::new();
    bench_disk(&mut c, &fx);
    bench_memory(&mut c);
    c.final_summary();
}
