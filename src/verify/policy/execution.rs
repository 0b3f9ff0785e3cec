//! Executions and overrides, and how the approvals they rely on are counted: distinct
//! approval entries by distinct persons, each citation once.

use std::collections::{HashMap, HashSet};

use crate::entry::EntryKind;
use crate::hash::Digest;
use crate::record::{DecisionBoundary, Environment, Execution, Override, Requirements, RuleId};

use super::decisions::{Idx, Known, Unusable};
use super::keys::{Actor, Principal};
use super::{Observed, PolicyEngine};

impl PolicyEngine {
    pub(super) fn execution(&mut self, o: &Observed<'_>, actors: &[Actor], e: &Execution) {
        let seq = o.seq;
        let me = (seq, EntryKind::Execution);
        let Some(pi) = self.book.proposal_of(&e.proposal) else {
            let msg = format!("execution {seq} is of {} which is not an earlier proposal", e.proposal);
            self.violate(RuleId::ApprovalWrongProposal, &[me], msg);
            return;
        };
        let req = self.requirements(pi);
        let p = self.book.proposal(pi);
        let (p_seq, env, rejected) = (p.seq, p.environment, p.rejected_at);
        let pair = [(p_seq, EntryKind::Proposal), me];
        if let Some(r) = rejected {
            let msg = format!("proposal {p_seq} was rejected at entry {r} and executed at entry {seq}");
            let seqs = [(p_seq, EntryKind::Proposal), (r, EntryKind::Rejection), me];
            self.violate(RuleId::ExecutionAfterRejection, &seqs, msg);
        }
        self.env_check(o, actors, env, &format!("execution {seq}"));
        if req.boundary == DecisionBoundary::HumanOnly && actors.iter().all(|a| a.ai) {
            let msg = format!("human_only proposal {p_seq} is executed by an AI agent alone (entry {seq})");
            self.violate(RuleId::HumanOnlyNotByPerson, &pair, msg);
        }
        if env == Environment::Production {
            self.relies_on_experimentation(o, "execution");
        }
        if req.gated() {
            let need = usize::from(req.min_approvals);
            let valid = self.count_cited(o, pi, &e.approvals, req);
            if valid < need {
                let msg = format!(
                    "execution {seq} of proposal {p_seq} relies on {valid} valid approval(s) by distinct persons; {need} needed"
                );
                self.violate(RuleId::ApprovalRequired, &pair, msg);
            }
        }
        self.book.add_execution(o.hash, pi, seq);
        self.book
            .proposal_mut(pi)
            .executed_at
            .get_or_insert((seq, EntryKind::Execution));
        self.book.close(pi, req, o.timestamp);
    }

    /// Counts the cited approvals of proposal `p` that authorise the observed entry under
    /// `req`, reporting each cited one that is not an approval of `p`, expired, or by a revoked
    /// key. Each approval counts once however often it is cited, and each person once however
    /// many approvals (or keys) they signed.
    pub(super) fn count_cited(&mut self, o: &Observed<'_>, p: Idx, cited: &[Digest], req: Requirements) -> usize {
        let (seq, what) = (o.seq, o.kind.name());
        let me = (seq, o.kind);
        let mut seen: HashSet<Digest> = HashSet::new();
        let mut candidates: Vec<Vec<Principal>> = Vec::new();
        for h in cited.iter().filter(|h| seen.insert(**h)) {
            let Some(Known::Approval(ai)) = self.book.known(h) else {
                let msg = format!("{what} {seq} cites {h} which is not an earlier approval");
                self.violate(RuleId::ApprovalWrongProposal, &[me], msg);
                continue;
            };
            let a = self.book.approval(ai);
            let (a_seq, usable) = (a.seq, a.usable(seq, o.timestamp, |k| self.keys.revoked_at(k)));
            let counts = a.valid && a.reviews_before >= req.reviews;
            let approvers: Vec<Principal> = a.approvers.as_slice().iter().map(|(who, _)| *who).collect();
            let a_role = (a_seq, EntryKind::Approval);
            if a.proposal != p {
                let msg = format!("{what} {seq} relies on approval {a_seq}, which approves a different proposal");
                self.violate(RuleId::ApprovalWrongProposal, &[a_role, me], msg);
                continue;
            }
            match usable {
                Err(Unusable::Expired) => {
                    let msg = format!("{what} {seq} relies on approval {a_seq}, which had expired");
                    self.violate(RuleId::ApprovalExpired, &[a_role, me], msg);
                }
                Err(Unusable::Revoked(r)) => {
                    let msg = format!("{what} {seq} relies on approval {a_seq}, whose key was revoked at entry {r}");
                    self.violate(
                        RuleId::ApprovalRevoked,
                        &[a_role, (r, EntryKind::KeyRevocation), me],
                        msg,
                    );
                }
                Ok(()) if counts => candidates.push(approvers),
                Ok(()) => {}
            }
        }
        distinct_persons(&candidates, usize::from(req.min_approvals.max(1)))
    }

