//! Entries (docs/FORMAT.md §4): the statement co-signers sign, the stored entry record, the
//! entry hash and chain value, and the messages that are signed.
//!
//! ```text
//! Statement S (assembled, never stored)    Stored entry record R
//!   ledger_id    [16]                        kind u16, timestamp u64
//!   kind u16, timestamp u64                  content_type (u8 len + ASCII)
//!   content_type (u8 len + ASCII)            ref_count u16, refs [32 × n]
//!   commitment   [32]                        sig_flags u8, cosig_count u8
//!   ref_count u16, refs [32 × n]             [position: key_id 32, signature 64]
//!                                            cosignatures: (key_id 32, signature 64) × m
//!
//! E_seq = H_entry(seq ‖ S ‖ A)      A = R's signature part without the position signature value
//! L_seq = H_chain(L_{seq-1} ‖ E_seq)
//! ```

use core::fmt;
use core::str::FromStr;

use crate::encoding::{put_u16, put_u64, Reader};
use crate::error::DecodeError;
use crate::hash::{hex_decode_into, hex_encode, Digest, Domain, DIGEST_LEN};
use crate::keys::{KeyId, SIGNATURE_LEN};

/// Largest payload an entry may carry (16 MiB).
pub const MAX_PAYLOAD_LEN: u64 = 16 << 20;
/// Largest number of entries one statement may reference.
pub const MAX_REFS: u64 = 1024;
/// Largest number of co-signatures on one entry.
pub const MAX_COSIGNATURES: u64 = 16;
/// Largest content-type string, in bytes.
pub const MAX_CONTENT_TYPE_LEN: u64 = 255;
/// Largest stored entry record (its length is a `u16` in the frame).
pub const MAX_ENTRY_LEN: u64 = 65_535;
/// Smallest stored entry record: every variable part empty.
pub const MIN_ENTRY_LEN: usize = 15;
/// Bytes in a payload salt.
pub const SALT_LEN: usize = 32;
/// Bytes of one signature in a record: key id and Ed25519 signature.
pub const SIGNATURE_BLOCK_LEN: usize = DIGEST_LEN + SIGNATURE_LEN;
/// Prefix of a co-signature message: this, then the statement digest.
pub const COSIGNATURE_PREFIX: &[u8] = b"provledger v2 statement\0";
/// Prefix of a position-signature message: this, then the previous chain value and the entry
/// hash.
pub const POSITION_PREFIX: &[u8] = b"provledger v2 position\0";
/// Prefix of the writer's seal-key request (never published; docs/FORMAT.md §7.5).
pub const SEAL_KEY_REQUEST_PREFIX: &[u8] = b"provledger v2 seal key\0";
/// `sig_flags` bit: the record carries a position signature.
const POSITION_SIGNED: u8 = 1;

/// Identifies a ledger; chosen at random when the ledger is created and bound into every
/// statement, so a signature cannot be replayed into another ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LedgerId(pub [u8; 16]);

impl LedgerId {
    test_util_pub! {
    /// A fresh random id.
    ///
    /// # Errors
    /// The OS random source's error.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)?;
        Ok(LedgerId(b))
    }
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

/// 32 hex digits in human-readable formats (JSON), 16 raw bytes in binary ones.
impl serde::Serialize for LedgerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> serde::Deserialize<'de> for LedgerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            s.parse()
                .map_err(|_| serde::de::Error::custom("a ledger id is 32 hexadecimal digits"))
        } else {
            <[u8; 16]>::deserialize(d).map(LedgerId)
        }
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

/// By name (`"approval"`), as in the JSON forms.
impl serde::Serialize for EntryKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for EntryKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EntryKind::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown entry kind {name:?}")))
    }
}

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

    /// Whether entries of this kind must carry the writer's position signature: everything
    /// but application events, which may be unsigned (the high-volume mode) and are then
    /// authenticated by a checkpoint that covers them.
    #[must_use]
    pub const fn requires_position_signature(self) -> bool {
        !matches!(self, EntryKind::Application)
    }
}

