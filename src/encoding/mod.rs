//! Pure byte layout: a borrowing [`Reader`] that checks every length before it allocates and
//! rejects trailing bytes, and the matching `put_*` writers. No I/O happens here.
//!
//! All integers are fixed-width little-endian (docs/FORMAT.md §1).

pub(crate) mod serde_codec;

#[cfg(feature = "test-util")]
pub use serde_codec::MAX_STRUCTURED_PAYLOAD;

use crate::error::DecodeError;

/// A cursor over a byte slice. Every read is bounds-checked and returns
/// [`DecodeError::Truncated`] rather than panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    context: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`; `context` names the structure in error messages.
    #[must_use]
    pub fn new(bytes: &'a [u8], context: &'static str) -> Self {
        Reader { bytes, pos: 0, context }
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                context: self.context,
                need: n as u64,
                have: self.remaining() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer bytes remain.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] at the end of input.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u16`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 2 bytes remain.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 8 bytes remain.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a count and checks it against `max` before anything is allocated for it.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] if the count exceeds `max`.
    pub fn bounded(count: u64, max: u64, field: &'static str) -> Result<usize, DecodeError> {
        if count > max {
            return Err(DecodeError::TooLong {
                context: field,
                len: count,
                max,
            });
        }
        usize::try_from(count).map_err(|_| DecodeError::TooLong {
            context: field,
            len: count,
            max,
        })
    }

    /// Ends decoding: fails if any byte is left over.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] when bytes remain.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes {
                context: self.context,
                count: n as u64,
            }),
        }
    }
}

/// Appends a little-endian `u16`.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u32`.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u64`.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// CRC-32C (Castagnoli) of `parts` concatenated: the torn-write check of frames and headers.
/// It detects accidental damage only; integrity comes from the hash chain.
#[must_use]
pub fn crc(parts: &[&[u8]]) -> u32 {
    parts.iter().fold(0, |acc, p| crc32c::crc32c_append(acc, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reads_le_and_rejects_trailing() {
        let mut buf = Vec::new();
        put_u16(&mut buf, 0x0102);
        put_u32(&mut buf, 0x0304_0506);
        put_u64(&mut buf, 7);
        assert_eq!(&buf[..2], &[0x02, 0x01]);
        let mut r = Reader::new(&buf, "t");
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.array::<4>().map(u32::from_le_bytes), Ok(0x0304_0506));
        assert_eq!(
            r.clone().finish(),
            Err(DecodeError::TrailingBytes { context: "t", count: 8 })
        );
        assert_eq!(r.u64(), Ok(7));
        assert_eq!(
            r.u8(),
            Err(DecodeError::Truncated {
                context: "t",
                need: 1,
                have: 0
            })
        );
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn bounded_rejects_before_allocating() {
        assert!(matches!(
            Reader::bounded(u64::MAX, 10, "n"),
            Err(DecodeError::TooLong {
                len: u64::MAX,
                max: 10,
                ..
            })
        ));
        assert_eq!(Reader::bounded(10, 10, "n"), Ok(10));
    }
}
