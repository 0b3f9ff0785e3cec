//! Finding where the newest segment really ends after a crash, without rescanning the ledger.
//!
//! The index tells where the last indexed frame is; that frame is checked (its sequence number
//! must match), then every frame after it is read and chained. What follows the last complete
//! frame is a torn tail, cut by the writer. Anything else wrong is damage: an error naming the
//! file, offset and sequence number. When the index cannot be trusted it is rebuilt from the
//! segment (it is derived data).

use std::path::{Path, PathBuf};

use super::index::{check_index_header, count, encode_index_header, slot, INDEX_HEADER_LEN};
use super::segment::{ScanStop, Scanner, SEGMENT_HEADER_LEN};
use super::{corrupt, index_rel, io_err, open_read, segment_rel, LedgerDir, StorageFile, TornTail};
use crate::entry::{entry_hash, Entry, LedgerId};
use crate::error::StorageError;
use crate::hash::Digest;

/// Where the chain stands at the end of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainHead {
    /// Sequence number the next entry will get.
    pub next_seq: u64,
    /// Hash of the last entry ([`Digest::ZERO`] before genesis).
    pub head: Digest,
}

/// What scanning a segment's tail found.
#[derive(Debug)]
pub(crate) struct TailScan {
    /// The chain state after the last complete entry.
    pub chain: ChainHead,
    /// Byte length of the segment up to the end of its last complete frame.
    pub end: u64,
    /// Offsets of the frames found after `start`.
    pub offsets: Vec<u64>,
    /// An incomplete final record, if one was found.
    pub torn: Option<TornTail>,
}

/// Reads and chains frames of a segment from `start` to its end.
pub(crate) fn scan_tail(
    file: Box<dyn StorageFile>,
    path: &Path,
    start: u64,
    newest: bool,
    mut chain: ChainHead,
    prev_known: bool,
) -> Result<TailScan, StorageError> {
    let mut check_prev = prev_known;
    let len = file.len().map_err(io_err("stat", path))?;
    let mut scanner = Scanner::new(file, path, start, len, newest);
    let mut offsets = Vec::new();
    let mut end = start;
    loop {
        match scanner.next_chunk(4096) {
            Ok(chunk) if chunk.frames.is_empty() => break,
            Ok(chunk) => {
                for f in &chunk.frames {
                    let bytes = f.entry(&chunk.data);
                    let seq = Some(chain.next_seq);
                    let entry = Entry::decode(bytes).map_err(|e| corrupt(path, f.offset, seq, e.to_string()))?;
                    if entry.seq.0 != chain.next_seq || (check_prev && entry.prev != chain.head) {
                        let why = "entry does not continue the chain (sequence number or previous hash)";
                        return Err(corrupt(path, f.offset, seq, why.into()));
                    }
                    let full = || corrupt(path, f.offset, seq, "sequence number overflows".into());
                    chain = ChainHead {
                        next_seq: chain.next_seq.checked_add(1).ok_or_else(full)?,
                        head: entry_hash(bytes),
                    };
                    check_prev = true;
                    offsets.push(f.offset);
                    end = f.end();
                }
            }
            Err(ScanStop::Torn { offset, bytes, reason }) => {
                let torn = TornTail {
                    file: path.to_path_buf(),
                    offset,
                    bytes,
                    reason: reason.into(),
                };
                return Ok(TailScan {
                    chain,
                    end,
                    offsets,
                    torn: Some(torn),
                });
            }
            Err(ScanStop::Corrupt { offset, reason }) => {
                return Err(corrupt(path, offset, Some(chain.next_seq), reason.into()));
            }
            Err(ScanStop::Io(kind)) => return Err(io_err("read", path)(kind.into())),
        }
    }
    Ok(TailScan {
        chain,
        end,
        offsets,
        torn: None,
    })
}

/// An open index file and how many offsets it validly holds.
pub(crate) struct OpenIndex {
    pub file: Box<dyn StorageFile>,
    pub path: PathBuf,
    pub count: u64,
    /// Whether it had to be reset (missing, foreign header).
    pub reset: bool,
}

/// Opens (creating or resetting as needed) the index of a segment.
pub(crate) fn open_index(dir: &dyn LedgerDir, ledger_id: LedgerId, first_seq: u64) -> Result<OpenIndex, StorageError> {
    let rel = index_rel(first_seq);
    let path = dir.display_path(&rel);
    let mut file = match dir.open_write(&rel, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            dir.open_write(&rel, true).map_err(io_err("create", &path))?
        }
        Err(e) => return Err(io_err("open", &path)(e)),
    };
    let len = file.len().map_err(io_err("stat", &path))?;
    let mut header = [0u8; INDEX_HEADER_LEN];
    let valid = len >= INDEX_HEADER_LEN as u64
        && file.read_exact_at(&mut header, 0).is_ok()
        && check_index_header(&header, ledger_id, first_seq).is_ok();
    if valid {
        return Ok(OpenIndex {
            file,
            path,
            count: count(len),
            reset: false,
        });
    }
    file.set_len(0).map_err(io_err("truncate", &path))?;
    file.write_all_at(&encode_index_header(ledger_id, first_seq), 0)
        .map_err(io_err("write", &path))?;
    // A missing index is rebuilt just like a foreign or damaged one, and reported as such
    // (`Recovery::index_rebuilt`): it used to say `false` when the file had been deleted.
    Ok(OpenIndex {
        file,
        path,
        count: 0,
        reset: true,
    })
}

