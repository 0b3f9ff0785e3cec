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
//! let ledger = Ledger::create(dir.path(), &operator, "payments", Options::default())?;
//! let receipt = ledger.append(Draft::application(
//!     "application/json",
//!     br#"{"action":"raise-limit","by":"model-x"}"#.to_vec(),
//! ))?;
//! assert!(receipt.durable);
//! assert_eq!(receipt.seq, 1); // entry 0 is the genesis
//! ledger.close()?;
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
//! - `schema` (default): `schemars::JsonSchema` on the records people write, and
//!   `record::record_schema`, from which `docs/schemas/` is generated.
//! - `test-util`: **not part of the stable API.** Makes the internals public for this crate's
//!   own tests, benches and fuzz targets (storage codecs and scanner, the simulated disk, the
//!   hash and encoding helpers, the Merkle tree builders…). They change without notice; never
//!   enable it in a dependency.
//!
//! ## The API
//! - Writing: [`Ledger`] (`Send + Sync`, appends through `&self`), [`Options`], [`Draft`],
//!   [`Receipt`], [`Ticket`] (a blocking `wait()` or a `Future`), [`Durability`].
//! - Reading and proofs: [`LedgerReader`], [`StoredEntry`], [`Entry`], [`InclusionProof`],
//!   [`ConsistencyProof`], [`Checkpoint`], and the standalone verifiers of [`merkle`].
//! - Auditing: [`verify`], [`verify_opts`], [`VerifyOptions`], [`VerifyReport`] (`#[must_use]`;
//!   [`VerifyReport::into_result`]), [`TrustAnchor`].
//! - Witnesses: [`witness`] (C2SP `cosignature/v1` cosignatures on checkpoints, a witness
//!   with durable per-log state, K-of-N [`witness::WitnessPolicy`] checks).
//! - Governance records: [`record`]. Keys: [`SigningKey`], [`VerifyingKey`], and the
//!   [`Signer`] trait for keys kept elsewhere (an HSM, a KMS).
//! - Storage: [`storage::StdBackend`] (the file system), [`storage::MemoryBackend`], or your
//!   own [`storage::Backend`].
//! - Errors: one enum per operation ([`OpenError`], [`AppendError`], [`SyncError`],
//!   [`CheckpointError`], [`RedactError`], [`ReadError`], [`VerifyError`]), all convertible
//!   into [`Error`].
//!
//! Sequence numbers are plain `u64` positions (entry 0 is the genesis entry; entry `n` is leaf
//! `n` of the Merkle tree and there are `n` entries before it), as are tree sizes and lengths.
//! `docs/public-api.txt` lists every public item; CI fails when it changes unnoticed.
//!
//! The byte format is specified normatively in `docs/FORMAT.md`.

// `unsafe` is allowed in one module, `hash::lanes` (AVX-512 BLAKE3 compressions of sixteen
// inputs' last blocks: about 5% of unsigned audit's and append's time, measured); its docs say
// why each block is sound. Beyond it, one unit test (`hash::many`) maps an unreadable page.
#![deny(unsafe_code)]
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

/// Declares an item that the tests, benches and fuzz targets need but that is **not part of
/// the stable API**: `pub` with the `test-util` feature, crate-private without it. One item
/// per invocation (a module, a function, a type, a constant, a `use`).
macro_rules! test_util_pub {
    ($(#[$attr:meta])* pub $($item:tt)*) => {
        #[cfg(feature = "test-util")]
        $(#[$attr])*
        pub $($item)*
        #[cfg(not(feature = "test-util"))]
        $(#[$attr])*
        pub(crate) $($item)*
    };
}

// Modules of the stable API: records (the governance model), storage backends, and the
// standalone Merkle verifiers. Everything else is reached through the `pub use` block below.
pub mod merkle;
pub mod record;
#[cfg(feature = "object-store")]
pub mod remote;
pub mod storage;
pub mod witness;

// Internals: crate-private, public only with `test-util` (paths kept for tests and benches).
test_util_pub! { pub mod checkpoint; }
test_util_pub! { pub mod encoding; }
test_util_pub! { pub mod entry; }
test_util_pub! { pub mod error; }
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz;
test_util_pub! { pub mod hash; }
test_util_pub! { pub mod keys; }
mod ledger;
test_util_pub! { pub mod proof; }
mod reader;
test_util_pub! { pub mod signature; }
test_util_pub! { pub mod tree; }
test_util_pub! { pub mod verify; }

// The public interface is:
pub use checkpoint::{note_verifier_key, Checkpoint};
pub use entry::{
    AuthorSignature, Entry, EntryKind, LedgerId, Timestamp, MAX_CONTENT_TYPE_LEN, MAX_COSIGNATURES, MAX_PAYLOAD_LEN,
    MAX_REFS,
};
pub use error::{
    AppendError, CheckpointError, DecodeError, DraftError, Error, KeyError, OpenError, ReadError, RedactError,
    StorageError, SyncError, VerifyError,
};
pub use hash::{Digest, ParseDigestError};
pub use keys::{IntoSigner, KeyId, SignError, Signer, SigningKey, VerifyingKey};
pub use ledger::{rebuild_derived, Draft, Durability, Ledger, Options, Rebuilt, Receipt, Recovery, Ticket};
pub use proof::{ConsistencyProof, InclusionProof, ProofCheckError, PROOF_VERSION};
pub use reader::{LedgerReader, StoredEntry};
pub use record::{Genesis, PrincipalType, Role, TrustAnchorKey};
pub use storage::frame::StoredPayload;
pub use verify::{
    policy_at, verify, verify_opts, verify_with, Check, Failure, Involved, PolicyEvent, PolicyRef, PolicyView,
    StateError, TrustAnchor, VerifierState, VerifyOptions, VerifyReport, Violation,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
