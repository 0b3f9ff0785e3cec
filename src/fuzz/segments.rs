//! Segments: every scan agrees with an independent transcription of the torn-tail-versus-damage
//! table of docs/FORMAT.md §8; never a panic, an overread or an oversized allocation.

use std::path::Path;

use crate::encoding::crc;
use crate::entry::LedgerId;
use crate::error::StorageError;
use crate::storage::frame::{check_frame, encode_frame, parse_section, Seal, MAX_FRAME_LEN};
use crate::storage::segment::{Chunk, ScanStop, Scanner, SegmentHeader, MAX_TORN, SEGMENT_HEADER_LEN};
use crate::storage::{segment_path, Backend, SegmentStream, SimBackend, SEGMENTS_DIR};

use super::Input;

/// How a scan ended: cleanly, at a torn tail `(offset, bytes, complete frames in it)`, or at
/// damage `(offset, frames held back before it)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    End,
    Torn(u64, u64, u64),
    Damage(u64, u64),
}

/// The frames handed out (offset, length) and how the scan ended.
type Scan = (Vec<(u64, u64)>, Stop);

/// docs/FORMAT.md §8, transcribed row by row (T1 – T9; T0 needs more than `MAX_TORN` bytes
/// and the inputs are far smaller). Frames of the newest segment after its last seal are not
/// handed out: they belong to the torn tail, or are counted before damage.
fn spec_scan(file: &[u8], newest: bool) -> Scan {
    let len = file.len() as u64;
    assert!(len < MAX_TORN, "inputs are smaller than MAX_TORN");
    let (mut pos, mut sealed_end) = (SEGMENT_HEADER_LEN as u64, SEGMENT_HEADER_LEN as u64);
    let mut frames: Vec<(u64, u64, bool)> = Vec::new();
    let handed = |frames: &[(u64, u64, bool)], sealed_end: u64| -> Vec<(u64, u64)> {
        frames
            .iter()
            .filter(|f| !newest || f.0 < sealed_end)
            .map(|f| (f.0, f.1))
            .collect()
    };
    let after_seal =
        |frames: &[(u64, u64, bool)], sealed_end: u64| frames.iter().filter(|f| f.0 >= sealed_end).count() as u64;
    let torn = |frames: &[(u64, u64, bool)], sealed_end: u64| {
        (
            handed(frames, sealed_end),
            Stop::Torn(sealed_end, len - sealed_end, after_seal(frames, sealed_end)),
        )
    };
    let damage = |frames: &[(u64, u64, bool)], sealed_end: u64, at: u64| {
        let held = if newest && at > sealed_end {
            after_seal(frames, sealed_end)
        } else {
            0
        };
        (handed(frames, sealed_end), Stop::Damage(at, held))
    };
    loop {
        let rem = len - pos;
        // T1
        if rem == 0 {
            if sealed_end == pos && (newest || !frames.is_empty()) {
                return (handed(&frames, sealed_end), Stop::End);
            }
            if newest {
                return torn(&frames, sealed_end);
            }
            return damage(&frames, sealed_end, sealed_end);
        }
        // T1b: zeros from the last seal to the end are reserved space, not a torn tail.
        if newest && pos == sealed_end && file[pos as usize..].iter().all(|&b| b == 0) {
            return (handed(&frames, sealed_end), Stop::End);
        }
        // T2
        if rem < 12 {
            return if newest {
                torn(&frames, sealed_end)
            } else {
                damage(&frames, sealed_end, pos)
            };
        }
        let at = pos as usize;
        let h = &file[at..at + 12];
        let header_ok = crc(&[&h[..8]]).to_le_bytes() == h[8..12];
        if !header_ok {
            let zeros = h[8..12] == [0; 4] && file[at + 12..].iter().all(|&b| b == 0);
            // T5, T6
            return if newest && zeros {
                torn(&frames, sealed_end)
            } else {
                damage(&frames, sealed_end, pos)
            };
        }
        let e = u64::from(u16::from_le_bytes([h[0], h[1]]));
        let (flags, reserved) = (h[2], h[3]);
        let p = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        // T3
        if e < 15 || flags & !1 != 0 || reserved != 0 || !(33..=33 + (16 << 20)).contains(&p) {
            return damage(&frames, sealed_end, pos);
        }
        let sealed = flags & 1 == 1;
        let flen = 16 + e + p + if sealed { 112 } else { 0 };
        assert!(flen <= MAX_FRAME_LEN);
        // T4
        if flen > rem {
            return if newest {
                torn(&frames, sealed_end)
            } else {
                damage(&frames, sealed_end, pos)
            };
        }
        let end = (pos + flen) as usize;
        let body_ok = crc(&[&file[at + 12..end - 4]]).to_le_bytes() == file[end - 4..end];
        if !body_ok {
            // T7, T8
            let last = file[end - 4..end] == [0; 4] && file[end..].iter().all(|&b| b == 0);
            return if newest && last {
                torn(&frames, sealed_end)
            } else {
                damage(&frames, sealed_end, pos)
            };
        }
        // T9
        frames.push((pos, flen, sealed));
        pos += flen;
        if sealed {
            sealed_end = pos;
        }
    }
}

