//! Governance: for every policy rule a ledger that breaks it (caught with the right entries)
//! and one that complies; key roles and revocation as integrity checks; erasure. The attacks
//! of issue #10 are in tests/governance_attacks.rs, action classes and the other policy v2
//! rules in tests/governance_classes.rs.

mod common;

use std::path::Path;

use common::gov::{
    ai_output, approval, enrollment, execution, gated, proposal, rejection, revocation, seq, World, BOTH,
};
use common::key;
use provledger::record::{
    Approval, Autonomy, DecisionBoundary, Environment, Policy, PrincipalType, Record, Role, RuleId,
};
use provledger::storage::StdBackend;
use provledger::{verify_opts, Check, Digest, Draft, Ledger, Options, Timestamp, TrustAnchor, VerifyOptions};

fn world() -> World {
    World::new()
}

fn world_with(policy: Policy) -> World {
    World::with(policy)
}

#[test]
fn a_compliant_decision_path_has_no_violations() {
    let mut w = world();
    w.compliant_flow();
    let r = w.report();
    assert!(r.is_compliant(), "{:?} {:?}", r.failure, r.violations);
}

#[test]
fn gated_impact_in_production_needs_human_approval() {
    let mut w = world();
    let req = w.req.clone();
    let bad = proposal(
        Environment::Production,
        DecisionBoundary::AiMayAssist,
        Autonomy::Assistance,
        &[],
    );
    let p = w.add(&bad, &[&req]);
    let fine = proposal(
        Environment::Experimentation,
        DecisionBoundary::AiMayAssist,
        Autonomy::Assistance,
        &[],
    );
    w.add(&fine, &[&req]);
    assert_eq!(w.violations(), vec![(RuleId::GatedImpact, vec![seq(&p)])]);
}

#[test]
fn self_approval_is_caught_and_does_not_count() {
    let mut w = world();
    let carol = w.carol.clone();
    let p = w.add(&gated(Environment::Production), &[&carol]);
    let a = w.add(&approval(&p), &[&carol]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::SelfApproval, vec![seq(&p), seq(&a)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn separation_of_duties_cannot_be_switched_off() {
    let lax = Policy {
        min_approvals: 1,
        rules: vec![],
        ..Policy::default()
    };
    let mut w = world_with(lax);
    let carol = w.carol.clone();
    let p = w.add(&gated(Environment::Production), &[&carol]);
    let a = w.add(&approval(&p), &[&carol]);
    assert_eq!(w.violations(), vec![(RuleId::SelfApproval, vec![seq(&p), seq(&a)])]);
}

#[test]
fn an_ai_agent_cannot_approve() {
    let mut w = world();
    let (req, robo) = (w.req.clone(), w.robo.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&p), &[&robo]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalByAi, vec![seq(&p), seq(&a)]),
            (RuleId::ApprovalNotPerson, vec![seq(&p), seq(&a)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn an_approval_after_the_execution_is_caught() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let e = w.add(&execution(&p, &[]), &[]);
    let a = w.add(&approval(&p), &[&appr]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
            (RuleId::ApprovalAfterExecution, vec![seq(&e), seq(&a)]),
        ]
    );
}

#[test]
fn an_approval_of_another_proposal_does_not_authorise() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p1 = w.add(&gated(Environment::Production), &[&req]);
    let p2 = w.add(&gated(Environment::Production), &[&req]);
    let a1 = w.add(&approval(&p1), &[&appr]);
    let e = w.add(&execution(&p2, &[&a1]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalWrongProposal, vec![seq(&a1), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&p2), seq(&e)]),
        ]
    );
}

