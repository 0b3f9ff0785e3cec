//! RFC 6962 / RFC 9162 Merkle trees with SHA-256: the append-only state, proof building and
//! verification.
//!
//! The tree is exactly RFC 9162 §2.1: leaves are
//! [`hash_leaf`](crate::hash::hash_leaf)`(entry_hash)` = `SHA-256(0x00 ‖ entry_hash)`, interior
//! nodes [`hash_node`](crate::hash::hash_node) = `SHA-256(0x01 ‖ left ‖ right)`, and the empty
//! tree's root is `SHA-256("")` ([`empty_root`]).
//!
//! **Leaf hashes vs entry hashes.** Everything here that takes a "leaf" takes the *leaf hash*
//! (`hash_leaf(entry_hash)`): [`Frontier::push`], [`MemoryTree::push`], [`root_from_leaves`],
//! [`verify_inclusion`]. Only [`verify_inclusion_of_entry`] takes an entry hash.
//!
//! Pieces:
//!
//! * [`Frontier`] — the O(log n) right edge of the tree: append leaves, get the root, and learn
//!   which perfect subtrees each append completes ([`CompletedNode`]) so that storage can
//!   persist them.
//! * [`NodeSource`] — read access to those stored perfect-subtree hashes. [`subtree_root`]
//!   assembles any subtree hash from O(log n) of them, and [`inclusion_proof`] /
//!   [`consistency_proof`] build RFC 9162 proofs from O(log n) reads. [`MemoryTree`] is an
//!   in-memory source.
//! * [`verify_inclusion`] / [`verify_consistency`] — standalone verifiers (RFC 9162 §2.1.3.2
//!   and §2.1.4.2) that need nothing but the proof. They separate structurally wrong proofs
//!   ([`ProofError::Malformed`]) from well-formed proofs that do not verify
//!   ([`ProofError::RootMismatch`]).
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

pub use frontier::{CompletedNode, Frontier, FrontierError};
pub use prove::{consistency_proof, inclusion_proof};
pub use root::{empty_root, root_from_leaves};
pub use source::{subtree_root, BuildError, MemoryTree, MissingNode, NodeSource};
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
