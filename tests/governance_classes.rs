//! Policy v2, issue #10 items 11–16: action classes (decision boundaries set by the policy, not
//! by the proposer), thresholds per class and impact, review / evidence / AI-provenance
//! requirements, overrides, AI production grants, and risk acceptance.

mod common;

use common::gov::{
    action, ai_output, approval, cite, enrollment, evidence, execution, gated, next_week, overriding, review,
    risk_acceptance, seq, World, PROD,
};
use common::key;
use provledger::record::{
    ActionClass, Autonomy, DecisionBoundary, Environment, ImpactFlags, Policy, PrincipalType, Proposal, Record,
    Requirements, Role, RuleId, Threshold, Verdict,
};
use provledger::{Digest, Timestamp};

fn class(name: &str, actions: &[&str], require: Requirements) -> ActionClass {
    ActionClass {
        name: name.into(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        impact: ImpactFlags::default(),
        threshold: None,
        require,
    }
}

fn needs(boundary: DecisionBoundary, min_approvals: u8) -> Requirements {
    Requirements {
        boundary,
        min_approvals,
        ..Requirements::default()
    }
}

const HAR: DecisionBoundary = DecisionBoundary::HumanApprovalRequired;
const MAY: DecisionBoundary = DecisionBoundary::AiMayAssist;

/// Permission grants need two approvals; refunds of 1,000 EUR or more two; other refunds none;
/// anything touching personal data two; unclassified actions one.
fn policy() -> Policy {
    let mut large = class("large refunds", &["refund"], needs(HAR, 2));
    large.threshold = Some(Threshold {
        attribute: "amount_eur".into(),
        at_least: 1000,
    });
    let mut personal = class("personal data", &[], needs(HAR, 2));
    personal.impact.personal_data = true;
    Policy {
        min_approvals: 1,
        classes: vec![
            class("permission grants", &["permission.*"], needs(HAR, 2)),
            large,
            class("refunds", &["refund"], needs(MAY, 0)),
            personal,
        ],
        unclassified: Some(needs(HAR, 1)),
        ..Policy::default()
    }
}

fn rec(p: Proposal) -> Record {
    Record::Proposal(p)
}

#[test]
fn item_11_the_class_sets_the_boundary_and_a_declaration_only_makes_it_stricter() {
    let mut w = World::with(policy());
    let (ai, req, appr) = (w.ai.clone(), w.req.clone(), w.appr.clone());
    // An AI labels its own admin grant "AI may assist, no impact".
    let mut grab = action("permission.grant.admin", &[], MAY);
    grab.autonomy = Autonomy::Autonomy;
    let p = w.add(&rec(grab), &[&ai]);
    let e = w.add(&execution(&p, &[]), &[]);
    // A small refund may go without approval; declaring human approval makes it need one.
    let small = w.add(&rec(action("refund", &[("amount_eur", 50)], MAY)), &[&req]);
    w.add(&execution(&small, &[]), &[]);
    let strict = w.add(&rec(action("refund", &[("amount_eur", 50)], HAR)), &[&req]);
    let es = w.add(&execution(&strict, &[]), &[]);
    // Unclassified actions need one approval (the policy's `unclassified`).
    let misc = w.add(&rec(action("misc.noop", &[], MAY)), &[&req]);
    let em = w.add(&execution(&misc, &[]), &[]);
    let a = w.add(&approval(&misc), &[&appr]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::BoundaryBelowClass, vec![seq(&p)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e)]),
            (RuleId::ApprovalRequired, vec![seq(&strict), seq(&es)]),
            (RuleId::BoundaryBelowClass, vec![seq(&misc)]),
            (RuleId::ApprovalRequired, vec![seq(&misc), seq(&em)]),
            (RuleId::ApprovalAfterExecution, vec![seq(&em), seq(&a)]),
        ]
    );
    let msg = &w.report().violations[0].message;
    assert!(
        msg.contains("declares ai_may_assist but class 'permission grants' requires at least human_approval_required"),
        "{msg}"
    );
}

