//! Segment files: a 64-byte header, then frames. Scanning classifies what it finds as good
//! frames, a torn tail (only in the newest segment), or damage.
//!
//! ```text
//! segment header (64 bytes)
//! 0   8   magic "PLEDGSEG"
//! 8   2   format version (1)
//! 10  6   zero
//! 16  16  ledger id
//! 32  8   first sequence number in this segment
//! 40  20  zero
//! 60  4   CRC-32C of bytes 0..60
//! ```

use std::path::{Path, PathBuf};

use super::frame::{
    check_body, parse_header, BodyProblem, FrameHeader, HeaderProblem, FRAME_HEADER_LEN, MAX_FRAME_LEN,
};
use super::StorageFile;
use crate::encoding::{crc, put_u16, put_u32, put_u64, Reader};
use crate::entry::LedgerId;
use crate::error::DecodeError;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PLEDGSEG";
/// Format version written in segment and index headers.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// File-name suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Bytes read from disk at a time while scanning.
const SCAN_CHUNK: usize = 1 << 20;
/// The damage reported for zeros after the last complete frame of the newest segment that are
/// more than one maximal frame long: too long to be a torn tail (docs/FORMAT.md §8, T5).
const TAIL_TOO_LONG: &str = "zero-filled tail longer than one frame can be";

/// The fixed header of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The ledger the segment belongs to.
    pub ledger_id: LedgerId,
    /// Sequence number of the segment's first entry.
    pub first_seq: u64,
}

impl SegmentHeader {
    /// The 64 header bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut v = Vec::with_capacity(SEGMENT_HEADER_LEN);
        v.extend_from_slice(SEGMENT_MAGIC);
        put_u16(&mut v, FORMAT_VERSION);
        v.extend_from_slice(&[0; 6]);
        v.extend_from_slice(&self.ledger_id.0);
        put_u64(&mut v, self.first_seq);
        v.extend_from_slice(&[0; 20]);
        let c = crc(&[&v]);
        put_u32(&mut v, c);
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out.copy_from_slice(&v);
        out
    }

    /// Parses and checks the 64 header bytes.
    ///
    /// # Errors
    /// [`DecodeError`] for bad magic, version, checksum or reserved bytes.
    pub fn decode(b: &[u8; SEGMENT_HEADER_LEN]) -> Result<Self, DecodeError> {
        let ctx = "segment header";
        let mut r = Reader::new(b, ctx);
        if r.array::<8>()? != *SEGMENT_MAGIC {
            return Err(DecodeError::BadMagic { context: ctx });
        }
        let version = r.u16()?;
        if crc(&[&b[..60]]) != u32::from_le_bytes([b[60], b[61], b[62], b[63]]) {
            return Err(DecodeError::Checksum { context: ctx });
        }
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion { context: ctx, version });
        }
        let zero6 = r.array::<6>()?;
        let ledger_id = LedgerId(r.array()?);
        let first_seq = r.u64()?;
        if zero6 != [0; 6] || r.array::<20>()? != [0; 20] {
            return Err(DecodeError::Invalid {
                context: ctx,
                reason: "reserved bytes are not zero",
            });
        }
        Ok(SegmentHeader { ledger_id, first_seq })
    }
}

/// The file name of the segment whose first entry is `first_seq`.
#[must_use]
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// The first sequence number encoded in a segment file name, if it is one.
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// One complete, checksum-valid frame within a [`Chunk`].
#[derive(Clone, Copy, Debug)]
pub struct FrameLoc {
    /// Byte offset of the frame in its segment file.
    pub offset: u64,
    /// Where the frame starts within [`Chunk::data`].
    pub start: usize,
    /// The frame's lengths.
    pub header: FrameHeader,
}

impl FrameLoc {
    /// The entry bytes within `data`.
    #[must_use]
    pub fn entry<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.start + FRAME_HEADER_LEN..self.start + FRAME_HEADER_LEN + self.header.entry_len]
    }

    /// The payload section (without checksum) within `data`.
    #[must_use]
    pub fn section<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let s = self.start + self.header.section_offset();
        &data[s..s + self.header.section_len]
    }

    /// Offset just past the frame in its file.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.offset + self.header.frame_len() as u64
    }
}

/// A run of consecutive frames read in one go.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Raw bytes covering the frames.
    pub data: Vec<u8>,
    /// The frames, in file order.
    pub frames: Vec<FrameLoc>,
}

/// Why scanning stopped before the end of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStop {
    /// An incomplete final record in the newest segment: a crash (or a racing writer).
    Torn {
        /// Offset where the incomplete record starts.
        offset: u64,
        /// Bytes from there to the end of the file.
        bytes: u64,
        /// What made it incomplete.
        reason: &'static str,
    },
    /// Damage: never repaired by truncation.
    Corrupt {
        /// Offset of the damaged frame.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file could not be read.
    Io(std::io::ErrorKind),
}

/// Reads frames from one segment file, in chunks of about 1 MiB.
#[derive(Debug)]
pub struct Scanner {
    file: Box<dyn StorageFile>,
    /// Path, for error messages.
    pub path: PathBuf,
    file_len: u64,
    pos: u64,
    newest: bool,
}

