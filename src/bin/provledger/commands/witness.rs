//! `provledger witness keygen|cosign`, and the cosignature check of `verify --witness`.
//!
//! `cosign` exits 0 and prints the cosignature line; 1 when the witness refuses the checkpoint
//! (with a report carrying both signed notes when the log forked or went backwards); 2 for
//! usage, unreadable files or a malformed note or proof.

use std::path::Path;

use serde_json::{json, Value};

use provledger::witness::{
    AddCheckpoint, CheckpointText, CosignError, LogKey, Refusal, SignedNote, Witness, WitnessKey, WitnessPolicy,
    MAX_NOTE_LEN,
};
use provledger::{Checkpoint, ConsistencyProof, LedgerId, SigningKey, VerifyingKey};

use crate::cli::{WitnessArgs, WitnessCommand, WitnessCosignArgs, WitnessKeygenArgs};
use crate::error::{CliError, EXIT_FAILED};
use crate::output;

/// Runs a `witness` subcommand.
pub fn run(args: &WitnessArgs) -> Result<u8, CliError> {
    match &args.command {
        WitnessCommand::Keygen(a) => keygen(a),
        WitnessCommand::Cosign(a) => cosign(a),
    }
}

/// Writes a new witness key (0600, never overwriting) and prints its verifier key.
fn keygen(args: &WitnessKeygenArgs) -> Result<u8, CliError> {
    provledger::witness::check_name(&args.name)?;
    if args.out.symlink_metadata().is_ok() {
        return Err(CliError::usage(format!(
            "{}: already exists; refusing to overwrite a key file",
            args.out.display()
        )));
    }
    let key = SigningKey::generate()?;
    let witness = WitnessKey::new(&args.name, key.verifying_key())?;
    key.save(&args.out)?;
    if args.json {
        output::json(&json!({
            "name": witness.name(),
            "vkey": witness.vkey(),
            "public_key": key.verifying_key().to_hex(),
            "file": args.out.display().to_string(),
        }))?;
    } else {
        output::line(&format!("wrote secret key {}", args.out.display()))?;
        output::line(&format!("witness: {}", witness.vkey()))?;
    }
    Ok(0)
}

/// Checks the note against the state and cosigns it, or reports the refusal.
fn cosign(args: &WitnessCosignArgs) -> Result<u8, CliError> {
    let note = read_text(&args.note, MAX_NOTE_LEN as u64)?;
    let text = SignedNote::parse(&note)
        .and_then(|n| CheckpointText::parse(&n.body))
        .map_err(|e| CliError::usage(format!("{}: {e}", args.note.display())))?;
    let log = log_key(&args.operator, &text.origin)?;
    let request = match &args.proof {
        None => AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            note: note.clone(),
        },
        Some(path) => request_from_proof(path, &note, &text)?,
    };
    let secret = SigningKey::load(&args.key)?;
    let key = WitnessKey::new(&args.name, secret.verifying_key())?;
    let witness = Witness::new(&args.state, key, secret, vec![log])?;
    match witness.add_checkpoint(&request) {
        Ok(c) => {
            if args.json {
                output::json(&json!({
                    "cosigned": true,
                    "origin": c.origin,
                    "size": c.size,
                    "witness": witness.key().vkey(),
                    "timestamp": c.cosignature.timestamp,
                    "line": c.line(),
                }))?;
            } else {
                output::raw(&c.line())?;
            }
            Ok(0)
        }
        Err(CosignError::Refused(r)) => {
            report_refusal(&r, args.json)?;
            Ok(EXIT_FAILED)
        }
        Err(e) => Err(e.into()),
    }
}

fn read_text(path: &Path, max: u64) -> Result<String, CliError> {
    String::from_utf8(output::read_bounded(path, max)?)
        .map_err(|_| CliError::usage(format!("{}: not UTF-8 text", path.display())))
}

/// The trusted operator key: a checkpoint verifier key, or a bare public key for the ledger
/// the note names.
fn log_key(operator: &str, origin: &str) -> Result<LogKey, CliError> {
    if operator.contains('+') {
        return operator
            .parse::<LogKey>()
            .map_err(|e| CliError::usage(format!("--operator: {e}")));
    }
    let key: VerifyingKey = operator
        .parse()
        .map_err(|e| CliError::usage(format!("--operator: {e}")))?;
    let id: LedgerId = origin
        .strip_prefix("provledger/")
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| CliError::usage(format!("the note's origin {origin:?} is not a provledger ledger")))?;
    Ok(LogKey::new(id, key))
}

