//! Proposals: what their action class requires, what they declare, where they come from.

use crate::entry::EntryKind;
use crate::record::{
    ActionDesc, Autonomy, DecisionBoundary, Environment, Policy, Proposal, Requirements, Resolved, RuleId,
};

use super::decisions::{Few, Idx, OpenProposal, ProposalState};
use super::keys::Actor;
use super::{boundary_name, Observed, PolicyEngine};

/// The requirements of one action under `policy`, with the proposal's own declaration and
/// the gated-impact floor folded in (a declaration can only make them stricter).
pub(super) fn effective(policy: &Policy, resolved: &Resolved, declared: DecisionBoundary, floor: bool) -> Requirements {
    let mut r = resolved.requirements;
    r.boundary = r.boundary.max(declared);
    if floor {
        r.boundary = r.boundary.max(DecisionBoundary::HumanApprovalRequired);
    }
    if r.gated() {
        r.min_approvals = r.min_approvals.max(policy.min_approvals.max(1));
    }
    r
}

/// Where requirements come from, for messages: `class 'large refunds'`, `classes 'a', 'b'`,
/// or `the policy for unclassified actions`.
pub(super) fn class_names(policy: &Policy, resolved: &Resolved) -> String {
    let names: Vec<String> = resolved
        .classes
        .iter()
        .map(|&i| format!("'{}'", policy.classes[i].name))
        .collect();
    match names.len() {
        0 => "the policy for unclassified actions".into(),
        1 => format!("class {}", names[0]),
        _ => format!("classes {}", names.join(", ")),
    }
}

impl PolicyEngine {
    /// Whether the production gated-impact floor applies to an action.
    fn floor(&self, env: Environment, impact: crate::record::ImpactFlags) -> bool {
        env == Environment::Production && impact.gated() && self.policy.enforces(RuleId::GatedImpact)
    }

    /// What proposal `p` requires now: under the policy in force while it is open, or as
    /// judged when it closed.
    pub(super) fn requirements(&self, p: Idx) -> Requirements {
        let state = self.book.proposal(p);
        if let Some(r) = state.closed {
            return r;
        }
        let Some(open) = state.open.as_ref() else {
            return Requirements::default();
        };
        let desc = ActionDesc {
            action_type: &open.action_type,
            attributes: &open.attributes,
            impact: open.impact,
        };
        let resolved = self.policy.resolve(&desc);
        let floor = self.floor(state.environment, open.impact);
        effective(&self.policy, &resolved, state.declared, floor)
    }

    pub(super) fn proposal(&mut self, o: &Observed<'_>, actors: &[Actor], p: &Proposal) {
        let seq = o.seq;
        let me = [(seq, EntryKind::Proposal)];
        let production = p.environment == Environment::Production;
        let desc = ActionDesc {
            action_type: &p.action_type,
            attributes: &p.attributes,
            impact: p.impact,
        };
        let resolved = self.policy.resolve(&desc);
        let req = effective(&self.policy, &resolved, p.boundary, self.floor(p.environment, p.impact));
        if production && p.impact.gated() && p.boundary == DecisionBoundary::AiMayAssist {
            let msg = format!("proposal {seq} is a customer-impacting, policy or permission change in production but only marked ai_may_assist; it needs at least human_approval_required");
            self.violate(RuleId::GatedImpact, &me, msg);
        }
        if p.boundary < resolved.requirements.boundary {
            let msg = format!(
                "proposal {seq} declares {} but {} requires at least {}",
                boundary_name(p.boundary),
                class_names(&self.policy, &resolved),
                boundary_name(resolved.requirements.boundary)
            );
            self.violate(RuleId::BoundaryBelowClass, &me, msg);
        }
        if req.evidence && p.evidence.is_empty() {
            let msg = format!(
                "proposal {seq} carries no evidence; {} requires evidence",
                class_names(&self.policy, &resolved)
            );
            self.violate(RuleId::EvidenceRequired, &me, msg);
        }
        self.provenance(o, actors, p, req, &resolved);
        if production {
            self.relies_on_experimentation(o, "proposal");
        }
        self.env_check(o, actors, p.environment, &format!("proposal {seq}"));
        let requesters: Vec<&Actor> = actors.iter().filter(|a| a.requester).collect();
        if req.boundary == DecisionBoundary::HumanOnly
            && (p.autonomy == Autonomy::Autonomy || requesters.iter().all(|a| a.ai))
        {
            let msg = format!("proposal {seq} is human_only but is made by an AI agent or with autonomy");
            self.violate(RuleId::HumanOnlyNotByPerson, &me, msg);
        }
        let mut who: Vec<u32> = requesters.iter().map(|a| a.principal).collect();
        who.sort_unstable();
        who.dedup();
        let state = ProposalState {
            seq,
            environment: p.environment,
            declared: p.boundary,
            gates_policy: p.action_type == "policy.change" || p.impact.policy_change,
            gates_grants: p.action_type.starts_with("permission.grant") || p.impact.permission_change,
            requesters: Few::from_slice(&who),
            rejected_at: None,
            executed_at: None,
            open: Some(Box::new(OpenProposal {
                approvals: Vec::new(),
                action_type: p.action_type.clone(),
                attributes: p.attributes.clone(),
                impact: p.impact,
                evidence: p.evidence.iter().map(|e| e.digest).collect(),
                reviewers: Vec::new(),
                concerns: Vec::new(),
            })),
            closed: None,
            reviews_at_close: 0,
        };
        self.book.add_proposal(o.hash, state);
    }

