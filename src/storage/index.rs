//! Index files: for each segment, the byte offset of every frame, so entry `seq` is found with
//! one 8-byte read. Index files are derived data: rebuilt from the segment when missing or
//! inconsistent, and cross-checked by `verify`.
//!
//! ```text
//! index header (48 bytes)                     then, for each entry of the segment:
//! 0   8   magic "PLEDGIDX"                      u64 offset of its frame in the segment
//! 8   2   format version (1)
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

/// Byte position of the `i`-th offset in an index file; `None` if it would not fit in a
/// `u64` (no index can hold that slot).
#[must_use]
pub fn slot(i: u64) -> Option<u64> {
    i.checked_mul(8)?.checked_add(INDEX_HEADER_LEN as u64)
}

/// Number of complete offsets in an index file of `len` bytes.
#[must_use]
pub fn count(len: u64) -> u64 {
    len.saturating_sub(INDEX_HEADER_LEN as u64) / 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_checked_not_wrapped() {
        assert_eq!(slot(0), Some(48));
        assert_eq!(slot(3), Some(72));
        assert_eq!(slot(u64::MAX / 8 - 6), Some(u64::MAX - 7));
        assert_eq!(slot(u64::MAX / 8 - 5), None);
        assert_eq!(slot(u64::MAX), None);
    }
}
