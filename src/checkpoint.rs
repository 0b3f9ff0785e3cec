//! Signed checkpoints: (ledger id, tree size, root, time) signed by an operator key, kept in a
//! checkpoint log, and exportable as a C2SP signed note.
//!
//! The operator signs the checkpoint's note body (C2SP tlog-checkpoint layout) directly, so
//! the signature in the binary log and the one in the exported note are the same bytes:
//!
//! ```text
//! provledger/<ledger id hex>          origin
//! <tree size, decimal>
//! <root, standard base64>             RFC 6962 SHA-256 Merkle root
//! time <unix nanoseconds, decimal>    extension line
//! ```
//! docs/FORMAT.md §11 is normative.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use sha2::{Digest as _, Sha256};

use crate::encoding::{crc, put_u64, Reader};
use crate::entry::{LedgerId, Timestamp};
use crate::error::{DecodeError, StorageError};
use crate::hash::Digest;
use crate::keys::{KeyId, VerifyingKey, SIGNATURE_LEN};
use crate::storage::segment::FORMAT_VERSION;
use crate::storage::{io_err, LedgerDir, StorageFile};

/// Name of the checkpoint log file in the ledger directory.
pub const CHECKPOINT_LOG: &str = "checkpoints.log";
/// Magic bytes of the checkpoint log.
pub const CHECKPOINT_MAGIC: &[u8; 8] = b"PLEDGCKP";
/// Length of the checkpoint log header.
pub const CHECKPOINT_HEADER_LEN: usize = 32;
/// Length of one checkpoint record (144 bytes of fields + CRC-32C).
pub const CHECKPOINT_RECORD_LEN: usize = 8 + 32 + 8 + 32 + SIGNATURE_LEN + 4;
/// Largest signed note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 8 << 10;

/// A signed statement that the ledger had `tree_size` entries with Merkle root `root`.
///
/// Serialized (serde) with hex strings for ids, root and signature, and the timestamp in
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CheckpointJson", into = "CheckpointJson")]
pub struct Checkpoint {
    /// The ledger.
    pub ledger_id: LedgerId,
    /// Number of entries covered.
    pub tree_size: u64,
    /// RFC 6962 / RFC 9162 root (SHA-256) over the first `tree_size` entry hashes.
    pub root: Digest,
    /// When it was signed.
    pub timestamp: Timestamp,
    /// The signing key.
    pub key_id: KeyId,
    /// Ed25519 signature over [`Checkpoint::body`].
    pub signature: [u8; SIGNATURE_LEN],
}

/// The JSON shape of a [`Checkpoint`].
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointJson {
    ledger_id: String,
    tree_size: u64,
    root: Digest,
    timestamp: u64,
    key_id: Digest,
    signature: String,
}

impl From<Checkpoint> for CheckpointJson {
    fn from(c: Checkpoint) -> Self {
        CheckpointJson {
            ledger_id: c.ledger_id.to_string(),
            tree_size: c.tree_size,
            root: c.root,
            timestamp: c.timestamp.0,
            key_id: c.key_id.0,
            signature: crate::hash::hex_encode(&c.signature),
        }
    }
}

impl TryFrom<CheckpointJson> for Checkpoint {
    type Error = String;
    fn try_from(j: CheckpointJson) -> Result<Self, String> {
        let mut signature = [0u8; SIGNATURE_LEN];
        crate::hash::hex_decode_into(&j.signature, &mut signature).map_err(|_| "signature must be 128 hex digits")?;
        Ok(Checkpoint {
            ledger_id: j.ledger_id.parse().map_err(|_| "ledger_id must be 32 hex digits")?,
            tree_size: j.tree_size,
            root: j.root,
            timestamp: Timestamp(j.timestamp),
            key_id: KeyId(j.key_id),
            signature,
        })
    }
}

/// The origin line of a ledger's checkpoints.
#[must_use]
pub fn origin(ledger_id: LedgerId) -> String {
    format!("provledger/{ledger_id}")
}

