//! An in-memory [`Backend`] that models power loss and failing disks, for tests and fuzzing.
//!
//! Every file keeps the bytes written so far and the bytes last made durable by `sync_data`.
//! [`SimBackend::crash`] throws away everything not synced — file contents back to their
//! synced state, files whose directory entry was never synced disappear — and releases the
//! writer lock, as if the process and the machine died at that instant. A write budget makes
//! writes fail part-way (disk full) once it is spent.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::backend::{join_display, Backend, LedgerDir, LockGuard, StorageFile};

#[derive(Debug, Default)]
struct SimFile {
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Bytes below this offset have their space allocated ([`StorageFile::reserve`]):
    /// writing them takes nothing from the write budget.
    allocated: usize,
    /// Syncs of this file started so far.
    syncs_started: u64,
    /// The sync whose start the `synced` bytes are from (a slow sync that ends after a later
    /// one leaves the later one's bytes).
    synced_by: u64,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, SimFile>,
    /// Files whose directory entry is durable.
    durable_names: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    /// Bytes that may still be written before writes fail with "no space left".
    write_budget: Option<u64>,
    /// Make every `sync_data` fail.
    fail_sync: bool,
    /// How long every `sync_data` takes (`None`: no time at all).
    sync_delay: Option<std::time::Duration>,
    /// Make `reserve` report that space cannot be allocated ahead (a file system without
    /// `fallocate`).
    no_reserve: bool,
    /// Bumped by every crash; lock guards from before a crash release nothing.
    epoch: u64,
}

/// A simulated disk. Clones share the same disk.
///
/// ```
/// use provledger::storage::SimBackend;
/// let disk = SimBackend::new();
/// disk.crash(); // loses nothing: nothing was written
/// ```
#[derive(Debug, Clone, Default)]
pub struct SimBackend {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimBackend {
    /// An empty disk.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Power loss: every file returns to its last synced bytes, unsynced files vanish, locks
    /// are released.
    pub fn crash(&self) {
        let mut s = lock(&self.state);
        let durable = s.durable_names.clone();
        s.files.retain(|p, _| durable.contains(p));
        for f in s.files.values_mut() {
            f.data.clone_from(&f.synced);
            f.allocated = f.allocated.min(f.data.len());
        }
        s.locks.clear();
        s.epoch += 1;
    }

    /// After `bytes` more bytes are written, writes fail with "no space left on device"
    /// (the write that crosses the limit is partly done). `None` removes the limit.
    pub fn set_write_budget(&self, bytes: Option<u64>) {
        lock(&self.state).write_budget = bytes;
    }

    /// Makes [`StorageFile::reserve`] report that it cannot allocate space ahead (`true`), as on
    /// a file system without `fallocate`, or allocate it (`false`, the default).
    pub fn set_no_reserve(&self, no: bool) {
        lock(&self.state).no_reserve = no;
    }

    /// Makes every `sync_data` fail (`true`) or succeed (`false`).
    pub fn set_fail_sync(&self, fail: bool) {
        lock(&self.state).fail_sync = fail;
    }

    /// Makes every `sync_data` take `delay` (`None`: no time), as a real device does: what was
    /// written when a sync started is durable when it returns; a crash (or syncs made to fail)
    /// while it runs makes it fail. Concurrent syncs overlap, as they may on a real device.
    pub fn set_sync_delay(&self, delay: Option<std::time::Duration>) {
        lock(&self.state).sync_delay = delay;
    }

    /// The current (possibly unsynced) bytes of a file.
    #[must_use]
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        lock(&self.state).files.get(path).map(|f| f.data.clone())
    }

    /// Replaces a file's bytes, written and synced (to plant damage).
    pub fn set_file_bytes(&self, path: &Path, bytes: Vec<u8>) {
        let mut s = lock(&self.state);
        s.durable_names.insert(path.to_path_buf());
        let f = s.files.entry(path.to_path_buf()).or_default();
        f.synced.clone_from(&bytes);
        f.data = bytes;
    }

    /// Paths of all files.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        lock(&self.state).files.keys().cloned().collect()
    }
}

#[derive(Debug)]
struct SimHandle {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    writable: bool,
}

#[derive(Debug)]
struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    epoch: u64,
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        if s.epoch == self.epoch {
            s.locks.remove(&self.path);
        }
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl SimBackend {
    /// Creates a directory and its parents (to lay out a ledger directory by hand).
    ///
    /// # Errors
    /// None on the simulated disk; the `Result` mirrors `std::fs::create_dir_all`.
    pub fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = lock(&self.state);
        for a in path.ancestors() {
            s.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    /// Removes a file.
    ///
    /// # Errors
    /// `NotFound` if there is no such file.
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        lock(&self.state).files.remove(path).map(|_| ()).ok_or_else(not_found)
    }
}

