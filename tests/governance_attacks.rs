//! The attacks of issue #10, items 1–10: each test performs one against the policy engine (or
//! the writer) and asserts exactly what is reported — `(rule, seqs)` — or refused.

mod common;

use common::gov::{
    ai_output, approval, draft, enrollment, execution, gated, proposal, report_of, revocation, seq, writer, World,
};
use common::key;
use provledger::record::{Autonomy, DecisionBoundary, Environment, Policy, PrincipalType, Record, Role, RuleId};
use provledger::Check;

/// The default rules with `min_approvals` approvals.
fn needing(min_approvals: u8) -> Policy {
    Policy {
        min_approvals,
        ..Policy::default()
    }
}

/// A permission-grant proposal that can gate role grants (action type `permission.grant.approver`).
fn grant_proposal() -> Record {
    let mut p = gated(Environment::Production);
    if let Record::Proposal(p) = &mut p {
        p.action_type = "permission.grant.approver".into();
    }
    p
}

/// A policy-change proposal (action type `policy.change`).
fn policy_proposal() -> Record {
    let mut p = gated(Environment::Production);
    if let Record::Proposal(p) = &mut p {
        p.action_type = "policy.change".into();
        p.impact.policy_change = true;
    }
    p
}

/// A policy without any optional rule and one approval.
fn lax() -> Record {
    Record::PolicyUpdate(Policy {
        min_approvals: 1,
        rules: vec![],
        ..Policy::default()
    })
}

#[test]
fn item_1_the_same_approval_cited_twice_counts_once() {
    let mut w = World::with(needing(2));
    let (req, appr, carol) = (w.req.clone(), w.appr.clone(), w.carol.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&p), &[&appr]);
    let e = w.add(&execution(&p, &[&a, &a]), &[]);
    // One approval entry signed by two approvers is one approval, however often it is cited.
    let q = w.add(&gated(Environment::Production), &[&req]);
    let both = w.add(&approval(&q), &[&appr, &carol]);
    let f = w.add(&execution(&q, &[&both, &both]), &[]);
    // The honest way: two approvals by two persons.
    let p2 = w.add(&gated(Environment::Production), &[&req]);
    let (b1, b2) = (w.add(&approval(&p2), &[&appr]), w.add(&approval(&p2), &[&carol]));
    w.add(&execution(&p2, &[&b1, &b2]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&q), seq(&f)]),
        ]
    );
    let msg = &w.report().violations[0].message;
    assert!(
        msg.contains("relies on 1 valid approval(s) by distinct persons; 2 needed"),
        "{msg}"
    );
}

#[test]
fn item_2_the_same_approver_key_approving_twice_counts_once() {
    let mut w = World::with(needing(2));
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a1 = w.add(&approval(&p), &[&appr]);
    let a2 = w.add(&approval(&p), &[&appr]);
    let e = w.add(&execution(&p, &[&a1, &a2]), &[]);
    assert_eq!(w.violations(), vec![(RuleId::ApprovalRequired, vec![seq(&p), seq(&e)])]);
}

#[test]
fn item_3_two_keys_of_one_person_count_as_one_approver() {
    let mut w = World::with(needing(2));
    let (req, appr, carol) = (w.req.clone(), w.appr.clone(), w.carol.clone());
    // Bob's second key, enrolled the gated way (two approvals by two persons).
    let g = w.add(&grant_proposal(), &[&req]);
    let (g1, g2) = (w.add(&approval(&g), &[&appr]), w.add(&approval(&g), &[&carol]));
    let bob2 = key(50);
    w.enroll(
        &bob2,
        "bob@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[g.entry_hash],
    );
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a1 = w.add(&approval(&p), &[&appr]);
    let a2 = w.add(&approval(&p), &[&bob2]);
    let e = w.add(&execution(&p, &[&a1, &a2]), &[]);
    assert_eq!(w.violations(), vec![(RuleId::ApprovalRequired, vec![seq(&p), seq(&e)])]);
    // One approval entry co-signed by both of bob's keys is still one approval by one person.
    let p2 = w.add(&gated(Environment::Production), &[&req]);
    let both = w.add(&approval(&p2), &[&appr, &bob2]);
    let e2 = w.add(&execution(&p2, &[&both]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&p2), seq(&e2)]),
        ]
    );
    let _ = (g1, g2);
}

