//! JSON: the forms the CLI reads (`verify-proof`, `append`, `init --policy`) and users exchange.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::encoding::serde_codec;
use crate::proof::{ConsistencyProof, InclusionProof, ProofCheckError};
use crate::record::{Genesis, Policy, Record};

use super::fuzz_key;

/// Reads the input as JSON of every type a user hands the tools: inclusion and consistency
/// proofs and checkpoints (docs/FORMAT.md §15), governance records (tagged with `"kind"`), a
/// genesis, a policy. What parses must
/// print as JSON that parses to the same value (so `show` output can be fed back), must have
/// the binary form the ledger stores or exchanges decode to the same value when it encodes
/// (JSON accepts nothing the binary form would change), and must not panic when used: proofs
/// are verified (a proof is never accepted for another ledger than the one it names, and one
/// accepted has version 2), checkpoints checked against the key, records become drafts.
pub fn decode_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = fuzz_key().verifying_key();
    let other = crate::entry::LedgerId([0xee; 16]);
    if let Some(p) = json_round_trip::<InclusionProof>(text) {
        binary_round_trip(&p, "inclusion proof");
        let verdict = p.verify(&key);
        proof_rules(&verdict, p.version);
        if p.ledger_id != other {
            assert!(p.verify_for(&key, Some(other)).is_err(), "accepted for another ledger");
        }
    }
    if let Some(p) = json_round_trip::<ConsistencyProof>(text) {
        binary_round_trip(&p, "consistency proof");
        let verdict = p.verify(&key);
        proof_rules(&verdict, p.version);
        if p.ledger_id != other {
            assert!(p.verify_for(&key, Some(other)).is_err(), "accepted for another ledger");
        }
    }
    if let Some(c) = json_round_trip::<Checkpoint>(text) {
        binary_round_trip(&c, "checkpoint");
        if c.verify(&key) {
            assert_eq!(Checkpoint::from_note(&c.to_note(&key), &key), Ok(c));
        }
    }
    if let Some(r) = json_round_trip::<Record>(text) {
        if let Ok(bytes) = r.encode() {
            assert_eq!(Record::decode(r.entry_kind(), &bytes).as_ref(), Ok(&r), "record");
        }
        let _ = (r.refs(), crate::ledger::Draft::record(&r));
    }
    if let Some(g) = json_round_trip::<Genesis>(text) {
        if let Ok(bytes) = g.encode() {
            assert_eq!(Genesis::decode(&bytes).as_ref(), Ok(&g), "genesis");
        }
    }
    if let Some(p) = json_round_trip::<Policy>(text) {
        binary_round_trip(&p, "policy");
        let _ = p.min_approvals();
    }
}

/// A proof of another version is malformed whatever else it holds (§15 step 1).
fn proof_rules(verdict: &Result<(), ProofCheckError>, version: u32) {
    if version != crate::proof::PROOF_VERSION {
        assert!(
            matches!(verdict, Err(ProofCheckError::Malformed(_))),
            "version {version}: {verdict:?}"
        );
    }
}

/// Parses `text` as a `T`; if it parses, asserts its JSON prints and parses back to itself.
fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(text: &str) -> Option<T> {
    let v: T = serde_json::from_str(text).ok()?;
    let printed = serde_json::to_string(&v).expect("a parsed value prints as JSON");
    let back: T = serde_json::from_str(&printed).expect("printed JSON parses");
    assert_eq!(back, v, "JSON round trip changed the value: {printed}");
    Some(v)
}

/// If `v` encodes in the library's binary codec, the bytes decode to `v`.
fn binary_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T, what: &'static str) {
    if let Ok(bytes) = serde_codec::encode(v, what) {
        assert_eq!(serde_codec::decode::<T>(&bytes, what).as_ref(), Ok(v), "{what}");
    }
}
