//! Policy verification: the decision-boundary rules of DESIGN §4, evaluated over the ledger
//! in order, each violation naming its rule and the entries involved.
//!
//! State is kept per proposal and per approval (not per entry), so memory grows with the
//! number of governance decisions, not with the ledger.

use std::collections::{HashMap, HashSet};

use crate::entry::Timestamp;
use crate::hash::Digest;
use crate::keys::KeyId;
use crate::record::{
    Approval, Autonomy, DecisionBoundary, Environment, Execution, KeyEnrollment, Policy, Proposal, Record, Role, RuleId,
};

use super::registry::KeyInfo;
use super::Violation;

/// Violations kept in the report; beyond that only counted.
const MAX_VIOLATIONS: usize = 10_000;

/// One signer of an entry, as the registry knew it at that entry.
pub(super) type Signer = (KeyId, KeyInfo);

/// What the policy engine needs to know about an entry.
pub(super) struct Observed<'a> {
    pub seq: u64,
    pub hash: Digest,
    pub timestamp: Timestamp,
    pub refs: &'a [Digest],
    pub signers: &'a [Signer],
    /// No unrevoked approver existed when the entry was made (governance bootstrap).
    pub bootstrap: bool,
}

struct ProposalState {
    seq: u64,
    boundary: DecisionBoundary,
    environment: Environment,
    governance: bool,
    requesters: Vec<String>,
    rejected_at: Option<u64>,
    executed_at: Option<u64>,
    /// Valid approvals: (sequence number, expiry).
    valid_approvals: Vec<(u64, Option<Timestamp>)>,
}

struct ApprovalState {
    seq: u64,
    proposal: Digest,
    approvers: Vec<KeyId>,
    valid: bool,
    expires_at: Option<Timestamp>,
}

/// Evaluates the rules entry by entry.
pub(super) struct PolicyEngine {
    policy: Policy,
    proposals: HashMap<Digest, ProposalState>,
    approvals: HashMap<Digest, ApprovalState>,
    experimental: HashSet<Digest>,
    pub violations: Vec<Violation>,
    pub dropped: u64,
}

impl PolicyEngine {
    pub(super) fn new(policy: Policy) -> Self {
        PolicyEngine {
            policy,
            proposals: HashMap::new(),
            approvals: HashMap::new(),
            experimental: HashSet::new(),
            violations: Vec::new(),
            dropped: 0,
        }
    }

