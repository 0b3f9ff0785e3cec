//! Decoders allocate in proportion to their input, not to what a length field inside it
//! claims: here under an allocation limit, as in the fuzz targets (`fuzz/src/lib.rs`), where
//! going past it aborts the process — and so fails this test.

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// A saved verifier state whose body claims a string of 268,435,316 bytes (just under the
/// 256 MiB a state may have) in 143 bytes — the input the fuzz target `decode_records` found
/// (`fuzz/seeds/decode_records/regression-state-length`). Before the fix the decoder allocated
/// what was claimed; now it is refused with at most a few KiB allocated.
#[test]
fn a_verifier_state_claiming_a_huge_field_is_refused_without_allocating_it() {
    let body = std::fs::read("fuzz/seeds/decode_records/regression-state-length").expect("seed");
    let mut state = b"provledger verifier state\n".to_vec();
    state.extend_from_slice(&1u32.to_le_bytes());
    state.extend_from_slice(blake3::hash(&body).as_bytes());
    state.extend_from_slice(&body);
    assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 268_435_316);
    let before = ALLOCATOR.allocated();
    ALLOCATOR.set_limit(before + (16 << 20)).expect("limit");
    let r = provledger::VerifierState::from_bytes(&state);
    ALLOCATOR.set_limit(usize::MAX).expect("limit");
    assert!(r.is_err(), "a state claiming more bytes than it has must be refused");
}
