//! Ledger directories from fuzzed bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::{log_path, CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
use crate::encoding::crc;
use crate::entry::LedgerId;
use crate::error::{Error, StorageError};
use crate::hash::hash_leaf;
use crate::ledger::{Draft, Durability, Ledger, Options};
use crate::merkle::MemoryTree;
use crate::reader::LedgerReader;
use crate::storage::frame::{parse_header, StoredPayload, FRAME_HEADER_LEN};
use crate::storage::index::{encode_index_header, INDEX_HEADER_LEN};
use crate::storage::segment::{parse_segment_file_name, SEGMENT_HEADER_LEN};
use crate::storage::{segment_path, SimBackend, SEGMENTS_DIR};
use crate::verify::{verify_opts, TrustAnchor, VerifyOptions, VerifyReport};

use super::{fuzz_key, Input};

/// The directory every fuzzed ledger lives in on its simulated disk.
pub(super) const DIR: &str = "/fuzz/ledger";

/// Where a container record's bytes go: `(kind, arg)` names a file of the ledger directory.
fn container_path(dir: &Path, kind: u8, arg: u8) -> PathBuf {
    let segs = dir.join(SEGMENTS_DIR);
    match kind % 5 {
        0 => segs.join(format!("{arg:020}.seg")),
        1 => segs.join(format!("{arg:020}.idx")),
        2 => crate::tree::level_path(dir, arg % 64),
        3 => log_path(dir),
        _ => dir.join("redaction.pending"),
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
        "redaction.pending" => Some((4, 0)),
        _ => None,
    }
}

/// Serializes the files of the ledger in `dir` as an [`open_arbitrary_ledger`] input.
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

/// Recomputes the CRCs the flags ask for, so that mutations reach the checks behind them:
/// bit 0 segment headers, bit 1 frames, bit 2 index headers, bit 3 checkpoint records, bit 4
/// the pending-redaction record.
fn fix_checksums(disk: &SimBackend, dir: &Path, flags: u8) {
    let ledger_id = disk
        .file_bytes(&segment_path(dir, 0))
        .and_then(|b| b.get(16..32).map(|id| LedgerId(std::array::from_fn(|i| id[i]))));
    for path in disk.files() {
        let Some(mut b) = disk.file_bytes(&path) else { continue };
        match container_kind(dir, &path) {
            Some((0, _)) if flags & 1 != 0 && b.len() >= SEGMENT_HEADER_LEN => {
                let c = crc(&[&b[..60]]);
                b[60..64].copy_from_slice(&c.to_le_bytes());
            }
            Some((1, s)) if flags & 4 != 0 && b.len() >= INDEX_HEADER_LEN => {
                let h = encode_index_header(ledger_id.unwrap_or_default(), u64::from(s));
                b[..INDEX_HEADER_LEN].copy_from_slice(&h);
            }
            Some((3, _)) if flags & 8 != 0 => {
                let records = b.get_mut(CHECKPOINT_HEADER_LEN..).unwrap_or_default();
                for r in records.chunks_exact_mut(CHECKPOINT_RECORD_LEN) {
                    let c = crc(&[&r[..CHECKPOINT_RECORD_LEN - 4]]);
                    r[CHECKPOINT_RECORD_LEN - 4..].copy_from_slice(&c.to_le_bytes());
                }
            }
            Some((4, _)) if flags & 16 != 0 && b.len() >= 20 => {
                let c = crc(&[&b[..16]]);
                b[16..20].copy_from_slice(&c.to_le_bytes());
            }
            _ => {}
        }
        if flags & 2 != 0 && container_kind(dir, &path).is_some_and(|k| k.0 == 0) {
            fix_frame_crcs(&mut b);
        }
        disk.set_file_bytes(&path, b);
    }
}

