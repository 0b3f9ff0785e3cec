//! The governance records: who may act (keys), what the rules are (policy), and the decision
//! path of AI-influenced work — AI output, proposal, review, approval or rejection,
//! execution, override — plus redaction of personal data.
//!
//! Field names follow OpenTelemetry GenAI attributes (`provider_name` ≈
//! `gen_ai.provider.name`, `request_model` ≈ `gen_ai.request.model`), in-toto resource
//! descriptors (`name`, `uri`, `digest`) and W3C PROV (person vs software agent). In JSON each
//! record carries a `"kind"` field; in the ledger the kind is the entry kind and the payload is
//! the record in the fixed bincode layout of docs/FORMAT.md §6.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PrincipalType, Role};
use crate::entry::Timestamp;
use crate::hash::Digest;

/// Where an action takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Trials, sandboxes, evaluation: no production authority.
    Experimentation,
    /// Real customers, real permissions, real money.
    Production,
}

/// What AI may do in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionBoundary {
    /// AI output may support the decision; no human approval gate.
    AiMayAssist,
    /// A human approval (by an enrolled person with the approver role) gates execution.
    HumanApprovalRequired,
    /// Decided and signed by a person; AI output appears only as evidence.
    HumanOnly,
}

/// How much the machine does on its own — three different things, not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Autonomy {
    /// Fixed, rule-based automation.
    Automation,
    /// AI drafts or recommends; a person decides.
    Assistance,
    /// AI decides and acts.
    Autonomy,
}

/// What a proposal would touch.
#[allow(clippy::struct_excessive_bools)] // four independent flags, as the governance model names them
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactFlags {
    /// Customers feel the effect.
    #[serde(default)]
    pub customer_impacting: bool,
    /// Changes a policy.
    #[serde(default)]
    pub policy_change: bool,
    /// Grants or removes permissions.
    #[serde(default)]
    pub permission_change: bool,
    /// Involves personal data.
    #[serde(default)]
    pub personal_data: bool,
}

impl ImpactFlags {
    /// Whether the change must sit behind an approval gate in production (DESIGN §4).
    #[must_use]
    pub fn gated(&self) -> bool {
        self.customer_impacting || self.policy_change || self.permission_change
    }

    /// Whether `self` and `other` share a flag.
    #[must_use]
    pub fn intersects(&self, other: &ImpactFlags) -> bool {
        (self.customer_impacting && other.customer_impacting)
            || (self.policy_change && other.policy_change)
            || (self.permission_change && other.permission_change)
            || (self.personal_data && other.personal_data)
    }

    /// Every flag set in `self` or `other`.
    #[must_use]
    pub fn union(&self, other: &ImpactFlags) -> ImpactFlags {
        ImpactFlags {
            customer_impacting: self.customer_impacting || other.customer_impacting,
            policy_change: self.policy_change || other.policy_change,
            permission_change: self.permission_change || other.permission_change,
            personal_data: self.personal_data || other.personal_data,
        }
    }
}

/// A reference to an earlier entry by sequence number and entry hash: what a proposal cites
/// its AI outputs by, so the verifier can read the cited entry (its kind and signers stay
/// readable when its payload is erased) without remembering every AI output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    /// Sequence number of the entry.
    pub seq: u64,
    /// Its entry hash (as the receipt of its append printed it).
    pub hash: Digest,
}

/// A pointer to evidence: an in-toto style resource descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Human-readable name.
    pub name: String,
    /// Where it lives.
    pub uri: String,
    /// BLAKE3 digest of its content.
    pub digest: Digest,
    /// What it shows.
    #[serde(default)]
    pub description: String,
}

/// Enrolls a key: who holds it, what they are, what they may do, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyEnrollment {
    /// The Ed25519 public key (hex in JSON).
    #[serde(with = "crate::hash::hex32")]
    #[cfg_attr(feature = "schema", schemars(with = "crate::hash::Digest"))]
    pub public_key: [u8; 32],
    /// Stable identifier of the principal (email, service name…).
    pub principal_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Person, software agent or service.
    pub principal_type: PrincipalType,
    /// Roles granted.
    pub roles: Vec<Role>,
    /// Environments the key may act in.
    pub environments: Vec<Environment>,
}

/// Revokes a key from this point of the ledger on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyRevocation {
    /// The revoked key's id.
    pub key_id: Digest,
    /// Why.
    pub reason: String,
}

/// Identity of an AI system (OpenTelemetry GenAI attribute names in spirit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AiSystem {
    /// `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `internal`.
    pub provider_name: String,
    /// `gen_ai.request.model`.
    pub request_model: String,
    /// Model or deployment version.
    #[serde(default)]
    pub version: String,
    /// Digest of the configuration (prompt template, temperature, tools…).
    #[serde(default)]
    pub config_digest: Option<Digest>,
}

