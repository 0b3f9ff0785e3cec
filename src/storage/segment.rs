//! Segment files: a 64-byte header, then frames. Scanning classifies what it finds as good
//! frames, a torn tail (only in the newest segment), or damage.
//!
//! ```text
//! segment header (64 bytes)
//! 0   8   magic "PLEDGSEG"
//! 8   2   format version (2)
//! 10  6   zero
//! 16  16  ledger id
//! 32  8   first sequence number in this segment
//! 40  20  zero
//! 60  4   CRC-32C of bytes 0..60
//! ```

use std::path::{Path, PathBuf};

use super::frame::{check_frame, parse_header, FrameHeader, HeaderProblem, FRAME_HEADER_LEN};
use super::StorageFile;
use crate::encoding::{crc, put_u16, put_u32, put_u64, Reader};
use crate::entry::LedgerId;
use crate::error::DecodeError;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PLEDGSEG";
/// Format version written in segment and index headers.
pub const FORMAT_VERSION: u16 = 2;
/// Most bytes that may follow the last sealed frame of the newest segment (docs/FORMAT.md
/// §8): a writer never has more than this written but not synced, so anything longer cannot
/// be an interrupted write.
pub const MAX_TORN: u64 = 32 << 20;
/// Largest segment file: index slots hold 31-bit offsets (docs/FORMAT.md §1, §7.2).
pub const MAX_SEGMENT_LEN: u64 = (1 << 31) - 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// File-name suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Bytes read from disk at a time while scanning.
const SCAN_CHUNK: usize = 1 << 20;
/// How many times damage found in the newest segment is scanned again, at most, while the
/// bytes under it keep changing (a writer appending); see [`Scanner::next_chunk`].
const DAMAGE_REREADS: u32 = 16;

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
    /// The entry record bytes within `data`.
    #[must_use]
    pub fn entry<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.start + FRAME_HEADER_LEN..self.start + FRAME_HEADER_LEN + self.header.entry_len]
    }

    /// The payload section within `data`.
    #[must_use]
    pub fn section<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let s = self.start + self.header.section_offset();
        &data[s..s + self.header.section_len]
    }

    /// The seal within `data`, if the frame is sealed.
    #[must_use]
    pub fn seal(&self, data: &[u8]) -> Option<super::frame::Seal> {
        if !self.header.sealed {
            return None;
        }
        let s = self.start + self.header.seal_offset();
        let b: &[u8; super::frame::SEAL_LEN] = data.get(s..s + super::frame::SEAL_LEN)?.try_into().ok()?;
        Some(super::frame::Seal::decode(b))
    }

    /// Offset just past the frame in its file.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.offset + self.header.frame_len() as u64
    }
}

/// The buffer a chunk is read into: `bytes[..len]` are the file's bytes from the chunk's
/// start; the bytes after them are initialised (zeros, or an earlier chunk's bytes) and only
/// ever overwritten by a read before use, so that a recycled buffer is not zeroed again.
struct ReadBuf {
    bytes: Vec<u8>,
    len: usize,
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
    /// An incomplete final write in the newest segment: a crash (or a racing writer).
    Torn {
        /// Offset where the torn tail starts: the end of the last sealed frame.
        offset: u64,
        /// Bytes from there to the end of the file.
        bytes: u64,
        /// What made it incomplete.
        reason: &'static str,
        /// Complete frames in the torn tail (a write whose seal never arrived).
        frames: u64,
    },
    /// Damage: never repaired by truncation.
    Corrupt {
        /// Offset of the damaged frame.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
        /// Complete frames before `offset` that were not handed out (in the newest segment,
        /// frames of a write whose seal did not come before the damage): the damaged frame's
        /// entry comes after them.
        frames: u64,
    },
    /// The file could not be read.
    Io(std::io::ErrorKind),
}

/// Why a tail is torn: fewer than 12 bytes after the last frame (T2), or a header cut short
/// with zeros after it (T5).
const SHORT_HEADER: &str = "incomplete frame header";
/// Why a tail is torn: zeros from a frame position to the end (T5).
const ZERO_TAIL: &str = "zero-filled tail";

