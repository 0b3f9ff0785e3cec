//! Model-based: random operations of the v2 writer on a failing disk, against a model of what
//! must survive and what the writer may acknowledge.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::entry::EntryKind;
use crate::error::{AppendError, RedactError};
use crate::hash::Digest;
use crate::keys::SigningKey;
use crate::ledger::{Draft, Durability, Ledger, Options, Receipt, Ticket};
use crate::reader::LedgerReader;
use crate::record::{Environment, KeyEnrollment, KeyRevocation, PrincipalType, Record, Role};
use crate::storage::frame::StoredPayload;
use crate::storage::{Backend, LedgerDir, LockGuard, SimBackend, StorageFile, SEGMENTS_DIR};
use crate::tree::TREE_DIR;

use super::ledger_dir::{files, verify_sim, DIR};
use super::{fuzz_key, Input};

/// A [`SimBackend`] that records whether an `fdatasync` of a segment file failed: after one
/// has, the writer must not call anything durable again until the ledger is reopened (the
/// kernel may have dropped the pages that failed to sync; issue 12, "true acknowledgements").
#[derive(Clone, Debug)]
struct Watched {
    disk: SimBackend,
    segment_sync_failed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct WatchedDir {
    inner: Arc<dyn LedgerDir>,
    failed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct WatchedFile {
    inner: Box<dyn StorageFile>,
    segment: bool,
    failed: Arc<AtomicBool>,
}

impl Backend for Watched {
    fn open_dir(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LedgerDir>> {
        Ok(Arc::new(WatchedDir {
            inner: self.disk.open_dir(path, create)?,
            failed: Arc::clone(&self.segment_sync_failed),
        }))
    }
}

impl WatchedDir {
    fn wrap(&self, rel: &Path, inner: Box<dyn StorageFile>) -> Box<dyn StorageFile> {
        let segment = rel.starts_with(SEGMENTS_DIR) && rel.extension().is_some_and(|e| e == "seg");
        Box::new(WatchedFile {
            inner,
            segment,
            failed: Arc::clone(&self.failed),
        })
    }
}

impl LedgerDir for WatchedDir {
    fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>> {
        self.inner.open_read(rel).map(|f| self.wrap(rel, f))
    }
    fn open_write(&self, rel: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        self.inner.open_write(rel, create_new).map(|f| self.wrap(rel, f))
    }
    fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(rel_dir)
    }
    fn remove(&self, rel: &Path) -> io::Result<()> {
        self.inner.remove(rel)
    }
    fn sync_dir(&self, rel_dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(rel_dir)
    }
    fn create_subdir(&self, rel: &Path) -> io::Result<()> {
        self.inner.create_subdir(rel)
    }
    fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock()
    }
    fn display_path(&self, rel: &Path) -> PathBuf {
        self.inner.display_path(rel)
    }
}

impl StorageFile for WatchedFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let r = self.inner.sync_data();
        if r.is_err() && self.segment {
            self.failed.store(true, Ordering::SeqCst);
        }
        r
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn reserve(&mut self, len: u64) -> io::Result<bool> {
        self.inner.reserve(len)
    }
}

/// What the model knows of one entry.
#[derive(Clone, Debug)]
struct Expected {
    kind: EntryKind,
    /// The payload (`None`: not compared, e.g. genesis and governance entries).
    payload: Option<Vec<u8>>,
    signed: bool,
    erased: bool,
    /// The entry hash its receipt gave, once known.
    hash: Option<Digest>,
}

/// A draft with what the model needs to know of it.
struct Req {
    draft: Draft,
    signed: bool,
    cosigned: bool,
}

/// The co-signer the model enrolls and revokes: never enrolled, enrolled, or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cosigner {
    Unknown,
    Enrolled,
    Revoked,
}

/// A request handed to the writer and not yet answered: its ticket, the index of its first
/// entry in the model, its number of entries, its durability, whether the writer must refuse
/// it (its signers would not verify), and whether a segment sync had failed when it was sent.
enum InFlight {
    One(Ticket<Receipt>),
    Batch(Ticket<Vec<Receipt>>),
}

struct Pending {
    ticket: InFlight,
    first: usize,
    count: usize,
    durability: Durability,
    refused: bool,
    after_failed_sync: bool,
}

