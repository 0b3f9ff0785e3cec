//! Witnesses: independent parties that cosign a ledger's checkpoints after checking that each
//! one extends the last they cosigned, so that an operator cannot show two histories (a split
//! view) without one of them lacking the witnesses' cosignatures.
//!
//! Everything here is the C2SP transparency-log witness ecosystem as it is, applied to the
//! ledger's checkpoints (C2SP `tlog-checkpoint` signed notes, docs/FORMAT.md §11):
//!
//! * A **cosignature** is a C2SP `tlog-cosignature` Ed25519 `cosignature/v1` note signature
//!   line ([`Cosignature`]), by a witness identified by a name and a key ([`WitnessKey`],
//!   written as a C2SP verifier key, signature type `0x04`).
//! * A **witness** ([`Witness`]) keeps, per log origin, the last checkpoint it cosigned, and
//!   answers a C2SP `tlog-witness` *add-checkpoint* request ([`AddCheckpoint`]: the old size, a
//!   consistency proof, the new checkpoint note) with a cosignature, or refuses it.
//! * A **verifier** requires K cosignatures by distinct trusted witnesses on a checkpoint
//!   ([`WitnessPolicy::check`], giving [`Witnessed`]).
//!
//! The bytes a cosignature signs (docs/FORMAT.md §16) are
//!
//! ```text
//! cosignature/v1\n
//! time <witness time, seconds since the Unix epoch, decimal>\n
//! <the checkpoint note body: origin, size, root and `time` lines, each ending in \n>
//! ```
//!
//! A witness follows a ledger, cosigns its checkpoints, and a verifier requires the
//! cosignature:
//!
//! ```
//! use provledger::witness::{AddCheckpoint, LogKey, Witness, WitnessKey, WitnessPolicy};
//! use provledger::{Draft, Ledger, LedgerReader, Options, SigningKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let operator = SigningKey::generate()?;
//! let ledger = Ledger::create(dir.path().join("ledger"), &operator, "payments", Options::default())?;
//! let first = ledger.checkpoint()?;
//!
//! let witness_secret = SigningKey::generate()?;
//! let witness_key = WitnessKey::new("witness.example/w1", witness_secret.verifying_key())?;
//! let log = LogKey::new(ledger.ledger_id(), operator.verifying_key());
//! let witness = Witness::new(dir.path().join("witness"), witness_key.clone(), witness_secret, vec![log])?;
//! witness.add_checkpoint(&AddCheckpoint::initial(&first, &operator.verifying_key()))?;
//!
//! ledger.append(Draft::application("text/plain", b"hello".to_vec()))?;
//! let newer = ledger.checkpoint()?;
//! let proof = LedgerReader::open(&dir.path().join("ledger"))?
//!     .consistency_proof(first.tree_size, Some(newer.tree_size))?;
//! let cosigned = witness.add_checkpoint(&AddCheckpoint::from_proof(&proof, &operator.verifying_key())?)?;
//! let note = newer.to_note(&operator.verifying_key()) + &cosigned.line();
//!
//! let policy = WitnessPolicy::new(vec![witness_key], 1)?;
//! let witnessed = policy.check(&newer, &note)?;
//! assert_eq!(witnessed.cosigners[0].name, "witness.example/w1");
//! # ledger.close()?;
//! # Ok(())
//! # }
//! ```

mod note;
mod request;
mod state;

use core::fmt;
use core::str::FromStr;

use base64ct::{Base64, Encoding};
use sha2::{Digest as _, Sha256};

use crate::checkpoint::Checkpoint;
use crate::entry::LedgerId;
use crate::keys::{Signer, VerifyingKey, PUBLIC_KEY_LEN, SIGNATURE_LEN};

pub use crate::checkpoint::MAX_NOTE_LEN;
pub use note::{CheckpointText, SignedNote};
pub use note::{SignatureLine, MAX_SIGNATURE_LINES};
pub use request::{AddCheckpoint, MAX_PROOF_LINES, MAX_REQUEST_LEN};
pub use state::{CosignError, Cosigned, Evidence, Refusal, Witness};