impl Checkpoint {
    /// Signs a checkpoint with an in-memory key.
    #[cfg(any(fuzzing, feature = "test-util"))]
    #[must_use]
    pub fn sign(
        ledger_id: LedgerId,
        tree_size: u64,
        root: Digest,
        timestamp: Timestamp,
        key: &crate::keys::SigningKey,
    ) -> Self {
        let mut c = Checkpoint {
            ledger_id,
            tree_size,
            root,
            timestamp,
            key_id: key.key_id(),
            signature: [0; SIGNATURE_LEN],
        };
        c.signature = key.sign(c.body().as_bytes());
        c
    }

    test_util_pub! {
    /// Signs a checkpoint with any [`Signer`](crate::keys::Signer).
    ///
    /// # Errors
    /// The signer's error.
    pub fn sign_with(
        ledger_id: LedgerId,
        tree_size: u64,
        root: Digest,
        timestamp: Timestamp,
        signer: &dyn crate::keys::Signer,
    ) -> Result<Self, crate::error::KeyError> {
        let mut c = Checkpoint {
            ledger_id,
            tree_size,
            root,
            timestamp,
            key_id: signer.verifying_key().key_id(),
            signature: [0; SIGNATURE_LEN],
        };
        c.signature = signer.sign(c.body().as_bytes())?;
        Ok(c)
    }
    }

    /// The signed text (C2SP tlog-checkpoint body, ending with a newline).
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            origin(self.ledger_id),
            self.tree_size,
            Base64::encode_string(self.root.as_bytes()),
            self.timestamp.0
        )
    }

    /// Whether `key` made this checkpoint's signature: the key id matches and the signature
    /// over [`Checkpoint::body`] is valid by the one rule of docs/FORMAT.md §3
    /// ([`VerifyingKey::verify`]).
    #[must_use]
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.key_id() == self.key_id && key.verify(self.body().as_bytes(), &self.signature)
    }

    /// The checkpoint as a C2SP signed note: body, blank line, one signature line.
    #[must_use]
    pub fn to_note(&self, key: &VerifyingKey) -> String {
        let name = origin(self.ledger_id);
        let mut sig = note_key_hash(&name, key).to_vec();
        sig.extend_from_slice(&self.signature);
        format!("{}\n\u{2014} {name} {}\n", self.body(), Base64::encode_string(&sig))
    }

    /// Parses a signed note and checks it carries a valid signature by `key`.
    ///
    /// # Errors
    /// [`DecodeError`] if the note is malformed, not a provledger checkpoint, or has no valid
    /// signature by `key`.
    pub fn from_note(text: &str, key: &VerifyingKey) -> Result<Self, DecodeError> {
        let bad = |reason| DecodeError::Invalid {
            context: "signed note",
            reason,
        };
        note_len_ok(text)?;
        if !text.ends_with('\n') {
            return Err(bad("a signed note ends with a line feed"));
        }
        let (body, sigs) = text.split_once("\n\n").ok_or(bad("no blank line before signatures"))?;
        let mut c = parse_body(body)?;
        c.key_id = key.key_id();
        let name = origin(c.ledger_id);
        let want = note_key_hash(&name, key);
        for line in sigs.lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(bad("signature line must start with an em dash"))?;
            let (n, b64) = rest.split_once(' ').ok_or(bad("signature line has no signature"))?;
            let raw = Base64::decode_vec(b64).map_err(|_| bad("signature is not base64"))?;
            if n != name || raw.len() != 4 + SIGNATURE_LEN || raw[..4] != want {
                continue;
            }
            c.signature.copy_from_slice(&raw[4..]);
            if c.verify(key) {
                return Ok(c);
            }
            return Err(bad("signature does not verify"));
        }
        Err(bad("no signature by the given key"))
    }

    /// The checkpoint a signed note states and the signatures its lines carry, none of them
    /// checked (for comparing a note with checkpoints already verified otherwise).
    #[cfg(feature = "object-store")]
    pub(crate) fn parse_note_unverified(text: &str) -> Result<(Self, Vec<[u8; SIGNATURE_LEN]>), DecodeError> {
        let bad = |reason| DecodeError::Invalid {
            context: "signed note",
            reason,
        };
        note_len_ok(text)?;
        let (body, sigs) = text.split_once("\n\n").ok_or(bad("no blank line before signatures"))?;
        let c = parse_body(body)?;
        let mut out = Vec::new();
        for line in sigs.lines() {
            let Some((_, b64)) = line.strip_prefix("\u{2014} ").and_then(|r| r.split_once(' ')) else {
                continue;
            };
            if let Ok(raw) = Base64::decode_vec(b64) {
                if raw.len() == 4 + SIGNATURE_LEN {
                    let mut sig = [0u8; SIGNATURE_LEN];
                    sig.copy_from_slice(&raw[4..]);
                    out.push(sig);
                }
            }
        }
        Ok((c, out))
    }

    test_util_pub! {
    /// The fixed-size record of the checkpoint log.
    #[must_use]
    pub fn encode(&self) -> [u8; CHECKPOINT_RECORD_LEN] {
        let mut v = Vec::with_capacity(CHECKPOINT_RECORD_LEN);
        put_u64(&mut v, self.tree_size);
        v.extend_from_slice(self.root.as_bytes());
        put_u64(&mut v, self.timestamp.0);
        v.extend_from_slice(self.key_id.0.as_bytes());
        v.extend_from_slice(&self.signature);
        let c = crc(&[&v]);
        v.extend_from_slice(&c.to_le_bytes());
        let mut out = [0u8; CHECKPOINT_RECORD_LEN];
        out.copy_from_slice(&v);
        out
    }
    }

    test_util_pub! {
    /// Decodes a log record of the ledger `ledger_id`.
    ///
    /// # Errors
    /// [`DecodeError::Checksum`] if the record is damaged.
    pub fn decode(b: &[u8; CHECKPOINT_RECORD_LEN], ledger_id: LedgerId) -> Result<Self, DecodeError> {
        let (fields, sum) = b.split_at(CHECKPOINT_RECORD_LEN - 4);
        if crc(&[fields]).to_le_bytes() != sum {
            return Err(DecodeError::Checksum { context: "checkpoint" });
        }
        let mut r = Reader::new(fields, "checkpoint");
        let c = Checkpoint {
            ledger_id,
            tree_size: r.u64()?,
            root: Digest::from_bytes(r.array()?),
            timestamp: Timestamp(r.u64()?),
            key_id: KeyId(Digest::from_bytes(r.array()?)),
            signature: r.array()?,
        };
        r.finish()?;
        Ok(c)
    }
    }
}