/// An entry as read back: its record's fields, place and hash (the payload is kept apart, see
/// [`crate::StoredPayload`]).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Entry {
    /// Sequence number: the entry's position in the ledger (the genesis entry is 0), which is
    /// also its leaf index in the Merkle tree.
    pub seq: u64,
    /// The entry kind.
    pub kind: EntryKind,
    /// When the statement was made (as its author claimed).
    pub timestamp: Timestamp,
    /// Media type of the payload.
    pub content_type: String,
    /// Entry hashes this one refers to.
    pub refs: Vec<Digest>,
    /// The payload commitment.
    pub commitment: Digest,
    /// The writer's position signature, if any.
    pub position: Option<AuthorSignature>,
    /// Co-signatures over the statement.
    pub cosignatures: Vec<AuthorSignature>,
    /// The entry hash `E`.
    pub hash: Digest,
}

impl Entry {
    test_util_pub! {
    /// Decodes a stored record at `seq` with its payload commitment.
    ///
    /// # Errors
    /// Any [`DecodeError`] for a malformed record.
    pub fn decode(record: &[u8], seq: u64, ledger_id: LedgerId, commitment: Digest) -> Result<Self, DecodeError> {
        let r = RecordRef::parse(record)?;
        Ok(Entry {
            seq,
            kind: r.kind(),
            timestamp: r.timestamp(),
            content_type: r.content_type().to_owned(),
            refs: r.refs().collect(),
            commitment,
            position: r.position(),
            cosignatures: r.cosignatures().collect(),
            hash: r.entry_hash(seq, ledger_id, &commitment),
        })
    }
    }
}

/// The salted commitment to a payload: `H_payload(salt ‖ payload)`.
#[must_use]
pub fn commit_payload(salt: &[u8; SALT_LEN], payload: &[u8]) -> Digest {
    if payload.len() <= 224 {
        let mut buf = [0u8; 256];
        buf[..SALT_LEN].copy_from_slice(salt);
        buf[SALT_LEN..SALT_LEN + payload.len()].copy_from_slice(payload);
        Domain::Payload.hash(&buf[..SALT_LEN + payload.len()])
    } else {
        Domain::Payload.hash_parts(&[salt, payload])
    }
}

/// An Ed25519 signature with the id of the key that made it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AuthorSignature {
    /// Which key signed.
    pub key_id: KeyId,
    /// The 64 signature bytes.
    pub signature: [u8; SIGNATURE_LEN],
}

impl AuthorSignature {
    fn from_block(b: &[u8]) -> Self {
        let mut key = [0u8; DIGEST_LEN];
        key.copy_from_slice(&b[..DIGEST_LEN]);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&b[DIGEST_LEN..SIGNATURE_BLOCK_LEN]);
        AuthorSignature {
            key_id: KeyId(Digest::from_bytes(key)),
            signature,
        }
    }
}

/// The content of an entry the writer is given: everything but the payload, its place and the
/// signatures. Validated by [`EntryFields::check`] before it is encoded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EntryFields {
    /// The entry kind.
    pub kind: EntryKind,
    /// When the statement was made.
    pub timestamp: Timestamp,
    /// Media type of the payload (printable ASCII without spaces, at most 255 bytes).
    pub content_type: std::borrow::Cow<'static, str>,
    /// Entry hashes of earlier entries this one refers to.
    pub refs: Vec<Digest>,
}

impl EntryFields {
    /// Checks the bounds of docs/FORMAT.md §4, so that encoding is exact.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] or [`DecodeError::Invalid`] naming the field.
    #[cfg(feature = "test-util")]
    pub fn check(&self) -> Result<(), DecodeError> {
        check_fields(&self.content_type, self.refs.len())
    }

