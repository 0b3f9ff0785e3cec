//! A published ledger read as a directory: each file is the concatenation of its pieces.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;

use super::{Inner, RemoteError, MAX_PIECE};
use crate::storage::{LedgerDir, LockGuard, StorageFile};

/// Digits of a piece's offset in its object name.
pub(crate) const OFFSET_DIGITS: usize = 20;

/// Bytes a read fetches ahead of what it was asked for (a verifier reads files front to back,
/// in chunks; fewer, larger range requests run at the store's throughput).
const READ_AHEAD: u64 = 16 << 20;
/// Reads at least this large are taken for a scan (read-ahead of `READ_AHEAD`, prefetched).
const SCAN_READ: u64 = 256 << 10;
/// Range requests one read-ahead splits into, fetched concurrently.
const PARALLEL_RANGES: u64 = 8;

/// One immutable object of a published file.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) location: ObjectPath,
    pub(crate) e_tag: Option<String>,
    /// The store's modification time (RFC 3339), part of the cache key.
    pub(crate) last_modified: String,
}

/// A published file: its pieces in offset order, and the length of their contiguous prefix.
#[derive(Clone, Debug, Default)]
pub(crate) struct RemoteFileInfo {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) len: u64,
}

/// A read-only view of a published ledger, from one listing of the bucket (see
/// [`super::Remote::open`]). It implements [`LedgerDir`], so the verifier and the reader run
/// on it unchanged; writing through it is refused.
pub struct RemoteDir {
    inner: Arc<Inner>,
    pub(crate) files: BTreeMap<String, RemoteFileInfo>,
    /// The first piece found out of place: (object URL, what is wrong).
    anomaly: Option<(String, String)>,
    /// The published latest checkpoint, when the checkpoint log does not hold it.
    rollback: Option<(String, String)>,
    /// Where pieces are read from once downloaded, if anywhere.
    pub(crate) cache: Option<Arc<super::cache::PieceCache>>,
}

