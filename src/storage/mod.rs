//! Storage: the ledger directory, its segment and index files, and the I/O backend.
//!
//! ```text
//! DIR/                            opened once as a handle; the writer flock()s the directory itself
//!   segments/00000000000000000000.seg   frames of entries 0..k
//!   segments/00000000000000000000.idx   offsets of those frames (derived, rebuildable)
//!   segments/0000000000000000000k.seg   …
//! ```
//!
//! Every file is opened relative to the directory handle without following symbolic links
//! (see [`LedgerDir`]).

mod backend;
pub mod frame;
pub mod index;
mod input;
pub(crate) mod recovery;
pub mod segment;
mod sim;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use backend::{Backend, LedgerDir, LockGuard, StdBackend, StorageFile};
pub(crate) use input::open_input;
pub use input::read_input_file;
pub use sim::SimBackend;

use crate::entry::LedgerId;
use crate::error::StorageError;
use segment::{
    parse_segment_file_name, segment_file_name, Chunk, ScanStop, Scanner, SegmentHeader, SEGMENT_HEADER_LEN,
};

/// Name of the directory holding segments and indexes.
pub const SEGMENTS_DIR: &str = "segments";

/// Wraps an I/O error with what was being done and to which path; the [`LedgerDir`] error
/// conventions become typed errors.
pub(crate) fn io_err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StorageError + 'p {
    move |source| match source.kind() {
        io::ErrorKind::InvalidInput => StorageError::NotARegularFile {
            path: path.to_path_buf(),
        },
        io::ErrorKind::NotADirectory => StorageError::NotALedger {
            path: path.to_path_buf(),
            reason: source.to_string(),
        },
        _ => StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Opens the ledger directory `path` through `backend` (creating it when `create`).
///
/// # Errors
/// [`StorageError::NotALedger`] if it does not exist; [`StorageError::Io`] (op `open`) if it
/// cannot be opened as a directory.
pub(crate) fn open_ledger_dir(
    backend: &dyn Backend,
    path: &Path,
    create: bool,
) -> Result<Arc<dyn LedgerDir>, StorageError> {
    backend.open_dir(path, create).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => StorageError::NotALedger {
            path: path.to_path_buf(),
            reason: "no such directory".into(),
        },
        _ => StorageError::Io {
            op: "open",
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Opens `rel` of `dir` for reading, with the error naming its full path.
pub(crate) fn open_read(dir: &dyn LedgerDir, rel: &Path) -> Result<Box<dyn StorageFile>, StorageError> {
    dir.open_read(rel).map_err(io_err("open", &dir.display_path(rel)))
}

/// The sorted first sequence numbers of the segments in a ledger directory.
///
/// # Errors
/// [`StorageError::NotALedger`] if there is no segment directory or no segment.
pub(crate) fn list_segments(dir: &dyn LedgerDir) -> Result<Vec<u64>, StorageError> {
    let names = dir.list(Path::new(SEGMENTS_DIR)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StorageError::NotALedger {
            path: dir.display_path(Path::new("")),
            reason: "no segments directory".into(),
        },
        _ => io_err("list", &dir.display_path(Path::new(SEGMENTS_DIR)))(e),
    })?;
    let mut seqs: Vec<u64> = names.iter().filter_map(|n| parse_segment_file_name(n)).collect();
    seqs.sort_unstable();
    if seqs.first() != Some(&0) {
        return Err(StorageError::NotALedger {
            path: dir.display_path(Path::new("")),
            reason: "no first segment (00000000000000000000.seg)".into(),
        });
    }
    Ok(seqs)
}

/// The first sequence number of the segment of `segs` (sorted, starting at 0) that holds `seq`.
pub(crate) fn segment_of(segs: &[u64], seq: u64) -> u64 {
    segs.get(segs.partition_point(|&f| f <= seq).saturating_sub(1))
        .copied()
        .unwrap_or(0)
}

/// The segment file starting at `first_seq`, relative to the ledger directory.
pub(crate) fn segment_rel(first_seq: u64) -> PathBuf {
    Path::new(SEGMENTS_DIR).join(segment_file_name(first_seq))
}

/// The index file of the segment starting at `first_seq`, relative to the ledger directory.
pub(crate) fn index_rel(first_seq: u64) -> PathBuf {
    Path::new(SEGMENTS_DIR).join(index::index_file_name(first_seq))
}

/// Path of the segment file starting at `first_seq`.
#[must_use]
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(segment_rel(first_seq))
}

/// Path of the index file of the segment starting at `first_seq`.
#[must_use]
pub fn index_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(index_rel(first_seq))
}

