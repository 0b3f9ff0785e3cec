//! Cross-module tests: exhaustive proof round trips and mutations, extreme sizes, property
//! tests and known-answer vectors.

mod consistency;
mod extremes;
mod inclusion;
mod vectors;

use crate::hash::{hash_leaf, Digest};

use super::MemoryTree;

/// Distinct pseudo-random leaf hashes.
fn leaves(n: u64) -> Vec<Digest> {
    (0..n)
        .map(|i| hash_leaf(&Digest::from_bytes(blake3::hash(&i.to_le_bytes()).into())))
        .collect()
}

fn tree_of(leaves: &[Digest]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in leaves {
        t.push(*l).unwrap();
    }
    t
}

fn ix(n: u64) -> usize {
    usize::try_from(n).unwrap()
}

fn prefix(leaves: &[Digest], n: u64) -> &[Digest] {
    &leaves[..ix(n)]
}

fn flip(d: &Digest, byte: usize, bit: usize) -> Digest {
    let mut b = d.to_bytes();
    b[byte % 32] ^= 1 << (bit % 8);
    Digest::from_bytes(b)
}
