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

#[path = "vectors_support/generate.rs"]
mod generate;
#[path = "vectors_support/independent.rs"]
mod independent;
#[path = "vectors_support/json.rs"]
mod json;

use std::path::{Path, PathBuf};

use json::J;
use provledger::entry::{
    entry_hash, signing_message, statement_digest, MAX_CONTENT_TYPE_LEN, MAX_ENTRY_LEN, MAX_PAYLOAD_LEN, MAX_REFS,
    MAX_SIGNATURES, STATEMENT_OFFSET, STATEMENT_SIGNATURE_PREFIX,
};
use provledger::hash::{derive, hash_leaf, hash_node, hex_encode, KEY_ID_CONTEXT};
use provledger::merkle::{
    consistency_proof, empty_root, inclusion_proof, verify_consistency, verify_inclusion, ProofError,
};
use provledger::storage::frame::{
    check_body, encode_frame, erased_section, parse_header, parse_section, StoredPayload, MAX_FRAME_LEN, MIN_ENTRY_LEN,
};
use provledger::storage::index::{check_index_header, index_file_name, INDEX_HEADER_LEN};
use provledger::storage::segment::{segment_file_name, SegmentHeader, SEGMENT_HEADER_LEN};
use provledger::{
    AuthorSignature, DecodeError, Digest, Entry, EntryKind, EntrySeq, Genesis, LedgerId, PayloadCommitment, SigningKey,
    Statement, Timestamp, VerifyingKey,
};
use serde_json::Value;

use generate::*;

// ---------------------------------------------------------------------------------------------
// Staleness.

/// Builds one vector file from the library.
type Generator = fn() -> J;

const FILES: [(&str, Generator); 6] = [
    ("hashes.json", gen_hashes),
    ("entry.json", gen_entry),
    ("frame.json", gen_frame),
    ("segment_header.json", gen_segment_header),
    ("genesis.json", gen_genesis),
    ("merkle.json", gen_merkle),
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
    assert_eq!(hex_encode(&derive(KEY_ID_CONTEXT, &[b""]).to_bytes()).len(), 64);
}
