//! `provledger enroll` and `provledger revoke`: key lifecycle entries, signed by an admin.

use serde_json::json;

use provledger::record::{KeyEnrollment, KeyRevocation, Record};
use provledger::{Draft, Ledger, Options, Receipt, SigningKey};

use crate::cli::{EnrollArgs, RevokeArgs};
use crate::error::CliError;
use crate::output;
use crate::records;

/// Appends a key enrollment; prints the receipt and the enrolled key's id.
pub fn run(args: &EnrollArgs) -> Result<u8, CliError> {
    let record = Record::KeyEnrollment(KeyEnrollment {
        public_key: args.public_key.to_bytes(),
        principal_id: args.principal.clone(),
        display_name: args.name.clone(),
        principal_type: args.principal_type.into(),
        roles: args.roles.iter().map(|&r| r.into()).collect(),
        environments: args.envs.iter().map(|&e| e.into()).collect(),
    });
    let cosigners = super::append::load_keys(&args.cosign)?;
    let draft = records::cosigned(records::draft(&record, &args.refs)?, &cosigners);
    let receipt = append_one(&args.dir, &args.key, &args.writer_trust, draft)?;
    let key_id = args.public_key.key_id();
    if args.json {
        let mut v = receipt_json(&receipt);
        v["key_id"] = json!(key_id.to_string());
        output::json(&v)
    } else {
        print_receipt(&receipt, &format!("enrolled {} as key {key_id}", args.principal))
    }
    .map(|()| 0)
}

/// Appends a key revocation; prints the receipt.
pub fn revoke(args: &RevokeArgs) -> Result<u8, CliError> {
    let record = Record::KeyRevocation(KeyRevocation {
        key_id: args.key_id,
        reason: args.reason.clone(),
    });
    let receipt = append_one(&args.dir, &args.key, &args.writer_trust, records::draft(&record, &[])?)?;
    if args.json {
        output::json(&receipt_json(&receipt))
    } else {
        let what = format!(
            "revoked key {}: signatures by it after entry {} fail verification",
            args.key_id, receipt.seq
        );
        print_receipt(&receipt, &what)
    }
    .map(|()| 0)
}

/// Opens the ledger as its writer with `key_file`, appends `draft` durably, and closes it.
pub fn append_one(
    dir: &std::path::Path,
    key_file: &std::path::Path,
    trust: &crate::cli::WriterTrust,
    draft: Draft,
) -> Result<Receipt, CliError> {
    let key = SigningKey::load(key_file)?;
    let ledger = Ledger::open(dir, key.clone(), trust.apply(Options::default()))?;
    super::append::note_recovery(&ledger);
    Ok(ledger.append(draft)?)
}

/// A receipt as JSON: `{"seq":…,"entry_hash":…,"durable":…}`.
pub fn receipt_json(r: &Receipt) -> serde_json::Value {
    json!({ "seq": r.seq, "entry_hash": r.entry_hash.to_hex(), "durable": r.durable })
}

/// A receipt in words, after a line saying what was done.
pub fn print_receipt(r: &Receipt, what: &str) -> Result<(), CliError> {
    output::line(what)?;
    output::line(&format!("entry:      {}", r.seq))?;
    output::line(&format!("entry hash: {}", r.entry_hash))?;
    output::line(&format!("durable:    {}", r.durable))
}
