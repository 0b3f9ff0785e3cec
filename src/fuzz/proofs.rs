//! Proofs: decoding portable proofs, and mutating real proofs.

use crate::checkpoint::Checkpoint;
use crate::encoding::serde_codec;
use crate::entry::{LedgerId, Timestamp};
use crate::hash::{hash_leaf, hash_node, Digest};
use crate::merkle::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion_of_entry, MemoryTree};
use crate::proof::{ConsistencyProof, InclusionProof, ProofCheckError, PROOF_VERSION};

use super::{fuzz_key, Input};

/// A portable proof's checks in the order of docs/FORMAT.md §15: the version, the expected
/// ledger, each checkpoint's ledger, signature and size/root, then the path. `verify_for` with
/// the proof's own ledger id agrees with `verify`; with another id it fails as invalid (or
/// malformed, when the version already fails); an accepted proof has version 2 and only
/// checkpoints of its ledger, signed by the key, that pin its sizes and roots.
fn check_portable(
    verdict: &Result<(), ProofCheckError>,
    own: &Result<(), ProofCheckError>,
    other: &Result<(), ProofCheckError>,
    version: u32,
    ledger_id: LedgerId,
    checkpoints: &[(Option<&Checkpoint>, u64, Digest)],
) {
    assert_eq!(verdict, own, "verify_for with the proof's own ledger id");
    // A missing checkpoint or another version is malformed (step 1) before the ledger id is
    // looked at (step 2); otherwise another ledger id is invalid.
    let malformed = version != PROOF_VERSION || checkpoints.iter().any(|(c, ..)| c.is_none());
    match other {
        Err(ProofCheckError::Invalid(_)) => assert!(!malformed, "{other:?}"),
        Err(ProofCheckError::Malformed(_)) => assert!(malformed, "{other:?}"),
        Ok(()) => panic!("a proof was accepted for another ledger"),
    }
    if version != PROOF_VERSION {
        assert!(
            matches!(verdict, Err(ProofCheckError::Malformed(_))),
            "version {version}: {verdict:?}"
        );
    }
    if verdict.is_ok() {
        let key = fuzz_key().verifying_key();
        for (c, size, root) in checkpoints {
            let c = c.expect("an accepted proof carries its checkpoints");
            assert!(
                c.key_id == key.key_id() && c.verify(&key),
                "accepted an unsigned checkpoint"
            );
            assert_eq!((c.ledger_id, c.tree_size, c.root), (ledger_id, *size, *root));
        }
    }
}

/// `ConsistencyProof::verify_extends` (FORMAT §15, "consistency from a trusted older state")
/// against the proof's own older state: with an older checkpoint it is exactly `verify`; without
/// one, an accepted proof has a newer checkpoint signed by the key that pins its size and root.
/// Against any other older state (root or size changed), it is never accepted.
fn check_extends(p: &ConsistencyProof) {
    let key = fuzz_key().verifying_key();
    let ext = p.verify_extends(&key, None, p.old_size, &p.old_root);
    if p.old_checkpoint.is_some() {
        assert_eq!(
            ext,
            p.verify(&key),
            "verify_extends differs from verify with both checkpoints"
        );
    } else if ext.is_ok() {
        let c = p
            .new_checkpoint
            .as_ref()
            .expect("an accepted proof carries its newer checkpoint");
        assert!(
            c.key_id == key.key_id() && c.verify(&key),
            "accepted an unsigned checkpoint"
        );
        assert_eq!(
            (c.ledger_id, c.tree_size, c.root),
            (p.ledger_id, p.new_size, p.new_root)
        );
    }
    let mut wrong = p.old_root.to_bytes();
    wrong[0] ^= 1;
    assert!(p
        .verify_extends(&key, None, p.old_size, &Digest::from_bytes(wrong))
        .is_err());
    assert!(p.verify_extends(&key, None, p.old_size ^ 1, &p.old_root).is_err());
}

