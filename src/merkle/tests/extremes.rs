//! Huge trees (via a synthetic uniform source), hostile verifier input, and property tests.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::{leaves, prefix, tree_of};
use crate::hash::{hash_leaf, hash_node, Digest};
use crate::merkle::{
    consistency_path_len, consistency_proof, inclusion_path_len, inclusion_proof, root_from_leaves, subtree_root,
    verify_consistency, verify_inclusion, Frontier, MemoryTree, NodeSource, ProofError,
};

/// A tree whose leaves all equal one leaf hash: the node at level k is the same for every
/// index, so trees of up to `u64::MAX` leaves can be proved without storing them.
struct Uniform([Digest; 64]);

impl Uniform {
    fn new() -> Self {
        let mut levels = [hash_leaf(&Digest::from_bytes([7; 32])); 64];
        for k in 1..64 {
            levels[k] = hash_node(&levels[k - 1], &levels[k - 1]);
        }
        Self(levels)
    }
}

impl NodeSource for Uniform {
    type Error = core::convert::Infallible;
    fn node(&self, level: u8, _index: u64) -> Result<Digest, Self::Error> {
        Ok(self.0[usize::from(level)])
    }
}

const HUGE: [u64; 6] = [u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1, (1 << 40) + 12345, 3];

#[test]
fn huge_trees_prove_and_verify() {
    let src = Uniform::new();
    let leaf = src.0[0];
    for n in HUGE {
        let root = subtree_root(&src, 0, n).unwrap();
        assert_eq!(Frontier::load(&src, n).unwrap().root(), root);
        for i in [0, 1, n / 2, n - 2, n - 1] {
            let path = inclusion_proof(&src, i, n).unwrap();
            assert_eq!(Some(path.len()), inclusion_path_len(i, n));
            assert_eq!(verify_inclusion(&leaf, i, n, &path, &root), Ok(()), "{i}/{n}");
        }
        for m in [1, 2, 3, n / 2 + 1, n - 1, n] {
            let old_root = subtree_root(&src, 0, m).unwrap();
            let path = consistency_proof(&src, m, n).unwrap();
            assert_eq!(Some(path.len()), consistency_path_len(m, n));
            assert_eq!(verify_consistency(m, n, &old_root, &root, &path), Ok(()), "{m}->{n}");
        }
    }
    let path = consistency_proof(&src, 3, u64::MAX).unwrap();
    assert_eq!(path.len(), 65);
    assert_eq!(inclusion_proof(&src, 0, u64::MAX).unwrap().len(), 64);
}

#[test]
fn hostile_verifier_input_never_panics() {
    let d = Digest::from_bytes([0xa5; 32]);
    let sizes = [0, 1, 2, 3, u64::MAX / 2, u64::MAX - 2, u64::MAX - 1, u64::MAX];
    let long = vec![d; 10_000];
    for len in [0usize, 1, 2, 31, 62, 63, 64, 65, 66, 10_000] {
        let path = &long[..len];
        for &a in &sizes {
            for &b in &sizes {
                let inc = verify_inclusion(&d, a, b, path, &d);
                let con = verify_consistency(a, b, &d, &d, path);
                if len > 65 {
                    assert!(matches!(inc, Err(ProofError::Malformed(_))));
                    assert!(matches!(con, Err(ProofError::Malformed(_))));
                }
                // Equal sizes with an empty path and equal roots is the only way to pass.
                assert_eq!(con.is_ok(), a == b && a > 0 && len == 0);
                assert!(inc.is_err() || (a == 0 && b == 1 && len == 0));
            }
        }
    }
    assert!(matches!(
        verify_inclusion(&d, 0, u64::MAX, &long[..65], &d),
        Err(ProofError::Malformed(_))
    ));
}

const PROP_N: u64 = 5000;

fn shared() -> &'static (Vec<Digest>, MemoryTree) {
    static TREE: OnceLock<(Vec<Digest>, MemoryTree)> = OnceLock::new();
    TREE.get_or_init(|| {
        let leaves = leaves(PROP_N);
        let tree = tree_of(&leaves);
        (leaves, tree)
    })
}

fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=PROP_N).prop_flat_map(|n| (Just(n), 0..n))
}

fn sizes_pair() -> impl Strategy<Value = (u64, u64)> {
    (1..=PROP_N).prop_flat_map(|n| (1..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_inclusion_verifies((n, i) in size_and_index()) {
        let (leaves, tree) = shared();
        let root = root_from_leaves(prefix(leaves, n));
        let path = inclusion_proof(tree, i, n).unwrap();
        let leaf = &leaves[usize::try_from(i).unwrap()];
        prop_assert_eq!(verify_inclusion(leaf, i, n, &path, &root), Ok(()));
        if n > 1 {
            let other = &leaves[usize::try_from((i + 1) % n).unwrap()];
            prop_assert_eq!(verify_inclusion(other, i, n, &path, &root), Err(ProofError::RootMismatch));
        }
    }

    #[test]
    fn random_consistency_verifies((m, n) in sizes_pair()) {
        let (leaves, tree) = shared();
        let old = root_from_leaves(prefix(leaves, m));
        let new = root_from_leaves(prefix(leaves, n));
        let path = consistency_proof(tree, m, n).unwrap();
        prop_assert_eq!(verify_consistency(m, n, &old, &new, &path), Ok(()));
        if m < n {
            prop_assert!(verify_consistency(m, n, &new, &old, &path).is_err());
        }
    }
}
