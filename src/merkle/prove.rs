//! Building RFC 9162 inclusion and consistency proofs from stored perfect-subtree nodes.
//!
//! Both builders walk the RFC recursion from the root down. At most one sibling on the way is
//! not a perfect subtree (the first one to the right of a step into a left child; below that
//! every subtree is perfect), so a proof costs O(log n) node reads.

use crate::hash::Digest;

use super::source::{subtree_root, BuildError, NodeSource};
use super::tree_math::largest_power_of_two_less_than;

/// RFC 9162 §2.1.3.1 inclusion proof `PATH(leaf_index, D[tree_size])`: sibling hashes from
/// the leaf up to the root.
///
/// # Errors
/// [`BuildError::Range`] if `leaf_index >= tree_size`; [`BuildError::Source`] if a node
/// (which must be complete within `tree_size`) cannot be read.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    leaf_index: u64,
    tree_size: u64,
) -> Result<Vec<Digest>, BuildError<S::Error>> {
    if leaf_index >= tree_size {
        return Err(BuildError::Range("leaf index is not below the tree size"));
    }
    // One node per level of the tree: ⌈log2(tree_size)⌉.
    let mut path = Vec::with_capacity((u64::BITS - (tree_size - 1).leading_zeros()) as usize);
    let (mut start, mut end) = (0, tree_size);
    while end - start > 1 {
        let mid = start + largest_power_of_two_less_than(end - start);
        if leaf_index < mid {
            path.push(subtree_root(src, mid, end)?);
            end = mid;
        } else {
            path.push(subtree_root(src, start, mid)?);
            start = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 consistency proof `PROOF(old_size, D[new_size])` (via `SUBPROOF` with
/// the `b` flag).
///
/// Valid for `0 < old_size ≤ new_size`; `old_size == new_size` gives an empty proof. The
/// empty tree (`old_size == 0`) is consistent with every tree but RFC 9162 defines no proof
/// for it, so it is rejected.
///
/// # Errors
/// [`BuildError::Range`] if `old_size == 0` or `old_size > new_size`; [`BuildError::Source`]
/// if a node cannot be read.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Digest>, BuildError<S::Error>> {
    if old_size == 0 {
        return Err(BuildError::Range("consistency from the empty tree is not provable"));
    }
    if old_size > new_size {
        return Err(BuildError::Range("old tree size exceeds new tree size"));
    }
    // At most one node per level of the new tree, plus the old root's.
    let mut path = Vec::with_capacity((u64::BITS - new_size.leading_zeros()) as usize + 1);
    if old_size == new_size {
        return Ok(path);
    }
    // Current subtree [start, end); `whole` is SUBPROOF's `b` flag (still on the left edge).
    let (mut start, mut end, mut whole) = (0, new_size, true);
    while old_size != end {
        let mid = start + largest_power_of_two_less_than(end - start);
        if old_size <= mid {
            path.push(subtree_root(src, mid, end)?);
            end = mid;
        } else {
            path.push(subtree_root(src, start, mid)?);
            start = mid;
            whole = false;
        }
    }
    if !whole {
        path.push(subtree_root(src, start, end)?);
    }
    path.reverse();
    Ok(path)
}