/// An incomplete final record, cut on recovery or skipped by readers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Offset where the incomplete record starts.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    /// Why it is incomplete.
    pub reason: String,
}

/// Reads the header of a segment file, given its length.
///
/// `Ok(None)` for an incomplete header in the newest segment (a rotation cut short).
pub(crate) fn read_segment_header(
    file: &dyn StorageFile,
    path: &Path,
    len: u64,
    newest: bool,
) -> Result<Option<SegmentHeader>, StorageError> {
    if len < SEGMENT_HEADER_LEN as u64 {
        if newest {
            return Ok(None);
        }
        return Err(corrupt(path, 0, None, "incomplete segment header".into()));
    }
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact_at(&mut h, 0).map_err(io_err("read", path))?;
    SegmentHeader::decode(&h)
        .map(Some)
        .map_err(|e| corrupt(path, 0, None, e.to_string()))
}

pub(crate) fn corrupt(file: &Path, offset: u64, seq: Option<u64>, reason: String) -> StorageError {
    StorageError::Corrupt {
        file: file.to_path_buf(),
        offset,
        seq,
        reason,
    }
}

/// Frames read at a time while skipping to the entry a stream starts at.
const SKIP_FRAMES: usize = 4096;

/// Streams the frames of every segment of a ledger in order, with bounded memory.
#[derive(Debug)]
pub struct SegmentStream<'b> {
    dir: &'b dyn LedgerDir,
    segments: Vec<u64>,
    next_segment: usize,
    scanner: Option<Scanner>,
    ledger_id: Option<LedgerId>,
    tail: Option<TornTail>,
    /// Where to start scanning the next segment opened (instead of after its header).
    start_offset: Option<u64>,
    /// Frames of entries before this sequence number are skipped.
    skip_before: u64,
}

/// One chunk of frames and the segment it came from.
#[derive(Debug)]
pub struct StreamChunk {
    /// The segment's header.
    pub header: SegmentHeader,
    /// Path of the segment file.
    pub path: PathBuf,
    /// The frames.
    pub chunk: Chunk,
}

impl<'b> SegmentStream<'b> {
    /// Lists the segments of `dir` and prepares to stream them.
    ///
    /// # Errors
    /// [`StorageError`] if the directory is not a ledger.
    pub fn open(dir: &'b dyn LedgerDir) -> Result<Self, StorageError> {
        Ok(SegmentStream {
            dir,
            segments: list_segments(dir)?,
            next_segment: 0,
            scanner: None,
            ledger_id: None,
            tail: None,
            start_offset: None,
            skip_before: 0,
        })
    }

    /// Like [`SegmentStream::open`], but starting at entry `seq`: the index locates its frame,
    /// or the last indexed frame before it (checked by its sequence number), and earlier
    /// entries are skipped; without a usable index the segment is scanned from its start.
    ///
    /// # Errors
    /// As [`SegmentStream::open`].
    pub fn open_at(dir: &'b dyn LedgerDir, seq: u64) -> Result<Self, StorageError> {
        let mut s = Self::open(dir)?;
        let i = s.segments.partition_point(|&first| first <= seq).saturating_sub(1);
        s.next_segment = i;
        s.skip_before = seq;
        let first = s.segments[i];
        if let Some(off) = indexed_offset(dir, first, seq) {
            s.start_offset = Some(off);
        }
        Ok(s)
    }

    /// The torn tail found at the end, if any (known once the stream is exhausted).
    #[must_use]
    pub fn tail(&self) -> Option<&TornTail> {
        self.tail.as_ref()
    }

