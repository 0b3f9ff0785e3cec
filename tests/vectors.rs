//! Test vectors: `tests/vectors/*.json` pin every byte layout of docs/FORMAT.md (version 2).
//!
//! * The generators (`vectors_support/*_gen.rs`) build each file from fixed inputs with the
//!   FORMAT.md encoder of `vectors_support/spec.rs` and compare every structure with the
//!   library's encoders, decoders and verifier as they go; `vectors_are_fresh` regenerates
//!   every file and fails if a committed file differs.
//!   `PROVLEDGER_UPDATE_VECTORS=1 cargo test --test vectors` rewrites them.
//! * The other tests read the committed files back and check them against the library alone:
//!   positive cases decode, re-encode to the same bytes and give the recorded outputs;
//!   `want_err` cases fail as named; the ledgers of ledger.json verify as recorded, and the
//!   library's writer opens the passing ones as its own.

#[path = "vectors_support/checkpoint_gen.rs"]
mod checkpoint_gen;
#[path = "vectors_support/ed25519_gen.rs"]
mod ed25519_gen;
#[path = "vectors_support/fields.rs"]
mod fields;
#[path = "vectors_support/fixtures.rs"]
mod fixtures;
#[path = "vectors_support/frame_gen.rs"]
mod frame_gen;
#[path = "vectors_support/generate.rs"]
mod generate;
#[path = "vectors_support/genesis_gen.rs"]
mod genesis_gen;
#[path = "vectors_support/header_gen.rs"]
mod header_gen;
#[path = "vectors_support/independent.rs"]
mod independent;
#[path = "vectors_support/json.rs"]
mod json;
#[path = "vectors_support/ledger_build.rs"]
mod ledger_build;
#[path = "vectors_support/ledger_cases.rs"]
mod ledger_cases;
#[path = "vectors_support/ledger_gen.rs"]
mod ledger_gen;
#[path = "vectors_support/merkle_gen.rs"]
mod merkle_gen;
#[path = "vectors_support/records_gen.rs"]
mod records_gen;
#[path = "vectors_support/scan.rs"]
mod scan;
#[path = "vectors_support/spec.rs"]
mod spec;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use json::J;
use provledger::checkpoint::{Checkpoint, CHECKPOINT_HEADER_LEN, CHECKPOINT_RECORD_LEN, MAX_NOTE_LEN};
use provledger::entry::{
    commit_payload, cosignature_message, position_message, seal_key_request, EntryFields, RecordRef,
    MAX_CONTENT_TYPE_LEN, MAX_COSIGNATURES, MAX_ENTRY_LEN, MAX_PAYLOAD_LEN, MAX_REFS, MIN_ENTRY_LEN,
};
use provledger::hash::{chain_value, hash_empty, hash_leaf, hash_node, Domain};
use provledger::merkle::{
    consistency_proof, empty_root, inclusion_proof, root_from_leaves, verify_consistency, verify_inclusion, NodeSource,
    ProofError,
};
use provledger::record::{Record, MAX_ANCHORS, MAX_NAME_LEN};
use provledger::storage::frame::{
    check_frame, encode_frame, erased_section, frame_crc, parse_header, parse_section, Seal, SectionRef, MAX_FRAME_LEN,
    SEAL_LEN,
};
use provledger::storage::index::{check_index_header, encode_slot, index_file_name, INDEX_HEADER_LEN};
use provledger::storage::segment::{segment_file_name, SegmentHeader, MAX_TORN, SEGMENT_HEADER_LEN};
use provledger::tree::{level_header, level_path, TREE_HEADER_LEN};
use provledger::{
    AuthorSignature, DecodeError, Digest, EntryKind, Genesis, KeyId, LedgerId, SigningKey, Timestamp, VerifyingKey,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers shared with the generators.

/// The name of a decode error's variant, as `want_err` gives it.
pub fn class(e: &DecodeError) -> &'static str {
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

/// Bytes of lowercase (or uppercase) hex.
pub fn unhex(s: &str) -> Vec<u8> {
    let mut out = vec![0u8; s.len() / 2];
    provledger::hash::hex_decode_into(s, &mut out).expect("valid hex");
    out
}

/// The first signature of a record that fails strict verification at `seq` of ledger
/// `ledger_id` after chain value `prev` (docs/FORMAT.md §9 E6: the position signature, then
/// the co-signatures in record order), found with the library; keys by key id among `keys`.
pub fn first_signature_failure(
    record: &[u8],
    seq: u64,
    ledger_id: &[u8; 16],
    prev: &[u8; 32],
    salt: &[u8; 32],
    payload: &[u8],
    keys: &[[u8; 32]],
) -> Option<&'static str> {
    let r = RecordRef::parse(record).expect("the record decodes");
    let (id, c) = (LedgerId(*ledger_id), commit_payload(salt, payload));
    let e = r.entry_hash(seq, id, &c);
    let key = |kid: &KeyId| {
        keys.iter()
            .map(|k| VerifyingKey::from_bytes(k).expect("valid key"))
            .find(|k| k.key_id() == *kid)
    };
    let ok = |s: &AuthorSignature, msg: &[u8]| key(&s.key_id).is_some_and(|k| k.verify(msg, &s.signature));
    if let Some(p) = r.position() {
        if !ok(&p, &position_message(&Digest::from_bytes(*prev), &e)) {
            return Some("PositionSignature");
        }
    }
    let sd = r.statement_digest(id, &c);
    r.cosignatures()
        .any(|s| !ok(&s, &cosignature_message(&sd)))
        .then_some("CoSignature")
}