    /// Appends the statement bytes `S` (docs/FORMAT.md §4.1) for this ledger and commitment.
    /// Callers run [`EntryFields::check`] first (the lengths are then exact).
    pub(crate) fn put_statement(&self, ledger_id: LedgerId, commitment: &Digest, out: &mut Vec<u8>) {
        out.extend_from_slice(&ledger_id.0);
        self.put_head(out);
        out.extend_from_slice(commitment.as_bytes());
        self.put_refs(out);
    }

    /// `kind ‖ timestamp ‖ ct_len ‖ content_type`: the record's (and statement's) head.
    fn put_head(&self, out: &mut Vec<u8>) {
        put_u16(out, self.kind.code());
        put_u64(out, self.timestamp.0);
        // Bounded by MAX_CONTENT_TYPE_LEN (255) in `check`.
        out.push(u8::try_from(self.content_type.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.content_type.as_bytes());
    }

    fn put_refs(&self, out: &mut Vec<u8>) {
        // Bounded by MAX_REFS (1024) in `check`.
        put_u16(out, u16::try_from(self.refs.len()).unwrap_or(u16::MAX));
        for r in &self.refs {
            out.extend_from_slice(r.as_bytes());
        }
    }

    /// Encodes the stored record (docs/FORMAT.md §4.2) with these signatures.
    ///
    /// # Errors
    /// [`DecodeError`] if a field or the number of co-signatures exceeds its bound, or the
    /// record would be longer than [`MAX_ENTRY_LEN`].
    #[cfg(feature = "test-util")]
    pub fn encode_record(
        &self,
        position: Option<&AuthorSignature>,
        cosignatures: &[AuthorSignature],
    ) -> Result<Vec<u8>, DecodeError> {
        self.check()?;
        check_cosignature_count(cosignatures.len())?;
        let len = self.record_len(position.is_some(), cosignatures.len());
        if len as u64 > MAX_ENTRY_LEN {
            return Err(DecodeError::TooLong {
                context: "entry",
                len: len as u64,
                max: MAX_ENTRY_LEN,
            });
        }
        let mut out = vec![0u8; len];
        self.write_record(&mut out, position, cosignatures);
        Ok(out)
    }

    /// Length of the stored record with a position signature or not and `cosignatures`
    /// co-signatures.
    pub(crate) fn record_len(&self, position: bool, cosignatures: usize) -> usize {
        MIN_ENTRY_LEN
            + self.content_type.len()
            + DIGEST_LEN * self.refs.len()
            + SIGNATURE_BLOCK_LEN * (usize::from(position) + cosignatures)
    }

    /// Writes the stored record (docs/FORMAT.md §4.2) into `out`, which is exactly
    /// [`EntryFields::record_len`] bytes; the fields were checked ([`EntryFields::check`], at
    /// most [`MAX_COSIGNATURES`] co-signatures), so it cannot fail.
    pub(crate) fn write_record(
        &self,
        out: &mut [u8],
        position: Option<&AuthorSignature>,
        cosignatures: &[AuthorSignature],
    ) {
        let mut at = 0;
        let mut put = |b: &[u8]| {
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        put(&self.kind.code().to_le_bytes());
        put(&self.timestamp.0.to_le_bytes());
        // Bounded by MAX_CONTENT_TYPE_LEN (255) in `check`.
        put(&[u8::try_from(self.content_type.len()).unwrap_or(u8::MAX)]);
        put(self.content_type.as_bytes());
        // Bounded by MAX_REFS (1024) in `check`.
        put(&u16::try_from(self.refs.len()).unwrap_or(u16::MAX).to_le_bytes());
        for r in &self.refs {
            put(r.as_bytes());
        }
        put(&[if position.is_some() { POSITION_SIGNED } else { 0 }]);
        put(&[u8::try_from(cosignatures.len()).unwrap_or(u8::MAX)]);
        for s in position.into_iter().chain(cosignatures) {
            put(s.key_id.0.as_bytes());
            put(&s.signature);
        }
        debug_assert_eq!(at, out.len());
    }

    /// Appends the input of this entry's hash `E = H_entry(seq ‖ S ‖ A)` (docs/FORMAT.md §4.4)
    /// to `out`, given its encoded `record`, for hashing many entries together.
    pub(crate) fn entry_hash_input_of(
        &self,
        record: &[u8],
        position: bool,
        seq: u64,
        ledger_id: LedgerId,
        commitment: &Digest,
        out: &mut Vec<u8>,
    ) {
        let head_end = 11 + self.content_type.len();
        let refs_end = head_end + 2 + DIGEST_LEN * self.refs.len();
        let seq = seq.to_le_bytes();
        for part in entry_hash_parts(record, head_end, refs_end, position, &seq, &ledger_id, commitment) {
            out.extend_from_slice(part);
        }
    }
}

/// Checks a content type and a number of refs against docs/FORMAT.md §4.
pub(crate) fn check_fields(content_type: &str, refs: usize) -> Result<(), DecodeError> {
    if content_type.len() as u64 > MAX_CONTENT_TYPE_LEN {
        return Err(DecodeError::TooLong {
            context: "content type",
            len: content_type.len() as u64,
            max: MAX_CONTENT_TYPE_LEN,
        });
    }
    check_content_type(content_type.as_bytes())?;
    if refs as u64 > MAX_REFS {
        return Err(DecodeError::TooLong {
            context: "refs",
            len: refs as u64,
            max: MAX_REFS,
        });
    }
    Ok(())
}

#[cfg(feature = "test-util")]
fn check_cosignature_count(n: usize) -> Result<(), DecodeError> {
    if n as u64 > MAX_COSIGNATURES {
        return Err(DecodeError::TooLong {
            context: "co-signatures",
            len: n as u64,
            max: MAX_COSIGNATURES,
        });
    }
    Ok(())
}

/// A stored entry record, parsed without copying (docs/FORMAT.md §4.2).
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    bytes: &'a [u8],
    kind: EntryKind,
    timestamp: Timestamp,
    /// End of the content type: `kind ‖ timestamp ‖ ct_len ‖ ct` is `bytes[..head_end]`.
    head_end: usize,
    /// End of the refs: `ref_count ‖ refs` is `bytes[head_end..refs_end]`.
    refs_end: usize,
    position: bool,
    cosig_count: usize,
}

/// What parsing a record found, without the bytes: [`RecordRef::rebind`] turns it back into a
/// [`RecordRef`] on the same bytes without checking them again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordLayout {
    kind: EntryKind,
    timestamp: Timestamp,
    head_end: usize,
    refs_end: usize,
    position: bool,
    cosig_count: usize,
    len: usize,
}

