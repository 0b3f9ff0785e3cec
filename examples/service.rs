//! A service that records decisions from many tokio tasks through one shared [`Ledger`].
//!
//! ```text
//! cargo run --example service
//! ```
//!
//! - 32 tasks each record 40 decisions: `submit(draft, Durability::Synced)` hands the entry to
//!   the ledger's writer thread and returns a [`Ticket`]; awaiting the ticket parks the task
//!   (never a runtime thread) until the entry is on stable storage. Producers that are in
//!   flight together share each `fdatasync` (group commit).
//! - A checkpoint task signs a checkpoint every 20 ms, on the blocking pool (a checkpoint syncs
//!   the tree files).
//! - A governance flow: an AI output co-signed by the AI agent, a proposal co-signed by the
//!   person requesting it, a review, an approval co-signed by a different person, and the
//!   execution.
//! - `close()`, then the auditor's view: `verify_opts` with the policy rules, against the
//!   operator's public key only, and the report must be OK and compliant.
//!
//! It uses only the stable API (no `test-util`). CI runs it (`.ci/run`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provledger::record::{
    AiOutput, AiSystem, Approval, Autonomy, DecisionBoundary, EntryRef, Environment, Execution, ImpactFlags, Policy,
    Proposal, Record, Review, Verdict,
};
use provledger::storage::StdBackend;
use provledger::{
    verify_opts, Digest, Draft, Durability, Genesis, Ledger, Options, PrincipalType, Receipt, Role, SigningKey,
    TrustAnchor, TrustAnchorKey, VerifyOptions,
};

/// Tasks recording decisions at the same time.
const TASKS: u64 = 32;
/// Decisions each task records.
const DECISIONS: u64 = 40;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The people and systems of the service, each with their own key.
struct Cast {
    operator: SigningKey,
    agent: SigningKey,
    alice: SigningKey,
    dave: SigningKey,
    bob: SigningKey,
    carol: SigningKey,
}

impl Cast {
    fn new() -> Result<Self, BoxError> {
        Ok(Cast {
            operator: SigningKey::generate()?,
            agent: SigningKey::generate()?,
            alice: SigningKey::generate()?,
            dave: SigningKey::generate()?,
            bob: SigningKey::generate()?,
            carol: SigningKey::generate()?,
        })
    }

    /// The genesis: who holds which role, and the default policy (every rule enforced, one
    /// approval by a person other than the requester for gated decisions).
    fn genesis(&self) -> Genesis {
        let anchor = |k: &SigningKey, id: &str, t, roles: &[Role]| TrustAnchorKey {
            public_key: k.verifying_key().to_bytes(),
            principal_id: id.into(),
            principal_type: t,
            roles: roles.to_vec(),
        };
        Genesis {
            name: "credit-decisions".into(),
            anchors: vec![
                anchor(
                    &self.operator,
                    "svc:credit-decisions",
                    PrincipalType::Service,
                    &[Role::Admin, Role::Operator],
                ),
                anchor(
                    &self.agent,
                    "credit-model",
                    PrincipalType::SoftwareAgent,
                    &[Role::AiAgent],
                ),
                anchor(
                    &self.alice,
                    "alice@bank.example",
                    PrincipalType::Person,
                    &[Role::Requester],
                ),
                anchor(
                    &self.dave,
                    "dave@bank.example",
                    PrincipalType::Person,
                    &[Role::Reviewer],
                ),
                anchor(&self.bob, "bob@bank.example", PrincipalType::Person, &[Role::Approver]),
                anchor(
                    &self.carol,
                    "carol@bank.example",
                    PrincipalType::Person,
                    &[Role::Approver],
                ),
            ],
            policy: Policy::default(),
        }
    }
}

/// One task: records its decisions one after the other, each awaited until durable.
async fn decide(ledger: Arc<Ledger>, task: u64) -> Result<Vec<Receipt>, BoxError> {
    let mut receipts = Vec::new();
    for i in 0..DECISIONS {
        let body = format!(
            r#"{{"task":{task},"application":{i},"decision":"approve","limit_eur":{}}}"#,
            500 + i
        );
        let ticket = ledger.submit(
            Draft::application("application/json", body.into_bytes()),
            Durability::Synced,
        )?;
        let receipt = ticket.await?;
        assert!(receipt.durable, "a synced submission is answered only once durable");
        receipts.push(receipt);
    }
    Ok(receipts)
}

/// Appends a governance record, co-signed by `cosigners`, and waits until it is durable.
async fn record(ledger: &Ledger, rec: &Record, cosigners: &[&SigningKey]) -> Result<Receipt, BoxError> {
    let draft = cosigners.iter().fold(Draft::record(rec)?, |d, k| d.cosigned_by(*k));
    Ok(ledger.submit(draft, Durability::Synced)?.await?)
}

fn cite(r: &Receipt) -> EntryRef {
    EntryRef {
        seq: r.seq,
        hash: r.entry_hash,
    }
}

