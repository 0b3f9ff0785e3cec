//! `provledger demo`: a sample ledger of an AI-assisted credit decision, built and verified
//! step by step, for newcomers.
//!
//! Layout: `DIR/keys/{operator,reviewer,approver}.key` (outside the ledger) and `DIR/ledger`.
//! Each step is one function; later steps (checkpoint, inclusion proof, policy report) slot in
//! after [`verify_ledger`].

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use provledger::hash::derive;
use provledger::{
    verify, Digest, Draft, Genesis, Ledger, Options, PrincipalType, Role, SigningKey, TrustAnchor, TrustAnchorKey,
};

use crate::cli::DemoArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output;

/// The people and services of the scenario, with their keys.
struct Cast {
    operator: SigningKey,
    reviewer: SigningKey,
    approver: SigningKey,
}

const OPERATOR_ID: &str = "credit-limit-service";
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

/// Builds the demo; exit 0 only if the ledger verified.
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
    let mut ledger = create_ledger(&ledger_dir, &cast, &mut steps)?;
    append_decision(&mut ledger, &cast, &mut steps)?;
    drop(ledger); // release the writer lock; verification reads the files afresh
    let ok = verify_ledger(&ledger_dir, &cast, &mut steps)?;
    try_it(&ledger_dir, &cast)?;
    Ok(if ok { 0 } else { EXIT_FAILED })
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
        reviewer: SigningKey::generate()?,
        approver: SigningKey::generate()?,
    };
    steps.step(&format!(
        "Generated three Ed25519 keys in {} (mode 0600)",
        keys.display()
    ))?;
    for (name, who, key) in [
        ("operator", OPERATOR_ID, &cast.operator),
        ("reviewer", REVIEWER_ID, &cast.reviewer),
        ("approver", APPROVER_ID, &cast.approver),
    ] {
        key.save(&keys.join(format!("{name}.key")))?;
        Steps::detail(&format!("{name:<9} {who:<22} key id {}", key.key_id()))?;
    }
    Ok(cast)
}

