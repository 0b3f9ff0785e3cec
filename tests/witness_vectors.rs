//! Cosignature vectors: `tests/vectors/cosignature.json` pins `cosignature/v1` lines byte for
//! byte (docs/FORMAT.md §16).
//!
//! The file is generated here from fixed seeds by an implementation written from FORMAT §16 with
//! SHA-256, Ed25519 and base64 alone (not the library's), and compared with the library as it
//! goes; `cosignature_vectors_are_fresh` fails if the committed file differs
//! (`PROVLEDGER_UPDATE_VECTORS=1 cargo test --test witness_vectors` rewrites it). The other
//! test reads the committed file back and checks every case against the library alone.

use std::path::PathBuf;

use base64ct::{Base64, Encoding};
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use provledger::witness::{Covers, WitnessError, WitnessKey, WitnessPolicy};
use provledger::{Checkpoint, Digest, LedgerId, SigningKey, Timestamp};

const LEDGER_ID: [u8; 16] = [0x5a; 16];
const OPERATOR_SEED: [u8; 32] = [0x11; 32];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// FORMAT §11.1.
fn body(size: u64, root: [u8; 32], time: u64) -> String {
    format!(
        "provledger/{}\n{size}\n{}\ntime {time}\n",
        hex(&LEDGER_ID),
        Base64::encode_string(&root)
    )
}

fn key_hash(name: &str, ty: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ty]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// FORMAT §11.2: the operator's note.
fn operator_note(body: &str) -> String {
    let sk = ed25519_dalek::SigningKey::from_bytes(&OPERATOR_SEED);
    let origin = body.lines().next().unwrap();
    let mut sig = key_hash(origin, 0x01, sk.verifying_key().as_bytes()).to_vec();
    sig.extend_from_slice(&sk.sign(body.as_bytes()).to_bytes());
    format!("{body}\n\u{2014} {origin} {}\n", Base64::encode_string(&sig))
}

/// FORMAT §16.1 and §16.2: (signed message, line).
fn cosign(seed: [u8; 32], name: &str, time: u64, signed_text: &str) -> (String, String) {
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let msg = format!("cosignature/v1\ntime {time}\n{signed_text}");
    let mut b = key_hash(name, 0x04, sk.verifying_key().as_bytes()).to_vec();
    b.extend_from_slice(&time.to_be_bytes());
    b.extend_from_slice(&sk.sign(msg.as_bytes()).to_bytes());
    (msg, format!("\u{2014} {name} {}\n", Base64::encode_string(&b)))
}

fn vkey(seed: [u8; 32], name: &str) -> String {
    let public = *ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().as_bytes();
    let mut k = vec![0x04];
    k.extend_from_slice(&public);
    format!(
        "{name}+{}+{}",
        hex(&key_hash(name, 0x04, &public)),
        Base64::encode_string(&k)
    )
}

/// A line with one decoded byte changed (`at` counts from the start of the 76 bytes).
fn flip(line: &str, at: usize) -> String {
    let (head, b64) = line.trim_end().rsplit_once(' ').unwrap();
    let mut b = Base64::decode_vec(b64).unwrap();
    b[at] ^= 0x01;
    format!("{head} {}\n", Base64::encode_string(&b))
}

