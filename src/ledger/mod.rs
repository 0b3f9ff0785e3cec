//! The writer: create or open a ledger directory, append entries, make them durable.

mod appender;
mod erasure;
mod gate;
mod repair;

pub use appender::Appender;
pub use repair::{rebuild_derived, Rebuilt};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::checkpoint::{Checkpoint, LogWriter};
use crate::entry::{
    entry_hash, sign_digest, statement_digest, EntryKind, EntrySeq, LedgerId, PayloadCommitment, SaltSource, Statement,
    Timestamp, MAX_PAYLOAD_LEN, MAX_SIGNATURES, SALT_LEN, STATEMENT_OFFSET,
};
use crate::error::{Error, StorageError};
use crate::hash::Digest;
use crate::keys::SigningKey;
use crate::record::{Genesis, TrustAnchorKey, GENESIS_CONTENT_TYPE};
use crate::storage::frame::{encode_frame, FRAME_OVERHEAD, PAYLOAD_PREFIX_LEN};
use crate::storage::index::{encode_index_header, slot};
use crate::storage::recovery::{recover_segment, ChainHead};
use crate::storage::segment::{SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::{
    index_rel, io_err, list_segments, open_ledger_dir, open_read, read_segment_header, segment_rel, Backend, LedgerDir,
    LockGuard, SegmentStream, StdBackend, StorageFile, TornTail, SEGMENTS_DIR,
};
use crate::tree::TreeWriter;

/// When appended entries reach stable storage. Each variant states its guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// No automatic `fdatasync`. Entries survive a crash of the process once `append`
    /// returns, but a power loss may lose any entry not covered by an explicit
    /// [`Ledger::sync`]. Receipts say `durable: false`.
    None,
    /// One `fdatasync` at the end of every `append` / `append_batch` call: when the call
    /// returns, all its entries are durable. The default.
    #[default]
    PerBatch,
    /// One `fdatasync` after every entry, even inside a batch: each entry is durable before the
    /// next one is written. Slowest; for callers that hand receipts out one by one.
    EveryAppend,
}

/// Settings for creating or opening a ledger.
#[derive(Clone, Debug)]
pub struct Options {
    /// When entries become durable.
    pub durability: Durability,
    /// A new segment file is started once the current one reaches this many bytes.
    pub segment_size: u64,
    /// The I/O backend (the real file system unless a test injects another).
    pub backend: Arc<dyn Backend>,
    /// Refuse governance entries whose signers verification would reject (not enrolled,
    /// revoked, or lacking the kind's role). On by default; turn off only to build test
    /// fixtures of bad ledgers or to import foreign records as they are — verification
    /// rejects such entries either way.
    pub check_signers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::default(),
            segment_size: 64 << 20,
            backend: Arc::new(StdBackend),
            check_signers: true,
        }
    }
}

/// An entry to append: kind, payload, references, and who signs it.
///
/// ```
/// use provledger::Draft;
/// let d = Draft::application("application/json", br#"{"event":"model-deployed"}"#.to_vec());
/// assert_eq!(d.payload().len(), 26);
/// ```
#[derive(Clone, Debug)]
pub struct Draft {
    kind: EntryKind,
    content_type: String,
    payload: Vec<u8>,
    refs: Vec<Digest>,
    timestamp: Option<Timestamp>,
    cosigners: Vec<SigningKey>,
    signed_by_appender: bool,
}

impl Draft {
    /// An application entry with a media type and arbitrary payload bytes.
    #[must_use]
    pub fn application(content_type: impl Into<String>, payload: Vec<u8>) -> Self {
        Draft {
            kind: EntryKind::Application,
            content_type: content_type.into(),
            payload,
            refs: Vec::new(),
            timestamp: None,
            cosigners: Vec::new(),
            signed_by_appender: true,
        }
    }

    /// A governance record, its references as the statement's `refs`.
    ///
    /// # Errors
    /// [`Error::Decode`] if the record exceeds the structured-payload limit.
    pub fn record(record: &crate::record::Record) -> Result<Self, Error> {
        let kind = record.entry_kind();
        Ok(Draft {
            kind,
            content_type: crate::record::Record::content_type(kind),
            payload: record.encode()?,
            refs: record.refs(),
            timestamp: None,
            cosigners: Vec::new(),
            signed_by_appender: true,
        })
    }

