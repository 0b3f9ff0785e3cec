//! An independent verifier of provledger format version 2, written from `docs/FORMAT.md` alone
//! (and the public specifications it cites: BLAKE3, RFC 8032, RFC 6962 / RFC 9162, C2SP
//! tlog-checkpoint and signed-note). It does not use the provledger crate: its only
//! dependencies are `blake3`, `sha2`, `curve25519-dalek` (curve arithmetic for the §3 rule,
//! written out here step by step), `crc32c`, `base64ct` and `serde_json`.
//!
//! * [`verify_dir`] implements §9 (with §7, §8, §10, §11.3 and §11.4): the verdict names the
//!   first failing check and sequence number, or gives the counts of a passing ledger.
//! * [`check_proof_json`] implements §15, [`parse_note`] §11.2.
//!
//! Places where the text is ambiguous, incomplete or contradicts itself are marked
//! `// SPEC:` with the reading chosen.
//!
//! This is test code: files are read into memory (a segment only as far as its frames go:
//! a tail longer than `MAX_TORN` is judged from the lengths, §8), and every entry hash is
//! kept (redaction targets may name any earlier entry).

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest as _, Sha256, Sha512};

// ---------------------------------------------------------------------------------------------
// §1 bounds

/// §1 `MAX_CONTENT_TYPE_LEN`.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// §1 `MAX_REFS`.
pub const MAX_REFS: usize = 1024;
/// §1 `MAX_COSIGNATURES`.
pub const MAX_COSIGNATURES: usize = 16;
/// §1 `MAX_PAYLOAD_LEN`.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// §1 `MIN_ENTRY_LEN`.
pub const MIN_ENTRY_LEN: usize = 15;
/// §1 `MAX_ENTRY_LEN`.
pub const MAX_ENTRY_LEN: usize = 65_535;
/// §1 `SEAL_LEN`.
pub const SEAL_LEN: usize = 112;
/// §1 `MAX_TORN`.
pub const MAX_TORN: u64 = 32 * 1024 * 1024;
/// §1 `MAX_STRUCTURED_PAYLOAD`.
pub const MAX_STRUCTURED_PAYLOAD: usize = 1024 * 1024;
/// §1 `MAX_ANCHORS`.
pub const MAX_ANCHORS: usize = 64;
/// §1 `MAX_NAME_LEN`.
pub const MAX_NAME_LEN: usize = 256;
/// §1 `MAX_NOTE_LEN`.
pub const MAX_NOTE_LEN: usize = 8192;
/// §1 `MAX_SEGMENT_LEN`.
pub const MAX_SEGMENT_LEN: u64 = (1 << 31) - 1;
/// §1: inclusion path bound.
pub const MAX_INCLUSION_PATH: usize = 64;
/// §1: consistency path bound.
pub const MAX_CONSISTENCY_PATH: usize = 65;
/// §1: JSON proof file bound.
pub const MAX_PROOF_JSON: usize = 1024 * 1024;

/// §7.2 segment header length.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// §7.3 frame header length.
pub const FRAME_HEADER_LEN: usize = 12;
/// §7.7 index header length.
pub const INDEX_HEADER_LEN: usize = 48;
/// §11.3 checkpoint log header length.
pub const LOG_HEADER_LEN: usize = 32;
/// §11.3 checkpoint log record length.
pub const LOG_RECORD_LEN: usize = 148;
/// §11.4 tree file header length.
pub const TREE_HEADER_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// §2 hashes

/// §2.1: `K(label) = BLAKE3-derive_key("provledger v2 domain key", label)`.
pub fn domain_key(label: &str) -> [u8; 32] {
    blake3::derive_key("provledger v2 domain key", label.as_bytes())
}

/// The six labels of §2.1.
const LABELS: [&str; 6] = ["payload", "statement", "entry", "chain", "key id", "seal key"];

/// §2.1: `H_label(m)`, the domain keys computed once ("an implementation computes them once").
pub fn h(label: &str, m: &[u8]) -> [u8; 32] {
    static KEYS: std::sync::OnceLock<[[u8; 32]; 6]> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| LABELS.map(domain_key));
    let i = LABELS
        .iter()
        .position(|l| *l == label)
        .expect("h() is called with a §2.1 label");
    *blake3::keyed_hash(&keys[i], m).as_bytes()
}

/// Payload commitment `C = H_payload(salt ‖ payload)`.
pub fn payload_commitment(salt: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut m = Vec::with_capacity(32 + payload.len());
    m.extend_from_slice(salt);
    m.extend_from_slice(payload);
    h("payload", &m)
}

/// Key id `H_key id(public key)`.
pub fn key_id(public_key: &[u8; 32]) -> [u8; 32] {
    h("key id", public_key)
}

/// Chain value `L_n = H_chain(L_{n-1} ‖ E_n)`.
pub fn chain(prev: &[u8; 32], entry_hash: &[u8; 32]) -> [u8; 32] {
    let mut m = [0u8; 64];
    m[..32].copy_from_slice(prev);
    m[32..].copy_from_slice(entry_hash);
    h("chain", &m)
}

/// §2.2 / §10 Merkle leaf `SHA-256(0x00 ‖ E)`.
pub fn leaf_hash(entry_hash: &[u8; 32]) -> [u8; 32] {
    let mut s = Sha256::new();
    s.update([0u8]);
    s.update(entry_hash);
    s.finalize().into()
}

/// §10 Merkle node `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut s = Sha256::new();
    s.update([1u8]);
    s.update(left);
    s.update(right);
    s.finalize().into()
}

/// §10 `MTH({}) = SHA-256("")`.
pub fn empty_root() -> [u8; 32] {
    Sha256::digest([]).into()
}

// ---------------------------------------------------------------------------------------------
// §3 Ed25519: one rule (ZIP 215), as §3.2-§3.5 write it

/// §3.1 p = 2^255 − 19, little-endian.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// §3.2: whether the y of an encoding (bit 255 cleared) is below p, i.e. not one of the 19
/// values p … 2^255 − 1 that decoding reduces.
pub fn canonical_y(b: &[u8; 32]) -> bool {
    let mut y = *b;
    y[31] &= 0x7f;
    // Little-endian numbers compared from the most significant byte down.
    for i in (0..32).rev() {
        if y[i] != FIELD_PRIME[i] {
            return y[i] < FIELD_PRIME[i];
        }
    }
    false
}

/// §3.2 decoding of A and R: y is the low 255 bits **mod p** (a value ≥ p is reduced, not
/// refused), x the square root of (y² − 1)/(d·y² + 1) of parity bit 255, and x = 0 with bit
/// 255 set decodes to (0, y) (not refused); `None` only when there is no root.
/// curve25519-dalek's `decompress` is exactly steps 1–3: it reads y as a field element (so
/// reduced mod p), fails only without a root, and negates x = 0 to itself.
pub fn decode_point(b: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*b).decompress()
}

/// §3.1 "of small order": [8]P is the identity (order 1, 2, 4 or 8).
pub fn small_order(p: &EdwardsPoint) -> bool {
    p.mul_by_cofactor() == EdwardsPoint::default()
}

/// §3.3 key validation: A decodes (1), is canonical — the decoded point re-encodes to exactly
/// the bytes given, so neither y ≥ p nor x = 0 with the sign bit set (2) — and is not of small
/// order (3). A key of mixed order passes.
pub fn public_key(a: &[u8; 32]) -> Result<EdwardsPoint, String> {
    let point = decode_point(a).ok_or("the public key is not a curve point")?;
    if point.compress().as_bytes() != a {
        return Err("non-canonical public key".into());
    }
    if small_order(&point) {
        return Err("public key of small order".into());
    }
    Ok(point)
}

/// §3.3 key validation, as an option.
pub fn validate_key(a: &[u8; 32]) -> Option<EdwardsPoint> {
    public_key(a).ok()
}

/// §3.4 steps 1–4 on the bytes as given, without key validation (A decoded by §3.2): S < L,
/// R decodes, k = SHA-512(R ‖ A ‖ M) mod L over the given bytes, and [8]([S]B − R − [k]A) is
/// the identity (the cofactored equation).
pub fn zip215(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Some(a) = decode_point(public_key) else {
        return false;
    };
    let r_bytes: [u8; 32] = arr(&signature[..32]);
    let s_bytes: [u8; 32] = arr(&signature[32..]);
    // Step 1: S < L.
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    // Step 2: R decodes (non-canonical encodings and small-order points included).
    let Some(r) = decode_point(&r_bytes) else {
        return false;
    };
    // Step 3: k over R and A as given, never re-encoded.
    let mut hasher = Sha512::new();
    hasher.update(r_bytes);
    hasher.update(public_key);
    hasher.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&hasher.finalize().into());
    // Step 4: [8]([S]B − R − [k]A) is the identity.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a), &s);
    small_order(&(sb_minus_ka - r))
}

/// §3: verification of `signature` by `public_key` over `message`: key validation (§3.3),
/// then the ZIP 215 equation (§3.4). Batch verification accepts exactly the same (§3.5).
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    validate_key(public_key).is_some() && zip215(public_key, message, signature)
}

// ---------------------------------------------------------------------------------------------
// A bounded reader for the binary layouts

/// A borrowing reader; every `take` checks what is left first.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b, pos: 0 }
    }
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(format!(
                "truncated: need {n} bytes at {}, have {}",
                self.pos,
                self.left()
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(arr(self.take(2)?)))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(arr(self.take(4)?)))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(arr(self.take(8)?)))
    }
    fn b32(&mut self) -> Result<[u8; 32], String> {
        Ok(arr(self.take(32)?))
    }
    fn finish(&self) -> Result<(), String> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.left()))
        }
    }
    // §6 bincode forms
    fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("bool byte {b}")),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        // Charged before allocating: a length beyond what is left cannot be read.
        if len > self.left() as u64 {
            return Err(format!("string length {len} beyond the payload"));
        }
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8".to_string())
    }
    /// A `Vec` count, checked against what is left for items of at least `min_item` bytes.
    fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = self.u64()?;
        if n.saturating_mul(min_item as u64) > self.left() as u64 {
            return Err(format!("count {n} beyond the payload"));
        }
        Ok(n as usize)
    }
    fn variant(&mut self, count: u32, what: &str) -> Result<u32, String> {
        let v = self.u32()?;
        if v >= count {
            return Err(format!("undefined {what} variant {v}"));
        }
        Ok(v)
    }
    fn option_tag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(format!("option tag {t}")),
        }
    }
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

