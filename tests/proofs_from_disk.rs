//! Proofs made by a long-lived `LedgerReader` while the ledger grows: its in-memory copy of the
//! upper tree levels (levels of at most `tree::CACHED_NODES` nodes, odd levels computed from
//! the even level below), its read-ahead around a leaf's path or a consistency proof's
//! boundary, and the right edges it remembers must give the same proofs as the stored tree,
//! before and after the levels grow past what was read.

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::ReadThrough;
use provledger::merkle::{consistency_proof, inclusion_proof, verify_consistency, MemoryTree};
use provledger::storage::{Backend, StorageFile};
use provledger::{Draft, Durability, Ledger, LedgerReader, Options, SigningKey};

fn unsigned(i: u64) -> Draft {
    Draft::application("application/octet-stream", i.to_le_bytes().to_vec()).without_position_signature()
}

/// A new ledger in `dir` whose appends are not synced one by one (the tests sync per checkpoint).
fn buffered_ledger(dir: &std::path::Path, key: &SigningKey) -> Ledger {
    Ledger::create(dir, key, "proofs", Options::default().durability(Durability::Buffered)).expect("create")
}

#[test]
fn proofs_from_a_growing_ledger_match_a_tree_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_seed(&[3; 32]);
    let ledger = buffered_ledger(dir.path(), &key);
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

/// Two threads share one `LedgerReader` and prove while a writer appends and checkpoints:
/// every proof must verify against its signed checkpoint and name the entry hash the writer
/// acknowledged — whatever the reader held when a proof began (a snapshot of the upper
/// levels, re-read as they grow; the checkpoint log, re-read when it grew).
#[test]
fn proofs_from_threads_sharing_a_reader_while_the_ledger_grows() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_seed(&[5; 32]);
    let vk = key.verifying_key();
    let ledger = buffered_ledger(dir.path(), &key);
    let reader = LedgerReader::open(dir.path()).expect("reader");
    let genesis = reader.get(0).expect("genesis").entry.hash;
    // Acknowledged entry hashes (index = sequence number) and checkpoints, as published.
    let hashes = Mutex::new(vec![genesis]);
    let checkpoints = Mutex::new(Vec::new());
    let append = |from: u64, to: u64| {
        let receipts = ledger.append_batch((from..to).map(unsigned).collect()).expect("append");
        hashes
            .lock()
            .expect("hashes")
            .extend(receipts.iter().map(|r| r.entry_hash));
        let cp = ledger.checkpoint().expect("checkpoint");
        ledger.sync().expect("sync");
        checkpoints.lock().expect("checkpoints").push(cp);
    };
    // Level 0 beyond what a reader holds whole (read ahead per proof), level 2 held and growing.
    let mut next = 1u64;
    while next < 68_000 {
        append(next, next + 4_000);
        next += 4_000;
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let provers: Vec<_> = (0..2u64)
            .map(|t| {
                let (reader, hashes, checkpoints, done) = (&reader, &hashes, &checkpoints, &done);
                s.spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                    let mut rnd = move |n: u64| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x % n
                    };
                    let mut proved = 0u32;
                    while !done.load(Ordering::Acquire) || proved < 200 {
                        let cps = checkpoints.lock().expect("checkpoints").clone();
                        let cp = cps[cps.len() - 1 - rnd(cps.len().min(3) as u64) as usize];
                        let seq = rnd(cp.tree_size);
                        let p = reader
                            .inclusion_proof(seq, Some(cp.tree_size))
                            .expect("inclusion proof");
                        p.verify(&vk).expect("inclusion proof verifies");
                        assert_eq!(
                            p.entry_hash,
                            hashes.lock().expect("hashes")[seq as usize],
                            "entry {seq}"
                        );
                        let older = cps[rnd(cps.len() as u64) as usize];
                        if older.tree_size <= cp.tree_size {
                            let c = reader
                                .consistency_proof(older.tree_size, Some(cp.tree_size))
                                .expect("consistency proof");
                            c.verify(&vk).expect("consistency between checkpoints verifies");
                        }
                        let old = 1 + rnd(cp.tree_size);
                        let (old_root, new_root, path) = reader.consistency(old, cp.tree_size).expect("consistency");
                        assert_eq!(new_root, cp.root, "the root at {} is the checkpoint's", cp.tree_size);
                        assert!(
                            verify_consistency(old, cp.tree_size, &old_root, &new_root, &path).is_ok(),
                            "{old}→{}",
                            cp.tree_size
                        );
                        proved += 1;
                    }
                    proved
                })
            })
            .collect();
        while next < 100_000 {
            append(next, next + 1_000);
            next += 1_000;
        }
        done.store(true, Ordering::Release);
        for p in provers {
            assert!(p.join().expect("prover") >= 200);
        }
    });
    ledger.close().expect("close");
}