impl std::fmt::Debug for RemoteDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDir")
            .field("url", &self.inner.url)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl RemoteDir {
    pub(crate) fn list(inner: Arc<Inner>) -> Result<Self, RemoteError> {
        let prefix = inner.prefix.clone();
        let metas: Vec<object_store::ObjectMeta> = inner
            .rt
            .block_on(async { inner.store.list(Some(&prefix)).try_collect().await })
            .map_err(inner.store_err(""))?;
        let strip = if prefix.as_ref().is_empty() {
            String::new()
        } else {
            format!("{}/", prefix.as_ref())
        };
        let mut files: BTreeMap<String, RemoteFileInfo> = BTreeMap::new();
        for m in metas {
            let Some(rel) = m.location.as_ref().strip_prefix(&strip) else {
                continue;
            };
            let Some((file, off)) = rel.rsplit_once('/') else {
                continue; // `checkpoint` and anything else that is not a piece
            };
            if off.len() != OFFSET_DIGITS || !off.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(offset) = off.parse::<u64>() else {
                continue;
            };
            files.entry(file.to_string()).or_default().pieces.push(Piece {
                offset,
                size: m.size,
                location: m.location.clone(),
                e_tag: m.e_tag.clone(),
                last_modified: m.last_modified.to_rfc3339(),
            });
        }
        let mut anomaly = None;
        for (name, f) in &mut files {
            f.pieces.sort_by_key(|p| p.offset);
            let mut end = 0u64;
            let mut broken = false;
            for p in &f.pieces {
                if broken {
                    break;
                }
                // A publisher cuts files on a grid of MAX_PIECE: a piece never crosses a
                // boundary (so none is larger, and the cache never downloads more than that).
                let crosses = p.size > 0 && p.offset / MAX_PIECE != (p.offset + p.size - 1) / MAX_PIECE;
                if p.offset != end || p.size == 0 || crosses {
                    let what = if crosses {
                        format!(
                            "{} bytes from {}: crosses a {} MiB boundary, which no publisher writes",
                            p.size,
                            p.offset,
                            MAX_PIECE >> 20
                        )
                    } else if p.offset > end {
                        format!("bytes {end}..{} of {name} are missing (a piece was deleted)", p.offset)
                    } else if p.size == 0 {
                        "an empty piece".to_string()
                    } else {
                        format!("overlaps the piece before it (which ends at {end})")
                    };
                    anomaly.get_or_insert_with(|| (inner.object_url(p.location_rel(&strip)), what));
                    broken = true;
                    continue;
                }
                end = p.offset.saturating_add(p.size);
            }
            f.len = end;
        }
        Ok(RemoteDir {
            inner,
            files,
            anomaly,
            rollback: None,
            cache: None,
        })
    }

    /// Whether nothing is published under this prefix.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The first piece that does not follow the one before it (object URL and why), if any.
    /// Files are read up to such a piece.
    #[must_use]
    pub fn anomaly(&self) -> Option<(String, String)> {
        self.anomaly.clone()
    }

    /// When the bucket's `checkpoint` note names a checkpoint its checkpoint log does not hold
    /// (objects deleted or rolled back after it was published): the object and why.
    #[must_use]
    pub fn rollback(&self) -> Option<(String, String)> {
        self.rollback.clone()
    }

    /// Cuts the view to the state the published latest checkpoint `note` names, as the
    /// publisher cut the ledger: the checkpoint log up to that checkpoint, the segments, their
    /// indexes and the tree files up to its size; segments after it are left out. Pieces of a
    /// publish still under way (or interrupted) beyond that state are not part of the view.
    pub(crate) fn cut_to_note(&mut self, note: &str) {
        use crate::checkpoint::{read_log, CHECKPOINT_LOG};
        let object = self.inner.object_url(super::LATEST_CHECKPOINT);
        let Ok((c, sigs)) = crate::Checkpoint::parse_note_unverified(note) else {
            self.rollback = Some((
                object,
                "the published latest checkpoint is not a checkpoint note".into(),
            ));
            return;
        };
        // A log that cannot be read is left to the verifier to report.
        let Ok(log) = read_log(self, c.ledger_id) else {
            return;
        };
        let found = log.checkpoints.iter().position(|k| {
            k.ledger_id == c.ledger_id
                && k.tree_size == c.tree_size
                && k.root == c.root
                && k.timestamp == c.timestamp
                && sigs.contains(&k.signature)
        });
        let Some(i) = found else {
            self.rollback = Some((
                object,
                format!(
                    "the published latest checkpoint (size {}) is not one of the {} checkpoints in the \
                     bucket's checkpoint log: objects were deleted or rolled back after it was published",
                    c.tree_size,
                    log.checkpoints.len()
                ),
            ));
            return;
        };
        let Ok(jobs) = super::publish::targets(self, c.tree_size, i as u64 + 1) else {
            // Segments that cannot be read are left to the verifier to report.
            return;
        };
        let keep: BTreeMap<String, u64> = jobs.into_iter().map(|j| (j.rel, j.target)).collect();
        self.files.retain(|rel, info| {
            let ledger_file = rel == CHECKPOINT_LOG || rel.starts_with("segments/") || rel.starts_with("tree/");
            match keep.get(rel) {
                Some(&target) => {
                    info.len = info.len.min(target);
                    true
                }
                None => !ledger_file,
            }
        });
    }

    /// The length of the published file `rel` (`segments/….seg`), if any piece of it exists.
    #[must_use]
    pub fn file_len(&self, rel: &str) -> Option<u64> {
        self.files.get(rel).map(|f| f.len)
    }

    fn rel(rel: &Path) -> io::Result<String> {
        let s = rel
            .to_str()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))?;
        Ok(s.trim_matches('/').to_string())
    }
}

impl RemoteFileInfo {
    /// The pieces the file's `len` bytes are read from: the contiguous run from offset 0 (a
    /// piece after a gap or overlapping the one before it is listed, and reported as an
    /// anomaly, but never read: its bytes would be read twice or in the wrong place).
    fn readable_pieces(&self) -> Vec<Piece> {
        let mut end = 0;
        self.pieces
            .iter()
            .take_while(|p| {
                let next = p.offset == end && p.size > 0 && end < self.len;
                end = p.offset.saturating_add(p.size);
                next
            })
            .cloned()
            .collect()
    }
}