/// The ledger under test and what must hold of it.
#[allow(clippy::struct_excessive_bools)] // independent facts about the disk and the writer
struct Model {
    disk: SimBackend,
    watched: Watched,
    dir: PathBuf,
    key: SigningKey,
    cosigner: SigningKey,
    cosigner_state: Cosigner,
    durability: Durability,
    ledger: Option<Ledger>,
    entries: Vec<Expected>,
    in_flight: Vec<Pending>,
    /// Entries that survive reopening (no power loss): everything acknowledged.
    committed: usize,
    /// Entries that survive power loss: everything acknowledged as durable.
    durable: usize,
    /// Size of the newest checkpoint, if known for sure.
    checkpoint: Option<u64>,
    /// An erasure that failed: (target, sequence number of its redaction entry).
    pending: Option<(usize, usize)>,
    faults: bool,
    power_lost: bool,
    /// An append, sync or checkpoint failed: the writer is poisoned until reopened.
    poisoned: bool,
    /// A redaction failed: the writer may or may not be poisoned.
    maybe_poisoned: bool,
}

/// Upper bound on operations per input (keeps every execution fast).
const MAX_OPS: usize = 48;

/// A sequence of operations decoded from `data` on a ledger on a simulated disk, against a
/// model: `append` / `append_batch` (small and segment-filling payloads, position-signed or
/// not), `submit` / `submit_batch` with tickets in either durability (kept in flight across
/// other operations, then waited), checkpoint, sync, redact, enrolling and revoking a
/// co-signer and entries it co-signs, reopen (clean close or drop), power loss
/// (`SimBackend::crash`, with the writer running or after it exited), a process crash (the
/// unsynced bytes survive), disk full, failing syncs, healing. Asserts: on a healthy disk every
/// valid operation succeeds, and an entry whose signers would not verify is refused alone;
/// receipts come in order with the right sequence numbers, synced ones durable; after an
/// append, sync or checkpoint failed, the writer refuses everything until reopened; after a
/// segment `fdatasync` failed, nothing is acknowledged as durable until reopen; nothing
/// acknowledged is lost by a reopen, nothing acknowledged as durable (receipt, sync,
/// checkpoint, open) by a power loss, and nothing appears that was never appended; every
/// entry has its kind, signature, payload and entry hash, or is erased exactly when the model
/// says; `verify` passes with the writer's length, head and root, the erased entries, and
/// unsigned-entry coverage counts that match the checkpoints.
pub fn model_ops(data: &[u8]) {
    let mut input = Input(data);
    let mut m = Model::create(&mut input);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        m.step(&mut input);
    }
    m.heal();
    m.reopen(&mut input, true);
}

fn durability(b: u8) -> Durability {
    if b & 1 == 0 {
        Durability::Synced
    } else {
        Durability::Buffered
    }
}

impl Model {
    fn create(input: &mut Input<'_>) -> Self {
        let disk = SimBackend::new();
        let watched = Watched {
            disk: disk.clone(),
            segment_sync_failed: Arc::new(AtomicBool::new(false)),
        };
        let (dir, key) = (PathBuf::from(DIR), fuzz_key());
        let durability = durability(input.u8());
        let opts = Self::options(&watched, durability);
        let ledger =
            Ledger::create(&dir, &key, "fuzz", opts).unwrap_or_else(|e| panic!("create on a healthy disk: {e}"));
        let genesis = Expected {
            kind: EntryKind::Genesis,
            payload: None,
            signed: true,
            erased: false,
            hash: None,
        };
        Model {
            disk,
            watched,
            dir,
            key,
            cosigner: SigningKey::from_seed(&[2; 32]),
            cosigner_state: Cosigner::Unknown,
            durability,
            ledger: Some(ledger),
            entries: vec![genesis],
            in_flight: Vec::new(),
            committed: 1,
            durable: 1,
            checkpoint: None,
            pending: None,
            faults: false,
            power_lost: false,
            poisoned: false,
            maybe_poisoned: false,
        }
    }

    fn options(watched: &Watched, durability: Durability) -> Options {
        Options::default()
            .durability(durability)
            .segment_size(1 << 20)
            .backend(Arc::new(watched.clone()))
    }