    pub(super) fn override_(&mut self, o: &Observed<'_>, actors: &[Actor], v: &Override) {
        let seq = o.seq;
        let me = (seq, EntryKind::Override);
        if v.reason.trim().is_empty() {
            self.violate(
                RuleId::OverrideReasonMissing,
                &[me],
                format!("override {seq} gives no reason"),
            );
        }
        let (ti, target) = match self.book.known(&v.target) {
            Some(Known::Proposal(i)) => (i, (self.book.proposal(i).seq, EntryKind::Proposal)),
            Some(Known::Execution { proposal, seq }) => (proposal, (seq, EntryKind::Execution)),
            // Not a decision the policy follows (an AI output, an application event…).
            _ => return,
        };
        let treq = self.requirements(ti);
        if !treq.gated() {
            return;
        }
        let what = format!("{} {}", target.1.name(), target.0);
        let how = if treq.boundary == DecisionBoundary::HumanOnly {
            "human_only"
        } else {
            "approved by people"
        };
        if let Some(agent) = actors.iter().find(|a| a.ai) {
            let msg = format!(
                "override {seq} of {what}, a decision {how}, is signed by AI agent {}",
                agent.name
            );
            self.violate(RuleId::OverrideByAi, &[target, me], msg);
        }
        if let Err(why) = self.override_gate(o, v, treq) {
            let msg = format!("override {seq} of {what} is not approved like the decision it overrides: {why}");
            self.violate(RuleId::OverrideUngated, &[target, me], msg);
        }
    }

    /// An override of a gated decision names an open proposal to override with enough valid
    /// approvals: as many as the decision needed, and its own class's.
    fn override_gate(&mut self, o: &Observed<'_>, v: &Override, treq: Requirements) -> Result<(), String> {
        let Some(named) = v.proposal else {
            return Err(format!(
                "it names no proposal to override (the decision needed {} approval(s))",
                treq.min_approvals
            ));
        };
        let Some(oi) = self.book.proposal_of(&named) else {
            return Err(format!("{named} is not an earlier proposal"));
        };
        let p = self.book.proposal(oi);
        let p_seq = p.seq;
        if let Some(r) = p.rejected_at {
            return Err(format!("proposal {p_seq} was rejected at entry {r}"));
        }
        if let Some((x, _)) = p.executed_at {
            return Err(format!("proposal {p_seq} was already used at entry {x}"));
        }
        let req = treq.stricter(self.requirements(oi));
        let need = usize::from(req.min_approvals);
        let valid = self.count_cited(o, oi, &v.approvals, req);
        if valid < need {
            return Err(format!(
                "it relies on {valid} valid approval(s) by distinct persons of proposal {p_seq}; {need} needed"
            ));
        }
        self.book.proposal_mut(oi).executed_at = Some((o.seq, EntryKind::Override));
        self.book.close(oi, req, o.timestamp);
        Ok(())
    }
}

/// How many approvals count when each counts for one of its approvers and each person counts
/// once: a maximum matching of approvals to persons (augmenting paths), stopping at `enough`
/// — which also bounds the search depth.
pub(super) fn distinct_persons(approvals: &[Vec<Principal>], enough: usize) -> usize {
    let mut owner: HashMap<Principal, usize> = HashMap::new();
    let mut count = 0;
    for i in 0..approvals.len() {
        if count >= enough {
            break;
        }
        let mut visited = HashSet::new();
        if augment(i, approvals, &mut owner, &mut visited) {
            count += 1;
        }
    }
    count
}

fn augment(
    i: usize,
    approvals: &[Vec<Principal>],
    owner: &mut HashMap<Principal, usize>,
    visited: &mut HashSet<Principal>,
) -> bool {
    for &p in &approvals[i] {
        if !visited.insert(p) {
            continue;
        }
        let free = match owner.get(&p).copied() {
            None => true,
            Some(j) => augment(j, approvals, owner, visited),
        };
        if free {
            owner.insert(p, i);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::distinct_persons;

    #[test]
    fn approvals_count_once_per_person_and_once_each() {
        assert_eq!(distinct_persons(&[vec![1], vec![1]], 9), 1, "one person twice");
        assert_eq!(
            distinct_persons(&[vec![1, 2], vec![1]], 9),
            2,
            "co-signed approval counts for the other"
        );
        assert_eq!(distinct_persons(&[vec![1], vec![1], vec![2, 3]], 9), 2);
        assert_eq!(
            distinct_persons(&[vec![1, 2], vec![1, 2], vec![1, 2]], 9),
            2,
            "two persons, three approvals"
        );
        assert_eq!(distinct_persons(&[vec![1], vec![2], vec![3]], 2), 2, "stops at enough");
        assert_eq!(distinct_persons(&[], 1), 0);
    }
}