    /// Adds references to earlier entries (by entry hash) after those a record implies, e.g.
    /// the approved proposal that gates a role grant.
    #[must_use]
    pub fn with_refs(mut self, refs: Vec<Digest>) -> Self {
        self.refs.extend(refs);
        self
    }

    /// Sets the statement time (default: the time of appending).
    #[must_use]
    pub fn with_timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// Adds a signature by another key (e.g. a reviewer and an approver both sign).
    #[must_use]
    pub fn cosigned_by(mut self, key: &SigningKey) -> Self {
        self.cosigners.push(key.clone());
        self
    }

    /// Leaves the appending key's signature off: the high-volume mode, where a signed
    /// checkpoint covering the entry stands in for it. Until that entry is covered, `verify`
    /// reports it as unsigned.
    #[must_use]
    pub fn without_appender_signature(mut self) -> Self {
        self.signed_by_appender = false;
        self
    }

    /// The payload bytes.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// What `append` hands back for each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's sequence number.
    pub seq: EntrySeq,
    /// The entry hash.
    pub entry_hash: Digest,
    /// Whether the entry was on stable storage when the call returned.
    pub durable: bool,
}

/// What opening a ledger had to do to recover from a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The incomplete final record that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// A newest segment file whose header was incomplete (a rotation cut short), removed.
    pub removed_segment: Option<PathBuf>,
    /// Whether the newest segment's index had to be rebuilt.
    pub index_rebuilt: bool,
    /// Leaves added back to the stored Merkle tree (hashes a crash kept from reaching disk).
    pub tree_replayed: u64,
    /// An erasure a crash interrupted, finished on open: the sequence number erased.
    pub erasure_completed: Option<u64>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    path: PathBuf,
    file: Box<dyn StorageFile>,
    idx_path: PathBuf,
    idx: Box<dyn StorageFile>,
    /// Bytes in the segment file.
    len: u64,
    /// Entries in the segment.
    count: u64,
}

/// The single writer of a ledger directory (an OS lock on the directory keeps others out).
///
/// ```
/// use provledger::{Draft, Ledger, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let mut ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// let receipt = ledger.append(Draft::application("text/plain", b"hello".to_vec()))?;
/// assert_eq!(receipt.seq.0, 1); // 0 is the genesis entry
/// assert!(receipt.durable);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    /// The directory handle every file is opened through.
    root: Arc<dyn LedgerDir>,
    opts: Options,
    _lock: Box<dyn LockGuard>,
    ledger_id: LedgerId,
    signer: SigningKey,
    salts: SaltSourceCell,
    chain: ChainHead,
    durable_len: u64,
    active: Active,
    tree: TreeWriter,
    checkpoints: LogWriter,
    recovery: Recovery,
    poisoned: bool,
    /// Whether the tree state loaded from disk at open was checked against the entries (done
    /// once, before the first checkpoint is signed; see `Ledger::check_tree`).
    tree_checked: bool,
    /// Key registry for checking governance drafts; built on first need (see `gate.rs`).
    registry: Option<crate::verify::registry::Registry>,
}

struct SaltSourceCell(SaltSource);

impl std::fmt::Debug for SaltSourceCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaltSource { .. }")
    }
}

/// A prepared entry: statement, salt, payload and signatures, before it gets its place.
struct Prepared {
    statement_bytes: Vec<u8>,
    salt: [u8; SALT_LEN],
    payload: Vec<u8>,
    /// Signature count and (key id, signature) pairs, as encoded in the entry.
    sig_block: Vec<u8>,
}

/// Takes the writer lock: an `flock` on the directory handle itself, which nothing inside the
/// directory can release.
fn take_lock(root: &dyn LedgerDir) -> Result<Box<dyn LockGuard>, Error> {
    let path = root.display_path(Path::new(""));
    root.try_lock()
        .map_err(io_err("lock", &path))?
        .ok_or_else(|| StorageError::Locked { path }.into())
}

