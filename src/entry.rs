//! Entries: the signed [`Statement`], author signatures, and the chained [`Entry`] record.
//!
//! ```text
//! Statement (signed by authors)         Entry (hashed into the chain)
//!   ledger_id    [16]                     seq         u64
//!   kind         u16                      prev        [32]  entry hash of seq-1 (zero for 0)
//!   timestamp    u64  ns since epoch      statement   (as left)
//!   content_type u8 len + ASCII           sig_count   u8
//!   payload      [32] commitment + u64    sig_count × (key_id [32], signature [64])
//!   refs         u16 count × [32]
//! ```
//! docs/FORMAT.md §4 is normative.

use core::fmt;
use core::str::FromStr;

use crate::encoding::{put_u16, put_u64, Reader};
use crate::error::{DecodeError, Error};
use crate::hash::{derive, hex_decode_into, hex_encode, Digest, ENTRY_CONTEXT, PAYLOAD_CONTEXT, STATEMENT_CONTEXT};
use crate::keys::{KeyId, SigningKey, SIGNATURE_LEN};

/// Largest payload an entry may carry (16 MiB).
pub const MAX_PAYLOAD_LEN: u64 = 16 << 20;
/// Largest number of entries one statement may reference.
pub const MAX_REFS: u64 = 1024;
/// Largest number of author signatures on one entry.
pub const MAX_SIGNATURES: u64 = 16;
/// Largest content-type string, in bytes.
pub const MAX_CONTENT_TYPE_LEN: u64 = 255;
/// Largest encoded entry (64 KiB); all the bounds above fit in it.
pub const MAX_ENTRY_LEN: u64 = 64 << 10;
/// Bytes in a payload salt.
pub const SALT_LEN: usize = 32;
/// Prefix of the message an author signs: this, then the 32-byte statement digest.
pub const STATEMENT_SIGNATURE_PREFIX: &[u8] = b"provledger v1 statement signature\0";
/// Offset of the statement inside an encoded entry (after `seq` and `prev`).
pub const STATEMENT_OFFSET: usize = 8 + 32;

/// Identifies a ledger; chosen at random when the ledger is created and bound into every
/// statement, so a signature cannot be replayed into another ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LedgerId(pub [u8; 16]);

impl LedgerId {
    /// A fresh random id.
    ///
    /// # Errors
    /// [`Error::Input`] if the OS random source fails.
    pub fn random() -> Result<Self, Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| Error::input(format!("OS random source failed: {e}")))?;
        Ok(LedgerId(b))
    }
}

impl fmt::Display for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerId({self})")
    }
}

impl FromStr for LedgerId {
    type Err = crate::hash::ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut b = [0u8; 16];
        hex_decode_into(s, &mut b).map_err(|_| crate::hash::ParseDigestError)?;
        Ok(LedgerId(b))
    }
}

/// Nanoseconds since the Unix epoch (UTC). In JSON, a number of nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current system time (0 if the clock is before 1970).
    #[must_use]
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-11-29T14:34:05.000000001Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Position of an entry in its ledger; the genesis entry is 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct EntrySeq(pub u64);

impl fmt::Display for EntrySeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What an entry records. The numeric codes are part of the format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum EntryKind {
    /// The first entry: ledger id, trust anchors (see [`crate::Genesis`]).
    Genesis,
    /// An application event: a content type and arbitrary payload bytes (the extension kind).
    Application,
    /// Enrolls a key ([`crate::record::KeyEnrollment`]).
    KeyEnrollment,
    /// Revokes a key ([`crate::record::KeyRevocation`]).
    KeyRevocation,
    /// Sets the policy in force ([`crate::record::Policy`]).
    PolicyUpdate,
    /// Output of an AI system ([`crate::record::AiOutput`]).
    AiOutput,
    /// A decision request ([`crate::record::Proposal`]).
    Proposal,
    /// A review ([`crate::record::Review`]).
    Review,
    /// An approval ([`crate::record::Approval`]).
    Approval,
    /// A rejection ([`crate::record::Rejection`]).
    Rejection,
    /// An execution ([`crate::record::Execution`]).
    Execution,
    /// An override or reversal ([`crate::record::Override`]).
    Override,
    /// A payload erasure ([`crate::record::Redaction`]).
    Redaction,
    /// A person accepting a known risk ([`crate::record::RiskAcceptance`]).
    RiskAcceptance,
}