// ---------------------------------------------------------------------------------------------
// §4 entries

/// An entry kind code (§5) and what the table says of it.
pub mod kind {
    /// genesis
    pub const GENESIS: u16 = 0;
    /// application
    pub const APPLICATION: u16 = 1;
    /// key_enrollment
    pub const KEY_ENROLLMENT: u16 = 2;
    /// key_revocation
    pub const KEY_REVOCATION: u16 = 3;
    /// policy_update
    pub const POLICY_UPDATE: u16 = 4;
    /// ai_output
    pub const AI_OUTPUT: u16 = 5;
    /// redaction
    pub const REDACTION: u16 = 12;
    /// risk_acceptance
    pub const RISK_ACCEPTANCE: u16 = 13;
    /// Codes 0 ..= 13 are defined.
    pub const LAST: u16 = 13;

    /// §5 "redactable".
    pub fn redactable(k: u16) -> bool {
        k == APPLICATION || k == AI_OUTPUT
    }
}

/// §6.0 roles as bits: Admin 0, Operator 1, Requester 2, Reviewer 3, Approver 4, AiAgent 5.
pub mod role {
    /// Admin
    pub const ADMIN: u8 = 1 << 0;
    /// Operator
    pub const OPERATOR: u8 = 1 << 1;
    /// Requester
    pub const REQUESTER: u8 = 1 << 2;
    /// Reviewer
    pub const REVIEWER: u8 = 1 << 3;
    /// Approver
    pub const APPROVER: u8 = 1 << 4;
    /// AiAgent
    pub const AI_AGENT: u8 = 1 << 5;

    /// §5, last column: the roles of which one signature must hold one (0 = none needed).
    pub fn needed(kind: u16) -> u8 {
        match kind {
            2..=4 | 12 => ADMIN,
            5 => AI_AGENT | OPERATOR,
            6 => REQUESTER | AI_AGENT,
            7 => REVIEWER,
            8 | 9 | 13 => APPROVER,
            10 => OPERATOR,
            11 => ADMIN | APPROVER,
            _ => 0,
        }
    }
}

/// A signature block of a record: key id and signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigBlock {
    /// Key id of the signer.
    pub key_id: [u8; 32],
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// The stored entry record `R` (§4.2), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Kind code.
    pub kind: u16,
    /// Timestamp, ns.
    pub timestamp: u64,
    /// Content type bytes (printable ASCII).
    pub content_type: Vec<u8>,
    /// Refs.
    pub refs: Vec<[u8; 32]>,
    /// `sig_flags`.
    pub sig_flags: u8,
    /// The position signature, if bit 0.
    pub position: Option<SigBlock>,
    /// Co-signatures in record order.
    pub cosignatures: Vec<SigBlock>,
}

/// §4.2: decodes a stored entry record (the first violated rule names the error).
pub fn parse_record(b: &[u8]) -> Result<Record, String> {
    let mut r = Rd::new(b);
    let kind = r.u16()?;
    if kind > kind::LAST {
        return Err(format!("InvalidTag: entry kind {kind}"));
    }
    let timestamp = r.u64()?;
    let ct_len = r.u8()? as usize;
    let content_type = r.take(ct_len)?.to_vec();
    if content_type.iter().any(|&c| !(0x21..=0x7e).contains(&c)) {
        return Err("Invalid: content type not printable ASCII".into());
    }
    let ref_count = r.u16()? as usize;
    if ref_count > MAX_REFS {
        return Err(format!("TooLong: {ref_count} refs"));
    }
    let mut refs = Vec::with_capacity(ref_count.min(r.left() / 32));
    for _ in 0..ref_count {
        refs.push(r.b32()?);
    }
    let sig_flags = r.u8()?;
    if sig_flags & !1 != 0 {
        return Err(format!("Invalid: sig_flags {sig_flags:#04x}"));
    }
    let cosig_count = r.u8()? as usize;
    if cosig_count > MAX_COSIGNATURES {
        return Err(format!("TooLong: {cosig_count} co-signatures"));
    }
    let block = |r: &mut Rd| -> Result<SigBlock, String> {
        Ok(SigBlock {
            key_id: r.b32()?,
            signature: arr(r.take(64)?),
        })
    };
    let position = if sig_flags & 1 == 1 { Some(block(&mut r)?) } else { None };
    let mut cosignatures = Vec::with_capacity(cosig_count);
    for _ in 0..cosig_count {
        cosignatures.push(block(&mut r)?);
    }
    r.finish().map_err(|e| format!("TrailingBytes: {e}"))?;
    Ok(Record {
        kind,
        timestamp,
        content_type,
        refs,
        sig_flags,
        position,
        cosignatures,
    })
}

/// §4.1: the statement `S`.
pub fn statement(ledger_id: &[u8; 16], rec: &Record, commitment: &[u8; 32]) -> Vec<u8> {
    let mut s = Vec::with_capacity(61 + rec.content_type.len() + 32 * rec.refs.len());
    s.extend_from_slice(ledger_id);
    s.extend_from_slice(&rec.kind.to_le_bytes());
    s.extend_from_slice(&rec.timestamp.to_le_bytes());
    s.push(rec.content_type.len() as u8);
    s.extend_from_slice(&rec.content_type);
    s.extend_from_slice(commitment);
    s.extend_from_slice(&(rec.refs.len() as u16).to_le_bytes());
    for r in &rec.refs {
        s.extend_from_slice(r);
    }
    s
}

/// §4.3: the authorship bytes `A`.
pub fn authorship(rec: &Record) -> Vec<u8> {
    let mut a = vec![rec.sig_flags, rec.cosignatures.len() as u8];
    if let Some(p) = &rec.position {
        a.extend_from_slice(&p.key_id);
    }
    for c in &rec.cosignatures {
        a.extend_from_slice(&c.key_id);
        a.extend_from_slice(&c.signature);
    }
    a
}

/// §4.4: `E = H_entry(seq ‖ S ‖ A)`.
pub fn entry_hash(seq: u64, statement: &[u8], authorship: &[u8]) -> [u8; 32] {
    let mut m = Vec::with_capacity(8 + statement.len() + authorship.len());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(statement);
    m.extend_from_slice(authorship);
    h("entry", &m)
}

/// §4.5: the co-signature message.
pub fn cosignature_message(statement_digest: &[u8; 32]) -> Vec<u8> {
    // SPEC: §3 still shows the v1 message (66 bytes, "provledger v1 statement signature\0");
    // §4.5 and §9 E6 give "provledger v2 statement\0" ‖ SD (56 bytes). §4.5 is followed.
    let mut m = b"provledger v2 statement\0".to_vec();
    m.extend_from_slice(statement_digest);
    m
}

/// §4.5: the position signature message.
pub fn position_message(prev_chain: &[u8; 32], entry_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = b"provledger v2 position\0".to_vec();
    m.extend_from_slice(prev_chain);
    m.extend_from_slice(entry_hash);
    m
}

// ---------------------------------------------------------------------------------------------
// §6 structured payloads

/// A trust anchor or an enrolled key, as far as §9 needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGrant {
    /// The public key.
    pub public_key: [u8; 32],
    /// Role bits (see [`role`]).
    pub roles: u8,
}

/// §6.0, decoded and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// `name`.
    pub name: String,
    /// Anchors.
    pub anchors: Vec<KeyGrant>,
}

fn roles(r: &mut Rd) -> Result<u8, String> {
    let n = r.count(4)?;
    let mut bits = 0u8;
    for _ in 0..n {
        bits |= 1 << r.variant(6, "Role")?;
    }
    Ok(bits)
}

/// §6.1 `Requirements`.
fn requirements(r: &mut Rd) -> Result<(), String> {
    r.variant(3, "DecisionBoundary")?;
    r.u8()?; // min_approvals
    r.u8()?; // reviews
    r.bool()?; // evidence
    r.bool()?; // cite_ai_outputs
    Ok(())
}

/// §6.2 `ImpactFlags`: four bools.
fn impact(r: &mut Rd) -> Result<(), String> {
    for _ in 0..4 {
        r.bool()?;
    }
    Ok(())
}

/// §6.1 `Policy`.
fn policy(r: &mut Rd) -> Result<(), String> {
    let _min_approvals = r.u8()?;
    let n = r.count(4)?;
    for _ in 0..n {
        r.variant(23, "RuleId")?;
    }
    // classes: name, actions, impact, threshold, require (at least 8 + 8 + 4 + 1 + 7 bytes).
    let n = r.count(8 + 8 + 4 + 1 + 7)?;
    for _ in 0..n {
        r.string()?; // name
        let actions = r.count(8)?;
        for _ in 0..actions {
            r.string()?;
        }
        impact(r)?;
        option(r, |r| {
            r.string()?; // attribute
            r.u64() // at_least
        })?;
        requirements(r)?;
    }
    option(r, requirements)?; // unclassified
    Ok(())
}

/// §6.2 `Vec<Evidence>`.
fn evidence(r: &mut Rd) -> Result<(), String> {
    let n = r.count(8 + 8 + 32 + 8)?;
    for _ in 0..n {
        r.string()?; // name
        r.string()?; // uri
        r.b32()?; // digest
        r.string()?; // description
    }
    Ok(())
}

fn structured<T>(payload: &[u8], f: impl FnOnce(&mut Rd) -> Result<T, String>) -> Result<T, String> {
    if payload.len() > MAX_STRUCTURED_PAYLOAD {
        return Err(format!("structured payload of {} bytes", payload.len()));
    }
    let mut r = Rd::new(payload);
    let v = f(&mut r)?;
    r.finish().map_err(|e| format!("TrailingBytes: {e}"))?;
    Ok(v)
}

