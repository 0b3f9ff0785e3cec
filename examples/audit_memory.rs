//! Memory of a full policy audit, at two or more ledger sizes: the peak resident memory of
//! `verify_opts` with policy checks on must not grow with the ledger (DESIGN §7, "memory flat
//! and bounded").
//!
//! ```sh
//! cargo run --release --example audit_memory -- 1000000 2000000
//! ```
//!
//! For each size it builds a ledger in a temporary directory (application events of ~250 B,
//! unsigned, and every 1,000 entries a gated decision: a co-signed production proposal that
//! changes permissions, a co-signed approval by another person, an execution; a signed
//! checkpoint every ~100,000 entries), then verifies it in a fresh process (this
//! example, run again with `--audit DIR LEN`) with policy on against the operator's key,
//! asserts the ledger is compliant, and prints that process's peak resident memory (`VmHWM`):
//! what an auditor's process needs. Linux only for the memory figure; elsewhere it prints the
//! time only.
//!
//! To audit one ledger several times (timings on a busy machine, policy on and off):
//!
//! ```sh
//! cargo run --release --example audit_memory -- --build DIR 10000000   # builds into DIR, kept
//! target/release/examples/audit_memory --audit DIR 10000001            # one audit, policy on
//! target/release/examples/audit_memory --audit-integrity DIR 10000001  # the same, policy off
//! ```

use std::path::Path;
use std::time::Instant;

use provledger::record::{
    Approval, Autonomy, DecisionBoundary, Environment, Execution, ImpactFlags, Policy, PrincipalType, Proposal, Record,
    Role, TrustAnchorKey,
};
use provledger::storage::StdBackend;
use provledger::{verify_opts, Draft, Durability, Genesis, Ledger, Options, SigningKey, TrustAnchor, VerifyOptions};

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn anchor(key: &SigningKey, id: &str, principal_type: PrincipalType, roles: Vec<Role>) -> TrustAnchorKey {
    TrustAnchorKey {
        public_key: key.verifying_key().to_bytes(),
        principal_id: id.into(),
        principal_type,
        roles,
    }
}

/// Builds a ledger of `n` entries (at least) in `dir`: see the file's documentation.
fn build(dir: &Path, n: u64, operator: &SigningKey, requester: &SigningKey, approver: &SigningKey) -> u64 {
    let genesis = Genesis {
        name: "audit-memory".into(),
        anchors: vec![
            anchor(
                operator,
                "svc-ledger",
                PrincipalType::Service,
                vec![Role::Admin, Role::Operator],
            ),
            anchor(requester, "alice", PrincipalType::Person, vec![Role::Requester]),
            anchor(approver, "bob", PrincipalType::Person, vec![Role::Approver]),
        ],
        policy: Policy::default(),
    };
    let opts = Options::default()
        .durability(Durability::Buffered)
        .segment_size(64 << 20);
    let ledger = Ledger::create_with_genesis(dir, operator, &genesis, opts).expect("create ledger");
    let pad = "x".repeat(220);
    while ledger.len() < n {
        let events = (0..997)
            .map(|i| {
                let body = format!("{{\"event\":{i},\"pad\":\"{pad}\"}}");
                Draft::application("application/json", body.into_bytes()).without_position_signature()
            })
            .collect();
        ledger.append_batch(events).expect("append events");
        let proposal = Record::Proposal(Proposal {
            action: "grant role db-admin to svc-reporting".into(),
            action_type: "permission.grant".into(),
            attributes: Default::default(),
            boundary: DecisionBoundary::HumanApprovalRequired,
            autonomy: Autonomy::Assistance,
            environment: Environment::Production,
            impact: ImpactFlags {
                permission_change: true,
                ..ImpactFlags::default()
            },
            evidence: vec![],
            rationale: "quarterly access review".into(),
            ai_outputs: vec![],
        });
        let p = ledger
            .append(Draft::record(&proposal).expect("encode").cosigned_by(requester))
            .expect("append proposal");
        let approval = Record::Approval(Approval {
            proposal: p.entry_hash,
            scope: String::new(),
            expires_at: None,
        });
        let a = ledger
            .append(Draft::record(&approval).expect("encode").cosigned_by(approver))
            .expect("append approval");
        let execution = Record::Execution(Execution {
            proposal: p.entry_hash,
            approvals: vec![a.entry_hash],
            action_taken: "role granted".into(),
            outcome: String::new(),
        });
        ledger
            .append(Draft::record(&execution).expect("encode"))
            .expect("append execution");
        if ledger.len() % 100_000 < 1_000 {
            ledger.checkpoint().expect("checkpoint");
        }
    }
    ledger.checkpoint().expect("checkpoint");
    ledger.len()
}

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The auditor's side, run in a process of its own so that its peak memory is the audit's:
/// verify `dir` (with policy on unless `policy` is false), assert it is compliant with `len`
/// entries, print one line.
fn audit(dir: &Path, len: u64, policy: bool) {
    let operator = key(1);
    let options = VerifyOptions::default().policy(policy);
    let t = Instant::now();
    let report = verify_opts(
        &StdBackend,
        dir,
        &TrustAnchor::PublicKey(operator.verifying_key()),
        &options,
    )
    .expect("verify");
    let took = t.elapsed();
    assert!(
        report.is_compliant() && report.policy_checked == policy,
        "{:?} {:?}",
        report.failure,
        report.violations.first()
    );
    assert_eq!(report.entries, len);
    let memory = peak_rss_kib().map_or("peak RSS unavailable (needs Linux /proc)".into(), |p| {
        format!("peak RSS of the verifying process {:.1} MiB", p as f64 / 1024.0)
    });
    let what = if policy {
        "verify --policy"
    } else {
        "verify (integrity only)"
    };
    println!(
        "{len} entries, {} checkpoints: {what} {took:.2?} ({:.0} entries/s), {memory}",
        report.checkpoints_verified,
        len as f64 / took.as_secs_f64(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (operator, requester, approver) = (key(1), key(2), key(3));
    if let [flag, dir, n] = &args[..] {
        let n = n.replace('_', "").parse().expect("an entry count");
        match flag.as_str() {
            "--audit" => return audit(Path::new(dir), n, true),
            "--audit-integrity" => return audit(Path::new(dir), n, false),
            "--build" => {
                let len = build(Path::new(dir), n, &operator, &requester, &approver);
                return println!("built {len} entries in {dir}");
            }
            _ => {}
        }
    }
    let sizes: Vec<u64> = args
        .iter()
        .map(|s| s.replace('_', "").parse().expect("sizes are entry counts"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    let me = std::env::current_exe().expect("own path");
    for n in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        let len = build(dir.path(), n, &operator, &requester, &approver);
        println!("built {len} entries in {:.1?}", t.elapsed());
        let status = std::process::Command::new(&me)
            .arg("--audit")
            .arg(dir.path())
            .arg(len.to_string())
            .status()
            .expect("run the audit process");
        assert!(status.success(), "audit of {len} entries failed");
    }
}