/// Every kind, in code order.
const KINDS: [EntryKind; 14] = [
    EntryKind::Genesis,
    EntryKind::Application,
    EntryKind::KeyEnrollment,
    EntryKind::KeyRevocation,
    EntryKind::PolicyUpdate,
    EntryKind::AiOutput,
    EntryKind::Proposal,
    EntryKind::Review,
    EntryKind::Approval,
    EntryKind::Rejection,
    EntryKind::Execution,
    EntryKind::Override,
    EntryKind::Redaction,
    EntryKind::RiskAcceptance,
];

impl EntryKind {
    /// The format's code for this kind.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            EntryKind::Genesis => 0,
            EntryKind::Application => 1,
            EntryKind::KeyEnrollment => 2,
            EntryKind::KeyRevocation => 3,
            EntryKind::PolicyUpdate => 4,
            EntryKind::AiOutput => 5,
            EntryKind::Proposal => 6,
            EntryKind::Review => 7,
            EntryKind::Approval => 8,
            EntryKind::Rejection => 9,
            EntryKind::Execution => 10,
            EntryKind::Override => 11,
            EntryKind::Redaction => 12,
            EntryKind::RiskAcceptance => 13,
        }
    }

    /// The kind with this code.
    ///
    /// # Errors
    /// [`DecodeError::InvalidTag`] for an undefined code.
    pub fn from_code(code: u16) -> Result<Self, DecodeError> {
        KINDS.get(usize::from(code)).copied().ok_or(DecodeError::InvalidTag {
            context: "entry kind",
            tag: u64::from(code),
        })
    }

    /// The kind named `name` (as [`EntryKind::name`] gives it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        KINDS.iter().copied().find(|k| k.name() == name)
    }

    /// A short lowercase name (`genesis`, `application`, `approval`…).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            EntryKind::Genesis => "genesis",
            EntryKind::Application => "application",
            EntryKind::KeyEnrollment => "key_enrollment",
            EntryKind::KeyRevocation => "key_revocation",
            EntryKind::PolicyUpdate => "policy_update",
            EntryKind::AiOutput => "ai_output",
            EntryKind::Proposal => "proposal",
            EntryKind::Review => "review",
            EntryKind::Approval => "approval",
            EntryKind::Rejection => "rejection",
            EntryKind::Execution => "execution",
            EntryKind::Override => "override",
            EntryKind::Redaction => "redaction",
            EntryKind::RiskAcceptance => "risk_acceptance",
        }
    }

    /// Whether a redaction may erase the payload of an entry of this kind (application events
    /// and AI outputs, which may hold personal data; never the records decisions rest on).
    #[must_use]
    pub const fn redactable(self) -> bool {
        matches!(self, EntryKind::Application | EntryKind::AiOutput)
    }

    /// Whether entries of this kind must carry author signatures even in high-volume mode:
    /// everything but application events.
    #[must_use]
    pub const fn must_be_signed(self) -> bool {
        !matches!(self, EntryKind::Application)
    }
}

/// The salted commitment to a payload and the payload's length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PayloadCommitment {
    /// `BLAKE3-derive_key("provledger v1 payload", salt ‖ payload)`.
    pub digest: Digest,
    /// Payload length in bytes.
    pub len: u64,
}

impl PayloadCommitment {
    /// Commits to `payload` under `salt`.
    #[must_use]
    pub fn new(salt: &[u8; SALT_LEN], payload: &[u8]) -> Self {
        PayloadCommitment {
            digest: derive(PAYLOAD_CONTEXT, &[salt, payload]),
            len: payload.len() as u64,
        }
    }

