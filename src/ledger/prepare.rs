//! Batch preparation: everything about an entry that does not depend on the entries before it
//! is computed here, in parallel — commitments, co-signatures, records, entry hashes — so that
//! the writer's ordered work is one BLAKE3 compression (the chain value) and a tree push per
//! entry, and its position signatures are again parallel.

use rayon::prelude::*;

use super::Draft;
use crate::entry::{
    commit_payload, cosignature_message, AuthorSignature, EntryFields, EntryKind, LedgerId, Timestamp,
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
/// The panic becomes [`SignError::Unavailable`](crate::keys::SignError::Unavailable): the
/// signer did not answer.
fn cosign(c: &dyn crate::keys::Signer, msg: &[u8]) -> Result<[u8; 64], crate::error::KeyError> {
    use crate::keys::SignError;
    // The signer is not used again by this request; its own state is the signer's business.
    let signed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.sign(msg)))
        .unwrap_or_else(|_| Err(SignError::Unavailable("the co-signer panicked".into())));
    Ok(signed?)
}

/// What encoding an entry at its place gave: its hash, its Merkle leaf, and where its
/// position signature goes in its frame.
pub(super) struct Placed {
    pub hash: Digest,
    /// `SHA-256(0x00 ‖ hash)`, computed here so the ordered pass only links and pushes.
    pub leaf: Digest,
    /// Where the 64 position-signature bytes go in the frame, if position-signed.
    pub position_at: Option<usize>,
}

/// Length of the frame of a staged entry (with room for a seal if `sealed`).
pub(super) fn frame_len(s: &Staged, sealed: bool) -> usize {
    let record = s.fields.record_len(s.position_signed, s.cosignatures.len());
    crate::storage::frame::frame_len(record, s.payload.len(), sealed)
}

/// Stage 2 of one entry, at its sequence number: encodes its frame into `frame` (exactly
/// [`frame_len`] bytes, in the group's write buffer), with zeros where the position signature
/// and the seal go, and computes its entry hash and Merkle leaf. The checksum is written here
/// unless a position signature or a seal is still to come.
pub(super) fn encode(
    s: &Staged,
    frame: &mut [u8],
    seq: u64,
    ledger_id: LedgerId,
    signer: KeyId,
    sealed: bool,
) -> Placed {
    use crate::storage::frame::{finish_frame, write_frame_parts, FRAME_HEADER_LEN};
    let placeholder = AuthorSignature {
        key_id: signer,
        signature: [0; 64],
    };
    let position = s.position_signed.then_some(&placeholder);
    let record_len = s.fields.record_len(s.position_signed, s.cosignatures.len());
    write_frame_parts(frame, record_len, &s.salt, &s.payload, sealed);
    let record = &mut frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + record_len];
    s.fields.write_record(record, position, &s.cosignatures);
    let hash = s
        .fields
        .entry_hash_of(record, s.position_signed, seq, ledger_id, &s.commitment);
    let position_at = s
        .position_signed
        .then(|| FRAME_HEADER_LEN + record_len - SIGNATURE_BLOCK_LEN * s.cosignatures.len() - 64);
    if position_at.is_none() && !sealed {
        finish_frame(frame, None);
    }
    Placed {
        hash,
        leaf: crate::hash::hash_leaf(&hash),
        position_at,
    }
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
