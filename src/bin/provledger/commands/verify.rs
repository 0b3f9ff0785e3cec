//! `provledger verify`: check a ledger against a trust anchor the auditor supplies.

use std::path::Path;

use serde_json::{json, Value};

use provledger::storage::{StdBackend, TornTail};
use provledger::{Checkpoint, Failure, TrustAnchor, VerifyOptions, VerifyReport, Violation};

use super::witness::WitnessCheck;
use crate::cli::VerifyArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output;

/// Largest checkpoint file `--from-checkpoint` reads (one checkpoint is about 400 bytes).
const MAX_CHECKPOINT_FILE: u64 = 64 << 10;

/// Runs verification; exit 0 when every check passed, 1 when a failure was found.
pub fn run(args: &VerifyArgs) -> Result<u8, CliError> {
    let anchor = match (args.trust, args.trust_genesis) {
        (Some(key), None) => TrustAnchor::PublicKey(key),
        (None, Some(hash)) => TrustAnchor::GenesisHash(hash),
        // clap's "anchor" group requires exactly one of the two.
        _ => return Err(CliError::usage("give exactly one of --trust or --trust-genesis")),
    };
    let saved = args.state.as_deref().map(read_state).transpose()?.flatten();
    let opts = VerifyOptions::default()
        .allow_uncovered_tail(args.allow_uncovered_tail)
        .from_checkpoint(args.from_checkpoint.as_deref().map(read_checkpoint).transpose()?)
        .resume(saved)
        .keep_state(args.state.is_some())
        .policy(args.policy);
    // A live count on a terminal (stderr), never in JSON mode or when stderr is redirected.
    let bar = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} verifying: {human_pos} entries ({per_sec}, {elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let opts = match &bar {
        Some(b) => {
            let b = b.clone();
            opts.on_progress(move |n| b.set_position(n))
        }
        None => opts,
    };
    #[cfg(feature = "object-store")]
    if args.cache.is_some() && super::remote_url(&args.dir).is_none() {
        return Err(CliError::usage("--cache applies to a ledger read from a URL"));
    }
    let report = match super::remote_url(&args.dir) {
        #[cfg(feature = "object-store")]
        Some(url) => provledger::remote::Remote::from_url(url)
            .and_then(|r| match &args.cache {
                Some(dir) => r.with_cache(dir),
                None => Ok(r),
            })
            .map_err(CliError::from)
            .and_then(|r| Ok(provledger::remote::verify_remote(&r, &anchor, &opts)?)),
        #[cfg(not(feature = "object-store"))]
        Some(url) => Err(CliError::usage(format!(
            "{url}: this build has no object-store support (the `object-store` feature)"
        ))),
        None => provledger::verify_opts(&StdBackend, &args.dir, &anchor, &opts).map_err(CliError::from),
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report?;
    let state_saved = match (&args.state, &report.state) {
        (Some(path), Some(state)) if report.is_ok() => {
            write_state(path, state)?;
            true
        }
        _ => false,
    };
    let witnessed = match (&args.note, args.min_witnesses) {
        (Some(note), Some(min)) => Some(WitnessCheck::run(
            &args.witnesses,
            min,
            note,
            report.latest_checkpoint.as_ref(),
        )?),
        _ => None,
    };
    if args.json {
        let mut j = report_json(&report);
        if let Some(obj) = j.as_object_mut() {
            if let Some(w) = &witnessed {
                obj.insert("witnesses".into(), w.json());
            }
            if args.state.is_some() {
                obj.insert("state_saved".into(), state_saved.into());
            }
        }
        output::json(&j)?;
    } else {
        print_human(&report, witnessed.as_ref())?;
        if let Some(path) = args.state.as_ref().filter(|_| state_saved) {
            output::line(&format!(
                "state:    saved to {} (the next `verify --state` reads only what follows entry {})",
                path.display(),
                report
                    .state
                    .as_ref()
                    .map_or(0, provledger::VerifierState::size)
                    .saturating_sub(1)
            ))?;
        }
    }
    let witnesses_ok = witnessed.as_ref().is_none_or(WitnessCheck::ok);
    Ok(if passed(&report) && witnesses_ok {
        0
    } else {
        EXIT_FAILED
    })
}

/// Integrity verified and, when the policy was evaluated, no rule violated.
pub fn passed(r: &VerifyReport) -> bool {
    if r.policy_checked {
        r.is_compliant()
    } else {
        r.is_ok()
    }
}

/// Reads a saved verification state; `None` if the file does not exist (the first run).
fn read_state(path: &Path) -> Result<Option<provledger::VerifierState>, CliError> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = output::read_bounded(path, provledger::VerifierState::MAX_LEN as u64)?;
    provledger::VerifierState::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// Replaces the state file durably: a temporary file beside it, synced, renamed over it.
fn write_state(path: &Path, state: &provledger::VerifierState) -> Result<(), CliError> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(state.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::usage(format!("{}: cannot save the verification state: {e}", path.display()))
    })
}

