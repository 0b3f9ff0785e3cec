//! Sixteen BLAKE3 compressions at once, one input per 32-bit lane of AVX-512 registers: the
//! last blocks of [`super::many::keyed_hash_each`]'s inputs.
//!
//! `blake3`'s own SIMD kernel (`Platform::hash_many`) compresses only whole 64-byte blocks, so
//! the last block of each input — shorter than 64 bytes for nearly every commitment and entry
//! hash — used to be compressed alone: 70–85 ns each on the development VM, two per entry,
//! about a sixth of an unsigned audit's CPU time. [`compress`] does sixteen of them in one
//! pass of the BLAKE3 compression function (BLAKE3 §2.2) over `__m512i` vectors whose lane `i`
//! holds input `i`'s words, as `blake3`'s own `hash16` kernel does for whole blocks.
//!
//! **Why this module allows `unsafe`** (the only one in the crate; `lib.rs` denies it
//! elsewhere): calling a `#[target_feature(enable = "avx512f")]` function is `unsafe` unless
//! the caller has the feature too, and loading and storing `__m512i` goes through raw
//! pointers. Each `unsafe` block states why it is sound: the call only after
//! `is_x86_feature_detected!("avx512f")` said yes, the loads and stores from and to
//! `[u32; 16]` arrays of exactly the 64 bytes they move. Everything else is safe arithmetic on
//! registers. Without AVX-512 (or off x86-64) [`compress`] falls back to one `blake3`
//! compression per lane, so its result never depends on the CPU; the tests compare both with
//! `blake3` on random blocks of every length and flag set.
#![allow(unsafe_code)]

use blake3::platform::Platform;

/// Inputs one [`compress`] call handles.
pub(super) const LANES: usize = 16;

/// Sixteen lanes of one 32-bit word.
pub(super) type Words = [u32; LANES];

/// The state of up to [`LANES`] compressions, word-major: `cv[w][i]` is word `w` of lane `i`'s
/// chaining value.
#[derive(Clone)]
pub(super) struct Lanes {
    /// Chaining values in, results out.
    pub(super) cv: [Words; 8],
    /// The message blocks, as little-endian words.
    pub(super) block: [Words; 16],
    /// Bytes of each block that are input (1 ..= 64).
    pub(super) block_len: Words,
}

impl Lanes {
    pub(super) const fn new() -> Self {
        Lanes {
            cv: [[0; LANES]; 8],
            block: [[0; LANES]; 16],
            block_len: [0; LANES],
        }
    }

    /// Puts chaining value `cv` and the (at most 64) bytes `last` of a final block into lane
    /// `lane`; the rest of the block is zero, as BLAKE3 pads it.
    pub(super) fn set(&mut self, lane: usize, cv: &[u8; 32], last: &[u8]) {
        for (w, b) in cv.chunks_exact(4).enumerate() {
            self.cv[w][lane] = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let last = &last[..last.len().min(64)];
        let mut words = last.chunks_exact(4);
        let mut w = 0;
        for b in words.by_ref() {
            self.block[w][lane] = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            w += 1;
        }
        let mut tail = [0u8; 4];
        let rest = words.remainder();
        if !rest.is_empty() {
            tail[..rest.len()].copy_from_slice(rest);
            self.block[w][lane] = u32::from_le_bytes(tail);
            w += 1;
        }
        for word in &mut self.block[w..] {
            word[lane] = 0;
        }
        #[allow(clippy::cast_possible_truncation)] // at most 64
        let len = last.len() as u32;
        self.block_len[lane] = len;
    }

    /// Lane `lane`'s chaining value, as bytes.
    pub(super) fn get(&self, lane: usize) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (w, o) in out.chunks_exact_mut(4).enumerate() {
            o.copy_from_slice(&self.cv[w][lane].to_le_bytes());
        }
        out
    }
}

/// Whether [`compress`] runs as one SIMD pass here (otherwise it compresses lane by lane, and
/// batching last blocks gains nothing).
pub(super) fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses every lane's block into its chaining value at chunk counter 0 with domain
/// `flags` (the same for all lanes); lanes past the used ones compute garbage nobody reads.
pub(super) fn compress(lanes: &mut Lanes, flags: u8) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the CPU has AVX-512F (checked just above), the only feature `avx512::compress`
        // is compiled for.
        unsafe { avx512::compress(lanes, u32::from(flags)) };
        return;
    }
    compress_each(lanes, flags);
}

