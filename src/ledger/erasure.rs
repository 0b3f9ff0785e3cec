//! Erasure: an authorised, itself-recorded redaction destroys a payload and its salt in place,
//! while the commitment (and so every hash and proof) stays valid (docs/FORMAT.md §7.6).
//!
//! Order of work, each step durable before the next: (1) `redaction.pending` names the target,
//! the sequence number the redaction entry will get, and the target's commitment; (2) the
//! redaction entry is appended (a write of its own, so its frame is sealed) and synced; (3) the
//! target's payload section is overwritten (state 1, the commitment, zeros) with a new frame
//! checksum, and synced; (4) the pending file is removed. A crash anywhere is finished by
//! [`complete_pending`] when the writer next opens the ledger.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::writer::Writer;
use super::{Draft, Receipt};
use crate::encoding::crc;
use crate::entry::{commit_payload, RecordRef};
use crate::error::{RedactError, StorageError};
use crate::hash::Digest;
use crate::keys::Signer;
use crate::record::{Record, Redaction};
use crate::storage::frame::{erased_section, parse_header, parse_section, FrameHeader, SectionRef, FRAME_HEADER_LEN};
use crate::storage::{io_err, list_segments, segment_of, segment_rel, LedgerDir};

/// Name of the file recording an erasure in progress.
pub const PENDING_FILE: &str = "redaction.pending";
/// Bytes of the pending record: target, redaction seq, commitment, CRC.
const PENDING_LEN: usize = 8 + 8 + 32 + 4;

fn pending_rel() -> &'static Path {
    Path::new(PENDING_FILE)
}

impl Writer {
    /// Appends a redaction of entry `seq` and erases its payload (see `Ledger::redact`).
    pub(super) fn redact(
        &mut self,
        seq: u64,
        reason: &str,
        cosigners: Vec<Arc<dyn Signer>>,
    ) -> Result<Receipt, RedactError> {
        if self.poisoned {
            return Err(RedactError::Append(crate::error::AppendError::Poisoned));
        }
        if seq >= self.len {
            return Err(RedactError::NoSuchEntry { seq, len: self.len });
        }
        let root = Arc::clone(&self.root);
        let (file, offset, header, frame) = locate(root.as_ref(), seq)?;
        let record = RecordRef::parse(&frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len])
            .map_err(|e| crate::storage::corrupt(&root.display_path(&file), offset, Some(seq), e.to_string()))?;
        let kind = record.kind();
        if !kind.redactable() {
            return Err(RedactError::NotRedactable { kind: kind.name() });
        }
        let s = header.section_offset();
        let commitment = match parse_section(&frame[s..s + header.section_len]) {
            Ok(SectionRef::Present { salt, payload }) => commit_payload(salt, payload),
            Ok(SectionRef::Erased { .. }) => return Err(RedactError::AlreadyErased { seq }),
            Err(e) => {
                return Err(crate::storage::corrupt(&root.display_path(&file), offset, Some(seq), e.into()).into())
            }
        };
        let target = record.entry_hash(seq, self.ledger_id, &commitment);
        let rec = Record::Redaction(Redaction {
            target_seq: seq,
            target,
            reason: reason.to_owned(),
        });
        let mut draft = Draft::record(&rec).map_err(crate::error::AppendError::Record)?;
        draft.cosigners = cosigners;
        super::prepare::check(&draft).map_err(|reason| crate::error::AppendError::InvalidDraft { index: 0, reason })?;
        write_pending(root.as_ref(), seq, self.len, &commitment)?;
        let receipt = match self.append_one(draft) {
            Ok(r) => r,
            Err(e) => {
                // A failed write may still have left the redaction entry complete and sealed
                // (the frame was written, the index or tree write after it failed): then the
                // pending record is what makes the next open finish the erasure. Otherwise
                // nothing was appended, and the record, naming an entry that does not exist,
                // is discarded by the next open; remove it now if we can.
                if !matches!(
                    e,
                    crate::error::AppendError::Storage(_) | crate::error::AppendError::Poisoned
                ) {
                    let _ = remove_pending(root.as_ref());
                }
                return Err(e.into());
            }
        };
        if let Err(e) = erase(root.as_ref(), &file, offset, header, &commitment) {
            // The section may be half-written, and only `redaction.pending` can finish it: write
            // nothing more (another erasure would replace that record) until an open does.
            self.poisoned = true;
            return Err(e.into());
        }
        remove_pending(root.as_ref())?;
        Ok(receipt)
    }
}

fn write_pending(root: &dyn LedgerDir, target: u64, redaction_seq: u64, c: &Digest) -> Result<(), StorageError> {
    let rel = pending_rel();
    let path = root.display_path(rel);
    let mut rec = Vec::with_capacity(PENDING_LEN);
    rec.extend_from_slice(&target.to_le_bytes());
    rec.extend_from_slice(&redaction_seq.to_le_bytes());
    rec.extend_from_slice(c.as_bytes());
    let sum = crc(&[&rec]);
    rec.extend_from_slice(&sum.to_le_bytes());
    let _ = root.remove(rel);
    let mut f = root.open_write(rel, true).map_err(io_err("create", &path))?;
    f.write_all_at(&rec, 0).map_err(io_err("write", &path))?;
    f.sync_data().map_err(io_err("sync", &path))?;
    sync_root(root)
}

fn remove_pending(root: &dyn LedgerDir) -> Result<(), StorageError> {
    let rel = pending_rel();
    match root.remove(rel) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err("remove", &root.display_path(rel))(e)),
        _ => {}
    }
    sync_root(root)
}

fn sync_root(root: &dyn LedgerDir) -> Result<(), StorageError> {
    let here = Path::new("");
    root.sync_dir(here).map_err(io_err("sync", &root.display_path(here)))
}

