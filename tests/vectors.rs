//! Test vectors: `tests/vectors/*.json` pin every byte layout of docs/FORMAT.md.
//!
//! * `vectors_are_fresh` regenerates every file from the library and fails if a committed
//!   file differs; `PROVLEDGER_UPDATE_VECTORS=1 cargo test --test vectors` rewrites them.
//! * The other tests read the committed files back: positive cases must decode, re-encode to
//!   the same bytes and give the recorded outputs; `want_err` cases must fail with the named
//!   error class.
//! * `independent_*` tests check the files with `vectors_support/independent.rs`, a
//!   mini-verifier written from docs/FORMAT.md alone (BLAKE3, Ed25519 and CRC-32C used
//!   directly), which shows the specification suffices.

#[path = "vectors_support/checkpoint_gen.rs"]
mod checkpoint_gen;
#[path = "vectors_support/ed25519_gen.rs"]
mod ed25519_gen;
#[path = "vectors_support/generate.rs"]
mod generate;
#[path = "vectors_support/independent.rs"]
mod independent;
#[path = "vectors_support/json.rs"]
mod json;
#[path = "vectors_support/records_gen.rs"]
mod records_gen;

use std::path::{Path, PathBuf};

use json::J;
use provledger::checkpoint::{note_verifier_key, Checkpoint, CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN};
use provledger::entry::{
    entry_hash, signing_message, statement_digest, MAX_CONTENT_TYPE_LEN, MAX_ENTRY_LEN, MAX_PAYLOAD_LEN, MAX_REFS,
    MAX_SIGNATURES, STATEMENT_OFFSET, STATEMENT_SIGNATURE_PREFIX,
};
use provledger::hash::{derive, hash_leaf, hash_node, hex_encode, KEY_ID_CONTEXT};
use provledger::merkle::{
    consistency_proof, empty_root, inclusion_proof, verify_consistency, verify_inclusion, ProofError,
};
use provledger::record::{Record, MAX_ANCHORS, MAX_NAME_LEN};
use provledger::storage::frame::{
    check_body, encode_frame, erased_section, parse_header, parse_section, StoredPayload, MAX_FRAME_LEN, MIN_ENTRY_LEN,
};
use provledger::storage::index::{check_index_header, index_file_name, INDEX_HEADER_LEN};
use provledger::storage::segment::{segment_file_name, SegmentHeader, SEGMENT_HEADER_LEN};
use provledger::tree::{level_header, TREE_HEADER_LEN};
use provledger::{
    AuthorSignature, DecodeError, Digest, Entry, EntryKind, EntrySeq, Genesis, LedgerId, PayloadCommitment, SigningKey,
    Statement, Timestamp, VerifyingKey,
};
use serde_json::Value;

use checkpoint_gen::{gen_checkpoint, CHECKPOINT_TIME};
use ed25519_gen::gen_ed25519;
use generate::*;
use records_gen::gen_records;

// ---------------------------------------------------------------------------------------------
// Staleness.

/// Builds one vector file from the library.
type Generator = fn() -> J;

const FILES: [(&str, Generator); 9] = [
    ("hashes.json", gen_hashes),
    ("entry.json", gen_entry),
    ("frame.json", gen_frame),
    ("segment_header.json", gen_segment_header),
    ("genesis.json", gen_genesis),
    ("merkle.json", gen_merkle),
    ("records.json", gen_records),
    ("checkpoint.json", gen_checkpoint),
    ("ed25519.json", gen_ed25519),
];

fn vector_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name)
}

#[test]
fn vectors_are_fresh() {
    let update = std::env::var_os("PROVLEDGER_UPDATE_VECTORS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, generate) in FILES {
        let text = generate().render();
        let path = vector_path(name);
        if update {
            std::fs::write(&path, &text).expect("write vector file");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale vector files {stale:?}: the library's bytes changed (a format change!) or the files were \
         edited. If intended, run PROVLEDGER_UPDATE_VECTORS=1 cargo test --test vectors"
    );
}

// ---------------------------------------------------------------------------------------------
// Reading the committed files back.

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(vector_path(name)).expect("vector file present");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(v["desc"].is_string(), "{name}: desc");
    let cases = v["cases"].as_array().expect("cases").clone();
    for c in &cases {
        assert!(c["desc"].is_string(), "{name}: every case has a desc");
    }
    cases
}

fn bytes(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    let mut out = vec![0u8; s.len() / 2];
    provledger::hash::hex_decode_into(s, &mut out).expect("valid hex");
    out
}

fn b32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().expect("32 bytes")
}

