//! # provledger
//!
//! An append-only, tamper-evident ledger of AI-influenced decisions, linked into services and
//! checked by auditors. Entries are signed (Ed25519) and hash-chained (BLAKE3); verification
//! proves integrity against a trust anchor that the auditor supplies.
//!
//! ```
//! use provledger::{verify, Draft, Ledger, Options, SigningKey, TrustAnchor};
//!
//! let dir = tempfile::tempdir()?;
//! let operator = SigningKey::generate()?;
//! let mut ledger = Ledger::create(dir.path(), &operator, "payments", Options::default())?;
//! let receipt = ledger.append(Draft::application(
//!     "application/json",
//!     br#"{"action":"raise-limit","by":"model-x"}"#.to_vec(),
//! ))?;
//! assert!(receipt.durable);
//! drop(ledger);
//!
//! let report = verify(dir.path(), &TrustAnchor::PublicKey(operator.verifying_key()))?;
//! assert!(report.is_ok());
//! assert_eq!(report.entries, 2); // genesis + one entry
//! # Ok::<_, provledger::Error>(())
//! ```
//!
//! ## What it is not
//! Not a database (entries are read by sequence number, not queried), not a consensus system
//! (each service embeds its own ledger; what crosses machines is files and proofs), and not a
//! secret store: payloads are committed by salted hashes but stored in the clear until erased.
//!
//! ## Crate features
//! - `cli` (default): the `provledger` command-line tool. Services link the library with
//!   `default-features = false`.
//! - `json` (on with `cli`): `serde_json` inside the library, used only by the JSON fuzzing
//!   hook. The public types are plain serde either way: serialize them with any format.
//!
//! The byte format is specified normatively in `docs/FORMAT.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links, clippy::unwrap_used)]
#![deny(clippy::big_endian_bytes, clippy::host_endian_bytes)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![warn(clippy::pedantic)]
// Pedantic lints we do not follow, and why:
#![allow(
    clippy::module_name_repetitions, // `StorageError` in `error` reads better than `Storage`
    clippy::missing_errors_doc,      // errors are documented on the umbrella types
    clippy::cast_possible_truncation, // lengths are bounded before every cast
    clippy::doc_markdown,             // file names and hex in docs trip it
    clippy::struct_field_names        // `Ledger::ledger_id` is the clearest name
)]

pub mod checkpoint;
pub mod encoding;
pub mod entry;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod hash;
pub mod keys;
mod ledger;
pub mod merkle;
pub mod proof;
mod reader;
pub mod record;
pub mod signature;
pub mod storage;
pub mod tree;
pub mod verify;

// The public interface is:
pub use checkpoint::Checkpoint;
pub use entry::{AuthorSignature, Entry, EntryKind, EntrySeq, LedgerId, PayloadCommitment, Statement, Timestamp};
pub use error::{DecodeError, Error, InputError, KeyError, StorageError};
pub use hash::Digest;
pub use keys::{KeyId, SignError, Signer, SigningKey, VerifyingKey};
pub use ledger::{rebuild_derived, Appender, Draft, Durability, Ledger, Options, Rebuilt, Receipt, Recovery};
pub use proof::{ConsistencyProof, InclusionProof, ProofCheckError};
pub use reader::{LedgerReader, StoredEntry};
pub use record::{Genesis, PrincipalType, Role, TrustAnchorKey};
pub use storage::frame::StoredPayload;
pub use verify::{verify, verify_opts, verify_with, Check, Failure, TrustAnchor, VerifyOptions, VerifyReport};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
