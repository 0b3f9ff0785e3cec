//! The decisions the policy follows: proposals, their approvals, reviews and executions.
//!
//! An *open* proposal keeps what later entries are judged against (its action, attributes,
//! evidence digests, reviews and concerns). Once it is *closed* — executed, used as the gate
//! of a governance change or an override, or rejected — only a compact summary stays: its
//! sequence number, environment, declared boundary, requesters, the requirements it was
//! judged under, and its approvals in compact form (a later execution of the same proposal, a
//! late approval, or an override of it is still judged). So memory grows by a few hundred
//! bytes per decision ever made, not by the decision's full record.

use std::collections::{BTreeMap, HashMap};

use crate::entry::{EntryKind, Timestamp};
use crate::hash::Digest;
use crate::record::{DecisionBoundary, Environment, ImpactFlags, Requirements};

use super::keys::{KeyIdx, Principal};

/// A few values — the requesters of a proposal, the approvers of an approval — kept inline
/// when there are at most two (the usual case), so that a closed decision holds no heap
/// allocation of its own.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) enum Few<T: Copy> {
    Inline(u8, [T; 2]),
    Heap(Box<[T]>),
}

impl<T: Copy + Default + PartialEq> Few<T> {
    pub fn from_slice(items: &[T]) -> Self {
        match items {
            [] => Few::Inline(0, [T::default(); 2]),
            [a] => Few::Inline(1, [*a, T::default()]),
            [a, b] => Few::Inline(2, [*a, *b]),
            _ => Few::Heap(items.into()),
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match self {
            Few::Inline(n, items) => &items[..usize::from(*n)],
            Few::Heap(items) => items,
        }
    }

    pub fn contains(&self, x: &T) -> bool {
        self.as_slice().contains(x)
    }

    /// Whether an inline count is within its array (a saved state is checked before use).
    fn well_formed(&self) -> bool {
        match self {
            Few::Inline(n, _) => *n <= 2,
            Few::Heap(_) => true,
        }
    }
}

/// Index of a proposal or approval in its table.
pub(super) type Idx = u32;

/// What an entry hash names, among the entries the policy follows.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(super) enum Known {
    Proposal(Idx),
    Approval(Idx),
    /// An execution (at `seq`) of that proposal.
    Execution {
        proposal: Idx,
        seq: u64,
    },
    /// A `concerns` or `reject` review of that (open) proposal.
    Concern(Idx),
}

/// A review with verdict `concerns` or `reject` on an open proposal: a known risk.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Concern {
    pub review: Digest,
    pub seq: u64,
    /// The person reviewer, when the review also counts as a review (verdict `concerns`, by a
    /// person who is not a requester, naming every evidence digest) once its risk is accepted.
    pub counts_for: Option<Principal>,
    /// Until when a risk acceptance covers it.
    pub accepted_until: Option<Timestamp>,
}

/// What an open proposal keeps for the entries that follow.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct OpenProposal {
    /// Its approvals so far (a governance change it gates counts them).
    pub approvals: Vec<Idx>,
    pub action_type: String,
    pub attributes: BTreeMap<String, u64>,
    pub impact: ImpactFlags,
    pub evidence: Vec<Digest>,
    /// Persons whose `endorse` review counts.
    pub reviewers: Vec<Principal>,
    pub concerns: Vec<Concern>,
}

impl OpenProposal {
    /// Distinct persons whose review counts at time `t`.
    pub fn reviews_at(&self, t: Timestamp) -> usize {
        let accepted = self
            .concerns
            .iter()
            .filter(|c| c.accepted_until.is_some_and(|u| u >= t))
            .filter_map(|c| c.counts_for);
        let mut who: Vec<Principal> = self.reviewers.iter().copied().chain(accepted).collect();
        who.sort_unstable();
        who.dedup();
        who.len()
    }
}

/// One proposal.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ProposalState {
    pub seq: u64,
    pub environment: Environment,
    pub declared: DecisionBoundary,
    /// May gate a policy update (`policy.change`, or impact `policy_change`).
    pub gates_policy: bool,
    /// May gate a role grant (`permission.grant…`, or impact `permission_change`).
    pub gates_grants: bool,
    pub requesters: Few<Principal>,
    pub rejected_at: Option<u64>,
    /// The first execution, or the governance change or override it gated (and that entry's
    /// kind).
    pub executed_at: Option<(u64, EntryKind)>,
    /// `Some` while open.
    pub open: Option<Box<OpenProposal>>,
    /// The requirements it was judged under when it closed.
    pub closed: Option<Requirements>,
    /// Distinct persons' reviews that counted when it closed.
    pub reviews_at_close: u8,
}

/// One approval.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ApprovalState {
    pub seq: u64,
    pub proposal: Idx,
    pub expires_at: Option<Timestamp>,
    /// Valid when made (by persons entitled to approve, after the reviews and risk
    /// acceptances it needed then).
    pub valid: bool,
    /// Distinct persons' reviews that preceded it.
    pub reviews_before: u8,
    /// Its approvers: principal and key.
    pub approvers: Few<(Principal, KeyIdx)>,
}