/// The add-checkpoint request of a `prove --from M --json` proof, whose newer checkpoint must
/// be the note's.
fn request_from_proof(path: &Path, note: &str, text: &CheckpointText) -> Result<AddCheckpoint, CliError> {
    let bytes = output::read_bounded(path, super::verify_proof::MAX_PROOF_FILE)?;
    let proof: ConsistencyProof = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!(
            "{}: not a consistency proof (expected `prove --from M --json`): {e}",
            path.display()
        ))
    })?;
    let same = proof
        .new_checkpoint
        .as_ref()
        .is_some_and(|c| c.tree_size == text.size && c.root == text.root && c.body() == body_of(note));
    if !same {
        return Err(CliError::usage(format!(
            "{}: the proof's newer checkpoint is not the note's checkpoint",
            path.display()
        )));
    }
    Ok(AddCheckpoint {
        old_size: proof.old_size,
        proof: proof.path,
        note: note.to_owned(),
    })
}

fn body_of(note: &str) -> String {
    SignedNote::parse(note).map(|n| n.body).unwrap_or_default()
}

fn refusal_kind(r: &Refusal) -> &'static str {
    match r {
        Refusal::UnknownOrigin { .. } => "unknown_origin",
        Refusal::NotSigned { .. } => "not_signed",
        Refusal::OldSizeTooLarge { .. } => "old_size_too_large",
        Refusal::Conflict { .. } => "conflict",
        Refusal::Rollback(_) => "rollback",
        Refusal::SplitView(_) => "split_view",
        Refusal::Inconsistent { .. } => "inconsistent",
        _ => "refused",
    }
}

fn report_refusal(r: &Refusal, as_json: bool) -> Result<(), CliError> {
    if as_json {
        let stored = match r {
            Refusal::Conflict { stored, .. } => Some(*stored),
            _ => r.evidence().map(|e| e.cosigned_size),
        };
        return output::json(&json!({
            "cosigned": false,
            "refusal": refusal_kind(r),
            "http_status": r.http_status(),
            "message": r.to_string(),
            "stored_size": stored,
            "evidence": r.evidence().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
        }));
    }
    output::line(&format!("REFUSED: {r}"))?;
    if let Some(e) = r.evidence() {
        output::line(&format!(
            "evidence: the checkpoint this witness cosigned last (size {}):",
            e.cosigned_size
        ))?;
        output::raw(&e.cosigned_note)?;
        output::line(&format!("evidence: the checkpoint refused (size {}):", e.offered_size))?;
        output::raw(&e.offered_note)?;
    }
    if let Refusal::Conflict { stored, .. } = r {
        output::line(&format!(
            "hint: give a consistency proof from size {stored} (`prove --from {stored} --json`)"
        ))?;
    }
    Ok(())
}

/// What `verify --witness` found: `Ok` with the cosigners, or why the requirement failed.
pub struct WitnessCheck {
    /// K.
    pub required: usize,
    /// The cosigners (name, timestamp) when the requirement is met.
    pub result: Result<Vec<(String, u64)>, String>,
}

impl WitnessCheck {
    /// Requires `min` of `witnesses` on `newest` (the newest verified checkpoint), from the
    /// note file `note`.
    pub fn run(witnesses: &[WitnessKey], min: u32, note: &Path, newest: Option<&Checkpoint>) -> Result<Self, CliError> {
        let required = min as usize;
        let policy = WitnessPolicy::new(witnesses.to_vec(), required)?;
        let text = read_text(note, MAX_NOTE_LEN as u64)?;
        let result = match newest {
            None => Err("the ledger has no checkpoint to be cosigned".to_owned()),
            Some(c) => policy
                .check(c, &text)
                .map(|w| w.cosigners.into_iter().map(|b| (b.name, b.timestamp)).collect())
                .map_err(|e| e.to_string()),
        };
        Ok(WitnessCheck { required, result })
    }

    /// Whether the requirement is met.
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The `witnesses` member of `verify --json`.
    pub fn json(&self) -> Value {
        match &self.result {
            Ok(c) => json!({
                "ok": true,
                "required": self.required,
                "cosigners": c.iter().map(|(n, t)| json!({"name": n, "timestamp": t})).collect::<Vec<_>>(),
            }),
            Err(e) => json!({"ok": false, "required": self.required, "error": e}),
        }
    }

    /// One line for the human report.
    pub fn line(&self) -> String {
        match &self.result {
            Ok(c) => {
                let who: Vec<String> = c.iter().map(|(n, t)| format!("{n} (time {t})")).collect();
                format!(
                    "witnessed: the newest checkpoint is cosigned by {} trusted witnesses ({} required): {}",
                    c.len(),
                    self.required,
                    who.join(", ")
                )
            }
            Err(e) => format!("witnessed: FAILED: {e}"),
        }
    }
}
