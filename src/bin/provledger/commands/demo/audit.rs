//! The demo's audit steps: integrity and policy verification as an auditor runs it, erasure of
//! personal data, and one deliberately planted violation that the policy audit must name.

use std::path::Path;

use provledger::record::{
    Approval, Autonomy, DecisionBoundary, Environment, Execution, ImpactFlags, Proposal, Record, RuleId,
};
use provledger::storage::StdBackend;
use provledger::{verify_opts, Ledger, Options, TrustAnchor, VerifyOptions, VerifyReport};

use super::scenario::{Story, CUSTOMER_EMAIL};
use super::{record, Cast, Steps, AGENT_ID, APPROVER_ID};
use crate::commands::verify::{torn_line, violation_count, violation_line};
use crate::error::CliError;
use crate::records;

/// The entries (sequence numbers) of the planted violations.
pub struct Planted {
    /// The AI's proposal, labelled `ai_may_assist` though its class needs a human approval.
    pub proposal: u64,
    /// The approval given without the review the class requires.
    pub approval: u64,
    /// Its execution.
    pub execution: u64,
}

impl Planted {
    /// The violations the final audit must report, exactly.
    fn expected(&self) -> Vec<(RuleId, Vec<u64>)> {
        let (p, a, e) = (self.proposal, self.approval, self.execution);
        vec![
            (RuleId::BoundaryBelowClass, vec![p]),
            (RuleId::ReviewRequired, vec![p, a]),
            (RuleId::ApprovalRequired, vec![p, e]),
        ]
    }
}