#[test]
fn item_4_an_ungated_policy_update_does_not_take_effect() {
    let mut w = World::new();
    let req = w.req.clone();
    let u1 = w.add(&lax(), &[]);
    // Still judged under the genesis policy: an unapproved gated execution is caught.
    let p = w.add(&gated(Environment::Production), &[&req]);
    let e = w.add(&execution(&p, &[]), &[]);
    // And a second ungated update is caught too (the first did not remove the rule).
    let u2 = w.add(&lax(), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::UngatedGovernanceChange, vec![seq(&u1)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&u2)]),
        ]
    );
    let r = w.report();
    assert_eq!(
        r.policy_in_force.map(|p| p.seq),
        Some(0),
        "the genesis policy is still in force"
    );
    assert!(r.violations.iter().all(|v| v.policy.seq == 0));
    // Even a genesis policy that lists no rule cannot switch the gate off.
    let mut w = World::with(Policy {
        min_approvals: 1,
        rules: vec![],
        ..Policy::default()
    });
    let u = w.add(&lax(), &[]);
    assert_eq!(w.violations(), vec![(RuleId::UngatedGovernanceChange, vec![seq(&u)])]);
}

#[test]
fn item_5_revoking_every_approver_does_not_ungate_governance_changes() {
    let mut w = World::new();
    let (req, appr, carol, robo) = (w.req.clone(), w.appr.clone(), w.carol.clone(), w.robo.clone());
    for k in [&appr, &carol, &robo] {
        w.add(&revocation(k), &[]);
    }
    let u = w.add(&lax(), &[]);
    let eve = key(51);
    let grant = w.enroll(&eve, "eve@bank.example", PrincipalType::Person, &[Role::Approver], &[]);
    let mallory = key(52);
    let admin = w.enroll(
        &mallory,
        "mallory@bank.example",
        PrincipalType::Person,
        &[Role::Admin],
        &[],
    );
    // Eve's ungated grant makes no approver: her approval authorises nothing.
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&p), &[&eve]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::UngatedGovernanceChange, vec![seq(&u)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&grant)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&admin)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
        ]
    );
}

#[test]
fn item_6_erasing_an_experimental_ai_output_keeps_the_violation_resting_on_it() {
    let mut w = World::new();
    let req = w.req.clone();
    let lab = key(53);
    w.add(
        &enrollment(
            &lab,
            "lab-model",
            PrincipalType::SoftwareAgent,
            &[Role::AiAgent],
            &[Environment::Experimentation],
        ),
        &[],
    );
    let out = w.add(&ai_output("experiment"), &[&lab]);
    let prod = proposal(
        Environment::Production,
        DecisionBoundary::HumanApprovalRequired,
        Autonomy::Assistance,
        &[&out],
    );
    let p = w.add(&prod, &[&req]);
    w.ledger.redact(seq(&out), "GDPR art. 17").unwrap();
    // Citing it after the erasure is caught as well: kind and signers cannot be erased.
    let p2 = w.add(&prod, &[&req]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p)]),
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p2)]),
        ]
    );
    assert_eq!(w.report().redacted, vec![seq(&out)]);
    // Incrementally, from a checkpoint after the erasure: the prefix is replayed, erased entry
    // included, and a later citation is read back from the ledger.
    let trusted = w.ledger.checkpoint().unwrap();
    let p3 = w.add(&prod, &[&req]);
    let r = report_of(w.dir.path(), &w.op, true, Some(trusted));
    assert!(r.is_ok(), "{:?}", r.failure);
    let found: Vec<(RuleId, Vec<u64>)> = r.violations.iter().map(|v| (v.rule, v.seq_numbers())).collect();
    assert_eq!(
        found,
        vec![
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p)]),
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p2)]),
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p3)]),
        ]
    );
}

#[test]
fn item_7_a_governance_change_may_not_rest_on_an_approval_by_a_key_revoked_before_it() {
    let mut w = World::new();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    let g = w.add(&grant_proposal(), &[&req]);
    w.add(&approval(&g), &[&appr]);
    w.add(&revocation(&appr), &[]);
    let frank = key(54);
    let grant = w.enroll(
        &frank,
        "frank@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[g.entry_hash],
    );
    assert_eq!(
        w.violations(),
        vec![(RuleId::UngatedGovernanceChange, vec![seq(&g), seq(&grant)])]
    );
    let msg = &w.report().violations[0].message;
    assert!(
        msg.contains("has 0 valid approval(s) by distinct persons at this entry; 1 needed"),
        "{msg}"
    );
}

