//! `provledger demo`: a sample ledger of an AI-assisted credit decision, built and verified
//! step by step, for newcomers.
//!
//! Layout: `DIR/keys/{operator,reviewer,approver}.key` (outside the ledger), `DIR/ledger`, and
//! `DIR/proofs/*.json`. Each step is one function: the scenario's entries are in [`scenario`],
//! checkpoints and proofs in [`proofs`].

mod proofs;
mod scenario;

use std::path::{Path, PathBuf};

use serde_json::Value;

use provledger::record::Policy;
use provledger::{
    verify, Digest, Draft, Genesis, Ledger, Options, PrincipalType, Role, SigningKey, TrustAnchor, TrustAnchorKey,
};

use crate::cli::DemoArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output;
use proofs::ProofFiles;

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

/// Builds the demo; exit 0 only if every verification (ledger and proofs) passed.
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
    scenario::append_decision(&mut ledger, &cast, &mut steps)?;
    drop(ledger); // release the writer lock; verification reads the files afresh
    if !verify_ledger(&ledger_dir, &cast, &mut steps)? {
        return Ok(EXIT_FAILED); // never checkpoint a ledger that did not verify
    }
    let files = proofs::checkpoints_and_proofs(&ledger_dir, &root.join("proofs"), &cast, &mut steps)?;
    let ok = verify_ledger(&ledger_dir, &cast, &mut steps)? && files.ok;
    try_it(&ledger_dir, &cast, &files)?;
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
        policy: Policy::default(),
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

/// Verifies the ledger against the operator's public key, as an auditor would.
fn verify_ledger(dir: &Path, cast: &Cast, steps: &mut Steps) -> Result<bool, CliError> {
    let anchor = TrustAnchor::PublicKey(cast.operator.verifying_key());
    let report = verify(dir, &anchor)?;
    steps.step("Verified the whole ledger against the operator's public key")?;
    Steps::detail(&format!("trusted: {}", report.trusted))?;
    Steps::detail(&format!(
        "checked {} entries: chain links, payload commitments, and every signature by a genesis-enrolled key",
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
fn try_it(dir: &Path, cast: &Cast, files: &ProofFiles) -> Result<(), CliError> {
    let (d, key) = (dir.display(), cast.operator.verifying_key());
    output::line("")?;
    output::line("Try it yourself:")?;
    output::line(&format!("  provledger show {d}"))?;
    output::line(&format!("  provledger verify {d} --trust {key}"))?;
    for file in [&files.inclusion, &files.consistency] {
        output::line(&format!("  provledger verify-proof {} --trust {key}", file.display()))?;
    }
    output::line("Then change one byte of a file in segments/ and verify again:")?;
    output::line("verify names the entry and the check that failed, and exits 1.")?;
    output::line("Change one hex digit in a proof file: verify-proof says INVALID and exits 1.")
}
