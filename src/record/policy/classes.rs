//! Action classes: the policy maps what a proposal asks to do (its `action_type`, numeric
//! `attributes` and declared `impact`) to the decision boundary, approvals, reviews and
//! evidence it needs. A proposal's own declaration can only make this stricter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{DecisionBoundary, ImpactFlags};

/// What a decision needs before it may be executed. Combined field by field, the stricter
/// value wins (see [`Requirements::stricter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// The least decision boundary (a proposal may declare a stricter one).
    #[serde(default = "ai_may_assist")]
    pub boundary: DecisionBoundary,
    /// Approvals by distinct persons needed when the boundary is `human_approval_required` or
    /// `human_only` (never fewer than the policy's `min_approvals`).
    #[serde(default)]
    pub min_approvals: u8,
    /// Reviews by distinct persons (not the requesters) that must precede each approval; a
    /// review counts when its verdict is `endorse`, or `concerns` whose risk was accepted, and it
    /// names every evidence digest of the proposal.
    #[serde(default)]
    pub reviews: u8,
    /// The proposal must carry at least one evidence item.
    #[serde(default)]
    pub evidence: bool,
    /// A proposal made with AI involvement (signed by an AI agent, or with autonomy
    /// `assistance` or `autonomy`) must cite the AI outputs it came from.
    #[serde(default)]
    pub cite_ai_outputs: bool,
}

fn ai_may_assist() -> DecisionBoundary {
    DecisionBoundary::AiMayAssist
}

impl Default for Requirements {
    /// Nothing required: AI may assist, no approvals, reviews or evidence.
    fn default() -> Self {
        Requirements {
            boundary: DecisionBoundary::AiMayAssist,
            min_approvals: 0,
            reviews: 0,
            evidence: false,
            cite_ai_outputs: false,
        }
    }
}

impl Requirements {
    /// Field by field, the stricter of `self` and `other`.
    #[must_use]
    pub fn stricter(self, other: Requirements) -> Requirements {
        Requirements {
            boundary: self.boundary.max(other.boundary),
            min_approvals: self.min_approvals.max(other.min_approvals),
            reviews: self.reviews.max(other.reviews),
            evidence: self.evidence || other.evidence,
            cite_ai_outputs: self.cite_ai_outputs || other.cite_ai_outputs,
        }
    }

    /// Whether an execution needs approvals (`human_approval_required` or `human_only`).
    #[must_use]
    pub fn gated(&self) -> bool {
        self.boundary >= DecisionBoundary::HumanApprovalRequired
    }
}

/// A numeric attribute bound: the class applies when the proposal's attribute is at least
/// `at_least` — or when the proposal does not state the attribute at all (an unstated amount
/// is treated as a large one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The attribute's name in the proposal's `attributes`, e.g. `amount_eur`.
    pub attribute: String,
    /// The smallest value the class applies to.
    pub at_least: u64,
}

/// A class of actions and what deciding one requires.
///
/// A class applies to a proposal when one of its `actions` patterns matches the proposal's
/// `action_type`, or the proposal declares one of the class's `impact` flags — and, if the class
/// has a `threshold`, the proposal's attribute reaches it (or is not stated). Patterns are exact
/// names (`permission.grant`), prefixes ending in `.*` (`permission.*` matches
/// `permission.grant` and `permission.grant.admin`, not `permission`), or `*` (everything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionClass {
    /// A name for reports, e.g. `large refunds`.
    pub name: String,
    /// Action type patterns.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Impact flags: a proposal declaring any of them is in the class.
    #[serde(default)]
    pub impact: ImpactFlags,
    /// Optional numeric bound on one attribute.
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// What a decision of this class needs.
    pub require: Requirements,
}

/// What a proposal says it is, as class matching reads it.
#[derive(Clone, Copy, Debug)]
pub struct ActionDesc<'a> {
    /// The machine-readable action type (`refund`, `permission.grant.admin`…).
    pub action_type: &'a str,
    /// Numeric attributes (`amount_eur` …).
    pub attributes: &'a BTreeMap<String, u64>,
    /// The declared impact.
    pub impact: ImpactFlags,
}

/// Whether an action-type pattern matches `action_type`.
#[must_use]
pub fn pattern_matches(pattern: &str, action_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => action_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
        None => pattern == action_type,
    }
}

impl ActionClass {
    /// Whether the class applies to `action`.
    #[must_use]
    pub fn applies_to(&self, action: &ActionDesc<'_>) -> bool {
        let by_action = self.actions.iter().any(|p| pattern_matches(p, action.action_type));
        let by_impact = self.impact.intersects(&action.impact);
        let reaches = self
            .threshold
            .as_ref()
            .is_none_or(|t| action.attributes.get(&t.attribute).is_none_or(|&v| v >= t.at_least));
        (by_action || by_impact) && reaches
    }
}

/// The requirements that apply to one action, and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The combined requirements (stricter wins) of every class that applies, or the policy's
    /// `unclassified` requirements when none does.
    pub requirements: Requirements,
    /// Indices (into the policy's `classes`) of the classes that apply.
    pub classes: Vec<usize>,
}
