//! Governance fixtures: a ledger with a cast of keys, record builders, and the policy verdict
//! as `(rule, seqs)`. Every governance test builds its ledgers through here, so the writer API
//! they depend on is in one place.

use std::collections::BTreeMap;
use std::path::Path;

use provledger::record::{
    AiOutput, AiSystem, Approval, Autonomy, DecisionBoundary, EntryRef, Environment, Evidence, Execution, ImpactFlags,
    KeyEnrollment, KeyRevocation, Override, Policy, PrincipalType, Proposal, Record, Rejection, Review, RiskAcceptance,
    Role, RuleId, TrustAnchorKey, Verdict,
};
use provledger::storage::StdBackend;
use provledger::{
    verify_opts, Checkpoint, Digest, Draft, Genesis, Ledger, Options, Receipt, SigningKey, Timestamp, TrustAnchor,
    VerifyOptions, VerifyReport,
};

use super::key;

/// Both environments.
pub const BOTH: &[Environment] = &[Environment::Production, Environment::Experimentation];
/// Production only.
pub const PROD: &[Environment] = &[Environment::Production];

/// A ledger and its cast. Genesis anchors: the operator service (admin, operator), `ai`
/// (an AI agent acting everywhere), bob (approver), carol (requester and approver), robo (an
/// AI system wrongly given the approver role). Enrolled by entries 1–2 during setup: alice
/// (requester) and dave (reviewer). Bob and carol are two eligible approvers, so the
/// governance bootstrap is over from the genesis on (unless the policy needs more).
pub struct World {
    pub dir: tempfile::TempDir,
    pub ledger: Ledger,
    pub op: SigningKey,
    pub ai: SigningKey,
    pub req: SigningKey,
    pub rev: SigningKey,
    pub appr: SigningKey,
    pub carol: SigningKey,
    pub robo: SigningKey,
}

/// A new ledger in a temporary directory from `genesis`, written by `op`.
pub fn ledger_from(genesis: &Genesis, op: &SigningKey) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create_with_genesis(dir.path(), op, genesis, Options::default()).unwrap();
    (dir, ledger)
}

/// A writer on the ledger in `dir` appending with `key`; `checked: false` makes it a raw
/// writer that does not refuse entries verification would reject. `anchor` is the key that
/// created the ledger: the writer verifies the ledger from it when another key wrote last.
pub fn writer(dir: &Path, key: &SigningKey, checked: bool, anchor: &SigningKey) -> Ledger {
    let opts = Options::default()
        .check_signers(checked)
        .trust_anchor(provledger::TrustAnchor::PublicKey(anchor.verifying_key()));
    Ledger::open(dir, key, opts).unwrap()
}

/// The draft of `rec`, co-signed by `cosigners`, with extra `refs`.
pub fn draft(rec: &Record, cosigners: &[&SigningKey], refs: &[Digest]) -> Draft {
    cosigners
        .iter()
        .fold(Draft::record(rec).unwrap(), |d, k| d.cosigned_by(*k))
        .with_refs(refs.to_vec())
}

/// Verifies the ledger in `dir` against `op`'s key, with the policy rules when `policy`,
/// from `from` when given.
pub fn report_of(dir: &Path, op: &SigningKey, policy: bool, from: Option<Checkpoint>) -> VerifyReport {
    let opts = VerifyOptions::default().policy(policy).from_checkpoint(from);
    verify_opts(&StdBackend, dir, &TrustAnchor::PublicKey(op.verifying_key()), &opts).unwrap()
}

/// A trust anchor of the genesis.
pub fn anchor(k: &SigningKey, id: &str, t: PrincipalType, roles: &[Role]) -> TrustAnchorKey {
    TrustAnchorKey {
        public_key: k.verifying_key().to_bytes(),
        principal_id: id.into(),
        principal_type: t,
        roles: roles.to_vec(),
    }
}

/// A key enrollment record.
pub fn enrollment(k: &SigningKey, id: &str, t: PrincipalType, roles: &[Role], envs: &[Environment]) -> Record {
    Record::KeyEnrollment(KeyEnrollment {
        public_key: k.verifying_key().to_bytes(),
        principal_id: id.into(),
        display_name: id.into(),
        principal_type: t,
        roles: roles.to_vec(),
        environments: envs.to_vec(),
    })
}

/// A key revocation record.
pub fn revocation(k: &SigningKey) -> Record {
    Record::KeyRevocation(KeyRevocation {
        key_id: k.key_id().0,
        reason: "rotated".into(),
    })
}

/// The genesis of a world with `policy` and extra anchors.
fn genesis(policy: Policy, cast: &[&SigningKey; 5], extra: Vec<TrustAnchorKey>) -> Genesis {
    let [op, ai, appr, carol, robo] = cast;
    let mut anchors = vec![
        anchor(
            op,
            "svc:decisions",
            PrincipalType::Service,
            &[Role::Admin, Role::Operator],
        ),
        anchor(ai, "credit-model", PrincipalType::SoftwareAgent, &[Role::AiAgent]),
        anchor(appr, "bob@bank.example", PrincipalType::Person, &[Role::Approver]),
        anchor(
            carol,
            "carol@bank.example",
            PrincipalType::Person,
            &[Role::Requester, Role::Approver],
        ),
        anchor(
            robo,
            "robo-approver",
            PrincipalType::SoftwareAgent,
            &[Role::AiAgent, Role::Approver],
        ),
    ];
    anchors.extend(extra);
    Genesis {
        name: "governance".into(),
        anchors,
        policy,
    }
}

