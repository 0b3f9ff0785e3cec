//! `provledger repair`: rebuild the derived files (indexes, tree) from the segments, after
//! `verify` reported check `index` or `tree`. Segments and checkpoints are never changed.

use provledger::{rebuild_derived, Options};
use serde_json::json;

use crate::cli::RepairArgs;
use crate::error::CliError;
use crate::output;

/// Rebuilds; prints what was rewritten.
pub fn run(args: &RepairArgs) -> Result<u8, CliError> {
    let r = rebuild_derived(&args.dir, &Options::default())?;
    if args.json {
        output::json(&json!({"indexes": r.indexes, "tree_leaves": r.tree_leaves}))?;
    } else {
        output::line(&format!(
            "rebuilt {} segment index(es) and the Merkle tree over {} entries from the segments",
            r.indexes, r.tree_leaves
        ))?;
    }
    Ok(0)
}