    fn sync_failed(&self) -> bool {
        self.watched.segment_sync_failed.load(Ordering::SeqCst)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.u8();
        super::trace(|| {
            format!(
                "op {} (entries {}, in flight {})",
                op % 20,
                self.entries.len(),
                self.in_flight.len()
            )
        });
        if self.ledger.is_none() {
            return self.reopen(input, false);
        }
        match op % 20 {
            0..=2 => {
                let d = Self::draft(input, false);
                self.append(vec![d], false, self.durability);
            }
            3 => {
                let b = input.u8();
                let drafts = if b == u8::MAX {
                    // Rarely, a batch large enough for the writer's pipelined path (pieces of
                    // 256 drafts, each written while the next is prepared): 512 to 704 drafts.
                    Self::large_batch(input)
                } else {
                    let n = 1 + usize::from(b % 6);
                    (0..n).map(|_| Self::draft(input, false)).collect()
                };
                self.append(drafts, true, self.durability);
            }
            4 | 5 => {
                let n = if op % 20 == 4 {
                    1
                } else {
                    1 + usize::from(input.u8() % 6)
                };
                let d = durability(input.u8());
                let drafts = (0..n).map(|_| Self::draft(input, false)).collect();
                self.submit(drafts, op % 20 == 5, d);
            }
            6 => self.wait_all(),
            7 => {
                let d = Self::draft(input, true);
                let dur = durability(input.u8());
                self.submit(vec![d], false, dur);
            }
            8 => self.checkpoint(),
            9 => self.sync(),
            10 => {
                let close = input.u8() & 1 == 0;
                self.reopen(input, close);
            }
            11 => self.redact(input),
            12 | 13 => self.power_loss(op % 20 == 13),
            14 => self.process_crash(),
            15 => {
                self.disk.set_write_budget(Some(u64::from(input.u16() % 2048)));
                self.faults = true;
            }
            16 => {
                self.disk.set_fail_sync(true);
                self.faults = true;
            }
            17 => self.heal(),
            18 => self.governance(input),
            _ => {
                let mut d = Self::draft(input, false);
                d.draft = d.draft.cosigned_by(self.cosigner.clone());
                d.cosigned = true;
                let dur = durability(input.u8());
                self.submit(vec![d], false, dur);
            }
        }
    }

    /// Lifts the faults, once every request sent while they were on has been answered.
    fn heal(&mut self) {
        self.wait_all();
        self.disk.set_write_budget(None);
        self.disk.set_fail_sync(false);
        self.faults = false;
    }

    fn ledger(&self) -> &Ledger {
        // `step` reopens first whenever there is no ledger.
        self.ledger.as_ref().expect("an open ledger")
    }

    /// An application draft: small, or (`big`) large enough that a few fill a segment.
    fn draft(input: &mut Input<'_>, big: bool) -> Req {
        let (len, signed) = (input.u8(), input.u8() & 1 == 0);
        let size = if big {
            (64 << 10) * (1 + usize::from(len % 8))
        } else {
            usize::from(len % 48)
        };
        let payload = vec![len; size];
        let d = Draft::application("application/octet-stream", payload);
        Req {
            draft: if signed { d } else { d.without_position_signature() },
            signed,
            cosigned: false,
        }
    }

    /// 512 to 704 small application drafts from two input bytes: lengths varying with the
    /// position, one in 64 position-signed (the rest unsigned, so a batch costs little to sign).
    fn large_batch(input: &mut Input<'_>) -> Vec<Req> {
        let (n, seed) = (512 + 64 * usize::from(input.u8() % 4), input.u8());
        (0..n)
            .map(|i| {
                #[allow(clippy::cast_possible_truncation)] // i < 704: the low byte
                let len = seed.wrapping_add(i as u8);
                let signed = i % 64 == usize::from(seed % 64);
                let d = Draft::application("application/octet-stream", vec![len; usize::from(len % 48)]);
                Req {
                    draft: if signed { d } else { d.without_position_signature() },
                    signed,
                    cosigned: false,
                }
            })
            .collect()
    }

