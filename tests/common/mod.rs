//! Helpers shared by the integration tests: building small ledgers (on disk or on a simulated
//! disk), parsing segment files into frames independently of the library's scanner (format v2,
//! docs/FORMAT.md §7.3), and snapshotting, crashing and restoring simulated disks.
//!
//! Every use of [`SimBackend`] by the tests goes through the helpers here (`sim_opts`,
//! `sim_layout`, `snapshot`, `restore`, `power_loss`, `process_crash`, `set_fail_sync`,
//! `set_write_budget`), so that a change of the simulated disk's API is adapted in one place.

#![allow(dead_code)] // each test file uses a different subset

pub mod gov;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use provledger::encoding::crc;
use provledger::entry::{commit_payload, RecordRef};
use provledger::storage::segment::{parse_segment_file_name, SEGMENT_HEADER_LEN};
use provledger::storage::{Backend, LedgerDir, LockGuard, SimBackend, StdBackend, StorageFile, SEGMENTS_DIR};
use provledger::{
    Digest, Draft, Durability, Ledger, LedgerId, Options, Receipt, SigningKey, TrustAnchor, VerifyReport,
};

/// Payload bytes of every application entry built by [`draft`]: equal lengths make equal
/// frames.
pub const PAYLOAD_LEN: usize = 40;
/// The smallest segment size `Options::segment_size` accepts (1 MiB); ledgers that need several
/// segments fill them with [`big_draft`]s.
pub const MIN_SEGMENT: u64 = 1 << 20;
/// Bytes of a frame header (docs/FORMAT.md §7.3).
pub const FRAME_HEADER_LEN: usize = 12;
/// Bytes of a seal (docs/FORMAT.md §7.5).
pub const SEAL_LEN: usize = 112;
/// Bytes of a signature block in a record: key id and signature.
pub const SIG_BLOCK: usize = 96;

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

/// An application draft with a `len`-byte payload derived from `i` (to fill segments).
pub fn big_draft(i: u64, len: usize) -> Draft {
    let mut p = format!("big entry {i:08} ").into_bytes();
    p.resize(len, b'0' + (i % 10) as u8);
    Draft::application("application/octet-stream", p)
}

/// Options for a simulated disk.
pub fn sim_opts(disk: &SimBackend, durability: Durability, segment_size: u64) -> Options {
    Options::default()
        .durability(durability)
        .segment_size(segment_size)
        .backend(Arc::new(disk.clone()))
}

/// Options for the real file system.
pub fn std_opts(durability: Durability, segment_size: u64) -> Options {
    Options::default().durability(durability).segment_size(segment_size)
}

/// The ledger directory used on simulated disks.
pub fn sim_dir() -> PathBuf {
    PathBuf::from("/sim/ledger")
}

/// Creates a ledger on a fresh simulated disk with `n` application entries after genesis, each
/// appended on its own (so each is a write of its own, ending in a seal), and closes it.
pub fn sim_ledger(
    n: u64,
    segment_size: u64,
    durability: Durability,
) -> (SimBackend, PathBuf, SigningKey, Vec<Receipt>) {
    let disk = SimBackend::new();
    let dir = sim_dir();
    let k = key(1);
    let ledger = Ledger::create(&dir, k.clone(), "sim", sim_opts(&disk, durability, segment_size)).expect("create");
    let receipts = (1..=n).map(|i| ledger.append(draft(i)).expect("append")).collect();
    ledger.close().expect("close");
    (disk, dir, k, receipts)
}

/// Creates a ledger in `dir` on the real file system with `n` application entries, each
/// appended on its own, and closes it.
pub fn std_ledger(dir: &Path, k: &SigningKey, n: u64, segment_size: u64) -> Vec<Receipt> {
    let ledger = Ledger::create(dir, k.clone(), "disk", std_opts(Durability::Buffered, segment_size)).expect("create");
    let receipts = (1..=n).map(|i| ledger.append(draft(i)).expect("append")).collect();
    ledger.close().expect("close");
    receipts
}