impl Backend for SimBackend {
    fn open_dir(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LedgerDir>> {
        if create {
            self.create_dir_all(path)?;
        } else {
            let s = lock(&self.state);
            let known = |p: &PathBuf| p.starts_with(path);
            if !s.dirs.iter().any(known) && !s.files.keys().any(known) {
                return Err(not_found());
            }
        }
        Ok(Arc::new(SimDir {
            state: Arc::clone(&self.state),
            root: path.to_path_buf(),
        }))
    }
}

/// A directory of the simulated disk: relative paths are joined to its path.
#[derive(Debug)]
struct SimDir {
    state: Arc<Mutex<State>>,
    root: PathBuf,
}

impl LedgerDir for SimDir {
    fn open_read(&self, rel: &Path) -> io::Result<Box<dyn StorageFile>> {
        let path = self.root.join(rel);
        let s = lock(&self.state);
        if !s.files.contains_key(&path) {
            return Err(not_found());
        }
        Ok(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            path,
            writable: false,
        }))
    }

    fn open_write(&self, rel: &Path, create_new: bool) -> io::Result<Box<dyn StorageFile>> {
        let path = self.root.join(rel);
        let mut s = lock(&self.state);
        match (s.files.contains_key(&path), create_new) {
            (true, true) => return Err(io::ErrorKind::AlreadyExists.into()),
            (false, false) => return Err(not_found()),
            (false, true) => {
                s.files.insert(path.clone(), SimFile::default());
            }
            (true, false) => {}
        }
        Ok(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            path,
            writable: true,
        }))
    }

    fn list(&self, rel_dir: &Path) -> io::Result<Vec<String>> {
        let path = join_display(&self.root, rel_dir);
        let s = lock(&self.state);
        if !s.dirs.contains(&path) {
            return Err(not_found());
        }
        let names = s
            .files
            .keys()
            .chain(s.dirs.iter())
            .filter(|p| p.parent() == Some(&path));
        Ok(names
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    fn remove(&self, rel: &Path) -> io::Result<()> {
        let path = self.root.join(rel);
        lock(&self.state).files.remove(&path).map(|_| ()).ok_or_else(not_found)
    }

    fn sync_dir(&self, rel_dir: &Path) -> io::Result<()> {
        let path = join_display(&self.root, rel_dir);
        let mut s = lock(&self.state);
        let children: Vec<PathBuf> = s.files.keys().filter(|p| p.parent() == Some(&path)).cloned().collect();
        s.durable_names.retain(|p| p.parent() != Some(&path));
        s.durable_names.extend(children);
        Ok(())
    }

    fn create_subdir(&self, rel: &Path) -> io::Result<()> {
        let path = self.root.join(rel);
        let mut s = lock(&self.state);
        for a in path.ancestors() {
            s.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    fn try_lock(&self) -> io::Result<Option<Box<dyn LockGuard>>> {
        let mut s = lock(&self.state);
        if !s.locks.insert(self.root.clone()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock {
            state: Arc::clone(&self.state),
            path: self.root.clone(),
            epoch: s.epoch,
        })))
    }

    fn display_path(&self, rel: &Path) -> PathBuf {
        join_display(&self.root, rel)
    }
}

impl SimHandle {
    fn with_file<T>(&self, f: impl FnOnce(&mut SimFile, &mut Option<u64>, bool) -> io::Result<T>) -> io::Result<T> {
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        let fail_sync = s.fail_sync;
        let file = s.files.get_mut(&self.path).ok_or_else(not_found)?;
        f(file, &mut s.write_budget, fail_sync)
    }
}

impl StorageFile for SimHandle {
    fn len(&self) -> io::Result<u64> {
        self.with_file(|f, _, _| Ok(f.data.len() as u64))
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.with_file(|f, _, _| {
            let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            let src = f
                .data
                .get(start..start.saturating_add(buf.len()))
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(src);
            Ok(())
        })
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only"));
        }
        self.with_file(|f, budget, _| {
            let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // Bytes in allocated space take nothing from the budget (as a file system that
            // allocated them needs no more space to write them).
            let free = f.allocated.saturating_sub(start).min(buf.len());
            let allowed = budget.map_or(buf.len(), |b| {
                usize::try_from(b).unwrap_or(usize::MAX).min(buf.len() - free) + free
            });
            if let Some(b) = budget.as_mut() {
                *b -= (allowed - free) as u64;
            }
            let end = start + allowed;
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[start..end].copy_from_slice(&buf[..allowed]);
            if allowed < buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (simulated)",
                ));
            }
            Ok(())
        })
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let failed = || io::Error::other("sync failed (simulated)");
        let (delay, epoch) = {
            let s = lock(&self.state);
            (s.sync_delay, s.epoch)
        };
        // The bytes written when the sync starts, and which sync this is.
        let (bytes, n) = self.with_file(|f, _, fail| {
            if fail {
                return Err(failed());
            }
            f.syncs_started += 1;
            if delay.is_none() {
                f.synced.clone_from(&f.data);
                f.synced_by = f.syncs_started;
                return Ok((None, f.syncs_started));
            }
            Ok((Some(f.data.clone()), f.syncs_started))
        })?;
        let (Some(bytes), Some(delay)) = (bytes, delay) else {
            return Ok(());
        };
        std::thread::sleep(delay);
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        if s.epoch != epoch || s.fail_sync {
            return Err(failed());
        }
        let f = s.files.get_mut(&self.path).ok_or_else(not_found)?;
        if n > f.synced_by {
            f.synced = bytes;
            f.synced_by = n;
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.with_file(|f, _, _| {
            let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            f.data.resize(len, 0);
            f.allocated = f.allocated.min(len);
            Ok(())
        })
    }

    /// The model of allocation: it fails ("no space left") once the write budget is spent,
    /// and otherwise takes nothing from it — so that the tests that cut a script at every byte
    /// of its writes do not also step through every byte of each reservation. Writes into the
    /// reserved space then cannot fail, as on a file system that allocated it.
    fn reserve(&mut self, len: u64) -> io::Result<bool> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only"));
        }
        if lock(&self.state).no_reserve {
            return Ok(false);
        }
        self.with_file(|f, budget, _| {
            let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            if *budget == Some(0) {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (simulated)",
                ));
            }
            if f.data.len() < len {
                f.data.resize(len, 0);
            }
            f.allocated = f.allocated.max(len);
            Ok(true)
        })
    }

    /// Another handle on the same simulated file (as a duplicated descriptor would be), so the
    /// crash and failed-sync tests also cover the writer's background syncs.
    fn sync_handle(&self) -> Option<Box<dyn StorageFile>> {
        Some(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            path: self.path.clone(),
            writable: self.writable,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A file `/d/f` on `disk` holding `a` (synced), then `b` written; a 200 ms sync of it
    /// started on another thread, running when this returns.
    fn slow_sync_of_ab(disk: &SimBackend) -> (Box<dyn StorageFile>, std::thread::JoinHandle<io::Result<()>>) {
        let dir = disk.open_dir(Path::new("/d"), true).unwrap();
        let mut f = dir.open_write(Path::new("f"), true).unwrap();
        dir.sync_dir(Path::new("")).unwrap();
        f.write_all_at(b"a", 0).unwrap();
        f.sync_data().unwrap();
        disk.set_sync_delay(Some(Duration::from_millis(200)));
        f.write_all_at(b"b", 1).unwrap();
        let mut h = f.sync_handle().unwrap();
        let slow = std::thread::spawn(move || h.sync_data());
        let started = || lock(&disk.state).files[Path::new("/d/f")].syncs_started;
        while started() < 2 {
            std::thread::sleep(Duration::from_micros(100));
        }
        (f, slow)
    }

    /// The bytes of `/d/f` after a power loss.
    fn after_power_loss(disk: &SimBackend) -> Vec<u8> {
        disk.crash();
        disk.file_bytes(Path::new("/d/f")).unwrap()
    }

    #[test]
    fn a_slow_sync_makes_durable_what_was_written_when_it_started() {
        let disk = SimBackend::new();
        let (mut f, slow) = slow_sync_of_ab(&disk);
        // Written while the sync runs: not covered by it.
        f.write_all_at(b"c", 2).unwrap();
        slow.join().unwrap().unwrap();
        assert_eq!(after_power_loss(&disk), b"ab");
    }

    #[test]
    fn a_crash_or_failing_syncs_while_a_slow_sync_runs_make_it_fail() {
        for fail_syncs in [false, true] {
            let disk = SimBackend::new();
            let (_f, slow) = slow_sync_of_ab(&disk);
            if fail_syncs {
                disk.set_fail_sync(true);
            } else {
                disk.crash();
            }
            assert!(slow.join().unwrap().is_err(), "fail_syncs {fail_syncs}");
            disk.set_fail_sync(false);
            assert_eq!(after_power_loss(&disk), b"a", "fail_syncs {fail_syncs}");
        }
    }

    #[test]
    fn a_slow_sync_ending_after_a_later_one_keeps_the_later_ones_bytes() {
        let disk = SimBackend::new();
        let (mut f, slow) = slow_sync_of_ab(&disk);
        f.write_all_at(b"c", 2).unwrap();
        disk.set_sync_delay(Some(Duration::from_millis(1)));
        f.sync_data().unwrap();
        slow.join().unwrap().unwrap();
        assert_eq!(after_power_loss(&disk), b"abc");
    }
}
