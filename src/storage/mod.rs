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
test_util_pub! { pub mod frame; }
test_util_pub! { pub mod index; }
mod input;
mod memory;
test_util_pub! { pub mod segment; }
#[cfg(any(fuzzing, feature = "test-util"))]
mod sim;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use backend::{Backend, LedgerDir, LockGuard, StdBackend, StorageFile};
pub(crate) use input::open_input;
pub use input::read_input_file;
pub use memory::MemoryBackend;
#[cfg(any(fuzzing, feature = "test-util"))]
pub use sim::SimBackend;

use crate::entry::LedgerId;
use crate::error::StorageError;
use segment::{
    parse_segment_file_name, segment_file_name, Chunk, ScanStop, Scanner, SegmentHeader, SEGMENT_HEADER_LEN,
};

test_util_pub! {
/// Name of the directory holding segments and indexes.
pub const SEGMENTS_DIR: &str = "segments";
}

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
/// docs/FORMAT.md §9 step 1.1: a segment longer than `MAX_SEGMENT_LEN` is damage, decided
/// from its length before anything is read; reported at that offset and at `seq`, the segment's
/// first entry.
pub(crate) fn check_segment_len(path: &Path, len: u64, seq: u64) -> Result<(), StorageError> {
    if len > segment::MAX_SEGMENT_LEN {
        let why = "segment file longer than MAX_SEGMENT_LEN (2 GiB - 1)".to_string();
        return Err(corrupt(path, segment::MAX_SEGMENT_LEN, Some(seq), why));
    }
    Ok(())
}

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
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(segment_rel(first_seq))
}

/// Path of the index file of the segment starting at `first_seq`.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn index_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(index_rel(first_seq))
}

/// An incomplete final write, cut on recovery or skipped by readers (docs/FORMAT.md §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Offset where the torn tail starts: the end of the last sealed frame.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    /// Why it is incomplete.
    pub reason: String,
    /// Complete frames in it (entries of a write whose seal never arrived; not verified).
    pub frames: u64,
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

test_util_pub! {
/// Streams the frames of every segment of a ledger in order, with bounded memory, and gives
/// each chunk the sequence number of its first frame (an entry's place is its position).
#[derive(Debug)]
pub struct SegmentStream<'b> {
    dir: &'b dyn LedgerDir,
    segments: Vec<u64>,
    next_segment: usize,
    scanner: Option<Scanner>,
    ledger_id: Option<LedgerId>,
    tail: Option<TornTail>,
    /// Where to start scanning the next segment opened (instead of after its header), and the
    /// sequence number of the frame there.
    start_at: Option<(u64, u64)>,
    /// Frames of entries before this sequence number are skipped.
    skip_before: u64,
    /// Sequence number of the next frame.
    next_seq: u64,
    /// Whether each segment must start exactly where the previous one ended (a full scan).
    check_starts: bool,
}
}

test_util_pub! {
/// One chunk of frames and the segment it came from.
#[derive(Debug)]
pub struct StreamChunk {
    /// The segment's header.
    pub header: SegmentHeader,
    /// Path of the segment file.
    pub path: PathBuf,
    /// Sequence number of the chunk's first frame.
    pub first_seq: u64,
    /// The frames.
    pub chunk: Chunk,
}
}