/// One frame as found by parsing a segment file here (not with the library's scanner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number: the segment's first sequence number plus the frame's position.
    pub seq: u64,
    /// Offset of the frame in its segment file.
    pub offset: usize,
    /// Entry record length.
    pub entry_len: usize,
    /// Payload-section length (33 + payload bytes).
    pub section_len: usize,
    /// Whether a seal follows the payload section.
    pub sealed: bool,
}

impl Frame {
    /// Total frame length.
    pub fn len(&self) -> usize {
        FRAME_HEADER_LEN + self.entry_len + self.section_len + if self.sealed { SEAL_LEN } else { 0 } + 4
    }

    /// Offset just past the frame.
    pub fn end(&self) -> usize {
        self.offset + self.len()
    }

    /// Range of the 12 frame-header bytes in the file.
    pub fn header(&self) -> Range<usize> {
        self.offset..self.offset + FRAME_HEADER_LEN
    }

    /// Range of the entry record in the file.
    pub fn entry(&self) -> Range<usize> {
        let s = self.offset + FRAME_HEADER_LEN;
        s..s + self.entry_len
    }

    /// Range of the payload section (state, salt or commitment, payload) in the file.
    pub fn section(&self) -> Range<usize> {
        let s = self.entry().end;
        s..s + self.section_len
    }

    /// Range of the payload bytes in the file.
    pub fn payload(&self) -> Range<usize> {
        self.section().start + 33..self.section().end
    }

    /// Range of the seal, if the frame is sealed.
    pub fn seal(&self) -> Option<Range<usize>> {
        self.sealed.then(|| self.section().end..self.section().end + SEAL_LEN)
    }

    /// Range of the trailing frame checksum.
    pub fn crc(&self) -> Range<usize> {
        self.end() - 4..self.end()
    }
}

/// A segment file and its parsed frames.
#[derive(Clone, Debug)]
pub struct Segment {
    pub first_seq: u64,
    pub ledger_id: LedgerId,
    pub path: PathBuf,
    pub idx_path: PathBuf,
    pub bytes: Vec<u8>,
    /// Every complete, checksum-valid frame (a torn tail's complete frames included).
    pub frames: Vec<Frame>,
}

impl Segment {
    /// The frame holding byte `offset`, if any (`None` in the segment header or past the
    /// frames).
    pub fn frame_at(&self, offset: usize) -> Option<&Frame> {
        self.frames.iter().find(|f| (f.offset..f.end()).contains(&offset))
    }

    /// The frames up to and including the last sealed one: the entries a reader counts.
    pub fn committed(&self) -> &[Frame] {
        let n = self.frames.iter().rposition(|f| f.sealed).map_or(0, |i| i + 1);
        &self.frames[..n]
    }

    /// The frames of the write that holds frame `i` (the sealed frame ending it, and the
    /// unsealed frames before it back to the previous seal).
    pub fn write_of(&self, i: usize) -> Range<usize> {
        let start = self.frames[..i].iter().rposition(|f| f.sealed).map_or(0, |p| p + 1);
        let end = self.frames[i..]
            .iter()
            .position(|f| f.sealed)
            .map_or(self.frames.len(), |p| i + p + 1);
        start..end
    }

    /// The entry hash of frame `f` of this segment.
    pub fn entry_hash(&self, f: &Frame) -> Digest {
        entry_hash(&self.bytes, f, self.ledger_id)
    }

    /// The record of frame `f`, parsed.
    pub fn record(&self, f: &Frame) -> RecordRef<'_> {
        RecordRef::parse(&self.bytes[f.entry()]).expect("record parses")
    }
}

/// The entry hash `E` of frame `f` in `bytes` (docs/FORMAT.md §4.4): from its record, its
/// place and the payload commitment (computed, or stored after erasure).
pub fn entry_hash(bytes: &[u8], f: &Frame, ledger_id: LedgerId) -> Digest {
    let record = RecordRef::parse(&bytes[f.entry()]).expect("record parses");
    let section = &bytes[f.section()];
    let mut key = [0u8; 32];
    key.copy_from_slice(&section[1..33]);
    let commitment = match section[0] {
        0 => commit_payload(&key, &section[33..]),
        1 => Digest::from_bytes(key),
        s => panic!("unknown payload state {s}"),
    };
    record.entry_hash(f.seq, ledger_id, &commitment)
}

