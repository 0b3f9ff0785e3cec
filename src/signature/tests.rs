//! The rule itself, on bytes, against every case of tests/vectors/ed25519.json (the ZIP 215
//! set's keys included, which key validation refuses and the public API therefore cannot
//! reach): single verification, the batch equation, and the batch API agree on each case,
//! alone and mixed into batches of valid signatures by one key and by sixteen keys.

use super::*;
use crate::keys::SigningKey;

struct Vector {
    desc: String,
    key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
    key_valid: bool,
    zip215: bool,
}

fn unhex<const N: usize>(v: &serde_json::Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    let mut out = vec![0u8; s.len() / 2];
    crate::hash::hex_decode_into(s, &mut out).expect("hex");
    if N > 0 {
        assert_eq!(out.len(), N);
    }
    out
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ed25519.json");
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases: Vec<Vector> = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Vector {
            desc: c["desc"].as_str().unwrap().to_owned(),
            key: unhex::<32>(&c["public_key"]).try_into().unwrap(),
            message: unhex::<0>(&c["message"]),
            signature: unhex::<64>(&c["signature"]).try_into().unwrap(),
            key_valid: c["key_valid"].as_bool().unwrap(),
            zip215: c["zip215"].as_bool().unwrap(),
        })
        .collect();
    // The file holds the published sets in full and both verdicts.
    assert_eq!(cases.iter().filter(|c| c.desc.starts_with("ZIP 215")).count(), 196);
    assert!(cases.iter().any(|c| !c.zip215) && cases.iter().any(|c| c.zip215 && c.key_valid));
    cases
}

impl Vector {
    fn item(&self) -> SignatureItem<'_> {
        SignatureItem::unvalidated(self.key, &self.message, &self.signature)
    }
}

/// `n` valid signatures over distinct messages by `keys` keys (round robin).
struct Fillers {
    keys: Vec<SigningKey>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<[u8; 64]>,
}

impl Fillers {
    fn new(n: usize, keys: usize) -> Self {
        let keys: Vec<SigningKey> = (0..keys)
            .map(|i| SigningKey::from_seed(&[u8::try_from(i).unwrap() + 0x80; 32]))
            .collect();
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("filler {i}").into_bytes()).collect();
        let signatures = messages
            .iter()
            .enumerate()
            .map(|(i, m)| keys[i % keys.len()].sign(m))
            .collect();
        Fillers {
            keys,
            messages,
            signatures,
        }
    }

    fn items(&self) -> Vec<SignatureItem<'_>> {
        (0..self.messages.len())
            .map(|i| {
                let k = &self.keys[i % self.keys.len()];
                SignatureItem::new(&k.verifying_key(), &self.messages[i], &self.signatures[i])
            })
            .collect()
    }
}

fn expected(failing: bool, at: usize) -> Vec<usize> {
    if failing {
        vec![at]
    } else {
        vec![]
    }
}

#[test]
fn single_verification_gives_each_vectors_verdict() {
    for v in vectors() {
        assert_eq!(
            verify_unvalidated(&v.key, &v.message, &v.signature),
            v.zip215,
            "{}",
            v.desc
        );
        match VerifyingKey::from_bytes(&v.key) {
            Ok(k) => {
                assert!(v.key_valid, "{}", v.desc);
                assert_eq!(verify_one(&k, &v.message, &v.signature), v.zip215, "{}", v.desc);
            }
            Err(_) => assert!(!v.key_valid, "{}", v.desc),
        }
    }
}

#[test]
fn batch_equation_and_batch_api_agree_with_single_on_each_vector_alone() {
    for v in vectors() {
        let mut rng = Coefficients::from_os().unwrap();
        assert_eq!(batch_holds(&[v.item()], &mut rng), v.zip215, "{}", v.desc);
        assert_eq!(verify_batch(&[v.item()]).unwrap(), expected(!v.zip215, 0), "{}", v.desc);
    }
}

