//! Approvals, reviews, risk acceptances and rejections of proposals.

use crate::entry::EntryKind;
use crate::hash::Digest;
use crate::record::{Approval, DecisionBoundary, Review, RiskAcceptance, RuleId, Verdict};

use super::decisions::{ApprovalState, Concern, Few, Idx, Known};
use super::keys::Actor;
use super::{Observed, PolicyEngine};

impl PolicyEngine {
    pub(super) fn approval(&mut self, o: &Observed<'_>, actors: &[Actor], a: &Approval) {
        let seq = o.seq;
        let Some(pi) = self.book.proposal_of(&a.proposal) else {
            let msg = format!("approval {seq} binds {} which is not an earlier proposal", a.proposal);
            self.violate(RuleId::ApprovalWrongProposal, &[(seq, EntryKind::Approval)], msg);
            return;
        };
        let req = self.requirements(pi);
        let p = self.book.proposal(pi);
        let (p_seq, env, executed) = (p.seq, p.environment, p.executed_at);
        let requesters = p.requesters.clone();
        let pair = [(p_seq, EntryKind::Proposal), (seq, EntryKind::Approval)];
        let approvers: Vec<&Actor> = actors.iter().filter(|x| x.approver).collect();
        let mut valid = !approvers.is_empty();
        for x in &approvers {
            let requester = requesters.contains(&x.principal);
            if x.ai {
                let msg = format!("approval {seq} of proposal {p_seq} is signed by AI agent {}", x.name);
                self.violate(RuleId::ApprovalByAi, &pair, msg);
                if req.boundary == DecisionBoundary::HumanOnly {
                    let msg = format!("human_only proposal {p_seq} is decided by AI agent {}", x.name);
                    self.violate(RuleId::HumanOnlyNotByPerson, &pair, msg);
                }
            }
            if !x.person {
                let msg = format!(
                    "approval {seq} of proposal {p_seq} is signed by {}, which is not a person",
                    x.describe()
                );
                self.violate(RuleId::ApprovalNotPerson, &pair, msg);
            }
            if requester {
                let msg = format!("{} approves proposal {p_seq} which they requested", x.name);
                self.violate(RuleId::SelfApproval, &pair, msg);
            }
            valid &= !x.ai && x.person && !requester && x.may_act_in(env) && x.approver_granted;
        }
        self.env_check(o, actors, env, &format!("approval {seq}"));
        if let Some((exec, kind)) = executed {
            let msg = format!("approval {seq} of proposal {p_seq} comes after its execution {exec}");
            self.violate(
                RuleId::ApprovalAfterExecution,
                &[(exec, kind), (seq, EntryKind::Approval)],
                msg,
            );
        }
        let (reviews, unaccepted) = self.reviews_before(pi, o);
        if reviews < usize::from(req.reviews) {
            let msg = format!(
                "approval {seq} of proposal {p_seq} comes after {reviews} qualifying review(s); the policy requires {} before approval (by persons other than the requesters, naming every evidence digest)",
                req.reviews
            );
            self.violate(RuleId::ReviewRequired, &pair, msg);
            valid = false;
        }
        for r in unaccepted {
            let msg = format!(
                "approval {seq} of proposal {p_seq} comes before anyone accepted the risk raised by review {r}"
            );
            let seqs = [
                (p_seq, EntryKind::Proposal),
                (r, EntryKind::Review),
                (seq, EntryKind::Approval),
            ];
            self.violate(RuleId::RiskUnaccepted, &seqs, msg);
            valid = false;
        }
        let state = ApprovalState {
            seq,
            proposal: pi,
            expires_at: a.expires_at,
            valid,
            reviews_before: u8::try_from(reviews).unwrap_or(u8::MAX),
            approvers: Few::from_slice(&approvers.iter().map(|x| (x.principal, x.key)).collect::<Vec<_>>()),
        };
        self.book.add_approval(o.hash, state);
    }

    /// Reviews of proposal `p` that count at the observed entry, and the reviews whose risk
    /// nobody has accepted (or whose acceptance expired) by then.
    fn reviews_before(&self, p: Idx, o: &Observed<'_>) -> (usize, Vec<u64>) {
        let state = self.book.proposal(p);
        let Some(open) = state.open.as_ref() else {
            // Closed (executed, used or rejected): the reviews that counted then.
            return (usize::from(state.reviews_at_close), Vec::new());
        };
        let unaccepted = open
            .concerns
            .iter()
            .filter(|c| c.accepted_until.is_none_or(|u| u < o.timestamp))
            .map(|c| c.seq)
            .collect();
        (open.reviews_at(o.timestamp), unaccepted)
    }