impl Piece {
    fn location_rel<'a>(&'a self, strip: &str) -> &'a str {
        self.location
            .as_ref()
            .strip_prefix(strip)
            .unwrap_or(self.location.as_ref())
    }
}

/// The writing half of [`StorageFile`] for a published file: refused.
macro_rules! read_only_file {
    () => {
        fn write_all_at(&mut self, _buf: &[u8], _offset: u64) -> io::Result<()> {
            Err(read_only())
        }

        fn sync_data(&mut self) -> io::Result<()> {
            Err(read_only())
        }

        fn set_len(&mut self, _len: u64) -> io::Result<()> {
            Err(read_only())
        }
    };
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "a published ledger is read-only")
}

impl LedgerDir for RemoteDir {
    fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>> {
        let rel = Self::rel(rel)?;
        let info = self
            .files
            .get(&rel)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{rel} is not published")))?;
        let pieces = info.readable_pieces();
        if let Some(cache) = &self.cache {
            return Ok(Box::new(CachedFile {
                inner: Arc::clone(&self.inner),
                cache: Arc::clone(cache),
                pieces,
                len: info.len,
                open: Mutex::new(BTreeMap::new()),
            }));
        }
        Ok(Box::new(RemoteFile {
            inner: Arc::clone(&self.inner),
            pieces: Arc::new(pieces),
            len: info.len,
            state: Mutex::new(ReadState::default()),
        }))
    }

    fn open_write(&self, _rel: &Path, _create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        Err(read_only())
    }

    fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>> {
        let dir = Self::rel(rel_dir)?;
        let want = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&want))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect();
        if names.is_empty() && !self.files.keys().any(|k| k.starts_with(&want)) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{dir} is not published"),
            ));
        }
        Ok(names)
    }

    fn remove(&self, _rel: &Path) -> io::Result<()> {
        Err(read_only())
    }

    fn sync_dir(&self, _rel_dir: &Path) -> io::Result<()> {
        Err(read_only())
    }

    fn create_subdir(&self, _rel: &Path) -> io::Result<()> {
        Err(read_only())
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>> {
        Err(read_only())
    }

    fn display_path(&self, rel: &Path) -> PathBuf {
        let rel = rel.to_string_lossy();
        if rel.is_empty() {
            PathBuf::from(&self.inner.url)
        } else {
            PathBuf::from(self.inner.object_url(rel.trim_matches('/')))
        }
    }
}

/// A published file: positional reads become range requests on its pieces, with read-ahead
/// into two buffers the file keeps (the block being read and the next one, being fetched), so
/// that reading a file of any size allocates them once.
#[derive(Debug)]
struct RemoteFile {
    inner: Arc<Inner>,
    pieces: Arc<Vec<Piece>>,
    len: u64,
    state: Mutex<ReadState>,
}

#[derive(Debug, Default)]
struct ReadState {
    /// The block last fetched and the file offset of its first byte.
    block: Vec<u8>,
    block_at: u64,
    /// The block after it, being fetched into the other buffer: (start, end, task).
    next: Option<(u64, u64, Fetching)>,
    /// The other buffer, when no fetch holds it.
    spare: Vec<u8>,
}

/// A block being fetched in the background; gives its buffer back, filled.
type Fetching = tokio::task::JoinHandle<io::Result<Vec<u8>>>;

impl Drop for RemoteFile {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, h)) = st.next.take() {
            h.abort();
        }
        self.inner.blocks.give(std::mem::take(&mut st.block));
        self.inner.blocks.give(std::mem::take(&mut st.spare));
    }
}

