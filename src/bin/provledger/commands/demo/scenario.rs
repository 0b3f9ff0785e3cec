//! The demo's story: an AI-assisted credit-limit decision, then routine follow-up events.

use serde_json::{json, Value};

use provledger::hash::derive;
use provledger::{Digest, Ledger};

use super::{json_draft, record, Cast, Steps, APPROVER_ID, OPERATOR_ID, REVIEWER_ID};
use crate::error::CliError;

/// Sequence number of the approval entry (the one the inclusion proof is for).
pub const APPROVAL_SEQ: u64 = 3;

/// The decision path: AI output, human review, approval, execution. Each entry references
/// the entries it relies on by hash; reviewer and approver co-sign theirs.
pub fn append_decision(ledger: &mut Ledger, cast: &Cast, steps: &mut Steps) -> Result<(), CliError> {
    let what = "AI output: the model recommends raising customer C-10442's limit from 5,000 to 8,000 EUR";
    let ai = record(ledger, json_draft(&ai_output(), vec![])?, what, steps)?;
    let draft = json_draft(&review(ai), vec![ai])?.cosigned_by(&cast.reviewer);
    let what = format!("human review by {REVIEWER_ID} of entry 1 (co-signed by the reviewer)");
    let rev = record(ledger, draft, &what, steps)?;
    let draft = json_draft(&approval(ai, rev), vec![ai, rev])?.cosigned_by(&cast.approver);
    let what = format!("approval by {APPROVER_ID}, referencing entries 1 and 2 (co-signed by the approver)");
    let appr = record(ledger, draft, &what, steps)?;
    let what = "execution: the limit was set to 8,000 EUR, relying on the approval in entry 3";
    record(ledger, json_draft(&execution(appr), vec![appr])?, what, steps)?;
    Ok(())
}

fn review(ai: Digest) -> Value {
    json!({
        "event": "human_review",
        "reviewer": REVIEWER_ID,
        "reviewed_entry": ai.to_hex(),
        "verdict": "agree",
        "notes": "income and repayment history checked against payslips and statements",
    })
}

fn approval(ai: Digest, review: Digest) -> Value {
    json!({
        "event": "approval",
        "approver": APPROVER_ID,
        "decision": "approved",
        "proposal_entry": ai.to_hex(),
        "review_entry": review.to_hex(),
        "scope": "credit limit of customer C-10442 up to 8,000 EUR",
        "expires": "2030-01-01T00:00:00Z",
    })
}

fn execution(approval: Digest) -> Value {
    json!({
        "event": "execution",
        "action": "set_credit_limit",
        "customer": "C-10442",
        "old_limit": 5000,
        "new_limit": 8000,
        "currency": "EUR",
        "relied_on": [approval.to_hex()],
        "system": OPERATOR_ID,
        "environment": "production",
    })
}

/// An AI model's recommendation, described with OpenTelemetry `GenAI` attribute names.
fn ai_output() -> Value {
    let prompt = b"Customer C-10442 requests a credit limit increase from 5000 EUR to 8000 EUR. ...";
    let config = b"temperature=0;max_tokens=512;system_prompt=credit-policy-v7";
    json!({
        "event": "ai_output",
        "task": "credit_limit_review",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-demo-8f3a",
        "config_digest": derive("provledger demo config", &[config]).to_hex(),
        "input_digest": derive("provledger demo input", &[prompt]).to_hex(),
        "recommendation": {
            "action": "increase_credit_limit", "customer": "C-10442",
            "from": 5000, "to": 8000, "currency": "EUR", "confidence": 0.87,
            "rationale": "stable income for 36 months, utilisation 92%, no missed payments",
        },
        "decision_boundary": "human_approval_required",
        "environment": "production",
    })
}

/// Later, routine events: each appended entry is one more leaf of the Merkle tree.
pub fn append_follow_ups(ledger: &mut Ledger, steps: &mut Steps) -> Result<(), CliError> {
    let events = [
        ("notification", "the customer was told of the new limit"),
        ("monitoring", "first statement under the new limit: utilisation 41%"),
        ("ai_output", "the model's monthly re-score: no change recommended"),
        ("monitoring", "second statement: paid in full"),
    ];
    for (event, what) in events {
        let payload = json!({ "event": event, "customer": "C-10442", "summary": what });
        record(
            ledger,
            json_draft(&payload, vec![])?,
            &format!("{event}: {what}"),
            steps,
        )?;
    }
    Ok(())
}