impl Scanner {
    /// Scans `file` from `start` up to `file_len`; `newest` says whether a torn tail is allowed.
    #[must_use]
    pub fn new(file: Box<dyn StorageFile>, path: &Path, start: u64, file_len: u64, newest: bool) -> Self {
        Scanner {
            file,
            path: path.to_path_buf(),
            file_len,
            pos: start,
            newest,
        }
    }

    /// Offset of the next unread frame.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Continues at `pos`, the end of a frame this scanner returned (frames after it that
    /// were read but not handed out are read again).
    pub(crate) fn resume_at(&mut self, pos: u64) {
        self.pos = pos;
    }

    /// The next chunk of frames; an empty chunk at a clean end of file.
    ///
    /// # Errors
    /// [`ScanStop`] at a torn tail, at damage, or on a read error.
    pub fn next_chunk(&mut self, max_frames: usize) -> Result<Chunk, ScanStop> {
        let mut chunk = Chunk::default();
        let base = self.pos;
        while chunk.frames.len() < max_frames && self.pos < self.file_len {
            let start = usize::try_from(self.pos - base).map_err(|_| self.corrupt("offset overflow"))?;
            if start >= SCAN_CHUNK && !chunk.frames.is_empty() {
                break;
            }
            match self.next_frame(&mut chunk.data, base, start) {
                Ok(frame) => {
                    self.pos += frame.header.frame_len() as u64;
                    chunk.frames.push(frame);
                }
                // Hand out the good frames before a problem first, and report the problem on
                // the next call (which starts at the bad frame): a caller that counts entries
                // then names the damaged entry's sequence number, not its chunk's first one.
                Err(_) if !chunk.frames.is_empty() => break,
                Err(stop) => return Err(stop),
            }
        }
        Ok(chunk)
    }

    /// Reads and checks the frame at `self.pos` (which is `start` within `data`).
    fn next_frame(&self, data: &mut Vec<u8>, base: u64, start: usize) -> Result<FrameLoc, ScanStop> {
        let header = self.read_header(data, base)?;
        let len = header.frame_len();
        self.fill(data, base, start + len)?;
        if let Err(p) = check_body(header, &data[start..start + len]) {
            return Err(self.body_problem(p, header, &data[start..start + len]));
        }
        Ok(FrameLoc {
            offset: self.pos,
            start,
            header,
        })
    }

    fn corrupt(&self, reason: &'static str) -> ScanStop {
        ScanStop::Corrupt {
            offset: self.pos,
            reason,
        }
    }

    fn torn_or_corrupt(&self, reason: &'static str) -> ScanStop {
        if self.newest {
            ScanStop::Torn {
                offset: self.pos,
                bytes: self.file_len - self.pos,
                reason,
            }
        } else {
            self.corrupt(reason)
        }
    }

    /// Makes `data` (which starts at file offset `base`) hold at least `want` bytes.
    fn fill(&self, data: &mut Vec<u8>, base: u64, want: usize) -> Result<(), ScanStop> {
        if data.len() >= want {
            return Ok(());
        }
        let avail = usize::try_from(self.file_len - base).unwrap_or(usize::MAX);
        let target = want.max(data.len() + SCAN_CHUNK).min(avail);
        if target < want {
            return Err(ScanStop::Io(std::io::ErrorKind::UnexpectedEof));
        }
        let old = data.len();
        data.resize(target, 0);
        self.file
            .read_exact_at(&mut data[old..], base + old as u64)
            .map_err(|e| ScanStop::Io(e.kind()))
    }

    fn read_header(&self, data: &mut Vec<u8>, base: u64) -> Result<FrameHeader, ScanStop> {
        let remaining = self.file_len - self.pos;
        if remaining < FRAME_HEADER_LEN as u64 {
            return Err(self.torn_or_corrupt("incomplete frame header"));
        }
        let start = usize::try_from(self.pos - base).map_err(|_| self.corrupt("offset overflow"))?;
        self.fill(data, base, start + FRAME_HEADER_LEN)?;
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(&data[start..start + FRAME_HEADER_LEN]);
        match parse_header(&h) {
            Ok(header) if self.pos + header.frame_len() as u64 > self.file_len => {
                Err(self.torn_or_corrupt("frame extends past the end of the file"))
            }
            Ok(header) => Ok(header),
            Err(HeaderProblem::Bounds) => Err(self.corrupt("frame length out of bounds")),
            // A torn tail is at most one maximal frame (one frame was being written when the
            // writer stopped): a longer tail is damage, found without reading it.
            Err(HeaderProblem::Checksum) if self.newest && remaining > MAX_FRAME_LEN && h == [0; FRAME_HEADER_LEN] => {
                Err(self.corrupt(TAIL_TOO_LONG))
            }
            Err(HeaderProblem::Checksum) if self.newest && remaining <= MAX_FRAME_LEN && self.zero_to_end()? => {
                Err(self.torn_or_corrupt("zero-filled tail"))
            }
            Err(HeaderProblem::Checksum) => Err(self.corrupt("frame header checksum mismatch")),
        }
    }

