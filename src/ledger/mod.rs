//! The writer: create or open a ledger directory, append entries from any number of threads or
//! tasks, make them durable, sign checkpoints.
//!
//! One [`Ledger`] is the single writer of its directory (an OS lock keeps others out). It is
//! `Send + Sync` and appends through `&self`: callers on any thread hand drafts to the
//! ledger's writer thread, which groups everything waiting into one write and (when asked)
//! one `fdatasync` — group commit — and answers each caller. [`Ledger::append`] waits for the
//! answer (and, when nothing is queued and the writer is idle, does the work on the calling
//! thread, saving two thread wake-ups); [`Ledger::submit`] returns a [`Ticket`] at once, which
//! a caller can `wait` on or `.await`, so producers can keep many entries in flight and share
//! each sync.

mod erasure;
mod open;
mod prepare;
mod repair;
mod ticket;
mod writer;

pub use repair::{rebuild_derived, Rebuilt};
pub use ticket::Ticket;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::checkpoint::Checkpoint;
use crate::entry::{EntryKind, LedgerId, Timestamp};
use crate::error::{AppendError, CheckpointError, DecodeError, DraftError, OpenError, RedactError, SyncError};
use crate::hash::Digest;
use crate::keys::{IntoSigner, Signer, VerifyingKey};
use crate::record::Genesis;
use crate::storage::{Backend, StdBackend, TornTail};
use ticket::{Slot, Wake};
use writer::Writer;

/// When an append is acknowledged. Each variant states its guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledged once written to the operating system: the entry survives a crash of the
    /// process, but a power loss may lose it until a later sync ([`Ledger::sync`], a synced
    /// append, or a checkpoint). Receipts say `durable: false`.
    Buffered,
    /// Acknowledged only after an `fdatasync` that covers the entry: it survives a power loss.
    /// Entries waiting together share one sync. The default.
    #[default]
    Synced,
}

/// Settings for creating or opening a ledger, built with chained calls.
///
/// ```
/// use provledger::{Durability, Options};
/// let opts = Options::default().durability(Durability::Buffered).segment_size(16 << 20).threads(2);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    durability: Durability,
    segment_size: u64,
    backend: Arc<dyn Backend>,
    check_signers: bool,
    threads: Option<usize>,
    queue_bytes: usize,
    trust: Option<crate::verify::TrustAnchor>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::default(),
            segment_size: 64 << 20,
            backend: Arc::new(StdBackend),
            check_signers: true,
            threads: None,
            queue_bytes: 64 << 20,
            trust: None,
        }
    }
}

impl Options {
    /// The durability of [`Ledger::append`] and [`Ledger::append_batch`] (default
    /// [`Durability::Synced`]); [`Ledger::submit`] takes its own.
    #[must_use]
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// A new segment file is started once the current one would grow past this many bytes
    /// (default 64 MiB; between 1 MiB and 1 GiB).
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes.clamp(1 << 20, 1 << 30);
        self
    }

    /// The storage the ledger lives on (default: the file system).
    #[must_use]
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = backend;
        self
    }

    /// Threads that hash and sign batches: a pool of `n` threads for this ledger alone. By
    /// default the ledgers of a process share one pool of their own, one thread per core (or
    /// `RAYON_NUM_THREADS`) — never rayon's global pool, so that appending from inside rayon
    /// tasks cannot leave the writer waiting for threads that are waiting for it.
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Refuse entries whose signers verification would reject (not enrolled, revoked, or
    /// lacking the kind's role), and refuse to write at all with a key that is not an
    /// enrolled, unrevoked operator. On by default; turn off only to build test fixtures of
    /// bad ledgers — verification rejects such entries either way.
    #[must_use]
    pub fn check_signers(mut self, on: bool) -> Self {
        self.check_signers = on;
        self
    }

    /// Payload bytes that may wait for the writer before [`Ledger::submit`] blocks its caller
    /// (default 64 MiB): back-pressure on producers faster than the disk.
    #[must_use]
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1 << 16);
        self
    }

    /// The trust anchor [`Ledger::open`] verifies the ledger against when the newest write was
    /// not sealed by this writer's key (another operator wrote last, or someone replaced
    /// files): the ledger must verify from that anchor before this key extends it or signs a
    /// checkpoint over it.
    ///
    /// Without it, the anchor is this writer's own public key, which must be a genesis anchor
    /// that signed the genesis (true for the key that created the ledger). A key enrolled
    /// later, taking over from another operator, passes the ledger's anchor here (the genesis
    /// hash or the creating key). This is what stops a writer from adopting a ledger that
    /// someone without keys put in its directory: a forged genesis may enroll the writer's
    /// public key, but it cannot carry the writer's signature.
    ///
    /// ```
    /// use provledger::{Options, TrustAnchor, SigningKey};
    /// let creator = SigningKey::generate()?;
    /// let opts = Options::default().trust_anchor(TrustAnchor::PublicKey(creator.verifying_key()));
    /// # let _ = opts;
    /// # Ok::<(), provledger::error::KeyError>(())
    /// ```
    #[must_use]
    pub fn trust_anchor(mut self, anchor: crate::verify::TrustAnchor) -> Self {
        self.trust = Some(anchor);
        self
    }
}

