//! Rebuilding the derived files — segment indexes and Merkle tree files — from the segments,
//! for when `verify` reports them damaged (check `index` or `tree`). Segments, the checkpoint
//! log and payloads are never changed here.

use std::path::Path;

use super::open::{first_ledger_id, rebuild_index, replay_tree, scan_segment, take_lock};
use super::Options;
use crate::error::OpenError;
use crate::storage::{list_segments, segment_path};
use crate::tree::TreeWriter;

/// What [`rebuild_derived`] rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebuilt {
    /// Segment indexes rewritten.
    pub indexes: u64,
    /// Leaves of the Merkle tree rewritten.
    pub tree_leaves: u64,
}

/// Takes the writer lock on `dir` and rebuilds every segment index and the tree files from the
/// segments. A torn tail in the newest segment is left for [`Ledger::open`](super::Ledger::open)
/// to cut; damage in a segment is an error, as everywhere.
///
/// # Errors
/// [`OpenError::Locked`] if a writer holds the ledger;
/// [`StorageError::Corrupt`](crate::StorageError::Corrupt) for damaged segments; I/O errors.
pub fn rebuild_derived(dir: &Path, opts: &Options) -> Result<Rebuilt, OpenError> {
    let backend = opts.backend.as_ref();
    let _lock = take_lock(backend, dir)?;
    let ledger_id = first_ledger_id(backend, dir)?;
    let segs = list_segments(backend, dir)?;
    let mut out = Rebuilt::default();
    let mut entries = 0;
    for (i, &first) in segs.iter().enumerate() {
        let newest = i + 1 == segs.len();
        let scan = scan_segment(backend, &segment_path(dir, first), first, newest)?;
        if first != entries {
            let why = format!("segment should start at entry {entries}");
            return Err(crate::storage::corrupt(&segment_path(dir, first), 0, Some(entries), why).into());
        }
        rebuild_index(backend, dir, ledger_id, first, &scan.frames)?;
        entries += scan.frames.len() as u64;
        out.indexes += 1;
    }
    let mut tree = TreeWriter::open(backend, dir, ledger_id, 0)?;
    out.tree_leaves = replay_tree(backend, dir, ledger_id, &mut tree, entries)?;
    tree.sync()?;
    Ok(out)
}
