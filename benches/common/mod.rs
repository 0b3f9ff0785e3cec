//! Helpers shared by the bench binaries (included with `#[path]`, not a bench target itself).

#![allow(dead_code)] // each bench binary uses a different subset

use std::path::Path;

use provledger::{Draft, Durability, Ledger, Options, SigningKey};

/// Payload size of every benchmarked entry (DESIGN §7 workload).
pub const PAYLOAD_LEN: usize = 256;

/// Entries per `append_batch` call.
pub const BATCH: usize = 1000;

/// Segment size large enough that rotation is not part of what is measured.
pub const BIG_SEGMENT: u64 = 256 << 20;

/// A fixed key, so runs are comparable.
pub fn key() -> SigningKey {
    SigningKey::from_seed(&[7u8; 32])
}

pub fn opts(durability: Durability) -> Options {
    Options {
        durability,
        segment_size: BIG_SEGMENT,
        ..Options::default()
    }
}

/// A 256-byte payload that differs per entry (so nothing is accidentally deduplicated).
pub fn payload(i: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&i.to_le_bytes());
    p
}

pub fn drafts(n: usize, start: u64, signed: bool) -> Vec<Draft> {
    (0..n as u64)
        .map(|i| {
            let d = Draft::application("application/octet-stream", payload(start + i));
            if signed {
                d
            } else {
                d.without_appender_signature()
            }
        })
        .collect()
}

/// Appends entries (in batches of [`BATCH`], no syncs) until the ledger holds `len` entries
/// (genesis included).
pub fn fill_to(ledger: &mut Ledger, len: u64, signed: bool) {
    while ledger.len() < len {
        let n = (len - ledger.len()).min(BATCH as u64 * 10) as usize;
        let start = ledger.len();
        ledger
            .append_batch(drafts(n, start, signed))
            .expect("bench fixture: append to a fresh tempdir ledger");
    }
}

/// Creates a ledger in `dir` holding `len` entries (genesis included), then checkpoints it.
pub fn build_ledger(dir: &Path, key: &SigningKey, len: u64, signed: bool) -> Ledger {
    let mut ledger = Ledger::create(dir, key, "bench", opts(Durability::None)).expect("bench fixture: create ledger");
    fill_to(&mut ledger, len, signed);
    ledger.checkpoint().expect("bench fixture: checkpoint");
    ledger
}

/// A small deterministic PRNG (xorshift64*), so the benches need no `rand` dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` values uniform-ish in `0..bound`.
    pub fn below(&mut self, bound: u64, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.next_u64() % bound).collect()
    }
}
