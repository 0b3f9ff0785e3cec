//! Peer: `provledger` (MIT OR Apache-2.0), the provledger checkout (run.sh points the path at
//! it), linked as a library (`default-features = false`: no CLI). Format version 2.
//!
//! API used (see the checkout's `src/ledger/mod.rs`, `docs/DESIGN.md` and `benches/README.md`):
//! * Entry `i` becomes `Draft::application("application/octet-stream", payload)
//!   .with_timestamp(Timestamp(ts_ns))`, where `payload` is `Decision::encode_binary` (280
//!   bytes) and the statement time is the decision's own time. Ledger sequence number = `i + 1`,
//!   because entry 0 is the genesis entry (position-signed by the operator key,
//!   `SigningKey::from_seed(signing_seed())` in every phase).
//! * Appends go through `Ledger::submit_batch` with [`BATCH`] drafts per call and up to
//!   [`BATCHES_IN_FLIGHT`] batches in flight, so the next batch is built while the writer
//!   works (a caller of the blocking `append_batch` builds it with both cores idle). The writer
//!   prepares commitments, entry hashes and signatures in parallel (rayon, both cores); only
//!   the chain value (one BLAKE3 compression per entry) and the tree push are serial, and a
//!   batch of 512+ drafts is pipelined in pieces of 256 (one piece prepared while the one
//!   before it is chained and written).
//! * Unsigned phases (`append_mem`, `append_file`, `append_file_fsync`) use the high-volume
//!   mode, `.without_position_signature()`, and finish with `Ledger::checkpoint()` inside the
//!   timer: the signed checkpoint is what authenticates unsigned entries (`verify` rejects an
//!   unsigned entry no checkpoint covers).
//! * `*_sign` phases use the default draft: the writer's Ed25519 position signature over
//!   (previous chain value, entry hash) on every entry. No checkpoint is needed.
//! * `*_mem` phases use `storage::MemoryBackend` (the in-memory backend users may pick for
//!   tests and ephemeral ledgers) through `Options::backend`, `Durability::Buffered`.
//! * Only the public API is used (the harness links the crate without `test-util`): segment
//!   paths and the frame layout of the selftest's edits are written out from docs/FORMAT.md.
//! * `*_file` phases use the real file system, `Durability::Buffered`, and close the `Ledger`
//!   inside the timer (one fdatasync of the segment, its index and the tree files). Disk bytes
//!   count every file in the ledger directory.
//! * `append_file` also takes [`CONSISTENCY_CHECKPOINTS`] checkpoints at spread-out sizes;
//!   the consistency phases prove each of them to the final one (consistency proofs exist
//!   between any two sizes; checkpoints are what the verifier pins).
//! * `append_file_fsync`, durable per entry: `Ledger::append` (one draft per call) under
//!   `Durability::Synced`, so every receipt says `durable`: one write and one fdatasync of the
//!   segment per call.
//! * Peer `provledger-pipelined-64p` (`append_file_fsync` only): 64 producer threads share one
//!   `Ledger`, each keeping up to 64 entries in flight with `Ledger::submit(.., Synced)` and
//!   waiting on the oldest ticket when it has 64 out. Every entry is acknowledged durable only
//!   after the fdatasync that covers it; syncs are shared by everything waiting (group commit).
//! * Verification: `verify(dir, &TrustAnchor::PublicKey(vk))` on disk and
//!   `verify_with(&sim, dir, ..)` in memory: the full check (framing and CRCs, entry hashes,
//!   chain values, every signature, index slots, stored tree nodes, every checkpoint's root and
//!   signature). The harness asserts `is_ok()`, the entry count, and `unsigned_covered`.
//! * Proofs come **from disk**: `LedgerReader::open` (inside `proof_gen`), then
//!   `inclusion_proof(seq, Some(size))` and `consistency(old, size)`, over the `append_file`
//!   ledger. The verify phases check paths with `merkle::verify_inclusion_of_entry` /
//!   `merkle::verify_consistency` against checkpoints pinned during `append_file`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use provledger::storage::{Backend, MemoryBackend};
use provledger::{
    merkle, verify, verify_with, Check, Checkpoint, Digest, Draft, Durability, Ledger, LedgerReader,
    Options, Receipt, SigningKey, Timestamp, TrustAnchor, VerifyReport,
};

use crate::measure::Ctx;
use crate::workload::{proof_indices, signing_seed, Decision, Workload};

