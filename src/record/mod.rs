//! Structured payloads: the genesis record and the governance records.
//!
//! Structured payloads are encoded in a fixed bincode layout
//! (docs/FORMAT.md §6) and committed like any payload. In JSON (the CLI's `append` input and
//! `show` output) a [`Record`] carries its kind in a `"kind"` field.

mod genesis;
mod governance;
mod policy;
#[cfg(feature = "schema")]
mod schema;

use serde::{Deserialize, Serialize};

pub use genesis::{Genesis, PrincipalType, Role, TrustAnchorKey, GENESIS_CONTENT_TYPE, MAX_ANCHORS, MAX_NAME_LEN};
pub use governance::{
    AiOutput, AiSystem, Approval, Autonomy, DecisionBoundary, EntryRef, Environment, Evidence, Execution, ImpactFlags,
    KeyEnrollment, KeyRevocation, Override, Proposal, Redaction, Rejection, Review, RiskAcceptance, TokenUsage,
    Verdict,
};
pub use policy::{pattern_matches, ActionClass, ActionDesc, Policy, Requirements, Resolved, RuleId, Threshold};
#[cfg(feature = "schema")]
pub use schema::{record_schema, schema_kinds, SchemaTarget};

use crate::encoding::serde_codec;
use crate::entry::EntryKind;
use crate::error::DecodeError;
use crate::hash::Digest;

/// A governance record of any kind.
///
/// ```
/// use provledger::record::{Approval, Record};
/// let json = r#"{"kind":"approval","proposal":"0000000000000000000000000000000000000000000000000000000000000001","scope":"limit 8000"}"#;
/// let r: Record = serde_json::from_str(json).unwrap();
/// assert_eq!(r.entry_kind(), provledger::EntryKind::Approval);
/// let bytes = r.encode()?;
/// assert_eq!(Record::decode(r.entry_kind(), &bytes)?, r);
/// // A misspelt field is an error, not silently dropped.
/// let typo = json.replace("scope", "scoop");
/// assert!(serde_json::from_str::<Record>(&typo).is_err());
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// See [`KeyEnrollment`].
    KeyEnrollment(KeyEnrollment),
    /// See [`KeyRevocation`].
    KeyRevocation(KeyRevocation),
    /// See [`Policy`].
    PolicyUpdate(Policy),
    /// See [`AiOutput`].
    AiOutput(AiOutput),
    /// See [`Proposal`].
    Proposal(Proposal),
    /// See [`Review`].
    Review(Review),
    /// See [`Approval`].
    Approval(Approval),
    /// See [`Rejection`].
    Rejection(Rejection),
    /// See [`Execution`].
    Execution(Execution),
    /// See [`Override`].
    Override(Override),
    /// See [`Redaction`].
    Redaction(Redaction),
    /// See [`RiskAcceptance`].
    RiskAcceptance(RiskAcceptance),
}

impl Record {
    /// The entry kind that carries this record.
    #[must_use]
    pub fn entry_kind(&self) -> EntryKind {
        match self {
            Record::KeyEnrollment(_) => EntryKind::KeyEnrollment,
            Record::KeyRevocation(_) => EntryKind::KeyRevocation,
            Record::PolicyUpdate(_) => EntryKind::PolicyUpdate,
            Record::AiOutput(_) => EntryKind::AiOutput,
            Record::Proposal(_) => EntryKind::Proposal,
            Record::Review(_) => EntryKind::Review,
            Record::Approval(_) => EntryKind::Approval,
            Record::Rejection(_) => EntryKind::Rejection,
            Record::Execution(_) => EntryKind::Execution,
            Record::Override(_) => EntryKind::Override,
            Record::Redaction(_) => EntryKind::Redaction,
            Record::RiskAcceptance(_) => EntryKind::RiskAcceptance,
        }
    }