#[test]
fn item_11_a_governance_change_is_judged_by_what_it_really_does() {
    let mut w = World::with(policy());
    let (req, appr, carol) = (w.req.clone(), w.appr.clone(), w.carol.clone());
    // A proposal that qualifies as a grant (impact permission_change) but calls itself
    // "misc.noop" (unclassified: one approval) cannot gate an admin grant, whose class needs two.
    let mut sneaky = action("misc.noop", &[], HAR);
    sneaky.impact.permission_change = true;
    let p = w.add(&rec(sneaky), &[&req]);
    w.add(&approval(&p), &[&appr]);
    let mallory = key(70);
    let grant = w.enroll(
        &mallory,
        "mallory@bank.example",
        PrincipalType::Person,
        &[Role::Admin],
        &[p.entry_hash],
    );
    // Two approvals by two persons gate it.
    let honest = w.add(&rec(action("permission.grant.admin", &[], HAR)), &[&req]);
    w.add(&approval(&honest), &[&appr]);
    w.add(&approval(&honest), &[&carol]);
    let trent = key(71);
    w.enroll(
        &trent,
        "trent@bank.example",
        PrincipalType::Person,
        &[Role::Admin],
        &[honest.entry_hash],
    );
    assert_eq!(
        w.violations(),
        vec![(RuleId::UngatedGovernanceChange, vec![seq(&p), seq(&grant)])]
    );
}

#[test]
fn item_12_thresholds_per_class_and_impact_personal_data_included() {
    let mut w = World::with(policy());
    let (req, appr, carol) = (w.req.clone(), w.appr.clone(), w.carol.clone());
    let big = w.add(&rec(action("refund", &[("amount_eur", 5000)], HAR)), &[&req]);
    let a = w.add(&approval(&big), &[&appr]);
    let e1 = w.add(&execution(&big, &[&a]), &[]);
    // An unstated amount is treated as a large one.
    let unstated = w.add(&rec(action("refund", &[], MAY)), &[&req]);
    let e2 = w.add(&execution(&unstated, &[]), &[]);
    // Personal data, declared by the proposer: two approvals, whatever the action.
    let mut pd = action("customer.export", &[], HAR);
    pd.impact.personal_data = true;
    let p = w.add(&rec(pd.clone()), &[&req]);
    let b = w.add(&approval(&p), &[&appr]);
    let e3 = w.add(&execution(&p, &[&b]), &[]);
    let p2 = w.add(&rec(pd), &[&req]);
    let (c1, c2) = (w.add(&approval(&p2), &[&appr]), w.add(&approval(&p2), &[&carol]));
    w.add(&execution(&p2, &[&c1, &c2]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::ApprovalRequired, vec![seq(&big), seq(&e1)]),
            (RuleId::BoundaryBelowClass, vec![seq(&unstated)]),
            (RuleId::ApprovalRequired, vec![seq(&unstated), seq(&e2)]),
            (RuleId::ApprovalRequired, vec![seq(&p), seq(&e3)]),
        ]
    );
}

/// A class requiring a review, evidence and the AI outputs a proposal came from.
fn reviewed() -> Policy {
    let require = Requirements {
        boundary: HAR,
        min_approvals: 1,
        reviews: 1,
        evidence: true,
        cite_ai_outputs: true,
    };
    Policy {
        classes: vec![class("credit limits", &["credit.limit"], require)],
        ..Policy::default()
    }
}