pub const NAME: &str = "provledger";
/// The multi-producer pipelined variant (durable phase only).
pub const APPENDER_NAME: &str = "provledger-pipelined-64p";
/// Producer threads of the pipelined variant.
pub const APPENDER_THREADS: usize = 64;
/// Entries each producer keeps in flight.
pub const IN_FLIGHT: usize = 64;

/// Drafts per `submit_batch` call.
/// (1024 and 4096 measured within noise of each other here; 1024 keeps the batch's
/// buffers small and is close to the crate's own benches, which use 1000.)
pub const BATCH: u64 = 1024;
/// Batches handed to the writer and not yet answered, at most (`append_range`).
const BATCHES_IN_FLIGHT: usize = 2;
/// Checkpoints taken at spread-out sizes during `append_file`, for consistency proofs.
pub const CONSISTENCY_CHECKPOINTS: usize = 10;
const CONTENT_TYPE: &str = "application/octet-stream";
/// Directory name of the in-memory ledgers inside their `MemoryBackend` (no real path).
const MEM_DIR: &str = "mem/provledger";

fn draft(d: &Decision<'_>, signed: bool) -> Draft {
    let mut payload = Vec::with_capacity(320);
    d.encode_binary(&mut payload);
    let dr = Draft::application(CONTENT_TYPE, payload).with_timestamp(Timestamp(d.ts_ns));
    if signed {
        dr
    } else {
        dr.without_position_signature()
    }
}

fn key() -> SigningKey {
    SigningKey::from_seed(&signing_seed())
}

fn disk(durability: Durability) -> Options {
    Options::default().durability(durability)
}

fn mem(sim: &MemoryBackend) -> Options {
    Options::default()
        .durability(Durability::Buffered)
        .backend(Arc::new(sim.clone()))
}

/// Appends workload entries `from..to` in batches of [`BATCH`] drafts handed over with
/// `Ledger::submit_batch`, keeping up to [`BATCHES_IN_FLIGHT`] batches in flight (the next batch
/// is built while the writer works on the one before); `seen` gets (workload index, receipt)
/// for every entry, in order.
fn append_range(
    ledger: &Ledger,
    wl: &Workload,
    from: u64,
    to: u64,
    signed: bool,
    seen: &mut impl FnMut(u64, &Receipt),
) {
    let mut in_flight: std::collections::VecDeque<(u64, u64, provledger::Ticket<Vec<Receipt>>)> =
        std::collections::VecDeque::with_capacity(BATCHES_IN_FLIGHT);
    let mut settle = |(start, end, ticket): (u64, u64, provledger::Ticket<Vec<Receipt>>)| {
        let receipts = ticket.wait().expect("provledger submit_batch");
        assert_eq!(receipts.len() as u64, end - start);
        for (j, r) in (start..end).zip(&receipts) {
            seen(j, r);
        }
    };
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let drafts: Vec<Draft> = (i..end).map(|j| draft(&wl.get(j), signed)).collect();
        if in_flight.len() == BATCHES_IN_FLIGHT {
            settle(in_flight.pop_front().expect("in flight"));
        }
        let ticket = ledger
            .submit_batch(drafts, Durability::Buffered)
            .expect("provledger submit_batch");
        in_flight.push_back((i, end, ticket));
        i = end;
    }
    for t in in_flight {
        settle(t);
    }
}

/// A clean report over `n` workload entries (+ genesis); `unsigned`: all covered by checkpoints.
fn assert_clean(r: &VerifyReport, n: u64, unsigned: bool) {
    assert!(r.is_ok(), "provledger verify failed: {:?}", r.failure);
    assert_eq!(r.entries, n + 1, "provledger verify: entry count");
    assert_eq!(r.unsigned_covered, if unsigned { n } else { 0 });
    assert_eq!(r.uncovered_tail, 0);
}

fn clean(r: &VerifyReport, n: u64, unsigned: bool) -> bool {
    r.is_ok() && r.entries == n + 1 && r.unsigned_covered == if unsigned { n } else { 0 }
}

fn fresh_dir(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}

// ---------------------------------------------------------------------------
// selftest
// ---------------------------------------------------------------------------