/// A signed note longer than `MAX_NOTE_LEN` is refused before it is parsed.
fn note_len_ok(text: &str) -> Result<(), DecodeError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(DecodeError::TooLong {
            context: "signed note",
            len: text.len() as u64,
            max: MAX_NOTE_LEN as u64,
        });
    }
    Ok(())
}

fn parse_body(body: &str) -> Result<Checkpoint, DecodeError> {
    let bad = |reason| DecodeError::Invalid {
        context: "checkpoint note",
        reason,
    };
    let mut lines = body.split('\n');
    let mut next = || lines.next().ok_or(bad("missing line"));
    let ledger_id = next()?
        .strip_prefix("provledger/")
        .and_then(|h| h.parse::<LedgerId>().ok())
        .ok_or(bad("origin is not provledger/<ledger id>"))?;
    let tree_size = parse_decimal(next()?).ok_or(bad("tree size is not a decimal number"))?;
    let root = Base64::decode_vec(next()?).map_err(|_| bad("root is not base64"))?;
    let root: [u8; 32] = root.try_into().map_err(|_| bad("root is not 32 bytes"))?;
    let time = next()?
        .strip_prefix("time ")
        .and_then(parse_decimal)
        .ok_or(bad("missing time line"))?;
    let c = Checkpoint {
        ledger_id,
        tree_size,
        root: Digest::from_bytes(root),
        timestamp: Timestamp(time),
        key_id: KeyId(Digest::ZERO),
        signature: [0; SIGNATURE_LEN],
    };
    // The body must be exactly what we would sign: no extra lines, canonical numbers.
    if format!("{body}\n") != c.body() {
        return Err(bad("not in canonical form"));
    }
    Ok(c)
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// C2SP signed-note key hash: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
#[must_use]
pub fn note_key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(key.to_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The C2SP verifier key string (`name+hash+base64(0x01 ‖ key)`) for a ledger's operator key.
#[must_use]
pub fn note_verifier_key(ledger_id: LedgerId, key: &VerifyingKey) -> String {
    let name = origin(ledger_id);
    let mut k = vec![1u8];
    k.extend_from_slice(&key.to_bytes());
    let hash = crate::hash::hex_encode(&note_key_hash(&name, key));
    format!("{name}+{hash}+{}", Base64::encode_string(&k))
}

fn log_header(ledger_id: LedgerId) -> [u8; CHECKPOINT_HEADER_LEN] {
    let mut h = [0u8; CHECKPOINT_HEADER_LEN];
    h[..8].copy_from_slice(CHECKPOINT_MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..].copy_from_slice(&ledger_id.0);
    h
}

/// Path of the checkpoint log.
#[cfg(any(fuzzing, feature = "test-util"))]
#[must_use]
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_LOG)
}

