//! Verification (docs/FORMAT.md §9): stream the ledger against a trust anchor the auditor
//! supplies.
//!
//! For every entry: framing and checksums, the record and payload section, the entry hash and
//! chain value, the writer's position signature and every co-signature (against keys the
//! genesis or later enrollments made, valid at that entry), the kind's roles, unsigned entries
//! only under a checkpoint, the index, the stored tree, every checkpoint's root and signature
//! when the ledger reaches its size, and erasures explained by redactions. The per-entry work
//! (decoding, hashing, signatures in batches) runs in parallel per chunk; what depends on order
//! (keys, the chain, the tree, checkpoints) is a cheap pass in ledger order. Memory stays
//! bounded by the chunk.

mod entry_check;
mod index_check;
mod policy;
mod policy_feed;
pub(crate) mod registry;
mod report;
mod state;
mod tree_check;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

pub use policy_feed::{policy_at, PolicyView};
pub use report::{Check, Failure, Involved, PolicyEvent, PolicyRef, VerifyReport, Violation};
pub use state::{StateError, VerifierState};

use crate::checkpoint::{read_log_upto, Checkpoint};
use crate::entry::{cosignature_message, position_message, EntryKind, LedgerId, RecordRef};
use crate::error::{StorageError, VerifyError};
use crate::hash::{chain_value, Digest};
use crate::keys::VerifyingKey;
use crate::record::{Genesis, Record, Role};
use crate::signature::{verify_batch, SignatureItem};
use crate::storage::frame::{parse_section, SectionRef};
use crate::storage::segment::FrameLoc;
use crate::storage::{open_ledger_dir, Backend, LedgerDir, SegmentStream, StdBackend, StreamChunk};
use entry_check::{decode_frame, Decoded, Problem};
use index_check::IndexCursor;
use policy::{PolicyEngine, Signer};
use registry::Registry;
use tree_check::TreeCheck;

/// Frames verified per parallel chunk.
const CHUNK_FRAMES: usize = 4096;
/// Signatures one parallel task verifies together, as one batch (docs/FORMAT.md §3.5). Larger
/// batches cost less per signature (the multiscalar multiplication amortises; signatures by
/// one key coalesce): measured with the peer harness's `verify_file_sign` (250k signed
/// entries, idle 2-core machine), 64 → 166k entries/s, 256 → 179k/s, 1024 → 188k/s. A chunk
/// of 4096 frames still gives both cores work. A failed batch is bisected, so a bad signature
/// costs about log2(1024) = 10 extra batch checks of shrinking size, once.
const SIGNATURE_BATCH: usize = 1024;

/// What the auditor trusts. Verification never trusts keys the ledger asserts on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustAnchor {
    /// An operator/admin public key: it must be a genesis anchor and must have signed the
    /// genesis entry.
    PublicKey(VerifyingKey),
    /// The entry hash of the genesis entry, obtained out of band.
    GenesisHash(Digest),
}

impl TrustAnchor {
    pub(crate) fn describe(&self) -> String {
        match self {
            TrustAnchor::PublicKey(k) => format!("public key {k} (key id {})", k.key_id()),
            TrustAnchor::GenesisHash(h) => format!("genesis entry hash {h}"),
        }
    }
}

/// Settings of a verification: `VerifyOptions::default()` and the setters below (fields may be
/// added, so the struct cannot be written out literally outside this crate).
///
/// ```
/// use provledger::VerifyOptions;
/// let opts = VerifyOptions::default().policy(true).allow_uncovered_tail(true);
/// assert!(opts.policy && opts.allow_uncovered_tail && opts.from_checkpoint.is_none());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Accept unsigned entries that no checkpoint covers (a live ledger between checkpoints),
    /// counting them in [`VerifyReport::uncovered_tail`]. Off by default: otherwise anyone with
    /// write access could append unsigned entries unnoticed.
    pub allow_uncovered_tail: bool,
    /// Verify from this checkpoint, which the auditor trusts (e.g. verified last time): every
    /// entry is read and hashed, but the signatures of the entries it covers are taken on its
    /// word instead of being checked (docs/FORMAT.md §9 step 3).
    pub from_checkpoint: Option<Checkpoint>,
    /// Evaluate the policy rules (DESIGN §4) and report violations. Integrity checks,
    /// including key roles and revocations, run either way.
    pub policy: bool,
    /// Resume from a state a passing verification returned ([`VerifyReport::state`]): only the
    /// entries after its checkpoint are read (see [`VerifierState`]). Not with
    /// [`VerifyOptions::from_checkpoint`].
    pub resume: Option<VerifierState>,
    /// Return the state at the newest checkpoint in [`VerifyReport::state`] (always when
    /// resuming). Off by default: the state holds the policy engine's record of every decision,
    /// and encoding it costs time and memory a one-off verification does not need.
    pub keep_state: bool,
    progress: Progress,
}

/// The progress callback of a verification (see [`VerifyOptions::on_progress`]).
#[derive(Clone, Default)]
struct Progress(Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(callback)" } else { "None" })
    }
}

impl VerifyOptions {
    /// Sets [`VerifyOptions::allow_uncovered_tail`].
    #[must_use]
    pub fn allow_uncovered_tail(mut self, allow: bool) -> Self {
        self.allow_uncovered_tail = allow;
        self
    }

    /// Sets [`VerifyOptions::from_checkpoint`].
    #[must_use]
    pub fn from_checkpoint(mut self, checkpoint: Option<Checkpoint>) -> Self {
        self.from_checkpoint = checkpoint;
        self
    }

    /// Sets [`VerifyOptions::keep_state`].
    #[must_use]
    pub fn keep_state(mut self, keep: bool) -> Self {
        self.keep_state = keep;
        self
    }