/// A tree level file whose reads are counted.
#[derive(Debug)]
struct CountingFile(Box<dyn StorageFile>, Arc<AtomicU64>);

impl StorageFile for CountingFile {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.read_exact_at(buf, offset)
    }
    // Opened for reading: a reader never writes.
    fn write_all_at(&mut self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn set_len(&mut self, _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Consistency proofs come from few sizes (each witness's or monitor's last checkpoint): a
/// reader keeps the groups read ahead around a boundary asked for again among its recent
/// requests, so that later proofs from that size read no tree node — and they must be the
/// stored tree's proofs, also after the ledger grew past the size the groups were read at. A
/// boundary whose groups the end of a level cut short is not kept (a larger tree has nodes
/// there), nor is one asked for once.
#[test]
fn consistency_proofs_from_sizes_asked_again_read_no_tree_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_seed(&[5; 32]);
    let ledger = buffered_ledger(dir.path(), &key);
    let reads = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&reads);
    let counting: Arc<dyn Backend> = Arc::new(ReadThrough(Arc::new(move |rel: &Path, f| {
        if rel.starts_with("tree") {
            Box::new(CountingFile(f, Arc::clone(&counted)))
        } else {
            f
        }
    })));
    let reader = LedgerReader::open_with(counting, dir.path()).expect("reader");
    let mut hashes = vec![reader.get(0).expect("genesis").entry.hash];
    let mut mem = MemoryTree::new();
    let grow = |to: u64, hashes: &mut Vec<provledger::Digest>, mem: &mut MemoryTree| {
        let from = hashes.len() as u64;
        let receipts = ledger.append_batch((from..to).map(unsigned).collect()).expect("append");
        for r in &receipts {
            hashes.push(r.entry_hash);
            mem.push(provledger::hash::hash_leaf(&r.entry_hash)).expect("push");
        }
        ledger.checkpoint().expect("checkpoint");
        ledger.sync().expect("sync");
    };
    mem.push(provledger::hash::hash_leaf(&hashes[0])).expect("push");
    // Level 0 beyond CACHED_NODES: proofs read groups of it around their boundary.
    let size = 70_002;
    grow(size, &mut hashes, &mut mem);
    let check = |mem: &MemoryTree, old: u64, size: u64| {
        let (a, b, path) = reader.consistency(old, size).expect("consistency");
        assert_eq!(path, consistency_proof(mem, old, size).expect("memory"), "{old}→{size}");
        assert_eq!((a, b), (mem.root_at(old).expect("old"), mem.root()), "{old}→{size}");
        assert!(verify_consistency(old, size, &a, &b, &path).is_ok(), "{old}→{size}");
    };
    let reads_of = |f: &dyn Fn()| {
        let before = reads.load(Ordering::SeqCst);
        f();
        reads.load(Ordering::SeqCst) - before
    };
    // Boundaries whose groups are whole (both sides of group edges), away from the end of
    // the tree (near it, a proof also needs the new tree's last nodes, outside the groups);
    // and the last size, whose group at level 0 holds two nodes of four.
    let kept = [1, 2, 4096, 4097, 65_537, 69_001];
    let cut = size;
    for old in kept.into_iter().chain([cut]) {
        assert!(
            reads_of(&|| check(&mem, old, size)) > 0,
            "first proof from {old} reads its boundary"
        );
        assert!(
            reads_of(&|| check(&mem, old, size)) > 0,
            "asked once before: read again, then kept"
        );
        let third = reads_of(&|| check(&mem, old, size));
        if old == cut {
            assert!(third > 0, "a boundary cut short by the end of level 0 is not kept");
        } else {
            assert_eq!(third, 0, "the boundary of {old} is kept");
        }
    }
    // Asked once among the recent requests: not kept.
    for old in [12_345, 23_456] {
        check(&mem, old, size);
    }
    for old in [12_345, 23_456] {
        check(&mem, old, size);
        assert!(reads_of(&|| check(&mem, old, size)) == 0, "asked twice: kept");
    }
    let once = 34_567;
    check(&mem, once, size);
    for old in 40_000..40_100 {
        check(&mem, old, size);
    }
    assert!(
        reads_of(&|| check(&mem, once, size)) > 0,
        "asked once, 100 requests ago: not kept"
    );
    // The ledger grows: the kept groups (read at 70,002) serve proofs to the larger size.
    let larger = 140_003;
    grow(larger, &mut hashes, &mut mem);
    for old in kept.into_iter().chain([cut]) {
        check(&mem, old, larger);
    }
    for old in kept {
        assert_eq!(
            reads_of(&|| check(&mem, old, larger)),
            0,
            "{old}→{larger} from the kept groups"
        );
    }
    ledger.close().expect("close");
}
