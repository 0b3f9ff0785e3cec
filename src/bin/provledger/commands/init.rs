//! `provledger init`: create a ledger.

use serde_json::json;

use provledger::{Ledger, Options, SigningKey};

use crate::cli::InitArgs;
use crate::error::CliError;
use crate::output;

/// Creates the ledger; its genesis enrolls the key with the admin and operator roles.
pub fn run(args: &InitArgs) -> Result<u8, CliError> {
    let key = SigningKey::load(&args.key)?;
    let ledger = Ledger::create(&args.dir, &key, &args.name, Options::default())?;
    let public = key.verifying_key();
    let genesis = ledger.head();
    if args.json {
        output::json(&json!({
            "dir": args.dir.display().to_string(),
            "ledger_id": ledger.ledger_id().to_string(),
            "genesis": genesis.to_hex(),
            "public_key": public.to_hex(),
            "key_id": public.key_id().to_string(),
        }))?;
    } else {
        output::line(&format!("created ledger {:?} in {}", args.name, args.dir.display()))?;
        output::line(&format!("ledger id:    {}", ledger.ledger_id()))?;
        output::line(&format!("genesis hash: {genesis}"))?;
        output::line(&format!("trusted key:  {public} (key id {})", public.key_id()))?;
        output::line(&format!(
            "verify with:  provledger verify {} --trust {public}",
            args.dir.display()
        ))?;
    }
    Ok(0)
}
