//! JSON Schemas of the JSON people write: one per record kind (the lines `provledger append`
//! takes) and one for the policy file of `provledger init --policy`. They are generated from
//! the Rust types (schemars), so they cannot drift from what the parser accepts; docs/schemas/
//! holds the generated files and a test fails when they are stale.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::{
    AiOutput, Approval, Execution, Genesis, KeyEnrollment, KeyRevocation, Override, Policy, Proposal, Redaction,
    Rejection, Review, RiskAcceptance,
};
use crate::entry::{EntryKind, Timestamp};
use crate::hash::Digest;

impl JsonSchema for Digest {
    fn schema_name() -> Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9a-fA-F]{64}$",
            "description": "32 bytes as 64 hexadecimal digits: a BLAKE3 digest, entry hash, key id or public key"
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 0,
            "maximum": u64::MAX,
            "description": "nanoseconds since the Unix epoch (UTC)"
        })
    }
}

/// A JSON document with a schema under docs/schemas/.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaTarget {
    /// A governance record line of that kind, as `provledger append` takes it.
    Record(EntryKind),
    /// The policy file of `provledger init --policy`.
    PolicyFile,
    /// A genesis record (written only by `init`; shown by `show`).
    Genesis,
}

impl SchemaTarget {
    /// The schema's file name under docs/schemas/, e.g. `approval.schema.json`.
    #[must_use]
    pub fn file_name(self) -> String {
        match self {
            SchemaTarget::Record(kind) => format!("{}.schema.json", kind.name()),
            SchemaTarget::PolicyFile => "policy-file.schema.json".into(),
            SchemaTarget::Genesis => "genesis.schema.json".into(),
        }
    }
}

/// Every document with a schema: each record kind in entry-kind order, then the policy file
/// and the genesis.
#[must_use]
pub fn schema_kinds() -> Vec<SchemaTarget> {
    (0..=u16::MAX)
        .map_while(|c| EntryKind::from_code(c).ok())
        .filter(|k| !matches!(k, EntryKind::Genesis | EntryKind::Application))
        .map(SchemaTarget::Record)
        .chain([SchemaTarget::PolicyFile, SchemaTarget::Genesis])
        .collect()
}

fn root<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// The schema of `target`. A record line is the record's object plus `"kind"` (the kind's
/// name) and an optional `"refs"` (extra entry hashes to reference; see docs/CLI.md).
#[must_use]
pub fn record_schema(target: SchemaTarget) -> Value {
    let kind = match target {
        SchemaTarget::PolicyFile => return titled(root::<Policy>(), "policy file (provledger init --policy)"),
        SchemaTarget::Genesis => return titled(root::<Genesis>(), "genesis record"),
        SchemaTarget::Record(kind) => kind,
    };
    let schema = match kind {
        EntryKind::KeyEnrollment => root::<KeyEnrollment>(),
        EntryKind::KeyRevocation => root::<KeyRevocation>(),
        EntryKind::PolicyUpdate => root::<Policy>(),
        EntryKind::AiOutput => root::<AiOutput>(),
        EntryKind::Proposal => root::<Proposal>(),
        EntryKind::Review => root::<Review>(),
        EntryKind::Approval => root::<Approval>(),
        EntryKind::Rejection => root::<Rejection>(),
        EntryKind::Execution => root::<Execution>(),
        EntryKind::Override => root::<Override>(),
        EntryKind::Redaction => root::<Redaction>(),
        EntryKind::RiskAcceptance => root::<RiskAcceptance>(),
        EntryKind::Genesis | EntryKind::Application => return Value::Null,
    };
    let mut v = titled(schema, &format!("{} record line (provledger append)", kind.name()));
    if let Some(obj) = v.as_object_mut() {
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(props) = props.as_object_mut() {
            let mut with_kind = serde_json::Map::new();
            with_kind.insert(
                "kind".into(),
                json!({"const": kind.name(), "description": "the record kind"}),
            );
            with_kind.extend(std::mem::take(props));
            with_kind.insert(
                "refs".into(),
                json!({
                    "type": "array",
                    "items": {"$ref": "#/$defs/Digest"},
                    "description": "extra entry hashes to reference, e.g. the approved proposal that gates a policy update or a role grant"
                }),
            );
            *props = with_kind;
        }
        let required = obj.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            list.insert(0, json!("kind"));
        }
        let defs = obj.entry("$defs").or_insert_with(|| json!({}));
        if let Some(defs) = defs.as_object_mut() {
            defs.entry("Digest")
                .or_insert_with(|| Digest::json_schema(&mut SchemaGenerator::default()).to_value());
        }
    }
    v
}

fn titled(schema: Schema, title: &str) -> Value {
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("title".into(), json!(format!("provledger {title}")));
    }
    v
}
