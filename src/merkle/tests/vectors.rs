//! Known-answer vectors: roots of small trees whose leaf i has entry hash `[i; 32]`.
//!
//! Set `PROVLEDGER_WRITE_MERKLE_VECTORS=1` to (re)write `merkle_roots.json` in the crate root.

use std::fmt::Write as _;

use sha2::Digest as _;

use super::tree_of;
use crate::hash::{hash_leaf, hash_node, Digest};
use crate::merkle::{empty_root, root_from_leaves, Frontier};

const SIZES: [u8; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17];

/// Pinned roots, in the order of `SIZES`.
const PINNED: [&str; 12] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9",
    "28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444",
    "ba8d94b7fbcecae7b81c4c80574fe24734a6917bf9c1ecd66ff3e0c34ead4620",
    "fdea52008cdae79fa8bf806261959e23f5e11681646a2fa2bc9b5e56b32030a2",
    "85e20cac1f02fda7bcdb2fc3f908568c57018c77815f1fa361acad13994f08bf",
    "7318881c41fce3c1de3640df8e8c110c93f43f686b74204a9d1ad5b8c71c2047",
    "f907f23f76aa01b755a614d31ef9832909f44638b4590073301e61e6d01f9a1d",
    "57a92667ebb7ab5e021d0d10dce29b3111769aff9ef206339797bea4494d09f3",
    "01ffa7e0cdeec2814c6960487de6a63758e3e70b1e7eceda1638b070c4c766b7",
    "84fb9f7d0cda4cf0f272f2a17e5e54dfee9c83424e9226b8589582299fc160b8",
    "ff620f24c279d16b6f7a54eb16ae7a8354005c9f55d92cee3627f6db7442e8f3",
];

fn entry(i: u8) -> Digest {
    Digest::from_bytes([i; 32])
}

fn leaf_hashes(n: u8) -> Vec<Digest> {
    (0..n).map(|i| hash_leaf(&entry(i))).collect()
}

/// Plain SHA-256 over hand-built buffers, independent of `hash_leaf`/`hash_node`.
fn raw(prefix: u8, parts: &[&[u8; 32]]) -> [u8; 32] {
    let mut buf = vec![prefix];
    for p in parts {
        buf.extend_from_slice(&p[..]);
    }
    sha2::Sha256::digest(&buf).into()
}

fn roots() -> Vec<(u8, Digest)> {
    SIZES.iter().map(|&n| (n, root_from_leaves(&leaf_hashes(n)))).collect()
}

fn json(roots: &[(u8, Digest)]) -> String {
    let mut s = String::from("{\n  \"desc\": \"RFC 6962 Merkle tree roots with SHA-256: leaf = SHA-256(0x00 || entry_hash), node = SHA-256(0x01 || left || right), empty tree = SHA-256(empty string)\",\n");
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
    // Independent cross-checks with hand-built SHA-256 inputs.
    let (e0, e1, e2) = (entry(0), entry(1), entry(2));
    let l: Vec<[u8; 32]> = [e0, e1, e2].iter().map(|e| raw(0, &[e.as_bytes()])).collect();
    let r2 = raw(1, &[&l[0], &l[1]]);
    assert_eq!(roots[0].1, empty_root());
    assert_eq!(roots[0].1.to_bytes(), <[u8; 32]>::from(sha2::Sha256::digest(b"")));
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
