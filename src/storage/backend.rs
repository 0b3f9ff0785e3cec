//! The only place that touches the ledger's files: a small I/O trait and its operating-system
//! implementation. Tests swap in [`super::SimBackend`] to cut power at any point.
//!
//! A ledger directory is opened once, as a handle ([`LedgerDir`]); every file of the ledger is
//! then opened *relative to that handle*, one path component at a time, never following a
//! symbolic link, without blocking, and must turn out to be a regular file (checked with
//! `fstat` on the opened descriptor, so nothing can be swapped in between a check and the
//! open). Renaming or replacing a file, `segments/` or `tree/` with a symbolic link, a FIFO or
//! a device while the ledger is in use therefore yields an error naming the path, never an
//! access to something outside the ledger, and never a hang.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A file opened through a [`LedgerDir`]. Offsets are absolute; there is no cursor.
#[allow(clippy::len_without_is_empty)] // a file's emptiness is never the question asked
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Current length in bytes.
    ///
    /// # Errors
    /// The operating system's error.
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; `UnexpectedEof` if the file is shorter.
    ///
    /// # Errors
    /// The operating system's error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    ///
    /// # Errors
    /// The operating system's error (e.g. disk full); part of `buf` may have been written.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes written data durable (`fdatasync`).
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates or extends the file.
    ///
    /// # Errors
    /// The operating system's error.
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// Extends the file to `len` bytes of zeros **with the disk space allocated** (Linux
    /// `fallocate`), so that writes below `len` cannot fail for lack of space and syncing them
    /// does not change the file's length. The writer reserves space this way ahead of writes
    /// it is about to sync (docs/FORMAT.md §7.5). `Ok(false)` — the default — when the backend
    /// or the file system cannot; nothing is changed then and the writer does not reserve.
    ///
    /// # Errors
    /// The operating system's error (e.g. no space left); the file's length may then have
    /// grown by part of the request.
    fn reserve(&mut self, len: u64) -> io::Result<bool> {
        let _ = len;
        Ok(false)
    }

    /// A second handle on the same open file, whose [`StorageFile::sync_data`] another thread
    /// may call while this handle keeps writing: the writer syncs a busy segment in the
    /// background when its unsynced bytes pass half the torn-tail bound, instead of stopping
    /// to wait. `None` (the default) if the backend cannot: the writer then syncs in line.
    fn sync_handle(&self) -> Option<Box<dyn StorageFile>> {
        None
    }
}

/// Held while a writer owns a ledger directory; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// Opens ledger directories. The path given may itself be a symbolic link (it is the one the
/// user named); nothing inside the directory is ever followed.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Opens the directory `path` as a handle, creating it and its parents first when
    /// `create` is set.
    ///
    /// # Errors
    /// The operating system's error: `NotFound` if it does not exist (and `create` is unset),
    /// `NotADirectory` if it is not a directory.
    fn open_dir(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LedgerDir>>;
}

/// An open ledger directory. Every `rel` path is relative to it (e.g. `segments/….seg`,
/// `checkpoints.log`; the empty path is the directory itself) and is resolved one component
/// at a time without following symbolic links.
///
/// Error conventions, which the callers turn into typed errors: `InvalidInput` for a path
/// that is a symbolic link, a FIFO, a socket, a device or a directory where a regular file is
/// wanted; `NotADirectory` for a subdirectory on the way that is a symbolic link or not a
/// directory; `NotFound` for a missing file; `AlreadyExists` from `open_write(_, true)`.
pub trait LedgerDir: Send + Sync + fmt::Debug {
    /// Opens an existing regular file for reading.
    ///
    /// # Errors
    /// The operating system's error, or one of the conventions above.
    fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Opens a regular file for reading and writing; `create_new` creates it and fails if
    /// anything (even a dangling symbolic link) already has that name.
    ///
    /// # Errors
    /// As [`LedgerDir::open_read`].
    fn open_write(&self, rel: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>>;
    /// Names of the entries of a subdirectory (not sorted).
    ///
    /// # Errors
    /// The operating system's error (`NotFound` if it does not exist).
    fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>>;
    /// Removes a file (a symbolic link is removed, not followed).
    ///
    /// # Errors
    /// The operating system's error.
    fn remove(&self, rel: &Path) -> io::Result<()>;
    /// Makes a directory's entries (created, removed files) durable.
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_dir(&self, rel_dir: &Path) -> io::Result<()>;
    /// Creates a subdirectory if it does not exist; an existing symbolic link or non-directory
    /// of that name is an error.
    ///
    /// # Errors
    /// The operating system's error, or `NotADirectory`.
    fn create_subdir(&self, rel: &Path) -> io::Result<()>;
    /// Takes the writer lock on the directory itself, without waiting; `Ok(None)` if someone
    /// else holds it. Nothing inside the directory can be removed to release it.
    ///
    /// # Errors
    /// The operating system's error.
    fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>>;
    /// The full path of `rel` (for messages; never opened by path).
    fn display_path(&self, rel: &Path) -> PathBuf;
}

/// `root` joined with `rel`, the empty `rel` giving `root` itself.
pub(crate) fn join_display(root: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// The components of a path inside a ledger; `..`, `.`, roots and prefixes are refused.
fn components(rel: &Path) -> io::Result<Vec<&std::ffi::OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::other(format!(
                "{}: not a plain relative path inside the ledger",
                rel.display()
            ))),
        })
        .collect()
}

