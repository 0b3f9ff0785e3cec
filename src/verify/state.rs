//! An auditor's saved verification state, so that verifying the same ledger again reads only
//! what is new (docs/FORMAT.md §9.1).
//!
//! A passing verification asked to keep it
//! ([`VerifyOptions::keep_state`](super::VerifyOptions::keep_state)) returns, in
//! [`VerifyReport::state`](super::VerifyReport::state),
//! what the verifier knew after the newest checkpoint it verified: the checkpoint, the chain
//! value and the Merkle frontier there, the hash of the last entry, the hash of the checkpoint
//! log up to that checkpoint, the keys and their validity, the policy engine's state and what
//! erasures were seen. Passed back with
//! [`VerifyOptions::resume`](super::VerifyOptions::resume), verification starts after that
//! checkpoint: it checks that the ledger still holds the last entry and the log prefix the
//! state recorded (a ledger cut, rolled back or whose log was rewritten fails), then verifies
//! the entries after it exactly as a full verification would, against the state's keys and
//! policy, and every new checkpoint against the frontier carried on.
//!
//! The state is the auditor's own record, not part of the ledger: keep it where you keep the
//! trust anchor. It vouches for the prefix it covers; changes made to that prefix later are
//! not re-read (a full verification reads everything).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::encoding::serde_codec::{decode_state, encode_state, MAX_VERIFIER_STATE};
use crate::entry::LedgerId;
use crate::hash::Digest;

use super::policy::PolicyEngine;
use super::registry::Registry;

/// The first bytes of a saved state.
const MAGIC: &[u8; 26] = b"provledger verifier state\n";
/// The layout version of the body.
const VERSION: u32 = 1;
/// Magic, version, BLAKE3 of the body.
const HEADER_LEN: usize = MAGIC.len() + 4 + 32;

/// What a verification knew after the newest checkpoint it verified; give it back through
/// [`VerifyOptions::resume`](super::VerifyOptions::resume) to verify only what was added
/// since. Save it with [`VerifierState::as_bytes`] and load it with
/// [`VerifierState::from_bytes`] (the CLI's `verify --state FILE` does both).
///
/// ```
/// use provledger::{verify_opts, storage::StdBackend, Draft, Ledger, Options, SigningKey};
/// use provledger::{TrustAnchor, VerifierState, VerifyOptions};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let anchor = TrustAnchor::PublicKey(key.verifying_key());
/// let ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"first".to_vec()))?;
/// ledger.checkpoint()?;
/// let opts = VerifyOptions::default().keep_state(true);
/// let first = verify_opts(&StdBackend, dir.path(), &anchor, &opts)?;
/// let saved = first.state.expect("a passing verification with a checkpoint gives a state");
/// let bytes = saved.as_bytes().to_vec(); // e.g. written to a file
///
/// ledger.append(Draft::application("text/plain", b"second".to_vec()))?;
/// ledger.checkpoint()?;
/// let state = VerifierState::from_bytes(&bytes)?;
/// let again = verify_opts(&StdBackend, dir.path(), &anchor, &VerifyOptions::default().resume(Some(state)))?;
/// assert!(again.is_ok());
/// assert_eq!((again.resumed_from, again.entries), (2, 3)); // read entry 2 only
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierState {
    bytes: Vec<u8>,
    size: u64,
    checkpoint: Checkpoint,
}

impl std::fmt::Debug for VerifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierState")
            .field("size", &self.size)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Why a saved state cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state this version writes, or damaged (its checksum does not hold).
    #[error("not a provledger verifier state, or damaged: {0}")]
    Malformed(String),
    /// A state of another ledger, another trust anchor, or taken with the policy evaluated
    /// when this verification does not evaluate it (or the other way round).
    #[error("the saved state does not fit this verification: {0}")]
    Mismatch(String),
}

/// The body of a state, as written (references) …
#[derive(Serialize)]
pub(super) struct BodyRef<'a> {
    pub anchor: &'a str,
    pub ledger_id: [u8; 16],
    pub policy: bool,
    pub checkpoint: &'a Checkpoint,
    pub last_hash: Digest,
    pub head: Digest,
    pub frontier: &'a [Digest],
    pub log_records: u64,
    pub log_hash: Digest,
    pub checkpoints_verified: u64,
    pub keys: &'a Registry,
    pub engine: Option<&'a PolicyEngine>,
    pub erased: &'a BTreeMap<u64, Digest>,
    pub redacted: &'a [u64],
    pub unsigned_covered: u64,
    pub redaction_pending: &'a [u64],
}