impl<'a> RecordRef<'a> {
    /// The parse result, to be rebound to the same bytes later.
    pub(crate) fn layout(&self) -> RecordLayout {
        RecordLayout {
            kind: self.kind,
            timestamp: self.timestamp,
            head_end: self.head_end,
            refs_end: self.refs_end,
            position: self.position,
            cosig_count: self.cosig_count,
            len: self.bytes.len(),
        }
    }

    /// The record `layout` was parsed from, if `bytes` has its length (callers pass the very
    /// bytes it was parsed from; another length means a mix-up, and nothing is trusted).
    pub(crate) fn rebind(bytes: &'a [u8], layout: RecordLayout) -> Option<Self> {
        (bytes.len() == layout.len).then_some(RecordRef {
            bytes,
            kind: layout.kind,
            timestamp: layout.timestamp,
            head_end: layout.head_end,
            refs_end: layout.refs_end,
            position: layout.position,
            cosig_count: layout.cosig_count,
        })
    }

    /// Parses and checks a stored record; trailing bytes are an error.
    ///
    /// # Errors
    /// Any [`DecodeError`], the first rule broken in the order of docs/FORMAT.md §4.2.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() as u64 > MAX_ENTRY_LEN {
            return Err(DecodeError::TooLong {
                context: "entry",
                len: bytes.len() as u64,
                max: MAX_ENTRY_LEN,
            });
        }
        let mut r = Reader::new(bytes, "entry");
        let kind = EntryKind::from_code(r.u16()?)?;
        let timestamp = Timestamp(r.u64()?);
        let ct_len = usize::from(r.u8()?);
        check_content_type(r.take(ct_len)?)?;
        let head_end = r.position();
        let n = Reader::bounded(u64::from(r.u16()?), MAX_REFS, "refs")?;
        r.take(n * DIGEST_LEN)?;
        let refs_end = r.position();
        let flags = r.u8()?;
        if flags & !POSITION_SIGNED != 0 {
            return Err(DecodeError::Invalid {
                context: "entry",
                reason: "undefined signature flag bits are set",
            });
        }
        let cosig_count = Reader::bounded(u64::from(r.u8()?), MAX_COSIGNATURES, "co-signatures")?;
        let position = flags & POSITION_SIGNED != 0;
        r.take(SIGNATURE_BLOCK_LEN * (usize::from(position) + cosig_count))?;
        r.finish()?;
        Ok(RecordRef {
            bytes,
            kind,
            timestamp,
            head_end,
            refs_end,
            position,
            cosig_count,
        })
    }

    /// The record's bytes.
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The entry kind.
    #[must_use]
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// The statement time.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The content type (printable ASCII).
    #[must_use]
    pub fn content_type(&self) -> &'a str {
        // Checked to be printable ASCII by `parse`.
        core::str::from_utf8(&self.bytes[11..self.head_end]).unwrap_or("")
    }

    /// The referenced entry hashes.
    #[must_use]
    pub fn refs(&self) -> impl ExactSizeIterator<Item = Digest> + 'a {
        self.bytes[self.head_end + 2..self.refs_end]
            .chunks_exact(DIGEST_LEN)
            .map(|c| {
                let mut d = [0u8; DIGEST_LEN];
                d.copy_from_slice(c);
                Digest::from_bytes(d)
            })
    }

    /// The raw refs bytes (32 per ref).
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn refs_bytes(&self) -> &'a [u8] {
        &self.bytes[self.head_end + 2..self.refs_end]
    }

    /// The writer's position signature, if the entry carries one.
    #[must_use]
    pub fn position(&self) -> Option<AuthorSignature> {
        self.position
            .then(|| AuthorSignature::from_block(&self.bytes[self.refs_end + 2..]))
    }

    /// The co-signatures.
    pub fn cosignatures(&self) -> impl ExactSizeIterator<Item = AuthorSignature> + 'a {
        let start = self.refs_end + 2 + SIGNATURE_BLOCK_LEN * usize::from(self.position);
        self.bytes[start..]
            .chunks_exact(SIGNATURE_BLOCK_LEN)
            .map(AuthorSignature::from_block)
    }

    /// Whether there are co-signatures (and so a statement digest to compute).
    #[must_use]
    pub fn has_cosignatures(&self) -> bool {
        self.cosig_count > 0
    }

    /// The statement bytes `S` for this ledger and payload commitment.
    #[must_use]
    pub fn statement(&self, ledger_id: LedgerId, commitment: &Digest) -> Vec<u8> {
        let mut out = Vec::with_capacity(DIGEST_LEN + 16 + self.refs_end);
        out.extend_from_slice(&ledger_id.0);
        out.extend_from_slice(&self.bytes[..self.head_end]);
        out.extend_from_slice(commitment.as_bytes());
        out.extend_from_slice(&self.bytes[self.head_end..self.refs_end]);
        out
    }

    /// `SD = H_statement(S)`, what co-signers sign.
    #[must_use]
    pub fn statement_digest(&self, ledger_id: LedgerId, commitment: &Digest) -> Digest {
        Domain::Statement.hash(&self.statement(ledger_id, commitment))
    }

    /// The entry hash `E = H_entry(seq ‖ S ‖ A)` (docs/FORMAT.md §4.4).
    #[must_use]
    pub fn entry_hash(&self, seq: u64, ledger_id: LedgerId, commitment: &Digest) -> Digest {
        record_entry_hash(
            self.bytes,
            self.head_end,
            self.refs_end,
            self.position,
            seq,
            ledger_id,
            commitment,
        )
    }

    /// Appends the input of [`RecordRef::entry_hash`] (`seq ‖ S ‖ A`, hashed under
    /// `H_entry`) to `out`, for hashing many entries together.
    pub(crate) fn entry_hash_input(&self, seq: u64, ledger_id: LedgerId, commitment: &Digest, out: &mut Vec<u8>) {
        for part in entry_hash_parts(
            self.bytes,
            self.head_end,
            self.refs_end,
            self.position,
            &seq.to_le_bytes(),
            &ledger_id,
            commitment,
        ) {
            out.extend_from_slice(part);
        }
    }

}