/// Fills `buf` with bytes `[start, end)` of the file made of `pieces`, in ranges of at least
/// 1 MiB fetched concurrently (up to `PARALLEL_RANGES`), each streamed into its place.
async fn fetch(
    inner: Arc<Inner>,
    pieces: Arc<Vec<Piece>>,
    start: u64,
    end: u64,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    use futures::StreamExt as _;
    let n = usize::try_from(end - start).map_err(io::Error::other)?;
    inner
        .fetched
        .fetch_add(end - start, std::sync::atomic::Ordering::Relaxed);
    let store = &inner.store;
    // Every byte is overwritten below: a reused buffer is only cut or grown to size (a new
    // one comes zeroed from the allocator, not filled byte by byte).
    if buf.capacity() < n {
        buf = vec![0u8; n];
    } else if buf.len() >= n {
        buf.truncate(n);
    } else {
        buf.resize(n, 0);
    }
    let step = ((end - start) / PARALLEL_RANGES).max(1 << 20);
    let mut ranges = Vec::new();
    for p in pieces.iter() {
        let (a, b) = (p.offset.max(start), (p.offset + p.size).min(end));
        let mut at = a;
        while at < b {
            let to = (at + step).min(b);
            ranges.push((p.location.clone(), at - p.offset, to - p.offset));
            at = to;
        }
    }
    // The pieces tile the file (`RemoteFileInfo::readable_pieces`); anything else is refused
    // rather than written out of bounds.
    let covered: u64 = ranges.iter().map(|(_, a, b)| b - a).sum();
    if covered != end - start {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the pieces cover {covered} of the {} bytes asked for", end - start),
        ));
    }
    let mut rest: &mut [u8] = &mut buf;
    let mut reqs = Vec::with_capacity(ranges.len());
    for (loc, a, b) in ranges {
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(usize::try_from(b - a).map_err(io::Error::other)?);
        rest = tail;
        let store = Arc::clone(store);
        reqs.push(async move {
            let opts = object_store::GetOptions {
                range: Some(object_store::GetRange::Bounded(a..b)),
                ..object_store::GetOptions::default()
            };
            let mut body = store
                .get_opts(&loc, opts)
                .await
                .map_err(io::Error::other)?
                .into_stream();
            let mut off = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(io::Error::other)?;
                let to = off + chunk.len();
                let dst = mine.get_mut(off..to).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{loc}: more bytes than asked"))
                })?;
                dst.copy_from_slice(&chunk);
                off = to;
            }
            if off != mine.len() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{loc}: shorter than listed"),
                ));
            }
            Ok::<(), io::Error>(())
        });
    }
    futures::future::try_join_all(reqs).await?;
    Ok(buf)
}