    /// The payload bytes (the record without its kind, in the fixed bincode layout).
    ///
    /// # Errors
    /// [`DecodeError`] if the record exceeds the structured-payload limit.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let ctx = self.entry_kind().name();
        match self {
            Record::KeyEnrollment(r) => serde_codec::encode(r, ctx),
            Record::KeyRevocation(r) => serde_codec::encode(r, ctx),
            Record::PolicyUpdate(r) => serde_codec::encode(r, ctx),
            Record::AiOutput(r) => serde_codec::encode(r, ctx),
            Record::Proposal(r) => serde_codec::encode(r, ctx),
            Record::Review(r) => serde_codec::encode(r, ctx),
            Record::Approval(r) => serde_codec::encode(r, ctx),
            Record::Rejection(r) => serde_codec::encode(r, ctx),
            Record::Execution(r) => serde_codec::encode(r, ctx),
            Record::Override(r) => serde_codec::encode(r, ctx),
            Record::Redaction(r) => serde_codec::encode(r, ctx),
            Record::RiskAcceptance(r) => serde_codec::encode(r, ctx),
        }
    }

    /// Decodes the payload of an entry of `kind`.
    ///
    /// # Errors
    /// [`DecodeError`] for malformed bytes, or a kind that carries no governance record.
    pub fn decode(kind: EntryKind, bytes: &[u8]) -> Result<Self, DecodeError> {
        let ctx = kind.name();
        Ok(match kind {
            EntryKind::KeyEnrollment => Record::KeyEnrollment(serde_codec::decode(bytes, ctx)?),
            EntryKind::KeyRevocation => Record::KeyRevocation(serde_codec::decode(bytes, ctx)?),
            EntryKind::PolicyUpdate => Record::PolicyUpdate(serde_codec::decode(bytes, ctx)?),
            EntryKind::AiOutput => Record::AiOutput(serde_codec::decode(bytes, ctx)?),
            EntryKind::Proposal => Record::Proposal(serde_codec::decode(bytes, ctx)?),
            EntryKind::Review => Record::Review(serde_codec::decode(bytes, ctx)?),
            EntryKind::Approval => Record::Approval(serde_codec::decode(bytes, ctx)?),
            EntryKind::Rejection => Record::Rejection(serde_codec::decode(bytes, ctx)?),
            EntryKind::Execution => Record::Execution(serde_codec::decode(bytes, ctx)?),
            EntryKind::Override => Record::Override(serde_codec::decode(bytes, ctx)?),
            EntryKind::Redaction => Record::Redaction(serde_codec::decode(bytes, ctx)?),
            EntryKind::RiskAcceptance => Record::RiskAcceptance(serde_codec::decode(bytes, ctx)?),
            EntryKind::Genesis | EntryKind::Application => {
                return Err(DecodeError::InvalidTag {
                    context: "governance record kind",
                    tag: u64::from(kind.code()),
                })
            }
        })
    }

    /// Entry hashes this record refers to; they become the statement's signed `refs`
    /// (before any added with [`Draft::with_refs`](crate::Draft::with_refs)).
    #[must_use]
    pub fn refs(&self) -> Vec<Digest> {
        match self {
            Record::Review(r) => vec![r.subject],
            Record::Approval(a) => vec![a.proposal],
            Record::Rejection(r) => vec![r.proposal],
            Record::Execution(e) => std::iter::once(e.proposal).chain(e.approvals.iter().copied()).collect(),
            Record::Proposal(p) => p.ai_outputs.iter().map(|r| r.hash).collect(),
            Record::Override(o) => std::iter::once(o.target)
                .chain(o.proposal)
                .chain(o.approvals.iter().copied())
                .collect(),
            Record::Redaction(r) => vec![r.target],
            Record::RiskAcceptance(r) => vec![r.subject],
            Record::KeyEnrollment(_) | Record::KeyRevocation(_) | Record::PolicyUpdate(_) | Record::AiOutput(_) => {
                Vec::new()
            }
        }
    }

    /// The content type of a record of `kind`, e.g.
    /// `application/vnd.provledger.approval.v2+bincode`.
    #[must_use]
    pub fn content_type(kind: EntryKind) -> String {
        format!("application/vnd.provledger.{}.v2+bincode", kind.name())
    }
}
