//! RFC 6962 / RFC 9162 Merkle trees with SHA-256: standalone proof verification.
//!
//! The tree is exactly RFC 9162 §2.1: leaves are [`hash_leaf`]`(entry_hash)` =
//! `SHA-256(0x00 ‖ entry_hash)`, interior nodes [`hash_node`] = `SHA-256(0x01 ‖ left ‖ right)`,
//! and the empty tree's root is `SHA-256("")` ([`empty_root`]). Existing RFC 6962 tooling
//! (transparency-log witnesses, tiles clients) can therefore check a ledger's roots.
//!
//! **Leaf hashes vs entry hashes.** Everything here that takes a "leaf" takes the *leaf hash*
//! (`hash_leaf(entry_hash)`): [`root_from_leaves`], [`verify_inclusion`]. Only
//! [`verify_inclusion_of_entry`] takes an entry hash.
//!
//! [`verify_inclusion`] / [`verify_consistency`] are standalone verifiers (RFC 9162 §2.1.3.2 and
//! §2.1.4.2) that need nothing but the proof. They separate structurally wrong proofs
//! ([`ProofError::Malformed`]) from well-formed proofs that do not verify
//! ([`ProofError::RootMismatch`]). Proofs of a ledger come from
//! [`LedgerReader`](crate::LedgerReader) as [`InclusionProof`](crate::InclusionProof) and
//! [`ConsistencyProof`](crate::ConsistencyProof), which also carry the signed checkpoint.
//!
//! ```
//! use provledger::merkle::{hash_leaf, root_from_leaves, verify_inclusion};
//! use provledger::Digest;
//!
//! let leaves: Vec<Digest> = (0u8..5).map(|i| hash_leaf(&Digest::from_bytes([i; 32]))).collect();
//! let root = root_from_leaves(&leaves);
//! // Leaf 4 of 5: its path is the root of the first four leaves.
//! let path = [root_from_leaves(&leaves[..4])];
//! assert!(verify_inclusion(&leaves[4], 4, 5, &path, &root).is_ok());
//! assert!(verify_inclusion(&leaves[3], 4, 5, &path, &root).is_err());
//! ```
//!
//! With the `test-util` feature (not part of the stable API) the module also holds the tree
//! builders the library uses: the O(log n) right edge (`Frontier`), read access to stored
//! perfect-subtree hashes (`NodeSource`, `MemoryTree`), and proof building
//! (`inclusion_proof`, `consistency_proof`) from O(log n) reads.
//!
//! An inclusion proof does not commit to the tree size by itself: when two sizes give the same
//! proof shape (e.g. leaf 0 of 3 and of 4 leaves), a proof for one verifies with the other size
//! against the *same* root. Binding a root to its size is the job of the signed checkpoint.
//! The same holds for consistency proofs.

mod frontier;
mod prove;
mod root;
mod source;
mod tree_math;
mod verify;

#[cfg(test)]
mod tests;

pub use crate::hash::{hash_leaf, hash_node};
pub use root::{empty_root, root_from_leaves};
// The tree builders: crate-private, public with `test-util` (not part of the stable API).
#[cfg(not(any(fuzzing, feature = "test-util")))]
pub(crate) use frontier::Frontier;
#[cfg(any(fuzzing, feature = "test-util"))]
pub use frontier::{CompletedNode, Frontier, FrontierError};
test_util_pub! { pub use prove::{consistency_proof, inclusion_proof}; }
test_util_pub! { pub use source::{subtree_root, BuildError, NodeSource}; }
#[cfg(any(fuzzing, feature = "test-util"))]
pub use source::{MemoryTree, MissingNode};
#[cfg(any(fuzzing, feature = "test-util"))]
pub use tree_math::{
    consistency_path_len, inclusion_path_len, is_subtree_range, largest_power_of_two_at_most,
    largest_power_of_two_less_than, perfect_subtrees, NodeId, PerfectSubtrees,
};
pub use verify::{
    verify_consistency, verify_inclusion, verify_inclusion_of_entry, MAX_CONSISTENCY_PATH_LEN, MAX_INCLUSION_PATH_LEN,
};

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof is structurally wrong (sizes/index out of range, wrong number of path
    /// elements, too many elements) — "malformed".
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// Well-formed, but the recomputed root differs — "does not verify".
    #[error("proof does not verify: computed root differs from the expected root")]
    RootMismatch,
}