/// §6.0: decodes a genesis payload and applies the six validity rules in order.
pub fn parse_genesis(payload: &[u8]) -> Result<Genesis, String> {
    let (name, anchors) = structured(payload, |r| {
        let name = r.string()?;
        let n = r.count(32 + 8 + 4 + 8)?;
        let mut anchors = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..n {
            let public_key = r.b32()?;
            let principal_id = r.string()?;
            r.variant(3, "PrincipalType")?;
            let roles = roles(r)?;
            anchors.push(KeyGrant { public_key, roles });
            ids.push(principal_id);
        }
        policy(r)?;
        Ok((name, (anchors, ids)))
    })?;
    let (anchors, ids) = anchors;
    if anchors.is_empty() {
        return Err("Invalid: no anchors".into());
    }
    if anchors.len() > MAX_ANCHORS {
        return Err("TooLong: anchors".into());
    }
    if anchors.iter().any(|a| validate_key(&a.public_key).is_none()) {
        return Err("Invalid: anchor key fails validation".into());
    }
    if !anchors.iter().any(|a| a.roles & role::ADMIN != 0) {
        return Err("Invalid: no Admin anchor".into());
    }
    let distinct: BTreeSet<_> = anchors.iter().map(|a| a.public_key).collect();
    if distinct.len() != anchors.len() {
        return Err("Invalid: duplicate anchor key".into());
    }
    if name.len() > MAX_NAME_LEN || ids.iter().any(|i| i.len() > MAX_NAME_LEN) {
        return Err("Invalid: name too long".into());
    }
    Ok(Genesis { name, anchors })
}

/// What §9 needs of a governance record (kinds 2 – 13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Governance {
    /// `KeyEnrollment`.
    Enroll(KeyGrant),
    /// `KeyRevocation`.
    Revoke([u8; 32]),
    /// `Redaction`.
    Redact {
        /// `target_seq`.
        target_seq: u64,
        /// `target`.
        target: [u8; 32],
    },
    /// Any other record: decoded (so checked), but of no meaning to §9.
    Other,
}

fn digests(r: &mut Rd) -> Result<(), String> {
    let n = r.count(32)?;
    r.take(n * 32)?;
    Ok(())
}

fn option<T>(r: &mut Rd, f: impl FnOnce(&mut Rd) -> Result<T, String>) -> Result<Option<T>, String> {
    if r.option_tag()? {
        Ok(Some(f(r)?))
    } else {
        Ok(None)
    }
}

/// §6.2: decodes the payload of an entry of kind 2 – 13.
pub fn parse_governance(kind: u16, payload: &[u8]) -> Result<Governance, String> {
    structured(payload, |r| match kind {
        2 => {
            let public_key = r.b32()?;
            r.string()?; // principal_id
            r.string()?; // display_name
            r.variant(3, "PrincipalType")?;
            let roles = roles(r)?;
            let n = r.count(4)?;
            for _ in 0..n {
                r.variant(2, "Environment")?;
            }
            Ok(Governance::Enroll(KeyGrant { public_key, roles }))
        }
        3 => {
            let id = r.b32()?;
            r.string()?;
            Ok(Governance::Revoke(id))
        }
        4 => policy(r).map(|()| Governance::Other),
        5 => {
            r.string()?; // provider_name
            r.string()?; // request_model
            r.string()?; // version
            option(r, |r| r.b32())?; // config_digest
            r.string()?; // task
            r.b32()?; // input_digest
            r.b32()?; // output_digest
            r.string()?; // summary
            option(r, |r| {
                r.u64()?;
                r.u64()
            })?; // usage
            Ok(Governance::Other)
        }
        6 => {
            r.string()?; // action
            r.string()?; // action_type
                         // attributes: Map<String, u64>, one encoding per value: keys strictly increasing
                         // (as bytes), so no key twice.
            let n = r.count(8 + 8)?;
            let mut last: Option<String> = None;
            for _ in 0..n {
                let k = r.string()?;
                r.u64()?;
                if last.as_ref().is_some_and(|l| l.as_bytes() >= k.as_bytes()) {
                    return Err("Invalid: attribute keys not strictly increasing".into());
                }
                last = Some(k);
            }
            r.variant(3, "DecisionBoundary")?;
            r.variant(3, "Autonomy")?;
            r.variant(2, "Environment")?;
            impact(r)?;
            evidence(r)?;
            r.string()?; // rationale
            let n = r.count(8 + 32)?; // ai_outputs: EntryRef { seq, hash }
            for _ in 0..n {
                r.u64()?;
                r.b32()?;
            }
            Ok(Governance::Other)
        }
        7 => {
            r.b32()?;
            r.variant(3, "Verdict")?;
            digests(r)?;
            r.string()?;
            Ok(Governance::Other)
        }
        8 => {
            r.b32()?;
            r.string()?;
            option(r, |r| r.u64())?;
            Ok(Governance::Other)
        }
        9 => {
            r.b32()?;
            r.string()?;
            Ok(Governance::Other)
        }
        10 => {
            r.b32()?;
            digests(r)?;
            r.string()?;
            r.string()?;
            Ok(Governance::Other)
        }
        11 => {
            r.b32()?; // target
            r.bool()?; // reversal
            r.string()?; // reason
            option(r, |r| r.b32())?; // proposal
            digests(r)?; // approvals
            Ok(Governance::Other)
        }
        12 => {
            let target_seq = r.u64()?;
            let target = r.b32()?;
            r.string()?;
            Ok(Governance::Redact { target_seq, target })
        }
        13 => {
            r.b32()?; // subject
            r.string()?; // risk
            r.string()?; // scope
            r.u64()?; // expires_at
            evidence(r)?;
            Ok(Governance::Other)
        }
        k => Err(format!("kind {k} carries no governance record")),
    })
}

// ---------------------------------------------------------------------------------------------
// §7.2 segment header, §7.3 frames, §7.4 sections, §8 scanning

/// §7.2: checks a segment header; returns (ledger id, first_seq).
pub fn parse_segment_header(b: &[u8]) -> Result<([u8; 16], u64), String> {
    if b.len() < SEGMENT_HEADER_LEN {
        return Err("Truncated".into());
    }
    if &b[..8] != b"PLEDGSEG" {
        return Err("BadMagic".into());
    }
    if crc32c::crc32c(&b[..60]) != u32::from_le_bytes(arr(&b[60..64])) {
        return Err("Checksum".into());
    }
    let version = u16::from_le_bytes(arr(&b[8..10]));
    if version != 2 {
        return Err(format!("UnsupportedVersion: format version {version} is not supported"));
    }
    if b[10..16].iter().chain(&b[40..60]).any(|&x| x != 0) {
        return Err("Invalid: reserved bytes".into());
    }
    Ok((arr(&b[16..32]), u64::from_le_bytes(arr(&b[32..40]))))
}

/// A complete frame found by the scan (§7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef {
    /// Offset of the frame in the segment.
    pub offset: usize,
    /// `entry_len`.
    pub entry_len: usize,
    /// `section_len`.
    pub section_len: usize,
    /// Sealed (bit 0 of `frame_flags`).
    pub sealed: bool,
}

impl FrameRef {
    /// Offset just after the frame.
    pub fn end(&self) -> usize {
        self.offset + 16 + self.entry_len + self.section_len + if self.sealed { SEAL_LEN } else { 0 }
    }
    /// The entry record bytes.
    pub fn record<'a>(&self, seg: &'a [u8]) -> &'a [u8] {
        &seg[self.offset + 12..self.offset + 12 + self.entry_len]
    }
    /// The payload section bytes.
    pub fn section<'a>(&self, seg: &'a [u8]) -> &'a [u8] {
        let s = self.offset + 12 + self.entry_len;
        &seg[s..s + self.section_len]
    }
    /// The covered range of `frame_crc` (record, section, seal).
    pub fn crc_range(&self) -> std::ops::Range<usize> {
        self.offset + 12..self.end() - 4
    }
}

/// How a segment scan ended (§8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Clean end.
    Clean,
    /// Torn tail (newest segment): from `sealed_end` to EOF.
    Torn {
        /// Where the torn tail starts.
        sealed_end: usize,
        /// Why.
        reason: &'static str,
    },
    /// Damage at `offset`.
    Damage {
        /// Frame position.
        offset: usize,
        /// Why.
        reason: String,
    },
}

/// §7.3: the frame header rules (used once its CRC matched).
fn header_rules_ok(e: usize, flags: u8, reserved: u8, p: usize) -> bool {
    (MIN_ENTRY_LEN..=MAX_ENTRY_LEN).contains(&e)
        && flags & !1 == 0
        && reserved == 0
        && (33..=33 + MAX_PAYLOAD_LEN).contains(&p)
}

/// A segment file, read only as far as the scan needs: §8 decides a tail longer than
/// `MAX_TORN` from the lengths alone, so a sparse-extended file is never read whole.
pub struct SegFile {
    file: Option<fs::File>,
    /// The bytes read so far: a prefix of the file.
    pub buf: Vec<u8>,
    len: usize,
}

impl SegFile {
    /// A segment already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SegFile {
            file: None,
            len: bytes.len(),
            buf: bytes,
        }
    }

    fn open(path: &Path) -> std::io::Result<Self> {
        let file = fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        Ok(SegFile {
            file: Some(file),
            buf: Vec::new(),
            len,
        })
    }

    /// The file's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes `range` (within the file's length), reading what is missing.
    fn get(&mut self, range: std::ops::Range<usize>) -> &[u8] {
        if range.end > self.buf.len() {
            use std::io::Read as _;
            let start = self.buf.len();
            self.buf.resize(range.end, 0);
            if let Some(f) = &mut self.file {
                // A short read (the file shrank under us) leaves zeros: the CRCs then fail.
                let mut at = start;
                while at < range.end {
                    match f.read(&mut self.buf[at..range.end]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => at += n,
                    }
                }
            }
        }
        &self.buf[range]
    }
}

/// §8: scans the frames of a segment (`seg` is the whole file, header included).
pub fn scan_segment(seg: &[u8], newest: bool) -> (Vec<FrameRef>, ScanEnd) {
    scan(&mut SegFile::from_bytes(seg.to_vec()), newest)
}

