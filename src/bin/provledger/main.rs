//! The `provledger` command-line tool: a thin layer over the library.
//!
//! Exit codes: 0 success; 1 verification failed or the ledger is damaged; 2 usage error,
//! unreadable path or bad input (clap exits 2 on usage errors, 0 for `--help`/`--version`).
//! See docs/CLI.md.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![warn(clippy::pedantic)]

mod cli;
mod commands;
mod error;
mod output;
mod records;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(&cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("provledger: error: {e}");
            ExitCode::from(e.code)
        }
    }
}
