//! Ledger directories from fuzzed bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::{log_path, CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
use crate::encoding::crc;
use crate::entry::LedgerId;
use crate::error::OpenError;
use crate::hash::hash_leaf;
use crate::ledger::{Draft, Durability, Ledger, Options};
use crate::merkle::MemoryTree;
use crate::reader::LedgerReader;
use crate::storage::frame::{parse_header, StoredPayload, FRAME_HEADER_LEN};
use crate::storage::index::{encode_index_header, INDEX_HEADER_LEN};
use crate::storage::segment::{parse_segment_file_name, SEGMENT_HEADER_LEN};
use crate::storage::{segment_path, SimBackend, SEGMENTS_DIR};
use crate::tree::{level_header, level_path, TREE_DIR, TREE_HEADER_LEN};
use crate::verify::{verify_opts, TrustAnchor, VerifyOptions, VerifyReport};

use super::{fuzz_key, Input};

/// The directory every fuzzed ledger lives in on its simulated disk.
pub(super) const DIR: &str = "/fuzz/ledger";
/// Name of the file recording an erasure in progress, and its length.
const PENDING: &str = "redaction.pending";
const PENDING_LEN: usize = 52;

/// Where a container record's bytes go: `(kind, arg)` names a file of the ledger directory.
fn container_path(dir: &Path, kind: u8, arg: u8) -> PathBuf {
    let segs = dir.join(SEGMENTS_DIR);
    match kind % 5 {
        0 => segs.join(format!("{arg:020}.seg")),
        1 => segs.join(format!("{arg:020}.idx")),
        2 => level_path(dir, arg % 64),
        3 => log_path(dir),
        _ => dir.join(PENDING),
    }
}

/// The inverse of [`container_path`] for the files of a real ledger.
fn container_kind(dir: &Path, path: &Path) -> Option<(u8, u8)> {
    let name = path.file_name()?.to_str()?;
    let small = |s: u64| u8::try_from(s).ok();
    if let Some(s) = parse_segment_file_name(name) {
        return Some((0, small(s)?));
    }
    if let Some(s) = name.strip_suffix(".idx").and_then(|d| d.parse().ok()) {
        return Some((1, small(s)?));
    }
    if let Some(l) = name.strip_prefix("level-").and_then(|r| r.strip_suffix(".hashes")) {
        return Some((2, l.parse().ok()?));
    }
    match path.strip_prefix(dir).ok()?.to_str()? {
        "checkpoints.log" => Some((3, 0)),
        PENDING => Some((4, 0)),
        _ => None,
    }
}

