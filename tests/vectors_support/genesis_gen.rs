//! Generator of genesis.json (docs/FORMAT.md §3, §6.0, §6.1): the genesis payload written
//! field by field from the specification and compared with the library's encoding. The
//! record layout belongs to src/record; this file follows whatever it encodes.

use crate::fields::genesis_by_hand;
use crate::fixtures::{genesis_fixture, IDENTITY_POINT, SEED_OPERATOR, SEED_REVIEWER};
use crate::generate::file_obj;
use crate::json::{hex, obj, J};
use provledger::record::Policy;
use provledger::{Genesis, PrincipalType, Role, SigningKey, TrustAnchorKey};

/// A 32-byte string that decodes (as ed25519-dalek decodes) to a point of large order but is
/// not canonical: its y value is p + k for a small k (docs/FORMAT.md §3).
pub fn non_canonical_key() -> [u8; 32] {
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

pub fn gen_genesis() -> J {
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
        ("fields", hand.to_json()),
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