/// Verifies integrity and policy against the operator's public key, as an auditor would.
fn audit(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<VerifyReport, CliError> {
    let anchor = TrustAnchor::PublicKey(cast.operator.verifying_key());
    let opts = VerifyOptions::default().policy(true);
    let report = verify_opts(&StdBackend, dir, &anchor, &opts)?;
    steps.step("Verified the whole ledger against the operator's public key, with the policy rules")?;
    Steps::detail(&format!("trusted: {}", report.trusted))?;
    Steps::detail(&format!(
        "checked {} entries: chain links, payload commitments, every signature by a key enrolled (and not revoked) at that point, with the role its entry kind needs",
        report.entries
    ))?;
    Steps::detail(&format!("head: {}", report.head))?;
    if report.checkpoints_verified > 0 {
        Steps::detail(&format!(
            "checkpoints verified: {} (signatures, and each root recomputed from the entries)",
            report.checkpoints_verified
        ))?;
        Steps::detail(&format!("Merkle root: {}", report.root))?;
    }
    if !report.redacted.is_empty() {
        Steps::detail(&format!(
            "redacted entries: {:?} (payload erased by a recorded redaction; commitment still verifies)",
            report.redacted
        ))?;
    }
    if let Some(t) = &report.torn_tail {
        Steps::detail(&format!("note: {}", torn_line(t)))?;
    }
    match &report.failure {
        None => Steps::detail("integrity verification passed: OK")?,
        Some(f) => Steps::detail(&format!("integrity verification FAILED: {f}"))?,
    }
    print_violations(&report)?;
    Ok(report)
}

fn print_violations(r: &VerifyReport) -> Result<(), CliError> {
    if r.failure.is_some() {
        return Ok(());
    }
    if r.violations.is_empty() && r.violations_dropped == 0 {
        return Steps::detail("policy: no violations of the rules in force");
    }
    Steps::detail(&format!(
        "policy: {} (rule  entries  what happened):",
        violation_count(r)
    ))?;
    for v in &r.violations {
        Steps::detail(&format!("  {}", violation_line(v)))?;
    }
    Ok(())
}

/// The first audit: the decision path must be intact and compliant.
pub fn verify_compliant(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<bool, CliError> {
    Ok(audit(dir, cast, steps)?.is_compliant())
}

/// Erases the support ticket's payload (the customer's email) by an admin-signed redaction,
/// then searches every file of the ledger for the address.
pub fn erase_ticket(ledger: &Ledger, story: &Story, steps: &mut Steps) -> Result<(), CliError> {
    let receipt = ledger.redact(story.ticket_seq, "GDPR art. 17 erasure request ER-5521")?;
    steps.step(&format!(
        "Erased the payload of entry {} (the ticket with {CUSTOMER_EMAIL}) at the customer's request",
        story.ticket_seq
    ))?;
    Steps::detail(&format!(
        "the redaction is itself recorded: entry {}, signed by the admin key",
        receipt.seq
    ))?;
    let found = files_containing(ledger.dir(), CUSTOMER_EMAIL.as_bytes())?;
    if found.is_empty() {
        Steps::detail(&format!(
            "searched every file under {}: the address is no longer there",
            ledger.dir().display()
        ))
    } else {
        Steps::detail(&format!("UNEXPECTED: the address is still in {found:?}"))
    }
}

/// Files under `dir` (recursively, links not followed) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Result<Vec<String>, CliError> {
    // The demo's own ledger: segments stay far below the default segment size.
    const MAX_FILE: u64 = 64 << 20;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let kind = std::fs::symlink_metadata(&path)?.file_type();
        if kind.is_dir() {
            found.extend(files_containing(&path, needle)?);
        } else if kind.is_file()
            && crate::output::read_bounded(&path, MAX_FILE)?
                .windows(needle.len())
                .any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    Ok(found)
}

/// PLANTED VIOLATIONS: the AI agent proposes raising a refund limit to 5,000 EUR and labels
/// it `ai_may_assist`; the policy's class 'refund limits' says otherwise. The approver approves
/// at once, without the review the class requires, and the change service executes it.
pub fn plant_violation(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<Planted, CliError> {
    let ledger = Ledger::open(dir, cast.operator.clone(), Options::default())?;
    steps.step("PLANTED VIOLATIONS (on purpose, to show what the policy audit catches):")?;
    Steps::detail(&format!(
        "{AGENT_ID} proposes raising tier-2's refund limit to 5,000 EUR and labels it ai_may_assist; {APPROVER_ID} approves at once, with no review; it is executed"
    ))?;
    let proposal = Record::Proposal(Proposal {
        action: "raise refund-issuer limit of support-tier2 to 5,000 EUR".into(),
        action_type: "refund.limit".into(),
        attributes: std::collections::BTreeMap::from([("amount_eur".to_owned(), 5000)]),
        boundary: DecisionBoundary::AiMayAssist,
        autonomy: Autonomy::Autonomy,
        environment: Environment::Production,
        impact: ImpactFlags::default(),
        evidence: Vec::new(),
        rationale: "refund backlog".into(),
        ai_outputs: Vec::new(),
    });
    let draft = records::draft(&proposal, &[])?.cosigned_by(cast.agent.clone());
    let what =
        format!("[planted] proposal by {AGENT_ID}: action type refund.limit, amount_eur 5000, declared ai_may_assist");
    let (proposal_seq, hash) = record(&ledger, draft, &what, steps)?;
    let approval = Record::Approval(Approval {
        proposal: hash,
        scope: "as proposed".into(),
        expires_at: None,
    });
    let draft = records::draft(&approval, &[])?.cosigned_by(cast.approver.clone());
    let what = format!("[planted] approval by {APPROVER_ID} of proposal {proposal_seq}, before anyone reviewed it");
    let (approval_seq, approval_hash) = record(&ledger, draft, &what, steps)?;
    let execution = Record::Execution(Execution {
        proposal: hash,
        approvals: vec![approval_hash],
        action_taken: "limit raised to 5,000 EUR".into(),
        outcome: "applied".into(),
    });
    let what = format!("[planted] execution of proposal {proposal_seq}, citing that approval");
    let (execution_seq, _) = record(&ledger, records::draft(&execution, &[])?, &what, steps)?;
    Ok(Planted {
        proposal: proposal_seq,
        approval: approval_seq,
        execution: execution_seq,
    })
}

/// The final audit. Passes only when integrity verified, the ticket is reported redacted, and
/// the violations are exactly the planted ones: the class gate catches the self-declared
/// boundary, the review requirement catches the hasty approval, and so the execution lacks a
/// valid approval.
pub fn final_audit(
    dir: &Path,
    cast: &Cast,
    story: &Story,
    planted: &Planted,
    steps: &mut Steps,
) -> Result<bool, CliError> {
    let report = audit(dir, cast, steps)?;
    let expected = planted.expected();
    let found: Vec<(RuleId, Vec<u64>)> = report.violations.iter().map(|v| (v.rule, v.seq_numbers())).collect();
    let ok = report.is_ok()
        && found == expected
        && report.violations_dropped == 0
        && report.redacted == [story.ticket_seq]
        && report.redaction_pending.is_empty();
    let names: Vec<&str> = expected.iter().map(|(r, _)| r.id()).collect();
    if ok {
        Steps::detail(&format!(
            "as expected: integrity holds, entry {} is reported redacted, and the only violations are the planted ones: {}",
            story.ticket_seq,
            names.join(", ")
        ))?;
    } else {
        Steps::detail(&format!(
            "UNEXPECTED audit result: wanted only {expected:?}, found {found:?}"
        ))?;
    }
    Ok(ok)
}