/// Checks the frames of one chunk against the file and the previous frame's end.
fn check_chunk(chunk: &Chunk, file: &[u8], out: &mut Vec<(u64, u64)>) {
    for f in &chunk.frames {
        let len = f.header.frame_len();
        assert!(len as u64 <= MAX_FRAME_LEN, "frame of {len} bytes");
        assert!(f.end() <= file.len() as u64, "frame past the end of the file");
        let bytes = &chunk.data[f.start..f.start + len];
        assert_eq!(bytes, &file[f.offset as usize..f.end() as usize]);
        assert!(check_frame(bytes));
        let _ = (
            parse_section(f.section(&chunk.data)),
            f.seal(&chunk.data),
            f.entry(&chunk.data),
        );
        out.push((f.offset, len as u64));
    }
}

/// Scans the file directly with [`Scanner`], as the newest or a sealed segment, taking at most
/// `max` frames per chunk.
fn scanner_scan(disk: &SimBackend, path: &Path, file: &[u8], newest: bool, max: usize) -> Scan {
    let (dir, name) = (
        path.parent().expect("in a directory"),
        path.file_name().expect("a file"),
    );
    let root = disk.open_dir(dir, false).expect("simulated directory");
    let handle = root.open_read(Path::new(name)).expect("file exists");
    let mut sc = Scanner::new(handle, path, SEGMENT_HEADER_LEN as u64, file.len() as u64, newest);
    let mut frames = Vec::new();
    loop {
        match sc.next_chunk(max) {
            Ok(c) if c.frames.is_empty() => return (frames, Stop::End),
            Ok(c) => check_chunk(&c, file, &mut frames),
            Err(ScanStop::Torn {
                offset,
                bytes,
                frames: n,
                ..
            }) => return (frames, Stop::Torn(offset, bytes, n)),
            Err(ScanStop::Corrupt { offset, frames: n, .. }) => return (frames, Stop::Damage(offset, n)),
            Err(ScanStop::Io(kind)) => panic!("scanner read error {kind:?}: it read past the file"),
        }
    }
}

/// Streams the ledger in `dir` (a single segment 0, the newest) the way readers do, `max`
/// frames at a time; damage is reported with the sequence number of the entry it hits.
fn stream_scan(disk: &SimBackend, dir: &Path, file: &[u8], max: usize) -> Result<Scan, u64> {
    let root = disk.open_dir(dir, false).expect("simulated directory");
    let mut stream = SegmentStream::open(root.as_ref()).expect("segment 0 exists");
    let mut frames = Vec::new();
    loop {
        match stream.next_chunk(max) {
            Ok(Some(sc)) => {
                assert_eq!(sc.first_seq, frames.len() as u64, "chunks are not contiguous");
                check_chunk(&sc.chunk, file, &mut frames);
            }
            Ok(None) => {
                let stop = match stream.tail() {
                    None => Stop::End,
                    Some(t) => Stop::Torn(t.offset, t.bytes, t.frames),
                };
                return Ok((frames, stop));
            }
            Err(StorageError::Corrupt { offset, seq, .. }) => {
                if offset == 0 {
                    // The segment header.
                    return Err(0);
                }
                let seq = seq.expect("damage in a frame names its entry");
                return Ok((frames, Stop::Damage(offset, seq)));
            }
            Err(e) => panic!("scanning failed with a non-damage error: {e}"),
        }
    }
}

/// A built segment file, its frames `(start, end, sealed)` and where it was cut, if it was.
type Built = (Vec<u8>, Vec<(u64, u64, bool)>, Option<usize>);

/// A valid segment header and fuzzed frames (some sealed), maybe cut short or followed by
/// garbage. Returns the file, the frames `(start, end, sealed)` and, unless garbage follows,
/// the cut.
fn build_segment(input: &mut Input<'_>, flags: u8) -> Built {
    let header = SegmentHeader {
        ledger_id: LedgerId([7; 16]),
        first_seq: 0,
    };
    let mut file = header.encode().to_vec();
    let mut frames = Vec::new();
    for _ in 0..input.u8() % 8 {
        let shape = input.u8();
        let (elen, plen) = (15 + usize::from(input.u8()), usize::from(input.u8()));
        let entry = input.padded(elen);
        let salt: [u8; 32] = std::array::from_fn(|_| input.u8());
        let seal = (shape & 1 == 1).then(|| Seal::decode(&std::array::from_fn(|i| i as u8 ^ shape)));
        let start = file.len() as u64;
        encode_frame(&mut file, &entry, &salt, &input.padded(plen), seal.as_ref());
        frames.push((start, file.len() as u64, seal.is_some()));
    }
    if flags & 2 != 0 {
        let body = file.len() - SEGMENT_HEADER_LEN;
        let cut = SEGMENT_HEADER_LEN + usize::from(input.u16()) % (body + 1);
        file.truncate(cut);
        return (file, frames, Some(cut));
    }
    file.extend_from_slice(input.bytes(usize::MAX));
    (file, frames, None)
}

