//! Digests and every hash the format uses, each in its own named domain.
//!
//! All hashes are BLAKE3. Entry, statement, payload and key-id hashes use BLAKE3's
//! `derive_key` mode with the context strings below, so a digest from one domain can never be
//! mistaken for one from another. Merkle leaves and nodes follow RFC 9162 §2.1 with BLAKE3 in
//! place of SHA-256: a one-byte prefix (`0x00` leaf, `0x01` node) in front of plain BLAKE3.
//! docs/FORMAT.md is the normative description; this module is its implementation.

use core::fmt;
use core::str::FromStr;

use subtle::ConstantTimeEq;

/// `derive_key` context for entry hashes (the chain links).
pub const ENTRY_CONTEXT: &str = "provledger v1 entry";
/// `derive_key` context for statement digests (what authors sign).
pub const STATEMENT_CONTEXT: &str = "provledger v1 statement";
/// `derive_key` context for salted payload commitments.
pub const PAYLOAD_CONTEXT: &str = "provledger v1 payload";
/// `derive_key` context for key identifiers.
pub const KEY_ID_CONTEXT: &str = "provledger v1 key id";
/// RFC 9162 §2.1 prefix of a Merkle leaf hash input.
pub const LEAF_PREFIX: u8 = 0x00;
/// RFC 9162 §2.1 prefix of a Merkle interior-node hash input.
pub const NODE_PREFIX: u8 = 0x01;

/// Length of a [`Digest`] in bytes.
pub const DIGEST_LEN: usize = 32;

/// A 32-byte BLAKE3 output.
///
/// Equality is constant-time. `Display` and `FromStr` use lowercase hexadecimal.
///
/// ```
/// use provledger::Digest;
/// let d = Digest::from_bytes([0xab; 32]);
/// let text = d.to_string();
/// assert_eq!(text.len(), 64);
/// assert_eq!(text.parse::<Digest>()?, d);
/// # Ok::<_, provledger::Error>(())
/// ```
// `Hash` is derived over the same bytes that the constant-time `PartialEq` compares.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Copy, Eq, Hash, Default)]
pub struct Digest([u8; DIGEST_LEN]);

impl Digest {
    /// The all-zero digest: the `prev` link of the genesis entry.
    pub const ZERO: Digest = Digest([0; DIGEST_LEN]);

    /// Wraps raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        Digest(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// Copies out the raw bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; DIGEST_LEN] {
        self.0
    }

    /// Lowercase hexadecimal, as used in JSON and on the command line.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 64 hexadecimal digits (either case).
    ///
    /// # Errors
    /// [`ParseDigestError`] if the text is not exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, ParseDigestError> {
        let mut out = [0u8; DIGEST_LEN];
        hex_decode_into(text, &mut out)?;
        Ok(Digest(out))
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl FromStr for Digest {
    type Err = ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::from_hex(s)
    }
}

/// Hex in human-readable formats (JSON), 32 raw bytes in binary ones (bincode).
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(&self.0, s)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        hex32::deserialize(d).map(Digest)
    }
}

/// serde for `[u8; 32]` fields: lowercase hex in human-readable formats (JSON), the 32 raw
/// bytes in binary formats (bincode), so JSON stays readable and the binary layout compact.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes 32 bytes.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&super::hex_encode(bytes))
        } else {
            bytes.serialize(s)
        }
    }

    /// Deserializes 32 bytes.
    ///
    /// # Errors
    /// The deserializer's, or a message for bad hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        if d.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            let mut out = [0u8; 32];
            super::hex_decode_into(&s, &mut out).map_err(serde::de::Error::custom)?;
            Ok(out)
        } else {
            <[u8; 32]>::deserialize(d)
        }
    }
}

impl From<blake3::Hash> for Digest {
    fn from(h: blake3::Hash) -> Self {
        Digest(*h.as_bytes())
    }
}

