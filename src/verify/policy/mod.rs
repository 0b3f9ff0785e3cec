//! Policy verification: the decision-boundary rules of DESIGN §4 and docs/GOVERNANCE.md,
//! evaluated over the ledger in order, each violation naming its rule, the entries involved
//! (with their roles) and the policy it was judged under.
//!
//! The engine is fed one entry at a time ([`PolicyEngine::observe`]) with what it needs to
//! know of it ([`Observed`]): kind, hash, time, refs, signers with their registry information,
//! whether its payload was erased, and what the AI outputs a proposal cites turned out to be.
//! It never reads the ledger itself. State is kept per decision, compactly once the decision
//! is closed (see [`decisions`]).
//!
//! Split by concern: [`keys`] (principals, revocations, grants that did not take effect),
//! [`decisions`] (the state), [`proposal`], [`approval`] (approvals, reviews, risk
//! acceptances, rejections), [`execution`] (executions, overrides, counting approvals) and
//! [`governance`] (gated changes of policy and roles, and the bootstrap rule).

mod approval;
mod decisions;
mod execution;
mod governance;
mod keys;
mod proposal;

use crate::entry::{EntryKind, Timestamp};
use crate::error::DecodeError;
use crate::hash::Digest;
use crate::keys::KeyId;
use crate::record::{EntryRef, Environment, Genesis, Policy, Record, RuleId};

use super::registry::KeyInfo;
use super::report::{Involved, PolicyEvent, PolicyRef};
use super::Violation;
use decisions::Decisions;
use keys::{Actor, KeyBook};

/// Violations kept in the report; beyond that only counted.
const MAX_VIOLATIONS: usize = 10_000;

/// One signer of an entry, as the registry knew it at that entry.
pub(crate) type Signer = (KeyId, KeyInfo);

/// What the policy engine needs to know about an entry.
pub(crate) struct Observed<'a> {
    pub seq: u64,
    pub kind: EntryKind,
    /// The entry hash (what refs cite).
    pub hash: Digest,
    pub timestamp: Timestamp,
    /// The statement's signed refs.
    pub refs: &'a [Digest],
    pub signers: &'a [Signer],
    /// The payload was erased (no record then): the kind and signers still say what it was.
    pub erased: bool,
    /// For a proposal: each AI output it cites, and what the ledger holds at that position.
    pub cited: &'a [Cited],
}

/// An AI output a proposal cites, as read from the ledger.
pub(crate) struct Cited {
    /// The citation as the proposal makes it.
    pub at: EntryRef,
    /// The entry at `at.seq` if it is earlier than the proposal: its hash, kind and signers.
    pub found: Option<(Digest, EntryKind, Vec<Signer>)>,
}

/// Evaluates the rules entry by entry.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct PolicyEngine {
    policy: Policy,
    current: PolicyRef,
    history: Vec<PolicyEvent>,
    keys: KeyBook,
    book: Decisions,
    /// Governance bootstrap: until enough approvers exist, governance changes need no
    /// approval. It ends once and never returns (see [`governance`]).
    bootstrap: bool,
    violations: Vec<Violation>,
    dropped: u64,
}

/// What the engine found, at the end.
pub(crate) struct Verdict {
    pub violations: Vec<Violation>,
    pub dropped: u64,
    pub policy: Policy,
    pub in_force: PolicyRef,
    pub history: Vec<PolicyEvent>,
}

impl PolicyEngine {
    /// An engine judging under the genesis policy, knowing the genesis anchors.
    pub(crate) fn new(genesis: &Genesis) -> Result<Self, DecodeError> {
        let mut keys = KeyBook::default();
        for a in &genesis.anchors {
            if let Ok(k) = a.verifying_key() {
                keys.anchor(k.key_id(), &a.principal_id, a.principal_type, &a.roles);
            }
        }
        let mut engine = PolicyEngine {
            current: PolicyRef {
                seq: 0,
                digest: genesis.policy.digest()?,
            },
            policy: genesis.policy.clone(),
            history: Vec::new(),
            keys,
            book: Decisions::default(),
            bootstrap: true,
            violations: Vec::new(),
            dropped: 0,
        };
        engine.check_bootstrap();
        Ok(engine)
    }

    /// Checks the internal references of an engine read back from a saved state, which the
    /// engine itself follows without checking.
    pub(crate) fn check_consistent(&self) -> Result<(), String> {
        self.keys.check_consistent()?;
        self.book.check_consistent()
    }

    /// The violations and the policy in force.
    pub(crate) fn finish(self) -> Verdict {
        Verdict {
            violations: self.violations,
            dropped: self.dropped,
            policy: self.policy,
            in_force: self.current,
            history: self.history,
        }
    }

    fn violate(&mut self, rule: RuleId, seqs: &[(u64, EntryKind)], message: String) {
        if !self.policy.enforces(rule) {
            return;
        }
        if self.violations.len() < MAX_VIOLATIONS {
            let seqs = seqs.iter().map(|&(seq, role)| Involved { seq, role }).collect();
            self.violations.push(Violation {
                rule,
                message,
                seqs,
                policy: self.current,
            });
        } else {
            self.dropped += 1;
        }
    }

