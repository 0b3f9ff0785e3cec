//! Audit throughput of `verify_opts` (DESIGN §5 "Audit", §7 targets, issue 11), next to the
//! raw per-entry costs it is built from: BLAKE3 keyed of 288/64 B, SHA-256 of 33/65 B, CRC-32C
//! of 400 B and one `verify_strict`.
//!
//! Fixtures (built once, on first use, untimed, in tempdirs removed at exit; every fixture is
//! verified once and must pass before it is timed, and every timed run must pass too):
//! - `signed_100k`: 100,000 entries, each position-signed, with signed checkpoints at 90,000
//!   and 100,000 entries — full verification, and incremental verification from the
//!   checkpoint at 90,000 (`VerifyOptions::from_checkpoint`: every entry re-hashed, only the
//!   10,000 newer signatures checked), and verification resumed from the state a verification
//!   saved at 90,000 (`VerifyOptions::resume`: only the 10,000 newer entries read);
//! - `unsigned_100k` and `unsigned_1M`: entries on the unsigned fast path, covered by one
//!   signed checkpoint.
//!
//! Each with the policy engine off and on, measured twice: wall time (group `verify`) and
//! process CPU time, all threads (group `verify_cpu`, see `common::ProcessCpu`). Signed
//! verification of 1M entries takes 20–40 s a run here, too long for criterion's 10 samples:
//! `benches/memory.rs` times one run of it (wall and CPU).

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use provledger::storage::StdBackend;
use provledger::{verify_opts, Checkpoint, Ledger, VerifierState, VerifyOptions};
use tempfile::TempDir;

#[path = "common/mod.rs"]
mod common;
use common::{anchor, assert_verified, build_ledger, fill_to, key, note_load, opts, raw_group, Raw};

/// Size of the trusted checkpoint the incremental verification starts from.
const SIGNED_CHECKPOINT: u64 = 90_000;

struct Fixture {
    dir: TempDir,
    entries: u64,
    /// The checkpoint at [`SIGNED_CHECKPOINT`] (signed fixture only).
    trusted: Option<Checkpoint>,
    /// The states saved there, policy off and on (signed fixture only).
    states: Option<[VerifierState; 2]>,
}

fn build(entries: u64, signed: bool) -> Fixture {
    let t = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (trusted, states) = if signed {
        let ledger =
            Ledger::create(dir.path(), key(), "bench", opts(provledger::Durability::Buffered)).expect("create ledger");
        fill_to(&ledger, SIGNED_CHECKPOINT, true);
        let cp = ledger.checkpoint().expect("checkpoint");
        let state = |policy: bool| {
            let o = VerifyOptions::default().policy(policy).keep_state(true);
            let r = verify_opts(&StdBackend, dir.path(), &anchor(), &o).expect("verify");
            r.state.expect("a state at the checkpoint")
        };
        let states = [state(false), state(true)];
        fill_to(&ledger, entries, true);
        ledger.checkpoint().expect("checkpoint");
        ledger.close().expect("close");
        (Some(cp), Some(states))
    } else {
        build_ledger(dir.path(), entries, false).close().expect("close");
        (None, None)
    };
    let kind = if signed { "signed" } else { "unsigned" };
    eprintln!("fixture: {entries} {kind} entries built in {:.1?}", t.elapsed());
    let fx = Fixture {
        dir,
        entries,
        trusted,
        states,
    };
    for o in variants(&fx) {
        run(&fx, &o.1);
    }
    fx
}

/// One verification that must pass.
fn run(fx: &Fixture, o: &VerifyOptions) {
    let report = verify_opts(&StdBackend, fx.dir.path(), &anchor(), o).expect("verify");
    assert_verified(&report, fx.entries);
    assert_eq!(report.policy_checked, o.policy, "policy engine ran as asked");
    if o.from_checkpoint.is_some() {
        assert_eq!(
            report.verified_from, SIGNED_CHECKPOINT,
            "verified from the trusted checkpoint"
        );
    }
    if o.resume.is_some() {
        assert_eq!(report.resumed_from, SIGNED_CHECKPOINT, "resumed from the saved state");
    }
}

/// The option sets measured on a fixture: full, and (signed) incremental; policy off and on.
fn variants(fx: &Fixture) -> Vec<(String, VerifyOptions)> {
    let mut out = Vec::new();
    let mut starts = vec![("full", None)];
    if let Some(cp) = fx.trusted {
        starts.push(("from_checkpoint_90k", Some(cp)));
    }
    for (start, from) in starts {
        for policy in [false, true] {
            let o = VerifyOptions::default().policy(policy).from_checkpoint(from);
            let p = if policy { "policy_on" } else { "policy_off" };
            out.push((format!("{start}/{p}"), o));
        }
    }
    if let Some(states) = &fx.states {
        for (policy, state) in [false, true].into_iter().zip(states) {
            let o = VerifyOptions::default().policy(policy).resume(Some(state.clone()));
            let p = if policy { "policy_on" } else { "policy_off" };
            out.push((format!("resume_90k/{p}"), o));
        }
    }
    out
}

/// One fixture to audit, built on first use (so a filtered run, `-- raw/`, skips it).
struct Audit {
    name: &'static str,
    entries: u64,
    signed: bool,
    fixture: OnceCell<Fixture>,
}

fn audit<M: Measurement>(c: &mut Criterion<M>, group: &str, a: &Audit) {
    let (name, entries, signed) = (a.name, a.entries, a.signed);
    let fx = || a.fixture.get_or_init(|| build(entries, signed));
    // The ids do not depend on the fixture: the signed one has the incremental variants.
    let ids: Vec<&str> = if signed {
        vec![
            "full/policy_off",
            "full/policy_on",
            "from_checkpoint_90k/policy_off",
            "from_checkpoint_90k/policy_on",
            "resume_90k/policy_off",
            "resume_90k/policy_on",
        ]
    } else {
        vec!["full/policy_off", "full/policy_on"]
    };
    note_load(&format!("{group}/{name}"));
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(entries));
    for (i, id) in ids.into_iter().enumerate() {
        g.bench_function(BenchmarkId::new(name, id), |b| {
            let f = fx();
            let (vid, o) = &variants(f)[i];
            assert_eq!(vid, id);
            b.iter(|| run(f, o));
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let raw = [
        Raw::Blake3Payload,
        Raw::Blake3Chain,
        Raw::Sha256Tree,
        Raw::Crc32c,
        Raw::Ed25519Verify,
    ];
    raw_group(&mut c, "raw", &raw, common::wall_now);
    let audits = [
        ("signed_100k", 100_000, true),
        ("unsigned_100k", 100_000, false),
        ("unsigned_1M", 1_000_000, false),
    ]
    .map(|(name, entries, signed)| Audit {
        name,
        entries,
        signed,
        fixture: OnceCell::new(),
    });
    for a in &audits {
        audit(&mut c, "verify", a);
    }
    #[cfg(unix)]
    {
        let mut cpu = Criterion::default()
            .with_measurement(common::ProcessCpu::default())
            .configure_from_args();
        raw_group(&mut cpu, "raw_cpu", &raw, common::cpu_now);
        for a in &audits {
            audit(&mut cpu, "verify_cpu", a);
        }
        cpu.final_summary();
    }
    note_load("verify: done");
    c.final_summary();
}