/// A segment file from fuzzed bytes: `[flags]` then either the raw file (flag bit 0 clear) or
/// sealed and unsealed frames to encode behind a valid header (`build_segment`), cut short
/// (bit 1) or followed by garbage. Scanned as the newest and as a sealed segment, in chunks of
/// 1 – 8 frames, and streamed as a reader does: each finds exactly the frames, torn tail and
/// damage of the §8 transcription (`spec_scan`), names the damaged entry by the frames before
/// it, and reads nothing past the file. Well-formed frames are all found; a cut is found
/// exactly.
pub fn decode_frame_and_segment(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let (file, built) = if flags & 1 == 0 {
        (input.bytes(usize::MAX).to_vec(), None)
    } else {
        let (file, frames, cut) = build_segment(&mut input, flags);
        (file, Some((frames, cut)))
    };
    let max = 1 + usize::from(flags >> 5);
    let disk = SimBackend::new();
    let dir = Path::new("/l");
    disk.create_dir_all(&dir.join(SEGMENTS_DIR)).expect("simulated mkdir");
    let path = segment_path(dir, 0);
    disk.set_file_bytes(&path, file.clone());
    let header_ok = file.len() >= SEGMENT_HEADER_LEN
        && SegmentHeader::decode(file[..SEGMENT_HEADER_LEN].try_into().expect("64 bytes"))
            .is_ok_and(|h| h.first_seq == 0);
    let streamed = stream_scan(&disk, dir, &file, max);
    if file.len() < SEGMENT_HEADER_LEN {
        // The newest segment's header is incomplete: all of it is a torn tail.
        assert_eq!(streamed, Ok((Vec::new(), Stop::Torn(0, file.len() as u64, 0))));
        return;
    }
    if !header_ok {
        assert_eq!(streamed, Err(0), "a bad segment header is not damage at offset 0");
        return;
    }
    let spec_newest = spec_scan(&file, true);
    let spec_sealed = spec_scan(&file, false);
    assert_eq!(
        scanner_scan(&disk, &path, &file, true, max),
        spec_newest,
        "newest segment, §8"
    );
    assert_eq!(
        scanner_scan(&disk, &path, &file, false, max),
        spec_sealed,
        "sealed segment, §8"
    );
    // The stream names damage by the entry it hits: the frames before it, held ones included.
    let want = match spec_newest.clone() {
        (f, Stop::Damage(at, held)) => {
            let n = f.len() as u64;
            (f, Stop::Damage(at, n + held))
        }
        other => other,
    };
    assert_eq!(streamed, Ok(want), "stream, §8");
    if let Some((built, cut)) = built {
        let found = &spec_newest.0;
        let sealed_built = |upto: u64| {
            let last = built
                .iter()
                .filter(|f| f.2 && f.1 <= upto)
                .map(|f| f.1)
                .max()
                .unwrap_or(0);
            built
                .iter()
                .filter(|f| f.1 <= last)
                .map(|f| (f.0, f.1 - f.0))
                .collect::<Vec<_>>()
        };
        match cut {
            None => {
                // Garbage after well-formed frames: every frame up to the last seal is found.
                let end = built.last().map_or(SEGMENT_HEADER_LEN as u64, |f| f.1);
                let want = sealed_built(end);
                assert!(found.starts_with(&want), "well-formed sealed frames were not all found");
            }
            Some(cut) => {
                let cut = cut as u64;
                assert_eq!(
                    *found,
                    sealed_built(cut),
                    "cut at {cut}: not the frames up to the last seal"
                );
                // Clean at the end of the last sealed frame found, or (§8 T1b) when only zeros
                // follow it: a cut inside a frame that starts with zero bytes leaves exactly
                // what reserved space looks like.
                let sealed_end = found.last().map_or(SEGMENT_HEADER_LEN as u64, |f| f.0 + f.1);
                let tail = usize::try_from(sealed_end).map_or(&[][..], |at| file.get(at..).unwrap_or(&[]));
                let clean = cut == sealed_end || tail.iter().all(|&b| b == 0);
                assert!(
                    matches!(spec_newest.1, Stop::End) == clean && !matches!(spec_newest.1, Stop::Damage(..)),
                    "cut at {cut}: {:?}",
                    spec_newest.1
                );
            }
        }
    }
}
