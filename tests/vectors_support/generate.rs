//! Generators: every vector file built from the library, with the fixed inputs they use.

use crate::independent;
use crate::json::{hex, obj, J};
use provledger::encoding::crc;
use provledger::entry::{entry_hash, signing_message, statement_digest, MAX_PAYLOAD_LEN, SALT_LEN};
use provledger::hash::{hash_leaf, hash_node};
use provledger::merkle::{consistency_proof, empty_root, inclusion_proof, root_from_leaves, MemoryTree};
use provledger::record::{Approval, Policy, Record, RuleId};
use provledger::storage::frame::{encode_frame, erased_section, FRAME_HEADER_LEN, MIN_ENTRY_LEN};
use provledger::storage::index::{encode_index_header, index_file_name};
use provledger::storage::segment::{segment_file_name, ScanStop, Scanner, SegmentHeader, SEGMENT_HEADER_LEN};
use provledger::storage::{Backend, StdBackend};
use provledger::{
    Digest, Entry, EntryKind, EntrySeq, Genesis, LedgerId, PayloadCommitment, PrincipalType, Role, SigningKey,
    Statement, Timestamp, TrustAnchorKey,
};

// ---------------------------------------------------------------------------------------------
// Fixed inputs.

pub(crate) const LEDGER_ID: [u8; 16] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
/// 2026-01-01T00:00:00Z in nanoseconds.
pub(crate) const T0: u64 = 1_767_225_600_000_000_000;
pub(crate) const SEED_OPERATOR: [u8; 32] = [0x01; 32];
pub(crate) const SEED_REVIEWER: [u8; 32] = [0x02; 32];
pub(crate) const SEED_AGENT: [u8; 32] = [0x03; 32];
/// The Ed25519 identity point: a small-order (weak) public key / R value.
pub(crate) const IDENTITY_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};
/// The Ed25519 group order L, little-endian (added to S to make it non-canonical).
pub(crate) const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

pub(crate) fn seq_bytes(start: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| start.wrapping_add(u8::try_from(i % 256).expect("< 256")))
        .collect()
}

pub(crate) fn arr32(start: u8) -> [u8; 32] {
    seq_bytes(start, 32).try_into().expect("32 bytes")
}

pub(crate) fn genesis_fixture() -> Genesis {
    let key = |seed: &[u8; 32]| SigningKey::from_seed(seed).verifying_key().to_bytes();
    Genesis {
        name: "payments-prod".into(),
        anchors: vec![
            TrustAnchorKey {
                public_key: key(&SEED_OPERATOR),
                principal_id: "svc:ledger-operator".into(),
                principal_type: PrincipalType::Service,
                roles: vec![Role::Admin, Role::Operator],
            },
            TrustAnchorKey {
                public_key: key(&SEED_REVIEWER),
                principal_id: "alice@example.com".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Reviewer, Role::Approver],
            },
            TrustAnchorKey {
                public_key: key(&SEED_AGENT),
                principal_id: "model-x".into(),
                principal_type: PrincipalType::SoftwareAgent,
                roles: vec![Role::AiAgent],
            },
        ],
        policy: Policy::default(),
    }
}

/// The inputs of one entry vector.
pub(crate) struct EntryInput {
    desc: &'static str,
    seq: u64,
    prev: Digest,
    kind: EntryKind,
    timestamp: u64,
    content_type: &'static str,
    salt: [u8; SALT_LEN],
    payload: Vec<u8>,
    refs: Vec<Digest>,
    seeds: Vec<[u8; 32]>,
}

impl EntryInput {
    pub(crate) fn build(&self) -> Entry {
        let statement = Statement {
            ledger_id: LedgerId(LEDGER_ID),
            kind: self.kind,
            timestamp: Timestamp(self.timestamp),
            content_type: self.content_type.into(),
            payload: PayloadCommitment::new(&self.salt, &self.payload),
            refs: self.refs.clone(),
        };
        let signatures = self
            .seeds
            .iter()
            .map(|s| statement.sign(&SigningKey::from_seed(s)))
            .collect();
        Entry {
            seq: EntrySeq(self.seq),
            prev: self.prev,
            statement,
            signatures,
        }
    }
}

/// The chain of positive entry vectors: genesis, then entries that link to it.
pub(crate) fn entry_inputs() -> Vec<EntryInput> {
    let genesis = EntryInput {
        desc: "genesis entry (seq 0, prev all-zero, kind 0), payload = genesis.json's record, signed by the operator",
        seq: 0,
        prev: Digest::ZERO,
        kind: EntryKind::Genesis,
        timestamp: T0,
        content_type: provledger::record::GENESIS_CONTENT_TYPE,
        salt: [0x5a; 32],
        payload: genesis_fixture().encode().expect("genesis fixture encodes"),
        refs: vec![],
        seeds: vec![SEED_OPERATOR],
    };
    let g_hash = entry_hash(&genesis.build().to_bytes().expect("encodes"));
    let app = EntryInput {
        desc: "application entry 1: JSON payload, one ref (the genesis entry hash), signed by the operator",
        seq: 1,
        prev: g_hash,
        kind: EntryKind::Application,
        timestamp: T0 + 1_000_000_007,
        content_type: "application/json",
        salt: arr32(0x20),
        payload: br#"{"action":"raise-limit","by":"model-x"}"#.to_vec(),
        refs: vec![g_hash],
        seeds: vec![SEED_OPERATOR],
    };
    let a_hash = entry_hash(&app.build().to_bytes().expect("encodes"));
    let cosigned = EntryInput {
        desc: "application entry 2: empty payload, two refs, signed by the operator and the reviewer",
        seq: 2,
        prev: a_hash,
        kind: EntryKind::Application,
        timestamp: T0 + 2_000_000_000,
        content_type: "text/plain",
        salt: arr32(0x40),
        payload: vec![],
        refs: vec![g_hash, a_hash],
        seeds: vec![SEED_OPERATOR, SEED_REVIEWER],
    };
    let c_hash = entry_hash(&cosigned.build().to_bytes().expect("encodes"));
    let unsigned = EntryInput {
        desc: "application entry 3: no signatures (decodes; verify then requires a covering checkpoint), \
               one-byte content type, no refs",
        seq: 3,
        prev: c_hash,
        kind: EntryKind::Application,
        timestamp: T0 + 3_000_000_000,
        content_type: "x",
        salt: [0xff; 32],
        payload: vec![0x00, 0x01, 0x02],
        refs: vec![],
        seeds: vec![],
    };
    let u_hash = entry_hash(&unsigned.build().to_bytes().expect("encodes"));
    let approval = approval_fixture(a_hash);
    let approval_entry = EntryInput {
        desc: "approval entry 4 (kind 8): payload = the approval record of records.json with proposal = entry 1's \
               hash, refs = Record::refs() = [proposal], signed by the reviewer (who holds the approver role)",
        seq: 4,
        prev: u_hash,
        kind: EntryKind::Approval,
        timestamp: T0 + 4_000_000_000,
        content_type: "application/vnd.provledger.approval.v1+bincode",
        salt: arr32(0x60),
        payload: approval.encode().expect("encodes"),
        refs: approval.refs(),
        seeds: vec![SEED_REVIEWER],
    };
    vec![genesis, app, cosigned, unsigned, approval_entry]
}

