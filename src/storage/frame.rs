//! Framed records inside segment files (docs/FORMAT.md §7.3 – §7.5).
//!
//! ```text
//! offset        size   field
//! 0             2      entry_len   E (u16)
//! 2             1      frame_flags (bit 0: sealed)
//! 3             1      reserved, zero
//! 4             4      section_len P (u32) = 33 + payload bytes
//! 8             4      header_crc  CRC-32C of bytes 0..8
//! 12            E      entry record (docs/FORMAT.md §4.2)
//! 12+E          P      payload section: state u8 (0 present, 1 erased) ‖ salt or commitment [32] ‖ payload or zeros
//! 12+E+P        112·s  seal (if sealed): sealer key id, chain value, root, tag
//! 12+E+P+112s   4      frame_crc   CRC-32C of bytes 12 .. 12+E+P+112s
//! ```
//! The header checksum protects the lengths, so a damaged length in the middle of a file is
//! reported as damage, never mistaken for a torn tail. The payload has its own section so that
//! erasure rewrites it (and the frame checksum) without touching the record or any hash.

use crate::encoding::crc;
#[cfg(any(fuzzing, feature = "test-util"))]
use crate::encoding::put_u32;
#[cfg(any(fuzzing, feature = "test-util"))]
use crate::entry::MAX_ENTRY_LEN;
use crate::entry::{MAX_PAYLOAD_LEN, MIN_ENTRY_LEN, SALT_LEN};
use crate::hash::{Digest, DIGEST_LEN};
use crate::keys::KeyId;

/// Bytes before the entry record.
pub const FRAME_HEADER_LEN: usize = 12;
/// Bytes of framing around record, section and seal: header and trailing checksum.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + 4;
/// Bytes of the payload section before the payload: state and salt (or commitment).
pub const PAYLOAD_PREFIX_LEN: usize = 1 + SALT_LEN;
/// Payload state byte: salt and payload are present.
pub const PAYLOAD_PRESENT: u8 = 0;
/// Payload state byte: erased; the commitment stands where the salt was.
pub const PAYLOAD_ERASED: u8 = 1;
/// Bytes of a seal.
pub const SEAL_LEN: usize = 112;
/// Bytes of a seal's tag.
pub const SEAL_TAG_LEN: usize = 16;
/// `frame_flags` bit: a seal follows the payload section.
const SEALED: u8 = 1;
/// Largest frame: the bounds of every field added up.
#[cfg(any(fuzzing, feature = "test-util"))]
pub const MAX_FRAME_LEN: u64 =
    FRAME_OVERHEAD as u64 + MAX_ENTRY_LEN + PAYLOAD_PREFIX_LEN as u64 + MAX_PAYLOAD_LEN + SEAL_LEN as u64;

/// The writer-private seal that ends every write (docs/FORMAT.md §7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    /// Key id of the writer that sealed.
    pub sealer: KeyId,
    /// Chain value of the sealed frame's entry.
    pub chain: Digest,
    /// Merkle root of the ledger up to and including that entry.
    pub root: Digest,
    /// The writer's MAC over (ledger id, size, chain, root).
    pub tag: [u8; SEAL_TAG_LEN],
}

impl Seal {
    /// The 112 seal bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; SEAL_LEN] {
        let mut out = [0u8; SEAL_LEN];
        out[..32].copy_from_slice(self.sealer.0.as_bytes());
        out[32..64].copy_from_slice(self.chain.as_bytes());
        out[64..96].copy_from_slice(self.root.as_bytes());
        out[96..].copy_from_slice(&self.tag);
        out
    }

    /// Reads a seal from its 112 bytes.
    #[must_use]
    pub fn decode(b: &[u8; SEAL_LEN]) -> Self {
        let d = |r: core::ops::Range<usize>| {
            let mut x = [0u8; DIGEST_LEN];
            x.copy_from_slice(&b[r]);
            Digest::from_bytes(x)
        };
        let mut tag = [0u8; SEAL_TAG_LEN];
        tag.copy_from_slice(&b[96..]);
        Seal {
            sealer: KeyId(d(0..32)),
            chain: d(32..64),
            root: d(64..96),
            tag,
        }
    }
}

/// A payload as stored: present with its salt, or erased (only the commitment remains).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoredPayload {
    /// Salt and bytes are present.
    Present {
        /// The commitment salt.
        salt: [u8; SALT_LEN],
        /// The payload.
        bytes: Vec<u8>,
    },
    /// Erased by a redaction; the commitment is kept in place of salt and payload.
    Erased {
        /// The payload commitment the entry was made with.
        commitment: Digest,
        /// Length the payload had.
        len: u64,
    },
}

