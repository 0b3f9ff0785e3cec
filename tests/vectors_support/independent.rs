//! An independent mini-verifier, written from docs/FORMAT.md alone.
//!
//! It uses `blake3`, `curve25519-dalek` (point and scalar arithmetic), `crc32c`, `sha2` and
//! `base64ct` directly and nothing from provledger, so that agreeing with the vectors shows the
//! specification is sufficient to verify entries, frames, structured payloads, checkpoints and
//! tree files. Its Ed25519 check is docs/FORMAT.md §3 written out step by step ([`zip215`]),
//! not a call into an Ed25519 library.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::Digest as _;

/// A decoded entry (docs/FORMAT.md, "Entry").
#[derive(Debug)]
pub struct Parsed {
    pub seq: u64,
    pub prev: [u8; 32],
    pub ledger_id: [u8; 16],
    pub kind: u16,
    pub timestamp: u64,
    pub content_type: String,
    pub commitment: [u8; 32],
    pub payload_len: u64,
    pub refs: Vec<[u8; 32]>,
    /// The statement: bytes 40 .. statement_end of the entry.
    pub statement_end: usize,
    pub signatures: Vec<([u8; 32], [u8; 64])>,
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() - self.pos < n {
            return Err(format!("truncated at {}", self.pos));
        }
        self.pos += n;
        Ok(&self.b[self.pos - n..self.pos])
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    fn le(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Parses entry bytes with every bound of docs/FORMAT.md.
pub fn parse_entry(b: &[u8]) -> Result<Parsed, String> {
    if b.len() > 65_536 {
        return Err("entry longer than 65536 bytes".into());
    }
    let mut c = Cur { b, pos: 0 };
    let seq = c.le(8)?;
    let prev = c.arr()?;
    let ledger_id = c.arr()?;
    let kind = u16::try_from(c.le(2)?).expect("two bytes");
    if kind > 12 {
        return Err(format!("undefined kind {kind}"));
    }
    let timestamp = c.le(8)?;
    let ct_len = usize::from(c.take(1)?[0]);
    let ct = c.take(ct_len)?;
    if !ct.iter().all(|&x| (0x21..=0x7e).contains(&x)) {
        return Err("content type not printable ASCII".into());
    }
    let content_type = String::from_utf8(ct.to_vec()).expect("ASCII");
    let commitment = c.arr()?;
    let payload_len = c.le(8)?;
    if payload_len > 16 << 20 {
        return Err("payload length above 16 MiB".into());
    }
    let n_refs = c.le(2)?;
    if n_refs > 1024 {
        return Err("more than 1024 refs".into());
    }
    let refs = (0..n_refs).map(|_| c.arr()).collect::<Result<_, _>>()?;
    let statement_end = c.pos;
    let n_sigs = c.take(1)?[0];
    if n_sigs > 16 {
        return Err("more than 16 signatures".into());
    }
    let mut signatures = Vec::new();
    for _ in 0..n_sigs {
        signatures.push((c.arr()?, c.arr()?));
    }
    if c.pos != b.len() {
        return Err("trailing bytes".into());
    }
    Ok(Parsed {
        seq,
        prev,
        ledger_id,
        kind,
        timestamp,
        content_type,
        commitment,
        payload_len,
        refs,
        statement_end,
        signatures,
    })
}

pub fn entry_hash(entry: &[u8]) -> [u8; 32] {
    blake3::derive_key("provledger v1 entry", entry)
}

pub fn statement_digest(statement: &[u8]) -> [u8; 32] {
    blake3::derive_key("provledger v1 statement", statement)
}

pub fn key_id(public_key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("provledger v1 key id", public_key)
}

pub fn payload_commitment(salt: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut input = salt.to_vec();
    input.extend_from_slice(payload);
    blake3::derive_key("provledger v1 payload", &input)
}

pub fn signing_message(statement_digest: &[u8; 32]) -> Vec<u8> {
    let mut m = b"provledger v1 statement signature\0".to_vec();
    m.extend_from_slice(statement_digest);
    m
}

/// Checks every signature of `entry` against `keys` (public keys); each signature's key id
/// must be the key id of one of them. Returns the statement digest.
pub fn verify_signatures(entry: &[u8], p: &Parsed, keys: &[[u8; 32]]) -> Result<[u8; 32], String> {
    let digest = statement_digest(&entry[40..p.statement_end]);
    let msg = signing_message(&digest);
    for (i, (kid, sig)) in p.signatures.iter().enumerate() {
        if p.signatures[..i].iter().any(|(k, _)| k == kid) {
            return Err("a key signs twice".into());
        }
        let pk = keys
            .iter()
            .find(|k| key_id(k) == *kid)
            .ok_or("signature by an unknown key")?;
        public_key(pk)?;
        if !zip215(pk, &msg, sig) {
            return Err(format!("signature {i} does not verify"));
        }
    }
    Ok(digest)
}

/// The field prime p = 2^255 - 19, little-endian.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// Whether the 255-bit y coordinate of an encoded point (sign bit cleared) is below p.
pub fn canonical_y(pk: &[u8; 32]) -> bool {
    let mut y = *pk;
    y[31] &= 0x7f;
    // Compare little-endian numbers from the most significant byte down.
    for i in (0..32).rev() {
        if y[i] != FIELD_PRIME[i] {
            return y[i] < FIELD_PRIME[i];
        }
    }
    false
}

/// Decodes 32 bytes to a curve point as docs/FORMAT.md §3 says: y is the low 255 bits taken
/// mod p (so y >= p decodes), x is the root of x^2 = (y^2 - 1) / (d y^2 + 1) whose parity is
/// the top bit (x = 0 with the bit set decodes to x = 0); `None` when there is no root.
/// curve25519-dalek's `decompress` is exactly this decoding.
pub fn decode_point(b: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*b).decompress()
}

/// Whether [8]P is the identity (P has order 1, 2, 4 or 8).
pub fn small_order(p: &EdwardsPoint) -> bool {
    p.mul_by_cofactor().is_identity()
}

/// Key validation of docs/FORMAT.md §3: canonical (y < p), a curve point, not of small order.
pub fn public_key(pk: &[u8; 32]) -> Result<EdwardsPoint, String> {
    if !canonical_y(pk) {
        return Err("non-canonical public key (y >= p)".into());
    }
    let a = decode_point(pk).ok_or("public key does not decode")?;
    if small_order(&a) {
        return Err("weak public key".into());
    }
    Ok(a)
}

/// The signature equation of docs/FORMAT.md §3 (ZIP 215), on bytes as given, without key
/// validation: A and R decode, S < L, and [8]([S]B - R - [k]A) is the identity with
/// k = SHA-512(R || A || M) mod L.
pub fn zip215(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    let (Some(a), Some(r)) = (decode_point(pk), decode_point(&r_bytes)) else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let h: [u8; 64] = sha2::Sha512::new()
        .chain_update(r_bytes)
        .chain_update(pk)
        .chain_update(msg)
        .finalize()
        .into();
    let k = Scalar::from_bytes_mod_order_wide(&h);
    (EdwardsPoint::mul_base(&s) - r - a * k).mul_by_cofactor().is_identity()
}

/// A frame split into its parts (docs/FORMAT.md, "Frame"), all checksums verified.
pub struct Frame<'a> {
    pub entry: &'a [u8],
    pub section: &'a [u8],
}