/// The error for something that is not a regular file where one is wanted.
fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (symbolic links, FIFOs, sockets and devices are refused)",
    )
}

/// The real file system, through `openat` relative to the directory handle, with an `flock` on
/// the directory itself as the writer lock.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdBackend;

#[cfg(not(unix))]
impl Backend for StdBackend {
    fn open_dir(&self, _path: &Path, _create: bool) -> io::Result<Arc<dyn LedgerDir>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the file-system backend needs Unix (openat, O_NOFOLLOW, flock)",
        ))
    }
}

#[cfg(unix)]
pub(crate) use unix::open_input;

#[cfg(unix)]
mod unix {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags};
    use rustix::io::Errno;

    use super::{components, join_display, not_regular, Backend, LedgerDir, LockGuard, StdBackend, StorageFile};

    /// Flags every open of a ledger file carries: no link following, no blocking (a FIFO
    /// must not hang the open), no controlling terminal, closed on exec.
    fn file_flags() -> OFlags {
        OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
    }

    fn dir_flags() -> OFlags {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC
    }

    #[derive(Debug)]
    struct StdDir {
        fd: OwnedFd,
        path: PathBuf,
    }

    #[derive(Debug)]
    struct StdFile(File);

    #[derive(Debug)]
    struct StdLock(#[allow(dead_code)] OwnedFd);

    impl LockGuard for StdLock {}

    /// A directory to open a name in: the ledger root (borrowed) or a subdirectory.
    enum Parent<'a> {
        Root(BorrowedFd<'a>),
        Sub(OwnedFd),
    }

    impl AsFd for Parent<'_> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            match self {
                Parent::Root(fd) => *fd,
                Parent::Sub(fd) => fd.as_fd(),
            }
        }
    }

    /// Opens a regular file `name` in `dir` (never following a link, never blocking), then
    /// checks with `fstat` on the descriptor that it is a regular file.
    fn open_regular(dir: impl AsFd, name: &OsStr, flags: OFlags) -> io::Result<File> {
        let fd = match rfs::openat(dir, name, flags | file_flags(), Mode::from_raw_mode(0o666)) {
            Ok(fd) => fd,
            // ELOOP: a symbolic link (O_NOFOLLOW); EMLINK: the same on FreeBSD; ENXIO: a
            // socket, or a FIFO opened for writing with no reader.
            Err(e) if [Errno::LOOP, Errno::MLINK, Errno::NXIO].contains(&e) => return Err(not_regular()),
            Err(e) => return Err(e.into()),
        };
        check_regular(&fd)?;
        Ok(File::from(fd))
    }

    fn check_regular(fd: impl AsFd) -> io::Result<()> {
        let st = rfs::fstat(fd)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
            Ok(())
        } else {
            Err(not_regular())
        }
    }

    impl StdDir {
        /// Opens subdirectory `name` of `parent`, refusing a symbolic link or non-directory.
        fn open_subdir(&self, parent: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
            rfs::openat(parent, name, dir_flags(), Mode::empty()).map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR | Errno::MLINK => io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!(
                        "{} is a symbolic link or not a directory (never followed)",
                        self.path.join(name).display()
                    ),
                ),
                e => e.into(),
            })
        }

        /// The directory `comps` name, walked from the root one component at a time.
        fn walk(&self, comps: &[&OsStr]) -> io::Result<Parent<'_>> {
            let mut at = Parent::Root(self.fd.as_fd());
            for c in comps {
                at = Parent::Sub(self.open_subdir(&at, c)?);
            }
            Ok(at)
        }

        /// The directory holding `rel`, and its last component.
        fn parent_of<'r>(&self, rel: &'r Path) -> io::Result<(Parent<'_>, &'r OsStr)> {
            let comps = components(rel)?;
            let (name, dirs) = comps
                .split_last()
                .ok_or_else(|| io::Error::other("empty path inside the ledger"))?;
            Ok((self.walk(dirs)?, name))
        }
    }

    impl Backend for StdBackend {
        fn open_dir(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LedgerDir>> {
            if create {
                std::fs::create_dir_all(path)?;
            }
            // The named path may be a symbolic link: following it is what the user asked for.
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = rfs::open(path, flags, Mode::empty()).map_err(|e| match e {
                Errno::NOTDIR => io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                e => io::Error::from(e),
            })?;
            Ok(Arc::new(StdDir {
                fd,
                path: path.to_path_buf(),
            }))
        }
    }

    impl LedgerDir for StdDir {
        fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>> {
            let (dir, name) = self.parent_of(rel)?;
            Ok(Box::new(StdFile(open_regular(dir, name, OFlags::RDONLY)?)))
        }

        fn open_write(&self, rel: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
            let (dir, name) = self.parent_of(rel)?;
            let mut flags = OFlags::RDWR;
            if create_new {
                flags |= OFlags::CREATE | OFlags::EXCL;
            }
            Ok(Box::new(StdFile(open_regular(dir, name, flags)?)))
        }

        fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>> {
            let dir = self.walk(&components(rel_dir)?)?;
            let mut out = Vec::new();
            for e in rfs::Dir::read_from(&dir)? {
                let e = e?;
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    out.push(String::from_utf8_lossy(name).into_owned());
                }
            }
            Ok(out)
        }

        fn remove(&self, rel: &Path) -> io::Result<()> {
            let (dir, name) = self.parent_of(rel)?;
            Ok(rfs::unlinkat(dir, name, AtFlags::empty())?)
        }

        fn sync_dir(&self, rel_dir: &Path) -> io::Result<()> {
            let dir = self.walk(&components(rel_dir)?)?;
            Ok(rfs::fsync(dir)?)
        }

        fn create_subdir(&self, rel: &Path) -> io::Result<()> {
            let mut at = Parent::Root(self.fd.as_fd());
            for c in components(rel)? {
                match rfs::mkdirat(&at, c, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                at = Parent::Sub(self.open_subdir(&at, c)?);
            }
            Ok(())
        }

        fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>> {
            // A descriptor of its own (a lock belongs to an open file description), closed
            // on exec so a child the writer spawns does not keep the ledger locked.
            let fd = rfs::openat(&self.fd, ".", dir_flags(), Mode::empty())?;
            match rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(Some(Box::new(StdLock(fd)))),
                Err(Errno::WOULDBLOCK) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        fn display_path(&self, rel: &Path) -> PathBuf {
            join_display(&self.path, rel)
        }
    }

    impl StorageFile for StdFile {
        fn len(&self) -> io::Result<u64> {
            Ok(self.0.metadata()?.len())
        }

        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
        }

        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
            std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
        }

        fn sync_handle(&self) -> Option<Box<dyn StorageFile>> {
            // A duplicate descriptor of the same open file: its fdatasync flushes this file.
            self.0
                .try_clone()
                .ok()
                .map(|f| Box::new(StdFile(f)) as Box<dyn StorageFile>)
        }

        fn sync_data(&mut self) -> io::Result<()> {
            self.0.sync_data()
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.0.set_len(len)
        }

        #[cfg(target_os = "linux")]
        fn reserve(&mut self, len: u64) -> io::Result<bool> {
            let now = self.0.metadata()?.len();
            if len <= now {
                return Ok(true);
            }
            match rfs::fallocate(&self.0, rfs::FallocateFlags::empty(), now, len - now) {
                Ok(()) => Ok(true),
                // Not supported by this file system (or kernel): write without reserving.
                Err(Errno::OPNOTSUPP | Errno::NOSYS) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }

    /// Opens an input file the user named (following a symbolic link is fine: the user chose
    /// the path), without blocking, and checks on the descriptor that it is a regular file.
    pub(crate) fn open_input(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rfs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NXIO) => return Err(not_regular()),
            Err(e) => return Err(e.into()),
        };
        check_regular(&fd)?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}