    /// Whether `salt` and `payload` open this commitment.
    #[must_use]
    pub fn opens(&self, salt: &[u8; SALT_LEN], payload: &[u8]) -> bool {
        payload.len() as u64 == self.len && derive(PAYLOAD_CONTEXT, &[salt, payload]) == self.digest
    }
}

/// What authors sign: it binds the ledger, the kind, the time, the payload and the references.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Statement {
    /// The ledger this statement belongs to.
    pub ledger_id: LedgerId,
    /// The entry kind.
    pub kind: EntryKind,
    /// When the statement was made.
    pub timestamp: Timestamp,
    /// Media type of the payload (printable ASCII, at most 255 bytes).
    pub content_type: String,
    /// Commitment to the payload.
    pub payload: PayloadCommitment,
    /// Hashes of earlier entries this one refers to.
    pub refs: Vec<Digest>,
}

impl Statement {
    /// Appends the statement's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ledger_id.0);
        put_u16(out, self.kind.code());
        put_u64(out, self.timestamp.0);
        // Lengths are validated by `check` before any statement is encoded for storage.
        out.push(u8::try_from(self.content_type.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(self.payload.digest.as_bytes());
        put_u64(out, self.payload.len);
        put_u16(out, u16::try_from(self.refs.len()).unwrap_or(u16::MAX));
        for r in &self.refs {
            out.extend_from_slice(r.as_bytes());
        }
    }

    /// Reads a statement.
    ///
    /// # Errors
    /// Any [`DecodeError`] for malformed bytes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ledger_id = LedgerId(r.array()?);
        let kind = EntryKind::from_code(r.u16()?)?;
        let timestamp = Timestamp(r.u64()?);
        let ct_len = Reader::bounded(u64::from(r.u8()?), MAX_CONTENT_TYPE_LEN, "content type")?;
        let content_type = parse_content_type(r.take(ct_len)?)?;
        let digest = Digest::from_bytes(r.array()?);
        let len = r.u64()?;
        if len > MAX_PAYLOAD_LEN {
            return Err(DecodeError::TooLong {
                context: "payload",
                len,
                max: MAX_PAYLOAD_LEN,
            });
        }
        let n = Reader::bounded(u64::from(r.u16()?), MAX_REFS, "refs")?;
        let refs = (0..n)
            .map(|_| r.array().map(Digest::from_bytes))
            .collect::<Result<_, _>>()?;
        Ok(Statement {
            ledger_id,
            kind,
            timestamp,
            content_type,
            payload: PayloadCommitment { digest, len },
            refs,
        })
    }

    /// Checks the bounds the format sets, so that [`Statement::encode`] is exact.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] or [`DecodeError::Invalid`] naming the field.
    pub fn check(&self) -> Result<(), DecodeError> {
        parse_content_type(self.content_type.as_bytes())?;
        let too_long = |context, len: usize, max| DecodeError::TooLong {
            context,
            len: len as u64,
            max,
        };
        if self.content_type.len() as u64 > MAX_CONTENT_TYPE_LEN {
            return Err(too_long("content type", self.content_type.len(), MAX_CONTENT_TYPE_LEN));
        }
        if self.refs.len() as u64 > MAX_REFS {
            return Err(too_long("refs", self.refs.len(), MAX_REFS));
        }
        if self.payload.len > MAX_PAYLOAD_LEN {
            return Err(DecodeError::TooLong {
                context: "payload",
                len: self.payload.len,
                max: MAX_PAYLOAD_LEN,
            });
        }
        Ok(())
    }

