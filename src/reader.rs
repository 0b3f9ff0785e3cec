//! Reading a ledger without the writer lock: entries by sequence number, checkpoints, and
//! inclusion / consistency proofs built from the stored tree with O(log n) reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::checkpoint::{read_log, Checkpoint};
use crate::entry::{commit_payload, Entry, LedgerId};
use crate::error::{ReadError, StorageError};
use crate::hash::Digest;
use crate::merkle::{consistency_proof, inclusion_proof, subtree_root, BuildError};
use crate::proof::{ConsistencyProof, InclusionProof, PROOF_VERSION};
use crate::storage::frame::{check_frame, parse_header, parse_section, SectionRef, StoredPayload, FRAME_HEADER_LEN};
use crate::storage::segment::{FrameLoc, SEGMENT_HEADER_LEN};
use crate::storage::{
    corrupt, index, index_rel, io_err, list_segments, open_ledger_dir, open_read, read_segment_header, segment_rel,
    Backend, LedgerDir, SegmentStream, StdBackend, StorageFile,
};
use crate::tree::TreeReader;

/// An entry as read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEntry {
    /// The decoded entry (fields, place, hash).
    pub entry: Entry,
    /// Its payload (or the fact that it was erased).
    pub payload: StoredPayload,
    /// The segment file holding it.
    pub file: PathBuf,
    /// Byte offset of its frame in that file.
    pub offset: u64,
}

/// Read-only access to a ledger directory; needs no lock and may run beside the writer.
///
/// ```
/// use provledger::{Draft, Ledger, LedgerReader, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let public = key.verifying_key();
/// let ledger = Ledger::create(dir.path(), key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"a".to_vec()))?;
/// let cp = ledger.checkpoint()?;
/// let reader = LedgerReader::open(dir.path())?;
/// let proof = reader.inclusion_proof(1, None)?;
/// proof.verify(&public)?;
/// assert_eq!(proof.tree_size, cp.tree_size);
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Debug)]
pub struct LedgerReader {
    /// The directory handle every file is opened through.
    root: Arc<dyn LedgerDir>,
    dir: PathBuf,
    ledger_id: LedgerId,
    /// Level files stay open across proofs.
    tree: TreeReader,
    cache: Mutex<Cache>,
}

/// Segment list, open segment/index files and the checkpoint log, kept across reads.
/// Bytes read at a frame's offset in one go by [`LedgerReader::get`].
const SPECULATIVE_READ: usize = 1024;

#[derive(Debug, Default)]
struct Cache {
    segments: Vec<u64>,
    files: std::collections::HashMap<PathBuf, Arc<dyn StorageFile>>,
    /// Open segment files and their indexes, by first sequence number.
    segment_files: std::collections::HashMap<u64, SegmentFiles>,
    /// The checkpoint log as last read, and the log file's length then.
    log: Option<(u64, Arc<[Checkpoint]>)>,
}

impl LedgerReader {
    /// Opens the ledger in `dir` on the real file system.
    ///
    /// # Errors
    /// [`StorageError::NotALedger`] or I/O errors.
    pub fn open(dir: &Path) -> Result<Self, ReadError> {
        Self::open_with(Arc::new(StdBackend), dir)
    }

    /// Opens the ledger in `dir` through `backend`.
    ///
    /// # Errors
    /// As [`LedgerReader::open`].
    #[allow(clippy::needless_pass_by_value)] // only the directory handle is kept
    pub fn open_with(backend: Arc<dyn Backend>, dir: &Path) -> Result<Self, ReadError> {
        Self::from_handle(open_ledger_dir(backend.as_ref(), dir, false)?, dir)
    }