/// An entry to append: kind, payload, references, and who co-signs it.
///
/// ```
/// use provledger::Draft;
/// let d = Draft::application("application/json", br#"{"event":"model-deployed"}"#.to_vec());
/// assert_eq!(d.payload().len(), 26);
/// ```
#[derive(Clone)]
pub struct Draft {
    kind: EntryKind,
    content_type: Cow<'static, str>,
    payload: Vec<u8>,
    refs: Vec<Digest>,
    timestamp: Option<Timestamp>,
    cosigners: Vec<Arc<dyn Signer>>,
    position_signed: bool,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("kind", &self.kind)
            .field("content_type", &self.content_type)
            .field("payload_len", &self.payload.len())
            .field("refs", &self.refs.len())
            .field("timestamp", &self.timestamp)
            .field(
                "cosigners",
                &self
                    .cosigners
                    .iter()
                    .map(|s| s.verifying_key().key_id())
                    .collect::<Vec<_>>(),
            )
            .field("position_signed", &self.position_signed)
            .finish()
    }
}

impl Draft {
    /// An application entry with a media type and arbitrary payload bytes. A `&'static str`
    /// content type costs no allocation.
    #[must_use]
    pub fn application(content_type: impl Into<Cow<'static, str>>, payload: Vec<u8>) -> Self {
        Draft {
            kind: EntryKind::Application,
            content_type: content_type.into(),
            payload,
            refs: Vec::new(),
            timestamp: None,
            cosigners: Vec::new(),
            position_signed: true,
        }
    }

    /// A governance record, its references as the statement's `refs`.
    ///
    /// # Errors
    /// [`DecodeError`] if the record exceeds the structured-payload limit.
    pub fn record(record: &crate::record::Record) -> Result<Self, DecodeError> {
        let kind = record.entry_kind();
        Ok(Draft {
            kind,
            content_type: Cow::Owned(crate::record::Record::content_type(kind)),
            payload: record.encode()?,
            refs: record.refs(),
            timestamp: None,
            cosigners: Vec::new(),
            position_signed: true,
        })
    }

    pub(crate) fn genesis(payload: Vec<u8>) -> Self {
        Draft {
            kind: EntryKind::Genesis,
            content_type: Cow::Borrowed(crate::record::GENESIS_CONTENT_TYPE),
            payload,
            refs: Vec::new(),
            timestamp: None,
            cosigners: Vec::new(),
            position_signed: true,
        }
    }

    /// Adds references to earlier entries (by entry hash) after those a record implies, e.g.
    /// the approved proposal that gates a role grant.
    #[must_use]
    pub fn with_refs(mut self, refs: Vec<Digest>) -> Self {
        self.refs.extend(refs);
        self
    }

    /// Sets the statement time (default: the time the writer prepares the entry).
    #[must_use]
    pub fn with_timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// Adds a co-signature (e.g. a reviewer and an approver both sign what they endorse). The
    /// signer is shared, not copied. A co-signer whose key is the writer's (which already signs
    /// the entry's position), or one given twice, signs once.
    #[must_use]
    pub fn cosigned_by(mut self, signer: impl IntoSigner) -> Self {
        self.cosigners.push(signer.into_signer());
        self
    }

    /// Leaves the writer's position signature off: the high-volume mode, for application
    /// entries only, where a signed checkpoint covering the entry authenticates its place.
    /// Until a checkpoint covers it, `verify` reports it as an uncovered tail.
    #[must_use]
    pub fn without_position_signature(mut self) -> Self {
        self.position_signed = false;
        self
    }