    /// The model's entries for `reqs` (appended at the end), and whether the writer must
    /// refuse them: a co-signer that is not enrolled (or revoked) would fail `verify`, and so
    /// would a second enrollment of a key or a revocation of a key not enrolled.
    fn expect(&mut self, reqs: &[Req]) -> bool {
        let refused = reqs.iter().any(|r| self.would_refuse(r));
        if !refused {
            for r in reqs {
                let kind = r.draft.kind();
                self.apply_key_change(kind);
                self.entries.push(Expected {
                    kind,
                    payload: (kind == EntryKind::Application).then(|| r.draft.payload().to_vec()),
                    signed: r.signed,
                    erased: false,
                    hash: None,
                });
            }
        }
        refused
    }

    fn would_refuse(&self, r: &Req) -> bool {
        match r.draft.kind() {
            EntryKind::Application => r.cosigned && self.cosigner_state != Cosigner::Enrolled,
            EntryKind::KeyEnrollment => self.cosigner_state != Cosigner::Unknown,
            EntryKind::KeyRevocation => self.cosigner_state != Cosigner::Enrolled,
            _ => false,
        }
    }

    fn apply_key_change(&mut self, kind: EntryKind) {
        match kind {
            EntryKind::KeyEnrollment => self.cosigner_state = Cosigner::Enrolled,
            EntryKind::KeyRevocation => self.cosigner_state = Cosigner::Revoked,
            _ => {}
        }
    }

    /// Enrolls the co-signer, or revokes it (a key is enrolled once: a second enrollment, or a
    /// revocation of a key not enrolled, must be refused).
    fn governance(&mut self, input: &mut Input<'_>) {
        let rec = if input.u8() & 1 == 0 {
            Record::KeyEnrollment(KeyEnrollment {
                public_key: self.cosigner.verifying_key().to_bytes(),
                principal_id: "reviewer@fuzz".into(),
                display_name: String::new(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Reviewer],
                environments: vec![Environment::Production],
            })
        } else {
            Record::KeyRevocation(KeyRevocation {
                key_id: self.cosigner.verifying_key().key_id().0,
                reason: "fuzz".into(),
            })
        };
        let d = Req {
            draft: Draft::record(&rec).expect("small record"),
            signed: true,
            cosigned: false,
        };
        let dur = durability(input.u8());
        self.submit(vec![d], false, dur);
    }

    /// Appends and waits (`Ledger::append` / `append_batch`, the options' durability).
    fn append(&mut self, reqs: Vec<Req>, batch: bool, durability: Durability) {
        self.submit_with(reqs, batch, durability, true);
    }

    /// Submits; the ticket is waited later.
    fn submit(&mut self, reqs: Vec<Req>, batch: bool, durability: Durability) {
        self.submit_with(reqs, batch, durability, false);
    }

    fn submit_with(&mut self, reqs: Vec<Req>, batch: bool, durability: Durability, wait: bool) {
        let first = self.entries.len();
        let count = reqs.len();
        let refused = self.expect(&reqs);
        let drafts: Vec<Draft> = reqs.into_iter().map(|r| r.draft).collect();
        let after_failed_sync = self.sync_failed();
        let ledger = self.ledger();
        let ticket = if wait {
            // The blocking calls, with the options' durability.
            let r = if batch || count > 1 {
                ledger.append_batch(drafts)
            } else {
                ledger
                    .append(drafts.into_iter().next().expect("one draft"))
                    .map(|r| vec![r])
            };
            // Requests sent earlier were answered first: take their answers first. The writer
            // is idle now, so a segment sync that failed did so before or during this request
            // (which then fails).
            self.wait_all();
            let after_failed_sync = self.sync_failed();
            self.answer(r, first, count, durability, refused, after_failed_sync);
            return;
        } else if batch || count > 1 {
            ledger.submit_batch(drafts, durability).map(InFlight::Batch)
        } else {
            ledger
                .submit(drafts.into_iter().next().expect("one draft"), durability)
                .map(InFlight::One)
        };
        match ticket {
            Ok(ticket) => self.in_flight.push(Pending {
                ticket,
                first,
                count,
                durability,
                refused,
                after_failed_sync,
            }),
            Err(e) => panic!("submit refused while the writer runs: {e}"),
        }
    }

