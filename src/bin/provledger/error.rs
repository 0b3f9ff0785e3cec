//! Failures of a command and the exit code each maps to.

use std::fmt;

use provledger::{Error, StorageError};

/// Exit code: verification failed, or the ledger is damaged.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage error, unreadable path, or bad input.
pub const EXIT_USAGE: u8 = 2;

/// A command that could not do its job: a message for stderr and an exit code.
#[derive(Debug)]
pub struct CliError {
    /// 1 (damage) or 2 (usage, I/O, bad input).
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

/// Damage found in ledger files exits 1; everything else the library reports (missing or
/// unreadable paths, locks, bad keys, bad input) exits 2.
impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Storage(StorageError::Corrupt { .. }) | Error::Decode(_) => EXIT_FAILED,
            _ => EXIT_USAGE,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

impl From<provledger::KeyError> for CliError {
    fn from(e: provledger::KeyError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<StorageError> for CliError {
    fn from(e: StorageError) -> Self {
        Error::Storage(e).into()
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::usage(e.to_string())
    }
}
