//! Fixed inputs of the vectors (ledger id, times, seeds, the genesis record) and the entry
//! builder: an entry is built from its inputs with the FORMAT.md encoder (`spec`), then
//! compared with what the library makes of the same bytes.

use std::borrow::Cow;

use crate::spec::{self, Fields, Key, Sig};
use provledger::entry::{commit_payload, cosignature_message, position_message, EntryFields, RecordRef, SALT_LEN};
use provledger::hash::chain_value;
use provledger::record::{Approval, Policy, Record};
use provledger::{
    AuthorSignature, Digest, EntryKind, Genesis, KeyId, LedgerId, PrincipalType, Role, SigningKey, Timestamp,
    TrustAnchorKey,
};

pub const LEDGER_ID: [u8; 16] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
/// 2026-01-01T00:00:00Z in nanoseconds.
pub const T0: u64 = 1_767_225_600_000_000_000;
/// Seconds, in nanoseconds.
pub const SECOND: u64 = 1_000_000_000;
/// The writer: a genesis anchor with roles Admin and Operator.
pub const SEED_OPERATOR: [u8; 32] = [0x01; 32];
/// A genesis anchor (a person) with roles Reviewer and Approver.
pub const SEED_REVIEWER: [u8; 32] = [0x02; 32];
/// A genesis anchor (a software agent) with role AiAgent.
pub const SEED_AGENT: [u8; 32] = [0x03; 32];
/// A key enrolled by a key-enrollment entry (records.json, ledger.json).
pub const SEED_ENROLLED: [u8; 32] = [0x04; 32];
/// A key no ledger knows.
pub const SEED_STRANGER: [u8; 32] = [0x09; 32];
/// The Ed25519 identity point: a small-order (weak) public key or R value.
pub const IDENTITY_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};
/// The Ed25519 group order L, little-endian (added to S to make it non-canonical).
pub const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

pub fn seq_bytes(start: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| start.wrapping_add(u8::try_from(i % 256).expect("< 256")))
        .collect()
}

pub fn arr32(start: u8) -> [u8; 32] {
    seq_bytes(start, 32).try_into().expect("32 bytes")
}

pub fn public(seed: &[u8; 32]) -> [u8; 32] {
    Key::from_seed(seed).public()
}

/// `S + L` of a signature (a non-canonical S that ed25519 malleability would accept).
pub fn add_group_order(sig: &mut [u8; 64]) {
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(GROUP_ORDER[i]) + carry;
        sig[32 + i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
}

/// The genesis record of every vector ledger (genesis.json's first record).
pub fn genesis_fixture() -> Genesis {
    Genesis {
        name: "payments-prod".into(),
        anchors: vec![
            TrustAnchorKey {
                public_key: public(&SEED_OPERATOR),
                principal_id: "svc:ledger-operator".into(),
                principal_type: PrincipalType::Service,
                roles: vec![Role::Admin, Role::Operator],
            },
            TrustAnchorKey {
                public_key: public(&SEED_REVIEWER),
                principal_id: "alice@example.com".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Reviewer, Role::Approver],
            },
            TrustAnchorKey {
                public_key: public(&SEED_AGENT),
                principal_id: "model-x".into(),
                principal_type: PrincipalType::SoftwareAgent,
                roles: vec![Role::AiAgent],
            },
        ],
        policy: Policy::default(),
    }
}

/// The approval record of records.json and entry.json.
pub fn approval_fixture(proposal: Digest) -> Record {
    Record::Approval(Approval {
        proposal,
        scope: "raise limit of account 42 to 8000 EUR".into(),
        expires_at: Some(Timestamp(T0 + 86_400 * SECOND)),
    })
}

/// The inputs of one entry.
#[derive(Clone, Debug)]
pub struct EntrySpec {
    pub kind: EntryKind,
    pub timestamp: u64,
    pub content_type: String,
    pub salt: [u8; SALT_LEN],
    pub payload: Vec<u8>,
    pub refs: Vec<[u8; 32]>,
    /// Seed of the position signer, if the entry carries a position signature.
    pub position: Option<[u8; 32]>,
    /// Seeds of the co-signers, in record order.
    pub cosigners: Vec<[u8; 32]>,
    /// Flip a bit of this co-signature before the writer position-signs the entry.
    pub bad_cosignature: Option<usize>,
}