    fn violate(&mut self, rule: RuleId, seqs: Vec<u64>, message: String) {
        if !self.policy.enforces(rule) {
            return;
        }
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation { rule, message, seqs });
        } else {
            self.dropped += 1;
        }
    }

    /// Observes one verified entry.
    pub(super) fn observe(&mut self, o: &Observed<'_>, record: &Record, revoked: &dyn Fn(&KeyId) -> Option<u64>) {
        match record {
            Record::Proposal(p) => self.proposal(o, p),
            Record::Approval(a) => self.approval(o, a),
            Record::Rejection(r) => self.rejection(o, r.proposal),
            Record::Execution(e) => self.execution(o, e, revoked),
            Record::AiOutput(_) => {
                // The output is experimental when an AI agent that produced it may not act in
                // production (the appending service's own signature does not change that).
                let lab = |(_, k): &Signer| k.has(Role::AiAgent) && !k.may_act_in(Environment::Production);
                if o.signers.iter().any(lab) {
                    self.experimental.insert(o.hash);
                }
            }
            Record::KeyEnrollment(e) => self.enrollment(o, e),
            Record::PolicyUpdate(p) => {
                self.gated_change(o, "a policy update");
                self.policy = p.clone();
            }
            Record::KeyRevocation(_) | Record::Review(_) | Record::Override(_) | Record::Redaction(_) => {}
        }
    }

    fn env_check(&mut self, o: &Observed<'_>, env: Environment, what: &str) {
        for (id, k) in o.signers {
            if !k.may_act_in(env) {
                let env = match env {
                    Environment::Production => "production",
                    Environment::Experimentation => "experimentation",
                };
                let msg = format!(
                    "{what} in {env} is signed by key {id} ({}) which is not enrolled for it",
                    k.principal_id
                );
                self.violate(RuleId::KeyOutsideEnvironment, vec![o.seq], msg);
            }
        }
    }

    /// A production `what` must not reference entries made in experimentation.
    fn relies_on_experimentation(&mut self, o: &Observed<'_>, what: &str) {
        let exp: Vec<Digest> = o
            .refs
            .iter()
            .filter(|r| self.experimental.contains(*r))
            .copied()
            .collect();
        for r in exp {
            let msg = format!("production {what} {} relies on experimentation entry {r}", o.seq);
            self.violate(RuleId::ProductionReliesOnExperimentation, vec![o.seq], msg);
        }
    }

    fn proposal(&mut self, o: &Observed<'_>, p: &Proposal) {
        let seq = o.seq;
        let production = p.environment == Environment::Production;
        if p.environment == Environment::Experimentation {
            self.experimental.insert(o.hash);
        }
        if production && p.impact.gated() && p.boundary == DecisionBoundary::AiMayAssist {
            let msg = format!("proposal {seq} is a customer-impacting, policy or permission change in production but only marked ai_may_assist; it needs at least human_approval_required");
            self.violate(RuleId::GatedImpact, vec![seq], msg);
        }
        if production {
            self.relies_on_experimentation(o, "proposal");
        }
        self.env_check(o, p.environment, &format!("proposal {seq}"));
        let requesters: Vec<&KeyInfo> = o
            .signers
            .iter()
            .map(|(_, k)| k)
            .filter(|k| k.has(Role::Requester) || k.has(Role::AiAgent))
            .collect();
        if p.boundary == DecisionBoundary::HumanOnly
            && (p.autonomy == Autonomy::Autonomy || requesters.iter().all(|k| k.is_ai()))
        {
            let msg = format!("proposal {seq} is human_only but is made by an AI agent or with autonomy");
            self.violate(RuleId::HumanOnlyNotByPerson, vec![seq], msg);
        }
        let state = ProposalState {
            seq,
            boundary: p.boundary,
            environment: p.environment,
            governance: p.impact.policy_change || p.impact.permission_change,
            requesters: requesters.iter().map(|k| k.principal_id.clone()).collect(),
            rejected_at: None,
            executed_at: None,
            valid_approvals: Vec::new(),
        };
        self.proposals.insert(o.hash, state);
    }

    fn approval(&mut self, o: &Observed<'_>, a: &Approval) {
        let seq = o.seq;
        let Some(p) = self.proposals.get(&a.proposal) else {
            let msg = format!("approval {seq} binds {} which is not an earlier proposal", a.proposal);
            self.violate(RuleId::ApprovalWrongProposal, vec![seq], msg);
            return;
        };
        let (p_seq, env, executed, requesters, human_only) = (
            p.seq,
            p.environment,
            p.executed_at,
            p.requesters.clone(),
            p.boundary == DecisionBoundary::HumanOnly,
        );
        let approvers: Vec<&Signer> = o.signers.iter().filter(|(_, k)| k.has(Role::Approver)).collect();
        let mut valid = !approvers.is_empty();
        for (id, k) in &approvers {
            let who = format!("key {id} ({})", k.principal_id);
            if k.is_ai() {
                let msg = format!("approval {seq} of proposal {p_seq} is signed by AI agent {who}");
                self.violate(RuleId::ApprovalByAi, vec![p_seq, seq], msg);
                if human_only {
                    let msg = format!("human_only proposal {p_seq} is decided by AI agent {who}");
                    self.violate(RuleId::HumanOnlyNotByPerson, vec![p_seq, seq], msg);
                }
                valid = false;
            } else if k.principal_type != crate::record::PrincipalType::Person {
                let msg = format!("approval {seq} of proposal {p_seq} is signed by {who}, which is not a person");
                self.violate(RuleId::ApprovalNotPerson, vec![p_seq, seq], msg);
                valid = false;
            }
            if requesters.contains(&k.principal_id) {
                let msg = format!("{} approves proposal {p_seq} which they requested", k.principal_id);
                self.violate(RuleId::SelfApproval, vec![p_seq, seq], msg);
                valid = false;
            }
            if !k.may_act_in(env) {
                valid = false;
            }
        }
        self.env_check(o, env, &format!("approval {seq}"));
        if let Some(exec) = executed {
            let msg = format!("approval {seq} of proposal {p_seq} comes after its execution {exec}");
            self.violate(RuleId::ApprovalAfterExecution, vec![exec, seq], msg);
        }
        let expires_at = a.expires_at;
        if let (true, Some(p)) = (valid, self.proposals.get_mut(&a.proposal)) {
            p.valid_approvals.push((seq, expires_at));
        }
        let approvers = approvers.iter().map(|(id, _)| *id).collect();
        let state = ApprovalState {
            seq,
            proposal: a.proposal,
            approvers,
            valid,
            expires_at,
        };
        self.approvals.insert(o.hash, state);
    }

    fn rejection(&mut self, o: &Observed<'_>, proposal: Digest) {
        if let Some(p) = self.proposals.get_mut(&proposal) {
            p.rejected_at = Some(o.seq);
        } else {
            let msg = format!("rejection {} binds {proposal} which is not an earlier proposal", o.seq);
            self.violate(RuleId::ApprovalWrongProposal, vec![o.seq], msg);
        }
    }

    fn execution(&mut self, o: &Observed<'_>, e: &Execution, revoked: &dyn Fn(&KeyId) -> Option<u64>) {
        let seq = o.seq;
        let Some(p) = self.proposals.get(&e.proposal) else {
            let msg = format!("execution {seq} is of {} which is not an earlier proposal", e.proposal);
            self.violate(RuleId::ApprovalWrongProposal, vec![seq], msg);
            return;
        };
        let (p_seq, env, boundary, rejected) = (p.seq, p.environment, p.boundary, p.rejected_at);
        if let Some(r) = rejected {
            let msg = format!("proposal {p_seq} was rejected at entry {r} and executed at entry {seq}");
            self.violate(RuleId::ExecutionAfterRejection, vec![p_seq, r, seq], msg);
        }
        self.env_check(o, env, &format!("execution {seq}"));
        if boundary == DecisionBoundary::HumanOnly && o.signers.iter().all(|(_, k)| k.is_ai()) {
            let msg = format!("human_only proposal {p_seq} is executed by an AI agent alone (entry {seq})");
            self.violate(RuleId::HumanOnlyNotByPerson, vec![p_seq, seq], msg);
        }
        if env == Environment::Production {
            self.relies_on_experimentation(o, "execution");
        }
        if boundary != DecisionBoundary::AiMayAssist {
            let valid = self.count_valid(o, e, revoked);
            let need = self.policy.min_approvals();
            if valid < need {
                let msg =
                    format!("execution {seq} of proposal {p_seq} relies on {valid} valid approval(s); {need} needed");
                self.violate(RuleId::ApprovalRequired, vec![p_seq, seq], msg);
            }
        }
        if let Some(p) = self.proposals.get_mut(&e.proposal) {
            p.executed_at.get_or_insert(seq);
        }
    }

    /// Counts the cited approvals that authorise this execution, reporting each that does not.
    fn count_valid(&mut self, o: &Observed<'_>, e: &Execution, revoked: &dyn Fn(&KeyId) -> Option<u64>) -> usize {
        let seq = o.seq;
        let mut valid = 0;
        for h in &e.approvals {
            let Some(a) = self.approvals.get(h) else {
                let msg = format!("execution {seq} cites {h} which is not an earlier approval");
                self.violate(RuleId::ApprovalWrongProposal, vec![seq], msg);
                continue;
            };
            let (a_seq, a_valid, proposal, expires) = (a.seq, a.valid, a.proposal, a.expires_at);
            let revoked_at = a.approvers.iter().filter_map(revoked).filter(|&r| r <= seq).min();
            if proposal != e.proposal {
                let msg = format!("execution {seq} relies on approval {a_seq}, which approves a different proposal");
                self.violate(RuleId::ApprovalWrongProposal, vec![a_seq, seq], msg);
            } else if expires.is_some_and(|t| t < o.timestamp) {
                let msg = format!("execution {seq} relies on approval {a_seq}, which had expired");
                self.violate(RuleId::ApprovalExpired, vec![a_seq, seq], msg);
            } else if let Some(r) = revoked_at {
                let msg = format!("execution {seq} relies on approval {a_seq}, whose key was revoked at entry {r}");
                self.violate(RuleId::ApprovalRevoked, vec![a_seq, r, seq], msg);
            } else if a_valid {
                valid += 1;
            }
        }
        valid
    }

    fn enrollment(&mut self, o: &Observed<'_>, e: &KeyEnrollment) {
        if e.roles.iter().any(|r| matches!(r, Role::Admin | Role::Approver)) {
            self.gated_change(o, &format!("granting {} the admin or approver role", e.principal_id));
        }
    }

    /// Policy changes and powerful role grants must cite an approved governance proposal.
    fn gated_change(&mut self, o: &Observed<'_>, what: &str) {
        if o.bootstrap {
            return;
        }
        let need = self.policy.min_approvals();
        let approved = o.refs.iter().any(|r| {
            self.proposals.get(r).is_some_and(|p| {
                p.governance
                    && p.valid_approvals
                        .iter()
                        .filter(|(_, exp)| exp.is_none_or(|t| t >= o.timestamp))
                        .count()
                        >= need
            })
        });
        if !approved {
            let msg = format!(
                "entry {} ({what}) cites no approved policy or permission-change proposal",
                o.seq
            );
            self.violate(RuleId::UngatedGovernanceChange, vec![o.seq], msg);
        }
    }
}