/// `rel` relative to the ledger root, with errors naming its full path.
fn sync_dir(root: &dyn LedgerDir, rel: &str) -> Result<(), StorageError> {
    let rel = Path::new(rel);
    root.sync_dir(rel).map_err(io_err("sync", &root.display_path(rel)))
}

impl Ledger {
    /// Creates a ledger in `dir` whose genesis trusts `key` (admin and operator roles), and
    /// opens it for appending with that key.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] if `dir` already holds a ledger; I/O errors.
    pub fn create(dir: &Path, key: &SigningKey, name: &str, opts: Options) -> Result<Self, Error> {
        let genesis = Genesis {
            name: name.to_owned(),
            anchors: vec![TrustAnchorKey::operator(&key.verifying_key(), name)],
            policy: crate::record::Policy::default(),
        };
        Self::create_with_genesis(dir, key, &genesis, opts)
    }

    /// Creates a ledger with an explicit genesis record (several anchors, roles…). The
    /// genesis entry is signed by `key`, which must be one of the anchors.
    ///
    /// # Errors
    /// As [`Ledger::create`]; [`Error::Input`] if `key` is not an anchor.
    pub fn create_with_genesis(dir: &Path, key: &SigningKey, genesis: &Genesis, opts: Options) -> Result<Self, Error> {
        if !genesis
            .anchors
            .iter()
            .any(|a| a.public_key == key.verifying_key().to_bytes())
        {
            return Err(Error::input("the genesis signer must be one of the trust anchors"));
        }
        // `encode` makes the checks `decode` makes: a reader will accept this genesis.
        let payload = genesis.encode()?;
        let root = open_ledger_dir(opts.backend.as_ref(), dir, true)?;
        let lock = take_lock(root.as_ref())?;
        let seg_dir = Path::new(SEGMENTS_DIR);
        root.create_subdir(seg_dir)
            .map_err(io_err("create", &root.display_path(seg_dir)))?;
        if !unfinished_create(root.as_ref())? {
            return Err(StorageError::AlreadyExists {
                path: dir.to_path_buf(),
            }
            .into());
        }
        let ledger_id = LedgerId::random()?;
        let active = create_segment(root.as_ref(), ledger_id, 0)?;
        let tree = TreeWriter::open(&root, ledger_id, 0)?;
        let checkpoints = LogWriter::open(root.as_ref(), ledger_id)?;
        sync_dir(root.as_ref(), "")?;
        let mut ledger = Ledger {
            dir: dir.to_path_buf(),
            root,
            opts,
            _lock: lock,
            ledger_id,
            signer: key.clone(),
            salts: SaltSourceCell(SaltSource::new()?),
            chain: ChainHead {
                next_seq: 0,
                head: Digest::ZERO,
            },
            durable_len: 0,
            active,
            tree,
            checkpoints,
            recovery: Recovery::default(),
            poisoned: false,
            tree_checked: true,
            registry: None,
        };
        let mut draft = Draft::application(GENESIS_CONTENT_TYPE, payload);
        draft.kind = EntryKind::Genesis;
        ledger.append(draft)?;
        ledger.sync()?;
        Ok(ledger)
    }

