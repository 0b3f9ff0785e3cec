#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provledger::fuzz::decode_checkpoint(data));
