//! Checks of one entry that need no other entry — decoding, the payload commitment, the
//! governance record — and, once keys are resolved, its signatures. Both run in parallel
//! over a chunk.

use crate::entry::{entry_hash, signing_message, statement_digest, Entry, EntryKind, STATEMENT_OFFSET};
use crate::hash::Digest;
use crate::keys::VerifyingKey;
use crate::record::Record;
use crate::storage::frame::{parse_section, StoredPayload, PAYLOAD_PREFIX_LEN};
use crate::storage::segment::FrameLoc;

use super::Check;

pub(super) type Problem = (Check, String);

/// An entry decoded and checked on its own.
pub(super) struct Decoded {
    pub entry: Option<Entry>,
    pub hash: Digest,
    /// The statement digest (what the signatures are over).
    pub digest: Digest,
    pub redacted: bool,
    /// The governance record, for governance kinds whose payload is present.
    pub record: Option<Record>,
    pub problem: Option<Problem>,
}

/// Decodes the frame's entry, checks its payload commitment and decodes its record.
pub(super) fn decode_frame(data: &[u8], f: &FrameLoc) -> Decoded {
    let bytes = f.entry(data);
    let mut d = Decoded {
        entry: None,
        hash: entry_hash(bytes),
        digest: Digest::ZERO,
        redacted: false,
        record: None,
        problem: None,
    };
    let (entry, stmt_end) = match Entry::decode_parts(bytes) {
        Ok(x) => x,
        Err(e) => {
            d.problem = Some((Check::Format, e.to_string()));
            return d;
        }
    };
    d.digest = statement_digest(&bytes[STATEMENT_OFFSET..stmt_end]);
    match check_payload(&entry, f.section(data)) {
        Ok(Some(payload)) => match decode_record(entry.statement.kind, &payload) {
            Ok(r) => d.record = r,
            Err(p) => d.problem = Some(p),
        },
        Ok(None) => d.redacted = true,
        Err(p) => d.problem = Some(p),
    }
    if d.redacted && !entry.statement.kind.redactable() {
        let msg = format!(
            "the payload of a {} entry was erased; only application and AI output payloads may be",
            entry.statement.kind.name()
        );
        d.problem = Some((Check::Redaction, msg));
    }
    d.entry = Some(entry);
    d
}

/// The payload if present and opening its commitment, `None` if erased.
fn check_payload(entry: &Entry, section: &[u8]) -> Result<Option<Vec<u8>>, Problem> {
    let p = &entry.statement.payload;
    if section.len() as u64 != p.len + PAYLOAD_PREFIX_LEN as u64 {
        return Err((
            Check::Format,
            "payload section length differs from the committed length".into(),
        ));
    }
    match parse_section(section).map_err(|e| (Check::Format, e.to_string()))? {
        StoredPayload::Erased => Ok(None),
        StoredPayload::Present { salt, bytes } if p.opens(&salt, &bytes) => Ok(Some(bytes)),
        StoredPayload::Present { .. } => Err((Check::Commitment, "payload does not open its commitment".into())),
    }
}

fn decode_record(kind: EntryKind, payload: &[u8]) -> Result<Option<Record>, Problem> {
    if matches!(kind, EntryKind::Genesis | EntryKind::Application) {
        return Ok(None);
    }
    Record::decode(kind, payload)
        .map(Some)
        .map_err(|e| (Check::Format, format!("{} record: {e}", kind.name())))
}

/// Verifies every signature of `entry` with the keys resolved for it (same order), one at a
/// time, by the rule of docs/FORMAT.md §3 ([`VerifyingKey::verify`]; a batch of the same
/// signatures through [`crate::signature::verify_batch`] gives the same verdicts).
pub(super) fn check_signatures(entry: &Entry, digest: &Digest, keys: &[VerifyingKey]) -> Option<Problem> {
    let msg = signing_message(digest);
    for (s, key) in entry.signatures.iter().zip(keys) {
        if !key.verify(&msg, &s.signature) {
            return Some((
                Check::Signature,
                format!("signature by key {} does not verify", s.key_id),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verifier's own signature check on the entries of tests/vectors/ed25519.json: each
    /// entry carries one crafted signature (small-order or non-canonical R, S + L, a mixed-order
    /// key …) and must get the vector's verdict.
    #[test]
    fn check_signatures_gives_each_ed25519_vector_verdict() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ed25519.json");
        let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let hex = |v: &serde_json::Value| {
            let s = v.as_str().unwrap();
            let mut out = vec![0u8; s.len() / 2];
            crate::hash::hex_decode_into(s, &mut out).unwrap();
            out
        };
        let (mut accepted, mut refused) = (0, 0);
        for c in file["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["context"] == "entry")
        {
            let bytes = hex(&c["entry"]);
            let (entry, stmt_end) = Entry::decode_parts(&bytes).unwrap();
            let digest = statement_digest(&bytes[STATEMENT_OFFSET..stmt_end]);
            let key = VerifyingKey::from_bytes(&hex(&c["public_key"]).try_into().unwrap()).unwrap();
            let problem = check_signatures(&entry, &digest, &[key]);
            if c["want_err"].is_null() {
                assert!(problem.is_none(), "{}: {problem:?}", c["desc"]);
                accepted += 1;
            } else {
                assert!(matches!(problem, Some((Check::Signature, _))), "{}", c["desc"]);
                refused += 1;
            }
        }
        assert_eq!((accepted, refused), (5, 3));
    }
}
