//! Standalone proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2). Needs nothing but the
//! proof; never panics, and rejects structurally wrong proofs before hashing anything.

use crate::hash::{hash_leaf, hash_node, Digest};

use super::tree_math::{PathWalk, Side};
use super::ProofError;

/// Longest inclusion path accepted: a tree of at most `u64::MAX` leaves is at most 64 levels
/// deep. Longer paths are rejected as malformed before any other work.
pub const MAX_INCLUSION_PATH_LEN: usize = 64;

/// Longest consistency path accepted. A valid proof can hold one element more than the tree
/// depth (e.g. 65 for `old_size = 3`, `new_size = u64::MAX`); anything longer is rejected as
/// malformed before any other work.
pub const MAX_CONSISTENCY_PATH_LEN: usize = 65;

/// Verifies that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves whose root
/// is `root`, given the inclusion `path` (RFC 9162 §2.1.3.2).
///
/// `leaf_hash` is the **leaf hash** `hash_leaf(entry_hash)`, *not* the entry hash; see
/// [`verify_inclusion_of_entry`] to start from the entry hash.
///
/// # Errors
/// [`ProofError::Malformed`] if `leaf_index >= tree_size` or `path` does not have exactly the
/// length the algorithm consumes; [`ProofError::RootMismatch`] if the recomputed root differs.
pub fn verify_inclusion(
    leaf_hash: &Digest,
    leaf_index: u64,
    tree_size: u64,
    path: &[Digest],
    root: &Digest,
) -> Result<(), ProofError> {
    if path.len() > MAX_INCLUSION_PATH_LEN {
        return Err(ProofError::Malformed("inclusion path too long"));
    }
    let walk = PathWalk::inclusion(leaf_index, tree_size)
        .ok_or(ProofError::Malformed("leaf index is not below the tree size"))?;
    if walk.clone().count() != path.len() {
        return Err(ProofError::Malformed(
            "inclusion path length does not match index and tree size",
        ));
    }
    let computed = walk.zip(path).fold(*leaf_hash, |r, (side, p)| match side {
        Side::Left => hash_node(p, &r),
        Side::Right => hash_node(&r, p),
    });
    expect_root(&computed, root)
}

/// [`verify_inclusion`] for an entry hash: applies [`hash_leaf`] first.
///
/// # Errors
/// As [`verify_inclusion`].
pub fn verify_inclusion_of_entry(
    entry_hash: &Digest,
    leaf_index: u64,
    tree_size: u64,
    path: &[Digest],
    root: &Digest,
) -> Result<(), ProofError> {
    verify_inclusion(&hash_leaf(entry_hash), leaf_index, tree_size, path, root)
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`, given the consistency `path` (RFC 9162 §2.1.4.2).
///
/// Equal sizes require an empty path and equal roots.
///
/// # Errors
/// [`ProofError::Malformed`] if `old_size == 0`, `old_size > new_size`, or `path` does not have
/// exactly the length the algorithm consumes; [`ProofError::RootMismatch`] if either
/// recomputed root differs from the one given.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Digest,
    new_root: &Digest,
    path: &[Digest],
) -> Result<(), ProofError> {
    if path.len() > MAX_CONSISTENCY_PATH_LEN {
        return Err(ProofError::Malformed("consistency path too long"));
    }
    if old_size == 0 {
        return Err(ProofError::Malformed("old tree size is zero"));
    }
    if old_size > new_size {
        return Err(ProofError::Malformed("old tree size exceeds new tree size"));
    }
    if old_size == new_size {
        if !path.is_empty() {
            return Err(ProofError::Malformed("equal tree sizes need an empty path"));
        }
        return expect_root(old_root, new_root);
    }
    // 0 < old_size < new_size here, so the walk exists.
    let walk = PathWalk::consistency(old_size, new_size).ok_or(ProofError::Malformed("invalid tree sizes"))?;
    // RFC step 2: a power-of-two old tree is itself the first node of the proof.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, path)
    } else {
        path.split_first()
            .ok_or(ProofError::Malformed("consistency path is empty"))?
    };
    if walk.clone().count() != rest.len() {
        return Err(ProofError::Malformed(
            "consistency path length does not match tree sizes",
        ));
    }
    let (fr, sr) = walk.zip(rest).fold((*seed, *seed), |(fr, sr), (side, c)| match side {
        Side::Left => (hash_node(c, &fr), hash_node(c, &sr)),
        Side::Right => (fr, hash_node(&sr, c)),
    });
    // Check both roots before reporting (no early exit on the first comparison).
    let old_ok = fr == *old_root;
    let new_ok = sr == *new_root;
    if old_ok & new_ok {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

fn expect_root(computed: &Digest, expected: &Digest) -> Result<(), ProofError> {
    if computed == expected {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}