    /// Opens an existing ledger for appending with `key`, recovering from a crash: only an
    /// incomplete final record is cut (see [`Ledger::recovery`]); damage is an error.
    ///
    /// # Errors
    /// [`StorageError::Locked`] if another writer holds the directory,
    /// [`StorageError::Corrupt`] for damage (naming file, offset and sequence number),
    /// [`StorageError::NotALedger`] if `dir` is not a ledger.
    pub fn open(dir: &Path, key: &SigningKey, opts: Options) -> Result<Self, Error> {
        let root = open_ledger_dir(opts.backend.as_ref(), dir, false)?;
        let lock = take_lock(root.as_ref())?;
        let mut recovery = Recovery {
            erasure_completed: erasure::complete_pending(root.as_ref())?,
            ..Recovery::default()
        };
        let mut segs = list_segments(root.as_ref())?;
        let ledger_id = first_ledger_id(root.as_ref())?;
        let mut newest_header = None;
        while let Some(&last) = segs.last() {
            let rel = segment_rel(last);
            let path = root.display_path(&rel);
            let file = open_read(root.as_ref(), &rel)?;
            let len = file.len().map_err(io_err("stat", &path))?;
            if let Some(h) = read_segment_header(file.as_ref(), &path, len, last != 0)? {
                newest_header = Some(h);
                break;
            }
            // A rotation cut short before the new segment's header was complete.
            root.remove(&rel).map_err(io_err("remove", &path))?;
            let _ = root.remove(&index_rel(last));
            recovery.removed_segment = Some(path);
            segs.pop();
        }
        let header = newest_header.ok_or_else(|| StorageError::NotALedger {
            path: dir.to_path_buf(),
            reason: "no readable segment".into(),
        })?;
        let rel = segment_rel(header.first_seq);
        let path = root.display_path(&rel);
        if header.ledger_id != ledger_id {
            return Err(crate::storage::corrupt(&path, 0, None, "segment belongs to another ledger".into()).into());
        }
        // A rotation cut short may have left the newest segment's name unsynced: make the
        // directory durable before any entry written there is reported durable.
        sync_dir(root.as_ref(), SEGMENTS_DIR)?;
        let before = chain_before(root.as_ref(), ledger_id, &segs)?;
        let (scan, idx) = recover_segment(root.as_ref(), ledger_id, header.first_seq, before, true, true)?;
        recovery.index_rebuilt = idx.reset;
        let mut file = root.open_write(&rel, false).map_err(io_err("open", &path))?;
        if let Some(torn) = &scan.torn {
            file.set_len(torn.offset).map_err(io_err("truncate", &path))?;
        }
        // Entries a previous writer wrote but never synced become durable here, before
        // `durable_len` claims them.
        file.sync_data().map_err(io_err("sync", &path))?;
        let count = idx.count;
        recovery.torn_tail = scan.torn;
        let chain = scan.chain;
        if chain.next_seq == 0 {
            return Err(StorageError::NotALedger {
                path: dir.to_path_buf(),
                reason: "no complete genesis entry: creating the ledger did not finish; create it again".into(),
            }
            .into());
        }
        let mut tree = TreeWriter::open(&root, ledger_id, chain.next_seq)?;
        recovery.tree_replayed = replay_tree(root.as_ref(), &mut tree, chain.next_seq)?;
        let checkpoints = LogWriter::open(root.as_ref(), ledger_id)?;
        Ok(Ledger {
            dir: dir.to_path_buf(),
            root,
            opts,
            _lock: lock,
            ledger_id,
            signer: key.clone(),
            salts: SaltSourceCell(SaltSource::new()?),
            chain,
            durable_len: chain.next_seq,
            active: Active {
                path,
                file,
                idx_path: idx.path,
                idx: idx.file,
                len: scan.end,
                count,
            },
            tree,
            checkpoints,
            recovery,
            poisoned: false,
            tree_checked: false,
            registry: None,
        })
    }