/// The C2SP signature type byte of an Ed25519 `cosignature/v1` key (`tlog-cosignature`).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;
/// The C2SP signature type byte of a plain Ed25519 note key (`signed-note`), as the operator's
/// checkpoint signature uses.
pub const ED25519_NOTE_TYPE: u8 = 0x01;
/// The first line of every cosigned message, with its line feed.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";
/// Bytes a cosignature line carries after base64 decoding: key hash (4), timestamp (8),
/// Ed25519 signature (64).
pub const COSIGNATURE_LEN: usize = 4 + 8 + SIGNATURE_LEN;
/// Largest cosignature timestamp (C2SP: at most 2^63 − 1).
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;
/// Longest witness or log name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why a witness key, a note or a cosignature was not accepted, or a checkpoint lacks the
/// cosignatures a policy requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A key name is empty, too long, or holds a space, a plus sign or a control character.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier key string (`name+hash+base64`) is malformed, of another type, or its hash
    /// does not match its name and key.
    #[error("invalid verifier key: {0}")]
    InvalidVkey(String),
    /// A signed note, checkpoint text or signature line is malformed.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// The note is longer than [`MAX_NOTE_LEN`] or has too many signatures.
    #[error("note too long: {0}")]
    NoteTooLong(String),
    /// An add-checkpoint request is malformed, or cannot be built.
    #[error("malformed add-checkpoint request: {0}")]
    MalformedRequest(String),
    /// A signature line names a trusted witness (name and key hash) but does not verify.
    #[error("the cosignature by trusted witness {witness} does not verify")]
    BadCosignature {
        /// The witness's name.
        witness: String,
    },
    /// The note's body is not the body of the checkpoint it was to cosign.
    #[error("the cosigned note is of another checkpoint (its body differs from the checkpoint's)")]
    OtherCheckpoint,
    /// Fewer distinct trusted witnesses cosigned than the policy requires.
    #[error("{valid} valid cosignature(s) by distinct trusted witnesses, {required} required")]
    TooFewCosignatures {
        /// Distinct trusted witnesses with a valid cosignature.
        valid: usize,
        /// The policy's minimum.
        required: usize,
    },
    /// A policy that can never be met (K = 0, or K above the number of distinct keys).
    #[error("invalid witness policy: {0}")]
    InvalidPolicy(String),
    /// The timestamp is above [`MAX_COSIGNATURE_TIME`].
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampTooLarge(u64),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(String),
}

/// Whether `name` may be a C2SP key name: non-empty, at most [`MAX_NAME_LEN`] bytes, no Unicode
/// space, no `+`, no control character.
///
/// # Errors
/// [`WitnessError::InvalidName`] saying why not.
pub fn check_name(name: &str) -> Result<(), WitnessError> {
    let bad = |reason| {
        Err(WitnessError::InvalidName {
            name: name.chars().take(MAX_NAME_LEN).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 255 bytes");
    }
    if name.chars().any(char::is_whitespace) {
        return bad("contains a space");
    }
    if name.contains('+') {
        return bad("contains a plus sign");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    Ok(())
}

/// The C2SP key hash: the first 4 bytes of `SHA-256(name ‖ 0x0A ‖ type ‖ public key)`.
#[must_use]
pub fn key_hash(name: &str, signature_type: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', signature_type]);
    h.update(key.to_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A witness's public identity: its name and Ed25519 key, as a `cosignature/v1` cosigner.
///
/// Written as a C2SP verifier key `<name>+<hex key hash>+<base64(0x04 ‖ public key)>`
/// ([`WitnessKey::vkey`], `Display`, `FromStr`). Parsing also takes a type `0x01` verifier
/// key of the same name and public key (some witness lists publish those) and treats it as
/// the `0x04` key.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key: VerifyingKey,
    hash: [u8; 4],
}

impl WitnessKey {
    /// A witness key from its name and public key.
    ///
    /// # Errors
    /// [`WitnessError::InvalidName`] if `name` cannot be a C2SP key name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, WitnessError> {
        check_name(name)?;
        Ok(WitnessKey {
            name: name.to_owned(),
            key,
            hash: key_hash(name, COSIGNATURE_V1_TYPE, &key),
        })
    }

    /// The witness's name (the name on its cosignature lines).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's public key.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
    }

    /// The key hash on its cosignature lines: `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[..4]`.
    #[must_use]
    pub fn key_hash(&self) -> [u8; 4] {
        self.hash
    }

    /// The C2SP verifier key string, signature type `0x04`.
    #[must_use]
    pub fn vkey(&self) -> String {
        vkey_string(&self.name, COSIGNATURE_V1_TYPE, &self.key)
    }

    /// Which form of the signed message `c` verifies over, if any: the whole `body` (the
    /// C2SP form) or, when the body has extension lines, its first three lines (the form of
    /// `cosignature/v1` before the 2023 change to sign the whole checkpoint, see
    /// [`Covers::FirstThreeLines`]). `None` if it is not a valid
    /// cosignature of `body` by this key (name, key hash, timestamp bound, signature).
    #[must_use]
    pub fn verify(&self, body: &str, c: &Cosignature) -> Option<Covers> {
        if c.name != self.name || c.key_hash != self.hash || c.timestamp > MAX_COSIGNATURE_TIME {
            return None;
        }
        if self.key.verify(&signed_message(body, c.timestamp), &c.signature) {
            return Some(Covers::WholeBody);
        }
        CheckpointText::parse(body).ok()?;
        // The body's own first three lines, byte for byte (the parse above checked there are
        // at least three).
        let end = body.match_indices('\n').nth(2)?.0 + 1;
        let first3 = &body[..end];
        (end < body.len() && self.key.verify(&signed_message(first3, c.timestamp), &c.signature))
            .then_some(Covers::FirstThreeLines)
    }
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessKey({})", self.vkey())
    }
}

impl fmt::Display for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vkey())
    }
}

