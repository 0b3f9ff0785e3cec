//! Helpers shared by the integration tests: building small ledgers (on disk or on a simulated
//! disk), parsing segment files into frames independently of the library's scanner, and
//! snapshotting / restoring simulated disks.

#![allow(dead_code)] // each test file uses a different subset

pub mod gov;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use provledger::encoding::crc;
use provledger::entry::entry_hash;
use provledger::storage::frame::{parse_header, FRAME_HEADER_LEN};
use provledger::storage::segment::{parse_segment_file_name, SEGMENT_HEADER_LEN};
use provledger::storage::{Backend, SimBackend, SEGMENTS_DIR};
use provledger::{Digest, Draft, Durability, Ledger, Options, Receipt, SigningKey, TrustAnchor, VerifyReport};

/// Payload bytes of every application entry built here: equal lengths make equal frames.
pub const PAYLOAD_LEN: usize = 40;

/// A deterministic signing key.
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

/// The public-key trust anchor of `key`.
pub fn anchor(key: &SigningKey) -> TrustAnchor {
    TrustAnchor::PublicKey(key.verifying_key())
}

/// An application draft whose payload is `PAYLOAD_LEN` bytes derived from `i`.
pub fn draft(i: u64) -> Draft {
    let mut p = format!("entry {i:08} ").into_bytes();
    p.resize(PAYLOAD_LEN, b'.');
    Draft::application("text/plain", p)
}

/// Options for a simulated disk.
pub fn sim_opts(disk: &SimBackend, durability: Durability, segment_size: u64) -> Options {
    Options {
        durability,
        segment_size,
        backend: Arc::new(disk.clone()),
        ..Options::default()
    }
}

/// Options for the real file system.
pub fn std_opts(durability: Durability, segment_size: u64) -> Options {
    Options {
        durability,
        segment_size,
        ..Options::default()
    }
}

/// The ledger directory used on simulated disks.
pub fn sim_dir() -> PathBuf {
    PathBuf::from("/sim/ledger")
}

/// Creates a ledger on a fresh simulated disk with `n` application entries after genesis.
pub fn sim_ledger(
    n: u64,
    segment_size: u64,
    durability: Durability,
) -> (SimBackend, PathBuf, SigningKey, Vec<Receipt>) {
    let disk = SimBackend::new();
    let dir = sim_dir();
    let k = key(1);
    let mut ledger = Ledger::create(&dir, &k, "sim", sim_opts(&disk, durability, segment_size)).expect("create");
    let receipts = (1..=n).map(|i| ledger.append(draft(i)).expect("append")).collect();
    drop(ledger);
    (disk, dir, k, receipts)
}

/// Creates a ledger in `dir` on the real file system with `n` application entries.
pub fn std_ledger(dir: &Path, k: &SigningKey, n: u64, segment_size: u64) -> Vec<Receipt> {
    let mut ledger = Ledger::create(dir, k, "disk", std_opts(Durability::PerBatch, segment_size)).expect("create");
    (1..=n).map(|i| ledger.append(draft(i)).expect("append")).collect()
}

/// One frame as found by parsing a segment file here (not with the library's scanner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number written in the entry.
    pub seq: u64,
    /// Offset of the frame in its segment file.
    pub offset: usize,
    /// Entry length.
    pub entry_len: usize,
    /// Payload-section length (without its checksum).
    pub section_len: usize,
}

impl Frame {
    /// Total frame length.
    pub fn len(&self) -> usize {
        FRAME_HEADER_LEN + self.entry_len + 4 + self.section_len + 4
    }

    /// Offset just past the frame.
    pub fn end(&self) -> usize {
        self.offset + self.len()
    }

    /// Range of the entry bytes in the file.
    pub fn entry(&self) -> std::ops::Range<usize> {
        let s = self.offset + FRAME_HEADER_LEN;
        s..s + self.entry_len
    }

    /// Range of the payload section (state, salt, payload) in the file.
    pub fn section(&self) -> std::ops::Range<usize> {
        let s = self.entry().end + 4;
        s..s + self.section_len
    }
}

/// A segment file and its parsed frames.
#[derive(Clone, Debug)]
pub struct Segment {
    pub first_seq: u64,
    pub path: PathBuf,
    pub idx_path: PathBuf,
    pub bytes: Vec<u8>,
    pub frames: Vec<Frame>,
}

impl Segment {
    /// The frame holding byte `offset`, if any (`None` in the segment header).
    pub fn frame_at(&self, offset: usize) -> Option<&Frame> {
        self.frames.iter().find(|f| (f.offset..f.end()).contains(&offset))
    }
}