/// A payload section, borrowed from the bytes it was read from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SectionRef<'a> {
    /// Salt and payload.
    Present {
        /// The salt.
        salt: &'a [u8; SALT_LEN],
        /// The payload.
        payload: &'a [u8],
    },
    /// Erased: the stored commitment and the erased payload's length.
    Erased {
        /// The payload commitment.
        commitment: Digest,
        /// Length the payload had.
        len: u64,
    },
}

impl SectionRef<'_> {
    /// An owned copy.
    #[must_use]
    pub fn to_owned(self) -> StoredPayload {
        match self {
            SectionRef::Present { salt, payload } => StoredPayload::Present {
                salt: *salt,
                bytes: payload.to_vec(),
            },
            SectionRef::Erased { commitment, len } => StoredPayload::Erased { commitment, len },
        }
    }

    /// Whether the payload was erased.
    #[cfg(any(fuzzing, feature = "test-util"))]
    #[must_use]
    pub fn is_erased(&self) -> bool {
        matches!(self, SectionRef::Erased { .. })
    }
}

/// Appends one frame to `out`: record, present payload section and, if given, a seal.
#[cfg(any(fuzzing, feature = "test-util"))]
pub fn encode_frame(out: &mut Vec<u8>, record: &[u8], salt: &[u8; SALT_LEN], payload: &[u8], seal: Option<&Seal>) {
    let start = out.len();
    out.resize(start + frame_len(record.len(), payload.len(), seal.is_some()), 0);
    let frame = &mut out[start..];
    write_frame_parts(frame, record.len(), salt, payload, seal.is_some());
    frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + record.len()].copy_from_slice(record);
    finish_frame(frame, seal);
    debug_assert!(out.len() - start <= MAX_FRAME_LEN as usize);
}

/// Length of a frame with a `record_len`-byte record and a present `payload_len`-byte payload,
/// sealed or not.
#[must_use]
pub fn frame_len(record_len: usize, payload_len: usize, sealed: bool) -> usize {
    FRAME_OVERHEAD + record_len + PAYLOAD_PREFIX_LEN + payload_len + if sealed { SEAL_LEN } else { 0 }
}

/// Writes into `frame` (exactly [`frame_len`] bytes) the header and the present payload
/// section around a `record_len`-byte record, which the caller writes at
/// `frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + record_len]`; [`finish_frame`] then writes the
/// seal and the checksum. Callers bound the record (64 KiB - 1) and payload (16 MiB) first.
pub fn write_frame_parts(frame: &mut [u8], record_len: usize, salt: &[u8; SALT_LEN], payload: &[u8], sealed: bool) {
    frame[..2].copy_from_slice(&u16::try_from(record_len).unwrap_or(u16::MAX).to_le_bytes());
    frame[2] = if sealed { SEALED } else { 0 };
    frame[3] = 0;
    let section_len = PAYLOAD_PREFIX_LEN + payload.len();
    frame[4..8].copy_from_slice(&u32::try_from(section_len).unwrap_or(u32::MAX).to_le_bytes());
    let hc = crc(&[&frame[..8]]);
    frame[8..FRAME_HEADER_LEN].copy_from_slice(&hc.to_le_bytes());
    let s = FRAME_HEADER_LEN + record_len;
    frame[s] = PAYLOAD_PRESENT;
    frame[s + 1..s + PAYLOAD_PREFIX_LEN].copy_from_slice(salt);
    frame[s + PAYLOAD_PREFIX_LEN..s + section_len].copy_from_slice(payload);
}

/// Writes the seal (for a sealed frame; its place is the 112 bytes before the checksum) and
/// the frame checksum of a frame laid out by [`write_frame_parts`].
pub fn finish_frame(frame: &mut [u8], seal: Option<&Seal>) {
    let end = frame.len() - 4;
    if let Some(s) = seal {
        frame[end - SEAL_LEN..end].copy_from_slice(&s.encode());
    }
    let c = crc(&[&frame[FRAME_HEADER_LEN..end]]);
    frame[end..].copy_from_slice(&c.to_le_bytes());
}

/// Recomputes the trailing checksum of a complete frame after its body changed.
#[cfg(any(fuzzing, feature = "test-util"))]
pub fn refresh_crc(frame: &mut [u8]) {
    let end = frame.len() - 4;
    let c = crc(&[&frame[FRAME_HEADER_LEN..end]]);
    frame[end..].copy_from_slice(&c.to_le_bytes());
}

/// Turns a complete unsealed frame into a sealed one: sets the flag (and the header
/// checksum), appends the seal before the trailing checksum and recomputes it.
#[cfg(any(fuzzing, feature = "test-util"))]
pub fn seal_frame(frame: &mut Vec<u8>, seal: &Seal) {
    frame[2] |= SEALED;
    let hc = crc(&[&frame[..8]]);
    frame[8..12].copy_from_slice(&hc.to_le_bytes());
    frame.truncate(frame.len() - 4);
    frame.extend_from_slice(&seal.encode());
    let c = crc(&[&frame[FRAME_HEADER_LEN..]]);
    put_u32(frame, c);
}

