//! Portable proofs: an inclusion or consistency proof together with the signed checkpoint(s)
//! it is relative to, serializable (with serde) as the JSON documented in docs/CLI.md, and
//! checkable offline with nothing but the operator's public key.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::hash::Digest;
use crate::keys::VerifyingKey;
use crate::merkle::{verify_consistency, verify_inclusion_of_entry, ProofError};

/// Why a proof was not accepted. "Malformed" (cannot be a proof) differs from "invalid" (a
/// well-formed proof that does not hold).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofCheckError {
    /// Structurally wrong: sizes, index, path length, missing checkpoint.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// Well-formed but false: wrong root, bad checkpoint signature, mismatched checkpoint.
    #[error("invalid proof: {0}")]
    Invalid(String),
}

impl From<ProofError> for ProofCheckError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::RootMismatch => ProofCheckError::Invalid(e.to_string()),
            ProofError::Malformed(m) => ProofCheckError::Malformed(m.to_string()),
        }
    }
}

/// The version of the proof JSON forms (docs/FORMAT.md §15).
pub const PROOF_VERSION: u32 = 2;

/// Proof that an entry is in the ledger state a checkpoint pins (docs/FORMAT.md §15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Always [`PROOF_VERSION`].
    pub version: u32,
    /// The ledger the proof is about.
    pub ledger_id: crate::entry::LedgerId,
    /// Size of the tree the proof is against.
    pub tree_size: u64,
    /// The entry's sequence number (its leaf index).
    pub leaf_index: u64,
    /// The entry hash.
    pub entry_hash: Digest,
    /// RFC 9162 audit path, leaf to root.
    pub path: Vec<Digest>,
    /// The root of the tree of `tree_size` entries.
    pub root: Digest,
    /// The signed checkpoint that pins `tree_size` and `root`.
    pub checkpoint: Option<Checkpoint>,
}

impl InclusionProof {
    /// Checks the checkpoint's signature by `operator`, that it pins this proof's size and
    /// root, and the audit path.
    ///
    /// # Errors
    /// [`ProofCheckError`] saying whether the proof is malformed or invalid.
    pub fn verify(&self, operator: &VerifyingKey) -> Result<(), ProofCheckError> {
        self.verify_for(operator, None)
    }

    /// As [`InclusionProof::verify`], and the proof must be about ledger `ledger` if given.
    ///
    /// # Errors
    /// [`ProofCheckError`] saying whether the proof is malformed or invalid.
    pub fn verify_for(
        &self,
        operator: &VerifyingKey,
        ledger: Option<crate::entry::LedgerId>,
    ) -> Result<(), ProofCheckError> {
        present(self.checkpoint.as_ref())?;
        check_header(self.version, self.ledger_id, ledger)?;
        check_checkpoint(
            self.checkpoint.as_ref(),
            self.ledger_id,
            self.tree_size,
            &self.root,
            operator,
        )?;
        verify_inclusion_of_entry(
            &self.entry_hash,
            self.leaf_index,
            self.tree_size,
            &self.path,
            &self.root,
        )?;
        Ok(())
    }
}

/// Proof that a newer ledger state extends an older one (nothing rewritten or removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always [`PROOF_VERSION`].
    pub version: u32,
    /// The ledger the proof is about.
    pub ledger_id: crate::entry::LedgerId,
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// The older root.
    pub old_root: Digest,
    /// The newer root.
    pub new_root: Digest,
    /// RFC 9162 consistency path.
    pub path: Vec<Digest>,
    /// The checkpoint pinning the older state.
    pub old_checkpoint: Option<Checkpoint>,
    /// The checkpoint pinning the newer state.
    pub new_checkpoint: Option<Checkpoint>,
}

impl ConsistencyProof {
    /// Checks both checkpoints' signatures by `operator`, that they pin the proof's sizes and
    /// roots, and the consistency path.
    ///
    /// # Errors
    /// [`ProofCheckError`] saying whether the proof is malformed or invalid.
    pub fn verify(&self, operator: &VerifyingKey) -> Result<(), ProofCheckError> {
        self.verify_for(operator, None)
    }

