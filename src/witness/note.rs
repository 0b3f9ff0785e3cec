//! C2SP signed notes and checkpoint texts, read generically: what a witness or a verifier of
//! cosignatures needs from any checkpoint, whatever its log's own rules (docs/FORMAT.md §16).

use base64ct::{Base64, Encoding};

use super::{check_name, WitnessError};
use crate::checkpoint::MAX_NOTE_LEN;
use crate::hash::Digest;

/// Most signature lines read from one note (C2SP: verifiers must accept at least 16).
pub const MAX_SIGNATURE_LINES: usize = 64;

/// A signed note split into its text and its signature lines (C2SP `signed-note`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    /// The note text, ending with a line feed (without the blank separator line).
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<SignatureLine>,
}

impl SignedNote {
    /// Splits a signed note: at most [`MAX_NOTE_LEN`](super::MAX_NOTE_LEN) bytes, no control character but line
    /// feeds, ending in a line feed; the text ends at the last blank line; one or more
    /// signature lines follow (at most [`MAX_SIGNATURE_LINES`]).
    ///
    /// # Errors
    /// [`WitnessError::NoteTooLong`] or [`WitnessError::MalformedNote`].
    pub fn parse(text: &str) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::MalformedNote(why.to_owned());
        if text.len() > MAX_NOTE_LEN {
            return Err(WitnessError::NoteTooLong(format!(
                "{} bytes, at most {MAX_NOTE_LEN}",
                text.len()
            )));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad("a control character other than a line feed"));
        }
        if !text.ends_with('\n') {
            return Err(bad("a signed note ends with a line feed"));
        }
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before the signatures"))?;
        let (body, sigs) = (&text[..=split], &text[split + 2..]);
        let lines: Vec<&str> = sigs.strip_suffix('\n').map_or(Vec::new(), |s| s.split('\n').collect());
        if lines.is_empty() {
            return Err(bad("no signature line"));
        }
        if lines.len() > MAX_SIGNATURE_LINES {
            return Err(WitnessError::NoteTooLong(format!(
                "{} signature lines, at most {MAX_SIGNATURE_LINES}",
                lines.len()
            )));
        }
        Ok(SignedNote {
            body: body.to_owned(),
            signatures: lines.into_iter().map(SignatureLine::parse).collect::<Result<_, _>>()?,
        })
    }
}

/// One signature line: `— <key name> <base64(key hash (4 bytes) ‖ signature)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// The decoded bytes: key hash, then the signature (at least 4 bytes).
    pub bytes: Vec<u8>,
}

impl SignatureLine {
    /// Parses one line (without its line feed).
    ///
    /// # Errors
    /// [`WitnessError::MalformedNote`] (or [`WitnessError::InvalidName`]) if it is not a
    /// signature line.
    pub fn parse(line: &str) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::MalformedNote(why.to_owned());
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| bad("a signature line starts with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("a signature line has no signature"))?;
        check_name(name)?;
        let bytes = Base64::decode_vec(b64).map_err(|_| bad("a signature is not base64"))?;
        if bytes.len() < 4 {
            return Err(bad("a signature shorter than its 4-byte key hash"));
        }
        Ok(SignatureLine {
            name: name.to_owned(),
            bytes,
        })
    }

    /// The key hash: the first 4 decoded bytes (zeros past the end of a line built by hand
    /// with fewer; [`SignatureLine::parse`] never gives one).
    #[must_use]
    pub fn key_hash(&self) -> [u8; 4] {
        let mut h = [0u8; 4];
        for (d, s) in h.iter_mut().zip(&self.bytes) {
            *d = *s;
        }
        h
    }
}

/// The text of a C2SP checkpoint (`tlog-checkpoint`): origin, tree size, root hash, then any
/// extension lines (provledger's `time` line is one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointText {
    /// The origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash (32 bytes: an RFC 6962 SHA-256 tree).
    pub root: Digest,
    /// The extension lines, without their line feeds.
    pub extensions: Vec<String>,
}

impl CheckpointText {
    /// Parses a checkpoint text: at least three lines, each non-empty and ending in a line
    /// feed; a canonical decimal size; the root in standard base64 of 32 bytes.
    ///
    /// # Errors
    /// [`WitnessError::MalformedNote`].
    pub fn parse(body: &str) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::MalformedNote(format!("checkpoint text: {why}"));
        let lines: Vec<&str> = body
            .strip_suffix('\n')
            .ok_or_else(|| bad("does not end with a line feed"))?
            .split('\n')
            .collect();
        if lines.len() < 3 {
            return Err(bad("fewer than three lines"));
        }
        if lines.iter().any(|l| l.is_empty()) {
            return Err(bad("an empty line"));
        }
        let size = lines[1];
        if (size.len() > 1 && size.starts_with('0')) || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the size is not a canonical decimal"));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| bad("the size is not a 64-bit number"))?;
        let root = Base64::decode_vec(lines[2]).map_err(|_| bad("the root is not base64"))?;
        let root: [u8; 32] = root.try_into().map_err(|_| bad("the root is not 32 bytes"))?;
        Ok(CheckpointText {
            origin: lines[0].to_owned(),
            size,
            root: Digest::from_bytes(root),
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// The origin, size and root lines, each ending in a line feed.
    #[must_use]
    pub fn first_three_lines(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            Base64::encode_string(self.root.as_bytes())
        )
    }
}