    /// Waits for every request in flight, in the order they were sent.
    fn wait_all(&mut self) {
        for p in std::mem::take(&mut self.in_flight) {
            let r = match p.ticket {
                InFlight::One(t) => t.wait().map(|r| vec![r]),
                InFlight::Batch(t) => t.wait(),
            };
            self.answer(r, p.first, p.count, p.durability, p.refused, p.after_failed_sync);
        }
    }

    /// Checks the answer to one request.
    fn answer(
        &mut self,
        r: Result<Vec<Receipt>, AppendError>,
        first: usize,
        count: usize,
        durability: Durability,
        refused: bool,
        after_failed_sync: bool,
    ) {
        super::trace(|| {
            format!(
                "answer for {first}..+{count}: {:?}",
                r.as_ref()
                    .map(|v| v.iter().map(|r| (r.seq, r.durable)).collect::<Vec<_>>())
            )
        });
        if refused {
            match r {
                Err(AppendError::WouldNotVerify { .. }) => return,
                // A writer that already failed refuses it anyway.
                Err(_) if self.poisoned || self.maybe_poisoned || self.faults => return,
                other => panic!("the writer accepted an entry verification would reject: {other:?}"),
            }
        }
        match r {
            Ok(receipts) => {
                assert!(!self.poisoned, "a poisoned writer appended");
                assert_eq!(receipts.len(), count);
                for (i, r) in receipts.iter().enumerate() {
                    assert_eq!(r.seq as usize, first + i, "receipts out of order");
                    self.entries[first + i].hash = Some(r.entry_hash);
                    if r.durable {
                        assert!(!after_failed_sync, "durable receipt after a failed segment sync");
                        self.durable = self.durable.max(first + i + 1);
                    }
                }
                if durability == Durability::Synced {
                    assert!(receipts.iter().all(|r| r.durable), "a synced append is not durable");
                }
                self.committed = self.committed.max(first + count);
            }
            Err(e) => {
                assert!(
                    self.faults || self.poisoned || self.maybe_poisoned,
                    "append failed on a healthy disk: {e}"
                );
                self.poisoned = true;
            }
        }
    }

    fn checkpoint(&mut self) {
        let vk = self.key.verifying_key();
        let r = self.ledger().checkpoint();
        self.wait_all();
        // The writer is idle: a segment sync that failed did so before the checkpoint.
        let after_failed_sync = self.sync_failed();
        match r {
            Ok(c) => {
                assert!(!self.poisoned && !after_failed_sync, "checkpoint after a failure");
                let len = self.ledger().len();
                // Requests sent before it were written first (and none failed, or it would too).
                assert_eq!(c.tree_size as usize, self.entries.len(), "checkpoint size");
                assert_eq!((c.tree_size, c.root), (len, self.ledger().root()));
                assert!(c.verify(&vk));
                self.checkpoint = Some(c.tree_size);
                self.durable = self.durable.max(c.tree_size as usize);
                self.committed = self.committed.max(c.tree_size as usize);
            }
            Err(e) => {
                self.checkpoint = None;
                assert!(
                    self.faults || self.poisoned || self.maybe_poisoned,
                    "checkpoint failed on a healthy disk: {e}"
                );
                self.poisoned = true;
            }
        }
    }

    fn sync(&mut self) {
        let r = self.ledger().sync();
        self.wait_all();
        let after_failed_sync = self.sync_failed();
        match r {
            Ok(n) => {
                assert!(!self.poisoned && !after_failed_sync, "sync succeeded after a failure");
                assert_eq!(
                    n as usize,
                    self.entries.len(),
                    "sync does not cover what was sent before it"
                );
                self.durable = self.durable.max(n as usize);
                self.committed = self.committed.max(n as usize);
            }
            Err(e) => {
                assert!(
                    self.faults || self.poisoned || self.maybe_poisoned,
                    "sync failed on a healthy disk: {e}"
                );
                self.poisoned = true;
            }
        }
    }