fn generate() -> Value {
    let w1 = ([0x21; 32], "witness.example/w1");
    let w2 = ([0x22; 32], "witness.example/w2");
    let mut cases = Vec::new();
    for (size, root_byte, cp_time, w_time) in [
        (1u64, 0x01u8, 1_767_225_600_000_000_000u64, 1_767_225_601u64),
        (12_345, 0xfe, 1_767_225_700_123_456_789, 0x7fff_ffff_ffff_ffff),
    ] {
        let b = body(size, [root_byte; 32], cp_time);
        let note = operator_note(&b);
        let (msg1, line1) = cosign(w1.0, w1.1, w_time, &b);
        let (_, line2) = cosign(w2.0, w2.1, w_time - 1, &b);
        let first3: String = b.lines().take(3).map(|l| format!("{l}\n")).collect();
        let (_, old_form) = cosign(w2.0, w2.1, w_time, &first3);
        let base = json!({
            "checkpoint": {"ledger_id": hex(&LEDGER_ID), "tree_size": size, "root": hex(&[root_byte; 32]), "time": cp_time},
            "body": b,
            "witnesses": [
                {"seed": hex(&w1.0), "name": w1.1, "vkey": vkey(w1.0, w1.1)},
                {"seed": hex(&w2.0), "name": w2.1, "vkey": vkey(w2.0, w2.1)}
            ],
        });
        let mut case = |desc: &str, lines: &[&str], min: usize, want: Value| {
            let mut c = base.clone();
            c["desc"] = json!(desc);
            c["note"] = json!(lines.iter().fold(note.clone(), |n, l| n + l));
            c["min"] = json!(min);
            match want {
                Value::String(e) => c["want_err"] = json!(e),
                v => c["want"] = v,
            }
            cases.push(c);
        };
        case(
            &format!("size {size}: two cosignatures, 2 of 2"),
            &[&line1, &line2],
            2,
            json!({"signed_message": msg1, "line": line1, "timestamp": w_time,
                   "cosigners": [[w1.1, w_time, "whole_body"], [w2.1, w_time - 1, "whole_body"]]}),
        );
        case(
            &format!("size {size}: the first-three-lines form of cosignature/v1 is accepted and reported"),
            &[&old_form],
            1,
            json!({"cosigners": [[w2.1, w_time, "first_three_lines"]]}),
        );
        case(
            &format!("size {size}: one of two required"),
            &[&line1],
            2,
            json!("too_few"),
        );
        case(
            &format!("size {size}: timestamp changed"),
            &[&flip(&line1, 11), &line2],
            1,
            json!("bad_cosignature"),
        );
        case(
            &format!("size {size}: signature bit flipped"),
            &[&line2, &flip(&line1, 40)],
            1,
            json!("bad_cosignature"),
        );
        case(
            &format!("size {size}: key hash changed (not a trusted line: ignored)"),
            &[&flip(&line1, 0)],
            1,
            json!("too_few"),
        );
        let renamed = line1.replacen(w1.1, "witness.example/w3", 1);
        case(
            &format!("size {size}: another name (ignored)"),
            &[&renamed],
            1,
            json!("too_few"),
        );
        let (_, other_body) = cosign(w1.0, w1.1, w_time, &body(size + 1, [root_byte; 32], cp_time));
        case(
            &format!("size {size}: a cosignature of another checkpoint"),
            &[&other_body],
            1,
            json!("bad_cosignature"),
        );
        let short = {
            let (head, b64) = line1.trim_end().rsplit_once(' ').unwrap();
            let b = Base64::decode_vec(b64).unwrap();
            format!("{head} {}\n", Base64::encode_string(&b[..75]))
        };
        case(
            &format!("size {size}: 75 bytes"),
            &[&short],
            1,
            json!("bad_cosignature"),
        );
    }
    json!({
        "desc": "C2SP cosignature/v1 lines on provledger checkpoints (docs/FORMAT.md §16): each case is a checkpoint note with cosignature lines, the trusted witnesses (Ed25519 seeds), K, and the result: the cosigners (name, timestamp, covered form) or want_err (too_few, bad_cosignature). Operator seed 11…11.",
        "cases": cases,
    })
}

fn render(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cosignature.json")
}

fn covers(c: Covers) -> &'static str {
    match c {
        Covers::WholeBody => "whole_body",
        Covers::FirstThreeLines => "first_three_lines",
        _ => "other",
    }
}