/// Changes one byte of the payload that holds `needle` in segment file `seg`, then recomputes
/// that frame's checksum (the v2 frame layout: record, payload section, optional seal, one
/// CRC), so that only the hashes can notice: the entry hash changes, so the stored tree and the
/// checkpoint root no longer match.
fn tamper_resealed(seg: &Path, needle: &[u8]) -> bool {
    // docs/FORMAT.md §7.2–§7.5: a 64-byte segment header; a frame is a 12-byte header
    // (entry_len u16 LE, flags with bit 0 = sealed, reserved, section_len u32 LE, header CRC),
    // the record, the payload section (state byte, 32-byte salt, payload), a 112-byte seal if
    // sealed, and a CRC-32C over record, section and seal.
    const SEGMENT_HEADER_LEN: usize = 64;
    const FRAME_HEADER_LEN: usize = 12;
    const PAYLOAD_PREFIX_LEN: usize = 33;
    const SEAL_LEN: usize = 112;
    let mut data = std::fs::read(seg).expect("read segment");
    let Some(pos) = data.windows(needle.len()).position(|w| w == needle) else {
        return false;
    };
    let mut off = SEGMENT_HEADER_LEN;
    let (entry_len, section_len, frame_len) = loop {
        let entry_len = usize::from(u16::from_le_bytes([data[off], data[off + 1]]));
        let sealed = data[off + 2] & 1 != 0;
        let section_len = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap()) as usize;
        let frame_len = FRAME_HEADER_LEN + entry_len + section_len + if sealed { SEAL_LEN } else { 0 } + 4;
        if pos < off + frame_len {
            break (entry_len, section_len, frame_len);
        }
        off += frame_len;
    };
    let sec = off + FRAME_HEADER_LEN + entry_len;
    let mut payload = data[sec + PAYLOAD_PREFIX_LEN..sec + section_len].to_vec();
    if !crate::selftest::toggle_in_bytes(&mut payload, needle) {
        return false;
    }
    data[sec + PAYLOAD_PREFIX_LEN..sec + section_len].copy_from_slice(&payload);
    let end = off + frame_len - 4;
    let crc = crc32c(&data[off + FRAME_HEADER_LEN..end]);
    data[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(seg, data).expect("write segment");
    true
}

/// CRC-32C (Castagnoli, reflected 0x82F63B78), bit by bit: the frame checksum of
/// docs/FORMAT.md §1, written out so the selftest depends on no crate internals.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
        }
    }
    !c
}

pub fn selftest(ctx: &Ctx) -> bool {
    use crate::selftest::*;
    let n = 1000u64;
    let t = TAMPER_SEQ;
    let key = key();
    let vk = key.verifying_key();
    let anchor = TrustAnchor::PublicKey(vk);
    let nd = needle(ctx);
    let mut ok = true;

    // 1. On disk, unsigned entries + checkpoint: `verify` after a 1-byte edit of entry #500.
    let dir = ctx.path(NAME, "selftest.ledger");
    fresh_dir(&dir);
    let mut hashes = HashMap::new();
    let cp = {
        let l = Ledger::create(&dir, key.clone(), "peers", disk(Durability::Buffered)).unwrap();
        append_range(&l, &ctx.wl, 0, n, false, &mut |i, r| {
            if i == t || i == t + 1 {
                hashes.insert(i, r.entry_hash);
            }
        });
        l.checkpoint().unwrap()
    };
    let check = || verify(&dir, &anchor).is_ok_and(|r| clean(&r, n, true));
    let seg = dir.join("segments").join(format!("{:020}.seg", 0));
    let pristine = std::fs::read(&seg).unwrap();
    let ok_before = check();
    assert!(toggle_in_file(&seg, &nd));
    ok &= report(NAME, "verify (file; frame CRC)", ok_before, fails(check));

    // 2. The same edit with the frame's CRC recomputed: the entry hash changes, so the stored
    //    tree node (or, were the tree files rebuilt too, the checkpoint root) must catch it.
    std::fs::write(&seg, &pristine).unwrap();
    let ok_before = check();
    assert!(tamper_resealed(&seg, &nd));
    let by_hashes = verify(&dir, &anchor).is_ok_and(|r| {
        r.failure
            .as_ref()
            .is_some_and(|f| matches!(f.check, Check::Tree | Check::Checkpoint))
    });
    ok &= report(
        NAME,
        "verify (file; CRCs resealed)",
        ok_before,
        fails(check) && by_hashes,
    );

    // 3. Inclusion proof from disk, checked against the pinned checkpoint, for another entry.
    std::fs::write(&seg, &pristine).unwrap();
    let reader = LedgerReader::open(&dir).unwrap();
    let p = reader.inclusion_proof(t + 1, Some(cp.tree_size)).unwrap();
    let incl = |h: &Digest| {
        p.root == cp.root
            && p.tree_size == cp.tree_size
            && p.entry_hash == *h
            && merkle::verify_inclusion_of_entry(h, t + 1, cp.tree_size, &p.path, &cp.root).is_ok()
    };
    let ok_before = incl(&hashes[&t]) && cp.verify(&vk);
    ok &= report(
        NAME,
        "inclusion proof (other entry)",
        ok_before,
        fails(|| {
            merkle::verify_inclusion_of_entry(
                &hashes[&(t + 1)],
                t + 1,
                cp.tree_size,
                &p.path,
                &cp.root,
            )
            .is_ok()
        }),
    );
    drop(reader);
    fresh_dir(&dir);

    // 4. In memory (MemoryBackend), signed entries: `verify_with` after a 1-byte edit.
    let sim = MemoryBackend::new();
    let mdir = Path::new(MEM_DIR);
    {
        let l = Ledger::create(mdir, key.clone(), "peers", mem(&sim)).unwrap();
        append_range(&l, &ctx.wl, 0, n, true, &mut |_, _| {});
    }
    let check = || verify_with(&sim, mdir, &anchor).is_ok_and(|r| clean(&r, n, false));
    let ok_before = check();
    // The segment's bytes, edited through the backend's own file interface.
    let seg = Path::new("segments").join(format!("{:020}.seg", 0));
    let root = sim.open_dir(mdir, false).unwrap();
    let file = root.open_read(&seg).unwrap();
    let mut bytes = vec![0u8; usize::try_from(file.len().unwrap()).unwrap()];
    file.read_exact_at(&mut bytes, 0).unwrap();
    assert!(toggle_in_bytes(&mut bytes, &nd));
    root.open_write(&seg, false).unwrap().write_all_at(&bytes, 0).unwrap();
    ok &= report(
        NAME,
        "verify_with(MemoryBackend), signed",
        ok_before,
        fails(check),
    );
    ok
}