impl<'b> SegmentStream<'b> {
    /// Lists the segments of `dir` and prepares to stream them from entry 0.
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
            start_at: None,
            skip_before: 0,
            next_seq: 0,
            check_starts: true,
        })
    }

    /// Like [`SegmentStream::open`], but starting at entry `seq`: the index locates its frame;
    /// without a usable index slot the segment is scanned from its start and earlier entries
    /// are skipped.
    ///
    /// # Errors
    /// As [`SegmentStream::open`].
    pub fn open_at(dir: &'b dyn LedgerDir, seq: u64) -> Result<Self, StorageError> {
        let mut s = Self::open_from(dir, seq)?;
        s.check_starts = false;
        Ok(s)
    }

    /// Like [`SegmentStream::open_at`], for reading on to the end: each segment after the
    /// first must start where the one before it ended, as in a full scan.
    ///
    /// # Errors
    /// As [`SegmentStream::open`].
    pub fn open_from(dir: &'b dyn LedgerDir, seq: u64) -> Result<Self, StorageError> {
        let mut s = Self::open(dir)?;
        let i = s.segments.partition_point(|&first| first <= seq).saturating_sub(1);
        s.next_segment = i;
        let Some(&first) = s.segments.get(i) else {
            return Ok(s);
        };
        if let Some(off) = indexed_offset(dir, first, seq) {
            s.start_at = Some((off, seq));
        } else {
            // The index may trail a writer (slots are written in blocks): start at the
            // last slot it has, and skip forward from there.
            if let Some((at, off)) = last_indexed(dir, first, seq) {
                s.start_at = Some((off, at));
            }
            s.skip_before = seq;
        }
        Ok(s)
    }

    /// The first sequence number of the newest segment this stream will read: the last one
    /// listed when it was opened (segments a writer adds later are not read).
    #[must_use]
    pub fn newest_segment(&self) -> u64 {
        self.segments.last().copied().unwrap_or(0)
    }

    /// The first sequence numbers of the segments listed when the stream was opened.
    pub(crate) fn segments(&self) -> &[u64] {
        &self.segments
    }

    /// Gives back the data buffer of a chunk this stream returned, to be reused for the next.
    pub fn recycle(&mut self, data: Vec<u8>) {
        if let Some(sc) = self.scanner.as_mut() {
            sc.recycle(data);
        }
    }

    /// The torn tail found at the end, if any (known once the stream is exhausted).
    #[must_use]
    pub fn tail(&self) -> Option<&TornTail> {
        self.tail.as_ref()
    }

    /// The next non-empty chunk, or `None` at the end of the ledger.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] at damage (with the sequence number of the entry expected
    /// there), [`StorageError::Io`] on read errors.
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
            let want = if self.skip_before > self.next_seq {
                max_frames.max(SKIP_FRAMES)
            } else {
                max_frames
            };
            match scanner.next_chunk(want) {
                Ok(chunk) if chunk.frames.is_empty() => self.scanner = None,
                Ok(mut chunk) => {
                    let mut first_seq = self.next_seq;
                    self.next_seq += chunk.frames.len() as u64;
                    if self.skip_before > first_seq {
                        let skip = usize::try_from(self.skip_before - first_seq).unwrap_or(usize::MAX);
                        if skip >= chunk.frames.len() {
                            continue;
                        }
                        chunk.frames.drain(..skip);
                        first_seq = self.skip_before;
                    }
                    if chunk.frames.len() > max_frames {
                        // Hand out `max_frames`; the scanner resumes after the last of them.
                        chunk.frames.truncate(max_frames);
                        if let Some(last) = chunk.frames.last() {
                            scanner.resume_at(last.end());
                        }
                        self.next_seq = first_seq + max_frames as u64;
                    }
                    let header = self.current_header(&path)?;
                    return Ok(Some(StreamChunk {
                        header,
                        path,
                        first_seq,
                        chunk,
                    }));
                }
                Err(ScanStop::Torn {
                    offset,
                    bytes,
                    reason,
                    frames,
                }) => {
                    self.tail = Some(TornTail {
                        file: path,
                        offset,
                        bytes,
                        reason: reason.into(),
                        frames,
                    });
                    self.scanner = None;
                }
                Err(ScanStop::Corrupt { offset, reason, frames }) => {
                    return Err(corrupt(&path, offset, Some(self.next_seq + frames), reason.into()))
                }
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
        let file = match self.dir.open_read(&rel) {
            // The newest segment listed, gone since the listing: a writer opening the ledger
            // removes a newest segment shorter than its header (a rotation a crash cut short).
            // The ledger ends before it, as a listing taken a moment later shows.
            Err(e) if newest && e.kind() == io::ErrorKind::NotFound => return Ok(false),
            r => r.map_err(io_err("open", &path))?,
        };
        let len = file.len().map_err(io_err("stat", &path))?;
        check_segment_len(&path, len, self.next_seq)?;
        let Some(header) = read_segment_header(file.as_ref(), &path, len, newest)? else {
            self.tail = Some(TornTail {
                file: path,
                offset: 0,
                bytes: len,
                reason: "incomplete segment header".into(),
                frames: 0,
            });
            return Ok(false);
        };
        if header.first_seq != first_seq {
            return Err(corrupt(
                &path,
                0,
                Some(self.next_seq),
                "segment header does not match its file name".into(),
            ));
        }
        match self.ledger_id {
            Some(id) if id != header.ledger_id => {
                return Err(corrupt(
                    &path,
                    0,
                    Some(self.next_seq),
                    "segment belongs to another ledger".into(),
                ));
            }
            _ => self.ledger_id = Some(header.ledger_id),
        }
        let start = if let Some((offset, seq)) = self.start_at.take() {
            self.next_seq = seq;
            offset
        } else {
            if self.check_starts && first_seq != self.next_seq {
                let why = format!("segment should start at entry {}", self.next_seq);
                return Err(corrupt(&path, 0, Some(self.next_seq), why));
            }
            self.next_seq = first_seq;
            SEGMENT_HEADER_LEN as u64
        };
        self.scanner = Some(Scanner::new(file, &path, start, len, newest));
        Ok(true)
    }
}

/// The last slot of the index of the segment starting at `first_seq` at or below `seq`, if it
/// points at a sound frame header: (its sequence number, its frame offset).
fn last_indexed(dir: &dyn LedgerDir, first_seq: u64, seq: u64) -> Option<(u64, u64)> {
    let idx = dir.open_read(&index_rel(first_seq)).ok()?;
    let slots = index::count(idx.len().ok()?);
    let i = slots.checked_sub(1)?.min(seq.checked_sub(first_seq)?);
    sound_slot(dir, idx.as_ref(), first_seq, i).map(|off| (first_seq + i, off))
}

/// The offset of entry `seq` in the segment starting at `first_seq`, if its index has a slot
/// for it that points at a frame header (whose checksum holds) in the segment. The index is
/// derived data: a slot pointing anywhere else is ignored, and the caller scans instead.
fn indexed_offset(dir: &dyn LedgerDir, first_seq: u64, seq: u64) -> Option<u64> {
    let idx = dir.open_read(&index_rel(first_seq)).ok()?;
    sound_slot(dir, idx.as_ref(), first_seq, seq.checked_sub(first_seq)?)
}

/// Slot `i` of an index, if it points at a frame header whose checksum holds.
fn sound_slot(dir: &dyn LedgerDir, idx: &dyn StorageFile, first_seq: u64, i: u64) -> Option<u64> {
    let mut b = [0u8; 4];
    idx.read_exact_at(&mut b, index::slot(i)?).ok()?;
    let (off, _) = index::decode_slot(b);
    if off < SEGMENT_HEADER_LEN as u64 {
        return None;
    }
    let seg = dir.open_read(&segment_rel(first_seq)).ok()?;
    let mut h = [0u8; frame::FRAME_HEADER_LEN];
    seg.read_exact_at(&mut h, off).ok()?;
    frame::parse_header(&h).ok().map(|_| off)
}