impl FromStr for WitnessKey {
    type Err = WitnessError;
    fn from_str(s: &str) -> Result<Self, WitnessError> {
        let (name, signature_type, key) = parse_vkey(s.trim())?;
        if signature_type != COSIGNATURE_V1_TYPE && signature_type != ED25519_NOTE_TYPE {
            return Err(WitnessError::InvalidVkey(format!(
                "signature type 0x{signature_type:02x}; a witness key is type 0x04 (or 0x01)"
            )));
        }
        WitnessKey::new(&name, key)
    }
}

/// A log (ledger) a witness follows: its origin (`provledger/<ledger id>`) and one operator
/// key trusted to sign its checkpoints. Written as the verifier key `provledger checkpoint`
/// prints (`<origin>+<hex key hash>+<base64(0x01 ‖ public key)>`).
#[derive(Clone, PartialEq, Eq)]
pub struct LogKey {
    origin: String,
    key: VerifyingKey,
}

impl LogKey {
    /// The log of ledger `ledger_id` with checkpoints signed by `key`.
    #[must_use]
    pub fn new(ledger_id: LedgerId, key: VerifyingKey) -> Self {
        LogKey {
            origin: crate::checkpoint::origin(ledger_id),
            key,
        }
    }

    /// The log's origin line.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The operator key.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
    }
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogKey({})", vkey_string(&self.origin, ED25519_NOTE_TYPE, &self.key))
    }
}

impl fmt::Display for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&vkey_string(&self.origin, ED25519_NOTE_TYPE, &self.key))
    }
}

impl FromStr for LogKey {
    type Err = WitnessError;
    fn from_str(s: &str) -> Result<Self, WitnessError> {
        let (origin, signature_type, key) = parse_vkey(s.trim())?;
        if signature_type != ED25519_NOTE_TYPE {
            return Err(WitnessError::InvalidVkey(format!(
                "signature type 0x{signature_type:02x}; a ledger's checkpoint key is type 0x01"
            )));
        }
        let id = origin
            .strip_prefix("provledger/")
            .and_then(|h| h.parse::<LedgerId>().ok())
            .ok_or_else(|| WitnessError::InvalidVkey("the name is not provledger/<ledger id>".into()))?;
        Ok(LogKey::new(id, key))
    }
}

fn vkey_string(name: &str, signature_type: u8, key: &VerifyingKey) -> String {
    let mut k = vec![signature_type];
    k.extend_from_slice(&key.to_bytes());
    let hash = crate::hash::hex_encode(&key_hash(name, signature_type, key));
    format!("{name}+{hash}+{}", Base64::encode_string(&k))
}

/// Splits and checks a verifier key: (name, signature type, validated public key).
fn parse_vkey(s: &str) -> Result<(String, u8, VerifyingKey), WitnessError> {
    let bad = |why: &str| WitnessError::InvalidVkey(why.to_owned());
    // The name holds no `+` and the hash is hex; the base64 key may hold `+`.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hash_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected <name>+<8 hex digits>+<base64 key>"));
    };
    check_name(name)?;
    let mut hash = [0u8; 4];
    if hash_hex.len() != 8 || crate::hash::hex_decode_into(hash_hex, &mut hash).is_err() {
        return Err(bad("the key hash is not 8 hexadecimal digits"));
    }
    let raw = Base64::decode_vec(b64).map_err(|_| bad("the key is not base64"))?;
    let Some((&signature_type, key)) = raw.split_first() else {
        return Err(bad("the key is empty"));
    };
    let key: [u8; PUBLIC_KEY_LEN] = key
        .try_into()
        .map_err(|_| bad("not an Ed25519 key (32 bytes after the type byte)"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| WitnessError::InvalidVkey(e.to_string()))?;
    if key_hash(name, signature_type, &key) != hash {
        return Err(bad("the key hash does not match the name and key"));
    }
    Ok((name.to_owned(), signature_type, key))
}