// ---------------------------------------------------------------------------------------------
// Staleness.

/// Builds one vector file.
type Generator = fn() -> J;

const FILES: [(&str, Generator); 10] = [
    ("hashes.json", generate::gen_hashes),
    ("entry.json", generate::gen_entry),
    ("frame.json", frame_gen::gen_frame),
    ("segment_header.json", header_gen::gen_segment_header),
    ("genesis.json", genesis_gen::gen_genesis),
    ("records.json", records_gen::gen_records),
    ("merkle.json", merkle_gen::gen_merkle),
    ("checkpoint.json", checkpoint_gen::gen_checkpoint),
    ("ledger.json", ledger_gen::gen_ledger),
    ("ed25519.json", ed25519_gen::gen_ed25519),
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

fn load_file(name: &str) -> Value {
    let text = std::fs::read_to_string(vector_path(name)).expect("vector file present");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(v["desc"].is_string(), "{name}: desc");
    for c in v["cases"].as_array().expect("cases") {
        assert!(c["desc"].is_string(), "{name}: every case has a desc");
    }
    v
}

fn load(name: &str) -> Vec<Value> {
    load_file(name)["cases"].as_array().expect("cases").clone()
}

fn bytes(v: &Value) -> Vec<u8> {
    unhex(v.as_str().expect("hex string"))
}

fn b32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().expect("32 bytes")
}

fn b16(v: &Value) -> [u8; 16] {
    bytes(v).try_into().expect("16 bytes")
}

fn digest(v: &Value) -> Digest {
    Digest::from_bytes(b32(v))
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("string")
}

#[test]
fn hashes_match_library() {
    let mut functions = Vec::new();
    for c in load("hashes.json") {
        let (i, out, desc) = (&c["input"], bytes(&c["output"]), &c["desc"]);
        let f = text(&c["function"]);
        functions.push(f.to_owned());
        let got: Vec<u8> = match f {
            "domain_key" => {
                let d = Domain::ALL
                    .into_iter()
                    .find(|d| d.label() == text(&i["label"]))
                    .expect("a domain of the library");
                d.key().to_vec()
            }
            "payload_commitment" => commit_payload(&b32(&i["salt"]), &bytes(&i["payload"]))
                .to_bytes()
                .to_vec(),
            "statement_digest" => Domain::Statement.hash(&bytes(&i["statement"])).to_bytes().to_vec(),
            "entry_hash" => {
                let input = [
                    num(&i["seq"]).to_le_bytes().to_vec(),
                    bytes(&i["statement"]),
                    bytes(&i["authorship"]),
                ];
                Domain::Entry.hash(&input.concat()).to_bytes().to_vec()
            }
            "chain_value" => chain_value(&digest(&i["prev"]), &digest(&i["entry_hash"]))
                .to_bytes()
                .to_vec(),
            "key_id" => VerifyingKey::from_bytes(&b32(&i["public_key"]))
                .expect("valid key")
                .key_id()
                .0
                .to_bytes()
                .to_vec(),
            "seal_key_request" => seal_key_request(LedgerId(b16(&i["ledger_id"]))).to_vec(),
            "seal_key" => Domain::SealKey.hash(&bytes(&i["signature"])).to_bytes().to_vec(),
            // The library's seal tag is writer-private; ledger.json's writer test checks it.
            "seal_tag" => spec::seal_tag(
                &b32(&i["seal_key"]),
                &b16(&i["ledger_id"]),
                num(&i["size"]),
                &b32(&i["chain"]),
                &b32(&i["root"]),
            )
            .to_vec(),
            "leaf_hash" => hash_leaf(&digest(&i["entry_hash"])).to_bytes().to_vec(),
            "node_hash" => hash_node(&digest(&i["left"]), &digest(&i["right"])).to_bytes().to_vec(),
            "empty_root" => {
                assert_eq!(
                    empty_root(),
                    hash_empty(),
                    "merkle::empty_root is the SHA-256 empty root"
                );
                hash_empty().to_bytes().to_vec()
            }
            "cosignature_message" => cosignature_message(&digest(&i["statement_digest"])).to_vec(),
            "position_message" => position_message(&digest(&i["prev"]), &digest(&i["entry_hash"])).to_vec(),
            other => panic!("unknown function {other}"),
        };
        assert_eq!(got, out, "{desc}");
    }
    functions.dedup();
    assert_eq!(functions.len(), 14, "every function has cases: {functions:?}");
}

