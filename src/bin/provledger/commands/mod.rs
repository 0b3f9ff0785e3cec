//! One module per command; each `run` returns the exit code or a [`crate::error::CliError`].

pub mod append;
pub mod checkpoint;
pub mod demo;
pub mod enroll;
pub mod init;
pub mod keygen;
pub mod policy;
pub mod prove;
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
    }
}
