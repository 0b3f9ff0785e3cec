//! Index arithmetic for RFC 9162 Merkle trees. Pure functions: no hashing, no I/O.
//!
//! Terminology used throughout the module:
//!
//! * A *perfect subtree* (or *node*) at `level` k with `index` i covers the `2^k` leaves
//!   `[i·2^k, (i+1)·2^k)`. Level 0 nodes are the leaves themselves.
//! * A range `[start, end)` is an *RFC subtree range* when its RFC 9162 Merkle Tree Hash can be
//!   assembled from aligned perfect subtrees: `start` is a multiple of the largest power of two
//!   `≤ end − start`. Every subtree that occurs inside an RFC 9162 tree, inclusion proof or
//!   consistency proof has this property.

/// Largest power of two strictly less than `n`, i.e. the RFC 9162 split point `k` with
/// `k < n ≤ 2k`.
///
/// Defined for `n ≥ 2`; returns 0 for `n < 2` (no such power exists).
#[must_use]
pub const fn largest_power_of_two_less_than(n: u64) -> u64 {
    if n < 2 {
        0
    } else {
        largest_power_of_two_at_most(n - 1)
    }
}

/// Largest power of two `≤ n`; 0 for `n == 0`.
#[must_use]
pub const fn largest_power_of_two_at_most(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 << n.ilog2()
    }
}

/// Whether the RFC 9162 hash of leaves `[start, end)` can be assembled from aligned perfect
/// subtrees (see the module docs). Empty ranges (`start == end`) qualify; `start > end` does not.
#[must_use]
pub const fn is_subtree_range(start: u64, end: u64) -> bool {
    if start > end {
        return false;
    }
    let width = largest_power_of_two_at_most(end - start);
    width == 0 || start.is_multiple_of(width)
}

/// Identifies one perfect subtree: `level` k and `index` i cover leaves `[i·2^k, (i+1)·2^k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0 = leaf).
    pub level: u8,
    /// Position among the nodes of this level, counted from the left.
    pub index: u64,
}

/// Iterator over the aligned perfect subtrees that make up an RFC subtree range, left to right
/// and largest first. Created by [`perfect_subtrees`].
#[derive(Debug, Clone)]
pub struct PerfectSubtrees {
    start: u64,
    end: u64,
}

impl Iterator for PerfectSubtrees {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let width = largest_power_of_two_at_most(self.end - self.start);
        if width == 0 {
            return None;
        }
        let level = width.trailing_zeros();
        // `level < 64`, so the narrowing cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let node = NodeId {
            level: level as u8,
            index: self.start >> level,
        };
        self.start += width; // ≤ end: cannot overflow.
        Some(node)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.start).count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PerfectSubtrees {}

/// Decomposes `[start, end)` into at most 64 aligned perfect subtrees, largest (leftmost)
/// first, exactly as RFC 9162's recursive definition splits it.
///
/// Returns `None` unless [`is_subtree_range`] holds. `perfect_subtrees(0, size)` lists the
/// nodes of a [`Frontier`](super::Frontier) of that size.
#[must_use]
pub const fn perfect_subtrees(start: u64, end: u64) -> Option<PerfectSubtrees> {
    if is_subtree_range(start, end) {
        Some(PerfectSubtrees { start, end })
    } else {
        None
    }
}

/// On which side of the running hash a proof element is combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `HASH(0x01 ‖ element ‖ running)`.
    Left,
    /// `HASH(0x01 ‖ running ‖ element)`.
    Right,
}

/// The `fn`/`sn` bit walk shared by RFC 9162 §2.1.3.2 and §2.1.4.2: yields, for each proof
/// element in order, the side it is combined on, and stops when `sn` reaches 0.
#[derive(Debug, Clone)]
pub(crate) struct PathWalk {
    fn_: u64,
    sn: u64,
}

impl PathWalk {
    /// Walk for an inclusion proof; `None` unless `index < size`.
    pub(crate) const fn inclusion(index: u64, size: u64) -> Option<Self> {
        if index >= size {
            return None;
        }
        Some(Self {
            fn_: index,
            sn: size - 1,
        })
    }