    /// Every cited AI output is an earlier `ai_output` entry with that hash (and, for a
    /// production proposal, not an experimental one); a proposal made with AI involvement cites
    /// one when its class requires it.
    fn provenance(&mut self, o: &Observed<'_>, actors: &[Actor], p: &Proposal, req: Requirements, r: &Resolved) {
        let seq = o.seq;
        if p.ai_outputs.len() > o.cited.len() {
            let msg = format!(
                "proposal {seq} cites {} AI outputs, more than the {} a proposal can reference; the others were not read",
                p.ai_outputs.len(),
                o.cited.len()
            );
            self.violate(RuleId::AiProvenance, &[(seq, EntryKind::Proposal)], msg);
        }
        for c in o.cited {
            let cited = c.at.seq;
            let problem = match &c.found {
                None => Some(format!(
                    "cites entry {cited} as an AI output, but that is not an earlier entry"
                )),
                Some((hash, _, _)) if *hash != c.at.hash => Some(format!(
                    "cites entry {cited} as an AI output with a hash that is not its hash"
                )),
                Some((_, kind, _)) if *kind != EntryKind::AiOutput => Some(format!(
                    "cites entry {cited} as an AI output, but it is a {} entry",
                    kind.name()
                )),
                Some(_) => None,
            };
            if let Some(why) = problem {
                let role = c.found.as_ref().map_or(EntryKind::AiOutput, |f| f.1);
                let seqs: Vec<(u64, EntryKind)> = if cited < seq {
                    vec![(cited, role), (seq, EntryKind::Proposal)]
                } else {
                    vec![(seq, EntryKind::Proposal)]
                };
                self.violate(RuleId::AiProvenance, &seqs, format!("proposal {seq} {why}"));
                continue;
            }
            let signers = c.found.as_ref().map_or(&[][..], |f| &f.2[..]);
            let lab = signers
                .iter()
                .map(|s| self.keys.actor(s))
                .find(|a| a.ai && !a.may_act_in(Environment::Production));
            if let (Environment::Production, Some(agent)) = (p.environment, lab) {
                let msg = format!(
                    "production proposal {seq} relies on AI output {cited}, made by {} which may act only in experimentation",
                    agent.describe()
                );
                let seqs = [(cited, EntryKind::AiOutput), (seq, EntryKind::Proposal)];
                self.violate(RuleId::ProductionReliesOnExperimentation, &seqs, msg);
            }
        }
        let ai_involved = actors.iter().any(|a| a.ai) || p.autonomy != Autonomy::Automation;
        if req.cite_ai_outputs && ai_involved && p.ai_outputs.is_empty() {
            let msg = format!(
                "proposal {seq} is made with AI involvement but cites no AI output; {} requires the AI outputs it came from",
                class_names(&self.policy, r)
            );
            self.violate(RuleId::AiProvenance, &[(seq, EntryKind::Proposal)], msg);
        }
    }
}