impl World {
    /// The standard world under `policy`.
    pub fn with(policy: Policy) -> World {
        World::build(policy, true)
    }

    /// The standard world under the default policy.
    pub fn new() -> World {
        World::with(Policy::default())
    }

    /// A world whose genesis has only the operator and the AI agent as anchors (no approver:
    /// the governance bootstrap is still open), plus alice and dave enrolled.
    pub fn bootstrap(policy: Policy) -> World {
        World::build(policy, false)
    }

    fn build(policy: Policy, approvers: bool) -> World {
        let (op, ai, req, rev, appr, carol, robo) = (key(1), key(2), key(3), key(4), key(5), key(6), key(7));
        let mut g = genesis(policy, &[&op, &ai, &appr, &carol, &robo], Vec::new());
        if !approvers {
            g.anchors.truncate(2);
        }
        let (dir, ledger) = ledger_from(&g, &op);
        for rec in [
            enrollment(
                &req,
                "alice@bank.example",
                PrincipalType::Person,
                &[Role::Requester],
                BOTH,
            ),
            enrollment(
                &rev,
                "dave@bank.example",
                PrincipalType::Person,
                &[Role::Reviewer],
                BOTH,
            ),
        ] {
            ledger.append(Draft::record(&rec).unwrap()).unwrap();
        }
        World {
            dir,
            ledger,
            op,
            ai,
            req,
            rev,
            appr,
            carol,
            robo,
        }
    }

    /// Appends `rec` signed by the operator and `cosigners`, with extra `refs`.
    pub fn add_refs(&mut self, rec: &Record, cosigners: &[&SigningKey], refs: &[Digest]) -> Receipt {
        self.ledger.append(draft(rec, cosigners, refs)).unwrap()
    }

    /// Appends `rec` signed by the operator and `cosigners`.
    pub fn add(&mut self, rec: &Record, cosigners: &[&SigningKey]) -> Receipt {
        self.add_refs(rec, cosigners, &[])
    }

    /// Appends an application event.
    pub fn app(&mut self, body: &[u8]) -> Receipt {
        self.ledger
            .append(Draft::application("application/json", body.to_vec()))
            .unwrap()
    }

    /// Appends, expecting the writer to refuse because verification would reject the entry;
    /// returns the error message.
    pub fn refused(&mut self, rec: &Record, cosigners: &[&SigningKey]) -> String {
        let err = self.ledger.append(draft(rec, cosigners, &[])).unwrap_err().to_string();
        assert!(err.contains("would fail verification"), "{err}");
        err
    }

    /// Reopens the writer without its signer checks (a raw writer), to build a ledger
    /// verification must reject.
    pub fn unchecked(&mut self) {
        self.close();
        self.ledger = writer(self.dir.path(), &self.op, false, &self.op);
    }

    /// Releases the writer (the ledger stays in `dir`; a placeholder takes its place).
    pub fn close(&mut self) {
        let placeholder =
            Ledger::create(tempfile::tempdir().unwrap().path(), key(99), "x", Options::default()).unwrap();
        drop(std::mem::replace(&mut self.ledger, placeholder));
    }

    /// Verifies with the policy rules, against the operator's key.
    pub fn report(&self) -> VerifyReport {
        report_of(self.dir.path(), &self.op, true, None)
    }

    /// The violations as (rule, seqs), after asserting integrity holds.
    pub fn violations(&self) -> Vec<(RuleId, Vec<u64>)> {
        let r = self.report();
        assert!(r.is_ok(), "integrity: {:?}", r.failure);
        assert!(r.policy_checked);
        r.violations.iter().map(|v| (v.rule, v.seq_numbers())).collect()
    }

    /// Enrolls `k` (signed by the operator, an admin), citing `refs`.
    pub fn enroll(&mut self, k: &SigningKey, id: &str, t: PrincipalType, roles: &[Role], refs: &[Digest]) -> Receipt {
        self.add_refs(&enrollment(k, id, t, roles, BOTH), &[], refs)
    }