/// Reads a checkpoint JSON file as printed by `checkpoint --json`.
fn read_checkpoint(path: &Path) -> Result<Checkpoint, CliError> {
    let bytes = output::read_bounded(path, MAX_CHECKPOINT_FILE)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!(
            "{}: not a checkpoint (expected the JSON `provledger checkpoint --json` prints): {e}",
            path.display()
        ))
    })
}

/// The single JSON object `verify --json` prints (docs/CLI.md documents its shape).
pub fn report_json(r: &VerifyReport) -> Value {
    json!({
        "ok": r.is_ok(),
        "entries": r.entries,
        "ledger_id": r.ledger_id.map(|id| id.to_string()),
        "head": r.head.to_hex(),
        "root": r.root.to_hex(),
        "trusted": r.trusted,
        "redacted": r.redacted,
        "checkpoints_verified": r.checkpoints_verified,
        "latest_checkpoint": r.latest_checkpoint.and_then(|c| serde_json::to_value(c).ok()),
        "unsigned_covered": r.unsigned_covered,
        "uncovered_tail": r.uncovered_tail,
        "tree_missing_nodes": r.tree_missing_nodes,
        "verified_from": r.verified_from,
        "resumed_from": r.resumed_from,
        "torn_tail": r.torn_tail.as_ref().map(torn_json),
        "failure": r.failure.as_ref().map(failure_json),
        "policy_checked": r.policy_checked,
        "compliant": r.policy_checked.then(|| r.is_compliant()),
        "violations": r.violations.iter().map(violation_json).collect::<Vec<_>>(),
        "violations_dropped": r.violations_dropped,
        "policy_in_force": r.policy_in_force,
        "redaction_pending": r.redaction_pending,
    })
}

/// A violation as JSON: `{"rule":…,"message":…,"seqs":[{"seq":N,"role":"proposal"},…],"policy":{"seq":N,"digest":…}}`.
pub fn violation_json(v: &Violation) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A violation as one line: `rule  proposal 14, execution 15  message`.
pub fn violation_line(v: &Violation) -> String {
    let entries: Vec<String> = v.seqs.iter().map(|i| format!("{} {}", i.role.name(), i.seq)).collect();
    format!("{}  {}  {}", v.rule, entries.join(", "), v.message)
}