    /// Walk for a consistency proof with `0 < old < new` (after steps 3–4 of §2.1.4.2),
    /// or `None` for other sizes. The walk covers the elements after the seed.
    pub(crate) const fn consistency(old: u64, new: u64) -> Option<Self> {
        if old == 0 || old >= new {
            return None;
        }
        let mut walk = Self {
            fn_: old - 1,
            sn: new - 1,
        };
        while walk.fn_ & 1 == 1 {
            walk.shift();
        }
        Some(walk)
    }

    const fn shift(&mut self) {
        self.fn_ >>= 1;
        self.sn >>= 1;
    }
}

impl Iterator for PathWalk {
    type Item = Side;

    fn next(&mut self) -> Option<Side> {
        if self.sn == 0 {
            return None;
        }
        let side = if self.fn_ & 1 == 1 || self.fn_ == self.sn {
            while self.fn_ & 1 == 0 && self.fn_ != 0 {
                self.shift();
            }
            Side::Left
        } else {
            Side::Right
        };
        self.shift();
        Some(side)
    }
}

/// Number of elements in the RFC 9162 inclusion proof of leaf `index` in a tree of `size`
/// leaves (at most 64), or `None` if `index >= size`.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn inclusion_path_len(index: u64, size: u64) -> Option<usize> {
    PathWalk::inclusion(index, size).map(Iterator::count)
}

/// Number of elements in the RFC 9162 consistency proof from `old` to `new` leaves (at most
/// 65), or `None` unless `0 < old ≤ new`. Equal sizes need an empty proof.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn consistency_path_len(old: u64, new: u64) -> Option<usize> {
    if old == 0 || old > new {
        return None;
    }
    if old == new {
        return Some(0);
    }
    let seed = usize::from(!old.is_power_of_two());
    PathWalk::consistency(old, new).map(|walk| seed + walk.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two() {
        assert_eq!(largest_power_of_two_less_than(0), 0);
        assert_eq!(largest_power_of_two_less_than(1), 0);
        assert_eq!(largest_power_of_two_less_than(2), 1);
        assert_eq!(largest_power_of_two_less_than(3), 2);
        assert_eq!(largest_power_of_two_less_than(4), 2);
        assert_eq!(largest_power_of_two_less_than(5), 4);
        assert_eq!(largest_power_of_two_less_than(u64::MAX), 1 << 63);
        assert_eq!(largest_power_of_two_at_most(u64::MAX), 1 << 63);
        assert_eq!(largest_power_of_two_at_most(1), 1);
        for n in 2..2000u64 {
            let k = largest_power_of_two_less_than(n);
            assert!(k.is_power_of_two() && k < n && n <= 2 * k, "n={n}");
        }
    }

    #[test]
    fn decomposition_matches_binary_expansion() {
        for end in 0..300u64 {
            let nodes: Vec<NodeId> = perfect_subtrees(0, end).into_iter().flatten().collect();
            assert_eq!(nodes.len(), end.count_ones() as usize);
            let mut at = 0;
            for n in nodes {
                assert_eq!(n.index << n.level, at);
                at += 1 << n.level;
            }
            assert_eq!(at, end);
        }
        assert!(perfect_subtrees(1, 3).is_none());
        assert!(perfect_subtrees(5, 4).is_none());
        assert!(perfect_subtrees(4, 7).is_some());
        assert_eq!(perfect_subtrees(0, u64::MAX).map(|d| d.len()), Some(64));
        assert_eq!(perfect_subtrees(u64::MAX, u64::MAX).map(|d| d.len()), Some(0));
    }

    #[test]
    fn path_lengths_at_extremes() {
        assert_eq!(inclusion_path_len(0, 1), Some(0));
        assert_eq!(inclusion_path_len(1, 1), None);
        assert_eq!(inclusion_path_len(0, u64::MAX), Some(64));
        assert_eq!(inclusion_path_len(u64::MAX - 1, u64::MAX), Some(63));
        assert_eq!(consistency_path_len(0, 5), None);
        assert_eq!(consistency_path_len(6, 5), None);
        assert_eq!(consistency_path_len(5, 5), Some(0));
        assert_eq!(consistency_path_len(3, u64::MAX), Some(65));
        assert_eq!(consistency_path_len(1, u64::MAX), Some(64));
    }
}
