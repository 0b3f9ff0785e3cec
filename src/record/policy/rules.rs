//! The policy rules, by stable id: what `verify --policy` checks (docs/GOVERNANCE.md, "Policy
//! rules", says for each what it checks, with an example that breaks it).

use core::fmt;

use serde::{Deserialize, Serialize};

/// A policy rule, by its stable id (used in reports and JSON).
///
/// New rules are added at the end: the index of a rule is its encoding (docs/FORMAT.md §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum RuleId {
    /// Production + (customer impacting | policy change | permission change) ⇒ at least
    /// `human_approval_required`.
    #[serde(rename = "boundary.gated_impact")]
    GatedImpact,
    /// Every execution of a gated proposal has enough valid approvals by distinct persons.
    #[serde(rename = "approval.required")]
    ApprovalRequired,
    /// Nobody approves a proposal they requested. Always enforced.
    #[serde(rename = "approval.self_approval")]
    SelfApproval,
    /// No AI agent key approves. Always enforced.
    #[serde(rename = "approval.by_ai")]
    ApprovalByAi,
    /// Approvals are signed by enrolled *person* keys with the approver role.
    #[serde(rename = "approval.not_person")]
    ApprovalNotPerson,
    /// An approval relied on must come before the execution.
    #[serde(rename = "approval.after_execution")]
    ApprovalAfterExecution,
    /// An approval relied on must bind the exact proposal executed.
    #[serde(rename = "approval.wrong_proposal")]
    ApprovalWrongProposal,
    /// An approval relied on must not have expired at execution time.
    #[serde(rename = "approval.expired")]
    ApprovalExpired,
    /// An approval relied on must not be by a key revoked before the execution.
    #[serde(rename = "approval.revoked")]
    ApprovalRevoked,
    /// `human_only` decisions are decided and signed by a person; AI output only as evidence.
    #[serde(rename = "human_only.not_by_person")]
    HumanOnlyNotByPerson,
    /// Keys act only in the environments they were enrolled for.
    #[serde(rename = "environment.key_outside")]
    KeyOutsideEnvironment,
    /// Nothing in production relies on an experimentation-only key or entry.
    #[serde(rename = "environment.production_relies_on_experimentation")]
    ProductionReliesOnExperimentation,
    /// Policy changes, admin/approver grants and AI production grants are themselves gated by
    /// approvals; an ungated one does not take effect. Always enforced.
    #[serde(rename = "governance.ungated_change")]
    UngatedGovernanceChange,
    /// A rejected proposal is not executed.
    #[serde(rename = "execution.after_rejection")]
    ExecutionAfterRejection,
    /// A proposal declares at least the decision boundary its action class requires.
    #[serde(rename = "boundary.below_class")]
    BoundaryBelowClass,
    /// A proposal whose class requires evidence carries at least one evidence item.
    #[serde(rename = "evidence.required")]
    EvidenceRequired,
    /// An approval comes after the reviews its class requires: by persons other than the
    /// requesters, naming every evidence digest of the proposal.
    #[serde(rename = "review.required")]
    ReviewRequired,
    /// A proposal made with AI involvement cites the AI outputs it came from (when its class
    /// requires it), and every AI output it cites is an earlier `ai_output` entry.
    #[serde(rename = "proposal.ai_provenance")]
    AiProvenance,
    /// An override gives a reason.
    #[serde(rename = "override.reason_missing")]
    OverrideReasonMissing,
    /// No AI agent overrides a decision that was human-only or needed human approval.
    #[serde(rename = "override.by_ai")]
    OverrideByAi,
    /// An override of a decision that needed approval is approved like that decision.
    #[serde(rename = "override.ungated")]
    OverrideUngated,
    /// A risk acceptance is made by a person with the approver role who did not request what
    /// it concerns, names the risk and its scope, and expires after it is made.
    #[serde(rename = "risk.invalid")]
    RiskInvalid,
    /// A proposal with a `concerns` or `reject` review is approved only after a person
    /// accepted that risk (a risk acceptance naming the review or the proposal, unexpired).
    #[serde(rename = "risk.unaccepted")]
    RiskUnaccepted,
}

impl RuleId {
    /// Every rule, in index order.
    pub const ALL: [RuleId; 23] = [
        RuleId::GatedImpact,
        RuleId::ApprovalRequired,
        RuleId::SelfApproval,
        RuleId::ApprovalByAi,
        RuleId::ApprovalNotPerson,
        RuleId::ApprovalAfterExecution,
        RuleId::ApprovalWrongProposal,
        RuleId::ApprovalExpired,
        RuleId::ApprovalRevoked,
        RuleId::HumanOnlyNotByPerson,
        RuleId::KeyOutsideEnvironment,
        RuleId::ProductionReliesOnExperimentation,
        RuleId::UngatedGovernanceChange,
        RuleId::ExecutionAfterRejection,
        RuleId::BoundaryBelowClass,
        RuleId::EvidenceRequired,
        RuleId::ReviewRequired,
        RuleId::AiProvenance,
        RuleId::OverrideReasonMissing,
        RuleId::OverrideByAi,
        RuleId::OverrideUngated,
        RuleId::RiskInvalid,
        RuleId::RiskUnaccepted,
    ];

    /// The stable id, e.g. `approval.self_approval`.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            RuleId::GatedImpact => "boundary.gated_impact",
            RuleId::ApprovalRequired => "approval.required",
            RuleId::SelfApproval => "approval.self_approval",
            RuleId::ApprovalByAi => "approval.by_ai",
            RuleId::ApprovalNotPerson => "approval.not_person",
            RuleId::ApprovalAfterExecution => "approval.after_execution",
            RuleId::ApprovalWrongProposal => "approval.wrong_proposal",
            RuleId::ApprovalExpired => "approval.expired",
            RuleId::ApprovalRevoked => "approval.revoked",
            RuleId::HumanOnlyNotByPerson => "human_only.not_by_person",
            RuleId::KeyOutsideEnvironment => "environment.key_outside",
            RuleId::ProductionReliesOnExperimentation => "environment.production_relies_on_experimentation",
            RuleId::UngatedGovernanceChange => "governance.ungated_change",
            RuleId::ExecutionAfterRejection => "execution.after_rejection",
            RuleId::BoundaryBelowClass => "boundary.below_class",
            RuleId::EvidenceRequired => "evidence.required",
            RuleId::ReviewRequired => "review.required",
            RuleId::AiProvenance => "proposal.ai_provenance",
            RuleId::OverrideReasonMissing => "override.reason_missing",
            RuleId::OverrideByAi => "override.by_ai",
            RuleId::OverrideUngated => "override.ungated",
            RuleId::RiskInvalid => "risk.invalid",
            RuleId::RiskUnaccepted => "risk.unaccepted",
        }
    }

    /// The rule with this id, if any.
    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        RuleId::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Rules that no policy can switch off: separation of duties, and the gate on changes of
    /// the rules and of who may approve (a policy that could be changed without approval would
    /// make every other rule optional).
    #[must_use]
    pub const fn mandatory(self) -> bool {
        matches!(
            self,
            RuleId::SelfApproval | RuleId::ApprovalByAi | RuleId::UngatedGovernanceChange
        )
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
