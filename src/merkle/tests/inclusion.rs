//! Inclusion proofs: every index of every size 1..=300, with every kind of mutation.

use super::{flip, leaves, prefix, tree_of};
use crate::hash::Digest;
use crate::merkle::tree_math::{PathWalk, Side};
use crate::merkle::{
    inclusion_path_len, inclusion_proof, root_from_leaves, verify_inclusion, verify_inclusion_of_entry, BuildError,
    ProofError,
};

const MAX_N: u64 = 300;
/// Up to this size every byte position of every path element gets a bit flipped.
const FULL_FLIP_N: u64 = 64;

fn shape(index: u64, size: u64) -> Option<Vec<Side>> {
    PathWalk::inclusion(index, size).map(Iterator::collect)
}

fn mismatch(leaf: &Digest, i: u64, n: u64, path: &[Digest], root: &Digest) {
    assert_eq!(
        verify_inclusion(leaf, i, n, path, root),
        Err(ProofError::RootMismatch),
        "i={i} n={n}"
    );
}

fn malformed(leaf: &Digest, i: u64, n: u64, path: &[Digest], root: &Digest) {
    assert!(
        matches!(verify_inclusion(leaf, i, n, path, root), Err(ProofError::Malformed(_))),
        "i={i} n={n}"
    );
}

/// A claim with another index or size must fail unless the verifier's computation is
/// literally the same (same proof shape), which RFC 9162 cannot distinguish.
/// Returns whether it was such an indistinguishable claim.
fn other_claim(leaf: &Digest, i: u64, n: u64, path: &[Digest], root: &Digest, orig: (u64, u64)) -> bool {
    let same = shape(i, n).is_some() && shape(i, n) == shape(orig.0, orig.1);
    let got = verify_inclusion(leaf, i, n, path, root);
    if same {
        assert_eq!(got, Ok(()), "i={i} n={n}");
    } else {
        assert!(got.is_err(), "i={i} n={n} (proof of {orig:?})");
    }
    same
}

fn flip_elements(leaf: &Digest, i: u64, n: u64, path: &[Digest], root: &Digest) {
    let mut bad = path.to_vec();
    if n <= FULL_FLIP_N {
        for e in 0..path.len() {
            for byte in 0..32 {
                bad[e] = flip(&path[e], byte, byte + e);
                mismatch(leaf, i, n, &bad, root);
                bad[e] = path[e];
            }
        }
    } else if !path.is_empty() {
        // One sampled flip per (size, index): over all indices every element is hit.
        let (i_, n_) = (usize::try_from(i).unwrap(), usize::try_from(n).unwrap());
        let e = i_ % path.len();
        bad[e] = flip(&path[e], i_ * 7 + n_, i_ + n_);
        mismatch(leaf, i, n, &bad, root);
    }
}

#[test]
fn all_indices_all_sizes_verify_and_mutations_fail() {
    let leaves = leaves(MAX_N + 1);
    let tree = tree_of(&leaves);
    // Per size mutation: (indistinguishable, total).
    let mut stats = [(0u32, 0u32); 4];
    let roots: Vec<Digest> = (0..=MAX_N + 1).map(|n| root_from_leaves(prefix(&leaves, n))).collect();
    for n in 1..=MAX_N {
        let root = roots[usize::try_from(n).unwrap()];
        assert_eq!(tree.root_at(n), Ok(root));
        let bad_root = flip(&root, usize::try_from(n).unwrap(), 3);
        for i in 0..n {
            let leaf = &leaves[usize::try_from(i).unwrap()];
            let path = inclusion_proof(&tree, i, n).unwrap();
            assert_eq!(Some(path.len()), inclusion_path_len(i, n));
            assert_eq!(verify_inclusion(leaf, i, n, &path, &root), Ok(()), "i={i} n={n}");

            // Path elements, leaf and root.
            flip_elements(leaf, i, n, &path, &root);
            mismatch(&flip(leaf, 0, 0), i, n, &path, &root);
            mismatch(leaf, i, n, &path, &bad_root);
            // Entry-level convenience: the leaf hash is not an entry hash.
            assert!(verify_inclusion_of_entry(leaf, i, n, &path, &root).is_err());

            // Path length.
            let mut longer = path.clone();
            longer.push(root);
            malformed(leaf, i, n, &longer, &root);
            if !path.is_empty() {
                malformed(leaf, i, n, &path[1..], &root);
                malformed(leaf, i, n, &path[..path.len() - 1], &root);
            }

            // Index.
            if i + 1 < n {
                assert!(!other_claim(leaf, i + 1, n, &path, &root, (i, n)));
            }
            if i > 0 {
                assert!(!other_claim(leaf, i - 1, n, &path, &root, (i, n)));
            }
            malformed(leaf, n, n, &path, &root);
            malformed(leaf, u64::MAX, n, &path, &root);

            // Size.
            let sizes = [n - 1, n + 1, n * 2, u64::MAX];
            for (stat, m) in stats.iter_mut().zip(sizes) {
                stat.0 += u32::from(other_claim(leaf, i, m, &path, &root, (i, n)));
                stat.1 += 1;
            }
            // Against the true root of a neighbouring size the proof never verifies.
            for m in [n - 1, n + 1] {
                let r = &roots[usize::try_from(m).unwrap()];
                assert!(verify_inclusion(leaf, i, m, &path, r).is_err(), "i={i} n={n}->{m}");
            }
            malformed(leaf, i, 0, &path, &root);
            malformed(leaf, i, i, &path, &root);
        }
    }
    println!("indistinguishable/total for size-1, size+1, 2*size, MAX: {stats:?}");
    // Far-off sizes always change the computation; neighbours do only sometimes.
    assert_eq!((stats[2].0, stats[3].0), (0, 0));
    assert!(stats[0].0 < stats[0].1 && stats[1].0 < stats[1].1);
}

#[test]
fn entry_convenience_applies_hash_leaf() {
    let entries: Vec<Digest> = (0u8..9).map(|i| Digest::from_bytes([i; 32])).collect();
    let leaves: Vec<Digest> = entries.iter().map(crate::hash::hash_leaf).collect();
    let tree = tree_of(&leaves);
    let root = tree.root();
    for (i, e) in (0u64..).zip(&entries) {
        let path = inclusion_proof(&tree, i, 9).unwrap();
        assert_eq!(verify_inclusion_of_entry(e, i, 9, &path, &root), Ok(()));
        assert_eq!(verify_inclusion(e, i, 9, &path, &root), Err(ProofError::RootMismatch));
    }
}

#[test]
fn builder_rejects_bad_requests() {
    let tree = tree_of(&leaves(5));
    assert!(matches!(inclusion_proof(&tree, 5, 5), Err(BuildError::Range(_))));
    assert!(matches!(inclusion_proof(&tree, 0, 0), Err(BuildError::Range(_))));
    assert!(matches!(inclusion_proof(&tree, 0, 6), Err(BuildError::Source(_))));
    assert_eq!(inclusion_proof(&tree_of(&leaves(1)), 0, 1), Ok(vec![]));
}
