//! Generator of merkle.json (docs/FORMAT.md §10): RFC 6962 / RFC 9162 roots and proofs with
//! SHA-256. Roots and paths are computed from the RFC's recursive definitions (MTH, PATH,
//! PROOF) and compared with the library's tree, prover and verifiers.

use crate::json::{hex, hex_list, obj, J};
use crate::spec;
use provledger::merkle::{
    consistency_proof, inclusion_proof, root_from_leaves, verify_consistency, verify_inclusion, MemoryTree, ProofError,
};
use provledger::Digest;

/// Sizes whose roots are pinned: a ladder 2^k - 1, 2^k, 2^k + 1.
pub const TREE_SIZES: [u64; 15] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33];
/// Leaves of the largest tree.
const MAX_LEAVES: u64 = 33;

/// The entry hash of leaf `i`: 32 bytes each equal to `i`.
pub fn entry(i: u64) -> [u8; 32] {
    [u8::try_from(i).expect("small tree"); 32]
}

pub fn leaves(n: u64) -> Vec<[u8; 32]> {
    (0..n).map(|i| spec::leaf(&entry(i))).collect()
}

pub fn library_tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in leaves(n) {
        t.push(Digest::from_bytes(l)).expect("push");
    }
    t
}

fn k_of(n: usize) -> usize {
    1 << (n - 1).ilog2()
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, over leaf hashes.
fn path(m: usize, d: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if d.len() <= 1 {
        return vec![];
    }
    let k = k_of(d.len());
    if m < k {
        [path(m, &d[..k]), vec![spec::mth(&d[k..])]].concat()
    } else {
        [path(m - k, &d[k..]), vec![spec::mth(&d[..k])]].concat()
    }
}

/// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`.
fn subproof(m: usize, d: &[[u8; 32]], b: bool) -> Vec<[u8; 32]> {
    if m == d.len() {
        return if b { vec![] } else { vec![spec::mth(d)] };
    }
    let k = k_of(d.len());
    if m <= k {
        [subproof(m, &d[..k], b), vec![spec::mth(&d[k..])]].concat()
    } else {
        [subproof(m - k, &d[k..], false), vec![spec::mth(&d[..k])]].concat()
    }
}

fn digests(v: &[Digest]) -> Vec<[u8; 32]> {
    v.iter().map(|d| d.to_bytes()).collect()
}

fn ds(v: &[[u8; 32]]) -> Vec<Digest> {
    v.iter().map(|d| Digest::from_bytes(*d)).collect()
}

fn class(r: Result<(), ProofError>) -> Option<&'static str> {
    match r {
        Ok(()) => None,
        Err(ProofError::Malformed(_)) => Some("Malformed"),
        Err(ProofError::RootMismatch) => Some("RootMismatch"),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn root(n: u64) -> [u8; 32] {
    spec::mth(&leaves(n))
}

#[allow(clippy::too_many_lines)] // one list of cases
pub fn gen_merkle() -> J {
    let all = leaves(MAX_LEAVES);
    let tree = library_tree(MAX_LEAVES);
    let mut cases = Vec::new();
    for n in TREE_SIZES {
        let r = root(n);
        let ln = &all[..usize::try_from(n).expect("small")];
        assert_eq!(root_from_leaves(&ds(ln)).to_bytes(), r, "root {n}");
        assert_eq!(tree.root_at(n).expect("root").to_bytes(), r, "root {n}");
        cases.push(obj([
            ("desc", format!("root of the tree of size {n}").into()),
            ("type", "root".into()),
            ("size", n.into()),
            ("root", hex(&r)),
        ]));
    }
    for n in [1u64, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33] {
        let mut idx = vec![0, n / 2, n - 1];
        idx.dedup();
        for i in idx {
            let p = path(
                usize::try_from(i).expect("small"),
                &all[..usize::try_from(n).expect("small")],
            );
            assert_eq!(
                digests(&inclusion_proof(&tree, i, n).expect("proof")),
                p,
                "inclusion {i} {n}"
            );
            assert_eq!(
                verify_inclusion(
                    &Digest::from_bytes(all[i as usize]),
                    i,
                    n,
                    &ds(&p),
                    &Digest::from_bytes(root(n))
                ),
                Ok(())
            );
            cases.push(obj([
                ("desc", format!("inclusion of leaf {i} in the tree of size {n}").into()),
                ("type", "inclusion".into()),
                ("leaf_index", i.into()),
                ("tree_size", n.into()),
                ("entry_hash", hex(&entry(i))),
                ("leaf_hash", hex(&all[i as usize])),
                ("path", hex_list(&p)),
                ("root", hex(&root(n))),
            ]));
        }
    }
    for (m, n) in [
        (1u64, 1u64),
        (1, 2),
        (1, 17),
        (2, 3),
        (2, 33),
        (3, 7),
        (4, 7),
        (4, 8),
        (4, 17),
        (5, 9),
        (7, 8),
        (8, 9),
        (9, 17),
        (15, 16),
        (16, 17),
        (16, 33),
        (17, 33),
        (32, 33),
    ] {
        let p = subproof(
            usize::try_from(m).expect("small"),
            &all[..usize::try_from(n).expect("small")],
            true,
        );
        assert_eq!(
            digests(&consistency_proof(&tree, m, n).expect("proof")),
            p,
            "consistency {m} {n}"
        );
        let (ro, rn) = (Digest::from_bytes(root(m)), Digest::from_bytes(root(n)));
        assert_eq!(verify_consistency(m, n, &ro, &rn, &ds(&p)), Ok(()));
        cases.push(obj([
            (
                "desc",
                format!("consistency of the tree of size {m} with the tree of size {n}").into(),
            ),
            ("type", "consistency".into()),
            ("old_size", m.into()),
            ("new_size", n.into()),
            ("old_root", hex(&root(m))),
            ("new_root", hex(&root(n))),
            ("path", hex_list(&p)),
        ]));
    }
    cases.extend(negatives(&all));
    obj([
        (
            "desc",
            "Merkle trees (docs/FORMAT.md §10), RFC 6962 / RFC 9162 with SHA-256: leaf = SHA-256(0x00 || entry \
             hash), node = SHA-256(0x01 || left || right), empty tree = SHA-256(empty string). Paths are RFC 9162 \
             PATH (inclusion) and PROOF (consistency), leaf level first. want_err: 'Malformed' (not a proof: wrong \
             shape, index or sizes out of range, a path longer than 64 / 65 elements) or 'RootMismatch' \
             (well-formed but the roots do not follow)."
                .into(),
        ),
        (
            "leaf_entry_hash_rule",
            "the entry hash of leaf i is 32 bytes each equal to i".into(),
        ),
        ("cases", cases.into()),
    ])
}

fn negatives(all: &[[u8; 32]]) -> Vec<J> {
    let p27 = path(2, &all[..7]);
    let mut flipped = p27.clone();
    flipped[1][0] ^= 1;
    let inc = |desc: &str, i: u64, n: u64, path: &[[u8; 32]], err: &str| {
        let got = verify_inclusion(
            &Digest::from_bytes(all[2]),
            i,
            n,
            &ds(path),
            &Digest::from_bytes(root(7)),
        );
        assert_eq!(class(got), Some(err), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "inclusion".into()),
            ("leaf_index", i.into()),
            ("tree_size", n.into()),
            ("leaf_hash", hex(&all[2])),
            ("path", hex_list(path)),
            ("root", hex(&root(7))),
            ("want_err", err.into()),
        ])
    };
    let too_long = [p27.clone(), vec![[0u8; 32]; 62]].concat();
    let mut cases = vec![
        inc("leaf 2 of 7 with one path bit flipped", 2, 7, &flipped, "RootMismatch"),
        inc("leaf 2 of 7 claimed as leaf 3", 3, 7, &p27, "RootMismatch"),
        inc(
            "leaf 2 of 7 with the last path element dropped",
            2,
            7,
            &p27[..2],
            "Malformed",
        ),
        inc(
            "leaf 2 of 7 with an extra path element",
            2,
            7,
            &[p27.clone(), vec![p27[0]]].concat(),
            "Malformed",
        ),
        inc("leaf index 7 not below tree size 7", 7, 7, &p27, "Malformed"),
        inc("a path of 65 elements (more than 64)", 2, 7, &too_long, "Malformed"),
    ];
    let c37 = subproof(3, &all[..7], true);
    let con = |desc: &str, m: u64, n: u64, path: &[[u8; 32]], err: &str| {
        let got = verify_consistency(
            m,
            n,
            &Digest::from_bytes(root(3)),
            &Digest::from_bytes(root(7)),
            &ds(path),
        );
        assert_eq!(class(got), Some(err), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "consistency".into()),
            ("old_size", m.into()),
            ("new_size", n.into()),
            ("old_root", hex(&root(3))),
            ("new_root", hex(&root(7))),
            ("path", hex_list(path)),
            ("want_err", err.into()),
        ])
    };
    cases.extend([
        con(
            "3 -> 7 with the first path element replaced by the second",
            3,
            7,
            &[c37[1], c37[1], c37[2], c37[3]],
            "RootMismatch",
        ),
        con(
            "3 -> 7 with an extra path element",
            3,
            7,
            &[c37.clone(), vec![c37[0]]].concat(),
            "Malformed",
        ),
        con(
            "3 -> 7 with the last path element dropped",
            3,
            7,
            &c37[..3],
            "Malformed",
        ),
        con("old size 0", 0, 7, &c37, "Malformed"),
        con("old size above new size", 8, 7, &c37, "Malformed"),
        con("3 -> 3 with a non-empty path", 3, 3, &c37[..1], "Malformed"),
        con(
            "a path of 66 elements (more than 65)",
            3,
            7,
            &[c37.clone(), vec![[0u8; 32]; 62]].concat(),
            "Malformed",
        ),
    ]);
    cases
}