    /// The payload bytes.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The entry kind.
    #[must_use]
    pub fn kind(&self) -> EntryKind {
        self.kind
    }
}

/// What appending hands back for each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The entry's sequence number (its position; the genesis entry is 0).
    pub seq: u64,
    /// The entry hash (what refs, proofs and redactions name it by).
    pub entry_hash: Digest,
    /// The chain value after the entry (the ledger's head once it was appended).
    pub chain: Digest,
    /// Whether the entry was on stable storage when the receipt was handed out.
    pub durable: bool,
}

/// What opening a ledger had to do to recover from a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The incomplete final write that was cut, if any (never acknowledged).
    pub torn_tail: Option<TornTail>,
    /// A newest segment file whose header was incomplete (a rotation cut short), removed.
    pub removed_segment: Option<PathBuf>,
    /// Whether the newest segment's index had to be rebuilt.
    pub index_rebuilt: bool,
    /// Leaves added back to the stored Merkle tree (hashes a crash kept from reaching disk).
    pub tree_replayed: u64,
    /// An erasure a crash interrupted, finished on open: the sequence number erased.
    pub erasure_completed: Option<u64>,
    /// Whether the ledger was verified in full on open (the last write was sealed by another
    /// key, so the writer could not recognise it as its own).
    pub verified_on_open: bool,
}

/// What the writer thread publishes after each operation, for the accessors.
#[derive(Clone, Debug)]
struct Status {
    len: u64,
    head: Digest,
    root: Digest,
    durable_len: u64,
    latest_checkpoint: Option<Checkpoint>,
}

/// Where the receipts of an append go.
enum Reply {
    /// One draft, one receipt.
    Single(Arc<Slot<Result<Receipt, AppendError>>>),
    /// A batch.
    Batch(Arc<Slot<Result<Vec<Receipt>, AppendError>>>),
}

impl Reply {
    fn fill(&self, r: Result<Vec<Receipt>, AppendError>) {
        match (self, r) {
            (_, Ok(receipts)) => drop(self.fill_later(receipts.into_iter())),
            (Reply::Single(s), Err(e)) => s.fill(Err(e)),
            (Reply::Batch(s), Err(e)) => s.fill(Err(e)),
        }
    }

    /// Stores the request's receipts — a single-entry request gets its one receipt, without a
    /// vector — and leaves waking its waiter to the returned [`Wake`] ([`Slot::fill_later`]).
    fn fill_later(&self, receipts: impl Iterator<Item = Receipt>) -> Option<Wake> {
        match self {
            Reply::Single(s) => s.fill_later(receipts.last().ok_or(AppendError::Closed)),
            Reply::Batch(s) => s.fill_later(Ok(receipts.collect())),
        }
    }
}

/// A request to the writer thread.
enum Request {
    Append {
        drafts: Vec<Draft>,
        durability: Durability,
        reply: Reply,
    },
    Sync(Arc<Slot<Result<u64, SyncError>>>),
    Checkpoint(Arc<Slot<Result<Checkpoint, CheckpointError>>>),
    Redact {
        seq: u64,
        reason: String,
        cosigners: Vec<Arc<dyn Signer>>,
        reply: Arc<Slot<Result<Receipt, RedactError>>>,
    },
    Close(Arc<Slot<Result<(), SyncError>>>),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Request>,
    bytes: usize,
    closed: bool,
    /// The writer thread is blocked waiting for work (only then is it notified: a notify is a
    /// system call even with nobody waiting).
    writer_idle: bool,
    /// Callers blocked waiting for queue space.
    space_waiters: usize,
}

/// State shared between the [`Ledger`] handle and its writer thread.
struct Shared {
    queue: Mutex<Queue>,
    /// The writer: held by the writer thread while it processes what it drained, or by a
    /// caller running its request inline (`writer::run_inline`); `None` once the thread ended.
    writer: Mutex<Option<Writer>>,
    work: Condvar,
    space: Condvar,
    /// Published by the writer thread before it answers callers (so a caller holding a receipt
    /// reads a state that includes its entry).
    status: Arc<Mutex<Status>>,
    queue_limit: usize,
    /// Set as a request is queued (the writer's `Overlap::queued`): a durable group's sync
    /// may then overlap the work of what is queued behind it.
    queued: Arc<std::sync::atomic::AtomicBool>,
}