/// Checks one case against the library alone.
fn check_case(c: &Value) {
    let desc = c["desc"].as_str().unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let n = |v: &Value| v.as_u64().unwrap();
    let cp_json = &c["checkpoint"];
    let mut root = [0u8; 32];
    root.copy_from_slice(
        &(0..32)
            .map(|i| u8::from_str_radix(&s(&cp_json["root"])[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>(),
    );
    let id: LedgerId = s(&cp_json["ledger_id"]).parse().unwrap();
    let operator = SigningKey::from_seed(&OPERATOR_SEED);
    let cp = Checkpoint::from_note(&s(&c["note"]), &operator.verifying_key()).unwrap();
    assert_eq!(
        (cp.ledger_id, cp.tree_size, cp.root, cp.timestamp),
        (
            id,
            n(&cp_json["tree_size"]),
            Digest::from_bytes(root),
            Timestamp(n(&cp_json["time"]))
        ),
        "{desc}"
    );
    assert_eq!(cp.body(), s(&c["body"]), "{desc}");
    let witnesses: Vec<WitnessKey> = c["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let k: WitnessKey = s(&w["vkey"]).parse().unwrap();
            let seed: [u8; 32] = (0..32)
                .map(|i| u8::from_str_radix(&s(&w["seed"])[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            assert_eq!(
                k.verifying_key(),
                SigningKey::from_seed(&seed).verifying_key(),
                "{desc}"
            );
            assert_eq!(k.name(), s(&w["name"]), "{desc}");
            k
        })
        .collect();
    let policy = WitnessPolicy::new(witnesses.clone(), c["min"].as_u64().unwrap() as usize).unwrap();
    let got = policy.check(&cp, &s(&c["note"]));
    match c.get("want_err").and_then(Value::as_str) {
        Some("too_few") => assert!(
            matches!(got, Err(WitnessError::TooFewCosignatures { .. })),
            "{desc}: {got:?}"
        ),
        Some("bad_cosignature") => assert!(
            matches!(got, Err(WitnessError::BadCosignature { .. })),
            "{desc}: {got:?}"
        ),
        Some(other) => panic!("{desc}: unknown want_err {other}"),
        None => {
            let w = got.unwrap_or_else(|e| panic!("{desc}: {e}"));
            let cosigners: Vec<Value> = w
                .cosigners
                .iter()
                .map(|b| json!([b.name, b.timestamp, covers(b.covers)]))
                .collect();
            assert_eq!(Value::from(cosigners), c["want"]["cosigners"], "{desc}");
            if let Some(line) = c["want"]["line"].as_str() {
                // The library signs the same bytes into the same line (Ed25519 is deterministic).
                let seed = [0x21; 32];
                let sk = SigningKey::from_seed(&seed);
                let made =
                    provledger::witness::Cosignature::sign(&cp.body(), &witnesses[0], &sk, n(&c["want"]["timestamp"]))
                        .unwrap();
                assert_eq!(made.line(), line, "{desc}");
                assert_eq!(
                    provledger::witness::signed_message(&cp.body(), made.timestamp),
                    c["want"]["signed_message"].as_str().unwrap().as_bytes(),
                    "{desc}"
                );
            }
        }
    }
}

#[test]
fn cosignature_vectors_are_fresh() {
    let text = render(&generate());
    if std::env::var_os("PROVLEDGER_UPDATE_VECTORS").is_some_and(|v| v == "1") {
        std::fs::write(path(), &text).unwrap();
    }
    assert!(
        std::fs::read_to_string(path()).ok().as_deref() == Some(text.as_str()),
        "stale tests/vectors/cosignature.json: if the change is intended, run \
         PROVLEDGER_UPDATE_VECTORS=1 cargo test --test witness_vectors"
    );
}

#[test]
fn cosignature_vectors_match_the_library() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert!(v["desc"].is_string());
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    assert_eq!(cases.iter().filter(|c| c.get("want_err").is_some()).count(), 14);
    for c in cases {
        check_case(c);
    }
}