    /// The statement's encoded bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.content_type.len() + 32 * self.refs.len());
        self.encode(&mut out);
        out
    }

    /// `BLAKE3-derive_key("provledger v1 statement", statement bytes)`.
    #[must_use]
    pub fn digest(&self) -> Digest {
        statement_digest(&self.to_bytes())
    }

    /// Signs the statement with `key`.
    #[must_use]
    pub fn sign(&self, key: &SigningKey) -> AuthorSignature {
        sign_digest(&self.digest(), key)
    }
}

/// The digest of encoded statement bytes.
#[must_use]
pub fn statement_digest(statement_bytes: &[u8]) -> Digest {
    derive(STATEMENT_CONTEXT, &[statement_bytes])
}

/// The exact message an author signs for a statement digest.
#[must_use]
pub fn signing_message(statement_digest: &Digest) -> [u8; STATEMENT_SIGNATURE_PREFIX.len() + 32] {
    let mut m = [0u8; STATEMENT_SIGNATURE_PREFIX.len() + 32];
    m[..STATEMENT_SIGNATURE_PREFIX.len()].copy_from_slice(STATEMENT_SIGNATURE_PREFIX);
    m[STATEMENT_SIGNATURE_PREFIX.len()..].copy_from_slice(statement_digest.as_bytes());
    m
}

/// Signs a statement digest.
#[must_use]
pub fn sign_digest(statement_digest: &Digest, key: &SigningKey) -> AuthorSignature {
    AuthorSignature {
        key_id: key.key_id(),
        signature: key.sign(&signing_message(statement_digest)),
    }
}

fn parse_content_type(bytes: &[u8]) -> Result<String, DecodeError> {
    if bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
        // All bytes are printable ASCII, hence valid UTF-8.
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Err(DecodeError::Invalid {
            context: "content type",
            reason: "must be printable ASCII without spaces",
        })
    }
}

/// An author's Ed25519 signature over a statement, with the signing key's id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AuthorSignature {
    /// Which key signed.
    pub key_id: KeyId,
    /// The signature over [`signing_message`] of the statement digest.
    pub signature: [u8; SIGNATURE_LEN],
}

/// A ledger entry: the statement, its signatures, and its place in the chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Position in the ledger.
    pub seq: EntrySeq,
    /// Entry hash of the previous entry ([`Digest::ZERO`] for the genesis entry).
    pub prev: Digest,
    /// What the authors signed.
    pub statement: Statement,
    /// Author signatures over the statement (may be empty in high-volume mode).
    pub signatures: Vec<AuthorSignature>,
}

impl Entry {
    /// The entry's encoded bytes (what the entry hash covers).
    ///
    /// # Errors
    /// [`DecodeError`] if a field exceeds the format's bounds.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        self.statement.check()?;
        if self.signatures.len() as u64 > MAX_SIGNATURES {
            return Err(DecodeError::TooLong {
                context: "signatures",
                len: self.signatures.len() as u64,
                max: MAX_SIGNATURES,
            });
        }
        let mut out = Vec::with_capacity(256);
        put_u64(&mut out, self.seq.0);
        out.extend_from_slice(self.prev.as_bytes());
        self.statement.encode(&mut out);
        // Bounded by MAX_SIGNATURES (16) just above.
        out.push(u8::try_from(self.signatures.len()).unwrap_or(u8::MAX));
        for s in &self.signatures {
            out.extend_from_slice(s.key_id.0.as_bytes());
            out.extend_from_slice(&s.signature);
        }
        Ok(out)
    }

    /// Decodes an entry; trailing bytes are an error.
    ///
    /// # Errors
    /// Any [`DecodeError`] for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self::decode_parts(bytes)?.0)
    }

    /// Decodes an entry and returns where its statement ends, so callers can hash the
    /// statement bytes in place.
    pub(crate) fn decode_parts(bytes: &[u8]) -> Result<(Self, usize), DecodeError> {
        if bytes.len() as u64 > MAX_ENTRY_LEN {
            return Err(DecodeError::TooLong {
                context: "entry",
                len: bytes.len() as u64,
                max: MAX_ENTRY_LEN,
            });
        }
        let mut r = Reader::new(bytes, "entry");
        let seq = EntrySeq(r.u64()?);
        let prev = Digest::from_bytes(r.array()?);
        let statement = Statement::decode(&mut r)?;
        let statement_end = r.position();
        let n = Reader::bounded(u64::from(r.u8()?), MAX_SIGNATURES, "signatures")?;
        let mut signatures = Vec::with_capacity(n);
        for _ in 0..n {
            signatures.push(AuthorSignature {
                key_id: KeyId(Digest::from_bytes(r.array()?)),
                signature: r.array()?,
            });
        }
        r.finish()?;
        Ok((
            Entry {
                seq,
                prev,
                statement,
                signatures,
            },
            statement_end,
        ))
    }
}

