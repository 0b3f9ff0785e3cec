//! `provledger demo`: a sample ledger of an AI-assisted, human-approved permission change,
//! built and audited step by step, for newcomers.
//!
//! Layout: `DIR/keys/*.key` (outside the ledger), `DIR/ledger`, and `DIR/proofs/*.json`. Each
//! step is one function: the cast and the decision path are in [`scenario`], checkpoints and
//! proofs in [`proofs`], erasure, the planted violation and the policy audit in [`audit`].

mod audit;
mod proofs;
mod scenario;

use std::path::{Path, PathBuf};

use provledger::record::{ActionClass, DecisionBoundary, ImpactFlags, Policy, Requirements, Threshold};
use provledger::{Digest, Draft, Genesis, Ledger, Options, SigningKey, TrustAnchorKey};

use crate::cli::DemoArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output;
use proofs::ProofFiles;

/// The people, agents and services of the scenario, with their keys.
struct Cast {
    /// The change service: the genesis anchor (admin and operator).
    operator: SigningKey,
    /// The AI assistant that drafts access changes.
    agent: SigningKey,
    /// The support lead who requests the change.
    requester: SigningKey,
    /// The security engineer who reviews the AI's draft.
    reviewer: SigningKey,
    /// The access owner who approves.
    approver: SigningKey,
}

const OPERATOR_ID: &str = "iam-change-service";
const AGENT_ID: &str = "access-assistant";
const REQUESTER_ID: &str = "rita@bank.example";
const REVIEWER_ID: &str = "alice@bank.example";
const APPROVER_ID: &str = "bob@bank.example";

/// Numbered progress lines.
struct Steps(u32);

impl Steps {
    fn step(&mut self, text: &str) -> Result<(), CliError> {
        self.0 += 1;
        output::line(&format!("{}. {text}", self.0))
    }

    fn detail(text: &str) -> Result<(), CliError> {
        output::line(&format!("   {text}"))
    }
}

/// Builds the demo; exit 0 only if every integrity check and proof passed and the policy
/// audit found exactly the planted violation.
pub fn run(args: &DemoArgs) -> Result<u8, CliError> {
    let root = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
            dir.clone()
        }
        None => fresh_temp_dir()?,
    };
    let mut steps = Steps(0);
    steps.step(&format!("Working in {} (kept after the demo)", root.display()))?;
    let cast = make_keys(&root.join("keys"), &mut steps)?;
    let ledger_dir = root.join("ledger");
    let ledger = create_ledger(&ledger_dir, &cast, &mut steps)?;
    let story = scenario::append_decision(&ledger, &cast, &mut steps)?;
    drop(ledger); // release the writer lock; verification reads the files afresh
    if !audit::verify_compliant(&ledger_dir, &cast, &mut steps)? {
        return Ok(EXIT_FAILED); // never checkpoint a ledger that did not verify
    }
    let files = proofs::checkpoints_and_proofs(&ledger_dir, &root.join("proofs"), &cast, &story, &mut steps)?;
    let planted = audit::plant_violation(&ledger_dir, &cast, &mut steps)?;
    let audited = audit::final_audit(&ledger_dir, &cast, &story, &planted, &mut steps)?;
    try_it(&ledger_dir, &cast, &files, &story)?;
    Ok(if audited && files.ok { 0 } else { EXIT_FAILED })
}

/// A new directory under the system temp dir, unique by process id and time.
fn fresh_temp_dir() -> Result<PathBuf, CliError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("provledger-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn make_keys(keys: &Path, steps: &mut Steps) -> Result<Cast, CliError> {
    std::fs::create_dir_all(keys).map_err(|e| CliError::usage(format!("{}: {e}", keys.display())))?;
    let cast = Cast {
        operator: SigningKey::generate()?,
        agent: SigningKey::generate()?,
        requester: SigningKey::generate()?,
        reviewer: SigningKey::generate()?,
        approver: SigningKey::generate()?,
    };
    steps.step(&format!(
        "Generated five Ed25519 keys in {} (mode 0600)",
        keys.display()
    ))?;
    for (name, who, key) in [
        ("operator", OPERATOR_ID, &cast.operator),
        ("agent", AGENT_ID, &cast.agent),
        ("requester", REQUESTER_ID, &cast.requester),
        ("reviewer", REVIEWER_ID, &cast.reviewer),
        ("approver", APPROVER_ID, &cast.approver),
    ] {
        key.save(&keys.join(format!("{name}.key")))?;
        Steps::detail(&format!("{name:<9} {who:<20} key id {}", key.key_id()))?;
    }
    Ok(cast)
}