fn crc(b: &[u8]) -> [u8; 4] {
    crc32c::crc32c(b).to_le_bytes()
}

/// Parses exactly one complete frame.
pub fn parse_frame(f: &[u8]) -> Result<Frame<'_>, String> {
    let mut c = Cur { b: f, pos: 0 };
    let e = usize::try_from(c.le(4)?).expect("u32 fits");
    let p = usize::try_from(c.le(4)?).expect("u32 fits");
    if c.take(4)? != crc(&f[..8]) {
        return Err("header checksum".into());
    }
    if !(110..=65_536).contains(&e) || !(33..=33 + (16 << 20)).contains(&p) {
        return Err("length out of bounds".into());
    }
    let entry = c.take(e)?;
    if c.take(4)? != crc(entry) {
        return Err("entry checksum".into());
    }
    let section = c.take(p)?;
    if c.take(4)? != crc(section) {
        return Err("payload checksum".into());
    }
    if c.pos != f.len() {
        return Err("bytes after the frame".into());
    }
    Ok(Frame { entry, section })
}

/// Hand-written bincode (fixed-int, little-endian) of a structured payload, field by field.
pub struct FieldWriter {
    pub bytes: Vec<u8>,
    /// (offset, size, field) for each field written.
    pub fields: Vec<(usize, usize, String)>,
}