fn entry_fields(i: &Value) -> EntryFields {
    EntryFields {
        kind: EntryKind::from_code(u16::try_from(num(&i["kind"])).expect("u16")).expect("kind"),
        timestamp: Timestamp(num(&i["timestamp"])),
        content_type: Cow::Owned(text(&i["content_type"]).into()),
        refs: i["refs"].as_array().expect("refs").iter().map(digest).collect(),
    }
}

fn check_entry_case(c: &Value) {
    let (i, o, desc) = (&c["input"], &c["output"], &c["desc"]);
    let (seq, id) = (num(&i["seq"]), LedgerId(b16(&i["ledger_id"])));
    let (salt, payload, prev) = (b32(&i["salt"]), bytes(&i["payload"]), digest(&i["prev_chain"]));
    let record = bytes(&o["record"]);
    let c_ = commit_payload(&salt, &payload);
    assert_eq!(c_, digest(&o["payload_commitment"]), "{desc}");
    let r = RecordRef::parse(&record).expect("record decodes");
    let fields = entry_fields(i);
    assert_eq!(
        (r.kind(), r.timestamp(), r.content_type()),
        (fields.kind, fields.timestamp, &*fields.content_type)
    );
    assert_eq!(r.refs().collect::<Vec<_>>(), fields.refs, "{desc}");
    assert_eq!(r.statement(id, &c_), bytes(&o["statement"]), "{desc}");
    let sd = r.statement_digest(id, &c_);
    assert_eq!(sd, digest(&o["statement_digest"]), "{desc}");
    assert_eq!(cosignature_message(&sd).to_vec(), bytes(&o["cosignature_message"]));
    let e = r.entry_hash(seq, id, &c_);
    assert_eq!(e, digest(&o["entry_hash"]), "{desc}");
    assert_eq!(position_message(&prev, &e).to_vec(), bytes(&o["position_message"]));
    assert_eq!(chain_value(&prev, &e), digest(&o["chain"]), "{desc}");
    // The signatures are the signers' (deterministic Ed25519) and all verify.
    let signer = |s: &Value| {
        let k = SigningKey::from_seed(&b32(&s["seed"]));
        assert_eq!(k.verifying_key().to_bytes(), b32(&s["public_key"]));
        assert_eq!(k.key_id().0, digest(&s["key_id"]));
        k
    };
    let position = (!i["position_signer"].is_null()).then(|| {
        let k = signer(&i["position_signer"]);
        let sig = k.sign(&position_message(&prev, &e));
        assert_eq!(sig.to_vec(), bytes(&o["position_signature"]), "{desc}");
        AuthorSignature {
            key_id: k.key_id(),
            signature: sig,
        }
    });
    assert_eq!(r.position(), position, "{desc}");
    let cosigs: Vec<AuthorSignature> = i["cosigners"]
        .as_array()
        .expect("cosigners")
        .iter()
        .zip(o["cosignatures"].as_array().expect("cosignatures"))
        .map(|(s, want)| {
            let k = signer(s);
            let sig = k.sign(&cosignature_message(&sd));
            assert_eq!(sig.to_vec(), bytes(want), "{desc}");
            AuthorSignature {
                key_id: k.key_id(),
                signature: sig,
            }
        })
        .collect();
    assert_eq!(r.cosignatures().collect::<Vec<_>>(), cosigs, "{desc}");
    assert_eq!(
        fields.encode_record(position.as_ref(), &cosigs).expect("encodes"),
        record,
        "{desc}"
    );
    let keys: Vec<[u8; 32]> = [&i["position_signer"]]
        .into_iter()
        .chain(i["cosigners"].as_array().expect("cosigners"))
        .filter(|s| !s.is_null())
        .map(|s| b32(&s["public_key"]))
        .collect();
    assert_eq!(
        first_signature_failure(&record, seq, &id.0, prev.as_bytes(), &salt, &payload, &keys),
        None,
        "{desc}"
    );
    let joined: Vec<u8> = o["record_fields"]
        .as_array()
        .expect("fields")
        .iter()
        .flat_map(|f| bytes(&f["hex"]))
        .collect();
    assert_eq!(joined, record, "{desc}: the fields cover the record");
    // A = sig_flags, cosig_count, the position key id and the co-signatures (FORMAT.md §4.3).
    let p = usize::from(position.is_some());
    let sig_start = record.len() - 2 - 96 * (p + cosigs.len());
    let mut a = record[sig_start..sig_start + 2 + 32 * p].to_vec();
    a.extend_from_slice(&record[sig_start + 2 + 96 * p..]);
    assert_eq!(a, bytes(&o["authorship"]), "{desc}");
}

