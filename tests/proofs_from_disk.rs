//! Proofs made by a long-lived `LedgerReader` while the ledger grows: its in-memory copy of the
//! upper tree levels (levels of at most `tree::CACHED_NODES` nodes, odd levels computed from
//! the even level below), its read-ahead around a leaf's path or a consistency proof's
//! boundary, and the right edges it remembers must give the same proofs as the stored tree,
//! before and after the levels grow past what was read.

use provledger::merkle::{consistency_proof, inclusion_proof, verify_consistency, MemoryTree};
use provledger::{Draft, Durability, Ledger, LedgerReader, Options, SigningKey};

fn unsigned(i: u64) -> Draft {
    Draft::application("application/octet-stream", i.to_le_bytes().to_vec()).without_position_signature()
}

#[test]
fn proofs_from_a_growing_ledger_match_a_tree_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_seed(&[3; 32]);
    let ledger = Ledger::create(
        dir.path(),
        &key,
        "proofs",
        Options::default().durability(Durability::Buffered),
    )
    .expect("create");
    let mut mem = MemoryTree::new();
    let mut pushed = 0usize;
    let genesis = LedgerReader::open(dir.path())
        .expect("reader")
        .get(0)
        .expect("genesis")
        .entry
        .hash;
    let mut hashes = vec![genesis];
    // Level 0 beyond CACHED_NODES (read around the path), the levels above held whole.
    let sizes = [70_000u64, 140_003];
    let mut next = 1u64;
    let mut reader: Option<LedgerReader> = None;
    let mut checkpoints = Vec::new();
    for &size in &sizes {
        while next < size {
            let n = (size - next).min(4096);
            let receipts = ledger
                .append_batch((next..next + n).map(unsigned).collect())
                .expect("append");
            hashes.extend(receipts.iter().map(|r| r.entry_hash));
            next += n;
        }
        checkpoints.push(ledger.checkpoint().expect("checkpoint"));
        ledger.sync().expect("sync");
        // The same reader across both sizes: what it holds must be refreshed, not trusted.
        let r = reader.get_or_insert_with(|| LedgerReader::open(dir.path()).expect("reader"));
        while (pushed as u64) < size {
            mem.push(provledger::hash::hash_leaf(&hashes[pushed])).expect("push");
            pushed += 1;
        }
        let cp = *checkpoints.last().expect("checkpoint");
        assert_eq!(cp.tree_size, size);
        // Twice: the second round takes the right edges (roots of ranges that are not one
        // perfect subtree) the reader remembered from the first.
        for round in 0..2 {
            for seq in [0, 1, 2, 3, 4097, 65_536, size / 2, size - 3, size - 2, size - 1] {
                let p = r.inclusion_proof(seq, Some(size)).expect("inclusion proof");
                let want = inclusion_proof(&mem, seq, size).expect("memory proof");
                assert_eq!(p.path, want, "inclusion of {seq} in {size}, round {round}");
                p.verify(&key.verifying_key()).expect("the proof verifies");
            }
            // Every boundary position within the groups of four read ahead at levels 0 and 2
            // (both sides of a group edge: 4k, 4k ± 1, 16k, 16k ± 1 …), near both ends.
            let sweep = (1..=80).chain(size - 80..=size);
            let spread = [4096, 65_537, sizes[0] - 1, sizes[0]]
                .into_iter()
                .filter(|&o| o <= size);
            for old in sweep.chain(spread) {
                let (a, b, path) = r.consistency(old, size).expect("consistency");
                assert_eq!(
                    path,
                    consistency_proof(&mem, old, size).expect("memory"),
                    "{old}→{size}, round {round}"
                );
                assert_eq!((a, b), (mem.root_at(old).expect("old root"), cp.root), "{old}→{size}");
                assert!(verify_consistency(old, size, &a, &b, &path).is_ok(), "{old}→{size}");
            }
        }
    }
    ledger.close().expect("close");
}
