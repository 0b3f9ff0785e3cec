//! Reading stored perfect-subtree hashes, and assembling arbitrary subtree roots from them.

use crate::hash::Digest;

#[cfg(any(fuzzing, feature = "test-util"))]
use super::frontier::{Frontier, FrontierError};
use super::root::fold_subtree_roots;
use super::tree_math::perfect_subtrees;

/// Read access to stored perfect-subtree hashes (typically the nodes reported by
/// [`Frontier::push`] and persisted by the storage layer).
pub trait NodeSource {
    /// Error returned when a node cannot be read (missing, I/O failure, …).
    type Error;

    /// Hash of the perfect subtree at `level` with index `index` (covering leaves
    /// `index·2^level .. (index+1)·2^level`), which must be complete within the tree being
    /// proved.
    ///
    /// # Errors
    /// Implementation-defined; typically the node is not stored or cannot be read.
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error>;

    /// The root of leaves `[start, end)` — a range that is not one perfect subtree — if the
    /// source remembers it from an earlier [`NodeSource::remember_root`]. A reader keeps the
    /// right edge of the tree sizes it proves against: every proof of a size has it.
    fn remembered_root(&self, _start: u64, _end: u64) -> Option<Digest> {
        None
    }

    /// Offers the root of leaves `[start, end)` just folded from stored nodes (only for ranges
    /// that are not one perfect subtree).
    fn remember_root(&self, _start: u64, _end: u64, _root: &Digest) {}
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    type Error = T::Error;

    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        (**self).node(level, index)
    }

    fn remembered_root(&self, start: u64, end: u64) -> Option<Digest> {
        (**self).remembered_root(start, end)
    }

    fn remember_root(&self, start: u64, end: u64, root: &Digest) {
        (**self).remember_root(start, end, root);
    }
}

/// Error of the proof builders ([`subtree_root`], [`inclusion_proof`](super::inclusion_proof),
/// [`consistency_proof`](super::consistency_proof)): either the node source failed, or the
/// requested sizes/indices/range are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError<E> {
    /// The [`NodeSource`] failed to supply a node.
    #[error("could not read a stored Merkle node")]
    Source(#[source] E),
    /// The arguments describe no valid proof or range (e.g. `leaf_index >= tree_size`,
    /// `old_size == 0`, `old_size > new_size`, an unaligned range).
    #[error("invalid proof request: {0}")]
    Range(&'static str),
}

/// RFC 9162 Merkle Tree Hash of leaves `[start, end)`, computed from at most 64 stored
/// perfect-subtree nodes folded right to left.
///
/// The range must be an RFC subtree range (`start` a multiple of the largest power of two
/// `≤ end − start`, see [`is_subtree_range`](super::is_subtree_range)); every subtree of an
/// RFC 9162 tree or proof is one. An empty range gives [`empty_root`](super::empty_root).
///
/// # Errors
/// [`BuildError::Range`] for `start > end` or an unaligned range; [`BuildError::Source`] if a
/// node cannot be read.
pub fn subtree_root<S: NodeSource + ?Sized>(src: &S, start: u64, end: u64) -> Result<Digest, BuildError<S::Error>> {
    if start > end {
        return Err(BuildError::Range("range start exceeds its end"));
    }
    let nodes = perfect_subtrees(start, end).ok_or(BuildError::Range(
        "range start is not aligned to the largest power of two within its length",
    ))?;
    // One perfect subtree (or none) is one stored node; a longer list is a right edge, which
    // the source may remember.
    if (end - start).count_ones() <= 1 {
        return Ok(match nodes.into_iter().next() {
            Some(n) => src.node(n.level, n.index).map_err(BuildError::Source)?,
            None => fold_subtree_roots(core::iter::empty()),
        });
    }
    if let Some(root) = src.remembered_root(start, end) {
        return Ok(root);
    }
    let roots = nodes
        .map(|n| src.node(n.level, n.index))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BuildError::Source)?;
    let root = fold_subtree_roots(roots.into_iter());
    src.remember_root(start, end, &root);
    Ok(root)
}

/// A node the [`MemoryTree`] does not hold (not complete within its current size).
#[cfg(any(fuzzing, feature = "test-util"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no complete Merkle node at level {level}, index {index}")]
pub struct MissingNode {
    /// Requested level.
    pub level: u8,
    /// Requested index.
    pub index: u64,
}

/// An in-memory tree that stores every perfect-subtree node of every level (about `2n`
/// hashes). Reference [`NodeSource`] for tests, benchmarks and small logs.
#[cfg(any(fuzzing, feature = "test-util"))]
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    /// `levels[k][i]` = node at level k, index i.
    levels: Vec<Vec<Digest>>,
}

