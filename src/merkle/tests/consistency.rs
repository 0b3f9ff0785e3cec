//! Consistency proofs: every pair 1 ≤ m ≤ n ≤ 130, with every kind of mutation.

use super::{flip, ix, leaves, prefix, tree_of};
use crate::hash::Digest;
use crate::merkle::tree_math::{PathWalk, Side};
use crate::merkle::{
    consistency_path_len, consistency_proof, root_from_leaves, verify_consistency, BuildError, ProofError,
    MAX_CONSISTENCY_PATH_LEN,
};

const MAX_N: u64 = 130;
/// Up to this new size every byte position of every path element gets a bit flipped.
const FULL_FLIP_N: u64 = 40;

/// What the verifier computes from: whether the old root seeds it, and the walk.
fn shape(old: u64, new: u64) -> Option<(bool, Vec<Side>)> {
    if old == new && old > 0 {
        return Some((true, vec![]));
    }
    PathWalk::consistency(old, new).map(|w| (old.is_power_of_two(), w.collect()))
}

fn is_malformed(r: &Result<(), ProofError>) -> bool {
    matches!(r, Err(ProofError::Malformed(_)))
}

struct Case<'a> {
    m: u64,
    n: u64,
    old: &'a Digest,
    new: &'a Digest,
    path: &'a [Digest],
}

impl Case<'_> {
    fn verify(&self, m: u64, n: u64, path: &[Digest]) -> Result<(), ProofError> {
        verify_consistency(m, n, self.old, self.new, path)
    }

    /// Other sizes must fail unless the computation is literally the same.
    fn other_sizes(&self, m: u64, n: u64) -> bool {
        let same = shape(m, n).is_some() && shape(m, n) == shape(self.m, self.n);
        let got = self.verify(m, n, self.path);
        if same {
            assert_eq!(got, Ok(()), "{m}->{n} with proof of {}->{}", self.m, self.n);
        } else {
            assert!(got.is_err(), "{m}->{n} with proof of {}->{}", self.m, self.n);
        }
        same
    }

    fn flips(&self) {
        let (m, n) = (self.m, self.n);
        let mut bad = self.path.to_vec();
        for e in 0..self.path.len() {
            let bytes: Vec<usize> = if n <= FULL_FLIP_N {
                (0..32).collect()
            } else {
                let s = usize::try_from(m * 3 + n).unwrap();
                vec![s, s + 11, s + 23]
            };
            for byte in bytes {
                bad[e] = flip(&self.path[e], byte, byte + e);
                assert_eq!(self.verify(m, n, &bad), Err(ProofError::RootMismatch), "{m}->{n}");
                bad[e] = self.path[e];
            }
        }
    }

    fn lengths(&self) {
        let (m, n) = (self.m, self.n);
        let mut longer = self.path.to_vec();
        longer.push(*self.old);
        assert!(is_malformed(&self.verify(m, n, &longer)), "{m}->{n}");
        if let Some((_, rest)) = self.path.split_first() {
            assert!(is_malformed(&self.verify(m, n, rest)), "{m}->{n}");
            let short = &self.path[..self.path.len() - 1];
            assert!(is_malformed(&self.verify(m, n, short)), "{m}->{n}");
        }
    }

    fn roots(&self) {
        let (m, n, p) = (self.m, self.n, self.path);
        let bad_old = flip(self.old, 5, 1);
        let bad_new = flip(self.new, 9, 6);
        let r = verify_consistency(m, n, &bad_old, self.new, p);
        assert_eq!(r, Err(ProofError::RootMismatch), "{m}->{n}");
        let r = verify_consistency(m, n, self.old, &bad_new, p);
        assert_eq!(r, Err(ProofError::RootMismatch), "{m}->{n}");
        if m < n {
            let r = verify_consistency(m, n, self.new, self.old, p);
            assert_eq!(r, Err(ProofError::RootMismatch), "{m}->{n} swapped");
        }
    }
}

#[test]
fn all_pairs_verify_and_mutations_fail() {
    let leaves = leaves(MAX_N + 1);
    let tree = tree_of(&leaves);
    let roots: Vec<Digest> = (0..=MAX_N + 1).map(|n| root_from_leaves(prefix(&leaves, n))).collect();
    // Per mutation kind: (indistinguishable, total).
    let mut stats = [(0u32, 0u32); 5];
    for n in 1..=MAX_N {
        for m in 1..=n {
            let path = consistency_proof(&tree, m, n).unwrap();
            assert_eq!(Some(path.len()), consistency_path_len(m, n));
            let (old, new) = (&roots[ix(m)], &roots[ix(n)]);
            let case = Case {
                m,
                n,
                old,
                new,
                path: &path,
            };
            assert_eq!(case.verify(m, n, &path), Ok(()), "{m}->{n}");
            case.flips();
            case.lengths();
            case.roots();
            let others = [(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (m, u64::MAX)];
            for (stat, (m2, n2)) in stats.iter_mut().zip(others) {
                stat.0 += u32::from(case.other_sizes(m2, n2));
                stat.1 += 1;
            }
            // Against the true roots of neighbouring sizes the proof never verifies.
            for (m2, n2) in [(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)] {
                let (o, w) = (&roots[ix(m2)], &roots[ix(n2)]);
                assert!(verify_consistency(m2, n2, o, w, &path).is_err(), "{m2}->{n2}");
            }
            assert!(is_malformed(&case.verify(0, n, &path)));
            assert!(is_malformed(&case.verify(n + 1, n, &path)));
        }
    }
    println!("indistinguishable/total for old-1, old+1, new-1, new+1, new=MAX: {stats:?}");
    // Changing the old size always changes the computation; so does a far-off new size.
    assert_eq!((stats[0].0, stats[1].0, stats[4].0), (0, 0, 0));
    assert!(stats[2].0 < stats[2].1 && stats[3].0 < stats[3].1);
}

#[test]
fn equal_sizes_and_bad_requests() {
    let leaves = leaves(6);
    let tree = tree_of(&leaves);
    let r = tree.root();
    let other = tree.root_at(5).unwrap();
    assert_eq!(consistency_proof(&tree, 6, 6), Ok(vec![]));
    assert_eq!(verify_consistency(6, 6, &r, &r, &[]), Ok(()));
    assert_eq!(verify_consistency(6, 6, &r, &other, &[]), Err(ProofError::RootMismatch));
    assert!(is_malformed(&verify_consistency(6, 6, &r, &r, &[r])));
    assert!(is_malformed(&verify_consistency(0, 0, &r, &r, &[])));
    assert!(is_malformed(&verify_consistency(5, 6, &other, &r, &[])));
    let huge = vec![r; MAX_CONSISTENCY_PATH_LEN + 1];
    assert!(is_malformed(&verify_consistency(3, u64::MAX, &r, &r, &huge)));
    assert!(matches!(consistency_proof(&tree, 0, 6), Err(BuildError::Range(_))));
    assert!(matches!(consistency_proof(&tree, 7, 6), Err(BuildError::Range(_))));
    assert!(matches!(consistency_proof(&tree, 3, 7), Err(BuildError::Source(_))));
}