impl ApprovalState {
    /// Whether it can still authorise something at entry `seq`, time `t`, given each key's
    /// revocation (`revoked`): `Err` names why not, with the revoking entry when revoked.
    pub fn usable(&self, seq: u64, t: Timestamp, revoked: impl Fn(KeyIdx) -> Option<u64>) -> Result<(), Unusable> {
        if self.expires_at.is_some_and(|x| x < t) {
            return Err(Unusable::Expired);
        }
        let keys = self.approvers.as_slice().iter().map(|&(_, k)| k);
        match keys.filter_map(revoked).filter(|&r| r <= seq).min() {
            Some(r) => Err(Unusable::Revoked(r)),
            None => Ok(()),
        }
    }
}

/// Why an approval no longer authorises.
pub(super) enum Unusable {
    Expired,
    Revoked(u64),
}

/// Every decision followed so far.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Decisions {
    known: HashMap<Digest, Known>,
    pub proposals: Vec<ProposalState>,
    pub approvals: Vec<ApprovalState>,
}

impl Decisions {
    /// Checks that every index points into its table (a saved state, read back, is checked
    /// before the engine uses it: the engine indexes without checking).
    pub fn check_consistent(&self) -> Result<(), String> {
        let (np, na) = (self.proposals.len(), self.approvals.len());
        let p_ok = |i: Idx| (i as usize) < np;
        let a_ok = |i: Idx| (i as usize) < na;
        let known_ok = self.known.values().all(|k| match *k {
            Known::Proposal(i) | Known::Concern(i) | Known::Execution { proposal: i, .. } => p_ok(i),
            Known::Approval(i) => a_ok(i),
        });
        let proposals_ok = self.proposals.iter().all(|p| {
            p.requesters.well_formed() && p.open.as_ref().is_none_or(|o| o.approvals.iter().all(|&a| a_ok(a)))
        });
        let approvals_ok = self.approvals.iter().all(|a| p_ok(a.proposal) && a.approvers.well_formed());
        if known_ok && proposals_ok && approvals_ok {
            Ok(())
        } else {
            Err("the policy state refers to decisions it does not hold".into())
        }
    }

    pub fn known(&self, hash: &Digest) -> Option<Known> {
        self.known.get(hash).copied()
    }

    /// The proposal an entry hash names, if it names one.
    pub fn proposal_of(&self, hash: &Digest) -> Option<Idx> {
        match self.known(hash) {
            Some(Known::Proposal(i)) => Some(i),
            _ => None,
        }
    }

    pub fn proposal(&self, i: Idx) -> &ProposalState {
        &self.proposals[i as usize]
    }

    pub fn proposal_mut(&mut self, i: Idx) -> &mut ProposalState {
        &mut self.proposals[i as usize]
    }

    pub fn approval(&self, i: Idx) -> &ApprovalState {
        &self.approvals[i as usize]
    }

    pub fn add_proposal(&mut self, hash: Digest, p: ProposalState) -> Idx {
        let i = self.proposals.len() as Idx;
        self.proposals.push(p);
        self.known.insert(hash, Known::Proposal(i));
        i
    }

    pub fn add_approval(&mut self, hash: Digest, a: ApprovalState) {
        let i = self.approvals.len() as Idx;
        let p = a.proposal;
        self.approvals.push(a);
        if let Some(open) = self.proposal_mut(p).open.as_mut() {
            open.approvals.push(i);
        }
        self.known.insert(hash, Known::Approval(i));
    }

    pub fn add_execution(&mut self, hash: Digest, proposal: Idx, seq: u64) {
        self.known.insert(hash, Known::Execution { proposal, seq });
    }

    pub fn add_concern(&mut self, p: Idx, c: Concern) {
        let review = c.review;
        if let Some(open) = self.proposal_mut(p).open.as_mut() {
            open.concerns.push(c);
            self.known.insert(review, Known::Concern(p));
        }
    }

    /// Closes proposal `p` at time `t`: keeps only its summary, the requirements it was judged
    /// under and how many reviews counted then.
    pub fn close(&mut self, p: Idx, judged_under: Requirements, t: Timestamp) {
        let state = self.proposal_mut(p);
        state.closed.get_or_insert(judged_under);
        if let Some(open) = state.open.take() {
            state.reviews_at_close = u8::try_from(open.reviews_at(t)).unwrap_or(u8::MAX);
            for c in &open.concerns {
                self.known.remove(&c.review);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(seq: u64) -> ProposalState {
        ProposalState {
            seq,
            environment: Environment::Production,
            declared: DecisionBoundary::HumanApprovalRequired,
            gates_policy: false,
            gates_grants: false,
            requesters: Few::from_slice(&[1]),
            rejected_at: None,
            executed_at: None,
            open: None,
            closed: None,
            reviews_at_close: 0,
        }
    }

    /// A saved state whose decisions refer past their tables (which the engine would index
    /// without checking, and panic on) is refused; a sound one is accepted.
    #[test]
    fn references_past_the_tables_are_refused() {
        let mut d = Decisions::default();
        let p = d.add_proposal(Digest::from_bytes([1; 32]), proposal(3));
        assert!(d.check_consistent().is_ok());
        d.known.insert(Digest::from_bytes([2; 32]), Known::Approval(0));
        assert!(d.check_consistent().is_err(), "an approval that is not in the table");
        d.known.remove(&Digest::from_bytes([2; 32]));
        d.add_execution(Digest::from_bytes([3; 32]), p + 1, 9);
        assert!(d.check_consistent().is_err(), "an execution of a proposal not in the table");
        d.known.remove(&Digest::from_bytes([3; 32]));
        d.proposals[0].requesters = Few::Inline(3, [0, 0]);
        assert!(d.check_consistent().is_err(), "an inline list longer than its array");
    }
}
