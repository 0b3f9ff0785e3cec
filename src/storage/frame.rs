//! Framed records inside segment files (docs/FORMAT.md §7.3).
//!
//! ```text
//! offset  size  field
//! 0       4     entry_len    E (u32)
//! 4       4     payload_len  P (u32) = 33 + payload bytes
//! 8       4     header_crc   CRC-32C of bytes 0..8
//! 12      E     entry        (docs/FORMAT.md §4; the entry hash covers exactly these bytes)
//! 12+E    4     entry_crc    CRC-32C of the entry bytes
//! 16+E    P     payload section: state u8 (0 present, 1 erased) ‖ salt [32] ‖ payload
//! 16+E+P  4     payload_crc  CRC-32C of the payload section
//! ```
//! The header checksum protects the lengths, so a damaged length in the middle of a file is
//! reported as damage, never mistaken for a torn tail. The payload sits in its own checksummed
//! section so that erasure rewrites it without touching the entry bytes or their checksum.

use crate::encoding::{crc, put_u32};
use crate::entry::{MAX_ENTRY_LEN, MAX_PAYLOAD_LEN, SALT_LEN};

/// Bytes before the entry.
pub const FRAME_HEADER_LEN: usize = 12;
/// Bytes of framing around entry and payload section.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + 4 + 4;
/// Bytes of the payload section before the payload: state and salt.
pub const PAYLOAD_PREFIX_LEN: usize = 1 + SALT_LEN;
/// Payload state byte: payload and salt are present.
pub const PAYLOAD_PRESENT: u8 = 0;
/// Payload state byte: payload and salt were erased (overwritten with zeros).
pub const PAYLOAD_ERASED: u8 = 1;
/// Smallest possible encoded entry.
pub const MIN_ENTRY_LEN: usize = 8 + 32 + 16 + 2 + 8 + 1 + 32 + 8 + 2 + 1;
/// Largest frame: the bounds of every field added up.
pub const MAX_FRAME_LEN: u64 = MAX_ENTRY_LEN + MAX_PAYLOAD_LEN + (PAYLOAD_PREFIX_LEN + FRAME_OVERHEAD) as u64;

/// A payload as stored: present with its salt, or erased.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoredPayload {
    /// Salt and bytes are present.
    Present {
        /// The commitment salt.
        salt: [u8; SALT_LEN],
        /// The payload.
        bytes: Vec<u8>,
    },
    /// Erased by a redaction; only the commitment in the entry remains.
    Erased,
}

/// Appends one frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, entry: &[u8], salt: &[u8; SALT_LEN], payload: &[u8]) {
    // Callers bound entry (64 KiB) and payload (16 MiB) lengths before framing.
    let e = u32::try_from(entry.len()).unwrap_or(u32::MAX);
    let p = u32::try_from(payload.len() + PAYLOAD_PREFIX_LEN).unwrap_or(u32::MAX);
    let header_start = out.len();
    put_u32(out, e);
    put_u32(out, p);
    let hc = crc(&[&out[header_start..]]);
    put_u32(out, hc);
    out.extend_from_slice(entry);
    put_u32(out, crc(&[entry]));
    let section_start = out.len();
    out.push(PAYLOAD_PRESENT);
    out.extend_from_slice(salt);
    out.extend_from_slice(payload);
    let pc = crc(&[&out[section_start..]]);
    put_u32(out, pc);
}

/// The payload section of an erased payload of `payload_len` bytes, with its checksum.
#[must_use]
pub fn erased_section(payload_len: usize) -> Vec<u8> {
    let mut s = vec![0u8; PAYLOAD_PREFIX_LEN + payload_len];
    s[0] = PAYLOAD_ERASED;
    let c = crc(&[&s]);
    put_u32(&mut s, c);
    s
}

/// Lengths read from a frame header whose checksum matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Entry length.
    pub entry_len: usize,
    /// Payload-section length (33 + payload bytes).
    pub section_len: usize,
}

impl FrameHeader {
    /// Total frame length.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        FRAME_OVERHEAD + self.entry_len + self.section_len
    }

    /// Offset of the payload section inside the frame.
    #[must_use]
    pub fn section_offset(&self) -> usize {
        FRAME_HEADER_LEN + self.entry_len + 4
    }
}

/// Why a header could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The checksum does not match: damage, or a torn/zero-filled tail.
    Checksum,
    /// The checksum matches but a length is out of bounds: damage.
    Bounds,
}