#[test]
fn each_vector_mixed_into_valid_batches_by_one_and_by_sixteen_keys() {
    for fillers in [Fillers::new(63, 1), Fillers::new(63, 16)] {
        let valid = fillers.items();
        assert_eq!(verify_batch(&valid).unwrap(), Vec::<usize>::new(), "fillers are valid");
        for v in vectors() {
            for at in [0, 31, 63] {
                let mut items = valid.clone();
                items.insert(at, v.item());
                let mut rng = Coefficients::from_os().unwrap();
                assert_eq!(batch_holds(&items, &mut rng), v.zip215, "{} at {at}", v.desc);
                assert_eq!(
                    verify_batch(&items).unwrap(),
                    expected(!v.zip215, at),
                    "{} at {at}",
                    v.desc
                );
            }
        }
    }
}

#[test]
fn all_vectors_in_one_batch_name_exactly_the_invalid_ones() {
    let vs = vectors();
    let fillers = Fillers::new(100, 16);
    // Interleave: filler, vector, filler, vector, ...
    let mut items = Vec::new();
    let mut want = Vec::new();
    let f = fillers.items();
    for (i, v) in vs.iter().enumerate() {
        if let Some(x) = f.get(i) {
            items.push(*x);
        }
        if !v.zip215 {
            want.push(items.len());
        }
        items.push(v.item());
    }
    assert_eq!(verify_batch(&items).unwrap(), want);
    // The 196 small-order cases (four keys' worth of coalesced points each) pass as one batch.
    let zip: Vec<_> = vs
        .iter()
        .filter(|v| v.desc.starts_with("ZIP 215"))
        .map(Vector::item)
        .collect();
    let mut rng = Coefficients::from_os().unwrap();
    assert!(batch_holds(&zip, &mut rng));
    assert_eq!(verify_batch(&zip).unwrap(), Vec::<usize>::new());
}

/// A tiny deterministic PRNG for choosing which items to corrupt.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn bisection_names_exactly_the_corrupted_items() {
    let mut rng = SplitMix(42);
    for (n, keys) in [(1, 1), (2, 1), (3, 2), (5, 1), (64, 1), (64, 16), (200, 16), (257, 3)] {
        let f = Fillers::new(n, keys);
        for round in 0..4 {
            let mut sigs = f.signatures.clone();
            let mut want = Vec::new();
            for (i, s) in sigs.iter_mut().enumerate() {
                // Round 0 corrupts nothing; later rounds about 1 in 2^round items.
                if round > 0 && rng.next().is_multiple_of(1 << round) {
                    let bit = usize::try_from(rng.next() % 512).unwrap();
                    s[bit / 8] ^= 1 << (bit % 8);
                    want.push(i);
                }
            }
            let items: Vec<_> = (0..n)
                .map(|i| SignatureItem::new(&f.keys[i % keys].verifying_key(), &f.messages[i], &sigs[i]))
                .collect();
            // The oracle: each corrupted signature fails alone, each other one verifies.
            let alone: Vec<usize> = (0..n).filter(|&i| !items[i].verify_alone()).collect();
            assert_eq!(alone, want, "n={n} keys={keys} round={round}");
            assert_eq!(verify_batch(&items).unwrap(), want, "n={n} keys={keys} round={round}");
        }
    }
}

#[test]
fn parallel_batches_report_indices_into_the_whole_slice() {
    let n = 3 * TASK_BATCH + 5;
    let f = Fillers::new(n, 4);
    let mut sigs = f.signatures.clone();
    let bad = [0, TASK_BATCH - 1, TASK_BATCH, 2 * TASK_BATCH + 7, n - 1];
    for &i in &bad {
        sigs[i][40] ^= 0x10;
    }
    let items: Vec<_> = (0..n)
        .map(|i| SignatureItem::new(&f.keys[i % 4].verifying_key(), &f.messages[i], &sigs[i]))
        .collect();
    assert_eq!(verify_parallel(&items).unwrap(), bad.to_vec());
    assert_eq!(verify_batch(&items).unwrap(), bad.to_vec());
    assert_eq!(verify_parallel(&[]).unwrap(), Vec::<usize>::new());
    assert_eq!(verify_batch(&[]).unwrap(), Vec::<usize>::new());
}

#[test]
fn coefficients_are_drawn_afresh_for_every_call() {
    use rand_core::RngCore;
    let mut a = Coefficients::from_os().unwrap();
    let mut b = Coefficients::from_os().unwrap();
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    a.fill_bytes(&mut x);
    b.fill_bytes(&mut y);
    assert_ne!(x, y, "two batches must not share coefficients");
    assert_ne!(a.next_u64(), a.next_u64(), "the stream advances");
}