    /// Reads the ledger already opened as `root` (whose path is `dir`).
    pub(crate) fn from_handle(root: Arc<dyn LedgerDir>, dir: &Path) -> Result<Self, ReadError> {
        list_segments(root.as_ref())?;
        let rel = segment_rel(0);
        let path = root.display_path(&rel);
        let file = open_read(root.as_ref(), &rel)?;
        let len = file.len().map_err(io_err("stat", &path))?;
        let header =
            read_segment_header(file.as_ref(), &path, len, false)?.ok_or_else(|| StorageError::NotALedger {
                path: dir.to_path_buf(),
                reason: "first segment has no header".into(),
            })?;
        let tree = TreeReader::new(Arc::clone(&root), header.ledger_id);
        Ok(LedgerReader {
            root,
            dir: dir.to_path_buf(),
            ledger_id: header.ledger_id,
            tree,
            cache: Mutex::new(Cache::default()),
        })
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

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // The cache holds plain handles; a panic elsewhere leaves it usable.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first sequence number of the segment that holds `seq`, by the cached list of
    /// segments (listed again, and the open handles dropped, when `fresh`).
    fn segment_of(&self, seq: u64, fresh: bool) -> Result<u64, ReadError> {
        let mut c = self.cache();
        if fresh || c.segments.is_empty() {
            c.segments = list_segments(self.root.as_ref())?;
            c.files.clear();
            c.segment_files.clear();
        }
        let segs = &c.segments;
        Ok(segs
            .get(segs.partition_point(|&f| f <= seq).saturating_sub(1))
            .copied()
            .unwrap_or(0))
    }

    /// Cached handles on the segment starting at `first` and on its index.
    fn segment_files(&self, first: u64) -> Option<SegmentFiles> {
        if let Some(f) = self.cache().segment_files.get(&first) {
            return Some(f.clone());
        }
        let seg: Arc<dyn StorageFile> = Arc::from(self.root.open_read(&segment_rel(first)).ok()?);
        let idx: Arc<dyn StorageFile> = Arc::from(self.root.open_read(&index_rel(first)).ok()?);
        self.cache().segment_files.insert(first, (seg, idx));
        self.cache().segment_files.get(&first).cloned()
    }

    /// A cached handle on `path` (positional reads need no lock, so the cache lock is held
    /// only to find the handle).
    fn file(&self, rel: &Path) -> Option<Arc<dyn StorageFile>> {
        let mut c = self.cache();
        if let Some(f) = c.files.get(rel) {
            return Some(Arc::clone(f));
        }
        let f: Arc<dyn StorageFile> = Arc::from(self.root.open_read(rel).ok()?);
        c.files.insert(rel.to_path_buf(), Arc::clone(&f));
        Some(f)
    }

    /// Reads entry `seq` (one index read and one frame read).
    ///
    /// # Errors
    /// [`ReadError::NoSuchEntry`] past the end; [`ReadError::Storage`] for damage or I/O.
    pub fn get(&self, seq: u64) -> Result<StoredEntry, ReadError> {
        for fresh in [false, true] {
            let first = self.segment_of(seq, fresh)?;
            if let Some((frame, loc)) = self.read_indexed(first, seq) {
                let path = self.root.display_path(&segment_rel(first));
                return decode(&frame, &loc, seq, self.ledger_id, path);
            }
        }
        self.scan_for(seq)
    }

    /// The entry hash of entry `seq`, read as [`LedgerReader::get`] reads the entry (what a
    /// proof needs of it, without copying its payload out).
    fn entry_hash(&self, seq: u64) -> Result<Digest, ReadError> {
        for fresh in [false, true] {
            let first = self.segment_of(seq, fresh)?;
            if let Some((frame, loc)) = self.read_indexed(first, seq) {
                return decode_hash(&frame, &loc, seq, self.ledger_id).map_err(|reason| {
                    corrupt(
                        &self.root.display_path(&segment_rel(first)),
                        loc.offset,
                        Some(seq),
                        reason,
                    )
                    .into()
                });
            }
        }
        Ok(self.scan_for(seq)?.entry.hash)
    }

    /// The complete, checksum-valid frame the index points at, if the index has a slot for
    /// `seq` (`None` sends the caller to a fresh listing, then to a scan).
    fn read_indexed(&self, first: u64, seq: u64) -> Option<(Vec<u8>, FrameLoc)> {
        let at = seq.checked_sub(first).and_then(index::slot)?;
        let mut b = [0u8; 4];
        let (seg, idx) = self.segment_files(first)?;
        idx.read_exact_at(&mut b, at).ok()?;
        let (offset, _) = index::decode_slot(b);
        if offset < SEGMENT_HEADER_LEN as u64 {
            return None;
        }
        // One read of the frame's likely extent (most frames are smaller); the header says
        // whether more is needed, and a frame at the end of the file is read exactly.
        let mut frame = vec![0u8; SPECULATIVE_READ];
        let got = seg.read_exact_at(&mut frame, offset).is_ok();
        if !got {
            seg.read_exact_at(&mut frame[..FRAME_HEADER_LEN], offset).ok()?;
        }
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(&frame[..FRAME_HEADER_LEN]);
        let header = parse_header(&h).ok()?;
        let len = header.frame_len();
        if !got || len > SPECULATIVE_READ {
            frame.resize(len, 0);
            seg.read_exact_at(&mut frame, offset).ok()?;
        }
        frame.truncate(len);
        if !check_frame(&frame) {
            return None;
        }
        let loc = FrameLoc {
            offset,
            start: 0,
            header,
        };
        Some((frame, loc))
    }

    /// Finds entry `seq` by scanning its segment (when the index cannot be used).
    fn scan_for(&self, seq: u64) -> Result<StoredEntry, ReadError> {
        let mut stream = SegmentStream::open_at(self.root.as_ref(), seq)?;
        if let Some(sc) = stream.next_chunk(1)? {
            if let (Some(f), true) = (sc.chunk.frames.first(), sc.first_seq == seq) {
                return decode(&sc.chunk.data, f, seq, self.ledger_id, sc.path.clone());
            }
        }
        Err(ReadError::NoSuchEntry {
            seq,
            len: self.indexed_len()?,
        })
    }

    /// Number of entries, as the newest segment's index tells it (an index trailing a writer
    /// that is appending right now gives a smaller number, never a larger one).
    ///
    /// # Errors
    /// Storage errors.
    pub fn indexed_len(&self) -> Result<u64, ReadError> {
        let segs = list_segments(self.root.as_ref())?;
        let last = segs.last().copied().unwrap_or(0);
        let slots = self
            .root
            .open_read(&index_rel(last))
            .and_then(|f| f.len())
            .map_or(0, index::count);
        Ok(last.saturating_add(slots))
    }

    /// Calls `f` for every entry from `from` on, in order, until it returns `false`.
    ///
    /// # Errors
    /// Storage errors, or what `f` returns.
    pub fn scan<E: From<ReadError>>(
        &self,
        from: u64,
        mut f: impl FnMut(StoredEntry) -> Result<bool, E>,
    ) -> Result<(), E> {
        let mut stream = SegmentStream::open_at(self.root.as_ref(), from).map_err(ReadError::Storage)?;
        while let Some(sc) = stream.next_chunk(1024).map_err(ReadError::Storage)? {
            for (i, loc) in sc.chunk.frames.iter().enumerate() {
                let seq = sc.first_seq + i as u64;
                if !f(decode(&sc.chunk.data, loc, seq, self.ledger_id, sc.path.clone())?)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Every checkpoint in the log, oldest first. The log is re-read only when it grew.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if the log is damaged.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadError> {
        Ok(self.log()?.to_vec())
    }

    /// The checkpoint log, read again only when the file grew (or shrank).
    fn log(&self) -> Result<Arc<[Checkpoint]>, ReadError> {
        let len = self
            .file(std::path::Path::new(crate::checkpoint::CHECKPOINT_LOG))
            .and_then(|f| f.len().ok())
            .unwrap_or(0);
        if let Some((seen, all)) = &self.cache().log {
            if *seen == len {
                return Ok(Arc::clone(all));
            }
        }
        let all: Arc<[Checkpoint]> = read_log(self.root.as_ref(), self.ledger_id)?.checkpoints.into();
        self.cache().log = Some((len, Arc::clone(&all)));
        Ok(all)
    }

    /// The checkpoint of size `size` (or the newest): from the log as last read when it holds
    /// one of that size — a logged checkpoint never changes, so a proof against it needs no
    /// look at the file — and otherwise from the log, read again if it grew.
    fn find_checkpoint(&self, size: Option<u64>) -> Result<Checkpoint, ReadError> {
        if size.is_some() {
            if let Some((_, all)) = &self.cache().log {
                if let Ok(c) = Self::checkpoint_for(all, size) {
                    return Ok(c);
                }
            }
        }
        Self::checkpoint_for(&self.log()?, size)
    }

    fn checkpoint_for(all: &[Checkpoint], size: Option<u64>) -> Result<Checkpoint, ReadError> {
        let found = match size {
            None => all.last().copied(),
            Some(n) => all.iter().rev().find(|c| c.tree_size == n).copied(),
        };
        found.ok_or(ReadError::NoCheckpoint { size })
    }

    /// An inclusion proof of entry `seq` against the newest checkpoint, or the one of size
    /// `size`.
    ///
    /// # Errors
    /// [`ReadError::NoCheckpoint`] without such a checkpoint, [`ReadError::OutOfRange`] when
    /// it does not cover `seq`; [`ReadError::MissingTreeNode`] or [`ReadError::Storage`] when
    /// tree nodes cannot be read.
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, ReadError> {
        let cp = self.find_checkpoint(size)?;
        if seq >= cp.tree_size {
            return Err(ReadError::OutOfRange(format!(
                "entry {seq} is not covered by the checkpoint of size {}",
                cp.tree_size
            )));
        }
        let entry_hash = self.entry_hash(seq)?;
        let src = Prefetched::around(&self.tree, seq);
        let path = inclusion_proof(&src, seq, cp.tree_size).map_err(build_error)?;
        Ok(InclusionProof {
            version: PROOF_VERSION,
            ledger_id: self.ledger_id,
            tree_size: cp.tree_size,
            leaf_index: seq,
            entry_hash,
            path,
            root: cp.root,
            checkpoint: Some(cp),
        })
    }

    /// The RFC 9162 consistency path between any two tree sizes `old ≤ new` the stored tree
    /// covers, with both roots computed from the stored tree.
    ///
    /// # Errors
    /// [`ReadError::OutOfRange`] for sizes out of range; [`ReadError::MissingTreeNode`] or
    /// [`ReadError::Storage`] when tree nodes cannot be read.
    pub fn consistency(&self, old: u64, new: u64) -> Result<(Digest, Digest, Vec<Digest>), ReadError> {
        if old == 0 || old > new {
            return Err(ReadError::OutOfRange("a consistency proof needs 0 < old ≤ new".into()));
        }
        let src = Prefetched::boundary(&self.tree, old);
        let root = |n| subtree_root(&src, 0, n).map_err(build_error);
        let path = consistency_proof(&src, old, new).map_err(build_error)?;
        Ok((root(old)?, root(new)?, path))
    }

    /// A consistency proof from size `from` to the newest checkpoint (or the one of size `to`):
    /// the newer state is pinned by its signed checkpoint, included so the proof can be checked
    /// offline. `from` may be any size from 1 to the newer one (RFC 9162 §2.1.4): when a
    /// checkpoint of that size exists it is included too and [`ConsistencyProof::verify`]
    /// checks it; otherwise `old_checkpoint` is `None` and the proof is checked against the
    /// older root the verifier already trusts ([`ConsistencyProof::verify_extends`]; e.g. the
    /// `root` and `entries` of an earlier [`VerifyReport`](crate::VerifyReport)).
    ///
    /// ```
    /// # use provledger::{Draft, Ledger, LedgerReader, Options, SigningKey};
    /// # let dir = tempfile::tempdir()?;
    /// let key = SigningKey::generate()?;
    /// let ledger = Ledger::create(dir.path(), key.clone(), "example", Options::default())?;
    /// for i in 0..5u8 {
    ///     ledger.append(Draft::application("text/plain", vec![i]))?;
    /// }
    /// ledger.checkpoint()?;
    /// let reader = LedgerReader::open(dir.path())?;
    /// let (old_root, _, _) = reader.consistency(3, 6)?; // the root at size 3, trusted earlier
    /// let proof = reader.consistency_proof(3, None)?;
    /// assert!(proof.old_checkpoint.is_none());
    /// proof.verify_extends(&key.verifying_key(), None, 3, &old_root)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LedgerReader::inclusion_proof`]; [`ReadError::OutOfRange`] unless
    /// 0 < `from` ≤ the newer checkpoint's size.
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof, ReadError> {
        let all = self.log()?;
        let new = Self::checkpoint_for(&all, to)?;
        if from == 0 || new.tree_size < from {
            return Err(ReadError::OutOfRange(format!(
                "a consistency proof needs 0 < older size ≤ {} (the newer checkpoint's size)",
                new.tree_size
            )));
        }
        let old = Self::checkpoint_for(&all, Some(from)).ok();
        let src = Prefetched::boundary(&self.tree, from);
        let old_root = match &old {
            Some(c) => c.root,
            None => subtree_root(&src, 0, from).map_err(build_error)?,
        };
        let path = consistency_proof(&src, from, new.tree_size).map_err(build_error)?;
        Ok(ConsistencyProof {
            version: PROOF_VERSION,
            ledger_id: self.ledger_id,
            old_size: from,
            new_size: new.tree_size,
            old_root,
            new_root: new.root,
            path,
            old_checkpoint: old,
            new_checkpoint: Some(new),
        })
    }
}

fn build_error(e: BuildError<crate::tree::NodeUnavailable>) -> ReadError {
    match e {
        BuildError::Source(n) => ReadError::MissingTreeNode {
            level: n.level,
            index: n.index,
            reason: n.reason,
        },
        BuildError::Range(r) => ReadError::OutOfRange(r.to_string()),
    }
}

/// A segment file and its index.
type SegmentFiles = (Arc<dyn StorageFile>, Arc<dyn StorageFile>);

/// The entry hash of a complete, checksum-valid frame of entry `seq`, or why it does not
/// decode (as [`decode`] would report it).
fn decode_hash(data: &[u8], loc: &FrameLoc, seq: u64, ledger_id: LedgerId) -> Result<Digest, String> {
    let section = parse_section(loc.section(data)).map_err(String::from)?;
    let commitment = match section {
        SectionRef::Present { salt, payload } => commit_payload(salt, payload),
        SectionRef::Erased { commitment, .. } => commitment,
    };
    Entry::decode(loc.entry(data), seq, ledger_id, commitment)
        .map(|e| e.hash)
        .map_err(|e| e.to_string())
}

/// Decodes a complete, checksum-valid frame of entry `seq` into a [`StoredEntry`].
pub(crate) fn decode(
    data: &[u8],
    loc: &FrameLoc,
    seq: u64,
    ledger_id: LedgerId,
    file: PathBuf,
) -> Result<StoredEntry, ReadError> {
    let section = parse_section(loc.section(data)).map_err(|e| corrupt(&file, loc.offset, Some(seq), e.into()))?;
    let commitment = match section {
        SectionRef::Present { salt, payload } => commit_payload(salt, payload),
        SectionRef::Erased { commitment, .. } => commitment,
    };
    let entry = Entry::decode(loc.entry(data), seq, ledger_id, commitment)
        .map_err(|e| corrupt(&file, loc.offset, Some(seq), e.to_string()))?;
    Ok(StoredEntry {
        entry,
        payload: section.to_owned(),
        file,
        offset: loc.offset,
    })
}

/// The stored tree, with the lower levels around one leaf's path read ahead: for each stored
/// level below the ones held in memory, the aligned group of four nodes holding the path's
/// sibling at that level and the two children of its sibling one level up — one read per two
/// levels instead of one per node. Nodes above come from a snapshot of the levels held in
/// memory, without a lock per node.
struct Prefetched<'t> {
    tree: &'t TreeReader,
    nodes: Vec<((u8, u64), Digest)>,
    /// The levels the tree held in memory when the proof began.
    held: crate::tree::HeldLevels,
}

impl<'t> Prefetched<'t> {
    /// Read ahead for an inclusion proof of `leaf`.
    fn around(tree: &'t TreeReader, leaf: u64) -> Self {
        Self::read_ahead(tree, leaf, false)
    }

    /// Read ahead for a consistency proof from size `old` (and for the root at `old`): below
    /// the held levels, every node such a proof needs ends at the boundary between leaves
    /// `old − 1` and `old`, starts at it, or is a sibling of an ancestor of leaf `old − 1` —
    /// all in the groups read ahead for that leaf's inclusion proof (but for the newer tree's
    /// last nodes when its size is within a few leaves of `old`). Consistency proofs come
    /// from few sizes (each client's last checkpoint), so the tree remembers the groups of a
    /// boundary asked for again ([`TreeReader::boundary_groups`]).
    fn boundary(tree: &'t TreeReader, old: u64) -> Self {
        Self::read_ahead(tree, old.saturating_sub(1), true)
    }

    /// The aligned groups around `leaf` at each stored level below the held ones.
    fn read_ahead(tree: &'t TreeReader, leaf: u64, boundary: bool) -> Self {
        let mut held_from = 0u8;
        while held_from < 64 && !tree.level_cached(held_from) {
            held_from += 2;
        }
        // (Nothing to read ahead, or keep, when every stored level is held.)
        let (known, keep) = if boundary && held_from > 0 {
            tree.boundary_groups(leaf, held_from)
        } else {
            (None, false)
        };
        let nodes = known.unwrap_or_else(|| {
            let mut nodes = Vec::new();
            let mut whole = true;
            for level in (0..held_from).step_by(2) {
                let first = (leaf >> level) & !3;
                match tree.nodes(level, first, 4) {
                    Ok(found) if !found.is_empty() => {
                        whole &= found.len() == 4;
                        nodes.extend(
                            found
                                .into_iter()
                                .enumerate()
                                .map(|(i, d)| ((level, first + i as u64), d)),
                        );
                    }
                    // Missing or unreadable: the proof asks the tree itself, which says why.
                    _ => {
                        whole = false;
                        break;
                    }
                }
            }
            // A group cut short by the end of its level would leave the nodes a larger tree
            // has there to single reads, every time: only whole read-aheads are kept.
            if keep && whole {
                tree.remember_boundary(leaf, held_from, &nodes);
            }
            nodes
        });
        Prefetched {
            tree,
            nodes,
            held: tree.held(),
        }
    }

    /// A node read ahead or held in memory.
    fn get(&self, level: u8, index: u64) -> Option<Digest> {
        self.nodes
            .iter()
            .find(|(k, _)| *k == (level, index))
            .map(|(_, d)| *d)
            .or_else(|| self.held.get(level, index))
    }
}

impl crate::merkle::NodeSource for Prefetched<'_> {
    type Error = crate::tree::NodeUnavailable;

    fn node(&self, level: u8, index: u64) -> Result<Digest, crate::tree::NodeUnavailable> {
        if let Some(d) = self.get(level, index) {
            return Ok(d);
        }
        if !crate::tree::is_stored_level(level) {
            let children = index.checked_mul(2).map(|c| {
                (
                    self.get(level - 1, c),
                    c.checked_add(1).and_then(|c| self.get(level - 1, c)),
                )
            });
            if let Some((Some(l), Some(r))) = children {
                return Ok(crate::hash::hash_node(&l, &r));
            }
        }
        crate::merkle::NodeSource::node(self.tree, level, index)
    }

    fn remembered_root(&self, start: u64, end: u64) -> Option<Digest> {
        crate::merkle::NodeSource::remembered_root(self.tree, start, end)
    }

    fn remember_root(&self, start: u64, end: u64, root: &Digest) {
        crate::merkle::NodeSource::remember_root(self.tree, start, end, root);
    }
}
