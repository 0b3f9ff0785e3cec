//! Segments: frames, a torn tail, or damage at the next frame; never a panic or an overread.

use std::path::Path;

use crate::entry::LedgerId;
use crate::error::StorageError;
use crate::storage::frame::{check_body, encode_frame, parse_section, MAX_FRAME_LEN, MIN_ENTRY_LEN};
use crate::storage::segment::{Chunk, ScanStop, Scanner, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::{segment_path, Backend, SegmentStream, SimBackend, TornTail, SEGMENTS_DIR};

use super::Input;

/// How a scan of a segment ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    End(Option<TornTail>),
    Corrupt(u64),
}

/// The frames a scan returned (offset, length) and how it ended.
type Scan = (Vec<(u64, u64)>, Stop);

/// Checks the frames of one chunk against the file and the previous frame's end.
fn check_chunk(chunk: &Chunk, file: &[u8], next: &mut u64, out: &mut Vec<(u64, u64)>) {
    for f in &chunk.frames {
        let len = f.header.frame_len();
        assert!(len as u64 <= MAX_FRAME_LEN, "frame of {len} bytes");
        assert_eq!(f.offset, *next, "frames are not contiguous");
        assert!(f.end() <= file.len() as u64, "frame past the end of the file");
        let bytes = &chunk.data[f.start..f.start + len];
        assert_eq!(bytes, &file[f.offset as usize..f.end() as usize]);
        assert_eq!(check_body(f.header, bytes), Ok(()));
        let _ = parse_section(f.section(&chunk.data));
        out.push((f.offset, len as u64));
        *next = f.end();
    }
}

/// Streams the ledger in `dir` (a single segment 0) the way readers do.
fn stream_scan(disk: &SimBackend, dir: &Path, file: &[u8]) -> Scan {
    let root = disk.open_dir(dir, false).expect("simulated directory");
    let mut stream = SegmentStream::open(root.as_ref()).expect("segment 0 exists");
    let (mut next, mut frames) = (SEGMENT_HEADER_LEN as u64, Vec::new());
    loop {
        match stream.next_chunk(3) {
            Ok(Some(sc)) => check_chunk(&sc.chunk, file, &mut next, &mut frames),
            Ok(None) => return (frames, Stop::End(stream.tail().cloned())),
            Err(StorageError::Corrupt { offset, .. }) => {
                let header = offset == 0 && frames.is_empty();
                assert!(offset == next || header, "damage reported at {offset}, not at {next}");
                return (frames, Stop::Corrupt(offset));
            }
            Err(e) => panic!("scanning failed with a non-damage error: {e}"),
        }
    }
}

/// Scans the file directly with [`Scanner`] (after the header), as a sealed or newest segment.
fn scanner_scan(disk: &SimBackend, path: &Path, file: &[u8], newest: bool) -> Scan {
    let (dir, name) = (
        path.parent().expect("in a directory"),
        path.file_name().expect("a file"),
    );
    let root = disk.open_dir(dir, false).expect("simulated directory");
    let handle = root.open_read(Path::new(name)).expect("file exists");
    let mut sc = Scanner::new(handle, path, SEGMENT_HEADER_LEN as u64, file.len() as u64, newest);
    let (mut next, mut frames) = (SEGMENT_HEADER_LEN as u64, Vec::new());
    loop {
        match sc.next_chunk(2) {
            Ok(c) if c.frames.is_empty() => return (frames, Stop::End(None)),
            Ok(c) => check_chunk(&c, file, &mut next, &mut frames),
            Err(ScanStop::Torn { offset, bytes, .. }) => {
                assert!(newest, "a sealed segment reported a torn tail");
                assert_eq!((offset, offset + bytes), (next, file.len() as u64), "torn tail bounds");
                let tail = TornTail {
                    file: path.to_path_buf(),
                    offset,
                    bytes,
                    reason: String::new(),
                };
                return (frames, Stop::End(Some(tail)));
            }
            Err(ScanStop::Corrupt { offset, .. }) => {
                assert_eq!(offset, next, "damage reported away from the next frame");
                return (frames, Stop::Corrupt(offset));
            }
            Err(ScanStop::Io(kind)) => panic!("scanner read error {kind:?}: it read past the file"),
        }
    }
}

/// Where and how a scan stopped: (0 clean end / 1 torn tail / 2 damage, offset).
fn stop_at(s: &Stop) -> (u8, u64) {
    match s {
        Stop::End(None) => (0, 0),
        Stop::End(Some(t)) => (1, t.offset),
        Stop::Corrupt(o) => (2, *o),
    }
}