/// §8 over a [`SegFile`].
fn scan(seg: &mut SegFile, newest: bool) -> (Vec<FrameRef>, ScanEnd) {
    let len = seg.len();
    let mut frames = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut sealed_end = SEGMENT_HEADER_LEN;
    // "whenever the newest segment is found torn the torn tail runs from sealed_end to EOF:
    // if file length − sealed_end > MAX_TORN, that is damage (T0)".
    let torn = |sealed_end: usize, pos: usize, reason: &'static str| {
        if (len - sealed_end) as u64 > MAX_TORN {
            // SPEC: the damage offset of a too-long torn tail is not stated (sealed_end or the
            // position where the scan found the tail torn); `pos` is reported.
            ScanEnd::Damage {
                offset: pos,
                reason: "more than MAX_TORN bytes after the last seal".into(),
            }
        } else {
            ScanEnd::Torn { sealed_end, reason }
        }
    };
    let damage = |pos: usize, reason: &str| ScanEnd::Damage {
        offset: pos,
        reason: reason.to_string(),
    };
    let end = loop {
        // T0
        if newest && (pos - sealed_end) as u64 > MAX_TORN {
            break damage(pos, "more than MAX_TORN bytes after the last seal");
        }
        let rem = len - pos;
        // T1
        if rem == 0 {
            if sealed_end == pos && (newest || !frames.is_empty()) {
                break ScanEnd::Clean;
            }
            break if newest {
                torn(sealed_end, pos, "write did not complete")
            } else {
                damage(pos, "segment does not end with a sealed frame")
            };
        }
        // T1b: zeros from the last seal to EOF are reserved space, a clean end (a tail longer
        // than MAX_TORN is damage, found below by T2/T5 and the torn-tail bound).
        if newest
            && sealed_end == pos
            && (len - sealed_end) as u64 <= MAX_TORN
            && seg.get(pos..len).iter().all(|&b| b == 0)
        {
            break ScanEnd::Clean;
        }
        // T2
        if rem < FRAME_HEADER_LEN {
            break if newest {
                torn(sealed_end, pos, "incomplete frame header")
            } else {
                damage(pos, "incomplete frame header")
            };
        }
        let hdr: [u8; FRAME_HEADER_LEN] = arr(seg.get(pos..pos + FRAME_HEADER_LEN));
        let crc_ok = crc32c::crc32c(&hdr[..8]) == u32::from_le_bytes(arr(&hdr[8..12]));
        if !crc_ok {
            // T5 / T6. A too-long tail is damage whatever its bytes, so they need not be read.
            if newest
                && (len - sealed_end) as u64 <= MAX_TORN
                && hdr[8..12] == [0; 4]
                && seg.get(pos + FRAME_HEADER_LEN..len).iter().all(|&b| b == 0)
            {
                break torn(sealed_end, pos, "zero-filled tail");
            }
            if newest && (len - sealed_end) as u64 > MAX_TORN {
                break damage(pos, "more than MAX_TORN bytes after the last seal");
            }
            break damage(pos, "frame header checksum mismatch");
        }
        let e = u16::from_le_bytes(arr(&hdr[0..2])) as usize;
        let flags = hdr[2];
        let p = u32::from_le_bytes(arr(&hdr[4..8])) as usize;
        // T3
        if !header_rules_ok(e, flags, hdr[3], p) {
            break damage(pos, "frame header out of bounds");
        }
        let f = FrameRef {
            offset: pos,
            entry_len: e,
            section_len: p,
            sealed: flags & 1 == 1,
        };
        // T4
        if f.end() > len {
            break if newest {
                torn(sealed_end, pos, "frame extends past EOF")
            } else {
                damage(pos, "frame extends past EOF")
            };
        }
        let stored = u32::from_le_bytes(arr(seg.get(f.end() - 4..f.end())));
        if crc32c::crc32c(seg.get(f.crc_range())) != stored {
            // T7 / T8
            let zeros_after = f.end() == len
                || (len - sealed_end) as u64 <= MAX_TORN && seg.get(f.end()..len).iter().all(|&b| b == 0);
            if newest && stored == 0 && zeros_after {
                break torn(sealed_end, pos, "final frame incompletely written");
            }
            break damage(pos, "frame checksum mismatch");
        }
        // T9
        frames.push(f);
        pos = f.end();
        if f.sealed {
            sealed_end = pos;
        }
    };
    (frames, end)
}

/// §7.4: a payload section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section<'a> {
    /// Salt and payload.
    Present {
        /// Salt.
        salt: [u8; 32],
        /// Payload.
        payload: &'a [u8],
    },
    /// Erased: the commitment.
    Erased([u8; 32]),
}

/// §7.4: decodes a payload section (its length is at least 33, by the frame rules).
pub fn parse_section(s: &[u8]) -> Result<Section<'_>, String> {
    if s.len() < 33 {
        return Err("section shorter than 33 bytes".into());
    }
    match s[0] {
        0 => Ok(Section::Present {
            salt: arr(&s[1..33]),
            payload: &s[33..],
        }),
        1 => {
            if s[33..].iter().any(|&b| b != 0) {
                return Err("erased section with a non-zero byte after the commitment".into());
            }
            Ok(Section::Erased(arr(&s[1..33])))
        }
        b => Err(format!("payload section state byte {b}")),
    }
}

// ---------------------------------------------------------------------------------------------
// §7.7 index, §11.3 checkpoint log, §11.4 tree files

/// §7.7: the exact index header of a segment.
pub fn index_header(ledger_id: &[u8; 16], first_seq: u64) -> [u8; INDEX_HEADER_LEN] {
    let mut h = [0u8; INDEX_HEADER_LEN];
    h[..8].copy_from_slice(b"PLEDGIDX");
    h[8..10].copy_from_slice(&2u16.to_le_bytes());
    h[16..32].copy_from_slice(ledger_id);
    h[32..40].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..44]);
    h[44..48].copy_from_slice(&crc.to_le_bytes());
    h
}

/// §11.4: the exact header of tree level `level`.
pub fn tree_header(ledger_id: &[u8; 16], level: u8) -> [u8; TREE_HEADER_LEN] {
    let mut h = [0u8; TREE_HEADER_LEN];
    h[..8].copy_from_slice(b"PLEDGTRE");
    h[8..10].copy_from_slice(&2u16.to_le_bytes());
    h[10] = level;
    h[16..32].copy_from_slice(ledger_id);
    h
}

/// §11.3: the exact checkpoint log header.
pub fn log_header(ledger_id: &[u8; 16]) -> [u8; LOG_HEADER_LEN] {
    let mut h = [0u8; LOG_HEADER_LEN];
    h[..8].copy_from_slice(b"PLEDGCKP");
    h[8..10].copy_from_slice(&2u16.to_le_bytes());
    h[16..32].copy_from_slice(ledger_id);
    h
}

/// A checkpoint (§11.3 record fields, §15 JSON fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Ledger id.
    pub ledger_id: [u8; 16],
    /// `tree_size`.
    pub tree_size: u64,
    /// `root`.
    pub root: [u8; 32],
    /// `timestamp`, ns.
    pub timestamp: u64,
    /// `key_id` of the signer.
    pub key_id: [u8; 32],
    /// Signature over the body.
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// §11.1: the signed body.
    pub fn body(&self) -> String {
        checkpoint_body(&self.ledger_id, self.tree_size, &self.root, self.timestamp)
    }
}

/// §11.1: the body text.
pub fn checkpoint_body(ledger_id: &[u8; 16], tree_size: u64, root: &[u8; 32], timestamp: u64) -> String {
    use base64ct::Encoding as _;
    format!(
        "provledger/{}\n{tree_size}\n{}\ntime {timestamp}\n",
        hex(ledger_id),
        base64ct::Base64::encode_string(root)
    )
}

/// §11.3: decodes a log record (CRC checked).
pub fn parse_log_record(ledger_id: &[u8; 16], b: &[u8]) -> Result<Checkpoint, String> {
    if b.len() != LOG_RECORD_LEN {
        return Err("record length".into());
    }
    if crc32c::crc32c(&b[..144]) != u32::from_le_bytes(arr(&b[144..148])) {
        return Err("Checksum".into());
    }
    Ok(Checkpoint {
        ledger_id: *ledger_id,
        tree_size: u64::from_le_bytes(arr(&b[0..8])),
        root: arr(&b[8..40]),
        timestamp: u64::from_le_bytes(arr(&b[40..48])),
        key_id: arr(&b[48..80]),
        signature: arr(&b[80..144]),
    })
}

/// §11.3 + §8: reads a checkpoint log (`None` bytes = absent).
pub fn parse_log(ledger_id: &[u8; 16], bytes: Option<&[u8]>) -> Result<Vec<Checkpoint>, String> {
    let Some(b) = bytes else { return Ok(Vec::new()) };
    if b.len() < LOG_HEADER_LEN {
        return Ok(Vec::new());
    }
    if b[..LOG_HEADER_LEN] != log_header(ledger_id) {
        return Err("bad checkpoint log header".into());
    }
    let body = &b[LOG_HEADER_LEN..];
    let complete = body.len() / LOG_RECORD_LEN;
    let partial = body.len() % LOG_RECORD_LEN != 0;
    let mut out = Vec::with_capacity(complete);
    for i in 0..complete {
        let rec = &body[i * LOG_RECORD_LEN..(i + 1) * LOG_RECORD_LEN];
        // SPEC: "a final complete record whose 148 bytes are all zero" is torn; with an
        // incomplete record after it, it is not final, so it is damage (one torn record at most).
        if i + 1 == complete && !partial && rec.iter().all(|&x| x == 0) {
            break;
        }
        out.push(parse_log_record(ledger_id, rec).map_err(|e| format!("checkpoint #{i}: {e}"))?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// §10 Merkle tree

/// The recomputed tree: all leaves (test code) and the perfect-subtree stack.
#[derive(Default)]
struct Tree {
    size: u64,
    /// (level, hash) of the perfect subtrees of the current size, left to right.
    stack: Vec<(u32, [u8; 32])>,
}

impl Tree {
    /// Adds a leaf; returns every node it completes as (level, index, hash), leaf included.
    fn push(&mut self, leaf: [u8; 32]) -> Vec<(u32, u64, [u8; 32])> {
        self.size += 1;
        let mut done = vec![(0, self.size - 1, leaf)];
        self.stack.push((0, leaf));
        while self.stack.len() >= 2 {
            let (lr, r) = self.stack[self.stack.len() - 1];
            let (ll, l) = self.stack[self.stack.len() - 2];
            if ll != lr {
                break;
            }
            self.stack.truncate(self.stack.len() - 2);
            let n = node_hash(&l, &r);
            self.stack.push((ll + 1, n));
            done.push((ll + 1, (self.size >> (ll + 1)) - 1, n));
        }
        done
    }

    fn root(&self) -> [u8; 32] {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut r)) = it.next() else {
            return empty_root();
        };
        for (_, l) in it {
            r = node_hash(l, &r);
        }
        r
    }
}

/// §10: the root over `entry_hashes`.
pub fn merkle_root(entry_hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut t = Tree::default();
    for e in entry_hashes {
        t.push(leaf_hash(e));
    }
    t.root()
}

/// A proof failure: not a proof at all, or a false one (§10, §15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// Wrong shape.
    Malformed(String),
    /// Well-formed but does not hold.
    Invalid(String),
}

