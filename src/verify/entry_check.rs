//! Checks of one entry that need no other entry (docs/FORMAT.md §9 E1–E4): decoding the
//! record, the payload section and the governance record, and computing the entry hash and
//! statement digest. They run in parallel over a chunk.

use crate::entry::{commit_payload, EntryKind, LedgerId, RecordLayout, RecordRef};
use crate::hash::Digest;
use crate::record::Record;
use crate::storage::frame::{parse_section, SectionRef};
use crate::storage::segment::FrameLoc;

use super::Check;

pub(super) type Problem = (Check, String);

/// An entry decoded and checked on its own (owning nothing of its chunk, so that the next
/// chunk can be decoded while this one is checked in order).
pub(super) struct Decoded {
    /// The parsed record's layout (`None` if it does not parse); see [`Decoded::record`].
    pub record: Option<RecordLayout>,
    /// The entry hash `E`.
    pub hash: Digest,
    /// Its Merkle leaf, `SHA-256(0x00 ‖ E)` (computed here, in parallel, for the ordered pass).
    pub leaf: Digest,
    /// The statement digest `SD` (only when there are co-signatures).
    pub digest: Digest,
    /// The payload was erased.
    pub erased: bool,
    /// The governance record, for governance kinds whose payload is present.
    pub gov: Option<Record>,
    /// The first problem found by E1–E4.
    pub problem: Option<Problem>,
}

impl Decoded {
    /// The parsed record, on the chunk bytes `data` of frame `f` it was decoded from.
    pub(super) fn record<'a>(&self, data: &'a [u8], f: &FrameLoc) -> Option<RecordRef<'a>> {
        self.record.and_then(|l| RecordRef::rebind(f.entry(data), l))
    }
}

/// Decodes the frame of entry `seq` (E1–E4).
pub(super) fn decode_frame(data: &[u8], f: &FrameLoc, seq: u64, ledger_id: LedgerId) -> Decoded {
    let mut d = Decoded {
        record: None,
        hash: Digest::ZERO,
        leaf: Digest::ZERO,
        digest: Digest::ZERO,
        erased: false,
        gov: None,
        problem: None,
    };
    let record = match RecordRef::parse(f.entry(data)) {
        Ok(r) => r,
        Err(e) => {
            d.problem = Some((Check::Format, e.to_string()));
            return d;
        }
    };
    d.record = Some(record.layout());
    let kind = record.kind();
    let (commitment, payload) = match parse_section(f.section(data)) {
        Ok(SectionRef::Present { salt, payload }) => (commit_payload(salt, payload), Some(payload)),
        Ok(SectionRef::Erased { commitment, .. }) => (commitment, None),
        Err(e) => {
            d.problem = Some((Check::Format, e.to_string()));
            return d;
        }
    };
    d.erased = payload.is_none();
    d.hash = record.entry_hash(seq, ledger_id, &commitment);
    d.leaf = crate::hash::hash_leaf(&d.hash);
    if record.has_cosignatures() {
        d.digest = record.statement_digest(ledger_id, &commitment);
    }
    if d.erased && !kind.redactable() {
        let msg = format!(
            "the payload of a {} entry was erased; only application and AI output payloads may be",
            kind.name()
        );
        d.problem = Some((Check::Redaction, msg));
        return d;
    }
    if let Some(p) = payload {
        match decode_record(kind, p) {
            Ok(r) => d.gov = r,
            Err(p) => d.problem = Some(p),
        }
    }
    d
}

fn decode_record(kind: EntryKind, payload: &[u8]) -> Result<Option<Record>, Problem> {
    if matches!(kind, EntryKind::Genesis | EntryKind::Application) {
        return Ok(None);
    }
    Record::decode(kind, payload)
        .map(Some)
        .map_err(|e| (Check::Format, format!("{} record: {e}", kind.name())))
}
