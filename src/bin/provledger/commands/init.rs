//! `provledger init`: create a ledger.

use serde_json::json;

use provledger::record::Policy;
use provledger::{Genesis, Ledger, Options, SigningKey, TrustAnchorKey};

use crate::cli::InitArgs;
use crate::error::CliError;
use crate::output;

/// Largest policy file `--policy` reads.
const MAX_POLICY_FILE: u64 = 64 << 10;

/// Creates the ledger; its genesis enrolls the key with the admin and operator roles, and
/// records the policy (`--policy FILE`, else the default: every rule, one approval).
pub fn run(args: &InitArgs) -> Result<u8, CliError> {
    let key = SigningKey::load(&args.key)?;
    let ledger = match &args.policy {
        None => Ledger::create(&args.dir, key.clone(), &args.name, Options::default())?,
        Some(file) => {
            let genesis = Genesis {
                name: args.name.clone(),
                // The same anchor `Ledger::create` makes: the key, named after the ledger.
                anchors: vec![TrustAnchorKey::operator(&key.verifying_key(), args.name.as_str())],
                policy: read_policy(file)?,
            };
            Ledger::create_with_genesis(&args.dir, key.clone(), &genesis, Options::default())?
        }
    };
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

/// Reads a policy JSON file, e.g. `{"min_approvals":2,"rules":["approval.required"]}`.
fn read_policy(path: &std::path::Path) -> Result<Policy, CliError> {
    let bytes = output::read_bounded(path, MAX_POLICY_FILE)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!(
            "{}: not a policy (expected {{\"min_approvals\":N,\"rules\":[\"approval.required\",…]}}): {e}",
            path.display()
        ))
    })
}