/// The erased form of a payload section of `payload_len` bytes (docs/FORMAT.md §7.4).
#[must_use]
pub fn erased_section(commitment: &Digest, payload_len: usize) -> Vec<u8> {
    let mut s = vec![0u8; PAYLOAD_PREFIX_LEN + payload_len];
    s[0] = PAYLOAD_ERASED;
    s[1..PAYLOAD_PREFIX_LEN].copy_from_slice(commitment.as_bytes());
    s
}

/// Lengths and flags read from a frame header whose checksum matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Entry record length.
    pub entry_len: usize,
    /// Payload-section length (33 + payload bytes).
    pub section_len: usize,
    /// Whether a seal follows the payload section.
    pub sealed: bool,
}

impl FrameHeader {
    /// Total frame length.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        FRAME_OVERHEAD + self.entry_len + self.section_len + self.seal_len()
    }

    fn seal_len(&self) -> usize {
        if self.sealed {
            SEAL_LEN
        } else {
            0
        }
    }

    /// Offset of the payload section inside the frame.
    #[must_use]
    pub fn section_offset(&self) -> usize {
        FRAME_HEADER_LEN + self.entry_len
    }

    /// Offset of the seal inside the frame (meaningful when sealed).
    #[must_use]
    pub fn seal_offset(&self) -> usize {
        self.section_offset() + self.section_len
    }

    /// Length of the payload.
    #[must_use]
    pub fn payload_len(&self) -> usize {
        self.section_len - PAYLOAD_PREFIX_LEN
    }
}

/// Why a header could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The checksum does not match: damage, or a torn/zero-filled tail.
    Checksum,
    /// The checksum matches but a length, flag or reserved byte breaks the rules: damage.
    Bounds,
}

/// Parses the 12 header bytes.
///
/// # Errors
/// [`HeaderProblem`] when the checksum or a rule fails.
pub fn parse_header(h: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, HeaderProblem> {
    let stored = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if crc(&[&h[..8]]) != stored {
        return Err(HeaderProblem::Checksum);
    }
    let e = usize::from(u16::from_le_bytes([h[0], h[1]]));
    let (flags, reserved) = (h[2], h[3]);
    let p = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
    let p_min = PAYLOAD_PREFIX_LEN as u64;
    if e < MIN_ENTRY_LEN || flags & !SEALED != 0 || reserved != 0 || p < p_min || p > p_min + MAX_PAYLOAD_LEN {
        return Err(HeaderProblem::Bounds);
    }
    Ok(FrameHeader {
        entry_len: e,
        // At most 33 + 16 MiB, checked just above.
        section_len: usize::try_from(p).map_err(|_| HeaderProblem::Bounds)?,
        sealed: flags & SEALED != 0,
    })
}

/// Whether a complete frame (`frame` holds exactly its `frame_len()` bytes) matches its
/// trailing checksum.
#[must_use]
pub fn check_frame(frame: &[u8]) -> bool {
    let end = frame.len() - 4;
    let stored = u32::from_le_bytes([frame[end], frame[end + 1], frame[end + 2], frame[end + 3]]);
    crc(&[&frame[FRAME_HEADER_LEN..end]]) == stored
}

/// The frame checksum for a frame whose record, section and seal are `body`.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn frame_crc(body: &[&[u8]]) -> u32 {
    crc(body)
}

/// The input of a present payload section's commitment, `salt ‖ payload` (they follow each
/// other in the section): `Some` exactly when [`parse_section`] gives [`SectionRef::Present`],
/// whose commitment is `H_payload` of these bytes.
#[must_use]
pub(crate) fn salted_payload(section: &[u8]) -> Option<&[u8]> {
    (section.len() >= PAYLOAD_PREFIX_LEN && section[0] == PAYLOAD_PRESENT).then(|| &section[1..])
}

