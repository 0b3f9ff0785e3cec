//! Digests and every hash the format uses, each in its own named domain (docs/FORMAT.md §2).
//!
//! Two hash functions, each for what it does best:
//!
//! * **BLAKE3**, in keyed mode under a public per-domain key, for everything about an entry's
//!   content and place: payload commitments, statements, entry hashes, chain values, key ids.
//!   `K(label) = BLAKE3-derive_key("provledger v2 domain key", label)` and
//!   `H_label(m) = BLAKE3-keyed_hash(K(label), m)`; the keys are computed once per process.
//! * **SHA-256** for the Merkle tree, exactly RFC 6962 / RFC 9162 (`0x00` leaf and `0x01` node
//!   prefixes), so checkpoints are standard C2SP tlog checkpoints.

use core::fmt;
use core::str::FromStr;
use std::sync::LazyLock;

use sha2::Digest as _;

/// The `derive_key` context from which every BLAKE3 domain key is derived.
pub const DOMAIN_KEY_CONTEXT: &str = "provledger v2 domain key";
/// RFC 9162 §2.1 prefix of a Merkle leaf hash input.
pub const LEAF_PREFIX: u8 = 0x00;
/// RFC 9162 §2.1 prefix of a Merkle interior-node hash input.
pub const NODE_PREFIX: u8 = 0x01;

/// A BLAKE3 hash domain of the format: each has its own public key, derived from its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Salted payload commitments: `H_payload(salt ‖ payload)`.
    Payload,
    /// Statement digests, what co-signers sign: `H_statement(S)`.
    Statement,
    /// Entry hashes: `H_entry(seq ‖ S ‖ A)`.
    Entry,
    /// Chain values: `H_chain(L_prev ‖ E)`.
    Chain,
    /// Key identifiers: `H_key_id(public key)`.
    KeyId,
    /// The writer's seal key: `H_seal_key(signature)`.
    SealKey,
    /// Policy digests, which name a policy in reports: `H_policy(policy encoding)`.
    Policy,
}

impl Domain {
    /// Every domain, in the order of docs/FORMAT.md §2.1.
    pub const ALL: [Domain; 7] = [
        Domain::Payload,
        Domain::Statement,
        Domain::Entry,
        Domain::Chain,
        Domain::KeyId,
        Domain::SealKey,
        Domain::Policy,
    ];

    /// The domain's label, the key-derivation material.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Domain::Payload => "payload",
            Domain::Statement => "statement",
            Domain::Entry => "entry",
            Domain::Chain => "chain",
            Domain::KeyId => "key id",
            Domain::SealKey => "seal key",
            Domain::Policy => "policy",
        }
    }

    /// The domain's public 32-byte BLAKE3 key.
    #[must_use]
    pub fn key(self) -> &'static [u8; 32] {
        static KEYS: LazyLock<[[u8; 32]; 7]> =
            LazyLock::new(|| Domain::ALL.map(|d| blake3::derive_key(DOMAIN_KEY_CONTEXT, d.label().as_bytes())));
        &KEYS[self as usize]
    }

    /// `H_label(input)`: BLAKE3 keyed with the domain key.
    #[must_use]
    pub fn hash(self, input: &[u8]) -> Digest {
        blake3::keyed_hash(self.key(), input).into()
    }

    /// `H_label(parts[0] ‖ parts[1] ‖ …)`.
    #[must_use]
    pub fn hash_parts(self, parts: &[&[u8]]) -> Digest {
        let mut h = blake3::Hasher::new_keyed(self.key());
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}

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

/// Plain comparison: digests are public values (hashes, roots, key ids). Secret-dependent
/// comparisons (the seal tag) use `subtle` where they are made.
impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
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

/// The chain value after an entry: `H_chain(prev ‖ entry_hash)`, one BLAKE3 compression.
#[must_use]
pub fn chain_value(prev: &Digest, entry_hash: &Digest) -> Digest {
    let mut buf = [0u8; 2 * DIGEST_LEN];
    buf[..DIGEST_LEN].copy_from_slice(prev.as_bytes());
    buf[DIGEST_LEN..].copy_from_slice(entry_hash.as_bytes());
    Domain::Chain.hash(&buf)
}

/// RFC 6962 leaf hash: `SHA-256(0x00 ‖ entry_hash)`.
#[must_use]
pub fn hash_leaf(entry_hash: &Digest) -> Digest {
    let mut buf = [0u8; 1 + DIGEST_LEN];
    buf[0] = LEAF_PREFIX;
    buf[1..].copy_from_slice(entry_hash.as_bytes());
    Digest(sha2::Sha256::digest(buf).into())
}

/// RFC 6962 interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn hash_node(left: &Digest, right: &Digest) -> Digest {
    let mut buf = [0u8; 1 + 2 * DIGEST_LEN];
    buf[0] = NODE_PREFIX;
    buf[1..=DIGEST_LEN].copy_from_slice(left.as_bytes());
    buf[1 + DIGEST_LEN..].copy_from_slice(right.as_bytes());
    Digest(sha2::Sha256::digest(buf).into())
}

/// The root of the empty tree, `SHA-256("")`.
#[must_use]
pub fn hash_empty() -> Digest {
    Digest(sha2::Sha256::digest([]).into())
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
    fn keyed_domains_match_their_definition() {
        for d in Domain::ALL {
            let key = blake3::derive_key("provledger v2 domain key", d.label().as_bytes());
            assert_eq!(d.key(), &key);
            let want = Digest::from(blake3::keyed_hash(&key, b"abc"));
            assert_eq!(d.hash(b"abc"), want, "{d:?}");
            assert_eq!(d.hash_parts(&[b"a", b"bc"]), want, "{d:?}");
        }
        let p = Digest::from_bytes([1; 32]);
        let e = Digest::from_bytes([2; 32]);
        assert_eq!(
            chain_value(&p, &e),
            Domain::Chain.hash_parts(&[p.as_bytes(), e.as_bytes()])
        );
    }

    #[test]
    fn merkle_hashes_are_rfc6962_sha256() {
        // RFC 6962 empty-tree root, and a leaf/node recomputed with plain SHA-256.
        assert_eq!(
            hash_empty().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let e = Digest::from_bytes([7; 32]);
        let mut leaf_in = vec![0u8];
        leaf_in.extend_from_slice(&[7; 32]);
        assert_eq!(
            hash_leaf(&e).to_bytes(),
            <[u8; 32]>::from(sha2::Sha256::digest(&leaf_in))
        );
        let mut node_in = vec![1u8];
        node_in.extend_from_slice(&[7; 32]);
        node_in.extend_from_slice(&[7; 32]);
        assert_eq!(
            hash_node(&e, &e).to_bytes(),
            <[u8; 32]>::from(sha2::Sha256::digest(&node_in))
        );
    }

    #[test]
    fn domains_differ() {
        let a = Domain::Entry.hash(b"x");
        let b = Domain::Statement.hash(b"x");
        assert_ne!(a, b);
        assert_ne!(hash_leaf(&a), hash_node(&a, &a));
    }
}