#[test]
fn entries_match_library() {
    let cases = load("entry.json");
    let mut counts = [0usize; 3];
    for c in &cases {
        let desc = &c["desc"];
        match text(&c["type"]) {
            "entry" => {
                counts[0] += 1;
                check_entry_case(c);
            }
            "record" => {
                counts[1] += 1;
                let record = bytes(&c["record"]);
                let got = RecordRef::parse(&record);
                match c["want_err"].as_str() {
                    Some(err) => assert_eq!(got.map(|_| ()).map_err(|e| class(&e)), Err(err), "{desc}"),
                    None => {
                        let (r, d) = (got.expect("decodes"), &c["decoded"]);
                        assert_eq!(u64::from(r.kind().code()), num(&d["kind"]), "{desc}");
                        assert_eq!(r.timestamp().0, num(&d["timestamp"]), "{desc}");
                        assert_eq!(r.content_type(), text(&d["content_type"]), "{desc}");
                        assert_eq!(r.refs().len(), d["refs"].as_array().expect("refs").len(), "{desc}");
                        assert_eq!(
                            r.position().map(|p| p.key_id.0),
                            (!d["position_key_id"].is_null()).then(|| digest(&d["position_key_id"]))
                        );
                        assert_eq!(
                            r.cosignatures().len(),
                            d["cosigner_key_ids"].as_array().expect("ids").len()
                        );
                    }
                }
            }
            "signature" => {
                counts[2] += 1;
                let keys: Vec<[u8; 32]> = c["public_keys"].as_array().expect("keys").iter().map(b32).collect();
                let got = first_signature_failure(
                    &bytes(&c["record"]),
                    num(&c["seq"]),
                    &b16(&c["ledger_id"]),
                    &b32(&c["prev_chain"]),
                    &b32(&c["salt"]),
                    &bytes(&c["payload"]),
                    &keys,
                );
                assert_eq!(got, c["want_err"].as_str(), "{desc}");
                let check = if got == Some("PositionSignature") {
                    "chain"
                } else {
                    "signature"
                };
                assert_eq!(text(&c["check"]), check, "{desc}");
            }
            t => panic!("unknown type {t}"),
        }
    }
    assert!(counts[0] >= 6 && counts[1] >= 14 && counts[2] >= 10, "{counts:?}");
}

#[test]
fn frames_match_library() {
    let mut scans = 0;
    for c in load("frame.json") {
        let desc = &c["desc"];
        match text(&c["type"]) {
            "frame" => check_frame_case(&c),
            "scan" => {
                scans += 1;
                let pieces = scan::pieces_from(&c["segment"]);
                assert_eq!(
                    scan::classify(&pieces, true),
                    scan::Scan::from_json(&c["newest"]),
                    "{desc}: newest"
                );
                assert_eq!(
                    scan::classify(&pieces, false),
                    scan::Scan::from_json(&c["sealed"]),
                    "{desc}: sealed"
                );
            }
            "section" => {
                let s = bytes(&c["section"]);
                let want = &c["want"];
                match (parse_section(&s), want["state"].as_str()) {
                    (Ok(SectionRef::Erased { commitment, len }), Some("erased")) => {
                        assert_eq!(
                            (commitment, len),
                            (digest(&want["commitment"]), num(&want["payload_len"]))
                        );
                    }
                    (Ok(SectionRef::Present { salt, payload }), Some("present")) => {
                        assert_eq!((*salt, payload.to_vec()), (b32(&want["salt"]), bytes(&want["payload"])));
                    }
                    (Err(_), None) => assert_eq!(text(&want["want_err"]), "format"),
                    (got, _) => panic!("{desc}: got {got:?}"),
                }
            }
            other => panic!("unknown type {other}"),
        }
    }
    assert!(scans >= 30, "{scans} scan cases");
}

