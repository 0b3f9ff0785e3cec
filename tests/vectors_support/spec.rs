//! The byte layouts of docs/FORMAT.md, written from the text with `blake3`, `sha2`,
//! `ed25519-dalek` and `crc32c` directly and nothing from provledger. The generators build the
//! vectors with these functions and compare every structure with the library's own encoder
//! or decoder as they go, so a vector file is at once "what the spec says" and "what the code
//! does"; a difference stops the generator.

use sha2::Digest as _;

/// Bytes of a seal (§7.5).
pub const SEAL_LEN: usize = 112;
/// `MAX_TORN` (§1, §8).
pub const MAX_TORN: u64 = 32 << 20;

/// `K(label)` (§2.1).
pub fn domain_key(label: &str) -> [u8; 32] {
    blake3::derive_key("provledger v2 domain key", label.as_bytes())
}

/// `H_label(parts[0] ‖ parts[1] ‖ …)` (§2.1).
pub fn h(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(&domain_key(label));
    for p in parts {
        hasher.update(p);
    }
    *hasher.finalize().as_bytes()
}

/// CRC-32C of the concatenation (§1).
pub fn crc(parts: &[&[u8]]) -> u32 {
    parts.iter().fold(0, |acc, p| crc32c::crc32c_append(acc, p))
}

/// `SHA-256(parts…)` (§2.2).
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = sha2::Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    hasher.finalize().into()
}

/// Merkle leaf `SHA-256(0x00 ‖ E)` (§10).
pub fn leaf(e: &[u8; 32]) -> [u8; 32] {
    sha256(&[&[0], e])
}

/// Merkle node `SHA-256(0x01 ‖ left ‖ right)` (§10).
pub fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    sha256(&[&[1], l, r])
}

/// `MTH` of leaf hashes, from the definition (§10).
pub fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = 1usize << (n - 1).ilog2();
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// An Ed25519 key from its 32-byte seed (RFC 8032 §5.1.5).
#[derive(Clone)]
pub struct Key(ed25519_dalek::SigningKey);

impl Key {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Key(ed25519_dalek::SigningKey::from_bytes(seed))
    }
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    /// `H_key_id(public key)` (§2.1).
    pub fn key_id(&self) -> [u8; 32] {
        h("key id", &[&self.public()])
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.0.sign(msg).to_bytes()
    }
    /// `K_seal = H_seal_key(σ)`, σ the signature over the seal-key request (§7.5).
    pub fn seal_key(&self, ledger_id: &[u8; 16]) -> [u8; 32] {
        h("seal key", &[&self.sign(&seal_key_request(ledger_id))])
    }
}

/// The 56-byte message a co-signer signs (§4.5).
pub fn cosignature_message(sd: &[u8; 32]) -> Vec<u8> {
    [&b"provledger v2 statement\0"[..], sd].concat()
}

/// The 87-byte message of a position signature (§4.5).
pub fn position_message(prev: &[u8; 32], e: &[u8; 32]) -> Vec<u8> {
    [&b"provledger v2 position\0"[..], prev, e].concat()
}

/// The 39-byte seal-key request (§4.5).
pub fn seal_key_request(ledger_id: &[u8; 16]) -> Vec<u8> {
    [&b"provledger v2 seal key\0"[..], ledger_id].concat()
}

/// A seal's tag (§7.5).
pub fn seal_tag(key: &[u8; 32], ledger_id: &[u8; 16], size: u64, chain: &[u8; 32], root: &[u8; 32]) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    for p in [
        &b"provledger v2 seal\0"[..],
        ledger_id,
        &size.to_le_bytes(),
        chain,
        root,
    ] {
        hasher.update(p);
    }
    hasher.finalize().as_bytes()[..16].try_into().expect("16 of 32 bytes")
}

/// The 112 seal bytes (§7.5).
pub fn seal(sealer: &[u8; 32], chain: &[u8; 32], root: &[u8; 32], tag: &[u8; 16]) -> [u8; SEAL_LEN] {
    [&sealer[..], chain, root, tag].concat().try_into().expect("112 bytes")
}

/// The fields of a statement and record that are not signatures (§4.1, §4.2).
#[derive(Clone, Debug)]
pub struct Fields {
    pub kind: u16,
    pub timestamp: u64,
    pub content_type: String,
    pub refs: Vec<[u8; 32]>,
}