/// The approval record used in entry.json (entry 4) and records.json.
pub(crate) fn approval_fixture(proposal: Digest) -> Record {
    Record::Approval(Approval {
        proposal,
        scope: "raise limit of account 42 to 8000 EUR".into(),
        expires_at: Some(Timestamp(T0 + 86_400_000_000_000)),
    })
}

// ---------------------------------------------------------------------------------------------
// Generators: each builds one vector file from the library.

pub(crate) fn gen_hashes() -> J {
    let s_bytes = entry_inputs()[1].build().statement.to_bytes();
    let e_bytes = entry_inputs()[1].build().to_bytes().expect("encodes");
    let pk = SigningKey::from_seed(&SEED_OPERATOR).verifying_key().to_bytes();
    let salt = arr32(0x20);
    let payload = b"hello, ledger";
    let (l, r) = (Digest::from_bytes([0x01; 32]), Digest::from_bytes([0x02; 32]));
    let digest = statement_digest(&s_bytes);
    let case = |desc: &str, function: &str, input: J, output: Digest| {
        obj([
            ("desc", desc.into()),
            ("function", function.into()),
            ("input", input),
            ("output", hex(output.as_bytes())),
        ])
    };
    let cases = vec![
        case(
            "statement digest = derive_key(\"provledger v1 statement\", statement bytes); statement of entry.json case 2",
            "statement_digest",
            obj([("statement", hex(&s_bytes))]),
            digest,
        ),
        case(
            "statement digest of the empty string (domain check)",
            "statement_digest",
            obj([("statement", hex(b""))]),
            statement_digest(b""),
        ),
        case(
            "entry hash = derive_key(\"provledger v1 entry\", entry bytes); entry of entry.json case 2",
            "entry_hash",
            obj([("entry", hex(&e_bytes))]),
            entry_hash(&e_bytes),
        ),
        case(
            "payload commitment = derive_key(\"provledger v1 payload\", salt || payload)",
            "payload_commitment",
            obj([("salt", hex(&salt)), ("payload", hex(payload))]),
            PayloadCommitment::new(&salt, payload).digest,
        ),
        case(
            "payload commitment of an empty payload (the salt alone is hashed)",
            "payload_commitment",
            obj([("salt", hex(&[0u8; 32])), ("payload", hex(b""))]),
            PayloadCommitment::new(&[0; 32], b"").digest,
        ),
        case(
            "key id = derive_key(\"provledger v1 key id\", 32-byte Ed25519 public key); key of seed 0x01 x 32",
            "key_id",
            obj([("public_key", hex(&pk))]),
            SigningKey::from_seed(&SEED_OPERATOR).key_id().0,
        ),
        case(
            "Merkle leaf hash = BLAKE3(0x00 || entry hash) (plain BLAKE3, not derive_key)",
            "leaf_hash",
            obj([("entry_hash", hex(l.as_bytes()))]),
            hash_leaf(&l),
        ),
        case(
            "Merkle node hash = BLAKE3(0x01 || left || right)",
            "node_hash",
            obj([("left", hex(l.as_bytes())), ("right", hex(r.as_bytes()))]),
            hash_node(&l, &r),
        ),
        case(
            "root of the empty tree = BLAKE3(empty string)",
            "empty_root",
            obj([]),
            empty_root(),
        ),
    ];
    let msg = signing_message(&digest);
    let mut cases = cases;
    cases.push(obj([
        (
            "desc",
            "Ed25519 signed message = \"provledger v1 statement signature\\0\" (34 bytes) || statement digest (32)"
                .into(),
        ),
        ("function", "signing_message".into()),
        ("input", obj([("statement_digest", hex(digest.as_bytes()))])),
        ("output", hex(&msg)),
    ]));
    file_obj(
        "BLAKE3 uses of provledger v1: derive_key contexts and Merkle hashes. Inputs and outputs are hex.",
        cases,
    )
}

pub(crate) fn file_obj(desc: &str, cases: Vec<J>) -> J {
    obj([("desc", desc.into()), ("cases", cases.into())])
}