/// Walks the frames of a segment by their lengths and rewrites their three CRCs.
fn fix_frame_crcs(seg: &mut [u8]) {
    let put = |seg: &mut [u8], at: usize, range: std::ops::Range<usize>| {
        let sum = crc(&[&seg[range]]);
        seg[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    };
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= seg.len() {
        put(seg, pos + 8, pos..pos + 8);
        let header: [u8; FRAME_HEADER_LEN] = std::array::from_fn(|i| seg[pos + i]);
        let Ok(header) = parse_header(&header) else { return };
        let end = pos + header.frame_len();
        if end > seg.len() {
            return;
        }
        let entry_end = pos + FRAME_HEADER_LEN + header.entry_len;
        put(seg, entry_end, pos + FRAME_HEADER_LEN..entry_end);
        let section = pos + header.section_offset();
        put(seg, end - 4, section..section + header.section_len);
        pos = end;
    }
}

/// Every file of the simulated disk with its bytes.
fn files(disk: &SimBackend) -> BTreeMap<PathBuf, Vec<u8>> {
    disk.files()
        .into_iter()
        .filter_map(|p| disk.file_bytes(&p).map(|b| (p, b)))
        .collect()
}

pub(super) fn verify_sim(disk: &SimBackend, dir: &Path) -> Result<VerifyReport, Error> {
    let opts = VerifyOptions {
        allow_uncovered_tail: true,
        ..VerifyOptions::default()
    };
    verify_opts(disk, dir, &TrustAnchor::PublicKey(fuzz_key().verifying_key()), &opts)
}

pub(super) fn sim_options(disk: &SimBackend, durability: Durability, segment_size: u64) -> Options {
    Options {
        durability,
        segment_size,
        backend: Arc::new(disk.clone()),
        ..Options::default()
    }
}

/// A ledger directory laid out from fuzzed bytes — `[flags]` then records `[kind][arg][len
/// u16][bytes]` naming segments, indexes, tree levels, the checkpoint log and a pending
/// erasure ([`ledger_container`] writes them from real ledgers) — is verified, then opened by
/// the writer. Open either fails cleanly or recovers, changing segment bytes only by cutting
/// a torn tail off the newest segment (exactly what it reports), removing a newest segment
/// whose header is incomplete, or finishing a pending erasure. If `verify` accepted the
/// ledger, open must succeed with the same entries, and after one more append and a
/// checkpoint the ledger still verifies. A checkpoint the writer signs pins the true root.
pub fn open_arbitrary_ledger(data: &[u8]) {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    for d in [dir.join(SEGMENTS_DIR), dir.join(crate::tree::TREE_DIR)] {
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
    let report = verify_sim(&disk, dir);
    let verified = report.as_ref().ok().filter(|r| r.is_ok());
    let segment_size = [512, 2048, 1 << 20][usize::from(flags >> 6) % 3];
    let ledger = match Ledger::open(dir, &fuzz_key(), sim_options(&disk, Durability::PerBatch, segment_size)) {
        Ok(l) => l,
        Err(e) => {
            assert!(verified.is_none(), "open refused a ledger that verifies: {e}");
            let after = files(&disk);
            for (path, old) in segs(&before) {
                let now = after.get(path).map_or(&[][..], Vec::as_slice);
                let removed = !after.contains_key(path) && old.len() < SEGMENT_HEADER_LEN;
                assert!(
                    removed || old.starts_with(now),
                    "a failed open changed {}",
                    path.display()
                );
            }
            return;
        }
    };
    check_open_changes(&disk, dir, &before, &ledger);
    if let Some(r) = verified {
        assert_eq!(
            (ledger.len(), ledger.head()),
            (r.entries, r.head),
            "open and verify disagree"
        );
    }
    let authentic = verified.is_some() || verifies_without_tree(&before, dir);
    append_and_checkpoint(&disk, dir, ledger, verified.map(|r| r.entries), authentic);
}

/// Finding F5: a stray index file for the segment the writer rotates into (no such segment
/// yet; `verify` ignores it) makes the rotation fail with "already exists" and poisons the
/// writer; a reopen adopts the file as the new segment's index and recovers. Off until fixed
/// (that error is tolerated from an append to a verified ledger); turn on to reproduce.
const CHECK_STRAY_INDEX: bool = true;

/// Whether the ledger in `files` verifies once its tree files (derived data) are set aside:
/// then its entries are authentic, whatever the tree files hold.
fn verifies_without_tree(files: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path) -> bool {
    let twin = SimBackend::new();
    let tree_dir = dir.join(crate::tree::TREE_DIR);
    twin.create_dir_all(&dir.join(SEGMENTS_DIR)).expect("simulated mkdir");
    for (path, bytes) in files.iter().filter(|(p, _)| !p.starts_with(&tree_dir)) {
        twin.set_file_bytes(path, bytes.clone());
    }
    verify_sim(&twin, dir).is_ok_and(|r| r.is_ok())
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
            check_erased_only(disk, dir, target, path, &bytes[..keep], now);
        }
    }
}

/// A finished erasure changed only the payload section of its target's frame.
fn check_erased_only(disk: &SimBackend, dir: &Path, target: u64, path: &Path, old: &[u8], new: &[u8]) {
    let reader = LedgerReader::open_with(Arc::new(disk.clone()), dir).expect("an opened ledger reads");
    let e = reader.get(target).expect("the erased entry reads");
    assert_eq!((e.file.as_path(), &e.payload), (path, &StoredPayload::Erased));
    assert_eq!(old.len(), new.len(), "erasure changed a segment's length");
    let h: [u8; FRAME_HEADER_LEN] = std::array::from_fn(|i| new[e.offset as usize + i]);
    let h = parse_header(&h).expect("erased frame header");
    let start = e.offset as usize + h.section_offset();
    let end = e.offset as usize + h.frame_len();
    let diff = old
        .iter()
        .zip(new)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i);
    assert!(
        diff.clone().all(|i| (start..end).contains(&i)),
        "erasure changed bytes outside its section"
    );
}

/// One more entry and a checkpoint: if the entries are `authentic`, the checkpoint pins their
/// root; a ledger that verified before still verifies, one entry longer.
fn append_and_checkpoint(disk: &SimBackend, dir: &Path, mut ledger: Ledger, verified: Option<u64>, authentic: bool) {
    if let Err(e) = ledger.append(Draft::application("text/plain", b"after open".to_vec())) {
        let stray_index = matches!(&e, Error::Storage(StorageError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists);
        let known = stray_index && !CHECK_STRAY_INDEX;
        assert!(verified.is_none() || known, "append to a verified ledger: {e}");
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
        tree.push(hash_leaf(&e.hash)).map_err(|_| Error::input("full"))?;
        Ok(tree.size() < cp.tree_size)
    });
    if authentic && scanned.is_ok() && tree.size() == cp.tree_size {
        assert_eq!(
            cp.root,
            tree.root(),
            "the writer signed a checkpoint over a root its entries do not have"
        );
    }
    if let Some(n) = verified {
        let r = verify_sim(disk, dir).expect("verify runs");
        assert!(r.is_ok(), "verified before open, fails after: {:?}", r.failure);
        assert_eq!(r.entries, n + 1);
    }
}