#[test]
fn an_expired_approval_does_not_authorise() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let stale = Record::Approval(Approval {
        proposal: p.entry_hash,
        scope: "as proposed".into(),
        expires_at: Some(Timestamp(1)),
    });
    let a = w.add(&stale, &[&appr]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalExpired, vec![seq(&a), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn an_approval_by_a_key_revoked_before_execution_does_not_authorise() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&p), &[&appr]);
    let r = w.add(&revocation(&appr), &[]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalRevoked, vec![seq(&a), seq(&r), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn a_revoked_key_signing_later_fails_integrity() {
    let mut w = world();
    let req = w.req.clone();
    w.add(&revocation(&req), &[]);
    w.refused(&gated(Environment::Production), &[&req]);
    w.unchecked();
    let p = w.add(&gated(Environment::Production), &[&req]);
    let f = w.report().failure.expect("a signature after revocation");
    assert_eq!((f.check, f.seq), (Check::Key, Some(seq(&p))));
    assert!(f.message.contains("revoked"), "{}", f.message);
}

#[test]
fn a_missing_role_fails_integrity() {
    let mut w = world();
    let req = w.req.clone();
    let p = w.add(&gated(Environment::Production), &[&req]);
    // Signed by the operator (admin, operator) and the requester: nobody with the approver role.
    w.refused(&approval(&p), &[&req]);
    w.unchecked();
    let a = w.add(&approval(&p), &[&req]);
    let f = w.report().failure.expect("approval without an approver");
    assert_eq!((f.check, f.seq), (Check::Key, Some(seq(&a))));
}

#[test]
fn a_key_acting_outside_its_environments_is_caught() {
    let mut w = world();
    let intern = key(40);
    let rec = enrollment(
        &intern,
        "intern@bank.example",
        PrincipalType::Person,
        &[Role::Requester],
        &[Environment::Experimentation],
    );
    w.add(&rec, &[]);
    w.add(&gated(Environment::Experimentation), &[&intern]);
    let p = w.add(&gated(Environment::Production), &[&intern]);
    assert_eq!(w.violations(), vec![(RuleId::KeyOutsideEnvironment, vec![seq(&p)])]);
}

#[test]
fn human_only_decisions_need_a_person() {
    let mut w = world();
    let (req, robo, appr) = (w.req.clone(), w.robo.clone(), w.appr.clone());
    let auto = proposal(
        Environment::Production,
        DecisionBoundary::HumanOnly,
        Autonomy::Autonomy,
        &[],
    );
    let p1 = w.add(&auto, &[&req]);
    let human = proposal(
        Environment::Production,
        DecisionBoundary::HumanOnly,
        Autonomy::Assistance,
        &[],
    );
    let p2 = w.add(&human, &[&req]);
    let a = w.add(&approval(&p2), &[&robo]);
    let ok = w.add(&approval(&p2), &[&appr]);
    w.add(&execution(&p2, &[&ok]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::HumanOnlyNotByPerson, vec![seq(&p1)]),
            (RuleId::ApprovalByAi, vec![seq(&p2), seq(&a)]),
            (RuleId::HumanOnlyNotByPerson, vec![seq(&p2), seq(&a)]),
            (RuleId::ApprovalNotPerson, vec![seq(&p2), seq(&a)]),
        ]
    );
}

#[test]
fn production_must_not_rely_on_experimentation() {
    let mut w = world();
    let req = w.req.clone();
    let lab = key(41);
    let rec = enrollment(
        &lab,
        "lab-model",
        PrincipalType::SoftwareAgent,
        &[Role::AiAgent],
        &[Environment::Experimentation],
    );
    w.add(&rec, &[]);
    let out = w.add(&ai_output("experiment"), &[&lab]);
    let trial = proposal(
        Environment::Experimentation,
        DecisionBoundary::AiMayAssist,
        Autonomy::Autonomy,
        &[&out],
    );
    w.add(&trial, &[&req]);
    let prod = proposal(
        Environment::Production,
        DecisionBoundary::HumanApprovalRequired,
        Autonomy::Assistance,
        &[&out],
    );
    let p = w.add(&prod, &[&req]);
    assert_eq!(
        w.violations(),
        vec![(RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p)])]
    );
}

