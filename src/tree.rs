//! Stored Merkle tree hashes: one file per *even* level, so that any inclusion or consistency
//! proof needs O(log n) small reads and no rescan (docs/FORMAT.md §11.4). A node at an odd
//! level is the hash of its two children, which are stored; storing every other level costs
//! about 43 bytes per entry instead of 64.
//!
//! ```text
//! DIR/tree/level-00.hashes   leaf hashes, 32 bytes each, in leaf order
//! DIR/tree/level-02.hashes   roots of complete 4-leaf subtrees
//! DIR/tree/level-kk.hashes   roots of complete 2^k-leaf subtrees (k even)
//! each file: 32-byte header (magic "PLEDGTRE", u16 version, u8 level, 5 zero, ledger id [16])
//! ```
//! The files are derived data: the writer rebuilds whatever a crash left missing from the
//! segments, and `verify` compares every stored node with the hash it recomputes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::entry::LedgerId;
use crate::error::StorageError;
use crate::hash::Digest;
use crate::merkle::{Frontier, NodeSource};
use crate::storage::segment::FORMAT_VERSION;
use crate::storage::{io_err, LedgerDir, StorageFile};

/// Name of the directory holding the level files.
pub const TREE_DIR: &str = "tree";
/// Magic bytes of a level file.
pub const TREE_MAGIC: &[u8; 8] = b"PLEDGTRE";
/// Length of a level file's header.
pub const TREE_HEADER_LEN: u64 = 32;
/// Number of levels a tree of up to 2^63 leaves can have.
pub const MAX_LEVELS: usize = 64;

/// Whether nodes of `level` are stored (even levels only).
#[must_use]
pub const fn is_stored_level(level: u8) -> bool {
    level.is_multiple_of(2)
}

/// Path of the file holding the nodes of `level`.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn level_path(dir: &Path, level: u8) -> PathBuf {
    dir.join(level_rel(level))
}

/// The file of `level`, relative to the ledger directory.
pub(crate) fn level_rel(level: u8) -> PathBuf {
    Path::new(TREE_DIR).join(format!("level-{level:02}.hashes"))
}

/// The 32 header bytes of the file of `level`.
#[must_use]
pub fn level_header(ledger_id: LedgerId, level: u8) -> [u8; TREE_HEADER_LEN as usize] {
    let mut h = [0u8; TREE_HEADER_LEN as usize];
    h[..8].copy_from_slice(TREE_MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10] = level;
    h[16..].copy_from_slice(&ledger_id.0);
    h
}

/// Byte position of node `index` in a level file; `None` if it would not fit in a `u64`.
fn node_offset(index: u64) -> Option<u64> {
    index.checked_mul(32)?.checked_add(TREE_HEADER_LEN)
}

/// A stored node could not be read.
#[derive(Debug, thiserror::Error)]
#[error("tree node (level {level}, index {index}) unavailable: {reason}")]
pub struct NodeUnavailable {
    /// Level of the node.
    pub level: u8,
    /// Index of the node within its level.
    pub index: u64,
    /// Why.
    pub reason: String,
}

/// Read access to the stored level files (opened lazily and kept open, checked against the
/// ledger id). The upper levels — those of at most [`CACHED_NODES`] nodes — are read whole
/// into memory on first use (and again when they grew), so a proof reads from disk only the
/// few lowest levels it needs.
#[derive(Debug)]
pub struct TreeReader {
    dir: Arc<dyn LedgerDir>,
    ledger_id: LedgerId,
    /// Open level files: the lock is held only to find or open one, never across a read.
    files: Mutex<Vec<Option<Arc<dyn StorageFile>>>>,
    /// The levels held in memory; replaced (copy on write) when one is read or computed, so
    /// that a proof can take a [`HeldLevels`] snapshot with one lock and read it without.
    cache: Mutex<Arc<Vec<LevelCache>>>,
    /// Nodes of the levels not held whole, as last read (the right edge of a checkpoint's
    /// tree is in every proof against it); cleared when full.
    recent: Mutex<std::collections::HashMap<(u8, u64), Digest>>,
    /// Roots of right edges (ranges that are not one perfect subtree) folded for proofs:
    /// every proof against a tree size needs that size's edge; cleared when full.
    edges: Mutex<std::collections::HashMap<(u64, u64), Digest>>,
    /// Groups read ahead around the boundaries consistency proofs start from.
    boundaries: Mutex<Boundaries>,
}