/// Reads the `i`-th offset of an index.
pub(crate) fn read_slot(idx: &dyn StorageFile, path: &Path, i: u64) -> Result<u64, StorageError> {
    let mut b = [0u8; 8];
    let at = slot(i).ok_or_else(|| corrupt(path, u64::MAX, None, "index slot out of range".into()))?;
    idx.read_exact_at(&mut b, at).map_err(io_err("read", path))?;
    Ok(u64::from_le_bytes(b))
}

/// Finds the chain state at the end of the (sealed or newest) segment starting at `first_seq`,
/// using its index when it is consistent and scanning the segment otherwise.
///
/// `prev_known` says whether `before.head` is known (else the first entry's `prev` is taken
/// as is, for a sealed segment whose predecessor is not read). The index is brought up to date
/// (offsets of the scanned tail written, stale slots dropped) and synced. Returns the scan of
/// the unindexed tail and the index, whose `count` then covers every complete entry.
pub(crate) fn recover_segment(
    dir: &dyn LedgerDir,
    ledger_id: LedgerId,
    first_seq: u64,
    before: ChainHead,
    prev_known: bool,
    newest: bool,
) -> Result<(TailScan, OpenIndex), StorageError> {
    let rel = segment_rel(first_seq);
    let mut idx = open_index(dir, ledger_id, first_seq)?;
    let mut scan = None;
    if idx.count > 0 {
        let last = idx.count - 1;
        // An index longer than any segment could be (a sparse extension) has no usable last
        // slot: its entry number would not even fit in a u64.
        let seq = first_seq.checked_add(last);
        if let (Ok(off), Some(seq)) = (read_slot(idx.file.as_ref(), &idx.path, last), seq) {
            if off >= SEGMENT_HEADER_LEN as u64 {
                scan = check_indexed_frame(dir, &rel, off, seq, newest)?;
            }
        }
        if scan.is_none() {
            // The index does not match the segment: rebuild it from a full scan.
            idx.count = 0;
            idx.reset = true;
        }
    }
    let scan = if let Some(s) = scan {
        s
    } else {
        let file = open_read(dir, &rel)?;
        scan_tail(
            file,
            &dir.display_path(&rel),
            SEGMENT_HEADER_LEN as u64,
            newest,
            before,
            prev_known,
        )?
    };
    let mut slots = Vec::with_capacity(scan.offsets.len() * 8);
    for o in &scan.offsets {
        slots.extend_from_slice(&o.to_le_bytes());
    }
    // `count` slots were read back above, so their end fits in a u64.
    let end = slot(idx.count).ok_or(StorageError::Full)?;
    idx.file.set_len(end).map_err(io_err("truncate", &idx.path))?;
    idx.file.write_all_at(&slots, end).map_err(io_err("write", &idx.path))?;
    idx.file.sync_data().map_err(io_err("sync", &idx.path))?;
    idx.count += scan.offsets.len() as u64;
    Ok((scan, idx))
}

/// Checks that the frame at `off` is entry `seq`, then scans everything after it.
fn check_indexed_frame(
    dir: &dyn LedgerDir,
    rel: &Path,
    off: u64,
    seq: u64,
    newest: bool,
) -> Result<Option<TailScan>, StorageError> {
    let path = &dir.display_path(rel);
    let file = open_read(dir, rel)?;
    let len = file.len().map_err(io_err("stat", path))?;
    if off >= len {
        return Ok(None);
    }
    let mut one = Scanner::new(file, path, off, len, newest);
    let Ok(chunk) = one.next_chunk(1) else {
        return Ok(None);
    };
    let Some(f) = chunk.frames.first() else {
        return Ok(None);
    };
    let bytes = f.entry(&chunk.data);
    let Ok(entry) = Entry::decode(bytes) else {
        return Ok(None);
    };
    if entry.seq.0 != seq {
        return Ok(None);
    }
    let Some(next_seq) = seq.checked_add(1) else {
        return Ok(None);
    };
    let after = ChainHead {
        next_seq,
        head: entry_hash(bytes),
    };
    let file = open_read(dir, rel)?;
    scan_tail(file, path, f.end(), newest, after, true).map(Some)
}