#[test]
fn a_rejected_proposal_must_not_be_executed() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let r = w.add(&rejection(&p), &[&appr]);
    let e = w.add(&execution(&p, &[]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ExecutionAfterRejection, vec![seq(&p), seq(&r), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn role_grants_and_policy_changes_are_gated() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let eve = key(42);
    let grant = enrollment(&eve, "eve@bank.example", PrincipalType::Person, &[Role::Approver], BOTH);
    let ungated = w.add(&grant, &[]);
    let lax = Record::PolicyUpdate(Policy {
        min_approvals: 1,
        rules: vec![],
        ..Policy::default()
    });
    let ungated_policy = w.add(&lax, &[]);
    // The gated way: an approved permission-change proposal, cited by the change.
    let p = w.add(&gated(Environment::Production), &[&req]);
    w.add(&approval(&p), &[&appr]);
    let frank = key(43);
    let grant = enrollment(
        &frank,
        "frank@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        BOTH,
    );
    w.ledger
        .append(Draft::record(&grant).unwrap().with_refs(vec![p.entry_hash]))
        .unwrap();
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::UngatedGovernanceChange, vec![seq(&ungated)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&ungated_policy)]),
        ]
    );
}

#[test]
fn a_gated_policy_update_changes_the_rules_from_then_on() {
    let mut w = world();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let bad = proposal(
        Environment::Production,
        DecisionBoundary::AiMayAssist,
        Autonomy::Assistance,
        &[],
    );
    let before = w.add(&bad, &[&req]);
    let mut change = gated(Environment::Production);
    if let Record::Proposal(p) = &mut change {
        p.action_type = "policy.change".into();
    }
    let p = w.add(&change, &[&req]);
    w.add(&approval(&p), &[&appr]);
    let mut rules = RuleId::ALL.to_vec();
    rules.retain(|r| *r != RuleId::GatedImpact);
    let update = Record::PolicyUpdate(Policy {
        min_approvals: 1,
        rules,
        ..Policy::default()
    });
    let u = w.add_refs(&update, &[], &[p.entry_hash]);
    w.add(&bad, &[&req]);
    assert_eq!(w.violations(), vec![(RuleId::GatedImpact, vec![seq(&before)])]);
    let report = w.report();
    let in_force = report.policy_in_force.expect("policy evaluated");
    assert_eq!(in_force.seq, seq(&u), "the gated update is in force");
    assert_eq!(report.violations[0].policy.seq, 0, "judged under the genesis policy");
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn erasure_destroys_the_bytes_and_the_ledger_still_verifies() {
    let mut w = world();
    let email = b"jane.doe@example.com";
    let app = w
        .ledger
        .append(Draft::application("application/json", email.to_vec()))
        .unwrap();
    let ai = w.ai.clone();
    let mut out = ai_output("summarise complaint");
    if let Record::AiOutput(o) = &mut out {
        o.summary = "customer jane.doe@example.com disputes a charge".into();
    }
    let o = w.add(&out, &[&ai]);
    w.ledger.checkpoint().unwrap();
    assert_eq!(files_contain(w.dir.path(), email).len(), 1, "one segment holds both");
    w.ledger.redact(seq(&app), "GDPR art. 17, request 88").unwrap();
    w.ledger.redact(seq(&o), "GDPR art. 17, request 88").unwrap();
    assert_eq!(files_contain(w.dir.path(), email), Vec::<String>::new());
    let r = w.report();
    assert!(r.is_compliant(), "{:?} {:?}", r.failure, r.violations);
    assert_eq!(r.redacted, vec![seq(&app), seq(&o)]);
    assert_eq!(r.checkpoints_verified, 1, "erasure leaves hashes and proofs intact");
    let req = w.req.clone();
    let p = w.add(&gated(Environment::Production), &[&req]);
    let err = w.ledger.redact(seq(&p), "no").unwrap_err();
    assert!(err.to_string().contains("may not be erased"), "{err}");
}

#[test]
fn erasure_without_an_authorised_redaction_fails() {
    let w = world();
    let app = w
        .ledger
        .append(Draft::application("text/plain", b"secret".to_vec()))
        .unwrap();
    w.ledger
        .append(Draft::application("text/plain", b"later".to_vec()))
        .unwrap();
    // Erase the payload by hand: rewrite the frame's payload section as erased.
    let reader = provledger::LedgerReader::open(w.dir.path()).unwrap();
    let e = reader.get(seq(&app)).unwrap();
    let mut bytes = std::fs::read(&e.file).unwrap();
    let off = usize::try_from(e.offset).unwrap();
    // docs/FORMAT.md §7.3: entry_len u16 at 0, flags at 2, section_len u32 at 4; the frame
    // checksum covers the record, the section and the seal, and is recomputed here.
    let entry_len = usize::from(u16::from_le_bytes(bytes[off..off + 2].try_into().unwrap()));
    let section_len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
    let sealed = bytes[off + 2] & 1 == 1;
    let s = off + 12 + entry_len;
    let erased = provledger::storage::frame::erased_section(&e.entry.commitment, section_len - 33);
    bytes[s..s + erased.len()].copy_from_slice(&erased);
    let end = s + section_len + if sealed { 112 } else { 0 };
    let c = provledger::storage::frame::frame_crc(&[&bytes[off + 12..end]]);
    bytes[end..end + 4].copy_from_slice(&c.to_le_bytes());
    std::fs::write(&e.file, &bytes).unwrap();
    let f = w.report().failure.expect("unexplained erasure");
    assert_eq!((f.check, f.seq), (Check::Redaction, Some(seq(&app))));
}

#[test]
fn a_redaction_by_a_non_admin_fails() {
    let mut w = world();
    let req = w.req.clone();
    // A second writer service: an operator, not an admin.
    let svc = key(8);
    let rec = enrollment(&svc, "svc:batch", PrincipalType::Service, &[Role::Operator], BOTH);
    w.add(&rec, &[]);
    w.close();
    // A key that is not an operator cannot write at all.
    let refused = Ledger::open(w.dir.path(), &req, Options::default()).map(drop);
    assert!(
        matches!(refused, Err(provledger::OpenError::SignerNotAuthorized { .. })),
        "{refused:?}"
    );
    // The operator appends (naming the ledger's anchor: another key wrote last), but its
    // redaction (no admin signature) is refused.
    let anchor = TrustAnchor::PublicKey(w.op.verifying_key());
    let l = Ledger::open(w.dir.path(), &svc, Options::default().trust_anchor(anchor)).unwrap();
    let app = l.append(Draft::application("text/plain", b"x".to_vec())).unwrap();
    let err = l.redact(seq(&app), "no authority").unwrap_err();
    assert!(err.to_string().contains("would fail verification"), "{err}");
    drop(l);
    // A raw writer writes it anyway: verification rejects the redaction entry.
    let opts = Options::default().check_signers(false);
    let l = Ledger::open(w.dir.path(), &svc, opts).unwrap();
    let red = l.redact(seq(&app), "no authority").unwrap();
    drop(l);
    let anchor = TrustAnchor::PublicKey(w.op.verifying_key());
    let f = verify_opts(&StdBackend, w.dir.path(), &anchor, &VerifyOptions::default())
        .unwrap()
        .failure
        .expect("unauthorised redaction");
    assert_eq!((f.check, f.seq), (Check::Key, Some(seq(&red))));
}

#[test]
fn a_crash_during_erasure_is_finished_on_open() {
    use provledger::storage::{Backend, SimBackend};
    use std::sync::Arc;
    let email: &[u8] = b"jane.doe@example.com";
    let dir = Path::new("/ledger");
    let op = key(1);
    let anchor = TrustAnchor::PublicKey(op.verifying_key());
    let mut saw = [false; 2];
    let mut completed_on_open = false;
    for budget in (0..1600).step_by(11) {
        let disk = SimBackend::new();
        // The write budget cuts the erasure part-way only where space is not reserved ahead
        // (in reserved space an overwrite cannot run out of room).
        disk.set_no_reserve(true);
        let backend: Arc<dyn Backend> = Arc::new(disk.clone());
        let opts = Options::default().backend(backend);
        let l = Ledger::create(dir, &op, "x", opts.clone()).unwrap();
        let app = l.append(Draft::application("text/plain", email.to_vec())).unwrap();
        disk.set_write_budget(Some(budget));
        let res = l.redact(seq(&app), "request 88");
        drop(l);
        disk.set_write_budget(None);
        disk.crash();
        let l = Ledger::open(dir, &op, opts).unwrap();
        let redaction_recorded = l.len() == 3;
        completed_on_open |= l.recovery().erasure_completed == Some(seq(&app));
        drop(l);
        let report = verify_opts(&disk, dir, &anchor, &VerifyOptions::default()).unwrap();
        assert!(report.is_ok(), "budget {budget}: {:?}", report.failure);
        let erased = report.redacted == vec![seq(&app)];
        assert_eq!(
            erased, redaction_recorded,
            "budget {budget}: erased iff the redaction is in the ledger"
        );
        assert!(
            res.is_err() || erased,
            "budget {budget}: a successful redact is durable"
        );
        let found = disk
            .files()
            .iter()
            .any(|p| disk.file_bytes(p).unwrap().windows(email.len()).any(|w| w == email));
        assert_eq!(found, !erased, "budget {budget}");
        assert!(
            !disk.files().iter().any(|p| p.ends_with("redaction.pending")),
            "budget {budget}"
        );
        saw[usize::from(erased)] = true;
    }
    assert_eq!(
        saw,
        [true, true],
        "the sweep must cover crashes before and after the redaction entry"
    );
    assert!(
        completed_on_open,
        "some crash must land between the redaction entry and the overwrite"
    );
}

#[test]
fn a_redaction_must_name_the_true_hash_of_an_earlier_entry() {
    let mut w = world();
    let app = w
        .ledger
        .append(Draft::application("text/plain", b"x".to_vec()))
        .unwrap();
    let wrong = Record::Redaction(provledger::record::Redaction {
        target_seq: seq(&app),
        target: Digest::from_bytes([9; 32]),
        reason: "typo".into(),
    });
    let r = w.add(&wrong, &[]);
    let f = w.report().failure.expect("a redaction with the wrong hash");
    assert_eq!((f.check, f.seq), (Check::Redaction, Some(seq(&r))));
}

#[test]
fn checkpoints_by_a_later_enrolled_operator_and_incremental_policy_state() {
    let mut w = world();
    let op2 = key(44);
    let rec = enrollment(&op2, "svc:decisions-2", PrincipalType::Service, &[Role::Operator], BOTH);
    w.add(&rec, &[]);
    let req = w.req.clone();
    let p = w.add(&gated(Environment::Production), &[&req]);
    let trusted = w.ledger.checkpoint().unwrap();
    let World {
        dir, ledger, op, appr, ..
    } = w;
    drop(ledger);
    // The second operator takes over appending and checkpointing, from the ledger's anchor.
    let anchor = TrustAnchor::PublicKey(op.verifying_key());
    let l = Ledger::open(dir.path(), &op2, Options::default().trust_anchor(anchor)).unwrap();
    let a = l
        .append(Draft::record(&approval(&p)).unwrap().cosigned_by(&appr))
        .unwrap();
    l.append(Draft::record(&execution(&p, &[&a])).unwrap()).unwrap();
    l.checkpoint().unwrap();
    drop(l);
    let anchor = TrustAnchor::PublicKey(op.verifying_key());
    let full = VerifyOptions::default().policy(true);
    let r = verify_opts(&StdBackend, dir.path(), &anchor, &full).unwrap();
    assert!(r.is_compliant(), "{:?} {:?}", r.failure, r.violations);
    assert_eq!(r.checkpoints_verified, 2);
    // From the first checkpoint: keys, the proposal and the approver carry over.
    let incremental = full.from_checkpoint(Some(trusted));
    let r = verify_opts(&StdBackend, dir.path(), &anchor, &incremental).unwrap();
    assert!(r.is_compliant(), "{:?} {:?}", r.failure, r.violations);
    // v2 re-hashes the prefix (skipping only its signatures), so both checkpoints of the log
    // are checked again; the trusted one given by the caller is not counted on its own.
    assert_eq!((r.verified_from, r.checkpoints_verified), (trusted.tree_size, 2));
}
