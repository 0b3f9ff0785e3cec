//! Input files a user names (proofs, checkpoints, policies, key files): opened without
//! blocking, checked on the descriptor to be regular files, and read only up to a cap, so a
//! FIFO, a device or a huge file is a clear error in bounded time and memory.

use std::io::Read;
use std::path::Path;

use crate::error::StorageError;

pub(crate) use super::backend::open_input;

/// Reads the whole input file `path`, refusing one larger than `max` bytes.
///
/// The file is opened without blocking (a FIFO cannot hang the caller), must be a regular
/// file (`fstat` on the opened descriptor; a symbolic link the user names is followed), and at
/// most `max + 1` bytes are ever read.
///
/// ```
/// use provledger::storage::read_input_file;
/// use provledger::StorageError;
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("proof.json");
/// std::fs::write(&file, b"{}")?;
/// assert_eq!(read_input_file(&file, 16)?, b"{}");
/// assert!(matches!(read_input_file(&file, 1), Err(StorageError::TooLarge { max: 1, .. })));
/// assert!(matches!(read_input_file(dir.path(), 16), Err(StorageError::NotARegularFile { .. })));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StorageError::NotARegularFile`] for a directory, FIFO, socket or device;
/// [`StorageError::TooLarge`] past `max`; [`StorageError::Io`] when it cannot be opened or read.
pub fn read_input_file(path: &Path, max: u64) -> Result<Vec<u8>, StorageError> {
    let (file, _) = open_input(path).map_err(super::io_err("open", path))?;
    read_capped(file, path, max)
}

/// Reads at most `max` bytes of `file` (the input file `path`); more is [`StorageError::TooLarge`].
fn read_capped(file: impl Read, path: &Path, max: u64) -> Result<Vec<u8>, StorageError> {
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(super::io_err("read", path))?;
    if bytes.len() as u64 > max {
        return Err(StorageError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}