    fn redact(&mut self, input: &mut Input<'_>) {
        self.wait_all();
        let len = self.entries.len();
        let target = usize::from(input.u16()) % (len + 1);
        let valid = self
            .entries
            .get(target)
            .is_some_and(|e| e.kind.redactable() && !e.erased);
        let before = self.ledger().len() as usize;
        let result = self.ledger().redact(target as u64, "fuzz");
        super::trace(|| format!("redact {target} (valid {valid}): {result:?}"));
        match result {
            Ok(r) => {
                assert!(valid, "redacted entry {target}, which may not be");
                assert!(!self.poisoned, "a poisoned writer redacted");
                assert_eq!(r.seq as usize, len);
                self.entries[target].erased = true;
                self.push_redaction(Some(r.entry_hash));
                self.committed = self.entries.len();
                self.durable = self.entries.len();
            }
            Err(
                RedactError::NoSuchEntry { .. } | RedactError::NotRedactable { .. } | RedactError::AlreadyErased { .. },
            ) if !valid => {}
            Err(e) => {
                assert!(
                    self.faults || self.poisoned || self.maybe_poisoned,
                    "redact failed on a healthy disk: {e}"
                );
                // Whether the redaction entry was appended: the writer's own count says.
                if valid && self.ledger().len() as usize > before {
                    self.push_redaction(None);
                    self.pending = Some((target, len));
                }
                self.maybe_poisoned = true;
            }
        }
    }

    fn push_redaction(&mut self, hash: Option<Digest>) {
        self.entries.push(Expected {
            kind: EntryKind::Redaction,
            payload: None,
            signed: true,
            erased: false,
            hash,
        });
    }

    /// Power loss: after waiting for every request (so the crash falls between operations),
    /// the disk keeps only what was synced; with `clean`, the process exited first.
    fn power_loss(&mut self, clean: bool) {
        self.wait_all();
        let ledger = self.ledger.take();
        if clean {
            if let Some(l) = ledger {
                let closed = l.close();
                let after_failed_sync = self.sync_failed();
                assert!(
                    !(closed.is_ok() && after_failed_sync),
                    "close reported success after a failed sync"
                );
                if closed.is_ok() && !self.poisoned && !self.maybe_poisoned {
                    // A clean close made everything durable.
                    self.durable = self.durable.max(self.committed);
                }
            }
            self.disk.crash();
        } else {
            self.disk.crash();
            // The writer dies with the machine: its last words reach a dead disk.
            self.disk.set_write_budget(Some(0));
            self.disk.set_fail_sync(true);
            drop(ledger);
            self.heal();
        }
        self.power_lost = true;
    }

    /// The process dies, the machine does not: what it wrote stays (page cache), synced or
    /// not. Modelled by moving to a copy of the disk as it is, and dropping the writer with the
    /// old one.
    fn process_crash(&mut self) {
        self.wait_all();
        let copy = SimBackend::new();
        for d in [self.dir.join(SEGMENTS_DIR), self.dir.join(TREE_DIR)] {
            copy.create_dir_all(&d).expect("simulated mkdir");
        }
        for (p, b) in files(&self.disk) {
            copy.set_file_bytes(&p, b);
        }
        let old = std::mem::replace(&mut self.disk, copy);
        self.watched = Watched {
            disk: self.disk.clone(),
            segment_sync_failed: Arc::new(AtomicBool::new(false)),
        };
        old.set_write_budget(Some(0));
        drop(self.ledger.take());
        self.faults = false;
    }

    /// Stops the writer (a clean close, or a drop) unless it is gone, and opens the ledger
    /// again, then checks it.
    fn reopen(&mut self, input: &mut Input<'_>, close: bool) {
        self.wait_all();
        if let Some(l) = self.ledger.take() {
            if self.poisoned {
                let refused = l.append(Draft::application("text/plain", Vec::new()));
                assert!(refused.is_err(), "a poisoned writer appended");
            }
            if close {
                let closed = l.close();
                let after_failed_sync = self.sync_failed();
                assert!(
                    !(closed.is_ok() && after_failed_sync),
                    "close reported success after a failed sync"
                );
                if !self.faults && !self.poisoned && !self.maybe_poisoned {
                    assert!(closed.is_ok(), "close failed on a healthy disk: {closed:?}");
                }
            }
        }
        self.durability = durability(input.u8());
        self.watched.segment_sync_failed.store(false, Ordering::SeqCst);
        let opts = Self::options(&self.watched, self.durability);
        let mut opened = Ledger::open(&self.dir, &self.key, opts.clone());
        if opened.is_err() && self.faults {
            self.heal();
            opened = Ledger::open(&self.dir, &self.key, opts);
        }
        let ledger = opened.unwrap_or_else(|e| panic!("open failed on a healthy disk: {e}"));
        self.check_open(&ledger);
        self.ledger = Some(ledger);
        self.poisoned = false;
        self.maybe_poisoned = false;
        self.power_lost = false;
        self.watched.segment_sync_failed.store(false, Ordering::SeqCst);
    }