    /// A review of an open proposal counts (endorse) or raises a risk (concerns, reject).
    /// Reviews of other entries (an AI output…) are provenance the ledger records, not judged.
    pub(super) fn review(&mut self, o: &Observed<'_>, actors: &[Actor], r: &Review) {
        let Some(pi) = self.book.proposal_of(&r.subject) else {
            return;
        };
        let p = self.book.proposal(pi);
        let Some(open) = p.open.as_ref() else { return };
        let covers = open.evidence.iter().all(|d| r.digests.contains(d));
        let counting = actors
            .iter()
            .find(|x| x.reviewer && x.person && !x.ai && !p.requesters.contains(&x.principal))
            .filter(|x| x.may_act_in(p.environment))
            .map(|x| x.principal)
            .filter(|_| covers);
        match r.verdict {
            Verdict::Endorse => {
                if let (Some(who), Some(open)) = (counting, self.book.proposal_mut(pi).open.as_mut()) {
                    open.reviewers.push(who);
                }
            }
            Verdict::Concerns | Verdict::Reject => {
                let concern = Concern {
                    review: o.hash,
                    seq: o.seq,
                    counts_for: counting.filter(|_| r.verdict == Verdict::Concerns),
                    accepted_until: None,
                };
                self.book.add_concern(pi, concern);
            }
        }
    }

    pub(super) fn risk_acceptance(&mut self, o: &Observed<'_>, actors: &[Actor], r: &RiskAcceptance) {
        let seq = o.seq;
        let mut problems: Vec<String> = Vec::new();
        let acceptors: Vec<&Actor> = actors.iter().filter(|x| x.approver).collect();
        for x in acceptors.iter().filter(|x| x.ai || !x.person) {
            problems.push(format!("it is signed by {}, which is not a person", x.describe()));
        }
        if r.risk.trim().is_empty() || r.scope.trim().is_empty() {
            problems.push("it names no risk or no scope".into());
        }
        if r.expires_at <= o.timestamp {
            problems.push("it expires no later than it is made".into());
        }
        let target = match self.book.known(&r.subject) {
            Some(Known::Proposal(i)) => Some((i, None)),
            Some(Known::Concern(i)) => Some((i, Some(r.subject))),
            _ => None,
        };
        let mut seqs = Vec::new();
        match target {
            None => {
                problems.push("it names no earlier proposal, nor a concerns or reject review of an open one".into());
            }
            Some((i, review)) => {
                let p = self.book.proposal(i);
                seqs.push(subject_seq(p, review));
                for x in acceptors.iter().filter(|x| p.requesters.contains(&x.principal)) {
                    problems.push(format!("{} requested proposal {}", x.name, p.seq));
                }
            }
        }
        seqs.push((seq, EntryKind::RiskAcceptance));
        if !problems.is_empty() {
            let msg = format!("risk acceptance {seq} is not valid: {}", problems.join("; "));
            self.violate(RuleId::RiskInvalid, &seqs, msg);
            return;
        }
        if let Some((i, review)) = target {
            let open = self.book.proposal_mut(i).open.as_mut();
            let covered = open.into_iter().flat_map(|o| o.concerns.iter_mut());
            for c in covered.filter(|c| review.is_none_or(|h| h == c.review)) {
                c.accepted_until = Some(c.accepted_until.map_or(r.expires_at, |u| u.max(r.expires_at)));
            }
        }
    }

    pub(super) fn rejection(&mut self, o: &Observed<'_>, proposal: Digest) {
        let Some(pi) = self.book.proposal_of(&proposal) else {
            let msg = format!("rejection {} binds {proposal} which is not an earlier proposal", o.seq);
            self.violate(RuleId::ApprovalWrongProposal, &[(o.seq, EntryKind::Rejection)], msg);
            return;
        };
        let req = self.requirements(pi);
        self.book.proposal_mut(pi).rejected_at.get_or_insert(o.seq);
        self.book.close(pi, req, o.timestamp);
    }
}

/// The entry a risk acceptance names: the proposal, or its review.
fn subject_seq(p: &super::decisions::ProposalState, review: Option<Digest>) -> (u64, EntryKind) {
    let concern = review.and_then(|h| p.open.as_ref()?.concerns.iter().find(|c| c.review == h));
    concern.map_or((p.seq, EntryKind::Proposal), |c| (c.seq, EntryKind::Review))
}
