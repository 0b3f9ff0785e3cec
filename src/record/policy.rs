//! The decision-boundary rules in force: data in the ledger (genesis, policy updates), so a
//! verdict can be reproduced from the ledger alone.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A policy rule, by its stable id (used in reports and JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RuleId {
    /// Production + (customer impacting | policy change | permission change) ⇒ at least
    /// `human_approval_required`.
    #[serde(rename = "boundary.gated_impact")]
    GatedImpact,
    /// Every execution of a gated proposal has enough valid approvals.
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
    /// Policy changes and admin/approver role grants are themselves gated by an approval.
    #[serde(rename = "governance.ungated_change")]
    UngatedGovernanceChange,
    /// A rejected proposal (or one whose approvals expired) is not executed.
    #[serde(rename = "execution.after_rejection")]
    ExecutionAfterRejection,
}

impl RuleId {
    /// Every rule.
    pub const ALL: [RuleId; 14] = [
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
        }
    }

    /// Rules that no policy can switch off: separation of duties.
    #[must_use]
    pub const fn mandatory(self) -> bool {
        matches!(self, RuleId::SelfApproval | RuleId::ApprovalByAi)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The rules in force.
///
/// ```
/// use provledger::record::{Policy, RuleId};
/// let p = Policy::default();
/// assert!(p.enforces(RuleId::GatedImpact));
/// let lax = Policy { rules: vec![], ..Policy::default() };
/// assert!(lax.enforces(RuleId::SelfApproval), "separation of duties cannot be switched off");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Valid approvals needed before a gated proposal may be executed (at least 1).
    pub min_approvals: u8,
    /// The rules enforced (mandatory rules are enforced even when absent).
    pub rules: Vec<RuleId>,
}

impl Default for Policy {
    /// Every rule, one approval.
    fn default() -> Self {
        Policy {
            min_approvals: 1,
            rules: RuleId::ALL.to_vec(),
        }
    }
}

impl Policy {
    /// Whether `rule` is enforced.
    #[must_use]
    pub fn enforces(&self, rule: RuleId) -> bool {
        rule.mandatory() || self.rules.contains(&rule)
    }

    /// Approvals needed (never fewer than one).
    #[must_use]
    pub fn min_approvals(&self) -> usize {
        usize::from(self.min_approvals.max(1))
    }
}