    fn check_open(&mut self, ledger: &Ledger) {
        let len = ledger.len() as usize;
        let lower = if self.power_lost { self.durable } else { self.committed };
        assert!(lower <= len, "lost entries: {len} left, {lower} had to survive");
        assert!(
            len <= self.entries.len(),
            "{len} entries, only {} appended",
            self.entries.len()
        );
        if let Some((target, seq)) = self.pending.take().filter(|p| p.0 < len) {
            self.entries[target].erased = seq < len;
        }
        self.entries.truncate(len);
        self.replay_key_state();
        self.check_entries();
        self.check_verify(ledger);
        // Open makes what it recovered durable (fixed finding F1); the next power loss checks it.
        assert_eq!(ledger.durable_len(), ledger.len(), "open leaves entries not durable");
        self.durable = len;
        self.committed = len;
        self.checkpoint = self.checkpoint.filter(|&c| c <= len as u64);
    }

    /// The co-signer's state as the surviving entries leave it.
    fn replay_key_state(&mut self) {
        self.cosigner_state = Cosigner::Unknown;
        for e in &self.entries {
            match e.kind {
                EntryKind::KeyEnrollment => self.cosigner_state = Cosigner::Enrolled,
                EntryKind::KeyRevocation => self.cosigner_state = Cosigner::Revoked,
                _ => {}
            }
        }
    }

    fn check_entries(&self) {
        let reader = LedgerReader::open_with(Arc::new(self.disk.clone()), &self.dir).expect("reader opens");
        let mut seen = 0;
        reader
            .scan(0, |e| {
                let want = &self.entries[seen];
                assert_eq!(e.entry.seq as usize, seen);
                assert_eq!(e.entry.kind, want.kind, "entry {seen}: kind");
                assert_eq!(
                    e.entry.position.is_some(),
                    want.signed,
                    "entry {seen}: position signature"
                );
                if let Some(h) = want.hash {
                    assert_eq!(e.entry.hash, h, "entry {seen}: not the entry its receipt named");
                }
                match (&e.payload, &want.payload) {
                    (StoredPayload::Erased { .. }, _) => assert!(want.erased, "entry {seen} erased"),
                    (StoredPayload::Present { bytes, .. }, Some(p)) => {
                        assert!(!want.erased, "entry {seen} not erased");
                        assert_eq!(bytes, p, "entry {seen}: payload");
                    }
                    (StoredPayload::Present { .. }, None) => {}
                }
                seen += 1;
                Ok::<_, crate::error::ReadError>(true)
            })
            .unwrap_or_else(|e| panic!("reading an opened ledger: {e}"));
        assert_eq!(seen, self.entries.len(), "reader and writer disagree on the length");
    }

    fn check_verify(&self, ledger: &Ledger) {
        let r = verify_sim(&self.disk, &self.dir, true);
        assert!(r.is_ok(), "an opened ledger fails verification: {:?}", r.failure);
        assert_eq!(
            (r.entries, r.head, r.root),
            (ledger.len(), ledger.head(), ledger.root())
        );
        assert!(r.torn_tail.is_none() && r.redaction_pending.is_empty());
        let erased: Vec<u64> = (0..self.entries.len() as u64)
            .filter(|&i| self.entries[i as usize].erased)
            .collect();
        assert_eq!(r.redacted, erased);
        if let Some(cp) = self.checkpoint {
            let unsigned = |range: std::ops::Range<usize>| self.entries[range].iter().filter(|e| !e.signed).count();
            let cp = cp as usize;
            assert_eq!(r.unsigned_covered as usize, unsigned(0..cp), "covered unsigned entries");
            assert_eq!(
                r.uncovered_tail as usize,
                unsigned(cp..self.entries.len()),
                "uncovered tail"
            );
        }
    }
}