/// Parses the complete, checksum-valid frames of a segment file (stops at the first bad one).
pub fn parse_frames(bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut off = SEGMENT_HEADER_LEN;
    while off + FRAME_HEADER_LEN <= bytes.len() {
        let h: [u8; FRAME_HEADER_LEN] = bytes[off..off + FRAME_HEADER_LEN].try_into().expect("12 bytes");
        let Ok(h) = parse_header(&h) else { break };
        let mut f = Frame {
            seq: 0,
            offset: off,
            entry_len: h.entry_len,
            section_len: h.section_len,
        };
        if f.end() > bytes.len() {
            break;
        }
        f.seq = u64::from_le_bytes(bytes[off + 12..off + 20].try_into().expect("8 bytes"));
        out.push(f);
        off = f.end();
    }
    out
}

/// Segments of a ledger, in order, from a listing of (path, bytes).
fn layout_from(mut files: Vec<(PathBuf, Vec<u8>)>) -> Vec<Segment> {
    files.sort();
    files
        .into_iter()
        .filter_map(|(path, bytes)| {
            let first_seq = parse_segment_file_name(path.file_name()?.to_str()?)?;
            Some(Segment {
                first_seq,
                idx_path: path.with_extension("idx"),
                frames: parse_frames(&bytes),
                path,
                bytes,
            })
        })
        .collect()
}

/// The segments of a ledger on a simulated disk.
pub fn sim_layout(disk: &SimBackend, dir: &Path) -> Vec<Segment> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let files = disk
        .files()
        .into_iter()
        .filter(|p| p.parent() == Some(seg_dir.as_path()))
        .map(|p| {
            let b = disk.file_bytes(&p).expect("listed file");
            (p, b)
        })
        .collect();
    layout_from(files)
}

/// The segments of a ledger on the real file system.
pub fn std_layout(dir: &Path) -> Vec<Segment> {
    let files = std::fs::read_dir(dir.join(SEGMENTS_DIR))
        .expect("segments dir")
        .map(|e| {
            let p = e.expect("dir entry").path();
            let b = std::fs::read(&p).expect("read segment");
            (p, b)
        })
        .collect();
    layout_from(files)
}

/// Entry hashes of every parsed frame, in ledger order.
pub fn entry_hashes(segments: &[Segment]) -> Vec<Digest> {
    segments
        .iter()
        .flat_map(|s| s.frames.iter().map(move |f| entry_hash(&s.bytes[f.entry()])))
        .collect()
}

/// Rewrites the checksums of the frame at `f` after its bytes were edited in place.
pub fn fix_frame_crcs(bytes: &mut [u8], f: &Frame) {
    let h = crc(&[&bytes[f.offset..f.offset + 8]]);
    bytes[f.offset + 8..f.offset + 12].copy_from_slice(&h.to_le_bytes());
    let e = crc(&[&bytes[f.entry()]]);
    let at = f.entry().end;
    bytes[at..at + 4].copy_from_slice(&e.to_le_bytes());
    let p = crc(&[&bytes[f.section()]]);
    let at = f.section().end;
    bytes[at..at + 4].copy_from_slice(&p.to_le_bytes());
}

/// Every file of a simulated disk with its current bytes.
pub type Snapshot = Vec<(PathBuf, Vec<u8>)>;

/// Takes a snapshot of every file.
pub fn snapshot(disk: &SimBackend) -> Snapshot {
    disk.files()
        .into_iter()
        .map(|p| {
            let b = disk.file_bytes(&p).expect("listed file");
            (p, b)
        })
        .collect()
}

/// A fresh simulated disk holding exactly `snap` (all durable) under the ledger directory.
pub fn restore(snap: &Snapshot) -> SimBackend {
    let disk = SimBackend::new();
    disk.create_dir_all(&sim_dir().join(SEGMENTS_DIR)).expect("mkdir");
    for (p, b) in snap {
        disk.create_dir_all(p.parent().expect("parent")).expect("mkdir");
        disk.set_file_bytes(p, b.clone());
    }
    disk
}

/// Verifies and asserts success; returns the report.
pub fn assert_verifies(backend: &dyn Backend, dir: &Path, key: &SigningKey) -> VerifyReport {
    let r = provledger::verify_with(backend, dir, &anchor(key)).expect("verify runs");
    assert!(r.is_ok(), "verify failed: {}", r.failure.as_ref().expect("failure"));
    r
}
