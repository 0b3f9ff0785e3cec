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
    let commitment = commit_payload(&salt, &d.payload);
    stage_committed(d, salt, commitment, ledger_id, now, writer)
}

/// Stage 1 of many drafts, each tagged with a `T` that is handed back with its result: the
/// commitments in parallel ([`commit_all`]), then each draft staged; co-signatures (the costly
/// part, when there are any) in parallel too.
pub(super) fn stage_all<T: Send + Sync>(
    pool: Option<&rayon::ThreadPool>,
    work: Vec<(T, Draft, [u8; SALT_LEN])>,
    ledger_id: LedgerId,
    now: Timestamp,
    writer: KeyId,
) -> Vec<(T, Result<Staged, AppendError>)> {
    let parallel = work.len() >= PARALLEL_FROM;
    let commitments = commit_all(pool, parallel, &work, |(_, d, salt)| (d, salt));
    let cosigned = work.iter().any(|(_, d, _)| !d.cosigners.is_empty());
    let stage = |((t, d, salt), c)| (t, stage_committed(d, salt, c, ledger_id, now, writer));
    if parallel && cosigned {
        let run = || work.into_par_iter().zip(commitments).map(stage).collect();
        match pool {
            Some(p) => p.install(run),
            None => run(),
        }
    } else {
        work.into_iter().zip(commitments).map(stage).collect()
    }
}

/// Stage 1 of application drafts without co-signers (the common case, which cannot fail):
/// the commitments in parallel ([`commit_all`]), then each draft's fields taken into its
/// [`Staged`] — moved field by field, the drafts left empty in place, so that a batch's drafts
/// are not copied from vector to vector on the way (a draft is 120 bytes, a staged entry
/// 184: moving them through the passes cost more than hashing their salts).
pub(super) fn stage_plain(
    pool: Option<&rayon::ThreadPool>,
    work: &mut [(Draft, [u8; SALT_LEN])],
    now: Timestamp,
) -> Vec<Staged> {
    debug_assert!(work.iter().all(|(d, _)| d.cosigners.is_empty()));
    let commitments = commit_all(pool, work.len() >= PARALLEL_FROM, work, |(d, salt)| (d, salt));
    work.iter_mut()
        .zip(commitments)
        .map(|((d, salt), commitment)| take_staged(d, *salt, commitment, now))
        .collect()
}

/// A draft's fields taken into a [`Staged`] entry without co-signatures (they are added by
/// [`stage_committed`]); the draft is left empty.
fn take_staged(d: &mut Draft, salt: [u8; SALT_LEN], commitment: crate::hash::Digest, now: Timestamp) -> Staged {
    Staged {
        fields: EntryFields {
            kind: d.kind,
            timestamp: d.timestamp.unwrap_or(now),
            content_type: std::mem::take(&mut d.content_type),
            refs: std::mem::take(&mut d.refs),
        },
        salt,
        payload: std::mem::take(&mut d.payload),
        commitment,
        cosignatures: Vec::new(),
        position_signed: d.position_signed,
    }
}

/// The payload commitments of `work`'s drafts, in order: runs of them hashed together
/// ([`commit_payloads`]), the runs in parallel if `parallel`. `part` picks a draft and its
/// salt out of an item; the items are only borrowed.
fn commit_all<W: Sync>(
    pool: Option<&rayon::ThreadPool>,
    parallel: bool,
    work: &[W],
    part: impl Fn(&W) -> (&Draft, &[u8; SALT_LEN]) + Sync + Send,
) -> Vec<crate::hash::Digest> {
    // Runs of whole SIMD groups, at least four of them when the batch is parallel.
    let run = (work.len() / 4).next_multiple_of(16).clamp(16, COMMIT_RUN);
    let runs: Vec<&[W]> = work.chunks(run).collect();
    let per_run = map_if(pool, parallel, runs, |_, r| {
        commit_payloads(&r.iter().map(&part).collect::<Vec<_>>())
    });
    let mut all = Vec::with_capacity(work.len());
    for c in per_run {
        all.extend(c);
    }
    all
}

/// Drafts whose commitments are computed together: a multiple of the 16 SIMD lanes, and small
/// enough that a batch of 1,024 still splits into work for every core.
const COMMIT_RUN: usize = 64;

/// `items` in runs of `n` (the last one shorter), in order.
pub(super) fn chunked<I>(items: Vec<I>, n: usize) -> Vec<Vec<I>> {
    let mut runs = Vec::with_capacity(items.len().div_ceil(n));
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        runs.push(it.by_ref().take(n).collect());
    }
    runs
}

/// The payload commitments `H_payload(salt ‖ payload)` of a run of drafts, equal to
/// [`commit_payload`] of each: those that fit in one BLAKE3 chunk hashed together.
fn commit_payloads(run: &[(&Draft, &[u8; SALT_LEN])]) -> Vec<crate::hash::Digest> {
    const ONE_CHUNK: usize = 1024;
    let mut buf = Vec::with_capacity(run.iter().map(|(d, _)| SALT_LEN + d.payload.len().min(ONE_CHUNK)).sum());
    let mut spans = Vec::with_capacity(run.len());
    for (d, salt) in run {
        if SALT_LEN + d.payload.len() <= ONE_CHUNK {
            let at = buf.len();
            buf.extend_from_slice(*salt);
            buf.extend_from_slice(&d.payload);
            spans.push(Some(at..buf.len()));
        } else {
            spans.push(None);
        }
    }
    let inputs: Vec<Option<&[u8]>> = spans.iter().map(|r| r.clone().map(|r| &buf[r])).collect();
    let batched = crate::hash::Domain::Payload.hash_each_present(&inputs);
    run.iter()
        .zip(batched)
        .map(|((d, salt), c)| c.unwrap_or_else(|| commit_payload(salt, &d.payload)))
        .collect()
}

