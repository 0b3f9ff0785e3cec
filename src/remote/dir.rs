//! A published ledger read as a directory: each file is the concatenation of its pieces.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;

use super::{Inner, RemoteError};
use crate::storage::{LedgerDir, LockGuard, StorageFile};

/// Digits of a piece's offset in its object name.
pub(crate) const OFFSET_DIGITS: usize = 20;

/// Bytes a read fetches ahead of what it was asked for (a verifier reads files front to back,
/// in chunks; fewer, larger range requests run at the store's throughput).
const READ_AHEAD: u64 = 16 << 20;
/// Range requests one read-ahead splits into, fetched concurrently.
const PARALLEL_RANGES: u64 = 8;

/// One immutable object of a published file.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) location: ObjectPath,
    pub(crate) e_tag: Option<String>,
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
                if p.offset != end || p.size == 0 {
                    let what = if p.offset > end {
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
        Ok(RemoteDir { inner, files, anomaly })
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

impl Piece {
    fn location_rel<'a>(&'a self, strip: &str) -> &'a str {
        self.location
            .as_ref()
            .strip_prefix(strip)
            .unwrap_or(self.location.as_ref())
    }
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
        Ok(Box::new(RemoteFile {
            inner: Arc::clone(&self.inner),
            pieces: Arc::new(info.pieces.clone()),
            len: info.len,
            cache: Mutex::new(None),
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

/// A published file: positional reads become range requests on its pieces, with read-ahead.
#[derive(Debug)]
struct RemoteFile {
    inner: Arc<Inner>,
    pieces: Arc<Vec<Piece>>,
    len: u64,
    /// The last block fetched: (offset, bytes).
    cache: Mutex<Option<(u64, bytes::Bytes)>>,
}

impl RemoteFile {
    /// Fetches `[start, end)` (within `len`) with up to `PARALLEL_RANGES` concurrent requests.
    fn fetch(&self, start: u64, end: u64) -> io::Result<bytes::Bytes> {
        // The ranges of pieces covering [start, end), split for concurrency.
        let mut parts = Vec::new();
        let step = ((end - start) / PARALLEL_RANGES).max(1 << 20);
        for p in self.pieces.iter() {
            let (a, b) = (p.offset.max(start), (p.offset + p.size).min(end));
            let mut at = a;
            while at < b {
                let to = (at + step).min(b);
                parts.push((p.location.clone(), at - p.offset, to - p.offset));
                at = to;
            }
        }
        let store = Arc::clone(&self.inner.store);
        let got: Vec<bytes::Bytes> = self
            .inner
            .rt
            .block_on(async move {
                let reqs = parts.into_iter().map(|(loc, a, b)| {
                    let store = Arc::clone(&store);
                    async move { store.get_range(&loc, a..b).await }
                });
                futures::future::try_join_all(reqs).await
            })
            .map_err(io::Error::other)?;
        if got.len() == 1 {
            return Ok(got.into_iter().next().unwrap_or_default());
        }
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        for g in got {
            out.extend_from_slice(&g);
        }
        Ok(out.into())
    }
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
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = cache
            .as_ref()
            .is_some_and(|(at, b)| *at <= offset && end <= at + b.len() as u64);
        if !hit {
            // Small reads (headers, index slots, tree nodes) fetch only what they need plus a
            // little; a reader scanning front to back gets a large block.
            let ahead = if want >= 64 << 10 { READ_AHEAD } else { 64 << 10 };
            let fetch_end = end.max(offset.saturating_add(ahead)).min(self.len);
            let got = self.fetch(offset, fetch_end)?;
            if (got.len() as u64) < end - offset {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "piece shorter than listed",
                ));
            }
            *cache = Some((offset, got));
        }
        let Some((at, b)) = cache.as_ref() else {
            return Err(io::Error::other("read cache empty"));
        };
        let from = usize::try_from(offset - at).map_err(io::Error::other)?;
        buf.copy_from_slice(&b[from..from + buf.len()]);
        Ok(())
    }

    fn write_all_at(&mut self, _buf: &[u8], _offset: u64) -> io::Result<()> {
        Err(read_only())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        Err(read_only())
    }

    fn set_len(&mut self, _len: u64) -> io::Result<()> {
        Err(read_only())
    }
}