/// `E = H_entry(seq ‖ S ‖ A)` of a stored record whose head ends at `head_end` and whose refs
/// end at `refs_end` (docs/FORMAT.md §4.4): S is rebuilt around the record's bytes (ledger id
/// before the head, the commitment between head and refs), A is the record's signature part
/// without the position signature's value.
fn record_entry_hash(
    b: &[u8],
    head_end: usize,
    refs_end: usize,
    position: bool,
    seq: u64,
    ledger_id: LedgerId,
    commitment: &Digest,
) -> Digest {
    let seq = seq.to_le_bytes();
    let parts = entry_hash_parts(b, head_end, refs_end, position, &seq, &ledger_id, commitment);
    hash_small(Domain::Entry, &parts)
}

/// The pieces of `seq ‖ S ‖ A`, in order (see [`record_entry_hash`]).
fn entry_hash_parts<'a>(
    b: &'a [u8],
    head_end: usize,
    refs_end: usize,
    position: bool,
    seq: &'a [u8; 8],
    ledger_id: &'a LedgerId,
    commitment: &'a Digest,
) -> [&'a [u8]; 7] {
    let sig_start = refs_end + 2;
    // A = flags ‖ count (contiguous with the refs in R) ‖ [position key id] ‖ cosignatures.
    let pos_key: &[u8] = if position {
        &b[sig_start..sig_start + DIGEST_LEN]
    } else {
        &[]
    };
    let cosigs = &b[sig_start + SIGNATURE_BLOCK_LEN * usize::from(position)..];
    [
        seq,
        &ledger_id.0,
        &b[..head_end],
        commitment.as_bytes(),
        &b[head_end..sig_start],
        pos_key,
        cosigs,
    ]
}

