//! The decision-boundary rules in force: data in the ledger (genesis, policy updates), so a
//! verdict can be reproduced from the ledger alone.

mod classes;
mod rules;

use serde::{Deserialize, Serialize};

pub use classes::{pattern_matches, ActionClass, ActionDesc, Requirements, Resolved, Threshold};
pub use rules::RuleId;

use crate::encoding::serde_codec;
use crate::error::DecodeError;
use crate::hash::{Digest, Domain};

/// The rules in force.
///
/// ```
/// use provledger::record::{Policy, RuleId};
/// let p = Policy::default();
/// assert!(p.enforces(RuleId::GatedImpact));
/// let lax = Policy { rules: vec![], ..Policy::default() };
/// assert!(lax.enforces(RuleId::SelfApproval), "separation of duties cannot be switched off");
/// assert!(lax.enforces(RuleId::UngatedGovernanceChange), "nor the gate on governance changes");
/// ```
///
/// Action classes say what kinds of action need which approvals:
///
/// ```
/// use std::collections::BTreeMap;
/// use provledger::record::{ActionDesc, DecisionBoundary, ImpactFlags, Policy};
/// let p: Policy = serde_json::from_str(r#"{"min_approvals":1,"rules":[],"classes":[
///   {"name":"large refunds","actions":["refund"],"threshold":{"attribute":"amount_eur","at_least":1000},
///    "require":{"boundary":"human_approval_required","min_approvals":2}}]}"#).unwrap();
/// let small = BTreeMap::from([("amount_eur".to_owned(), 50)]);
/// let large = BTreeMap::from([("amount_eur".to_owned(), 5000)]);
/// let refund = |attributes| ActionDesc { action_type: "refund", attributes, impact: ImpactFlags::default() };
/// assert_eq!(p.resolve(&refund(&small)).requirements.boundary, DecisionBoundary::AiMayAssist);
/// assert_eq!(p.resolve(&refund(&large)).requirements.min_approvals, 2);
/// assert_eq!(p.resolve(&refund(&BTreeMap::new())).requirements.min_approvals, 2, "no amount: treated as large");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Approvals by distinct persons that every gated decision needs at least (0 is read as 1);
    /// an action class may ask for more.
    pub min_approvals: u8,
    /// The rules enforced (mandatory rules are enforced even when absent).
    pub rules: Vec<RuleId>,
    /// Action classes: what deciding each kind of action requires.
    #[serde(default)]
    pub classes: Vec<ActionClass>,
    /// Requirements of an action no class applies to; `null`: nothing beyond what the
    /// proposal declares.
    #[serde(default)]
    pub unclassified: Option<Requirements>,
}

impl Default for Policy {
    /// Every rule, one approval, no action classes.
    fn default() -> Self {
        Policy {
            min_approvals: 1,
            rules: RuleId::ALL.to_vec(),
            classes: Vec::new(),
            unclassified: None,
        }
    }
}

impl Policy {
    /// Whether `rule` is enforced.
    #[must_use]
    pub fn enforces(&self, rule: RuleId) -> bool {
        rule.mandatory() || self.rules.contains(&rule)
    }

    /// Approvals every gated decision needs at least (never fewer than one).
    #[must_use]
    pub fn min_approvals(&self) -> usize {
        usize::from(self.min_approvals.max(1))
    }

    /// The requirements of `action`: those of every class that applies, combined (stricter
    /// wins), or [`Policy::unclassified`] when no class applies.
    #[must_use]
    pub fn resolve(&self, action: &ActionDesc<'_>) -> Resolved {
        let classes: Vec<usize> = (0..self.classes.len())
            .filter(|&i| self.classes[i].applies_to(action))
            .collect();
        let requirements = if classes.is_empty() {
            self.unclassified.unwrap_or_default()
        } else {
            classes
                .iter()
                .fold(Requirements::default(), |r, &i| r.stricter(self.classes[i].require))
        };
        Resolved { requirements, classes }
    }

    /// The policy's digest: `H_policy(payload)` (docs/FORMAT.md §2.1) over its encoding
    /// (docs/FORMAT.md §6.1) — for a `policy_update` entry, over the entry's payload. Reports
    /// name the policy a verdict was judged under by this digest.
    ///
    /// # Errors
    /// [`DecodeError`] if the policy exceeds the structured-payload limit.
    pub fn digest(&self) -> Result<Digest, DecodeError> {
        Ok(Domain::Policy.hash(&serde_codec::encode(self, "policy")?))
    }
}
