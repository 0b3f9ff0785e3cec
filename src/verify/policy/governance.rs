//! Gated governance changes, and the bootstrap rule.
//!
//! A *governance change* is a policy update (action type `policy.change`), or a key
//! enrollment that grants the admin role (`permission.grant.admin`), the approver role
//! (`permission.grant.approver`), or production rights to an AI agent — a `software_agent` or a
//! key with the `ai_agent` role enrolled for production (`permission.grant.ai_production`).
//!
//! **Gate.** The change must reference (`refs`) a production proposal that qualifies for it
//! (action type `policy.change` or impact `policy_change` for a policy update; action type
//! `permission.grant…` or impact `permission_change` for a grant), is neither rejected nor used
//! before, and has, at the change, enough valid approvals by distinct persons: what the
//! policy's classes require for the change's action types and for the proposal's own, at
//! least the policy's `min_approvals`. An approval counts only if it has not expired, its keys
//! were not revoked at or before the change, and it came after the reviews required. The
//! proposal is then used up. Otherwise `governance.ungated_change`, and the change **does
//! not take effect** for the policy: an ungated policy update leaves the old policy in force;
//! an ungated approver grant makes no approver; an ungated AI production grant leaves the agent
//! acting in experimentation only.
//!
//! **Bootstrap.** Until the ledger has as many *eligible approvers* — distinct persons with an
//! unrevoked, production-enabled approver key whose grant took effect — as a governance change
//! needs approvals (the largest such number over the four action types), no change can be
//! gated, so none needs to be. Bootstrap ends the first time that number is reached and never
//! returns: revoking approvers afterwards does not ungate anything (the change simply cannot
//! be approved until enough approvers are enrolled again — enroll before you revoke).

use crate::entry::EntryKind;
use crate::hash::Digest;
use crate::record::{
    ActionDesc, DecisionBoundary, Environment, ImpactFlags, KeyEnrollment, Policy, PrincipalType, Requirements, Role,
    RuleId,
};
use crate::verify::report::PolicyRef;

use super::decisions::Idx;
use super::proposal::effective;
use super::{Observed, PolicyEngine, PolicyEvent};

/// The action types of governance changes.
const POLICY_CHANGE: &str = "policy.change";
const GRANT_ADMIN: &str = "permission.grant.admin";
const GRANT_APPROVER: &str = "permission.grant.approver";
const GRANT_AI_PRODUCTION: &str = "permission.grant.ai_production";

/// A governance change being judged.
struct Change<'a> {
    /// Its action types (a grant of several powers has several).
    actions: Vec<&'static str>,
    policy: bool,
    /// What it does, for messages.
    what: &'a str,
}

/// The governance action types an enrollment carries (none: not a governance change).
pub(super) fn grant_actions(e: &KeyEnrollment) -> Vec<&'static str> {
    let ai = e.roles.contains(&Role::AiAgent) || e.principal_type == PrincipalType::SoftwareAgent;
    let mut out = Vec::new();
    if e.roles.contains(&Role::Admin) {
        out.push(GRANT_ADMIN);
    }
    if e.roles.contains(&Role::Approver) {
        out.push(GRANT_APPROVER);
    }
    if ai && e.environments.contains(&Environment::Production) {
        out.push(GRANT_AI_PRODUCTION);
    }
    out
}

/// What the policy requires of a change with these action types.
fn change_requirements(policy: &Policy, actions: &[&str], is_policy: bool) -> Requirements {
    let impact = ImpactFlags {
        policy_change: is_policy,
        permission_change: !is_policy,
        ..ImpactFlags::default()
    };
    let none = std::collections::BTreeMap::new();
    actions.iter().fold(Requirements::default(), |r, action| {
        let desc = ActionDesc {
            action_type: action,
            attributes: &none,
            impact,
        };
        let resolved = policy.resolve(&desc);
        r.stricter(effective(
            policy,
            &resolved,
            DecisionBoundary::HumanApprovalRequired,
            false,
        ))
    })
}

impl PolicyEngine {
    pub(super) fn policy_update(&mut self, o: &Observed<'_>, p: &Policy) {
        let change = Change {
            actions: vec![POLICY_CHANGE],
            policy: true,
            what: "a policy update",
        };
        let took_effect = self.gate(o, &change);
        let digest = p.digest().unwrap_or(Digest::ZERO);
        let policy = PolicyRef { seq: o.seq, digest };
        self.history.push(PolicyEvent { policy, took_effect });
        if took_effect {
            self.policy = p.clone();
            self.current = policy;
            self.check_bootstrap();
        }
    }