#[cfg(any(fuzzing, feature = "test-util"))]
impl MemoryTree {
    /// The empty tree.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            frontier: Frontier::new(),
            levels: Vec::new(),
        }
    }

    /// Appends a **leaf hash** (`hash_leaf(entry_hash)`) and stores the nodes it completes.
    ///
    /// # Errors
    /// [`FrontierError::Full`] at `u64::MAX` leaves (unreachable in memory).
    pub fn push(&mut self, leaf_hash: Digest) -> Result<(), FrontierError> {
        for node in self.frontier.push(leaf_hash)? {
            let level = usize::from(node.level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Nodes of each level complete strictly left to right, so `node.index` is the
            // current length of that level.
            debug_assert_eq!(self.levels[level].len() as u64, node.index);
            self.levels[level].push(node.hash);
        }
        Ok(())
    }

    /// Number of leaves.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// The root the tree had when it held `size` leaves.
    ///
    /// # Errors
    /// [`BuildError::Source`] if `size` exceeds the current size.
    pub fn root_at(&self, size: u64) -> Result<Digest, BuildError<MissingNode>> {
        subtree_root(self, 0, size)
    }

    /// The current right edge (frontier) of the tree.
    #[must_use]
    pub const fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

#[cfg(any(fuzzing, feature = "test-util"))]
impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn node(&self, level: u8, index: u64) -> Result<Digest, MissingNode> {
        let missing = MissingNode { level, index };
        let row = self.levels.get(usize::from(level)).ok_or(missing)?;
        let i = usize::try_from(index).map_err(|_| missing)?;
        row.get(i).copied().ok_or(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_leaf;
    use crate::merkle::{empty_root, is_subtree_range, root_from_leaves};

    fn tree(n: u64) -> (MemoryTree, Vec<Digest>) {
        let leaves: Vec<Digest> = (0..n)
            .map(|i| hash_leaf(&Digest::from_bytes(blake3::hash(&i.to_le_bytes()).into())))
            .collect();
        let mut t = MemoryTree::new();
        for l in &leaves {
            t.push(*l).unwrap();
        }
        (t, leaves)
    }

    #[test]
    fn subtree_root_matches_reference_for_all_ranges_up_to_70() {
        let (t, leaves) = tree(70);
        for size in 0..=70u64 {
            let prefix = &leaves[..usize::try_from(size).unwrap()];
            assert_eq!(t.root_at(size).unwrap(), root_from_leaves(prefix));
            for start in 0..=size {
                for end in start..=size {
                    let got = subtree_root(&t, start, end);
                    if is_subtree_range(start, end) {
                        let (s, e) = (usize::try_from(start).unwrap(), usize::try_from(end).unwrap());
                        assert_eq!(got, Ok(root_from_leaves(&leaves[s..e])), "[{start},{end})");
                    } else {
                        assert!(matches!(got, Err(BuildError::Range(_))), "[{start},{end})");
                    }
                }
            }
        }
        assert!(matches!(subtree_root(&t, 5, 4), Err(BuildError::Range(_))));
        assert_eq!(subtree_root(&t, 0, 0), Ok(empty_root()));
    }

    /// A source that remembers right edges, as a reader does.
    struct Remembering<'t> {
        tree: &'t MemoryTree,
        edges: core::cell::RefCell<std::collections::HashMap<(u64, u64), Digest>>,
    }

    impl NodeSource for Remembering<'_> {
        type Error = MissingNode;

        fn node(&self, level: u8, index: u64) -> Result<Digest, MissingNode> {
            self.tree.node(level, index)
        }

        fn remembered_root(&self, start: u64, end: u64) -> Option<Digest> {
            self.edges.borrow().get(&(start, end)).copied()
        }

        fn remember_root(&self, start: u64, end: u64, root: &Digest) {
            assert!((end - start).count_ones() > 1, "[{start},{end}) is one node");
            let old = self.edges.borrow_mut().insert((start, end), *root);
            assert!(old.is_none(), "[{start},{end}) folded again although remembered");
        }
    }

    #[test]
    fn remembered_right_edges_give_the_roots_folded_from_nodes() {
        let (t, leaves) = tree(70);
        let src = Remembering {
            tree: &t,
            edges: core::cell::RefCell::default(),
        };
        // Twice over every range: the second pass answers right edges from memory.
        for _ in 0..2 {
            for end in 0..=70u64 {
                for start in (0..=end).filter(|&s| is_subtree_range(s, end)) {
                    let (s, e) = (usize::try_from(start).unwrap(), usize::try_from(end).unwrap());
                    assert_eq!(subtree_root(&src, start, end), Ok(root_from_leaves(&leaves[s..e])));
                }
            }
        }
        let edges = src.edges.borrow();
        assert!(edges.keys().all(|&(s, e)| (e - s).count_ones() > 1));
        assert!(edges.contains_key(&(0, 70)) && !edges.contains_key(&(0, 64)));
    }

    #[test]
    fn missing_nodes_are_source_errors() {
        let (t, _) = tree(10);
        assert_eq!(t.node(0, 10), Err(MissingNode { level: 0, index: 10 }));
        assert!(t.node(3, 1).is_err());
        assert!(t.node(200, 0).is_err());
        assert!(t.node(0, u64::MAX).is_err());
        assert!(matches!(t.root_at(11), Err(BuildError::Source(_))));
        let f = Frontier::load(&t, 10).unwrap();
        assert_eq!(&f, t.frontier());
        assert_eq!(Frontier::load(&t, 7).unwrap().root(), t.root_at(7).unwrap());
        assert!(Frontier::load(&t, 11).is_err());
    }
}