fn create_ledger(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<Ledger, CliError> {
    let person = |key: &SigningKey, id: &str, role| TrustAnchorKey {
        public_key: key.verifying_key().to_bytes(),
        principal_id: id.into(),
        principal_type: PrincipalType::Person,
        roles: vec![role],
    };
    let genesis = Genesis {
        name: "credit-decisions".into(),
        anchors: vec![
            TrustAnchorKey::operator(&cast.operator.verifying_key(), OPERATOR_ID),
            person(&cast.reviewer, REVIEWER_ID, Role::Reviewer),
            person(&cast.approver, APPROVER_ID, Role::Approver),
        ],
    };
    let ledger = Ledger::create_with_genesis(dir, &cast.operator, &genesis, Options::default())?;
    steps.step(&format!("Created ledger \"credit-decisions\" in {}", dir.display()))?;
    Steps::detail(&format!("ledger id {}", ledger.ledger_id()))?;
    Steps::detail(&format!(
        "entry 0 (genesis) enrolls the three keys; hash {}",
        ledger.head()
    ))?;
    Ok(ledger)
}

/// Appends one JSON entry and reports it; returns its hash for later references.
fn record(ledger: &mut Ledger, draft: Draft, what: &str, steps: &mut Steps) -> Result<Digest, CliError> {
    let receipt = ledger.append(draft)?;
    steps.step(&format!("Appended entry {}: {what}", receipt.seq))?;
    Steps::detail(&format!(
        "entry hash {} (durable: {})",
        receipt.entry_hash, receipt.durable
    ))?;
    Ok(receipt.entry_hash)
}

fn json_draft(payload: &Value, refs: Vec<Digest>) -> Result<Draft, CliError> {
    Ok(Draft::application("application/json", serde_json::to_vec(payload)?).with_refs(refs))
}

/// The decision path: AI output, human review, approval, execution. Each entry references
/// the entries it relies on by hash; reviewer and approver co-sign theirs.
fn append_decision(ledger: &mut Ledger, cast: &Cast, steps: &mut Steps) -> Result<(), CliError> {
    let what = "AI output: the model recommends raising customer C-10442's limit from 5,000 to 8,000 EUR";
    let ai = record(ledger, json_draft(&ai_output(), vec![])?, what, steps)?;
    let draft = json_draft(&review(ai), vec![ai])?.cosigned_by(&cast.reviewer);
    let what = format!("human review by {REVIEWER_ID} of entry 1 (co-signed by the reviewer)");
    let rev = record(ledger, draft, &what, steps)?;
    let draft = json_draft(&approval(ai, rev), vec![ai, rev])?.cosigned_by(&cast.approver);
    let what = format!("approval by {APPROVER_ID}, referencing entries 1 and 2 (co-signed by the approver)");
    let appr = record(ledger, draft, &what, steps)?;
    let what = "execution: the limit was set to 8,000 EUR, relying on the approval in entry 3";
    record(ledger, json_draft(&execution(appr), vec![appr])?, what, steps)?;
    Ok(())
}

fn review(ai: Digest) -> Value {
    json!({
        "event": "human_review",
        "reviewer": REVIEWER_ID,
        "reviewed_entry": ai.to_hex(),
        "verdict": "agree",
        "notes": "income and repayment history checked against payslips and statements",
    })
}

fn approval(ai: Digest, review: Digest) -> Value {
    json!({
        "event": "approval",
        "approver": APPROVER_ID,
        "decision": "approved",
        "proposal_entry": ai.to_hex(),
        "review_entry": review.to_hex(),
        "scope": "credit limit of customer C-10442 up to 8,000 EUR",
        "expires": "2030-01-01T00:00:00Z",
    })
}

fn execution(approval: Digest) -> Value {
    json!({
        "event": "execution",
        "action": "set_credit_limit",
        "customer": "C-10442",
        "old_limit": 5000,
        "new_limit": 8000,
        "currency": "EUR",
        "relied_on": [approval.to_hex()],
        "system": OPERATOR_ID,
        "environment": "production",
    })
}

/// An AI model's recommendation, described with OpenTelemetry `GenAI` attribute names.
fn ai_output() -> Value {
    let prompt = b"Customer C-10442 requests a credit limit increase from 5000 EUR to 8000 EUR. ...";
    let config = b"temperature=0;max_tokens=512;system_prompt=credit-policy-v7";
    json!({
        "event": "ai_output",
        "task": "credit_limit_review",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-demo-8f3a",
        "config_digest": derive("provledger demo config", &[config]).to_hex(),
        "input_digest": derive("provledger demo input", &[prompt]).to_hex(),
        "recommendation": {
            "action": "increase_credit_limit", "customer": "C-10442",
            "from": 5000, "to": 8000, "currency": "EUR", "confidence": 0.87,
            "rationale": "stable income for 36 months, utilisation 92%, no missed payments",
        },
        "decision_boundary": "human_approval_required",
        "environment": "production",
    })
}

/// Verifies the ledger against the operator's public key, as an auditor would.
fn verify_ledger(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<bool, CliError> {
    let anchor = TrustAnchor::PublicKey(cast.operator.verifying_key());
    let report = verify(dir, &anchor)?;
    steps.step("Verified the ledger against the operator's public key")?;
    Steps::detail(&format!("trusted: {}", report.trusted))?;
    Steps::detail(&format!(
        "checked {} entries: chain links, payload commitments, and every signature by a genesis-enrolled key",
        report.entries
    ))?;
    Steps::detail(&format!("head: {}", report.head))?;
    if let Some(t) = &report.torn_tail {
        Steps::detail(&format!("note: {}", super::verify::torn_line(t)))?;
    }
    match &report.failure {
        None => Steps::detail("verification passed: OK")?,
        Some(f) => Steps::detail(&format!("verification FAILED: {f}"))?,
    }
    Ok(report.is_ok())
}

/// What to run next.
fn try_it(dir: &Path, cast: &Cast) -> Result<(), CliError> {
    let d = dir.display();
    output::line("")?;
    output::line("Try it yourself:")?;
    output::line(&format!("  provledger show {d}"))?;
    output::line(&format!(
        "  provledger verify {d} --trust {}",
        cast.operator.verifying_key()
    ))?;
    output::line("Then change one byte of a file in segments/ and verify again:")?;
    output::line("verify names the entry and the check that failed, and exits 1.")
}
