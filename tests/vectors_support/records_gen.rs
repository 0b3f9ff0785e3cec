//! Generator of `records.json`: the governance record payloads (docs/FORMAT.md §6.2), each
//! written field by field from the specification and compared with the library's encoding.

use crate::fields::{impact_by_hand, policy_by_hand, principal_type_index, role_index, FieldWriter};
use crate::fixtures::{approval_fixture, arr32, SEED_ENROLLED};
use crate::generate::file_obj;
use crate::json::{hex, obj, J};
use std::collections::BTreeMap;

use provledger::record::{
    ActionClass, AiOutput, AiSystem, Autonomy, DecisionBoundary, EntryRef, Environment, Evidence, Execution,
    ImpactFlags, KeyEnrollment, KeyRevocation, Override, Policy, Proposal, Record, Redaction, Rejection, Requirements,
    Review, RiskAcceptance, RuleId, Threshold, TokenUsage, Verdict,
};
use provledger::{Digest, EntryKind, PrincipalType, Role, SigningKey, Timestamp};

/// Illustrative entry hashes the records refer to.
pub fn h(b: u8) -> Digest {
    Digest::from_bytes([b; 32])
}

/// One record of every governance kind, in entry-kind order, plus a second AI output with
/// every optional field absent.
pub fn record_fixtures() -> Vec<(&'static str, Record)> {
    let enrolled = SigningKey::from_seed(&SEED_ENROLLED);
    vec![
        (
            "key enrollment (kind 2): key of seed 0x04 x 32 for a person with roles Requester and Approver",
            Record::KeyEnrollment(KeyEnrollment {
                public_key: enrolled.verifying_key().to_bytes(),
                principal_id: "bob@example.com".into(),
                display_name: "Bob".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Requester, Role::Approver],
                environments: vec![Environment::Experimentation, Environment::Production],
            }),
        ),
        (
            "key revocation (kind 3) of the key enrolled above (key_id = its key id)",
            Record::KeyRevocation(KeyRevocation {
                key_id: enrolled.key_id().0,
                reason: "laptop lost".into(),
            }),
        ),
        (
            "policy update (kind 4): two approvals, three rules, one action class with a threshold, \
             unclassified requirements present",
            Record::PolicyUpdate(Policy {
                min_approvals: 2,
                rules: vec![
                    RuleId::SelfApproval,
                    RuleId::ApprovalByAi,
                    RuleId::ExecutionAfterRejection,
                ],
                classes: vec![ActionClass {
                    name: "large refunds".into(),
                    actions: vec!["refund".into(), "payments.*".into()],
                    impact: ImpactFlags {
                        personal_data: true,
                        ..ImpactFlags::default()
                    },
                    threshold: Some(Threshold {
                        attribute: "amount_eur".into(),
                        at_least: 1000,
                    }),
                    require: Requirements {
                        boundary: DecisionBoundary::HumanApprovalRequired,
                        min_approvals: 3,
                        reviews: 1,
                        evidence: true,
                        cite_ai_outputs: true,
                    },
                }],
                unclassified: Some(Requirements {
                    boundary: DecisionBoundary::HumanApprovalRequired,
                    ..Requirements::default()
                }),
            }),
        ),
        (
            "AI output (kind 5) with config digest and token usage (both Options present)",
            Record::AiOutput(AiOutput {
                system: AiSystem {
                    provider_name: "anthropic".into(),
                    request_model: "model-x".into(),
                    version: "2026-01".into(),
                    config_digest: Some(Digest::from_bytes(arr32(0x60))),
                },
                task: "credit-limit-review".into(),
                input_digest: Digest::from_bytes(arr32(0x70)),
                output_digest: Digest::from_bytes(arr32(0x80)),
                summary: "raise the limit of account 42 to 8000 EUR".into(),
                usage: Some(TokenUsage {
                    input_tokens: 1200,
                    output_tokens: 350,
                }),
            }),
        ),
        (
            "AI output (kind 5) with every optional field empty or absent (Option tag 0)",
            Record::AiOutput(AiOutput {
                system: AiSystem {
                    provider_name: "internal".into(),
                    request_model: "scorer".into(),
                    version: String::new(),
                    config_digest: None,
                },
                task: "t".into(),
                input_digest: h(0x01),
                output_digest: h(0x02),
                summary: String::new(),
                usage: None,
            }),
        ),
        (
            "proposal (kind 6): human approval required, assistance, production, customer impacting and \
             personal data, action type and two attributes (a map, in key order), one evidence item, one AI \
             output cited by seq and hash; refs = the cited hashes",
            Record::Proposal(Proposal {
                action: "raise credit limit of account 42 to 8000 EUR".into(),
                action_type: "credit.limit".into(),
                attributes: BTreeMap::from([("amount_eur".into(), 8000), ("account".into(), 42)]),
                boundary: DecisionBoundary::HumanApprovalRequired,
                autonomy: Autonomy::Assistance,
                environment: Environment::Production,
                impact: ImpactFlags {
                    customer_impacting: true,
                    policy_change: false,
                    permission_change: false,
                    personal_data: true,
                },
                evidence: vec![Evidence {
                    name: "risk-report".into(),
                    uri: "s3://risk/2026/account-42.pdf".into(),
                    digest: Digest::from_bytes(arr32(0x90)),
                    description: "Q4 risk assessment".into(),
                }],
                rationale: "income verified; model recommends".into(),
                ai_outputs: vec![EntryRef { seq: 5, hash: h(0xa5) }],
            }),
        ),
        (
            "review (kind 7) of the AI output entry with verdict Concerns",
            Record::Review(Review {
                subject: h(0xa5),
                verdict: Verdict::Concerns,
                digests: vec![Digest::from_bytes(arr32(0x80))],
                comment: "summary omits the arrears".into(),
            }),
        ),
        (
            "approval (kind 8), expiring one day after T0 (Option tag 1)",
            approval_fixture(h(0xa6)),
        ),
        (
            "rejection (kind 9)",
            Record::Rejection(Rejection {
                proposal: h(0xa6),
                reason: "insufficient evidence".into(),
            }),
        ),
        (
            "execution (kind 10) relying on two approvals; refs = [proposal, approvals...]",
            Record::Execution(Execution {
                proposal: h(0xa6),
                approvals: vec![h(0xa8), h(0xa9)],
                action_taken: "limit set to 8000 EUR".into(),
                outcome: "ok".into(),
            }),
        ),
        (
            "override (kind 11): a reversal (bool true), gated by a proposal and one approval; refs = \
             [target, proposal, approvals...]",
            Record::Override(Override {
                target: h(0xaa),
                reversal: true,
                reason: "customer complaint upheld".into(),
                proposal: Some(h(0xab)),
                approvals: vec![h(0xac)],
            }),
        ),
        (
            "redaction (kind 12) of entry 5",
            Record::Redaction(Redaction {
                target_seq: 5,
                target: h(0xa5),
                reason: "GDPR art. 17 request #123".into(),
            }),
        ),
        (
            "risk acceptance (kind 13) of a review, with one evidence item; refs = [subject]",
            Record::RiskAcceptance(RiskAcceptance {
                subject: h(0xa7),
                risk: "summary omits the arrears".into(),
                scope: "limit 8000 EUR for account 42 only".into(),
                expires_at: Timestamp(1_767_312_000_000_000_000),
                evidence: vec![Evidence {
                    name: "arrears-report".into(),
                    uri: "s3://risk/2026/arrears-42.pdf".into(),
                    digest: Digest::from_bytes(arr32(0xb0)),
                    description: String::new(),
                }],
            }),
        ),
    ]
}

