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

    /// `H_label(input)` of every input: the same digests as [`Domain::hash`] of each, computed
    /// with SIMD across inputs (see [`many`]): for a few hundred bytes, several times faster
    /// than hashing them one by one.
    #[must_use]
    pub(crate) fn hash_each(self, inputs: &[&[u8]]) -> Vec<Digest> {
        many::keyed_hash_each(self.key(), inputs)
    }

    /// [`Domain::hash_each`] of the inputs that are there; `None` where an input is not.
    #[must_use]
    pub(crate) fn hash_each_present(self, inputs: &[Option<&[u8]>]) -> Vec<Option<Digest>> {
        let mut present: Vec<&[u8]> = Vec::with_capacity(inputs.len());
        present.extend(inputs.iter().flatten().copied());
        let mut digests = self.hash_each(&present).into_iter();
        inputs
            .iter()
            .map(|i| i.map(|_| digests.next().expect("one digest per present input")))
            .collect()
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
    many::keyed_hash_one_block(Domain::Chain.key(), &buf)
}

/// RFC 6962 leaf hash: `SHA-256(0x00 ‖ entry_hash)`.
#[must_use]
pub fn hash_leaf(entry_hash: &Digest) -> Digest {
    let mut block = [0u8; 64];
    block[0] = LEAF_PREFIX;
    block[1..=DIGEST_LEN].copy_from_slice(entry_hash.as_bytes());
    sha256_padded([block], 1 + DIGEST_LEN)
}

/// RFC 6962 interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn hash_node(left: &Digest, right: &Digest) -> Digest {
    let mut blocks = [[0u8; 64]; 2];
    blocks[0][0] = NODE_PREFIX;
    blocks[0][1..=DIGEST_LEN].copy_from_slice(left.as_bytes());
    blocks[0][1 + DIGEST_LEN..].copy_from_slice(&right.as_bytes()[..DIGEST_LEN - 1]);
    blocks[1][0] = right.as_bytes()[DIGEST_LEN - 1];
    sha256_padded(blocks, 1 + 2 * DIGEST_LEN)
}

/// SHA-256 of the `len`-byte message at the start of `blocks` (zero after it), padded here as
/// FIPS 180-4 §5.1.1 pads it (`0x80`, zeros, the bit length big-endian — SHA-256's own
/// encoding, not one of this crate's formats): the compressions alone, without the streaming
/// hasher's buffering, for the fixed-length leaf and node inputs — a sixth of a verifier's
/// work per entry. The padding must fit: `len ≤ 64·N − 9`.
#[allow(clippy::big_endian_bytes)]
fn sha256_padded<const N: usize>(mut blocks: [[u8; 64]; N], len: usize) -> Digest {
    const IV: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    let flat = blocks.as_flattened_mut();
    flat[len] = 0x80;
    let at = flat.len() - 8;
    flat[at..].copy_from_slice(&(8 * len as u64).to_be_bytes());
    let mut state = IV;
    let blocks = blocks.map(sha2::digest::generic_array::GenericArray::from);
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; DIGEST_LEN];
    for (w, o) in state.iter().zip(out.chunks_exact_mut(4)) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Digest(out)
}

/// The root of the empty tree, `SHA-256("")`.
#[must_use]
pub fn hash_empty() -> Digest {
    Digest(sha2::Sha256::digest([]).into())
}

/// BLAKE3 keyed hashes of many independent short inputs, with SIMD across inputs.
///
/// An input of at most one chunk (1,024 bytes) is a chain of 64-byte block compressions from the
/// key, all at chunk counter 0: `CHUNK_START` on the first block, `CHUNK_END | ROOT` on the last
/// (BLAKE3 §2.4–2.6). `blake3::Hasher` runs that chain alone, one block at a time, so its SIMD
/// lanes serve only inputs longer than a chunk. Here the whole blocks before each input's last
/// block — the same count for inputs of similar length — are compressed for up to 16 inputs at
/// once by the crate's own SIMD kernel (`Platform::hash_many`, the routine `Hasher` uses for
/// the chunks of one long input: it starts every lane from the key at counter 0 when told not
/// to increment the counter). Their last blocks, shorter than 64 bytes for nearly every input
/// and so beyond `hash_many`, are compressed 16 at a time by `lanes.rs` where the CPU has
/// AVX-512 (in a group of at least `SIMD_LAST_BLOCKS` inputs), else one by one.
///
/// `blake3::platform` is public but undocumented and exempt from semver (its doc says "for
/// benchmarks only"), so Cargo.toml holds blake3 to 1.8.x, and the tests here compare every
/// length from 0 to 1,100 bytes, in batches of every size up to 40, with `blake3::keyed_hash`.
/// Inputs longer than a chunk, or of one block or less, are hashed the usual way.
mod lanes;

