//! Batch preparation: everything about an entry that does not depend on the entries before it
//! is computed here, in parallel — commitments, co-signatures, records, entry hashes — so that
//! the writer's ordered work is one BLAKE3 compression (the chain value) and a tree push per
//! entry, and its position signatures are again parallel.

use rayon::prelude::*;

use super::Draft;
use crate::entry::{
    commit_payload, cosignature_message, AuthorSignature, EntryFields, EntryKind, LedgerId, RecordRef, Timestamp,
    MAX_COSIGNATURES, MAX_PAYLOAD_LEN, SALT_LEN, SIGNATURE_BLOCK_LEN,
};
use crate::error::{AppendError, DraftError};
use crate::hash::Digest;
use crate::keys::KeyId;

/// Batches smaller than this are prepared on the calling thread (parallelism costs more).
const PARALLEL_FROM: usize = 16;

/// Cheap checks of a draft, before any hashing: what would make it fail for sure.
pub(super) fn check(d: &Draft) -> Result<(), DraftError> {
    if d.payload.len() as u64 > MAX_PAYLOAD_LEN {
        return Err(DraftError::PayloadTooLarge {
            len: d.payload.len() as u64,
            max: MAX_PAYLOAD_LEN,
        });
    }
    if d.kind == EntryKind::Genesis {
        return Err(DraftError::Genesis);
    }
    if !d.position_signed && d.kind.requires_position_signature() {
        return Err(DraftError::UnsignedGovernance { kind: d.kind.name() });
    }
    if d.cosigners.len() as u64 > MAX_COSIGNATURES {
        return Err(DraftError::Field(crate::error::DecodeError::TooLong {
            context: "co-signatures",
            len: d.cosigners.len() as u64,
            max: MAX_COSIGNATURES,
        }));
    }
    crate::entry::check_fields(&d.content_type, d.refs.len())?;
    Ok(())
}

/// A draft with its commitment and co-signatures: everything that does not depend on its
/// place in the ledger.
pub(super) struct Staged {
    pub fields: EntryFields,
    pub salt: [u8; SALT_LEN],
    pub payload: Vec<u8>,
    pub commitment: Digest,
    pub cosignatures: Vec<AuthorSignature>,
    pub position_signed: bool,
}

/// Stage 1 of one draft: commitment, statement digest and co-signatures (a co-signer may fail).
///
/// A co-signer whose key is the writer's (`writer`, when the entry is position-signed) or that
/// came earlier in the list signs nothing: its signature would be the same key signing twice,
/// which verification rejects, and it adds no endorsement.
pub(super) fn stage(
    d: Draft,
    salt: [u8; SALT_LEN],
    ledger_id: LedgerId,
    now: Timestamp,
    writer: KeyId,
) -> Result<Staged, AppendError> {
    let f = EntryFields {
        kind: d.kind,
        timestamp: d.timestamp.unwrap_or(now),
        content_type: d.content_type,
        refs: d.refs,
    };
    let commitment = commit_payload(&salt, &d.payload);
    let mut cosignatures = Vec::with_capacity(d.cosigners.len());
    if !d.cosigners.is_empty() {
        let mut s = Vec::with_capacity(128);
        f.put_statement(ledger_id, &commitment, &mut s);
        let msg = cosignature_message(&crate::hash::Domain::Statement.hash(&s));
        for c in &d.cosigners {
            let key_id = c.verifying_key().key_id();
            let dup = (d.position_signed && key_id == writer)
                || cosignatures.iter().any(|s: &AuthorSignature| s.key_id == key_id);
            if !dup {
                cosignatures.push(AuthorSignature {
                    key_id,
                    signature: cosign(c.as_ref(), &msg)?,
                });
            }
        }
    }
    Ok(Staged {
        fields: f,
        salt,
        payload: d.payload,
        commitment,
        cosignatures,
        position_signed: d.position_signed,
    })
}