/// Nodes read ahead around one leaf: ((level, index), node).
type ReadAhead = Vec<((u8, u64), Digest)>;

/// Most boundaries a [`TreeReader`] remembers the read-ahead of (a few hundred bytes each),
/// and how many recent requests it looks back on to see one asked for again.
const REMEMBERED_BOUNDARIES: usize = 1024;
const RECENT_BOUNDARIES: usize = 64;

/// Read-aheads of consistency proofs' boundaries, by (leaf, first held level): kept once a
/// boundary is asked for a second time among the recent requests, so that proofs from sizes
/// seen once (a monitor checking arbitrary sizes) cost no allocation; cleared when full.
#[derive(Debug, Default)]
struct Boundaries {
    kept: std::collections::BTreeMap<(u64, u8), ReadAhead>,
    recent: std::collections::VecDeque<(u64, u8)>,
}

/// Most nodes a [`TreeReader`] remembers outside the levels it holds whole.
const RECENT_NODES: usize = 4096;

/// Levels of at most this many nodes (2 MiB) are kept in memory by a [`TreeReader`]: at 1 M
/// entries, levels 4 and up (about 2.7 MiB in all).
pub const CACHED_NODES: u64 = 64 * 1024;

/// Odd levels of at most this many nodes are computed whole (and kept) by a [`TreeReader`]
/// once the even level below is held; larger ones node by node, as proofs ask.
const ODD_WHOLE: usize = 4096;

/// What a [`TreeReader`] holds of one stored level.
#[derive(Debug, Clone)]
enum LevelCache {
    /// Not read yet.
    Unread,
    /// Too large to hold (it only grows).
    TooLarge,
    /// The level's nodes, 32 bytes each, as they were when read.
    Nodes(Arc<Vec<u8>>),
}

/// The levels a [`TreeReader`] held in memory at one moment: a proof takes one snapshot
/// ([`TreeReader::held`]) and reads its upper path from it without a lock per node — at 1 M
/// entries a path has about sixteen nodes above the levels read from disk.
#[derive(Debug, Clone)]
pub(crate) struct HeldLevels(Arc<Vec<LevelCache>>);

impl HeldLevels {
    /// Node `index` of `level` if the snapshot holds it: an even level read whole, or an odd
    /// level computed whole.
    pub(crate) fn get(&self, level: u8, index: u64) -> Option<Digest> {
        match self.0.get(usize::from(level))? {
            LevelCache::Nodes(b) => {
                let at = usize::try_from(index).ok()?.checked_mul(32)?;
                let bytes: [u8; 32] = b.get(at..at.checked_add(32)?)?.try_into().ok()?;
                Some(Digest::from_bytes(bytes))
            }
            _ => None,
        }
    }
}

impl TreeReader {
    /// Reads the tree of the ledger opened as `dir`.
    #[must_use]
    pub fn new(dir: Arc<dyn LedgerDir>, ledger_id: LedgerId) -> Self {
        TreeReader {
            dir,
            ledger_id,
            files: Mutex::new((0..MAX_LEVELS).map(|_| None).collect()),
            cache: Mutex::new(Arc::new(vec![LevelCache::Unread; MAX_LEVELS])),
            recent: Mutex::new(std::collections::HashMap::new()),
            edges: Mutex::new(std::collections::HashMap::new()),
            boundaries: Mutex::new(Boundaries::default()),
        }
    }

    /// The groups read ahead around `leaf` (with the levels from `held_from` up held) if
    /// kept; else whether to keep them once read ([`TreeReader::remember_boundary`]): when
    /// the boundary was asked for among the recent requests.
    pub(crate) fn boundary_groups(&self, leaf: u64, held_from: u8) -> (Option<ReadAhead>, bool) {
        let mut b = self.boundaries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (leaf, held_from);
        if let Some(nodes) = b.kept.get(&key) {
            return (Some(nodes.clone()), false);
        }
        if b.recent.contains(&key) {
            return (None, true);
        }
        if b.recent.len() >= RECENT_BOUNDARIES {
            b.recent.pop_front();
        }
        b.recent.push_back(key);
        (None, false)
    }

