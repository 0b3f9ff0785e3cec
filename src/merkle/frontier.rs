//! The O(log n) right edge ("compact range") of an append-only Merkle tree.

use crate::hash::{hash_node, Digest};

use super::root::fold_subtree_roots;
use super::source::NodeSource;
use super::tree_math::perfect_subtrees;

/// A perfect subtree whose hash became known by a [`Frontier::push`].
///
/// `level` 0 is the pushed leaf itself (`index` = leaf index); a node at `level` k with
/// `index` i covers leaves `[i·2^k, (i+1)·2^k)`. The storage layer persists these so that
/// proofs can later be built from O(log n) reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedNode {
    /// Height above the leaves (0 = leaf).
    pub level: u8,
    /// Position among the nodes of this level.
    pub index: u64,
    /// The node's hash (for level 0, the leaf hash).
    pub hash: Digest,
}

/// Why a [`Frontier`] could not be built or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// `from_parts` got a number of hashes different from the popcount of the size.
    #[error("a frontier of size {size} has {expected} hashes, got {actual}")]
    #[cfg_attr(not(any(fuzzing, feature = "test-util")), allow(dead_code))] // only `from_parts`
    WrongHashCount {
        /// The claimed tree size.
        size: u64,
        /// `size.count_ones()`.
        expected: usize,
        /// The number of hashes supplied.
        actual: usize,
    },
    /// The tree already holds `u64::MAX` leaves.
    #[error("the tree is full (u64::MAX leaves)")]
    Full,
}

/// The right edge of an append-only RFC 9162 Merkle tree: one hash per set bit of the size,
/// i.e. the roots of the perfect subtrees `perfect_subtrees(0, size)`, largest first.
///
/// Supports appending leaves and computing the current root in O(log n) time and space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Digest>,
}

