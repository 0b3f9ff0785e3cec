//! The demo's story: support tier 2 cannot issue refunds, so an AI assistant drafts a
//! permission change; a person requests it, another reviews the AI's draft, a third approves
//! the exact proposal, and the change service executes it. Then routine follow-up events.

use serde_json::json;

use provledger::record::{
    AiOutput, AiSystem, Approval, Autonomy, DecisionBoundary, EntryRef, Environment, Evidence, Execution, ImpactFlags,
    KeyEnrollment, Proposal, Record, Review, TokenUsage, Verdict,
};
use provledger::{Digest, Draft, Ledger, PrincipalType, Role, SigningKey, Timestamp};

use super::{record, Cast, Steps, AGENT_ID, APPROVER_ID, GRANTS_CLASS, OPERATOR_ID, REQUESTER_ID, REVIEWER_ID};
use crate::error::CliError;
use crate::records;

/// How long the approval authorises execution.
const APPROVAL_VALID_NANOS: u64 = 7 * 24 * 3600 * 1_000_000_000;
/// The customer's address in the support ticket: personal data, erased later.
pub const CUSTOMER_EMAIL: &str = "jane.doe@example.com";

/// Where the story's entries landed.
pub struct Story {
    /// The support ticket holding the customer's email (erased later).
    pub ticket_seq: u64,
    /// The approval (the entry the inclusion proof is for).
    pub approval_seq: u64,
}

/// Enrollments, then the decision path. Each governance entry references what it relies on
/// by hash; the acting person or agent co-signs beside the operator service.
pub fn append_decision(ledger: &Ledger, cast: &Cast, steps: &mut Steps) -> Result<Story, CliError> {
    enroll_cast(ledger, cast, steps)?;
    let ticket_seq = append_ticket(ledger, steps)?;
    let (ai, output_digest) = append_ai_output(ledger, cast, steps)?;
    let (p_seq, proposal, evidence) = append_proposal(ledger, cast, ai, output_digest, steps)?;
    append_review(ledger, cast, (p_seq, proposal), &evidence, steps)?;
    let (approval_seq, approval) = append_approval(ledger, cast, (p_seq, proposal), steps)?;
    append_execution(ledger, (proposal, approval), steps)?;
    Ok(Story {
        ticket_seq,
        approval_seq,
    })
}

/// Appends `rec` signed by the operator and `cosigner`.
fn governance(
    ledger: &Ledger,
    rec: &Record,
    cosigner: Option<&SigningKey>,
    what: &str,
    steps: &mut Steps,
) -> Result<(u64, Digest), CliError> {
    let draft = records::draft(rec, &[])?;
    let draft = cosigner.into_iter().cloned().fold(draft, Draft::cosigned_by);
    record(ledger, draft, what, steps)
}

/// Bootstrap: before any approver exists, enrollments are not gated by an approval.
fn enroll_cast(ledger: &Ledger, cast: &Cast, steps: &mut Steps) -> Result<(), CliError> {
    use Environment::{Experimentation, Production};
    let people = [
        (
            &cast.agent,
            AGENT_ID,
            "Access assistant (LLM agent)",
            PrincipalType::SoftwareAgent,
            Role::AiAgent,
            vec![Production, Experimentation],
        ),
        (
            &cast.requester,
            REQUESTER_ID,
            "Rita, support lead",
            PrincipalType::Person,
            Role::Requester,
            vec![Production],
        ),
        (
            &cast.reviewer,
            REVIEWER_ID,
            "Alice, security engineer",
            PrincipalType::Person,
            Role::Reviewer,
            vec![Production],
        ),
        (
            &cast.approver,
            APPROVER_ID,
            "Bob, payments access owner",
            PrincipalType::Person,
            Role::Approver,
            vec![Production],
        ),
    ];
    for (key, id, name, principal_type, role, environments) in people {
        let rec = Record::KeyEnrollment(KeyEnrollment {
            public_key: key.verifying_key().to_bytes(),
            principal_id: id.into(),
            display_name: name.into(),
            principal_type,
            roles: vec![role],
            environments: environments.clone(),
        });
        let what = format!(
            "key enrollment of {id} ({}, role {}, environments {}), signed by the admin",
            name_of(&principal_type),
            name_of(&role),
            environments.iter().map(name_of).collect::<Vec<_>>().join("+")
        );
        governance(ledger, &rec, None, &what, steps)?;
    }
    Steps::detail(
        "bootstrap: until the first approver was enrolled, no governance change could be approved, so these",
    )?;
    Steps::detail(
        "needed no approval; from now on every policy update and every admin, approver or AI production grant",
    )?;
    Steps::detail("needs an approved proposal, and revoking approvers never reopens the bootstrap")
}