#[test]
fn item_13_a_person_reviews_the_evidence_before_approval() {
    let mut w = World::with(reviewed());
    let (rev, appr, ai) = (w.rev.clone(), w.appr.clone(), w.ai.clone());
    // Ivan may request and review.
    let req = key(90);
    let roles = [Role::Requester, Role::Reviewer];
    w.add(
        &enrollment(&req, "ivan@bank.example", PrincipalType::Person, &roles, PROD),
        &[],
    );
    let out = w.add(&ai_output("limit"), &[&ai]);
    let mut limit = action("credit.limit", &[("amount_eur", 8000)], HAR);
    limit.autonomy = Autonomy::Assistance;
    limit.ai_outputs = vec![cite(&out)];
    // No evidence at all.
    let bare = w.add(&rec(limit.clone()), &[&req]);
    limit.evidence = vec![evidence(7)];
    let p = w.add(&rec(limit), &[&req]);
    // An approval before any review does not count.
    let early = w.add(&approval(&p), &[&appr]);
    // Reviews that do not count: by the requester himself, not naming the evidence.
    w.add(&review(&p, Verdict::Endorse, &[Digest::from_bytes([7; 32])]), &[&req]);
    w.add(&review(&p, Verdict::Endorse, &[Digest::from_bytes([8; 32])]), &[&rev]);
    let still_early = w.add(&approval(&p), &[&appr]);
    // Dave reviews the exact evidence: now an approval counts.
    w.add(&review(&p, Verdict::Endorse, &[Digest::from_bytes([7; 32])]), &[&rev]);
    let a = w.add(&approval(&p), &[&appr]);
    w.add(&execution(&p, &[&early, &still_early, &a]), &[]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::EvidenceRequired, vec![seq(&bare)]),
            (RuleId::ReviewRequired, vec![seq(&p), seq(&early)]),
            (RuleId::ReviewRequired, vec![seq(&p), seq(&still_early)]),
        ]
    );
}

#[test]
fn item_13_a_proposal_made_with_ai_cites_the_ai_outputs_it_came_from() {
    let mut w = World::with(reviewed());
    let (req, ai) = (w.req.clone(), w.ai.clone());
    let out = w.add(&ai_output("limit"), &[&ai]);
    let app = w.app(br#"{"event":"not an AI output"}"#);
    let mut limit = action("credit.limit", &[], HAR);
    limit.evidence = vec![evidence(7)];
    limit.autonomy = Autonomy::Assistance;
    // Made with AI assistance, citing nothing.
    let uncited = w.add(&rec(limit.clone()), &[&req]);
    // Citing an application entry, a wrong hash, and a later position.
    let mut wrong = limit.clone();
    wrong.ai_outputs = vec![cite(&app)];
    let p1 = w.add(&rec(wrong.clone()), &[&req]);
    let mut forged = cite(&out);
    forged.hash = Digest::from_bytes([9; 32]);
    wrong.ai_outputs = vec![forged];
    let p2 = w.add(&rec(wrong.clone()), &[&req]);
    let mut later = cite(&out);
    later.seq = 1_000;
    wrong.ai_outputs = vec![later];
    let p3 = w.add(&rec(wrong), &[&req]);
    // Fine: cites the output; and a person deciding alone (automation, no AI signer) need not.
    limit.ai_outputs = vec![cite(&out)];
    w.add(&rec(limit.clone()), &[&req]);
    limit.ai_outputs.clear();
    limit.autonomy = Autonomy::Automation;
    w.add(&rec(limit), &[&req]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::AiProvenance, vec![seq(&uncited)]),
            (RuleId::AiProvenance, vec![seq(&app), seq(&p1)]),
            (RuleId::AiProvenance, vec![seq(&out), seq(&p2)]),
            (RuleId::AiProvenance, vec![seq(&p3)]),
        ]
    );
}