impl StorageFile for RemoteFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let want = buf.len() as u64;
        let end = offset
            .checked_add(want)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows"))?;
        if end > self.len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"));
        }
        if want == 0 {
            return Ok(());
        }
        // Large reads (a segment scan, about 1 MiB each) fetch a large block and the next one in
        // the background; other reads (headers, blocks of index slots or tree nodes) fetch 16
        // times what they ask for, at least 64 KiB, without prefetching: a verifier keeps a
        // dozen tree and index files open, and each holds only that much.
        let scanning = want >= SCAN_READ;
        let small_ahead = want.saturating_mul(16).clamp(64 << 10, READ_AHEAD);
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let st = &mut *guard;
        let mut pos = offset;
        while pos < end {
            let block_end = st.block_at + st.block.len() as u64;
            if st.block_at <= pos && pos < block_end {
                let to = end.min(block_end);
                let (src, dst) = (usize::try_from(pos - st.block_at), usize::try_from(pos - offset));
                let (src, dst) = (src.map_err(io::Error::other)?, dst.map_err(io::Error::other)?);
                let n = usize::try_from(to - pos).map_err(io::Error::other)?;
                buf[dst..dst + n].copy_from_slice(&st.block[src..src + n]);
                pos = to;
                continue;
            }
            // A read that begins a little before the block and runs into it (a segment scan
            // re-reads the frame its previous chunk ended in): the bytes before the block are
            // fetched on their own, and the block and the one being prefetched stay.
            if pos < st.block_at && end > st.block_at && !st.block.is_empty() {
                let gap = self.inner.rt.block_on(fetch(
                    Arc::clone(&self.inner),
                    Arc::clone(&self.pieces),
                    pos,
                    st.block_at,
                    Vec::new(),
                ))?;
                let dst = usize::try_from(pos - offset).map_err(io::Error::other)?;
                buf[dst..dst + gap.len()].copy_from_slice(&gap);
                pos = st.block_at;
                continue;
            }
            // The block holding `pos`: the one fetched in the background if it is that one.
            let mut old = std::mem::take(&mut st.block);
            // A scan reads blocks of READ_AHEAD: kept ones are reused rather than growing the
            // small block the file's first reads (its header) were served from.
            let full = usize::try_from(READ_AHEAD).unwrap_or(usize::MAX);
            if scanning && old.capacity() < full {
                old = self.inner.blocks.take();
            }
            let mut filled = None;
            if let Some((a, b, h)) = st.next.take() {
                if a <= pos && pos < b {
                    filled = Some((a, self.inner.rt.block_on(h).map_err(io::Error::other)??));
                } else {
                    // Not the block wanted (the reader jumped): its buffer goes with it.
                    h.abort();
                }
            }
            let (at, block) = if let Some(f) = filled {
                st.spare = old;
                f
            } else {
                let ahead = if scanning { READ_AHEAD } else { small_ahead };
                let fetch_end = end.max(pos.saturating_add(ahead)).min(self.len);
                let store = Arc::clone(&self.inner);
                let block = self
                    .inner
                    .rt
                    .block_on(fetch(store, Arc::clone(&self.pieces), pos, fetch_end, old))?;
                (pos, block)
            };
            st.block_at = at;
            st.block = block;
            let next_start = at + st.block.len() as u64;
            if scanning && next_start < self.len {
                let next_end = next_start.saturating_add(READ_AHEAD).min(self.len);
                if st.spare.capacity() < full {
                    st.spare = self.inner.blocks.take();
                }
                let h = self.inner.rt.spawn(fetch(
                    Arc::clone(&self.inner),
                    Arc::clone(&self.pieces),
                    next_start,
                    next_end,
                    std::mem::take(&mut st.spare),
                ));
                st.next = Some((next_start, next_end, h));
            }
        }
        Ok(())
    }

    read_only_file!();
}

/// A published file read through the piece cache: each piece downloaded whole once, then read
/// from its local copy.
#[derive(Debug)]
struct CachedFile {
    inner: Arc<Inner>,
    cache: Arc<super::cache::PieceCache>,
    pieces: Vec<Piece>,
    len: u64,
    /// Local copies opened so far, by piece offset.
    open: Mutex<BTreeMap<u64, Arc<std::fs::File>>>,
}