impl FieldWriter {
    pub fn new() -> Self {
        FieldWriter {
            bytes: Vec::new(),
            fields: Vec::new(),
        }
    }
    fn put(&mut self, field: String, b: &[u8]) {
        self.fields.push((self.bytes.len(), b.len(), field));
        self.bytes.extend_from_slice(b);
    }
    pub fn string(&mut self, field: &str, s: &str) {
        self.put(format!("{field} length (u64)"), &(s.len() as u64).to_le_bytes());
        self.put(format!("{field} (UTF-8)"), s.as_bytes());
    }
    pub fn count(&mut self, field: &str, n: usize) {
        self.put(format!("{field} count (u64)"), &(n as u64).to_le_bytes());
    }
    pub fn variant(&mut self, field: &str, v: u32) {
        self.put(format!("{field} (u32 variant index)"), &v.to_le_bytes());
    }
    pub fn raw(&mut self, field: &str, b: &[u8]) {
        self.put(field.to_owned(), b);
    }
    pub fn u8(&mut self, field: &str, v: u8) {
        self.put(format!("{field} (u8)"), &[v]);
    }
    pub fn u64(&mut self, field: &str, v: u64) {
        self.put(format!("{field} (u64)"), &v.to_le_bytes());
    }
    pub fn bool(&mut self, field: &str, v: bool) {
        self.put(format!("{field} (bool)"), &[u8::from(v)]);
    }
    pub fn digest(&mut self, field: &str, d: &[u8; 32]) {
        self.put(format!("{field} ([u8; 32])"), d);
    }
    /// The `Option` tag: 0 for `None`, 1 for `Some` (the value follows).
    pub fn option(&mut self, field: &str, some: bool) {
        self.put(format!("{field} Option tag (u8)"), &[u8::from(some)]);
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (docs/FORMAT.md §11).

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(b: &[u8]) -> String {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(b)
}

/// The origin line: "provledger/" and the ledger id in lowercase hex.
pub fn origin(ledger_id: &[u8; 16]) -> String {
    let hex: String = ledger_id.iter().map(|b| format!("{b:02x}")).collect();
    format!("provledger/{hex}")
}

/// The signed checkpoint body (four lines, each ending in a newline).
pub fn checkpoint_body(ledger_id: &[u8; 16], size: u64, root: &[u8; 32], time_ns: u64) -> String {
    format!("{}\n{size}\n{}\ntime {time_ns}\n", origin(ledger_id), base64(root))
}

/// Verification of a checkpoint signature over its body text (key validation, then §3).
pub fn verify_checkpoint_body(pk: &[u8; 32], body: &str, sig: &[u8; 64]) -> Result<(), String> {
    public_key(pk)?;
    if zip215(pk, body.as_bytes(), sig) {
        Ok(())
    } else {
        Err("checkpoint signature does not verify".to_string())
    }
}

/// A checkpoint log record, checksum verified.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub tree_size: u64,
    pub root: [u8; 32],
    pub time_ns: u64,
    pub key_id: [u8; 32],
    pub signature: [u8; 64],
}

/// Parses one 148-byte checkpoint log record.
pub fn parse_checkpoint_record(b: &[u8]) -> Result<CheckpointRecord, String> {
    if b.len() != 148 {
        return Err("a checkpoint record is 148 bytes".into());
    }
    if crc(&b[..144]) != b[144..] {
        return Err("checkpoint record checksum".into());
    }
    let mut c = Cur { b, pos: 0 };
    Ok(CheckpointRecord {
        tree_size: c.le(8)?,
        root: c.arr()?,
        time_ns: c.le(8)?,
        key_id: c.arr()?,
        signature: c.arr()?,
    })
}

/// The 32-byte header of a checkpoint log (magic, version 1, zeros, ledger id).
pub fn checkpoint_log_header(ledger_id: &[u8; 16]) -> Vec<u8> {
    let mut h = b"PLEDGCKP".to_vec();
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&[0; 6]);
    h.extend_from_slice(ledger_id);
    h
}

/// C2SP signed-note key hash: SHA-256(name || "\n" || 0x01 || public key)[..4].
pub fn note_key_hash(name: &str, pk: &[u8; 32]) -> [u8; 4] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', 0x01]);
    h.update(pk);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The C2SP verifier key string `name+hex(key hash)+base64(0x01 || public key)`.
