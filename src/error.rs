//! Errors: one enum per surface, and the umbrella [`Error`] that converts from each.
//!
//! Corruption is a value, never a panic. Decode errors say what and where; storage errors name
//! the file, the byte offset and (when known) the sequence number.

use std::io;
use std::path::PathBuf;

/// A byte string could not be decoded (truncated, bad tag, oversized length, trailing bytes…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes remained than the field needs.
    #[error("{context}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The structure or field being read.
        context: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// A tag or enumeration value is not defined by the format.
    #[error("{context}: invalid tag {tag}")]
    InvalidTag {
        /// The structure or field being read.
        context: &'static str,
        /// The value found.
        tag: u64,
    },
    /// A length field exceeds the bound the format sets for it.
    #[error("{context}: length {len} exceeds the maximum {max}")]
    TooLong {
        /// The structure or field being read.
        context: &'static str,
        /// The length found.
        len: u64,
        /// The maximum allowed.
        max: u64,
    },
    /// Bytes remained after a complete structure.
    #[error("{context}: {count} trailing bytes")]
    TrailingBytes {
        /// The structure being read.
        context: &'static str,
        /// How many bytes remained.
        count: u64,
    },
    /// A file or record did not start with the expected magic bytes.
    #[error("{context}: bad magic bytes")]
    BadMagic {
        /// The structure being read.
        context: &'static str,
    },
    /// The format version is not one this build reads.
    #[error("{context}: unsupported format version {version}")]
    UnsupportedVersion {
        /// The structure being read.
        context: &'static str,
        /// The version found.
        version: u16,
    },
    /// A checksum did not match the bytes it protects.
    #[error("{context}: checksum mismatch")]
    Checksum {
        /// The structure being read.
        context: &'static str,
    },
    /// A field holds a value the format forbids.
    #[error("{context}: {reason}")]
    Invalid {
        /// The structure or field being read.
        context: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A structured (bincode) payload failed to decode.
    #[error("{context}: {message}")]
    Payload {
        /// The record type being read.
        context: &'static str,
        /// The decoder's message.
        message: String,
    },
}

/// A problem with the ledger directory or its files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process (or handle) holds the writer lock.
    #[error("ledger {} is locked by another writer", path.display())]
    Locked {
        /// The ledger directory.
        path: PathBuf,
    },
    /// `create` was asked for a directory that already holds a ledger.
    #[error("{} already contains a ledger", path.display())]
    AlreadyExists {
        /// The ledger directory.
        path: PathBuf,
    },
    /// The directory is not a ledger, or its file set is inconsistent.
    #[error("{} is not a valid ledger: {reason}", path.display())]
    NotALedger {
        /// The directory or file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// Bytes that must be intact are damaged. Never repaired by truncation.
    #[error("{} is damaged at offset {offset}{}: {reason}", file.display(), seq_note(*seq))]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged record or field.
        offset: u64,
        /// Sequence number of the entry there, when known.
        seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A path that should be a regular file is a symbolic link, a FIFO, a socket, a device or
    /// a directory (inside a ledger directory, symbolic links are never followed).
    #[error("{} is not a regular file", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
    },
    /// An input file is larger than the limit for its kind (only `max + 1` bytes were read).
    #[error("{} is larger than the maximum of {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A record is larger than the format allows.
    #[error("record too large: {len} bytes, maximum {max}")]
    RecordTooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The entry asked for does not exist (yet).
    #[error("no entry with sequence number {seq} (ledger has {len})")]
    NoSuchEntry {
        /// Requested sequence number.
        seq: u64,
        /// Number of entries in the ledger.
        len: u64,
    },
    /// The ledger holds the largest number of entries the format allows.
    #[error("the ledger is full")]
    Full,
    /// An earlier write failed; the writer refuses further appends until reopened.
    #[error("the writer is poisoned by an earlier I/O failure; reopen the ledger")]
    Poisoned,
}

fn seq_note(seq: Option<u64>) -> String {
    seq.map(|s| format!(" (entry {s})")).unwrap_or_default()
}

/// A problem with key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be parsed.
    #[error("{}: invalid key file: {reason}", path.display())]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A secret key file is readable by group or others.
    #[error("{}: secret key file has permissions {mode:o}; it must be 0600 or stricter", path.display())]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A public key is not a valid Ed25519 point (or is a weak key).
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The caller passed something the API cannot accept (an oversized field, an empty batch…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {0}")]
pub struct InputError(pub String);

/// Any error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`DecodeError`].
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// See [`StorageError`].
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`InputError`].
    #[error(transparent)]
    Input(#[from] InputError),
    /// See [`crate::hash::ParseDigestError`].
    #[error(transparent)]
    ParseDigest(#[from] crate::hash::ParseDigestError),
    /// See [`crate::merkle::ProofError`].
    #[error(transparent)]
    Proof(#[from] crate::merkle::ProofError),
    /// See [`crate::proof::ProofCheckError`].
    #[error(transparent)]
    ProofCheck(#[from] crate::proof::ProofCheckError),
    /// An I/O error outside the ledger directory (e.g. reading input).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Shorthand for an [`InputError`].
    pub(crate) fn input(msg: impl Into<String>) -> Self {
        Error::Input(InputError(msg.into()))
    }
}
