//! Documentation that cannot drift: the JSON Schemas under docs/schemas/ are generated from the
//! record types (regenerate with `PROVLEDGER_UPDATE_DOCS=1 cargo test --test governance_docs`),
//! every JSON example in docs/GOVERNANCE.md parses as what it claims to be, unknown and missing
//! fields are errors that name the field, and the rule catalogue of docs/GOVERNANCE.md (each
//! rule's violating example and the exact violation printed) is what the library reports.

#![cfg(feature = "schema")]

mod common;

use std::path::{Path, PathBuf};

use provledger::record::{record_schema, schema_kinds, Policy, Record, SchemaTarget};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("PROVLEDGER_UPDATE_DOCS").is_some()
}

/// Compares `path` with `want`, or rewrites it when updating.
fn fresh(path: &Path, want: &str) -> Option<String> {
    if updating() {
        std::fs::write(path, want).unwrap();
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(have) if have == want => None,
        _ => Some(path.display().to_string()),
    }
}

#[test]
fn json_schemas_are_generated_from_the_record_types() {
    let dir = root().join("docs/schemas");
    let mut stale = Vec::new();
    let mut names = Vec::new();
    for target in schema_kinds() {
        let text = serde_json::to_string_pretty(&record_schema(target)).unwrap() + "\n";
        names.push(target.file_name());
        stale.extend(fresh(&dir.join(target.file_name()), &text));
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    names.sort();
    assert_eq!(present, names, "docs/schemas/ holds exactly one schema per document");
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: run PROVLEDGER_UPDATE_DOCS=1 cargo test --test governance_docs"
    );
}

// ---------------------------------------------------------------------------------------------
// Examples in docs/GOVERNANCE.md

fn governance_md() -> String {
    std::fs::read_to_string(root().join("docs/GOVERNANCE.md")).unwrap()
}

/// Every line of every ```json block of the text that is a JSON object.
fn json_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        match line.trim() {
            "```json" => inside = true,
            "```" => inside = false,
            l if inside && l.starts_with('{') => out.push(l.to_owned()),
            _ => {}
        }
    }
    out
}

/// Parses a record line as `provledger append` does: `refs` set aside, then the library's
/// JSON form of [`Record`].
fn parse_record_line(line: &Value) -> Result<Record, String> {
    let mut fields = line.as_object().cloned().ok_or("not an object")?;
    if let Some(refs) = fields.remove("refs") {
        let ok = refs.as_array().is_some_and(|a| {
            a.iter()
                .all(|r| r.as_str().is_some_and(|h| h.parse::<provledger::Digest>().is_ok()))
        });
        if !ok {
            return Err(format!("bad refs {refs}"));
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())
}

#[test]
fn every_json_example_in_governance_md_parses_and_every_kind_has_one() {
    let doc = governance_md();
    let mut kinds = std::collections::BTreeSet::new();
    let lines = json_lines(&doc);
    assert!(lines.len() > 20, "the examples were found");
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v.get("rule").is_some() {
            continue; // a violation as printed (checked by the rule catalogue test)
        }
        match v.get("kind").and_then(Value::as_str) {
            Some(kind) => {
                let r = parse_record_line(&v).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(r.entry_kind().name(), kind);
                kinds.insert(kind.to_owned());
            }
            None => {
                let _: Policy = serde_json::from_value(v).unwrap_or_else(|e| panic!("{line}: not a policy: {e}"));
            }
        }
    }
    for target in schema_kinds() {
        if let SchemaTarget::Record(kind) = target {
            assert!(
                kinds.contains(kind.name()),
                "GOVERNANCE.md has no full example of a {} line",
                kind.name()
            );
        }
    }
}