#[cfg(not(unix))]
pub(crate) fn open_input(path: &Path) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok((file, meta))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_a_ledger_are_plain_and_links_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"secret").unwrap();
        let root = StdBackend.open_dir(&tmp.path().join("ledger"), true).unwrap();
        root.create_subdir(Path::new("segments")).unwrap();
        for bad in ["../outside", "/etc/passwd", "segments/../../outside", "./x", ""] {
            let e = root.open_read(Path::new(bad)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Other, "{bad}: {e}");
        }
        std::os::unix::fs::symlink(&outside, tmp.path().join("ledger/link")).unwrap();
        let e = root.open_write(Path::new("link"), false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = root.open_write(Path::new("link"), true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("ledger/tree")).unwrap();
        let e = root.open_read(Path::new("tree/outside")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
        assert!(e.to_string().contains("symbolic link or not a directory"), "{e}");
        let e = root.create_subdir(Path::new("tree")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
        // The directory itself is locked: a second handle cannot take the lock.
        let guard = root.try_lock().unwrap().expect("first lock");
        let again = StdBackend.open_dir(&tmp.path().join("ledger"), false).unwrap();
        assert!(again.try_lock().unwrap().is_none());
        drop(guard);
        assert!(again.try_lock().unwrap().is_some());
    }
}