    /// Observes one verified entry (never an application entry). `record` is `None` when the
    /// payload was erased.
    pub(crate) fn observe(&mut self, o: &Observed<'_>, record: Option<&Record>) {
        let actors: Vec<Actor> = o.signers.iter().map(|s| self.keys.actor(s)).collect();
        // An erased payload (an AI output): nothing to remember. What cannot be erased — its
        // kind and signers — is read where a proposal cites it (`Observed::cited`).
        let Some(record) = record.filter(|_| !o.erased) else {
            return;
        };
        match record {
            Record::Proposal(p) => self.proposal(o, &actors, p),
            Record::Approval(a) => self.approval(o, &actors, a),
            Record::Review(r) => self.review(o, &actors, r),
            Record::RiskAcceptance(r) => self.risk_acceptance(o, &actors, r),
            Record::Rejection(r) => self.rejection(o, r.proposal),
            Record::Execution(e) => self.execution(o, &actors, e),
            Record::Override(v) => self.override_(o, &actors, v),
            Record::KeyEnrollment(e) => self.enrollment(o, e),
            Record::KeyRevocation(r) => self.keys.revoke(&KeyId(r.key_id), o.seq),
            Record::PolicyUpdate(p) => self.policy_update(o, p),
            Record::AiOutput(_) | Record::Redaction(_) => {}
        }
    }

    /// Every signer must be enrolled for `env`.
    fn env_check(&mut self, o: &Observed<'_>, actors: &[Actor], env: Environment, what: &str) {
        for a in actors.iter().filter(|a| !a.may_act_in(env)) {
            let why = if a.production_withheld {
                "whose production grant was not gated"
            } else {
                "which is not enrolled for it"
            };
            let msg = format!("{what} in {} is signed by {}, {why}", env_name(env), a.describe());
            self.violate(RuleId::KeyOutsideEnvironment, &[(o.seq, o.kind)], msg);
        }
    }

    /// A production entry must not reference an experimentation proposal.
    fn relies_on_experimentation(&mut self, o: &Observed<'_>, what: &str) {
        let exp: Vec<u64> = o
            .refs
            .iter()
            .filter_map(|r| self.book.proposal_of(r))
            .map(|i| self.book.proposal(i))
            .filter(|p| p.environment == Environment::Experimentation)
            .map(|p| p.seq)
            .collect();
        for s in exp {
            let msg = format!("production {what} {} relies on experimentation proposal {s}", o.seq);
            let seqs = [(s, EntryKind::Proposal), (o.seq, o.kind)];
            self.violate(RuleId::ProductionReliesOnExperimentation, &seqs, msg);
        }
    }
}

/// `production` or `experimentation`.
fn env_name(env: Environment) -> &'static str {
    match env {
        Environment::Production => "production",
        Environment::Experimentation => "experimentation",
    }
}

/// `ai_may_assist`, `human_approval_required` or `human_only`.
fn boundary_name(b: crate::record::DecisionBoundary) -> &'static str {
    match b {
        crate::record::DecisionBoundary::AiMayAssist => "ai_may_assist",
        crate::record::DecisionBoundary::HumanApprovalRequired => "human_approval_required",
        crate::record::DecisionBoundary::HumanOnly => "human_only",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Cited, Observed, PolicyEngine};
    use crate::entry::{EntryKind, Timestamp, MAX_REFS};
    use crate::hash::Digest;
    use crate::keys::SigningKey;
    use crate::record::{
        Autonomy, DecisionBoundary, EntryRef, Environment, Genesis, ImpactFlags, Proposal, Record, RuleId,
        TrustAnchorKey,
    };
    use crate::verify::registry::Registry;

    /// A proposal citing more AI outputs than a statement's refs can carry can only be crafted
    /// by hand; the engine reports it rather than reading every citation.
    #[test]
    fn a_proposal_citing_more_than_max_refs_outputs_is_a_violation() {
        let op = SigningKey::from_seed(&[1; 32]);
        let genesis = Genesis {
            name: "x".into(),
            anchors: vec![TrustAnchorKey::operator(&op.verifying_key(), "svc")],
            policy: crate::record::Policy::default(),
        };
        let registry = Registry::from_genesis(&genesis).unwrap();
        let signer = (op.key_id(), registry.get(&op.key_id()).unwrap().clone());
        let mut engine = PolicyEngine::new(&genesis).unwrap();
        let n = usize::try_from(MAX_REFS).unwrap();
        let refs: Vec<EntryRef> = (0..=n as u64)
            .map(|seq| EntryRef {
                seq,
                hash: Digest::ZERO,
            })
            .collect();
        let p = Proposal {
            action: "x".into(),
            action_type: String::new(),
            attributes: BTreeMap::new(),
            boundary: DecisionBoundary::AiMayAssist,
            autonomy: Autonomy::Automation,
            environment: Environment::Experimentation,
            impact: ImpactFlags::default(),
            evidence: Vec::new(),
            rationale: String::new(),
            ai_outputs: refs.clone(),
        };
        // What the glue passes: the first MAX_REFS citations, each found to be the genesis.
        let cited: Vec<Cited> = refs[..n]
            .iter()
            .map(|at| Cited {
                at: *at,
                found: Some((Digest::ZERO, EntryKind::AiOutput, Vec::new())),
            })
            .collect();
        let o = Observed {
            seq: 5_000,
            kind: EntryKind::Proposal,
            hash: Digest::from_bytes([7; 32]),
            timestamp: Timestamp(1),
            refs: &[],
            signers: &[signer],
            erased: false,
            cited: &cited,
        };
        engine.observe(&o, Some(&Record::Proposal(p)));
        let v = engine.finish().violations;
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].rule, v[0].seq_numbers()), (RuleId::AiProvenance, vec![5_000]));
        assert!(
            v[0].message.contains("cites 1025 AI outputs, more than the 1024"),
            "{}",
            v[0].message
        );
    }
}
