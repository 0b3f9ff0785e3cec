//! `provledger append`: JSON Lines from stdin, one entry per line. A line whose `"kind"` names
//! a governance record (proposal, approval…) becomes that record; any other object becomes an
//! application entry (see [`parse_line`]).
//!
//! Lines are read with a hard cap (never more than [`MAX_LINE`] bytes of one line in memory),
//! validated a batch at a time, and each batch is appended with one write. A bad line stops
//! the command before its batch is appended; earlier batches stay appended (their receipts
//! were printed). Input is streamed: memory is bounded by one batch — `--batch N` lines, cut
//! early at [`BATCH_BYTES`] of estimated in-flight memory — never by the length of the input.

use std::io::{BufRead, BufWriter, Read, Write};

use serde_json::Value;

use provledger::{Draft, Durability, Ledger, Options, Receipt, SigningKey, MAX_PAYLOAD_LEN};

use crate::records;

use crate::cli::AppendArgs;
use crate::error::CliError;

/// Longest accepted line, without its line ending: the largest payload.
pub const MAX_LINE: u64 = MAX_PAYLOAD_LEN;
/// Content type of the entries `append` writes.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// A batch is cut early once the memory its entries take in flight reaches about this many
/// bytes (payloads plus [`ENTRY_MEMORY`] per entry), bounding memory whatever `--batch` says.
const BATCH_BYTES: usize = 32 << 20;
/// What one entry costs in memory while its batch is prepared and written, besides its
/// payload: the draft, the prepared record and frame in the write buffer and its receipt
/// (measured at about 2.4 KiB for `{}` lines with format v1; an upper bound for v2).
const ENTRY_MEMORY: usize = 2560;
/// Extra memory per co-signer and entry (a shared handle and a signature).
const COSIGNER_MEMORY: usize = 512;

/// Opens the ledger, appends every line of stdin, and leaves every appended entry durable.
pub fn run(args: &AppendArgs) -> Result<u8, CliError> {
    let key = SigningKey::load(&args.key)?;
    let cosigners = load_keys(&args.cosign)?;
    let durability = Durability::from(args.durability);
    let ledger = Ledger::open(
        &args.dir,
        key,
        args.writer_trust.apply(Options::default().durability(durability)),
    )?;
    note_recovery(&ledger);
    let mut lines = LineReader::new(std::io::stdin().lock(), MAX_LINE);
    let batch = match args.durability {
        // One entry per write, each synced before the next.
        crate::cli::DurabilityArg::Every => 1,
        _ => usize::try_from(args.batch).unwrap_or(usize::MAX),
    };
    let result = append_all(&ledger, &mut lines, batch, &cosigners);
    // Whatever happened, entries that made it into the ledger must be durable on exit.
    let synced = if durability == Durability::Buffered {
        ledger.sync().map(drop)
    } else {
        Ok(())
    };
    let appended = result?;
    synced?;
    eprintln!(
        "provledger: appended {appended} {}; the ledger has {} entries, all durable",
        if appended == 1 { "entry" } else { "entries" },
        ledger.durable_len()
    );
    Ok(0)
}

/// Loads the `--cosign` key files.
pub fn load_keys(files: &[std::path::PathBuf]) -> Result<Vec<SigningKey>, CliError> {
    files
        .iter()
        .map(|f| SigningKey::load(f).map_err(|e| CliError::from(e).context(f.display())))
        .collect()
}

/// Tells stderr when opening the ledger cut an incomplete final record left by a crash.
pub fn note_recovery(ledger: &Ledger) {
    if let Some(torn) = &ledger.recovery().torn_tail {
        eprintln!(
            "provledger: note: cut an incomplete final write at {} offset {} ({} bytes): {}",
            torn.file.display(),
            torn.offset,
            torn.bytes,
            torn.reason
        );
    }
}

/// Appends batch after batch until the input ends; returns how many entries were appended.
fn append_all<R: BufRead>(
    ledger: &Ledger,
    lines: &mut LineReader<R>,
    batch: usize,
    cosigners: &[SigningKey],
) -> Result<u64, CliError> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut total = 0;
    loop {
        let drafts = read_batch(lines, batch, cosigners)?;
        if drafts.is_empty() {
            return Ok(total);
        }
        let receipts = ledger.append_batch(drafts)?;
        for r in &receipts {
            write_receipt(&mut out, r)?;
        }
        out.flush()?;
        total += receipts.len() as u64;
    }
}

/// Writes a receipt as one line of JSON (the form `append` prints).
pub fn write_receipt(out: &mut impl Write, r: &Receipt) -> std::io::Result<()> {
    writeln!(
        out,
        r#"{{"seq":{},"entry_hash":"{}","durable":{}}}"#,
        r.seq, r.entry_hash, r.durable
    )
}