impl Fields {
    fn head(&self) -> Vec<u8> {
        let mut v = self.kind.to_le_bytes().to_vec();
        v.extend_from_slice(&self.timestamp.to_le_bytes());
        v.push(u8::try_from(self.content_type.len()).expect("content type of at most 255 bytes"));
        v.extend_from_slice(self.content_type.as_bytes());
        v
    }

    fn refs_bytes(&self) -> Vec<u8> {
        let mut v = u16::try_from(self.refs.len()).expect("few refs").to_le_bytes().to_vec();
        for r in &self.refs {
            v.extend_from_slice(r);
        }
        v
    }

    /// The statement `S` (§4.1).
    pub fn statement(&self, ledger_id: &[u8; 16], commitment: &[u8; 32]) -> Vec<u8> {
        [&ledger_id[..], &self.head(), commitment, &self.refs_bytes()].concat()
    }

    /// The stored record `R` (§4.2).
    pub fn record(&self, position: Option<&Sig>, cosigs: &[Sig]) -> Vec<u8> {
        let mut v = [self.head(), self.refs_bytes()].concat();
        v.push(u8::from(position.is_some()));
        v.push(u8::try_from(cosigs.len()).expect("at most 255 co-signatures"));
        for s in position.into_iter().chain(cosigs) {
            v.extend_from_slice(&s.key_id);
            v.extend_from_slice(&s.signature);
        }
        v
    }
}

/// A key id and a signature, as stored in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig {
    pub key_id: [u8; 32],
    pub signature: [u8; 64],
}

/// The authorship bytes `A` (§4.3).
pub fn authorship(position_key: Option<&[u8; 32]>, cosigs: &[Sig]) -> Vec<u8> {
    let mut v = vec![
        u8::from(position_key.is_some()),
        u8::try_from(cosigs.len()).expect("few co-signatures"),
    ];
    if let Some(k) = position_key {
        v.extend_from_slice(k);
    }
    for s in cosigs {
        v.extend_from_slice(&s.key_id);
        v.extend_from_slice(&s.signature);
    }
    v
}

/// `E = H_entry(seq ‖ S ‖ A)` (§4.4).
pub fn entry_hash(seq: u64, s: &[u8], a: &[u8]) -> [u8; 32] {
    h("entry", &[&seq.to_le_bytes(), s, a])
}

/// `L = H_chain(L_prev ‖ E)` (§4.4).
pub fn chain(prev: &[u8; 32], e: &[u8; 32]) -> [u8; 32] {
    h("chain", &[prev, e])
}

/// `C = H_payload(salt ‖ payload)` (§2.1).
pub fn commitment(salt: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    h("payload", &[salt, payload])
}

/// A present payload section (§7.4).
pub fn present_section(salt: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    [&[0u8][..], salt, payload].concat()
}

/// An erased payload section (§7.4).
pub fn erased_section(commitment: &[u8; 32], len: usize) -> Vec<u8> {
    [&[1u8][..], commitment, &vec![0; len]].concat()
}

