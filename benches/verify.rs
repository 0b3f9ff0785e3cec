//! Full-audit throughput of `verify_opts` (DESIGN §5 "Audit", §7 targets), next to the raw
//! per-entry costs: one `verify_strict` and one BLAKE3 of 256 B.
//!
//! Fixtures (built once, untimed, in tempdirs removed at exit):
//! - 100,000 entries, each signed by the appender;
//! - 1,000,000 entries without appender signatures, covered by one signed checkpoint.
//!
//! Samples are few and long (`sample_size(10)`, flat sampling) so the file runs in < 3 min.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use ed25519_dalek::Signer;
use provledger::storage::StdBackend;
use provledger::{verify_opts, TrustAnchor, VerifyOptions};
use tempfile::TempDir;

#[path = "common/mod.rs"]
mod common;
use common::{build_ledger, key, PAYLOAD_LEN};

const SIGNED: u64 = 100_000;
const UNSIGNED: u64 = 1_000_000;

fn raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_raw");
    g.throughput(Throughput::Elements(1));
    let data = [0xa5u8; PAYLOAD_LEN];
    g.bench_function("blake3_256B", |b| b.iter(|| blake3::hash(black_box(&data))));
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let vk = sk.verifying_key();
    let msg = *blake3::hash(b"statement").as_bytes();
    let sig = sk.sign(&msg);
    g.bench_function("ed25519_verify_strict_32B", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).is_ok())
    });
    g.finish();
}

fn audit(c: &mut Criterion, name: &str, n: u64, signed: bool) {
    let k = key();
    let anchor = TrustAnchor::PublicKey(k.verifying_key());
    // Built on first use, so a filtered run (`cargo bench --bench verify -- verify_raw`) skips it.
    let fixture: OnceCell<TempDir> = OnceCell::new();
    let dir = || {
        fixture
            .get_or_init(|| {
                let dir = tempfile::tempdir().expect("tempdir");
                let t = Instant::now();
                drop(build_ledger(dir.path(), &k, n, signed));
                let kind = if signed { "signed" } else { "unsigned" };
                eprintln!("fixture: {n} {kind} entries built in {:.1?}", t.elapsed());
                // Measure only the successful path.
                for policy in [false, true] {
                    let o = VerifyOptions::default().policy(policy);
                    let report = verify_opts(&StdBackend, dir.path(), &anchor, &o).expect("verify fixture");
                    assert!(report.is_ok(), "fixture does not verify: {:?}", report.failure);
                    assert_eq!(report.entries, n);
                }
                dir
            })
            .path()
    };

    let mut g = c.benchmark_group("verify");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(n));
    for policy in [false, true] {
        let o = VerifyOptions::default().policy(policy);
        let id = BenchmarkId::new(name, if policy { "policy_on" } else { "policy_off" });
        g.bench_with_input(id, &o, |b, o| {
            let d = dir();
            b.iter(|| verify_opts(&StdBackend, d, &anchor, o).expect("verify"));
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    raw(&mut c);
    audit(&mut c, "signed_100k", SIGNED, true);
    audit(&mut c, "unsigned_checkpointed_1M", UNSIGNED, false);
    c.final_summary();
}
