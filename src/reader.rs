//! Reading a ledger without the writer lock: entries by sequence number, checkpoints, and
//! inclusion / consistency proofs built from the stored tree with O(log n) reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::{read_log, Checkpoint};
use crate::entry::{entry_hash, Entry, LedgerId};
use crate::error::{Error, StorageError};
use crate::hash::Digest;
use crate::merkle::{consistency_proof, inclusion_proof, BuildError};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::storage::frame::{check_body, parse_header, parse_section, StoredPayload, FRAME_HEADER_LEN};
use crate::storage::frame::{FRAME_OVERHEAD, MIN_ENTRY_LEN, PAYLOAD_PREFIX_LEN};
use crate::storage::segment::SEGMENT_HEADER_LEN;
use crate::storage::{
    corrupt, index, index_rel, io_err, list_segments, open_ledger_dir, open_read, read_segment_header, segment_of,
    segment_rel, Backend, LedgerDir, SegmentStream, StdBackend,
};
use crate::tree::TreeReader;

/// The smallest frame: overhead, the shortest entry and an empty payload section.
const MIN_FRAME_LEN: u64 = (FRAME_OVERHEAD + MIN_ENTRY_LEN + PAYLOAD_PREFIX_LEN) as u64;

/// An entry as read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The decoded entry.
    pub entry: Entry,
    /// Its entry hash.
    pub hash: Digest,
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
/// let mut ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"a".to_vec()))?;
/// let cp = ledger.checkpoint()?;
/// let reader = LedgerReader::open(dir.path())?;
/// let proof = reader.inclusion_proof(1, None)?;
/// proof.verify(&key.verifying_key())?;
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
    cache: std::sync::Mutex<Cache>,
}

/// Segment list and open segment/index files (by path relative to the ledger), kept across
/// reads.
#[derive(Debug, Default)]
struct Cache {
    segments: Vec<u64>,
    files: std::collections::HashMap<PathBuf, Box<dyn crate::storage::StorageFile>>,
}

impl Cache {
    fn clear(&mut self) {
        self.segments.clear();
        self.files.clear();
    }
}