/// §10: RFC 9162 §2.1.3.2 inclusion verification.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    entry_hash: &[u8; 32],
    path: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::Malformed("leaf_index ≥ tree_size".into()));
    }
    if path.len() > MAX_INCLUSION_PATH {
        return Err(ProofError::Malformed("path longer than 64".into()));
    }
    let (mut fnn, mut sn) = (leaf_index, tree_size - 1);
    let mut r = leaf_hash(entry_hash);
    for p in path {
        if sn == 0 {
            return Err(ProofError::Malformed("path too long for the sizes".into()));
        }
        if fnn & 1 == 1 || fnn == sn {
            r = node_hash(p, &r);
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Malformed("path too short for the sizes".into()));
    }
    if &r != root {
        return Err(ProofError::Invalid("root mismatch".into()));
    }
    Ok(())
}

/// §10: RFC 9162 §2.1.4.2 consistency verification.
pub fn verify_consistency(
    m: u64,
    n: u64,
    old_root: &[u8; 32],
    new_root: &[u8; 32],
    path: &[[u8; 32]],
) -> Result<(), ProofError> {
    if m == 0 || m > n {
        return Err(ProofError::Malformed("sizes".into()));
    }
    if path.len() > MAX_CONSISTENCY_PATH {
        return Err(ProofError::Malformed("path longer than 65".into()));
    }
    if m == n {
        if !path.is_empty() {
            return Err(ProofError::Malformed("equal sizes need an empty path".into()));
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Invalid("roots differ".into()))
        };
    }
    if path.is_empty() {
        // SPEC: RFC 9162 "stop and fail"; a correct prover never gives an empty path for
        // m < n, so it is read as malformed.
        return Err(ProofError::Malformed("empty path".into()));
    }
    let mut c: Vec<[u8; 32]> = Vec::with_capacity(path.len() + 1);
    if m.is_power_of_two() {
        c.push(*old_root);
    }
    c.extend_from_slice(path);
    let (mut fnn, mut sn) = (m - 1, n - 1);
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (c[0], c[0]);
    for p in &c[1..] {
        if sn == 0 {
            return Err(ProofError::Malformed("path too long for the sizes".into()));
        }
        if fnn & 1 == 1 || fnn == sn {
            fr = node_hash(p, &fr);
            sr = node_hash(p, &sr);
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Malformed("path too short for the sizes".into()));
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::Invalid("roots not reproduced".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// §9 verification

/// The auditor's trust anchor (§9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// A public key: a genesis anchor that signed the genesis entry.
    PublicKey([u8; 32]),
    /// The genesis entry hash `E_0`.
    GenesisHash([u8; 32]),
}

/// Options of §9.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// `allow_uncovered_tail`.
    pub allow_uncovered_tail: bool,
    /// `from_checkpoint` T (step 3).
    pub from_checkpoint: Option<Checkpoint>,
}

/// A torn tail (§8), as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// The segment file.
    pub file: PathBuf,
    /// Where the tail starts (end of the last sealed frame, or 0 for a file shorter than its
    /// header).
    pub offset: u64,
    /// Bytes from there to EOF.
    pub bytes: u64,
    /// Complete frames in it.
    pub frames: u64,
}

/// The outcome of [`verify_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Ok {
        /// Verified entries.
        entries: u64,
        /// Chain value of the last verified entry.
        head: [u8; 32],
        /// Merkle root over the verified entries.
        root: [u8; 32],
        /// Erased entries.
        redacted: Vec<u64>,
        /// Redactions whose target is still present (see `// SPEC:` in L9).
        redaction_pending: Vec<u64>,
        /// Unsigned entries a checkpoint (or T) covers.
        unsigned_covered: u64,
        /// Unsigned entries allowed by `allow_uncovered_tail`.
        uncovered_tail: u64,
        /// The torn tail, if any.
        torn: Option<Torn>,
        /// Checkpoints whose root and signature were verified (the log's, and T).
        checkpoints_verified: u64,
        /// Stored tree nodes missing.
        tree_missing: u64,
    },
    /// The first failure.
    Failed {
        /// Check name of §9.
        check: &'static str,
        /// Sequence number concerned.
        seq: Option<u64>,
        /// Why, for a person.
        why: String,
    },
    /// Verification could not run: step 0 (not a ledger), or a ledger file that is not a
    /// regular file (§7.1: "an error"). An error, not a report.
    Error(String),
}

impl Verdict {
    fn fail(check: &'static str, seq: Option<u64>, why: impl Into<String>) -> Self {
        Verdict::Failed {
            check,
            seq,
            why: why.into(),
        }
    }
}

/// A verdict reached early (boxed: the passing variant is large).
type Checked<T> = Result<T, Box<Verdict>>;

fn fail<T>(check: &'static str, seq: u64, why: impl Into<String>) -> Checked<T> {
    Err(Box::new(Verdict::fail(check, Some(seq), why)))
}

fn stop(v: Verdict) -> Box<Verdict> {
    Box::new(v)
}

/// A key of the registry (§9 step 2.4, E5).
#[derive(Clone, Debug)]
struct RegKey {
    public_key: [u8; 32],
    roles: u8,
    enrolled_at: u64,
    revoked_at: Option<u64>,
}

/// §7.1: reads a ledger file that must be a regular file (symbolic links are not followed).
/// `Ok(None)`: absent.
fn read_regular(path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > max {
        return Err(format!("{} is longer than {max} bytes", path.display()));
    }
    fs::read(path).map(Some).map_err(|e| format!("{}: {e}", path.display()))
}

fn is_dir_nofollow(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_dir())
        .unwrap_or(false)
}

/// Step 0: the segments, by number.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let seg_dir = dir.join("segments");
    if !is_dir_nofollow(&seg_dir) {
        return Err("no segments/ directory".into());
    }
    let mut out = Vec::new();
    for e in fs::read_dir(&seg_dir).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name.strip_suffix(".seg") else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // SPEC: a 20-digit name above u64::MAX matches the pattern but names no sequence
        // number; it is ignored here like any other non-matching name.
        let Ok(n) = digits.parse::<u64>() else { continue };
        out.push((n, e.path()));
    }
    out.sort();
    if out.first().map(|s| s.0) != Some(0) {
        return Err("no segment 0".into());
    }
    Ok(out)
}

/// The stored tree levels (§11.4): level → nodes (`None`: missing or bad header).
struct StoredTree {
    levels: HashMap<u32, Option<Vec<u8>>>,
    dir: PathBuf,
    ledger_id: [u8; 16],
}

impl StoredTree {
    fn level(&mut self, level: u32) -> &Option<Vec<u8>> {
        let (dir, id) = (&self.dir, &self.ledger_id);
        self.levels.entry(level).or_insert_with(|| {
            // SPEC: §7.1 makes a symbolic link in place of tree/ "an error (never followed,
            // never read)"; for derived data, a directory that is not read holds no nodes:
            // they count as missing (§9 L8), as for a missing tree/.
            if !is_dir_nofollow(&dir.join("tree")) {
                return None;
            }
            let path = dir.join("tree").join(format!("level-{level:02}.hashes"));
            // SPEC: an unreadable or non-regular tree file counts as absent (derived data).
            let bytes = read_regular(&path, u64::MAX).ok().flatten()?;
            if bytes.len() < TREE_HEADER_LEN || bytes[..TREE_HEADER_LEN] != tree_header(id, level as u8) {
                return None;
            }
            Some(bytes[TREE_HEADER_LEN..].to_vec())
        })
    }
}

/// Everything §9 carries from one entry to the next.
struct State {
    dir: PathBuf,
    opts: Opts,
    ledger_id: [u8; 16],
    n: u64,
    prev_chain: [u8; 32],
    tree: Tree,
    stored: StoredTree,
    tree_missing: u64,
    hashes: Vec<[u8; 32]>,
    erased: BTreeSet<u64>,
    unexplained: BTreeSet<u64>,
    pending: Vec<u64>,
    registry: HashMap<[u8; 32], RegKey>,
    log: Vec<Checkpoint>,
    covered: u64,
    trusted: u64,
    unsigned_covered: u64,
    uncovered_tail: u64,
    checkpoints_verified: u64,
}

/// What step 1 hands to the per-entry checks about the entry's place.
struct Place<'a> {
    index: &'a Option<Vec<u8>>,
    index_pos: usize,
    offset: usize,
}

/// §9: verifies the ledger in `dir` against `anchor`.
pub fn verify_dir(dir: &Path, anchor: Anchor, opts: Opts) -> Verdict {
    match verify_inner(dir, anchor, opts) {
        Ok(v) => v,
        Err(v) => *v,
    }
}

