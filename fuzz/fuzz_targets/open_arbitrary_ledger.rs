#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provledger::fuzz::open_arbitrary_ledger(data));