/// Hashes the concatenation of `parts` in one keyed call, through a stack buffer when it fits
/// (the common case: one or two BLAKE3 blocks), so the hot path never allocates.
fn hash_small(domain: Domain, parts: &[&[u8]]) -> Digest {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= 512 {
        let mut buf = [0u8; 512];
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        domain.hash(&buf[..total])
    } else {
        domain.hash_parts(parts)
    }
}

/// The message a co-signer signs: `"provledger v2 statement\0" ‖ SD`.
#[must_use]
pub fn cosignature_message(statement_digest: &Digest) -> [u8; 24 + DIGEST_LEN] {
    let mut m = [0u8; 24 + DIGEST_LEN];
    m[..24].copy_from_slice(COSIGNATURE_PREFIX);
    m[24..].copy_from_slice(statement_digest.as_bytes());
    m
}

/// The message the writer signs for the entry at a place:
/// `"provledger v2 position\0" ‖ L_{seq-1} ‖ E_seq`.
#[must_use]
pub fn position_message(prev_chain: &Digest, entry_hash: &Digest) -> [u8; 23 + 2 * DIGEST_LEN] {
    let mut m = [0u8; 23 + 2 * DIGEST_LEN];
    m[..23].copy_from_slice(POSITION_PREFIX);
    m[23..23 + DIGEST_LEN].copy_from_slice(prev_chain.as_bytes());
    m[23 + DIGEST_LEN..].copy_from_slice(entry_hash.as_bytes());
    m
}