/// A block of zeros to grow read buffers with.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Reads frames from one segment file, in chunks of about 1 MiB.
///
/// In the newest segment, frames after the last sealed one are held back: they are handed out
/// only once a sealed frame ends their write, and otherwise belong to the torn tail
/// (docs/FORMAT.md §8). So a chunk always ends with a sealed frame there, and it may grow past
/// 1 MiB to reach one (at most [`MAX_TORN`] bytes).
#[derive(Debug)]
pub struct Scanner {
    file: Box<dyn StorageFile>,
    /// Path, for error messages.
    pub path: PathBuf,
    file_len: u64,
    pos: u64,
    newest: bool,
    /// End of the last sealed frame handed out (or where the scan started).
    sealed_end: u64,
    /// Whether the segment has had a frame (a sealed segment must have one).
    any_frame: bool,
    /// A buffer a caller gave back ([`Scanner::recycle`]), reused for the next chunk: a fresh
    /// megabyte per chunk costs page faults that show in a verify profile.
    spare: Vec<u8>,
}

impl Scanner {
    /// Scans `file` from `start` (a frame boundary just after a sealed frame, or the end of the
    /// header) up to `file_len`; `newest` says whether a torn tail is allowed.
    #[must_use]
    pub fn new(file: Box<dyn StorageFile>, path: &Path, start: u64, file_len: u64, newest: bool) -> Self {
        Scanner {
            file,
            path: path.to_path_buf(),
            file_len,
            pos: start,
            newest,
            sealed_end: start,
            any_frame: start > SEGMENT_HEADER_LEN as u64,
            spare: Vec::new(),
        }
    }

    /// Offset of the next unread frame.
    #[cfg(any(fuzzing, feature = "test-util"))]
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Gives back the data buffer of a chunk this scanner returned, to be reused.
    pub fn recycle(&mut self, data: Vec<u8>) {
        if data.capacity() > self.spare.capacity() {
            self.spare = data;
        }
    }

    /// Continues at `pos`, the end of a frame this scanner returned (frames after it that
    /// were read but not handed out are read again).
    pub(crate) fn resume_at(&mut self, pos: u64) {
        self.pos = pos;
        // The frames up to `pos` were handed out; a seal that ended later is met again.
        self.sealed_end = self.sealed_end.min(pos);
    }

    /// The next chunk of frames; an empty chunk at a clean end of file.
    ///
    /// # Errors
    /// [`ScanStop`] at a torn tail, at damage, or on a read error.
    pub fn next_chunk(&mut self, max_frames: usize) -> Result<Chunk, ScanStop> {
        // Damage is reported only once the bytes it was found in read the same before and
        // after a scan that found it: a writer may be appending to the newest segment or
        // erasing a payload in any segment while we read, and a read racing a write can see
        // part of it (page-cache copies are not atomic against reads) — a seal already there,
        // the frames before it not yet; an erased payload section, its new checksum not yet —
        // which is not damage. Written bytes change once (reserved zeros to their final value,
        // a payload to its erased state), so two equal reads around a scan mean that scan saw
        // settled bytes.
        let mut settled: Option<(u64, [u8; 32])> = None;
        let mut rereads = 0;
        loop {
            match self.read_chunk(max_frames) {
                Err(stop @ ScanStop::Corrupt { offset, .. }) => {
                    let digest = match self.digest_from(offset) {
                        // The newest segment cut short while we looked again (see
                        // `shortened`): scan again.
                        Err(ScanStop::Io(std::io::ErrorKind::UnexpectedEof)) if self.newest => {
                            self.shortened()?;
                            continue;
                        }
                        other => other?,
                    };
                    let now = (offset, digest);
                    if settled == Some(now) || rereads == DAMAGE_REREADS {
                        return Err(stop);
                    }
                    rereads += 1;
                    settled = Some(now);
                    std::thread::yield_now();
                }
                Err(ScanStop::Io(std::io::ErrorKind::UnexpectedEof)) if self.newest => self.shortened()?,
                other => return other,
            }
        }
    }

    /// After a read of the newest segment found it shorter than the scan took it to be: its
    /// writer cut the zeros it had reserved (on leaving the segment) or a torn tail (on
    /// opening) — bytes after the last seal, never frames handed out. The scan reads on to the
    /// new length, as if the file had had it when the scan started; the error stands if the
    /// file is not shorter (each call shortens the scan, so a scan cannot loop on this) or is
    /// shorter than what was handed out.
    fn shortened(&mut self) -> Result<(), ScanStop> {
        let len = self.file.len().map_err(|e| ScanStop::Io(e.kind()))?;
        if len >= self.file_len || len < self.pos {
            return Err(ScanStop::Io(std::io::ErrorKind::UnexpectedEof));
        }
        self.file_len = len;
        Ok(())
    }