impl Shared {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue is a plain container: a panic elsewhere cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        // Panics while processing are caught and poison the writer itself (`Writer::poisoned`).
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The single writer of a ledger directory.
///
/// ```
/// use provledger::{Draft, Ledger, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path(), SigningKey::generate()?, "demo", Options::default())?;
/// let receipt = ledger.append(Draft::application("text/plain", b"hello".to_vec()))?;
/// assert_eq!(receipt.seq, 1); // 0 is the genesis entry
/// assert!(receipt.durable);
/// ledger.close()?;
/// # Ok::<_, provledger::Error>(())
/// ```
pub struct Ledger {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    dir: PathBuf,
    ledger_id: LedgerId,
    signer_key: VerifyingKey,
    durability: Durability,
    recovery: Recovery,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("ledger_id", &self.ledger_id)
            .field("signer", &self.signer_key.key_id())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Creates a ledger in `dir` whose genesis trusts `signer`'s key (admin and operator
    /// roles), and opens it for appending with that key.
    ///
    /// # Errors
    /// [`OpenError::AlreadyExists`] if `dir` already holds a ledger; [`OpenError::Storage`] for
    /// I/O errors; [`OpenError::Entropy`] if the operating system cannot supply randomness.
    pub fn create(
        dir: impl AsRef<Path>,
        signer: impl IntoSigner,
        name: &str,
        opts: Options,
    ) -> Result<Self, OpenError> {
        let signer = signer.into_signer();
        let key = signer.verifying_key();
        let genesis = Genesis {
            name: name.to_owned(),
            anchors: vec![crate::record::TrustAnchorKey::operator(&key, name)],
            policy: crate::record::Policy::default(),
        };
        Self::create_with_genesis(dir, signer, &genesis, opts)
    }

    /// Creates a ledger with an explicit genesis record (several anchors, roles…). The genesis
    /// entry is position-signed by `signer`, which must be an anchor with the operator role.
    ///
    /// # Errors
    /// As [`Ledger::create`]; [`OpenError::InvalidGenesis`] for a genesis record that does not
    /// validate; [`OpenError::SignerNotAuthorized`] if `signer` is not an operator anchor.
    // `Options` is a small builder value, taken by value so that `Options::default().…`
    // can be passed inline.
    #[allow(clippy::needless_pass_by_value)]
    pub fn create_with_genesis(
        dir: impl AsRef<Path>,
        signer: impl IntoSigner,
        genesis: &Genesis,
        opts: Options,
    ) -> Result<Self, OpenError> {
        let signer = signer.into_signer();
        let key = signer.verifying_key();
        let (writer, recovery) = open::create(dir.as_ref(), signer, genesis, &opts)?;
        Self::start(writer, recovery, key, &opts)
    }

    /// Opens an existing ledger for appending with `signer`, recovering from a crash: only an
    /// incomplete final write is cut (see [`Ledger::recovery`]); damage is an error. The key
    /// must be enrolled with the operator role and not revoked.
    ///
    /// # Errors
    /// [`OpenError::Locked`] if another writer holds the directory; [`OpenError::Storage`]
    /// with [`StorageError::Corrupt`](crate::StorageError::Corrupt) for damage (naming file, offset and sequence number) or
    /// [`StorageError::NotALedger`](crate::StorageError::NotALedger) if `dir` is not a ledger; [`OpenError::Tampered`] if the
    /// stored state disagrees with the writer's own seal; [`OpenError::Unverified`] if a
    /// foreign seal forced a full verification that failed; [`OpenError::SignerNotAuthorized`]
    /// if the key may not write this ledger.
    #[allow(clippy::needless_pass_by_value)] // as `create_with_genesis`
    pub fn open(dir: impl AsRef<Path>, signer: impl IntoSigner, opts: Options) -> Result<Self, OpenError> {
        let signer = signer.into_signer();
        let key = signer.verifying_key();
        let (writer, recovery) = open::open(dir.as_ref(), signer, &opts)?;
        Self::start(writer, recovery, key, &opts)
    }

