//! `provledger redact`: erase the payload of an entry through the library, which records an
//! admin-signed redaction entry and then destroys the payload bytes and salt in place.

use provledger::{Ledger, Options, SigningKey};

use crate::cli::RedactArgs;
use crate::error::CliError;
use crate::output;

use super::enroll::{print_receipt, receipt_json};

/// Redacts entry `--seq`; prints the redaction entry's receipt. Kinds that decisions rest on
/// (proposals, approvals…) are refused with exit 2.
pub fn run(args: &RedactArgs) -> Result<u8, CliError> {
    let key = SigningKey::load(&args.key)?;
    let cosigners = super::append::load_keys(&args.cosign)?;
    let ledger = Ledger::open(&args.dir, key.clone(), args.writer_trust.apply(Options::default()))?;
    super::append::note_recovery(&ledger);
    let receipt = ledger
        .redact_cosigned(args.seq, &args.reason, cosigners)
        .map_err(|e| CliError::from(e).context(format_args!("entry {}", args.seq)))?;
    if args.json {
        let mut v = receipt_json(&receipt);
        v["redacted"] = args.seq.into();
        output::json(&v)?;
    } else {
        let what = format!(
            "erased the payload of entry {}; redaction recorded as entry {} (the commitment and every hash still verify)",
            args.seq, receipt.seq
        );
        print_receipt(&receipt, &what)?;
    }
    Ok(0)
}