/// A valid segment header and fuzzed frames, maybe cut short or followed by garbage. Returns
/// the file, the frame offsets and, unless garbage follows, the cut.
fn build_segment(input: &mut Input<'_>, flags: u8) -> (Vec<u8>, Vec<(u64, u64)>, Option<usize>) {
    let header = SegmentHeader {
        ledger_id: LedgerId([7; 16]),
        first_seq: 0,
    };
    let mut file = header.encode().to_vec();
    let mut offsets = Vec::new();
    for _ in 0..input.u8() % 8 {
        let (elen, plen) = (MIN_ENTRY_LEN + usize::from(input.u8()), usize::from(input.u8()));
        let entry = input.padded(elen);
        let salt: [u8; 32] = std::array::from_fn(|_| input.u8());
        let start = file.len() as u64;
        encode_frame(&mut file, &entry, &salt, &input.padded(plen));
        offsets.push((start, file.len() as u64));
    }
    if flags & 2 != 0 {
        let body = file.len() - SEGMENT_HEADER_LEN;
        let cut = SEGMENT_HEADER_LEN + usize::from(input.u16()) % (body + 1);
        file.truncate(cut);
        return (file, offsets, Some(cut));
    }
    file.extend_from_slice(input.bytes(usize::MAX));
    (file, offsets, None)
}

/// A segment file from fuzzed bytes: `[flags]` then either the raw file (flag bit 0 clear) or
/// frames to encode behind a valid header (`build_segment`). Streaming it returns frames, a
/// torn tail or damage at the next frame — never a panic, an overread or an oversized
/// allocation; a sealed scan agrees except that it never reports a torn tail; well-formed
/// frames are all found, and a cut is reported exactly.
pub fn decode_frame_and_segment(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let (file, built) = if flags & 1 == 0 {
        (input.bytes(usize::MAX).to_vec(), None)
    } else {
        let (file, offsets, cut) = build_segment(&mut input, flags);
        (file, Some((offsets, cut)))
    };
    let disk = SimBackend::new();
    let dir = Path::new("/l");
    disk.create_dir_all(&dir.join(SEGMENTS_DIR)).expect("simulated mkdir");
    let path = segment_path(dir, 0);
    disk.set_file_bytes(&path, file.clone());
    let (frames, stop) = stream_scan(&disk, dir, &file);
    if let Stop::End(tail) = &stop {
        let end = frames.last().map_or(SEGMENT_HEADER_LEN as u64, |f| f.0 + f.1);
        match tail {
            Some(t) if t.offset == 0 => assert!(file.len() < SEGMENT_HEADER_LEN && frames.is_empty()),
            Some(t) => assert_eq!((t.offset, t.offset + t.bytes), (end, file.len() as u64)),
            None => assert_eq!(end, file.len() as u64, "clean end before the end of the file"),
        }
    }
    if file.len() >= SEGMENT_HEADER_LEN && !matches!(stop, Stop::Corrupt(0)) {
        let newest = scanner_scan(&disk, &path, &file, true);
        assert_eq!(
            (newest.0.as_slice(), stop_at(&newest.1)),
            (frames.as_slice(), stop_at(&stop))
        );
        let sealed = scanner_scan(&disk, &path, &file, false);
        assert_eq!(sealed.0, frames, "a sealed scan found other frames");
        if let Stop::End(Some(t)) = &newest.1 {
            assert_eq!(sealed.1, Stop::Corrupt(t.offset), "sealed segment: tail is not damage");
        }
    }
    if let Some((built, cut)) = built {
        let found: Vec<(u64, u64)> = frames.iter().map(|f| (f.0, f.0 + f.1)).collect();
        let Some(cut) = cut.map(|c| c as u64) else {
            assert!(found.starts_with(&built), "well-formed frames were not all found");
            return;
        };
        let whole: Vec<(u64, u64)> = built.iter().copied().filter(|f| f.1 <= cut).collect();
        assert_eq!(found, whole, "cut at {cut}: the complete frames are not what was found");
        let boundary = cut == SEGMENT_HEADER_LEN as u64 || built.iter().any(|f| f.1 == cut);
        assert!(
            matches!(&stop, Stop::End(t) if t.is_some() != boundary),
            "cut at {cut}: {stop:?}"
        );
    }
}