    /// Whether every byte from the current position to the end of the file is zero (the
    /// shape of a tail whose size was extended but whose data never reached the disk). Only
    /// called with at most [`MAX_FRAME_LEN`] bytes left.
    fn zero_to_end(&self) -> Result<bool, ScanStop> {
        let mut off = self.pos;
        let mut buf = vec![0u8; 64 << 10];
        while off < self.file_len {
            let n = usize::try_from((self.file_len - off).min(buf.len() as u64)).unwrap_or(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], off)
                .map_err(|e| ScanStop::Io(e.kind()))?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            off += n as u64;
        }
        Ok(true)
    }

    fn body_problem(&self, p: BodyProblem, h: FrameHeader, frame: &[u8]) -> ScanStop {
        // A final frame whose last checksum never reached the disk is a torn write.
        let last = self.pos + h.frame_len() as u64 == self.file_len;
        if self.newest && last && frame[frame.len() - 4..] == [0; 4] {
            return self.torn_or_corrupt("final frame incompletely written");
        }
        match p {
            BodyProblem::Entry => self.corrupt("entry checksum mismatch"),
            BodyProblem::Payload => self.corrupt("payload checksum mismatch"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejects_damage() {
        let h = SegmentHeader {
            ledger_id: LedgerId([4; 16]),
            first_seq: 99,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        for i in 0..SEGMENT_HEADER_LEN {
            let mut c = b;
            c[i] ^= 1;
            assert!(SegmentHeader::decode(&c).is_err(), "byte {i}");
        }
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.seg"), None);
    }

    /// Damage in the third frame of a chunk: the two good frames come first, then the damage,
    /// so that callers counting entries name the damaged one (not the chunk's first).
    #[test]
    fn frames_before_damage_are_returned_before_the_damage() {
        use crate::storage::{Backend, SimBackend};
        let mut seg = SegmentHeader {
            ledger_id: LedgerId([4; 16]),
            first_seq: 0,
        }
        .encode()
        .to_vec();
        let mut offsets = Vec::new();
        for i in 0..4u8 {
            offsets.push(seg.len() as u64);
            let entry = vec![i; crate::storage::frame::MIN_ENTRY_LEN];
            crate::storage::frame::encode_frame(&mut seg, &entry, &[i; 32], b"payload");
        }
        seg[offsets[2] as usize + 20] ^= 1; // an entry byte of the third frame
        let disk = SimBackend::new();
        let path = Path::new("/s/0.seg");
        disk.set_file_bytes(path, seg.clone());
        let dir = disk.open_dir(Path::new("/s"), false).unwrap();
        for newest in [false, true] {
            let file = dir.open_read(Path::new("0.seg")).unwrap();
            let mut sc = Scanner::new(file, path, SEGMENT_HEADER_LEN as u64, seg.len() as u64, newest);
            let chunk = sc.next_chunk(100).unwrap();
            let found: Vec<u64> = chunk.frames.iter().map(|f| f.offset).collect();
            assert_eq!(found, offsets[..2]);
            let stop = sc.next_chunk(100).unwrap_err();
            assert_eq!(
                stop,
                ScanStop::Corrupt {
                    offset: offsets[2],
                    reason: "entry checksum mismatch"
                }
            );
        }
    }

    /// FORMAT.md §8 T5: a zero-filled tail of up to one maximal frame in the newest segment is
    /// torn; one byte more is damage (T5′), reported without reading it; sealed, both damage.
    #[test]
    fn a_zero_tail_longer_than_one_frame_is_damage() {
        use crate::storage::{Backend, SimBackend};
        let header = SegmentHeader {
            ledger_id: LedgerId([4; 16]),
            first_seq: 0,
        }
        .encode();
        let disk = SimBackend::new();
        let dir = disk.open_dir(Path::new("/s"), true).unwrap();
        let rel = Path::new("0.seg");
        let path = Path::new("/s/0.seg");
        let max = usize::try_from(MAX_FRAME_LEN).unwrap();
        for (zeros, newest, torn) in [
            (max, true, true),
            (max + 1, true, false),
            (max, false, false),
            (12, true, true),
        ] {
            let mut seg = header.to_vec();
            seg.resize(SEGMENT_HEADER_LEN + zeros, 0);
            disk.set_file_bytes(path, seg);
            let file = dir.open_read(rel).unwrap();
            let len = (SEGMENT_HEADER_LEN + zeros) as u64;
            let mut sc = Scanner::new(file, path, SEGMENT_HEADER_LEN as u64, len, newest);
            let stop = sc.next_chunk(10).unwrap_err();
            let at = SEGMENT_HEADER_LEN as u64;
            let want = match (torn, zeros > max) {
                (true, _) => ScanStop::Torn {
                    offset: at,
                    bytes: zeros as u64,
                    reason: "zero-filled tail",
                },
                (false, true) => ScanStop::Corrupt {
                    offset: at,
                    reason: TAIL_TOO_LONG,
                },
                (false, false) => ScanStop::Corrupt {
                    offset: at,
                    reason: "frame header checksum mismatch",
                },
            };
            assert_eq!(stop, want, "{zeros} zeros, newest {newest}");
        }
    }
}
