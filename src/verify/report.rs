//! What verification found: counts, the trust anchor used, and the first failure.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::entry::{EntryKind, LedgerId};
use crate::hash::Digest;
use crate::record::RuleId;
use crate::storage::TornTail;

/// Which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// Bytes could not be parsed, or framing/checksums are damaged.
    Format,
    /// An entry is not where its writer put it: its position signature (over the previous
    /// chain value and its hash) does not verify, or segments do not continue each other.
    Chain,
    /// A signature is missing or does not verify.
    Signature,
    /// A signature is by a key that is not enrolled (or lacks the role).
    Key,
    /// The genesis does not match the trust anchor the auditor supplied.
    TrustAnchor,
    /// The index (derived data) disagrees with the segment; rebuild it.
    Index,
    /// A stored Merkle tree node (derived data) disagrees with the entries.
    Tree,
    /// A checkpoint is invalid, or the ledger no longer matches one that was issued.
    Checkpoint,
    /// A payload was erased without an authorised redaction, or one that may not be erased was.
    Redaction,
}

impl Check {
    /// Lowercase name used in JSON and messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Check::Format => "format",
            Check::Chain => "chain",
            Check::Signature => "signature",
            Check::Key => "key",
            Check::TrustAnchor => "trust_anchor",
            Check::Index => "index",
            Check::Tree => "tree",
            Check::Checkpoint => "checkpoint",
            Check::Redaction => "redaction",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// Sequence number of the entry concerned (the entry expected there, for damage).
    pub seq: Option<u64>,
    /// The check that failed.
    pub check: Check,
    /// The file, when the failure is located in one.
    pub file: Option<PathBuf>,
    /// Byte offset in that file.
    pub offset: Option<u64>,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} check failed", self.check)?;
        if let Some(seq) = self.seq {
            write!(f, " at entry {seq}")?;
        }
        if let (Some(file), Some(off)) = (&self.file, self.offset) {
            write!(f, " ({} offset {off})", file.display())?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of [`crate::verify()`]. A failed verification is a report with
/// [`VerifyReport::failure`] set, not an `Err`: call [`VerifyReport::into_result`] (or check
/// [`VerifyReport::is_ok`]) before relying on the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a failed verification is reported inside the report: check `is_ok()` or call `into_result()`"]
#[non_exhaustive]
pub struct VerifyReport {
    /// The ledger's id (once the first segment was read).
    pub ledger_id: Option<LedgerId>,
    /// What was trusted, in words (e.g. `operator key 3b6a…`).
    pub trusted: String,
    /// Entries that passed every check, from genesis on.
    pub entries: u64,
    /// Chain value after the last verified entry (the ledger's head).
    pub head: Digest,
    /// Sequence numbers of entries whose payload was erased (their commitments still hold).
    pub redacted: Vec<u64>,
    /// An incomplete final write (a crash or a racing writer): not a failure; its entries are
    /// not verified or counted.
    pub torn_tail: Option<TornTail>,
    /// The Merkle root recomputed over the verified entries.
    pub root: Digest,
    /// Checkpoints whose signature and root were verified.
    pub checkpoints_verified: u64,
    /// The newest checkpoint verified.
    pub latest_checkpoint: Option<Checkpoint>,
    /// Entries without a position signature that a verified checkpoint covers (high-volume mode).
    pub unsigned_covered: u64,
    /// Entries without a position signature after the last checkpoint, accepted only because
    /// [`VerifyOptions::allow_uncovered_tail`](super::VerifyOptions::allow_uncovered_tail) was set.
    pub uncovered_tail: u64,
    /// Merkle nodes the stored tree lacks (derived data a crash kept from disk; the writer
    /// rebuilds them on open). Proofs touching them cannot be built until then.
    pub tree_missing_nodes: u64,
    /// Whether the policy rules were evaluated ([`VerifyOptions::policy`](super::VerifyOptions::policy)).
    pub policy_checked: bool,
    /// Policy violations, in ledger order (at most 10,000; see `violations_dropped`).
    pub violations: Vec<Violation>,
    /// Violations found beyond the 10,000 kept.
    pub violations_dropped: u64,
    /// The policy in force after the last verified entry (when the policy was evaluated).
    pub policy_in_force: Option<PolicyRef>,
    /// Entries a redaction names whose payload is still present (erasure interrupted; the
    /// writer completes it when it next opens the ledger).
    pub redaction_pending: Vec<u64>,
    /// Where verification started: 0 for a full verification, else the size of the trusted
    /// checkpoint an incremental verification started from.
    pub verified_from: u64,
    /// Entries vouched for by the saved state a verification resumed from
    /// ([`VerifyOptions::resume`](super::VerifyOptions::resume)): entries from this number on
    /// were read and verified now; 0 when not resumed.
    pub resumed_from: u64,
    /// What this verification knew after the newest checkpoint it verified, to resume from
    /// next time (with [`VerifyOptions::keep_state`](super::VerifyOptions::keep_state) or when
    /// resuming); `None` when it failed or verified no checkpoint (after the one it resumed
    /// from: then the state it resumed from still serves).
    pub state: Option<super::VerifierState>,
    /// The first failure; `None` means the ledger verified.
    pub failure: Option<Failure>,
}

impl VerifyReport {
    /// Whether every integrity check passed (policy violations aside).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    /// The report if every integrity check passed, else the failure as an error — so that
    /// `verify(dir, &anchor)?.into_result()?` cannot pass a tampered ledger.
    ///
    /// # Errors
    /// [`crate::Error::VerificationFailed`] with the first failure.
    pub fn into_result(self) -> Result<Self, crate::Error> {
        match self.failure {
            Some(f) => Err(crate::Error::VerificationFailed(Box::new(f))),
            None => Ok(self),
        }
    }

    /// Whether every integrity check passed and no policy rule was violated.
    #[must_use]
    pub fn is_compliant(&self) -> bool {
        self.is_ok() && self.violations.is_empty() && self.violations_dropped == 0
    }
}

/// A broken policy rule.
///
/// In JSON (`verify --policy --json`):
/// `{"rule":"approval.required","message":"…","seqs":[{"seq":14,"role":"proposal"},{"seq":15,"role":"execution"}],"policy":{"seq":0,"digest":"<64 hex>"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Violation {
    /// The rule.
    pub rule: RuleId,
    /// What happened, for a person.
    pub message: String,
    /// The entries involved, each with its role in the violation, in ledger order of the
    /// decision path (e.g. proposal, then approval, then execution).
    pub seqs: Vec<Involved>,
    /// The policy the violation was judged under: the one in force at the entry judged.
    pub policy: PolicyRef,
}