    pub(super) fn enrollment(&mut self, o: &Observed<'_>, e: &KeyEnrollment) {
        let actions = grant_actions(e);
        let what = format!("granting {} {}", e.principal_id, grant_words(&actions));
        let gated = actions.is_empty()
            || self.gate(
                o,
                &Change {
                    actions,
                    policy: false,
                    what: &what,
                },
            );
        if let Ok(k) = crate::keys::VerifyingKey::from_bytes(&e.public_key) {
            self.keys.enroll(k.key_id(), e, gated);
        }
        self.check_bootstrap();
    }

    /// Approvals a governance change needs under the policy in force: the most any of the
    /// four kinds of change needs.
    fn governance_quorum(&self) -> usize {
        let grants = [GRANT_ADMIN, GRANT_APPROVER, GRANT_AI_PRODUCTION];
        let policy = change_requirements(&self.policy, &[POLICY_CHANGE], true);
        let grant = grants
            .iter()
            .map(|g| change_requirements(&self.policy, &[g], false).min_approvals)
            .max()
            .unwrap_or(0);
        usize::from(policy.min_approvals.max(grant))
    }

    /// Ends the bootstrap once enough approvers exist (it never starts again).
    pub(super) fn check_bootstrap(&mut self) {
        if self.bootstrap && self.keys.eligible_approvers() >= self.governance_quorum() {
            self.bootstrap = false;
        }
    }

    /// Whether the change is gated (or made during bootstrap); reports it when not.
    fn gate(&mut self, o: &Observed<'_>, change: &Change<'_>) -> bool {
        if self.bootstrap {
            return true;
        }
        let mut first_problem: Option<(u64, String)> = None;
        for r in o.refs {
            let Some(p) = self.book.proposal_of(r) else { continue };
            match self.gate_with(o, p, change) {
                Ok(()) => return true,
                Err(why) => {
                    first_problem.get_or_insert((self.book.proposal(p).seq, why));
                }
            }
        }
        let me = (o.seq, o.kind);
        let (seqs, msg) = match first_problem {
            None => (
                vec![me],
                format!(
                    "entry {} ({}) cites no approved proposal to gate it",
                    o.seq, change.what
                ),
            ),
            Some((p_seq, why)) => (
                vec![(p_seq, EntryKind::Proposal), me],
                format!("entry {} ({}) is not gated: {why}", o.seq, change.what),
            ),
        };
        self.violate(RuleId::UngatedGovernanceChange, &seqs, msg);
        false
    }

    /// Whether proposal `p` gates the change; uses it up if so.
    fn gate_with(&mut self, o: &Observed<'_>, p: Idx, change: &Change<'_>) -> Result<(), String> {
        let state = self.book.proposal(p);
        let p_seq = state.seq;
        let kind = if change.policy {
            "a policy-change (action type policy.change)"
        } else {
            "a permission-grant (action type permission.grant…)"
        };
        if !(if change.policy {
            state.gates_policy
        } else {
            state.gates_grants
        }) {
            return Err(format!("proposal {p_seq} is not {kind} proposal"));
        }
        if state.environment != Environment::Production {
            return Err(format!(
                "proposal {p_seq} is in experimentation; governance changes need a production proposal"
            ));
        }
        if let Some(r) = state.rejected_at {
            return Err(format!("proposal {p_seq} was rejected at entry {r}"));
        }
        if let Some((x, _)) = state.executed_at {
            return Err(format!("proposal {p_seq} was already used at entry {x}"));
        }
        let approvals = state.open.as_ref().map(|o| o.approvals.clone()).unwrap_or_default();
        let req = change_requirements(&self.policy, &change.actions, change.policy).stricter(self.requirements(p));
        let need = usize::from(req.min_approvals);
        let candidates: Vec<Vec<u32>> = approvals
            .iter()
            .map(|&i| self.book.approval(i))
            .filter(|a| a.valid && a.reviews_before >= req.reviews)
            .filter(|a| a.usable(o.seq, o.timestamp, |k| self.keys.revoked_at(k)).is_ok())
            .map(|a| a.approvers.as_slice().iter().map(|(who, _)| *who).collect())
            .collect();
        let n = super::execution::distinct_persons(&candidates, need);
        if n < need {
            return Err(format!(
                "proposal {p_seq} has {n} valid approval(s) by distinct persons at this entry; {need} needed ({} eligible approver(s) exist)",
                self.keys.eligible_approvers()
            ));
        }
        self.book.proposal_mut(p).executed_at = Some((o.seq, o.kind));
        self.book.close(p, req, o.timestamp);
        Ok(())
    }
}

/// `the admin role`, `the approver role and production rights as an AI agent` …
fn grant_words(actions: &[&str]) -> String {
    let words: Vec<&str> = actions
        .iter()
        .map(|a| match *a {
            GRANT_ADMIN => "the admin role",
            GRANT_APPROVER => "the approver role",
            _ => "production rights as an AI agent",
        })
        .collect();
    words.join(" and ")
}
