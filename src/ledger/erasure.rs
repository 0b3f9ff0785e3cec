//! Erasure: an authorised, itself-recorded redaction destroys a payload and its salt in place,
//! while the commitment (and so every hash and proof) stays valid.
//!
//! Order of work, each step durable before the next: (1) `redaction.pending` names the target
//! and the sequence number the redaction entry will get; (2) the redaction entry is appended
//! and synced; (3) the target's payload section is overwritten (state 1, zeros, new CRC) and
//! synced; (4) the pending file is removed. A crash anywhere is finished by [`complete_pending`]
//! when the writer next opens the ledger.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{sync_dir, Draft, Ledger, Receipt};
use crate::encoding::crc;
use crate::error::Error;
use crate::keys::SigningKey;
use crate::reader::LedgerReader;
use crate::record::{Record, Redaction};
use crate::storage::frame::{erased_section, parse_header, StoredPayload, FRAME_HEADER_LEN};
use crate::storage::{io_err, list_segments, open_read, segment_of, segment_rel, LedgerDir};

/// Name of the file recording an erasure in progress.
pub const PENDING_FILE: &str = "redaction.pending";

impl Ledger {
    /// Erases the payload of entry `seq`: appends a redaction entry (signed by the appending
    /// key and `cosigners`; verification requires one of them to hold the admin role), then
    /// destroys the payload bytes and salt in the segment file. The ledger still verifies and
    /// reports the entry as redacted. Only application and AI-output payloads can be erased.
    ///
    /// ```
    /// use provledger::{Draft, Ledger, Options, SigningKey};
    /// let dir = tempfile::tempdir()?;
    /// let admin = SigningKey::generate()?;
    /// let mut ledger = Ledger::create(dir.path(), &admin, "demo", Options::default())?;
    /// let r = ledger.append(Draft::application("text/plain", b"jane@example.com".to_vec()))?;
    /// ledger.redact(r.seq.0, "GDPR art. 17 request #88", &[])?;
    /// let report = provledger::verify(dir.path(), &provledger::TrustAnchor::PublicKey(admin.verifying_key()))?;
    /// assert!(report.is_ok());
    /// assert_eq!(report.redacted, vec![r.seq.0]);
    /// # Ok::<_, provledger::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Input`] if the entry does not exist, may not be erased, or is already erased;
    /// storage errors (the erasure is then finished on the next open).
    pub fn redact(&mut self, seq: u64, reason: &str, cosigners: &[SigningKey]) -> Result<Receipt, Error> {
        let reader = LedgerReader::from_handle(Arc::clone(&self.root), &self.dir)?;
        let target = reader.get(seq)?;
        let kind = target.entry.statement.kind;
        if !kind.redactable() {
            return Err(Error::input(format!(
                "the payload of a {} entry may not be erased",
                kind.name()
            )));
        }
        if target.payload == StoredPayload::Erased {
            return Err(Error::input(format!("the payload of entry {seq} is already erased")));
        }
        let record = Record::Redaction(Redaction {
            target_seq: seq,
            target: target.hash,
            reason: reason.to_owned(),
        });
        let draft = cosigners.iter().fold(Draft::record(&record)?, Draft::cosigned_by);
        // Refuse before anything is written if verification would reject the redaction.
        self.gate(std::slice::from_ref(&draft))?;
        let root = Arc::clone(&self.root);
        write_pending(root.as_ref(), seq, self.len())?;
        let receipt = self.append(draft)?;
        self.sync()?;
        let segment = segment_rel(segment_of(&list_segments(root.as_ref())?, seq));
        erase(root.as_ref(), &segment, target.offset)?;
        remove_pending(root.as_ref())?;
        Ok(Receipt {
            durable: true,
            ..receipt
        })
    }
}

fn write_pending(root: &dyn LedgerDir, target: u64, redaction_seq: u64) -> Result<(), Error> {
    let rel = Path::new(PENDING_FILE);
    let path = root.display_path(rel);
    let mut rec = Vec::with_capacity(20);
    rec.extend_from_slice(&target.to_le_bytes());
    rec.extend_from_slice(&redaction_seq.to_le_bytes());
    let c = crc(&[&rec]);
    rec.extend_from_slice(&c.to_le_bytes());
    let _ = root.remove(rel);
    let mut f = root.open_write(rel, true).map_err(io_err("create", &path))?;
    f.write_all_at(&rec, 0).map_err(io_err("write", &path))?;
    f.sync_data().map_err(io_err("sync", &path))?;
    sync_dir(root, "")?;
    Ok(())
}

fn remove_pending(root: &dyn LedgerDir) -> Result<(), Error> {
    let rel = Path::new(PENDING_FILE);
    match root.remove(rel) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err("remove", &root.display_path(rel))(e).into());
        }
        _ => {}
    }
    sync_dir(root, "")?;
    Ok(())
}

