//! One module per command; each `run` returns the exit code or a [`crate::error::CliError`].

pub mod append;
pub mod checkpoint;
pub mod demo;
pub mod enroll;
pub mod init;
pub mod keygen;
pub mod policy;
pub mod prove;
#[cfg(feature = "object-store")]
pub mod publish;
pub mod redact;
pub mod repair;
pub mod show;
pub mod verify;
pub mod verify_proof;
pub mod witness;

use crate::cli::Command;
use crate::error::CliError;

/// Runs `command`.
pub fn dispatch(command: &Command) -> Result<u8, CliError> {
    match command {
        Command::Keygen(a) => keygen::run(a),
        Command::Init(a) => init::run(a),
        Command::Append(a) => append::run(a),
        Command::Enroll(a) => enroll::run(a),
        Command::Revoke(a) => enroll::revoke(a),
        Command::Redact(a) => redact::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Repair(a) => repair::run(a),
        Command::Show(a) => show::run(a),
        Command::Policy(a) => policy::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Checkpoint(a) => checkpoint::run(a),
        Command::Prove(a) => prove::run(a),
        Command::VerifyProof(a) => verify_proof::run(a),
        Command::Witness(a) => witness::run(a),
        #[cfg(feature = "object-store")]
        Command::Publish(a) => publish::run(a),
    }
}

/// The object-store URL `dir` names (`s3://…`, `gs://…`, `az://…`, `file:///…`), if it is one
/// rather than a directory.
pub fn remote_url(dir: &std::path::Path) -> Option<&str> {
    dir.to_str().filter(|s| {
        s.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+')
        })
    })
}

/// A reader of the ledger in `dir`, or of the ledger published at the URL `dir` names.
pub fn open_reader(dir: &std::path::Path) -> Result<provledger::LedgerReader, CliError> {
    match remote_url(dir) {
        #[cfg(feature = "object-store")]
        Some(url) => {
            let remote = provledger::remote::Remote::from_url(url)?;
            Ok(provledger::LedgerReader::open_with(
                std::sync::Arc::new(remote),
                std::path::Path::new(""),
            )?)
        }
        #[cfg(not(feature = "object-store"))]
        Some(url) => Err(CliError::usage(format!(
            "{url}: this build has no object-store support (the `object-store` feature)"
        ))),
        None => Ok(provledger::LedgerReader::open(dir)?),
    }
}
