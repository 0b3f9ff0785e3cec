//! Structures written field by field from docs/FORMAT.md, each field with its offset, size
//! and name, so a vector can show its bytes broken down (`"fields"`), and the bincode layout
//! of §6 written without bincode.

use crate::json::{hex, obj, J};
use provledger::record::{Policy, RuleId};
use provledger::{Genesis, PrincipalType, Role};

/// Bytes written field by field.
#[derive(Default)]
pub struct FieldWriter {
    pub bytes: Vec<u8>,
    /// (offset, size, field) for each field written.
    pub fields: Vec<(usize, usize, String)>,
}

impl FieldWriter {
    pub fn new() -> Self {
        FieldWriter::default()
    }
    pub fn raw(&mut self, field: &str, b: &[u8]) {
        self.fields.push((self.bytes.len(), b.len(), field.to_owned()));
        self.bytes.extend_from_slice(b);
    }
    pub fn string(&mut self, field: &str, s: &str) {
        self.raw(&format!("{field} length (u64)"), &(s.len() as u64).to_le_bytes());
        self.raw(&format!("{field} (UTF-8)"), s.as_bytes());
    }
    pub fn count(&mut self, field: &str, n: usize) {
        self.raw(&format!("{field} count (u64)"), &(n as u64).to_le_bytes());
    }
    pub fn variant(&mut self, field: &str, v: u32) {
        self.raw(&format!("{field} (u32 variant index)"), &v.to_le_bytes());
    }
    pub fn u8(&mut self, field: &str, v: u8) {
        self.raw(&format!("{field} (u8)"), &[v]);
    }
    pub fn u16(&mut self, field: &str, v: u16) {
        self.raw(&format!("{field} (u16)"), &v.to_le_bytes());
    }
    pub fn u32(&mut self, field: &str, v: u32) {
        self.raw(&format!("{field} (u32)"), &v.to_le_bytes());
    }
    pub fn u64(&mut self, field: &str, v: u64) {
        self.raw(&format!("{field} (u64)"), &v.to_le_bytes());
    }
    pub fn bool(&mut self, field: &str, v: bool) {
        self.raw(&format!("{field} (bool)"), &[u8::from(v)]);
    }
    pub fn digest(&mut self, field: &str, d: &[u8; 32]) {
        self.raw(&format!("{field} ([u8; 32])"), d);
    }
    /// The `Option` tag: 0 for `None`, 1 for `Some` (the value follows).
    pub fn option(&mut self, field: &str, some: bool) {
        self.raw(&format!("{field} Option tag (u8)"), &[u8::from(some)]);
    }

    /// `[{offset, size, field, hex}]`.
    pub fn to_json(&self) -> J {
        self.fields
            .iter()
            .map(|(off, size, name)| {
                obj([
                    ("offset", (*off as u64).into()),
                    ("size", (*size as u64).into()),
                    ("field", name.as_str().into()),
                    ("hex", hex(&self.bytes[*off..off + size])),
                ])
            })
            .collect::<Vec<J>>()
            .into()
    }
}

/// Variant index of a principal type (docs/FORMAT.md §6.0), written out, not taken from bincode.
pub fn principal_type_index(t: PrincipalType) -> u32 {
    match t {
        PrincipalType::Person => 0,
        PrincipalType::SoftwareAgent => 1,
        PrincipalType::Service => 2,
    }
}

/// Variant index of a role (docs/FORMAT.md §6.0).
pub fn role_index(r: Role) -> u32 {
    match r {
        Role::Admin => 0,
        Role::Operator => 1,
        Role::Requester => 2,
        Role::Reviewer => 3,
        Role::Approver => 4,
        Role::AiAgent => 5,
    }
}

/// Variant index of a policy rule (docs/FORMAT.md §6.1).
pub fn rule_index(r: RuleId) -> u32 {
    match r {
        RuleId::GatedImpact => 0,
        RuleId::ApprovalRequired => 1,
        RuleId::SelfApproval => 2,
        RuleId::ApprovalByAi => 3,
        RuleId::ApprovalNotPerson => 4,
        RuleId::ApprovalAfterExecution => 5,
        RuleId::ApprovalWrongProposal => 6,
        RuleId::ApprovalExpired => 7,
        RuleId::ApprovalRevoked => 8,
        RuleId::HumanOnlyNotByPerson => 9,
        RuleId::KeyOutsideEnvironment => 10,
        RuleId::ProductionReliesOnExperimentation => 11,
        RuleId::UngatedGovernanceChange => 12,
        RuleId::ExecutionAfterRejection => 13,
        RuleId::BoundaryBelowClass => 14,
        RuleId::EvidenceRequired => 15,
        RuleId::ReviewRequired => 16,
        RuleId::AiProvenance => 17,
        RuleId::OverrideReasonMissing => 18,
        RuleId::OverrideByAi => 19,
        RuleId::OverrideUngated => 20,
        RuleId::RiskInvalid => 21,
        RuleId::RiskUnaccepted => 22,
        other => panic!("rule {other} has no documented index: update docs/FORMAT.md §6.1"),
    }
}