impl EntrySpec {
    /// An application entry, position-signed by the operator.
    pub fn application(timestamp: u64, content_type: &str, payload: &[u8]) -> Self {
        EntrySpec {
            kind: EntryKind::Application,
            timestamp,
            content_type: content_type.into(),
            salt: [0; 32],
            payload: payload.to_vec(),
            refs: vec![],
            position: Some(SEED_OPERATOR),
            cosigners: vec![],
            bad_cosignature: None,
        }
    }

    /// The genesis entry of [`genesis_fixture`], position-signed by the operator.
    pub fn genesis(timestamp: u64) -> Self {
        EntrySpec {
            kind: EntryKind::Genesis,
            content_type: provledger::record::GENESIS_CONTENT_TYPE.into(),
            payload: genesis_fixture().encode().expect("genesis fixture encodes"),
            ..Self::application(timestamp, "", b"")
        }
    }

    /// A governance record with the refs and content type the writer gives it, position-signed
    /// by the operator.
    pub fn record(timestamp: u64, r: &Record) -> Self {
        EntrySpec {
            kind: r.entry_kind(),
            content_type: Record::content_type(r.entry_kind()),
            payload: r.encode().expect("record encodes"),
            refs: r.refs().iter().map(|d| d.to_bytes()).collect(),
            ..Self::application(timestamp, "", b"")
        }
    }

    pub fn salt(mut self, salt: [u8; 32]) -> Self {
        self.salt = salt;
        self
    }
    pub fn refs(mut self, refs: Vec<[u8; 32]>) -> Self {
        self.refs = refs;
        self
    }
    pub fn position(mut self, seed: Option<[u8; 32]>) -> Self {
        self.position = seed;
        self
    }
    pub fn cosign(mut self, seed: [u8; 32]) -> Self {
        self.cosigners.push(seed);
        self
    }

    pub fn fields(&self) -> Fields {
        Fields {
            kind: self.kind.code(),
            timestamp: self.timestamp,
            content_type: self.content_type.clone(),
            refs: self.refs.clone(),
        }
    }
}

/// An entry built at a place: every intermediate value of §4.
#[derive(Clone, Debug)]
pub struct Built {
    pub spec: EntrySpec,
    pub seq: u64,
    /// `L_{seq-1}`.
    pub prev: [u8; 32],
    pub commitment: [u8; 32],
    pub statement: Vec<u8>,
    pub statement_digest: [u8; 32],
    pub cosignatures: Vec<Sig>,
    pub authorship: Vec<u8>,
    pub entry_hash: [u8; 32],
    pub position: Option<Sig>,
    pub record: Vec<u8>,
    pub chain: [u8; 32],
}

impl Built {
    /// The entry hash this entry's record and payload give at another place.
    pub fn entry_hash_at(&self, seq: u64) -> [u8; 32] {
        spec::entry_hash(seq, &self.statement, &self.authorship)
    }
}

/// Builds the entry `spec` at `seq` after chain value `prev` (docs/FORMAT.md §4).
pub fn build(ledger_id: &[u8; 16], seq: u64, prev: [u8; 32], spec: &EntrySpec) -> Built {
    build_with(ledger_id, seq, prev, spec, |_| {})
}

