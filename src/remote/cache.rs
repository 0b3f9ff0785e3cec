//! A local copy of the pieces already read from a bucket (see [`super::Remote::with_cache`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use object_store::ObjectStoreExt;

use super::dir::{Piece, RemoteDir};
use super::{Inner, RemoteError};

/// Pieces cached under `root/<ledger>/<key>`, where `<ledger>` is a hash of the bucket URL and
/// `<key>` a hash of a piece's name, size, ETag and modification time.
#[derive(Debug)]
pub(crate) struct PieceCache {
    root: PathBuf,
    dir: PathBuf,
}

fn cache_err(path: &Path) -> impl FnOnce(io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Cache {
        path: path.to_path_buf(),
        source,
    }
}

impl PieceCache {
    pub(crate) fn new(root: PathBuf, url: &str) -> Result<Self, RemoteError> {
        let dir = root.join(&blake3::hash(url.as_bytes()).to_hex()[..32]);
        std::fs::create_dir_all(&dir).map_err(cache_err(&dir))?;
        Ok(PieceCache { root, dir })
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.root.clone()
    }

    fn path(&self, p: &Piece) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(p.location.as_ref().as_bytes());
        h.update(&p.size.to_le_bytes());
        h.update(p.e_tag.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
        h.update(p.last_modified.as_bytes());
        self.dir.join(h.finalize().to_hex().as_str())
    }

    /// The cached copy of `p`, downloaded first if it is not there (or has another length).
    pub(crate) fn open(&self, inner: &Inner, p: &Piece) -> io::Result<File> {
        let path = self.path(p);
        if let Ok(f) = File::open(&path) {
            if f.metadata().is_ok_and(|m| m.len() == p.size) {
                return Ok(f);
            }
        }
        // Streamed to a copy aside (never more than the listed size), then renamed: a reader
        // never sees a partial copy, and a piece is never held in memory whole.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = inner.rt.block_on(async {
            use futures::StreamExt as _;
            let mut f = File::create(&tmp)?;
            let mut body = inner
                .store
                .get(&p.location)
                .await
                .map_err(io::Error::other)?
                .into_stream();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(io::Error::other)?;
                n += chunk.len() as u64;
                if n > p.size {
                    break;
                }
                f.write_all(&chunk)?;
            }
            Ok::<u64, io::Error>(n)
        });
        match written {
            Ok(n) if n == p.size => {}
            other => {
                let _ = std::fs::remove_file(&tmp);
                let n = other?;
                let got = if n > p.size { "more bytes" } else { "fewer bytes" };
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {got} than the {} listed", p.location, p.size),
                ));
            }
        }
        std::fs::rename(&tmp, &path)?;
        File::open(&path)
    }

    /// Deletes the cached pieces the bucket no longer lists (replaced or removed), so that an
    /// erased payload does not outlive its piece here.
    pub(crate) fn prune(&self, listing: &RemoteDir) -> Result<(), RemoteError> {
        let keep: HashSet<PathBuf> = listing
            .files
            .values()
            .flat_map(|f| f.pieces.iter().map(|p| self.path(p)))
            .collect();
        let entries = std::fs::read_dir(&self.dir).map_err(cache_err(&self.dir))?;
        for e in entries {
            let path = e.map_err(cache_err(&self.dir))?.path();
            if !keep.contains(&path) {
                std::fs::remove_file(&path).map_err(cache_err(&path))?;
            }
        }
        Ok(())
    }
}