impl Violation {
    /// The sequence numbers of the entries involved.
    #[must_use]
    pub fn seq_numbers(&self) -> Vec<u64> {
        self.seqs.iter().map(|i| i.seq).collect()
    }
}

/// An entry involved in a violation, and its role there: the kind of the entry
/// (`proposal`, `approval`, `execution`, `key_revocation` …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Involved {
    /// Its sequence number.
    pub seq: u64,
    /// Its role: the kind of entry it is.
    pub role: EntryKind,
}

impl<'de> serde::Deserialize<'de> for Involved {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Form {
            seq: u64,
            role: EntryKind,
        }
        let f = Form::deserialize(d)?;
        Ok(Involved { seq: f.seq, role: f.role })
    }
}

impl Serialize for Involved {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Involved", 2)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("role", self.role.name())?;
        st.end()
    }
}

/// Which policy: the entry that set it (0 for the genesis) and its digest
/// ([`Policy::digest`](crate::record::Policy::digest)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PolicyRef {
    /// The genesis (0) or the policy update that set it.
    pub seq: u64,
    /// `derive_key("provledger v1 policy", encoded policy)`.
    pub digest: Digest,
}

/// A policy update and whether it took effect: only a gated one does (docs/GOVERNANCE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PolicyEvent {
    /// The policy update entry and the digest of the policy it carries.
    pub policy: PolicyRef,
    /// Whether it took effect.
    pub took_effect: bool,
}