fn check_frame_case(c: &Value) {
    let desc = &c["desc"];
    let f = bytes(&c["frame"]);
    let record = bytes(&c["record"]);
    let h = parse_header(f[..12].try_into().expect("12")).expect("header");
    assert_eq!(
        (h.entry_len, h.frame_len(), h.sealed),
        (record.len(), f.len(), !c["seal"].is_null())
    );
    assert!(check_frame(&f), "{desc}");
    assert_eq!(&f[12..12 + h.entry_len], record.as_slice());
    let seal = (!c["seal"].is_null()).then(|| {
        let s = &c["seal"];
        let b: [u8; SEAL_LEN] = f[h.seal_offset()..h.seal_offset() + SEAL_LEN].try_into().expect("seal");
        let seal = Seal::decode(&b);
        assert_eq!(seal.sealer.0, digest(&s["sealer"]), "{desc}");
        assert_eq!(
            (seal.chain, seal.root),
            (digest(&s["chain"]), digest(&s["root"])),
            "{desc}"
        );
        assert_eq!(seal.tag.to_vec(), bytes(&s["tag"]), "{desc}");
        assert_eq!(seal.encode(), b);
        seal
    });
    let s = &f[h.section_offset()..h.section_offset() + h.section_len];
    let rebuilt = if c["state"] == "erased" {
        let (commitment, len) = (digest(&c["commitment"]), num(&c["payload_len"]));
        assert_eq!(parse_section(s), Ok(SectionRef::Erased { commitment, len }), "{desc}");
        let section = erased_section(&commitment, usize::try_from(len).expect("small"));
        let seal_bytes = seal.map(|s| s.encode().to_vec()).unwrap_or_default();
        let mut v = f[..12 + h.entry_len].to_vec();
        v.extend_from_slice(&section);
        v.extend_from_slice(&seal_bytes);
        let crc = frame_crc(&[&record, &section, &seal_bytes]);
        v.extend_from_slice(&crc.to_le_bytes());
        v
    } else {
        let (salt, payload) = (b32(&c["salt"]), bytes(&c["payload"]));
        assert_eq!(
            parse_section(s),
            Ok(SectionRef::Present {
                salt: &salt,
                payload: &payload
            }),
            "{desc}"
        );
        let mut v = Vec::new();
        encode_frame(&mut v, &record, &salt, &payload, seal.as_ref());
        v
    };
    assert_eq!(rebuilt, f, "{desc}");
    let joined: Vec<u8> = c["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .flat_map(|x| bytes(&x["hex"]))
        .collect();
    assert_eq!(joined, f, "{desc}: the fields cover the frame");
}

#[test]
fn segment_headers_match_library() {
    for c in load("segment_header.json") {
        let desc = &c["desc"];
        match (text(&c["type"]), c["want_err"].as_str()) {
            ("segment_header", Some(err)) => {
                let h: [u8; 64] = bytes(&c["header"]).try_into().expect("64 bytes");
                assert_eq!(
                    SegmentHeader::decode(&h).map(|_| ()).map_err(|e| class(&e)),
                    Err(err),
                    "{desc}"
                );
            }
            ("segment_header", None) => {
                let h: [u8; 64] = bytes(&c["header"]).try_into().expect("64 bytes");
                let hdr = SegmentHeader {
                    ledger_id: LedgerId(b16(&c["ledger_id"])),
                    first_seq: num(&c["first_seq"]),
                };
                assert_eq!(SegmentHeader::decode(&h), Ok(hdr), "{desc}");
                assert_eq!(hdr.encode(), h, "{desc}");
                assert_eq!(segment_file_name(hdr.first_seq), text(&c["file_name"]));
            }
            ("index_header", want) => {
                let h: [u8; INDEX_HEADER_LEN] = bytes(&c["header"]).try_into().expect("48 bytes");
                let (id, first) = (LedgerId(b16(&c["ledger_id"])), num(&c["first_seq"]));
                let got = check_index_header(&h, id, first).map_err(|e| class(&e));
                assert_eq!(got, want.map_or(Ok(()), Err), "{desc}");
                if want.is_none() {
                    assert!(check_index_header(&h, id, first + 1).is_err());
                    assert_eq!(index_file_name(first), text(&c["file_name"]));
                }
            }
            ("index_slot", None) => {
                let slot = encode_slot(num(&c["offset"]), c["governance"].as_bool().expect("bool"));
                assert_eq!(slot.to_vec(), bytes(&c["slot"]), "{desc}");
                assert_eq!(
                    provledger::storage::index::decode_slot(slot),
                    (num(&c["offset"]), c["governance"].as_bool().expect("bool"))
                );
            }
            (t, w) => panic!("{desc}: unknown case {t} / {w:?}"),
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
                    assert_eq!(g, fixtures::genesis_fixture());
                    check_fields(&c["fields"], &b, desc);
                    assert!(!fields.is_empty());
                }
            }
        }
    }
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
fn records_match_library() {
    let cases = load("records.json");
    let mut kinds = Vec::new();
    for c in &cases {
        let desc = &c["desc"];
        let code = u16::try_from(num(&c["entry_kind"])).expect("u16");
        let kind = EntryKind::from_code(code).expect("defined kind");
        assert_eq!(kind.name(), text(&c["kind"]), "{desc}");
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
        let json = text(&c["json"]);
        let from_json: Record = serde_json::from_str(json).expect("JSON record");
        assert_eq!(from_json, r, "{desc}: JSON and payload are the same record");
        assert_eq!(serde_json::to_string(&r).expect("JSON"), json, "{desc}");
        let v: Value = serde_json::from_str(json).expect("JSON");
        assert_eq!(v["kind"], c["kind"], "{desc}: the JSON form carries the kind");
        assert_eq!(Record::content_type(kind), text(&c["content_type"]));
        let refs: Vec<Digest> = c["refs"].as_array().expect("refs").iter().map(digest).collect();
        assert_eq!(r.refs(), refs, "{desc}");
        check_fields(&c["fields"], &b, desc);
    }
    kinds.dedup();
    assert_eq!(
        kinds,
        (2..=13).collect::<Vec<u16>>(),
        "one positive case per governance kind, in order"
    );
    assert!(cases.len() - 12 >= 8);
}