/// Name of the action class that gates permission grants.
pub const GRANTS_CLASS: &str = "permission grants";
/// Name of the action class that gates raising refund limits to 1,000 EUR or more.
pub const REFUNDS_CLASS: &str = "refund limits";

/// The demo's policy: every rule, one approval, and two action classes. Permission grants
/// need a human approval that follows a person's review of the evidence, and must cite the AI
/// output they came from; raising a refund limit to 1,000 EUR or more needs a human approval
/// after a review — whatever the proposer declares.
pub fn demo_policy() -> Policy {
    let gated = |reviews| Requirements {
        boundary: DecisionBoundary::HumanApprovalRequired,
        min_approvals: 1,
        reviews,
        ..Requirements::default()
    };
    Policy {
        classes: vec![
            ActionClass {
                name: GRANTS_CLASS.into(),
                actions: vec!["permission.grant.*".into()],
                impact: ImpactFlags::default(),
                threshold: None,
                require: Requirements {
                    evidence: true,
                    cite_ai_outputs: true,
                    ..gated(1)
                },
            },
            ActionClass {
                name: REFUNDS_CLASS.into(),
                actions: vec!["refund.limit".into()],
                impact: ImpactFlags::default(),
                threshold: Some(Threshold {
                    attribute: "amount_eur".into(),
                    at_least: 1000,
                }),
                require: gated(1),
            },
        ],
        ..Policy::default()
    }
}

/// The genesis trusts only the operator service (admin and operator); everyone else is
/// enrolled by ledger entries, so the ledger itself records who may do what.
fn create_ledger(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<Ledger, CliError> {
    let genesis = Genesis {
        policy: demo_policy(),
        name: "access-decisions".into(),
        anchors: vec![TrustAnchorKey::operator(&cast.operator.verifying_key(), OPERATOR_ID)],
    };
    let ledger = Ledger::create_with_genesis(dir, cast.operator.clone(), &genesis, Options::default())?;
    steps.step(&format!("Created ledger \"access-decisions\" in {}", dir.display()))?;
    Steps::detail(&format!("ledger id {}", ledger.ledger_id()))?;
    Steps::detail(&format!(
        "entry 0 (genesis) trusts {OPERATOR_ID} (admin + operator) and records the policy: all {} rules, 1 approval, and two action classes:",
        genesis.policy.rules.len()
    ))?;
    Steps::detail(&format!(
        "  '{GRANTS_CLASS}' (action types permission.grant.*): human approval after a person's review of the evidence; the AI output it came from must be cited"
    ))?;
    Steps::detail(&format!(
        "  '{REFUNDS_CLASS}' (action type refund.limit, amount_eur >= 1000): human approval after a person's review"
    ))?;
    Steps::detail("  what a proposal declares can only make this stricter")?;
    Ok(ledger)
}

/// Appends one entry and reports it; returns its hash for later references.
fn record(ledger: &Ledger, draft: Draft, what: &str, steps: &mut Steps) -> Result<(u64, Digest), CliError> {
    let receipt = ledger.append(draft)?;
    steps.step(&format!("Appended entry {}: {what}", receipt.seq))?;
    Steps::detail(&format!(
        "entry hash {} (durable: {})",
        receipt.entry_hash, receipt.durable
    ))?;
    Ok((receipt.seq, receipt.entry_hash))
}

/// How to run this very binary again: its path, as the shell takes it.
fn this_binary() -> String {
    let path = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "provledger".into());
    if path.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c)) {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

/// What to run next: commands that work as printed (they call this binary by its path).
fn try_it(dir: &Path, cast: &Cast, files: &ProofFiles, story: &scenario::Story) -> Result<(), CliError> {
    let (d, key, bin) = (dir.display(), cast.operator.verifying_key(), this_binary());
    output::line("")?;
    output::line(&format!(
        "Try it yourself (this binary is {bin}; `cargo install --path .` puts `provledger` on your PATH):"
    ))?;
    output::line(&format!("  {bin} show {d} --seq {} --json", story.approval_seq))?;
    output::line(&format!("  {bin} policy show {d}"))?;
    output::line(&format!("  {bin} verify {d} --trust {key}"))?;
    output::line(&format!(
        "  {bin} verify {d} --trust {key} --policy   # exits 1: it names the planted violations"
    ))?;
    for file in [&files.inclusion, &files.consistency] {
        output::line(&format!("  {bin} verify-proof {} --trust {key}", file.display()))?;
    }
    output::line("Then change one byte of a file in segments/ and verify again:")?;
    output::line("verify names the entry and the check that failed, and exits 1.")?;
    output::line("Change one hex digit in a proof file: verify-proof says INVALID and exits 1.")
}