impl Frontier {
    /// The empty tree.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            size: 0,
            hashes: Vec::new(),
        }
    }

    /// Restores a frontier saved with [`Frontier::size`] and [`Frontier::hashes`].
    ///
    /// # Errors
    /// [`FrontierError::WrongHashCount`] unless `hashes.len() == size.count_ones()`.
    /// The hashes themselves cannot be checked here; a wrong hash yields a wrong root.
    pub fn from_parts(size: u64, hashes: Vec<Digest>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierError::WrongHashCount {
                size,
                expected,
                actual: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds the frontier of a tree of `size` leaves from stored perfect-subtree nodes
    /// (`popcount(size)` reads).
    ///
    /// # Errors
    /// Whatever the source returns for a missing or unreadable node.
    pub fn load<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Self, S::Error> {
        let hashes = perfect_subtrees(0, size)
            .into_iter()
            .flatten()
            .map(|node| src.node(node.level, node.index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size, hashes })
    }

    /// Number of leaves.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest (leftmost) first; one per set bit of the size.
    #[must_use]
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// The RFC 9162 Merkle Tree Hash of the current tree ([`empty_root`](super::empty_root)
    /// when empty).
    #[must_use]
    pub fn root(&self) -> Digest {
        fold_subtree_roots(self.hashes.iter().copied())
    }

    /// Appends a leaf and returns every perfect subtree this completes, lowest level first:
    /// always the leaf itself at level 0, then one node per level merged.
    ///
    /// `leaf_hash` is the **leaf hash** `hash_leaf(entry_hash)`, not the entry hash.
    ///
    /// # Errors
    /// [`FrontierError::Full`] if the tree already has `u64::MAX` leaves; nothing changes.
    #[cfg(any(fuzzing, feature = "test-util"))]
    pub fn push(&mut self, leaf_hash: Digest) -> Result<Vec<CompletedNode>, FrontierError> {
        let mut completed = Vec::with_capacity(self.size.trailing_ones() as usize + 1);
        self.push_with(leaf_hash, |n| completed.push(n))?;
        Ok(completed)
    }

    /// Like [`Frontier::push`], but hands each completed node to `on_node` (lowest level
    /// first) instead of allocating a list: the append hot path.
    ///
    /// # Errors
    /// [`FrontierError::Full`] if the tree already has `u64::MAX` leaves; nothing changes.
    pub fn push_with(
        &mut self,
        leaf_hash: Digest,
        mut on_node: impl FnMut(CompletedNode),
    ) -> Result<(), FrontierError> {
        let old = self.size;
        let new = old.checked_add(1).ok_or(FrontierError::Full)?;
        // The trailing one bits of `old` are the perfect subtrees that merge with the new leaf;
        // they are the last `merges` hashes (invariant: one hash per set bit, largest first).
        let merges = old.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(merges);
        on_node(CompletedNode {
            level: 0,
            index: old,
            hash: leaf_hash,
        });
        let mut hash = leaf_hash;
        for (level, left) in (1u8..).zip(self.hashes.drain(keep..).rev()) {
            hash = hash_node(&left, &hash);
            on_node(CompletedNode {
                level,
                // The low `level` bits of `old` are ones, so this node ends at `new`.
                index: old >> level,
                hash,
            });
        }
        self.hashes.push(hash);
        self.size = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::hash::hash_leaf;
    use crate::merkle::{empty_root, root_from_leaves};

    fn leaves(n: u64) -> Vec<Digest> {
        (0..n)
            .map(|i| hash_leaf(&Digest::from_bytes(blake3::hash(&i.to_le_bytes()).into())))
            .collect()
    }

    #[test]
    fn root_matches_reference_up_to_1000() {
        let leaves = leaves(1000);
        let mut f = Frontier::new();
        assert_eq!(f.root(), empty_root());
        assert_eq!(
            f.root(),
            Digest::from_bytes(<sha2::Sha256 as sha2::Digest>::digest(b"").into())
        );
        for (i, leaf) in leaves.iter().enumerate() {
            f.push(*leaf).unwrap();
            assert_eq!(f.size(), i as u64 + 1);
            assert_eq!(f.hashes().len(), f.size().count_ones() as usize);
            assert_eq!(f.root(), root_from_leaves(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn completed_nodes_reported_once_with_reference_hash() {
        let n = 600u64;
        let leaves = leaves(n);
        let mut f = Frontier::new();
        let mut seen: HashMap<(u8, u64), Digest> = HashMap::new();
        for leaf in &leaves {
            let done = f.push(*leaf).unwrap();
            assert_eq!(done[0].level, 0);
            for w in done.windows(2) {
                assert_eq!(w[1].level, w[0].level + 1);
            }
            for c in done {
                assert!(seen.insert((c.level, c.index), c.hash).is_none(), "{c:?} twice");
            }
        }
        // Exactly the perfect subtrees that lie within [0, n), each with its reference hash.
        let mut expected = 0;
        for level in 0u8..16 {
            let width = 1u64 << level;
            for index in 0..n / width {
                expected += 1;
                let start = usize::try_from(index * width).unwrap();
                let end = usize::try_from((index + 1) * width).unwrap();
                let got = seen.get(&(level, index)).expect("node reported");
                assert_eq!(*got, root_from_leaves(&leaves[start..end]));
            }
        }
        assert_eq!(seen.len(), expected);
    }

    #[test]
    fn parts_round_trip_and_reject_wrong_counts() {
        let leaves = leaves(77);
        let mut f = Frontier::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let g = Frontier::from_parts(f.size(), f.hashes().to_vec()).unwrap();
            assert_eq!(g, f);
            let mut more = f.hashes().to_vec();
            more.push(*leaf);
            assert!(matches!(
                Frontier::from_parts(f.size(), more),
                Err(FrontierError::WrongHashCount { .. })
            ));
            if !f.hashes().is_empty() {
                let fewer = f.hashes()[1..].to_vec();
                assert!(Frontier::from_parts(f.size(), fewer).is_err());
            }
            // Continuing from a restored frontier gives the same tree.
            let mut g = g;
            g.push(*leaf).unwrap();
            f.push(*leaf).unwrap();
            assert_eq!(g.root(), root_from_leaves(&leaves[..=i]));
        }
        assert!(Frontier::from_parts(u64::MAX, vec![]).is_err());
    }

    #[test]
    fn full_tree_refuses_push() {
        let hashes = vec![Digest::ZERO; 64];
        let mut f = Frontier::from_parts(u64::MAX, hashes).unwrap();
        let before = f.clone();
        assert_eq!(f.push(Digest::ZERO), Err(FrontierError::Full));
        assert_eq!(f, before);
        // One below full: merges 63 subtrees without overflow.
        let mut g = Frontier::from_parts(u64::MAX - 1, vec![Digest::ZERO; 63]).unwrap();
        let done = g.push(Digest::ZERO).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(g.size(), u64::MAX);
        let mut h = Frontier::from_parts((1 << 63) - 1, vec![Digest::ZERO; 63]).unwrap();
        let done = h.push(Digest::ZERO).unwrap();
        assert_eq!(done.len(), 64);
        assert_eq!((done[63].level, done[63].index), (63, 0));
        assert_eq!(h.hashes().len(), 1);
    }
}
