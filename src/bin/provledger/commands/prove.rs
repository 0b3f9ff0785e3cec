//! `provledger prove`: inclusion and consistency proofs against signed checkpoints, as JSON.

use serde::Serialize;

use crate::cli::ProveArgs;
use crate::error::CliError;
use crate::output;

/// Builds the requested proof from the stored tree and prints it. Needs no lock.
pub fn run(args: &ProveArgs) -> Result<u8, CliError> {
    let reader = super::open_reader(&args.dir)?;
    let text = match (args.seq, args.from) {
        (Some(seq), None) => render(&reader.inclusion_proof(seq, args.size)?, args.json)?,
        (None, Some(from)) => render(&reader.consistency_proof(from, args.to)?, args.json)?,
        // clap's "proof" group requires exactly one of the two.
        _ => return Err(CliError::usage("give exactly one of --seq or --from")),
    };
    output::line(&text)?;
    Ok(0)
}

/// A proof as JSON: one line for scripts (`compact`), else indented (the proof file form).
pub fn render(proof: &impl Serialize, compact: bool) -> Result<String, CliError> {
    Ok(if compact {
        serde_json::to_string(proof)?
    } else {
        serde_json::to_string_pretty(proof)?
    })
}