/// The writer's seal-key request: `"provledger v2 seal key\0" ‖ ledger_id`.
#[must_use]
pub fn seal_key_request(ledger_id: LedgerId) -> [u8; 23 + 16] {
    let mut m = [0u8; 23 + 16];
    m[..23].copy_from_slice(SEAL_KEY_REQUEST_PREFIX);
    m[23..].copy_from_slice(&ledger_id.0);
    m
}

fn check_content_type(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            context: "content type",
            reason: "must be printable ASCII without spaces",
        })
    }
}

/// A source of payload salts: BLAKE3 in keyed XOF mode over a counter, keyed once from the OS
/// random source. Salts are unpredictable to anyone without the key, which never leaves memory.
pub(crate) struct SaltSource {
    key: zeroize::Zeroizing<[u8; 32]>,
    counter: u64,
}

impl SaltSource {
    pub(crate) fn new() -> Result<Self, getrandom::Error> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut())?;
        Ok(SaltSource { key, counter: 0 })
    }

    /// Fills `out` with fresh salts (two per BLAKE3 output block).
    pub(crate) fn fill(&mut self, out: &mut [[u8; SALT_LEN]]) {
        self.counter += 1;
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&self.counter.to_le_bytes());
        // One read of the whole stream (the same bytes as salt by salt): blake3 then computes
        // its output blocks with SIMD across blocks.
        h.finalize_xof().fill(out.as_flattened_mut());
    }
}

impl fmt::Debug for SaltSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SaltSource { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Salts are the keyed XOF stream of the call's counter, 32 bytes each, in order: filling
    /// a batch at once gives what reading the stream salt by salt gives, and a second call
    /// continues with the next counter.
    #[test]
    fn salts_are_the_keyed_stream_read_in_order() {
        let mut src = SaltSource {
            key: zeroize::Zeroizing::new([7; 32]),
            counter: 0,
        };
        for call in 1u64..=2 {
            let mut got = [[0u8; SALT_LEN]; 5];
            src.fill(&mut got);
            let mut h = blake3::Hasher::new_keyed(&[7; 32]);
            h.update(&call.to_le_bytes());
            let mut xof = h.finalize_xof();
            for g in got {
                let mut want = [0u8; SALT_LEN];
                xof.fill(&mut want);
                assert_eq!(g, want, "call {call}");
            }
        }
    }
    use crate::keys::SigningKey;

    fn fields() -> EntryFields {
        EntryFields {
            kind: EntryKind::Application,
            timestamp: Timestamp(1_700_000_000_000_000_000),
            content_type: "application/json".into(),
            refs: vec![Digest::from_bytes([9; 32])],
        }
    }

    fn sig(seed: u8) -> AuthorSignature {
        let k = SigningKey::from_seed(&[seed; 32]);
        AuthorSignature {
            key_id: k.key_id(),
            signature: k.sign(b"x"),
        }
    }