impl LedgerReader {
    /// Opens the ledger in `dir` on the real file system.
    ///
    /// # Errors
    /// [`StorageError::NotALedger`] or I/O errors.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_with(Arc::new(StdBackend), dir)
    }

    /// Opens the ledger in `dir` through `backend`.
    ///
    /// # Errors
    /// As [`LedgerReader::open`].
    #[allow(clippy::needless_pass_by_value)] // kept for callers; only the directory handle is kept
    pub fn open_with(backend: Arc<dyn Backend>, dir: &Path) -> Result<Self, Error> {
        Self::from_handle(open_ledger_dir(backend.as_ref(), dir, false)?, dir)
    }

    /// Reads the ledger already opened as `root` (whose path is `dir`).
    pub(crate) fn from_handle(root: Arc<dyn LedgerDir>, dir: &Path) -> Result<Self, Error> {
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
            cache: std::sync::Mutex::new(Cache::default()),
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

    /// Reads entry `seq` (one index read and one frame read).
    ///
    /// # Errors
    /// [`StorageError::NoSuchEntry`] past the end (any `seq`, up to `u64::MAX`);
    /// [`StorageError::Corrupt`] for damage.
    pub fn get(&self, seq: u64) -> Result<StoredEntry, Error> {
        // The segment list and open files are cached; a miss (a segment created since, a
        // writer's repair) refreshes them once before falling back to a scan.
        let mut first = 0;
        for fresh in [false, true] {
            if fresh {
                self.cache().clear();
            }
            first = segment_of(&self.segments()?, seq);
            if let Some(e) = self.read_indexed(first, seq)? {
                return Ok(e);
            }
        }
        if !self.may_hold(first, seq) {
            return Err(self.no_such_entry(seq));
        }
        self.scan_for(seq)
    }

    /// Whether the segment starting at `first` is long enough to hold entry `seq` (a frame
    /// is at least [`MIN_FRAME_LEN`] bytes), so an entry far past the end is refused
    /// without a scan.
    fn may_hold(&self, first: u64, seq: u64) -> bool {
        let Some(len) = self.root.open_read(&segment_rel(first)).and_then(|f| f.len()).ok() else {
            return true; // let the scan report why the segment cannot be read
        };
        let frames = len.saturating_sub(SEGMENT_HEADER_LEN as u64) / MIN_FRAME_LEN;
        seq - first < frames
    }

    fn no_such_entry(&self, seq: u64) -> Error {
        match self.indexed_len() {
            Ok(len) => StorageError::NoSuchEntry { seq, len }.into(),
            Err(e) => e,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds plain handles; a panic elsewhere leaves it usable.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn segments(&self) -> Result<Vec<u64>, Error> {
        let mut c = self.cache();
        if c.segments.is_empty() {
            c.segments = list_segments(self.root.as_ref())?;
        }
        Ok(c.segments.clone())
    }

    /// Reads `buf.len()` bytes at `offset` of `rel` through a cached handle.
    fn read_at(&self, rel: &Path, buf: &mut [u8], offset: u64) -> bool {
        let mut c = self.cache();
        if !c.files.contains_key(rel) {
            let Ok(f) = self.root.open_read(rel) else {
                return false;
            };
            c.files.insert(rel.to_path_buf(), f);
        }
        c.files.get(rel).is_some_and(|f| f.read_exact_at(buf, offset).is_ok())
    }

    /// The frame the index points at, if the index has it and the frame is entry `seq`.
    fn read_indexed(&self, first: u64, seq: u64) -> Result<Option<StoredEntry>, Error> {
        let mut b = [0u8; 8];
        // No slot of any index holds an entry that far from its segment's start.
        let Some(at) = seq.checked_sub(first).and_then(index::slot) else {
            return Ok(None);
        };
        if !self.read_at(&index_rel(first), &mut b, at) {
            return Ok(None);
        }
        let offset = u64::from_le_bytes(b);
        let rel = segment_rel(first);
        let mut h = [0u8; FRAME_HEADER_LEN];
        if offset < SEGMENT_HEADER_LEN as u64 || !self.read_at(&rel, &mut h, offset) {
            return Ok(None);
        }
        let Ok(header) = parse_header(&h) else { return Ok(None) };
        let mut frame = vec![0u8; header.frame_len()];
        if !self.read_at(&rel, &mut frame, offset) || check_body(header, &frame).is_err() {
            return Ok(None);
        }
        let loc = crate::storage::segment::FrameLoc {
            offset,
            start: 0,
            header,
        };
        let stored = decode(&frame, &loc, self.root.display_path(&rel))?;
        Ok((stored.entry.seq.0 == seq).then_some(stored))
    }

    /// Finds entry `seq` by scanning its segment (when the index cannot be used).
    fn scan_for(&self, seq: u64) -> Result<StoredEntry, Error> {
        let mut stream = SegmentStream::open_at(self.root.as_ref(), seq)?;
        if let Some(sc) = stream.next_chunk(1)? {
            if let Some(f) = sc.chunk.frames.first() {
                let e = decode(&sc.chunk.data, f, sc.path.clone())?;
                if e.entry.seq.0 == seq {
                    return Ok(e);
                }
            }
        }
        Err(self.no_such_entry(seq))
    }

    /// Number of entries, as the newest segment's index tells it (an index trailing a writer
    /// that is appending right now gives a smaller number, never a larger one).
    ///
    /// # Errors
    /// Storage errors.
    pub fn indexed_len(&self) -> Result<u64, Error> {
        let segs = list_segments(self.root.as_ref())?;
        let last = segs.last().copied().unwrap_or(0);
        let slots = self
            .root
            .open_read(&index_rel(last))
            .and_then(|f| f.len())
            .map_or(0, index::count);
        // Both come from files: a sparse index may claim any count.
        Ok(last.saturating_add(slots))
    }

    /// Calls `f` for every entry from `from` on, in order, until it returns `false`.
    ///
    /// # Errors
    /// Storage errors, or what `f` returns.
    pub fn scan(&self, from: u64, mut f: impl FnMut(StoredEntry) -> Result<bool, Error>) -> Result<(), Error> {
        let mut stream = SegmentStream::open_at(self.root.as_ref(), from)?;
        while let Some(sc) = stream.next_chunk(1024)? {
            for loc in &sc.chunk.frames {
                if !f(decode(&sc.chunk.data, loc, sc.path.clone())?)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Every checkpoint in the log, oldest first.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if the log is damaged.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error> {
        Ok(read_log(self.root.as_ref(), self.ledger_id)?.checkpoints)
    }

    fn checkpoint_for(all: &[Checkpoint], size: Option<u64>) -> Result<Checkpoint, Error> {
        let found = match size {
            None => all.last().copied(),
            Some(n) => all.iter().rev().find(|c| c.tree_size == n).copied(),
        };
        found.ok_or_else(|| match size {
            None => Error::input("the ledger has no checkpoint yet; run `provledger checkpoint` first"),
            Some(n) => Error::input(format!("no checkpoint of size {n}")),
        })
    }

    /// An inclusion proof of entry `seq` against the newest checkpoint, or the one of size
    /// `size`.
    ///
    /// # Errors
    /// [`Error::Input`] without such a checkpoint or when it does not cover `seq`; storage
    /// errors when tree nodes cannot be read.
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, Error> {
        let cp = Self::checkpoint_for(&self.checkpoints()?, size)?;
        if seq >= cp.tree_size {
            return Err(Error::input(format!(
                "entry {seq} is not covered by the checkpoint of size {}",
                cp.tree_size
            )));
        }
        let entry = self.get(seq)?;
        let path = inclusion_proof(&self.tree, seq, cp.tree_size).map_err(build_error)?;
        Ok(InclusionProof {
            tree_size: cp.tree_size,
            leaf_index: seq,
            entry_hash: entry.hash,
            path,
            root: cp.root,
            checkpoint: Some(cp),
        })
    }

    /// A consistency proof from the checkpoint of size `from` to the newest checkpoint (or the
    /// one of size `to`). Both checkpoints are included so the proof can be checked offline.
    ///
    /// # Errors
    /// As [`LedgerReader::inclusion_proof`].
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof, Error> {
        // One read of the checkpoint log serves both ends.
        let all = self.checkpoints()?;
        let old = Self::checkpoint_for(&all, Some(from))?;
        let new = Self::checkpoint_for(&all, to)?;
        if new.tree_size < old.tree_size {
            return Err(Error::input("the newer size must not be smaller than the older one"));
        }
        let path = consistency_proof(&self.tree, old.tree_size, new.tree_size).map_err(build_error)?;
        Ok(ConsistencyProof {
            old_size: old.tree_size,
            new_size: new.tree_size,
            old_root: old.root,
            new_root: new.root,
            path,
            old_checkpoint: Some(old),
            new_checkpoint: Some(new),
        })
    }
}

fn build_error(e: BuildError<crate::tree::NodeUnavailable>) -> Error {
    match e {
        BuildError::Source(n) => StorageError::NotALedger {
            path: PathBuf::from(crate::tree::TREE_DIR),
            reason: format!("{n}; reopen the ledger with a writer to rebuild the tree files"),
        }
        .into(),
        BuildError::Range(r) => Error::input(r),
    }
}

/// Decodes a complete, checksum-valid frame into a [`StoredEntry`].
fn decode(data: &[u8], loc: &crate::storage::segment::FrameLoc, file: PathBuf) -> Result<StoredEntry, Error> {
    let bytes = loc.entry(data);
    let entry = Entry::decode(bytes).map_err(|e| corrupt(&file, loc.offset, None, e.to_string()))?;
    let payload =
        parse_section(loc.section(data)).map_err(|e| corrupt(&file, loc.offset, Some(entry.seq.0), e.into()))?;
    Ok(StoredEntry {
        hash: entry_hash(bytes),
        entry,
        payload,
        file,
        offset: loc.offset,
    })
}
