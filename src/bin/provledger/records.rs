//! Governance records in JSON: parsing `append` lines into [`Record`]s, and drafts with extra
//! references and co-signatures (shared by `append`, `enroll`, `revoke` and `show`).

use serde_json::{Map, Value};

use provledger::record::Record;
use provledger::{Digest, Draft, EntryKind, SigningKey};

use crate::commands::append::type_name;
use crate::error::CliError;

/// The field of an input line holding extra references (entry hashes in hex).
const REFS_FIELD: &str = "refs";

/// Turns a JSON object whose `"kind"` names a governance record into its draft.
///
/// The record is parsed with serde (the library's JSON form). A field the record does not
/// have is refused rather than ignored: a misspelt `expires_at` must not silently drop an
/// expiry. An optional `"refs":[hex…]` adds references to those the record implies (e.g. a
/// key enrollment citing the approved proposal that gates it).
pub fn governance_entry(mut fields: Map<String, Value>) -> Result<Draft, CliError> {
    let kind = kind_of(&fields)?;
    let extra = match fields.remove(REFS_FIELD) {
        Some(v) => parse_refs(&v)?,
        None => Vec::new(),
    };
    // The record types refuse unknown fields, so a misspelt field is an error here.
    let record: Record = serde_json::from_value(Value::Object(fields))
        .map_err(|e| CliError::usage(format!("invalid {} record: {e}", kind.name())))?;
    draft(&record, &extra)
}

/// The governance kind an object names; `redaction`, `genesis` and unknown kinds are refused.
fn kind_of(fields: &Map<String, Value>) -> Result<EntryKind, CliError> {
    let name = fields.get("kind").and_then(Value::as_str).unwrap_or_default();
    match EntryKind::from_name(name) {
        Some(EntryKind::Redaction) => Err(CliError::usage(
            "a redaction cannot be appended as a line: use `provledger redact DIR --key ADMIN_KEY --seq N --reason TEXT`, which also destroys the payload bytes",
        )),
        Some(EntryKind::Genesis) => Err(CliError::usage("a genesis entry is written only by `provledger init`")),
        Some(kind) if kind != EntryKind::Application => Ok(kind),
        _ => Err(CliError::usage(format!(
            "unknown kind {name:?}: expected \"application\" or one of {}",
            governance_kinds().join(", ")
        ))),
    }
}

/// Names of the kinds `append` accepts as governance records.
fn governance_kinds() -> Vec<&'static str> {
    (0..=u16::MAX)
        .map_while(|c| EntryKind::from_code(c).ok())
        .filter(|k| !matches!(k, EntryKind::Genesis | EntryKind::Application | EntryKind::Redaction))
        .map(EntryKind::name)
        .collect()
}

fn parse_refs(v: &Value) -> Result<Vec<Digest>, CliError> {
    let Value::Array(items) = v else {
        return Err(CliError::usage(format!(
            "\"refs\" must be an array of entry hashes, found {}",
            type_name(v)
        )));
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(|h| h.parse::<Digest>().ok())
                .ok_or_else(|| CliError::usage(format!("\"refs\": {item} is not an entry hash (64 hex digits)")))
        })
        .collect()
}

/// The draft of `record`: its own references plus `extra` (duplicates dropped).
pub fn draft(record: &Record, extra: &[Digest]) -> Result<Draft, CliError> {
    let own = record.refs();
    let mut added: Vec<Digest> = Vec::new();
    for r in extra {
        if !own.contains(r) && !added.contains(r) {
            added.push(*r);
        }
    }
    Ok(Draft::record(record)?.with_refs(added))
}

/// `draft` co-signed by every key of `cosigners`.
pub fn cosigned(draft: Draft, cosigners: &[SigningKey]) -> Draft {
    cosigners.iter().cloned().fold(draft, Draft::cosigned_by)
}

/// The JSON form of the governance record an entry of `kind` carries, if it decodes.
pub fn record_json(kind: EntryKind, payload: &[u8]) -> Option<Value> {
    if matches!(kind, EntryKind::Genesis | EntryKind::Application) {
        return None;
    }
    Record::decode(kind, payload)
        .ok()
        .and_then(|r| serde_json::to_value(r).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Draft, CliError> {
        match serde_json::from_str(json).unwrap() {
            Value::Object(m) => governance_entry(m),
            _ => unreachable!(),
        }
    }

    const P: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const Q: &str = "0000000000000000000000000000000000000000000000000000000000000002";

    #[test]
    fn an_approval_line_becomes_an_approval_record() {
        let d = parse(&format!(
            r#"{{"kind":"approval","proposal":"{P}","scope":"x","expires_at":null}}"#
        ))
        .unwrap();
        assert!(!d.payload().is_empty());
    }

    #[test]
    fn unknown_kinds_fields_and_redactions_are_refused() {
        let e = parse(r#"{"kind":"frobnication"}"#).unwrap_err();
        assert!(
            e.message.contains("unknown kind") && e.message.contains("approval"),
            "{e}"
        );
        let e = parse(&format!(r#"{{"kind":"approval","proposal":"{P}","expires":5}}"#)).unwrap_err();
        assert!(e.message.contains("unknown field `expires`"), "{e}");
        let e = parse(r#"{"kind":"approval","scope":"x"}"#).unwrap_err();
        assert!(
            e.message.contains("invalid approval record") && e.message.contains("proposal"),
            "{e}"
        );
        let e = parse(&format!(
            r#"{{"kind":"redaction","target_seq":1,"target":"{P}","reason":"r"}}"#
        ))
        .unwrap_err();
        assert!(e.message.contains("provledger redact"), "{e}");
        assert!(parse(r#"{"kind":"genesis"}"#).unwrap_err().message.contains("init"));
    }

    #[test]
    fn refs_must_be_an_array_of_entry_hashes() {
        assert!(parse(&format!(
            r#"{{"kind":"approval","proposal":"{P}","refs":["{Q}","{P}"]}}"#
        ))
        .is_ok());
        let e = parse(&format!(r#"{{"kind":"approval","proposal":"{P}","refs":["zz"]}}"#)).unwrap_err();
        assert!(e.message.contains("not an entry hash"), "{e}");
        let e = parse(&format!(r#"{{"kind":"approval","proposal":"{P}","refs":"{Q}"}}"#)).unwrap_err();
        assert!(e.message.contains("must be an array"), "{e}");
    }
}
