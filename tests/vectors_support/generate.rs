//! Generators of hashes.json and entry.json (docs/FORMAT.md §2, §4), and the entries of
//! entry.json that other files build on.

use crate::fields::FieldWriter;
use crate::fixtures::*;
use crate::json::{hex, hex_list, obj, J};
use crate::spec::{self, Key, Sig};
use provledger::entry::MAX_REFS;
use provledger::hash::{hash_empty, hash_leaf, hash_node, Domain};
use provledger::Digest;

pub fn file_obj(desc: &str, cases: Vec<J>) -> J {
    obj([("desc", desc.into()), ("cases", cases.into())])
}

/// The entries of entry.json: one ledger's first six entries, each built on the one before.
pub fn entry_chain() -> Vec<(&'static str, Built)> {
    let id = &LEDGER_ID;
    let mut out: Vec<(&'static str, Built)> = Vec::new();
    let push = |desc: &'static str, spec: EntrySpec, out: &mut Vec<(&'static str, Built)>| {
        let prev = out.last().map_or([0; 32], |(_, b)| b.chain);
        out.push((desc, build(id, out.len() as u64, prev, &spec)));
        out.last().expect("just pushed").1.entry_hash
    };
    let e0 = push(
        "entry 0: the genesis entry (kind 0), payload = genesis.json's first record, position-signed by the operator",
        EntrySpec::genesis(T0).salt([0x5a; 32]),
        &mut out,
    );
    let e1 = push(
        "entry 1: application entry, JSON payload, one ref (entry 0), position-signed by the operator",
        EntrySpec::application(
            T0 + 1_000_000_007,
            "application/json",
            br#"{"action":"raise-limit","by":"model-x"}"#,
        )
        .salt(arr32(0x20))
        .refs(vec![e0]),
        &mut out,
    );
    push(
        "entry 2: application entry, empty payload, two refs, position-signed by the operator and co-signed by \
         the reviewer and the agent (in that order)",
        EntrySpec::application(T0 + 2 * SECOND, "text/plain", b"")
            .salt(arr32(0x40))
            .refs(vec![e0, e1])
            .cosign(SEED_REVIEWER)
            .cosign(SEED_AGENT),
        &mut out,
    );
    push(
        "entry 3: application entry without any signature (the high-volume mode: a checkpoint must cover it), \
         one-byte content type, no refs",
        EntrySpec::application(T0 + 3 * SECOND, "x", &[0, 1, 2])
            .salt([0xff; 32])
            .position(None),
        &mut out,
    );
    push(
        "entry 4: approval (kind 8), payload = records.json's approval with proposal = entry 1, refs = \
         [proposal], position-signed by the operator, co-signed by the reviewer (role Approver)",
        EntrySpec::record(T0 + 4 * SECOND, &approval_fixture(Digest::from_bytes(e1)))
            .salt(arr32(0x60))
            .cosign(SEED_REVIEWER),
        &mut out,
    );
    push(
        "entry 5: application entry with an empty content type and a 300-byte payload, no position signature, \
         co-signed by the agent",
        EntrySpec::application(T0 + 5 * SECOND, "", &seq_bytes(0, 300))
            .salt(arr32(0x80))
            .position(None)
            .cosign(SEED_AGENT),
        &mut out,
    );
    for (_, b) in &out {
        check_with_library(id, b);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// hashes.json

fn hash_case(desc: &str, function: &str, input: J, output: &[u8]) -> J {
    obj([
        ("desc", desc.into()),
        ("function", function.into()),
        ("input", input),
        ("output", hex(output)),
    ])
}

pub fn gen_hashes() -> J {
    let chain = entry_chain();
    let e2 = &chain[2].1;
    let op = Key::from_seed(&SEED_OPERATOR);
    let mut cases: Vec<J> = Domain::ALL
        .iter()
        .map(|d| {
            let key = spec::domain_key(d.label());
            assert_eq!(&key, d.key(), "domain key {}", d.label());
            hash_case(
                &format!(
                    "domain key K(\"{}\") = BLAKE3-derive_key(\"provledger v2 domain key\", \"{}\")",
                    d.label(),
                    d.label()
                ),
                "domain_key",
                obj([("label", d.label().into())]),
                &key,
            )
        })
        .collect();
    let commit = |desc: &str, salt: [u8; 32], payload: &[u8]| {
        let c = spec::commitment(&salt, payload);
        assert_eq!(provledger::entry::commit_payload(&salt, payload).to_bytes(), c);
        hash_case(
            desc,
            "payload_commitment",
            obj([("salt", hex(&salt)), ("payload", hex(payload))]),
            &c,
        )
    };
    cases.extend([
        commit(
            "payload commitment C = H_payload(salt || payload)",
            arr32(0x20),
            b"hello, ledger",
        ),
        commit(
            "payload commitment of an empty payload (the salt alone is hashed)",
            [0; 32],
            b"",
        ),
        commit(
            "payload commitment of a 1025-byte payload (more than one BLAKE3 chunk)",
            [0x11; 32],
            &seq_bytes(7, 1025),
        ),
        hash_case(
            "statement digest SD = H_statement(S); S of entry.json entry 2",
            "statement_digest",
            obj([("statement", hex(&e2.statement))]),
            &e2.statement_digest,
        ),
        hash_case(
            "entry hash E = H_entry(seq (u64) || S || A); entry.json entry 2",
            "entry_hash",
            obj([
                ("seq", e2.seq.into()),
                ("statement", hex(&e2.statement)),
                ("authorship", hex(&e2.authorship)),
            ]),
            &e2.entry_hash,
        ),
        hash_case(
            "chain value L_0 = H_chain(32 zero bytes || E_0); entry.json entry 0",
            "chain_value",
            obj([("prev", hex(&[0; 32])), ("entry_hash", hex(&chain[0].1.entry_hash))]),
            &chain[0].1.chain,
        ),
        hash_case(
            "chain value L_2 = H_chain(L_1 || E_2); entry.json entry 2",
            "chain_value",
            obj([("prev", hex(&e2.prev)), ("entry_hash", hex(&e2.entry_hash))]),
            &e2.chain,
        ),
    ]);
    for (name, seed) in [
        ("operator", SEED_OPERATOR),
        ("reviewer", SEED_REVIEWER),
        ("agent", SEED_AGENT),
    ] {
        let k = Key::from_seed(&seed);
        cases.push(hash_case(
            &format!(
                "key id = H_key_id(32-byte Ed25519 public key); the {name} key (seed {:02x} x 32)",
                seed[0]
            ),
            "key_id",
            obj([("public_key", hex(&k.public()))]),
            &k.key_id(),
        ));
    }
    let request = spec::seal_key_request(&LEDGER_ID);
    let sigma = op.sign(&request);
    let seal_key = op.seal_key(&LEDGER_ID);
    let (size, seal_chain, seal_root) = (2u64, chain[1].1.chain, [0x33; 32]);
    cases.extend([
        hash_case(
            "seal-key request = \"provledger v2 seal key\\0\" (23 bytes) || ledger id (16); ledger a0..af",
            "seal_key_request",
            obj([("ledger_id", hex(&LEDGER_ID))]),
            &request,
        ),
        hash_case(
            "seal key K_seal = H_seal_key(sigma), sigma = the operator's Ed25519 signature over the seal-key \
             request above (writer-private; pinned so writers agree)",
            "seal_key",
            obj([("signature", hex(&sigma))]),
            &seal_key,
        ),
        hash_case(
            "seal tag = first 16 bytes of BLAKE3-keyed_hash(K_seal, \"provledger v2 seal\\0\" || ledger id || \
             size (u64) || chain || root)",
            "seal_tag",
            obj([
                ("seal_key", hex(&seal_key)),
                ("ledger_id", hex(&LEDGER_ID)),
                ("size", size.into()),
                ("chain", hex(&seal_chain)),
                ("root", hex(&seal_root)),
            ]),
            &spec::seal_tag(&seal_key, &LEDGER_ID, size, &seal_chain, &seal_root),
        ),
    ]);
    let (l, r) = ([0x01; 32], [0x02; 32]);
    assert_eq!(hash_leaf(&Digest::from_bytes(l)).to_bytes(), spec::leaf(&l));
    assert_eq!(
        hash_node(&Digest::from_bytes(l), &Digest::from_bytes(r)).to_bytes(),
        spec::node(&l, &r)
    );
    assert_eq!(hash_empty().to_bytes(), spec::sha256(&[]));
    cases.extend([
        hash_case(
            "Merkle leaf hash = SHA-256(0x00 || entry hash) (RFC 6962)",
            "leaf_hash",
            obj([("entry_hash", hex(&l))]),
            &spec::leaf(&l),
        ),
        hash_case(
            "Merkle node hash = SHA-256(0x01 || left || right) (RFC 6962)",
            "node_hash",
            obj([("left", hex(&l)), ("right", hex(&r))]),
            &spec::node(&l, &r),
        ),
        hash_case(
            "root of the empty tree = SHA-256(empty string)",
            "empty_root",
            obj([]),
            &spec::sha256(&[]),
        ),
        hash_case(
            "co-signature message = \"provledger v2 statement\\0\" (24 bytes) || SD (32); SD of entry.json \
             entry 2",
            "cosignature_message",
            obj([("statement_digest", hex(&e2.statement_digest))]),
            &spec::cosignature_message(&e2.statement_digest),
        ),
        hash_case(
            "position message = \"provledger v2 position\\0\" (23 bytes) || L_{seq-1} (32) || E_seq (32); \
             entry.json entry 2",
            "position_message",
            obj([("prev", hex(&e2.prev)), ("entry_hash", hex(&e2.entry_hash))]),
            &spec::position_message(&e2.prev, &e2.entry_hash),
        ),
    ]);
    file_obj(
        "Hashes of docs/FORMAT.md §2 and the signed messages of §4.5. BLAKE3 hashes are keyed: H_label(m) = \
         BLAKE3-keyed_hash(K(label), m) with K(label) = BLAKE3-derive_key(\"provledger v2 domain key\", label). \
         The Merkle tree is RFC 6962 with SHA-256. 'function' names what is computed; inputs and outputs are \
         hex (numbers are numbers).",
        cases,
    )
}

// ---------------------------------------------------------------------------------------------
// entry.json

/// The record of `b` written field by field (docs/FORMAT.md §4.2).
pub fn record_fields(b: &Built) -> FieldWriter {
    let mut w = FieldWriter::new();
    let s = &b.spec;
    w.u16("kind", s.kind.code());
    w.u64("timestamp", s.timestamp);
    w.u8("ct_len", u8::try_from(s.content_type.len()).expect("short"));
    w.raw("content_type (ASCII)", s.content_type.as_bytes());
    w.u16("ref_count", u16::try_from(s.refs.len()).expect("few"));
    for (i, r) in s.refs.iter().enumerate() {
        w.digest(&format!("refs[{i}]"), r);
    }
    w.u8("sig_flags", u8::from(b.position.is_some()));
    w.u8("cosig_count", u8::try_from(b.cosignatures.len()).expect("few"));
    if let Some(p) = &b.position {
        w.digest("position.key_id", &p.key_id);
        w.raw("position.signature ([u8; 64])", &p.signature);
    }
    for (i, c) in b.cosignatures.iter().enumerate() {
        w.digest(&format!("cosignatures[{i}].key_id"), &c.key_id);
        w.raw(&format!("cosignatures[{i}].signature ([u8; 64])"), &c.signature);
    }
    assert_eq!(w.bytes, b.record, "record field breakdown");
    w
}

fn signer_json(seed: &[u8; 32]) -> J {
    let k = Key::from_seed(seed);
    obj([
        ("seed", hex(seed)),
        ("public_key", hex(&k.public())),
        ("key_id", hex(&k.key_id())),
    ])
}

pub fn entry_case(desc: &str, b: &Built) -> J {
    let s = &b.spec;
    let input = obj([
        ("seq", b.seq.into()),
        ("ledger_id", hex(&LEDGER_ID)),
        ("prev_chain", hex(&b.prev)),
        ("kind", u64::from(s.kind.code()).into()),
        ("timestamp", s.timestamp.into()),
        ("content_type", s.content_type.as_str().into()),
        ("salt", hex(&s.salt)),
        ("payload", hex(&s.payload)),
        ("refs", hex_list(&s.refs)),
        ("position_signer", s.position.as_ref().map(signer_json).into()),
        (
            "cosigners",
            s.cosigners.iter().map(signer_json).collect::<Vec<J>>().into(),
        ),
    ]);
    let output = obj([
        ("payload_commitment", hex(&b.commitment)),
        ("statement", hex(&b.statement)),
        ("statement_digest", hex(&b.statement_digest)),
        (
            "cosignature_message",
            hex(&spec::cosignature_message(&b.statement_digest)),
        ),
        (
            "cosignatures",
            hex_list(&b.cosignatures.iter().map(|c| c.signature).collect::<Vec<_>>()),
        ),
        ("authorship", hex(&b.authorship)),
        ("entry_hash", hex(&b.entry_hash)),
        ("position_message", hex(&spec::position_message(&b.prev, &b.entry_hash))),
        ("position_signature", b.position.map(|p| hex(&p.signature)).into()),
        ("record", hex(&b.record)),
        ("record_fields", record_fields(b).to_json()),
        ("chain", hex(&b.chain)),
    ]);
    obj([
        ("desc", desc.into()),
        ("type", "entry".into()),
        ("input", input),
        ("output", output),
    ])
}

fn record_neg(desc: &str, record: &[u8], err: &str) -> J {
    let got = provledger::entry::RecordRef::parse(record)
        .map(|_| ())
        .map_err(|e| crate::class(&e));
    assert_eq!(got, Err(err), "{desc}");
    obj([
        ("desc", desc.into()),
        ("type", "record".into()),
        ("record", hex(record)),
        ("want_err", err.into()),
    ])
}

/// A signature case: the record of `b` read at `seq` in ledger `ledger_id` after `prev` with
/// payload `payload`; `want` is the first signature that fails.
#[allow(clippy::too_many_arguments)]
fn sig_case(
    desc: &str,
    b: &Built,
    seq: u64,
    ledger_id: &[u8; 16],
    prev: &[u8; 32],
    payload: &[u8],
    record: &[u8],
    want: &str,
) -> J {
    let keys: Vec<[u8; 32]> = [SEED_OPERATOR, SEED_REVIEWER, SEED_AGENT].iter().map(public).collect();
    assert_eq!(
        crate::first_signature_failure(record, seq, ledger_id, prev, &b.spec.salt, payload, &keys),
        Some(want),
        "{desc}"
    );
    let check = if want == "PositionSignature" {
        "chain"
    } else {
        "signature"
    };
    obj([
        ("desc", desc.into()),
        ("type", "signature".into()),
        ("seq", seq.into()),
        ("ledger_id", hex(ledger_id)),
        ("prev_chain", hex(prev)),
        ("salt", hex(&b.spec.salt)),
        ("payload", hex(payload)),
        ("record", hex(record)),
        ("public_keys", hex_list(&keys)),
        ("want_err", want.into()),
        ("check", check.into()),
    ])
}

pub fn gen_entry() -> J {
    let chain = entry_chain();
    let mut cases: Vec<J> = chain.iter().map(|(d, b)| entry_case(d, b)).collect();
    let e2 = &chain[2].1;
    let base = e2.record.clone();
    let m = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    // Offsets in entry 2's record: kind 0, timestamp 2, ct_len 10, content type 11..21,
    // ref_count 21, refs 23..87, sig_flags 87, cosig_count 88, position 89..185, co-signatures.
    let (ct, rc, flags) = (11, 21, 87);
    let mut minimal = 1u16.to_le_bytes().to_vec();
    minimal.extend_from_slice(&T0.to_le_bytes());
    minimal.extend_from_slice(&[0, 0, 0, 0, 0]);
    let r = provledger::entry::RecordRef::parse(&minimal).expect("the minimal record decodes");
    assert_eq!((r.refs().len(), r.position(), r.cosignatures().len()), (0, None, 0));
    cases.push(obj([
        (
            "desc",
            "the smallest record (MIN_ENTRY_LEN = 15 bytes): application, empty content type, no refs, no \
             signatures"
                .into(),
        ),
        ("type", "record".into()),
        ("record", hex(&minimal)),
        (
            "decoded",
            obj([
                ("kind", 1u64.into()),
                ("timestamp", T0.into()),
                ("content_type", "".into()),
                ("refs", J::Arr(vec![])),
                ("position_key_id", J::Null),
                ("cosigner_key_ids", J::Arr(vec![])),
            ]),
        ),
    ]));
    cases.extend([
        record_neg("empty input", &[], "Truncated"),
        record_neg(
            "entry 2's record truncated by one byte",
            &base[..base.len() - 1],
            "Truncated",
        ),
        record_neg("the minimal record truncated to 14 bytes", &minimal[..14], "Truncated"),
        record_neg(
            "entry 2's record with one trailing byte",
            &m(&|b| b.push(0)),
            "TrailingBytes",
        ),
        record_neg(
            "kind code 14 (the first undefined code; 0..=13 are defined)",
            &m(&|b| b[..2].copy_from_slice(&14u16.to_le_bytes())),
            "InvalidTag",
        ),
        record_neg("kind code 0xffff", &m(&|b| b[..2].fill(0xff)), "InvalidTag"),
        record_neg(
            "content type 'text plain' contains a space (0x20)",
            &m(&|b| b[ct + 4] = b' '),
            "Invalid",
        ),
        record_neg("content type contains DEL (0x7f)", &m(&|b| b[ct] = 0x7f), "Invalid"),
        record_neg(
            "ref_count 1025 (above MAX_REFS = 1024), rejected before any ref is read",
            &m(&|b| b[rc..rc + 2].copy_from_slice(&(MAX_REFS as u16 + 1).to_le_bytes())),
            "TooLong",
        ),
        record_neg(
            "ref_count 1024 (allowed) but far fewer bytes follow",
            &m(&|b| b[rc..rc + 2].copy_from_slice(&(MAX_REFS as u16).to_le_bytes())),
            "Truncated",
        ),
        record_neg(
            "sig_flags 0x02 (an undefined flag bit)",
            &m(&|b| b[flags] = 0x02),
            "Invalid",
        ),
        record_neg(
            "sig_flags 0x81 (bit 0 and an undefined bit)",
            &m(&|b| b[flags] = 0x81),
            "Invalid",
        ),
        record_neg(
            "cosig_count 17 (above MAX_COSIGNATURES = 16)",
            &m(&|b| b[flags + 1] = 17),
            "TooLong",
        ),
        record_neg(
            "cosig_count 3 where two co-signatures follow",
            &m(&|b| b[flags + 1] = 3),
            "Truncated",
        ),
        record_neg(
            "sig_flags bit 0 cleared: the position signature's 96 bytes are left over",
            &m(&|b| b[flags] = 0),
            "TrailingBytes",
        ),
    ]);
    cases.extend(signature_cases(&chain));
    file_obj(
        "Entries (docs/FORMAT.md §4): type 'entry' builds an entry of one ledger (id a0..af) from fixed inputs \
         (keys from 32-byte Ed25519 seeds; Ed25519 is deterministic) and gives every value on the way: the \
         commitment C, the statement S, its digest SD, the co-signatures (over the co-signature message), the \
         authorship bytes A, the entry hash E = H_entry(seq || S || A), the position signature (over the \
         position message), the stored record R with a field breakdown, and the chain value L. type 'record': \
         decoding a stored record, 'decoded' fields or want_err (Truncated, TrailingBytes, InvalidTag, Invalid, \
         TooLong). type 'signature': a record that decodes, read at 'seq' of ledger 'ledger_id' after chain \
         value 'prev_chain' with the given salt and payload; want_err names the first signature that fails \
         strict verification (docs/FORMAT.md §9 E6, the position signature first): 'PositionSignature' (the \
         verify check 'chain') or 'CoSignature' (check 'signature'); keys are found by key id among \
         'public_keys'.",
        cases,
    )
}

fn signature_cases(chain: &[(&'static str, Built)]) -> Vec<J> {
    let id = &LEDGER_ID;
    let e2 = &chain[2].1;
    let (rec, pay) = (&e2.record, &e2.spec.payload);
    let pos_sig = 89 + 32; // the position signature's bytes (R then S) in entry 2's record
    let m = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = rec.clone();
        f(&mut b);
        b
    };
    let mut cases = vec![
        sig_case(
            "entry 2 with one bit of the position signature's S flipped",
            e2,
            2,
            id,
            &e2.prev,
            pay,
            &m(&|b| b[pos_sig + 40] ^= 1),
            "PositionSignature",
        ),
        sig_case(
            "entry 2 with the position signature's S replaced by S + L (non-canonical: malleability)",
            e2,
            2,
            id,
            &e2.prev,
            pay,
            &m(&|b| {
                let mut s: [u8; 64] = b[pos_sig..pos_sig + 64].try_into().expect("64");
                add_group_order(&mut s);
                b[pos_sig..pos_sig + 64].copy_from_slice(&s);
            }),
            "PositionSignature",
        ),
        sig_case(
            "entry 2 with the position signature's R replaced by the identity point (small order)",
            e2,
            2,
            id,
            &e2.prev,
            pay,
            &m(&|b| b[pos_sig..pos_sig + 32].copy_from_slice(&IDENTITY_POINT)),
            "PositionSignature",
        ),
        sig_case(
            "entry 2 moved to seq 7 (same chain value before it): E binds seq",
            e2,
            7,
            id,
            &e2.prev,
            pay,
            rec,
            "PositionSignature",
        ),
        sig_case(
            "entry 2 re-linked after entry 0 (as if entry 1 were deleted): seq 1, prev = L_0",
            e2,
            1,
            id,
            &chain[0].1.chain,
            pay,
            rec,
            "PositionSignature",
        ),
        sig_case(
            "entry 2 replayed into another ledger (id b0..bf)",
            e2,
            2,
            &[0xb0; 16],
            &e2.prev,
            pay,
            rec,
            "PositionSignature",
        ),
        sig_case(
            "entry 2 with its timestamp changed after signing",
            e2,
            2,
            id,
            &e2.prev,
            pay,
            &m(&|b| b[2] ^= 1),
            "PositionSignature",
        ),
        sig_case(
            "entry 2 with a payload that is not the one committed (one byte instead of none)",
            e2,
            2,
            id,
            &e2.prev,
            b"!",
            rec,
            "PositionSignature",
        ),
    ];
    let respec = |desc: &str, b: &Built, damage: &dyn Fn(&mut Vec<Sig>)| {
        let nb = build_with(id, b.seq, b.prev, &b.spec, |c| damage(c));
        sig_case(
            desc,
            &nb,
            nb.seq,
            id,
            &nb.prev,
            &nb.spec.payload,
            &nb.record,
            "CoSignature",
        )
    };
    let other_sd = chain[4].1.statement_digest;
    cases.extend([
        respec(
            "entry 2 whose first co-signature (the reviewer's) had a bit flipped before the writer position-signed \
             the entry: the position signature verifies, the co-signature does not",
            e2,
            &|c| c[0].signature[40] ^= 1,
        ),
        respec(
            "entry 2 whose second co-signature (the agent's) is S + L, position-signed afterwards",
            e2,
            &|c| add_group_order(&mut c[1].signature),
        ),
        respec(
            "entry 2 whose first co-signature is the reviewer's valid signature over another statement (entry 4's)",
            e2,
            &|c| {
                c[0].signature = Key::from_seed(&SEED_REVIEWER).sign(&spec::cosignature_message(&other_sd));
            },
        ),
        respec(
            "entry 5 (no position signature) with a bit of its co-signature flipped",
            &chain[5].1,
            &|c| c[0].signature[0] ^= 1,
        ),
    ]);
    cases
}