/// The 12-byte frame header (§7.3), with its CRC.
pub fn frame_header(entry_len: usize, sealed: bool, section_len: usize) -> Vec<u8> {
    let mut v = u16::try_from(entry_len)
        .expect("record of at most 65535 bytes")
        .to_le_bytes()
        .to_vec();
    v.push(u8::from(sealed));
    v.push(0);
    v.extend_from_slice(&u32::try_from(section_len).expect("section fits u32").to_le_bytes());
    let c = crc(&[&v]);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// A frame (§7.3): header, record, payload section, seal, frame CRC.
pub fn frame(record: &[u8], section: &[u8], seal: Option<&[u8; SEAL_LEN]>) -> Vec<u8> {
    let mut v = frame_header(record.len(), seal.is_some(), section.len());
    let body = v.len();
    v.extend_from_slice(record);
    v.extend_from_slice(section);
    if let Some(s) = seal {
        v.extend_from_slice(s);
    }
    let c = crc(&[&v[body..]]);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// Recomputes the frame CRC of a complete frame in place (after a deliberate change).
pub fn refresh_frame_crc(frame: &mut [u8]) {
    let n = frame.len();
    let c = crc(&[&frame[12..n - 4]]);
    frame[n - 4..].copy_from_slice(&c.to_le_bytes());
}

/// A segment header (§7.2) of the given format version.
pub fn segment_header(version: u16, ledger_id: &[u8; 16], first_seq: u64) -> [u8; 64] {
    let mut v = b"PLEDGSEG".to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(ledger_id);
    v.extend_from_slice(&first_seq.to_le_bytes());
    v.extend_from_slice(&[0; 20]);
    let c = crc(&[&v]);
    v.extend_from_slice(&c.to_le_bytes());
    v.try_into().expect("64 bytes")
}

/// Recomputes a segment header's CRC (after a deliberate change).
pub fn refresh_segment_crc(h: &mut [u8; 64]) {
    let c = crc(&[&h[..60]]);
    h[60..].copy_from_slice(&c.to_le_bytes());
}

/// An index header (§7.7).
pub fn index_header(ledger_id: &[u8; 16], first_seq: u64) -> [u8; 48] {
    let mut v = b"PLEDGIDX".to_vec();
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(ledger_id);
    v.extend_from_slice(&first_seq.to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    let c = crc(&[&v]);
    v.extend_from_slice(&c.to_le_bytes());
    v.try_into().expect("48 bytes")
}

/// An index slot (§7.7).
pub fn index_slot(offset: u64, governance: bool) -> [u8; 4] {
    let off = u32::try_from(offset).expect("offset below 2^31");
    assert!(off < 1 << 31, "offset below 2^31");
    (off | (u32::from(governance) << 31)).to_le_bytes()
}

/// A tree level file header (§11.4).
pub fn tree_header(ledger_id: &[u8; 16], level: u8) -> [u8; 32] {
    let mut v = b"PLEDGTRE".to_vec();
    v.extend_from_slice(&2u16.to_le_bytes());
    v.push(level);
    v.extend_from_slice(&[0; 5]);
    v.extend_from_slice(ledger_id);
    v.try_into().expect("32 bytes")
}

/// The checkpoint log header (§11.3).
pub fn log_header(ledger_id: &[u8; 16]) -> [u8; 32] {
    let mut v = b"PLEDGCKP".to_vec();
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(ledger_id);
    v.try_into().expect("32 bytes")
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(b: &[u8]) -> String {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(b)
}

/// The checkpoint body (§11.1).
pub fn checkpoint_body(ledger_id: &[u8; 16], size: u64, root: &[u8; 32], time: u64) -> String {
    format!("provledger/{}\n{size}\n{}\ntime {time}\n", hex(ledger_id), base64(root))
}

/// A signed checkpoint (§11).
#[derive(Clone, Copy, Debug)]
pub struct Cp {
    pub size: u64,
    pub root: [u8; 32],
    pub time: u64,
    pub key_id: [u8; 32],
    pub signature: [u8; 64],
}

impl Cp {
    pub fn sign(ledger_id: &[u8; 16], size: u64, root: [u8; 32], time: u64, key: &Key) -> Self {
        let signature = key.sign(checkpoint_body(ledger_id, size, &root, time).as_bytes());
        Cp {
            size,
            root,
            time,
            key_id: key.key_id(),
            signature,
        }
    }

    /// The 148-byte log record (§11.3).
    pub fn record(&self) -> [u8; 148] {
        let mut v = self.size.to_le_bytes().to_vec();
        v.extend_from_slice(&self.root);
        v.extend_from_slice(&self.time.to_le_bytes());
        v.extend_from_slice(&self.key_id);
        v.extend_from_slice(&self.signature);
        let c = crc(&[&v]);
        v.extend_from_slice(&c.to_le_bytes());
        v.try_into().expect("148 bytes")
    }
}

/// The C2SP key hash of a public key under an origin (§11.2).
pub fn note_key_hash(origin: &str, public: &[u8; 32]) -> [u8; 4] {
    sha256(&[origin.as_bytes(), b"\n\x01", public])[..4]
        .try_into()
        .expect("4 bytes")
}

/// The signed note of a checkpoint (§11.2).
pub fn note(ledger_id: &[u8; 16], cp: &Cp, public: &[u8; 32]) -> String {
    let origin = format!("provledger/{}", hex(ledger_id));
    let sig = [&note_key_hash(&origin, public)[..], &cp.signature].concat();
    format!(
        "{}\n\u{2014} {origin} {}\n",
        checkpoint_body(ledger_id, cp.size, &cp.root, cp.time),
        base64(&sig)
    )
}

/// The verifier key string (§11.2).
pub fn verifier_key(ledger_id: &[u8; 16], public: &[u8; 32]) -> String {
    let origin = format!("provledger/{}", hex(ledger_id));
    let kh = note_key_hash(&origin, public);
    format!("{origin}+{}+{}", hex(&kh), base64(&[&[1u8][..], public].concat()))
}