    /// Signs a checkpoint of the current state with the appending key and records it in the
    /// checkpoint log. Every entry is made durable first, so a checkpoint never covers an
    /// entry a crash could lose.
    ///
    /// # Errors
    /// I/O errors (the writer is then poisoned).
    pub fn checkpoint(&mut self) -> Result<Checkpoint, Error> {
        if self.poisoned {
            return Err(StorageError::Poisoned.into());
        }
        self.sync()?;
        if !self.tree_checked {
            self.check_tree()?;
            self.tree_checked = true;
        }
        let r = self.tree.flush().and_then(|()| self.tree.sync());
        let c = Checkpoint::sign(
            self.ledger_id,
            self.tree.size(),
            self.tree.root(),
            Timestamp::now(),
            &self.signer,
        );
        let r = r.and_then(|()| self.checkpoints.append(&c));
        if let Err(e) = r {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(c)
    }

    /// Before signing over tree state that came from disk: the stored frontier must reproduce
    /// the newest checkpoint's root, and the entries after it must hash to the current root.
    /// Otherwise the tree files were damaged, and they are rebuilt from the segments (from the
    /// checkpoint when its frontier is intact, else from the start). Costs one read of the
    /// entries since the newest checkpoint, once per open.
    fn check_tree(&mut self) -> Result<(), Error> {
        let root = Arc::clone(&self.root);
        let len = self.len();
        let latest = self.checkpoints.latest.filter(|c| c.tree_size <= len);
        let reader = crate::tree::TreeReader::new(Arc::clone(&root), self.ledger_id);
        let base = latest.and_then(|c| {
            crate::merkle::Frontier::load(&reader, c.tree_size)
                .ok()
                .filter(|f| f.root() == c.root)
        });
        let mut frontier = base.clone().unwrap_or_default();
        let mut stream = SegmentStream::open_at(root.as_ref(), frontier.size())?;
        while frontier.size() < len {
            let Some(sc) = stream.next_chunk(4096)? else { break };
            for f in &sc.chunk.frames {
                if frontier.size() < len {
                    let leaf = crate::hash::hash_leaf(&entry_hash(f.entry(&sc.chunk.data)));
                    frontier.push_with(leaf, |_| {}).map_err(|_| StorageError::Full)?;
                }
            }
        }
        let base_damaged = latest.is_some() && base.is_none();
        if !base_damaged && frontier.size() == len && frontier.root() == self.tree.root() {
            return Ok(());
        }
        // Damaged tree files: keep only what the checkpoint authenticates, replay the rest.
        let keep = base.map_or(0, |f| f.size());
        self.tree = TreeWriter::open(&root, self.ledger_id, keep)?;
        self.recovery.tree_replayed += replay_tree(root.as_ref(), &mut self.tree, len)?;
        Ok(())
    }

    /// Rebuilds the stored Merkle tree files (derived data) from the segments, e.g. after
    /// `verify` reported a damaged tree node. Reads every entry once.
    ///
    /// # Errors
    /// I/O errors.
    pub fn rebuild_tree(&mut self) -> Result<(), Error> {
        let len = self.len();
        let mut tree = TreeWriter::open(&self.root, self.ledger_id, 0)?;
        replay_tree(self.root.as_ref(), &mut tree, len)?;
        self.tree = tree;
        self.tree_checked = true;
        Ok(())
    }

    /// The newest checkpoint in the log, if any.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoints.latest.as_ref()
    }

    /// The Merkle root over all entries appended so far.
    #[must_use]
    pub fn root(&self) -> Digest {
        self.tree.root()
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

    /// Number of entries (the next sequence number).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.chain.next_seq
    }

