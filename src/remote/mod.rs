//! Ledgers on object storage (S3, GCS, Azure, a local path), through the `object_store`
//! crate: [`publish`] uploads what is new in a ledger directory, and [`Remote`] reads a
//! published ledger so that [`verify_remote`], [`crate::LedgerReader::open_with`] (show, prove)
//! and incremental verification work on a bucket as they do on a directory.
//!
//! # The published layout
//!
//! Every file of a ledger directory only ever grows at its end (segments, their indexes, the
//! tree level files, the checkpoint log), except where a redaction erases a payload in place.
//! A file `REL` is published as **pieces**: immutable objects `PREFIX/REL/OFFSET` (`OFFSET` in
//! 20 decimal digits) holding the file's bytes from `OFFSET` on; the file is their
//! concatenation. A piece is written once, with a create-only conditional put
//! (`If-None-Match: *`), so two publishers never overwrite each other: the second one finds
//! the piece there, checks it holds the same bytes, and goes on. The only objects ever
//! replaced are the piece holding a payload a redaction erased (so that the payload is gone
//! from the bucket; with object versioning on, older versions keep it until they are deleted),
//! and `PREFIX/checkpoint`, the newest published checkpoint as a C2SP signed note, replaced by
//! compare-and-swap on its ETag and only by a newer checkpoint consistent with it.
//!
//! A publish uploads the state of the ledger at its newest checkpoint — every file cut where
//! that checkpoint ends it — then moves `checkpoint` forward. A publisher killed at any moment
//! leaves a bucket whose files are prefixes of the ledger's files; the next run uploads the
//! rest. docs/DESIGN.md ("Beyond one machine") says what each party is trusted for.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use provledger::remote::{publish, verify_remote, PublishOptions, Remote};
//! use provledger::{Draft, Ledger, Options, SigningKey, TrustAnchor, VerifyOptions};
//! let (dir, bucket) = (tempfile::tempdir()?, tempfile::tempdir()?);
//! let key = SigningKey::generate()?;
//! let ledger = Ledger::create(dir.path(), key.clone(), "payments", Options::default())?;
//! ledger.append(Draft::application("text/plain", b"refund approved".to_vec()))?;
//! ledger.checkpoint()?;
//! // `s3://bucket/prefix` (credentials and endpoint from the AWS_* variables), `gs://…`,
//! // `az://…`; a local path here.
//! let remote = Remote::from_url(&format!("file://{}/payments", bucket.path().display()))?;
//! let report = publish(dir.path(), &remote, &PublishOptions::default())?;
//! assert_eq!(report.published_size, 2);
//! let anchor = TrustAnchor::PublicKey(key.verifying_key());
//! let verdict = verify_remote(&remote, &anchor, &VerifyOptions::default())?;
//! assert!(verdict.is_ok() && verdict.entries == 2);
//! # Ok(()) }
//! ```
//!
//! The functions here block: call them from a thread of your own (in async code,
//! `tokio::task::spawn_blocking`), not from inside an async task.

mod cache;
mod dir;
mod publish;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

pub use dir::RemoteDir;
pub use publish::{publish, PublishOptions, PublishReport};

use crate::storage::{Backend, LedgerDir};
use crate::verify::{Check, Failure};
use crate::{TrustAnchor, VerifyError, VerifyOptions, VerifyReport};

/// Name of the object holding the newest published checkpoint (a C2SP signed note).
pub const LATEST_CHECKPOINT: &str = "checkpoint";

/// Largest piece a publish uploads in one object (a file's new bytes are split into pieces of
/// at most this size).
pub const MAX_PIECE: u64 = 16 << 20;