fn verify_inner(dir: &Path, anchor: Anchor, opts: Opts) -> Checked<Verdict> {
    // Step 0.
    let segments = list_segments(dir).map_err(|e| stop(Verdict::Error(e)))?;
    let mut st: Option<State> = None;
    let mut torn = None;
    let count = segments.len();
    for (j, (num, path)) in segments.into_iter().enumerate() {
        let newest = j + 1 == count;
        let expected = st.as_ref().map_or(0, |s| s.n);
        // SPEC: a non-regular segment file is "an error" (§7.1), not a failed check: an
        // error here (as the library has it), like a directory that is not a ledger.
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            return Err(stop(Verdict::Error(format!(
                "{} is not a regular file",
                path.display()
            ))));
        }
        let mut file = SegFile::open(&path).map_err(|e| stop(Verdict::Error(format!("{}: {e}", path.display()))))?;
        // Step 1.1: longer than MAX_SEGMENT_LEN → format, from the length alone.
        if file.len() as u64 > MAX_SEGMENT_LEN {
            return fail("format", expected, "segment longer than MAX_SEGMENT_LEN");
        }
        let header: Vec<u8> = file.get(0..file.len().min(SEGMENT_HEADER_LEN)).to_vec();
        // Step 1.1: shorter than its header.
        if header.len() < SEGMENT_HEADER_LEN {
            if newest {
                torn = Some(Torn {
                    file: path.clone(),
                    offset: 0,
                    bytes: header.len() as u64,
                    frames: 0,
                });
                break;
            }
            return fail("format", expected, "sealed segment shorter than its header");
        }
        // Step 1.2 – 1.4.
        let (id, first_seq) =
            parse_segment_header(&header).or_else(|e| fail("format", expected, format!("segment header: {e}")))?;
        if first_seq != num {
            return fail("format", expected, "first_seq differs from the file name");
        }
        if let Some(s) = &st {
            if s.ledger_id != id {
                return fail("format", expected, "ledger id differs from segment 0's");
            }
        }
        // Step 1.5.
        if first_seq != expected {
            return fail("chain", expected, "segment does not continue the previous one");
        }
        // Step 1.6.
        let (frames, end) = scan(&mut file, newest);
        let file_len = file.len();
        let bytes = file.buf;
        // Damage is reported at "the entry expected at that position" (§9): every complete
        // frame before it is verified first, also the frames of a write whose seal was never
        // reached. (In the newest segment the library reports such damage at the first frame
        // after the last seal instead, with the damaged frame's offset: see the test
        // `known_library_deviations`.) A torn tail keeps only the frames up to the last seal.
        let kept: Vec<FrameRef> = match &end {
            ScanEnd::Torn { sealed_end, .. } => frames.iter().copied().filter(|f| f.end() <= *sealed_end).collect(),
            _ => frames.clone(),
        };
        // SPEC: the index is read lazily, at the segment's first entry (L7); a segment with no
        // complete frame never consults it.
        let index_path = path.with_extension("idx");
        let index: Option<Vec<u8>> = if kept.is_empty() {
            None
        } else {
            read_regular(&index_path, u64::MAX)
                .ok()
                .flatten()
                .filter(|b| b.len() >= INDEX_HEADER_LEN && b[..INDEX_HEADER_LEN] == index_header(&id, first_seq))
        };
        for (i, f) in kept.iter().enumerate() {
            let place = Place {
                index: &index,
                index_pos: i,
                offset: f.offset,
            };
            match &mut st {
                None => st = Some(genesis(dir, &anchor, &opts, id, &bytes, f, &place)?),
                Some(s) => s.entry(&bytes, f, &place)?,
            }
        }
        let verified = st.as_ref().map_or(0, |s| s.n);
        match end {
            ScanEnd::Damage { offset, reason } => {
                return fail(
                    "format",
                    verified,
                    format!("{} at offset {offset}: {reason}", path.display()),
                );
            }
            ScanEnd::Torn { sealed_end, .. } => {
                torn = Some(Torn {
                    file: path.clone(),
                    offset: sealed_end as u64,
                    bytes: (file_len - sealed_end) as u64,
                    frames: (frames.len() - kept.len()) as u64,
                });
            }
            ScanEnd::Clean => {}
        }
        if !newest {
            // Step 1.6: a sealed segment's index has exactly one slot per frame.
            let slots = index.as_ref().map_or(0, |b| (b.len() - INDEX_HEADER_LEN) / 4);
            if slots != kept.len() {
                // SPEC: the sequence number of this failure is not stated; the first entry
                // where slots and frames disagree is reported.
                return fail(
                    "index",
                    first_seq + slots.min(kept.len()) as u64,
                    "index slot count differs from frames",
                );
            }
        }
    }
    // Step 5.
    let Some(mut s) = st else {
        return fail("format", 0, "no complete genesis entry");
    };
    if let Some(&n) = s.unexplained.first() {
        return fail("redaction", n, "erased without a redaction entry");
    }
    if let Some((i, c)) = s.log.iter().enumerate().find(|(_, c)| c.tree_size > s.n) {
        // SPEC: the sequence number of a step 5.3 failure is not stated; the first entry the
        // checkpoint covers that is not there (the number of entries) is reported, as the
        // library does.
        return fail(
            "checkpoint",
            s.n,
            format!("checkpoint #{i} covers {} entries, ledger has {}", c.tree_size, s.n),
        );
    }
    if let Some(t) = &s.opts.from_checkpoint {
        if t.tree_size > s.n {
            return fail("checkpoint", s.n, "trusted checkpoint beyond the ledger");
        }
    }
    let root = s.tree.root();
    s.pending.sort_unstable();
    Ok(Verdict::Ok {
        entries: s.n,
        head: s.prev_chain,
        root,
        redacted: s.erased.iter().copied().collect(),
        redaction_pending: s.pending,
        unsigned_covered: s.unsigned_covered,
        uncovered_tail: s.uncovered_tail,
        torn,
        checkpoints_verified: s.checkpoints_verified,
        tree_missing: s.tree_missing,
    })
}

/// An entry's bytes decoded as E1 – E4 give them.
struct Decoded<'a> {
    rec: Record,
    section: Section<'a>,
    statement: Vec<u8>,
    hash: [u8; 32],
    governance: Option<Governance>,
}

/// E1 and the form of E2: decode the record and the payload section of entry `n`.
fn decode_entry<'a>(n: u64, seg: &'a [u8], f: &FrameRef) -> Checked<(Record, Section<'a>)> {
    let rec = parse_record(f.record(seg)).or_else(|e| fail("format", n, format!("record: {e}")))?;
    // SPEC: E2 lists "kind MUST be redactable → redaction" before "any other state, or a
    // non-zero byte after an erased section's commitment → format"; a malformed section is
    // damage whatever the kind, so the section is checked for form first.
    let section = parse_section(f.section(seg)).or_else(|e| fail("format", n, e))?;
    Ok((rec, section))
}

/// E2 (the commitment) and E3: the statement and the entry hash of entry `n`.
fn hash_entry<'a>(ledger_id: &[u8; 16], n: u64, rec: Record, section: Section<'a>) -> Decoded<'a> {
    let commitment = match &section {
        Section::Present { salt, payload } => payload_commitment(salt, payload),
        Section::Erased(c) => *c,
    };
    let statement = statement(ledger_id, &rec, &commitment);
    let hash = entry_hash(n, &statement, &authorship(&rec));
    Decoded {
        rec,
        section,
        statement,
        hash,
        governance: None,
    }
}

/// Step 2 (the genesis entry), then step 2a and step 3's start, then step 4 on it.
fn genesis(
    dir: &Path,
    anchor: &Anchor,
    opts: &Opts,
    ledger_id: [u8; 16],
    seg: &[u8],
    f: &FrameRef,
    place: &Place,
) -> Checked<State> {
    // 2.1: decode, kind 0.
    let (rec, section) = decode_entry(0, seg, f)?;
    if rec.kind != kind::GENESIS {
        return fail("chain", 0, "entry 0 is not a genesis entry");
    }
    // 2.2: present.
    let Section::Present { payload, .. } = section else {
        return fail("format", 0, "genesis payload erased");
    };
    // 2.3.
    let g = parse_genesis(payload).or_else(|e| fail("format", 0, format!("genesis: {e}")))?;
    let d = hash_entry(&ledger_id, 0, rec, section);
    // 2.4.
    let registry = g
        .anchors
        .iter()
        .map(|a| {
            (
                key_id(&a.public_key),
                RegKey {
                    public_key: a.public_key,
                    roles: a.roles,
                    enrolled_at: 0,
                    revoked_at: None,
                },
            )
        })
        .collect();
    // 2.5.
    match anchor {
        Anchor::PublicKey(k) => {
            if validate_key(k).is_none() {
                return fail("trust_anchor", 0, "trust anchor key fails validation");
            }
            if !g.anchors.iter().any(|a| &a.public_key == k) {
                return fail("trust_anchor", 0, "trust anchor key is not a genesis anchor");
            }
            let kid = key_id(k);
            let signed = d
                .rec
                .position
                .iter()
                .chain(&d.rec.cosignatures)
                .any(|s| s.key_id == kid);
            if !signed {
                return fail(
                    "trust_anchor",
                    0,
                    "the genesis entry carries no signature by the trust anchor key",
                );
            }
        }
        Anchor::GenesisHash(hash) => {
            if &d.hash != hash {
                return fail("trust_anchor", 0, "genesis entry hash differs from the trust anchor");
            }
        }
    }
    let mut st = State {
        dir: dir.to_path_buf(),
        opts: opts.clone(),
        ledger_id,
        n: 0,
        prev_chain: [0; 32],
        tree: Tree::default(),
        stored: StoredTree {
            levels: HashMap::new(),
            dir: dir.to_path_buf(),
            ledger_id,
        },
        tree_missing: 0,
        hashes: Vec::new(),
        erased: BTreeSet::new(),
        unexplained: BTreeSet::new(),
        pending: Vec::new(),
        registry,
        log: Vec::new(),
        covered: 0,
        trusted: 0,
        unsigned_covered: 0,
        uncovered_tail: 0,
        checkpoints_verified: 0,
    };
    // Step 2a.
    // SPEC: "read once, right after the genesis entry", yet step 2.6 runs L8 on the genesis
    // entry, where a checkpoint of size 1 is checked, and step 3's exception (no E6 below t)
    // applies to it too. The log and T are therefore read here, after steps 2.1 – 2.5 and
    // before the per-entry checks of the genesis entry.
    st.read_log()?;
    // Step 3.
    if let Some(t) = &st.opts.from_checkpoint {
        // SPEC: the sequence number of a step 3 failure is not stated; `None` is reported.
        if t.tree_size == 0 || t.ledger_id != ledger_id {
            return Err(stop(Verdict::fail(
                "checkpoint",
                None,
                "trusted checkpoint of size 0 or of another ledger",
            )));
        }
        st.trusted = t.tree_size;
    }
    // 2.6: the per-entry checks (E1 – E4 done above; E4 does not apply to kind 0).
    st.after_decode(d, place)?;
    Ok(st)
}

