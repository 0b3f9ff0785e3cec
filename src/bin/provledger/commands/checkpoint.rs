//! `provledger checkpoint`: sign a checkpoint of the ledger's current state.

use provledger::{note_verifier_key, Checkpoint, Ledger, Options, SigningKey, VerifyingKey};

use crate::cli::CheckpointArgs;
use crate::error::CliError;
use crate::output;

/// Opens the ledger as its writer, signs a checkpoint, records it in the checkpoint log and
/// prints it (text, JSON or signed note).
pub fn run(args: &CheckpointArgs) -> Result<u8, CliError> {
    let key = SigningKey::load(&args.key)?;
    let ledger = Ledger::open(&args.dir, key.clone(), args.writer_trust.apply(Options::default()))?;
    super::append::note_recovery(&ledger);
    let cp = ledger.checkpoint()?;
    let public = key.verifying_key();
    if args.json {
        output::json(&serde_json::to_value(cp)?)?;
    } else if args.note {
        output::raw(&cp.to_note(&public))?;
    } else {
        print_human(&cp, &public)?;
    }
    Ok(0)
}

fn print_human(cp: &Checkpoint, public: &VerifyingKey) -> Result<(), CliError> {
    output::line(&format!("signed checkpoint of ledger {}", cp.ledger_id))?;
    let covered = match cp.tree_size {
        0 => "no entries".to_owned(),
        n => format!("entries 0 to {}", n - 1),
    };
    output::line(&format!("size:     {} ({covered})", cp.tree_size))?;
    output::line(&format!("root:     {}", cp.root))?;
    output::line(&format!("time:     {}", cp.timestamp))?;
    output::line(&format!("key id:   {}", cp.key_id))?;
    output::line(&format!("verifier: {}", note_verifier_key(cp.ledger_id, public)))?;
    output::line("keep a copy: `--json` prints the form `verify --from-checkpoint` reads; `--note` a C2SP signed note")
}