    /// Whether the ledger has no entries (never true once created: genesis is entry 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.chain.next_seq == 0
    }

    /// Hash of the newest entry.
    #[must_use]
    pub fn head(&self) -> Digest {
        self.chain.head
    }

    /// Number of entries known to be on stable storage.
    #[must_use]
    pub fn durable_len(&self) -> u64 {
        self.durable_len
    }

    /// The key that signs appended entries.
    #[must_use]
    pub fn signer(&self) -> &SigningKey {
        &self.signer
    }

    /// Appends one entry, signed by the appending key (and any co-signers).
    ///
    /// # Errors
    /// [`Error::Input`] for an invalid draft; [`StorageError`] on I/O failure, after which
    /// the writer is poisoned (reopen to continue).
    pub fn append(&mut self, draft: Draft) -> Result<Receipt, Error> {
        let mut r = self.append_batch(vec![draft])?;
        r.pop().ok_or_else(|| Error::input("empty batch"))
    }

    /// Appends entries in order with one write (and, under [`Durability::PerBatch`], one
    /// sync). Signatures are computed in parallel.
    ///
    /// # Errors
    /// As [`Ledger::append`]. After an I/O error a prefix of the batch may be in the ledger:
    /// reopen and check [`Ledger::len`].
    pub fn append_batch(&mut self, drafts: Vec<Draft>) -> Result<Vec<Receipt>, Error> {
        if self.poisoned {
            return Err(StorageError::Poisoned.into());
        }
        self.gate(&drafts)?;
        let first_seq = self.len();
        let key_changes: Vec<(u64, EntryKind, Vec<u8>)> = (first_seq..)
            .zip(&drafts)
            .filter(|(_, d)| matches!(d.kind, EntryKind::KeyEnrollment | EntryKind::KeyRevocation))
            .map(|(seq, d)| (seq, d.kind, d.payload.clone()))
            .collect();
        let prepared = self.prepare(drafts)?;
        let result = self.write_prepared(prepared);
        match &result {
            Err(Error::Storage(_)) => self.poisoned = true,
            Ok(_) => self.gate_commit(&key_changes),
            Err(_) => {}
        }
        result
    }

    /// Makes every appended entry durable; returns how many entries are durable.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the sync fails (the writer is then poisoned).
    pub fn sync(&mut self) -> Result<u64, Error> {
        let a = &mut self.active;
        let r = a
            .file
            .sync_data()
            .map_err(io_err("sync", &a.path))
            .and_then(|()| a.idx.sync_data().map_err(io_err("sync", &a.idx_path)));
        if let Err(e) = r {
            self.poisoned = true;
            return Err(e.into());
        }
        self.durable_len = self.chain.next_seq;
        Ok(self.durable_len)
    }

    /// Builds statements, commitments and signatures; in parallel for larger batches.
    fn prepare(&mut self, drafts: Vec<Draft>) -> Result<Vec<Prepared>, Error> {
        let now = Timestamp::now();
        let mut jobs = Vec::with_capacity(drafts.len());
        for d in drafts {
            if d.payload.len() as u64 > MAX_PAYLOAD_LEN {
                let len = d.payload.len();
                return Err(Error::input(format!(
                    "payload of {len} bytes exceeds {MAX_PAYLOAD_LEN}"
                )));
            }
            let mut keys = d.cosigners.clone();
            if d.signed_by_appender {
                keys.insert(0, self.signer.clone());
            }
            if keys.len() as u64 > MAX_SIGNATURES {
                return Err(Error::input(format!(
                    "{} signatures exceed {MAX_SIGNATURES}",
                    keys.len()
                )));
            }
            jobs.push((d, self.salts.0.next_salt(), keys));
        }
        let ledger_id = self.ledger_id;
        let build = |(d, salt, keys): (Draft, [u8; SALT_LEN], Vec<SigningKey>)| -> Result<Prepared, Error> {
            let statement = Statement {
                ledger_id,
                kind: d.kind,
                timestamp: d.timestamp.unwrap_or(now),
                content_type: d.content_type,
                payload: PayloadCommitment::new(&salt, &d.payload),
                refs: d.refs,
            };
            statement.check()?;
            let statement_bytes = statement.to_bytes();
            let mut sig_block = Vec::with_capacity(1 + SIGNATURE_BLOCK_LEN * keys.len());
            // At most MAX_SIGNATURES (16), checked above.
            sig_block.push(u8::try_from(keys.len()).unwrap_or(u8::MAX));
            // Unsigned (high-volume) entries need no statement digest here.
            let digest = if keys.is_empty() {
                Digest::ZERO
            } else {
                statement_digest(&statement_bytes)
            };
            for k in &keys {
                let s = sign_digest(&digest, k);
                sig_block.extend_from_slice(s.key_id.0.as_bytes());
                sig_block.extend_from_slice(&s.signature);
            }
            Ok(Prepared {
                statement_bytes,
                salt,
                payload: d.payload,
                sig_block,
            })
        };
        if jobs.len() >= 32 {
            jobs.into_par_iter().map(build).collect()
        } else {
            jobs.into_iter().map(build).collect()
        }
    }

    fn write_prepared(&mut self, prepared: Vec<Prepared>) -> Result<Vec<Receipt>, Error> {
        let mut receipts = Vec::with_capacity(prepared.len());
        let mut pending = Pending::new(self.chain);
        let mut scratch = Vec::with_capacity(512);
        for p in prepared {
            let entry_len = STATEMENT_OFFSET + p.statement_bytes.len() + p.sig_block.len();
            let frame_len = (FRAME_OVERHEAD + PAYLOAD_PREFIX_LEN + p.payload.len() + entry_len) as u64;
            let seg_len = self.active.len + pending.buf.len() as u64;
            if seg_len + frame_len > self.opts.segment_size && self.active.count + pending.count() > 0 {
                self.flush(&mut pending)?;
                self.rotate()?;
            }
            let seq = pending.chain.next_seq;
            // The chain position came from files: a crafted index can claim any length.
            let next_seq = seq.checked_add(1).ok_or(StorageError::Full)?;
            scratch.clear();
            scratch.extend_from_slice(&seq.to_le_bytes());
            scratch.extend_from_slice(pending.chain.head.as_bytes());
            scratch.extend_from_slice(&p.statement_bytes);
            scratch.extend_from_slice(&p.sig_block);
            let hash = entry_hash(&scratch);
            self.tree.push(&hash)?;
            pending.offsets.push(self.active.len + pending.buf.len() as u64);
            encode_frame(&mut pending.buf, &scratch, &p.salt, &p.payload);
            receipts.push(Receipt {
                seq: EntrySeq(seq),
                entry_hash: hash,
                durable: false,
            });
            pending.chain = ChainHead { next_seq, head: hash };
            if self.opts.durability == Durability::EveryAppend {
                self.flush(&mut pending)?;
                self.sync()?;
            }
        }
        self.flush(&mut pending)?;
        if self.opts.durability == Durability::PerBatch {
            self.sync()?;
        }
        for r in &mut receipts {
            r.durable = r.seq.0 < self.durable_len;
        }
        Ok(receipts)
    }

    /// Writes pending frames and index slots, then advances the in-memory chain.
    fn flush(&mut self, pending: &mut Pending) -> Result<(), Error> {
        if pending.offsets.is_empty() {
            return Ok(());
        }
        let a = &mut self.active;
        a.file
            .write_all_at(&pending.buf, a.len)
            .map_err(io_err("write", &a.path))?;
        let mut slots = Vec::with_capacity(pending.offsets.len() * 8);
        for o in &pending.offsets {
            slots.extend_from_slice(&o.to_le_bytes());
        }
        // A segment holds far fewer than 2^61 entries (each frame is > 100 bytes).
        let at = slot(a.count).ok_or(StorageError::Full)?;
        a.idx.write_all_at(&slots, at).map_err(io_err("write", &a.idx_path))?;
        a.len += pending.buf.len() as u64;
        a.count += pending.offsets.len() as u64;
        self.tree.flush()?;
        self.chain = pending.chain;
        pending.buf.clear();
        pending.offsets.clear();
        Ok(())
    }

    /// Seals the active segment (synced) and starts a new one.
    fn rotate(&mut self) -> Result<(), Error> {
        self.sync()?;
        self.tree.sync()?;
        self.active = create_segment(self.root.as_ref(), self.ledger_id, self.chain.next_seq)?;
        Ok(())
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        // Entries first, then the tree: the tree (derived data) must never be durable ahead of
        // the entries it hashes. Syncing the tree saves its replay after a clean shutdown.
        if !self.poisoned && self.sync().is_ok() {
            let _ = self.tree.sync();
        }
    }
}

