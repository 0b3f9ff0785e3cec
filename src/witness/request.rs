//! The C2SP `tlog-witness` add-checkpoint request body: what a log sends a witness.

use base64ct::{Base64, Encoding};

use super::WitnessError;
use crate::checkpoint::{Checkpoint, MAX_NOTE_LEN};
use crate::hash::Digest;
use crate::keys::VerifyingKey;
use crate::proof::ConsistencyProof;

/// Most consistency proof lines in a request (C2SP `tlog-witness`: a client MUST NOT send
/// more than 63).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request read: the old-size line, 63 proof lines, the blank line and a note of at
/// most [`MAX_NOTE_LEN`](super::MAX_NOTE_LEN) bytes fit well within it.
pub const MAX_REQUEST_LEN: usize = 16 << 10;

/// An add-checkpoint request (C2SP `tlog-witness`):
///
/// ```text
/// old <size of the witness's last checkpoint of this log, decimal; 0 the first time>\n
/// <one line per consistency proof hash, base64>\n …
/// \n
/// <the new checkpoint as a signed note>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The tree size the log believes the witness has (0 if none).
    pub old_size: u64,
    /// The RFC 6962 consistency proof from `old_size` to the new checkpoint's size (empty when
    /// `old_size` is 0 or equal to the new size).
    pub proof: Vec<Digest>,
    /// The new checkpoint, a signed note (the operator's signature, possibly others).
    pub note: String,
}

impl AddCheckpoint {
    /// A first request for `checkpoint` (old size 0, no proof), as a note signed by `operator`.
    #[must_use]
    pub fn initial(checkpoint: &Checkpoint, operator: &VerifyingKey) -> Self {
        AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            note: checkpoint.to_note(operator),
        }
    }

    /// The request for a consistency proof's newer checkpoint, from its older size (as
    /// [`LedgerReader::consistency_proof`](crate::LedgerReader::consistency_proof) builds it),
    /// the note signed by `operator`.
    ///
    /// # Errors
    /// [`WitnessError::MalformedRequest`] if the proof has no newer checkpoint, or `operator`
    /// did not sign it.
    pub fn from_proof(proof: &ConsistencyProof, operator: &VerifyingKey) -> Result<Self, WitnessError> {
        let new = proof
            .new_checkpoint
            .as_ref()
            .ok_or_else(|| WitnessError::MalformedRequest("the proof carries no newer checkpoint".into()))?;
        if !new.verify(operator) {
            return Err(WitnessError::MalformedRequest(
                "the newer checkpoint is not signed by the given operator key".into(),
            ));
        }
        Ok(AddCheckpoint {
            old_size: proof.old_size,
            proof: proof.path.clone(),
            note: new.to_note(operator),
        })
    }

    /// The request body.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&Base64::encode_string(h.as_bytes()));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    /// Parses a request body (at most [`MAX_REQUEST_LEN`] bytes, at most
    /// [`MAX_PROOF_LINES`] proof lines). The note is only split off here; the witness checks
    /// it.
    ///
    /// # Errors
    /// [`WitnessError::MalformedRequest`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::MalformedRequest(why.to_owned());
        if bytes.len() > MAX_REQUEST_LEN {
            return Err(bad("longer than 16 KiB"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        if (old.len() > 1 && old.starts_with('0')) || old.is_empty() || !old.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the old size is not a canonical decimal"));
        }
        let old_size = old.parse().map_err(|_| bad("the old size is not a 64-bit number"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let h = Base64::decode_vec(line).map_err(|_| bad("a proof line is not base64"))?;
            let h: [u8; 32] = h.try_into().map_err(|_| bad("a proof line is not 32 bytes"))?;
            proof.push(Digest::from_bytes(h));
        }
        if note.len() > MAX_NOTE_LEN {
            return Err(bad("the checkpoint note is longer than 8 KiB"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: note.to_owned(),
        })
    }
}
