//! Root computations: the empty-tree root, the reference MTH, and the right-to-left fold.

use crate::hash::{hash_empty, hash_node, Digest};

/// Root of the empty tree: RFC 9162's `MTH({}) = SHA-256("")`.
#[must_use]
pub fn empty_root() -> Digest {
    hash_empty()
}

/// Reference Merkle Tree Hash (RFC 9162 §2.1.1), computed recursively from the definition.
///
/// `leaf_hashes` are **leaf hashes** (`hash_leaf(entry_hash)`), not entry hashes. Uses O(n)
/// hashing and O(log n) stack; intended for tests, vectors and cross-checks.
#[must_use]
pub fn root_from_leaves(leaf_hashes: &[Digest]) -> Digest {
    match leaf_hashes {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let n = leaf_hashes.len();
            // Largest power of two below `n`; `n ≥ 2` here, so `n - 1 ≥ 1` and `ilog2` is defined.
            let k = 1usize << (n - 1).ilog2();
            let (left, right) = leaf_hashes.split_at(k);
            hash_node(&root_from_leaves(left), &root_from_leaves(right))
        }
    }
}

/// Folds the roots of consecutive perfect subtrees (largest first, as produced by
/// [`perfect_subtrees`](super::perfect_subtrees)) right to left into the RFC 9162 root of
/// their union. Empty input gives [`empty_root`].
pub(crate) fn fold_subtree_roots<I>(roots: I) -> Digest
where
    I: DoubleEndedIterator<Item = Digest>,
{
    let mut rev = roots.rev();
    match rev.next() {
        None => empty_root(),
        Some(last) => rev.fold(last, |acc, left| hash_node(&left, &acc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_leaf;

    #[test]
    fn small_trees_by_hand() {
        let l: Vec<Digest> = (0u8..3).map(|i| hash_leaf(&Digest::from_bytes([i; 32]))).collect();
        assert_eq!(root_from_leaves(&[]), empty_root());
        assert_eq!(root_from_leaves(&l[..1]), l[0]);
        assert_eq!(root_from_leaves(&l[..2]), hash_node(&l[0], &l[1]));
        assert_eq!(root_from_leaves(&l), hash_node(&hash_node(&l[0], &l[1]), &l[2]));
        assert_eq!(fold_subtree_roots(core::iter::empty()), empty_root());
        let ab = hash_node(&l[0], &l[1]);
        assert_eq!(fold_subtree_roots([ab, l[2]].into_iter()), root_from_leaves(&l));
    }
}