/// Pushes the entry hashes the stored tree lacks (`tree.size()..entries`) and writes them.
fn replay_tree(root: &dyn LedgerDir, tree: &mut TreeWriter, entries: u64) -> Result<u64, Error> {
    let from = tree.size();
    if from >= entries {
        return Ok(0);
    }
    let mut stream = SegmentStream::open_at(root, from)?;
    while tree.size() < entries {
        let Some(sc) = stream.next_chunk(4096)? else { break };
        for f in &sc.chunk.frames {
            if tree.size() < entries {
                tree.push(&entry_hash(f.entry(&sc.chunk.data)))?;
            }
        }
    }
    tree.flush()?;
    tree.sync()?;
    Ok(entries - from)
}

/// Bytes of one author signature in an entry: key id and signature.
const SIGNATURE_BLOCK_LEN: usize = 32 + 64;

/// Frames built but not yet written.
struct Pending {
    buf: Vec<u8>,
    offsets: Vec<u64>,
    chain: ChainHead,
}

impl Pending {
    fn new(chain: ChainHead) -> Self {
        Pending {
            buf: Vec::with_capacity(64 << 10),
            offsets: Vec::new(),
            chain,
        }
    }

    fn count(&self) -> u64 {
        self.offsets.len() as u64
    }
}