/// What reading the checkpoint log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointLog {
    /// The complete, checksum-valid checkpoints, in log order.
    pub checkpoints: Vec<Checkpoint>,
    /// Bytes of an incomplete final record (a crash while appending it).
    pub torn_bytes: u64,
}

/// Reads the checkpoint log of the ledger `ledger_id` in `dir` (an absent log holds no
/// checkpoints).
///
/// # Errors
/// [`StorageError::Corrupt`] for a bad header or a damaged record (never skipped).
pub fn read_log(dir: &dyn LedgerDir, ledger_id: LedgerId) -> Result<CheckpointLog, StorageError> {
    read_log_upto(dir, ledger_id, u64::MAX)
}

/// The length of the checkpoint log now (0 if there is none): what a reader that must not see
/// checkpoints newer than its view of the segments passes to [`read_log_upto`].
pub(crate) fn log_len(dir: &dyn LedgerDir) -> Result<u64, StorageError> {
    let rel = Path::new(CHECKPOINT_LOG);
    match dir.open_read(rel) {
        Ok(f) => f.len().map_err(io_err("stat", &dir.display_path(rel))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err("open", &dir.display_path(rel))(e)),
    }
}

/// [`read_log`] of the log's first `limit` bytes: the log as it was when its length was
/// `limit` (records are only ever appended).
pub(crate) fn read_log_upto(dir: &dyn LedgerDir, ledger_id: LedgerId, limit: u64) -> Result<CheckpointLog, StorageError> {
    let rel = Path::new(CHECKPOINT_LOG);
    let path = dir.display_path(rel);
    let file = match dir.open_read(rel) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CheckpointLog::default()),
        Err(e) => return Err(io_err("open", &path)(e)),
    };
    let len = file.len().map_err(io_err("stat", &path))?.min(limit);
    let body = len.saturating_sub(CHECKPOINT_HEADER_LEN as u64);
    let count = body / CHECKPOINT_RECORD_LEN as u64;
    let torn_bytes = body % CHECKPOINT_RECORD_LEN as u64;
    let mut h = [0u8; CHECKPOINT_HEADER_LEN];
    if len < CHECKPOINT_HEADER_LEN as u64 {
        return Ok(CheckpointLog {
            checkpoints: Vec::new(),
            torn_bytes: len,
        });
    }
    file.read_exact_at(&mut h, 0).map_err(io_err("read", &path))?;
    if h != log_header(ledger_id) {
        return Err(crate::storage::corrupt(
            &path,
            0,
            None,
            "bad checkpoint log header".into(),
        ));
    }
    let mut checkpoints = Vec::new();
    let mut torn_bytes = torn_bytes;
    for i in 0..count {
        let off = CHECKPOINT_HEADER_LEN as u64 + i * CHECKPOINT_RECORD_LEN as u64;
        let mut rec = [0u8; CHECKPOINT_RECORD_LEN];
        file.read_exact_at(&mut rec, off).map_err(io_err("read", &path))?;
        match Checkpoint::decode(&rec, ledger_id) {
            Ok(c) => checkpoints.push(c),
            // The same torn-tail rule as segments (docs/FORMAT.md §8): a final complete record
            // of zeros is an append whose data never reached the disk.
            Err(_) if i + 1 == count && torn_bytes == 0 && rec == [0; CHECKPOINT_RECORD_LEN] => {
                torn_bytes = CHECKPOINT_RECORD_LEN as u64;
            }
            Err(e) => return Err(crate::storage::corrupt(&path, off, None, e.to_string())),
        }
    }
    Ok(CheckpointLog {
        checkpoints,
        torn_bytes,
    })
}