/// A policy written field by field (docs/FORMAT.md §6.1).
pub fn policy_by_hand(w: &mut FieldWriter, prefix: &str, p: &Policy) {
    w.u8(&format!("{prefix}min_approvals"), p.min_approvals);
    w.count(&format!("{prefix}rules"), p.rules.len());
    for (j, r) in p.rules.iter().enumerate() {
        w.variant(&format!("{prefix}rules[{j}] = {r}"), rule_index(*r));
    }
    w.count(&format!("{prefix}classes"), p.classes.len());
    for (j, c) in p.classes.iter().enumerate() {
        let at = format!("{prefix}classes[{j}].");
        w.string(&format!("{at}name"), &c.name);
        w.count(&format!("{at}actions"), c.actions.len());
        for (k, a) in c.actions.iter().enumerate() {
            w.string(&format!("{at}actions[{k}]"), a);
        }
        impact_by_hand(w, &format!("{at}impact."), &c.impact);
        w.option(&format!("{at}threshold"), c.threshold.is_some());
        if let Some(t) = &c.threshold {
            w.string(&format!("{at}threshold.attribute"), &t.attribute);
            w.u64(&format!("{at}threshold.at_least"), t.at_least);
        }
        requirements_by_hand(w, &format!("{at}require."), &c.require);
    }
    w.option(&format!("{prefix}unclassified"), p.unclassified.is_some());
    if let Some(r) = &p.unclassified {
        requirements_by_hand(w, &format!("{prefix}unclassified."), r);
    }
}

/// Impact flags written field by field (docs/FORMAT.md §6.2): four bools.
pub fn impact_by_hand(w: &mut FieldWriter, prefix: &str, i: &provledger::record::ImpactFlags) {
    w.bool(&format!("{prefix}customer_impacting"), i.customer_impacting);
    w.bool(&format!("{prefix}policy_change"), i.policy_change);
    w.bool(&format!("{prefix}permission_change"), i.permission_change);
    w.bool(&format!("{prefix}personal_data"), i.personal_data);
}

/// Requirements written field by field (docs/FORMAT.md §6.1).
fn requirements_by_hand(w: &mut FieldWriter, prefix: &str, r: &provledger::record::Requirements) {
    let boundary = match r.boundary {
        provledger::record::DecisionBoundary::AiMayAssist => 0,
        provledger::record::DecisionBoundary::HumanApprovalRequired => 1,
        provledger::record::DecisionBoundary::HumanOnly => 2,
    };
    w.variant(&format!("{prefix}boundary"), boundary);
    w.u8(&format!("{prefix}min_approvals"), r.min_approvals);
    w.u8(&format!("{prefix}reviews"), r.reviews);
    w.bool(&format!("{prefix}evidence"), r.evidence);
    w.bool(&format!("{prefix}cite_ai_outputs"), r.cite_ai_outputs);
}

/// A genesis record written field by field from docs/FORMAT.md §6.0 (independently of bincode).
pub fn genesis_by_hand(g: &Genesis) -> FieldWriter {
    let mut w = FieldWriter::new();
    w.string("name", &g.name);
    w.count("anchors", g.anchors.len());
    for (i, a) in g.anchors.iter().enumerate() {
        w.raw(&format!("anchors[{i}].public_key ([u8; 32])"), &a.public_key);
        w.string(&format!("anchors[{i}].principal_id"), &a.principal_id);
        w.variant(
            &format!("anchors[{i}].principal_type"),
            principal_type_index(a.principal_type),
        );
        w.count(&format!("anchors[{i}].roles"), a.roles.len());
        for (j, r) in a.roles.iter().enumerate() {
            w.variant(&format!("anchors[{i}].roles[{j}]"), role_index(*r));
        }
    }
    policy_by_hand(&mut w, "policy.", &g.policy);
    w
}
