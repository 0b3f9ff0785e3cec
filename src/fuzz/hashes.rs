//! Batched hashing against hashing one input at a time.

use super::Input;
use crate::hash::Domain;

/// Longest input drawn: past one chunk (1,024 bytes), where the batched path hands over to
/// `blake3::keyed_hash`.
const MAX_LEN: u16 = 1100;

/// `[domain u8][count u8][base length u16]` then per input `[selector u8]` (and a `[length
/// u16]` when the selector says so), the inputs' bytes following from the rest of the data
/// (zeros past its end). Many inputs share the base length or one close to it, so groups of
/// equal block counts — whose last blocks go through the sixteen-lane pass of `hash/lanes.rs`
/// (AVX-512, the crate's one `unsafe` module) — are common, at every lane position.
///
/// Asserts: [`Domain::hash_each`] gives, for every input, `blake3::keyed_hash` of that input
/// alone under the domain's key; `hash_each_present` the same for the inputs that are there
/// and `None` for the others.
pub fn hash_each(data: &[u8]) {
    let mut input = Input(data);
    let domain = Domain::ALL[usize::from(input.u8()) % Domain::ALL.len()];
    let count = usize::from(input.u8() % 96);
    let base = input.u16() % (MAX_LEN + 1);
    let lens: Vec<usize> = (0..count)
        .map(|_| {
            let selector = input.u8();
            usize::from(match selector >> 6 {
                0 | 1 => base,
                2 => base.saturating_sub(u16::from(selector & 0x3f)),
                _ => input.u16() % (MAX_LEN + 1),
            })
        })
        .collect();
    let inputs: Vec<Vec<u8>> = lens.iter().map(|&n| input.padded(n)).collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let got = domain.hash_each(&refs);
    assert_eq!(got.len(), refs.len(), "one digest per input");
    for (i, (d, x)) in got.iter().zip(&refs).enumerate() {
        assert_eq!(
            *d,
            blake3::keyed_hash(domain.key(), x).into(),
            "input {i} of {count} ({} bytes)",
            x.len()
        );
    }
    // Every third input absent.
    let present: Vec<Option<&[u8]>> = refs
        .iter()
        .enumerate()
        .map(|(i, x)| (i % 3 != 1).then_some(*x))
        .collect();
    for (i, (d, x)) in domain.hash_each_present(&present).iter().zip(&present).enumerate() {
        assert_eq!(
            *d,
            x.map(|x| blake3::keyed_hash(domain.key(), x).into()),
            "present input {i}"
        );
    }
}