impl State {
    /// Step 2a.
    fn read_log(&mut self) -> Checked<()> {
        // SPEC: the sequence number of a step 2a failure is not stated; `None` is reported.
        let path = self.dir.join("checkpoints.log");
        // SPEC: a non-regular checkpoint log is "an error" (§7.1), as for segments.
        let bytes = read_regular(&path, u64::MAX).map_err(|e| stop(Verdict::Error(e)))?;
        let log = parse_log(&self.ledger_id, bytes.as_deref()).map_err(|e| Verdict::fail("checkpoint", None, e))?;
        let mut prev = 0u64;
        for (i, c) in log.iter().enumerate() {
            // SPEC: the sequence number of a step 2a failure is not stated. A checkpoint
            // smaller than the one before is reported at the entry that brings the tree to its
            // size (size − 1, as the library does); one of size 0 at no entry.
            if c.tree_size == 0 {
                return Err(stop(Verdict::fail(
                    "checkpoint",
                    None,
                    format!("checkpoint #{i}: size 0"),
                )));
            }
            if c.tree_size < prev {
                return fail(
                    "checkpoint",
                    c.tree_size - 1,
                    format!("checkpoint #{i}: smaller than the one before"),
                );
            }
            prev = c.tree_size;
        }
        self.covered = prev;
        self.log = log;
        Ok(())
    }

    /// Step 4 for an entry after the genesis entry.
    fn entry(&mut self, seg: &[u8], f: &FrameRef, place: &Place) -> Checked<()> {
        let n = self.n;
        let (rec, section) = decode_entry(n, seg, f)?;
        // E2: an erased entry's kind must be redactable.
        if matches!(section, Section::Erased(_)) && !kind::redactable(rec.kind) {
            return fail("redaction", n, "payload of a kind that may not be erased is erased");
        }
        let mut d = hash_entry(&self.ledger_id, n, rec, section);
        // E4.
        if (2..=13).contains(&d.rec.kind) {
            if let Section::Present { payload, .. } = d.section {
                let g = parse_governance(d.rec.kind, payload)
                    .or_else(|e| fail("format", n, format!("record payload: {e}")))?;
                d.governance = Some(g);
            }
        }
        // L0.
        if d.rec.kind == kind::GENESIS {
            return fail("chain", n, "a genesis entry after entry 0");
        }
        self.after_decode(d, place)
    }

    /// E5, L1, E6, L6, L7, L8, L9 (shared by the genesis entry).
    fn after_decode(&mut self, d: Decoded, place: &Place) -> Checked<()> {
        let n = self.n;
        let rec = &d.rec;
        // E5.
        let mut ids: Vec<[u8; 32]> = rec.position.iter().chain(&rec.cosignatures).map(|s| s.key_id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return fail("format", n, "a key signs an entry twice");
        }
        if rec.kind != kind::APPLICATION && rec.position.is_none() {
            return fail("signature", n, "no position signature");
        }
        let live =
            |reg: &HashMap<[u8; 32], RegKey>, id: &[u8; 32]| reg.get(id).filter(|k| k.revoked_at.is_none()).cloned();
        let mut signers: Vec<RegKey> = Vec::new();
        if let Some(p) = &rec.position {
            let Some(k) = live(&self.registry, &p.key_id) else {
                return fail("key", n, "position signer not enrolled or revoked");
            };
            if k.roles & role::OPERATOR == 0 {
                return fail("key", n, "position signer is not an operator");
            }
            signers.push(k);
        }
        for c in &rec.cosignatures {
            let Some(k) = live(&self.registry, &c.key_id) else {
                return fail("key", n, "co-signer not enrolled or revoked");
            };
            signers.push(k);
        }
        let needed = role::needed(rec.kind);
        if needed != 0 && !signers.iter().any(|k| k.roles & needed != 0) {
            return fail("key", n, "no signature by a key with the kind's role");
        }
        match &d.governance {
            Some(Governance::Enroll(g)) => {
                if validate_key(&g.public_key).is_none() {
                    return fail("key", n, "enrolled key fails validation");
                }
                let id = key_id(&g.public_key);
                if self.registry.contains_key(&id) {
                    return fail("key", n, "key enrolled twice");
                }
                self.registry.insert(
                    id,
                    RegKey {
                        public_key: g.public_key,
                        roles: g.roles,
                        enrolled_at: n,
                        revoked_at: None,
                    },
                );
            }
            Some(Governance::Revoke(id)) => match self.registry.get_mut(id) {
                Some(k) if k.revoked_at.is_none() => k.revoked_at = Some(n),
                _ => return fail("key", n, "revoked key not enrolled or already revoked"),
            },
            _ => {}
        }
        // L1.
        let prev = self.prev_chain;
        let chain_value = chain(&prev, &d.hash);
        // E6 (skipped below T's size).
        if n >= self.trusted {
            if let Some(p) = &rec.position {
                let k = &signers[0];
                if !verify_signature(&k.public_key, &position_message(&prev, &d.hash), &p.signature) {
                    return fail("chain", n, "position signature does not verify");
                }
            }
            let sd = h("statement", &d.statement);
            let msg = cosignature_message(&sd);
            let offset = usize::from(rec.position.is_some());
            for (i, c) in rec.cosignatures.iter().enumerate() {
                if !verify_signature(&signers[offset + i].public_key, &msg, &c.signature) {
                    return fail("signature", n, "co-signature does not verify");
                }
            }
        }
        // L6.
        if rec.position.is_none() {
            if n < self.covered || n < self.trusted {
                self.unsigned_covered += 1;
            } else if self.opts.allow_uncovered_tail {
                self.uncovered_tail += 1;
            } else {
                return fail("signature", n, "no position signature and no checkpoint covers it");
            }
        }
        // L7.
        let first = n - place.index_pos as u64;
        let Some(index) = place.index else {
            return fail("index", first, "index missing or with a bad header");
        };
        let slot_at = INDEX_HEADER_LEN + 4 * place.index_pos;
        if index.len() >= slot_at + 4 {
            let slot = u32::from_le_bytes(arr(&index[slot_at..slot_at + 4]));
            let governance_bit = slot >> 31 == 1;
            if (slot & 0x7fff_ffff) as usize != place.offset || governance_bit != (rec.kind != kind::APPLICATION) {
                return fail("index", n, "index slot disagrees with the segment");
            }
        }
        // L8.
        for (level, i, node) in self.tree.push(leaf_hash(&d.hash)) {
            if level % 2 != 0 {
                continue;
            }
            match self.stored.level(level) {
                Some(nodes) if nodes.len() >= (i as usize + 1) * 32 => {
                    if nodes[i as usize * 32..(i as usize + 1) * 32] != node {
                        return fail("tree", n, format!("stored node {i} of level {level} differs"));
                    }
                }
                _ => self.tree_missing += 1,
            }
        }
        let size = n + 1;
        let root = self.tree.root();
        let mut due: Vec<(String, Checkpoint)> = self
            .log
            .iter()
            .enumerate()
            .filter(|(_, c)| c.tree_size == size)
            .map(|(i, c)| (format!("checkpoint #{i}"), c.clone()))
            .collect();
        if let Some(t) = self.opts.from_checkpoint.as_ref().filter(|t| t.tree_size == size) {
            due.push(("the trusted checkpoint".into(), t.clone()));
        }
        for (name, c) in due {
            let from_log = name.starts_with("checkpoint #");
            // SPEC: the sequence number of an L8 checkpoint failure is not stated; the entry
            // that brought the tree to the checkpoint's size (size − 1) is reported.
            if c.root != root {
                return fail(
                    "checkpoint",
                    n,
                    format!("{name}: root differs (entries rewritten after it)"),
                );
            }
            let signer = self.registry.get(&c.key_id).filter(|k| {
                k.roles & role::OPERATOR != 0 && k.enrolled_at < size && k.revoked_at.is_none_or(|r| r >= size)
            });
            let Some(k) = signer else {
                return fail(
                    "checkpoint",
                    n,
                    format!("{name}: signer is not an operator valid at its size"),
                );
            };
            if !verify_signature(&k.public_key, c.body().as_bytes(), &c.signature) {
                return fail("checkpoint", n, format!("{name}: signature does not verify"));
            }
            // SPEC: "the number of checkpoints verified" (§9) does not say whether T counts;
            // it does not (the library's `checkpoints_verified` counts the log's).
            if from_log {
                self.checkpoints_verified += 1;
            }
        }
        // L9.
        if matches!(d.section, Section::Erased(_)) {
            self.erased.insert(n);
            self.unexplained.insert(n);
        }
        if let Some(Governance::Redact { target_seq, target }) = &d.governance {
            if *target_seq >= n || &self.hashes[*target_seq as usize] != target {
                return fail("redaction", n, "redaction names no earlier entry by its hash");
            }
            if self.erased.contains(target_seq) {
                self.unexplained.remove(target_seq);
            } else {
                // SPEC: §9 L9 says "n is reported in *redaction pending*" (n is the redaction
                // entry), §7.6 "reports it as redaction pending" (it = the redaction entry or
                // its target). The library reports the target ("entries a redaction names
                // whose payload is still present"), which is what a reader needs to finish
                // the erasure; the target is reported here.
                self.pending.push(*target_seq);
            }
        }
        self.hashes.push(d.hash);
        self.prev_chain = chain_value;
        self.n += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// §11.2 signed notes

/// §11.2: the C2SP key hash of `public_key` for `origin`.
pub fn note_key_hash(origin: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut s = Sha256::new();
    s.update(origin.as_bytes());
    s.update([0x0a, 0x01]);
    s.update(public_key);
    let d: [u8; 32] = s.finalize().into();
    arr(&d[..4])
}

/// §11.2: the verifier key string.
pub fn verifier_key(origin: &str, public_key: &[u8; 32]) -> String {
    use base64ct::Encoding as _;
    let mut k = vec![1u8];
    k.extend_from_slice(public_key);
    format!(
        "{origin}+{}+{}",
        hex(&note_key_hash(origin, public_key)),
        base64ct::Base64::encode_string(&k)
    )
}

/// §11.1: parses a body that must be byte for byte the rendering of its four values.
pub fn parse_body(body: &str) -> Result<([u8; 16], u64, [u8; 32], u64), String> {
    use base64ct::Encoding as _;
    let lines: Vec<&str> = body.split_terminator('\n').collect();
    if lines.len() != 4 || !body.ends_with('\n') {
        return Err("a body is four lines".into());
    }
    let id_hex = lines[0].strip_prefix("provledger/").ok_or("origin")?;
    let id: [u8; 16] = unhex(id_hex).ok_or("ledger id")?;
    let size = decimal(lines[1]).ok_or("tree_size")?;
    if size == 0 {
        return Err("tree_size 0".into());
    }
    let root_bytes = base64ct::Base64::decode_vec(lines[2]).map_err(|_| "root base64")?;
    let root: [u8; 32] = root_bytes.try_into().map_err(|_| "root length")?;
    let time = decimal(lines[3].strip_prefix("time ").ok_or("time line")?).ok_or("time")?;
    if checkpoint_body(&id, size, &root, time) != body {
        return Err("body is not canonical".into());
    }
    Ok((id, size, root, time))
}

fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// §11.2: reads a signed note for `public_key`; returns the checkpoint it carries.
pub fn parse_note(text: &[u8], public_key: &[u8; 32]) -> Result<Checkpoint, String> {
    use base64ct::Encoding as _;
    if validate_key(public_key).is_none() {
        return Err("key fails validation".into());
    }
    if text.len() > MAX_NOTE_LEN {
        return Err("note longer than 8 KiB".into());
    }
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8")?;
    if !text.ends_with('\n') {
        return Err("note does not end with a line feed".into());
    }
    let split = text.find("\n\n").ok_or("no empty line")?;
    let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
    let (ledger_id, tree_size, root, timestamp) = parse_body(body)?;
    let origin = body.lines().next().unwrap_or_default();
    let want = note_key_hash(origin, public_key);
    let mut found = None;
    // SPEC: §11.2 does not say whether empty lines after the last signature line are
    // signature lines ("every signature line MUST start with the em dash"); C2SP signed-note
    // ends a note with its last signature line. The library accepts them: they are ignored.
    for line in sigs.trim_end_matches('\n').split_terminator('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("signature line without the em dash")?;
        // SPEC: "the origin, a space, and standard base64": split at the first space (as
        // C2SP's reference code does); a name with a space then leaves no valid base64.
        let (name, b64) = rest.split_once(' ').ok_or("signature line without a signature")?;
        let raw = base64ct::Base64::decode_vec(b64).map_err(|_| "signature line without base64")?;
        if found.is_some() || name != origin || raw.len() != 68 || raw[..4] != want {
            continue;
        }
        found = Some(arr::<64>(&raw[4..]));
    }
    let signature = found.ok_or("no signature line for this key")?;
    if !verify_signature(public_key, body.as_bytes(), &signature) {
        return Err("signature does not verify".into());
    }
    Ok(Checkpoint {
        ledger_id,
        tree_size,
        root,
        timestamp,
        key_id: key_id(public_key),
        signature,
    })
}

// ---------------------------------------------------------------------------------------------
// §15 JSON proofs

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex of exactly N bytes (either case, §1).
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

type Obj = serde_json::Map<String, serde_json::Value>;

fn malformed<T>(why: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError::Malformed(why.into()))
}

fn invalid<T>(why: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError::Invalid(why.into()))
}