pub(crate) fn entry_case(inp: &EntryInput) -> J {
    let e = inp.build();
    let bytes = e.to_bytes().expect("encodes");
    let s_bytes = e.statement.to_bytes();
    let digest = statement_digest(&s_bytes);
    let signers: Vec<J> = inp
        .seeds
        .iter()
        .zip(&e.signatures)
        .map(|(seed, sig)| {
            let k = SigningKey::from_seed(seed);
            obj([
                ("seed", hex(seed)),
                ("public_key", hex(&k.verifying_key().to_bytes())),
                ("key_id", hex(k.key_id().0.as_bytes())),
                ("signature", hex(&sig.signature)),
            ])
        })
        .collect();
    let input = obj([
        ("seq", inp.seq.into()),
        ("prev", hex(inp.prev.as_bytes())),
        ("ledger_id", hex(&LEDGER_ID)),
        ("kind", u64::from(inp.kind.code()).into()),
        ("timestamp", inp.timestamp.into()),
        ("content_type", inp.content_type.into()),
        ("salt", hex(&inp.salt)),
        ("payload", hex(&inp.payload)),
        (
            "refs",
            inp.refs.iter().map(|r| hex(r.as_bytes())).collect::<Vec<_>>().into(),
        ),
    ]);
    obj([
        ("desc", inp.desc.into()),
        ("input", input.with("signers", signers)),
        (
            "output",
            obj([
                ("payload_commitment", hex(e.statement.payload.digest.as_bytes())),
                ("statement", hex(&s_bytes)),
                ("statement_digest", hex(digest.as_bytes())),
                ("signing_message", hex(&signing_message(&digest))),
                ("entry", hex(&bytes)),
                ("entry_hash", hex(entry_hash(&bytes).as_bytes())),
            ]),
        ),
    ])
}

pub(crate) fn gen_entry() -> J {
    let inputs = entry_inputs();
    let mut cases: Vec<J> = inputs.iter().map(entry_case).collect();
    let base = inputs[2].build().to_bytes().expect("encodes");
    let keys: Vec<J> = [SEED_OPERATOR, SEED_REVIEWER]
        .iter()
        .map(|s| hex(&SigningKey::from_seed(s).verifying_key().to_bytes()))
        .collect();
    let ct_at = 67; // content-type bytes start after seq, prev, ledger id, kind, timestamp, length
    let refs_at = ct_at + "text/plain".len() + 40;
    let sigs_at = refs_at + 2 + 64;
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let neg = |desc: &str, bytes: Vec<u8>, err: &str| {
        obj([("desc", desc.into()), ("entry", hex(&bytes)), ("want_err", err.into())])
    };
    cases.extend([
        neg("empty input", vec![], "Truncated"),
        neg(
            "case 3 truncated by one byte",
            base[..base.len() - 1].to_vec(),
            "Truncated",
        ),
        neg(
            "case 3 with one trailing garbage byte",
            mutate(&|b| b.push(0)),
            "TrailingBytes",
        ),
        neg(
            "kind code 14 (the first undefined code; 0..=13 are defined)",
            mutate(&|b| b[56..58].copy_from_slice(&14u16.to_le_bytes())),
            "InvalidTag",
        ),
        neg(
            "kind code 0xffff",
            mutate(&|b| b[56..58].copy_from_slice(&[0xff, 0xff])),
            "InvalidTag",
        ),
        neg(
            "content type 'text plain' contains a space (0x20)",
            mutate(&|b| b[ct_at + 4] = b' '),
            "Invalid",
        ),
        neg(
            "content type contains DEL (0x7f)",
            mutate(&|b| b[ct_at] = 0x7f),
            "Invalid",
        ),
        neg(
            "payload length 16 MiB + 1 (above MAX_PAYLOAD_LEN)",
            mutate(&|b| b[refs_at - 8..refs_at].copy_from_slice(&(MAX_PAYLOAD_LEN + 1).to_le_bytes())),
            "TooLong",
        ),
        neg(
            "refs count 1025 (above MAX_REFS = 1024), rejected before reading the refs",
            mutate(&|b| b[refs_at..refs_at + 2].copy_from_slice(&1025u16.to_le_bytes())),
            "TooLong",
        ),
        neg(
            "refs count 1024 (allowed) but far fewer bytes follow: the entry runs short",
            mutate(&|b| b[refs_at..refs_at + 2].copy_from_slice(&1024u16.to_le_bytes())),
            "Truncated",
        ),
        neg(
            "signature count 17 (above MAX_SIGNATURES = 16)",
            mutate(&|b| b[sigs_at] = 17),
            "TooLong",
        ),
    ]);
    let sig_case = |desc: &str, bytes: Vec<u8>| {
        obj([
            ("desc", desc.into()),
            ("entry", hex(&bytes)),
            ("public_keys", keys.clone().into()),
            ("want_err", "Signature".into()),
        ])
    };
    let sig0 = sigs_at + 1 + 32; // signature bytes of the first signature (R then S)
    cases.extend([
        sig_case(
            "decodes, but the first signature has one bit flipped in S",
            mutate(&|b| b[sig0 + 40] ^= 0x01),
        ),
        sig_case(
            "decodes, but the timestamp was changed after signing (statement digest differs)",
            mutate(&|b| b[58] ^= 0x01),
        ),
        sig_case(
            "decodes, but S of the first signature is replaced by S + L (non-canonical S, malleability)",
            mutate(&|b| {
                let mut carry = 0u16;
                for i in 0..32 {
                    let v = u16::from(b[sig0 + 32 + i]) + u16::from(GROUP_ORDER[i]) + carry;
                    b[sig0 + 32 + i] = (v & 0xff) as u8;
                    carry = v >> 8;
                }
            }),
        ),
        sig_case(
            "decodes, but R of the first signature is the identity point (small-order R)",
            mutate(&|b| b[sig0..sig0 + 32].copy_from_slice(&IDENTITY_POINT)),
        ),
        sig_case(
            "decodes, but both signatures carry the same key id (a key may sign once)",
            mutate(&|b| {
                let first: Vec<u8> = b[sigs_at + 1..sigs_at + 97].to_vec();
                b[sigs_at + 97..sigs_at + 193].copy_from_slice(&first);
            }),
        ),
    ]);
    file_obj(
        "Entry encodings (docs/FORMAT.md: Statement, Entry, signature block). Positive cases give the inputs \
         (keys from 32-byte Ed25519 seeds) and every derived output; Ed25519 is deterministic. want_err names \
         the DecodeError variant, or 'Signature' for entries that decode but fail strict signature \
         verification against public_keys.",
        cases,
    )
}