#[test]
fn item_14_overrides_give_a_reason_are_made_by_people_and_are_gated_like_the_decision() {
    let mut w = World::with(policy());
    let (req, appr, carol, ai) = (w.req.clone(), w.appr.clone(), w.carol.clone(), w.ai.clone());
    // A decision that needed two approvals, executed.
    let d = w.add(&rec(action("permission.grant.role", &[], HAR)), &[&req]);
    let (a1, a2) = (w.add(&approval(&d), &[&appr]), w.add(&approval(&d), &[&carol]));
    let e = w.add(&execution(&d, &[&a1, &a2]), &[]);
    // An AI agent reverses it, ungated, without a reason.
    let v1 = w.add(&overriding(&e, " ", None, &[]), &[&ai]);
    // A person reverses it with a proposal approved once: the decision needed two.
    let o = w.add(&rec(action("revert.role", &[], HAR)), &[&req]);
    let b1 = w.add(&approval(&o), &[&appr]);
    let v2 = w.add(&overriding(&d, "granted by mistake", Some(&o), &[&b1]), &[]);
    // Approved twice: fine. (The first override proposal was not used up by the failed try.)
    let b2 = w.add(&approval(&o), &[&carol]);
    w.add(&overriding(&d, "granted by mistake", Some(&o), &[&b1, &b2]), &[]);
    // A decision AI may make alone can be overridden by anyone, with a reason.
    let small = w.add(&rec(action("refund", &[("amount_eur", 20)], MAY)), &[&req]);
    w.add(&overriding(&small, "duplicate refund", None, &[]), &[&ai]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::OverrideReasonMissing, vec![seq(&v1)]),
            (RuleId::OverrideByAi, vec![seq(&e), seq(&v1)]),
            (RuleId::OverrideUngated, vec![seq(&e), seq(&v1)]),
            (RuleId::OverrideUngated, vec![seq(&d), seq(&v2)]),
        ]
    );
}

#[test]
fn item_15_ai_production_grants_are_gated_and_experimentation_approvers_cannot_gate_them() {
    let mut w = World::new();
    let (req, appr) = (w.req.clone(), w.appr.clone());
    // An approver enrolled for experimentation only (the gated way).
    let g = w.add(&gated(Environment::Production), &[&req]);
    w.add(&approval(&g), &[&appr]);
    let lab_approver = key(80);
    let lab_enroll = enrollment(
        &lab_approver,
        "lena@bank.example",
        PrincipalType::Person,
        &[Role::Approver],
        &[Environment::Experimentation],
    );
    w.add_refs(&lab_enroll, &[], &[g.entry_hash]);
    // An AI agent granted production rights without a gate: it stays in experimentation.
    let bot = key(81);
    let bot_enroll = enrollment(
        &bot,
        "pricing-bot",
        PrincipalType::SoftwareAgent,
        &[Role::AiAgent],
        PROD,
    );
    let ungated = w.add(&bot_enroll, &[]);
    let out = w.add(&ai_output("prices"), &[&bot]);
    let mut uses = gated(Environment::Production);
    if let Record::Proposal(p) = &mut uses {
        p.ai_outputs = vec![cite(&out)];
    }
    let p = w.add(&uses, &[&req]);
    // The experimentation-only approver cannot gate a production grant.
    let g2 = w.add(&gated(Environment::Production), &[&req]);
    let a = w.add(&approval(&g2), &[&lab_approver]);
    let bot2 = key(82);
    let bot2_enroll = enrollment(
        &bot2,
        "pricing-bot-2",
        PrincipalType::SoftwareAgent,
        &[Role::AiAgent],
        PROD,
    );
    let refused = w.add_refs(&bot2_enroll, &[], &[g2.entry_hash]);
    // Nor can an approval in experimentation.
    let g3 = w.add(&gated(Environment::Experimentation), &[&req]);
    w.add(&approval(&g3), &[&lab_approver]);
    let bot3 = key(83);
    let bot3_enroll = enrollment(
        &bot3,
        "pricing-bot-3",
        PrincipalType::SoftwareAgent,
        &[Role::AiAgent],
        PROD,
    );
    let refused2 = w.add_refs(&bot3_enroll, &[], &[g3.entry_hash]);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::UngatedGovernanceChange, vec![seq(&ungated)]),
            (RuleId::ProductionReliesOnExperimentation, vec![seq(&out), seq(&p)]),
            (RuleId::KeyOutsideEnvironment, vec![seq(&a)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&g2), seq(&refused)]),
            (RuleId::UngatedGovernanceChange, vec![seq(&g3), seq(&refused2)]),
        ]
    );
}