/// Parses the complete frames of a segment file whose header CRC and frame CRC match,
/// stopping at the first frame that is not (a torn tail, or damage). Independent of the
/// library's scanner.
pub fn parse_frames(bytes: &[u8], first_seq: u64) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut off = SEGMENT_HEADER_LEN;
    while off + FRAME_HEADER_LEN <= bytes.len() {
        let h = &bytes[off..off + FRAME_HEADER_LEN];
        if crc(&[&h[..8]]) != u32::from_le_bytes(h[8..12].try_into().expect("4 bytes")) {
            break;
        }
        let f = Frame {
            seq: first_seq + out.len() as u64,
            offset: off,
            entry_len: usize::from(u16::from_le_bytes([h[0], h[1]])),
            section_len: u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")) as usize,
            sealed: h[2] & 1 == 1,
        };
        if f.end() > bytes.len() {
            break;
        }
        let stored = u32::from_le_bytes(bytes[f.crc()].try_into().expect("4 bytes"));
        if crc(&[&bytes[f.entry().start..f.crc().start]]) != stored {
            break;
        }
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
        .filter_map(|(path, mut bytes)| {
            let first_seq = parse_segment_file_name(path.file_name()?.to_str()?)?;
            let mut id = [0u8; 16];
            id.copy_from_slice(bytes.get(16..32)?);
            let frames = parse_frames(&bytes, first_seq);
            // Zeros after the last frame are space the writer reserved ahead of its writes
            // (FORMAT §8 T1b), not part of the segment's contents.
            let end = frames.last().map_or(64, Frame::end);
            if bytes.len() > end && bytes[end..].iter().all(|&b| b == 0) {
                bytes.truncate(end);
            }
            Some(Segment {
                first_seq,
                ledger_id: LedgerId(id),
                idx_path: path.with_extension("idx"),
                frames,
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

/// Length of the newest segment file of a ledger on a simulated disk.
pub fn newest_segment_len(disk: &SimBackend, dir: &Path) -> usize {
    sim_layout(disk, dir).last().map_or(0, |s| s.bytes.len())
}

/// Entry hashes of the entries a reader counts (each segment's frames up to its last seal),
/// in ledger order.
pub fn entry_hashes(segments: &[Segment]) -> Vec<Digest> {
    segments
        .iter()
        .flat_map(|s| s.committed().iter().map(move |f| s.entry_hash(f)))
        .collect()
}

/// Rewrites the header checksum and the frame checksum of the frame at `f` after its bytes
/// were edited in place (what an attacker who knows the format does).
pub fn fix_frame_crcs(bytes: &mut [u8], f: &Frame) {
    let h = crc(&[&bytes[f.offset..f.offset + 8]]);
    bytes[f.offset + 8..f.offset + 12].copy_from_slice(&h.to_le_bytes());
    let c = crc(&[&bytes[f.entry().start..f.crc().start]]);
    bytes[f.crc()].copy_from_slice(&c.to_le_bytes());
}

/// Rewrites the CRC of a segment header after its bytes were edited.
pub fn fix_segment_header_crc(bytes: &mut [u8]) {
    let c = crc(&[&bytes[..60]]);
    bytes[60..64].copy_from_slice(&c.to_le_bytes());
}

/// A fresh, empty simulated disk.
pub fn new_disk() -> SimBackend {
    SimBackend::new()
}

/// Removes a file from a simulated disk (it must exist).
pub fn remove(disk: &SimBackend, path: &Path) {
    disk.remove_file(path).expect("remove a file of the simulated disk");
}

/// Verifies the ledger in `dir` on a simulated disk against `anchor` (default options).
pub fn sim_verify(disk: &SimBackend, dir: &Path, anchor: &TrustAnchor) -> VerifyReport {
    provledger::verify_with(disk, dir, anchor).expect("verify runs")
}

/// A reader of the ledger in `dir` on a simulated disk.
pub fn sim_reader(disk: &SimBackend, dir: &Path) -> provledger::LedgerReader {
    provledger::LedgerReader::open_with(Arc::new(disk.clone()), dir).expect("reader")
}

/// Every file of a simulated disk with its current bytes.
pub type Snapshot = Vec<(PathBuf, Vec<u8>)>;

/// Takes a snapshot of every file's current (possibly unsynced) bytes.
pub fn snapshot(disk: &SimBackend) -> Snapshot {
    disk.files()
        .into_iter()
        .map(|p| {
            let b = disk.file_bytes(&p).expect("listed file");
            (p, b)
        })
        .collect()
}

/// Total bytes written to every file of a simulated disk: file lengths, less the zeros a
/// writer reserved after the last frame of a segment (reserving takes nothing from the
/// simulated write budget, so the budget a script needs is what this counts).
pub fn disk_bytes(disk: &SimBackend) -> usize {
    snapshot(disk)
        .iter()
        .map(|(p, b)| {
            if p.extension().is_some_and(|e| e == "seg") {
                let end = parse_frames(b, 0).last().map_or(64, Frame::end).min(b.len());
                if b[end..].iter().all(|&x| x == 0) {
                    return end;
                }
            }
            b.len()
        })
        .sum()
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

/// Replaces a file's bytes on a simulated disk (written and synced).
pub fn put_file(disk: &SimBackend, path: &Path, bytes: Vec<u8>) {
    disk.set_file_bytes(path, bytes);
}

/// The current bytes of a file on a simulated disk.
pub fn file(disk: &SimBackend, path: &Path) -> Option<Vec<u8>> {
    disk.file_bytes(path)
}

/// After `bytes` more bytes are written, writes fail (disk full); `None` lifts the limit.
pub fn set_write_budget(disk: &SimBackend, bytes: Option<u64>) {
    disk.set_write_budget(bytes);
}

/// Makes every `fdatasync` fail (or succeed again).
pub fn set_fail_sync(disk: &SimBackend, fail: bool) {
    disk.set_fail_sync(fail);
}

/// Power loss while `ledger` runs: the disk keeps only what was synced, and the process dies
/// with the machine. The handle is then dropped on a dead disk (every write and sync fails),
/// so that its writer thread ends without changing anything. Call only when no operation is in
/// flight.
pub fn power_loss(disk: &SimBackend, ledger: Ledger) {
    disk.crash();
    disk.set_write_budget(Some(0));
    disk.set_fail_sync(true);
    drop(ledger);
    disk.set_write_budget(None);
    disk.set_fail_sync(false);
}

/// Power loss with no writer open (after a writer failed or was dropped).
pub fn power_loss_idle(disk: &SimBackend) {
    disk.crash();
}

/// The process dies (SIGKILL) while `ledger` runs, the machine does not: what the process wrote
/// stays in the page cache and reaches the disk, synced or not, and the writer lock is released.
/// Returns the disk as the next process sees it (a copy: the old handle is dropped with the
/// old disk, which nothing looks at again).
pub fn process_crash(disk: &SimBackend, ledger: Ledger) -> SimBackend {
    let after = restore(&snapshot(disk));
    drop(ledger);
    after
}

/// Verifies and asserts success; returns the report.
pub fn verified(disk: &SimBackend, dir: &Path, key: &SigningKey) -> VerifyReport {
    let r = sim_verify(disk, dir, &anchor(key));
    assert!(r.is_ok(), "verify failed: {}", r.failure.as_ref().expect("failure"));
    r
}

/// Verifies and asserts success.
pub fn assert_verifies(disk: &SimBackend, dir: &Path, key: &SigningKey) {
    let _ = verified(disk, dir, key);
}

/// Byte ranges of the fields of an entry record (docs/FORMAT.md §4.2), relative to the record.
#[derive(Clone, Debug)]
pub struct RecordFields {
    pub kind: Range<usize>,
    pub timestamp: Range<usize>,
    pub ct_len: usize,
    pub content_type: Range<usize>,
    pub ref_count: Range<usize>,
    pub refs: Range<usize>,
    pub sig_flags: usize,
    pub cosig_count: usize,
    /// Key id and signature of the position signature, if any.
    pub position: Option<(Range<usize>, Range<usize>)>,
    /// Key id and signature of each co-signature.
    pub cosignatures: Vec<(Range<usize>, Range<usize>)>,
}

/// Splits an entry record into its fields (independently of the library's parser).
pub fn record_fields(record: &[u8]) -> RecordFields {
    let c = usize::from(record[10]);
    let rc = 11 + c;
    let n = usize::from(u16::from_le_bytes([record[rc], record[rc + 1]]));
    let refs = rc + 2..rc + 2 + 32 * n;
    let flags = refs.end;
    let count = flags + 1;
    let mut at = count + 1;
    let block = |at: usize| (at..at + 32, at + 32..at + SIG_BLOCK);
    let position = (record[flags] & 1 == 1).then(|| {
        let b = block(at);
        at += SIG_BLOCK;
        b
    });
    let cosignatures = (0..usize::from(record[count]))
        .map(|i| block(at + i * SIG_BLOCK))
        .collect();
    RecordFields {
        kind: 0..2,
        timestamp: 2..10,
        ct_len: 10,
        content_type: 11..rc,
        ref_count: rc..rc + 2,
        refs,
        sig_flags: flags,
        cosig_count: count,
        position,
        cosignatures,
    }
}

/// Wraps a file opened in a ledger directory (given its path relative to that directory).
pub type WrapFile = Arc<dyn Fn(&Path, Box<dyn StorageFile>) -> Box<dyn StorageFile> + Send + Sync>;

/// The file system, with every file opened for reading passed through a wrapper: for tests
/// that watch or disturb what a reader or verifier reads (files opened for writing are not
/// wrapped).
#[derive(Clone)]
pub struct ReadThrough(pub WrapFile);

/// The file system, with every file opened for writing passed through a wrapper: for tests
/// that watch or interrupt what a writer changes (files opened for reading are not wrapped).
#[derive(Clone)]
pub struct WriteThrough(pub WrapFile);

impl std::fmt::Debug for ReadThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadThrough")
    }
}

impl std::fmt::Debug for WriteThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteThrough")
    }
}

/// A directory of [`ReadThrough`] (`writes` false) or [`WriteThrough`] (`writes` true).
struct ThroughDir {
    inner: Arc<dyn LedgerDir>,
    wrap: WrapFile,
    writes: bool,
}

impl std::fmt::Debug for ThroughDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThroughDir")
            .field("inner", &self.inner)
            .field("writes", &self.writes)
            .finish()
    }
}