/// The message a `cosignature/v1` signature signs: the header line, the time line, then the
/// checkpoint body (which ends with a line feed).
#[must_use]
pub fn signed_message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n{body}").into_bytes()
}

/// Which bytes of the checkpoint body a cosignature covers (see [`WitnessKey::verify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Covers {
    /// The whole body, extension lines included (C2SP `tlog-cosignature` v1.0.x; what
    /// provledger witnesses sign).
    WholeBody,
    /// The origin, size and root lines only: `cosignature/v1` as first specified (Sigsum's
    /// wording before its November 2023 proposal to cosign the whole checkpoint). The
    /// statement is the same (a witness vouches for the first three lines only); older
    /// witnesses may still sign this form.
    FirstThreeLines,
}

/// One timestamped `cosignature/v1` signature line:
/// `— <name> base64(key hash ‖ timestamp (u64 big-endian) ‖ Ed25519 signature)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's name.
    pub name: String,
    /// The witness's key hash ([`WitnessKey::key_hash`]).
    pub key_hash: [u8; 4],
    /// When the witness signed, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// Ed25519 signature over [`signed_message`]`(body, timestamp)`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl Cosignature {
    /// Cosigns the checkpoint body `body` (whole, as C2SP specifies) as `witness` at
    /// `timestamp` (seconds since the Unix epoch).
    ///
    /// # Errors
    /// [`WitnessError::MalformedNote`] if `body` is not a checkpoint body;
    /// [`WitnessError::TimestampTooLarge`]; [`WitnessError::Signer`] if the signer fails or is
    /// not `witness`'s key.
    pub fn sign(body: &str, witness: &WitnessKey, signer: &dyn Signer, timestamp: u64) -> Result<Self, WitnessError> {
        CheckpointText::parse(body)?;
        if timestamp > MAX_COSIGNATURE_TIME {
            return Err(WitnessError::TimestampTooLarge(timestamp));
        }
        if signer.verifying_key() != witness.key {
            return Err(WitnessError::Signer("the signer is not the witness's key".into()));
        }
        let signature = signer
            .sign(&signed_message(body, timestamp))
            .map_err(|e| WitnessError::Signer(e.to_string()))?;
        Ok(Cosignature {
            name: witness.name.clone(),
            key_hash: witness.hash,
            timestamp,
            signature,
        })
    }

    /// The 76 bytes the line carries in base64.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; COSIGNATURE_LEN] {
        let mut b = [0u8; COSIGNATURE_LEN];
        b[..4].copy_from_slice(&self.key_hash);
        b[4..12].copy_from_slice(&timestamp_bytes(self.timestamp));
        b[12..].copy_from_slice(&self.signature);
        b
    }

    /// The signature line, ending in a line feed: `— <name> <base64 of 76 bytes>\n`.
    #[must_use]
    pub fn line(&self) -> String {
        format!("\u{2014} {} {}\n", self.name, Base64::encode_string(&self.to_bytes()))
    }

    /// The cosignature a signature line carries, if its signature is 76 bytes long (other
    /// lengths are other kinds of signatures: `None`).
    ///
    /// # Errors
    /// [`WitnessError::MalformedNote`] if `line` is not a signature line at all.
    pub fn from_line(line: &str) -> Result<Option<Self>, WitnessError> {
        let sig = note::SignatureLine::parse(line.strip_suffix('\n').unwrap_or(line))?;
        Ok(Self::from_signature(&sig))
    }

    fn from_signature(sig: &note::SignatureLine) -> Option<Self> {
        let b: &[u8; COSIGNATURE_LEN] = sig.bytes.as_slice().try_into().ok()?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[4..12]);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&b[12..]);
        Some(Cosignature {
            name: sig.name.clone(),
            key_hash: [b[0], b[1], b[2], b[3]],
            timestamp: timestamp_from(ts),
            signature,
        })
    }
}

/// C2SP encodes the cosignature timestamp big-endian (RFC 8446 §3.3): the one big-endian
/// integer in this crate's formats.
#[allow(clippy::big_endian_bytes)]
fn timestamp_bytes(t: u64) -> [u8; 8] {
    t.to_be_bytes()
}

#[allow(clippy::big_endian_bytes)]
fn timestamp_from(b: [u8; 8]) -> u64 {
    u64::from_be_bytes(b)
}

