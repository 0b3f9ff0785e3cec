//! [`MemoryBackend`]: a ledger directory tree held in memory, for tests and ephemeral ledgers.
//!
//! It follows the [`LedgerDir`] conventions of the file system backend (plain relative paths
//! only, typed error kinds, an exclusive writer lock per directory, open handles that outlive
//! a removal), so a ledger behaves the same on it as on disk: `tests/memory_backend.rs` runs
//! the same operations on both and compares the outcomes and the files they leave.
//!
//! Unlike the simulated disk of the crate's own tests, it models no power loss: every write is
//! as durable as the process, `sync_data` and `sync_dir` do nothing, and each file is kept
//! once. File contents live behind their own lock, so readers of different files, or many
//! readers of one file, never wait for each other.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::backend::{join_display, Backend, LedgerDir, LockGuard, StorageFile};

/// The bytes of one file, shared by every handle open on it.
type Data = Arc<RwLock<Vec<u8>>>;

/// The directory tree: every directory, every file and every held writer lock, by full path.
#[derive(Debug, Default)]
struct Tree {
    dirs: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, Data>,
    locks: BTreeSet<PathBuf>,
}

/// An in-memory [`Backend`]: ledgers that live as long as the process, with nothing written
/// to disk. Clones share the same tree of files; separate `MemoryBackend::new()` values are
/// separate "disks".
///
/// Use it for tests of code that records decisions, and for ephemeral ledgers (a dry run, a
/// ledger that is checked and then thrown away). Every byte is held in memory until the
/// backend and every ledger and reader opened on it are dropped.
///
/// ```
/// use std::sync::Arc;
/// use provledger::storage::MemoryBackend;
/// use provledger::{verify_opts, Draft, Ledger, Options, SigningKey, TrustAnchor, VerifyOptions};
///
/// let disk = MemoryBackend::new();
/// let operator = SigningKey::generate()?;
/// let options = Options::default().backend(Arc::new(disk.clone()));
/// let ledger = Ledger::create("/ledgers/payments", &operator, "payments", options)?;
/// ledger.append(Draft::application("text/plain", b"refund 42 approved".to_vec()))?;
/// ledger.close()?;
///
/// // Nothing was written to the file system; the ledger verifies from memory.
/// assert!(!std::path::Path::new("/ledgers/payments").exists());
/// let anchor = TrustAnchor::PublicKey(operator.verifying_key());
/// let report = verify_opts(&disk, "/ledgers/payments".as_ref(), &anchor, &VerifyOptions::default())?;
/// assert!(report.is_ok());
/// assert_eq!(report.entries, 2); // genesis + one entry
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    tree: Arc<Mutex<Tree>>,
}

impl MemoryBackend {
    /// An empty tree of files.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

/// A panic while holding a lock leaves plain data behind (every update below is a single
/// insert or remove); keep using it.
fn lock(tree: &Mutex<Tree>) -> MutexGuard<'_, Tree> {
    tree.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read(data: &RwLock<Vec<u8>>) -> RwLockReadGuard<'_, Vec<u8>> {
    data.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(data: &RwLock<Vec<u8>>) -> RwLockWriteGuard<'_, Vec<u8>> {
    data.write().unwrap_or_else(PoisonError::into_inner)
}

fn error(kind: io::ErrorKind, what: &str, path: &Path) -> io::Error {
    io::Error::new(kind, format!("{}: {what}", path.display()))
}

impl Tree {
    /// Checks that `dir` is a directory, as the walk of the file system backend does: each
    /// component from `root` on must be a directory (`NotADirectory` if it is a file,
    /// `NotFound` if it is missing).
    fn check_dir(&self, root: &Path, dir: &Path) -> io::Result<()> {
        for a in dir
            .ancestors()
            .take_while(|a| a.starts_with(root))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if self.files.contains_key(a) {
                return Err(error(io::ErrorKind::NotADirectory, "not a directory", a));
            }
            if !self.dirs.contains(a) {
                return Err(error(io::ErrorKind::NotFound, "no such directory", a));
            }
        }
        Ok(())
    }

    fn insert_dirs(&mut self, path: &Path) {
        for a in path.ancestors() {
            self.dirs.insert(a.to_path_buf());
        }
    }
}

impl Backend for MemoryBackend {
    fn open_dir(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LedgerDir>> {
        let mut t = lock(&self.tree);
        if let Some(file) = path.ancestors().find(|a| t.files.contains_key(*a)) {
            return Err(error(io::ErrorKind::NotADirectory, "not a directory", file));
        }
        if create {
            t.insert_dirs(path);
        } else if !t.dirs.contains(path) {
            return Err(error(io::ErrorKind::NotFound, "no such directory", path));
        }
        Ok(Arc::new(MemoryDir {
            tree: Arc::clone(&self.tree),
            root: path.to_path_buf(),
        }))
    }
}

/// An open directory of a [`MemoryBackend`].
#[derive(Debug)]
struct MemoryDir {
    tree: Arc<Mutex<Tree>>,
    root: PathBuf,
}

impl MemoryDir {
    /// The full path of `rel`, which must be plain relative components (as on the file
    /// system: `..`, `.`, roots and prefixes are refused). `allow_empty` for directories,
    /// where the empty path is the ledger directory itself.
    fn full(&self, rel: &Path, allow_empty: bool) -> io::Result<PathBuf> {
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(io::Error::other(format!(
                "{}: not a plain relative path inside the ledger",
                rel.display()
            )));
        }
        if !allow_empty && rel.as_os_str().is_empty() {
            return Err(io::Error::other("empty path inside the ledger"));
        }
        Ok(join_display(&self.root, rel))
    }

