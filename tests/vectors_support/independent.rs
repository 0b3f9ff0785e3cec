//! An independent mini-verifier, written from docs/FORMAT.md alone.
//!
//! It uses `blake3`, `ed25519-dalek` and `crc32c` directly and nothing from provledger, so
//! that agreeing with the vectors shows the specification is sufficient to verify entries,
//! frames and genesis payloads.

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
    if kind > 1 {
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
        let vk = ed25519_dalek::VerifyingKey::from_bytes(pk).map_err(|_| "public key does not decode")?;
        if vk.is_weak() {
            return Err("weak public key".into());
        }
        vk.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(sig))
            .map_err(|_| format!("signature {i} does not verify"))?;
    }
    Ok(digest)
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

/// Hand-written bincode (fixed-int, little-endian) of a genesis record, field by field.
pub struct GenesisWriter {
    pub bytes: Vec<u8>,
    /// (offset, size, field) for each field written.
    pub fields: Vec<(usize, usize, String)>,
}

impl GenesisWriter {
    pub fn new() -> Self {
        GenesisWriter {
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
}