// ---------------------------------------------------------------------------
// the phases
// ---------------------------------------------------------------------------

pub fn run(ctx: &Ctx) {
    let n = ctx.n;
    let wl = &ctx.wl;
    let key = key();
    let vk = key.verifying_key();
    let anchor = TrustAnchor::PublicKey(vk);
    let mdir = Path::new(MEM_DIR);

    // ---- A + C in memory: MemoryBackend, unsigned + one checkpoint ------------------------
    if ctx.wants(&["append_mem", "verify_mem"]) {
        let sim = MemoryBackend::new();
        let ledger = ctx.phase_note(
            NAME,
            "append_mem",
            n,
            "MemoryBackend; submit_batch(1024) x2 in flight, unsigned + checkpoint()",
            || {
                let l = Ledger::create(mdir, key.clone(), "peers", mem(&sim)).expect("create");
                append_range(&l, wl, 0, n, false, &mut |_, _| {});
                l.checkpoint().expect("checkpoint");
                l
            },
        );
        ctx.phase_note(
            NAME,
            "verify_mem",
            n,
            "verify_with(&MemoryBackend): full verify",
            || {
                assert_clean(&verify_with(&sim, mdir, &anchor).expect("verify"), n, true);
            },
        );
        drop(ledger);
    }

    // ---- Ed25519 per entry, in memory ---------------------------------------------------
    if ctx.wants(&["append_mem_sign", "verify_mem_sign"]) {
        let sn = ctx.sig_n;
        let sim = MemoryBackend::new();
        let ledger = ctx.phase_note(
            NAME,
            "append_mem_sign",
            sn,
            "MemoryBackend; submit_batch(1024) x2 in flight, one Ed25519 position signature per entry (rayon, 2 cores)",
            || {
                let l = Ledger::create(mdir, key.clone(), "peers", mem(&sim)).expect("create");
                append_range(&l, wl, 0, sn, true, &mut |_, _| {});
                l
            },
        );
        ctx.phase_note(
            NAME,
            "verify_mem_sign",
            sn,
            "verify_with(&MemoryBackend): full verify, every signature (rayon)",
            || {
                assert_clean(
                    &verify_with(&sim, mdir, &anchor).expect("verify"),
                    sn,
                    false,
                )
            },
        );
        drop(ledger);
    }

    // ---- B + C + D on disk: unsigned + checkpoints, proofs from disk --------------------
    if ctx.wants(&[
        "append_file",
        "verify_file",
        "proof_gen",
        "proof_verify",
        "consistency_gen",
        "consistency_verify",
    ]) {
        let dir = ctx.path(NAME, "ledger");
        fresh_dir(&dir);
        let idx = proof_indices(n, ctx.proofs);
        let mut want = idx.clone();
        want.sort_unstable();
        want.dedup();
        // Old sizes (in workload entries, 1..n) at which a checkpoint is taken.
        let mut olds: Vec<u64> = proof_indices(n - 1, CONSISTENCY_CHECKPOINTS)
            .into_iter()
            .map(|m| m + 1)
            .collect();
        olds.sort_unstable();
        olds.dedup();
        let note = format!(
            "StdBackend, Buffered, submit_batch(1024) x2 in flight, unsigned; {} checkpoints (incl. final); close (syncs) in timer",
            olds.len() + 1
        );
        let (final_cp, old_cps, pinned) =
            ctx.phase_file(NAME, "append_file", n, &dir, Some(&note), || {
                let l =
                    Ledger::create(&dir, key.clone(), "peers", disk(Durability::Buffered)).expect("create");
                let mut pinned: HashMap<u64, Digest> = HashMap::with_capacity(want.len());
                let mut next = 0usize;
                let mut seen = |i: u64, r: &Receipt| {
                    while next < want.len() && want[next] == i {
                        pinned.insert(i, r.entry_hash);
                        next += 1;
                    }
                };
                let mut old_cps: Vec<Checkpoint> = Vec::with_capacity(olds.len());
                let mut from = 0;
                for &stop in &olds {
                    append_range(&l, wl, from, stop, false, &mut seen);
                    old_cps.push(l.checkpoint().expect("checkpoint"));
                    from = stop;
                }
                append_range(&l, wl, from, n, false, &mut seen);
                let final_cp = l.checkpoint().expect("checkpoint");
                l.close().expect("close");
                (final_cp, old_cps, pinned)
            });
        assert_eq!(final_cp.tree_size, n + 1);

        ctx.phase_note(
            NAME,
            "verify_file",
            n,
            "verify(dir, PublicKey): full verify",
            || {
                let r = verify(&dir, &anchor).expect("verify");
                assert_clean(&r, n, true);
                assert_eq!(r.checkpoints_verified, old_cps.len() as u64 + 1);
            },
        );

        if ctx.wants(&[
            "proof_gen",
            "proof_verify",
            "consistency_gen",
            "consistency_verify",
        ]) {
            let size = final_cp.tree_size;
            let k = idx.len() as u64;
            let (reader, proofs) = ctx.phase_ops(
                NAME,
                "proof_gen",
                n,
                k,
                Some("from disk: LedgerReader::open + inclusion_proof(seq, Some(size))"),
                || {
                    let reader = LedgerReader::open(&dir).expect("reader");
                    let proofs: Vec<_> = idx
                        .iter()
                        .map(|&i| {
                            reader
                                .inclusion_proof(i + 1, Some(size))
                                .expect("inclusion_proof")
                        })
                        .collect();
                    (reader, proofs)
                },
            );
            ctx.phase_ops(
                NAME,
                "proof_verify",
                n,
                k,
                Some("merkle::verify_inclusion_of_entry vs pinned checkpoint (signature checked once) + receipt hash"),
                || {
                    assert!(final_cp.verify(&vk), "checkpoint signature");
                    for (p, &i) in proofs.iter().zip(&idx) {
                        assert!(p.root == final_cp.root && p.tree_size == size && p.leaf_index == i + 1);
                        assert!(p.entry_hash == pinned[&i], "entry hash differs from the receipt");
                        merkle::verify_inclusion_of_entry(&p.entry_hash, i + 1, size, &p.path, &final_cp.root)
                            .expect("inclusion");
                    }
                },
            );
            drop(proofs);

            // Each checkpoint taken during append_file proved to the final one, in rounds up to
            // ctx.proofs proofs (the reader proves between any two sizes).
            let rounds = (ctx.proofs / old_cps.len()).max(1);
            let kc = (rounds * old_cps.len()) as u64;
            let olds_cycled = || (0..rounds).flat_map(|_| old_cps.iter());
            let note = format!(
                "from disk: LedgerReader::consistency(old, size); {} old checkpoints x {rounds} rounds",
                old_cps.len()
            );
            let cps = ctx.phase_ops(NAME, "consistency_gen", n, kc, Some(&note), || {
                olds_cycled()
                    .map(|o| reader.consistency(o.tree_size, size).expect("consistency"))
                    .collect::<Vec<_>>()
            });
            ctx.phase_ops(
                NAME,
                "consistency_verify",
                n,
                kc,
                Some("merkle::verify_consistency vs the checkpoints pinned during append_file"),
                || {
                    for ((old_root, new_root, path), o) in cps.iter().zip(olds_cycled()) {
                        assert!(*old_root == o.root && *new_root == final_cp.root);
                        merkle::verify_consistency(
                            o.tree_size,
                            size,
                            &o.root,
                            &final_cp.root,
                            path,
                        )
                        .expect("consistency");
                    }
                },
            );
        }
        fresh_dir(&dir);
    }

    // ---- B + C on disk, Ed25519 per entry -----------------------------------------------
    if ctx.wants(&["append_file_sign", "verify_file_sign"]) {
        let sn = ctx.sig_n;
        let dir = ctx.path(NAME, "sig.ledger");
        fresh_dir(&dir);
        ctx.phase_file(
            NAME,
            "append_file_sign",
            sn,
            &dir,
            Some("StdBackend, Buffered, submit_batch(1024) x2 in flight, Ed25519 position signature per entry (rayon); close (syncs) in timer"),
            || {
                let l = Ledger::create(&dir, key.clone(), "peers", disk(Durability::Buffered)).expect("create");
                append_range(&l, wl, 0, sn, true, &mut |_, _| {});
                l.close().expect("close");
            },
        );
        ctx.phase_note(
            NAME,
            "verify_file_sign",
            sn,
            "verify(dir, PublicKey): full verify, every signature (rayon)",
            || assert_clean(&verify(&dir, &anchor).expect("verify"), sn, false),
        );
        fresh_dir(&dir);
    }

    // ---- durable: one Ledger::append per entry, Synced -----------------------------------
    if ctx.wants(&["append_file_fsync"]) {
        let fnn = ctx.fsync_n;
        let dir = ctx.path(NAME, "fsync.ledger");
        fresh_dir(&dir);
        ctx.phase_file(
            NAME,
            "append_file_fsync",
            fnn,
            &dir,
            Some("Ledger::append per entry, Durability::Synced (one write + one fdatasync of the segment per call), unsigned + final checkpoint"),
            || {
                let l = Ledger::create(&dir, key.clone(), "peers", disk(Durability::Synced)).expect("create");
                for i in 0..fnn {
                    let r = l.append(draft(&wl.get(i), false)).expect("append");
                    assert!(r.durable);
                }
                l.checkpoint().expect("checkpoint");
                l.close().expect("close");
            },
        );
        assert_clean(&verify(&dir, &anchor).expect("verify"), fnn, true);
        fresh_dir(&dir);
    }
}

