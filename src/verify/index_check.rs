//! Cross-checks the index files (derived data) against the frames actually found.

use std::path::{Path, PathBuf};

use crate::entry::LedgerId;
use crate::error::StorageError;
use crate::storage::index::{check_index_header, count, decode_slot, slot, INDEX_HEADER_LEN};
use crate::storage::{index_rel, io_err, LedgerDir, StorageFile};

/// The index of the segment being verified and how far it was compared.
pub(super) struct IndexCursor {
    path: PathBuf,
    first_seq: u64,
    file: Option<Box<dyn StorageFile>>,
    slots: u64,
    /// One past the highest slot compared.
    seen: u64,
    sealed: bool,
    /// Slots read ahead: `block[k]` is slot `block_first + k` (one read per block, not per
    /// entry).
    block: Vec<[u8; 4]>,
    block_first: u64,
}

/// Slots read per block.
const BLOCK_SLOTS: u64 = 4096;

impl IndexCursor {
    pub(super) fn open(
        dir: &dyn LedgerDir,
        ledger_id: LedgerId,
        first_seq: u64,
        sealed: bool,
    ) -> Result<Self, StorageError> {
        let rel = index_rel(first_seq);
        let path = dir.display_path(&rel);
        let mut cur = IndexCursor {
            path: path.clone(),
            first_seq,
            file: None,
            slots: 0,
            seen: 0,
            sealed,
            block: Vec::new(),
            block_first: 0,
        };
        let Ok(file) = dir.open_read(&rel) else {
            return Ok(cur);
        };
        let len = file.len().map_err(io_err("stat", &path))?;
        let mut h = [0u8; INDEX_HEADER_LEN];
        if file.read_exact_at(&mut h, 0).is_ok() && check_index_header(&h, ledger_id, first_seq).is_ok() {
            cur.slots = count(len);
            cur.file = Some(file);
        }
        Ok(cur)
    }

    pub(super) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Compares the slot of entry `seq` with the frame's `offset` and governance bit; a message
    /// on mismatch.
    pub(super) fn check(
        &mut self,
        seg_path: &Path,
        seq: u64,
        offset: u64,
        governance: bool,
    ) -> Result<Option<String>, StorageError> {
        let i = seq - self.first_seq;
        self.seen = i + 1;
        let Some(file) = self.file.as_ref() else {
            return Ok(Some(format!(
                "index {} is missing or has a bad header",
                self.path.display()
            )));
        };
        if i >= self.slots {
            // The newest segment's index may trail a writer that is appending right now.
            let msg = format!(
                "index {} has fewer entries than {}",
                self.path.display(),
                seg_path.display()
            );
            return Ok(self.sealed.then_some(msg));
        }
        if !(self.block_first..self.block_first + self.block.len() as u64).contains(&i) {
            let n = BLOCK_SLOTS.min(self.slots - i);
            let mut bytes = vec![0u8; usize::try_from(n * 4).unwrap_or(0)];
            // `i < self.slots`, so the slot position exists.
            file.read_exact_at(&mut bytes, slot(i).unwrap_or(u64::MAX))
                .map_err(io_err("read", &self.path))?;
            self.block = bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
            self.block_first = i;
        }
        let k = usize::try_from(i - self.block_first).unwrap_or(usize::MAX);
        let (at, gov) = decode_slot(self.block[k]);
        if at != offset {
            return Ok(Some(format!(
                "index {} says entry {seq} is at offset {at}, the segment has it at {offset}",
                self.path.display()
            )));
        }
        Ok((gov != governance).then(|| {
            format!(
                "index {} has the wrong governance bit for entry {seq}",
                self.path.display()
            )
        }))
    }

    /// At the end of a segment: a sealed segment's index must hold exactly its entries.
    pub(super) fn finish(self) -> Option<String> {
        (self.sealed && self.slots != self.seen).then(|| {
            format!(
                "index {} has {} entries, its segment {}",
                self.path.display(),
                self.slots,
                self.seen
            )
        })
    }
}