/// Text that is not the expected number of hexadecimal digits was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected hexadecimal digits of the right length")]
pub struct ParseDigestError;

/// Lowercase hexadecimal of `bytes`.
#[must_use]
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes hexadecimal into `out`, which must be exactly half the text's length.
///
/// # Errors
/// [`ParseDigestError`] on a wrong length or a non-hex character.
pub fn hex_decode_into(text: &str, out: &mut [u8]) -> Result<(), ParseDigestError> {
    let t = text.as_bytes();
    if t.len() != out.len() * 2 {
        return Err(ParseDigestError);
    }
    for (o, pair) in out.iter_mut().zip(t.chunks_exact(2)) {
        *o = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Ok(())
}

fn hex_val(c: u8) -> Result<u8, ParseDigestError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(ParseDigestError),
    }
}

/// BLAKE3 `derive_key(context, parts[0] ‖ parts[1] ‖ …)`.
///
/// The four contexts of the format start from a hasher prepared once (the context string is
/// hashed a single time per process); any other context is prepared on each call.
#[must_use]
pub fn derive(context: &str, parts: &[&[u8]]) -> Digest {
    let mut h = prepared(context).unwrap_or_else(|| blake3::Hasher::new_derive_key(context));
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A clone of the prepared `derive_key` hasher of one of the format's contexts.
fn prepared(context: &str) -> Option<blake3::Hasher> {
    use std::sync::LazyLock;
    static HASHERS: LazyLock<[(&str, blake3::Hasher); 4]> = LazyLock::new(|| {
        [ENTRY_CONTEXT, STATEMENT_CONTEXT, PAYLOAD_CONTEXT, KEY_ID_CONTEXT]
            .map(|c| (c, blake3::Hasher::new_derive_key(c)))
    });
    HASHERS
        .iter()
        .find(|(c, _)| core::ptr::eq(*c, context) || *c == context)
        .map(|(_, h)| h.clone())
}

/// RFC 9162 leaf hash: `BLAKE3(0x00 ‖ entry_hash)`.
#[must_use]
pub fn hash_leaf(entry_hash: &Digest) -> Digest {
    let mut buf = [0u8; 1 + DIGEST_LEN];
    buf[0] = LEAF_PREFIX;
    buf[1..].copy_from_slice(entry_hash.as_bytes());
    blake3::hash(&buf).into()
}

/// RFC 9162 interior node hash: `BLAKE3(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn hash_node(left: &Digest, right: &Digest) -> Digest {
    let mut buf = [0u8; 1 + 2 * DIGEST_LEN];
    buf[0] = NODE_PREFIX;
    buf[1..=DIGEST_LEN].copy_from_slice(left.as_bytes());
    buf[1 + DIGEST_LEN..].copy_from_slice(right.as_bytes());
    blake3::hash(&buf).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let d = Digest::from_bytes(core::array::from_fn(|i| u8::try_from(i).unwrap_or(0)));
        assert_eq!(Digest::from_hex(&d.to_hex()), Ok(d));
        assert_eq!(Digest::from_hex(&d.to_hex().to_uppercase()), Ok(d));
        assert!(Digest::from_hex("00").is_err());
        assert!(Digest::from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn prepared_hashers_match_fresh_ones() {
        for c in [
            ENTRY_CONTEXT,
            STATEMENT_CONTEXT,
            PAYLOAD_CONTEXT,
            KEY_ID_CONTEXT,
            "other context",
        ] {
            let mut fresh = blake3::Hasher::new_derive_key(c);
            fresh.update(b"abc");
            assert_eq!(derive(c, &[b"a", b"bc"]), Digest::from(fresh.finalize()), "{c}");
        }
    }

    #[test]
    fn domains_differ() {
        let a = derive(ENTRY_CONTEXT, &[b"x"]);
        let b = derive(STATEMENT_CONTEXT, &[b"x"]);
        assert_ne!(a, b);
        assert_ne!(hash_leaf(&a), hash_node(&a, &a));
    }
}