/// Decodes `data` (bincode, the library's structured-payload codec; JSON is `decode_json`'s)
/// as an [`InclusionProof`] and a [`ConsistencyProof`]: what decodes re-encodes to the same
/// bytes, and its verdicts follow docs/FORMAT.md §15 (`check_portable`). Then reads the same
/// bytes as raw proof fields (sizes, index, path) and runs both verifiers: they agree with an
/// independent transcription of RFC 9162, whatever the `u64` sizes.
pub fn decode_proofs(data: &[u8]) {
    let key = fuzz_key().verifying_key();
    // A ledger id that is not the proof's.
    let other_than = |id: LedgerId| {
        if id == LedgerId([0xee; 16]) {
            LedgerId([0xef; 16])
        } else {
            LedgerId([0xee; 16])
        }
    };
    if let Ok(p) = serde_codec::decode::<InclusionProof>(data, "inclusion proof") {
        assert_eq!(serde_codec::encode(&p, "inclusion proof").as_deref(), Ok(data));
        let other = other_than(p.ledger_id);
        check_portable(
            &p.verify(&key),
            &p.verify_for(&key, Some(p.ledger_id)),
            &p.verify_for(&key, Some(other)),
            p.version,
            p.ledger_id,
            &[(p.checkpoint.as_ref(), p.tree_size, p.root)],
        );
    }
    if let Ok(p) = serde_codec::decode::<ConsistencyProof>(data, "consistency proof") {
        assert_eq!(serde_codec::encode(&p, "consistency proof").as_deref(), Ok(data));
        let other = other_than(p.ledger_id);
        check_extends(&p);
        check_portable(
            &p.verify(&key),
            &p.verify_for(&key, Some(p.ledger_id)),
            &p.verify_for(&key, Some(other)),
            p.version,
            p.ledger_id,
            &[
                (p.old_checkpoint.as_ref(), p.old_size, p.old_root),
                (p.new_checkpoint.as_ref(), p.new_size, p.new_root),
            ],
        );
    }
    let mut input = Input(data);
    let (a, b) = (input.u64(), input.u64());
    let (d1, d2) = (input.digest(), input.digest());
    let path: Vec<Digest> = (0..input.u8() % 72).map(|_| input.digest()).collect();
    let ok = verify_inclusion_of_entry(&d1, a, b, &path, &d2).is_ok();
    assert_eq!(
        ok,
        reference_inclusion(&hash_leaf(&d1), a, b, &path, &d2),
        "inclusion verifiers differ"
    );
    let ok = verify_consistency(a, b, &d1, &d2, &path).is_ok();
    assert_eq!(
        ok,
        reference_consistency(a, b, &d1, &d2, &path),
        "consistency verifiers differ"
    );
}