#[test]
fn merkle_matches_library() {
    let tree = merkle_gen::library_tree(33);
    let leaf = |i: u64| Digest::from_bytes(merkle_gen::leaves(i + 1)[usize::try_from(i).expect("small")]);
    let mut types = Vec::new();
    for c in load("merkle.json") {
        let desc = &c["desc"];
        let path: Vec<Digest> = c["path"]
            .as_array()
            .map(|p| p.iter().map(digest).collect())
            .unwrap_or_default();
        let want = c["want_err"].as_str();
        types.push(text(&c["type"]).to_owned());
        let result = match text(&c["type"]) {
            "root" => {
                let n = num(&c["size"]);
                assert_eq!(tree.root_at(n).expect("root"), digest(&c["root"]), "{desc}");
                let leaves: Vec<Digest> = (0..n).map(leaf).collect();
                assert_eq!(root_from_leaves(&leaves), digest(&c["root"]), "{desc}");
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
    types.dedup();
    assert_eq!(types, ["root", "inclusion", "consistency", "inclusion", "consistency"]);
}

/// The library's tree is RFC 6962's: the roots of the eight-leaf tree of the Certificate
/// Transparency test data (leaf inputs "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
/// 606162636465666768696a6b6c6d6e6f) are the published ones.
#[test]
fn merkle_tree_is_rfc6962() {
    let data = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let leaves: Vec<Digest> = data
        .iter()
        .map(|d| Digest::from_bytes(spec::sha256(&[&[0], &unhex(d)])))
        .collect();
    for (n, want) in roots.iter().enumerate() {
        assert_eq!(root_from_leaves(&leaves[..=n]).to_hex(), *want, "size {}", n + 1);
    }
    assert_eq!(
        empty_root().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn checkpoints_match_library() {
    let file = load_file("checkpoint.json");
    let hashes: Vec<[u8; 32]> = file["entry_hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(b32)
        .collect();
    let ledger_entries: Vec<[u8; 32]> = load("entry.json")
        .iter()
        .filter(|c| c["type"] == "entry")
        .map(|c| b32(&c["output"]["entry_hash"]))
        .collect();
    assert_eq!(hashes, ledger_entries, "the checkpointed ledger is entry.json's");
    let leaves: Vec<Digest> = hashes.iter().map(|h| hash_leaf(&Digest::from_bytes(*h))).collect();
    let mut tree = provledger::merkle::MemoryTree::new();
    for l in &leaves {
        tree.push(*l).expect("push");
    }
    let id = LedgerId(fixtures::LEDGER_ID);
    for c in load("checkpoint.json") {
        let desc = &c["desc"];
        match text(&c["type"]) {
            "checkpoint" => {
                let key = SigningKey::from_seed(&b32(&c["seed"]));
                let vk = key.verifying_key();
                assert_eq!(vk.to_bytes(), b32(&c["public_key"]));
                let n = num(&c["tree_size"]);
                let root = root_from_leaves(&leaves[..usize::try_from(n).expect("small")]);
                assert_eq!(root, digest(&c["root"]), "{desc}");
                let cp = Checkpoint::sign(id, n, root, Timestamp(num(&c["timestamp"])), &key);
                assert_eq!(cp.body(), text(&c["body"]), "{desc}");
                assert_eq!(cp.signature.to_vec(), bytes(&c["signature"]), "{desc}");
                assert_eq!(cp.key_id.0, digest(&c["key_id"]));
                assert!(cp.verify(&vk));
                let rec: [u8; CHECKPOINT_RECORD_LEN] = bytes(&c["record"]).try_into().expect("148 bytes");
                assert_eq!(cp.encode(), rec, "{desc}");
                assert_eq!(Checkpoint::decode(&rec, id), Ok(cp));
                check_fields(&c["record_fields"], &rec, desc);
                let note = text(&c["note"]);
                assert_eq!(cp.to_note(&vk), note, "{desc}");
                assert_eq!(Checkpoint::from_note(note, &vk), Ok(cp), "{desc}");
                assert_eq!(
                    provledger::checkpoint::note_verifier_key(id, &vk),
                    text(&c["verifier_key"])
                );
                assert_eq!(provledger::checkpoint::origin(id), text(&c["origin"]));
                assert_eq!(
                    provledger::checkpoint::note_key_hash(text(&c["origin"]), &vk).to_vec(),
                    bytes(&c["note_key_hash"])
                );
            }
            "log" => {
                let got = checkpoint_gen::library_read_log(&bytes(&c["log"]));
                match c["want_err"].as_str() {
                    Some(_) => assert!(got.is_err(), "{desc}: {got:?}"),
                    None => assert_eq!(got, Ok((num(&c["checkpoints"]), num(&c["torn_bytes"]))), "{desc}"),
                }
            }
            "tree_level" => {
                let level = u8::try_from(num(&c["level"])).expect("u8");
                assert_eq!(level_header(id, level).to_vec(), bytes(&c["header"]), "{desc}");
                assert_eq!(level_path(Path::new(""), level), Path::new(text(&c["file_name"])));
                let nodes: Vec<Digest> = c["nodes"].as_array().expect("nodes").iter().map(digest).collect();
                assert_eq!(nodes.len() as u64, tree.size() >> level, "{desc}");
                for (i, n) in nodes.iter().enumerate() {
                    assert_eq!(NodeSource::node(&tree, level, i as u64).expect("node"), *n, "{desc}");
                }
                let file = [
                    level_header(id, level).to_vec(),
                    nodes.iter().flat_map(|d| d.to_bytes()).collect(),
                ]
                .concat();
                assert_eq!(file, bytes(&c["file"]), "{desc}");
            }
            "note" => {
                let vk = VerifyingKey::from_bytes(&b32(&c["public_key"])).expect("key");
                let got = Checkpoint::from_note(text(&c["note"]), &vk);
                match c["want_err"].as_str() {
                    Some(err) => assert_eq!(got.map(|_| ()).map_err(|e| class(&e)), Err(err), "{desc}"),
                    None => {
                        let (cp, want) = (got.expect("note accepted"), &c["checkpoint"]);
                        assert_eq!(cp.tree_size, num(&want["tree_size"]), "{desc}");
                        assert_eq!(cp.root, digest(&want["root"]), "{desc}");
                        assert_eq!(cp.timestamp.0, num(&want["timestamp"]), "{desc}");
                    }
                }
            }
            t => panic!("{desc}: unknown case type {t}"),
        }
    }
}

fn ledger_files(l: &Value) -> Vec<(String, Vec<u8>)> {
    l["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (text(&f["path"]).to_owned(), bytes(&f["hex"])))
        .collect()
}

#[test]
fn ledgers_verify_as_recorded() {
    let file = load_file("ledger.json");
    let ledgers = file["ledgers"].as_array().expect("ledgers");
    let mut checks = Vec::new();
    for c in load("ledger.json") {
        let l = ledgers.iter().find(|l| l["name"] == c["ledger"]).expect("ledger");
        let got = ledger_gen::library_verdict(&ledger_files(l), &c["anchor"], &c["options"]);
        let got: Value = serde_json::from_str(&got.render()).expect("JSON");
        assert_eq!(got, c["verdict"], "{}", c["desc"]);
        checks.push(c["verdict"]["failure"]["check"].as_str().unwrap_or("pass").to_owned());
    }
    for check in [
        "pass",
        "format",
        "chain",
        "signature",
        "key",
        "trust_anchor",
        "index",
        "tree",
        "checkpoint",
        "redaction",
    ] {
        assert!(checks.iter().any(|c| c == check), "no ledger.json case for '{check}'");
    }
}

/// The passing ledgers are what the library's writer would have written: it opens each as its
/// own (its seals verify under its key, the index and tree need no repair), appends, and the
/// result verifies. The library reads every entry with the recorded entry hash.
#[test]
fn vector_ledgers_open_as_the_writers_own() {
    let file = load_file("ledger.json");
    let operator = SigningKey::from_seed(&fixtures::SEED_OPERATOR);
    let mut opened = 0;
    for c in load("ledger.json") {
        let default_options =
            c["options"]["allow_uncovered_tail"] == false && c["options"]["from_checkpoint"].is_null();
        if !c["verdict"]["failure"].is_null() || !default_options {
            continue;
        }
        let l = file["ledgers"]
            .as_array()
            .expect("ledgers")
            .iter()
            .find(|l| l["name"] == c["ledger"])
            .expect("ledger");
        let dir = tempfile::tempdir().expect("temp dir");
        ledger_gen::write_ledger(dir.path(), &ledger_files(l));
        let reader = provledger::LedgerReader::open(dir.path()).expect("reader");
        let n = num(&c["verdict"]["entries"]);
        for (seq, e) in l["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .enumerate()
            .take(usize::try_from(n).expect("small"))
        {
            let got = reader.get(seq as u64).expect("entry reads");
            assert_eq!(got.entry.hash, digest(&e["entry_hash"]), "{}: entry {seq}", c["desc"]);
        }
        let ledger = provledger::Ledger::open(dir.path(), operator.clone(), provledger::Options::default())
            .unwrap_or_else(|e| panic!("{}: the writer opens it: {e}", c["desc"]));
        let rec = ledger.recovery().clone();
        assert!(!rec.verified_on_open, "{}: the writer recognises its seals", c["desc"]);
        assert!(
            !rec.index_rebuilt && rec.removed_segment.is_none(),
            "{}: {rec:?}",
            c["desc"]
        );
        assert_eq!(
            rec.torn_tail.is_some(),
            !c["verdict"]["torn_tail"].is_null(),
            "{}",
            c["desc"]
        );
        let missing = num(&c["verdict"]["tree_missing_nodes"]);
        assert_eq!(rec.tree_replayed > 0, missing > 0, "{}: {rec:?}", c["desc"]);
        assert_eq!(ledger.len(), n, "{}", c["desc"]);
        assert_eq!(ledger.head(), digest(&c["verdict"]["head"]), "{}", c["desc"]);
        assert_eq!(ledger.root(), digest(&c["verdict"]["root"]), "{}", c["desc"]);
        ledger
            .append(provledger::Draft::application(
                "text/plain",
                b"appended by the library".to_vec(),
            ))
            .expect("append");
        ledger.close().expect("close");
        let report = provledger::verify_opts(
            &provledger::storage::StdBackend,
            dir.path(),
            &ledger_gen::trust_anchor(&c["anchor"]),
            &ledger_gen::verify_options(&c["options"]),
        )
        .expect("verify");
        assert!(report.is_ok(), "{}: {report:?}", c["desc"]);
        assert_eq!(report.entries, n + 1, "{}", c["desc"]);
        opened += 1;
    }
    assert!(opened >= 6, "{opened} ledgers opened");
}

/// The bounds docs/FORMAT.md states, checked against the library's constants.
#[test]
fn documented_bounds_match_constants() {
    assert_eq!(MIN_ENTRY_LEN, 15);
    assert_eq!(MAX_ENTRY_LEN, 65_535);
    assert_eq!(MAX_PAYLOAD_LEN, 16_777_216);
    assert_eq!(MAX_REFS, 1024);
    assert_eq!(MAX_COSIGNATURES, 16);
    assert_eq!(MAX_CONTENT_TYPE_LEN, 255);
    assert_eq!(SEAL_LEN, 112);
    assert_eq!(MAX_FRAME_LEN, 16_842_912);
    assert_eq!(MAX_TORN, 33_554_432);
    assert_eq!(spec::MAX_TORN, MAX_TORN);
    assert_eq!(SEGMENT_HEADER_LEN, 64);
    assert_eq!(INDEX_HEADER_LEN, 48);
    assert_eq!(TREE_HEADER_LEN, 32);
    assert_eq!(CHECKPOINT_HEADER_LEN, 32);
    assert_eq!(CHECKPOINT_RECORD_LEN, 148);
    assert_eq!(MAX_NOTE_LEN, 8192);
    assert_eq!(MAX_ANCHORS, 64);
    assert_eq!(MAX_NAME_LEN, 256);
    assert_eq!(provledger::encoding::MAX_STRUCTURED_PAYLOAD, 1 << 20);
    assert_eq!(provledger::merkle::MAX_INCLUSION_PATH_LEN, 64);
    assert_eq!(provledger::merkle::MAX_CONSISTENCY_PATH_LEN, 65);
    // Entry kinds: codes 0..=13, names, which may be erased, which need a position signature.
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
        ("risk_acceptance", false, true),
    ];
    for (code, (name, redactable, positioned)) in kinds.iter().enumerate() {
        let k = EntryKind::from_code(u16::try_from(code).expect("small")).expect("defined");
        assert_eq!(
            (k.name(), k.redactable(), k.requires_position_signature()),
            (*name, *redactable, *positioned)
        );
        assert_eq!(usize::from(k.code()), code);
    }
    assert!(EntryKind::from_code(14).is_err());
    let labels: Vec<&str> = Domain::ALL.iter().map(|d| d.label()).collect();
    assert_eq!(
        labels,
        ["payload", "statement", "entry", "chain", "key id", "seal key", "policy"]
    );
    assert_eq!(provledger::hash::DOMAIN_KEY_CONTEXT, "provledger v2 domain key");
}
