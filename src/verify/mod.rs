//! Verification: stream the whole ledger against a trust anchor the auditor supplies.
//!
//! Checks, for every entry: framing and checksums, decoding, sequence numbers and previous-hash
//! links, the ledger id, the payload commitment (unless erased), and every author signature
//! (`verify_strict`) against keys the genesis enrolled. The genesis itself must match the
//! trust anchor. Entry hashing, commitments and signatures run in parallel per chunk; chain
//! links are checked in order. Memory stays bounded by the chunk size.

mod report;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use report::{Check, Failure, VerifyReport};

use crate::entry::{entry_hash, signing_message, statement_digest, Entry, EntryKind, STATEMENT_OFFSET};
use crate::error::{Error, StorageError};
use crate::hash::Digest;
use crate::keys::{KeyId, VerifyingKey};
use crate::record::Genesis;
use crate::storage::frame::{parse_section, StoredPayload};
use crate::storage::index::{check_index_header, count, slot, INDEX_HEADER_LEN};
use crate::storage::segment::{FrameLoc, SEGMENT_HEADER_LEN};
use crate::storage::{index_path, Backend, SegmentStream, StdBackend, StorageFile};

/// Frames verified per parallel chunk.
const CHUNK_FRAMES: usize = 4096;

/// What the auditor trusts. Verification never trusts keys the ledger asserts on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustAnchor {
    /// An operator/admin public key: it must be a genesis anchor and must have signed the
    /// genesis entry.
    PublicKey(VerifyingKey),
    /// The entry hash of the genesis entry, obtained out of band.
    GenesisHash(Digest),
}

impl TrustAnchor {
    fn describe(&self) -> String {
        match self {
            TrustAnchor::PublicKey(k) => format!("public key {k} (key id {})", k.key_id()),
            TrustAnchor::GenesisHash(h) => format!("genesis entry hash {h}"),
        }
    }
}

