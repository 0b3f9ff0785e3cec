#![no_main]

use provledger_fuzz as _; // the allocation cap (src/lib.rs)

libfuzzer_sys::fuzz_target!(|data: &[u8]| provledger::fuzz::hash_each(data));
