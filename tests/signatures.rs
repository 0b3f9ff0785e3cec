//! The one Ed25519 rule (docs/FORMAT.md §3) through the public API, against
//! `tests/vectors/ed25519.json`: key validation, single verification, batch verification
//! (alone and mixed into batches of valid signatures by one key and by sixteen keys, and in
//! parallel), checkpoint verification and the co-signature and position signature of a record
//! (message rebuilt from the record with the library) all give each case's verdict; a second
//! implementation of ZIP 215 (ed25519-consensus) agrees on every case; and every case where we
//! accept what ed25519-dalek's `verify_strict` refuses is one of the documented kinds.
//!
//! (The rule on keys that key validation refuses — the 196 cases of the ZIP 215 set — is
//! checked on bytes inside the crate, `src/signature/tests.rs`.)

use provledger::checkpoint::Checkpoint;
use provledger::entry::{cosignature_message, position_message, RecordRef};
use provledger::signature::{verify_batch, verify_parallel, SignatureItem, TASK_BATCH};
use provledger::{AuthorSignature, Digest, KeyError, KeyId, LedgerId, SigningKey, Timestamp, VerifyingKey};
use serde_json::Value;

struct Case {
    v: Value,
    key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
}

impl Case {
    fn desc(&self) -> &str {
        self.v["desc"].as_str().expect("desc")
    }
    fn flag(&self, name: &str) -> bool {
        self.v[name].as_bool().expect("boolean field")
    }
    /// Our verdict: valid (no `want_err`).
    fn valid(&self) -> bool {
        self.v["want_err"].is_null()
    }
    fn key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.key).expect("a key_valid case's key")
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    let mut out = vec![0u8; s.len() / 2];
    provledger::hash::hex_decode_into(s, &mut out).expect("valid hex");
    out
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ed25519.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("JSON");
    assert!(file["desc"].is_string());
    let cases: Vec<Case> = file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            key: bytes(&c["public_key"]).try_into().expect("32 bytes"),
            message: bytes(&c["message"]),
            signature: bytes(&c["signature"]).try_into().expect("64 bytes"),
            v: c.clone(),
        })
        .collect();
    let count = |s: &str| cases.iter().filter(|c| c.v["source"] == s).count();
    assert_eq!(
        (count("zip215"), count("speccheck")),
        (196, 12),
        "the published sets in full"
    );
    for c in &cases {
        let want = match (c.flag("key_valid"), c.flag("zip215")) {
            (false, _) => Some("InvalidPublicKey"),
            (true, false) => Some("Signature"),
            (true, true) => None,
        };
        assert_eq!(
            c.v["want_err"].as_str(),
            want,
            "{}: want_err follows key_valid and zip215",
            c.desc()
        );
        assert!(
            c.v["why"].as_str().is_some_and(|w| !w.is_empty()),
            "{}: every case says why",
            c.desc()
        );
    }
    cases
}

/// The cases whose key passes key validation: the only ones the public API can be given.
fn keyed() -> Vec<Case> {
    cases().into_iter().filter(|c| c.flag("key_valid")).collect()
}

/// `n` valid signatures over distinct messages by `keys` keys, round robin.
struct Fillers {
    keys: Vec<VerifyingKey>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<[u8; 64]>,
}

impl Fillers {
    fn new(n: usize, keys: usize) -> Self {
        let sk: Vec<SigningKey> = (0..keys)
            .map(|i| SigningKey::from_seed(&[0x40 + u8::try_from(i).expect("few keys"); 32]))
            .collect();
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("filler message {i}").into_bytes()).collect();
        let signatures = (0..n).map(|i| sk[i % keys].sign(&messages[i])).collect();
        Fillers {
            keys: sk.iter().map(SigningKey::verifying_key).collect(),
            messages,
            signatures,
        }
    }
    fn items(&self) -> Vec<SignatureItem<'_>> {
        (0..self.messages.len())
            .map(|i| SignatureItem::new(&self.keys[i % self.keys.len()], &self.messages[i], &self.signatures[i]))
            .collect()
    }
}