#[test]
fn item_16_a_known_risk_is_accepted_by_a_person_before_approval() {
    let mut w = World::new();
    let (req, rev, appr, carol, robo) = (
        w.req.clone(),
        w.rev.clone(),
        w.appr.clone(),
        w.carol.clone(),
        w.robo.clone(),
    );
    let p = w.add(&gated(Environment::Production), &[&req]);
    let r = w.add(&review(&p, Verdict::Concerns, &[]), &[&rev]);
    let early = w.add(&approval(&p), &[&appr]);
    // Invalid acceptances: by an AI agent, already expired, blank scope.
    let by_ai = w.add(&risk_acceptance(&r, next_week()), &[&robo]);
    let stale = w.add(&risk_acceptance(&r, Timestamp(1)), &[&appr]);
    let mut blank = risk_acceptance(&r, next_week());
    if let Record::RiskAcceptance(x) = &mut blank {
        x.scope = String::new();
    }
    let b = w.add(&blank, &[&appr]);
    let still = w.add(&approval(&p), &[&appr]);
    // Carol accepts the risk; then an approval counts.
    w.add(&risk_acceptance(&r, next_week()), &[&carol]);
    let a = w.add(&approval(&p), &[&appr]);
    w.add(&execution(&p, &[&early, &still, &a]), &[]);
    // Carol cannot accept the risk of a proposal she requested.
    let q = w.add(&gated(Environment::Production), &[&carol]);
    let own = w.add(&risk_acceptance(&q, next_week()), &[&carol]);
    let review_seq = seq(&r);
    assert_eq!(
        w.violations(),
        vec![
            (RuleId::RiskUnaccepted, vec![seq(&p), review_seq, seq(&early)]),
            (RuleId::RiskInvalid, vec![review_seq, seq(&by_ai)]),
            (RuleId::RiskInvalid, vec![review_seq, seq(&stale)]),
            (RuleId::RiskInvalid, vec![review_seq, seq(&b)]),
            (RuleId::RiskUnaccepted, vec![seq(&p), review_seq, seq(&still)]),
            (RuleId::RiskInvalid, vec![seq(&q), seq(&own)]),
        ]
    );
}

#[test]
fn item_16_a_risk_acceptance_that_expired_no_longer_covers_an_approval() {
    let mut w = World::new();
    let (req, rev, appr, carol) = (w.req.clone(), w.rev.clone(), w.appr.clone(), w.carol.clone());
    let p = w.add(&gated(Environment::Production), &[&req]);
    let r = w.add(&review(&p, Verdict::Reject, &[]), &[&rev]);
    // Expires a second from now (room for a slow machine to write the acceptance before it
    // expires); the approval comes after.
    let soon = Timestamp(Timestamp::now().0 + 1_000_000_000);
    w.add(&risk_acceptance(&p, soon), &[&carol]);
    while Timestamp::now().0 <= soon.0 + 50_000_000 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let a = w.add(&approval(&p), &[&appr]);
    assert_eq!(
        w.violations(),
        vec![(RuleId::RiskUnaccepted, vec![seq(&p), seq(&r), seq(&a)])]
    );
}

#[test]
fn reviews_made_before_a_proposal_closed_still_count_for_later_approvals() {
    let mut w = World::with(reviewed());
    let (req, rev, appr, carol) = (w.req.clone(), w.rev.clone(), w.appr.clone(), w.carol.clone());
    let mut limit = action("credit.limit", &[], HAR);
    limit.evidence = vec![evidence(7)];
    let p = w.add(&rec(limit), &[&req]);
    w.add(&review(&p, Verdict::Endorse, &[Digest::from_bytes([7; 32])]), &[&rev]);
    // Rejected (the proposal closes), then approved after all, and executed.
    let r = w.add(&common::gov::rejection(&p), &[&carol]);
    let a = w.add(&approval(&p), &[&appr]);
    let e = w.add(&execution(&p, &[&a]), &[]);
    assert_eq!(
        w.violations(),
        vec![(RuleId::ExecutionAfterRejection, vec![seq(&p), seq(&r), seq(&e)])]
    );
}