/// Where scanning a one-segment file (segment header, then `bytes`) stops.
pub(crate) fn classify(bytes: &[u8], newest: bool) -> J {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(segment_file_name(0));
    let mut data = SegmentHeader {
        ledger_id: LedgerId(LEDGER_ID),
        first_seq: 0,
    }
    .encode()
    .to_vec();
    data.extend_from_slice(bytes);
    std::fs::write(&path, &data).expect("write temp segment");
    let file = StdBackend.open_read(&path).expect("open temp segment");
    let mut scanner = Scanner::new(file, &path, SEGMENT_HEADER_LEN as u64, data.len() as u64, newest);
    let mut frames = 0u64;
    let stop = loop {
        match scanner.next_chunk(1) {
            Ok(c) if c.frames.is_empty() => break J::Null,
            Ok(c) => frames += c.frames.len() as u64,
            Err(ScanStop::Torn { offset, reason, .. }) => {
                break obj([
                    ("class", "torn".into()),
                    ("offset", offset.into()),
                    ("reason", reason.into()),
                ])
            }
            Err(ScanStop::Corrupt { offset, reason }) => {
                break obj([
                    ("class", "corrupt".into()),
                    ("offset", offset.into()),
                    ("reason", reason.into()),
                ])
            }
            Err(ScanStop::Io(k)) => panic!("I/O error {k:?}"),
        }
    };
    obj([("good_frames", frames.into()), ("stop", stop)])
}

pub(crate) fn frame_bytes() -> (Vec<u8>, [u8; 32], Vec<u8>, Vec<u8>) {
    let inp = &entry_inputs()[1];
    let entry = inp.build().to_bytes().expect("encodes");
    let mut f = Vec::new();
    encode_frame(&mut f, &entry, &inp.salt, &inp.payload);
    (entry, inp.salt, inp.payload.clone(), f)
}

pub(crate) fn gen_frame() -> J {
    let (entry, salt, payload, frame) = frame_bytes();
    let e = entry.len();
    let s_off = FRAME_HEADER_LEN + e + 4;
    let s_len = 33 + payload.len();
    let mut erased = frame[..s_off].to_vec();
    erased.extend_from_slice(&erased_section(payload.len()));
    let word = |b: &[u8], at: usize| hex(&b[at..at + 4]);
    let mut cases = vec![
        obj([
            (
                "desc",
                "frame of entry.json case 2 with its salt and payload (payload state 0 = present)".into(),
            ),
            ("type", "frame".into()),
            ("state", "present".into()),
            ("entry", hex(&entry)),
            ("salt", hex(&salt)),
            ("payload", hex(&payload)),
            ("frame", hex(&frame)),
            ("entry_len", (e as u64).into()),
            ("section_len", (s_len as u64).into()),
            ("header_crc", word(&frame, 8)),
            ("entry_crc", word(&frame, 12 + e)),
            ("payload_crc", word(&frame, s_off + s_len)),
        ]),
        obj([
            (
                "desc",
                "the same frame after erasure: state byte 1, salt and payload overwritten with zeros, new payload \
                 CRC; header, entry and entry CRC unchanged"
                    .into(),
            ),
            ("type", "frame".into()),
            ("state", "erased".into()),
            ("entry", hex(&entry)),
            ("payload_len", (payload.len() as u64).into()),
            ("frame", hex(&erased)),
            ("entry_len", (e as u64).into()),
            ("section_len", (s_len as u64).into()),
            ("header_crc", word(&erased, 8)),
            ("entry_crc", word(&erased, 12 + e)),
            ("payload_crc", word(&erased, s_off + s_len)),
        ]),
    ];
    let scan = |desc: &str, bytes: Vec<u8>| {
        obj([
            ("desc", desc.into()),
            ("type", "scan".into()),
            ("bytes", hex(&bytes)),
            ("newest", classify(&bytes, true)),
            ("sealed", classify(&bytes, false)),
        ])
    };
    let m = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = frame.clone();
        f(&mut b);
        b
    };
    let twice = [frame.clone(), frame.clone()].concat();
    let mut bounds = frame[..12].to_vec();
    bounds[..4].copy_from_slice(&u32::try_from(MIN_ENTRY_LEN - 1).expect("small").to_le_bytes());
    let c = crc(&[&bounds[..8]]);
    bounds[8..12].copy_from_slice(&c.to_le_bytes());
    bounds.extend_from_slice(&frame[12..]);
    cases.extend([
        scan("the intact frame", frame.clone()),
        scan("two intact frames", twice.clone()),
        scan("header bit flip (bit 0 of entry_len)", m(&|b| b[0] ^= 1)),
        scan("header bit flip in the header CRC", m(&|b| b[9] ^= 0x80)),
        scan("entry bit flip (a byte of prev)", m(&|b| b[12 + 20] ^= 1)),
        scan("entry CRC bit flip", m(&|b| b[12 + e] ^= 1)),
        scan("payload bit flip (first payload byte)", m(&|b| b[s_off + 33] ^= 1)),
        scan(
            "payload-section state byte set to 1 without erasing (CRC not updated)",
            m(&|b| b[s_off] = 1),
        ),
        scan(
            "header bit flip in the first of two frames: damage even in the newest segment",
            [m(&|b| b[0] ^= 1), frame.clone()].concat(),
        ),
        scan(
            "entry_len 109 (below the 110-byte minimum) with a valid header CRC: damage",
            bounds,
        ),
        scan(
            "truncated by one byte: frame extends past EOF",
            frame[..frame.len() - 1].to_vec(),
        ),
        scan("only 11 bytes of a header at EOF", frame[..11].to_vec()),
        scan(
            "intact frame, then 5 non-zero bytes (an incomplete header) at EOF",
            [frame.clone(), vec![0xee; 5]].concat(),
        ),
        scan(
            "intact frame, then 40 zero bytes (size extended, data never written)",
            [frame.clone(), vec![0; 40]].concat(),
        ),
        scan(
            "final frame whose payload CRC (last 4 bytes) is zero: incompletely written",
            m(&|b| {
                let n = b.len();
                b[n - 4..].fill(0);
            }),
        ),
        scan(
            "final frame whose payload section and CRC are all zero",
            m(&|b| {
                let n = b.len();
                b[s_off..n].fill(0);
            }),
        ),
        scan(
            "first of two frames with its payload CRC zeroed: not final, so damage",
            [
                m(&|b| {
                    let n = b.len();
                    b[n - 4..].fill(0);
                }),
                frame.clone(),
            ]
            .concat(),
        ),
    ]);
    let section = |desc: &str, s: Vec<u8>, want: J| {
        obj([("desc", desc.into()), ("type", "section".into()), ("section", hex(&s))]).with("want", want)
    };
    let present = [vec![0], salt.to_vec(), payload.clone()].concat();
    let mut bad_erased = vec![0u8; 33 + 3];
    bad_erased[0] = 1;
    bad_erased[5] = 1;
    cases.extend([
        section(
            "present: state 0, salt, payload",
            present.clone(),
            obj([
                ("state", "present".into()),
                ("salt", hex(&salt)),
                ("payload", hex(&payload)),
            ]),
        ),
        section(
            "erased: state 1 and 35 zero bytes (a 3-byte payload)",
            [vec![1], vec![0; 35]].concat(),
            obj([("state", "erased".into())]),
        ),
        section(
            "state 1 but a non-zero byte remains",
            bad_erased,
            obj([("want_err", "erased payload section is not zeroed".into())]),
        ),
        section(
            "state 2 is undefined",
            [vec![2], present[1..].to_vec()].concat(),
            obj([("want_err", "unknown payload state".into())]),
        ),
    ]);
    file_obj(
        "Frames (docs/FORMAT.md: Frame, Payload section, Torn tail). type 'frame': exact bytes and checksums \
         (CRC-32C, little-endian). type 'scan': the file is a 64-byte segment header (ledger id a0..af, \
         first_seq 0) followed by 'bytes'; 'newest' / 'sealed' give how a reader classifies it when that \
         segment is / is not the newest: good_frames, then stop = null (clean end) or the class ('torn' = \
         incomplete final record, cut on recovery; 'corrupt' = damage), file offset and reason. type \
         'section': payload-section parsing.",
        cases,
    )
}