/// Decodes a payload section.
///
/// # Errors
/// A static reason when the state byte is unknown or an erased section is not zeroed after
/// its commitment.
pub fn parse_section(section: &[u8]) -> Result<SectionRef<'_>, &'static str> {
    if section.len() < PAYLOAD_PREFIX_LEN {
        return Err("payload section too short");
    }
    let (prefix, rest) = section.split_at(PAYLOAD_PREFIX_LEN);
    let mut key = [0u8; SALT_LEN];
    key.copy_from_slice(&prefix[1..]);
    match prefix[0] {
        PAYLOAD_PRESENT => {
            let salt: &[u8; SALT_LEN] = prefix[1..].try_into().map_err(|_| "payload section too short")?;
            Ok(SectionRef::Present { salt, payload: rest })
        }
        PAYLOAD_ERASED if rest.iter().all(|&b| b == 0) => Ok(SectionRef::Erased {
            commitment: Digest::from_bytes(key),
            len: rest.len() as u64,
        }),
        PAYLOAD_ERASED => Err("erased payload section is not zeroed"),
        _ => Err("unknown payload state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal() -> Seal {
        Seal {
            sealer: KeyId(Digest::from_bytes([1; 32])),
            chain: Digest::from_bytes([2; 32]),
            root: Digest::from_bytes([3; 32]),
            tag: [4; 16],
        }
    }

    /// `salted_payload` is there exactly for present sections, and is their salt then payload.
    #[test]
    fn salted_payload_is_the_present_sections_salt_and_payload() {
        let mut present = vec![PAYLOAD_PRESENT];
        present.extend_from_slice(&[9; SALT_LEN]);
        present.extend_from_slice(b"payload");
        let mut erased = vec![PAYLOAD_ERASED];
        erased.extend_from_slice(&[9; SALT_LEN]);
        erased.extend_from_slice(&[0; 7]);
        let mut unknown = present.clone();
        unknown[0] = 7;
        for section in [&present[..], &erased, &unknown, &present[..PAYLOAD_PREFIX_LEN - 1], &present[..PAYLOAD_PREFIX_LEN]] {
            match (parse_section(section), salted_payload(section)) {
                (Ok(SectionRef::Present { salt, payload }), Some(input)) => {
                    assert_eq!(input, [&salt[..], payload].concat());
                }
                (Ok(SectionRef::Present { .. }), None) | (_, Some(_)) => panic!("disagree on {section:?}"),
                _ => {}
            }
        }
    }

    #[test]
    fn frame_round_trip_and_damage_classes() {
        let record = vec![7u8; MIN_ENTRY_LEN + 3];
        for sealed in [None, Some(seal())] {
            let mut f = Vec::new();
            encode_frame(&mut f, &record, &[1; 32], b"hello", sealed.as_ref());
            let h = parse_header(f[..12].try_into().unwrap()).unwrap();
            assert_eq!(h.sealed, sealed.is_some());
            assert_eq!(h.frame_len(), f.len());
            assert!(check_frame(&f));
            let s = h.section_offset();
            assert_eq!(
                parse_section(&f[s..s + h.section_len]),
                Ok(SectionRef::Present {
                    salt: &[1; 32],
                    payload: b"hello"
                })
            );
            if let Some(seal) = sealed {
                let at = h.seal_offset();
                let b: &[u8; SEAL_LEN] = f[at..at + SEAL_LEN].try_into().unwrap();
                assert_eq!(Seal::decode(b), seal);
            }
            for i in 0..12 {
                let mut g = f.clone();
                g[i] ^= 0x10;
                assert_eq!(
                    parse_header(g[..12].try_into().unwrap()),
                    Err(HeaderProblem::Checksum),
                    "byte {i}"
                );
            }
            for i in 12..f.len() {
                let mut g = f.clone();
                g[i] ^= 1;
                assert!(!check_frame(&g), "byte {i}");
            }
        }
    }

    #[test]
    fn header_rules_are_damage_when_the_checksum_matches() {
        let mut bad = Vec::new();
        for (e, flags, reserved, p) in [
            (MIN_ENTRY_LEN as u16 - 1, 0u8, 0u8, 33u32),
            (20, 2, 0, 33),
            (20, 0, 1, 33),
            (20, 0, 0, 32),
            (20, 0, 0, 33 + (16 << 20) + 1),
        ] {
            bad.clear();
            bad.extend_from_slice(&e.to_le_bytes());
            bad.push(flags);
            bad.push(reserved);
            bad.extend_from_slice(&p.to_le_bytes());
            let c = crc(&[&bad]);
            put_u32(&mut bad, c);
            assert_eq!(parse_header(bad[..12].try_into().unwrap()), Err(HeaderProblem::Bounds));
        }
    }

    #[test]
    fn erased_section_parses_and_rejects_garbage() {
        let c = Digest::from_bytes([9; 32]);
        let sec = erased_section(&c, 5);
        assert_eq!(parse_section(&sec), Ok(SectionRef::Erased { commitment: c, len: 5 }));
        let mut bad = sec.clone();
        bad[34] = 1;
        assert!(parse_section(&bad).is_err());
        bad[0] = 2;
        assert!(parse_section(&bad).is_err());
    }

    #[test]
    fn zero_header_is_a_checksum_failure() {
        assert_eq!(parse_header(&[0; 12]), Err(HeaderProblem::Checksum));
    }
}