#[test]
fn key_validation_and_single_verification_give_each_verdict() {
    for c in cases() {
        match VerifyingKey::from_bytes(&c.key) {
            Ok(k) => {
                assert!(c.flag("key_valid"), "{}", c.desc());
                assert_eq!(k.verify(&c.message, &c.signature), c.valid(), "{}", c.desc());
            }
            Err(e) => {
                assert!(!c.flag("key_valid"), "{}", c.desc());
                assert!(matches!(e, KeyError::InvalidPublicKey(_)), "{}", c.desc());
                assert_eq!(c.v["want_err"], "InvalidPublicKey");
            }
        }
    }
}

#[test]
fn batches_give_each_verdict_alone_and_mixed_by_one_and_by_sixteen_keys() {
    let cases = keyed();
    for c in &cases {
        let k = c.key();
        let item = SignatureItem::new(&k, &c.message, &c.signature);
        let want = |at: usize| if c.valid() { vec![] } else { vec![at] };
        assert_eq!(verify_batch(&[item]).expect("OS randomness"), want(0), "{}", c.desc());
        for fillers in [Fillers::new(47, 1), Fillers::new(47, 16)] {
            for at in [0, 20, 47] {
                let mut items = fillers.items();
                items.insert(at, item);
                assert_eq!(
                    verify_batch(&items).expect("OS randomness"),
                    want(at),
                    "{} at {at}",
                    c.desc()
                );
            }
        }
    }
    // All of them at once, between valid signatures by sixteen keys, in batches and in parallel.
    let keys: Vec<VerifyingKey> = cases.iter().map(Case::key).collect();
    let fillers = Fillers::new(3 * TASK_BATCH, 16);
    let mut items = fillers.items();
    let mut want = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let at = i * 11;
        items.insert(at, SignatureItem::new(&keys[i], &c.message, &c.signature));
        if !c.valid() {
            want.push(at);
        }
    }
    assert!(!want.is_empty() && want.len() < cases.len());
    assert_eq!(verify_batch(&items).expect("OS randomness"), want);
    assert_eq!(verify_parallel(&items).expect("OS randomness"), want);
}

#[test]
fn checkpoints_give_each_verdict() {
    let mut seen = 0;
    for c in cases().iter().filter(|c| c.v["context"] == "checkpoint") {
        let fixed = |name: &str| -> [u8; 32] { bytes(&c.v[name]).try_into().expect("32 bytes") };
        let cp = Checkpoint {
            ledger_id: LedgerId(bytes(&c.v["ledger_id"]).try_into().expect("16 bytes")),
            tree_size: c.v["tree_size"].as_u64().expect("size"),
            root: Digest::from_bytes(fixed("root")),
            timestamp: Timestamp(c.v["timestamp"].as_u64().expect("time")),
            key_id: KeyId(Digest::from_bytes(fixed("key_id"))),
            signature: c.signature,
        };
        assert_eq!(
            cp.body().as_bytes(),
            c.message.as_slice(),
            "{}: the message is the body",
            c.desc()
        );
        let key = c.key();
        assert_eq!(cp.key_id, key.key_id());
        assert_eq!(cp.verify(&key), c.valid(), "{}", c.desc());
        assert_eq!(
            Checkpoint::from_note(&cp.to_note(&key), &key).is_ok(),
            c.valid(),
            "{}: the signed note",
            c.desc()
        );
        seen += 1;
    }
    assert_eq!(seen, 8);
}

/// A crafted case over a record (context `cosignature` or `position`): the case, the record,
/// its ledger id and payload commitment.
struct RecordCase {
    c: Case,
    record: Vec<u8>,
    id: LedgerId,
    commitment: Digest,
}

impl RecordCase {
    /// The record, decoded by the library, and its one signature of `context`'s kind.
    fn parse(&self, context: &str) -> (RecordRef<'_>, AuthorSignature) {
        let r = RecordRef::parse(&self.record).expect("the record decodes");
        let sig = match (context, r.position(), r.cosignatures().collect::<Vec<_>>().as_slice()) {
            ("cosignature", None, [s]) => *s,
            ("position", Some(p), []) => p,
            _ => panic!("{}: one {context} signature and no other", self.c.desc()),
        };
        (r, sig)
    }
}