mod many {
    use super::lanes::{self as last_blocks, Lanes};
    use super::Digest;
    use blake3::platform::Platform;
    use blake3::{IncrementCounter, BLOCK_LEN, CHUNK_LEN};

    // BLAKE3 domain flags (BLAKE3 spec §2.1, Table 3).
    const CHUNK_START: u8 = 1;
    const CHUNK_END: u8 = 1 << 1;
    const ROOT: u8 = 1 << 3;
    const KEYED_HASH: u8 = 1 << 4;
    /// Inputs compressed together at most (the AVX-512 degree; narrower SIMD takes them in
    /// turns inside `hash_many`).
    const LANES: usize = last_blocks::LANES;
    /// Zero bytes after the last prefix `hash_many` is given: more than the 48 it reads past a
    /// lane's last block (a whole block, so any vector load that starts inside the block ends
    /// inside the pad).
    const OVERREAD_PAD: usize = BLOCK_LEN;
    /// Inputs of one group from which their last blocks are compressed in one SIMD pass rather
    /// than one by one (the pass costs about two single compressions, plus ≈ 15 ns per lane
    /// to transpose: it wins from three inputs on).
    const SIMD_LAST_BLOCKS: usize = 4;

    pub(super) fn keyed_hash_each(key: &[u8; 32], inputs: &[&[u8]]) -> Vec<Digest> {
        const GROUPS: usize = CHUNK_LEN / BLOCK_LEN;
        let mut out = vec![Digest([0; 32]); inputs.len()];
        // Inputs grouped by the number of whole blocks before their last block (1 to 15), in
        // one vector (a counting sort: no vector per group growing input by input).
        let group_of = |input: &[u8]| (BLOCK_LEN < input.len() && input.len() <= CHUNK_LEN).then(|| (input.len() - 1) / BLOCK_LEN);
        let mut ends = [0usize; GROUPS];
        for (i, input) in inputs.iter().enumerate() {
            match group_of(input) {
                Some(g) => ends[g] += 1,
                None => out[i] = blake3::keyed_hash(key, input).into(),
            }
        }
        let mut at = 0;
        for e in &mut ends {
            at += *e;
            *e = at;
        }
        let mut starts = [0usize; GROUPS];
        starts[1..].copy_from_slice(&ends[..GROUPS - 1]);
        let mut order = vec![0usize; at];
        let mut next = starts;
        for (i, input) in inputs.iter().enumerate() {
            if let Some(g) = group_of(input) {
                order[next[g]] = i;
                next[g] += 1;
            }
        }
        let platform = Platform::detect();
        let key_words = words(key);
        let simd = last_blocks::simd();
        let mut last = Lanes::new();
        let mut cvs = [0u8; 32 * LANES];
        // Grown to what the largest group needs (at most 16 prefixes of 15 blocks and the pad).
        let mut staged = Vec::new();
        for (prefix_blocks, (&start, &end)) in starts.iter().zip(&ends).enumerate() {
            for lanes in order[start..end].chunks(LANES) {
                prefix_many(platform, prefix_blocks, inputs, lanes, &key_words, &mut cvs, &mut staged);
                if simd && lanes.len() >= SIMD_LAST_BLOCKS {
                    for (n, &i) in lanes.iter().enumerate() {
                        let cv = cvs[32 * n..32 * n + 32].try_into().expect("32 bytes");
                        last.set(n, cv, &inputs[i][prefix_blocks * BLOCK_LEN..]);
                    }
                    last_blocks::compress(&mut last, KEYED_HASH | CHUNK_END | ROOT);
                    for (n, &i) in lanes.iter().enumerate() {
                        out[i] = Digest(last.get(n));
                    }
                    continue;
                }
                for (n, &i) in lanes.iter().enumerate() {
                    let input = inputs[i];
                    let mut cv = words(cvs[32 * n..32 * n + 32].try_into().expect("32 bytes"));
                    let last = &input[prefix_blocks * BLOCK_LEN..];
                    let mut block = [0u8; BLOCK_LEN];
                    block[..last.len()].copy_from_slice(last);
                    #[allow(clippy::cast_possible_truncation)] // 1 ..= 64
                    let block_len = last.len() as u8;
                    platform.compress_in_place(&mut cv, &block, block_len, 0, KEYED_HASH | CHUNK_END | ROOT);
                    for (w, o) in cv.iter().zip(out[i].0.chunks_exact_mut(4)) {
                        o.copy_from_slice(&w.to_le_bytes());
                    }
                }
            }
        }
        out
    }

