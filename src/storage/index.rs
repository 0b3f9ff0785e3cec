//! Index files (docs/FORMAT.md §7.7): for each segment, the byte offset of every frame, so
//! entry `seq` is found with one 4-byte read, and a bit marking governance entries, so a writer
//! can build its key registry without reading application entries. Index files are derived
//! data: rebuilt from the segment when missing or inconsistent, and cross-checked by `verify`.
//!
//! ```text
//! index header (48 bytes)                     then, for each entry of the segment, a u32:
//! 0   8   magic "PLEDGIDX"                      bits 0-30 offset of its frame in the segment
//! 8   2   format version (2)                    bit 31    1 iff the entry is not an application entry
//! 10  6   zero
//! 16  16  ledger id
//! 32  8   first sequence number
//! 40  4   zero
//! 44  4   CRC-32C of bytes 0..44
//! ```

use super::segment::FORMAT_VERSION;
use crate::encoding::{crc, put_u16, put_u32, put_u64, Reader};
use crate::entry::LedgerId;
use crate::error::DecodeError;

/// Magic bytes at the start of every index file.
pub const INDEX_MAGIC: &[u8; 8] = b"PLEDGIDX";
/// Length of the index header.
pub const INDEX_HEADER_LEN: usize = 48;
/// File-name suffix of index files.
pub const INDEX_SUFFIX: &str = ".idx";

/// The file name of the index of the segment starting at `first_seq`.
#[must_use]
pub fn index_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{INDEX_SUFFIX}")
}

/// The 48 header bytes of an index file.
#[must_use]
pub fn encode_index_header(ledger_id: LedgerId, first_seq: u64) -> [u8; INDEX_HEADER_LEN] {
    let mut v = Vec::with_capacity(INDEX_HEADER_LEN);
    v.extend_from_slice(INDEX_MAGIC);
    put_u16(&mut v, FORMAT_VERSION);
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&ledger_id.0);
    put_u64(&mut v, first_seq);
    v.extend_from_slice(&[0; 4]);
    let c = crc(&[&v]);
    put_u32(&mut v, c);
    let mut out = [0u8; INDEX_HEADER_LEN];
    out.copy_from_slice(&v);
    out
}

/// Checks that `b` is the header of the index for (`ledger_id`, `first_seq`).
///
/// # Errors
/// [`DecodeError`] when it is not.
pub fn check_index_header(b: &[u8; INDEX_HEADER_LEN], ledger_id: LedgerId, first_seq: u64) -> Result<(), DecodeError> {
    if *b == encode_index_header(ledger_id, first_seq) {
        return Ok(());
    }
    let mut r = Reader::new(b, "index header");
    if r.array::<8>()? != *INDEX_MAGIC {
        return Err(DecodeError::BadMagic {
            context: "index header",
        });
    }
    Err(DecodeError::Invalid {
        context: "index header",
        reason: "does not match its segment",
    })
}

/// Bytes of one slot.
pub const SLOT_LEN: u64 = 4;
/// Slot bit marking an entry that is not an application entry.
pub const GOVERNANCE_BIT: u32 = 1 << 31;

/// Byte position of the `i`-th slot in an index file, or `None` if it cannot be one.
#[must_use]
pub fn slot(i: u64) -> Option<u64> {
    i.checked_mul(SLOT_LEN)?.checked_add(INDEX_HEADER_LEN as u64)
}

/// Number of complete slots in an index file of `len` bytes.
#[must_use]
pub fn count(len: u64) -> u64 {
    len.saturating_sub(INDEX_HEADER_LEN as u64) / SLOT_LEN
}

/// One slot: the frame offset (below 2^31, see `MAX_SEGMENT_LEN`) and the governance bit.
#[must_use]
pub fn encode_slot(offset: u64, governance: bool) -> [u8; 4] {
    // Segments are shorter than 2^31 bytes (the writer rotates before), so the offset fits.
    let off = u32::try_from(offset).unwrap_or(u32::MAX) & !GOVERNANCE_BIT;
    (off | if governance { GOVERNANCE_BIT } else { 0 }).to_le_bytes()
}

/// Reads a slot: (frame offset, governance bit).
#[must_use]
pub fn decode_slot(b: [u8; 4]) -> (u64, bool) {
    let v = u32::from_le_bytes(b);
    (u64::from(v & !GOVERNANCE_BIT), v & GOVERNANCE_BIT != 0)
}