    /// Keeps the whole groups read ahead around `leaf` (stored nodes never change).
    pub(crate) fn remember_boundary(&self, leaf: u64, held_from: u8, nodes: &[((u8, u64), Digest)]) {
        let mut b = self.boundaries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if b.kept.len() >= REMEMBERED_BOUNDARIES {
            b.kept.clear();
        }
        b.kept.insert((leaf, held_from), nodes.to_vec());
    }

    /// Node `index` of stored `level` from memory, reading the whole level first if it is small
    /// enough and not yet read (or read before it had this node); `None` when the level is too
    /// large to hold, the node is not there, or the file cannot be read.
    fn cached(&self, level: u8, index: u64) -> Option<Digest> {
        let at = usize::try_from(index).ok()?.checked_mul(32)?;
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let have = |c: &[LevelCache], l: u8, at: usize| matches!(c.get(usize::from(l)), Some(LevelCache::Nodes(b)) if b.len() >= at + 32);
        if !have(&cache, level, at) {
            let fresh = if is_stored_level(level) {
                match cache.get(usize::from(level))? {
                    LevelCache::TooLarge => None,
                    _ => Some(self.read_level(level).unwrap_or(LevelCache::Unread)),
                }
            } else {
                // An odd level is computed from the even level below, when that is held (and
                // has the children): whole when it is small, else node by node — computing a
                // large level whole (31 k hashes for level 5 at 1 M entries) cost a fresh
                // reader more than its first thousand proofs did.
                if !have(&cache, level - 1, at.checked_mul(2)?.checked_add(32)?) {
                    drop(cache);
                    self.cached(level - 1, index.checked_mul(2)?.checked_add(1)?)?;
                    cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                match cache.get(usize::from(level - 1))? {
                    LevelCache::Nodes(below) if below.len() / 64 > ODD_WHOLE => {
                        let lo = at.checked_mul(2)?;
                        let pair = below.get(lo..lo.checked_add(64)?)?;
                        let d = |x: &[u8]| Digest::from_bytes(x.try_into().unwrap_or([0; 32]));
                        return Some(crate::hash::hash_node(&d(&pair[..32]), &d(&pair[32..])));
                    }
                    LevelCache::Nodes(below) => Some(LevelCache::Nodes(Arc::new(
                        below
                            .chunks_exact(64)
                            .flat_map(|pair| {
                                let d = |x: &[u8]| Digest::from_bytes(x.try_into().unwrap_or([0; 32]));
                                crate::hash::hash_node(&d(&pair[..32]), &d(&pair[32..])).to_bytes()
                            })
                            .collect(),
                    ))),
                    _ => None,
                }
            };
            if let Some(f) = fresh {
                // Copies the list of levels only while a proof holds a snapshot of it.
                *Arc::make_mut(&mut cache).get_mut(usize::from(level))? = f;
            }
        }
        match cache.get(usize::from(level))? {
            LevelCache::Nodes(b) => b
                .get(at..at + 32)
                .map(|x| Digest::from_bytes(x.try_into().unwrap_or([0; 32]))),
            _ => None,
        }
    }

    /// Whether stored `level` is held in memory (reading it whole first if it is small enough
    /// and not read yet), so that reading ahead around a proof's path is pointless there.
    #[must_use]
    pub fn level_cached(&self, level: u8) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.get(usize::from(level)) {
            None => false,
            Some(LevelCache::Unread) => {
                let read = self.read_level(level).unwrap_or(LevelCache::Unread);
                let held = matches!(read, LevelCache::Nodes(_));
                if let Some(slot) = Arc::make_mut(&mut cache).get_mut(usize::from(level)) {
                    *slot = read;
                }
                held
            }
            Some(slot) => matches!(slot, LevelCache::Nodes(_)),
        }
    }

