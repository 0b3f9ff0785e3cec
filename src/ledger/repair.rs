//! Rebuilding the derived files — segment indexes and Merkle tree files — from the segments,
//! for when `verify` reports them damaged (check `index` or `tree`). Segments, the checkpoint
//! log and payloads are never changed here.

use std::path::Path;

use super::{first_ledger_id, replay_tree, take_lock, Options};
use crate::error::Error;
use crate::hash::Digest;
use crate::storage::recovery::{recover_segment, ChainHead};
use crate::storage::{index_rel, io_err, list_segments, open_ledger_dir};
use crate::tree::TreeWriter;

/// What [`rebuild_derived`] rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
/// [`StorageError::Locked`](crate::StorageError::Locked) if a writer holds the ledger;
/// [`StorageError::Corrupt`](crate::StorageError::Corrupt) for damaged segments; I/O errors.
pub fn rebuild_derived(dir: &Path, opts: &Options) -> Result<Rebuilt, Error> {
    let root = open_ledger_dir(opts.backend.as_ref(), dir, false)?;
    let _lock = take_lock(root.as_ref())?;
    let ledger_id = first_ledger_id(root.as_ref())?;
    let segs = list_segments(root.as_ref())?;
    let mut chain = ChainHead {
        next_seq: 0,
        head: Digest::ZERO,
    };
    let mut out = Rebuilt::default();
    for (i, &first) in segs.iter().enumerate() {
        let idx = index_rel(first);
        match root.remove(&idx) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove", &root.display_path(&idx))(e).into());
            }
            _ => {}
        }
        let newest = i + 1 == segs.len();
        let (scan, _) = recover_segment(root.as_ref(), ledger_id, first, chain, true, newest)?;
        chain = scan.chain;
        out.indexes += 1;
    }
    let mut tree = TreeWriter::open(&root, ledger_id, 0)?;
    out.tree_leaves = replay_tree(root.as_ref(), &mut tree, chain.next_seq)?;
    tree.sync()?;
    Ok(out)
}