/// Verifies the ledger in `dir` on the real file system. See [`verify_with`].
///
/// ```
/// use provledger::{verify, Draft, Ledger, Options, SigningKey, TrustAnchor};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let mut ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"hi".to_vec()))?;
/// let report = verify(dir.path(), &TrustAnchor::PublicKey(key.verifying_key()))?;
/// assert!(report.is_ok());
/// assert_eq!(report.entries, 2);
/// # Ok::<_, provledger::Error>(())
/// ```
///
/// # Errors
/// Only when the ledger cannot be read at all ([`StorageError::NotALedger`], I/O errors).
/// Damage and failed checks are reported in [`VerifyReport::failure`].
pub fn verify(dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, Error> {
    verify_with(&StdBackend, dir, anchor)
}

/// Verifies the ledger in `dir` through `backend`. Needs no lock: it may run while a writer
/// appends, and reports a partly written final record as [`VerifyReport::torn_tail`].
///
/// # Errors
/// As [`verify`].
pub fn verify_with(backend: &dyn Backend, dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, Error> {
    let mut v = Verifier {
        backend,
        dir: dir.to_path_buf(),
        anchor,
        report: VerifyReport {
            trusted: anchor.describe(),
            ..VerifyReport::default()
        },
        keys: Vec::new(),
        index: None,
    };
    let mut stream = SegmentStream::open(backend, dir)?;
    loop {
        let next = match stream.next_chunk(CHUNK_FRAMES) {
            Ok(n) => n,
            Err(StorageError::Corrupt {
                file, offset, reason, ..
            }) => {
                v.fail_at(Check::Format, file, offset, reason);
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(sc) = next else { break };
        if v.report.ledger_id.is_none() {
            v.report.ledger_id = Some(sc.header.ledger_id);
        }
        if !v.chunk(&sc.path, sc.header.first_seq, &sc.chunk.data, &sc.chunk.frames)? {
            break;
        }
    }
    if v.report.is_ok() {
        if let Some(msg) = v.finish_index() {
            v.fail(Some(v.report.entries), Check::Index, msg);
        }
        v.report.torn_tail = stream.tail().cloned();
        if v.report.entries == 0 && v.report.is_ok() {
            v.fail(None, Check::Format, "the ledger has no complete genesis entry".into());
        }
    }
    Ok(v.report)
}

/// The per-entry results computed in parallel.
struct Checked {
    entry: Option<Entry>,
    hash: Digest,
    redacted: bool,
    problem: Option<(Check, String)>,
}

/// The index file of the segment being verified, and how far it was compared.
struct IndexCursor {
    path: PathBuf,
    file: Option<Box<dyn StorageFile>>,
    slots: u64,
    seen: u64,
    sealed: bool,
}

struct Verifier<'a> {
    backend: &'a dyn Backend,
    dir: PathBuf,
    anchor: &'a TrustAnchor,
    report: VerifyReport,
    keys: Vec<(KeyId, VerifyingKey)>,
    index: Option<IndexCursor>,
}

impl Verifier<'_> {
    fn fail(&mut self, seq: Option<u64>, check: Check, message: String) {
        self.report.failure = Some(Failure {
            seq,
            check,
            file: None,
            offset: None,
            message,
        });
    }

    fn fail_at(&mut self, check: Check, file: PathBuf, offset: u64, message: String) {
        self.report.failure = Some(Failure {
            seq: Some(self.report.entries),
            check,
            file: Some(file),
            offset: Some(offset),
            message,
        });
    }

    /// Verifies one chunk; `Ok(false)` once a failure is recorded.
    fn chunk(&mut self, path: &Path, first_seq: u64, data: &[u8], frames: &[FrameLoc]) -> Result<bool, Error> {
        let mut rest = frames;
        if self.report.entries == 0 {
            let Some((first, tail)) = frames.split_first() else {
                return Ok(true);
            };
            if !self.genesis(path, data, first)? {
                return Ok(false);
            }
            rest = tail;
        }
        let checked: Vec<Checked> = rest.par_iter().map(|f| self.check_frame(data, f)).collect();
        for (f, c) in rest.iter().zip(checked) {
            if !self.link(path, first_seq, f, c)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn check_frame(&self, data: &[u8], f: &FrameLoc) -> Checked {
        let bytes = f.entry(data);
        let hash = entry_hash(bytes);
        let mut c = Checked {
            entry: None,
            hash,
            redacted: false,
            problem: None,
        };
        let (entry, stmt_end) = match Entry::decode_parts(bytes) {
            Ok(x) => x,
            Err(e) => {
                c.problem = Some((Check::Format, e.to_string()));
                return c;
            }
        };
        c.problem = Self::check_payload(&entry, f.section(data), &mut c.redacted).err();
        if c.problem.is_none() {
            let digest = statement_digest(&bytes[STATEMENT_OFFSET..stmt_end]);
            c.problem = self.check_signatures(&entry, &digest).err();
        }
        c.entry = Some(entry);
        c
    }

    fn check_payload(entry: &Entry, section: &[u8], redacted: &mut bool) -> Result<(), (Check, String)> {
        let p = &entry.statement.payload;
        if section.len() as u64 != p.len + crate::storage::frame::PAYLOAD_PREFIX_LEN as u64 {
            return Err((
                Check::Format,
                "payload section length differs from the committed length".into(),
            ));
        }
        match parse_section(section).map_err(|e| (Check::Format, e.to_string()))? {
            StoredPayload::Erased => {
                *redacted = true;
                Ok(())
            }
            StoredPayload::Present { salt, bytes } if p.opens(&salt, &bytes) => Ok(()),
            StoredPayload::Present { .. } => Err((Check::Commitment, "payload does not open its commitment".into())),
        }
    }

    fn check_signatures(&self, entry: &Entry, digest: &Digest) -> Result<(), (Check, String)> {
        if entry.signatures.is_empty() {
            return Err((Check::Signature, "entry carries no author signature".into()));
        }
        let msg = signing_message(digest);
        for (i, s) in entry.signatures.iter().enumerate() {
            if entry.signatures[..i].iter().any(|o| o.key_id == s.key_id) {
                return Err((Check::Format, format!("key {} signs twice", s.key_id)));
            }
            let key = self
                .keys
                .iter()
                .find(|(id, _)| *id == s.key_id)
                .map(|(_, k)| k)
                .ok_or_else(|| (Check::Key, format!("signed by key {} which is not enrolled", s.key_id)))?;
            if !key.verify(&msg, &s.signature) {
                return Err((
                    Check::Signature,
                    format!("signature by key {} does not verify", s.key_id),
                ));
            }
        }
        Ok(())
    }

    /// Checks the genesis entry against the trust anchor and loads its keys.
    fn genesis(&mut self, path: &Path, data: &[u8], f: &FrameLoc) -> Result<bool, Error> {
        let bytes = f.entry(data);
        let entry = match Entry::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                self.fail(Some(0), Check::Format, e.to_string());
                return Ok(false);
            }
        };
        if entry.seq.0 != 0 || entry.prev != Digest::ZERO || entry.statement.kind != EntryKind::Genesis {
            self.fail(
                Some(entry.seq.0),
                Check::Chain,
                "the first entry is not a genesis entry".into(),
            );
            return Ok(false);
        }
        let Ok(StoredPayload::Present { bytes: g, .. }) = parse_section(f.section(data)) else {
            self.fail(Some(0), Check::Format, "genesis payload missing or erased".into());
            return Ok(false);
        };
        let genesis = Genesis::decode(&g);
        let genesis = match genesis {
            Ok(g) => g,
            Err(e) => {
                self.fail(Some(0), Check::Format, format!("genesis payload: {e}"));
                return Ok(false);
            }
        };
        for a in &genesis.anchors {
            let k = a.verifying_key()?;
            self.keys.push((k.key_id(), k));
        }
        if let Err(why) = self.check_anchor(&entry, bytes, &genesis) {
            self.fail(Some(0), Check::TrustAnchor, why);
            return Ok(false);
        }
        let c = self.check_frame(data, f);
        self.link(path, 0, f, c)
    }

    fn check_anchor(&self, entry: &Entry, bytes: &[u8], genesis: &Genesis) -> Result<(), String> {
        match self.anchor {
            TrustAnchor::GenesisHash(h) if entry_hash(bytes) == *h => Ok(()),
            TrustAnchor::GenesisHash(h) => Err(format!(
                "genesis entry hash {} is not the trusted {h}",
                entry_hash(bytes)
            )),
            TrustAnchor::PublicKey(k) => {
                if !genesis.anchors.iter().any(|a| a.public_key == k.to_bytes()) {
                    return Err(format!("trusted key {k} is not a trust anchor of this ledger"));
                }
                if !entry.signatures.iter().any(|s| s.key_id == k.key_id()) {
                    return Err(format!("the genesis entry is not signed by trusted key {k}"));
                }
                Ok(())
            }
        }
    }

    /// Checks the chain link of one checked entry and records it; `Ok(false)` on failure.
    fn link(&mut self, path: &Path, first_seq: u64, f: &FrameLoc, c: Checked) -> Result<bool, Error> {
        let expected = self.report.entries;
        let Some(entry) = c.entry.as_ref() else {
            let (check, msg) = c.problem.unwrap_or((Check::Format, "undecodable entry".into()));
            self.fail_at(check, path.to_path_buf(), f.offset, msg);
            return Ok(false);
        };
        let fail = |v: &mut Self, check, msg: String| {
            v.fail_at(check, path.to_path_buf(), f.offset, msg);
            Ok(false)
        };
        if entry.seq.0 != expected {
            return fail(
                self,
                Check::Chain,
                format!("sequence number {} where {expected} was expected", entry.seq),
            );
        }
        if entry.prev != self.report.head || (expected == 0) != (entry.statement.kind == EntryKind::Genesis) {
            return fail(self, Check::Chain, "does not link to the previous entry".into());
        }
        if Some(entry.statement.ledger_id) != self.report.ledger_id {
            return fail(self, Check::Chain, "statement belongs to another ledger".into());
        }
        if f.offset == SEGMENT_HEADER_LEN as u64 && entry.seq.0 != first_seq {
            return fail(
                self,
                Check::Chain,
                format!("segment says it starts at entry {first_seq}"),
            );
        }
        if let Some((check, msg)) = c.problem {
            return fail(self, check, msg);
        }
        if let Some(msg) = self.index_check(path, first_seq, f.offset)? {
            return fail(self, Check::Index, msg);
        }
        if c.redacted {
            self.report.redacted.push(expected);
        }
        self.report.entries += 1;
        self.report.head = c.hash;
        Ok(true)
    }

    /// Compares the index slot of the entry at `offset` with that offset.
    fn index_check(&mut self, seg_path: &Path, first_seq: u64, offset: u64) -> Result<Option<String>, Error> {
        if self
            .index
            .as_ref()
            .is_none_or(|c| c.path != index_path(&self.dir, first_seq))
        {
            if let Some(msg) = self.finish_index() {
                return Ok(Some(msg));
            }
            self.index = Some(self.open_index(first_seq)?);
        }
        let Some(cur) = self.index.as_mut() else {
            return Ok(None);
        };
        let i = cur.seen;
        cur.seen += 1;
        let Some(file) = cur.file.as_ref() else {
            return Ok(Some(format!(
                "index {} is missing or has a bad header",
                cur.path.display()
            )));
        };
        if i >= cur.slots {
            // The newest segment's index may trail a writer that is appending right now.
            return Ok(cur.sealed.then(|| {
                format!(
                    "index {} has fewer entries than {}",
                    cur.path.display(),
                    seg_path.display()
                )
            }));
        }
        let mut b = [0u8; 8];
        file.read_exact_at(&mut b, slot(i))
            .map_err(crate::storage::io_err("read", &cur.path))?;
        let slot_offset = u64::from_le_bytes(b);
        Ok((slot_offset != offset).then(|| {
            format!(
                "index {} says entry {} is at offset {slot_offset}, segment has it at {offset}",
                cur.path.display(),
                first_seq + i
            )
        }))
    }

    fn open_index(&self, first_seq: u64) -> Result<IndexCursor, Error> {
        let path = index_path(&self.dir, first_seq);
        let segs = crate::storage::list_segments(self.backend, &self.dir)?;
        let sealed = segs.last() != Some(&first_seq);
        let mut cur = IndexCursor {
            path: path.clone(),
            file: None,
            slots: 0,
            seen: 0,
            sealed,
        };
        let Ok(file) = self.backend.open_read(&path) else {
            return Ok(cur);
        };
        let len = file.len().map_err(crate::storage::io_err("stat", &path))?;
        let mut h = [0u8; INDEX_HEADER_LEN];
        let ledger_id = self.report.ledger_id.unwrap_or_default();
        if file.read_exact_at(&mut h, 0).is_ok() && check_index_header(&h, ledger_id, first_seq).is_ok() {
            cur.slots = count(len);
            cur.file = Some(file);
        }
        Ok(cur)
    }

    /// At the end of a segment: a sealed segment's index must have exactly its entries.
    fn finish_index(&mut self) -> Option<String> {
        let cur = self.index.take()?;
        (cur.sealed && cur.slots != cur.seen).then(|| {
            format!(
                "index {} has {} entries, its segment {}",
                cur.path.display(),
                cur.slots,
                cur.seen
            )
        })
    }
}