    /// The chaining values after the first `prefix_blocks` blocks of each input of `lanes`,
    /// into `cvs` (32 bytes per lane, in order).
    ///
    /// The prefixes are copied, back to back, into `staged` (grown as needed)
    /// and hashed from there: `hash_many`'s assembly loads whole 16-, 32- and 64-byte vectors
    /// at offsets within a lane's last block, so it reads up to 48 bytes past the `N` bytes it
    /// is given (the 4-way AVX-512 path; blake3 itself only ever hands it chunks followed by
    /// more input). From the callers' slices that read could cross into an unmapped page — the
    /// `hash_each` fuzz target crashed exactly so under AddressSanitizer. In `staged` it lands
    /// in the next lane's prefix or in the [`OVERREAD_PAD`] zero bytes after the last one.
    fn prefix_many(
        platform: Platform,
        prefix_blocks: usize,
        inputs: &[&[u8]],
        lanes: &[usize],
        key: &[u32; 8],
        cvs: &mut [u8; 32 * LANES],
        staged: &mut Vec<u8>,
    ) {
        macro_rules! run {
            ($($p:literal)*) => {
                match prefix_blocks {
                    $($p => {
                        const N: usize = $p * BLOCK_LEN;
                        let need = lanes.len() * N + OVERREAD_PAD;
                        if staged.len() < need {
                            staged.resize(need, 0);
                        }
                        for (k, &i) in lanes.iter().enumerate() {
                            staged[k * N..(k + 1) * N].copy_from_slice(&inputs[i][..N]);
                        }
                        staged[lanes.len() * N..lanes.len() * N + OVERREAD_PAD].fill(0);
                        let mut refs: [&[u8; N]; LANES] = [&[0; N]; LANES];
                        for (k, r) in refs.iter_mut().enumerate().take(lanes.len()) {
                            *r = staged[k * N..(k + 1) * N].try_into().expect("N bytes");
                        }
                        platform.hash_many(
                            &refs[..lanes.len()],
                            key,
                            0,
                            IncrementCounter::No,
                            KEYED_HASH,
                            CHUNK_START,
                            0,
                            &mut cvs[..32 * lanes.len()],
                        );
                    })*
                    _ => unreachable!("1 to 15 whole blocks precede the last block of a chunk"),
                }
            };
        }
        run!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    }

    /// The keyed hash of exactly one 64-byte block: its only compression, without
    /// `blake3::Hasher`'s buffering (the chain value is the one hash computed in ledger order,
    /// so what it costs is on every writer's and verifier's critical path; tested against
    /// `blake3::keyed_hash` below and by the vectors).
    pub(super) fn keyed_hash_one_block(key: &[u8; 32], block: &[u8; BLOCK_LEN]) -> Digest {
        let mut cv = words(key);
        Platform::detect().compress_in_place(&mut cv, block, 64, 0, KEYED_HASH | CHUNK_START | CHUNK_END | ROOT);
        let mut out = [0u8; 32];
        for (w, o) in cv.iter().zip(out.chunks_exact_mut(4)) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        Digest(out)
    }

