//! Failures of a command and the exit code each maps to.

use std::fmt;

use provledger::Error;

/// Exit code: a verification ran and failed (or, with `--policy`, found violations).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage error, unreadable path, or bad input.
pub const EXIT_USAGE: u8 = 2;

/// A command that could not do its job: a message for stderr and an exit code.
#[derive(Debug)]
pub struct CliError {
    /// 1 (verification failed) or 2 (usage, I/O, bad input, unusable ledger).
    pub code: u8,
    /// What went wrong, for a person.
    pub message: String,
}

impl CliError {
    /// A usage or input error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// Prefixes the message with context (e.g. the file or line concerned).
    #[must_use]
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every error the library reports exits 2: exit code 1 is reserved for a verification that
/// ran and failed (the verify commands decide that from their reports, not from errors).
macro_rules! usage_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::usage(e.to_string())
            }
        }
    )*};
}

usage_from!(
    Error,
    provledger::OpenError,
    provledger::AppendError,
    provledger::SyncError,
    provledger::CheckpointError,
    provledger::RedactError,
    provledger::ReadError,
    provledger::VerifyError,
    provledger::KeyError,
    provledger::DecodeError,
    provledger::StorageError,
    std::io::Error,
    serde_json::Error,
    provledger::witness::WitnessError,
    provledger::witness::CosignError,
);

#[cfg(feature = "object-store")]
usage_from!(provledger::remote::RemoteError);
