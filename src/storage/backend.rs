//! The only place that touches `std::fs`: a small I/O trait and its operating-system
//! implementation. Tests swap in [`super::SimBackend`] to cut power at any point.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// A file opened through a [`Backend`]. Offsets are absolute; there is no cursor.
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
}

/// Held while a writer owns a ledger directory; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// File-system operations the ledger needs, and nothing more.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    ///
    /// # Errors
    /// The operating system's error.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not sorted).
    ///
    /// # Errors
    /// The operating system's error (`NotFound` if it does not exist).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing regular file for reading. Symbolic links are refused.
    ///
    /// # Errors
    /// The operating system's error, or `InvalidInput` for a non-regular file.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Opens a regular file for reading and writing; `create_new` creates it and fails if it
    /// exists. Symbolic links are refused.
    ///
    /// # Errors
    /// The operating system's error, or `InvalidInput` for a non-regular file.
    fn open_write(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>>;
    /// Makes a directory's entries (created, removed files) durable.
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Removes a file.
    ///
    /// # Errors
    /// The operating system's error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) without waiting; `Ok(None)` if
    /// someone else holds it.
    ///
    /// # Errors
    /// The operating system's error.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>>;
}

/// The real file system (`std::fs`), with OS advisory locks (`flock`).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdBackend;

#[derive(Debug)]
struct StdFile(File);

#[derive(Debug)]
struct StdLock(#[allow(dead_code)] File);

impl LockGuard for StdLock {}

fn refuse_non_regular(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (symbolic links are refused)",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Backend for StdBackend {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(path)? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        refuse_non_regular(path)?;
        Ok(Box::new(StdFile(File::open(path)?)))
    }

    fn open_write(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        refuse_non_regular(path)?;
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        if create_new {
            o.create_new(true);
        }
        Ok(Box::new(StdFile(o.open(path)?)))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(path)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(())
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        refuse_non_regular(path)?;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Box::new(StdLock(f)))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl StorageFile for StdFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
    }

    #[cfg(unix)]
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.0.seek_read(buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    #[cfg(windows)]
    fn write_all_at(&mut self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            let n = self.0.seek_write(buf, offset)?;
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}