impl ThroughDir {
    /// The directory at `path` on the real file system, its files passed through `wrap`.
    fn open(path: &Path, create: bool, wrap: &WrapFile, writes: bool) -> std::io::Result<Arc<dyn LedgerDir>> {
        Ok(Arc::new(ThroughDir {
            inner: StdBackend.open_dir(path, create)?,
            wrap: Arc::clone(wrap),
            writes,
        }))
    }
}

impl Backend for ReadThrough {
    fn open_dir(&self, path: &Path, create: bool) -> std::io::Result<Arc<dyn LedgerDir>> {
        ThroughDir::open(path, create, &self.0, false)
    }
}

impl Backend for WriteThrough {
    fn open_dir(&self, path: &Path, create: bool) -> std::io::Result<Arc<dyn LedgerDir>> {
        ThroughDir::open(path, create, &self.0, true)
    }
}

impl LedgerDir for ThroughDir {
    fn open_read(&self, rel: &Path) -> std::io::Result<Box<dyn StorageFile>> {
        let f = self.inner.open_read(rel)?;
        Ok(if self.writes { f } else { (self.wrap)(rel, f) })
    }
    fn open_write(&self, rel: &Path, create_new: bool) -> std::io::Result<Box<dyn StorageFile>> {
        let f = self.inner.open_write(rel, create_new)?;
        Ok(if self.writes { (self.wrap)(rel, f) } else { f })
    }
    fn list(&self, rel_dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(rel_dir)
    }
    fn remove(&self, rel: &Path) -> std::io::Result<()> {
        self.inner.remove(rel)
    }
    fn sync_dir(&self, rel_dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(rel_dir)
    }
    fn create_subdir(&self, rel: &Path) -> std::io::Result<()> {
        self.inner.create_subdir(rel)
    }
    fn try_lock(&self) -> std::io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock()
    }
    fn display_path(&self, rel: &Path) -> PathBuf {
        self.inner.display_path(rel)
    }
}