    /// BLAKE3 of the bytes a scan that found damage at `offset` looked at: from the next
    /// unread frame through the damaged frame (less than `MAX_TORN`: a payload is at most
    /// 16 MiB) and the zeros it may have checked after it (only when the file ends within
    /// `MAX_TORN` of the last seal, which is not after `offset`), up to the end of the file as
    /// the scan takes it to be.
    fn digest_from(&self, offset: u64) -> Result<[u8; 32], ScanStop> {
        let end = self.file_len.min(offset.max(self.pos).saturating_add(MAX_TORN));
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut off = self.pos;
        while off < end {
            let n = usize::try_from((end - off).min(buf.len() as u64)).unwrap_or(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], off)
                .map_err(|e| ScanStop::Io(e.kind()))?;
            h.update(&buf[..n]);
            off += n as u64;
        }
        Ok(*h.finalize().as_bytes())
    }

    fn read_chunk(&mut self, max_frames: usize) -> Result<Chunk, ScanStop> {
        let mut buf = ReadBuf {
            bytes: std::mem::take(&mut self.spare),
            len: 0,
        };
        let mut chunk = Chunk::default();
        let base = self.pos;
        // Frames in `chunk.frames[handed..]` follow the last sealed frame of the chunk.
        let mut handed = 0;
        let mut problem = None;
        let mut at = self.pos;
        while at < self.file_len {
            let full = chunk.frames.len() >= max_frames || (at - base) as usize >= SCAN_CHUNK;
            if full && handed == chunk.frames.len() {
                break;
            }
            if self.newest && at - self.sealed_end_in(&chunk, handed) > MAX_TORN {
                problem = Some(self.too_long());
                break;
            }
            let start = usize::try_from(at - base).map_err(|_| Self::corrupt_at(at, "offset overflow"))?;
            match self.next_frame(&mut buf, base, start, at) {
                Ok(frame) => {
                    at += frame.header.frame_len() as u64;
                    chunk.frames.push(frame);
                    if frame.header.sealed || !self.newest {
                        handed = chunk.frames.len();
                    }
                }
                Err(stop) => {
                    problem = Some(stop);
                    break;
                }
            }
        }
        buf.bytes.truncate(buf.len);
        chunk.data = buf.bytes;
        // Zero bytes from the last seal to the end of the newest segment are space the writer
        // reserved ahead of its writes (docs/FORMAT.md §8, T1b): the segment ends cleanly at
        // the seal, as if the file ended there.
        if let Some(ScanStop::Torn { reason, .. }) = &problem {
            let zeros = *reason == ZERO_TAIL || (*reason == SHORT_HEADER && self.zero_to_end(at)?);
            if zeros && handed == chunk.frames.len() && at == self.sealed_end_in(&chunk, handed) {
                self.file_len = at;
                problem = None;
            }
        }
        // Frames of a write no seal has ended are not handed out, even before damage: damage
        // after them is reported with them counted (`frames`), naming the damaged entry.
        let held = (chunk.frames.len() - handed) as u64;
        chunk.frames.truncate(handed);
        if let Some(last) = chunk.frames.last() {
            self.any_frame = true;
            self.pos = last.end();
            // In a sealed segment a chunk may end with unsealed frames: the last seal is the
            // last sealed frame of the chunk, not necessarily its last frame.
            if let Some(sealed) = chunk.frames.iter().rev().find(|f| f.header.sealed) {
                self.sealed_end = sealed.end();
            }
            // Good frames first; the problem (if any) is met again on the next call, which
            // starts right after them, so callers counting entries name the right one.
            return Ok(chunk);
        }
        match problem {
            Some(ScanStop::Torn {
                offset, bytes, reason, ..
            }) => Err(ScanStop::Torn {
                offset,
                bytes,
                reason,
                frames: held,
            }),
            Some(ScanStop::Corrupt { offset, reason, .. }) => Err(ScanStop::Corrupt {
                offset,
                reason,
                frames: if offset > self.sealed_end { held } else { 0 },
            }),
            Some(p) => Err(p),
            None if at >= self.file_len => self.end_of_file(at, held),
            None => Ok(chunk),
        }
    }

    /// `sealed_end` as it will be once the chunk's handed-out frames are counted.
    fn sealed_end_in(&self, chunk: &Chunk, handed: usize) -> u64 {
        match handed.checked_sub(1).and_then(|i| chunk.frames.get(i)) {
            Some(f) if f.header.sealed => f.end(),
            _ => self.sealed_end,
        }
    }

    /// At the end of the file with nothing left to hand out.
    fn end_of_file(&mut self, at: u64, held: u64) -> Result<Chunk, ScanStop> {
        if at == self.sealed_end {
            if self.newest || self.any_frame {
                return Ok(Chunk::default());
            }
            return Err(Self::corrupt_at(
                self.sealed_end,
                "segment does not end with a sealed frame",
            ));
        }
        if !self.newest {
            return Err(Self::corrupt_at(
                self.sealed_end,
                "segment does not end with a sealed frame",
            ));
        }
        match self.torn("write did not complete (no seal after these frames)") {
            ScanStop::Torn {
                offset, bytes, reason, ..
            } => Err(ScanStop::Torn {
                offset,
                bytes,
                reason,
                frames: held,
            }),
            other => Err(other),
        }
    }

    fn too_long(&self) -> ScanStop {
        Self::corrupt_at(self.sealed_end, "more than MAX_TORN (32 MiB) after the last seal")
    }

    /// Reads and checks the frame at file offset `at` (which is `start` within `data`).
    fn next_frame(&self, buf: &mut ReadBuf, base: u64, start: usize, at: u64) -> Result<FrameLoc, ScanStop> {
        let header = self.read_header(buf, base, start, at)?;
        let len = header.frame_len();
        self.fill(buf, base, start + len)?;
        let frame = &buf.bytes[start..start + len];
        if !check_frame(frame) {
            // A frame whose checksum never reached the disk, with nothing but zeros after it
            // (the end of the file, or space reserved ahead of the write), is a torn write.
            let end = at + len as u64;
            let short = self.file_len - self.sealed_end <= MAX_TORN;
            if self.newest && frame[len - 4..] == [0; 4] && (end == self.file_len || short && self.zero_to_end(end)?) {
                return Err(self.torn_or_corrupt("final frame incompletely written", at));
            }
            return Err(Self::corrupt_at(at, "frame checksum mismatch"));
        }
        Ok(FrameLoc {
            offset: at,
            start,
            header,
        })
    }

    fn corrupt_at(offset: u64, reason: &'static str) -> ScanStop {
        ScanStop::Corrupt {
            offset,
            reason,
            frames: 0,
        }
    }

    /// The torn tail from the last seal to the end of the file (or damage if it is too long).
    fn torn(&self, reason: &'static str) -> ScanStop {
        let bytes = self.file_len - self.sealed_end;
        if bytes > MAX_TORN {
            return self.too_long();
        }
        ScanStop::Torn {
            offset: self.sealed_end,
            bytes,
            reason,
            frames: 0,
        }
    }

    fn torn_or_corrupt(&self, reason: &'static str, at: u64) -> ScanStop {
        if self.newest {
            self.torn(reason)
        } else {
            Self::corrupt_at(at, reason)
        }
    }

    /// Makes `buf` (which starts at file offset `base`) hold at least `want` bytes read.
    fn fill(&self, buf: &mut ReadBuf, base: u64, want: usize) -> Result<(), ScanStop> {
        if buf.len >= want {
            return Ok(());
        }
        let avail = usize::try_from(self.file_len - base).unwrap_or(usize::MAX);
        let target = want.max(buf.len + SCAN_CHUNK).min(avail);
        if target < want {
            return Err(ScanStop::Io(std::io::ErrorKind::UnexpectedEof));
        }
        // Only bytes the buffer never had are zeroed before the read (a reused buffer keeps
        // the length of its last chunk). Zeros copied from a static block, not `resize`
        // (element by element in debug builds, where the test suite scans megabytes) nor a
        // temporary zeroed allocation.
        while buf.bytes.len() < target {
            let n = (target - buf.bytes.len()).min(ZEROS.len());
            buf.bytes.extend_from_slice(&ZEROS[..n]);
        }
        self.file
            .read_exact_at(&mut buf.bytes[buf.len..target], base + buf.len as u64)
            .map_err(|e| ScanStop::Io(e.kind()))?;
        buf.len = target;
        Ok(())
    }

    fn read_header(&self, buf: &mut ReadBuf, base: u64, start: usize, at: u64) -> Result<FrameHeader, ScanStop> {
        let remaining = self.file_len - at;
        if remaining < FRAME_HEADER_LEN as u64 {
            return Err(self.torn_or_corrupt(SHORT_HEADER, at));
        }
        self.fill(buf, base, start + FRAME_HEADER_LEN)?;
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(&buf.bytes[start..start + FRAME_HEADER_LEN]);
        match parse_header(&h) {
            Ok(header) if at + header.frame_len() as u64 > self.file_len => {
                Err(self.torn_or_corrupt("frame extends past the end of the file", at))
            }
            Ok(header) => Ok(header),
            Err(HeaderProblem::Bounds) => Err(Self::corrupt_at(at, "frame header out of bounds")),
            Err(HeaderProblem::Checksum) if self.newest && self.file_len - self.sealed_end > MAX_TORN => {
                Err(self.too_long())
            }
            // A header whose checksum field is zero, with zeros to the end of the file after
            // it: a write that stopped within (or before) its first 12 bytes.
            Err(HeaderProblem::Checksum)
                if self.newest && h[8..] == [0; 4] && self.zero_to_end(at + FRAME_HEADER_LEN as u64)? =>
            {
                Err(self.torn(if h == [0; FRAME_HEADER_LEN] { ZERO_TAIL } else { SHORT_HEADER }))
            }
            Err(HeaderProblem::Checksum) => Err(Self::corrupt_at(at, "frame header checksum mismatch")),
        }
    }

    /// Whether every byte from `at` to the end of the file is zero (the shape of a tail whose
    /// size was extended but whose data never reached the disk). Reads at most `MAX_TORN`
    /// bytes: callers check the length first.
    fn zero_to_end(&self, at: u64) -> Result<bool, ScanStop> {
        let mut off = at;
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

    /// Damage in the third frame: the good frames before it come first, then the damage, so
    /// that callers counting entries name the damaged one (not the chunk's first). In the newest
    /// segment, frames after the last seal are held back until their seal: damage before it is
    /// reported with the held frames counted (`frames`), so the damaged entry is still named.
    #[test]
    fn frames_before_damage_are_counted_before_the_damage() {
        use crate::storage::frame::{encode_frame, Seal};
        use crate::storage::{Backend, SimBackend};
        let seal = Seal {
            sealer: crate::keys::KeyId(crate::hash::Digest::from_bytes([1; 32])),
            chain: crate::hash::Digest::from_bytes([2; 32]),
            root: crate::hash::Digest::from_bytes([3; 32]),
            tag: [4; 16],
        };
        for sealed in [true, false] {
            let mut seg = SegmentHeader {
                ledger_id: LedgerId([4; 16]),
                first_seq: 0,
            }
            .encode()
            .to_vec();
            let mut offsets = Vec::new();
            for i in 0..4u8 {
                offsets.push(seg.len() as u64);
                let entry = vec![i; crate::entry::MIN_ENTRY_LEN];
                let s = (sealed || i == 3).then_some(&seal);
                encode_frame(&mut seg, &entry, &[i; 32], b"payload", s);
            }
            seg[offsets[2] as usize + 20] ^= 1; // an entry byte of the third frame
            let disk = SimBackend::new();
            let path = Path::new("/s/0.seg");
            disk.set_file_bytes(path, seg.clone());
            let dir = disk.open_dir(Path::new("/s"), false).unwrap();
            for newest in [false, true] {
                let file = dir.open_read(Path::new("0.seg")).unwrap();
                let mut sc = Scanner::new(file, path, SEGMENT_HEADER_LEN as u64, seg.len() as u64, newest);
                // Unsealed frames are held back in the newest segment only.
                let held = !sealed && newest;
                if !held {
                    let chunk = sc.next_chunk(100).unwrap();
                    let found: Vec<u64> = chunk.frames.iter().map(|f| f.offset).collect();
                    assert_eq!(found, offsets[..2]);
                }
                let stop = sc.next_chunk(100).unwrap_err();
                assert_eq!(
                    stop,
                    ScanStop::Corrupt {
                        offset: offsets[2],
                        reason: "frame checksum mismatch",
                        frames: if held { 2 } else { 0 },
                    },
                    "sealed frames {sealed}, newest {newest}"
                );
            }
        }
    }
}