fn record_cases(context: &str) -> Vec<RecordCase> {
    cases()
        .into_iter()
        .filter(|c| c.v["context"] == context)
        .map(|c| RecordCase {
            record: bytes(&c.v["record"]),
            id: LedgerId(bytes(&c.v["ledger_id"]).try_into().expect("16 bytes")),
            commitment: Digest::from_bytes(bytes(&c.v["commitment"]).try_into().expect("32 bytes")),
            c,
        })
        .collect()
}

#[test]
fn cosignatures_give_each_verdict() {
    let cases = record_cases("cosignature");
    for rc in &cases {
        let (c, (r, sig)) = (&rc.c, rc.parse("cosignature"));
        assert_eq!(
            r.statement(rc.id, &rc.commitment),
            bytes(&c.v["statement"]),
            "{}: the statement",
            c.desc()
        );
        // The message, rebuilt from the record: "provledger v2 statement\0" ‖ H_statement(S).
        assert_eq!(
            cosignature_message(&r.statement_digest(rc.id, &rc.commitment)).as_slice(),
            c.message.as_slice(),
            "{}",
            c.desc()
        );
        let key = c.key();
        assert_eq!(sig.key_id, key.key_id());
        assert_eq!(sig.signature, c.signature);
        assert_eq!(key.verify(&c.message, &sig.signature), c.valid(), "{}", c.desc());
    }
    assert_eq!(cases.len(), 8);
}

#[test]
fn position_signatures_give_each_verdict() {
    let cases = record_cases("position");
    for rc in &cases {
        let (c, (r, sig)) = (&rc.c, rc.parse("position"));
        let seq = c.v["seq"].as_u64().expect("seq");
        let prev = Digest::from_bytes(bytes(&c.v["prev"]).try_into().expect("32 bytes"));
        let e = r.entry_hash(seq, rc.id, &rc.commitment);
        assert_eq!(e.to_bytes().as_slice(), bytes(&c.v["entry_hash"]), "{}", c.desc());
        // The message, rebuilt: "provledger v2 position\0" ‖ L_{seq-1} ‖ E_seq.
        assert_eq!(
            position_message(&prev, &e).as_slice(),
            c.message.as_slice(),
            "{}",
            c.desc()
        );
        let key = c.key();
        assert_eq!(sig.key_id, key.key_id());
        assert_eq!(sig.signature, c.signature);
        assert_eq!(key.verify(&c.message, &sig.signature), c.valid(), "{}", c.desc());
    }
    assert_eq!(cases.len(), 8);
}

#[test]
fn ed25519_consensus_agrees_on_the_equation() {
    for c in cases() {
        let theirs = ed25519_consensus::VerificationKey::try_from(c.key)
            .and_then(|k| k.verify(&ed25519_consensus::Signature::from(c.signature), &c.message))
            .is_ok();
        assert_eq!(theirs, c.flag("zip215"), "{}", c.desc());
    }
}

#[test]
fn differences_from_verify_strict_are_the_documented_kinds() {
    let mut differ = 0;
    for c in cases() {
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&c.key).is_ok_and(|k| {
            k.verify_strict(&c.message, &ed25519_dalek::Signature::from_bytes(&c.signature))
                .is_ok()
        });
        assert_eq!(strict, c.flag("verify_strict"), "{}", c.desc());
        // verify_strict never accepts what we refuse ...
        assert!(!strict || c.valid(), "{}", c.desc());
        // ... and what we accept beyond it is explained by small-order or non-canonical R, or a
        // mixed-order key (FORMAT.md §3 says why each is safe).
        if c.valid() && !strict {
            let why = c.v["why"].as_str().expect("why");
            assert!(
                why.starts_with("valid under §3, unlike verify_strict: "),
                "{}",
                c.desc()
            );
            assert!(
                why.contains("R is of small order")
                    || why.contains("R is a non-canonical encoding")
                    || why.contains("A is of mixed order")
                    || why.contains("R has a small-order component"),
                "{}",
                c.desc()
            );
            differ += 1;
        }
    }
    // speccheck 2, 4, 5, 9 and four crafted kinds (identity R, order-8 R, non-canonical R, mixed-order
    // key) over each of the co-signature, position and checkpoint messages.
    assert_eq!(differ, 4 + 3 * 4);
}