#[test]
fn unknown_and_missing_fields_are_errors_that_name_the_field() {
    let doc = governance_md();
    let mut checked = 0;
    for target in schema_kinds() {
        let SchemaTarget::Record(kind) = target else { continue };
        let example = json_lines(&doc)
            .into_iter()
            .map(|l| serde_json::from_str::<Value>(&l).unwrap())
            .find(|v| v["kind"] == kind.name())
            .unwrap_or_else(|| panic!("no example of {}", kind.name()));
        let schema = record_schema(target);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in required.iter().filter(|f| **f != "kind") {
            let mut v = example.clone();
            v.as_object_mut().unwrap().remove(*field);
            let e = parse_record_line(&v).expect_err("a required field is missing");
            assert!(e.contains(&format!("missing field `{field}`")), "{}: {e}", kind.name());
            checked += 1;
        }
        let mut v = example.clone();
        v.as_object_mut()
            .unwrap()
            .insert("frobnicate".into(), Value::Bool(true));
        let e = parse_record_line(&v).expect_err("unknown field");
        assert!(e.contains("unknown field `frobnicate`"), "{}: {e}", kind.name());
    }
    assert!(checked >= 20, "required fields were checked ({checked})");
    // Nested objects too: a misspelt impact flag, a misspelt class requirement.
    let p = r#"{"kind":"proposal","action":"x","boundary":"ai_may_assist","autonomy":"automation","environment":"production","impact":{"permision_change":true}}"#;
    let e = parse_record_line(&serde_json::from_str(p).unwrap()).unwrap_err();
    assert!(e.contains("unknown field `permision_change`"), "{e}");
    let policy = r#"{"min_approvals":1,"rules":[],"classes":[{"name":"x","require":{"reviewz":1}}]}"#;
    let e = serde_json::from_str::<Policy>(policy).unwrap_err().to_string();
    assert!(e.contains("unknown field `reviewz`"), "{e}");
    let genesis = r#"{"name":"x","anchors":[],"policy":{"min_approvals":1,"rules":[]},"extra":1}"#;
    let e = serde_json::from_str::<provledger::Genesis>(genesis)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `extra`"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// The rule catalogue: for each rule, a ledger that breaks it and what `verify --policy --json`
// reports, generated into docs/GOVERNANCE.md between `<!-- example RULE -->` and
// `<!-- end example -->`.

mod catalogue {
    use std::collections::HashMap;

    use provledger::record::{
        ActionClass, DecisionBoundary, Environment, Policy, PrincipalType, Record, Requirements, Role, RuleId,
        Threshold, TrustAnchorKey,
    };
    use provledger::verify::Violation;
    use provledger::{Digest, Draft, Genesis, SigningKey};
    use serde_json::Value;

    use super::parse_record_line;
    use crate::common::gov::{ledger_from, report_of};

    /// The cast: name, seed, principal id, type, roles, environments (`None`: a genesis anchor).
    type Member = (
        &'static str,
        u8,
        &'static str,
        PrincipalType,
        &'static [Role],
        Option<&'static [Environment]>,
    );

    const PROD: &[Environment] = &[Environment::Production];
    const LAB: &[Environment] = &[Environment::Experimentation];

    pub const CAST: &[Member] = &[
        (
            "svc",
            1,
            "svc:decisions",
            PrincipalType::Service,
            &[Role::Admin, Role::Operator],
            None,
        ),
        (
            "ai",
            2,
            "credit-model",
            PrincipalType::SoftwareAgent,
            &[Role::AiAgent],
            None,
        ),
        (
            "robo",
            3,
            "robo-approver",
            PrincipalType::SoftwareAgent,
            &[Role::AiAgent, Role::Approver],
            None,
        ),
        (
            "bob",
            4,
            "bob@bank.example",
            PrincipalType::Person,
            &[Role::Approver],
            None,
        ),
        (
            "carol",
            5,
            "carol@bank.example",
            PrincipalType::Person,
            &[Role::Requester, Role::Approver],
            None,
        ),
        ("bot", 6, "change-bot", PrincipalType::Service, &[Role::Approver], None),
        (
            "rita",
            7,
            "rita@bank.example",
            PrincipalType::Person,
            &[Role::Requester],
            Some(PROD),
        ),
        (
            "dave",
            8,
            "dave@bank.example",
            PrincipalType::Person,
            &[Role::Reviewer],
            Some(PROD),
        ),
        (
            "lab",
            9,
            "lab-model",
            PrincipalType::SoftwareAgent,
            &[Role::AiAgent],
            Some(LAB),
        ),
        (
            "eve",
            10,
            "eve@bank.example",
            PrincipalType::Person,
            &[Role::Approver],
            Some(PROD),
        ),
    ];

    fn key(name: &str) -> SigningKey {
        let m = CAST
            .iter()
            .find(|m| m.0 == name)
            .unwrap_or_else(|| panic!("no cast member {name}"));
        SigningKey::from_seed(&[m.1; 32])
    }

    /// The reference policy of the catalogue: every rule, one approval, two action classes.
    pub fn reference_policy() -> Policy {
        Policy {
            classes: vec![
                ActionClass {
                    name: "permission grants".into(),
                    actions: vec!["permission.*".into()],
                    impact: Default::default(),
                    threshold: None,
                    require: Requirements {
                        boundary: DecisionBoundary::HumanApprovalRequired,
                        min_approvals: 1,
                        ..Requirements::default()
                    },
                },
                ActionClass {
                    name: "large refunds".into(),
                    actions: vec!["refund".into()],
                    impact: Default::default(),
                    threshold: Some(Threshold {
                        attribute: "amount_eur".into(),
                        at_least: 1000,
                    }),
                    require: Requirements {
                        boundary: DecisionBoundary::HumanApprovalRequired,
                        min_approvals: 2,
                        reviews: 1,
                        evidence: true,
                        cite_ai_outputs: true,
                    },
                },
            ],
            ..Policy::default()
        }
    }

    /// Entries 1–3 of every example ledger: the enrolled part of the cast.
    pub fn enrolled() -> Vec<&'static Member> {
        CAST.iter().filter(|m| m.5.is_some() && m.0 != "eve").collect()
    }

    fn genesis() -> Genesis {
        let anchors = CAST
            .iter()
            .filter(|m| m.5.is_none())
            .map(|m| TrustAnchorKey {
                public_key: key(m.0).verifying_key().to_bytes(),
                principal_id: m.2.into(),
                principal_type: m.3,
                roles: m.4.to_vec(),
            })
            .collect();
        Genesis {
            name: "decisions".into(),
            anchors,
            policy: reference_policy(),
        }
    }

    fn enrollment_line(m: &Member) -> String {
        let v = serde_json::json!({
            "kind": "key_enrollment",
            "public_key": key(m.0).verifying_key().to_hex(),
            "principal_id": m.2,
            "principal_type": m.3,
            "roles": m.4,
            "environments": m.5.unwrap_or_default(),
        });
        v.to_string()
    }

    /// One entry of an example: who co-signs it (beside `svc`, which appends every entry) and
    /// its `append` line, where `<N>` stands for the entry hash of entry N, `<key NAME>` for the
    /// key id and `<pub NAME>` for the public key of a cast member.
    pub type Step = (&'static [&'static str], &'static str);

    fn substitute(line: &str, hashes: &[Digest]) -> String {
        let mut out = line.to_owned();
        for m in CAST {
            out = out.replace(&format!("<key {}>", m.0), &key(m.0).key_id().to_string());
            out = out.replace(&format!("<pub {}>", m.0), &key(m.0).verifying_key().to_hex());
        }
        for (i, h) in hashes.iter().enumerate().rev() {
            out = out.replace(&format!("<{i}>"), &h.to_hex());
        }
        out
    }

    /// Builds the example ledger (cast, then `steps`) and verifies it with the policy on.
    pub fn run(steps: &[Step]) -> Vec<Violation> {
        let svc = key("svc");
        let (dir, ledger) = ledger_from(&genesis(), &svc);
        let mut hashes = vec![ledger.head()];
        let setup: Vec<(Vec<&str>, String)> = enrolled().iter().map(|m| (vec![], enrollment_line(m))).collect();
        let all = setup
            .into_iter()
            .chain(steps.iter().map(|(by, l)| (by.to_vec(), (*l).to_owned())));
        for (by, line) in all {
            let text = substitute(&line, &hashes);
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let draft = match v.get("kind").and_then(Value::as_str) {
                None | Some("application") => Draft::application("application/json", text.into_bytes()),
                Some(_) => {
                    let rec: Record = parse_record_line(&v).unwrap_or_else(|e| panic!("{text}: {e}"));
                    let refs: Vec<Digest> = v["refs"]
                        .as_array()
                        .map(|a| a.iter().map(|r| r.as_str().unwrap().parse().unwrap()).collect())
                        .unwrap_or_default();
                    let own = rec.refs();
                    let extra = refs.into_iter().filter(|r| !own.contains(r)).collect();
                    Draft::record(&rec).unwrap().with_refs(extra)
                }
            };
            let draft = by.iter().fold(draft, |d, name| d.cosigned_by(key(name)));
            hashes.push(ledger.append(draft).unwrap().entry_hash);
        }
        drop(ledger);
        let report = report_of(dir.path(), &svc, true, None);
        assert!(report.is_ok(), "{:?}", report.failure);
        report.violations
    }

    const P_PROD: &str = r#""boundary":"human_approval_required","autonomy":"automation","environment":"production""#;

    /// Each rule's example: the entries appended after the cast.
    pub fn examples() -> HashMap<RuleId, Vec<Step>> {
        let proposal = format!(
            r#"{{"kind":"proposal","action":"grant role payments-admin to user 42","action_type":"permission.grant",{P_PROD},"impact":{{"permission_change":true}}}}"#
        );
        let proposal: &'static str = Box::leak(proposal.into_boxed_str());
        let refund = |extra: &str| -> &'static str {
            let base = r#"{"kind":"proposal","action":"refund 5,000 EUR to customer 8812","action_type":"refund","attributes":{"amount_eur":5000},"boundary":"human_approval_required","environment":"production""#;
            Box::leak(format!("{base},{extra}}}").into_boxed_str())
        };
        let approve: &'static str = r#"{"kind":"approval","proposal":"<4>","scope":"as proposed"}"#;
        let execute: &'static str =
            r#"{"kind":"execution","proposal":"<4>","approvals":["<5>"],"action_taken":"role granted"}"#;
        let concerns: &'static str = r#"{"kind":"review","subject":"<4>","verdict":"concerns","comment":"user 42 already holds payments-operator"}"#;
        HashMap::from([
            (
                RuleId::GatedImpact,
                vec![(
                    &["rita"][..],
                    r#"{"kind":"proposal","action":"grant role payments-admin to user 42","boundary":"ai_may_assist","autonomy":"assistance","environment":"production","impact":{"permission_change":true}}"#,
                )],
            ),
            (
                RuleId::ApprovalRequired,
                vec![
                    (&["rita"][..], proposal),
                    (
                        &[][..],
                        r#"{"kind":"execution","proposal":"<4>","approvals":[],"action_taken":"role granted"}"#,
                    ),
                ],
            ),
            (
                RuleId::SelfApproval,
                vec![(&["carol"][..], proposal), (&["carol"][..], approve)],
            ),
            (
                RuleId::ApprovalByAi,
                vec![(&["rita"][..], proposal), (&["robo"][..], approve)],
            ),
            (
                RuleId::ApprovalNotPerson,
                vec![(&["rita"][..], proposal), (&["bot"][..], approve)],
            ),
            (
                RuleId::ApprovalAfterExecution,
                vec![
                    (&["rita"][..], proposal),
                    (
                        &[][..],
                        r#"{"kind":"execution","proposal":"<4>","approvals":[],"action_taken":"role granted"}"#,
                    ),
                    (&["bob"][..], approve),
                ],
            ),
            (
                RuleId::ApprovalWrongProposal,
                vec![
                    (&["rita"][..], proposal),
                    (&["rita"][..], proposal),
                    (&["bob"][..], approve),
                    (
                        &[][..],
                        r#"{"kind":"execution","proposal":"<5>","approvals":["<6>"],"action_taken":"role granted"}"#,
                    ),
                ],
            ),
            (
                RuleId::ApprovalExpired,
                vec![
                    (&["rita"][..], proposal),
                    (
                        &["bob"][..],
                        r#"{"kind":"approval","proposal":"<4>","scope":"as proposed","expires_at":1767225600000000000}"#,
                    ),
                    (&[][..], execute),
                ],
            ),
            (
                RuleId::ApprovalRevoked,
                vec![
                    (&["rita"][..], proposal),
                    (&["bob"][..], approve),
                    (
                        &[][..],
                        r#"{"kind":"key_revocation","key_id":"<key bob>","reason":"left the company"}"#,
                    ),
                    (&[][..], execute),
                ],
            ),
            (
                RuleId::HumanOnlyNotByPerson,
                vec![(
                    &["ai"][..],
                    r#"{"kind":"proposal","action":"close account 8812","boundary":"human_only","autonomy":"autonomy","environment":"production"}"#,
                )],
            ),
            (
                RuleId::KeyOutsideEnvironment,
                vec![(
                    &["lab"][..],
                    r#"{"kind":"proposal","action":"tune fraud threshold","boundary":"ai_may_assist","autonomy":"autonomy","environment":"production"}"#,
                )],
            ),
            (
                RuleId::ProductionReliesOnExperimentation,
                vec![
                    (
                        &["lab"][..],
                        r#"{"kind":"ai_output","system":{"provider_name":"internal","request_model":"fraud-v2-candidate"},"task":"score","input_digest":"1111111111111111111111111111111111111111111111111111111111111111","output_digest":"2222222222222222222222222222222222222222222222222222222222222222"}"#,
                    ),
                    (
                        &["rita"][..],
                        r#"{"kind":"proposal","action":"block card 4411","boundary":"human_approval_required","autonomy":"assistance","environment":"production","ai_outputs":[{"seq":4,"hash":"<4>"}]}"#,
                    ),
                ],
            ),
            (
                RuleId::UngatedGovernanceChange,
                vec![(
                    &[][..],
                    r#"{"kind":"key_enrollment","public_key":"<pub eve>","principal_id":"eve@bank.example","principal_type":"person","roles":["approver"],"environments":["production"]}"#,
                )],
            ),
            (
                RuleId::ExecutionAfterRejection,
                vec![
                    (&["rita"][..], proposal),
                    (
                        &["bob"][..],
                        r#"{"kind":"rejection","proposal":"<4>","reason":"too broad"}"#,
                    ),
                    (
                        &[][..],
                        r#"{"kind":"execution","proposal":"<4>","approvals":[],"action_taken":"role granted"}"#,
                    ),
                ],
            ),
            (
                RuleId::BoundaryBelowClass,
                vec![(
                    &["ai"][..],
                    r#"{"kind":"proposal","action":"grant role admin to credit-model","action_type":"permission.grant.admin","boundary":"ai_may_assist","autonomy":"autonomy","environment":"production"}"#,
                )],
            ),
            (
                RuleId::EvidenceRequired,
                vec![(&["rita"][..], refund(r#""autonomy":"automation""#))],
            ),
            (
                RuleId::ReviewRequired,
                vec![
                    (
                        &["rita"][..],
                        refund(
                            r#""autonomy":"automation","evidence":[{"name":"CASE-7","uri":"https://cases.example/7","digest":"3333333333333333333333333333333333333333333333333333333333333333"}]"#,
                        ),
                    ),
                    (&["bob"][..], approve),
                ],
            ),
            (
                RuleId::AiProvenance,
                vec![(
                    &["rita"][..],
                    refund(
                        r#""autonomy":"assistance","evidence":[{"name":"CASE-7","uri":"https://cases.example/7","digest":"3333333333333333333333333333333333333333333333333333333333333333"}]"#,
                    ),
                )],
            ),
            (
                RuleId::OverrideReasonMissing,
                vec![
                    (&["rita"][..], proposal),
                    (
                        &[][..],
                        r#"{"kind":"override","target":"<4>","reversal":false,"reason":""}"#,
                    ),
                ],
            ),
            (
                RuleId::OverrideByAi,
                vec![
                    (&["rita"][..], proposal),
                    (&["bob"][..], approve),
                    (&[][..], execute),
                    (
                        &["ai"][..],
                        r#"{"kind":"override","target":"<6>","reversal":true,"reason":"anomaly score too high"}"#,
                    ),
                ],
            ),
            (
                RuleId::OverrideUngated,
                vec![
                    (&["rita"][..], proposal),
                    (&["bob"][..], approve),
                    (&[][..], execute),
                    (
                        &[][..],
                        r#"{"kind":"override","target":"<6>","reversal":true,"reason":"granted by mistake"}"#,
                    ),
                ],
            ),
            (
                RuleId::RiskInvalid,
                vec![
                    (&["rita"][..], proposal),
                    (&["dave"][..], concerns),
                    (
                        &["robo"][..],
                        r#"{"kind":"risk_acceptance","subject":"<5>","risk":"overlapping roles","scope":"user 42 only","expires_at":4102444800000000000}"#,
                    ),
                ],
            ),
            (
                RuleId::RiskUnaccepted,
                vec![
                    (&["rita"][..], proposal),
                    (&["dave"][..], concerns),
                    (
                        &["bob"][..],
                        r#"{"kind":"approval","proposal":"<4>","scope":"as proposed"}"#,
                    ),
                ],
            ),
        ])
    }

    /// The Markdown of one example: the entries appended, then the violations as printed.
    pub fn render(steps: &[Step], violations: &[Violation]) -> String {
        let first = 1 + enrolled().len();
        let mut out = String::from("```text\n");
        for (i, (by, line)) in steps.iter().enumerate() {
            let signers = std::iter::once("svc")
                .chain(by.iter().copied())
                .collect::<Vec<_>>()
                .join("+");
            out.push_str(&format!("{:<3}{signers:<11}{line}\n", first + i));
        }
        out.push_str("```\n\n`verify --policy --json` reports (in `violations`):\n\n```json\n");
        for v in violations {
            out.push_str(&serde_json::to_string(v).unwrap());
            out.push('\n');
        }
        out.push_str("```\n");
        out
    }
}

#[test]
fn the_rule_catalogue_in_governance_md_is_what_verify_reports() {
    let examples = catalogue::examples();
    let mut doc = governance_md();
    let mut missing = Vec::new();
    for rule in provledger::record::RuleId::ALL {
        let steps = examples.get(&rule).unwrap_or_else(|| panic!("no example for {rule}"));
        let violations = catalogue::run(steps);
        assert!(
            violations.iter().any(|v| v.rule == rule),
            "the example of {rule} does not break it: {violations:?}"
        );
        let begin = format!("<!-- example {} -->\n", rule.id());
        let end = "<!-- end example -->";
        let Some(at) = doc.find(&begin) else {
            missing.push(rule.id());
            continue;
        };
        let body_at = at + begin.len();
        let stop = body_at + doc[body_at..].find(end).expect("end marker");
        let want = catalogue::render(steps, &violations);
        doc.replace_range(body_at..stop, &want);
    }
    assert!(
        missing.is_empty(),
        "GOVERNANCE.md lacks the example markers of {missing:?}"
    );
    let path = root().join("docs/GOVERNANCE.md");
    assert!(
        fresh(&path, &doc).is_none(),
        "the rule catalogue of docs/GOVERNANCE.md is stale: run PROVLEDGER_UPDATE_DOCS=1 cargo test --test governance_docs"
    );
}

/// The cast and reference policy of the catalogue, as the docs print them.
#[test]
fn the_catalogue_cast_in_governance_md_is_current() {
    let doc = governance_md();
    let shown = json_lines(&doc)
        .iter()
        .filter_map(|l| serde_json::from_str::<Policy>(l).ok())
        .any(|p| p == catalogue::reference_policy());
    assert!(shown, "GOVERNANCE.md must show the reference policy of the catalogue");
    for m in catalogue::CAST {
        assert!(doc.contains(m.2), "GOVERNANCE.md must name {}", m.2);
    }
}