/// The writer's handle on the checkpoint log.
#[derive(Debug)]
pub(crate) struct LogWriter {
    path: PathBuf,
    file: Box<dyn StorageFile>,
    len: u64,
    /// The newest checkpoint in the log.
    pub(crate) latest: Option<Checkpoint>,
}

impl LogWriter {
    /// Opens or creates the log, cutting an incomplete final record.
    pub(crate) fn open(dir: &dyn LedgerDir, ledger_id: LedgerId) -> Result<Self, StorageError> {
        let log = read_log(dir, ledger_id)?;
        let rel = Path::new(CHECKPOINT_LOG);
        let path = dir.display_path(rel);
        let mut file = match dir.open_write(rel, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = dir.open_write(rel, true).map_err(io_err("create", &path))?;
                let root = Path::new("");
                dir.sync_dir(root).map_err(io_err("sync", &dir.display_path(root)))?;
                f
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let len = (CHECKPOINT_HEADER_LEN + log.checkpoints.len() * CHECKPOINT_RECORD_LEN) as u64;
        file.set_len(len).map_err(io_err("truncate", &path))?;
        file.write_all_at(&log_header(ledger_id), 0)
            .map_err(io_err("write", &path))?;
        file.sync_data().map_err(io_err("sync", &path))?;
        Ok(LogWriter {
            path,
            file,
            len,
            latest: log.checkpoints.last().copied(),
        })
    }

    /// Appends and syncs a checkpoint.
    pub(crate) fn append(&mut self, c: &Checkpoint) -> Result<(), StorageError> {
        self.file
            .write_all_at(&c.encode(), self.len)
            .map_err(io_err("write", &self.path))?;
        self.file.sync_data().map_err(io_err("sync", &self.path))?;
        self.len += CHECKPOINT_RECORD_LEN as u64;
        self.latest = Some(*c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    fn sample() -> (Checkpoint, SigningKey) {
        let key = SigningKey::from_seed(&[3; 32]);
        let c = Checkpoint::sign(LedgerId([7; 16]), 42, Digest::from_bytes([9; 32]), Timestamp(5), &key);
        (c, key)
    }

    #[test]
    fn record_round_trip_and_damage() {
        let (c, key) = sample();
        assert!(c.verify(&key.verifying_key()));
        let b = c.encode();
        assert_eq!(Checkpoint::decode(&b, c.ledger_id), Ok(c));
        for i in 0..b.len() {
            let mut d = b;
            d[i] ^= 1;
            assert!(Checkpoint::decode(&d, c.ledger_id).is_err(), "byte {i}");
        }
    }

    #[test]
    fn note_round_trip_and_rejections() {
        let (c, key) = sample();
        let vk = key.verifying_key();
        let note = c.to_note(&vk);
        assert!(note.starts_with(&format!("provledger/{}\n42\n", c.ledger_id)));
        assert_eq!(Checkpoint::from_note(&note, &vk), Ok(c));
        let other = SigningKey::from_seed(&[4; 32]).verifying_key();
        assert!(Checkpoint::from_note(&note, &other).is_err());
        let tampered = note.replacen("\n42\n", "\n43\n", 1);
        assert!(Checkpoint::from_note(&tampered, &vk).is_err());
        let padded = note.replacen("\n42\n", "\n042\n", 1);
        assert!(Checkpoint::from_note(&padded, &vk).is_err());
    }
}