/// A requirement on cosignatures: at least `min` distinct trusted witnesses.
///
/// Witnesses are distinct by public key: two names with one key count once (C2SP forbids a
/// key to serve two cosigners, since `cosignature/v1` does not sign the name).
#[derive(Clone, Debug)]
pub struct WitnessPolicy {
    witnesses: Vec<WitnessKey>,
    min: usize,
}

impl WitnessPolicy {
    /// Requires `min` of `witnesses`.
    ///
    /// # Errors
    /// [`WitnessError::InvalidPolicy`] if `min` is 0 or larger than the number of distinct
    /// public keys among `witnesses`.
    pub fn new(witnesses: Vec<WitnessKey>, min: usize) -> Result<Self, WitnessError> {
        let mut keys: Vec<[u8; 32]> = witnesses.iter().map(|w| w.key.to_bytes()).collect();
        keys.sort_unstable();
        keys.dedup();
        if min == 0 {
            return Err(WitnessError::InvalidPolicy(
                "the minimum number of witnesses is 0".into(),
            ));
        }
        if min > keys.len() {
            return Err(WitnessError::InvalidPolicy(format!(
                "{min} witnesses required but only {} distinct witness keys given",
                keys.len()
            )));
        }
        Ok(WitnessPolicy { witnesses, min })
    }

    /// The trusted witnesses.
    #[must_use]
    pub fn witnesses(&self) -> &[WitnessKey] {
        &self.witnesses
    }

    /// The number of distinct witnesses required.
    #[must_use]
    pub fn min(&self) -> usize {
        self.min
    }

    /// Checks that `note` is a signed note of `checkpoint` (its body is exactly
    /// [`Checkpoint::body`]) carrying valid cosignatures by at least [`Self::min`] distinct
    /// trusted witnesses. The operator's signature line is not checked here (the checkpoint
    /// was verified on its own); unknown signature lines are ignored.
    ///
    /// # Errors
    /// [`WitnessError::OtherCheckpoint`], [`WitnessError::BadCosignature`] (a line by a
    /// trusted witness that does not verify rejects the note), [`WitnessError::TooFewCosignatures`],
    /// or the note is malformed.
    pub fn check(&self, checkpoint: &Checkpoint, note: &str) -> Result<Witnessed, WitnessError> {
        let parsed = SignedNote::parse(note)?;
        if parsed.body != checkpoint.body() {
            return Err(WitnessError::OtherCheckpoint);
        }
        self.check_signed(&parsed)
    }

    /// As [`Self::check`] for a note of any C2SP checkpoint (not only a provledger one).
    ///
    /// # Errors
    /// As [`Self::check`], without [`WitnessError::OtherCheckpoint`].
    pub fn check_note(&self, note: &str) -> Result<Witnessed, WitnessError> {
        let parsed = SignedNote::parse(note)?;
        CheckpointText::parse(&parsed.body)?;
        self.check_signed(&parsed)
    }

    fn check_signed(&self, note: &SignedNote) -> Result<Witnessed, WitnessError> {
        let mut cosigners: Vec<WitnessedBy> = Vec::new();
        for sig in &note.signatures {
            for w in self
                .witnesses
                .iter()
                .filter(|w| w.name == sig.name && w.hash == sig.key_hash())
            {
                let bad = || WitnessError::BadCosignature {
                    witness: w.name.clone(),
                };
                let c = Cosignature::from_signature(sig).ok_or_else(bad)?;
                let covers = w.verify(&note.body, &c).ok_or_else(bad)?;
                if !cosigners.iter().any(|x| x.key == w.key) {
                    cosigners.push(WitnessedBy {
                        name: w.name.clone(),
                        key: w.key,
                        timestamp: c.timestamp,
                        covers,
                    });
                }
            }
        }
        if cosigners.len() < self.min {
            return Err(WitnessError::TooFewCosignatures {
                valid: cosigners.len(),
                required: self.min,
            });
        }
        Ok(Witnessed {
            body: note.body.clone(),
            cosigners,
        })
    }
}

/// A checkpoint that met a [`WitnessPolicy`]: its body and who cosigned it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Witnessed {
    /// The checkpoint body the cosignatures cover.
    pub body: String,
    /// One entry per distinct trusted witness with a valid cosignature, in note order.
    pub cosigners: Vec<WitnessedBy>,
}

/// One witness's valid cosignature on a [`Witnessed`] checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessedBy {
    /// The witness's name.
    pub name: String,
    /// The witness's key.
    pub key: VerifyingKey,
    /// When it cosigned (seconds since the Unix epoch).
    pub timestamp: u64,
    /// Which bytes of the body its signature covers.
    pub covers: Covers,
}

#[cfg(test)]
mod tests;