/// The AI agent drafts a permission change, alice proposes it, dave reviews it, bob (not
/// alice) approves it, and the operator records its execution.
async fn governance(ledger: &Ledger, cast: &Cast) -> Result<Vec<Receipt>, BoxError> {
    let output = Record::AiOutput(AiOutput {
        system: AiSystem {
            provider_name: "internal".into(),
            request_model: "credit-risk".into(),
            version: "7".into(),
            config_digest: None,
        },
        task: "draft_permission_change".into(),
        input_digest: Digest::from_bytes(*blake3::hash(b"ticket OPS-1 and the current IAM policy").as_bytes()),
        output_digest: Digest::from_bytes(*blake3::hash(b"grant refund-issuer to support-tier2").as_bytes()),
        summary: "grant role refund-issuer (max 500 EUR) to group support-tier2".into(),
        usage: None,
    });
    let ai = record(ledger, &output, &[&cast.agent]).await?;
    let proposal = Record::Proposal(Proposal {
        action: "grant role refund-issuer (max 500 EUR) to group support-tier2".into(),
        action_type: String::new(),
        attributes: BTreeMap::new(),
        boundary: DecisionBoundary::HumanApprovalRequired,
        autonomy: Autonomy::Assistance,
        environment: Environment::Production,
        impact: ImpactFlags {
            permission_change: true,
            ..ImpactFlags::default()
        },
        evidence: Vec::new(),
        rationale: "tier 2 resolves refund tickets without escalation (OPS-1)".into(),
        ai_outputs: vec![cite(&ai)],
    });
    let p = record(ledger, &proposal, &[&cast.alice]).await?;
    let review = Record::Review(Review {
        subject: p.entry_hash,
        verdict: Verdict::Endorse,
        digests: Vec::new(),
        comment: "least privilege: scope limited to 500 EUR".into(),
    });
    let r = record(ledger, &review, &[&cast.dave]).await?;
    let approval = Record::Approval(Approval {
        proposal: p.entry_hash,
        scope: "as proposed".into(),
        expires_at: None,
    });
    let a = record(ledger, &approval, &[&cast.bob]).await?;
    let execution = Record::Execution(Execution {
        proposal: p.entry_hash,
        approvals: vec![a.entry_hash],
        action_taken: "role granted in payments-prod".into(),
        outcome: "ok".into(),
    });
    let e = record(ledger, &execution, &[]).await?;
    Ok(vec![ai, p, r, a, e])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let cast = Cast::new()?;
    let started = Instant::now();
    let ledger = Arc::new(Ledger::create_with_genesis(
        dir.path(),
        &cast.operator,
        &cast.genesis(),
        Options::default(),
    )?);

    // The checkpoint task: a signed checkpoint on an interval, until told to stop.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let checkpointer = {
        let ledger = Arc::clone(&ledger);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut signed = 0u64;
            loop {
                tokio::select! {
                    _ = &mut stopped => return Ok::<u64, BoxError>(signed),
                    _ = tick.tick() => {
                        let l = Arc::clone(&ledger);
                        tokio::task::spawn_blocking(move || l.checkpoint()).await??;
                        signed += 1;
                    }
                }
            }
        })
    };

    // The deciding tasks, and the governance flow alongside them.
    let mut deciders = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        deciders.spawn(decide(Arc::clone(&ledger), task));
    }
    let governed = governance(&ledger, &cast).await?;
    let mut decisions = Vec::new();
    while let Some(done) = deciders.join_next().await {
        decisions.extend(done??);
    }
    // A closed channel also stops the task; only the count it returns matters.
    let _ = stop.send(());
    let checkpoints = checkpointer.await??;

    // Every receipt names a distinct entry, and the ledger holds them all.
    let mut seqs: Vec<u64> = decisions.iter().chain(&governed).map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let appended = TASKS * DECISIONS + governed.len() as u64;
    assert_eq!(seqs.len() as u64, appended, "every receipt has its own sequence number");
    assert_eq!(ledger.len(), 1 + appended, "the genesis and every entry recorded");
    assert_eq!(
        ledger.durable_len(),
        ledger.len(),
        "every acknowledged entry is durable"
    );

    // A last checkpoint covering everything, then close: the writer drains and syncs.
    let last = ledger.checkpoint()?;
    assert_eq!(last.tree_size, 1 + appended);
    let ledger = Arc::into_inner(ledger).ok_or("every task has let go of the ledger")?;
    ledger.close()?;
    let elapsed = started.elapsed();

    // The auditor: only the operator's public key is trusted; the policy rules are checked.
    let anchor = TrustAnchor::PublicKey(cast.operator.verifying_key());
    let report = verify_opts(&StdBackend, dir.path(), &anchor, &VerifyOptions::default().policy(true))?;
    assert!(report.is_ok(), "integrity: {:?}", report.failure);
    assert!(report.policy_checked);
    assert!(report.is_compliant(), "policy violations: {:?}", report.violations);
    assert_eq!(report.entries, 1 + appended);
    assert_eq!(report.root, last.root);
    assert_eq!(
        report.checkpoints_verified,
        checkpoints + 1,
        "the task's checkpoints and the last"
    );
    let report = report.into_result()?;

    println!(
        "{TASKS} tasks recorded {} decisions and {} governance records in {:.2?} ({} checkpoints on the way)",
        decisions.len(),
        governed.len(),
        elapsed,
        checkpoints + 1,
    );
    println!(
        "verified {} entries and {} checkpoints against the operator's key, policy compliant; root {}",
        report.entries, report.checkpoints_verified, report.root
    );
    Ok(())
}