/// Parses the 12 header bytes.
///
/// # Errors
/// [`HeaderProblem`] when the checksum or the bounds fail.
pub fn parse_header(h: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, HeaderProblem> {
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    if crc(&[&h[..8]]) != word(8) {
        return Err(HeaderProblem::Checksum);
    }
    let (e, p) = (u64::from(word(0)), u64::from(word(4)));
    let p_min = PAYLOAD_PREFIX_LEN as u64;
    if e < MIN_ENTRY_LEN as u64 || e > MAX_ENTRY_LEN || p < p_min || p > p_min + MAX_PAYLOAD_LEN {
        return Err(HeaderProblem::Bounds);
    }
    // Both bounded by MAX_FRAME_LEN (< 32 MiB) just above.
    Ok(FrameHeader {
        entry_len: usize::try_from(e).map_err(|_| HeaderProblem::Bounds)?,
        section_len: usize::try_from(p).map_err(|_| HeaderProblem::Bounds)?,
    })
}

/// Which checksum of a complete frame failed, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProblem {
    /// The entry bytes do not match their checksum.
    Entry,
    /// The payload section does not match its checksum.
    Payload,
}

/// Checks the body checksums of a complete frame (`frame` holds exactly `h.frame_len()` bytes).
///
/// # Errors
/// Which [`BodyProblem`] was found.
pub fn check_body(h: FrameHeader, frame: &[u8]) -> Result<(), BodyProblem> {
    let word = |i: usize| u32::from_le_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
    let entry_end = FRAME_HEADER_LEN + h.entry_len;
    if crc(&[&frame[FRAME_HEADER_LEN..entry_end]]) != word(entry_end) {
        return Err(BodyProblem::Entry);
    }
    let s = h.section_offset();
    if crc(&[&frame[s..s + h.section_len]]) != word(s + h.section_len) {
        return Err(BodyProblem::Payload);
    }
    Ok(())
}

/// Decodes a payload section (without its checksum).
///
/// # Errors
/// A static reason when the state byte is unknown or an erased section is not all zeros.
pub fn parse_section(section: &[u8]) -> Result<StoredPayload, &'static str> {
    let (state, rest) = section.split_first().ok_or("empty payload section")?;
    match *state {
        PAYLOAD_PRESENT => {
            let (salt, bytes) = rest.split_at(SALT_LEN.min(rest.len()));
            let salt: [u8; SALT_LEN] = salt.try_into().map_err(|_| "payload section too short")?;
            Ok(StoredPayload::Present {
                salt,
                bytes: bytes.to_vec(),
            })
        }
        PAYLOAD_ERASED if rest.iter().all(|&b| b == 0) => Ok(StoredPayload::Erased),
        PAYLOAD_ERASED => Err("erased payload section is not zeroed"),
        _ => Err("unknown payload state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_damage_classes() {
        let entry = vec![7u8; MIN_ENTRY_LEN + 3];
        let mut f = Vec::new();
        encode_frame(&mut f, &entry, &[1; 32], b"hello");
        let h = parse_header(f[..12].try_into().unwrap()).unwrap();
        assert_eq!(h.frame_len(), f.len());
        assert_eq!(check_body(h, &f), Ok(()));
        let s = h.section_offset();
        assert_eq!(
            parse_section(&f[s..s + h.section_len]),
            Ok(StoredPayload::Present {
                salt: [1; 32],
                bytes: b"hello".to_vec()
            })
        );
        for i in 0..12 {
            let mut g = f.clone();
            g[i] ^= 0x10;
            assert_eq!(
                parse_header(g[..12].try_into().unwrap()),
                Err(HeaderProblem::Checksum),
                "byte {i}"
            );
        }
        let mut g = f.clone();
        g[20] ^= 1;
        assert_eq!(check_body(h, &g), Err(BodyProblem::Entry));
        let mut g = f.clone();
        g[s + 40] ^= 1;
        assert_eq!(check_body(h, &g), Err(BodyProblem::Payload));
    }

    #[test]
    fn erased_section_checks_and_parses() {
        let sec = erased_section(5);
        let body = &sec[..sec.len() - 4];
        assert_eq!(crc(&[body]).to_le_bytes(), sec[sec.len() - 4..]);
        assert_eq!(parse_section(body), Ok(StoredPayload::Erased));
        let mut bad = body.to_vec();
        bad[3] = 1;
        assert!(parse_section(&bad).is_err());
    }

    #[test]
    fn zero_header_is_a_checksum_failure() {
        assert_eq!(parse_header(&[0; 12]), Err(HeaderProblem::Checksum));
    }
}