    /// Starts the writer thread.
    fn start(mut writer: Writer, recovery: Recovery, key: VerifyingKey, opts: &Options) -> Result<Self, OpenError> {
        let status = Arc::new(Mutex::new(writer.status()));
        writer.published = Some(Arc::clone(&status));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            writer: Mutex::new(None),
            work: Condvar::new(),
            space: Condvar::new(),
            status,
            queue_limit: opts.queue_bytes,
            queued: Arc::clone(&writer.overlap.queued),
        });
        let dir = writer.dir().to_path_buf();
        let ledger_id = writer.ledger_id();
        *shared.lock_writer() = Some(writer);
        let thread_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("provledger-writer".into())
            .spawn(move || writer::run(&thread_shared))
            .map_err(|source| crate::error::StorageError::Io {
                op: "start the writer thread for",
                path: dir.clone(),
                source,
            })?;
        Ok(Ledger {
            shared,
            worker: Some(worker),
            dir,
            ledger_id,
            signer_key: key,
            durability: opts.durability,
            recovery,
        })
    }

    fn send(&self, req: Request, bytes: usize) -> Result<(), AppendError> {
        let mut q = self.shared.lock_queue();
        while !q.closed && q.bytes > 0 && q.bytes + bytes > self.shared.queue_limit {
            q.space_waiters += 1;
            q = self.shared.space.wait(q).unwrap_or_else(PoisonError::into_inner);
            q.space_waiters -= 1;
        }
        if q.closed || self.worker.as_ref().is_none_or(JoinHandle::is_finished) {
            return Err(AppendError::Closed);
        }
        q.bytes += bytes;
        q.items.push_back(req);
        self.shared.queued.store(true, std::sync::atomic::Ordering::Relaxed);
        let wake = q.writer_idle;
        drop(q);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(())
    }

    /// Appends one entry, position-signed by the writer's key (and co-signed by the draft's
    /// co-signers), with the durability of [`Options::durability`]. Blocks until it is
    /// written (and synced, if durable); when nothing else is queued and the writer is idle,
    /// the work runs on the calling thread. Entries a thread submitted earlier always come first.
    ///
    /// # Errors
    /// [`AppendError::InvalidDraft`] or [`AppendError::WouldNotVerify`] for a draft that may
    /// not be appended (it alone fails: other callers' entries in the same group are
    /// appended); [`AppendError::Storage`] on I/O failure, after which the writer is poisoned
    /// ([`AppendError::Poisoned`]: nothing is acknowledged any more; reopen to continue).
    pub fn append(&self, draft: Draft) -> Result<Receipt, AppendError> {
        let slot = Slot::new();
        let req = Request::Append {
            drafts: vec![draft],
            durability: self.durability,
            reply: Reply::Single(Arc::clone(&slot)),
        };
        self.run_or_send(req)?;
        Ticket::new(slot).wait()
    }

    /// Runs a blocking request on this thread when the writer is idle (see
    /// `writer::run_inline`), else queues it for the writer thread.
    fn run_or_send(&self, req: Request) -> Result<(), AppendError> {
        if self.worker.as_ref().is_none_or(JoinHandle::is_finished) {
            return Err(AppendError::Closed);
        }
        let bytes = match &req {
            Request::Append { drafts, .. } => drafts.iter().map(|d| d.payload.len()).sum(),
            _ => 0,
        };
        // Never inline on a rayon thread: waiting for the preparation pool there, rayon lets
        // the thread run other tasks of its own pool meanwhile — one of which may append to
        // this ledger, whose writer this very thread holds (it would wait for itself).
        if rayon::current_thread_index().is_some() {
            return self.send(req, bytes);
        }
        match writer::run_inline(&self.shared, req) {
            Ok(()) => Ok(()),
            Err(req) => self.send(req, bytes),
        }
    }

    /// Appends entries in order, together (one write, at most one sync).
    ///
    /// # Errors
    /// As [`Ledger::append`]; an invalid draft fails the whole batch before anything of it is
    /// written.
    pub fn append_batch(&self, drafts: Vec<Draft>) -> Result<Vec<Receipt>, AppendError> {
        if drafts.is_empty() {
            return Err(AppendError::InvalidDraft {
                index: 0,
                reason: DraftError::EmptyBatch,
            });
        }
        let slot = Slot::new();
        let req = Request::Append {
            drafts,
            durability: self.durability,
            reply: Reply::Batch(Arc::clone(&slot)),
        };
        self.run_or_send(req)?;
        Ticket::new(slot).wait()
    }

    /// Hands one entry to the writer and returns at once; the ticket answers when the entry
    /// is written (and, with [`Durability::Synced`], durable). Blocks only when more than
    /// [`Options::queue_bytes`] of payload are already waiting.
    ///
    /// # Errors
    /// [`AppendError::Poisoned`] or [`AppendError::Closed`] if the writer stopped; the
    /// ticket answers with the errors of [`Ledger::append`].
    pub fn submit(&self, draft: Draft, durability: Durability) -> Result<Ticket<Receipt>, AppendError> {
        let bytes = draft.payload.len();
        let slot = Slot::new();
        self.send(
            Request::Append {
                drafts: vec![draft],
                durability,
                reply: Reply::Single(Arc::clone(&slot)),
            },
            bytes,
        )?;
        Ok(Ticket::new(slot))
    }

    /// Hands a batch to the writer and returns at once (see [`Ledger::submit`]).
    ///
    /// The fastest way for one producer to append a stream of entries: keep two batches in
    /// flight, so that the next batch is built while the writer hashes and writes the one
    /// before it ([`Ledger::append_batch`] leaves both cores idle while its caller builds the
    /// next batch). Batches are appended in the order they were submitted.
    ///
    /// ```
    /// # use provledger::{Draft, Durability, Ledger, Options, SigningKey};
    /// # let dir = tempfile::tempdir()?;
    /// let ledger = Ledger::create(dir.path(), SigningKey::generate()?, "example", Options::default())?;
    /// let mut in_flight = std::collections::VecDeque::new();
    /// for batch in 0..10u8 {
    ///     let drafts: Vec<Draft> = (0..100u8)
    ///         .map(|i| Draft::application("text/plain", vec![batch, i]).without_position_signature())
    ///         .collect();
    ///     if in_flight.len() == 2 {
    ///         let done: provledger::Ticket<Vec<provledger::Receipt>> = in_flight.pop_front().unwrap();
    ///         assert_eq!(done.wait()?.len(), 100);
    ///     }
    ///     in_flight.push_back(ledger.submit_batch(drafts, Durability::Buffered)?);
    /// }
    /// for t in in_flight {
    ///     t.wait()?;
    /// }
    /// ledger.checkpoint()?; // what authenticates entries without a position signature
    /// assert_eq!(ledger.len(), 1 + 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Ledger::submit`]; [`AppendError::InvalidDraft`] for an empty batch.
    pub fn submit_batch(
        &self,
        drafts: Vec<Draft>,
        durability: Durability,
    ) -> Result<Ticket<Vec<Receipt>>, AppendError> {
        if drafts.is_empty() {
            return Err(AppendError::InvalidDraft {
                index: 0,
                reason: DraftError::EmptyBatch,
            });
        }
        let bytes = drafts.iter().map(|d| d.payload.len()).sum();
        let slot = Slot::new();
        self.send(
            Request::Append {
                drafts,
                durability,
                reply: Reply::Batch(Arc::clone(&slot)),
            },
            bytes,
        )?;
        Ok(Ticket::new(slot))
    }

    /// Makes every entry appended so far durable; returns how many entries are durable.
    ///
    /// # Errors
    /// [`SyncError::Storage`] if the sync fails. Then the writer is poisoned: after a failed
    /// `fdatasync` the operating system may have dropped the unsynced pages, so nothing is
    /// reported durable again until the ledger is reopened and recovered.
    pub fn sync(&self) -> Result<u64, SyncError> {
        let slot = Slot::new();
        self.send(Request::Sync(Arc::clone(&slot)), 0)
            .map_err(|_| SyncError::Closed)?;
        Ticket::new(slot).wait()
    }

    /// Signs a checkpoint of the current state with the writer's key and records it in the
    /// checkpoint log. Every entry is made durable first, so a checkpoint never covers an
    /// entry a crash could lose.
    ///
    /// # Errors
    /// [`CheckpointError::Storage`] or [`CheckpointError::Sync`] for I/O errors (the writer
    /// is then poisoned); [`CheckpointError::SignerNotAuthorized`] if the writer's key is no
    /// longer a valid operator.
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        let slot = Slot::new();
        self.send(Request::Checkpoint(Arc::clone(&slot)), 0)
            .map_err(|_| CheckpointError::Sync(SyncError::Closed))?;
        Ticket::new(slot).wait()
    }

    /// Erases the payload of entry `seq`: appends a redaction entry signed by the writer
    /// (whose key must then hold the admin role), then destroys the payload bytes and salt in
    /// the segment file. The ledger still verifies and reports the entry as redacted. Only
    /// application and AI-output payloads can be erased. When the writer is not an admin, use
    /// [`Ledger::redact_cosigned`] with an admin's key.
    ///
    /// ```
    /// use provledger::{Draft, Ledger, Options, SigningKey, TrustAnchor};
    /// let dir = tempfile::tempdir()?;
    /// let admin = SigningKey::generate()?;
    /// let anchor = TrustAnchor::PublicKey(admin.verifying_key());
    /// let ledger = Ledger::create(dir.path(), &admin, "demo", Options::default())?;
    /// let r = ledger.append(Draft::application("text/plain", b"jane@example.com".to_vec()))?;
    /// ledger.redact(r.seq, "GDPR art. 17 request #88")?;
    /// ledger.close()?;
    /// let report = provledger::verify(dir.path(), &anchor)?;
    /// assert!(report.is_ok());
    /// assert_eq!(report.redacted, vec![r.seq]);
    /// # Ok::<_, provledger::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`RedactError::NoSuchEntry`], [`RedactError::NotRedactable`],
    /// [`RedactError::AlreadyErased`]; the errors of an append (a signer without the admin role
    /// is refused before anything is written); storage errors (an erasure that failed after its
    /// redaction entry was appended poisons the writer and is finished by the next open).
    pub fn redact(&self, seq: u64, reason: &str) -> Result<Receipt, RedactError> {
        self.redact_cosigned(seq, reason, std::iter::empty::<Arc<dyn Signer>>())
    }

    /// As [`Ledger::redact`], with the redaction entry also co-signed by `cosigners` (one of
    /// the signers must hold the admin role).
    ///
    /// ```
    /// # use provledger::{Draft, Ledger, Options, SigningKey};
    /// # let dir = tempfile::tempdir()?;
    /// # let admin = SigningKey::generate()?;
    /// # let ledger = Ledger::create(dir.path(), &admin, "demo", Options::default())?;
    /// # let r = ledger.append(Draft::application("text/plain", b"x".to_vec()))?;
    /// ledger.redact_cosigned(r.seq, "GDPR art. 17 request #88", [&admin])?;
    /// # Ok::<_, provledger::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Ledger::redact`].
    pub fn redact_cosigned<S: IntoSigner>(
        &self,
        seq: u64,
        reason: &str,
        cosigners: impl IntoIterator<Item = S>,
    ) -> Result<Receipt, RedactError> {
        let slot = Slot::new();
        let req = Request::Redact {
            seq,
            reason: reason.to_owned(),
            cosigners: cosigners.into_iter().map(IntoSigner::into_signer).collect(),
            reply: Arc::clone(&slot),
        };
        self.send(req, 0)?;
        Ticket::new(slot).wait()
    }

    /// Stops the writer cleanly: everything submitted before is written and made durable, and
    /// the lock is released.
    ///
    /// # Errors
    /// The first error the final sync met (the entries it concerns were never acknowledged as
    /// durable).
    pub fn close(mut self) -> Result<(), SyncError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), SyncError> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let slot = Slot::new();
        {
            let mut q = self.shared.lock_queue();
            if !q.closed {
                q.items.push_back(Request::Close(Arc::clone(&slot)));
            }
            q.closed = true;
        }
        self.shared.work.notify_one();
        self.shared.space.notify_all();
        let panicked = worker.join().is_err();
        match Ticket::new(slot) {
            t if t.is_ready() => t.wait(),
            _ if panicked => Err(SyncError::Poisoned),
            _ => Err(SyncError::Closed),
        }
    }

    /// Number of entries (the next sequence number).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.shared.status().len
    }

    /// Whether the ledger has no entries (never true once created: genesis is entry 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chain value after the newest entry.
    #[must_use]
    pub fn head(&self) -> Digest {
        self.shared.status().head
    }

    /// The Merkle root over all entries appended so far.
    #[must_use]
    pub fn root(&self) -> Digest {
        self.shared.status().root
    }

    /// Number of entries known to be on stable storage.
    #[must_use]
    pub fn durable_len(&self) -> u64 {
        self.shared.status().durable_len
    }

    /// The newest checkpoint in the log, if any.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.shared.status().latest_checkpoint
    }

    /// What [`Ledger::open`] recovered from.
    #[must_use]
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The ledger's id.
    #[must_use]
    pub fn ledger_id(&self) -> LedgerId {
        self.ledger_id
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public key of the writer's signer.
    #[must_use]
    pub fn signer_key(&self) -> VerifyingKey {
        self.signer_key
    }
}

impl Drop for Ledger {
    /// Closes the writer if [`Ledger::close`] was not called. Errors cannot be reported from
    /// here: call `close` to see them (an unacknowledged entry is never claimed durable).
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