fn env_index(e: Environment) -> u32 {
    match e {
        Environment::Experimentation => 0,
        Environment::Production => 1,
    }
}

fn boundary_index(b: DecisionBoundary) -> u32 {
    match b {
        DecisionBoundary::AiMayAssist => 0,
        DecisionBoundary::HumanApprovalRequired => 1,
        DecisionBoundary::HumanOnly => 2,
    }
}

fn autonomy_index(a: Autonomy) -> u32 {
    match a {
        Autonomy::Automation => 0,
        Autonomy::Assistance => 1,
        Autonomy::Autonomy => 2,
    }
}

fn verdict_index(v: Verdict) -> u32 {
    match v {
        Verdict::Endorse => 0,
        Verdict::Concerns => 1,
        Verdict::Reject => 2,
    }
}

fn digests(w: &mut FieldWriter, field: &str, v: &[Digest]) {
    w.count(field, v.len());
    for (i, d) in v.iter().enumerate() {
        w.digest(&format!("{field}[{i}]"), d.as_bytes());
    }
}

/// A record written field by field from docs/FORMAT.md §6.2 (no kind tag: the entry kind says
/// which record it is).
pub fn record_by_hand(r: &Record) -> FieldWriter {
    let mut w = FieldWriter::new();
    match r {
        Record::KeyEnrollment(e) => {
            w.digest("public_key", &e.public_key);
            w.string("principal_id", &e.principal_id);
            w.string("display_name", &e.display_name);
            w.variant("principal_type", principal_type_index(e.principal_type));
            w.count("roles", e.roles.len());
            for (i, x) in e.roles.iter().enumerate() {
                w.variant(&format!("roles[{i}]"), role_index(*x));
            }
            w.count("environments", e.environments.len());
            for (i, x) in e.environments.iter().enumerate() {
                w.variant(&format!("environments[{i}]"), env_index(*x));
            }
        }
        Record::KeyRevocation(k) => {
            w.digest("key_id", k.key_id.as_bytes());
            w.string("reason", &k.reason);
        }
        Record::PolicyUpdate(p) => policy_by_hand(&mut w, "", p),
        Record::AiOutput(a) => {
            w.string("system.provider_name", &a.system.provider_name);
            w.string("system.request_model", &a.system.request_model);
            w.string("system.version", &a.system.version);
            w.option("system.config_digest", a.system.config_digest.is_some());
            if let Some(d) = &a.system.config_digest {
                w.digest("system.config_digest", d.as_bytes());
            }
            w.string("task", &a.task);
            w.digest("input_digest", a.input_digest.as_bytes());
            w.digest("output_digest", a.output_digest.as_bytes());
            w.string("summary", &a.summary);
            w.option("usage", a.usage.is_some());
            if let Some(u) = &a.usage {
                w.u64("usage.input_tokens", u.input_tokens);
                w.u64("usage.output_tokens", u.output_tokens);
            }
        }
        Record::Proposal(p) => {
            w.string("action", &p.action);
            w.string("action_type", &p.action_type);
            w.count("attributes", p.attributes.len());
            for (k, v) in &p.attributes {
                w.string(&format!("attributes[{k}] key"), k);
                w.u64(&format!("attributes[{k}] value"), *v);
            }
            w.variant("boundary", boundary_index(p.boundary));
            w.variant("autonomy", autonomy_index(p.autonomy));
            w.variant("environment", env_index(p.environment));
            impact_by_hand(&mut w, "impact.", &p.impact);
            evidence(&mut w, "evidence", &p.evidence);
            w.string("rationale", &p.rationale);
            w.count("ai_outputs", p.ai_outputs.len());
            for (i, r) in p.ai_outputs.iter().enumerate() {
                w.u64(&format!("ai_outputs[{i}].seq"), r.seq);
                w.digest(&format!("ai_outputs[{i}].hash"), r.hash.as_bytes());
            }
        }
        Record::Review(v) => {
            w.digest("subject", v.subject.as_bytes());
            w.variant("verdict", verdict_index(v.verdict));
            digests(&mut w, "digests", &v.digests);
            w.string("comment", &v.comment);
        }
        Record::Approval(a) => {
            w.digest("proposal", a.proposal.as_bytes());
            w.string("scope", &a.scope);
            w.option("expires_at", a.expires_at.is_some());
            if let Some(t) = a.expires_at {
                w.u64("expires_at (ns)", t.0);
            }
        }
        Record::Rejection(x) => {
            w.digest("proposal", x.proposal.as_bytes());
            w.string("reason", &x.reason);
        }
        Record::Execution(x) => {
            w.digest("proposal", x.proposal.as_bytes());
            digests(&mut w, "approvals", &x.approvals);
            w.string("action_taken", &x.action_taken);
            w.string("outcome", &x.outcome);
        }
        Record::Override(o) => {
            w.digest("target", o.target.as_bytes());
            w.bool("reversal", o.reversal);
            w.string("reason", &o.reason);
            w.option("proposal", o.proposal.is_some());
            if let Some(p) = &o.proposal {
                w.digest("proposal", p.as_bytes());
            }
            digests(&mut w, "approvals", &o.approvals);
        }
        Record::Redaction(x) => {
            w.u64("target_seq", x.target_seq);
            w.digest("target", x.target.as_bytes());
            w.string("reason", &x.reason);
        }
        Record::RiskAcceptance(r) => {
            w.digest("subject", r.subject.as_bytes());
            w.string("risk", &r.risk);
            w.string("scope", &r.scope);
            w.u64("expires_at (ns)", r.expires_at.0);
            evidence(&mut w, "evidence", &r.evidence);
        }
    }
    w
}

