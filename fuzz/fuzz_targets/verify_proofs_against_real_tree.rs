#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provledger::fuzz::verify_proofs_against_real_tree(data));