/// Reads and validates up to `max` non-blank lines (fewer at the end of input, or once the
/// batch's entries take [`BATCH_BYTES`] of memory). Any bad line fails the whole batch. Every
/// entry is co-signed by `cosigners`.
fn read_batch<R: BufRead>(
    lines: &mut LineReader<R>,
    max: usize,
    cosigners: &[SigningKey],
) -> Result<Vec<Draft>, CliError> {
    let mut drafts = Vec::new();
    let mut bytes = 0;
    let per_entry = ENTRY_MEMORY + COSIGNER_MEMORY * cosigners.len();
    while drafts.len() < max && bytes < BATCH_BYTES {
        let Some((number, line)) = lines.next_line()? else {
            break;
        };
        let draft = parse_line(line).map_err(|e| e.context(format_args!("line {number}")))?;
        bytes += draft.payload().len() + per_entry;
        drafts.push(cosigners.iter().cloned().fold(draft, Draft::cosigned_by));
    }
    Ok(drafts)
}

/// Turns one input line into the entry to append.
///
/// An object whose `"kind"` names a governance record (`proposal`, `approval`…) becomes that
/// record ([`records::governance_entry`]); an object without `"kind"`, or with
/// `"kind":"application"`, becomes an application entry (`application/json`) whose payload is
/// the line as written.
pub fn parse_line(line: &[u8]) -> Result<Draft, CliError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| CliError::usage(format!("invalid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(CliError::usage(format!(
            "expected a JSON object, found {}",
            type_name(&value)
        )));
    };
    match fields.get("kind") {
        None => application_entry(line),
        Some(Value::String(kind)) if kind == "application" => application_entry(line),
        Some(Value::String(_)) => records::governance_entry(fields),
        Some(other) => Err(CliError::usage(format!(
            "\"kind\" must be a string, found {}",
            type_name(other)
        ))),
    }
}

/// An application entry whose payload is the line's JSON without insignificant whitespace.
fn application_entry(line: &[u8]) -> Result<Draft, CliError> {
    let payload = minify(line);
    if payload.len() as u64 > MAX_PAYLOAD_LEN {
        return Err(CliError::usage(format!(
            "payload of {} bytes exceeds the maximum {MAX_PAYLOAD_LEN}",
            payload.len()
        )));
    }
    Ok(Draft::application(JSON_CONTENT_TYPE, payload))
}

/// How a JSON value is named in messages (`an array`, `a string`…).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes whitespace outside strings from text already validated as JSON. Unlike
/// re-serializing a parsed value, this keeps key order, duplicate keys and every digit of
/// every number exactly as written.
pub fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
    out
}

/// Reads lines with a hard length cap, skipping blank ones and counting line numbers.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    number: u64,
    max_line: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Wraps `reader`, accepting lines of up to `max_line` bytes (without the line ending).
    pub fn new(reader: R, max_line: u64) -> Self {
        LineReader {
            reader,
            buf: Vec::new(),
            number: 0,
            max_line,
        }
    }

    /// The next non-blank line (without its line ending) and its 1-based number.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, CliError> {
        loop {
            self.buf.clear();
            let limit = self.max_line + 1; // the content and its '\n'
            let n = (&mut self.reader).take(limit).read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            } else if n as u64 == limit {
                return Err(CliError::usage(format!(
                    "line {}: longer than the maximum of {} bytes",
                    self.number, self.max_line
                )));
            }
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.number, &self.buf)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_numbers() {
        let text = br#" { "a b" : [1, 2.50,  123456789012345678901234567890] , "c\" d":"x\\" } "#;
        assert_eq!(
            minify(text),
            br#"{"a b":[1,2.50,123456789012345678901234567890],"c\" d":"x\\"}"#.to_vec()
        );
    }

    #[test]
    fn lines_are_numbered_blank_ones_skipped() {
        let mut r = LineReader::new(&b"{}\n\n  \r\n{\"a\":1}\r\n{}"[..], MAX_LINE);
        assert_eq!(r.next_line().unwrap(), Some((1, &b"{}"[..])));
        assert_eq!(r.next_line().unwrap(), Some((4, &b"{\"a\":1}"[..])));
        assert_eq!(r.next_line().unwrap(), Some((5, &b"{}"[..])));
        assert_eq!(r.next_line().unwrap(), None);
    }

    #[test]
    fn an_overlong_line_is_an_error_not_a_split() {
        let mut r = LineReader::new(&b"{}\n{\"abc\":1}\n{}\n"[..], 8);
        assert_eq!(r.next_line().unwrap(), Some((1, &b"{}"[..])));
        let e = r.next_line().unwrap_err();
        assert!(e.message.contains("line 2: longer than the maximum of 8 bytes"), "{e}");
        // Exactly at the limit is fine, with or without a final newline.
        let mut r = LineReader::new(&b"{\"ab\":1}\n{\"ab\":2}"[..], 8);
        assert_eq!(r.next_line().unwrap().map(|l| l.1.len()), Some(8));
        assert_eq!(r.next_line().unwrap().map(|l| l.1.len()), Some(8));
    }

    #[test]
    fn parse_line_rejects_non_objects_and_deep_nesting() {
        assert!(parse_line(br#"{"kind":"application","x":1}"#).is_ok());
        assert!(parse_line(br#"{"kind":7}"#).unwrap_err().message.contains("a number"));
        assert!(parse_line(b"[1]").unwrap_err().message.contains("an array"));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_line(deep.as_bytes())
            .unwrap_err()
            .message
            .contains("recursion limit"));
    }
}
