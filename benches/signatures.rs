//! Ed25519 per-signature costs: the one verification rule of docs/FORMAT.md §3, single and in
//! batches, next to ed25519-dalek's signing and `verify_strict` measured in the same run.
//!
//! Every message is a 56-byte co-signature message (`"provledger v2 statement\0"` ‖ a
//! statement digest, FORMAT.md §4.5; a position message is 87 bytes). Groups
//! (criterion prints signatures/s, `Throughput::Elements`):
//! - `single/…`: ed25519-dalek `sign` and `verify_strict`; our `VerifyingKey::verify`
//!   (`verify_one`); ed25519-consensus's `verify` (same rule, on curve25519-dalek-ng);
//! - `batch_1key/{64,256,1024}`, `batch_16keys/{64,256,1024}`: `signature::verify_batch` on
//!   one thread, all signatures valid; `consensus_batch_*/1024`: ed25519-consensus's batch;
//! - `parallel_4096_16keys/…`: 4,096 signatures on the rayon pool, split into batches of
//!   16 … 2,048 (one task per batch), `verify_parallel` (batches of `TASK_BATCH`), and
//!   `verify_one` per signature in parallel (what the verifier did before it used batches).
//!
//! Build options (benches/README.md): the default backend picks AVX2 at run time; a nightly
//! compiler adds the AVX-512 IFMA backend (`cargo +nightly bench --bench signatures`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use ed25519_dalek::Signer as _;
use provledger::entry::cosignature_message;
use provledger::signature::{verify_batch, verify_parallel, Coefficients, SignatureItem, TASK_BATCH};
use provledger::{Digest, SigningKey, VerifyingKey};
use rayon::prelude::*;

/// The size of a co-signature message: 24-byte prefix + 32-byte statement digest.
const MESSAGE_LEN: usize = 56;

/// `n` signatures by `keys` keys (round robin) over distinct co-signature messages.
struct Set {
    keys: Vec<VerifyingKey>,
    messages: Vec<[u8; MESSAGE_LEN]>,
    signatures: Vec<[u8; 64]>,
}

impl Set {
    fn new(n: usize, keys: usize) -> Self {
        let signers: Vec<SigningKey> = (0..keys)
            .map(|i| SigningKey::from_seed(&[u8::try_from(i).expect("< 256 keys"); 32]))
            .collect();
        let messages: Vec<[u8; MESSAGE_LEN]> = (0..n)
            .map(|i| cosignature_message(&Digest::from_bytes(*blake3::hash(&(i as u64).to_le_bytes()).as_bytes())))
            .collect();
        let signatures = (0..n).map(|i| signers[i % keys].sign(&messages[i])).collect();
        Set {
            keys: signers.iter().map(SigningKey::verifying_key).collect(),
            messages,
            signatures,
        }
    }

    fn items(&self) -> Vec<SignatureItem<'_>> {
        (0..self.messages.len())
            .map(|i| SignatureItem::new(&self.keys[i % self.keys.len()], &self.messages[i], &self.signatures[i]))
            .collect()
    }
}

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("single");
    g.throughput(Throughput::Elements(1));
    let msg = Set::new(1, 1).messages[0];
    let sk = ed25519_dalek::SigningKey::from_bytes(&[0u8; 32]);
    let vk = sk.verifying_key();
    let sig = sk.sign(&msg);
    g.bench_function("ed25519_dalek_sign", |b| b.iter(|| sk.sign(black_box(&msg))));
    g.bench_function("ed25519_dalek_verify_strict", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).is_ok())
    });
    let ours = VerifyingKey::from_bytes(&vk.to_bytes()).expect("valid key");
    let sig_bytes = sig.to_bytes();
    assert!(ours.verify(&msg, &sig_bytes));
    g.bench_function("verify_one", |b| {
        b.iter(|| ours.verify(black_box(&msg), black_box(&sig_bytes)))
    });
    let cvk = ed25519_consensus::VerificationKey::try_from(vk.to_bytes()).expect("valid key");
    let csig = ed25519_consensus::Signature::from(sig_bytes);
    assert!(cvk.verify(&csig, &msg).is_ok());
    g.bench_function("ed25519_consensus_verify", |b| {
        b.iter(|| cvk.verify(black_box(&csig), black_box(&msg)).is_ok())
    });
    g.finish();
}

fn batches(c: &mut Criterion) {
    for keys in [1, 16] {
        let name = if keys == 1 { "batch_1key" } else { "batch_16keys" };
        let mut g = c.benchmark_group(name);
        for n in [64, 256, 1024] {
            let set = Set::new(n, keys);
            let items = set.items();
            assert!(verify_batch(&items).expect("OS randomness").is_empty());
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &items, |b, items| {
                b.iter(|| verify_batch(black_box(items)).expect("OS randomness"))
            });
        }
        g.finish();
    }
    for keys in [1, 16] {
        let name = if keys == 1 {
            "consensus_batch_1key"
        } else {
            "consensus_batch_16keys"
        };
        let mut g = c.benchmark_group(name);
        let n = 1024;
        let set = Set::new(n, keys);
        let batch = || {
            let mut v = ed25519_consensus::batch::Verifier::new();
            for i in 0..n {
                let vk = ed25519_consensus::VerificationKeyBytes::from(set.keys[i % keys].to_bytes());
                v.queue((
                    vk,
                    ed25519_consensus::Signature::from(set.signatures[i]),
                    &set.messages[i][..],
                ));
            }
            v.verify(Coefficients::from_os().expect("OS randomness")).is_ok()
        };
        assert!(batch());
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |b| b.iter(batch));
        g.finish();
    }
}

fn parallel(c: &mut Criterion) {
    let n = 4096;
    let set = Set::new(n, 16);
    let items = set.items();
    let mut g = c.benchmark_group("parallel_4096_16keys");
    g.throughput(Throughput::Elements(n as u64));
    for chunk in [16, 32, 64, 128, 256, 512, 1024, 2048] {
        g.bench_with_input(BenchmarkId::new("batch_per_task", chunk), &chunk, |b, &chunk| {
            b.iter(|| {
                let failed: usize = items
                    .par_chunks(chunk)
                    .map(|c| verify_batch(c).expect("OS randomness").len())
                    .sum();
                assert_eq!(failed, 0);
            })
        });
    }
    g.bench_function(BenchmarkId::new("verify_parallel", TASK_BATCH), |b| {
        b.iter(|| assert!(verify_parallel(black_box(&items)).expect("OS randomness").is_empty()))
    });
    g.bench_function("verify_one_per_signature", |b| {
        b.iter(|| {
            assert!((0..n)
                .into_par_iter()
                .all(|i| set.keys[i % 16].verify(&set.messages[i], &set.signatures[i])));
        })
    });
    g.finish();
}

criterion::criterion_group!(benches, single, batches, parallel);
criterion::criterion_main!(benches);