fn digest(v: &Value) -> Digest {
    Digest::from_bytes(b32(v))
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

fn class(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::InvalidTag { .. } => "InvalidTag",
        DecodeError::TooLong { .. } => "TooLong",
        DecodeError::TrailingBytes { .. } => "TrailingBytes",
        DecodeError::BadMagic { .. } => "BadMagic",
        DecodeError::UnsupportedVersion { .. } => "UnsupportedVersion",
        DecodeError::Checksum { .. } => "Checksum",
        DecodeError::Invalid { .. } => "Invalid",
        DecodeError::Payload { .. } => "Payload",
        _ => "Other",
    }
}

#[test]
fn hashes_match_library() {
    for c in load("hashes.json") {
        let i = &c["input"];
        let got = match c["function"].as_str().expect("function") {
            "statement_digest" => statement_digest(&bytes(&i["statement"])),
            "entry_hash" => entry_hash(&bytes(&i["entry"])),
            "payload_commitment" => PayloadCommitment::new(&b32(&i["salt"]), &bytes(&i["payload"])).digest,
            "key_id" => {
                VerifyingKey::from_bytes(&b32(&i["public_key"]))
                    .expect("valid key")
                    .key_id()
                    .0
            }
            "leaf_hash" => hash_leaf(&digest(&i["entry_hash"])),
            "node_hash" => hash_node(&digest(&i["left"]), &digest(&i["right"])),
            "empty_root" => empty_root(),
            "signing_message" => {
                assert_eq!(
                    signing_message(&digest(&i["statement_digest"])).to_vec(),
                    bytes(&c["output"])
                );
                continue;
            }
            other => panic!("unknown function {other}"),
        };
        assert_eq!(got, digest(&c["output"]), "{}", c["desc"]);
    }
}

#[test]
fn entries_round_trip_and_match_library() {
    let cases = load("entry.json");
    let mut positive = 0;
    for c in &cases {
        let desc = &c["desc"];
        if let Some(err) = c["want_err"].as_str() {
            let b = bytes(&c["entry"]);
            match (err, Entry::decode(&b)) {
                ("Signature", Ok(e)) => {
                    let keys: Vec<VerifyingKey> = c["public_keys"]
                        .as_array()
                        .expect("keys")
                        .iter()
                        .map(|k| VerifyingKey::from_bytes(&b32(k)).expect("valid key"))
                        .collect();
                    let msg = signing_message(&e.statement.digest());
                    let ids: Vec<_> = e.signatures.iter().map(|s| s.key_id).collect();
                    let distinct = ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id));
                    let all_verify = e.signatures.iter().all(|s| {
                        keys.iter()
                            .any(|k| k.key_id() == s.key_id && k.verify(&msg, &s.signature))
                    });
                    assert!(!(distinct && all_verify), "{desc}: signatures must not all verify");
                }
                ("Signature", Err(e)) => panic!("{desc}: must decode, got {e}"),
                (want, Ok(_)) => panic!("{desc}: decoded, want {want}"),
                (want, Err(e)) => assert_eq!(class(&e), want, "{desc}: {e}"),
            }
            continue;
        }
        positive += 1;
        let (i, o) = (&c["input"], &c["output"]);
        let salt = b32(&i["salt"]);
        let payload = bytes(&i["payload"]);
        let statement = Statement {
            ledger_id: LedgerId(bytes(&i["ledger_id"]).try_into().expect("16 bytes")),
            kind: EntryKind::from_code(u16::try_from(num(&i["kind"])).expect("u16")).expect("kind"),
            timestamp: Timestamp(num(&i["timestamp"])),
            content_type: i["content_type"].as_str().expect("string").into(),
            payload: PayloadCommitment::new(&salt, &payload),
            refs: i["refs"].as_array().expect("refs").iter().map(digest).collect(),
        };
        assert_eq!(statement.to_bytes(), bytes(&o["statement"]), "{desc}");
        assert_eq!(statement.digest(), digest(&o["statement_digest"]), "{desc}");
        assert_eq!(statement.payload.digest, digest(&o["payload_commitment"]), "{desc}");
        let signers = i["signers"].as_array().expect("signers");
        let signatures: Vec<AuthorSignature> = signers
            .iter()
            .map(|s| {
                let key = SigningKey::from_seed(&b32(&s["seed"]));
                assert_eq!(key.verifying_key().to_bytes(), b32(&s["public_key"]));
                assert_eq!(key.key_id().0, digest(&s["key_id"]));
                let sig = statement.sign(&key);
                assert_eq!(sig.signature.to_vec(), bytes(&s["signature"]), "{desc}");
                sig
            })
            .collect();
        let entry = Entry {
            seq: EntrySeq(num(&i["seq"])),
            prev: digest(&i["prev"]),
            statement,
            signatures,
        };
        let b = entry.to_bytes().expect("encodes");
        assert_eq!(b, bytes(&o["entry"]), "{desc}");
        assert_eq!(
            Entry::decode(&b).expect("decodes"),
            entry,
            "{desc}: decode(encode(x)) == x"
        );
        assert_eq!(entry_hash(&b), digest(&o["entry_hash"]), "{desc}");
        assert_eq!(
            statement_digest(&b[STATEMENT_OFFSET..STATEMENT_OFFSET + entry.statement.to_bytes().len()]),
            digest(&o["statement_digest"])
        );
    }
    assert!(positive >= 4 && cases.len() - positive >= 10);
}