/// [`stage`] with the commitment already computed.
fn stage_committed(
    mut d: Draft,
    salt: [u8; SALT_LEN],
    commitment: crate::hash::Digest,
    ledger_id: LedgerId,
    now: Timestamp,
    writer: KeyId,
) -> Result<Staged, AppendError> {
    let mut staged = take_staged(&mut d, salt, commitment, now);
    if !d.cosigners.is_empty() {
        let mut s = Vec::with_capacity(128);
        staged.fields.put_statement(ledger_id, &commitment, &mut s);
        let msg = cosignature_message(&crate::hash::Domain::Statement.hash(&s));
        let cosignatures = &mut staged.cosignatures;
        cosignatures.reserve_exact(d.cosigners.len());
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
    Ok(staged)
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

/// [`encode_frame`] of consecutive entries, the first at `first`, with their entry hashes and
/// leaves; `sealed(i)`: whether entry `i` of them ends a write. In parallel, in runs whose entry
/// hashes are computed together (`Domain::hash_each`: SIMD across entries) — the same hashes as
/// one by one.
pub(super) fn encode_all(
    pool: Option<&rayon::ThreadPool>,
    work: Vec<(&Staged, &mut [u8])>,
    first: u64,
    ledger_id: LedgerId,
    signer: KeyId,
    sealed: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Placed> {
    const RUN: usize = 64;
    let parallel = work.len() >= PARALLEL_FROM;
    let runs = chunked(work, RUN);
    let placed = map_if(pool, parallel, runs, |r, run| {
        let mut inputs = Vec::with_capacity(run.len() * 128);
        let mut spans = Vec::with_capacity(run.len());
        let mut positions = Vec::with_capacity(run.len());
        for (k, (s, frame)) in run.into_iter().enumerate() {
            let i = r * RUN + k;
            let at = inputs.len();
            positions.push(encode_frame(
                s,
                frame,
                first + i as u64,
                ledger_id,
                signer,
                sealed(i),
                &mut inputs,
            ));
            spans.push(at..inputs.len());
        }
        let hashed: Vec<&[u8]> = spans.iter().map(|s| &inputs[s.clone()]).collect();
        crate::hash::Domain::Entry
            .hash_each(&hashed)
            .into_iter()
            .zip(positions)
            .map(|(hash, position_at)| Placed {
                hash,
                leaf: crate::hash::hash_leaf(&hash),
                position_at,
            })
            .collect::<Vec<_>>()
    });
    placed.into_iter().flatten().collect()
}

/// Stage 2 of one entry, at its sequence number: encodes its frame into `frame` (exactly
/// [`frame_len`] bytes, in the group's write buffer), with zeros where the position signature
/// and the seal go, and appends the input of its entry hash to `hash_input`. The checksum is
/// written here unless a position signature or a seal is still to come. Returns where the
/// position signature goes, if the entry is position-signed.
fn encode_frame(
    s: &Staged,
    frame: &mut [u8],
    seq: u64,
    ledger_id: LedgerId,
    signer: KeyId,
    sealed: bool,
    hash_input: &mut Vec<u8>,
) -> Option<usize> {
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
    s.fields
        .entry_hash_input_of(record, s.position_signed, seq, ledger_id, &s.commitment, hash_input);
    let position_at = s
        .position_signed
        .then(|| FRAME_HEADER_LEN + record_len - SIGNATURE_BLOCK_LEN * s.cosignatures.len() - 64);
    if position_at.is_none() && !sealed {
        finish_frame(frame, None);
    }
    position_at
}

/// Runs `f` over `items` in parallel (on `pool` if given), or serially for small batches.
pub(super) fn map<T: Send, U: Send>(
    pool: Option<&rayon::ThreadPool>,
    items: Vec<T>,
    f: impl Fn(usize, T) -> U + Sync + Send,
) -> Vec<U> {
    let parallel = items.len() >= PARALLEL_FROM;
    map_if(pool, parallel, items, f)
}

/// The pool the writers of this process hash and sign on unless [`Options::threads`] gave a
/// ledger its own: started on first use, one thread per core (or `RAYON_NUM_THREADS`), named
/// `provledger-prepare-<i>`. Not rayon's global pool, on purpose: a writer waits for its
/// pool, and callers may be waiting for the writer — a service calling `append_batch` from
/// rayon tasks blocked every thread of the global pool on its own requests, and the writer
/// then waited forever for a pool thread to run its parallel pass (a deadlock, test
/// `tests/concurrency.rs` `appends_from_rayon_tasks_do_not_deadlock`). This pool runs nothing
/// but provledger's own work, none of which waits for a writer. `None` (the global pool, as
/// before) only if the operating system refused the threads.
///
/// [`Options::threads`]: super::Options::threads
fn shared_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("provledger-prepare-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// The pool a writer hashes and signs on: `own` ([`Options::threads`]) or, without one, the
/// pool the writers of this process share ([`shared_pool`]).
///
/// [`Options::threads`]: super::Options::threads
pub(super) fn pool_or_shared(own: Option<&rayon::ThreadPool>) -> Option<&rayon::ThreadPool> {
    match own {
        Some(p) => Some(p),
        None => shared_pool(),
    }
}

/// [`map`], in parallel only if `parallel`.
fn map_if<T: Send, U: Send>(
    pool: Option<&rayon::ThreadPool>,
    parallel: bool,
    items: Vec<T>,
    f: impl Fn(usize, T) -> U + Sync + Send,
) -> Vec<U> {
    if !parallel {
        return items.into_iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let run = || items.into_par_iter().enumerate().map(|(i, t)| f(i, t)).collect();
    match pool {
        Some(p) => p.install(run),
        None => run(),
    }
}
