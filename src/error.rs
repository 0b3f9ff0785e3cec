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
    /// The ledger was written by a format version this build does not read.
    #[error("{}: format version {version} is not supported by this version of provledger (it reads version 2)", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// The ledger holds the largest number of entries the format allows.
    #[error("the ledger is full")]
    Full,
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
    /// A signer (e.g. a remote one) could not sign. A signer that panics (a bug in a signer
    /// plug-in, caught where co-signatures are made) is reported as
    /// [`SignError::Unavailable`](crate::keys::SignError::Unavailable).
    #[error("the signer failed: {0}")]
    Signer(#[from] crate::keys::SignError),
    /// The OS random source failed while generating a key.
    #[error("the OS random source failed: {0}")]
    Entropy(String),
}

/// Why a draft cannot be appended, whatever the ledger holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DraftError {
    /// The payload is larger than the format allows.
    #[error("payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// Its length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// A field breaks a bound of the format (content type, refs, co-signers).
    #[error(transparent)]
    Field(#[from] DecodeError),
    /// Only application entries may go without the writer's position signature.
    #[error("a {kind} entry must carry the writer's position signature")]
    UnsignedGovernance {
        /// The entry kind.
        kind: &'static str,
    },
    /// Genesis entries are written by creating a ledger, never appended.
    #[error("only creating a ledger appends a genesis entry")]
    Genesis,
    /// A batch without drafts.
    #[error("empty batch")]
    EmptyBatch,
}

/// Why [`Ledger::create`](crate::Ledger::create) or [`Ledger::open`](crate::Ledger::open)
/// (or [`rebuild_derived`](crate::rebuild_derived)) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another writer (process or handle) holds the ledger.
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
    /// The signing key may not write this ledger.
    #[error("key {key_id} may not write this ledger: {reason}")]
    SignerNotAuthorized {
        /// The signer's key id.
        key_id: crate::keys::KeyId,
        /// Why not.
        reason: &'static str,
    },
    /// The genesis record given to `create_with_genesis` cannot be used.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// The last write was sealed by another key, so the ledger was verified before being
    /// extended, and it does not verify.
    #[error("the ledger does not verify, so it is not extended: {0}")]
    Unverified(Box<crate::verify::Failure>),
    /// The entries do not reproduce the state the writer sealed: they were changed.
    #[error("the entries do not reproduce the root this writer sealed at entry {seq}: they were changed")]
    Tampered {
        /// Number of entries the seal covers.
        seq: u64,
    },
    /// The signer failed, or a key in the genesis is invalid.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The OS random source failed.
    #[error("the OS random source failed: {0}")]
    Entropy(String),
    /// Damage, I/O, or not a ledger.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A structure in the ledger could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Why an append failed. Only [`AppendError::Storage`] and [`AppendError::Poisoned`] say