/// [`compress`] one lane at a time with `blake3`'s compression function.
pub(super) fn compress_each(lanes: &mut Lanes, flags: u8) {
    let platform = Platform::detect();
    for lane in 0..LANES {
        let mut cv: [u32; 8] = core::array::from_fn(|w| lanes.cv[w][lane]);
        let mut block = [0u8; 64];
        for (w, b) in block.chunks_exact_mut(4).enumerate() {
            b.copy_from_slice(&lanes.block[w][lane].to_le_bytes());
        }
        let len = u8::try_from(lanes.block_len[lane].min(64)).unwrap_or(64);
        platform.compress_in_place(&mut cv, &block, len, 0, flags);
        for (w, word) in cv.iter().enumerate() {
            lanes.cv[w][lane] = *word;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Lanes, Words};
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_ror_epi32, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512, _mm512_xor_si512,
    };

    /// BLAKE3's initialisation vector (§2.2, the first words of SHA-256's).
    const IV: [u32; 4] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A];

    /// The message word order of each of the seven rounds (BLAKE3 §2.2: the permutation
    /// applied round after round).
    const SCHEDULE: [[usize; 16]; 7] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8],
        [3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1],
        [10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6],
        [12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4],
        [9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7],
        [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13],
    ];

    #[inline(always)]
    #[allow(clippy::inline_always)] // every call must inline into the target_feature function
    #[allow(clippy::many_single_char_names)] // the names of BLAKE3 §2.2
    fn g(v: &mut [__m512i; 16], [a, b, c, d]: [usize; 4], x: __m512i, y: __m512i) {
        // SAFETY: register arithmetic of AVX-512F; this function is only inlined into
        // `compress`, which is compiled with that feature and called only when the CPU has it.
        unsafe {
            v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), x);
            v[d] = _mm512_ror_epi32::<16>(_mm512_xor_si512(v[d], v[a]));
            v[c] = _mm512_add_epi32(v[c], v[d]);
            v[b] = _mm512_ror_epi32::<12>(_mm512_xor_si512(v[b], v[c]));
            v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), y);
            v[d] = _mm512_ror_epi32::<8>(_mm512_xor_si512(v[d], v[a]));
            v[c] = _mm512_add_epi32(v[c], v[d]);
            v[b] = _mm512_ror_epi32::<7>(_mm512_xor_si512(v[b], v[c]));
        }
    }

    #[inline(always)]
    #[allow(clippy::inline_always)] // as `g`
    fn round(v: &mut [__m512i; 16], m: &[__m512i; 16], r: usize) {
        let s = &SCHEDULE[r];
        g(v, [0, 4, 8, 12], m[s[0]], m[s[1]]);
        g(v, [1, 5, 9, 13], m[s[2]], m[s[3]]);
        g(v, [2, 6, 10, 14], m[s[4]], m[s[5]]);
        g(v, [3, 7, 11, 15], m[s[6]], m[s[7]]);
        g(v, [0, 5, 10, 15], m[s[8]], m[s[9]]);
        g(v, [1, 6, 11, 12], m[s[10]], m[s[11]]);
        g(v, [2, 7, 8, 13], m[s[12]], m[s[13]]);
        g(v, [3, 4, 9, 14], m[s[14]], m[s[15]]);
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress(lanes: &mut Lanes, flags: u32) {
        // SAFETY: each pointer is to a `[u32; 16]`, 64 readable bytes; the load is unaligned.
        let load = |w: &Words| unsafe { _mm512_loadu_si512(w.as_ptr().cast()) };
        let zero = _mm512_setzero_si512();
        let mut v = [zero; 16];
        for (v, cv) in v.iter_mut().zip(&lanes.cv) {
            *v = load(cv);
        }
        for (v, iv) in v[8..12].iter_mut().zip(IV) {
            *v = _mm512_set1_epi32(iv.cast_signed());
        }
        // Words 12 and 13, the chunk counter, stay 0.
        v[14] = load(&lanes.block_len);
        v[15] = _mm512_set1_epi32(flags.cast_signed());
        let mut m = [zero; 16];
        for (m, w) in m.iter_mut().zip(&lanes.block) {
            *m = load(w);
        }
        // Unrolled, so that every message index is a constant and `m` stays in registers.
        round(&mut v, &m, 0);
        round(&mut v, &m, 1);
        round(&mut v, &m, 2);
        round(&mut v, &m, 3);
        round(&mut v, &m, 4);
        round(&mut v, &m, 5);
        round(&mut v, &m, 6);
        for (i, out) in lanes.cv.iter_mut().enumerate() {
            // SAFETY: `out` is a `[u32; 16]`, 64 writable bytes; the store is unaligned.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), _mm512_xor_si512(v[i], v[i + 8])) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Every block length 1 ..= 64 in every lane position, random chaining values and bytes,
    /// each BLAKE3 flag combination the crate uses: [`compress`] (SIMD where the CPU has it)
    /// and [`compress_each`] equal `blake3`'s compression of each lane alone.
    #[test]
    fn sixteen_lanes_equal_one_compression_each() {
        let platform = Platform::detect();
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for round in 0..64 * 4 {
            for flags in [0b1_1010u8, 0b1_1011, 0b0_1010, 0b1_0000, 0b100_0010] {
                let mut lanes = Lanes::new();
                let mut want = Vec::new();
                for lane in 0..LANES {
                    let cv: [u8; 32] = core::array::from_fn(|_| rng(&mut seed) as u8);
                    let len = 1 + (round + lane * 5) % 64;
                    let last: Vec<u8> = (0..len).map(|_| rng(&mut seed) as u8).collect();
                    lanes.set(lane, &cv, &last);
                    let mut words: [u32; 8] =
                        core::array::from_fn(|w| u32::from_le_bytes(cv[4 * w..4 * w + 4].try_into().unwrap()));
                    let mut block = [0u8; 64];
                    block[..len].copy_from_slice(&last);
                    platform.compress_in_place(&mut words, &block, len as u8, 0, flags);
                    want.push(words);
                }
                let mut each = lanes.clone();
                compress(&mut lanes, flags);
                compress_each(&mut each, flags);
                for (lane, words) in want.iter().enumerate() {
                    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                    assert_eq!(lanes.get(lane).as_slice(), bytes.as_slice(), "simd: round {round}, lane {lane}");
                    assert_eq!(each.get(lane).as_slice(), bytes.as_slice(), "each: round {round}, lane {lane}");
                }
            }
        }
    }
}
