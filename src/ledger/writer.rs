//! The write path, owned by the ledger's writer thread: group commit of everything waiting,
//! batch preparation in parallel, the ordered chain, seals, segment rotation, syncs,
//! checkpoints — and the loop that answers each caller.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use super::prepare::{self, Placed, Staged};
use super::{Draft, Durability, Receipt, Reply, Request, Shared, Status};
use crate::checkpoint::{Checkpoint, LogWriter};
use crate::entry::{position_message, EntryKind, LedgerId, SaltSource, Timestamp, SALT_LEN};
use crate::error::{AppendError, CheckpointError, KeyError, OpenError, StorageError, SyncError};
use crate::hash::{chain_value, Digest};
use crate::keys::{KeyId, SignError, Signer};
use crate::record::Role;
use crate::storage::frame::{finish_frame, Seal, SEAL_LEN, SEAL_TAG_LEN};
use crate::storage::index::encode_slot;
use crate::storage::segment::{MAX_TORN, SEGMENT_HEADER_LEN};
use crate::storage::{io_err, LedgerDir, StorageFile};
use crate::tree::TreeWriter;
use crate::verify::registry::Registry;

/// Most bytes one write may hold: a crash can tear at most one write (docs/FORMAT.md §8).
const MAX_WRITE: u64 = MAX_TORN;
/// Index slots and tree nodes are written in blocks of about this many bytes.
const DERIVED_BLOCK: usize = 64 << 10;

/// The segment being appended to.
#[derive(Debug)]
pub(super) struct Active {
    pub path: PathBuf,
    pub file: Box<dyn StorageFile>,
    pub idx_path: PathBuf,
    pub idx: Box<dyn StorageFile>,
    /// Index slots of written entries not yet written to the index file.
    pub pending_slots: Vec<u8>,
    /// Bytes in the segment file.
    pub len: u64,
    /// Entries in the segment.
    pub count: u64,
    /// Bytes of the segment known to be on stable storage.
    pub synced: u64,
    /// Length of the segment file: `len` plus zero bytes reserved ahead of the writes
    /// ([`Writer::reserve`]); never less than `len`.
    pub allocated: u64,
    /// Whether space is reserved ahead of synced writes (off once the backend said it cannot,
    /// or a reservation failed).
    pub reserving: bool,
}

/// How far ahead of its writes a writer that syncs them extends the newest segment with zero
/// bytes (docs/FORMAT.md §7.5, §8 T1b). An `fdatasync` of a write that grows the file must
/// also commit the new length to the file system's journal; one within the file's length only
/// flushes the data. Measured on this ext4 VM (one 280-byte write + `fdatasync` each): 7.0–8.5 k
/// syncs/s appending, 10.3–11.5 k/s within a length set ahead.
const RESERVE: u64 = 1 << 20;

/// Everything the writer thread owns.
pub(super) struct Writer {
    pub dir: PathBuf,
    /// The ledger directory, every file opened relative to it.
    pub root: Arc<dyn LedgerDir>,
    pub ledger_id: LedgerId,
    pub signer: Arc<dyn Signer>,
    pub signer_id: KeyId,
    pub seal_key: zeroize::Zeroizing<[u8; 32]>,
    pub salts: SaltSource,
    pub pool: Option<rayon::ThreadPool>,
    /// Number of entries.
    pub len: u64,
    /// Chain value after the newest entry.
    pub chain: Digest,
    pub active: Active,
    pub durable_len: u64,
    pub tree: TreeWriter,
    pub checkpoints: LogWriter,
    pub registry: Registry,
    pub segment_size: u64,
    pub check_signers: bool,
    /// Set by the first failed write or sync: nothing is acknowledged after it.
    pub poisoned: bool,
    /// Where the accessors of `Ledger` read the writer's state; updated before any caller is
    /// answered, so an answered caller sees its own entries.
    pub published: Option<Arc<std::sync::Mutex<Status>>>,
    /// Write buffers kept from earlier writes (at most [`SPARE_BUFFERS`], each of at most
    /// [`SPARE_MAX`] bytes): a fresh buffer of a few hundred KiB per batch comes from `mmap`,
    /// and its first touch page-faults (measured: page faults and zeroing were ~20% of an
    /// unsigned batch append's CPU).
    pub spare: Vec<Vec<u8>>,
    /// The background sync of the active segment in flight, if any (see [`Writer::start_sync`]).
    pub bg_sync: Option<BgSync>,
    /// Where background syncs run (started with the first).
    pub syncer: Option<SyncThread>,
    /// Syncs overlapping the next group's work, and the groups waiting for them.
    pub overlap: Overlap,
    /// The writer lock, held as long as the writer lives.
    pub _lock: Box<dyn crate::storage::LockGuard>,
}

/// An `fdatasync` of the active segment running on the writer's [`SyncThread`], through a
/// second handle.
pub(super) struct BgSync {
    /// Segment bytes written when it started: synced once it succeeds.
    bytes: u64,
    /// Entries written when it started: durable once it succeeds.
    entries: u64,
}

/// The thread a writer's background syncs run on, one at a time, started with the first (a
/// thread spawned and joined per sync costs tens of µs of CPU each time). It ends when the
/// writer drops it; a sync in flight then still ends.
pub(super) struct SyncThread {
    jobs: std::sync::mpsc::Sender<Box<dyn StorageFile>>,
    results: std::sync::mpsc::Receiver<(std::io::Result<()>, std::time::Duration)>,
}

impl SyncThread {
    fn start() -> std::io::Result<Self> {
        let (jobs, todo) = std::sync::mpsc::channel::<Box<dyn StorageFile>>();
        let (done, results) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("provledger-sync".into())
            .spawn(move || {
                for mut file in todo {
                    let started = std::time::Instant::now();
                    let r = file.sync_data();
                    if done.send((r, started.elapsed())).is_err() {
                        break;
                    }
                }
            })?;
        Ok(SyncThread { jobs, results })
    }
}

/// A durable group's sync may run in the background while the writer thread prepares and
/// writes the next group (two groups in flight); the group is answered once that sync ended.
/// Only when requests are already queued behind it, or follow it in the batch the writer
/// drained ([`process`] cuts large synced batches into groups) — the sync then overlaps their
/// work; with nothing behind it, it would overlap nothing, and the sync runs in line as before.
#[derive(Default)]
pub(super) struct Overlap {
    /// Set by the `Ledger` when it queues a request, cleared by the writer thread as it drains
    /// the queue.
    pub queued: Arc<AtomicBool>,
    /// The writer runs on the writer thread (a caller running its request inline waits for its
    /// own answer: nothing would overlap).
    pub enabled: bool,
    /// Groups written and not answered yet, in order: each is answered once `durable_len`
    /// reaches its `end` (so never before a group written earlier).
    waiting: VecDeque<Waiting>,
    /// The group just written had its sync started in the background, not waited for.
    deferred: bool,
    /// More appends of the batch the writer thread drained follow the group being written
    /// ([`process`] cut the group at [`Pace::cut`]): its sync overlaps them, as it would
    /// requests still queued.
    pub behind: bool,
    /// How long syncs and synced groups take here, for where [`process`] cuts groups.
    pub pace: Pace,
}

/// Recent durations of this writer's syncs and of its work per synced entry (moving
/// averages), from which [`process`] sizes the synced groups it cuts ([`Pace::cut`]).
#[derive(Default)]
pub(super) struct Pace {
    /// Nanoseconds per `fdatasync` of the active segment (0: none measured yet).
    sync_ns: u64,
    /// Nanoseconds of the writer's work per entry of a synced group, from its start until it
    /// is written (0: none measured yet).
    entry_ns: u64,
    /// When the synced group being written started, and its entries.
    group: Option<(std::time::Instant, usize)>,
}