/// What went wrong talking to object storage or publishing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The URL could not be parsed or names no supported store.
    #[error("{url}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The object store failed (network, permissions, a missing bucket…).
    #[error("{object}: {source}")]
    Store {
        /// The object (or prefix) concerned, as a URL.
        object: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The bucket holds something this ledger did not write there: a piece whose bytes differ
    /// from the ledger's, pieces that do not follow one another, or a published checkpoint of
    /// another ledger or not consistent with this one (a split view). Nothing was overwritten.
    #[error("{object}: {reason}")]
    Conflict {
        /// The object concerned, as a URL.
        object: String,
        /// What was found.
        reason: String,
    },
    /// The ledger directory could not be read.
    #[error(transparent)]
    Ledger(#[from] crate::ReadError),
    /// The ledger has no checkpoint yet: a publish uploads the state at a signed checkpoint.
    #[error("{dir}: the ledger has no checkpoint yet (run `provledger checkpoint` first)")]
    NoCheckpoint {
        /// The ledger directory.
        dir: std::path::PathBuf,
    },
    /// The local piece cache ([`Remote::with_cache`]) could not be used.
    #[error("piece cache {path}: {source}")]
    Cache {
        /// The file or directory concerned.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime the blocking calls use could not start.
    #[error("starting the I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A published ledger's place: an object store and a prefix in it. A [`Backend`] whose
/// directories are read-only views of published ledgers (`open_dir("")` is the prefix itself).
#[derive(Clone)]
pub struct Remote {
    pub(crate) inner: Arc<Inner>,
    /// Where pieces already read are kept, if anywhere ([`Remote::with_cache`]).
    pub(crate) cache: Option<Arc<cache::PieceCache>>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: ObjectPath,
    /// The URL of the prefix, for messages (`s3://bucket/prefix`).
    pub(crate) url: String,
    pub(crate) rt: tokio::runtime::Runtime,
    /// Read-ahead blocks of the files read through this remote, kept for the next file.
    pub(crate) blocks: BufferPool,
    /// Bytes fetched by range reads so far.
    pub(crate) fetched: std::sync::atomic::AtomicU64,
}

/// Large buffers kept for reuse, so that reading or publishing a ledger of any size allocates
/// them a bounded number of times. Allocating and freeing multi-megabyte buffers once per
/// file instead makes the process's resident memory grow with the number of files: glibc's
/// allocator raises its mmap threshold to the size of the last large buffer freed, and serves
/// the following ones from its heaps, which fragment across threads (measured: verifying from
/// a bucket peaked at 113 MiB at 300 k entries and 137 MiB at 1 M with a live heap under
/// 68 MiB; benches/README.md "Publishing").
#[derive(Debug)]
pub(crate) struct BufferPool {
    bufs: std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    /// Buffers smaller than this are not worth keeping.
    const MIN: usize = 1 << 20;

    /// A pool that keeps at most `keep` buffers.
    pub(crate) fn new(keep: usize) -> Self {
        BufferPool {
            bufs: std::sync::Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A kept buffer (its contents are stale; its length is what it last held), or an empty one.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.bufs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// The capacities of the buffers kept (for tests).
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> Vec<usize> {
        let bufs = self.bufs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        bufs.iter().map(Vec::capacity).collect()
    }

    /// Gives `buf` back for reuse (dropped if small or if the pool is full).
    pub(crate) fn give(&self, buf: Vec<u8>) {
        if buf.capacity() < Self::MIN {
            return;
        }
        let mut bufs = self.bufs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if bufs.len() < self.keep {
            bufs.push(buf);
        }
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("url", &self.url).finish_non_exhaustive()
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.inner.url)
            .field("cache", &self.cache)
            .finish()
    }
}

impl Remote {
    /// The store a URL names (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///path`,
    /// `memory:///`), configured from the environment: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP` and the other
    /// variables `object_store`'s builders read for each service.
    ///
    /// # Errors
    /// [`RemoteError::Url`] for a URL no store is built for.
    pub fn from_url(url: &str) -> Result<Self, RemoteError> {
        let vars = std::env::vars().map(|(k, v)| (k.to_ascii_lowercase(), v));
        Self::from_url_opts(url, vars)
    }

    /// Like [`Remote::from_url`], with the builder options given (keys as `object_store`
    /// names them, e.g. `aws_endpoint`, `aws_allow_http`), not read from the environment.
    ///
    /// # Errors
    /// As [`Remote::from_url`].
    pub fn from_url_opts<I, K, V>(url: &str, options: I) -> Result<Self, RemoteError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let bad = |reason: String| RemoteError::Url {
            url: url.to_string(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        // Only the options the store's builder knows: the environment holds much else.
        let (store, prefix) = object_store::parse_url_opts(&parsed, options).map_err(|e| bad(e.to_string()))?;
        Self::with_store(Arc::from(store), prefix, base_url(url))
    }

    /// A published ledger under `prefix` of `store` (`url` is how messages name it).
    ///
    /// # Errors
    /// [`RemoteError::Runtime`] if the I/O runtime cannot start.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Result<Self, RemoteError> {
        Self::with_store(store, ObjectPath::from(prefix), base_url(url))
    }

    fn with_store(store: Arc<dyn ObjectStore>, prefix: ObjectPath, url: &str) -> Result<Self, RemoteError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("provledger-remote")
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        Ok(Remote {
            cache: None,
            inner: Arc::new(Inner {
                store,
                prefix,
                url: url.to_string(),
                rt,
                // The two blocks of the segment being scanned and of the one read next.
                blocks: BufferPool::new(4),
                fetched: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Keeps every piece read in `dir` (created if needed; one subdirectory per published
    /// ledger) and reads it from there afterwards. Pieces are immutable, so an auditor who
    /// verifies the same bucket again — e.g. `verify --from-checkpoint` after each publish —
    /// downloads only the pieces that are new (or were replaced: a piece is cached under its
    /// name, size, ETag and modification time). Everything read from the cache is verified as
    /// if it came from the bucket. Pieces no longer in the bucket (replaced after a redaction)
    /// are deleted from the cache when the ledger is next opened through it.
    ///
    /// # Errors
    /// [`RemoteError::Cache`] if the directory cannot be created.
    pub fn with_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Result<Self, RemoteError> {
        self.cache = Some(Arc::new(cache::PieceCache::new(dir.into(), &self.inner.url)?));
        Ok(self)
    }

    /// The URL of the published ledger.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The object store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// A read-only view of the published ledger: one listing of the bucket, taken now, cut to
    /// the state its `checkpoint` note names (what a publish still under way has uploaded
    /// beyond it is left out). Problems found are reported by [`RemoteDir::anomaly`] and
    /// [`RemoteDir::rollback`].
    ///
    /// # Errors
    /// [`RemoteError::Store`] if the listing fails.
    pub fn open(&self) -> Result<RemoteDir, RemoteError> {
        let mut dir = RemoteDir::list(Arc::clone(&self.inner))?;
        if let Some(c) = &self.cache {
            c.prune(&dir)?;
            dir.cache = Some(Arc::clone(c));
        }
        if dir.anomaly().is_none() {
            if let Some((note, _)) = self.latest_note()? {
                dir.cut_to_note(&note);
            }
        }
        Ok(dir)
    }

    /// Bytes fetched from the store by range reads through this remote so far (what reading
    /// a published ledger downloaded; pieces read from the cache are not counted).
    #[must_use]
    pub fn bytes_fetched(&self) -> u64 {
        self.inner.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The newest published checkpoint's signed note and its ETag, if any.
    ///
    /// # Errors
    /// [`RemoteError::Store`] if reading it fails.
    pub fn latest_note(&self) -> Result<Option<(String, Option<String>)>, RemoteError> {
        self.inner.latest_note()
    }
}

impl Inner {
    pub(crate) fn object(&self, rel: &str) -> ObjectPath {
        if self.prefix.as_ref().is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix.as_ref()))
        }
    }

    pub(crate) fn object_url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    pub(crate) fn store_err(&self, rel: &str) -> impl FnOnce(object_store::Error) -> RemoteError + '_ {
        let object = self.object_url(rel);
        move |source| RemoteError::Store { object, source }
    }

    fn latest_note(&self) -> Result<Option<(String, Option<String>)>, RemoteError> {
        use object_store::ObjectStoreExt;
        let loc = self.object(LATEST_CHECKPOINT);
        self.rt.block_on(async {
            match self.store.get(&loc).await {
                Ok(r) => {
                    let etag = r.meta.e_tag.clone();
                    if r.meta.size > crate::checkpoint::MAX_NOTE_LEN as u64 {
                        return Err(RemoteError::Conflict {
                            object: self.object_url(LATEST_CHECKPOINT),
                            reason: format!("{} bytes: longer than a signed note can be", r.meta.size),
                        });
                    }
                    let bytes = r.bytes().await.map_err(self.store_err(LATEST_CHECKPOINT))?;
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| RemoteError::Conflict {
                        object: self.object_url(LATEST_CHECKPOINT),
                        reason: "not UTF-8 text".into(),
                    })?;
                    Ok(Some((text, etag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_err(LATEST_CHECKPOINT)(e)),
            }
        })
    }
}

impl Backend for Remote {
    fn open_dir(&self, path: &Path, create: bool) -> std::io::Result<Arc<dyn LedgerDir>> {
        if create {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "a published ledger is read-only",
            ));
        }
        let remote = if path.as_os_str().is_empty() {
            self.clone()
        } else {
            let rel = path.to_string_lossy();
            let inner = &self.inner;
            let prefix = inner.object(rel.trim_matches('/'));
            let url = inner.object_url(rel.trim_matches('/'));
            let mut r = Remote::with_store(Arc::clone(&inner.store), prefix, &url).map_err(std::io::Error::other)?;
            if let Some(c) = &self.cache {
                r = r.with_cache(c.root()).map_err(std::io::Error::other)?;
            }
            r
        };
        let dir = remote.open().map_err(std::io::Error::other)?;
        if dir.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: nothing published there", remote.url()),
            ));
        }
        Ok(Arc::new(dir))
    }
}

/// Verifies a published ledger as [`crate::verify_opts`] verifies a directory (docs/FORMAT.md
/// §9, on the files the pieces make up), in the state the bucket's `checkpoint` note names
/// (see [`Remote::open`]), and checks the bucket itself first: pieces of one file that do not
/// follow one another (one deleted, or replaced by one of another length) are a `format`
/// failure naming the object; a `checkpoint` note that the bucket's checkpoint log does not
/// hold (objects deleted or rolled back after it was published) is a `checkpoint` failure
/// naming it. Without a note (nothing published completely yet), every piece is verified.
///
/// # Errors
/// As [`crate::verify_opts`]; [`VerifyError::Storage`] if the bucket cannot be read.
pub fn verify_remote(remote: &Remote, anchor: &TrustAnchor, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let dir = remote.open().map_err(|e| io_storage(remote, e))?;
    if dir.is_empty() {
        return Err(VerifyError::Storage(crate::StorageError::NotALedger {
            path: remote.url().into(),
            reason: "nothing published there".into(),
        }));
    }
    // Not a ledger's files, or a rolled-back note: say which object, before reading anything.
    let found = (dir.anomaly().map(|a| (Check::Format, a))).or_else(|| dir.rollback().map(|r| (Check::Checkpoint, r)));
    if let Some((check, (object, reason))) = found {
        return Ok(VerifyReport {
            trusted: anchor.describe(),
            failure: Some(Failure {
                seq: None,
                check,
                file: Some(object.into()),
                offset: None,
                message: reason,
            }),
            ..VerifyReport::default()
        });
    }
    crate::verify::verify_dir(&dir, anchor, opts)
}

/// `url` without trailing slashes, but never cut into its `scheme://`.
fn base_url(url: &str) -> &str {
    let keep = url.find("://").map_or(0, |i| i + 3);
    let trimmed = url.trim_end_matches('/');
    if trimmed.len() < keep {
        &url[..keep]
    } else {
        trimmed
    }
}

fn io_storage(remote: &Remote, e: RemoteError) -> VerifyError {
    VerifyError::Storage(crate::StorageError::Io {
        op: "read",
        path: remote.url().into(),
        source: std::io::Error::other(e),
    })
}
