//! `provledger show`: decoded entries, streamed through [`LedgerReader`]. Shows; does not
//! verify.

use serde_json::{json, Value};

use provledger::{Digest, EntryKind, Genesis, StoredEntry, StoredPayload};

use crate::cli::ShowArgs;
use crate::error::CliError;
use crate::output::{self, Preview};
use crate::records;

/// Prints every entry, or only `--seq N`. Damage that stops reading exits 1; `--seq N` past
/// the end exits 2.
pub fn run(args: &ShowArgs) -> Result<u8, CliError> {
    let reader = super::open_reader(&args.dir)?;
    if let Some(seq) = args.seq {
        print(&reader.get(seq)?, args.json)?;
        return Ok(0);
    }
    let mut count = 0u64;
    let mut failed = None;
    reader.scan(0, |e| -> Result<bool, CliError> {
        count += 1;
        // Stop at the first output error (e.g. a closed pipe); it is returned below.
        Ok(print(&e, args.json).map_err(|err| failed = Some(err)).is_ok())
    })?;
    if let Some(err) = failed {
        return Err(err);
    }
    if !args.json {
        eprintln!("provledger: {count} entries shown; they are not verified (run `provledger verify`)");
    }
    Ok(0)
}

fn print(e: &StoredEntry, json: bool) -> Result<(), CliError> {
    if json {
        output::json(&entry_json(e))
    } else {
        print_human(e)
    }
}

/// The JSON object `show --json` prints per entry (docs/CLI.md documents its shape).
pub fn entry_json(s: &StoredEntry) -> Value {
    let st = &s.entry;
    let (state, text, hex) = match &s.payload {
        StoredPayload::Erased { .. } => ("erased", None, None),
        // The genesis payload is a binary record; its decoded form is under "genesis".
        StoredPayload::Present { bytes, .. } if st.kind == EntryKind::Genesis => {
            ("present", None, Some(output::hex_prefix(bytes)))
        }
        StoredPayload::Present { bytes, .. } => match Preview::of(bytes) {
            Preview::Text(t) => ("present", Some(t.to_owned()), None),
            Preview::HexPrefix(h) => ("present", None, Some(h)),
        },
    };
    let mut v = json!({
        "seq": s.entry.seq,
        "kind": st.kind.name(),
        "timestamp": st.timestamp.to_string(),
        "content_type": st.content_type,
        "payload_len": payload_len(s),
        "payload_state": state,
        "payload_text": text,
        "payload_hex_prefix": hex,
        "redacted": matches!(s.payload, StoredPayload::Erased { .. }),
        "position_signer": st.position.map(|g| g.key_id.to_string()),
        "cosigners": st.cosignatures.iter().map(|g| g.key_id.to_string()).collect::<Vec<_>>(),
        "refs": st.refs.iter().map(Digest::to_hex).collect::<Vec<_>>(),
        "entry_hash": st.hash.to_hex(),
        "commitment": st.commitment.to_hex(),
        "file": s.file.display().to_string(),
        "offset": s.offset,
    });
    if let Some(g) = genesis_of(s) {
        v["genesis"] = genesis_json(&g);
    }
    if let Some(r) = record_of(s) {
        v["record"] = r;
    }
    if matches!(s.payload, StoredPayload::Erased { .. }) {
        v["payload"] = Value::Null;
    }
    v
}

fn genesis_of(s: &StoredEntry) -> Option<Genesis> {
    match (&s.payload, s.entry.kind) {
        (StoredPayload::Present { bytes, .. }, EntryKind::Genesis) => Genesis::decode(bytes).ok(),
        _ => None,
    }
}

/// The governance record a present payload carries, in its JSON form (`"kind"` included).
fn record_of(s: &StoredEntry) -> Option<Value> {
    match &s.payload {
        StoredPayload::Present { bytes, .. } => records::record_json(s.entry.kind, bytes),
        StoredPayload::Erased { .. } => None,
    }
}

fn genesis_json(g: &Genesis) -> Value {
    let anchors: Vec<Value> = g
        .anchors
        .iter()
        .map(|a| {
            let key = a.verifying_key().ok();
            json!({
                "public_key": output::hex(&a.public_key),
                "key_id": key.map(|k| k.key_id().to_string()),
                "principal_id": a.principal_id,
                "principal_type": serde_json::to_value(a.principal_type).unwrap_or(Value::Null),
                "roles": serde_json::to_value(&a.roles).unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({ "name": g.name, "anchors": anchors })
}

fn print_human(s: &StoredEntry) -> Result<(), CliError> {
    let st = &s.entry;
    output::line(&format!("entry {} ({})", s.entry.seq, st.kind.name()))?;
    output::line(&format!("  time:         {}", st.timestamp))?;
    output::line(&format!("  content type: {}", st.content_type))?;
    output::line(&format!("  payload:      {}", payload_line(s)))?;
    if let Some(r) = record_of(s) {
        output::line(&format!("  record:       {r}"))?;
    }
    if let Some(g) = &st.position {
        output::line(&format!("  written by:   key {} (position signature)", g.key_id))?;
    }
    for g in &st.cosignatures {
        output::line(&format!("  co-signed by: key {}", g.key_id))?;
    }
    for r in &st.refs {
        output::line(&format!("  refers to:    {r}"))?;
    }
    output::line(&format!("  entry hash:   {}", st.hash))?;
    if let Some(g) = genesis_of(s) {
        output::line(&format!("  ledger name:  {}", g.name))?;
        for a in &g.anchors {
            let roles = serde_json::to_string(&a.roles).unwrap_or_default();
            let id = a.verifying_key().map(|k| k.key_id().to_string()).unwrap_or_default();
            output::line(&format!("  anchor:       {} {id} roles {roles}", a.principal_id))?;
        }
    }
    Ok(())
}

fn payload_line(s: &StoredEntry) -> String {
    let len = output::bytes(payload_len(s));
    match &s.payload {
        StoredPayload::Erased { .. } => format!("{len}, erased"),
        StoredPayload::Present { .. } if s.entry.kind == EntryKind::Genesis => {
            format!("{len} (genesis record)")
        }
        StoredPayload::Present { bytes, .. } => match Preview::of(bytes) {
            Preview::Text(t) => format!("{len}: {t}"),
            Preview::HexPrefix(h) if bytes.len() > output::HEX_PREVIEW_LEN => format!("{len}, hex {h}…"),
            Preview::HexPrefix(h) => format!("{len}, hex {h}"),
        },
    }
}

fn payload_len(s: &StoredEntry) -> u64 {
    match &s.payload {
        StoredPayload::Present { bytes, .. } => bytes.len() as u64,
        StoredPayload::Erased { len, .. } => *len,
    }
}
