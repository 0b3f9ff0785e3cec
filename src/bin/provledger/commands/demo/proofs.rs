//! The demo's checkpoint and proof steps: sign a checkpoint, prove the approval is in it,
//! grow the ledger and erase the ticket's personal data, sign again, and prove the second
//! state extends the first (the erasure changed no hash). Every proof is
//! written to a file and checked from that file with the operator's public key alone, exactly
//! as `provledger verify-proof` does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use provledger::{Checkpoint, Ledger, LedgerReader, Options};

use super::audit::erase_ticket;
use super::scenario::{append_follow_ups, Story};
use super::{Cast, Steps};
use crate::commands::verify_proof;
use crate::error::CliError;
use crate::output;

/// The proof files written, and whether both verified.
pub struct ProofFiles {
    /// Every proof verified.
    pub ok: bool,
    /// `proofs/inclusion-<seq>.json`.
    pub inclusion: PathBuf,
    /// `proofs/consistency-<old>-<new>.json`.
    pub consistency: PathBuf,
}

/// Checkpoint, inclusion proof, more entries and an erasure, second checkpoint, consistency
/// proof.
pub fn checkpoints_and_proofs(
    dir: &Path,
    proofs: &Path,
    cast: &Cast,
    story: &Story,
    steps: &mut Steps,
) -> Result<ProofFiles, CliError> {
    std::fs::create_dir_all(proofs).map_err(|e| CliError::usage(format!("{}: {e}", proofs.display())))?;
    let ledger = Ledger::open(dir, cast.operator.clone(), Options::default())?;
    let first = sign_checkpoint(&ledger, cast, steps)?;
    // The reader needs no lock: it runs beside the writer.
    let reader = LedgerReader::open(dir)?;
    let (inclusion_ok, inclusion) = prove_inclusion(&reader, story.approval_seq, proofs, cast, steps)?;
    append_follow_ups(&ledger, steps)?;
    erase_ticket(&ledger, story, steps)?;
    let second = sign_checkpoint(&ledger, cast, steps)?;
    drop(ledger);
    let (consistency_ok, consistency) = prove_consistency(&reader, (&first, &second), proofs, cast, steps)?;
    Ok(ProofFiles {
        ok: inclusion_ok && consistency_ok,
        inclusion,
        consistency,
    })
}

/// Signs a checkpoint and shows it, with its C2SP signed-note form.
fn sign_checkpoint(ledger: &Ledger, cast: &Cast, steps: &mut Steps) -> Result<Checkpoint, CliError> {
    let cp = ledger.checkpoint()?;
    steps.step(&format!(
        "Signed a checkpoint: the operator vouches for the first {} entries",
        cp.tree_size
    ))?;
    Steps::detail(&format!("size {}, Merkle root {}", cp.tree_size, cp.root))?;
    Steps::detail("as a signed note (hand it to auditors; they keep it):")?;
    for line in cp.to_note(&cast.operator.verifying_key()).lines() {
        Steps::detail(format!("  {line}").trim_end())?;
    }
    Ok(cp)
}

/// Proves the approval entry is covered by the newest checkpoint; checks it from the file.
fn prove_inclusion(
    reader: &LedgerReader,
    seq: u64,
    proofs: &Path,
    cast: &Cast,
    steps: &mut Steps,
) -> Result<(bool, PathBuf), CliError> {
    let proof = reader.inclusion_proof(seq, None)?;
    let file = proofs.join(format!("inclusion-{seq}.json"));
    write_proof(&file, &proof)?;
    steps.step(&format!(
        "Proved that the approval (entry {seq}) is in the checkpointed ledger"
    ))?;
    Steps::detail(&format!(
        "an audit path of {} hashes leads from its entry hash to the signed root of {} entries",
        proof.path.len(),
        proof.tree_size
    ))?;
    let ok = check_file(&file, cast)?;
    Ok((ok, file))
}

/// Proves the second checkpoint extends the first; checks it from the file.
fn prove_consistency(
    reader: &LedgerReader,
    (old, new): (&Checkpoint, &Checkpoint),
    proofs: &Path,
    cast: &Cast,
    steps: &mut Steps,
) -> Result<(bool, PathBuf), CliError> {
    let proof = reader.consistency_proof(old.tree_size, Some(new.tree_size))?;
    let file = proofs.join(format!("consistency-{}-{}.json", old.tree_size, new.tree_size));
    write_proof(&file, &proof)?;
    steps.step(&format!(
        "Proved that the ledger of {} entries extends the one of {}: nothing checkpointed was changed or removed, the erasure included",
        new.tree_size, old.tree_size
    ))?;
    Steps::detail(&format!("a consistency path of {} hashes", proof.path.len()))?;
    let ok = check_file(&file, cast)?;
    Ok((ok, file))
}

fn write_proof(file: &Path, proof: &impl Serialize) -> Result<(), CliError> {
    let text = super::super::prove::render(proof, false)? + "\n";
    std::fs::write(file, text).map_err(|e| CliError::usage(format!("{}: {e}", file.display())))
}

/// Reads a proof file back and verifies it offline with the operator's public key.
fn check_file(file: &Path, cast: &Cast) -> Result<bool, CliError> {
    let bytes = output::read_bounded(file, verify_proof::MAX_PROOF_FILE)?;
    let outcome = verify_proof::check(&bytes, &cast.operator.verifying_key(), None, None);
    Steps::detail(&format!("wrote {}", file.display()))?;
    let verdict = match &outcome.result {
        Ok(()) => "proof VALID".to_owned(),
        Err(e) => e.to_string(),
    };
    Steps::detail(&format!("checked offline with the operator's public key: {verdict}"))?;
    Ok(outcome.result.is_ok())
}