    fn words(bytes: &[u8; 32]) -> [u32; 8] {
        let mut w = [0u32; 8];
        for (w, b) in w.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        w
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Every length from 0 to 1,100 bytes (whole blocks, partial blocks, one chunk and past
        /// it), in batches of every size up to 40 and of mixed lengths, equals
        /// `blake3::keyed_hash` of each input alone.
        #[test]
        fn one_block_equals_keyed_hash() {
            for seed in 0..64u8 {
                let key = [seed.wrapping_mul(7); 32];
                let block: [u8; BLOCK_LEN] = core::array::from_fn(|i| (i as u8).wrapping_mul(seed) ^ seed);
                assert_eq!(keyed_hash_one_block(&key, &block), Digest::from(blake3::keyed_hash(&key, &block)));
            }
        }

        #[test]
        fn equals_keyed_hash_of_each_input() {
            let key = [0x5a; 32];
            let data: Vec<u8> = (0..40 * 1100).map(|i: usize| (i.wrapping_mul(31) >> 3) as u8).collect();
            for len in 0..=1100 {
                let batch = 1 + len % 40;
                let inputs: Vec<&[u8]> = (0..batch).map(|j| &data[j * 1100..j * 1100 + len]).collect();
                let got = keyed_hash_each(&key, &inputs);
                for (j, input) in inputs.iter().enumerate() {
                    assert_eq!(got[j], Digest::from(blake3::keyed_hash(&key, input)), "length {len}, input {j}");
                }
            }
            // Mixed lengths in one call, in shuffled order.
            let lens: Vec<usize> = (0..300).map(|i| (i * 389 + 17) % 1100).collect();
            let inputs: Vec<&[u8]> = lens.iter().enumerate().map(|(j, &l)| &data[(j % 40) * 1100..(j % 40) * 1100 + l]).collect();
            let got = keyed_hash_each(&key, &inputs);
            for (j, input) in inputs.iter().enumerate() {
                assert_eq!(got[j], Digest::from(blake3::keyed_hash(&key, input)), "mixed, input {j}");
            }
        }

        /// Every input ends exactly where an unreadable page begins, in turn at every lane
        /// position of groups of every size: `hash_many`'s assembly reads up to 48 bytes past
        /// the prefix it is given, so hashing from the callers' slices would fault here (it
        /// did, under the `hash_each` fuzz target); the staged copies keep every read inside
        /// memory the crate owns, and the digests stay `blake3::keyed_hash`'s.
        #[cfg(unix)]
        #[test]
        #[allow(unsafe_code)] // mapping a guard page; nothing else
        fn inputs_ending_at_an_unreadable_page() {
            use rustix::mm::{mmap_anonymous, mprotect, MapFlags, MprotectFlags, ProtFlags};
            let page = rustix::param::page_size();
            // SAFETY: a fresh private anonymous mapping of two pages, used only through the
            // slice below (first page) and never unmapped while it lives (the test leaks it).
            let base = unsafe {
                mmap_anonymous(std::ptr::null_mut(), 2 * page, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
            }
            .expect("map two pages");
            // SAFETY: the second page of the mapping just made; nothing refers to it.
            unsafe { mprotect(base.cast::<u8>().add(page).cast(), page, MprotectFlags::empty()) }.expect("guard page");
            // SAFETY: the first page is mapped, readable and writable, and only this slice uses it.
            let first: &mut [u8] = unsafe { std::slice::from_raw_parts_mut(base.cast::<u8>(), page) };
            for (i, b) in first.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            let key = [0x3c; 32];
            let other: Vec<u8> = (0..1100).map(|i: usize| (i * 7) as u8).collect();
            // Lengths whose last block is short (1 or 9 bytes), for 1 to 15 whole blocks before it.
            for len in (1..=15).flat_map(|blocks| [blocks * BLOCK_LEN + 1, blocks * BLOCK_LEN + 9]) {
                let guarded = &first[page - len..];
                for group in 1..=LANES {
                    for at in 0..group {
                        let inputs: Vec<&[u8]> =
                            (0..group).map(|k| if k == at { guarded } else { &other[..len] }).collect();
                        let got = keyed_hash_each(&key, &inputs);
                        assert_eq!(got[at], Digest::from(blake3::keyed_hash(&key, guarded)), "length {len}, lane {at} of {group}");
                    }
                }
            }
        }

        proptest::proptest! {
            #![proptest_config(proptest::test_runner::Config::with_cases(64))]
            /// Random keys, contents and lengths (0 to 1,100 bytes, so groups of every block
            /// count, full or not) in random order: each digest equals `blake3::keyed_hash`, so
            /// the 16-lane pass never mixes lanes, keeps no stale words and misses no input.
            #[test]
            fn random_batches_equal_keyed_hash(
                key in proptest::array::uniform32(proptest::num::u8::ANY),
                inputs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..1100), 0..120),
            ) {
                let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
                let got = keyed_hash_each(&key, &refs);
                proptest::prop_assert_eq!(got.len(), refs.len());
                for (j, input) in refs.iter().enumerate() {
                    proptest::prop_assert_eq!(got[j], Digest::from(blake3::keyed_hash(&key, input)), "input {}", j);
                }
            }
        }
    }
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
    fn merkle_hashes_are_sha256_of_their_rfc_6962_inputs() {
        for seed in 0..200u8 {
            let a = Digest::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(seed) ^ seed));
            let b = Digest::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_add(seed).rotate_left(3)));
            let leaf: [u8; 32] = sha2::Sha256::new().chain_update([0x00]).chain_update(a.0).finalize().into();
            assert_eq!(hash_leaf(&a).0, leaf);
            let node: [u8; 32] = sha2::Sha256::new()
                .chain_update([0x01])
                .chain_update(a.0)
                .chain_update(b.0)
                .finalize()
                .into();
            assert_eq!(hash_node(&a, &b).0, node);
        }
        // RFC 6962's empty-tree root, and the leaf of an all-zero entry hash (Python's
        // hashlib.sha256(bytes(33))).
        assert_eq!(hash_empty().to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            hash_leaf(&Digest::ZERO).to_hex(),
            "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"
        );
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