/// Token usage of one AI call (`gen_ai.usage.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    /// `gen_ai.usage.input_tokens`.
    pub input_tokens: u64,
    /// `gen_ai.usage.output_tokens`.
    pub output_tokens: u64,
}

/// Output of an AI system, committed by digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AiOutput {
    /// Which system produced it.
    pub system: AiSystem,
    /// The task it served.
    pub task: String,
    /// Digest of the input.
    pub input_digest: Digest,
    /// Digest of the output.
    pub output_digest: Digest,
    /// A short summary of the output (may hold personal data; erasable).
    #[serde(default)]
    pub summary: String,
    /// Token usage, if known.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// A request for a decision or action.
///
/// What the decision needs (boundary, approvals, reviews, evidence) is what the policy's
/// action classes say for its `action_type`, `attributes` and `impact`; the proposal's own
/// `boundary` can only make that stricter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The action requested, in words.
    pub action: String,
    /// The machine-readable kind of action that the policy's classes match, e.g. `refund`,
    /// `permission.grant.approver`, `policy.change`.
    #[serde(default)]
    pub action_type: String,
    /// Numeric attributes that class thresholds read, e.g. `{"amount_eur": 5000}`.
    #[serde(default)]
    pub attributes: BTreeMap<String, u64>,
    /// What AI may do in this decision.
    pub boundary: DecisionBoundary,
    /// How much the machine does on its own.
    pub autonomy: Autonomy,
    /// Where it takes effect.
    pub environment: Environment,
    /// What it touches.
    #[serde(default)]
    pub impact: ImpactFlags,
    /// Evidence relied on.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Why.
    #[serde(default)]
    pub rationale: String,
    /// The AI outputs the proposal came from, by sequence number and entry hash.
    #[serde(default)]
    pub ai_outputs: Vec<EntryRef>,
}

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The reviewed material is sound.
    Endorse,
    /// Sound with reservations.
    Concerns,
    /// Not sound.
    Reject,
}

/// A review of exact content: an AI output or a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Entry hash of what was reviewed.
    pub subject: Digest,
    /// The verdict.
    pub verdict: Verdict,
    /// The exact digests the reviewer looked at (e.g. output_digest of an AI output).
    #[serde(default)]
    pub digests: Vec<Digest>,
    /// Comment.
    #[serde(default)]
    pub comment: String,
}

/// Approval of one exact proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Entry hash of the proposal approved.
    pub proposal: Digest,
    /// What exactly is approved.
    #[serde(default)]
    pub scope: String,
    /// After this time the approval no longer authorises execution.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// Rejection of one exact proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Entry hash of the proposal rejected.
    pub proposal: Digest,
    /// Why.
    pub reason: String,
}

/// What was done, and on which approvals it relied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// Entry hash of the proposal executed.
    pub proposal: Digest,
    /// Entry hashes of the approvals relied on.
    #[serde(default)]
    pub approvals: Vec<Digest>,
    /// What was done.
    pub action_taken: String,
    /// The outcome.
    #[serde(default)]
    pub outcome: String,
}

/// Overrides or reverses an earlier decision (a proposal) or execution.
///
/// An override of a decision that needed approval is itself gated like that decision: it
/// names an approved proposal to override (`proposal`) and the approvals it relies on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Entry hash of what is overridden: a proposal or an execution.
    pub target: Digest,
    /// `true` for a reversal (undo), `false` for an override (decide otherwise).
    pub reversal: bool,
    /// Why (required: a blank reason violates `override.reason_missing`).
    pub reason: String,
    /// Entry hash of the proposal to override, when the override is gated.
    #[serde(default)]
    pub proposal: Option<Digest>,
    /// Entry hashes of the approvals of that proposal relied on.
    #[serde(default)]
    pub approvals: Vec<Digest>,
}

/// A person accepting a known risk: what it is, how far the acceptance reaches, until when.
/// Signed by the accepting person (approver role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskAcceptance {
    /// Entry hash of what the risk concerns: a proposal, or a review of one.
    pub subject: Digest,
    /// The known risk, in words.
    pub risk: String,
    /// What exactly is accepted (limits, conditions).
    pub scope: String,
    /// The acceptance ends at this time; it must lie after the acceptance itself.
    pub expires_at: Timestamp,
    /// Evidence the acceptance rests on.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// Erases the payload of an earlier entry (personal data); the commitment stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Sequence number of the entry whose payload is erased.
    pub target_seq: u64,
    /// Its entry hash.
    pub target: Digest,
    /// Why (legal basis, request reference).
    pub reason: String,
}