/// Overwrites the payload section of the frame at `offset` of segment `rel` with its erased
/// form, and syncs.
fn erase(root: &dyn LedgerDir, rel: &Path, offset: u64) -> Result<(), Error> {
    let path = root.display_path(rel);
    let file = path.as_path();
    let mut f = root.open_write(rel, false).map_err(io_err("open", file))?;
    let mut h = [0u8; FRAME_HEADER_LEN];
    f.read_exact_at(&mut h, offset).map_err(io_err("read", file))?;
    let header = parse_header(&h)
        .map_err(|_| crate::storage::corrupt(file, offset, None, "frame header to erase is damaged".into()))?;
    let payload_len = header.section_len - crate::storage::frame::PAYLOAD_PREFIX_LEN;
    let section = erased_section(payload_len);
    f.write_all_at(&section, offset + header.section_offset() as u64)
        .map_err(io_err("write", file))?;
    f.sync_data().map_err(io_err("sync", file))?;
    Ok(())
}

/// Finishes an erasure a crash interrupted: if the redaction entry made it into the ledger,
/// the target is (re-)erased; either way the pending file is removed. Returns the erased
/// target, if any. Runs before recovery, and reads frames by their headers and entry
/// checksums only, because the target's payload section may be half overwritten (its
/// checksum fails) and recovery would stop there.
pub(crate) fn complete_pending(root: &dyn LedgerDir) -> Result<Option<u64>, Error> {
    let Ok(f) = root.open_read(Path::new(PENDING_FILE)) else {
        return Ok(None);
    };
    let mut rec = [0u8; 20];
    let valid = f.read_exact_at(&mut rec, 0).is_ok() && crc(&[&rec[..16]]).to_le_bytes() == rec[16..];
    drop(f);
    let mut done = None;
    if valid {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (target, redaction_seq) = (word(0), word(8));
        if names_target(root, redaction_seq, target) {
            let (rel, offset, _) = locate(root, target)?;
            erase(root, &rel, offset)?;
            done = Some(target);
        }
    }
    remove_pending(root)?;
    Ok(done)
}

/// The segment file (relative to the ledger), frame offset and complete frame bytes of entry
/// `seq`, trusting frame headers and entry checksums but not payload checksums.
fn locate(root: &dyn LedgerDir, seq: u64) -> Result<(PathBuf, u64, Vec<u8>), Error> {
    let rel = segment_rel(segment_of(&list_segments(root)?, seq));
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    let mut offset = crate::storage::segment::SEGMENT_HEADER_LEN as u64;
    let not_found = |at| crate::storage::corrupt(&path, at, Some(seq), "entry to erase not found".into());
    while offset + FRAME_HEADER_LEN as u64 <= len {
        let mut h = [0u8; FRAME_HEADER_LEN];
        file.read_exact_at(&mut h, offset).map_err(io_err("read", &path))?;
        let header = parse_header(&h).map_err(|_| not_found(offset))?;
        if offset + header.frame_len() as u64 > len {
            break;
        }
        let mut frame = vec![0u8; header.frame_len()];
        file.read_exact_at(&mut frame, offset).map_err(io_err("read", &path))?;
        let entry = &frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len];
        let sum = &frame[FRAME_HEADER_LEN + header.entry_len..header.section_offset()];
        if crc(&[entry]).to_le_bytes() != sum {
            return Err(not_found(offset).into());
        }
        if entry.get(..8).is_some_and(|b| b == seq.to_le_bytes()) {
            return Ok((rel, offset, frame));
        }
        offset += header.frame_len() as u64;
    }
    Err(not_found(offset).into())
}

/// Whether entry `redaction_seq` is complete and is a redaction of `target` (an incomplete or
/// missing entry means the redaction never made it into the ledger).
fn names_target(root: &dyn LedgerDir, redaction_seq: u64, target: u64) -> bool {
    let Ok((_, _, frame)) = locate(root, redaction_seq) else {
        return false;
    };
    let Ok(header) = parse_header(&frame[..FRAME_HEADER_LEN].try_into().unwrap_or([0; FRAME_HEADER_LEN])) else {
        return false;
    };
    if crate::storage::frame::check_body(header, &frame).is_err() {
        return false;
    }
    let entry = &frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len];
    let section = &frame[header.section_offset()..header.section_offset() + header.section_len];
    let (Ok(e), Ok(StoredPayload::Present { bytes, .. })) = (
        crate::entry::Entry::decode(entry),
        crate::storage::frame::parse_section(section),
    ) else {
        return false;
    };
    matches!(Record::decode(e.statement.kind, &bytes), Ok(Record::Redaction(r)) if r.target_seq == target)
}
