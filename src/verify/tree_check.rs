//! Recomputes the Merkle tree while verifying and compares every stored node (even levels,
//! docs/FORMAT.md §11.4) with it; reports the root at each size a checkpoint needs.

use crate::entry::LedgerId;
use crate::hash::Digest;
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

/// A stored node that disagrees with the recomputed tree.
pub(super) struct TreeProblem {
    pub level: u8,
    pub index: u64,
}

/// The recomputed tree plus cursors over the stored one.
pub(super) struct TreeCheck {
    frontier: Frontier,
    levels: Vec<LevelCursor>,
    /// Nodes the recomputed tree has but the stored tree lacks.
    pub missing: u64,
}

impl TreeCheck {
    pub(super) fn new(dir: &dyn LedgerDir, ledger_id: LedgerId) -> Self {
        let levels = (0..MAX_LEVELS as u8)
            .map(|l| LevelCursor::open(dir, ledger_id, l, 0))
            .collect();
        TreeCheck {
            frontier: Frontier::new(),
            levels,
            missing: 0,
        }
    }

    /// Like [`TreeCheck::new`], continuing from the frontier of a tree already verified.
    pub(super) fn with_frontier(dir: &dyn LedgerDir, ledger_id: LedgerId, frontier: Frontier) -> Self {
        let mut t = Self::new(dir, ledger_id);
        t.frontier = frontier;
        t
    }

    /// The frontier's hashes (see [`Frontier::hashes`]).
    pub(super) fn frontier_hashes(&self) -> &[Digest] {
        self.frontier.hashes()
    }

    /// Leaves pushed so far.
    pub(super) fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The recomputed root so far.
    pub(super) fn root(&self) -> Digest {
        self.frontier.root()
    }

    /// Adds an entry's leaf; reports the first stored node that disagrees. Only even levels
    /// are stored.
    pub(super) fn push(&mut self, leaf: Digest) -> Result<(), TreeProblem> {
        let (levels, missing) = (&mut self.levels, &mut self.missing);
        let mut bad = None;
        // `Full` needs u64::MAX leaves, more than any ledger can hold.
        let _ = self.frontier.push_with(leaf, |n| {
            if n.level % 2 != 0 {
                return;
            }
            match levels[usize::from(n.level)].get(n.index) {
                Some(stored) if stored != n.hash => {
                    bad.get_or_insert(TreeProblem {
                        level: n.level,
                        index: n.index,
                    });
                }
                Some(_) => {}
                None => *missing += 1,
            }
        });
        bad.map_or(Ok(()), Err)
    }
}