/// Signs with a co-signer, turning a panic in its `sign` (a bug in a signer plug-in) into an
/// error of that draft's request alone: unguarded, it would unwind through the writer thread and
/// fail every other producer's request in the group, and stop the writer.
fn cosign(c: &dyn crate::keys::Signer, msg: &[u8]) -> Result<[u8; 64], crate::error::KeyError> {
    // The signer is not used again by this request; its own state is the signer's business.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.sign(msg)))
        .unwrap_or_else(|_| Err(crate::error::KeyError::Signer("the co-signer panicked".into())))
}

/// An entry ready to be chained: its complete frame (unsealed; with room for the position
/// signature), entry hash and Merkle leaf.
pub(super) struct Prepared {
    /// The frame, as `storage::frame::encode_frame` writes it without a seal.
    pub frame: Vec<u8>,
    pub hash: Digest,
    /// `SHA-256(0x00 ‖ hash)`, computed here so the ordered pass only links and pushes.
    pub leaf: Digest,
    /// Where the 64 position-signature bytes go in `frame`, if position-signed.
    pub position_at: Option<usize>,
    pub kind: EntryKind,
}

impl Prepared {
    /// The payload bytes inside the frame.
    pub(super) fn payload(&self) -> &[u8] {
        let h = self.header();
        let s = h.section_offset() + crate::storage::frame::PAYLOAD_PREFIX_LEN;
        &self.frame[s..h.section_offset() + h.section_len]
    }

    fn header(&self) -> crate::storage::frame::FrameHeader {
        let mut h = [0u8; crate::storage::frame::FRAME_HEADER_LEN];
        h.copy_from_slice(&self.frame[..crate::storage::frame::FRAME_HEADER_LEN]);
        // Encoded by `place` just before: a valid header.
        crate::storage::frame::parse_header(&h).unwrap_or(crate::storage::frame::FrameHeader {
            entry_len: 0,
            section_len: crate::storage::frame::PAYLOAD_PREFIX_LEN,
            sealed: false,
        })
    }

    /// Puts the position signature in place and re-checksums the frame.
    pub(super) fn set_position_signature(&mut self, sig: &[u8; 64]) {
        if let Some(at) = self.position_at {
            self.frame[at..at + 64].copy_from_slice(sig);
            crate::storage::frame::refresh_crc(&mut self.frame);
        }
    }
}

/// Stage 2 of one entry, at its sequence number: record, frame, entry hash and leaf.
pub(super) fn place(s: &Staged, seq: u64, ledger_id: LedgerId, signer: KeyId) -> Result<Prepared, AppendError> {
    let placeholder = AuthorSignature {
        key_id: signer,
        signature: [0; 64],
    };
    let position = s.position_signed.then_some(&placeholder);
    let record = s
        .fields
        .encode_record(position, &s.cosignatures)
        .map_err(|e| AppendError::InvalidDraft {
            index: 0,
            reason: DraftError::Field(e),
        })?;
    let hash = RecordRef::parse(&record)?.entry_hash(seq, ledger_id, &s.commitment);
    let position_at = s.position_signed.then(|| {
        crate::storage::frame::FRAME_HEADER_LEN + record.len() - SIGNATURE_BLOCK_LEN * s.cosignatures.len() - 64
    });
    let mut frame = Vec::with_capacity(crate::storage::frame::FRAME_OVERHEAD + record.len() + 33 + s.payload.len());
    crate::storage::frame::encode_frame(&mut frame, &record, &s.salt, &s.payload, None);
    Ok(Prepared {
        frame,
        hash,
        leaf: crate::hash::hash_leaf(&hash),
        position_at,
        kind: s.fields.kind,
    })
}

/// Runs `f` over `items` in parallel (on `pool` if given), or serially for small batches.
pub(super) fn map<T: Send, U: Send>(
    pool: Option<&rayon::ThreadPool>,
    items: Vec<T>,
    f: impl Fn(usize, T) -> U + Sync + Send,
) -> Vec<U> {
    if items.len() < PARALLEL_FROM {
        return items.into_iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let run = || items.into_par_iter().enumerate().map(|(i, t)| f(i, t)).collect();
    match pool {
        Some(p) => p.install(run),
        None => run(),
    }
}
