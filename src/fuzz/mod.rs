//! Fuzzing hooks: one function per target in `fuzz/fuzz_targets/`, so that every target is three
//! lines and the properties live beside the code they attack (rustls `fuzz/fuzzers`, age
//! `fuzz_header`). Each hook takes arbitrary bytes, never panics on valid library behaviour,
//! and `assert!`s the properties; a panic is a finding. fuzz/README.md says what each asserts.
//!
//! Not part of the public API: compiled only under `cfg(fuzzing)` (which `cargo fuzz` sets),
//! so no user's build carries them or their fixed key. `RUSTFLAGS="--cfg fuzzing" cargo test
//! --lib fuzz` runs every hook on its seeds (as `.ci/fuzz-smoke` does first).
//!
//! One submodule per family of targets: `decoders` (entries, checkpoints, notes, records),
//! `segments`, `proofs`, `hashes` (batched hashing against one at a time), `json` (with the
//! `json` feature), `ledger_dir` (arbitrary ledger
//! directories), `keyless` (a keyless attacker's edits of a real ledger), `model` (operations
//! against a model on a failing disk) and `seeds` (seed inputs from real ledgers).

use crate::hash::Digest;
use crate::keys::SigningKey;

/// Fuzzer bytes read as a stream of numbers; past the end everything reads as zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(std::array::from_fn(|_| self.u8()))
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.u8()))
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    /// Exactly `n` bytes, zero-padded at the end of the input.
    fn padded(&mut self, n: usize) -> Vec<u8> {
        let mut v = self.bytes(n).to_vec();
        v.resize(n, 0);
        v
    }

    fn digest(&mut self) -> Digest {
        Digest::from_bytes(std::array::from_fn(|_| self.u8()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Prints what `f` says when `PROVLEDGER_FUZZ_TRACE` is set (to follow a crashing input
/// through a hook; fuzz/README.md).
fn trace(f: impl FnOnce() -> String) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("PROVLEDGER_FUZZ_TRACE").is_some()) {
        eprintln!("{}", f());
    }
}

/// The key every fuzzed ledger, checkpoint and note is made with.
#[must_use]
pub fn fuzz_key() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

mod decoders;
mod hashes;
#[cfg(feature = "json")]
mod json;
mod keyless;
mod ledger_dir;
mod model;
mod proofs;
mod seeds;
mod segments;

pub use decoders::{decode_checkpoint, decode_entry, decode_note, decode_records};
pub use hashes::hash_each;
#[cfg(feature = "json")]
pub use json::decode_json;
pub use keyless::keyless_attacker;
pub use ledger_dir::{ledger_container, open_arbitrary_ledger};
pub use model::model_ops;
pub use proofs::{decode_proofs, verify_proofs_against_real_tree};
pub use seeds::{seeds, write_seeds};
pub use segments::decode_frame_and_segment;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed passes its hook, so `cargo test` runs each fuzz property once on real ledgers.
    #[test]
    fn every_seed_passes_its_hook() {
        type Hook = fn(&[u8]);
        #[allow(unused_mut)] // without the json feature nothing is added
        let mut hooks: Vec<(&str, Hook)> = vec![
            ("decode_entry", decode_entry),
            ("decode_frame_and_segment", decode_frame_and_segment),
            ("decode_checkpoint", decode_checkpoint),
            ("decode_note", decode_note),
            ("decode_proofs", decode_proofs),
            ("verify_proofs_against_real_tree", verify_proofs_against_real_tree),
            ("decode_records", decode_records),
            ("open_arbitrary_ledger", open_arbitrary_ledger),
            ("keyless_attacker", keyless_attacker),
            ("model_ops", model_ops),
            ("hash_each", hash_each),
        ];
        #[cfg(feature = "json")]
        hooks.push(("decode_json", decode_json));
        let seeds = seeds();
        for (name, hook) in hooks {
            let mine: Vec<&Vec<u8>> = seeds.iter().filter(|(t, _)| *t == name).map(|(_, s)| s).collect();
            assert!(!mine.is_empty(), "no seed for {name}");
            for s in mine {
                hook(s);
            }
        }
    }
}