/// Creates, fills in and syncs a new segment file and its index.
fn create_segment(root: &dyn LedgerDir, ledger_id: LedgerId, first_seq: u64) -> Result<Active, Error> {
    let rel = segment_rel(first_seq);
    let path = root.display_path(&rel);
    let mut file = root.open_write(&rel, true).map_err(io_err("create", &path))?;
    let header = SegmentHeader { ledger_id, first_seq }.encode();
    file.write_all_at(&header, 0).map_err(io_err("write", &path))?;
    file.sync_data().map_err(io_err("sync", &path))?;
    let idx_rel = index_rel(first_seq);
    let idx_path = root.display_path(&idx_rel);
    // A stray index left under this name (no segment had it) is derived data: replace it.
    let mut idx = match root.open_write(&idx_rel, true) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut f = root.open_write(&idx_rel, false).map_err(io_err("open", &idx_path))?;
            f.set_len(0).map_err(io_err("truncate", &idx_path))?;
            f
        }
        r => r.map_err(io_err("create", &idx_path))?,
    };
    idx.write_all_at(&encode_index_header(ledger_id, first_seq), 0)
        .map_err(io_err("write", &idx_path))?;
    idx.sync_data().map_err(io_err("sync", &idx_path))?;
    sync_dir(root, SEGMENTS_DIR)?;
    Ok(Active {
        path,
        file,
        idx_path,
        idx,
        len: SEGMENT_HEADER_LEN as u64,
        count: 0,
    })
}

/// Whether `dir` holds no ledger, or only the remains of a `create` that never wrote a
/// complete genesis entry (which are removed, as there is nothing in them to lose).
fn unfinished_create(root: &dyn LedgerDir) -> Result<bool, Error> {
    let seg_dir = Path::new(SEGMENTS_DIR);
    let names = root
        .list(seg_dir)
        .map_err(io_err("list", &root.display_path(seg_dir)))?;
    let segs: Vec<u64> = names
        .iter()
        .filter_map(|n| crate::storage::segment::parse_segment_file_name(n))
        .collect();
    if segs.is_empty() {
        return Ok(true);
    }
    if segs != [0] {
        return Ok(false);
    }
    let mut stream = SegmentStream::open(root)?;
    if !matches!(stream.next_chunk(1), Ok(None)) {
        return Ok(false);
    }
    for rel in [
        segment_rel(0),
        index_rel(0),
        PathBuf::from(crate::checkpoint::CHECKPOINT_LOG),
    ] {
        match root.remove(&rel) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove", &root.display_path(&rel))(e).into());
            }
            _ => {}
        }
    }
    sync_dir(root, SEGMENTS_DIR)?;
    Ok(true)
}

/// The ledger id from the first segment's header.
fn first_ledger_id(root: &dyn LedgerDir) -> Result<LedgerId, Error> {
    let rel = segment_rel(0);
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    let header = read_segment_header(file.as_ref(), &path, len, false)?.ok_or_else(|| StorageError::NotALedger {
        path: root.display_path(Path::new("")),
        reason: "first segment has no header".into(),
    })?;
    Ok(header.ledger_id)
}

/// The chain state at the start of the newest segment: the end of the one before it.
fn chain_before(root: &dyn LedgerDir, ledger_id: LedgerId, segs: &[u64]) -> Result<ChainHead, Error> {
    let genesis = ChainHead {
        next_seq: 0,
        head: Digest::ZERO,
    };
    let [.., prev, last] = segs else {
        return Ok(genesis);
    };
    // The sealed segment's own start is not needed: its index points at its last frame, and
    // only when the index is unusable is it scanned (and then chained from its first entry).
    let start = ChainHead {
        next_seq: *prev,
        head: Digest::ZERO,
    };
    let (scan, _) = recover_segment(root, ledger_id, *prev, start, false, false)?;
    if scan.chain.next_seq != *last {
        let path = root.display_path(&segment_rel(*last));
        let why = format!("segment should start at entry {}", scan.chain.next_seq);
        return Err(crate::storage::corrupt(&path, 0, Some(*last), why).into());
    }
    Ok(scan.chain)
}