/// Overwrites the payload section of the frame at `offset` with its erased form, rewrites the
/// frame checksum over the record, the new section and the seal, and syncs.
fn erase(root: &dyn LedgerDir, rel: &Path, offset: u64, header: FrameHeader, c: &Digest) -> Result<(), StorageError> {
    let file = &root.display_path(rel);
    let mut f = root.open_write(rel, false).map_err(io_err("open", file))?;
    let mut frame = vec![0u8; header.frame_len()];
    f.read_exact_at(&mut frame, offset).map_err(io_err("read", file))?;
    let section = erased_section(c, header.payload_len());
    let s = header.section_offset();
    frame[s..s + section.len()].copy_from_slice(&section);
    let end = frame.len() - 4;
    let sum = crc(&[&frame[FRAME_HEADER_LEN..end]]);
    frame[end..].copy_from_slice(&sum.to_le_bytes());
    f.write_all_at(&frame[s..], offset + s as u64)
        .map_err(io_err("write", file))?;
    f.sync_data().map_err(io_err("sync", file))?;
    Ok(())
}

/// Finishes an erasure a crash interrupted: if the redaction entry made it into the ledger (a
/// complete, sealed frame) and the record is consistent with its target (see
/// `recorded_by_us`), the target is (re-)erased; either way the pending file is removed.
/// Returns the erased target, if any. Runs before recovery, and finds frames by their headers
/// only, because the target's frame may be half overwritten (its checksum fails).
pub(crate) fn complete_pending(root: &dyn LedgerDir) -> Result<Option<u64>, StorageError> {
    let Ok(f) = root.open_read(pending_rel()) else {
        return Ok(None);
    };
    let mut rec = [0u8; PENDING_LEN];
    let valid =
        f.read_exact_at(&mut rec, 0).is_ok() && crc(&[&rec[..PENDING_LEN - 4]]).to_le_bytes() == rec[PENDING_LEN - 4..];
    drop(f);
    let mut done = None;
    if valid {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (target, redaction_seq) = (word(0), word(8));
        let mut c = [0u8; 32];
        c.copy_from_slice(&rec[16..48]);
        if names_target(root, redaction_seq, target) {
            let (file, offset, header, frame) = locate(root, target)?;
            let c = Digest::from_bytes(c);
            if recorded_by_us(&frame, header, &c) {
                erase(root, &file, offset, header, &c)?;
                done = Some(target);
            }
        }
    }
    remove_pending(root)?;
    Ok(done)
}

/// Whether a pending record's commitment `c` can be the one this writer recorded for the
/// target `frame`: the target's kind may be erased, and if the frame is intact (its checksum
/// holds) it holds exactly `c`, present or erased. A crash during step 3 leaves a half-written
/// frame (its checksum fails), which only the record can complete. Anything else was not
/// written by an erasure of this writer (e.g. a record planted by someone who can write the
/// directory) and is not acted on.
fn recorded_by_us(frame: &[u8], header: FrameHeader, c: &Digest) -> bool {
    let Ok(record) = RecordRef::parse(&frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len]) else {
        return false;
    };
    if !record.kind().redactable() {
        return false;
    }
    if !crate::storage::frame::check_frame(frame) {
        return true;
    }
    let s = header.section_offset();
    match parse_section(&frame[s..s + header.section_len]) {
        Ok(SectionRef::Present { salt, payload }) => commit_payload(salt, payload) == *c,
        Ok(SectionRef::Erased { commitment, .. }) => commitment == *c,
        Err(_) => false,
    }
}

/// The segment file (relative to the ledger), frame offset, header and frame bytes of entry
/// `seq`, found by walking the frame headers of its segment (their checksums, not the frames').
fn locate(root: &dyn LedgerDir, seq: u64) -> Result<(PathBuf, u64, FrameHeader, Vec<u8>), StorageError> {
    let first = segment_of(&list_segments(root)?, seq);
    let rel = segment_rel(first);
    let path = root.display_path(&rel);
    let file = crate::storage::open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    let mut offset = crate::storage::segment::SEGMENT_HEADER_LEN as u64;
    let not_found = |at| crate::storage::corrupt(&path, at, Some(seq), "entry not found".into());
    let mut at = first;
    while offset + FRAME_HEADER_LEN as u64 <= len {
        let mut h = [0u8; FRAME_HEADER_LEN];
        file.read_exact_at(&mut h, offset).map_err(io_err("read", &path))?;
        let header = parse_header(&h).map_err(|_| not_found(offset))?;
        if offset + header.frame_len() as u64 > len {
            break;
        }
        if at == seq {
            let mut frame = vec![0u8; header.frame_len()];
            file.read_exact_at(&mut frame, offset).map_err(io_err("read", &path))?;
            return Ok((rel, offset, header, frame));
        }
        at += 1;
        offset += header.frame_len() as u64;
    }
    Err(not_found(offset))
}

/// Whether entry `redaction_seq` is a complete, sealed frame holding a redaction of `target`
/// (anything else means the redaction never made it into the ledger).
fn names_target(root: &dyn LedgerDir, redaction_seq: u64, target: u64) -> bool {
    let Ok((_, _, header, frame)) = locate(root, redaction_seq) else {
        return false;
    };
    if !header.sealed || !crate::storage::frame::check_frame(&frame) {
        return false;
    }
    let Ok(record) = RecordRef::parse(&frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len]) else {
        return false;
    };
    let s = header.section_offset();
    let Ok(SectionRef::Present { payload, .. }) = parse_section(&frame[s..s + header.section_len]) else {
        return false;
    };
    matches!(Record::decode(record.kind(), payload), Ok(Record::Redaction(r)) if r.target_seq == target)
}
