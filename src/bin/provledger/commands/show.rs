//! `provledger show`: decoded entries, streamed. Shows; does not verify.

use std::path::Path;

use serde_json::{json, Value};

use provledger::entry::entry_hash;
use provledger::storage::frame::{parse_section, StoredPayload};
use provledger::storage::{SegmentStream, StdBackend, TornTail};
use provledger::{Digest, Entry, EntryKind, Genesis};

use crate::cli::ShowArgs;
use crate::error::{CliError, EXIT_FAILED};
use crate::output::{self, Preview};

/// Frames read per chunk while streaming.
const CHUNK_FRAMES: usize = 1024;

/// One stored entry, decoded, with where it is.
pub struct Stored<'a> {
    /// The decoded entry.
    pub entry: Entry,
    /// Its entry hash.
    pub hash: Digest,
    /// The payload as stored (present or erased).
    pub payload: StoredPayload,
    /// The segment file.
    pub file: &'a Path,
    /// Offset of the entry's frame in that file.
    pub offset: u64,
}

/// Prints every entry, or only `--seq N`.
pub fn run(args: &ShowArgs) -> Result<u8, CliError> {
    let mut found = false;
    let mut count = 0;
    let torn = for_each_entry(&args.dir, args.seq, |s| {
        count = s.entry.seq.0 + 1;
        found = true;
        if args.json {
            output::json(&entry_json(&s))?;
        } else {
            print_human(&s)?;
        }
        Ok(args.seq.is_none())
    })?;
    if let (Some(seq), false) = (args.seq, found) {
        return Err(CliError::usage(format!("no entry with sequence number {seq}")));
    }
    if let Some(t) = torn.filter(|_| args.seq.is_none()) {
        eprintln!("provledger: note: {}", super::verify::torn_line(&t));
    }
    if !args.json && args.seq.is_none() {
        eprintln!("provledger: {count} entries shown; they are not verified (run `provledger verify`)");
    }
    Ok(0)
}

/// Streams the ledger's entries in order, calling `visit` for each (only for `only`, when
/// given) until it returns `false`. Returns the torn tail, if the end was reached and had one.
///
/// This is the one place that reads entries; it will be swapped for a reader API.
pub fn for_each_entry(
    dir: &Path,
    only: Option<u64>,
    mut visit: impl FnMut(Stored<'_>) -> Result<bool, CliError>,
) -> Result<Option<TornTail>, CliError> {
    let mut stream = SegmentStream::open(&StdBackend, dir)?;
    while let Some(sc) = stream.next_chunk(CHUNK_FRAMES)? {
        for f in &sc.chunk.frames {
            let bytes = f.entry(&sc.chunk.data);
            let damaged = |what: &str| damage(&sc.path, f.offset, what);
            let entry = Entry::decode(bytes).map_err(|e| damaged(&e.to_string()))?;
            if only.is_some_and(|seq| seq != entry.seq.0) {
                continue;
            }
            let payload = parse_section(f.section(&sc.chunk.data)).map_err(damaged)?;
            let stored = Stored {
                hash: entry_hash(bytes),
                entry,
                payload,
                file: &sc.path,
                offset: f.offset,
            };
            if !visit(stored)? {
                return Ok(None);
            }
        }
    }
    Ok(stream.tail().cloned())
}

fn damage(file: &Path, offset: u64, what: &str) -> CliError {
    CliError {
        code: EXIT_FAILED,
        message: format!("{} offset {offset}: {what}", file.display()),
    }
}

/// The JSON object `show --json` prints per entry (docs/CLI.md documents its shape).
pub fn entry_json(s: &Stored<'_>) -> Value {
    let st = &s.entry.statement;
    let (state, text, hex) = match &s.payload {
        StoredPayload::Erased => ("erased", None, None),
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
        "seq": s.entry.seq.0,
        "kind": st.kind.name(),
        "timestamp": st.timestamp.to_string(),
        "content_type": st.content_type,
        "payload_len": st.payload.len,
        "payload_state": state,
        "payload_text": text,
        "payload_hex_prefix": hex,
        "signers": s.entry.signatures.iter().map(|g| g.key_id.to_string()).collect::<Vec<_>>(),
        "refs": st.refs.iter().map(Digest::to_hex).collect::<Vec<_>>(),
        "entry_hash": s.hash.to_hex(),
        "prev": s.entry.prev.to_hex(),
        "file": s.file.display().to_string(),
        "offset": s.offset,
    });
    if let Some(g) = genesis_of(s) {
        v["genesis"] = genesis_json(&g);
    }
    v
}

fn genesis_of(s: &Stored<'_>) -> Option<Genesis> {
    match (&s.payload, s.entry.statement.kind) {
        (StoredPayload::Present { bytes, .. }, EntryKind::Genesis) => Genesis::decode(bytes).ok(),
        _ => None,
    }
}

fn genesis_json(g: &Genesis) -> Value {
    let anchors: Vec<Value> = g
        .anchors
        .iter()
        .map(|a| {
            let key = a.verifying_key().ok();
            json!({
                "public_key": provledger::hash::hex_encode(&a.public_key),
                "key_id": key.map(|k| k.key_id().to_string()),
                "principal_id": a.principal_id,
                "principal_type": serde_json::to_value(a.principal_type).unwrap_or(Value::Null),
                "roles": serde_json::to_value(&a.roles).unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({ "name": g.name, "anchors": anchors })
}

fn print_human(s: &Stored<'_>) -> Result<(), CliError> {
    let st = &s.entry.statement;
    output::line(&format!("entry {} ({})", s.entry.seq, st.kind.name()))?;
    output::line(&format!("  time:         {}", st.timestamp))?;
    output::line(&format!("  content type: {}", st.content_type))?;
    output::line(&format!("  payload:      {}", payload_line(s)))?;
    for g in &s.entry.signatures {
        output::line(&format!("  signed by:    key {}", g.key_id))?;
    }
    for r in &st.refs {
        output::line(&format!("  refers to:    {r}"))?;
    }
    output::line(&format!("  entry hash:   {}", s.hash))?;
    output::line(&format!("  prev:         {}", s.entry.prev))?;
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

fn payload_line(s: &Stored<'_>) -> String {
    let len = output::bytes(s.entry.statement.payload.len);
    match &s.payload {
        StoredPayload::Erased => format!("{len}, erased"),
        StoredPayload::Present { .. } if s.entry.statement.kind == EntryKind::Genesis => {
            format!("{len} (genesis record)")
        }
        StoredPayload::Present { bytes, .. } => match Preview::of(bytes) {
            Preview::Text(t) => format!("{len}: {t}"),
            Preview::HexPrefix(h) if bytes.len() > output::HEX_PREVIEW_LEN => format!("{len}, hex {h}…"),
            Preview::HexPrefix(h) => format!("{len}, hex {h}"),
        },
    }
}