    /// A compliant gated flow; returns (AI output, proposal, approval, execution).
    pub fn compliant_flow(&mut self) -> (Receipt, Receipt, Receipt, Receipt) {
        let (ai, req, rev, appr) = (self.ai.clone(), self.req.clone(), self.rev.clone(), self.appr.clone());
        let out = self.add(&ai_output("draft permission change"), &[&ai]);
        let p = self.add(
            &proposal(
                Environment::Production,
                DecisionBoundary::HumanApprovalRequired,
                Autonomy::Assistance,
                &[&out],
            ),
            &[&req],
        );
        self.add(&review(&p, Verdict::Endorse, &[]), &[&rev]);
        let a = self.add(&approval(&p), &[&appr]);
        let e = self.add(&execution(&p, &[&a]), &[]);
        (out, p, a, e)
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// The sequence number of a receipt.
pub fn seq(r: &Receipt) -> u64 {
    r.seq
}

/// A citation of an appended entry.
pub fn cite(r: &Receipt) -> EntryRef {
    EntryRef {
        seq: r.seq,
        hash: r.entry_hash,
    }
}

/// An AI output record.
pub fn ai_output(task: &str) -> Record {
    Record::AiOutput(AiOutput {
        system: AiSystem {
            provider_name: "internal".into(),
            request_model: "credit-risk".into(),
            version: "7".into(),
            config_digest: None,
        },
        task: task.into(),
        input_digest: Digest::from_bytes([1; 32]),
        output_digest: Digest::from_bytes([2; 32]),
        summary: "raise limit to 8000".into(),
        usage: None,
    })
}

/// A permission-change proposal (no action type) citing the AI outputs `ai`.
pub fn proposal(env: Environment, boundary: DecisionBoundary, autonomy: Autonomy, ai: &[&Receipt]) -> Record {
    Record::Proposal(Proposal {
        action: "grant role payments-admin to user 42".into(),
        action_type: String::new(),
        attributes: BTreeMap::new(),
        boundary,
        autonomy,
        environment: env,
        impact: ImpactFlags {
            permission_change: true,
            ..ImpactFlags::default()
        },
        evidence: Vec::new(),
        rationale: "ticket OPS-1".into(),
        ai_outputs: ai.iter().map(|r| cite(r)).collect(),
    })
}

/// A gated permission-change proposal in `env`.
pub fn gated(env: Environment) -> Record {
    proposal(env, DecisionBoundary::HumanApprovalRequired, Autonomy::Assistance, &[])
}

/// A production proposal of `action_type` with `attributes`, declaring `boundary`, no impact,
/// made by a person (autonomy `automation`).
pub fn action(action_type: &str, attributes: &[(&str, u64)], boundary: DecisionBoundary) -> Proposal {
    Proposal {
        action: format!("{action_type} as requested"),
        action_type: action_type.into(),
        attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        boundary,
        autonomy: Autonomy::Automation,
        environment: Environment::Production,
        impact: ImpactFlags::default(),
        evidence: Vec::new(),
        rationale: String::new(),
        ai_outputs: Vec::new(),
    }
}

/// Evidence with digest `[b; 32]`.
pub fn evidence(b: u8) -> Evidence {
    Evidence {
        name: format!("doc-{b}"),
        uri: format!("https://docs.example/{b}"),
        digest: Digest::from_bytes([b; 32]),
        description: String::new(),
    }
}

/// An approval of `p` without expiry.
pub fn approval(p: &Receipt) -> Record {
    Record::Approval(Approval {
        proposal: p.entry_hash,
        scope: "as proposed".into(),
        expires_at: None,
    })
}

/// An approval of `p` expiring at `t`.
pub fn approval_until(p: &Receipt, t: Timestamp) -> Record {
    Record::Approval(Approval {
        proposal: p.entry_hash,
        scope: "as proposed".into(),
        expires_at: Some(t),
    })
}

/// An execution of `p` citing `approvals`.
pub fn execution(p: &Receipt, approvals: &[&Receipt]) -> Record {
    Record::Execution(Execution {
        proposal: p.entry_hash,
        approvals: approvals.iter().map(|a| a.entry_hash).collect(),
        action_taken: "done".into(),
        outcome: "ok".into(),
    })
}

/// A rejection of `p`.
pub fn rejection(p: &Receipt) -> Record {
    Record::Rejection(Rejection {
        proposal: p.entry_hash,
        reason: "too risky".into(),
    })
}

/// A review of `subject` naming `digests`.
pub fn review(subject: &Receipt, verdict: Verdict, digests: &[Digest]) -> Record {
    Record::Review(Review {
        subject: subject.entry_hash,
        verdict,
        digests: digests.to_vec(),
        comment: "checked".into(),
    })
}

/// A risk acceptance of `subject` until `t`.
pub fn risk_acceptance(subject: &Receipt, t: Timestamp) -> Record {
    Record::RiskAcceptance(RiskAcceptance {
        subject: subject.entry_hash,
        risk: "the limit may be too high".into(),
        scope: "this decision only".into(),
        expires_at: t,
        evidence: Vec::new(),
    })
}

/// An override of `target`, gated by `proposal` and `approvals` when given.
pub fn overriding(target: &Receipt, reason: &str, proposal: Option<&Receipt>, approvals: &[&Receipt]) -> Record {
    Record::Override(Override {
        target: target.entry_hash,
        reversal: true,
        reason: reason.into(),
        proposal: proposal.map(|p| p.entry_hash),
        approvals: approvals.iter().map(|a| a.entry_hash).collect(),
    })
}

/// A week from now.
pub fn next_week() -> Timestamp {
    Timestamp(Timestamp::now().0 + 7 * 86_400 * 1_000_000_000)
}