/// An object with exactly `fields`.
fn exact<'a>(v: &'a serde_json::Value, fields: &[&str]) -> Result<&'a Obj, ProofError> {
    let Some(o) = v.as_object() else {
        return malformed("not an object");
    };
    if o.len() != fields.len() || !fields.iter().all(|f| o.contains_key(*f)) {
        return malformed(format!("fields must be exactly {fields:?}"));
    }
    Ok(o)
}

fn json_u64(o: &Obj, f: &str) -> Result<u64, ProofError> {
    o[f].as_u64().map_or_else(|| malformed(format!("{f}: not a u64")), Ok)
}

fn json_hex<const N: usize>(o: &Obj, f: &str) -> Result<[u8; N], ProofError> {
    let Some(s) = o[f].as_str() else {
        return malformed(format!("{f}: not a string"));
    };
    // SPEC: §1 says hex is "lowercase when written; either case accepted when read"; §15
    // says the proof files' hashes, ids and signatures "are lowercase hex". Read as §1 (what
    // the library does): uppercase is accepted.
    unhex(s).map_or_else(|| malformed(format!("{f}: bad hex")), Ok)
}

fn json_path(o: &Obj, f: &str) -> Result<Vec<[u8; 32]>, ProofError> {
    let Some(a) = o[f].as_array() else {
        return malformed(format!("{f}: not an array"));
    };
    a.iter()
        .map(|v| {
            let mut wrap = Obj::new();
            wrap.insert("h".into(), v.clone());
            json_hex::<32>(&wrap, "h")
        })
        .collect()
}

/// §15: a checkpoint object.
pub fn json_checkpoint(v: &serde_json::Value) -> Result<Checkpoint, ProofError> {
    let o = exact(
        v,
        &["ledger_id", "tree_size", "root", "timestamp", "key_id", "signature"],
    )?;
    Ok(Checkpoint {
        ledger_id: json_hex(o, "ledger_id")?,
        tree_size: json_u64(o, "tree_size")?,
        root: json_hex(o, "root")?,
        timestamp: json_u64(o, "timestamp")?,
        key_id: json_hex(o, "key_id")?,
        signature: json_hex(o, "signature")?,
    })
}

enum Proof {
    Inclusion {
        leaf_index: u64,
        tree_size: u64,
        entry_hash: [u8; 32],
        path: Vec<[u8; 32]>,
        root: [u8; 32],
        checkpoint: Checkpoint,
    },
    Consistency {
        old_size: u64,
        new_size: u64,
        old_root: [u8; 32],
        new_root: [u8; 32],
        path: Vec<[u8; 32]>,
        old: Checkpoint,
        new: Checkpoint,
    },
}

/// §15: checks a proof file against a trusted public key and, optionally, a ledger id.
pub fn check_proof_json(
    bytes: &[u8],
    public_key: &[u8; 32],
    expected_ledger: Option<[u8; 16]>,
) -> Result<(), ProofError> {
    // Step 1.
    if bytes.len() > MAX_PROOF_JSON {
        return malformed("proof file over 1 MiB");
    }
    let v: serde_json::Value = serde_json::from_slice(bytes).or_else(|e| malformed(format!("JSON: {e}")))?;
    let Some(o) = v.as_object() else {
        return malformed("not one object");
    };
    // SPEC: §15 does not say how the two forms are told apart; by their fields here
    // (`leaf_index` only in inclusion proofs, `old_size` only in consistency proofs).
    let (ledger_id, proof) = if o.contains_key("leaf_index") {
        let o = exact(
            &v,
            &[
                "version",
                "ledger_id",
                "leaf_index",
                "tree_size",
                "entry_hash",
                "path",
                "root",
                "checkpoint",
            ],
        )?;
        check_version(o)?;
        let p = Proof::Inclusion {
            leaf_index: json_u64(o, "leaf_index")?,
            tree_size: json_u64(o, "tree_size")?,
            entry_hash: json_hex(o, "entry_hash")?,
            path: json_path(o, "path")?,
            root: json_hex(o, "root")?,
            checkpoint: json_checkpoint(&o["checkpoint"])?,
        };
        (json_hex::<16>(o, "ledger_id")?, p)
    } else {
        let o = exact(
            &v,
            &[
                "version",
                "ledger_id",
                "old_size",
                "new_size",
                "old_root",
                "new_root",
                "path",
                "old_checkpoint",
                "new_checkpoint",
            ],
        )?;
        check_version(o)?;
        let p = Proof::Consistency {
            old_size: json_u64(o, "old_size")?,
            new_size: json_u64(o, "new_size")?,
            old_root: json_hex(o, "old_root")?,
            new_root: json_hex(o, "new_root")?,
            path: json_path(o, "path")?,
            old: json_checkpoint(&o["old_checkpoint"])?,
            new: json_checkpoint(&o["new_checkpoint"])?,
        };
        (json_hex::<16>(o, "ledger_id")?, p)
    };
    // Step 2.
    if expected_ledger.is_some_and(|e| e != ledger_id) {
        return invalid("proof is about another ledger");
    }
    let checkpoints: Vec<&Checkpoint> = match &proof {
        Proof::Inclusion { checkpoint, .. } => vec![checkpoint],
        Proof::Consistency { old, new, .. } => vec![old, new],
    };
    // Step 3.
    if checkpoints.iter().any(|c| c.ledger_id != ledger_id) {
        return invalid("checkpoint of another ledger");
    }
    // Step 4.
    let kid = key_id(public_key);
    for c in &checkpoints {
        if c.key_id != kid || !verify_signature(public_key, c.body().as_bytes(), &c.signature) {
            return invalid("checkpoint not signed by the trusted key");
        }
    }
    // Steps 5 and 6.
    match proof {
        Proof::Inclusion {
            leaf_index,
            tree_size,
            entry_hash,
            path,
            root,
            checkpoint,
        } => {
            if checkpoint.tree_size != tree_size || checkpoint.root != root {
                return invalid("checkpoint does not pin the proof's size and root");
            }
            verify_inclusion(leaf_index, tree_size, &entry_hash, &path, &root)
        }
        Proof::Consistency {
            old_size,
            new_size,
            old_root,
            new_root,
            path,
            old,
            new,
        } => {
            if old.tree_size != old_size || old.root != old_root || new.tree_size != new_size || new.root != new_root {
                return invalid("checkpoints do not pin the proof's sizes and roots");
            }
            verify_consistency(old_size, new_size, &old_root, &new_root, &path)
        }
    }
}

fn check_version(o: &Obj) -> Result<(), ProofError> {
    if o["version"].as_u64() != Some(2) {
        return malformed("version is not 2");
    }
    Ok(())
}