/// Sequence numbers as `3,7`.
fn seq_list(seqs: &[u64]) -> String {
    seqs.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
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

fn print_human(r: &VerifyReport, witnessed: Option<&WitnessCheck>) -> Result<(), CliError> {
    output::line(&format!("trusted:  {}", r.trusted))?;
    if let Some(id) = r.ledger_id {
        output::line(&format!("ledger:   {id}"))?;
    }
    print_entries(r)?;
    print_checkpoints(r)?;
    print_notes(r)?;
    print_policy(r)?;
    if let Some(w) = witnessed {
        output::line(&w.line())?;
    }
    match &r.failure {
        Some(f) => output::line(&format!("result:   FAILED: {f}")),
        None if passed(r) && witnessed.is_some_and(|w| !w.ok()) => {
            output::line("result:   FAILED witnesses: the newest checkpoint lacks the required cosignatures (every integrity check passed)")
        }
        None if !passed(r) => output::line(&format!(
            "result:   FAILED policy: {} (every integrity check passed)",
            violation_count(r)
        )),
        None if r.policy_checked => output::line(
            "result:   OK, every check passed and no policy rule is violated (see docs/CLI.md for what this proves)",
        ),
        None => output::line("result:   OK, every check passed (see docs/CLI.md for what this proves)"),
    }
}

/// `1 violation`, `3 violations`.
pub fn violation_count(r: &VerifyReport) -> String {
    match r.violations.len() as u64 + r.violations_dropped {
        1 => "1 violation".into(),
        n => format!("{n} violations"),
    }
}

/// The policy verdict: one `rule  seqs  message` line per violation, then the count.
pub fn print_policy(r: &VerifyReport) -> Result<(), CliError> {
    if !r.policy_checked || r.failure.is_some() {
        return Ok(());
    }
    for v in &r.violations {
        output::line(&format!("violation: {}", violation_line(v)))?;
    }
    if r.violations_dropped > 0 {
        output::line(&format!(
            "violation: … {} more not listed (the report keeps the first 10,000)",
            r.violations_dropped
        ))?;
    }
    if r.violations.is_empty() && r.violations_dropped == 0 {
        output::line("policy:   no violations of the rules in force")?;
    } else {
        output::line(&format!("policy:   {} of the rules in force", violation_count(r)))?;
    }
    match r.policy_in_force {
        Some(p) if p.seq == 0 => output::line(&format!("policy:   in force: the genesis policy (digest {})", p.digest)),
        Some(p) => output::line(&format!(
            "policy:   in force: set by the policy update at entry {} (digest {}); `policy show` prints it",
            p.seq, p.digest
        )),
        None => Ok(()),
    }
}

fn print_entries(r: &VerifyReport) -> Result<(), CliError> {
    match (r.entries, r.verified_from) {
        (0, _) => output::line("verified: no entries")?,
        (n, _) if r.resumed_from == n => output::line(&format!(
            "verified: {n} entries (0 to {}) by an earlier run (your saved state); nothing was added since",
            n - 1
        ))?,
        (n, _) if r.resumed_from > 0 => output::line(&format!(
            "verified: {n} entries (0 to {}): {} to {} read and verified now, 0 to {} by an earlier run (your saved state)",
            n - 1,
            r.resumed_from,
            n - 1,
            r.resumed_from - 1
        ))?,
        (n, 0) => output::line(&format!("verified: {n} entries (0 to {})", n - 1))?,
        (n, from) => output::line(&format!(
            "verified: {n} entries (0 to {}), every one read and hashed; the signatures of 0 to {} taken on your checkpoint's word",
            n - 1,
            from - 1
        ))?,
    }
    if r.entries > 0 {
        output::line(&format!("head:     {} (entry {})", r.head, r.entries - 1))?;
        output::line(&format!(
            "root:     {} (Merkle root of all {} entries)",
            r.root, r.entries
        ))?;
    }
    if !r.redacted.is_empty() {
        let seqs: Vec<String> = r.redacted.iter().map(u64::to_string).collect();
        output::line(&format!(
            "redacted: entries {} (payload erased; commitments still hold)",
            seqs.join(", ")
        ))?;
    }
    Ok(())
}

fn print_checkpoints(r: &VerifyReport) -> Result<(), CliError> {
    let Some(latest) = &r.latest_checkpoint else {
        if r.is_ok() {
            output::line("checkpts: none (nothing pins the ledger's length; see docs/CLI.md)")?;
        }
        return Ok(());
    };
    let after = if r.verified_from > 0 { " after yours" } else { "" };
    output::line(&format!(
        "checkpts: {} verified{after}; the newest covers {} entries, signed {}",
        r.checkpoints_verified, latest.tree_size, latest.timestamp
    ))?;
    if r.unsigned_covered > 0 {
        output::line(&format!(
            "unsigned: {} entries without an author signature, covered by a verified checkpoint",
            r.unsigned_covered
        ))?;
    }
    Ok(())
}

fn print_notes(r: &VerifyReport) -> Result<(), CliError> {
    if r.uncovered_tail > 0 {
        output::line(&format!(
            "note:     {} unsigned entries after the last checkpoint, accepted by --allow-uncovered-tail",
            r.uncovered_tail
        ))?;
    }
    if r.tree_missing_nodes > 0 {
        output::line(&format!(
            "warning:  {} Merkle nodes missing from the tree files (derived data; the writer rebuilds them on open)",
            r.tree_missing_nodes
        ))?;
    }
    if let Some(t) = &r.torn_tail {
        output::line(&format!("note:     {}", torn_line(t)))?;
    }
    if !r.redaction_pending.is_empty() {
        output::line(&format!(
            "note:     erasure of entries {} was interrupted; the writer completes it when it next opens the ledger",
            seq_list(&r.redaction_pending)
        ))?;
    }
    Ok(())
}
