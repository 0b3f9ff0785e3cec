//! The one module that touches bincode, so the serializer can be swapped without hunting.
//!
//! Structured payloads (genesis, and the governance records) are bincode 2 with a fixed
//! configuration: fixed-width little-endian integers, `u64` length prefixes for strings and
//! sequences, `u32` enum variant indices, a `u8` tag for `Option`, and a hard size limit that
//! bounds every allocation the decoder makes. docs/FORMAT.md §6 spells the layout out and the
//! vectors pin it, so the bytes never depend on whatever a future bincode emits by default.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::DecodeError;

/// Largest structured payload accepted, in bytes (1 MiB).
pub const MAX_STRUCTURED_PAYLOAD: usize = 1 << 20;

/// The fixed layout, decoding at most `LIMIT` bytes.
fn config<const LIMIT: usize>() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<LIMIT>()
}

/// Encodes `value` in the fixed layout.
///
/// # Errors
/// [`DecodeError::Payload`] if the value cannot be encoded or exceeds the size limit.
pub fn encode<T: Serialize>(value: &T, context: &'static str) -> Result<Vec<u8>, DecodeError> {
    let bytes = bincode::serde::encode_to_vec(value, config::<MAX_STRUCTURED_PAYLOAD>()).map_err(|e| DecodeError::Payload {
        context,
        message: e.to_string(),
    })?;
    if bytes.len() > MAX_STRUCTURED_PAYLOAD {
        return Err(DecodeError::TooLong {
            context,
            len: bytes.len() as u64,
            max: MAX_STRUCTURED_PAYLOAD as u64,
        });
    }
    Ok(bytes)
}

/// Decodes exactly `bytes` (trailing bytes are an error) and checks that the value re-encodes
/// to the same bytes, so one value has one encoding.
///
/// # Errors
/// [`DecodeError::Payload`], [`DecodeError::TrailingBytes`] or [`DecodeError::Invalid`].
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], context: &'static str) -> Result<T, DecodeError> {
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(bytes, config::<MAX_STRUCTURED_PAYLOAD>()).map_err(|e| DecodeError::Payload {
            context,
            message: e.to_string(),
        })?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            context,
            count: (bytes.len() - used) as u64,
        });
    }
    if encode(&value, context)? != bytes {
        return Err(DecodeError::Invalid {
            context,
            reason: "non-canonical encoding",
        });
    }
    Ok(value)
}

/// Largest saved verifier state accepted, in bytes (256 MiB; an auditor's own file, see
/// [`crate::VerifierState`]).
pub const MAX_VERIFIER_STATE: usize = 256 << 20;

/// Encodes a verifier state (not a ledger format: never signed or hashed into the ledger,
/// and its maps are written in whatever order they iterate).
///
/// # Errors
/// [`DecodeError::Payload`] if it cannot be encoded or exceeds [`MAX_VERIFIER_STATE`].
pub fn encode_state<T: Serialize>(value: &T) -> Result<Vec<u8>, DecodeError> {
    bincode::serde::encode_to_vec(value, config::<MAX_VERIFIER_STATE>()).map_err(|e| DecodeError::Payload {
        context: "verifier state",
        message: e.to_string(),
    })
}

/// Decodes exactly `bytes` as a verifier state, allocating at most about twice its length
/// whatever its length fields claim.
///
/// # Errors
/// [`DecodeError::TooLong`], [`DecodeError::Payload`] or [`DecodeError::TrailingBytes`].
pub fn decode_state<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_VERIFIER_STATE {
        return Err(DecodeError::TooLong {
            context: "verifier state",
            len: bytes.len() as u64,
            max: MAX_VERIFIER_STATE as u64,
        });
    }
    // The decoder allocates what a length field claims once the claim fits its limit. No field
    // can hold more bytes than the input has, so the limit is the first power of two (from
    // 64 KiB) not below the input's length: a hostile length costs at most twice the input,
    // not `MAX_VERIFIER_STATE` (a 143-byte state body claiming a 256 MiB string aborted the
    // fuzz target `decode_records` under its allocation cap).
    macro_rules! by_size {
        ($($shift:literal)*) => {
            $(if bytes.len() <= 1 << $shift {
                bincode::serde::decode_from_slice(bytes, config::<{ 1 << $shift }>())
            } else)* {
                bincode::serde::decode_from_slice(bytes, config::<MAX_VERIFIER_STATE>())
            }
        };
    }
    let (value, used): (T, usize) =
        by_size!(16 17 18 19 20 21 22 23 24 25 26 27).map_err(|e| DecodeError::Payload {
            context: "verifier state",
            message: e.to_string(),
        })?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            context: "verifier state",
            count: (bytes.len() - used) as u64,
        });
    }
    Ok(value)
}