/// The JSON name of an enum value (`software_agent`, `ai_agent`, `production`…).
fn name_of(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The customer complaint that starts it all: an application event holding personal data.
fn append_ticket(ledger: &Ledger, steps: &mut Steps) -> Result<u64, CliError> {
    let ticket = json!({
        "event": "support_ticket",
        "ticket": "SUP-2291",
        "customer_email": CUSTOMER_EMAIL,
        "summary": "refund of 120 EUR pending 9 days; tier-2 support cannot issue refunds",
    });
    let draft = Draft::application("application/json", serde_json::to_vec(&ticket)?);
    let what = format!("support ticket SUP-2291 from {CUSTOMER_EMAIL} (personal data; erased later)");
    Ok(record(ledger, draft, &what, steps)?.0)
}

/// The AI assistant's draft of the permission change, described with OpenTelemetry `GenAI`
/// attribute names, committed by digests, and co-signed by the agent's own key.
fn append_ai_output(ledger: &Ledger, cast: &Cast, steps: &mut Steps) -> Result<(EntryRef, Digest), CliError> {
    let output_digest = demo_digest(&[
        b"provledger demo output",
        b"grant refund-issuer (max 500 EUR) to support-tier2",
    ]);
    let rec = Record::AiOutput(AiOutput {
        system: AiSystem {
            provider_name: "openai".into(),
            request_model: "gpt-4o".into(),
            version: "gpt-4o-2024-08-06".into(),
            config_digest: Some(demo_digest(&[
                b"provledger demo config",
                b"temperature=0;prompt=iam-drafter-v4",
            ])),
        },
        task: "draft_permission_change".into(),
        input_digest: demo_digest(&[
            b"provledger demo input",
            b"SUP-2291 + current IAM policy of payments-prod",
        ]),
        output_digest,
        summary: "grant role refund-issuer (max 500 EUR per refund) to group support-tier2 in payments-prod".into(),
        usage: Some(TokenUsage {
            input_tokens: 1843,
            output_tokens: 212,
        }),
    });
    let what = format!("AI output: {AGENT_ID} (gen_ai.provider.name=openai, gen_ai.request.model=gpt-4o) drafts the permission change; co-signed by the agent");
    let (seq, hash) = governance(ledger, &rec, Some(&cast.agent), &what, steps)?;
    Ok((EntryRef { seq, hash }, output_digest))
}

fn append_proposal(
    ledger: &Ledger,
    cast: &Cast,
    ai: EntryRef,
    output_digest: Digest,
    steps: &mut Steps,
) -> Result<(u64, Digest, Vec<Digest>), CliError> {
    let evidence = vec![
        Evidence {
            name: "SUP-2291".into(),
            uri: "https://support.bank.example/tickets/SUP-2291".into(),
            digest: demo_digest(&[b"provledger demo evidence", b"SUP-2291"]),
            description: "customer refunds stuck at tier 2".into(),
        },
        Evidence {
            name: "AI draft".into(),
            uri: "https://iam.bank.example/drafts/4471".into(),
            digest: output_digest,
            description: "the change as the assistant drafted it".into(),
        },
    ];
    let digests = evidence.iter().map(|e| e.digest).collect();
    let rec = Record::Proposal(Proposal {
        action: "grant role refund-issuer (max 500 EUR per refund) to group support-tier2 in payments-prod".into(),
        action_type: "permission.grant.role".into(),
        attributes: std::collections::BTreeMap::new(),
        boundary: DecisionBoundary::HumanApprovalRequired,
        autonomy: Autonomy::Assistance,
        environment: Environment::Production,
        impact: ImpactFlags {
            permission_change: true,
            customer_impacting: true,
            ..ImpactFlags::default()
        },
        evidence,
        rationale: "tier-2 support resolves refund tickets without escalation".into(),
        ai_outputs: vec![ai],
    });
    let what = format!("proposal by {REQUESTER_ID}: action type permission.grant.role in production, human_approval_required, autonomy=assistance, citing the AI output (entry {}) and 2 pieces of evidence", ai.seq);
    let (seq, hash) = governance(ledger, &rec, Some(&cast.requester), &what, steps)?;
    Steps::detail(&format!(
        "class '{GRANTS_CLASS}' applies: a person must review the evidence before anyone approves"
    ))?;
    Ok((seq, hash, digests))
}

fn append_review(
    ledger: &Ledger,
    cast: &Cast,
    (p_seq, proposal): (u64, Digest),
    evidence: &[Digest],
    steps: &mut Steps,
) -> Result<(), CliError> {
    let rec = Record::Review(Review {
        subject: proposal,
        verdict: Verdict::Endorse,
        digests: evidence.to_vec(),
        comment: "scope limited to refunds up to 500 EUR; matches least privilege".into(),
    });
    let what = format!(
        "review by {REVIEWER_ID} of proposal {p_seq}, naming the exact digests of its evidence (the ticket and the AI draft): endorse"
    );
    governance(ledger, &rec, Some(&cast.reviewer), &what, steps).map(drop)
}

fn append_approval(
    ledger: &Ledger,
    cast: &Cast,
    (p_seq, proposal): (u64, Digest),
    steps: &mut Steps,
) -> Result<(u64, Digest), CliError> {
    let rec = Record::Approval(Approval {
        proposal,
        scope: "refund-issuer for support-tier2 in payments-prod, max 500 EUR per refund".into(),
        expires_at: Some(Timestamp(Timestamp::now().0.saturating_add(APPROVAL_VALID_NANOS))),
    });
    let what = format!("approval by {APPROVER_ID} of exactly proposal {p_seq} (its entry hash), valid for 7 days");
    governance(ledger, &rec, Some(&cast.approver), &what, steps)
}

fn append_execution(
    ledger: &Ledger,
    (proposal, approval): (Digest, Digest),
    steps: &mut Steps,
) -> Result<(), CliError> {
    let rec = Record::Execution(Execution {
        proposal,
        approvals: vec![approval],
        action_taken: "role refund-issuer granted to support-tier2 (IAM change CHG-88120)".into(),
        outcome: "applied".into(),
    });
    let what = format!("execution by {OPERATOR_ID}, relying on the approval");
    governance(ledger, &rec, None, &what, steps).map(drop)
}

/// Later, routine events: each appended entry is one more leaf of the Merkle tree.
pub fn append_follow_ups(ledger: &Ledger, steps: &mut Steps) -> Result<(), CliError> {
    let events = [
        ("notification", "support-tier2 was told of its new permission"),
        (
            "monitoring",
            "first week: 14 refunds issued by tier 2, all under 500 EUR",
        ),
    ];
    for (event, what) in events {
        let payload = json!({ "event": event, "group": "support-tier2", "summary": what });
        let draft = Draft::application("application/json", serde_json::to_vec(&payload)?);
        record(ledger, draft, &format!("{event}: {what}"), steps)?;
    }
    Ok(())
}

/// A digest of demo content. The bytes are those of the payload hash domain (docs/FORMAT.md
/// §2.1: BLAKE3 keyed with `derive_key("provledger v2 domain key", "payload")`), so the examples
/// generated from the demo in docs/GOVERNANCE.md stay as they are; any digest would do.
fn demo_digest(parts: &[&[u8]]) -> Digest {
    let key = blake3::derive_key("provledger v2 domain key", b"payload");
    let mut h = blake3::Hasher::new_keyed(&key);
    for p in parts {
        h.update(p);
    }
    Digest::from_bytes(*h.finalize().as_bytes())
}