    #[test]
    fn record_round_trip_and_every_truncation_fails() {
        let f = fields();
        let pos = sig(1);
        let co = [sig(2), sig(3)];
        let bytes = f.encode_record(Some(&pos), &co).unwrap();
        assert_eq!(bytes.len(), MIN_ENTRY_LEN + 16 + 32 + 3 * SIGNATURE_BLOCK_LEN);
        let r = RecordRef::parse(&bytes).unwrap();
        assert_eq!(r.kind(), EntryKind::Application);
        assert_eq!(r.timestamp(), f.timestamp);
        assert_eq!(r.content_type(), "application/json");
        assert_eq!(r.refs().collect::<Vec<_>>(), f.refs);
        assert_eq!(r.position(), Some(pos));
        assert_eq!(r.cosignatures().collect::<Vec<_>>(), co);
        for cut in 0..bytes.len() {
            assert!(RecordRef::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            RecordRef::parse(&longer),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
    }

    #[test]
    fn entry_hash_is_seq_statement_and_authorship() {
        let f = fields();
        let ledger = LedgerId([4; 16]);
        let c = commit_payload(&[3; 32], b"{}");
        let pos = sig(1);
        let co = [sig(2)];
        let bytes = f.encode_record(Some(&pos), &co).unwrap();
        let r = RecordRef::parse(&bytes).unwrap();
        let mut s = Vec::new();
        f.put_statement(ledger, &c, &mut s);
        assert_eq!(r.statement(ledger, &c), s);
        let mut input = 7u64.to_le_bytes().to_vec();
        input.extend_from_slice(&s);
        input.extend_from_slice(&[1, 1]);
        input.extend_from_slice(pos.key_id.0.as_bytes());
        input.extend_from_slice(co[0].key_id.0.as_bytes());
        input.extend_from_slice(&co[0].signature);
        assert_eq!(r.entry_hash(7, ledger, &c), Domain::Entry.hash(&input));
        // The position signature value is not hashed; its signer is.
        let other = AuthorSignature {
            signature: [0; 64],
            ..pos
        };
        let b2 = f.encode_record(Some(&other), &co).unwrap();
        assert_eq!(
            RecordRef::parse(&b2).unwrap().entry_hash(7, ledger, &c),
            r.entry_hash(7, ledger, &c)
        );
        let b3 = f.encode_record(Some(&sig(5)), &co).unwrap();
        assert_ne!(
            RecordRef::parse(&b3).unwrap().entry_hash(7, ledger, &c),
            r.entry_hash(7, ledger, &c)
        );
        assert_ne!(r.entry_hash(8, ledger, &c), r.entry_hash(7, ledger, &c));
        assert_ne!(r.entry_hash(7, LedgerId([5; 16]), &c), r.entry_hash(7, ledger, &c));
        assert_eq!(r.statement_digest(ledger, &c), Domain::Statement.hash(&s));
    }

    #[test]
    fn commitment_is_keyed_payload_hash() {
        for n in [0usize, 1, 224, 225, 5000] {
            let p = vec![7u8; n];
            let mut input = vec![1u8; 32];
            input.extend_from_slice(&p);
            assert_eq!(commit_payload(&[1; 32], &p), Domain::Payload.hash(&input), "{n}");
        }
        assert_ne!(commit_payload(&[1; 32], b"abc"), commit_payload(&[2; 32], b"abc"));
    }

    #[test]
    fn bad_flags_content_type_and_counts_are_rejected() {
        let f = fields();
        let mut bytes = f.encode_record(None, &[]).unwrap();
        let flags_at = bytes.len() - 2;
        bytes[flags_at] = 2;
        assert!(matches!(RecordRef::parse(&bytes), Err(DecodeError::Invalid { .. })));
        bytes[flags_at] = 0;
        bytes[flags_at + 1] = 17;
        assert!(matches!(RecordRef::parse(&bytes), Err(DecodeError::TooLong { .. })));
        let mut g = fields();
        g.content_type = "a b".into();
        assert!(g.encode_record(None, &[]).is_err());
        g.content_type = "x".repeat(256).into();
        assert!(g.encode_record(None, &[]).is_err());
        let many = vec![sig(1); 17];
        assert!(fields().encode_record(None, &many).is_err());
    }

    #[test]
    fn messages_have_their_prefixes() {
        let d = Digest::from_bytes([1; 32]);
        assert_eq!(&cosignature_message(&d)[..24], b"provledger v2 statement\0");
        assert_eq!(position_message(&d, &d).len(), 87);
        assert_eq!(seal_key_request(LedgerId([0; 16])).len(), 39);
    }

    #[test]
    fn salts_differ() {
        let mut s = SaltSource::new().unwrap();
        let mut out = [[0u8; 32]; 3];
        s.fill(&mut out);
        assert_ne!(out[0], out[1]);
        assert_ne!(out[1], out[2]);
        let mut more = [[0u8; 32]; 1];
        s.fill(&mut more);
        assert_ne!(more[0], out[0]);
    }

    #[test]
    fn timestamp_formats_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            Timestamp(1_709_210_096_000_000_007).to_string(),
            "2024-02-29T12:34:56.000000007Z"
        );
    }
}