    /// As [`ConsistencyProof::verify`], and the proof must be about ledger `ledger` if given.
    ///
    /// # Errors
    /// [`ProofCheckError`] saying whether the proof is malformed or invalid.
    pub fn verify_for(
        &self,
        operator: &VerifyingKey,
        ledger: Option<crate::entry::LedgerId>,
    ) -> Result<(), ProofCheckError> {
        // A missing checkpoint is malformed (FORMAT §15 step 1), before the ledger id (step 2).
        present(self.new_checkpoint.as_ref())?;
        if self.old_checkpoint.is_none() {
            return Err(ProofCheckError::Malformed(
                "no checkpoint pins the older size: check the proof against the older state you \
                 trust (ConsistencyProof::verify_extends, verify-proof --old-size --old-root)"
                    .into(),
            ));
        }
        check_header(self.version, self.ledger_id, ledger)?;
        self.check_checkpoints_and_path(operator)
    }

    /// Checks that the newer checkpointed state extends an older state the caller already
    /// trusts — size `old_size` with root `old_root`, e.g. from an earlier verification — for
    /// proofs from any older size, also one that no checkpoint pins (`old_checkpoint` is then
    /// `None`). The newer checkpoint must be signed by `operator`; an older checkpoint, when
    /// present, is checked too.
    ///
    /// # Errors
    /// [`ProofCheckError::Invalid`] when the proof's older size or root is not the trusted one,
    /// or as [`ConsistencyProof::verify_for`].
    pub fn verify_extends(
        &self,
        operator: &VerifyingKey,
        ledger: Option<crate::entry::LedgerId>,
        old_size: u64,
        old_root: &Digest,
    ) -> Result<(), ProofCheckError> {
        present(self.new_checkpoint.as_ref())?;
        check_header(self.version, self.ledger_id, ledger)?;
        if self.old_size != old_size || self.old_root != *old_root {
            return Err(ProofCheckError::Invalid(format!(
                "the proof starts from size {} with another root than the trusted state of size {old_size}",
                self.old_size
            )));
        }
        self.check_checkpoints_and_path(operator)
    }

    /// The checkpoints present (the older one is optional here), then the path.
    fn check_checkpoints_and_path(&self, operator: &VerifyingKey) -> Result<(), ProofCheckError> {
        let id = self.ledger_id;
        if self.old_checkpoint.is_some() {
            check_checkpoint(
                self.old_checkpoint.as_ref(),
                id,
                self.old_size,
                &self.old_root,
                operator,
            )?;
        }
        check_checkpoint(
            self.new_checkpoint.as_ref(),
            id,
            self.new_size,
            &self.new_root,
            operator,
        )?;
        verify_consistency(self.old_size, self.new_size, &self.old_root, &self.new_root, &self.path)?;
        Ok(())
    }
}

fn check_header(
    version: u32,
    ledger_id: crate::entry::LedgerId,
    expected: Option<crate::entry::LedgerId>,
) -> Result<(), ProofCheckError> {
    if version != PROOF_VERSION {
        return Err(ProofCheckError::Malformed(format!(
            "proof version {version}; this version reads {PROOF_VERSION}"
        )));
    }
    if let Some(want) = expected.filter(|w| *w != ledger_id) {
        return Err(ProofCheckError::Invalid(format!(
            "the proof is about ledger {ledger_id}, not {want}"
        )));
    }
    Ok(())
}

/// A checkpoint the proof must carry is there (FORMAT §15 step 1: otherwise malformed).
fn present(c: Option<&Checkpoint>) -> Result<(), ProofCheckError> {
    match c {
        Some(_) => Ok(()),
        None => Err(ProofCheckError::Malformed("no signed checkpoint in the proof".into())),
    }
}

fn check_checkpoint(
    c: Option<&Checkpoint>,
    ledger_id: crate::entry::LedgerId,
    size: u64,
    root: &Digest,
    operator: &VerifyingKey,
) -> Result<(), ProofCheckError> {
    let c = c.ok_or_else(|| ProofCheckError::Malformed("no signed checkpoint in the proof".into()))?;
    if c.ledger_id != ledger_id {
        return Err(ProofCheckError::Invalid(
            "a checkpoint belongs to another ledger than the proof".into(),
        ));
    }
    if !c.verify(operator) {
        return Err(ProofCheckError::Invalid(
            "the checkpoint is not signed by the trusted key".into(),
        ));
    }
    if c.tree_size != size || c.root != *root {
        return Err(ProofCheckError::Invalid(
            "the checkpoint pins a different size or root".into(),
        ));
    }
    Ok(())
}