/// `provledger-pipelined-64p`: the durable phase through one `Ledger` shared by `threads`
/// producers, each keeping [`IN_FLIGHT`] entries in flight with `submit(.., Synced)`.
pub fn run_appender(ctx: &Ctx, name: &str, threads: usize) {
    if !ctx.wants(&["append_file_fsync"]) {
        return;
    }
    let fnn = ctx.fsync_n;
    let wl = &ctx.wl;
    let key = key();
    let anchor = TrustAnchor::PublicKey(key.verifying_key());
    let dir = ctx.path(name, "fsync.ledger");
    fresh_dir(&dir);
    let note = format!(
        "{threads} producers x {IN_FLIGHT} in flight on one Ledger (submit, Synced): each entry acknowledged durable after the fdatasync covering it, syncs shared; unsigned + final checkpoint"
    );
    ctx.phase_file(name, "append_file_fsync", fnn, &dir, Some(&note), || {
        let ledger = Ledger::create(&dir, key.clone(), "peers", disk(Durability::Synced)).expect("create");
        std::thread::scope(|s| {
            for t in 0..threads as u64 {
                let l = &ledger;
                s.spawn(move || {
                    let mut in_flight = std::collections::VecDeque::with_capacity(IN_FLIGHT);
                    let mut i = t;
                    while i < fnn {
                        if in_flight.len() == IN_FLIGHT {
                            let t: provledger::Ticket<Receipt> = in_flight.pop_front().expect("in flight");
                            assert!(t.wait().expect("append").durable);
                        }
                        in_flight.push_back(l.submit(draft(&wl.get(i), false), Durability::Synced).expect("submit"));
                        i += threads as u64;
                    }
                    for t in in_flight {
                        assert!(t.wait().expect("append").durable);
                    }
                });
            }
        });
        ledger.checkpoint().expect("checkpoint");
        ledger.close().expect("close");
    });
    assert_clean(&verify(&dir, &anchor).expect("verify"), fnn, true);
    fresh_dir(&dir);
}