fn evidence(w: &mut FieldWriter, field: &str, items: &[Evidence]) {
    w.count(field, items.len());
    for (i, e) in items.iter().enumerate() {
        w.string(&format!("{field}[{i}].name"), &e.name);
        w.string(&format!("{field}[{i}].uri"), &e.uri);
        w.digest(&format!("{field}[{i}].digest"), e.digest.as_bytes());
        w.string(&format!("{field}[{i}].description"), &e.description);
    }
}

pub fn gen_records() -> J {
    let mut cases = Vec::new();
    for (desc, r) in record_fixtures() {
        let kind = r.entry_kind();
        let payload = r.encode().expect("encodes");
        let hand = record_by_hand(&r);
        assert_eq!(
            hand.bytes,
            payload,
            "FORMAT.md's {} layout disagrees with bincode",
            kind.name()
        );
        let json = serde_json::to_string(&r).expect("JSON");
        cases.push(obj([
            ("desc", desc.into()),
            ("kind", kind.name().into()),
            ("entry_kind", u64::from(kind.code()).into()),
            ("content_type", Record::content_type(kind).into()),
            ("json", json.into()),
            (
                "refs",
                r.refs().iter().map(|d| hex(d.as_bytes())).collect::<Vec<J>>().into(),
            ),
            ("payload", hex(&payload)),
            ("fields", hand.to_json()),
        ]));
    }
    let fixtures = record_fixtures();
    let payload_of = |i: usize| fixtures[i].1.encode().expect("encodes");
    let (approval, review, proposal, overriding, policy) = (
        payload_of(7),
        payload_of(6),
        payload_of(5),
        payload_of(10),
        payload_of(2),
    );
    let neg = |desc: &str, kind: EntryKind, b: Vec<u8>, err: &str| {
        obj([
            ("desc", desc.into()),
            ("kind", kind.name().into()),
            ("entry_kind", u64::from(kind.code()).into()),
            ("payload", hex(&b)),
            ("want_err", err.into()),
        ])
    };
    let with = |base: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.to_vec();
        f(&mut b);
        b
    };
    let tag_at = approval.len() - 9; // Option tag of expires_at, then the u64
    let act_len = "raise credit limit of account 42 to 8000 EUR".len();
    // action, action_type, then the attributes map: count, ("account", 42), ("amount_eur", 8000).
    let attrs_at = 8 + act_len + 8 + "credit.limit".len();
    let (first, second) = (8 + "account".len() + 8, 8 + "amount_eur".len() + 8);
    let boundary_at = attrs_at + 8 + first + second;
    let reversal_at = 32;
    cases.extend([
        neg(
            "approval with one trailing byte",
            EntryKind::Approval,
            with(&approval, &|b| b.push(0)),
            "TrailingBytes",
        ),
        neg(
            "approval truncated by one byte (inside expires_at)",
            EntryKind::Approval,
            approval[..approval.len() - 1].to_vec(),
            "Payload",
        ),
        neg(
            "approval truncated to its proposal hash alone",
            EntryKind::Approval,
            approval[..32].to_vec(),
            "Payload",
        ),
        neg(
            "approval whose expires_at Option tag is 2",
            EntryKind::Approval,
            with(&approval, &|b| b[tag_at] = 2),
            "Payload",
        ),
        neg(
            "approval whose expires_at Option tag is 0 but the u64 still follows",
            EntryKind::Approval,
            with(&approval, &|b| b[tag_at] = 0),
            "TrailingBytes",
        ),
        neg(
            "review with verdict variant 3 (undefined)",
            EntryKind::Review,
            with(&review, &|b| b[32] = 3),
            "Payload",
        ),
        neg(
            "proposal with boundary variant 3 (undefined)",
            EntryKind::Proposal,
            with(&proposal, &|b| b[boundary_at] = 3),
            "Payload",
        ),
        neg(
            "proposal whose attributes are not in key order (amount_eur before account): a map's keys \
             must strictly increase",
            EntryKind::Proposal,
            with(&proposal, &|b| {
                let (a, rest) = (attrs_at + 8, attrs_at + 8 + first);
                let entries: Vec<u8> = b[rest..rest + second].iter().chain(&b[a..rest]).copied().collect();
                b[a..rest + second].copy_from_slice(&entries);
            }),
            "Invalid",
        ),
        neg(
            "proposal whose attributes name one key twice",
            EntryKind::Proposal,
            with(&proposal, &|b| {
                let a = attrs_at + 8;
                let dup = b[a..a + first].to_vec();
                b.splice(a + first..a + first + second, dup);
            }),
            "Invalid",
        ),
        neg(
            "override whose reversal bool is 2",
            EntryKind::Override,
            with(&overriding, &|b| b[reversal_at] = 2),
            "Payload",
        ),
        neg(
            "policy update with rule variant 23 (undefined)",
            EntryKind::PolicyUpdate,
            with(&policy, &|b| b[9..13].copy_from_slice(&23u32.to_le_bytes())),
            "Payload",
        ),
        neg(
            "an approval payload read as kind 1 (application carries no governance record)",
            EntryKind::Application,
            approval.clone(),
            "InvalidTag",
        ),
    ]);
    file_obj(
        "Governance record payloads (docs/FORMAT.md §6.2): the payload of an entry of kind 2..=13 is the record \
         in the bincode layout of §6 WITHOUT a kind tag (the entry kind says which record it is). Digest = 32 \
         raw bytes; Option = u8 tag 0 (None) or 1 (Some, then the value); bool = one byte 0 or 1; Timestamp = \
         u64 ns. 'json' is the same record in the CLI's JSON form (a \"kind\" field, hex digests); 'refs' are \
         the statement refs the record implies (Record::refs); 'content_type' the statement content type. \
         want_err names the DecodeError variant of Record::decode(entry_kind, payload).",
        cases,
    )
}
