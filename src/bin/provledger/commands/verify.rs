//! `provledger verify`: check a ledger against a trust anchor the auditor supplies.

use serde_json::{json, Value};

use provledger::storage::TornTail;
use provledger::{Failure, TrustAnchor, VerifyReport};

use crate::cli::VerifyArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output;

/// Runs verification; exit 0 when every check passed, 1 when a failure was found.
pub fn run(args: &VerifyArgs) -> Result<u8, CliError> {
    let anchor = match (args.trust, args.trust_genesis) {
        (Some(key), None) => TrustAnchor::PublicKey(key),
        (None, Some(hash)) => TrustAnchor::GenesisHash(hash),
        // clap's "anchor" group requires exactly one of the two.
        _ => return Err(CliError::usage("give exactly one of --trust or --trust-genesis")),
    };
    let report = provledger::verify(&args.dir, &anchor)?;
    if args.json {
        output::json(&report_json(&report))?;
    } else {
        print_human(&report)?;
    }
    Ok(if report.is_ok() { 0 } else { EXIT_FAILED })
}

/// The single JSON object `verify --json` prints (docs/CLI.md documents its shape).
pub fn report_json(r: &VerifyReport) -> Value {
    json!({
        "ok": r.is_ok(),
        "entries": r.entries,
        "ledger_id": r.ledger_id.map(|id| id.to_string()),
        "head": r.head.to_hex(),
        "trusted": r.trusted,
        "redacted": r.redacted,
        "torn_tail": r.torn_tail.as_ref().map(torn_json),
        "failure": r.failure.as_ref().map(failure_json),
    })
}

fn torn_json(t: &TornTail) -> Value {
    json!({
        "file": t.file.display().to_string(),
        "offset": t.offset,
        "bytes": t.bytes,
        "reason": t.reason,
    })
}

fn failure_json(f: &Failure) -> Value {
    json!({
        "seq": f.seq,
        "check": f.check.name(),
        "file": f.file.as_ref().map(|p| p.display().to_string()),
        "offset": f.offset,
        "message": f.message,
    })
}

/// A torn tail in words; not a failure.
pub fn torn_line(t: &TornTail) -> String {
    format!(
        "incomplete final record at {} offset {} ({}): a crash or a writer racing; not verified ({})",
        t.file.display(),
        t.offset,
        output::bytes(t.bytes),
        t.reason
    )
}

fn print_human(r: &VerifyReport) -> Result<(), CliError> {
    output::line(&format!("trusted:  {}", r.trusted))?;
    if let Some(id) = r.ledger_id {
        output::line(&format!("ledger:   {id}"))?;
    }
    match r.entries {
        0 => output::line("verified: no entries")?,
        n => {
            output::line(&format!("verified: {n} entries (0 to {})", n - 1))?;
            output::line(&format!("head:     {} (entry {})", r.head, n - 1))?;
        }
    }
    if !r.redacted.is_empty() {
        let seqs: Vec<String> = r.redacted.iter().map(u64::to_string).collect();
        output::line(&format!(
            "redacted: entries {} (payload erased; commitments still hold)",
            seqs.join(", ")
        ))?;
    }
    if let Some(t) = &r.torn_tail {
        output::line(&format!("note:     {}", torn_line(t)))?;
    }
    match &r.failure {
        None => output::line("result:   OK, every check passed (see docs/CLI.md for what this proves)"),
        Some(f) => output::line(&format!("result:   FAILED: {f}")),
    }
}