/// Serializes the files of the ledger in `dir` as an [`open_arbitrary_ledger`] input (files
/// longer than 64 KiB are left out).
#[must_use]
pub fn ledger_container(disk: &SimBackend, dir: &Path, flags: u8) -> Vec<u8> {
    let mut out = vec![flags];
    for path in disk.files() {
        let (Some((kind, arg)), Some(bytes)) = (container_kind(dir, &path), disk.file_bytes(&path)) else {
            continue;
        };
        let Ok(len) = u16::try_from(bytes.len()) else { continue };
        out.extend_from_slice(&[kind, arg]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// The ledger id in segment 0's header, if it has one.
fn ledger_id_of(disk: &SimBackend, dir: &Path) -> Option<LedgerId> {
    let b = disk.file_bytes(&segment_path(dir, 0))?;
    let id = b.get(16..32)?;
    Some(LedgerId(std::array::from_fn(|i| id[i])))
}

/// Recomputes the checksums and headers the flags ask for, so that mutations reach the checks
/// behind them: bit 0 segment headers, bit 1 frames, bit 2 index headers, bit 3 checkpoint
/// records, bit 4 the pending-erasure record, bit 5 tree level headers. What an attacker who
/// knows the format (docs/FORMAT.md §7, §11) does.
pub(super) fn fix_checksums(disk: &SimBackend, dir: &Path, flags: u8) {
    let ledger_id = ledger_id_of(disk, dir).unwrap_or_default();
    for path in disk.files() {
        let Some(mut b) = disk.file_bytes(&path) else { continue };
        match container_kind(dir, &path) {
            Some((0, _)) => {
                if flags & 1 != 0 && b.len() >= SEGMENT_HEADER_LEN {
                    let c = crc(&[&b[..60]]);
                    b[60..64].copy_from_slice(&c.to_le_bytes());
                }
                if flags & 2 != 0 {
                    fix_frame_crcs(&mut b);
                }
            }
            Some((1, s)) if flags & 4 != 0 && b.len() >= INDEX_HEADER_LEN => {
                b[..INDEX_HEADER_LEN].copy_from_slice(&encode_index_header(ledger_id, u64::from(s)));
            }
            Some((2, level)) if flags & 32 != 0 && b.len() >= TREE_HEADER_LEN as usize => {
                b[..TREE_HEADER_LEN as usize].copy_from_slice(&level_header(ledger_id, level));
            }
            Some((3, _)) if flags & 8 != 0 => {
                let records = b.get_mut(CHECKPOINT_HEADER_LEN..).unwrap_or_default();
                for r in records.chunks_exact_mut(CHECKPOINT_RECORD_LEN) {
                    let c = crc(&[&r[..CHECKPOINT_RECORD_LEN - 4]]);
                    r[CHECKPOINT_RECORD_LEN - 4..].copy_from_slice(&c.to_le_bytes());
                }
            }
            Some((4, _)) if flags & 16 != 0 && b.len() >= PENDING_LEN => {
                let c = crc(&[&b[..PENDING_LEN - 4]]);
                b[PENDING_LEN - 4..PENDING_LEN].copy_from_slice(&c.to_le_bytes());
            }
            _ => continue,
        }
        disk.set_file_bytes(&path, b);
    }
}

/// Walks the frames of a segment by their lengths and rewrites their two CRCs (the header's,
/// over bytes 0..8, and the frame's, over record, section and seal).
pub(super) fn fix_frame_crcs(seg: &mut [u8]) {
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= seg.len() {
        let h = crc(&[&seg[pos..pos + 8]]);
        seg[pos + 8..pos + 12].copy_from_slice(&h.to_le_bytes());
        let header: [u8; FRAME_HEADER_LEN] = std::array::from_fn(|i| seg[pos + i]);
        let Ok(header) = parse_header(&header) else { return };
        let end = pos + header.frame_len();
        if end > seg.len() {
            return;
        }
        let c = crc(&[&seg[pos + FRAME_HEADER_LEN..end - 4]]);
        seg[end - 4..end].copy_from_slice(&c.to_le_bytes());
        pos = end;
    }
}

/// Every file of the simulated disk with its bytes.
pub(super) fn files(disk: &SimBackend) -> BTreeMap<PathBuf, Vec<u8>> {
    disk.files()
        .into_iter()
        .filter_map(|p| disk.file_bytes(&p).map(|b| (p, b)))
        .collect()
}

/// Verifies with the fuzzing key as the trust anchor.
pub(super) fn verify_sim(disk: &SimBackend, dir: &Path, allow_uncovered_tail: bool) -> VerifyReport {
    let opts = VerifyOptions::default().allow_uncovered_tail(allow_uncovered_tail);
    verify_opts(disk, dir, &TrustAnchor::PublicKey(fuzz_key().verifying_key()), &opts)
        .unwrap_or_else(|e| panic!("verify cannot read the ledger: {e}"))
}

/// Verifies, `None` when the directory cannot be read as a ledger at all.
fn try_verify(disk: &SimBackend, dir: &Path, allow_uncovered_tail: bool) -> Option<VerifyReport> {
    let opts = VerifyOptions::default().allow_uncovered_tail(allow_uncovered_tail);
    verify_opts(disk, dir, &TrustAnchor::PublicKey(fuzz_key().verifying_key()), &opts).ok()
}

/// Options for a writer on the simulated disk.
pub(super) fn sim_options(disk: &SimBackend, durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .segment_size(1 << 20)
        .backend(Arc::new(disk.clone()))
}

/// A ledger directory laid out from fuzzed bytes — `[flags]` then records `[kind][arg][len
/// u16][bytes]` naming segments, indexes, tree levels, the checkpoint log and a pending
/// erasure ([`ledger_container`] writes them from real ledgers) — is verified (with and
/// without `allow_uncovered_tail`), then opened by the writer. Open either fails cleanly or
/// recovers; either way it changes segment bytes only by cutting a torn tail off the newest
/// segment (exactly the one it reports, after its last seal), removing a newest segment whose
/// header is incomplete, or finishing a pending erasure (one payload section). If `verify`
/// accepted the ledger, open succeeds with the same length and head (with uncovered unsigned
/// entries, a writer that cannot recognise the last seal as its own may refuse instead), and
/// after one more append and a checkpoint the ledger still verifies. When the entries are
/// authentic (the ledger verifies with its tree files set aside), a checkpoint the writer signs
/// pins their root.
pub fn open_arbitrary_ledger(data: &[u8]) {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    for d in [dir.join(SEGMENTS_DIR), dir.join(TREE_DIR)] {
        disk.create_dir_all(&d).expect("simulated mkdir");
    }
    let mut input = Input(data);
    let flags = input.u8();
    while !input.is_empty() {
        let (kind, arg, len) = (input.u8(), input.u8(), input.u16());
        disk.set_file_bytes(&container_path(dir, kind, arg), input.bytes(usize::from(len)).to_vec());
    }
    fix_checksums(&disk, dir, flags);
    let before = files(&disk);
    let strict = try_verify(&disk, dir, false).filter(VerifyReport::is_ok);
    let lenient = try_verify(&disk, dir, true).filter(VerifyReport::is_ok);
    if strict.is_some() {
        assert!(
            lenient.is_some(),
            "allow_uncovered_tail refused what the default accepts"
        );
    }
    check_reader_proofs(&disk, dir, lenient.is_some(), flags);
    let durability = if flags & 0x40 == 0 {
        Durability::Synced
    } else {
        Durability::Buffered
    };
    let ledger = match Ledger::open(dir, fuzz_key(), sim_options(&disk, durability)) {
        Ok(l) => l,
        Err(e) => {
            assert!(strict.is_none(), "open refused a ledger that verifies: {e}");
            if lenient.is_some() {
                assert!(
                    matches!(e, OpenError::Unverified(_)),
                    "open refused a verified ledger: {e}"
                );
            }
            let after = files(&disk);
            for (path, old) in segs(&before) {
                let now = after.get(path).map(Vec::as_slice);
                let removed = now.is_none() && old.len() < SEGMENT_HEADER_LEN;
                assert!(
                    removed || now.is_some_and(|now| cut_or_erased(old, now)),
                    "a failed open changed {}",
                    path.display()
                );
            }
            return;
        }
    };
    check_open_changes(&disk, dir, &before, &ledger);
    if let Some(r) = lenient.as_ref() {
        assert_eq!(
            (ledger.len(), ledger.head(), ledger.root()),
            (r.entries, r.head, r.root),
            "open and verify disagree"
        );
    }
    let authentic = strict.is_some() || verifies_without_tree(&before, dir);
    append_and_checkpoint(&disk, dir, ledger, lenient.map(|r| r.entries), authentic);
}

/// Proofs a [`LedgerReader`] makes from the directory as it is, before any writer touched it,
/// against the two newest logged checkpoints: the reader never panics. If `verify` accepted the
/// ledger, every proof it hands out is accepted by the proof checks (a tree file that lacks
/// nodes may make it refuse, as a missing node, never answer wrongly). Whatever the directory
/// holds, an accepted inclusion proof names the entry hash `get` reads for that entry.
fn check_reader_proofs(disk: &SimBackend, dir: &Path, verified: bool, pick: u8) {
    let Ok(reader) = LedgerReader::open_with(Arc::new(disk.clone()), dir) else {
        assert!(!verified, "a verified ledger does not open for reading");
        return;
    };
    let Ok(cps) = reader.checkpoints() else {
        assert!(!verified, "a verified ledger's checkpoint log does not read");
        return;
    };
    let key = fuzz_key().verifying_key();
    // A verified ledger may refuse only for want of a stored node.
    let refused = |what: &str, e: &crate::error::ReadError| {
        assert!(
            !verified || matches!(e, crate::error::ReadError::MissingTreeNode { .. }),
            "{what} of a verified ledger: {e}"
        );
    };
    for cp in cps.iter().rev().take(2) {
        let n = cp.tree_size;
        if n == 0 {
            continue;
        }
        for seq in [0, n / 2, n - 1, u64::from(pick) % n] {
            match reader.inclusion_proof(seq, Some(n)) {
                Ok(p) => {
                    let accepted = p.verify(&key).is_ok();
                    assert!(accepted || !verified, "inclusion of {seq} in {n} rejected: {p:?}");
                    if let (true, Ok(e)) = (accepted, reader.get(seq)) {
                        assert_eq!(e.entry.hash, p.entry_hash, "inclusion of {seq} in {n}");
                    }
                }
                Err(e) => refused("inclusion proof", &e),
            }
        }
        for from in [1, n / 2, n - 1, n, 1 + u64::from(pick) % n] {
            if from == 0 {
                continue;
            }
            match reader.consistency_proof(from, Some(n)) {
                Ok(p) if verified => {
                    let checked = if p.old_checkpoint.is_some() {
                        p.verify(&key)
                    } else {
                        p.verify_extends(&key, None, from, &p.old_root)
                    };
                    assert!(checked.is_ok(), "consistency {from}→{n} rejected: {checked:?}");
                }
                Ok(_) => {}
                Err(e) => refused("consistency proof", &e),
            }
            match reader.consistency(from, n) {
                Ok((old_root, new_root, path)) if verified => {
                    assert_eq!(new_root, cp.root, "the root at {n} is not the checkpoint's");
                    assert!(
                        crate::merkle::verify_consistency(from, n, &old_root, &new_root, &path).is_ok(),
                        "consistency {from}→{n} does not check"
                    );
                }
                Ok(_) => {}
                Err(e) => refused("consistency", &e),
            }
        }
    }
}

/// Whether the ledger in `files` verifies once its tree files (derived data) are set aside:
/// then its entries are authentic, whatever the tree files hold.
fn verifies_without_tree(files: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path) -> bool {
    let twin = SimBackend::new();
    let tree_dir = dir.join(TREE_DIR);
    twin.create_dir_all(&dir.join(SEGMENTS_DIR)).expect("simulated mkdir");
    for (path, bytes) in files.iter().filter(|(p, _)| !p.starts_with(&tree_dir)) {
        twin.set_file_bytes(path, bytes.clone());
    }
    try_verify(&twin, dir, true).is_some_and(|r| r.is_ok())
}

pub(super) fn is_segment(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| parse_segment_file_name(n).is_some())
        && p.parent().and_then(Path::file_name) == Some(std::ffi::OsStr::new(SEGMENTS_DIR))
}

fn segs(files: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<&PathBuf, &Vec<u8>> {
    files.iter().filter(|(p, _)| is_segment(p)).collect()
}

/// Whether `new` is `old` cut short, possibly with one frame's payload section (and frame
/// checksum) rewritten by a finished erasure.
fn cut_or_erased(old: &[u8], new: &[u8]) -> bool {
    if new.len() > old.len() {
        return false;
    }
    let old = &old[..new.len()];
    let Some(first) = old.iter().zip(new).position(|(a, b)| a != b) else {
        return true;
    };
    let Some((start, end)) = section_around(new, first) else {
        return false;
    };
    old.iter()
        .zip(new)
        .enumerate()
        .all(|(i, (a, b))| a == b || (start..end).contains(&i))
}

/// The payload section through the end of the frame holding byte `at` of a segment, found by
/// walking the frame headers.
fn section_around(seg: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= seg.len() {
        let h: [u8; FRAME_HEADER_LEN] = seg[pos..pos + FRAME_HEADER_LEN].try_into().ok()?;
        let h = parse_header(&h).ok()?;
        let end = pos + h.frame_len();
        if at < end {
            return (at >= pos + h.section_offset()).then_some((pos + h.section_offset(), end));
        }
        pos = end;
    }
    None
}

/// What open may have changed in the segments: see [`open_arbitrary_ledger`].
fn check_open_changes(disk: &SimBackend, dir: &Path, before: &BTreeMap<PathBuf, Vec<u8>>, ledger: &Ledger) {
    let rec = ledger.recovery();
    let after = files(disk);
    let (old, new) = (segs(before), segs(&after));
    assert!(new.keys().all(|p| old.contains_key(p)), "open created a segment");
    let newest = new.keys().next_back().copied().cloned();
    for (path, bytes) in &old {
        let Some(now) = new.get(path) else {
            assert!(
                bytes.len() < SEGMENT_HEADER_LEN,
                "open removed {} with a complete header",
                path.display()
            );
            assert!(
                newest.as_ref() < Some(*path),
                "open removed {}, not the newest",
                path.display()
            );
            assert!(rec.removed_segment.is_some(), "a segment was removed silently");
            continue;
        };
        let mut keep = bytes.len();
        if let Some(t) = rec.torn_tail.as_ref().filter(|t| t.file == **path) {
            assert_eq!(
                Some(path.as_path()),
                newest.as_deref(),
                "cut a segment that is not the newest"
            );
            assert_eq!(
                t.offset + t.bytes,
                bytes.len() as u64,
                "torn tail does not reach the end"
            );
            keep = t.offset as usize;
        }
        assert_eq!(now.len(), keep, "{}: cut other than the reported tail", path.display());
        if now.as_slice() != &bytes[..keep] {
            let target = rec.erasure_completed.expect("segment bytes changed without a reason");
            assert!(
                cut_or_erased(&bytes[..keep], now),
                "erasure changed more than one section"
            );
            check_erased(disk, dir, target, path);
        }
    }
}

/// A finished erasure left its target erased, in the segment whose bytes changed.
fn check_erased(disk: &SimBackend, dir: &Path, target: u64, path: &Path) {
    let reader = LedgerReader::open_with(Arc::new(disk.clone()), dir).expect("an opened ledger reads");
    if let Ok(e) = reader.get(target) {
        assert_eq!(
            e.file.as_path(),
            path,
            "the erasure changed another segment than its target's"
        );
        assert!(
            matches!(e.payload, StoredPayload::Erased { .. }),
            "the target is not erased"
        );
    }
}

/// One more entry and a checkpoint: if the entries are `authentic`, the checkpoint pins their
/// root; a ledger that verified before still verifies, one entry longer.
fn append_and_checkpoint(disk: &SimBackend, dir: &Path, ledger: Ledger, verified: Option<u64>, authentic: bool) {
    if let Err(e) = ledger.append(Draft::application("text/plain", b"after open".to_vec())) {
        assert!(verified.is_none(), "append to a verified ledger: {e}");
        return;
    }
    let Ok(cp) = ledger.checkpoint() else {
        assert!(verified.is_none(), "checkpoint of a verified ledger failed");
        return;
    };
    drop(ledger);
    let reader = LedgerReader::open_with(Arc::new(disk.clone()), dir).expect("an opened ledger reads");
    let mut tree = MemoryTree::new();
    let scanned = reader.scan(0, |e| {
        tree.push(hash_leaf(&e.entry.hash))
            .map_err(|_| crate::error::ReadError::OutOfRange("full".into()))?;
        Ok::<_, crate::error::ReadError>(tree.size() < cp.tree_size)
    });
    if authentic && scanned.is_ok() && tree.size() == cp.tree_size {
        assert_eq!(
            cp.root,
            tree.root(),
            "the writer signed a checkpoint over a root its entries do not have"
        );
    }
    if let Some(n) = verified {
        let r = verify_sim(disk, dir, true);
        assert!(r.is_ok(), "verified before open, fails after: {:?}", r.failure);
        assert_eq!(r.entries, n + 1);
    }
}