/// Fewest synced entries [`process`] cuts a group at. Smaller groups cost a sync, and a wake-up
/// of their producers, each: on the 2-core VM of `benches/README.md` (syncs of ~0.3 ms,
/// 64 producers with 64 entries in flight each), fixed cuts at 512, 1,024, 1,536, 2,048 and
/// 3,072 entries gave 583–656, 724–764, 664–786, 628–774 and 613–676 k entries/s against
/// 589–680 k without, and cutting where the work takes as long as a sync (~250 entries there)
/// did no better than not cutting.
const MIN_CUT: usize = 2048;

impl Pace {
    /// `avg` moved a quarter of the way to `x` (or set to it, the first time).
    fn average(avg: &mut u64, x: u64) {
        *avg = if *avg == 0 { x.max(1) } else { (*avg / 4) * 3 + x / 4 };
    }

    /// A sync of the active segment took `took`.
    fn synced(&mut self, took: std::time::Duration) {
        Self::average(&mut self.sync_ns, u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The synced group started (`Some`) has been written: its work per entry.
    fn written(&mut self) {
        if let Some((started, n)) = self.group.take() {
            let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Some(per) = u64::try_from(n).ok().and_then(|n| ns.checked_div(n)) {
                Self::average(&mut self.entry_ns, per);
            }
        }
    }

    /// Synced entries after which [`process`] ends a group when more appends follow it: at
    /// least [`MIN_CUT`], and at least as many as the writer prepares and writes in the time of
    /// one sync, so that the sync is over by the time the next group is written. Every cut costs
    /// a sync, and a group waits for the one before it: cutting pays only while a sync is
    /// shorter than the work it overlaps; when syncs are slow next to the work, this is more
    /// than producers keep in flight and nothing is cut (as before cuts existed). Nothing is
    /// cut before both have been measured.
    fn cut(&self) -> usize {
        match self.sync_ns.checked_div(self.entry_ns) {
            Some(n) if self.sync_ns > 0 => usize::try_from(n).unwrap_or(usize::MAX).max(MIN_CUT),
            _ => usize::MAX,
        }
    }
}

/// A written group whose answer waits for a sync (or for an earlier group's).
struct Waiting {
    /// Entries that must be durable before it is answered.
    end: u64,
    receipts: Vec<Receipt>,
    outs: Vec<(Reply, usize)>,
}

/// Drafts per piece of a pipelined group ([`Writer::append_pipelined`]); groups of fewer than
/// two pieces are appended in one pass.
const PIECE: usize = 256;

/// Write buffers the writer keeps for reuse.
const SPARE_BUFFERS: usize = 2;
/// Largest write buffer the writer keeps (a larger one, from a rare large batch, is freed).
const SPARE_MAX: usize = 4 << 20;

/// The seal key: `H_seal_key(signature over the seal-key request)` (docs/FORMAT.md §7.5).
pub(super) fn seal_key(signer: &dyn Signer, ledger_id: LedgerId) -> Result<zeroize::Zeroizing<[u8; 32]>, OpenError> {
    let sig = zeroize::Zeroizing::new(
        signer
            .sign(&crate::entry::seal_key_request(ledger_id))
            .map_err(KeyError::from)?,
    );
    Ok(zeroize::Zeroizing::new(
        crate::hash::Domain::SealKey.hash(sig.as_ref()).to_bytes(),
    ))
}

/// The tag of a seal.
pub(super) fn seal_tag(
    key: &[u8; 32],
    ledger_id: LedgerId,
    size: u64,
    chain: &Digest,
    root: &Digest,
) -> [u8; SEAL_TAG_LEN] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"provledger v2 seal\0");
    h.update(&ledger_id.0);
    h.update(&size.to_le_bytes());
    h.update(chain.as_bytes());
    h.update(root.as_bytes());
    let mut tag = [0u8; SEAL_TAG_LEN];
    tag.copy_from_slice(&h.finalize().as_bytes()[..SEAL_TAG_LEN]);
    tag
}

/// One append request being processed.
struct Job {
    drafts: Vec<Draft>,
    sync: bool,
    reply: Reply,
}

impl Writer {
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn ledger_id(&self) -> LedgerId {
        self.ledger_id
    }

    pub(super) fn status(&self) -> Status {
        Status {
            len: self.len,
            head: self.chain,
            root: self.tree.root(),
            durable_len: self.durable_len,
            latest_checkpoint: self.checkpoints.latest,
        }
    }

    /// Publishes the current state for `Ledger`'s accessors.
    pub(super) fn publish(&self) {
        if let Some(p) = &self.published {
            *p.lock().unwrap_or_else(PoisonError::into_inner) = self.status();
        }
    }

    fn usable(&self) -> Result<(), SyncError> {
        if self.poisoned {
            return Err(SyncError::Poisoned);
        }
        Ok(())
    }

