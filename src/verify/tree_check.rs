//! Recomputes the Merkle tree while verifying, compares every stored node with it, and checks
//! each checkpoint's root when the tree reaches its size.

use crate::checkpoint::Checkpoint;
use crate::entry::LedgerId;
use crate::hash::{hash_leaf, Digest};
use crate::merkle::Frontier;
use crate::storage::{LedgerDir, StorageFile};
use crate::tree::{level_header, level_rel, MAX_LEVELS, TREE_HEADER_LEN};

/// Nodes read from a level file at a time.
const BLOCK_NODES: u64 = 2048;

/// Sequential reader of one level file.
struct LevelCursor {
    file: Option<Box<dyn StorageFile>>,
    stored: u64,
    block: Vec<u8>,
    block_start: u64,
}

impl LevelCursor {
    fn open(dir: &dyn LedgerDir, ledger_id: LedgerId, level: u8, first: u64) -> Self {
        let mut c = LevelCursor {
            file: None,
            stored: 0,
            block: Vec::new(),
            block_start: first,
        };
        let Ok(f) = dir.open_read(&level_rel(level)) else {
            return c;
        };
        let mut h = [0u8; TREE_HEADER_LEN as usize];
        let len = f.len().unwrap_or(0);
        if f.read_exact_at(&mut h, 0).is_ok() && h == level_header(ledger_id, level) {
            c.stored = len.saturating_sub(TREE_HEADER_LEN) / 32;
            c.file = Some(f);
        }
        c
    }

    /// The stored node `index`, `None` if it is not stored (yet).
    fn get(&mut self, index: u64) -> Option<Digest> {
        if index >= self.stored {
            return None;
        }
        let in_block = index >= self.block_start && index < self.block_start + self.block.len() as u64 / 32;
        if !in_block {
            let n = BLOCK_NODES.min(self.stored - index);
            self.block.resize(n as usize * 32, 0);
            self.file
                .as_ref()?
                .read_exact_at(&mut self.block, TREE_HEADER_LEN + index * 32)
                .ok()?;
            self.block_start = index;
        }
        let at = ((index - self.block_start) * 32) as usize;
        let bytes: [u8; 32] = self.block.get(at..at + 32)?.try_into().ok()?;
        Some(Digest::from_bytes(bytes))
    }
}

/// A stored node that disagrees with the recomputed tree, or a checkpoint that fails.
pub(super) enum TreeProblem {
    /// A stored node differs from the recomputed hash.
    Node { level: u8, index: u64 },
    /// A checkpoint's root differs from the recomputed root at its size.
    Checkpoint { number: usize, size: u64 },
}

/// The recomputed tree plus cursors over the stored one.
pub(super) struct TreeCheck {
    frontier: Frontier,
    levels: Vec<LevelCursor>,
    /// Nodes the recomputed tree has but the stored tree lacks.
    pub missing: u64,
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
}

impl TreeCheck {
    pub(super) fn new(
        dir: &dyn LedgerDir,
        ledger_id: LedgerId,
        frontier: Frontier,
        checkpoints: Vec<Checkpoint>,
    ) -> Self {
        let size = frontier.size();
        let levels = (0..MAX_LEVELS as u8)
            .map(|l| LevelCursor::open(dir, ledger_id, l, size >> l))
            .collect();
        let next_checkpoint = checkpoints.partition_point(|c| c.tree_size <= size);
        TreeCheck {
            frontier,
            levels,
            missing: 0,
            checkpoints,
            next_checkpoint,
        }
    }

    /// The recomputed root so far.
    pub(super) fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// Adds an entry's leaf; reports the first stored node or checkpoint that disagrees.
    pub(super) fn push(&mut self, entry_hash: &Digest) -> Result<(), TreeProblem> {
        let (levels, missing) = (&mut self.levels, &mut self.missing);
        let mut bad = None;
        // `Full` needs u64::MAX leaves, more than any ledger can hold.
        let _ = self.frontier.push_with(hash_leaf(entry_hash), |n| {
            match levels[usize::from(n.level)].get(n.index) {
                Some(stored) if stored != n.hash => {
                    bad.get_or_insert(TreeProblem::Node {
                        level: n.level,
                        index: n.index,
                    });
                }
                Some(_) => {}
                None => *missing += 1,
            }
        });
        if let Some(p) = bad {
            return Err(p);
        }
        let size = self.frontier.size();
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.tree_size != size {
                break;
            }
            if c.root != self.frontier.root() {
                return Err(TreeProblem::Checkpoint {
                    number: self.next_checkpoint,
                    size,
                });
            }
            self.next_checkpoint += 1;
        }
        Ok(())
    }
}