#[test]
fn frames_match_library() {
    for c in load("frame.json") {
        let desc = &c["desc"];
        match c["type"].as_str().expect("type") {
            "frame" => {
                let f = bytes(&c["frame"]);
                let entry = bytes(&c["entry"]);
                let h = parse_header(f[..12].try_into().expect("12")).expect("header");
                assert_eq!(h.entry_len as u64, num(&c["entry_len"]));
                assert_eq!(h.section_len as u64, num(&c["section_len"]));
                assert_eq!(h.frame_len(), f.len());
                assert_eq!(check_body(h, &f), Ok(()), "{desc}");
                assert_eq!(&f[12..12 + h.entry_len], entry.as_slice());
                let s = &f[h.section_offset()..h.section_offset() + h.section_len];
                let mut rebuilt = Vec::new();
                if c["state"] == "erased" {
                    assert_eq!(parse_section(s), Ok(StoredPayload::Erased));
                    rebuilt.extend_from_slice(&f[..h.section_offset()]);
                    rebuilt.extend_from_slice(&erased_section(usize::try_from(num(&c["payload_len"])).expect("len")));
                } else {
                    let (salt, payload) = (b32(&c["salt"]), bytes(&c["payload"]));
                    assert_eq!(
                        parse_section(s),
                        Ok(StoredPayload::Present {
                            salt,
                            bytes: payload.clone()
                        })
                    );
                    encode_frame(&mut rebuilt, &entry, &salt, &payload);
                }
                assert_eq!(rebuilt, f, "{desc}");
            }
            "scan" => {
                let b = bytes(&c["bytes"]);
                assert_eq!(classify(&b, true).render(), json_of(&c["newest"]), "{desc}");
                assert_eq!(classify(&b, false).render(), json_of(&c["sealed"]), "{desc}");
            }
            "section" => {
                let s = bytes(&c["section"]);
                let want = &c["want"];
                match (parse_section(&s), want["state"].as_str()) {
                    (Ok(StoredPayload::Erased), Some("erased")) => {}
                    (Ok(StoredPayload::Present { salt, bytes: p }), Some("present")) => {
                        assert_eq!((salt, p), (b32(&want["salt"]), bytes(&want["payload"])));
                    }
                    (Err(e), None) => assert_eq!(Some(e), want["want_err"].as_str(), "{desc}"),
                    (got, _) => panic!("{desc}: got {got:?}"),
                }
            }
            other => panic!("unknown type {other}"),
        }
    }
}

/// Re-renders a parsed JSON value with the ordered writer, to compare classifications.
fn json_of(v: &Value) -> String {
    fn conv(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Number(n) => J::Num(n.as_u64().expect("u64")),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(conv).collect()),
            Value::Object(o) => {
                let mut fields: Vec<(String, J)> = o.iter().map(|(k, v)| (k.clone(), conv(v))).collect();
                let order = ["good_frames", "stop", "class", "offset", "reason"];
                fields.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
                J::Obj(fields)
            }
            Value::Bool(_) => panic!("no booleans in vectors"),
        }
    }
    conv(v).render()
}

#[test]
fn segment_headers_match_library() {
    for c in load("segment_header.json") {
        let desc = &c["desc"];
        let h: [u8; 64] = bytes(&c["header"]).try_into().unwrap_or([0; 64]);
        let ty = c["type"].as_str().expect("type");
        if let Some(err) = c["want_err"].as_str() {
            let e = SegmentHeader::decode(&h).expect_err("must fail");
            assert_eq!(class(&e), err, "{desc}: {e}");
            continue;
        }
        let id = LedgerId(bytes(&c["ledger_id"]).try_into().expect("16 bytes"));
        let first_seq = num(&c["first_seq"]);
        let name = c["file_name"].as_str().expect("name");
        if ty == "segment_header" {
            let hdr = SegmentHeader {
                ledger_id: id,
                first_seq,
            };
            assert_eq!(SegmentHeader::decode(&h), Ok(hdr), "{desc}");
            assert_eq!(hdr.encode(), h);
            assert_eq!(segment_file_name(first_seq), name);
        } else {
            let b: [u8; INDEX_HEADER_LEN] = bytes(&c["header"]).try_into().expect("48 bytes");
            assert_eq!(check_index_header(&b, id, first_seq), Ok(()), "{desc}");
            assert!(check_index_header(&b, id, first_seq + 1).is_err());
            assert_eq!(index_file_name(first_seq), name);
        }
    }
}