    /// A snapshot of the levels held in memory now (one lock), for reading a proof's upper
    /// path without locking per node.
    pub(crate) fn held(&self) -> HeldLevels {
        HeldLevels(Arc::clone(
            &self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }

    /// Up to `count` consecutive stored nodes of `level` from `first` (fewer at the end of
    /// the file), in one read.
    ///
    /// # Errors
    /// [`NodeUnavailable`] when the file is missing, bad, or cannot be read.
    pub fn nodes(&self, level: u8, first: u64, count: u64) -> Result<Vec<Digest>, NodeUnavailable> {
        let unavailable = |reason: String| NodeUnavailable {
            level,
            index: first,
            reason,
        };
        let read = |count: u64| {
            self.with_file(level, |f| {
                let mut b = vec![0u8; usize::try_from(count * 32).map_err(|e| e.to_string())?];
                let at = node_offset(first).ok_or("node index out of range")?;
                f.read_exact_at(&mut b, at).map_err(|e| e.to_string())?;
                Ok(b.chunks_exact(32)
                    .map(|x| Digest::from_bytes(x.try_into().unwrap_or([0; 32])))
                    .collect())
            })
        };
        // Nearly always all there; at the end of the file, as many as there are.
        read(count)
            .or_else(|_| {
                let count = count.min(self.stored(level).saturating_sub(first));
                if count == 0 {
                    Ok(Vec::new())
                } else {
                    read(count)
                }
            })
            .map_err(unavailable)
    }

    fn read_level(&self, level: u8) -> Result<LevelCache, String> {
        self.with_file(level, |f| {
            let len = f.len().map_err(|e| e.to_string())?;
            let nodes = len.saturating_sub(TREE_HEADER_LEN) / 32;
            if nodes > CACHED_NODES {
                return Ok(LevelCache::TooLarge);
            }
            let mut b = vec![0u8; usize::try_from(nodes * 32).map_err(|e| e.to_string())?];
            f.read_exact_at(&mut b, TREE_HEADER_LEN).map_err(|e| e.to_string())?;
            Ok(LevelCache::Nodes(Arc::new(b)))
        })
    }

    /// Number of nodes available at `level`: those stored (0 if the file is missing or has a
    /// bad header), or for an odd level, those computable from the level below.
    #[must_use]
    pub fn stored(&self, level: u8) -> u64 {
        if !is_stored_level(level) {
            return self.stored(level - 1) / 2;
        }
        self.with_file(level, |f| f.len().map_err(|e| e.to_string()))
            .map_or(0, |len| len.saturating_sub(TREE_HEADER_LEN) / 32)
    }

    fn with_file<T>(&self, level: u8, op: impl FnOnce(&dyn StorageFile) -> Result<T, String>) -> Result<T, String> {
        let f = {
            let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = files.get_mut(usize::from(level)).ok_or("level out of range")?;
            if slot.is_none() {
                let rel = level_rel(level);
                let path = self.dir.display_path(&rel);
                let f = self
                    .dir
                    .open_read(&rel)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut h = [0u8; TREE_HEADER_LEN as usize];
                f.read_exact_at(&mut h, 0).map_err(|e| e.to_string())?;
                if h != level_header(self.ledger_id, level) {
                    return Err(format!("{} has a bad header", path.display()));
                }
                *slot = Some(Arc::from(f));
            }
            // Filled just above when it was empty.
            Arc::clone(slot.as_ref().ok_or("level file not open")?)
        };
        op(f.as_ref())
    }
}

impl NodeSource for TreeReader {
    type Error = NodeUnavailable;

    fn node(&self, level: u8, index: u64) -> Result<Digest, NodeUnavailable> {
        let unavailable = |reason: String| NodeUnavailable { level, index, reason };
        if !is_stored_level(level) {
            // From memory when the level below is held; else the two children are adjacent at
            // the stored level below: one read.
            let first = index
                .checked_mul(2)
                .ok_or_else(|| unavailable("index out of range".into()))?;
            if let Some(d) = self.cached(level, index) {
                return Ok(d);
            }
            let read = |f: &dyn StorageFile| {
                let mut b = [0u8; 64];
                let at = node_offset(first).ok_or("node index out of range")?;
                f.read_exact_at(&mut b, at).map_err(|e| e.to_string())?;
                let (l, r) = b.split_at(32);
                let d = |x: &[u8]| Digest::from_bytes(x.try_into().unwrap_or([0; 32]));
                Ok(crate::hash::hash_node(&d(l), &d(r)))
            };
            return self.with_file(level - 1, read).map_err(unavailable);
        }
        if let Some(d) = self.cached(level, index) {
            return Ok(d);
        }
        let lock = || self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = lock().get(&(level, index)) {
            return Ok(*d);
        }
        let read = |f: &dyn StorageFile| {
            let mut b = [0u8; 32];
            let at = node_offset(index).ok_or("node index out of range")?;
            f.read_exact_at(&mut b, at).map_err(|e| e.to_string())?;
            Ok(Digest::from_bytes(b))
        };
        let d = self
            .with_file(level, read)
            .map_err(|reason| NodeUnavailable { level, index, reason })?;
        let mut recent = lock();
        if recent.len() >= RECENT_NODES {
            recent.clear();
        }
        recent.insert((level, index), d);
        Ok(d)
    }

    fn remembered_root(&self, start: u64, end: u64) -> Option<Digest> {
        let edges = self.edges.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        edges.get(&(start, end)).copied()
    }

    fn remember_root(&self, start: u64, end: u64, root: &Digest) {
        let mut edges = self.edges.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if edges.len() >= RECENT_NODES {
            edges.clear();
        }
        edges.insert((start, end), *root);
    }
}

/// The writer's side: the frontier in memory plus buffered appends to the level files.
#[derive(Debug)]
pub(crate) struct TreeWriter {
    dir: Arc<dyn LedgerDir>,
    ledger_id: LedgerId,
    frontier: Frontier,
    files: Vec<Option<Box<dyn StorageFile>>>,
    /// Nodes stored per level (written, maybe not yet synced).
    counts: Vec<u64>,
    pending: Vec<Vec<u8>>,
}

impl TreeWriter {
    /// Opens the tree files of a ledger holding `entries` entries, cutting what a crash left
    /// inconsistent. Returns the writer and the number of leaves still to be replayed (the
    /// caller pushes the entry hashes of `[writer.size(), entries)`).
    pub(crate) fn open(dir: &Arc<dyn LedgerDir>, ledger_id: LedgerId, entries: u64) -> Result<Self, StorageError> {
        let tree_dir = dir.display_path(Path::new(TREE_DIR));
        dir.create_subdir(Path::new(TREE_DIR))
            .map_err(io_err("create", &tree_dir))?;
        let reader = TreeReader::new(Arc::clone(dir), ledger_id);
        // Each level file probed once (an odd level is what the even level below gives).
        let mut stored = vec![0u64; MAX_LEVELS];
        for level in 0..MAX_LEVELS {
            stored[level] = if level % 2 == 0 {
                reader.stored(level as u8)
            } else {
                stored[level - 1] / 2
            };
        }
        let size = consistent_size(&stored, entries);
        // Nodes of a consistent prefix: a frontier needs only O(log n) of them.
        let frontier = Frontier::load(&reader, size).map_err(|e| StorageError::NotALedger {
            path: tree_dir.clone(),
            reason: e.to_string(),
        })?;
        let mut w = TreeWriter {
            dir: Arc::clone(dir),
            ledger_id,
            frontier,
            files: (0..MAX_LEVELS).map(|_| None).collect(),
            counts: vec![0; MAX_LEVELS],
            pending: vec![Vec::new(); MAX_LEVELS],
        };
        for level in (0..MAX_LEVELS as u8).filter(|&l| is_stored_level(l)) {
            let keep = size >> level;
            if keep == 0 && stored[usize::from(level)] == 0 {
                continue;
            }
            w.open_level(level, keep)?;
        }
        Ok(w)
    }

    /// Leaves in the tree.
    pub(crate) fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub(crate) fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// Adds the leaf of an entry; completed nodes are buffered for [`TreeWriter::flush`].
    pub(crate) fn push(&mut self, entry_hash: &Digest) -> Result<(), StorageError> {
        self.push_leaf(crate::hash::hash_leaf(entry_hash))
    }

    /// Adds a leaf hash (`SHA-256(0x00 ‖ entry hash)`, computed by the caller); completed
    /// nodes of stored levels are buffered for [`TreeWriter::flush`].
    pub(crate) fn push_leaf(&mut self, leaf: Digest) -> Result<(), StorageError> {
        let pending = &mut self.pending;
        self.frontier
            .push_with(leaf, |n| {
                if is_stored_level(n.level) {
                    pending[usize::from(n.level)].extend_from_slice(n.hash.as_bytes());
                }
            })
            .map_err(|_| StorageError::Full)?;
        Ok(())
    }

    /// Bytes of nodes buffered and not yet written.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.iter().map(Vec::len).sum()
    }

    /// Writes buffered nodes to the level files.
    pub(crate) fn flush(&mut self) -> Result<(), StorageError> {
        for level in 0..MAX_LEVELS {
            if self.pending[level].is_empty() {
                continue;
            }
            let lvl = level as u8;
            if self.files[level].is_none() {
                self.open_level(lvl, 0)?;
            }
            let path = self.dir.display_path(&level_rel(lvl));
            // Past 2^59 nodes a level file could not be addressed: the ledger is full.
            let off = node_offset(self.counts[level]).ok_or(StorageError::Full)?;
            let f = self.files[level].as_mut().ok_or_else(|| StorageError::NotALedger {
                path: path.clone(),
                reason: "level file not open".into(),
            })?;
            f.write_all_at(&self.pending[level], off)
                .map_err(io_err("write", &path))?;
            self.counts[level] += self.pending[level].len() as u64 / 32;
            self.pending[level].clear();
        }
        Ok(())
    }

    /// Syncs every level file written to.
    pub(crate) fn sync(&mut self) -> Result<(), StorageError> {
        for (level, f) in self.files.iter_mut().enumerate() {
            if let Some(f) = f {
                f.sync_data()
                    .map_err(io_err("sync", &self.dir.display_path(&level_rel(level as u8))))?;
            }
        }
        Ok(())
    }

    /// Opens (or creates) a level file and cuts it to `keep` nodes.
    fn open_level(&mut self, level: u8, keep: u64) -> Result<(), StorageError> {
        let rel = level_rel(level);
        let path = self.dir.display_path(&rel);
        let header = level_header(self.ledger_id, level);
        let mut f = match self.dir.open_write(&rel, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = self.dir.open_write(&rel, true).map_err(io_err("create", &path))?;
                let tree_dir = Path::new(TREE_DIR);
                self.dir
                    .sync_dir(tree_dir)
                    .map_err(io_err("sync", &self.dir.display_path(tree_dir)))?;
                f
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        // Past 2^59 nodes a level file could not be addressed: the ledger is full.
        let end = node_offset(keep).ok_or(StorageError::Full)?;
        let cut = f.len().map_err(io_err("stat", &path))? > end;
        f.set_len(end).map_err(io_err("truncate", &path))?;
        f.write_all_at(&header, 0).map_err(io_err("write", &path))?;
        if cut {
            // A cut must be durable before new nodes land over it, or a power loss could
            // bring back nodes of entries that were lost.
            f.sync_data().map_err(io_err("sync", &path))?;
        }
        self.files[usize::from(level)] = Some(f);
        self.counts[usize::from(level)] = keep;
        Ok(())
    }
}

/// The largest tree size `≤ entries` for which every stored level file holds all its nodes
/// (`stored[k] ≥ size >> k` for even k), so a crash that persisted some level files further
/// than others costs only a replay of the difference. Odd levels (computed from the level
/// below) are not constraints.
#[must_use]
pub fn consistent_size(stored: &[u64], entries: u64) -> u64 {
    let mut size = u128::from(entries.min(stored.first().copied().unwrap_or(0)));
    for (k, &m) in stored.iter().enumerate().skip(1).take(63) {
        if k % 2 == 1 {
            continue;
        }
        // floor(size / 2^k) ≤ m  ⇔  size < (m + 1)·2^k
        size = size.min(((u128::from(m) + 1) << k) - 1);
    }
    // size ≤ entries, a u64.
    u64::try_from(size).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_size_cuts_to_the_shortest_stored_level() {
        // 16 leaves: level 2 has 4, level 4 has 1 (odd levels are not stored: any value).
        assert_eq!(consistent_size(&[16, 0, 4, 0, 1], 16), 16);
        assert_eq!(consistent_size(&[16, 0, 4, 0, 1], 5), 5);
        // Level 2 lost its last node: at most 15 leaves are consistent.
        assert_eq!(consistent_size(&[16, 0, 3, 0, 1], 16), 15);
        // Level 4 lost everything: at most 15.
        assert_eq!(consistent_size(&[16, 0, 4, 0, 0], 16), 15);
        // Level 2 lost everything: only 3 leaves are consistent.
        assert_eq!(consistent_size(&[16, 0, 0, 0, 0], 16), 3);
        assert_eq!(consistent_size(&[0, 0], 8), 0);
    }
}