    /// Sets [`VerifyOptions::resume`].
    #[must_use]
    pub fn resume(mut self, state: Option<VerifierState>) -> Self {
        self.resume = state;
        self
    }

    /// Sets [`VerifyOptions::policy`].
    #[must_use]
    pub fn policy(mut self, evaluate: bool) -> Self {
        self.policy = evaluate;
        self
    }

    /// Calls `f` with the number of entries verified so far after each chunk of up to 4096
    /// entries (from the verifying thread; keep it cheap). For a progress display: the CLI's
    /// `verify` shows one on a terminal. The count starts again from the beginning when a
    /// verification is made again (a payload erased while it read a ledger being written:
    /// docs/FORMAT.md §9, step 0).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use provledger::VerifyOptions;
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let s = Arc::clone(&seen);
    /// let opts = VerifyOptions::default().on_progress(move |n| s.store(n, Ordering::Relaxed));
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn on_progress(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Progress(Some(std::sync::Arc::new(f)));
        self
    }
}

/// Verifies the ledger in `dir` on the real file system with default options.
///
/// ```
/// use provledger::{verify, Draft, Ledger, Options, SigningKey, TrustAnchor};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let mut ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"hi".to_vec()))?;
/// let report = verify(dir.path(), &TrustAnchor::PublicKey(key.verifying_key()))?;
/// assert!(report.is_ok());
/// assert_eq!(report.entries, 2);
/// # Ok::<_, provledger::Error>(())
/// ```
///
/// # Errors
/// Only when the ledger cannot be read at all (not a ledger, I/O errors).
/// Damage and failed checks are reported in [`VerifyReport::failure`].
pub fn verify(dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, VerifyError> {
    verify_opts(&StdBackend, dir, anchor, &VerifyOptions::default())
}

/// Verifies the ledger in `dir` through `backend` with default options.
///
/// # Errors
/// As [`verify`].
pub fn verify_with(backend: &dyn Backend, dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, VerifyError> {
    verify_opts(backend, dir, anchor, &VerifyOptions::default())
}

/// Verifies the ledger in `dir` through `backend`. Needs no lock: it may run while a writer
/// appends, and reports an incomplete final write as [`VerifyReport::torn_tail`]. When it
/// fails only for an erased payload whose redaction entry was written while it read, it
/// verifies again (at most twice more; docs/FORMAT.md §9, step 0).
///
/// # Errors
/// As [`verify`].
pub fn verify_opts(
    backend: &dyn Backend,
    dir: &Path,
    anchor: &TrustAnchor,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let root = open_ledger_dir(backend, dir, false)?;
    verify_dir(root.as_ref(), anchor, opts)
}

/// Verifications made again, at most, when one failed only for an erased payload whose
/// redaction entry it did not reach while the ledger grew (see [`verify_dir`]).
const ERASURE_REREADS: u32 = 2;

/// Verifies the ledger opened as `root` (see [`verify_opts`]).
///
/// Erasure is the one write that changes bytes already written, and a writer makes its
/// redaction entry durable before it overwrites the payload (docs/FORMAT.md §7.6). A
/// verification that reads one state of a ledger being written (see [`verify_view`]) can read
/// a payload already erased while the redaction entry lies past that state: in a segment
/// started after the listing, or past the length it read of the newest segment. So when the
/// failure is an erased payload no redaction entry explained (step 5.2) and the ledger's
/// extent (its segments and the newest one's length) changed since the verification listed
/// the segments, the ledger is verified again from the start, at most [`ERASURE_REREADS`]
/// times; the new state holds the redaction entry. A ledger that did not change, or still
/// fails, is reported as found.
pub(crate) fn verify_dir(
    root: &dyn LedgerDir,
    anchor: &TrustAnchor,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let mut again = 0;
    loop {
        let mut view = View::default();
        let report = verify_view(root, anchor, opts, &mut view)?;
        if !view.unexplained.load(Ordering::Relaxed) || again == ERASURE_REREADS || view.extent.is_none() {
            return Ok(report);
        }
        let now = crate::storage::list_segments(root)
            .ok()
            .and_then(|segments| extent(root, &segments));
        if now == view.extent {
            return Ok(report);
        }
        again += 1;
    }
}

/// What one verification saw of the ledger's extent, and whether it failed for an erased
/// payload that no redaction entry explained.
#[derive(Default)]
struct View {
    /// The segments it listed and the newest one's length right after (`None` if that
    /// length could not be read).
    extent: Option<(Vec<u64>, u64)>,
    unexplained: AtomicBool,
}

/// `segments` and the length of the newest of them (`None` if it cannot be read).
fn extent(root: &dyn LedgerDir, segments: &[u64]) -> Option<(Vec<u64>, u64)> {
    let newest = crate::storage::segment_rel(*segments.last()?);
    let len = root.open_read(&newest).and_then(|f| f.len()).ok()?;
    Some((segments.to_vec(), len))
}

/// One verification of the ledger opened as `root`, of one state of it; fills in `view`.
fn verify_view(
    root: &dyn LedgerDir,
    anchor: &TrustAnchor,
    opts: &VerifyOptions,
    view: &mut View,
) -> Result<VerifyReport, VerifyError> {
    // A consistent view of a ledger a writer may be appending to: the checkpoint log's length
    // first (a writer makes entries durable before it logs a checkpoint of them, so every
    // checkpoint in that prefix covers entries already written), then one listing of the
    // segments (step 0), read by the stream and by the index check alike; checkpoints and
    // segments added later are not part of this verification.
    let log_len = crate::checkpoint::log_len(root)?;
    if let Some(state) = &opts.resume {
        return verify_resumed(root, anchor, opts, state, log_len, view);
    }
    let mut stream = SegmentStream::open(root)?;
    view.extent = extent(root, stream.segments());
    let mut v = Verifier::new(root, anchor, opts, stream.newest_segment(), log_len, &view.unexplained);
    // The genesis entry alone first: the checkpoint log (read once the ledger id is known)
    // says where the chunks after it must end (see `Verifier::limit`).
    let Some(first) = v.next(&mut stream, 1)? else {
        if v.report.is_ok() {
            v.report.torn_tail = stream.tail().cloned();
            v.finish(&TreeCheck::new(root, LedgerId::default()));
        }
        return Ok(v.into_report());
    };
    let mut tree = TreeCheck::new(root, first.header.ledger_id);
    let Some(f0) = first.chunk.frames.first() else {
        if v.report.is_ok() {
            v.report.torn_tail = stream.tail().cloned();
            v.finish(&tree);
        }
        return Ok(v.into_report());
    };
    if !v.genesis(&first.chunk.data, f0) || !v.load_checkpoints()? {
        return Ok(v.into_report());
    }
    v.run(&mut stream, first, &mut tree)
}

/// Adds `seq` to the sorted list of redacted entries.
fn note_redacted(redacted: &mut Vec<u64>, seq: u64) {
    if let Err(at) = redacted.binary_search(&seq) {
        redacted.insert(at, seq);
    }
}

/// Verification resumed from a saved state (docs/FORMAT.md §9.1): the entries after the
/// state's checkpoint, once the ledger is shown to still hold the last entry and the
/// checkpoint log prefix the state recorded.
fn verify_resumed(
    root: &dyn LedgerDir,
    anchor: &TrustAnchor,
    opts: &VerifyOptions,
    state: &VerifierState,
    log_len: u64,
    view: &mut View,
) -> Result<VerifyReport, VerifyError> {
    use crate::checkpoint::{CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
    let body = state.body()?;
    let mismatch = |why: String| Err(VerifyError::State(StateError::Mismatch(why)));
    if opts.from_checkpoint.is_some() {
        return mismatch("a resumed verification takes no trusted checkpoint: the state vouches for its prefix".into());
    }
    if body.anchor != anchor.describe() {
        return mismatch(format!("it was taken trusting {}", body.anchor));
    }
    if body.policy != opts.policy {
        let (then, now) = if body.policy { ("", " not") } else { (" not", "") };
        return mismatch(format!(
            "it was taken with the policy{then} evaluated, and this verification does{now} evaluate it"
        ));
    }
    let size = body.checkpoint.tree_size;
    let ledger_id = LedgerId(body.ledger_id);
    let frontier = crate::merkle::Frontier::from_parts(size, body.frontier.clone())
        .map_err(|e| StateError::Malformed(e.to_string()))?;
    let (last_hash, log_hash, log_records) = (body.last_hash, body.log_hash, body.log_records);
    let checkpoint = body.checkpoint;
    let mut stream = SegmentStream::open_from(root, size - 1)?;
    view.extent = extent(root, stream.segments());
    let mut v = Verifier::new(root, anchor, opts, stream.newest_segment(), log_len, &view.unexplained);
    v.restore(body);
    let mut tree = TreeCheck::with_frontier(root, ledger_id, frontier);
    // The last entry the state covers must still be there, unchanged.
    let last = size - 1;
    let found = match stream.next_chunk(1) {
        Ok(Some(sc)) if sc.first_seq == last && sc.header.ledger_id == ledger_id => sc
            .chunk
            .frames
            .first()
            .map(|f| decode_frame(&sc.chunk.data, f, last, ledger_id).hash),
        Ok(_) | Err(StorageError::Corrupt { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if found != Some(last_hash) {
        let msg = format!(
            "entry {last}, the last one your saved state covers, is not in the ledger as it was verified: \
             the ledger was cut, rolled back or rewritten since"
        );
        v.fail(Some(last), Check::Chain, msg);
        return Ok(v.into_report());
    }
    if !v.load_checkpoints()? {
        return Ok(v.into_report());
    }
    let prefix = CHECKPOINT_HEADER_LEN as u64 + log_records * CHECKPOINT_RECORD_LEN as u64;
    let same_log = prefix <= v.log_len
        && state::log_prefix_hash(root, prefix)? == Some(log_hash)
        && usize::try_from(log_records)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| v.checkpoints.get(i))
            .is_some_and(|(_, c)| *c == checkpoint);
    if !same_log {
        let msg = format!(
            "the checkpoint log up to the checkpoint your saved state was taken at (size {size}) was changed or cut"
        );
        v.fail(Some(last), Check::Checkpoint, msg);
        return Ok(v.into_report());
    }
    v.next_checkpoint = usize::try_from(log_records).unwrap_or(usize::MAX);
    // Erasures the state saw requested but not yet done may have been completed since.
    for target in std::mem::take(&mut v.report.redaction_pending) {
        match v.entry_at_seq(target)? {
            Some((_, true)) => note_redacted(&mut v.report.redacted, target),
            _ => v.report.redaction_pending.push(target),
        }
    }
    // Checkpoints logged since at the state's very size.
    if let Some(msg) = v.checkpoints_at(&tree) {
        v.fail(Some(last), Check::Checkpoint, msg);
        return Ok(v.into_report());
    }
    let limit = v.limit(size);
    let Some(first) = v.next(&mut stream, limit)? else {
        if v.report.is_ok() {
            v.report.torn_tail = stream.tail().cloned();
            v.finish(&tree);
        }
        return Ok(v.into_report());
    };
    v.run(&mut stream, first, &mut tree)
}

/// Step 4's per-entry checks of a chunk (E1–E4, hashes), in parallel.
fn decode_chunk(sc: &StreamChunk, ledger_id: LedgerId) -> Vec<Decoded> {
    // In runs, so that each run's commitments and entry hashes are hashed together (SIMD
    // across entries); a multiple of the 16 lanes, and many runs per chunk for the cores.
    const RUN: usize = 64;
    let (data, first) = (&sc.chunk.data, sc.first_seq);
    // Filled in place, run by run (an indexed split: no per-thread lists to join).
    let mut out: Vec<Decoded> = std::iter::repeat_with(Decoded::default)
        .take(sc.chunk.frames.len())
        .collect();
    out.par_chunks_mut(RUN)
        .zip(sc.chunk.frames.par_chunks(RUN))
        .enumerate()
        .for_each(|(r, (slots, run))| {
            entry_check::decode_run(data, run, first + (r * RUN) as u64, ledger_id, slots);
        });
    out
}

/// What pass A (ledger order, before signatures) found for one entry.
#[derive(Default)]
struct Ordered {
    /// A key problem (E5), if any (boxed: rare, and pass A moves one `Ordered` per entry).
    key_problem: Option<Box<Problem>>,
    /// The chain value after the entry, `chain_value(prev, E)` (computed once, in pass A).
    chain: Digest,
    /// Indices into the chunk's signature jobs: position signature, then co-signatures.
    jobs: Range<usize>,
    /// Signers with what the registry knew of them (governance entries, policy on).
    signers: Vec<Signer>,
}

/// One signature to verify.
struct SigJob {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: [u8; 64],
}

/// The verdict of each job of `batch`, in order (docs/FORMAT.md §3.5): one batch
/// verification, a failed batch bisected down to single verifications, so the verdict of every
/// job is exactly its single verification's. Should the OS random source fail (no batch
/// coefficients), the jobs are verified one by one: the same verdicts, only slower.
fn verify_jobs(batch: &[SigJob]) -> std::vec::IntoIter<bool> {
    let items: Vec<SignatureItem<'_>> = batch
        .iter()
        .map(|j| SignatureItem::new(&j.key, &j.message, &j.signature))
        .collect();
    let ok = match verify_batch(&items) {
        Ok(failed) => {
            let mut ok = vec![true; batch.len()];
            for i in failed {
                ok[i] = false;
            }
            ok
        }
        Err(_) => batch.iter().map(|j| j.key.verify(&j.message, &j.signature)).collect(),
    };
    ok.into_iter()
}

struct Verifier<'a> {
    dir: &'a dyn LedgerDir,
    anchor: &'a TrustAnchor,
    opts: &'a VerifyOptions,
    report: VerifyReport,
    ledger_id: LedgerId,
    keys: Registry,
    policy: Option<PolicyEngine>,
    /// Erased payloads not (yet) explained by a redaction entry: seq → entry hash.
    erased: BTreeMap<u64, Digest>,
    index: Option<IndexCursor>,
    /// The checkpoint log, in log order, with each checkpoint's number.
    checkpoints: Vec<(usize, Checkpoint)>,
    /// The next checkpoint (in size order) to check.
    next_checkpoint: usize,
    /// Entries below this sequence number are covered by a signed checkpoint.
    covered_until: u64,
    /// Signatures of entries below this sequence number are not checked (step 3).
    trusted_until: u64,
    newest_segment: u64,
    /// The checkpoint log's length when verification began (later records are not read).
    log_len: u64,
    /// The chain value after the last entry pass A saw.
    chain: Digest,
    /// Checkpoints in the log (the trusted one aside).
    log_records: u64,
    /// Where the state a passing verification returns is taken: the newest checkpoint's size
    /// (chunks end there, so that pass A has not run ahead of it).
    snapshot_at: Option<u64>,
    /// Set when the verification fails for an erased payload no redaction entry explained.
    unexplained: &'a AtomicBool,
}

impl<'a> Verifier<'a> {
    fn new(
        dir: &'a dyn LedgerDir,
        anchor: &'a TrustAnchor,
        opts: &'a VerifyOptions,
        newest_segment: u64,
        log_len: u64,
        unexplained: &'a AtomicBool,
    ) -> Self {
        Verifier {
            dir,
            anchor,
            opts,
            report: VerifyReport {
                trusted: anchor.describe(),
                verified_from: opts.from_checkpoint.map_or(0, |c| c.tree_size),
                ..VerifyReport::default()
            },
            ledger_id: LedgerId::default(),
            keys: Registry::default(),
            policy: None,
            erased: BTreeMap::new(),
            index: None,
            checkpoints: Vec::new(),
            next_checkpoint: 0,
            covered_until: 0,
            trusted_until: 0,
            newest_segment,
            log_len,
            chain: Digest::ZERO,
            log_records: 0,
            snapshot_at: None,
            unexplained,
        }
    }

    /// Takes over what a saved state knew (see [`verify_resumed`]).
    fn restore(&mut self, body: state::Body) {
        let size = body.checkpoint.tree_size;
        self.ledger_id = LedgerId(body.ledger_id);
        self.keys = body.keys;
        self.policy = body.engine;
        self.erased = body.erased;
        self.chain = body.head;
        let r = &mut self.report;
        r.ledger_id = Some(self.ledger_id);
        r.entries = size;
        r.head = body.head;
        r.root = body.checkpoint.root;
        r.redacted = body.redacted;
        r.unsigned_covered = body.unsigned_covered;
        r.checkpoints_verified = body.checkpoints_verified;
        r.redaction_pending = body.redaction_pending;
        r.policy_checked = self.opts.policy;
        r.resumed_from = size;
    }

    /// Frames the chunk starting at `next` may hold: it ends at the snapshot point if that is
    /// ahead.
    fn limit(&self, next: u64) -> usize {
        match self.snapshot_at {
            Some(at) if at > next => usize::try_from(at - next).map_or(CHUNK_FRAMES, |n| n.min(CHUNK_FRAMES)),
            _ => CHUNK_FRAMES,
        }
    }

    /// Steps 4 and 5 over the rest of the stream, `first` being the next chunk.
    fn run(
        mut self,
        stream: &mut SegmentStream<'_>,
        first: StreamChunk,
        tree: &mut TreeCheck,
    ) -> Result<VerifyReport, VerifyError> {
        let ledger_id = self.ledger_id;
        let opts = self.opts;
        let decoded = decode_chunk(&first, ledger_id);
        let mut cur = Some((first, decoded));
        // While the ordered checks of chunk k run, the entries of chunk k + 1 are decoded and
        // hashed on the other threads.
        while let Some((sc, decoded)) = cur.take() {
            let end = sc.first_seq + sc.chunk.frames.len() as u64;
            let limit = self.limit(end);
            let (next, ok) = rayon::join(
                || {
                    stream.next_chunk(limit).map(|n| {
                        n.map(|n| {
                            let d = decode_chunk(&n, ledger_id);
                            (n, d)
                        })
                    })
                },
                || self.chunk(&sc, &decoded, tree),
            );
            if !ok? {
                return Ok(self.into_report());
            }
            if self.snapshot_at == Some(end) {
                if let Some(last) = decoded.last() {
                    self.snapshot(tree, last.hash)?;
                }
            }
            if let Some(f) = &opts.progress.0 {
                f(self.report.entries);
            }
            stream.recycle(sc.chunk.data);
            cur = match next {
                Ok(n) => n,
                Err(e) => {
                    // Damage met reading ahead is reported only now, after the entries before it.
                    self.stream_error(e)?;
                    return Ok(self.into_report());
                }
            };
            if let Some((n, _)) = &cur {
                self.report.ledger_id.get_or_insert(n.header.ledger_id);
            }
        }
        if self.report.is_ok() {
            self.report.torn_tail = stream.tail().cloned();
            self.finish(tree);
        }
        Ok(self.into_report())
    }

    /// Records what a verification resumed from here needs ([`VerifierState`]), after the
    /// entry whose hash is `last_hash`, at the newest checkpoint in the log.
    fn snapshot(&mut self, tree: &TreeCheck, last_hash: Digest) -> Result<(), VerifyError> {
        use crate::checkpoint::{CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
        let Some(&(_, checkpoint)) = self.checkpoints.iter().rev().find(|(n, _)| *n != usize::MAX) else {
            return Ok(());
        };
        let prefix = CHECKPOINT_HEADER_LEN as u64 + self.log_records * CHECKPOINT_RECORD_LEN as u64;
        let Some(log_hash) = state::log_prefix_hash(self.dir, prefix)? else {
            return Ok(());
        };
        let body = state::BodyRef {
            anchor: &self.anchor.describe(),
            ledger_id: self.ledger_id.0,
            policy: self.opts.policy,
            checkpoint: &checkpoint,
            last_hash,
            head: self.chain,
            frontier: tree.frontier_hashes(),
            log_records: self.log_records,
            log_hash,
            checkpoints_verified: self.report.checkpoints_verified,
            keys: &self.keys,
            engine: self.policy.as_ref(),
            erased: &self.erased,
            redacted: &self.report.redacted,
            unsigned_covered: self.report.unsigned_covered,
            redaction_pending: &self.report.redaction_pending,
        };
        // A state too large to encode is no state; the verification stands.
        self.report.state = VerifierState::encode(&body).ok();
        Ok(())
    }

    fn fail(&mut self, seq: Option<u64>, check: Check, message: String) {
        self.report.failure = Some(Failure {
            seq,
            check,
            file: None,
            offset: None,
            message,
        });
    }

    fn fail_at(&mut self, seq: u64, check: Check, file: PathBuf, offset: u64, message: String) {
        self.report.failure = Some(Failure {
            seq: Some(seq),
            check,
            file: Some(file),
            offset: Some(offset),
            message,
        });
    }

    /// The next chunk; damage becomes a `Format` failure (and `None`).
    fn next(&mut self, stream: &mut SegmentStream<'_>, max_frames: usize) -> Result<Option<StreamChunk>, VerifyError> {
        match stream.next_chunk(max_frames) {
            Ok(Some(sc)) => {
                self.report.ledger_id.get_or_insert(sc.header.ledger_id);
                Ok(Some(sc))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.stream_error(e)?;
                Ok(None)
            }
        }
    }

    /// Records damage the segment stream met (step 1 and §8) as a failure; other storage
    /// errors end verification.
    fn stream_error(&mut self, e: StorageError) -> Result<(), VerifyError> {
        match e {
            StorageError::Corrupt {
                file,
                offset,
                reason,
                seq,
            } => {
                let check = if reason.contains("should start at entry") {
                    Check::Chain
                } else {
                    Check::Format
                };
                self.fail_at(seq.unwrap_or(self.report.entries), check, file, offset, reason);
                Ok(())
            }
            e => Err(VerifyError::Storage(e)),
        }
    }

    /// Checks the genesis entry against the trust anchor and loads its keys (step 2).
    fn genesis(&mut self, data: &[u8], f: &FrameLoc) -> bool {
        let record = match RecordRef::parse(f.entry(data)) {
            Ok(r) => r,
            Err(e) => {
                self.fail(Some(0), Check::Format, e.to_string());
                return false;
            }
        };
        if record.kind() != EntryKind::Genesis {
            self.fail(Some(0), Check::Chain, "the first entry is not a genesis entry".into());
            return false;
        }
        let Ok(SectionRef::Present { payload, .. }) = parse_section(f.section(data)) else {
            self.fail(Some(0), Check::Format, "genesis payload missing or erased".into());
            return false;
        };
        let genesis = match Genesis::decode(payload) {
            Ok(g) => g,
            Err(e) => {
                self.fail(Some(0), Check::Format, format!("genesis payload: {e}"));
                return false;
            }
        };
        self.ledger_id = self.report.ledger_id.unwrap_or_default();
        self.keys = match Registry::from_genesis(&genesis) {
            Ok(k) => k,
            Err(e) => {
                self.fail(Some(0), Check::Format, format!("genesis anchor: {e}"));
                return false;
            }
        };
        self.report.policy_checked = self.opts.policy;
        if self.opts.policy {
            match PolicyEngine::new(&genesis) {
                Ok(engine) => self.policy = Some(engine),
                Err(e) => {
                    self.fail(Some(0), Check::Format, format!("genesis policy: {e}"));
                    return false;
                }
            }
        }
        let hash = decode_frame(data, f, 0, self.ledger_id).hash;
        if let Err(why) = self.check_anchor(&record, &hash, &genesis) {
            self.fail(Some(0), Check::TrustAnchor, why);
            return false;
        }
        true
    }

    fn check_anchor(&self, record: &RecordRef<'_>, hash: &Digest, genesis: &Genesis) -> Result<(), String> {
        match self.anchor {
            TrustAnchor::GenesisHash(h) if hash == h => Ok(()),
            TrustAnchor::GenesisHash(h) => Err(format!("genesis entry hash {hash} is not the trusted {h}")),
            TrustAnchor::PublicKey(k) => {
                if !genesis.anchors.iter().any(|a| a.public_key == k.to_bytes()) {
                    return Err(format!("trusted key {k} is not a trust anchor of this ledger"));
                }
                let signed = record
                    .position()
                    .into_iter()
                    .chain(record.cosignatures())
                    .any(|s| s.key_id == k.key_id());
                if !signed {
                    return Err(format!("the genesis entry is not signed by trusted key {k}"));
                }
                Ok(())
            }
        }
    }

    /// Reads the checkpoint log and checks the order of sizes (step 2a); signatures and roots
    /// are checked when the ledger reaches each size.
    fn load_checkpoints(&mut self) -> Result<bool, VerifyError> {
        let log = match read_log_upto(self.dir, self.ledger_id, self.log_len) {
            Ok(l) => l,
            Err(StorageError::Corrupt {
                file, offset, reason, ..
            }) => {
                self.report.failure = Some(Failure {
                    seq: None,
                    check: Check::Checkpoint,
                    file: Some(file),
                    offset: Some(offset),
                    message: reason,
                });
                return Ok(false);
            }
            Err(e) => return Err(VerifyError::Storage(e)),
        };
        let mut last = 0;
        for (i, c) in log.checkpoints.iter().enumerate() {
            let problem = if c.tree_size == 0 {
                Some("it covers no entry")
            } else if c.tree_size < last {
                Some("its size is smaller than the checkpoint before it")
            } else {
                None
            };
            if let Some(why) = problem {
                let msg = format!("checkpoint #{i} (size {}) is invalid: {why}", c.tree_size);
                self.fail(c.tree_size.checked_sub(1), Check::Checkpoint, msg);
                return Ok(false);
            }
            last = c.tree_size;
        }
        self.covered_until = last;
        self.log_records = log.checkpoints.len() as u64;
        let keep = self.opts.keep_state || self.opts.resume.is_some();
        self.snapshot_at = Some(last).filter(|&at| keep && at > self.report.resumed_from);
        self.report.latest_checkpoint = log.checkpoints.last().copied();
        self.checkpoints = log.checkpoints.into_iter().enumerate().collect();
        if let Some(t) = self.opts.from_checkpoint {
            if t.ledger_id != self.ledger_id || t.tree_size == 0 {
                let msg = "the trusted checkpoint is not of this ledger, or covers no entry".to_string();
                self.fail(None, Check::Checkpoint, msg);
                return Ok(false);
            }
            self.trusted_until = t.tree_size;
            // The trusted checkpoint is checked like the log's, at its size (stable order: a
            // log checkpoint of the same size is checked first).
            let at = self.checkpoints.partition_point(|(_, c)| c.tree_size <= t.tree_size);
            self.checkpoints.insert(at, (usize::MAX, t));
        }
        Ok(true)
    }

    /// Verifies one chunk whose entries were decoded (in parallel, by [`decode_chunk`]);
    /// `Ok(false)` once a failure is recorded.
    fn chunk(&mut self, sc: &StreamChunk, decoded: &[Decoded], tree: &mut TreeCheck) -> Result<bool, VerifyError> {
        let (data, frames, first) = (&sc.chunk.data, &sc.chunk.frames, sc.first_seq);
        let mut jobs = Vec::new();
        let ordered: Vec<Ordered> = decoded
            .iter()
            .zip(frames)
            .enumerate()
            .map(|(i, (d, f))| {
                self.order(
                    first + i as u64,
                    d.record(data, f).filter(|_| d.problem.is_none()),
                    d,
                    &mut jobs,
                )
            })
            .collect();
        let ok: Vec<bool> = jobs.par_chunks(SIGNATURE_BATCH).flat_map_iter(verify_jobs).collect();
        for (i, (d, o)) in decoded.iter().zip(&ordered).enumerate() {
            let seq = first + i as u64;
            if !self.link(sc, &frames[i], seq, d, o, &ok, tree)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Pass A for one entry, in ledger order: resolve keys (E5) against the registry as it
    /// stands before the entry, apply enrollments and revocations, advance the chain (L1) and
    /// queue the signatures to verify (E6).
    fn order(&mut self, seq: u64, record: Option<RecordRef<'_>>, d: &Decoded, jobs: &mut Vec<SigJob>) -> Ordered {
        let prev = self.chain;
        self.chain = chain_value(&prev, &d.hash);
        let mut o = Ordered {
            chain: self.chain,
            jobs: jobs.len()..jobs.len(),
            ..Ordered::default()
        };
        let Some(r) = record else {
            return o;
        };
        let kind = r.kind();
        let position = r.position();
        let cosigs: Vec<_> = r.cosignatures().collect();
        let resolved = match self.keys.resolve(kind, position.as_ref(), &cosigs, seq) {
            Ok(x) => x,
            Err(p) => {
                o.key_problem = Some(Box::new(p));
                return o;
            }
        };
        if seq >= self.trusted_until {
            if let (Some(p), Some(key)) = (position, resolved.position) {
                jobs.push(SigJob {
                    key: *key,
                    message: position_message(&prev, &d.hash).to_vec(),
                    signature: p.signature,
                });
            }
            let msg = cosignature_message(&d.digest);
            for (s, key) in cosigs.iter().zip(&resolved.cosigners) {
                jobs.push(SigJob {
                    key: **key,
                    message: msg.to_vec(),
                    signature: s.signature,
                });
            }
        }
        o.jobs.end = jobs.len();
        if self.policy.is_some() && kind != EntryKind::Application {
            let info = |s: &crate::entry::AuthorSignature| self.keys.get(&s.key_id).map(|k| (s.key_id, k.clone()));
            o.signers = position.iter().chain(&cosigs).filter_map(info).collect();
        }
        if let Some(rec) = &d.gov {
            o.key_problem = self.keys.apply(seq, rec).err().map(Box::new);
        }
        o
    }

    /// Pass B for one entry, in ledger order: reports the first problem, then records the
    /// entry as verified; `Ok(false)` on failure.
    #[allow(clippy::too_many_arguments)] // the chunk pipeline's results for one entry
    fn link(
        &mut self,
        sc: &StreamChunk,
        f: &FrameLoc,
        seq: u64,
        d: &Decoded,
        o: &Ordered,
        ok: &[bool],
        tree: &mut TreeCheck,
    ) -> Result<bool, VerifyError> {
        let path = &sc.path;
        let fail = |v: &mut Self, check, msg: String| {
            v.fail_at(seq, check, path.clone(), f.offset, msg);
            Ok(false)
        };
        let Some(record) = d.record(&sc.chunk.data, f) else {
            let (check, msg) = d.problem.clone().unwrap_or((Check::Format, "undecodable entry".into()));
            return fail(self, check, msg);
        };
        if let Some((check, msg)) = d.problem.clone() {
            return fail(self, check, msg);
        }
        if (seq == 0) != (record.kind() == EntryKind::Genesis) {
            return fail(self, Check::Chain, "only entry 0 is a genesis entry".into());
        }
        if let Some((check, msg)) = o.key_problem.as_deref().cloned() {
            return fail(self, check, msg);
        }
        let mut results = o.jobs.clone().map(|j| ok[j]);
        if record.position().is_some() && seq >= self.trusted_until && results.next() == Some(false) {
            let msg = "the writer's position signature does not verify: the entry is not where its writer put it, or it was changed".into();
            return fail(self, Check::Chain, msg);
        }
        for (s, good) in record.cosignatures().zip(results) {
            if !good {
                return fail(
                    self,
                    Check::Signature,
                    format!("co-signature by key {} does not verify", s.key_id),
                );
            }
        }
        if record.position().is_none() {
            if let Some(msg) = self.uncovered(seq) {
                return fail(self, Check::Signature, msg);
            }
        }
        let governance = record.kind() != EntryKind::Application;
        if let Some(msg) = self.index_check(path, sc.header.first_seq, seq, f.offset, governance)? {
            return fail(self, Check::Index, msg);
        }
        if let Err(p) = tree.push(d.leaf) {
            let msg = format!(
                "stored tree node (level {}, index {}) differs from the entries; rebuild the tree files",
                p.level, p.index
            );
            return fail(self, Check::Tree, msg);
        }
        if let Some(msg) = self.checkpoints_at(tree) {
            self.fail(Some(seq), Check::Checkpoint, msg);
            return Ok(false);
        }
        if d.erased {
            self.report.redacted.push(seq);
            self.erased.insert(seq, d.hash);
        }
        if let Some(rec) = &d.gov {
            if let Some(msg) = self.redaction(seq, rec, sc)? {
                return fail(self, Check::Redaction, msg);
            }
        }
        self.observe(seq, &record, &d.hash, d.gov.as_deref(), o, d.erased)?;
        self.report.entries += 1;
        self.report.head = o.chain;
        Ok(true)
    }

    /// Accounts for an entry without a position signature; a message if it is not acceptable.
    fn uncovered(&mut self, seq: u64) -> Option<String> {
        if seq < self.covered_until || seq < self.trusted_until {
            self.report.unsigned_covered += 1;
        } else if self.opts.allow_uncovered_tail {
            self.report.uncovered_tail += 1;
        } else {
            return Some("entry carries no position signature and no checkpoint covers it".into());
        }
        None
    }

    /// Checks every checkpoint of the size the tree has just reached: root and signer.
    fn checkpoints_at(&mut self, tree: &TreeCheck) -> Option<String> {
        let size = tree.size();
        while let Some(&(number, c)) = self.checkpoints.get(self.next_checkpoint) {
            if c.tree_size != size {
                break;
            }
            let name = if number == usize::MAX {
                format!("the trusted checkpoint (size {size})")
            } else {
                format!("checkpoint #{number} (size {size})")
            };
            if c.root != tree.root() {
                return Some(format!(
                    "{name} has a different root than the ledger: entries up to {} were rewritten or forked after it was issued",
                    size - 1
                ));
            }
            let key = self.keys.get(&c.key_id);
            let why = if !key.is_some_and(|k| k.has(Role::Operator) && k.valid_at_size(size)) {
                Some("it is not signed by an operator key valid at that point")
            } else if !key.is_some_and(|k| c.verify(&k.key)) {
                Some("its signature does not verify")
            } else {
                None
            };
            if let Some(why) = why {
                return Some(format!("{name} is invalid: {why}"));
            }
            if number != usize::MAX {
                self.report.checkpoints_verified += 1;
            }
            self.next_checkpoint += 1;
        }
        None
    }

    /// A redaction must name an earlier entry by its true hash (L9); a message if it does not.
    fn redaction(&mut self, seq: u64, rec: &Record, sc: &StreamChunk) -> Result<Option<String>, VerifyError> {
        let Record::Redaction(red) = rec else {
            return Ok(None);
        };
        let (target, want) = (red.target_seq, red.target);
        if target >= seq {
            return Ok(Some(format!(
                "the redaction names entry {target}, which is not an earlier entry"
            )));
        }
        let (actual, erased) = if let Some(h) = self.erased.get(&target) {
            (*h, true)
        } else {
            self.entry_at(target, sc)?
        };
        if actual != want {
            return Ok(Some(format!(
                "the redaction names entry {target} with a hash that is not its hash"
            )));
        }
        self.erased.remove(&target);
        if !erased {
            self.report.redaction_pending.push(target);
        } else if target < self.report.resumed_from {
            // Erased after the saved state was taken: not read again, but listed as a full
            // verification lists it (in order).
            note_redacted(&mut self.report.redacted, target);
        }
        Ok(None)
    }

    /// The entry hash of an earlier entry and whether its payload is erased, read from its
    /// frame (through the index, which the verification so far has checked).
    fn entry_at(&self, seq: u64, sc: &StreamChunk) -> Result<(Digest, bool), VerifyError> {
        let read = |data: &[u8], f: &FrameLoc| {
            let d = decode_frame(data, f, seq, self.ledger_id);
            (d.hash, d.erased)
        };
        if let Some(i) = seq.checked_sub(sc.first_seq).and_then(|i| usize::try_from(i).ok()) {
            if let Some(f) = sc.chunk.frames.get(i) {
                return Ok(read(&sc.chunk.data, f));
            }
        }
        let mut stream = SegmentStream::open_at(self.dir, seq)?;
        Ok(match stream.next_chunk(1) {
            Ok(Some(s)) if s.first_seq == seq => s
                .chunk
                .frames
                .first()
                .map_or((Digest::ZERO, false), |f| read(&s.chunk.data, f)),
            _ => (Digest::ZERO, false),
        })
    }

    /// The entry hash of entry `seq` and whether its payload is erased, read from its frame;
    /// `None` if it cannot be read.
    fn entry_at_seq(&self, seq: u64) -> Result<Option<(Digest, bool)>, VerifyError> {
        let mut stream = SegmentStream::open_at(self.dir, seq)?;
        Ok(match stream.next_chunk(1) {
            Ok(Some(s)) if s.first_seq == seq => s.chunk.frames.first().map(|f| {
                let d = decode_frame(&s.chunk.data, f, seq, self.ledger_id);
                (d.hash, d.erased)
            }),
            _ => None,
        })
    }

    fn index_check(
        &mut self,
        seg_path: &Path,
        first_seq: u64,
        seq: u64,
        offset: u64,
        governance: bool,
    ) -> Result<Option<String>, VerifyError> {
        if self.index.as_ref().is_none_or(|c| c.first_seq() != first_seq) {
            if let Some(msg) = self.index.take().and_then(IndexCursor::finish) {
                return Ok(Some(msg));
            }
            let sealed = first_seq != self.newest_segment;
            self.index = Some(IndexCursor::open(self.dir, self.ledger_id, first_seq, sealed)?);
        }
        match self.index.as_mut() {
            Some(cur) => cur
                .check(seg_path, seq, offset, governance)
                .map_err(VerifyError::Storage),
            None => Ok(None),
        }
    }

    /// The report, with the policy engine's violations.
    fn into_report(mut self) -> VerifyReport {
        if self.report.failure.is_some() {
            self.report.state = None;
        }
        if let Some(engine) = self.policy.take() {
            let verdict = engine.finish();
            self.report.violations = verdict.violations;
            self.report.violations_dropped = verdict.dropped;
            self.report.policy_in_force = Some(verdict.in_force);
        }
        self.report
    }

    /// Step 5: the end.
    fn finish(&mut self, tree: &TreeCheck) {
        let n = self.report.entries;
        if n == 0 {
            self.fail(
                Some(0),
                Check::Format,
                "the ledger has no complete genesis entry".into(),
            );
            return;
        }
        if let Some(msg) = self.index.take().and_then(IndexCursor::finish) {
            self.fail(Some(n), Check::Index, msg);
            return;
        }
        if let Some((&seq, _)) = self.erased.iter().next() {
            let msg = format!("the payload of entry {seq} was erased but no authorised redaction entry names it");
            self.fail(Some(seq), Check::Redaction, msg);
            self.unexplained.store(true, Ordering::Relaxed);
            return;
        }
        self.report.root = tree.root();
        self.report.tree_missing_nodes = tree.missing;
        if let Some(&(i, c)) = self.checkpoints.iter().find(|(_, c)| c.tree_size > n) {
            let name = if i == usize::MAX {
                "the trusted checkpoint".to_string()
            } else {
                format!("checkpoint #{i}")
            };
            let msg = format!(
                "the ledger has {n} entries but {name} covers {}: entries were removed after it was issued",
                c.tree_size
            );
            self.fail(Some(n), Check::Checkpoint, msg);
        }
    }
}
