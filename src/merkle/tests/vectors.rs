//! Known-answer vectors: roots of small trees whose leaf i has entry hash `[i; 32]`.
//!
//! Set `PROVLEDGER_WRITE_MERKLE_VECTORS=1` to (re)write `merkle_roots.json` in the crate root.

use std::fmt::Write as _;

use super::tree_of;
use crate::hash::{hash_leaf, hash_node, Digest};
use crate::merkle::{empty_root, root_from_leaves, Frontier};

const SIZES: [u8; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17];

/// Pinned roots, in the order of `SIZES`.
const PINNED: [&str; 12] = [
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    "232b17a92a13d46fdeeba07519406dcdad6d67b7399159364b5e26af0ab95bcf",
    "601ae0d333efaf511cc72652be96836dc134955fc1c681ff185f99b5a12b2ae5",
    "3f97043de3a7a8fe71e55454f9f9dead4e44301744481419a20754c5a4f5ee38",
    "0429a1b33a4380638861ac320355688368261d8ed7ff2acb4b9701a8480b9e4b",
    "e6072121201b0f45dece141a4783b36b646b545bdde45368a59f50f52d4ecd55",
    "86e6ed55103cc18ad02044adebbe358f7bbad2c542c086973de8a1813e3bb83e",
    "d02f2e47c40dae9ee4408bea7af7b740ede960abf340d954e910250c1aa994cb",
    "04e5fbb712625ab4e5b4447f51cf0ac0655cb379b70131993f105ce00faa6756",
    "f245e2ddcec3c30f45bed5f40676c136f3b6097a26bc77011d49b00f1e698a77",
    "3a75552e9af565411f0bddc49ba5dd72561f0f1b87eefa04dadf05607865de59",
    "c44f29ace58b407550cdfcad735ea424797e4d6fcb3eebf8ede7c134c07743c4",
];

fn entry(i: u8) -> Digest {
    Digest::from_bytes([i; 32])
}

fn leaf_hashes(n: u8) -> Vec<Digest> {
    (0..n).map(|i| hash_leaf(&entry(i))).collect()
}

/// Plain BLAKE3 over hand-built buffers, independent of `hash_leaf`/`hash_node`.
fn raw(prefix: u8, parts: &[&[u8; 32]]) -> [u8; 32] {
    let mut buf = vec![prefix];
    for p in parts {
        buf.extend_from_slice(&p[..]);
    }
    *blake3::hash(&buf).as_bytes()
}

fn roots() -> Vec<(u8, Digest)> {
    SIZES.iter().map(|&n| (n, root_from_leaves(&leaf_hashes(n)))).collect()
}

fn json(roots: &[(u8, Digest)]) -> String {
    let mut s = String::from("{\n  \"desc\": \"RFC 9162 Merkle tree roots with BLAKE3: leaf = BLAKE3(0x00 || entry_hash), node = BLAKE3(0x01 || left || right), empty tree = BLAKE3(empty string)\",\n");
    s.push_str("  \"leaf_entry_hash_rule\": \"entry hash of leaf i is 32 bytes each equal to i\",\n");
    s.push_str("  \"cases\": [\n");
    for (k, (n, root)) in roots.iter().enumerate() {
        let comma = if k + 1 == roots.len() { "" } else { "," };
        writeln!(s, "    {{\"size\": {n}, \"root\": \"{root}\"}}{comma}").unwrap();
    }
    s.push_str("  ]\n}\n");
    s
}

#[test]
fn known_answer_roots() {
    let roots = roots();
    let all = leaf_hashes(17);
    let tree = tree_of(&all);
    let mut frontier = Frontier::new();
    let mut pushed = 0u8;
    for &(n, root) in &roots {
        while pushed < n {
            frontier.push(all[usize::from(pushed)]).unwrap();
            pushed += 1;
        }
        assert_eq!(frontier.root(), root, "frontier, size {n}");
        assert_eq!(tree.root_at(u64::from(n)), Ok(root), "memory tree, size {n}");
    }
    // Independent cross-checks with hand-built BLAKE3 inputs.
    let (e0, e1, e2) = (entry(0), entry(1), entry(2));
    let l: Vec<[u8; 32]> = [e0, e1, e2].iter().map(|e| raw(0, &[e.as_bytes()])).collect();
    let r2 = raw(1, &[&l[0], &l[1]]);
    assert_eq!(roots[0].1, empty_root());
    assert_eq!(roots[0].1.to_bytes(), *blake3::hash(b"").as_bytes());
    assert_eq!(roots[1].1, hash_leaf(&e0));
    assert_eq!(roots[1].1.to_bytes(), l[0]);
    assert_eq!(roots[2].1, hash_node(&hash_leaf(&e0), &hash_leaf(&e1)));
    assert_eq!(roots[2].1.to_bytes(), r2);
    assert_eq!(roots[3].1.to_bytes(), raw(1, &[&r2, &l[2]]));

    let text = json(&roots);
    println!("{text}");
    if std::env::var_os("PROVLEDGER_WRITE_MERKLE_VECTORS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/merkle_roots.json");
        std::fs::write(path, &text).unwrap();
    }
    for ((n, root), pinned) in roots.iter().zip(PINNED) {
        assert_eq!(root.to_hex(), pinned, "size {n}");
    }
}