#[test]
fn genesis_matches_library() {
    for c in load("genesis.json") {
        let desc = &c["desc"];
        let b = bytes(&c["payload"]);
        match c["want_err"].as_str() {
            Some(err) => {
                let e = Genesis::decode(&b).expect_err("must fail");
                assert_eq!(class(&e), err, "{desc}: {e}");
            }
            None => {
                let g = Genesis::decode(&b).expect("decodes");
                assert_eq!(g.encode().expect("encodes"), b, "{desc}: encode(decode(x)) == x");
                if let Some(fields) = c["fields"].as_array() {
                    assert_eq!(g, genesis_fixture());
                    let joined: Vec<u8> = fields.iter().flat_map(|f| bytes(&f["hex"])).collect();
                    assert_eq!(joined, b, "{desc}: fields cover the payload");
                }
            }
        }
    }
}

#[test]
fn merkle_matches_library() {
    let tree = merkle_tree(17);
    for c in load("merkle.json") {
        let desc = &c["desc"];
        let path: Vec<Digest> = c["path"]
            .as_array()
            .map(|p| p.iter().map(digest).collect())
            .unwrap_or_default();
        let want = c["want_err"].as_str();
        let result = match c["type"].as_str().expect("type") {
            "root" => {
                assert_eq!(
                    tree.root_at(num(&c["size"])).expect("root"),
                    digest(&c["root"]),
                    "{desc}"
                );
                continue;
            }
            "inclusion" => {
                let (i, n) = (num(&c["leaf_index"]), num(&c["tree_size"]));
                if want.is_none() {
                    assert_eq!(inclusion_proof(&tree, i, n).expect("proof"), path, "{desc}");
                    assert_eq!(hash_leaf(&digest(&c["entry_hash"])), digest(&c["leaf_hash"]));
                }
                verify_inclusion(&digest(&c["leaf_hash"]), i, n, &path, &digest(&c["root"]))
            }
            "consistency" => {
                let (m, n) = (num(&c["old_size"]), num(&c["new_size"]));
                if want.is_none() {
                    assert_eq!(consistency_proof(&tree, m, n).expect("proof"), path, "{desc}");
                }
                verify_consistency(m, n, &digest(&c["old_root"]), &digest(&c["new_root"]), &path)
            }
            other => panic!("unknown type {other}"),
        };
        match (want, result) {
            (None, r) => assert_eq!(r, Ok(()), "{desc}"),
            (Some("Malformed"), Err(ProofError::Malformed(_)))
            | (Some("RootMismatch"), Err(ProofError::RootMismatch)) => {}
            (Some(w), r) => panic!("{desc}: want {w}, got {r:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The independent mini-verifier (vectors_support/independent.rs) against the same files.

#[test]
fn independent_verifier_agrees_on_entries() {
    for c in load("entry.json") {
        let desc = &c["desc"];
        let b = if c["entry"].is_string() {
            bytes(&c["entry"])
        } else {
            bytes(&c["output"]["entry"])
        };
        match c["want_err"].as_str() {
            Some("Signature") => {
                let p = independent::parse_entry(&b).expect("decodes");
                let keys: Vec<[u8; 32]> = c["public_keys"].as_array().expect("keys").iter().map(b32).collect();
                assert!(independent::verify_signatures(&b, &p, &keys).is_err(), "{desc}");
            }
            Some(_) => assert!(independent::parse_entry(&b).is_err(), "{desc}"),
            None => {
                let (i, o) = (&c["input"], &c["output"]);
                let p = independent::parse_entry(&b).expect("decodes");
                assert_eq!(p.seq, num(&i["seq"]));
                assert_eq!(p.prev, b32(&i["prev"]));
                assert_eq!(p.ledger_id.to_vec(), bytes(&i["ledger_id"]));
                assert_eq!(u64::from(p.kind), num(&i["kind"]));
                assert_eq!(p.timestamp, num(&i["timestamp"]));
                assert_eq!(p.content_type, i["content_type"].as_str().expect("string"));
                let payload = bytes(&i["payload"]);
                assert_eq!(p.payload_len, payload.len() as u64);
                assert_eq!(
                    p.commitment,
                    independent::payload_commitment(&b32(&i["salt"]), &payload),
                    "{desc}"
                );
                let refs: Vec<[u8; 32]> = i["refs"].as_array().expect("refs").iter().map(b32).collect();
                assert_eq!(p.refs, refs);
                assert_eq!(b[40..p.statement_end].to_vec(), bytes(&o["statement"]), "{desc}");
                assert_eq!(independent::entry_hash(&b), b32(&o["entry_hash"]), "{desc}");
                let keys: Vec<[u8; 32]> = i["signers"]
                    .as_array()
                    .expect("signers")
                    .iter()
                    .map(|s| b32(&s["public_key"]))
                    .collect();
                let digest = independent::verify_signatures(&b, &p, &keys).expect("signatures verify");
                assert_eq!(digest, b32(&o["statement_digest"]), "{desc}");
                assert_eq!(independent::signing_message(&digest), bytes(&o["signing_message"]));
                for (s, (kid, sig)) in i["signers"].as_array().expect("signers").iter().zip(&p.signatures) {
                    assert_eq!(independent::key_id(&b32(&s["public_key"])), *kid);
                    assert_eq!(sig.to_vec(), bytes(&s["signature"]));
                }
            }
        }
    }
}

#[test]
fn independent_verifier_agrees_on_hashes_frames_and_genesis() {
    for c in load("hashes.json") {
        let i = &c["input"];
        let out = bytes(&c["output"]);
        let got: Vec<u8> = match c["function"].as_str().expect("function") {
            "statement_digest" => independent::statement_digest(&bytes(&i["statement"])).to_vec(),
            "entry_hash" => independent::entry_hash(&bytes(&i["entry"])).to_vec(),
            "payload_commitment" => independent::payload_commitment(&b32(&i["salt"]), &bytes(&i["payload"])).to_vec(),
            "key_id" => independent::key_id(&b32(&i["public_key"])).to_vec(),
            "leaf_hash" => blake3::hash(&[&[0u8][..], &bytes(&i["entry_hash"])].concat())
                .as_bytes()
                .to_vec(),
            "node_hash" => blake3::hash(&[&[1u8][..], &bytes(&i["left"]), &bytes(&i["right"])].concat())
                .as_bytes()
                .to_vec(),
            "empty_root" => blake3::hash(b"").as_bytes().to_vec(),
            "signing_message" => independent::signing_message(&b32(&i["statement_digest"])),
            other => panic!("unknown function {other}"),
        };
        assert_eq!(got, out, "{}", c["desc"]);
    }
    for c in load("frame.json").iter().filter(|c| c["type"] == "frame") {
        let f = bytes(&c["frame"]);
        let frame = independent::parse_frame(&f).expect("valid frame");
        assert_eq!(frame.entry, bytes(&c["entry"]).as_slice());
        let p = independent::parse_entry(frame.entry).expect("entry");
        match frame.section[0] {
            0 => {
                let salt: [u8; 32] = frame.section[1..33].try_into().expect("32");
                assert_eq!(
                    independent::payload_commitment(&salt, &frame.section[33..]),
                    p.commitment
                );
            }
            1 => assert!(frame.section[1..].iter().all(|&x| x == 0)),
            s => panic!("state {s}"),
        }
        assert_eq!(frame.section.len() as u64, 33 + p.payload_len);
    }
    for c in load("genesis.json") {
        if let Some(fields) = c["fields"].as_array() {
            let mut offset = 0;
            for f in fields {
                assert_eq!(num(&f["offset"]), offset);
                assert_eq!(num(&f["size"]), bytes(&f["hex"]).len() as u64);
                offset += num(&f["size"]);
            }
            assert_eq!(offset, bytes(&c["payload"]).len() as u64);
        }
    }
}

/// The bounds docs/FORMAT.md states, checked against the library's constants.
#[test]
fn documented_bounds_match_constants() {
    assert_eq!(MIN_ENTRY_LEN, 110);
    assert_eq!(MAX_ENTRY_LEN, 65_536);
    assert_eq!(MAX_PAYLOAD_LEN, 16_777_216);
    assert_eq!(MAX_REFS, 1024);
    assert_eq!(MAX_SIGNATURES, 16);
    assert_eq!(MAX_CONTENT_TYPE_LEN, 255);
    assert_eq!(MAX_FRAME_LEN, 16_842_805);
    assert_eq!(STATEMENT_SIGNATURE_PREFIX.len(), 34);
    assert_eq!(SEGMENT_HEADER_LEN, 64);
    assert_eq!(INDEX_HEADER_LEN, 48);
    assert_eq!(KEY_ID_CONTEXT, "provledger v1 key id");
    assert_eq!(MAX_ANCHORS, 64);
    assert_eq!(MAX_NAME_LEN, 256);
    assert_eq!(provledger::encoding::MAX_STRUCTURED_PAYLOAD, 1 << 20);
    assert_eq!(CHECKPOINT_HEADER_LEN, 32);
    assert_eq!(CHECKPOINT_RECORD_LEN, 148);
    assert_eq!(TREE_HEADER_LEN, 32);
    assert_eq!(provledger::checkpoint::MAX_NOTE_LEN, 8192);
    // Entry kinds: codes 0..=12, names, and which may be erased / must be signed.
    let kinds = [
        ("genesis", false, true),
        ("application", true, false),
        ("key_enrollment", false, true),
        ("key_revocation", false, true),
        ("policy_update", false, true),
        ("ai_output", true, true),
        ("proposal", false, true),
        ("review", false, true),
        ("approval", false, true),
        ("rejection", false, true),
        ("execution", false, true),
        ("override", false, true),
        ("redaction", false, true),
    ];
    for (code, (name, redactable, signed)) in kinds.iter().enumerate() {
        let k = EntryKind::from_code(u16::try_from(code).expect("small")).expect("defined");
        assert_eq!(
            (k.name(), k.redactable(), k.must_be_signed()),
            (*name, *redactable, *signed)
        );
        assert_eq!(k.code() as usize, code);
    }
    assert!(EntryKind::from_code(13).is_err());
    assert_eq!(hex_encode(&derive(KEY_ID_CONTEXT, &[b""]).to_bytes()).len(), 64);
}

#[test]
fn records_match_library() {
    let cases = load("records.json");
    let mut kinds = Vec::new();
    for c in &cases {
        let desc = &c["desc"];
        let code = u16::try_from(num(&c["entry_kind"])).expect("u16");
        let kind = EntryKind::from_code(code).expect("defined kind");
        assert_eq!(kind.name(), c["kind"].as_str().expect("kind"), "{desc}");
        let b = bytes(&c["payload"]);
        if let Some(err) = c["want_err"].as_str() {
            let e = Record::decode(kind, &b).expect_err("must fail");
            assert_eq!(class(&e), err, "{desc}: {e}");
            continue;
        }
        kinds.push(code);
        let r = Record::decode(kind, &b).expect("decodes");
        assert_eq!(r.entry_kind(), kind, "{desc}");
        assert_eq!(r.encode().expect("encodes"), b, "{desc}: encode(decode(x)) == x");
        let json = c["json"].as_str().expect("json");
        let from_json: Record = serde_json::from_str(json).expect("JSON record");
        assert_eq!(from_json, r, "{desc}: JSON and payload are the same record");
        assert_eq!(serde_json::to_string(&r).expect("JSON"), json, "{desc}");
        let v: Value = serde_json::from_str(json).expect("JSON");
        assert_eq!(v["kind"], c["kind"], "{desc}: the JSON form carries the kind");
        assert_eq!(Record::content_type(kind), c["content_type"].as_str().expect("ct"));
        let refs: Vec<Digest> = c["refs"].as_array().expect("refs").iter().map(digest).collect();
        assert_eq!(r.refs(), refs, "{desc}");
        let joined: Vec<u8> = c["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .flat_map(|f| bytes(&f["hex"]))
            .collect();
        assert_eq!(joined, b, "{desc}: fields cover the payload");
    }
    kinds.dedup();
    assert_eq!(
        kinds,
        (2..=12).collect::<Vec<u16>>(),
        "one positive case per governance kind, in order"
    );
    assert!(cases.len() - 12 >= 8);
}

/// Checks a field breakdown: contiguous fields that cover `payload` exactly.
fn check_fields(fields: &Value, payload: &[u8], desc: &Value) {
    let mut offset = 0;
    for f in fields.as_array().expect("fields") {
        assert_eq!(num(&f["offset"]), offset, "{desc}");
        let b = bytes(&f["hex"]);
        assert_eq!(num(&f["size"]), b.len() as u64, "{desc}");
        let at = usize::try_from(offset).expect("small");
        assert_eq!(b.as_slice(), &payload[at..at + b.len()], "{desc}");
        offset += num(&f["size"]);
    }
    assert_eq!(offset, payload.len() as u64, "{desc}");
}

#[test]
fn checkpoints_match_library() {
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(vector_path("checkpoint.json")).expect("file")).expect("JSON");
    let hashes: Vec<Digest> = file["entry_hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(digest)
        .collect();
    let ledger_entries: Vec<Digest> = load("entry.json")
        .iter()
        .filter(|c| c["want_err"].is_null())
        .map(|c| digest(&c["output"]["entry_hash"]))
        .collect();
    assert_eq!(hashes, ledger_entries, "the checkpointed ledger is entry.json's");
    let leaves: Vec<Digest> = hashes.iter().map(hash_leaf).collect();
    let id = LedgerId(LEDGER_ID);
    for c in load("checkpoint.json") {
        let desc = &c["desc"];
        match (c["type"].as_str().expect("type"), c["want_err"].as_str()) {
            ("checkpoint", None) => {
                let key = SigningKey::from_seed(&b32(&c["seed"]));
                let vk = key.verifying_key();
                assert_eq!(vk.to_bytes(), b32(&c["public_key"]));
                let n = num(&c["tree_size"]);
                let root = provledger::merkle::root_from_leaves(&leaves[..usize::try_from(n).expect("small")]);
                assert_eq!(root, digest(&c["root"]), "{desc}");
                assert_eq!(num(&c["timestamp"]), CHECKPOINT_TIME);
                let cp = Checkpoint::sign(id, n, root, Timestamp(num(&c["timestamp"])), &key);
                assert_eq!(cp.body(), c["body"].as_str().expect("body"), "{desc}");
                assert_eq!(cp.signature.to_vec(), bytes(&c["signature"]), "{desc}");
                assert_eq!(cp.key_id.0, digest(&c["key_id"]));
                assert!(cp.verify(&vk));
                let rec: [u8; CHECKPOINT_RECORD_LEN] = bytes(&c["record"]).try_into().expect("148 bytes");
                assert_eq!(cp.encode(), rec, "{desc}");
                assert_eq!(Checkpoint::decode(&rec, id), Ok(cp));
                let note = c["note"].as_str().expect("note");
                assert_eq!(cp.to_note(&vk), note, "{desc}");
                assert_eq!(Checkpoint::from_note(note, &vk), Ok(cp), "{desc}");
                assert_eq!(note_verifier_key(id, &vk), c["verifier_key"].as_str().expect("vkey"));
                check_fields(&c["record_fields"], &rec, desc);
            }
            ("log_header", None) => {
                let h = bytes(&c["header"]);
                assert_eq!(h.len(), CHECKPOINT_HEADER_LEN);
                let dir = tempfile::tempdir().expect("temp dir");
                std::fs::write(
                    dir.path().join(c["file_name"].as_str().expect("name")),
                    bytes(&c["log"]),
                )
                .expect("write log");
                let log = provledger::checkpoint::read_log(&provledger::storage::StdBackend, dir.path(), id)
                    .expect("log reads");
                assert_eq!(log.checkpoints.len(), 1, "{desc}");
                assert_eq!(log.torn_bytes, 0);
                assert!(provledger::checkpoint::read_log(
                    &provledger::storage::StdBackend,
                    dir.path(),
                    LedgerId([0; 16])
                )
                .is_err());
            }
            ("tree_level", None) => {
                let level = u8::try_from(num(&c["level"])).expect("u8");
                assert_eq!(level_header(id, level).to_vec(), bytes(&c["header"]), "{desc}");
                assert_eq!(
                    provledger::tree::level_path(Path::new(""), level),
                    Path::new(c["file_name"].as_str().expect("name"))
                );
                let tree = {
                    let mut t = provledger::merkle::MemoryTree::new();
                    for l in &leaves {
                        t.push(*l).expect("push");
                    }
                    t
                };
                let nodes: Vec<Digest> = c["nodes"].as_array().expect("nodes").iter().map(digest).collect();
                assert_eq!(nodes.len() as u64, tree.size() >> level, "{desc}");
                for (i, n) in nodes.iter().enumerate() {
                    assert_eq!(
                        provledger::merkle::NodeSource::node(&tree, level, i as u64).expect("node"),
                        *n,
                        "{desc}"
                    );
                }
            }
            ("record", Some(err)) => {
                let rec: [u8; CHECKPOINT_RECORD_LEN] = bytes(&c["record"]).try_into().expect("148 bytes");
                let e = Checkpoint::decode(&rec, id).expect_err("must fail");
                assert_eq!(class(&e), err, "{desc}: {e}");
            }
            ("note", Some(err)) => {
                let vk = VerifyingKey::from_bytes(&b32(&c["public_key"])).expect("key");
                let e = Checkpoint::from_note(c["note"].as_str().expect("note"), &vk).expect_err("must fail");
                assert_eq!(class(&e), err, "{desc}: {e}");
            }
            (t, w) => panic!("{desc}: unknown case type {t} / {w:?}"),
        }
    }
}

#[test]
fn independent_verifier_agrees_on_records_and_checkpoints() {
    for c in load("records.json").iter().filter(|c| c["want_err"].is_null()) {
        check_fields(&c["fields"], &bytes(&c["payload"]), &c["desc"]);
        let ct = c["content_type"].as_str().expect("ct");
        assert_eq!(
            ct,
            format!(
                "application/vnd.provledger.{}.v1+bincode",
                c["kind"].as_str().expect("kind")
            )
        );
    }
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(vector_path("checkpoint.json")).expect("file")).expect("JSON");
    let hashes: Vec<[u8; 32]> = file["entry_hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(b32)
        .collect();
    let levels = independent::tree_levels(&hashes);
    for c in load("checkpoint.json") {
        let desc = &c["desc"];
        match (c["type"].as_str().expect("type"), c["want_err"].as_str()) {
            ("checkpoint", None) => {
                let pk = b32(&c["public_key"]);
                let id: [u8; 16] = bytes(&c["ledger_id"]).try_into().expect("16 bytes");
                let root = b32(&c["root"]);
                let (n, t) = (num(&c["tree_size"]), num(&c["timestamp"]));
                // The root: RFC 9162 with BLAKE3 over the leaf hashes (top node of the levels
                // when the size is a power of two; here built from the subtrees).
                let leaves = &levels[0][..usize::try_from(n).expect("small")];
                assert_eq!(rfc9162_root(leaves), root, "{desc}");
                let body = independent::checkpoint_body(&id, n, &root, t);
                assert_eq!(body, c["body"].as_str().expect("body"), "{desc}");
                let sig: [u8; 64] = bytes(&c["signature"]).try_into().expect("64 bytes");
                independent::verify_checkpoint_body(&pk, &body, &sig).expect("signature verifies");
                let rec = independent::parse_checkpoint_record(&bytes(&c["record"])).expect("record");
                assert_eq!(
                    rec,
                    independent::CheckpointRecord {
                        tree_size: n,
                        root,
                        time_ns: t,
                        key_id: independent::key_id(&pk),
                        signature: sig,
                    }
                );
                let name = independent::origin(&id);
                assert_eq!(name, c["origin"].as_str().expect("origin"));
                assert_eq!(
                    independent::note_key_hash(&name, &pk).to_vec(),
                    bytes(&c["note_key_hash"])
                );
                assert_eq!(
                    independent::verifier_key(&name, &pk),
                    c["verifier_key"].as_str().expect("vkey")
                );
                let note = c["note"].as_str().expect("note");
                let mut sig_line = independent::note_key_hash(&name, &pk).to_vec();
                sig_line.extend_from_slice(&sig);
                assert_eq!(
                    note,
                    format!("{body}\n\u{2014} {name} {}\n", independent::base64(&sig_line))
                );
                let parsed = independent::parse_note(note, &pk).expect("note verifies");
                assert_eq!((parsed.tree_size, parsed.root, parsed.time_ns), (n, root, t));
            }
            ("log_header", None) => {
                let id: [u8; 16] = bytes(&c["ledger_id"]).try_into().expect("16 bytes");
                assert_eq!(independent::checkpoint_log_header(&id), bytes(&c["header"]), "{desc}");
                let log = bytes(&c["log"]);
                assert_eq!((log.len() - 32) % 148, 0);
                for r in log[32..].chunks(148) {
                    independent::parse_checkpoint_record(r).expect("record");
                }
            }
            ("tree_level", None) => {
                let level = u8::try_from(num(&c["level"])).expect("u8");
                assert_eq!(
                    independent::tree_level_header(&LEDGER_ID, level),
                    bytes(&c["header"]),
                    "{desc}"
                );
                assert_eq!(c["file_name"], format!("tree/level-{level:02}.hashes"));
                let nodes: Vec<[u8; 32]> = c["nodes"].as_array().expect("nodes").iter().map(b32).collect();
                assert_eq!(nodes, levels[usize::from(level)], "{desc}");
            }
            ("record", Some(_)) => assert!(
                independent::parse_checkpoint_record(&bytes(&c["record"])).is_err(),
                "{desc}"
            ),
            ("note", Some(_)) => {
                assert!(
                    independent::parse_note(c["note"].as_str().expect("note"), &b32(&c["public_key"])).is_err(),
                    "{desc}"
                );
            }
            (t, _) => panic!("{desc}: unknown case type {t}"),
        }
    }
    // Non-canonical keys: the genesis vector's non-canonical anchor is rejected here too.
    let nc = non_canonical_key();
    assert!(!independent::canonical_y(&nc));
    assert!(independent::public_key(&nc).is_err());
    assert!(independent::public_key(&SigningKey::from_seed(&SEED_OPERATOR).verifying_key().to_bytes()).is_ok());
    assert!(
        VerifyingKey::from_bytes(&nc).is_err(),
        "the library rejects non-canonical keys as well"
    );
}

/// RFC 9162 MTH over leaf hashes, with BLAKE3 (docs/FORMAT.md §10), written directly.
fn rfc9162_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => *blake3::hash(b"").as_bytes(),
        1 => leaves[0],
        n => {
            // The largest power of two strictly less than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = (rfc9162_root(&leaves[..k]), rfc9162_root(&leaves[k..]));
            *blake3::hash(&[&[1u8][..], &l, &r].concat()).as_bytes()
        }
    }
}