    /// The full path of the file `rel`, after checking that its directory exists.
    fn file_path(&self, t: &Tree, rel: &Path) -> io::Result<PathBuf> {
        let path = self.full(rel, false)?;
        t.check_dir(&self.root, path.parent().unwrap_or(&self.root))?;
        Ok(path)
    }

    fn open(&self, rel: &Path, writable: bool, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut t = lock(&self.tree);
        let path = self.file_path(&t, rel)?;
        let exists = t.files.contains_key(&path) || t.dirs.contains(&path);
        if create_new {
            if exists {
                return Err(error(io::ErrorKind::AlreadyExists, "already exists", &path));
            }
            t.files.insert(path.clone(), Data::default());
        }
        if t.dirs.contains(&path) {
            // A directory where a regular file is wanted: the file system refuses it when
            // opening for writing (`EISDIR`), or on the descriptor when reading.
            let kind = if writable {
                io::ErrorKind::IsADirectory
            } else {
                io::ErrorKind::InvalidInput
            };
            return Err(error(kind, "not a regular file", &path));
        }
        let data = t
            .files
            .get(&path)
            .cloned()
            .ok_or_else(|| error(io::ErrorKind::NotFound, "no such file", &path))?;
        Ok(Box::new(MemoryFile { data, writable }))
    }
}

impl LedgerDir for MemoryDir {
    fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>> {
        self.open(rel, false, false)
    }

    fn open_write(&self, rel: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        self.open(rel, true, create_new)
    }

    fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>> {
        let path = self.full(rel_dir, true)?;
        let t = lock(&self.tree);
        t.check_dir(&self.root, &path)?;
        let children = t
            .files
            .keys()
            .chain(t.dirs.iter())
            .filter(|p| p.parent() == Some(&path));
        Ok(children
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    fn remove(&self, rel: &Path) -> io::Result<()> {
        let mut t = lock(&self.tree);
        let path = self.file_path(&t, rel)?;
        if t.dirs.contains(&path) {
            return Err(error(io::ErrorKind::IsADirectory, "is a directory", &path));
        }
        // Open handles keep the bytes, like an unlinked file's descriptors.
        t.files
            .remove(&path)
            .map(drop)
            .ok_or_else(|| error(io::ErrorKind::NotFound, "no such file", &path))
    }

    fn sync_dir(&self, rel_dir: &Path) -> io::Result<()> {
        let path = self.full(rel_dir, true)?;
        lock(&self.tree).check_dir(&self.root, &path)
    }

    fn create_subdir(&self, rel: &Path) -> io::Result<()> {
        let path = self.full(rel, true)?;
        let mut t = lock(&self.tree);
        t.check_dir(&self.root, &self.root)?;
        for a in path.ancestors().take_while(|a| a.starts_with(&self.root)) {
            if t.files.contains_key(a) {
                return Err(error(io::ErrorKind::NotADirectory, "not a directory", a));
            }
        }
        t.insert_dirs(&path);
        Ok(())
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>> {
        if !lock(&self.tree).locks.insert(self.root.clone()) {
            return Ok(None);
        }
        Ok(Some(Box::new(MemoryLock {
            tree: Arc::clone(&self.tree),
            path: self.root.clone(),
        })))
    }

    fn display_path(&self, rel: &Path) -> PathBuf {
        join_display(&self.root, rel)
    }
}

/// The writer lock of one directory; dropping it releases the lock.
#[derive(Debug)]
struct MemoryLock {
    tree: Arc<Mutex<Tree>>,
    path: PathBuf,
}

impl LockGuard for MemoryLock {}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        lock(&self.tree).locks.remove(&self.path);
    }
}

/// A handle on a file's bytes.
#[derive(Debug)]
struct MemoryFile {
    data: Data,
    writable: bool,
}

/// An offset or length as an index. As on the file system, one past `i64::MAX` is invalid
/// (`EINVAL`), whatever the file's length.
fn offset_of(offset: u64) -> io::Result<usize> {
    i64::try_from(offset)
        .ok()
        .and_then(|o| usize::try_from(o).ok())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

impl MemoryFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only"))
        }
    }
}

impl StorageFile for MemoryFile {
    fn len(&self) -> io::Result<u64> {
        Ok(read(&self.data).len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = read(&self.data);
        let start = offset_of(offset)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let start = offset_of(offset)?;
        let end = start
            .checked_add(buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut data = write(&self.data);
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        write(&self.data).resize(offset_of(len)?, 0);
        Ok(())
    }
}