    /// The next non-empty chunk, or `None` at the end of the ledger.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] at damage, [`StorageError::Io`] on read errors.
    pub fn next_chunk(&mut self, max_frames: usize) -> Result<Option<StreamChunk>, StorageError> {
        loop {
            if self.scanner.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(scanner) = self.scanner.as_mut() else {
                continue;
            };
            let path = scanner.path.clone();
            // Skipping to an entry reads whole chunks: one frame per read would re-read a
            // megabyte per frame skipped.
            let want = if self.skip_before > 0 {
                max_frames.max(SKIP_FRAMES)
            } else {
                max_frames
            };
            match scanner.next_chunk(want) {
                Ok(chunk) if chunk.frames.is_empty() => self.scanner = None,
                Ok(mut chunk) => {
                    if self.skip_before > 0 {
                        let skip = self.skip_before;
                        chunk.frames.retain(|f| frame_seq(&chunk.data, f) >= skip);
                        if chunk.frames.is_empty() {
                            continue;
                        }
                        self.skip_before = 0;
                        if chunk.frames.len() > max_frames {
                            // Hand out `max_frames`; the scanner resumes after the last of them.
                            chunk.frames.truncate(max_frames);
                            if let Some(last) = chunk.frames.last() {
                                scanner.resume_at(last.end());
                            }
                        }
                    }
                    let header = self.current_header(&path)?;
                    return Ok(Some(StreamChunk { header, path, chunk }));
                }
                Err(ScanStop::Torn { offset, bytes, reason }) => {
                    self.tail = Some(TornTail {
                        file: path,
                        offset,
                        bytes,
                        reason: reason.into(),
                    });
                    self.scanner = None;
                }
                Err(ScanStop::Corrupt { offset, reason }) => return Err(corrupt(&path, offset, None, reason.into())),
                Err(ScanStop::Io(kind)) => return Err(io_err("read", &path)(kind.into())),
            }
        }
    }

    fn current_header(&self, path: &Path) -> Result<SegmentHeader, StorageError> {
        let first_seq = self.segments[self.next_segment - 1];
        let ledger_id = self
            .ledger_id
            .ok_or_else(|| corrupt(path, 0, None, "segment header not read".into()))?;
        Ok(SegmentHeader { ledger_id, first_seq })
    }

    fn open_next(&mut self) -> Result<bool, StorageError> {
        let Some(&first_seq) = self.segments.get(self.next_segment) else {
            return Ok(false);
        };
        self.next_segment += 1;
        let newest = self.next_segment == self.segments.len();
        let rel = segment_rel(first_seq);
        let path = self.dir.display_path(&rel);
        let file = open_read(self.dir, &rel)?;
        let len = file.len().map_err(io_err("stat", &path))?;
        let Some(header) = read_segment_header(file.as_ref(), &path, len, newest)? else {
            self.tail = Some(TornTail {
                file: path,
                offset: 0,
                bytes: len,
                reason: "incomplete segment header".into(),
            });
            return Ok(false);
        };
        if header.first_seq != first_seq {
            return Err(corrupt(
                &path,
                0,
                None,
                "segment header does not match its file name".into(),
            ));
        }
        match self.ledger_id {
            Some(id) if id != header.ledger_id => {
                return Err(corrupt(&path, 0, None, "segment belongs to another ledger".into()));
            }
            _ => self.ledger_id = Some(header.ledger_id),
        }
        let start = self.start_offset.take().unwrap_or(SEGMENT_HEADER_LEN as u64);
        self.scanner = Some(Scanner::new(file, &path, start, len, newest));
        Ok(true)
    }
}

/// The sequence number of a frame's entry: its first 8 bytes.
fn frame_seq(data: &[u8], f: &segment::FrameLoc) -> u64 {
    let e = f.entry(data);
    // Every frame's entry is at least MIN_ENTRY_LEN (> 8) bytes long.
    e.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Where to start reading the segment starting at `first_seq` to reach entry `seq`: the
/// offset of `seq` if its index has it, else of the last indexed entry before it (so an entry
/// past the index is found by reading only the unindexed tail) — if the frame there really
/// holds the entry the index says.
fn indexed_offset(dir: &dyn LedgerDir, first_seq: u64, seq: u64) -> Option<u64> {
    let idx = dir.open_read(&index_rel(first_seq)).ok()?;
    let slots = index::count(idx.len().ok()?);
    let i = seq.checked_sub(first_seq)?.min(slots.checked_sub(1)?);
    let mut b = [0u8; 8];
    idx.read_exact_at(&mut b, index::slot(i)?).ok()?;
    let off = u64::from_le_bytes(b);
    if off < SEGMENT_HEADER_LEN as u64 {
        return None;
    }
    let seg = dir.open_read(&segment_rel(first_seq)).ok()?;
    // `off` comes from a file and may be anything: no arithmetic that can overflow.
    seg.read_exact_at(&mut b, off.checked_add(frame::FRAME_HEADER_LEN as u64)?)
        .ok()?;
    (u64::from_le_bytes(b) == first_seq + i).then_some(off)
}
