//! The `provledger` command-line tool (work in progress).
fn main() {}
