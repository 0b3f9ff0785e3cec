//! `provledger keygen`: a new secret key file.

use serde_json::json;

use provledger::SigningKey;

use crate::cli::KeygenArgs;
use crate::error::CliError;
use crate::output;

/// Generates a key, writes it with mode 0600 (never overwriting), prints the public half.
pub fn run(args: &KeygenArgs) -> Result<u8, CliError> {
    // `save` refuses to overwrite too (create_new); this check only gives a clearer message.
    if args.out.symlink_metadata().is_ok() {
        return Err(CliError::usage(format!(
            "{}: already exists; refusing to overwrite a key file",
            args.out.display()
        )));
    }
    let key = SigningKey::generate()?;
    key.save(&args.out)?;
    let public = key.verifying_key();
    if args.json {
        output::json(&json!({
            "public_key": public.to_hex(),
            "key_id": public.key_id().to_string(),
            "file": args.out.display().to_string(),
        }))?;
    } else {
        output::line(&format!("wrote secret key {}", args.out.display()))?;
        output::line(&format!("public key: {public}"))?;
        output::line(&format!("key id:     {}", public.key_id()))?;
    }
    Ok(0)
}
