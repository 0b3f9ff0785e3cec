//! `provledger policy show`: the policy in force at a point of the ledger, and the history of
//! policy updates (only gated ones take effect).

use serde_json::{json, Value};

use provledger::record::{ActionClass, Policy, Requirements, RuleId};
use provledger::{policy_at, PolicyView};

use crate::cli::{PolicyArgs, PolicyCommand, PolicyShowArgs};
use crate::error::CliError;
use crate::output;

/// Runs a `policy` subcommand.
pub fn run(args: &PolicyArgs) -> Result<u8, CliError> {
    match &args.command {
        PolicyCommand::Show(a) => show(a),
    }
}

fn show(args: &PolicyShowArgs) -> Result<u8, CliError> {
    let view = policy_at(&args.dir, args.at)?;
    if args.json {
        output::json(&view_json(&view))?;
    } else {
        print_view(&view)?;
    }
    Ok(0)
}

/// `policy show --json`: `{"before":N,"in_force":{"seq":S,"digest":D},"policy":{…},"updates":[…]}`.
pub fn view_json(v: &PolicyView) -> Value {
    json!({
        "before": v.before,
        "in_force": v.in_force,
        "policy": v.policy,
        "updates": v.updates,
    })
}

fn print_view(v: &PolicyView) -> Result<(), CliError> {
    let by = if v.in_force.seq == 0 {
        "the genesis (entry 0)".to_owned()
    } else {
        format!("the policy update at entry {}", v.in_force.seq)
    };
    output::line(&format!(
        "policy in force for entry {} (after the {} entries before it): set by {by}",
        v.before, v.before
    ))?;
    output::line(&format!("digest:        {}", v.in_force.digest))?;
    print_policy(&v.policy)?;
    for u in &v.updates {
        let status = if u.took_effect {
            "gated, took effect"
        } else {
            "NOT gated: did not take effect (governance.ungated_change)"
        };
        output::line(&format!(
            "update:        entry {} (digest {}): {status}",
            u.policy.seq, u.policy.digest
        ))?;
    }
    output::line("note:          read as stored, not verified; `provledger verify DIR --trust KEY --policy` checks it")
}

fn print_policy(p: &Policy) -> Result<(), CliError> {
    output::line(&format!(
        "min_approvals: {} (every gated decision; classes may ask more)",
        p.min_approvals()
    ))?;
    let listed: Vec<&str> = p.rules.iter().map(|r| r.id()).collect();
    output::line(&format!("rules:         {}", listed.join(", ")))?;
    let always: Vec<&str> = RuleId::ALL
        .iter()
        .filter(|r| r.mandatory() && !p.rules.contains(r))
        .map(|r| r.id())
        .collect();
    if !always.is_empty() {
        output::line(&format!(
            "always:        {} (cannot be switched off)",
            always.join(", ")
        ))?;
    }
    for c in &p.classes {
        output::line(&format!("class:         '{}': {}", c.name, class_text(c)))?;
    }
    match &p.unclassified {
        Some(r) => output::line(&format!("unclassified:  {}", requirements_text(*r))),
        None => output::line("unclassified:  what the proposal declares"),
    }
}

/// `actions refund; amount_eur >= 1000 → human_approval_required, 2 approvals`.
fn class_text(c: &ActionClass) -> String {
    let mut when = Vec::new();
    if !c.actions.is_empty() {
        when.push(format!("actions {}", c.actions.join(", ")));
    }
    let impact = serde_json::to_value(c.impact).unwrap_or(Value::Null);
    let flags: Vec<String> = impact
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| k.clone())
        .collect();
    if !flags.is_empty() {
        when.push(format!("impact {}", flags.join(", ")));
    }
    let bound = c.threshold.as_ref().map_or(String::new(), |t| {
        format!(" with {} >= {} (or not stated)", t.attribute, t.at_least)
    });
    format!("{}{bound} → {}", when.join(" or "), requirements_text(c.require))
}

/// `human_approval_required, 2 approvals, 1 review, evidence, AI outputs cited`.
fn requirements_text(r: Requirements) -> String {
    let boundary = serde_json::to_value(r.boundary)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut parts = vec![boundary];
    if r.min_approvals > 0 {
        parts.push(format!("{} approval(s)", r.min_approvals));
    }
    if r.reviews > 0 {
        parts.push(format!("{} review(s) before approval", r.reviews));
    }
    if r.evidence {
        parts.push("evidence".into());
    }
    if r.cite_ai_outputs {
        parts.push("AI outputs cited".into());
    }
    parts.join(", ")
}