pub fn verifier_key(name: &str, pk: &[u8; 32]) -> String {
    let hash: String = note_key_hash(name, pk).iter().map(|b| format!("{b:02x}")).collect();
    let mut k = vec![1u8];
    k.extend_from_slice(pk);
    format!("{name}+{hash}+{}", base64(&k))
}

fn canonical_decimal(s: &str) -> Result<u64, String> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a canonical decimal"));
    }
    s.parse().map_err(|_| format!("{s:?} does not fit in u64"))
}

/// A checkpoint read from a signed note.
#[derive(Debug, PartialEq, Eq)]
pub struct NoteCheckpoint {
    pub ledger_id: [u8; 16],
    pub tree_size: u64,
    pub root: [u8; 32],
    pub time_ns: u64,
    pub signature: [u8; 64],
}

/// Parses a signed note and verifies the signature of `pk` on it (docs/FORMAT.md §11.2).
pub fn parse_note(text: &str, pk: &[u8; 32]) -> Result<NoteCheckpoint, String> {
    use base64ct::Encoding as _;
    let (body, sigs) = text.split_once("\n\n").ok_or("no blank line")?;
    let body = format!("{body}\n");
    let lines: Vec<&str> = body.split_terminator('\n').collect();
    let [origin_line, size, root_b64, time] = lines[..] else {
        return Err("the body must have exactly four lines".into());
    };
    let id_hex = origin_line.strip_prefix("provledger/").ok_or("bad origin")?;
    if id_hex.len() != 32 || !id_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("bad ledger id".into());
    }
    let mut ledger_id = [0u8; 16];
    for (i, o) in ledger_id.iter_mut().enumerate() {
        *o = u8::from_str_radix(&id_hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    let tree_size = canonical_decimal(size)?;
    let root: [u8; 32] = base64ct::Base64::decode_vec(root_b64)
        .map_err(|_| "root is not base64")?
        .try_into()
        .map_err(|_| "root is not 32 bytes")?;
    let time_ns = canonical_decimal(time.strip_prefix("time ").ok_or("no time line")?)?;
    if checkpoint_body(&ledger_id, tree_size, &root, time_ns) != body {
        return Err("body is not canonical".into());
    }
    let name = origin(&ledger_id);
    let want = note_key_hash(&name, pk);
    for line in sigs.split_terminator('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("signature line must start with an em dash")?;
        let (n, b64) = rest.split_once(' ').ok_or("no signature")?;
        let raw = base64ct::Base64::decode_vec(b64).map_err(|_| "signature is not base64")?;
        if n != name || raw.len() != 68 || raw[..4] != want {
            continue;
        }
        let signature: [u8; 64] = raw[4..].try_into().expect("64 bytes");
        verify_checkpoint_body(pk, &body, &signature)?;
        return Ok(NoteCheckpoint {
            ledger_id,
            tree_size,
            root,
            time_ns,
            signature,
        });
    }
    Err("no signature by the given key".into())
}

// ---------------------------------------------------------------------------------------------
// Tree files (docs/FORMAT.md §11.4).

/// The 32-byte header of `tree/level-NN.hashes`.
pub fn tree_level_header(ledger_id: &[u8; 16], level: u8) -> Vec<u8> {
    let mut h = b"PLEDGTRE".to_vec();
    h.extend_from_slice(&1u16.to_le_bytes());
    h.push(level);
    h.extend_from_slice(&[0; 5]);
    h.extend_from_slice(ledger_id);
    h
}

/// The node hashes of every level for the given entry hashes: level 0 the leaf hashes, level
/// k the roots of the complete perfect subtrees of 2^k leaves, left to right.
pub fn tree_levels(entry_hashes: &[[u8; 32]]) -> Vec<Vec<[u8; 32]>> {
    let leaf = |h: &[u8; 32]| *blake3::hash(&[&[0u8][..], h].concat()).as_bytes();
    let mut levels = vec![entry_hashes.iter().map(leaf).collect::<Vec<_>>()];
    while levels.last().expect("non-empty").len() >= 2 {
        let up = levels
            .last()
            .expect("non-empty")
            .chunks_exact(2)
            .map(|p| *blake3::hash(&[&[1u8][..], &p[0], &p[1]].concat()).as_bytes())
            .collect();
        levels.push(up);
    }
    levels
}
