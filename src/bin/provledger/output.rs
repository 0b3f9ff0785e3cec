//! Output helpers shared by the commands: human text vs `--json`, payload previews.

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;

/// Payloads up to this many bytes are shown as text when they are valid UTF-8.
pub const TEXT_PREVIEW_MAX: usize = 4096;
/// Bytes of a binary (or long) payload shown as hex.
pub const HEX_PREVIEW_LEN: usize = 32;

/// Writes one line to stdout. Write errors (e.g. a closed pipe) are reported, not panics.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Writes `value` as one line of compact JSON to stdout.
pub fn json(value: &Value) -> Result<(), CliError> {
    line(&serde_json::to_string(value)?)
}

/// How a payload is shown: as text when it is valid UTF-8 and small, else a hex prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Preview<'a> {
    /// The whole payload as text.
    Text(&'a str),
    /// Hex of the first [`HEX_PREVIEW_LEN`] bytes.
    HexPrefix(String),
}

impl<'a> Preview<'a> {
    /// Chooses the preview for `bytes`.
    pub fn of(bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) if bytes.len() <= TEXT_PREVIEW_MAX && !text.contains('\0') => Preview::Text(text),
            _ => Preview::HexPrefix(hex_prefix(bytes)),
        }
    }
}

/// Hex of the first [`HEX_PREVIEW_LEN`] bytes.
pub fn hex_prefix(bytes: &[u8]) -> String {
    hex(&bytes[..bytes.len().min(HEX_PREVIEW_LEN)])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}"); // writing to a String cannot fail
        s
    })
}

/// A byte count with its unit, e.g. `1 byte`, `27 bytes`.
pub fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// Writes `text` to stdout as is (it carries its own line endings).
pub fn raw(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Reads a whole input file named on the command line, refusing one longer than `max` bytes
/// (never reading past it), a FIFO, a device or a directory (never blocking on one).
pub fn read_bounded(path: &std::path::Path, max: u64) -> Result<Vec<u8>, CliError> {
    provledger::storage::read_input_file(path, max).map_err(|e| match e {
        provledger::StorageError::TooLarge { path, max } => CliError::usage(format!(
            "{}: larger than the maximum of {}",
            path.display(),
            bytes_of(max)
        )),
        e => CliError::usage(e.to_string()),
    })
}

fn bytes_of(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => bytes(n),
    }
}