#[test]
fn item_8_a_software_agent_approving_is_also_not_a_person() {
    let mut w = World::new();
    let (req, robo) = (w.req.clone(), w.robo.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&p), &[&robo]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalByAi, vec![seq(&p), seq(&a)]),
            (RuleId::ApprovalNotPerson, vec![seq(&p), seq(&a)]),
        ]
    );
}

#[test]
fn item_9_the_writer_refuses_what_verify_rejects_and_verify_still_checks_keys() {
    let mut w = World::new();
    let (op, req) = (w.op.clone(), w.req.clone());
    // A second writer service: an operator, not an admin. (A key that is not an operator may
    // not write at all; tests/governance.rs checks that.)
    let svc = key(8);
    w.enroll(&svc, "svc:batch", PrincipalType::Service, &[Role::Operator], &[]);
    w.close();
    // It appends a policy update: no admin signature.
    let l = writer(w.dir.path(), &svc, true, &op);
    let err = l.append(draft(&lax(), &[], &[])).unwrap_err().to_string();
    assert!(
        err.contains("would fail verification") && err.contains("role admin"),
        "{err}"
    );
    // An approval by an unenrolled key, by a key without the approver role.
    let stranger = key(55);
    let p = l.append(draft(&gated(Environment::Production), &[&req], &[])).unwrap();
    let err = l
        .append(draft(&approval(&p), &[&stranger], &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not enrolled"), "{err}");
    let err = l.append(draft(&approval(&p), &[&req], &[])).unwrap_err().to_string();
    assert!(
        err.contains("an approval entry needs a signature by a key with role approver"),
        "{err}"
    );
    drop(l);
    // Through a raw writer, the same entry is appended, and verify fails it (check `key`).
    let l = writer(w.dir.path(), &svc, false, &op);
    let bad = l.append(draft(&lax(), &[], &[])).unwrap();
    drop(l);
    let f = report_of(w.dir.path(), &op, false, None)
        .failure
        .expect("a policy update without an admin signature");
    assert_eq!((f.check, f.seq), (Check::Key, Some(seq(&bad))));
    assert!(
        f.message.contains("a policy_update entry needs a signature"),
        "{}",
        f.message
    );
}

#[test]
fn item_10_with_two_approvals_needed_the_second_approver_can_be_enrolled_and_the_error_says_why() {
    let mut w = World::bootstrap(needing(2));
    let (req, bob, carol, eve, frank) = (w.req.clone(), key(60), key(61), key(62), key(63));
    // Bootstrap: no change can be approved until two approvers exist, so none needs to be.
    w.enroll(&bob, "bob@bank.example", PrincipalType::Person, &[Role::Approver], &[]);
    w.enroll(
        &carol,
        "carol@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[],
    );
    // From here on a grant needs two approvals by distinct persons.
    let g = w.add(&grant_proposal(), &[&req]);
    w.add(&approval(&g), &[&bob]);
    let short = w.enroll(
        &eve,
        "eve@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[g.entry_hash],
    );
    w.add(&approval(&g), &[&carol]);
    w.enroll(
        &frank,
        "frank@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[g.entry_hash],
    );
    // A policy change needs a policy-change proposal, not a grant proposal.
    let u = w.add_refs(&lax(), &[], &[g.entry_hash]);
    let pc = w.add(&policy_proposal(), &[&req]);
    w.add(&approval(&pc), &[&bob]);
    w.add(&approval(&pc), &[&carol]);
    w.add_refs(&lax(), &[], &[pc.entry_hash]);
    let r = w.report();
    let found: Vec<(RuleId, Vec<u64>)> = r.violations.iter().map(|v| (v.rule, v.seq_numbers())).collect();
    assert_eq!(
        found,
        vec![
            (RuleId::UngatedGovernanceChange, vec![seq(&g), seq(&short)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&g), seq(&u)]),
        ]
    );
    let msg = &r.violations[0].message;
    assert!(
        msg.contains(
            "has 1 valid approval(s) by distinct persons at this entry; 2 needed (2 eligible approver(s) exist)"
        ),
        "{msg}"
    );
    assert!(
        r.violations[1].message.contains("is not a policy-change"),
        "{}",
        r.violations[1].message
    );
}