pub(crate) fn gen_segment_header() -> J {
    let id = LedgerId(LEDGER_ID);
    let mut cases = Vec::new();
    for first_seq in [0u64, 1_000_000, u64::MAX] {
        let h = SegmentHeader {
            ledger_id: id,
            first_seq,
        }
        .encode();
        cases.push(obj([
            ("desc", format!("segment header, first_seq {first_seq}").into()),
            ("type", "segment_header".into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("first_seq", first_seq.into()),
            ("header", hex(&h)),
            ("file_name", segment_file_name(first_seq).into()),
        ]));
    }
    for first_seq in [0u64, 1_000_000] {
        cases.push(obj([
            ("desc", format!("index header, first_seq {first_seq}").into()),
            ("type", "index_header".into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("first_seq", first_seq.into()),
            ("header", hex(&encode_index_header(id, first_seq))),
            ("file_name", index_file_name(first_seq).into()),
        ]));
    }
    let base = SegmentHeader {
        ledger_id: id,
        first_seq: 7,
    }
    .encode();
    let recrc = |mut b: [u8; 64]| {
        let c = crc(&[&b[..60]]);
        b[60..].copy_from_slice(&c.to_le_bytes());
        b
    };
    let neg = |desc: &str, b: [u8; 64], err: &str| {
        obj([
            ("desc", desc.into()),
            ("type", "segment_header".into()),
            ("header", hex(&b)),
            ("want_err", err.into()),
        ])
    };
    let with = |f: &dyn Fn(&mut [u8; 64])| {
        let mut b = base;
        f(&mut b);
        b
    };
    cases.extend([
        neg("bad magic (first byte)", with(&|b| b[0] = b'X'), "BadMagic"),
        neg("checksum bit flip", with(&|b| b[60] ^= 1), "Checksum"),
        neg(
            "first_seq bit flip, checksum not updated",
            with(&|b| b[32] ^= 1),
            "Checksum",
        ),
        neg(
            "version 2 with a matching checksum",
            recrc(with(&|b| b[8] = 2)),
            "UnsupportedVersion",
        ),
        neg(
            "version 2 with a stale checksum: the checksum is checked before the version",
            with(&|b| b[8] = 2),
            "Checksum",
        ),
        neg(
            "reserved byte 12 non-zero with a matching checksum",
            recrc(with(&|b| b[12] = 1)),
            "Invalid",
        ),
        neg(
            "reserved byte 50 non-zero with a matching checksum",
            recrc(with(&|b| b[50] = 1)),
            "Invalid",
        ),
    ]);
    file_obj(
        "Segment and index file headers (docs/FORMAT.md: Segment file, Index file, Directory layout). want_err \
         names the DecodeError variant of SegmentHeader::decode; an index header is valid only if it equals \
         the encoding of its segment's (ledger id, first_seq) exactly.",
        cases,
    )
}

/// Variant index of a principal type (docs/FORMAT.md §6), written out, not taken from bincode.
pub(crate) fn principal_type_index(t: PrincipalType) -> u32 {
    match t {
        PrincipalType::Person => 0,
        PrincipalType::SoftwareAgent => 1,
        PrincipalType::Service => 2,
    }
}

/// Variant index of a role (docs/FORMAT.md §6).
pub(crate) fn role_index(r: Role) -> u32 {
    match r {
        Role::Admin => 0,
        Role::Operator => 1,
        Role::Requester => 2,
        Role::Reviewer => 3,
        Role::Approver => 4,
        Role::AiAgent => 5,
    }
}

/// Variant index of a policy rule (docs/FORMAT.md §6.1).
pub(crate) fn rule_index(r: RuleId) -> u32 {
    match r {
        RuleId::GatedImpact => 0,
        RuleId::ApprovalRequired => 1,
        RuleId::SelfApproval => 2,
        RuleId::ApprovalByAi => 3,
        RuleId::ApprovalNotPerson => 4,
        RuleId::ApprovalAfterExecution => 5,
        RuleId::ApprovalWrongProposal => 6,
        RuleId::ApprovalExpired => 7,
        RuleId::ApprovalRevoked => 8,
        RuleId::HumanOnlyNotByPerson => 9,
        RuleId::KeyOutsideEnvironment => 10,
        RuleId::ProductionReliesOnExperimentation => 11,
        RuleId::UngatedGovernanceChange => 12,
        RuleId::ExecutionAfterRejection => 13,
        RuleId::BoundaryBelowClass => 14,
        RuleId::EvidenceRequired => 15,
        RuleId::ReviewRequired => 16,
        RuleId::AiProvenance => 17,
        RuleId::OverrideReasonMissing => 18,
        RuleId::OverrideByAi => 19,
        RuleId::OverrideUngated => 20,
        RuleId::RiskInvalid => 21,
        RuleId::RiskUnaccepted => 22,
        other => panic!("rule {other} has no documented index: update docs/FORMAT.md §6.1"),
    }
}

/// A policy written field by field (docs/FORMAT.md §6.1).
pub(crate) fn policy_by_hand(w: &mut independent::FieldWriter, prefix: &str, p: &Policy) {
    w.u8(&format!("{prefix}min_approvals"), p.min_approvals);
    w.count(&format!("{prefix}rules"), p.rules.len());
    for (j, r) in p.rules.iter().enumerate() {
        w.variant(&format!("{prefix}rules[{j}] = {r}"), rule_index(*r));
    }
    w.count(&format!("{prefix}classes"), p.classes.len());
    for (j, c) in p.classes.iter().enumerate() {
        let at = format!("{prefix}classes[{j}].");
        w.string(&format!("{at}name"), &c.name);
        w.count(&format!("{at}actions"), c.actions.len());
        for (k, a) in c.actions.iter().enumerate() {
            w.string(&format!("{at}actions[{k}]"), a);
        }
        impact_by_hand(w, &format!("{at}impact."), &c.impact);
        w.option(&format!("{at}threshold"), c.threshold.is_some());
        if let Some(t) = &c.threshold {
            w.string(&format!("{at}threshold.attribute"), &t.attribute);
            w.u64(&format!("{at}threshold.at_least"), t.at_least);
        }
        requirements_by_hand(w, &format!("{at}require."), &c.require);
    }
    w.option(&format!("{prefix}unclassified"), p.unclassified.is_some());
    if let Some(r) = &p.unclassified {
        requirements_by_hand(w, &format!("{prefix}unclassified."), r);
    }
}

/// Impact flags written field by field (docs/FORMAT.md §6.2): four bools.
pub(crate) fn impact_by_hand(w: &mut independent::FieldWriter, prefix: &str, i: &provledger::record::ImpactFlags) {
    w.bool(&format!("{prefix}customer_impacting"), i.customer_impacting);
    w.bool(&format!("{prefix}policy_change"), i.policy_change);
    w.bool(&format!("{prefix}permission_change"), i.permission_change);
    w.bool(&format!("{prefix}personal_data"), i.personal_data);
}

/// Requirements written field by field (docs/FORMAT.md §6.1).
fn requirements_by_hand(w: &mut independent::FieldWriter, prefix: &str, r: &provledger::record::Requirements) {
    let boundary = match r.boundary {
        provledger::record::DecisionBoundary::AiMayAssist => 0,
        provledger::record::DecisionBoundary::HumanApprovalRequired => 1,
        provledger::record::DecisionBoundary::HumanOnly => 2,
    };
    w.variant(&format!("{prefix}boundary"), boundary);
    w.u8(&format!("{prefix}min_approvals"), r.min_approvals);
    w.u8(&format!("{prefix}reviews"), r.reviews);
    w.bool(&format!("{prefix}evidence"), r.evidence);
    w.bool(&format!("{prefix}cite_ai_outputs"), r.cite_ai_outputs);
}

/// The genesis fixture written field by field from docs/FORMAT.md (independently of bincode).
pub(crate) fn genesis_by_hand(g: &Genesis) -> independent::FieldWriter {
    let mut w = independent::FieldWriter::new();
    w.string("name", &g.name);
    w.count("anchors", g.anchors.len());
    for (i, a) in g.anchors.iter().enumerate() {
        w.raw(&format!("anchors[{i}].public_key ([u8; 32])"), &a.public_key);
        w.string(&format!("anchors[{i}].principal_id"), &a.principal_id);
        w.variant(
            &format!("anchors[{i}].principal_type"),
            principal_type_index(a.principal_type),
        );
        w.count(&format!("anchors[{i}].roles"), a.roles.len());
        for (j, r) in a.roles.iter().enumerate() {
            w.variant(&format!("anchors[{i}].roles[{j}]"), role_index(*r));
        }
    }
    policy_by_hand(&mut w, "policy.", &g.policy);
    w
}

/// Field breakdown `[{offset, size, field, hex}]` of a hand-written payload.
pub(crate) fn fields_json(w: &independent::FieldWriter) -> J {
    w.fields
        .iter()
        .map(|(off, size, name)| {
            obj([
                ("offset", (*off as u64).into()),
                ("size", (*size as u64).into()),
                ("field", name.as_str().into()),
                ("hex", hex(&w.bytes[*off..off + size])),
            ])
        })
        .collect::<Vec<J>>()
        .into()
}

/// A 32-byte string that decodes (as ed25519-dalek decodes) to a point of large order but is
/// not canonical: its y value is p + k for a small k (docs/FORMAT.md §3).
pub(crate) fn non_canonical_key() -> [u8; 32] {
    for k in 0u8..19 {
        // p + k, little-endian: p = 2^255 - 19 = ed ff .. ff 7f.
        let mut b = [0xffu8; 32];
        b[31] = 0x7f;
        b[0] = 0xed + k;
        if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&b) {
            if !vk.is_weak() {
                return b;
            }
        }
    }
    panic!("no non-canonical key of large order");
}

pub(crate) fn gen_genesis() -> J {
    let g = genesis_fixture();
    let bytes = g.encode().expect("encodes");
    let hand = genesis_by_hand(&g);
    assert_eq!(hand.bytes, bytes, "FORMAT.md's genesis layout disagrees with bincode");
    let anchors: Vec<J> = g
        .anchors
        .iter()
        .map(|a| {
            obj([
                ("public_key", hex(&a.public_key)),
                ("principal_id", a.principal_id.as_str().into()),
                ("principal_type", format!("{:?}", a.principal_type).into()),
                (
                    "roles",
                    a.roles
                        .iter()
                        .map(|r| format!("{r:?}").into())
                        .collect::<Vec<J>>()
                        .into(),
                ),
            ])
        })
        .collect();
    let policy = obj([
        ("min_approvals", u64::from(g.policy.min_approvals).into()),
        (
            "rules",
            g.policy.rules.iter().map(|r| r.id().into()).collect::<Vec<J>>().into(),
        ),
    ]);
    let mut cases = vec![obj([
        (
            "desc",
            "genesis record with three anchors (keys of seeds 0x01, 0x02, 0x03 x 32) and the default policy \
             (one approval, all 14 rules)"
                .into(),
        ),
        (
            "record",
            obj([
                ("name", g.name.as_str().into()),
                ("anchors", anchors.into()),
                ("policy", policy),
            ]),
        ),
        ("payload", hex(&bytes)),
        ("fields", fields_json(&hand)),
    ])];
    let neg = |desc: &str, b: Vec<u8>, err: &str| {
        obj([("desc", desc.into()), ("payload", hex(&b)), ("want_err", err.into())])
    };
    let op = SigningKey::from_seed(&SEED_OPERATOR).verifying_key().to_bytes();
    let rev = SigningKey::from_seed(&SEED_REVIEWER).verifying_key().to_bytes();
    let anchor = |pk: [u8; 32], roles: Vec<Role>| TrustAnchorKey {
        public_key: pk,
        principal_id: String::new(),
        principal_type: PrincipalType::Service,
        roles,
    };
    let record = |name: &str, anchors: Vec<TrustAnchorKey>| Genesis {
        name: name.into(),
        anchors,
        policy: Policy {
            min_approvals: 1,
            rules: vec![],
            ..Policy::default()
        },
    };
    // Written from docs/FORMAT.md §6.0 field by field: `Genesis::encode` refuses what
    // `decode` would refuse, and the negative cases need those bytes. A valid record's
    // library encoding must equal it.
    let enc = |g: &Genesis| {
        let bytes = genesis_by_hand(g).bytes;
        if let Ok(lib) = g.encode() {
            assert_eq!(lib, bytes, "Genesis::encode differs from docs/FORMAT.md §6.0");
        }
        bytes
    };
    let min = enc(&record("x", vec![anchor(op, vec![Role::Admin])]));
    // Offsets inside `min`: name len 0..8, name 8, anchors count 9..17, public key 17..49,
    // principal id len 49..57, principal type 57..61, roles count 61..69, role 69..73,
    // min_approvals 73, rules count 74..82, classes count 82..90, unclassified tag 90.
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = min.clone();
        f(&mut b);
        b
    };
    let long = "n".repeat(provledger::record::MAX_NAME_LEN);
    let longer = "n".repeat(provledger::record::MAX_NAME_LEN + 1);
    let mut long_principal = anchor(op, vec![Role::Admin]);
    long_principal.principal_id = longer.clone();
    cases.extend([
        obj([
            (
                "desc",
                "minimal valid record: one anchor (role Admin), empty principal id, min_approvals 1, no rules".into(),
            ),
            ("payload", hex(&min)),
        ]),
        obj([
            ("desc", "name of exactly 256 bytes (MAX_NAME_LEN) is accepted".into()),
            (
                "payload",
                hex(&enc(&record(&long, vec![anchor(op, vec![Role::Admin])]))),
            ),
        ]),
        neg("no anchors", enc(&record("x", vec![])), "Invalid"),
        neg(
            "65 anchors (above MAX_ANCHORS = 64)",
            enc(&record("x", vec![anchor(op, vec![Role::Admin]); 65])),
            "TooLong",
        ),
        neg(
            "no anchor has the Admin role",
            enc(&record("x", vec![anchor(op, vec![Role::Operator])])),
            "Invalid",
        ),
        neg(
            "the same public key in two anchors",
            enc(&record(
                "x",
                vec![anchor(op, vec![Role::Admin]), anchor(op, vec![Role::Operator])],
            )),
            "Invalid",
        ),
        neg(
            "name of 257 bytes (above MAX_NAME_LEN = 256)",
            enc(&record(&longer, vec![anchor(op, vec![Role::Admin])])),
            "Invalid",
        ),
        neg(
            "principal id of 257 bytes (above MAX_NAME_LEN = 256)",
            enc(&record("x", vec![anchor(rev, vec![]), long_principal])),
            "Invalid",
        ),
        neg("truncated by one byte", min[..min.len() - 1].to_vec(), "Payload"),
        neg("one trailing byte", with(&|b| b.push(0)), "TrailingBytes"),
        neg(
            "name length u64::MAX: refused by the 1 MiB limit before allocating",
            with(&|b| b[..8].fill(0xff)),
            "Payload",
        ),
        neg("name is not UTF-8 (0xff)", with(&|b| b[8] = 0xff), "Payload"),
        neg("principal type variant 3 (undefined)", with(&|b| b[57] = 3), "Payload"),
        neg("role variant 6 (undefined)", with(&|b| b[69] = 6), "Payload"),
        neg(
            "rule variant 23 (undefined)",
            with(&|b| {
                b[74] = 1;
                b.splice(82..82, 23u32.to_le_bytes());
            }),
            "Payload",
        ),
        neg("unclassified Option tag 2", with(&|b| b[90] = 2), "Payload"),
        neg(
            "anchor key is the identity point (weak)",
            enc(&record("x", vec![anchor(IDENTITY_POINT, vec![Role::Admin])])),
            "Invalid",
        ),
        neg(
            "anchor key is a non-canonical encoding (y = p + k >= p) of a large-order point",
            enc(&record("x", vec![anchor(non_canonical_key(), vec![Role::Admin])])),
            "Invalid",
        ),
    ]);
    file_obj(
        "Genesis payloads (docs/FORMAT.md: Genesis payload): bincode 2, fixed-width little-endian integers; \
         String = u64 length + UTF-8; Vec = u64 count + items; enum = u32 variant index (PrincipalType: \
         Person 0, SoftwareAgent 1, Service 2; Role: Admin 0, Operator 1, Requester 2, Reviewer 3, \
         Approver 4, AiAgent 5; RuleId: §6.1); [u8; 32] = 32 raw bytes; u8 = one byte. 'fields' breaks the \
         first payload down. want_err names the DecodeError variant of Genesis::decode.",
        cases,
    )
}