impl StorageFile for CachedFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows"))?;
        if end > self.len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"));
        }
        let mut pos = offset;
        while pos < end {
            let i = self.pieces.partition_point(|p| p.offset <= pos).saturating_sub(1);
            let p = self.pieces.get(i).ok_or_else(|| io::Error::other("no piece"))?;
            let file = {
                let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(f) = open.get(&p.offset) {
                    Arc::clone(f)
                } else {
                    let f = Arc::new(self.cache.open(&self.inner, p)?);
                    open.insert(p.offset, Arc::clone(&f));
                    f
                }
            };
            let to = end.min(p.offset + p.size);
            let (a, b) = (usize::try_from(pos - offset), usize::try_from(to - offset));
            let (a, b) = (a.map_err(io::Error::other)?, b.map_err(io::Error::other)?);
            file.read_exact_at(&mut buf[a..b], pos - p.offset)?;
            pos = to;
        }
        Ok(())
    }

    read_only_file!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::Remote;
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

    /// A file published as pieces of uneven sizes, read back by ranges of every shape (small,
    /// large, straddling blocks and pieces, sequential and random): always the file's bytes.
    #[test]
    fn reads_of_any_range_give_the_files_bytes() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let remote = Remote::new(Arc::clone(&store), "p", "memory:///p").expect("remote");
        let len = 3 * READ_AHEAD as usize + 12_345;
        let file: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        // Uneven pieces, none crossing the publishing grid (MAX_PIECE).
        let grid = MAX_PIECE as usize;
        let cuts = [
            0,
            1,
            70_000,
            5 << 20,
            (5 << 20) + 3,
            grid,
            2 * grid,
            2 * grid + 9,
            3 * grid,
            len,
        ];
        remote.inner.rt.block_on(async {
            for w in cuts.windows(2) {
                let loc = ObjectPath::from(format!("p/segments/x.seg/{:020}", w[0]));
                store
                    .put(&loc, PutPayload::from(file[w[0]..w[1]].to_vec()))
                    .await
                    .expect("put");
            }
        });
        let dir = remote.open().expect("list");
        assert_eq!(dir.anomaly(), None);
        assert_eq!(dir.file_len("segments/x.seg"), Some(len as u64));
        let f = dir.open_read(Path::new("segments/x.seg")).expect("open");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).expect("fits")
        };
        // Front to back in scanner-sized reads (prefetch path), then random ranges.
        let mut at = 0;
        while at < len {
            let n = (700_000 + rand(600_000)).min(len - at);
            let mut buf = vec![0u8; n];
            f.read_exact_at(&mut buf, at as u64).expect("read");
            assert!(buf == file[at..at + n], "sequential read at {at}");
            at += n;
        }
        for _ in 0..200 {
            let a = rand(len);
            let n = [1, 32, 4096, 70_000, 2 << 20][rand(5)].min(len - a);
            let mut buf = vec![0u8; n];
            f.read_exact_at(&mut buf, a as u64).expect("read");
            assert!(buf == file[a..a + n], "read of {n} at {a}");
        }
        let mut buf = [0u8; 2];
        assert_eq!(
            f.read_exact_at(&mut buf, len as u64 - 1).map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
        drop(f);
        remote.inner.fetched.store(0, std::sync::atomic::Ordering::Relaxed);
        // As the segment scanner reads: chunks of about 1 MiB, each starting a little before
        // where the last ended (the frame it ended in). The bytes are the file's, and the two
        // read-ahead blocks survive the scan whole: they go back to the remote's pool when
        // the file is dropped, both full size (a block lost to a needlessly aborted prefetch
        // is replaced by one allocated to the size of the file's last block).
        for round in 0..2 {
            let f = dir.open_read(Path::new("segments/x.seg")).expect("open");
            let mut header = [0u8; 64];
            f.read_exact_at(&mut header, 0).expect("header");
            let mut at = 64;
            while at < len {
                let n = (1 << 20).min(len - at);
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, at as u64).expect("read");
                assert!(buf == file[at..at + n], "scan read at {at}");
                at += n;
                if at < len {
                    at -= rand(70_000);
                }
            }
            drop(f);
            let fetched = remote.inner.fetched.swap(0, std::sync::atomic::Ordering::Relaxed);
            assert!(
                fetched < len as u64 + (1 << 20),
                "round {round}: {fetched} bytes fetched to read a file of {len}"
            );
            let kept = remote.inner.blocks.capacities();
            assert_eq!(kept.len(), 2, "round {round}: {kept:?}");
            assert!(
                kept.iter().all(|&c| c >= READ_AHEAD as usize),
                "round {round}: {kept:?}"
            );
        }
    }

    /// A piece crossing the publishing grid (as no publisher writes it: e.g. one huge object
    /// meant to make a reader or its cache download gigabytes) is out of place.
    #[test]
    fn a_piece_crossing_the_grid_is_out_of_place() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let remote = Remote::new(Arc::clone(&store), "", "memory:///").expect("remote");
        let size = usize::try_from(MAX_PIECE).expect("size") + 1;
        remote.inner.rt.block_on(async {
            let loc = ObjectPath::from(format!("checkpoints.log/{:020}", 0));
            store.put(&loc, PutPayload::from(vec![0u8; size])).await.expect("put");
        });
        let dir = remote.open().expect("list");
        let (object, why) = dir.anomaly().expect("out of place");
        assert!(
            object.ends_with(&format!("{:020}", 0)) && why.contains("boundary"),
            "{object}: {why}"
        );
        assert_eq!(dir.file_len("checkpoints.log"), Some(0));
    }

    /// A deleted or resized piece makes the listing report the object; the file is read up to
    /// the gap only.
    #[test]
    fn pieces_out_of_place_are_named() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let remote = Remote::new(Arc::clone(&store), "", "memory:///").expect("remote");
        remote.inner.rt.block_on(async {
            for (off, n) in [(0u64, 10usize), (10, 5), (20, 5)] {
                let loc = ObjectPath::from(format!("checkpoints.log/{off:020}"));
                store.put(&loc, PutPayload::from(vec![1u8; n])).await.expect("put");
            }
        });
        let dir = remote.open().expect("list");
        let (object, why) = dir.anomaly().expect("a gap");
        assert_eq!(object, format!("memory:///checkpoints.log/{:020}", 20));
        assert!(why.contains("15..20"), "{why}");
        assert_eq!(dir.file_len("checkpoints.log"), Some(15));
    }

    /// An overlapping piece (0..10 then 5..15) ends the file at 10 and is never read: the
    /// file's bytes come from the first piece alone (reading both panicked once: CI, stop 17).
    #[test]
    fn an_overlapping_piece_is_not_read() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let remote = Remote::new(Arc::clone(&store), "", "memory:///").expect("remote");
        remote.inner.rt.block_on(async {
            for (off, byte) in [(0u64, 1u8), (5, 2)] {
                let loc = ObjectPath::from(format!("f/{off:020}"));
                store.put(&loc, PutPayload::from(vec![byte; 10])).await.expect("put");
            }
        });
        let dir = remote.open().expect("list");
        assert!(dir.anomaly().is_some());
        assert_eq!(dir.file_len("f"), Some(10));
        let f = dir.open_read(Path::new("f")).expect("open");
        let mut buf = [0u8; 10];
        f.read_exact_at(&mut buf, 0).expect("read");
        assert_eq!(buf, [1; 10]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any set of pieces (gaps, overlaps, empty ones, hostile names beside them): the file
        /// is the contiguous prefix from offset 0, an anomaly is reported exactly when a piece
        /// is out of place, and reading the whole file gives the pieces' bytes.
        #[test]
        fn any_piece_layout_reads_as_its_contiguous_prefix(
            cuts in proptest::collection::vec((0u64..3000, 0usize..900), 0..8),
            junk in proptest::collection::vec("[a-z0-9./]{1,30}", 0..4),
        ) {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let remote = Remote::new(Arc::clone(&store), "", "memory:///").expect("remote");
            let mut pieces: BTreeMap<u64, usize> = BTreeMap::new();
            for (off, n) in cuts {
                pieces.insert(off, n);
            }
            let byte = |i: u64| (i % 251) as u8;
            remote.inner.rt.block_on(async {
                for (&off, &n) in &pieces {
                    let loc = ObjectPath::from(format!("f/{off:020}"));
                    let data: Vec<u8> = (off..off + n as u64).map(byte).collect();
                    store.put(&loc, PutPayload::from(data)).await.expect("put");
                }
                for j in junk.iter().filter(|j| !j.starts_with("f/")) {
                    if let Ok(loc) = ObjectPath::parse(j) {
                        let _ = store.put(&loc, PutPayload::from(vec![0u8; 3])).await;
                    }
                }
            });
            let dir = remote.open().expect("list");
            // The expected prefix and whether something is out of place.
            let (mut end, mut broken) = (0u64, false);
            for (&off, &n) in &pieces {
                if off != end || n == 0 {
                    broken = true;
                    break;
                }
                end += n as u64;
            }
            if !pieces.is_empty() {
                proptest::prop_assert_eq!(dir.file_len("f"), Some(end));
                proptest::prop_assert_eq!(dir.anomaly().is_some(), broken);
                let f = dir.open_read(Path::new("f")).expect("open");
                let mut buf = vec![0u8; usize::try_from(end).expect("len")];
                f.read_exact_at(&mut buf, 0).expect("read");
                proptest::prop_assert!(buf.iter().enumerate().all(|(i, &b)| b == byte(i as u64)));
                let mut one = [0u8; 1];
                proptest::prop_assert!(f.read_exact_at(&mut one, end).is_err());
            }
        }
    }
}