/// RFC 9162 §2.1.3.2, transcribed step by step (independent of `merkle::verify`).
/// Returns the sides (true = sibling on the left) it consumed, or `None` if it fails before
/// comparing roots; `reference_inclusion` compares.
fn inclusion_walk(leaf: &Digest, index: u64, size: u64, path: &[Digest]) -> Option<(Digest, Vec<bool>)> {
    if index >= size || path.len() > 64 {
        return None;
    }
    let (mut fn_, mut sn, mut r, mut sides) = (index, size - 1, *leaf, Vec::new());
    for p in path {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = hash_node(p, &r);
            sides.push(true);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = hash_node(&r, p);
            sides.push(false);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some((r, sides))
}

fn reference_inclusion(leaf: &Digest, index: u64, size: u64, path: &[Digest], root: &Digest) -> bool {
    inclusion_walk(leaf, index, size, path).is_some_and(|(r, _)| r == *root)
}

/// RFC 9162 §2.1.4.2, transcribed step by step; equal sizes take an empty path and equal roots
/// (the library's documented convention, where the RFC defines no proof).
fn reference_consistency(m: u64, n: u64, old: &Digest, new: &Digest, path: &[Digest]) -> bool {
    if m == 0 || m > n || path.len() > 65 {
        return false;
    }
    if m == n {
        return path.is_empty() && old == new;
    }
    let mut p = path.to_vec();
    if m.is_power_of_two() {
        p.insert(0, *old);
    }
    let Some((&first, rest)) = p.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = hash_node(c, &fr);
            sr = hash_node(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = hash_node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old && sr == *new && sn == 0
}

/// Two trees sharing their first `k` entries: the real one and a fork.
struct Trees {
    entries: [Vec<Digest>; 2],
    trees: [MemoryTree; 2],
    /// `roots[t][s]`: root of tree `t` at size `s`.
    roots: [Vec<Digest>; 2],
}

impl Trees {
    fn new(n: u64, k: u64) -> Self {
        let entry = |fork: u64, i: u64| {
            let tag = if i < k { 0 } else { fork };
            Digest::from(blake3::hash(&[i.to_le_bytes(), tag.to_le_bytes()].concat()))
        };
        let entries: [Vec<Digest>; 2] = [0, 1].map(|t| (0..n).map(|i| entry(t, i)).collect());
        let trees = [0, 1].map(|t| {
            let mut tree = MemoryTree::new();
            for e in &entries[t] {
                // At most a few hundred leaves: the frontier cannot be full.
                tree.push(hash_leaf(e)).expect("small tree");
            }
            tree
        });
        let roots = [0, 1].map(|t| (0..=n).map(|s| trees[t].root_at(s).unwrap_or_default()).collect());
        Trees { entries, trees, roots }
    }

    fn root(&self, t: usize, size: u64) -> Digest {
        self.roots[t][size as usize]
    }

    /// Which (tree, size ≥ 1) a root is the root of, if any.
    fn whose_root(&self, root: &Digest) -> Vec<(usize, u64)> {
        let n = self.trees[0].size();
        (0..2)
            .flat_map(|t| (1..=n).map(move |s| (t, s)))
            .filter(|&(t, s)| self.root(t, s) == *root)
            .collect()
    }
}

/// A tree of `n` (from the data) leaves and a fork of it; a correct inclusion and consistency
/// proof, then data-driven mutations (bit flips, sizes, index, dropped/added/replaced
/// elements, roots of other sizes or of the fork). Both verifiers must agree with an
/// independent transcription of RFC 9162, and accept only what is true: an accepted inclusion
/// proves an entry of the tree whose root it names, at the position its index and size walk to
/// (bare RFC 9162 proofs do not bind the size: another size with the same walk is accepted,
/// see `merkle` docs); an accepted consistency proof joins two roots of one history. Then each
/// mutated claim is wrapped as a portable proof (docs/FORMAT.md §15) of ledger A (the tree;
/// the fork is ledger B), with a version, a ledger id and checkpoints chosen by the data
/// (signed honestly for A or B at some size, by another key, or absent): a portable proof
/// accepted for ledger A proves exactly its claim in A — the signed checkpoint binds the size,
/// so the entry is A's entry at that index and the roots are A's roots at those sizes.
pub fn verify_proofs_against_real_tree(data: &[u8]) {
    let mut input = Input(data);
    let n = 1 + u64::from(input.u16() % 200);
    let trees = Trees::new(n, u64::from(input.u8()) % (n + 1));
    let size = 1 + u64::from(input.u16()) % n;
    let index = u64::from(input.u16()) % size;
    let path = inclusion_proof(&trees.trees[0], index, size).expect("index below size");
    let mut p = Claim {
        entry: trees.entries[0][index as usize],
        a: index,
        b: size,
        root: trees.root(0, size),
        other: Digest::ZERO,
        path,
    };
    assert!(
        verify_inclusion_of_entry(&p.entry, p.a, p.b, &p.path, &p.root).is_ok(),
        "a true proof fails"
    );
    p.mutate(&mut input, &trees);
    check_inclusion(&trees, &p);
    let old = 1 + u64::from(input.u16()) % n;
    let new = old + u64::from(input.u16()) % (n - old + 1);
    let path = consistency_proof(&trees.trees[0], old, new).expect("0 < old <= new");
    let mut c = Claim {
        entry: Digest::ZERO,
        a: old,
        b: new,
        root: trees.root(0, old),
        other: trees.root(0, new),
        path,
    };
    assert!(
        verify_consistency(c.a, c.b, &c.root, &c.other, &c.path).is_ok(),
        "a true proof fails"
    );
    c.mutate(&mut input, &trees);
    check_consistency(&trees, &c);
    let portable = Portable::new(&mut input);
    portable.inclusion(&trees, &p);
    portable.consistency(&trees, &c);
}

/// The ledger ids of the real tree (A) and of the fork (B).
const LEDGER_A: LedgerId = LedgerId([0xa0; 16]);
const LEDGER_B: LedgerId = LedgerId([0xb0; 16]);

/// How a claim is wrapped as a portable proof: its version, ledger id and, per checkpoint,
/// `(kind, size)`: kind 0 absent, 1 honest for A, 2 honest for B, 3 signed by another key.
struct Portable {
    version: u32,
    ledger: LedgerId,
    checkpoints: [(u8, u16); 2],
}

impl Portable {
    fn new(input: &mut Input<'_>) -> Self {
        let v = input.u8();
        let version = match v % 8 {
            0 => u32::from(v),
            1 => 1,
            _ => PROOF_VERSION,
        };
        let ledger = match input.u8() % 8 {
            0 => LEDGER_B,
            1 => LedgerId([input.u8(); 16]),
            _ => LEDGER_A,
        };
        let mut cp = || {
            let k = input.u8();
            // Mostly the claim's own size (u16::MAX), else a size chosen by the data.
            let size = if k & 0x80 == 0 { u16::MAX } else { input.u16() };
            (if k % 8 < 5 { 1 } else { k % 4 }, size)
        };
        let checkpoints = [cp(), cp()];
        Portable {
            version,
            ledger,
            checkpoints,
        }
    }

    /// Checkpoint `i` for a claimed `(size, root)`; `None` when the size is not a tree size.
    fn checkpoint(&self, trees: &Trees, i: usize, size: u64, root: Digest) -> Option<Checkpoint> {
        let (kind, s) = self.checkpoints[i];
        let n = trees.trees[0].size();
        let size = if s == u16::MAX { size } else { u64::from(s) % (n + 1) };
        let key = fuzz_key();
        let sign = |id, root| Checkpoint::sign(id, size, root, Timestamp(size), &key);
        match kind {
            1 | 2 if size == 0 || size > n => None,
            1 => Some(sign(LEDGER_A, trees.root(0, size))),
            2 => Some(sign(LEDGER_B, trees.root(1, size))),
            3 => Some(Checkpoint::sign(
                LEDGER_A,
                size,
                root,
                Timestamp(size),
                &crate::keys::SigningKey::from_seed(&[2; 32]),
            )),
            _ => None,
        }
    }

    fn inclusion(&self, trees: &Trees, p: &Claim) {
        let proof = InclusionProof {
            version: self.version,
            ledger_id: self.ledger,
            tree_size: p.b,
            leaf_index: p.a,
            entry_hash: p.entry,
            path: p.path.clone(),
            root: p.root,
            checkpoint: self.checkpoint(trees, 0, p.b, p.root),
        };
        let key = fuzz_key().verifying_key();
        if proof.verify_for(&key, Some(LEDGER_A)).is_ok() {
            let n = trees.trees[0].size();
            assert!(p.a < p.b && p.b <= n, "accepted a proof beyond ledger A: {p:?}");
            assert_eq!(
                p.root,
                trees.root(0, p.b),
                "accepted a root ledger A never had at size {}",
                p.b
            );
            assert_eq!(
                p.entry, trees.entries[0][p.a as usize],
                "accepted an entry A does not have there"
            );
            assert_eq!(p.path, inclusion_proof(&trees.trees[0], p.a, p.b).unwrap_or_default());
        }
    }

    fn consistency(&self, trees: &Trees, c: &Claim) {
        let proof = ConsistencyProof {
            version: self.version,
            ledger_id: self.ledger,
            old_size: c.a,
            new_size: c.b,
            old_root: c.root,
            new_root: c.other,
            path: c.path.clone(),
            old_checkpoint: self.checkpoint(trees, 0, c.a, c.root),
            new_checkpoint: self.checkpoint(trees, 1, c.b, c.other),
        };
        let key = fuzz_key().verifying_key();
        if proof.verify_for(&key, Some(LEDGER_A)).is_ok() {
            let n = trees.trees[0].size();
            assert!(
                0 < c.a && c.a <= c.b && c.b <= n,
                "accepted sizes beyond ledger A: {c:?}"
            );
            assert_eq!((c.root, c.other), (trees.root(0, c.a), trees.root(0, c.b)), "{c:?}");
        }
        // From a trusted older state and no older checkpoint (FORMAT §15): an auditor who
        // trusts ledger A's true root at `a` accepts only A's true newer state.
        let n = trees.trees[0].size();
        if 0 < c.a && c.a <= n {
            let unpinned = ConsistencyProof {
                old_checkpoint: None,
                ..proof
            };
            let trusted = trees.root(0, c.a);
            if unpinned.verify_extends(&key, Some(LEDGER_A), c.a, &trusted).is_ok() {
                assert!(c.b <= n, "accepted a size beyond ledger A: {c:?}");
                assert_eq!(c.other, trees.root(0, c.b), "accepted a root A never had: {c:?}");
            }
        }
    }
}

/// A proof's claim: for inclusion, `entry` at index `a` of size `b` under `root`; for
/// consistency, sizes `a` → `b` with roots `root` → `other`.
#[derive(Clone, Debug)]
struct Claim {
    entry: Digest,
    a: u64,
    b: u64,
    root: Digest,
    other: Digest,
    path: Vec<Digest>,
}

impl Claim {
    fn mutate(&mut self, input: &mut Input<'_>, trees: &Trees) {
        let size = trees.trees[0].size();
        for _ in 0..input.u8() % 6 {
            let (op, x) = (input.u8(), input.u16());
            let i = usize::from(x) % (self.path.len() + 1);
            let t = usize::from(op >> 7);
            let s = 1 + u64::from(x) % size;
            match op % 12 {
                0 => flip(self.path.get_mut(i), x),
                1 => flip(Some(&mut self.entry), x),
                2 => self.a = u64::from(x),
                3 => self.b = u64::from(x),
                4 if i < self.path.len() => drop(self.path.remove(i)),
                5 => self.path.insert(i, input.digest()),
                6 => self.path.insert(i, trees.root(t, s)),
                7 => self.root = trees.root(t, s),
                8 => self.other = trees.root(t, s),
                9 => self.entry = trees.entries[t][usize::from(x) % trees.entries[t].len()],
                10 => self.path = inclusion_proof(&trees.trees[t], u64::from(x) % s, s).unwrap_or_default(),
                11 => self.path = consistency_proof(&trees.trees[t], 1 + u64::from(op) % s, s).unwrap_or_default(),
                _ => self.path.reverse(),
            }
        }
    }
}

fn flip(d: Option<&mut Digest>, x: u16) {
    if let Some(d) = d {
        let mut b = d.to_bytes();
        b[usize::from(x >> 3) % 32] ^= 1 << (x & 7);
        *d = Digest::from_bytes(b);
    }
}

fn check_inclusion(trees: &Trees, p: &Claim) {
    let ok = verify_inclusion_of_entry(&p.entry, p.a, p.b, &p.path, &p.root).is_ok();
    let walk = inclusion_walk(&hash_leaf(&p.entry), p.a, p.b, &p.path);
    assert_eq!(
        ok,
        walk.as_ref().is_some_and(|(r, _)| *r == p.root),
        "differs from RFC 9162: {p:?}"
    );
    let Some((_, sides)) = walk.filter(|_| ok) else {
        return;
    };
    // Accepted: the root is a real root, the entry is in that tree, and the walk is its walk.
    let holds = trees.whose_root(&p.root).into_iter().any(|(t, s)| {
        let at = trees.entries[t][..s as usize].iter().position(|e| *e == p.entry);
        at.is_some_and(|j| {
            let j = j as u64;
            let real = inclusion_proof(&trees.trees[t], j, s).unwrap_or_default();
            let same_walk = inclusion_walk(&hash_leaf(&p.entry), j, s, &real).is_some_and(|(_, w)| w == sides);
            real == p.path && same_walk && (p.b != s || p.a == j)
        })
    });
    assert!(holds, "accepted an inclusion proof that proves nothing true: {p:?}");
}

fn check_consistency(trees: &Trees, c: &Claim) {
    let ok = verify_consistency(c.a, c.b, &c.root, &c.other, &c.path).is_ok();
    assert_eq!(
        ok,
        reference_consistency(c.a, c.b, &c.root, &c.other, &c.path),
        "differs from RFC 9162: {c:?}"
    );
    if !ok {
        return;
    }
    let (olds, news) = (trees.whose_root(&c.root), trees.whose_root(&c.other));
    let shared = |t: usize, s: u64| (0..2).filter(move |&u| u == t || trees.root(u, s) == trees.root(t, s));
    let holds = olds
        .iter()
        .any(|&(t, s1)| news.iter().any(|&(u, s2)| s1 <= s2 && shared(t, s1).any(|v| v == u)));
    assert!(holds, "accepted a consistency proof between unrelated roots: {c:?}");
}