pub(crate) const TREE_SIZES: [u64; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17];

pub(crate) fn merkle_leaf(i: u64) -> Digest {
    hash_leaf(&Digest::from_bytes([u8::try_from(i).expect("small tree"); 32]))
}

pub(crate) fn merkle_tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(merkle_leaf(i)).expect("push");
    }
    t
}

pub(crate) fn digests(v: &[Digest]) -> J {
    v.iter().map(|d| hex(d.as_bytes())).collect::<Vec<_>>().into()
}

pub(crate) fn gen_merkle() -> J {
    let mut cases = Vec::new();
    let leaves: Vec<Digest> = (0..17).map(merkle_leaf).collect();
    let root = |n: u64| root_from_leaves(&leaves[..usize::try_from(n).expect("small")]);
    for n in TREE_SIZES {
        cases.push(obj([
            ("desc", format!("root of the tree of size {n}").into()),
            ("type", "root".into()),
            ("size", n.into()),
            ("root", hex(root(n).as_bytes())),
        ]));
    }
    let tree = merkle_tree(17);
    for (i, n) in [(0u64, 1u64), (2, 7), (5, 17), (16, 17)] {
        let path = inclusion_proof(&tree, i, n).expect("proof");
        cases.push(obj([
            ("desc", format!("inclusion of leaf {i} in the tree of size {n}").into()),
            ("type", "inclusion".into()),
            ("leaf_index", i.into()),
            ("tree_size", n.into()),
            ("entry_hash", hex(&[u8::try_from(i).expect("small"); 32])),
            ("leaf_hash", hex(merkle_leaf(i).as_bytes())),
            ("path", digests(&path)),
            ("root", hex(root(n).as_bytes())),
        ]));
    }
    for (m, n) in [(3u64, 7u64), (4, 17), (7, 7), (1, 2)] {
        let path = consistency_proof(&tree, m, n).expect("proof");
        cases.push(obj([
            (
                "desc",
                format!("consistency of the tree of size {m} with the tree of size {n}").into(),
            ),
            ("type", "consistency".into()),
            ("old_size", m.into()),
            ("new_size", n.into()),
            ("old_root", hex(root(m).as_bytes())),
            ("new_root", hex(root(n).as_bytes())),
            ("path", digests(&path)),
        ]));
    }
    let p27 = inclusion_proof(&tree, 2, 7).expect("proof");
    let mut flipped = p27.clone();
    let mut b = flipped[1].to_bytes();
    b[0] ^= 1;
    flipped[1] = Digest::from_bytes(b);
    let inc_neg = |desc: &str, i: u64, n: u64, path: &[Digest], err: &str| {
        obj([
            ("desc", desc.into()),
            ("type", "inclusion".into()),
            ("leaf_index", i.into()),
            ("tree_size", n.into()),
            ("leaf_hash", hex(merkle_leaf(2).as_bytes())),
            ("path", digests(path)),
            ("root", hex(root(7).as_bytes())),
            ("want_err", err.into()),
        ])
    };
    cases.extend([
        inc_neg("leaf 2 of 7 with one path bit flipped", 2, 7, &flipped, "RootMismatch"),
        inc_neg("leaf 2 of 7 claimed as leaf 3", 3, 7, &p27, "RootMismatch"),
        inc_neg(
            "leaf 2 of 7 with the last path element dropped",
            2,
            7,
            &p27[..2],
            "Malformed",
        ),
        inc_neg("leaf index 7 not below tree size 7", 7, 7, &p27, "Malformed"),
    ]);
    let c37 = consistency_proof(&tree, 3, 7).expect("proof");
    let con_neg = |desc: &str, m: u64, n: u64, path: &[Digest], err: &str| {
        obj([
            ("desc", desc.into()),
            ("type", "consistency".into()),
            ("old_size", m.into()),
            ("new_size", n.into()),
            ("old_root", hex(root(3).as_bytes())),
            ("new_root", hex(root(7).as_bytes())),
            ("path", digests(path)),
            ("want_err", err.into()),
        ])
    };
    cases.extend([
        con_neg(
            "3 -> 7 with the first path element replaced by the second",
            3,
            7,
            &[c37[1], c37[1], c37[2], c37[3]],
            "RootMismatch",
        ),
        con_neg(
            "3 -> 7 with an extra path element",
            3,
            7,
            &[c37.clone(), vec![c37[0]]].concat(),
            "Malformed",
        ),
        con_neg("old size 0", 0, 7, &c37, "Malformed"),
        con_neg("old size above new size", 8, 7, &c37, "Malformed"),
    ]);
    obj([
        (
            "desc",
            "RFC 9162 Merkle trees with BLAKE3 (docs/FORMAT.md: Merkle tree): leaf = BLAKE3(0x00 || entry_hash), \
             node = BLAKE3(0x01 || left || right), empty tree = BLAKE3(empty string). Paths are RFC 9162 \
             inclusion / consistency proofs, leaf level first. want_err: 'Malformed' (structurally wrong) \
             or 'RootMismatch' (well-formed, does not verify)."
                .into(),
        ),
        (
            "leaf_entry_hash_rule",
            "the entry hash of leaf i is 32 bytes each equal to i".into(),
        ),
        ("cases", cases.into()),
    ])
}