/// `BLAKE3-derive_key("provledger v1 entry", entry bytes)`: the chain link and Merkle leaf input.
#[must_use]
pub fn entry_hash(entry_bytes: &[u8]) -> Digest {
    derive(ENTRY_CONTEXT, &[entry_bytes])
}

/// A source of payload salts: BLAKE3 in keyed mode over a counter, keyed once from the OS
/// random source. Salts are unpredictable to anyone without the key, which never leaves memory.
pub(crate) struct SaltSource {
    key: zeroize::Zeroizing<[u8; 32]>,
    counter: u64,
}

impl SaltSource {
    pub(crate) fn new() -> Result<Self, Error> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| Error::input(format!("OS random source failed: {e}")))?;
        Ok(SaltSource { key, counter: 0 })
    }

    pub(crate) fn next_salt(&mut self) -> [u8; SALT_LEN] {
        self.counter += 1;
        *blake3::keyed_hash(&self.key, &self.counter.to_le_bytes()).as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        let salt = [3u8; SALT_LEN];
        let statement = Statement {
            ledger_id: LedgerId([1; 16]),
            kind: EntryKind::Application,
            timestamp: Timestamp(1_700_000_000_000_000_000),
            content_type: "application/json".into(),
            payload: PayloadCommitment::new(&salt, b"{}"),
            refs: vec![Digest::from_bytes([9; 32])],
        };
        let key = SigningKey::from_seed(&[5; 32]);
        let sig = statement.sign(&key);
        Entry {
            seq: EntrySeq(3),
            prev: Digest::from_bytes([2; 32]),
            statement,
            signatures: vec![sig],
        }
    }

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let e = sample();
        let bytes = e.to_bytes().unwrap();
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        for cut in 0..bytes.len() {
            assert!(Entry::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Entry::decode(&longer),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
    }

    #[test]
    fn signature_verifies_and_binds_statement() {
        let e = sample();
        let key = SigningKey::from_seed(&[5; 32]);
        let msg = signing_message(&e.statement.digest());
        assert!(key.verifying_key().verify(&msg, &e.signatures[0].signature));
        let mut other = e.statement.clone();
        other.ledger_id = LedgerId([2; 16]);
        assert!(!key
            .verifying_key()
            .verify(&signing_message(&other.digest()), &e.signatures[0].signature));
    }

    #[test]
    fn commitment_opens_only_with_salt_and_payload() {
        let c = PayloadCommitment::new(&[1; 32], b"abc");
        assert!(c.opens(&[1; 32], b"abc"));
        assert!(!c.opens(&[2; 32], b"abc"));
        assert!(!c.opens(&[1; 32], b"abd"));
    }

    #[test]
    fn timestamp_formats_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            Timestamp(1_709_210_096_000_000_007).to_string(),
            "2024-02-29T12:34:56.000000007Z"
        );
    }

    #[test]
    fn content_type_rejects_spaces_and_controls() {
        let mut e = sample();
        e.statement.content_type = "a b".into();
        assert!(e.to_bytes().is_err());
        e.statement.content_type = "x".repeat(256);
        assert!(e.to_bytes().is_err());
    }
}