/// As [`build`], with `damage` applied to the co-signatures before the writer computes the
/// entry hash and position-signs it (so only the co-signature check can fail).
pub fn build_with(
    ledger_id: &[u8; 16],
    seq: u64,
    prev: [u8; 32],
    spec: &EntrySpec,
    damage: impl FnOnce(&mut Vec<Sig>),
) -> Built {
    let fields = spec.fields();
    let commitment = spec::commitment(&spec.salt, &spec.payload);
    let statement = fields.statement(ledger_id, &commitment);
    let statement_digest = spec::h("statement", &[&statement]);
    let mut cosignatures: Vec<Sig> = spec
        .cosigners
        .iter()
        .map(|seed| {
            let k = Key::from_seed(seed);
            Sig {
                key_id: k.key_id(),
                signature: k.sign(&spec::cosignature_message(&statement_digest)),
            }
        })
        .collect();
    if let Some(i) = spec.bad_cosignature {
        cosignatures[i].signature[40] ^= 0x01;
    }
    damage(&mut cosignatures);
    let position_key = spec.position.map(|s| Key::from_seed(&s));
    let authorship = spec::authorship(position_key.as_ref().map(Key::key_id).as_ref(), &cosignatures);
    let entry_hash = spec::entry_hash(seq, &statement, &authorship);
    let position = position_key.map(|k| Sig {
        key_id: k.key_id(),
        signature: k.sign(&spec::position_message(&prev, &entry_hash)),
    });
    let record = fields.record(position.as_ref(), &cosignatures);
    Built {
        spec: spec.clone(),
        seq,
        prev,
        commitment,
        statement,
        statement_digest,
        cosignatures,
        authorship,
        entry_hash,
        position,
        record,
        chain: spec::chain(&prev, &entry_hash),
    }
}

fn lib_sig(s: &Sig) -> AuthorSignature {
    AuthorSignature {
        key_id: KeyId(Digest::from_bytes(s.key_id)),
        signature: s.signature,
    }
}

/// Asserts that the library encodes, decodes and hashes `b` exactly as the FORMAT.md encoder
/// did (the generator calls this for every entry it writes).
pub fn check_with_library(ledger_id: &[u8; 16], b: &Built) {
    let id = LedgerId(*ledger_id);
    let c = Digest::from_bytes(b.commitment);
    assert_eq!(commit_payload(&b.spec.salt, &b.spec.payload), c, "commitment");
    let fields = EntryFields {
        kind: b.spec.kind,
        timestamp: Timestamp(b.spec.timestamp),
        content_type: Cow::Owned(b.spec.content_type.clone()),
        refs: b.spec.refs.iter().map(|r| Digest::from_bytes(*r)).collect(),
    };
    let cosigs: Vec<AuthorSignature> = b.cosignatures.iter().map(lib_sig).collect();
    let position = b.position.as_ref().map(lib_sig);
    assert_eq!(
        fields
            .encode_record(position.as_ref(), &cosigs)
            .expect("library encodes the record"),
        b.record,
        "record bytes"
    );
    let r = RecordRef::parse(&b.record).expect("library decodes the record");
    assert_eq!((r.kind(), r.timestamp()), (fields.kind, fields.timestamp));
    assert_eq!(r.content_type(), b.spec.content_type);
    assert_eq!(r.refs().collect::<Vec<_>>(), fields.refs);
    assert_eq!(r.position(), position);
    assert_eq!(r.cosignatures().collect::<Vec<_>>(), cosigs);
    assert_eq!(r.statement(id, &c), b.statement, "statement");
    assert_eq!(
        r.statement_digest(id, &c).to_bytes(),
        b.statement_digest,
        "statement digest"
    );
    assert_eq!(r.entry_hash(b.seq, id, &c).to_bytes(), b.entry_hash, "entry hash");
    let (prev, e) = (Digest::from_bytes(b.prev), Digest::from_bytes(b.entry_hash));
    assert_eq!(chain_value(&prev, &e).to_bytes(), b.chain, "chain value");
    assert_eq!(
        position_message(&prev, &e).to_vec(),
        spec::position_message(&b.prev, &b.entry_hash)
    );
    assert_eq!(
        cosignature_message(&Digest::from_bytes(b.statement_digest)).to_vec(),
        spec::cosignature_message(&b.statement_digest)
    );
    for (seed, s) in b.spec.cosigners.iter().zip(&b.cosignatures) {
        assert_eq!(SigningKey::from_seed(seed).key_id().0.to_bytes(), s.key_id);
    }
}