/// … and as read (owned); the same fields in the same order.
#[derive(Serialize, Deserialize)]
pub(super) struct Body {
    /// [`TrustAnchor::describe`](super::TrustAnchor) of the anchor it was verified against.
    pub anchor: String,
    pub ledger_id: [u8; 16],
    /// Whether the policy was evaluated.
    pub policy: bool,
    /// The checkpoint it was taken at; its size is the number of entries covered.
    pub checkpoint: Checkpoint,
    /// Entry hash of the last entry covered.
    pub last_hash: Digest,
    /// Chain value after it.
    pub head: Digest,
    /// Merkle frontier at the checkpoint's size.
    pub frontier: Vec<Digest>,
    /// Checkpoints in the log up to and including that one.
    pub log_records: u64,
    /// BLAKE3 of the checkpoint log's bytes up to the end of that record.
    pub log_hash: Digest,
    pub checkpoints_verified: u64,
    pub keys: Registry,
    pub engine: Option<PolicyEngine>,
    pub erased: BTreeMap<u64, Digest>,
    pub redacted: Vec<u64>,
    pub unsigned_covered: u64,
    pub redaction_pending: Vec<u64>,
}

impl VerifierState {
    /// The largest saved state [`VerifierState::from_bytes`] accepts, in bytes.
    pub const MAX_LEN: usize = MAX_VERIFIER_STATE + HEADER_LEN;

    pub(super) fn encode(body: &BodyRef<'_>) -> Result<Self, StateError> {
        let encoded = encode_state(body).map_err(|e| StateError::Malformed(e.to_string()))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + encoded.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(blake3::hash(&encoded).as_bytes());
        bytes.extend_from_slice(&encoded);
        Ok(VerifierState {
            bytes,
            size: body.checkpoint.tree_size,
            checkpoint: *body.checkpoint,
        })
    }

    /// Loads a state saved with [`VerifierState::as_bytes`], checking its form and checksum
    /// (whether it fits a ledger is checked when verification resumes from it).
    ///
    /// # Errors
    /// [`StateError::Malformed`] for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let body = Self::decode_bytes(bytes)?;
        Ok(VerifierState {
            bytes: bytes.to_vec(),
            size: body.checkpoint.tree_size,
            checkpoint: body.checkpoint,
        })
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Body, StateError> {
        let bad = |why: &str| StateError::Malformed(why.to_string());
        if bytes.len() > Self::MAX_LEN {
            return Err(bad("larger than any state"));
        }
        let (magic, rest) = bytes.split_at_checked(MAGIC.len()).ok_or_else(|| bad("too short"))?;
        if magic != MAGIC {
            return Err(bad("wrong magic"));
        }
        let (version, rest) = rest.split_at_checked(4).ok_or_else(|| bad("too short"))?;
        if version != VERSION.to_le_bytes() {
            return Err(bad("a layout version this build does not read"));
        }
        let (sum, body) = rest.split_at_checked(32).ok_or_else(|| bad("too short"))?;
        if sum != blake3::hash(body).as_bytes() {
            return Err(bad("checksum mismatch"));
        }
        let body: Body = decode_state(body).map_err(|e| StateError::Malformed(e.to_string()))?;
        if body.checkpoint.tree_size == 0 || body.frontier.len() != body.checkpoint.tree_size.count_ones() as usize {
            return Err(bad("inconsistent sizes"));
        }
        if body.checkpoint.ledger_id != LedgerId(body.ledger_id) {
            return Err(bad("the checkpoint is of another ledger"));
        }
        if let Some(engine) = &body.engine {
            engine.check_consistent().map_err(StateError::Malformed)?;
        }
        Ok(body)
    }

    pub(super) fn body(&self) -> Result<Body, StateError> {
        Self::decode_bytes(&self.bytes)
    }

    /// The bytes to save.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Entries it covers: a verification resumed from it starts at this sequence number.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The checkpoint it was taken at.
    #[must_use]
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }
}

/// BLAKE3 of the first `len` bytes of the checkpoint log.
pub(super) fn log_prefix_hash(dir: &dyn crate::storage::LedgerDir, len: u64) -> Result<Option<Digest>, crate::StorageError> {
    use crate::checkpoint::CHECKPOINT_LOG;
    let rel = std::path::Path::new(CHECKPOINT_LOG);
    let path = dir.display_path(rel);
    let file = dir.open_read(rel).map_err(crate::storage::io_err("open", &path))?;
    if file.len().map_err(crate::storage::io_err("stat", &path))? < len {
        return Ok(None);
    }
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0;
    while at < len {
        let n = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..n], at)
            .map_err(crate::storage::io_err("read", &path))?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(Some(Digest::from_bytes(*h.finalize().as_bytes())))
}