    /// Appends a group of requests with one preparation pass, as few writes as the write
    /// limit allows, and one sync if any request asked for durability. A request that cannot
    /// be appended (a bad draft, a co-signer that fails, a signer the ledger would reject)
    /// fails alone, before anything is written.
    // The simple path (a); then the staged path (b)-(d): split, they would pass half-built
    // state between them.
    #[allow(clippy::too_many_lines)]
    fn append_group(&mut self, jobs: Vec<Job>) {
        if self.poisoned {
            for j in jobs {
                j.reply.fill(Err(AppendError::Poisoned));
            }
            return;
        }
        // Every entry carries the writer's key (position signature or seal): once that key
        // is revoked or loses the operator role, nothing it writes would verify.
        if !self.signer_valid() {
            for j in jobs {
                j.reply.fill(Err(AppendError::WouldNotVerify {
                    seq: self.len,
                    check: crate::verify::Check::Key,
                    reason: format!(
                        "the writer's key {} is not an enrolled, unrevoked operator at this point",
                        self.signer_id
                    ),
                }));
            }
            return;
        }
        let n = jobs.iter().map(|j| j.drafts.len()).sum();
        self.overlap.pace.group = jobs.iter().any(|j| j.sync).then(|| (std::time::Instant::now(), n));
        // (a) Cheap checks.
        let jobs: Vec<Job> = jobs
            .into_iter()
            .filter_map(|j| {
                match j.drafts.iter().enumerate().try_for_each(|(index, d)| {
                    prepare::check(d).map_err(|reason| AppendError::InvalidDraft { index, reason })
                }) {
                    Ok(()) => Some(j),
                    Err(e) => {
                        j.reply.fill(Err(e));
                        None
                    }
                }
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let ledger_id = self.ledger_id;
        // The common case — application entries without co-signers — cannot fail after the
        // checks above and needs no signer check: one parallel pass from draft to frame.
        let simple = jobs.iter().all(|j| {
            j.drafts
                .iter()
                .all(|d| d.kind == EntryKind::Application && d.cosigners.is_empty())
        });
        if simple {
            let sync = jobs.iter().any(|j| j.sync);
            let mut salts = self.group_salts(&jobs).into_iter();
            let mut work = Vec::with_capacity(salts.len());
            let mut outs = Vec::with_capacity(jobs.len());
            for j in jobs {
                let n = j.drafts.len();
                outs.push((j.reply, n));
                work.extend(j.drafts.into_iter().zip(salts.by_ref().take(n)));
            }
            drop(salts);
            let result = if work.len() >= 2 * PIECE {
                self.append_pipelined(&mut work, now, sync)
            } else {
                let staged = prepare::stage_plain(self.prep_pool(), &mut work, now);
                self.write_entries(&staged, sync)
            };
            self.publish();
            self.answer(result, outs);
            return;
        }
        // (b) Stage 1 in parallel: commitments and co-signatures.
        let mut salts = self.group_salts(&jobs).into_iter();
        let mut work = Vec::with_capacity(salts.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for (ji, j) in jobs.into_iter().enumerate() {
            let n = j.drafts.len();
            work.extend(
                j.drafts
                    .into_iter()
                    .zip(salts.by_ref().take(n))
                    .map(|(d, s)| (ji, d, s)),
            );
            replies.push((j.reply, j.sync, Ok(Vec::new())));
        }
        drop(salts);
        let signer_id = self.signer_id;
        let staged = prepare::stage_all(self.prep_pool(), work, ledger_id, now, signer_id);
        for (ji, r) in staged {
            let acc: &mut Result<Vec<Staged>, AppendError> = &mut replies[ji].2;
            match (acc.as_mut(), r) {
                (Ok(v), Ok(s)) => v.push(s),
                (Ok(_), Err(e)) => *acc = Err(e),
                (Err(_), _) => {}
            }
        }
        // (c) Signer checks in ledger order, against the registry as each entry will see it.
        let mut scratch: Option<Registry> = None;
        let mut seq = self.len;
        let mut admitted = Vec::with_capacity(replies.len());
        for (reply, sync, staged) in replies {
            let checked = staged.and_then(|v| self.gate(&v, seq, &mut scratch).map(|()| v));
            match checked {
                Ok(v) => {
                    seq += v.len() as u64;
                    admitted.push((reply, sync, v));
                }
                Err(e) => reply.fill(Err(e)),
            }
        }
        if admitted.is_empty() {
            return;
        }
        // (d) Records and entry hashes at their places, in parallel; then the ordered write.
        let sync = admitted.iter().any(|(_, s, _)| *s);
        let counts: Vec<usize> = admitted.iter().map(|(_, _, v)| v.len()).collect();
        let mut all = Vec::with_capacity(counts.iter().sum());
        let mut outs = Vec::with_capacity(admitted.len());
        for (reply, _, v) in admitted {
            all.extend(v);
            outs.push(reply);
        }
        let result = self.write_entries(&all, sync);
        self.publish();
        self.answer(result, outs.into_iter().zip(counts).collect());
    }

    /// Answers a group's requests: at once, unless its sync runs in the background or groups
    /// written before it still wait for theirs; then once the sync covering it ended, in order.
    /// A failed group is answered at once (after the groups before it: they do not depend on it).
    fn answer(&mut self, result: Result<Vec<Receipt>, AppendError>, outs: Vec<(Reply, usize)>) {
        let deferred = std::mem::take(&mut self.overlap.deferred);
        match result {
            Ok(receipts) => {
                let own = if deferred { self.len } else { 0 };
                let end = own.max(self.overlap.waiting.back().map_or(0, |w| w.end));
                self.overlap.waiting.push_back(Waiting { end, receipts, outs });
                self.answer_covered();
            }
            Err(e) => {
                self.settle();
                reply_all(Err(e), outs);
            }
        }
    }

    /// Answers the waiting groups the syncs so far made durable.
    fn answer_covered(&mut self) {
        let durable = self.durable_len;
        let n = self.overlap.waiting.iter().take_while(|w| w.end <= durable).count();
        if n == 0 {
            return;
        }
        self.publish();
        // Every slot is filled before anyone is woken (see `reply_all`).
        let mut wakes = Vec::new();
        for w in self.overlap.waiting.drain(..n) {
            let mut receipts = w.receipts;
            for r in &mut receipts {
                r.durable = r.seq < durable;
            }
            fill_receipts(receipts, w.outs, &mut wakes);
        }
    }

    /// Waits for the background sync the waiting groups depend on (and syncs in line what no
    /// sync covers), then answers them: durable, or with the failure. Called wherever the
    /// writer stops overlapping: nothing queued, a request that is not an append, the end.
    pub(super) fn settle(&mut self) {
        if self.overlap.waiting.is_empty() {
            return;
        }
        let synced = self.reap_sync(true).and_then(|()| {
            if self.overlap.waiting.back().is_some_and(|w| w.end > self.durable_len) {
                self.sync_active()
            } else {
                Ok(())
            }
        });
        match synced {
            Ok(()) => self.answer_covered(),
            Err(e) => self.fail_waiting(&sync_append_error(e)),
        }
    }

    /// Answers the waiting groups a sync made durable, and fails the others with `e`.
    fn fail_waiting(&mut self, e: &AppendError) {
        self.answer_covered();
        self.publish();
        for w in self.overlap.waiting.drain(..) {
            reply_all(Err(same_failure(e)), w.outs);
        }
    }

    /// Fails every waiting group, durable or not (the writer thread panicked: its state is not
    /// trusted to say what is durable).
    pub(super) fn abandon_waiting(&mut self) {
        for w in self.overlap.waiting.drain(..) {
            reply_all(Err(AppendError::Poisoned), w.outs);
        }
    }

    /// Fresh salts for every draft of a group, drawn in one pass: a group of many single-entry
    /// requests (many producers submitting one entry each) costs one keyed XOF stream, not one
    /// per request, on the writer thread, which everything else in the group waits for.
    fn group_salts(&mut self, jobs: &[Job]) -> Vec<[u8; SALT_LEN]> {
        let mut salts = vec![[0u8; SALT_LEN]; jobs.iter().map(|j| j.drafts.len()).sum()];
        self.salts.fill(&mut salts);
        salts
    }

    /// The simple path for a large group: its drafts in pieces of [`PIECE`], each piece
    /// prepared (commitments, frames, entry hashes, leaves: parallel work) while the piece
    /// before it is finished (chain values, tree, seal, the write: ordered work), so that the
    /// ordered work no longer leaves a core idle. A piece is laid out from where the segment
    /// will stand after the piece before it ([`plan_writes`] is exact), so the bytes are those
    /// of one [`Writer::write_entries`] call per piece; only the last piece is synced (if
    /// `sync`): the call still costs one sync.
    ///
    /// Runs on the preparation pool (the writer's own or the shared one, [`Writer::prep_pool`]),
    /// so that the parallel passes fork from a pool thread: started from outside the pool, each
    /// pass would first wait for sleeping pool threads to wake.
    fn append_pipelined(
        &mut self,
        work: &mut [(Draft, [u8; SALT_LEN])],
        now: Timestamp,
        sync: bool,
    ) -> Result<Vec<Receipt>, AppendError> {
        let total = work.len();
        let (ledger_id, signer_id, segment_size) = (self.ledger_id, self.signer_id, self.segment_size);
        // Inside the pool, the passes run on it whatever pool they are given.
        let own = self.pool.take();
        let mut run = |w: &mut Writer| -> Result<Vec<Receipt>, AppendError> {
            // Stage, lay out and encode one piece, its first entry at `first`, the segment
            // standing at `at` (staging cannot fail here: no co-signers).
            let prepare = |piece, first: u64, at: SegmentAt, spare: Vec<Vec<u8>>| {
                let staged = prepare::stage_plain(None, piece, now);
                let (mut layout, after) = Layout::plan(&staged, at, segment_size, spare);
                let placed = layout.encode(None, &staged, first, ledger_id, signer_id);
                Prepared {
                    staged,
                    layout,
                    placed,
                    after,
                }
            };
            let mut pieces = work.chunks_mut(PIECE);
            let mut receipts = Vec::with_capacity(total);
            let spare = std::mem::take(&mut w.spare);
            let mut next = pieces.next().map(|piece| prepare(piece, w.len, w.segment_at(), spare));
            while let Some(mut p) = next {
                let following = pieces.next();
                let last = following.is_none();
                let first_next = w.len + p.staged.len() as u64;
                let spare = std::mem::take(&mut w.spare);
                let (written, prepared_next) = rayon::join(
                    || w.finish_entries(&p.staged, &mut p.layout, &p.placed, sync && last),
                    || following.map(|piece| prepare(piece, first_next, p.after, spare)),
                );
                w.keep_buffers(std::mem::take(&mut p.layout.bufs));
                receipts.extend(written?);
                next = prepared_next;
            }
            // Receipts of earlier pieces became durable with the last piece's sync.
            for r in &mut receipts {
                r.durable = r.seq < w.durable_len;
            }
            Ok(receipts)
        };
        let result = match prepare::pool_or_shared(own.as_ref()) {
            Some(p) => p.install(|| run(self)),
            None => rayon::scope(|_| run(self)),
        };
        self.pool = own;
        result
    }

    /// Checks the signers of the governance and co-signed entries of one request against the
    /// registry (as it will stand at each entry, counting earlier entries of the group), and
    /// applies their key changes to the group's scratch copy.
    fn gate(&self, staged: &[Staged], first_seq: u64, scratch: &mut Option<Registry>) -> Result<(), AppendError> {
        // An application entry without co-signers needs only the writer's key, checked once
        // per group; every other entry has signers `verify` checks against the registry.
        let plain = |s: &Staged| s.fields.kind == EntryKind::Application && s.cosignatures.is_empty();
        if !self.check_signers || staged.iter().all(plain) {
            return Ok(());
        }
        let mut reg = scratch.clone().unwrap_or_else(|| self.registry.clone());
        for (i, s) in staged.iter().enumerate() {
            if plain(s) {
                continue;
            }
            let seq = first_seq + i as u64;
            let position = s.position_signed.then_some(crate::entry::AuthorSignature {
                key_id: self.signer_id,
                signature: [0; 64],
            });
            let would_fail =
                |(check, reason): (crate::verify::Check, String)| AppendError::WouldNotVerify { seq, check, reason };
            reg.resolve(s.fields.kind, position.as_ref(), &s.cosignatures, seq)
                .map_err(would_fail)?;
            if s.fields.kind == EntryKind::Application {
                continue;
            }
            let rec = crate::record::Record::decode(s.fields.kind, &s.payload)?;
            reg.apply(seq, &rec).map_err(would_fail)?;
        }
        *scratch = Some(reg);
        Ok(())
    }

    /// Frames, chains, signs, seals and writes staged entries; syncs if asked (or if the
    /// unsynced bytes would exceed the torn-tail bound). Any I/O error poisons the writer.
    ///
    /// Each write's frames are encoded straight into its buffer, in parallel (records, entry
    /// hashes, leaves, checksums); the ordered pass is one BLAKE3 compression (the chain value)
    /// and a tree push per entry; position signatures are again parallel; only the last frame
    /// of each write is sealed, and the buffer is written as it is.
    pub(super) fn write_entries(&mut self, staged: &[Staged], sync: bool) -> Result<Vec<Receipt>, AppendError> {
        let spare = std::mem::take(&mut self.spare);
        let (mut layout, _) = Layout::plan(staged, self.segment_at(), self.segment_size, spare);
        let placed = layout.encode(self.prep_pool(), staged, self.len, self.ledger_id, self.signer_id);
        let result = self.finish_entries(staged, &mut layout, &placed, sync);
        self.keep_buffers(layout.bufs);
        result
    }

    /// The pool this writer hashes and signs on ([`prepare::pool_or_shared`]).
    fn prep_pool(&self) -> Option<&rayon::ThreadPool> {
        prepare::pool_or_shared(self.pool.as_ref())
    }

    /// Where the active segment stands, for planning writes.
    fn segment_at(&self) -> SegmentAt {
        SegmentAt {
            len: self.active.len,
            count: self.active.count,
        }
    }

    /// Keeps write buffers for the next writes (a few, not too large).
    fn keep_buffers(&mut self, bufs: Vec<Vec<u8>>) {
        for buf in bufs {
            if self.spare.len() < SPARE_BUFFERS && buf.capacity() <= SPARE_MAX {
                self.spare.push(buf);
            }
        }
    }

    /// [`Writer::write_entries`] once the frames are encoded (`placed`, in `layout`'s buffers):
    /// the ordered pass, position signatures, seals, the writes, and the sync if asked.
    fn finish_entries(
        &mut self,
        staged: &[Staged],
        layout: &mut Layout,
        placed: &[Placed],
        sync: bool,
    ) -> Result<Vec<Receipt>, AppendError> {
        let (sizes, ends, bufs) = (&layout.sizes[..], &layout.ends[..], &mut layout.bufs[..]);
        debug_assert_eq!(
            ends,
            &plan_writes(sizes, self.segment_at(), self.segment_size).0[..],
            "a layout planned ahead must be the layout of the segment as it stands"
        );
        let sealed = |i: usize| ends.binary_search(&(i + 1)).is_ok();
        // Ordered: chain values, tree leaves, and the root at the end of each write.
        let mut chains = Vec::with_capacity(placed.len());
        let mut roots = Vec::with_capacity(ends.len());
        let mut chain = self.chain;
        let mut next_end = ends.iter().copied().peekable();
        for (i, p) in placed.iter().enumerate() {
            chain = chain_value(&chain, &p.hash);
            chains.push(chain);
            if let Err(err) = self.tree.push_leaf(p.leaf) {
                self.poisoned = true;
                return Err(err.into());
            }
            if next_end.peek() == Some(&(i + 1)) {
                next_end.next();
                roots.push(self.tree.root());
            }
        }
        // Position signatures, in parallel, each unsealed frame re-checksummed where it is signed.
        if placed.iter().any(|p| p.position_at.is_some()) {
            let signer = Arc::clone(&self.signer);
            let prev = |i: usize| if i == 0 { self.chain } else { chains[i - 1] };
            let work: Vec<(&Placed, Digest, &mut [u8])> = placed
                .iter()
                .enumerate()
                .map(|(i, p)| (p, prev(i)))
                .zip(frames_of(bufs, sizes, ends))
                .map(|((p, prev), f)| (p, prev, f))
                .collect();
            let positions = prepare::map(self.prep_pool(), work, |i, (p, prev, frame)| {
                if let Some(at) = p.position_at {
                    let sig = signer.sign(&position_message(&prev, &p.hash)).map_err(KeyError::from)?;
                    frame[at..at + 64].copy_from_slice(&sig);
                    if !sealed(i) {
                        finish_frame(frame, None);
                    }
                }
                Ok::<_, AppendError>(())
            });
            if let Err(err) = positions.into_iter().collect::<Result<Vec<()>, _>>() {
                // The tree already holds these leaves: nothing was written, but the writer's
                // state moved on, so it stops here (reopen to continue).
                self.poisoned = true;
                return Err(err);
            }
        }
        let result = self
            .write_sealed(staged, placed, bufs, &chains, ends, &roots, sync)
            .map_err(AppendError::Storage);
        if sync {
            self.overlap.pace.written();
        }
        let result = result.and_then(|receipts| {
            let behind = self.overlap.behind || self.overlap.queued.load(Ordering::Relaxed);
            if sync && self.overlap.enabled && behind {
                // Requests are queued or follow in the batch: their work overlaps this sync, one
                // sync in flight at a time (the one before covers the groups written before it).
                if let Err(e) = self.reap_sync(true) {
                    let e = sync_append_error(e);
                    self.fail_waiting(&e);
                    return Err(e);
                }
                self.answer_covered();
                self.start_sync();
                self.overlap.deferred = true;
            } else if sync {
                self.sync_active().map_err(sync_append_error)?;
            } else {
                self.reap_sync(false).map_err(sync_append_error)?;
                if self.active.len - self.active.synced > MAX_TORN / 2 {
                    self.start_sync();
                }
            }
            Ok(receipts)
        });
        match result {
            Ok(mut receipts) => {
                for r in &mut receipts {
                    r.durable = r.seq < self.durable_len;
                }
                self.commit_keys(staged);
                Ok(receipts)
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    /// Seals the last frame of each write and writes the buffers, rotating segments between
    /// writes where `write_ends` planned it; `sync` says the writes are about to be synced
    /// (they go into reserved space).
    #[allow(clippy::too_many_arguments)] // the group's parallel slices, borrowed from its locals
    fn write_sealed(
        &mut self,
        staged: &[Staged],
        placed: &[Placed],
        bufs: &mut [Vec<u8>],
        chains: &[Digest],
        ends: &[usize],
        roots: &[Digest],
        sync: bool,
    ) -> Result<Vec<Receipt>, StorageError> {
        let mut receipts = Vec::with_capacity(placed.len());
        let mut start = 0;
        for ((&end, root), buf) in ends.iter().zip(roots).zip(bufs.iter_mut()) {
            if self.active.len + buf.len() as u64 > self.segment_size && self.active.count > 0 {
                self.rotate()?;
            }
            let mut offset = self.active.len;
            for i in start..end {
                let governance = staged[i].fields.kind != EntryKind::Application;
                self.active
                    .pending_slots
                    .extend_from_slice(&encode_slot(offset, governance));
                offset += prepare::frame_len(&staged[i], i + 1 == end) as u64;
                receipts.push(Receipt {
                    seq: self.len + (i - start) as u64,
                    entry_hash: placed[i].hash,
                    chain: chains[i],
                    durable: false,
                });
            }
            let chain = chains[end - 1];
            let size = self.len + (end - start) as u64;
            let seal = Seal {
                sealer: self.signer_id,
                chain,
                root: *root,
                tag: seal_tag(&self.seal_key, self.ledger_id, size, &chain, root),
            };
            let last = prepare::frame_len(&staged[end - 1], true);
            let at = buf.len() - last;
            finish_frame(&mut buf[at..], Some(&seal));
            self.write_buffer(buf, (end - start) as u64, chain, sync)?;
            start = end;
        }
        Ok(receipts)
    }

    /// Writes one sealed write and advances the in-memory state. Index slots and tree nodes
    /// (derived data) are written lazily, in blocks of `DERIVED_BLOCK` bytes. A write that will
    /// be synced goes into space reserved ahead ([`Writer::reserve`]).
    fn write_buffer(&mut self, buf: &[u8], n: u64, chain: Digest, sync: bool) -> Result<(), StorageError> {
        let end = self.active.len + buf.len() as u64;
        if end - self.active.synced > MAX_TORN {
            self.sync_active().map_err(sync_storage)?;
        }
        if sync && end > self.active.allocated {
            self.reserve(end)?;
        }
        let a = &mut self.active;
        a.file.write_all_at(buf, a.len).map_err(io_err("write", &a.path))?;
        a.len += buf.len() as u64;
        // A write past the reserved space (one not about to be synced) grew the file.
        a.allocated = a.allocated.max(a.len);
        a.count += n;
        self.len += n;
        self.chain = chain;
        if self.active.pending_slots.len() >= DERIVED_BLOCK || self.tree.pending_bytes() >= DERIVED_BLOCK {
            self.flush_derived()?;
        }
        Ok(())
    }

    /// Extends the active segment with zero bytes to `RESERVE` past `end` (the end of the
    /// next write), so that the syncs of the writes that fill it do not change the file's
    /// length. What the reservation adds is bounded as the torn tail is: the file never
    /// extends more than `MAX_TORN` past the last synced seal, so a crash leaves a tail that
    /// §8 reads as reserved space (zeros after a seal) or as a torn write, never as damage.
    ///
    /// Space is allocated, not only sized (`StorageFile::reserve`), so a write into it cannot
    /// stop short for lack of space, leaving shapes §8 would call damage. A backend that cannot
    /// allocate ahead is written without reserving; a failed reservation (no space left) is
    /// undone and the write goes ahead as it would have without it.
    fn reserve(&mut self, end: u64) -> Result<(), StorageError> {
        let limit = self.segment_size;
        let a = &mut self.active;
        if !a.reserving {
            return Ok(());
        }
        // Never past the segment's size (its writes rotate there) nor the torn-tail bound.
        let to = (end + RESERVE).min(limit).min(a.synced + MAX_TORN).max(end);
        match a.file.reserve(to) {
            Ok(true) => a.allocated = a.allocated.max(to),
            Ok(false) => a.reserving = false,
            Err(_) => {
                a.reserving = false;
                // Part of the request may have been allocated: back to the file's length before
                // it (never shorter: that would cut written entries).
                a.file.set_len(a.allocated).map_err(io_err("truncate", &a.path))?;
            }
        }
        Ok(())
    }

    /// Cuts the zero bytes reserved past the written ones, durably (before the segment is
    /// sealed for good or the writer stops: only the newest segment may end in them).
    fn release(&mut self) -> Result<(), StorageError> {
        let a = &mut self.active;
        if a.allocated > a.len {
            a.file.set_len(a.len).map_err(io_err("truncate", &a.path))?;
            a.file.sync_data().map_err(io_err("sync", &a.path))?;
            a.allocated = a.len;
        }
        Ok(())
    }

    /// Writes the index slots and tree nodes buffered so far (derived data: not synced here).
    pub(super) fn flush_derived(&mut self) -> Result<(), StorageError> {
        let a = &mut self.active;
        if !a.pending_slots.is_empty() {
            let written = a.count - (a.pending_slots.len() / 4) as u64;
            let at = crate::storage::index::slot(written).unwrap_or(u64::MAX);
            a.idx
                .write_all_at(&a.pending_slots, at)
                .map_err(io_err("write", &a.idx_path))?;
            a.pending_slots.clear();
        }
        self.tree.flush()
    }

    /// Starts an `fdatasync` of the active segment on the writer's sync thread: for a durable
    /// group when requests are queued behind it ([`Overlap`]), and so that a writer
    /// that is not asked for durability keeps writing while the torn-tail bound is kept
    /// (`MAX_TORN`: the sync starts at half of it; a write that would pass it waits for the
    /// sync, in [`Writer::sync_active`]). Measured: the blocking syncs were about a fifth of
    /// an unsigned bulk append's time. Syncs in line if the backend has no second handle.
    fn start_sync(&mut self) {
        if self.bg_sync.is_some() {
            return;
        }
        let Some(handle) = self.active.file.sync_handle() else {
            // An error here poisons the writer; the next call reports it.
            let _ = self.sync_active();
            return;
        };
        if self.syncer.is_none() {
            self.syncer = SyncThread::start().ok();
        }
        let sent = self.syncer.as_ref().is_some_and(|t| t.jobs.send(handle).is_ok());
        if sent {
            self.bg_sync = Some(BgSync {
                bytes: self.active.len,
                entries: self.len,
            });
        } else {
            self.syncer = None;
            let _ = self.sync_active();
        }
    }

    /// Takes the result of the background sync if it finished (or, with `wait`, once it
    /// does). A failed one poisons the writer, as a failed sync in line does: the kernel may
    /// have dropped the pages it could not write, and that error is reported once, to it.
    fn reap_sync(&mut self, wait: bool) -> Result<(), SyncError> {
        let Some(bg) = self.bg_sync.take() else {
            return Ok(());
        };
        // `None`: the sync thread is gone (it panicked) without an answer.
        let outcome = match &self.syncer {
            Some(t) if wait => t.results.recv().ok(),
            Some(t) => match t.results.try_recv() {
                Ok(r) => Some(r),
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    self.bg_sync = Some(bg);
                    return Ok(());
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
            },
            None => None,
        };
        if let Some((_, took)) = &outcome {
            self.overlap.pace.synced(*took);
        }
        match outcome.map(|(r, _)| r) {
            Some(Ok(())) => {
                self.active.synced = self.active.synced.max(bg.bytes);
                self.durable_len = self.durable_len.max(bg.entries);
                Ok(())
            }
            Some(Err(e)) => {
                self.poisoned = true;
                Err(io_err("sync", &self.active.path)(e).into())
            }
            None => {
                self.poisoned = true;
                self.syncer = None;
                Err(SyncError::Poisoned)
            }
        }
    }

    /// `fdatasync` of the active segment; every entry written is then durable.
    pub(super) fn sync_active(&mut self) -> Result<(), SyncError> {
        self.reap_sync(true)?;
        self.usable()?;
        let a = &mut self.active;
        if a.synced == a.len && self.durable_len == self.len {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let synced = a.file.sync_data();
        self.overlap.pace.synced(started.elapsed());
        if let Err(e) = synced {
            // After a failed fdatasync the kernel may have dropped the dirty pages: never
            // report anything durable again until the ledger is reopened and recovered.
            self.poisoned = true;
            return Err(io_err("sync", &a.path)(e).into());
        }
        a.synced = a.len;
        self.durable_len = self.len;
        Ok(())
    }

    /// Seals the active segment (synced, with its index) and starts a new one.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.flush_derived()?;
        self.release()?;
        self.sync_active().map_err(sync_storage)?;
        self.active
            .idx
            .sync_data()
            .map_err(io_err("sync", &self.active.idx_path))?;
        self.active = super::open::create_segment(self.root.as_ref(), self.ledger_id, self.len)?;
        Ok(())
    }

    /// Applies the key enrollments and revocations just appended to the registry.
    fn commit_keys(&mut self, entries: &[Staged]) {
        let first = self.len - entries.len() as u64;
        for (i, e) in entries.iter().enumerate() {
            if matches!(e.fields.kind, EntryKind::KeyEnrollment | EntryKind::KeyRevocation) {
                if let Ok(rec) = crate::record::Record::decode(e.fields.kind, &e.payload) {
                    // Checked by `gate` before the write; it applies again as it did there.
                    let _ = self.registry.apply(first + i as u64, &rec);
                }
            }
        }
    }

    /// Whether the writer's key is an enrolled, unrevoked operator at the ledger's size (always
    /// true with `check_signers` off: a raw writer for fixtures of bad ledgers).
    pub(super) fn signer_valid(&self) -> bool {
        !self.check_signers
            || self
                .registry
                .get(&self.signer_id)
                .is_some_and(|k| k.has(Role::Operator) && k.valid_at_size(self.len))
    }

    /// Signs and records a checkpoint of the current state, after making it durable.
    fn checkpoint(&mut self) -> Result<Checkpoint, CheckpointError> {
        self.usable()?;
        if !self.signer_valid() {
            return Err(CheckpointError::SignerNotAuthorized { key_id: self.signer_id });
        }
        // Proofs against this checkpoint need its tree nodes on disk.
        if let Err(e) = self.flush_derived() {
            self.poisoned = true;
            return Err(e.into());
        }
        self.sync_active()?;
        let c = Checkpoint::sign_with(
            self.ledger_id,
            self.len,
            self.tree.root(),
            Timestamp::now(),
            self.signer.as_ref(),
        )?;
        if let Err(e) = self.checkpoints.append(&c) {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(c)
    }

    /// Makes everything durable before the writer stops (tree and index too, to spare the
    /// next open a replay).
    fn close(&mut self) -> Result<(), SyncError> {
        self.usable()?;
        self.flush_derived()?;
        self.release()?;
        self.sync_active()?;
        let a = &mut self.active;
        a.idx.sync_data().map_err(io_err("sync", &a.idx_path))?;
        self.tree.sync()?;
        Ok(())
    }

    /// Runs one append request through the group path (used by erasure).
    pub(super) fn append_one(&mut self, draft: Draft) -> Result<Receipt, AppendError> {
        let slot = super::ticket::Slot::new();
        self.append_group(vec![Job {
            drafts: vec![draft],
            sync: true,
            reply: Reply::Single(Arc::clone(&slot)),
        }]);
        self.settle();
        super::Ticket::new(slot).wait()
    }
}

/// Hands each request of a group its receipts (in order, `n` each), or the group's failure.
fn reply_all(result: Result<Vec<Receipt>, AppendError>, outs: Vec<(Reply, usize)>) {
    match result {
        Ok(receipts) => {
            // Every slot is filled before anyone is woken (`Slot::fill_later`): the waiters
            // are woken as `wakes` is dropped, also if filling panicked.
            let mut wakes = Vec::new();
            fill_receipts(receipts, outs, &mut wakes);
            drop(wakes);
        }
        Err(e) => {
            for (reply, _) in outs {
                reply.fill(Err(same_failure(&e)));
            }
        }
    }
}

/// Fills each request's slot with its receipts (in order, `n` each), leaving the wake-ups to
/// `wakes`.
fn fill_receipts(receipts: Vec<Receipt>, outs: Vec<(Reply, usize)>, wakes: &mut Vec<super::ticket::Wake>) {
    let mut it = receipts.into_iter();
    for (reply, n) in outs {
        wakes.extend(reply.fill_later(it.by_ref().take(n)));
    }
}

/// A failed sync as the error of the appends it was to make durable.
fn sync_append_error(e: SyncError) -> AppendError {
    match e {
        SyncError::Storage(s) => AppendError::Storage(s),
        SyncError::Closed => AppendError::Closed,
        _ => AppendError::Poisoned,
    }
}

/// The error to hand to every caller of a failed group: the same failure (I/O errors are
/// not `Clone`, so their kind and message are carried over).
fn same_failure(e: &AppendError) -> AppendError {
    match e {
        AppendError::Poisoned => AppendError::Poisoned,
        AppendError::Closed => AppendError::Closed,
        AppendError::Storage(StorageError::Io { op, path, source }) => AppendError::Storage(StorageError::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        }),
        AppendError::Storage(other) => AppendError::Storage(StorageError::Io {
            op: "append",
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        }),
        AppendError::Signer(k) => AppendError::Signer(same_key_error(k)),
        AppendError::Record(d) => AppendError::Record(d.clone()),
        AppendError::InvalidDraft { index, reason } => AppendError::InvalidDraft {
            index: *index,
            reason: reason.clone(),
        },
        AppendError::WouldNotVerify { seq, check, reason } => AppendError::WouldNotVerify {
            seq: *seq,
            check: *check,
            reason: reason.clone(),
        },
    }
}

/// The same key error for another caller: a signer's failure keeps its kind (a refusal stays
/// a refusal); what cannot be cloned (an I/O error, a remote signer's error source) is carried
/// over as its kind and message.
fn same_key_error(k: &KeyError) -> KeyError {
    let message = |e: &dyn std::error::Error| -> Box<dyn std::error::Error + Send + Sync> { e.to_string().into() };
    match k {
        KeyError::Signer(SignError::Unavailable(e)) => KeyError::Signer(SignError::Unavailable(message(e.as_ref()))),
        KeyError::Signer(SignError::Refused(r)) => KeyError::Signer(SignError::Refused(r.clone())),
        KeyError::Signer(SignError::BadResponse(r)) => KeyError::Signer(SignError::BadResponse(r.clone())),
        KeyError::InvalidKeyFile { path, reason } => KeyError::InvalidKeyFile {
            path: path.clone(),
            reason,
        },
        KeyError::InsecurePermissions { path, mode } => KeyError::InsecurePermissions {
            path: path.clone(),
            mode: *mode,
        },
        KeyError::InvalidPublicKey(r) => KeyError::InvalidPublicKey(r),
        KeyError::Io { path, source } => KeyError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        KeyError::Entropy(e) => KeyError::Entropy(e.clone()),
    }
}

/// A sync failure as a storage error (for paths that report storage errors).
fn sync_storage(e: SyncError) -> StorageError {
    match e {
        SyncError::Storage(s) => s,
        other => StorageError::Io {
            op: "sync",
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The writer thread: takes everything waiting, processes it in order (consecutive appends
/// as one group), publishes the new state, and answers. A panic while processing fails the
/// requests concerned and stops the writer; it never leaves a caller waiting.
///
/// The writer itself is behind `shared.writer`: the thread locks it before it drains the queue
/// and holds it until the drained requests are answered, so a caller that finds the queue
/// empty and the writer free may run its own request inline ([`run_inline`]) without passing
/// any request submitted before it.
pub(super) fn run(shared: &Shared) {
    loop {
        {
            let mut q = shared.lock_queue();
            while q.items.is_empty() && !q.closed {
                q.writer_idle = true;
                q = shared.work.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.writer_idle = false;
            }
        }
        // Lock order: the writer, then the queue (an inline caller only try-locks the writer
        // while it holds the queue).
        let mut guard = shared.lock_writer();
        let batch: Vec<Request> = {
            let mut q = shared.lock_queue();
            q.bytes = 0;
            let space_waiters = q.space_waiters > 0;
            let items: Vec<Request> = q.items.drain(..).collect();
            if let Some(w) = guard.as_ref() {
                w.overlap.queued.store(false, Ordering::Relaxed);
            }
            drop(q);
            if space_waiters {
                shared.space.notify_all();
            }
            items
        };
        if batch.is_empty() {
            // Closed with nothing left to do.
            break;
        }
        let Some(w) = guard.as_mut() else { break };
        w.overlap.enabled = true;
        let replies: Vec<Failer> = batch.iter().map(Failer::of).collect();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let stop = process(w, batch);
            // Nothing queued: a sync still in flight would overlap nothing; answer now.
            if !stop && shared.lock_queue().items.is_empty() {
                w.settle();
            }
            stop
        }));
        if let Ok(stop) = outcome {
            w.publish();
            if stop {
                break;
            }
        } else {
            // A bug panicked the writer: fail everyone concerned, accept nothing more.
            w.poisoned = true;
            for r in &replies {
                r.fail(Stop::Panicked);
            }
            w.abandon_waiting();
            break;
        }
    }
    // The writer (its files and directory lock) goes with the thread; no group is left
    // unanswered.
    let mut writer = shared.lock_writer().take();
    if let Some(w) = writer.as_mut() {
        if w.poisoned {
            w.abandon_waiting();
        } else {
            w.settle();
        }
    }
    let mut q = shared.lock_queue();
    q.closed = true;
    for r in q.items.drain(..) {
        Failer::of(&r).fail(Stop::Closed);
    }
    drop(q);
    drop(writer);
}

/// Runs `req` on the calling thread if nothing is queued and the writer is free (a blocking
/// append then costs no hand-over to the writer thread and back: two thread wake-ups, a large
/// part of a single append's latency). Otherwise gives `req` back, to be queued. Requests run
/// in the order they were submitted either way: the queue is empty, and the writer thread holds
/// the writer from before it drains the queue until it has answered what it drained.
pub(super) fn run_inline(shared: &Shared, req: Request) -> Result<(), Request> {
    let q = shared.lock_queue();
    if q.closed || !q.items.is_empty() {
        return Err(req);
    }
    let mut guard = match shared.writer.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return Err(req),
    };
    drop(q);
    let Some(w) = guard.as_mut() else { return Err(req) };
    let failer = Failer::of(&req);
    // The caller waits for its own answer: its sync would overlap nothing.
    w.overlap.enabled = false;
    if catch_unwind(AssertUnwindSafe(|| {
        process(w, vec![req]);
        w.settle();
    }))
    .is_ok()
    {
        w.publish();
    } else {
        // As on the writer thread: the caller is answered, nothing more is accepted.
        w.poisoned = true;
        failer.fail(Stop::Panicked);
        w.abandon_waiting();
    }
    Ok(())
}

/// Why a request is failed without being processed.
#[derive(Clone, Copy)]
enum Stop {
    /// The writer thread panicked.
    Panicked,
    /// The ledger was closed.
    Closed,
}

/// A way to fail a request's caller later (a fill of an already-filled slot is ignored): the
/// request's reply slot, kept apart from the request the writer consumes.
enum Failer {
    Single(Arc<super::ticket::Slot<Result<Receipt, AppendError>>>),
    Batch(Arc<super::ticket::Slot<Result<Vec<Receipt>, AppendError>>>),
    Sync(Arc<super::ticket::Slot<Result<u64, SyncError>>>),
    Close(Arc<super::ticket::Slot<Result<(), SyncError>>>),
    Checkpoint(Arc<super::ticket::Slot<Result<Checkpoint, CheckpointError>>>),
    Redact(Arc<super::ticket::Slot<Result<Receipt, crate::error::RedactError>>>),
}

impl Failer {
    fn of(r: &Request) -> Self {
        match r {
            Request::Append { reply, .. } => match reply {
                Reply::Single(s) => Failer::Single(Arc::clone(s)),
                Reply::Batch(s) => Failer::Batch(Arc::clone(s)),
            },
            Request::Sync(s) => Failer::Sync(Arc::clone(s)),
            Request::Close(s) => Failer::Close(Arc::clone(s)),
            Request::Checkpoint(s) => Failer::Checkpoint(Arc::clone(s)),
            Request::Redact { reply, .. } => Failer::Redact(Arc::clone(reply)),
        }
    }

    fn fail(&self, stop: Stop) {
        let append = || match stop {
            Stop::Panicked => AppendError::Poisoned,
            Stop::Closed => AppendError::Closed,
        };
        let sync = || match stop {
            Stop::Panicked => SyncError::Poisoned,
            Stop::Closed => SyncError::Closed,
        };
        match self {
            Failer::Single(s) => s.fill(Err(append())),
            Failer::Batch(s) => s.fill(Err(append())),
            Failer::Sync(s) => s.fill(Err(sync())),
            Failer::Close(s) => s.fill(Err(sync())),
            Failer::Checkpoint(s) => s.fill(Err(CheckpointError::Sync(sync()))),
            Failer::Redact(s) => s.fill(Err(crate::error::RedactError::Append(append()))),
        }
    }
}

/// Processes one batch of requests in order; `true` once a close was handled. Consecutive
/// appends form one group, ended early once it holds [`Pace::cut`] synced entries and more
/// appends follow (their work then overlaps its sync).
fn process(w: &mut Writer, batch: Vec<Request>) -> bool {
    let mut group = Vec::new();
    let flush = |w: &mut Writer, group: &mut Vec<Job>| {
        if !group.is_empty() {
            w.append_group(std::mem::take(group));
            // Measured when the group was written; a group that failed before is not timed.
            w.overlap.pace.group = None;
        }
    };
    let mut batch = batch.into_iter().peekable();
    let mut synced = 0;
    let cut = w.overlap.pace.cut();
    while let Some(r) = batch.next() {
        match r {
            Request::Append {
                drafts,
                durability,
                reply,
                ..
            } => {
                let sync = durability == Durability::Synced;
                if sync {
                    synced += drafts.len();
                }
                group.push(Job { drafts, sync, reply });
                let more = matches!(batch.peek(), Some(Request::Append { .. }));
                if synced >= cut && more {
                    w.overlap.behind = true;
                    flush(w, &mut group);
                    w.overlap.behind = false;
                    synced = 0;
                }
            }
            Request::Sync(s) => {
                synced = 0;
                flush(w, &mut group);
                w.settle();
                let r = w.sync_active().map(|()| w.durable_len);
                w.publish();
                s.fill(r);
            }
            Request::Checkpoint(s) => {
                synced = 0;
                flush(w, &mut group);
                w.settle();
                let r = w.checkpoint();
                w.publish();
                s.fill(r);
            }
            Request::Redact {
                seq,
                reason,
                cosigners,
                reply,
            } => {
                synced = 0;
                flush(w, &mut group);
                w.settle();
                let r = w.redact(seq, &reason, cosigners);
                w.publish();
                reply.fill(r);
            }
            Request::Close(s) => {
                flush(w, &mut group);
                w.settle();
                s.fill(w.close());
                return true;
            }
        }
    }
    flush(w, &mut group);
    false
}

/// Where a segment stands, for planning writes: its length in bytes and its entry count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SegmentAt {
    len: u64,
    count: u64,
}

/// Where the writes of a group end (exclusive indices), and where the segment stands after
/// them, starting from `at`: each write holds at most `MAX_WRITE` bytes and fits in its
/// segment (a new segment is started between writes, as [`Writer::write_sealed`] does).
/// `sizes` are the frames' lengths without a seal.
fn plan_writes(sizes: &[usize], at: SegmentAt, segment_size: u64) -> (Vec<usize>, SegmentAt) {
    let mut ends = Vec::new();
    let mut seg_len = at.len;
    let mut seg_count = at.count;
    let mut bytes = 0u64;
    let mut in_write = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        let f = (size + SEAL_LEN) as u64;
        let segment_full = seg_len + bytes + f > segment_size && seg_count + in_write as u64 > 0;
        if in_write > 0 && (bytes + f > MAX_WRITE || segment_full) {
            ends.push(i);
            // The write just ended holds a seal.
            seg_len += bytes + SEAL_LEN as u64;
            seg_count += in_write as u64;
            bytes = 0;
            in_write = 0;
        }
        if seg_len + f > segment_size && seg_count > 0 {
            // This write starts a new segment.
            seg_len = SEGMENT_HEADER_LEN as u64;
            seg_count = 0;
        }
        bytes += size as u64;
        in_write += 1;
    }
    if in_write > 0 {
        ends.push(sizes.len());
        seg_len += bytes + SEAL_LEN as u64;
        seg_count += in_write as u64;
    }
    (
        ends,
        SegmentAt {
            len: seg_len,
            count: seg_count,
        },
    )
}

/// A piece of a pipelined group, ready for the ordered pass ([`Writer::append_pipelined`]).
struct Prepared {
    staged: Vec<Staged>,
    layout: Layout,
    placed: Vec<Placed>,
    /// Where the segment will stand after this piece is written.
    after: SegmentAt,
}

/// The writes of a group laid out: each frame's length without a seal, where each write
/// ends, and one zeroed buffer per write (the last frame of each with room for its seal).
struct Layout {
    sizes: Vec<usize>,
    ends: Vec<usize>,
    bufs: Vec<Vec<u8>>,
}

impl Layout {
    /// Lays out `staged` from a segment standing at `at`; `spare` buffers are reused first.
    /// Returns where the segment stands after these writes.
    fn plan(staged: &[Staged], at: SegmentAt, segment_size: u64, mut spare: Vec<Vec<u8>>) -> (Self, SegmentAt) {
        let sizes: Vec<usize> = staged.iter().map(|s| prepare::frame_len(s, false)).collect();
        let (ends, after) = plan_writes(&sizes, at, segment_size);
        let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in &ends {
            // Zeroed, as a fresh buffer would be: placeholders are zero until filled.
            let mut buf = spare.pop().unwrap_or_default();
            buf.clear();
            buf.resize(sizes[start..end].iter().sum::<usize>() + SEAL_LEN, 0);
            bufs.push(buf);
            start = end;
        }
        (Self { sizes, ends, bufs }, after)
    }

    /// Encodes the frames of `staged`, the first at sequence number `first`, into the
    /// buffers (in parallel): their entry hashes, leaves and position-signature offsets.
    fn encode(
        &mut self,
        pool: Option<&rayon::ThreadPool>,
        staged: &[Staged],
        first: u64,
        ledger_id: LedgerId,
        signer_id: KeyId,
    ) -> Vec<Placed> {
        let ends = &self.ends;
        let sealed = |i: usize| ends.binary_search(&(i + 1)).is_ok();
        let work: Vec<(&Staged, &mut [u8])> = staged
            .iter()
            .zip(frames_of(&mut self.bufs, &self.sizes, ends))
            .collect();
        prepare::encode_all(pool, work, first, ledger_id, signer_id, &sealed)
    }
}

/// The frames of `bufs` as separate slices, in entry order: write `w` holds the entries up to
/// `ends[w]`, each `sizes[i]` bytes, the last of each write with room for its seal.
fn frames_of<'b>(bufs: &'b mut [Vec<u8>], sizes: &[usize], ends: &[usize]) -> Vec<&'b mut [u8]> {
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for (buf, &end) in bufs.iter_mut().zip(ends) {
        let mut rest: &mut [u8] = buf;
        for (i, size) in sizes.iter().enumerate().take(end).skip(start) {
            let len = size + if i + 1 == end { SEAL_LEN } else { 0 };
            let (frame, tail) = rest.split_at_mut(len);
            out.push(frame);
            rest = tail;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Pace, MIN_CUT};
    use std::time::{Duration, Instant};

    /// A synced group of `n` entries that took `took` to write.
    fn group(p: &mut Pace, n: usize, took: Duration) {
        let started = Instant::now().checked_sub(took).expect("a clock that far back");
        p.group = Some((started, n));
        p.written();
    }

    #[test]
    fn nothing_is_cut_before_syncs_and_work_are_measured() {
        let mut p = Pace::default();
        assert_eq!(p.cut(), usize::MAX);
        p.synced(Duration::from_micros(300));
        assert_eq!(p.cut(), usize::MAX, "work not measured yet");
        let mut q = Pace::default();
        group(&mut q, 1000, Duration::from_millis(1));
        assert_eq!(q.cut(), usize::MAX, "syncs not measured yet");
    }

    #[test]
    fn cuts_follow_the_entries_written_in_one_sync_with_a_floor() {
        let mut p = Pace::default();
        p.synced(Duration::from_micros(300));
        // 1 µs per entry: 300 entries per sync, below the floor.
        group(&mut p, 4096, Duration::from_micros(4096));
        assert_eq!(p.cut(), MIN_CUT);
        // Syncs of 20 ms (moving average: it takes a few to get there): far more entries per
        // sync than the floor, so groups are cut late or not at all.
        for _ in 0..40 {
            p.synced(Duration::from_millis(20));
        }
        let cut = p.cut();
        assert!((18_000..=21_000).contains(&cut), "{cut}");
        // A group with no entries measures nothing.
        group(&mut p, 0, Duration::from_millis(5));
        assert_eq!(p.cut(), cut);
    }
}