/// anything about the ledger; the others concern one request, which fails alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// A draft of the request is invalid (`index` within the request).
    #[error("draft {index}: {reason}")]
    InvalidDraft {
        /// Position of the draft in its request.
        index: usize,
        /// What is wrong.
        reason: DraftError,
    },
    /// Verification would reject the entry (a signer not enrolled, revoked, or without the
    /// kind's role): refused before anything was written.
    #[error("entry {seq} would fail verification (check {check}): {reason}")]
    WouldNotVerify {
        /// The sequence number it would have had.
        seq: u64,
        /// The check it would fail.
        check: crate::verify::Check,
        /// Why.
        reason: String,
    },
    /// The structured payload of a governance draft does not decode.
    #[error(transparent)]
    Record(#[from] DecodeError),
    /// The writer's signer or a co-signer failed (a co-signer that panics fails its own
    /// request this way); nothing was written.
    #[error(transparent)]
    Signer(#[from] KeyError),
    /// An earlier write or sync failed: nothing is acknowledged until the ledger is reopened.
    #[error("the writer is poisoned by an earlier I/O failure; reopen the ledger")]
    Poisoned,
    /// The ledger was closed.
    #[error("the ledger is closed")]
    Closed,
    /// This write failed; the writer is now poisoned.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why [`Ledger::sync`](crate::Ledger::sync) or [`Ledger::close`](crate::Ledger::close)
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// An earlier write or sync failed: nothing is acknowledged until the ledger is reopened.
    #[error("the writer is poisoned by an earlier I/O failure; reopen the ledger")]
    Poisoned,
    /// The ledger was closed.
    #[error("the ledger is closed")]
    Closed,
    /// The sync failed (the writer is now poisoned: the OS may have dropped the pages).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why [`Ledger::checkpoint`](crate::Ledger::checkpoint) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The writer's key is no longer an enrolled, unrevoked operator.
    #[error("key {key_id} may not sign a checkpoint: it is not an enrolled, unrevoked operator")]
    SignerNotAuthorized {
        /// The signer's key id.
        key_id: crate::keys::KeyId,
    },
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] KeyError),
    /// Making the entries durable first failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Writing the checkpoint log failed (the writer is now poisoned).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why [`Ledger::redact`](crate::Ledger::redact) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// There is no such entry.
    #[error("no entry with sequence number {seq} (ledger has {len})")]
    NoSuchEntry {
        /// Requested sequence number.
        seq: u64,
        /// Number of entries.
        len: u64,
    },
    /// The entry's kind may not be erased.
    #[error("the payload of a {kind} entry may not be erased")]
    NotRedactable {
        /// The entry kind.
        kind: &'static str,
    },
    /// The payload is already erased.
    #[error("the payload of entry {seq} is already erased")]
    AlreadyErased {
        /// The entry.
        seq: u64,
    },
    /// Appending the redaction entry failed (nothing was erased).
    #[error(transparent)]
    Append(#[from] AppendError),
    /// Erasing failed after the redaction entry was appended; the next open finishes it.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why reading a ledger ([`LedgerReader`](crate::LedgerReader)) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// There is no such entry (yet).
    #[error("no entry with sequence number {seq} (ledger has {len})")]
    NoSuchEntry {
        /// Requested sequence number.
        seq: u64,
        /// Number of entries, as far as the reader could tell.
        len: u64,
    },
    /// No checkpoint (of the requested size) is in the log.
    #[error("{}", match size { Some(n) => format!("no checkpoint of size {n}"), None => "the ledger has no checkpoint yet".into() })]
    NoCheckpoint {
        /// The size asked for, if any.
        size: Option<u64>,
    },
    /// The proof asked for is outside what the checkpoint or tree covers.
    #[error("{0}")]
    OutOfRange(String),
    /// A tree node the proof needs is not stored (derived data a writer rebuilds on open).
    #[error("tree node (level {level}, index {index}) is not available: {reason}; reopen the ledger with a writer to rebuild the tree files")]
    MissingTreeNode {
        /// Level.
        level: u8,
        /// Index within the level.
        index: u64,
        /// Why.
        reason: String,
    },
    /// Damage, I/O, or not a ledger.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a verification could not run at all. A ledger that *fails* verification is not an
/// error: it is a [`VerifyReport`](crate::VerifyReport) with a failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The directory could not be read as a ledger (I/O, not a ledger).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The saved state given to resume from cannot be used
    /// ([`VerifyOptions::resume`](crate::VerifyOptions::resume)).
    #[error(transparent)]
    State(#[from] crate::verify::StateError),
}

/// Any error from this crate: each operation's error converts into it, so `?` works in code
/// that calls several.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`OpenError`].
    #[error(transparent)]
    Open(#[from] OpenError),
    /// See [`AppendError`].
    #[error(transparent)]
    Append(#[from] AppendError),
    /// See [`SyncError`].
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// See [`CheckpointError`].
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// See [`RedactError`].
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// See [`ReadError`].
    #[error(transparent)]
    Read(#[from] ReadError),
    /// See [`VerifyError`].
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// See [`StateError`](crate::StateError).
    #[error(transparent)]
    State(#[from] crate::verify::StateError),
    /// A ledger failed verification (from [`VerifyReport::into_result`](crate::VerifyReport::into_result)).
    #[error("verification failed: {0}")]
    VerificationFailed(Box<crate::verify::Failure>),
    /// See [`DecodeError`].
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// See [`StorageError`].
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`crate::hash::ParseDigestError`].
    #[error(transparent)]
    ParseDigest(#[from] crate::hash::ParseDigestError),
    /// See [`crate::merkle::ProofError`].
    #[error(transparent)]
    Proof(#[from] crate::merkle::ProofError),
    /// See [`crate::proof::ProofCheckError`].
    #[error(transparent)]
    ProofCheck(#[from] crate::proof::ProofCheckError),
    /// An I/O error outside the ledger directory (e.g. a temporary directory in an example).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The storage error underneath, whichever operation met it: lets a caller tell "the disk
    /// or the files are the problem" (damage, I/O, a full disk) from everything else without
    /// matching every operation's error.
    ///
    /// ```
    /// use provledger::{Error, StorageError};
    /// let e = Error::from(provledger::ReadError::Storage(StorageError::Full));
    /// assert!(matches!(e.storage(), Some(StorageError::Full)));
    /// ```
    #[must_use]
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            Error::Storage(s)
            | Error::Open(OpenError::Storage(s))
            | Error::Append(AppendError::Storage(s))
            | Error::Sync(SyncError::Storage(s))
            | Error::Checkpoint(CheckpointError::Storage(s) | CheckpointError::Sync(SyncError::Storage(s)))
            | Error::Redact(RedactError::Storage(s) | RedactError::Append(AppendError::Storage(s)))
            | Error::Read(ReadError::Storage(s))
            | Error::Verify(VerifyError::Storage(s)) => Some(s),
            _ => None,
        }
    }
}
