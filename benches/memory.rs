//! Peak memory (RSS) of appending and verifying large ledgers (DESIGN §7, issue 11: "peak
//! memory, append or audit of 1 M: ≤ 32 MiB, flat from 100 k to 10 M"), and one timed run of
//! the audits too long for criterion (signed verification of 1M entries).
//!
//! ```sh
//! cargo bench --no-default-features --bench memory                    # 100k and 1M
//! cargo bench --no-default-features --bench memory -- 100000 10000000 # sizes of your choice
//! cargo bench --no-default-features --bench memory -- unsigned 10000000 # unsigned phases only
//! ```
//!
//! Each phase runs in a fresh child process (this binary re-executed), which reports its own
//! peak resident set (`VmHWM` from `/proc/self/status`, Linux) and CPU time (user + system,
//! `/proc/self/stat`), so a phase's peak is not hidden by an earlier one. Phases, per size N:
//! `idle` (the process doing nothing: the floor to read the others against), `append` (create,
//! `append_batch` of 1,000 unsigned 256-byte entries, Buffered, checkpoint, close), `verify`
//! and `verify_policy` (full `verify_opts`, policy off / on), `append_signed` and
//! `verify_signed` (position-signed entries). Every append, checkpoint, close and verification
//! is checked: a failure panics the child, and the parent panics when a child fails.
//!
//! Without `--bench` (e.g. `cargo test --benches`) it runs once at N = 2,000 as a smoke test.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use provledger::storage::StdBackend;
use provledger::{verify_opts, Durability, Ledger, VerifyOptions};

#[path = "common/mod.rs"]
mod common;
use common::{anchor, assert_verified, drafts, key, load, opts, vm_hwm_kib, BATCH};

const CHILD_ENV: &str = "PROVLEDGER_BENCH_MEMORY_CHILD";
const PHASES: [&str; 6] = [
    "idle",
    "append",
    "verify",
    "verify_policy",
    "append_signed",
    "verify_signed",
];

/// User + system CPU seconds of this process (`/proc/self/stat` fields 14 and 15, in clock
/// ticks of 1/100 s, the Linux USER_HZ).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // `rest` starts at field 3 (state), so field k is f[k - 3].
    f.get(11)
        .zip(f.get(12))
        .map_or(f64::NAN, |(u, s)| (u + s) as f64 / 100.0)
}

/// Appends `n` entries after genesis, then checkpoints and closes.
fn append(dir: &Path, n: u64, signed: bool) {
    let ledger = Ledger::create(dir, key(), "bench", opts(Durability::Buffered)).expect("create ledger");
    let mut done = 0u64;
    while done < n {
        let k = (n - done).min(BATCH as u64) as usize;
        let receipts = ledger.append_batch(drafts(k, done + 1, signed)).expect("append_batch");
        assert_eq!(receipts.len(), k);
        done += k as u64;
    }
    let cp = ledger.checkpoint().expect("checkpoint");
    assert_eq!(cp.tree_size, n + 1);
    ledger.close().expect("close");
}

fn verify(dir: &Path, n: u64, policy: bool) {
    let o = VerifyOptions::default().policy(policy);
    let report = verify_opts(&StdBackend, dir, &anchor(), &o).expect("verify");
    assert_verified(&report, n + 1);
    assert_eq!(report.policy_checked, policy);
    assert!(
        report.violations.is_empty(),
        "no policy violations: {:?}",
        report.violations
    );
}

/// The child: runs one phase and prints `vmhwm_kib cpu_secs wall_secs`.
fn child(spec: &str) {
    let mut it = spec.splitn(3, ' ');
    let (phase, n, dir) = (
        it.next().expect("phase"),
        it.next().and_then(|n| n.parse::<u64>().ok()).expect("entries"),
        Path::new(it.next().expect("dir")),
    );
    let t = Instant::now();
    match phase {
        "idle" => {}
        "append" => append(&dir.join("unsigned"), n, false),
        "append_signed" => append(&dir.join("signed"), n, true),
        "verify" => verify(&dir.join("unsigned"), n, false),
        "verify_policy" => verify(&dir.join("unsigned"), n, true),
        "verify_signed" => verify(&dir.join("signed"), n, false),
        other => panic!("unknown phase {other}"),
    }
    let wall = t.elapsed().as_secs_f64();
    let hwm = vm_hwm_kib().expect("VmHWM in /proc/self/status (Linux)");
    println!("{hwm} {:.2} {wall:.3}", cpu_secs());
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let unsigned_only = args.iter().any(|a| a == "unsigned");
    let mut sizes: Vec<u64> = args.iter().filter_map(|a| a.replace('_', "").parse().ok()).collect();
    if sizes.is_empty() {
        sizes = if bench { vec![100_000, 1_000_000] } else { vec![2_000] };
    }
    let exe = std::env::current_exe().expect("own executable");
    println!("| entries | phase | peak RSS (VmHWM) MiB | wall s | CPU s | entries/s (wall) | load before |");
    println!("|---:|---|---:|---:|---:|---:|---|");
    for n in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        for phase in PHASES {
            if unsigned_only && phase.ends_with("_signed") {
                continue;
            }
            let before = load();
            let out = Command::new(&exe)
                .env(CHILD_ENV, format!("{phase} {n} {}", dir.path().display()))
                .output()
                .expect("run child");
            assert!(
                out.status.success(),
                "phase {phase} at {n} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).expect("utf-8");
            let v: Vec<f64> = text.split_whitespace().map(|x| x.parse().expect("number")).collect();
            let (hwm, cpu, wall) = (v[0], v[1], v[2]);
            let rate = if phase == "idle" {
                "-".to_string()
            } else {
                format!("{:.0}", n as f64 / wall)
            };
            println!(
                "| {n} | {phase} | {:.1} | {wall:.2} | {cpu:.2} | {rate} | {before} |",
                hwm / 1024.0
            );
        }
    }
}
