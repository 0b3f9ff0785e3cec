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
#[derive(Default)]
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
    /// The governance record, for governance kinds whose payload is present (boxed: rare,
    /// and a `Decoded` is moved once per entry).
    pub gov: Option<Box<Record>>,
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
    decode_frame_with(data, f, seq, ledger_id, None, None)
}

/// [`decode_frame`] of every frame of a run (entry `first_seq` onwards), with the run's
/// payload commitments and then its entry hashes each computed together
/// ([`Domain::hash_each`]: SIMD across entries) — the same values as one by one — into `out`
/// (one slot per frame).
///
/// [`Domain::hash_each`]: crate::hash::Domain
pub(super) fn decode_run(data: &[u8], frames: &[FrameLoc], first_seq: u64, ledger_id: LedgerId, out: &mut [Decoded]) {
    use crate::hash::Domain;
    let salted: Vec<Option<&[u8]>> = frames
        .iter()
        .map(|f| crate::storage::frame::salted_payload(f.section(data)))
        .collect();
    let commitments = Domain::Payload.hash_each_present(&salted);
    // Entry hashes of the records that parse and whose payload section is present (the others
    // are decoded one by one, with their errors).
    let records: Vec<Option<RecordRef<'_>>> = frames.iter().map(|f| RecordRef::parse(f.entry(data)).ok()).collect();
    let mut inputs = Vec::with_capacity(frames.len() * 128);
    let mut spans = Vec::with_capacity(frames.len());
    for (i, (r, c)) in records.iter().zip(&commitments).enumerate() {
        spans.push(match (r, c) {
            (Some(r), Some(c)) => {
                let at = inputs.len();
                r.entry_hash_input(first_seq + i as u64, ledger_id, c, &mut inputs);
                Some(at..inputs.len())
            }
            _ => None,
        });
    }
    let entry_inputs: Vec<Option<&[u8]>> = spans.iter().map(|s| s.clone().map(|s| &inputs[s])).collect();
    let hashes = Domain::Entry.hash_each_present(&entry_inputs);
    for (i, ((f, record), slot)) in frames.iter().zip(records).zip(out).enumerate() {
        let known = commitments[i].zip(hashes[i]);
        *slot = decode_frame_with(data, f, first_seq + i as u64, ledger_id, record, known);
    }
}

/// [`decode_frame`], given the payload commitment and entry hash if they were computed already
/// ([`decode_run`]).
fn decode_frame_with(
    data: &[u8],
    f: &FrameLoc,
    seq: u64,
    ledger_id: LedgerId,
    parsed: Option<RecordRef<'_>>,
    known: Option<(Digest, Digest)>,
) -> Decoded {
    let mut d = Decoded {
        record: None,
        hash: Digest::ZERO,
        leaf: Digest::ZERO,
        digest: Digest::ZERO,
        erased: false,
        gov: None,
        problem: None,
    };
    let record = match parsed.map_or_else(|| RecordRef::parse(f.entry(data)), Ok) {
        Ok(r) => r,
        Err(e) => {
            d.problem = Some((Check::Format, e.to_string()));
            return d;
        }
    };
    d.record = Some(record.layout());
    let kind = record.kind();
    // `known` was computed from exactly this present section's salt and payload, and from this
    // record at this place.
    let (commitment, payload, hash) = match parse_section(f.section(data)) {
        Ok(SectionRef::Present { salt, payload }) => match known {
            Some((c, h)) => (c, Some(payload), Some(h)),
            None => (commit_payload(salt, payload), Some(payload), None),
        },
        Ok(SectionRef::Erased { commitment, .. }) => (commitment, None, None),
        Err(e) => {
            d.problem = Some((Check::Format, e.to_string()));
            return d;
        }
    };
    d.erased = payload.is_none();
    d.hash = hash.unwrap_or_else(|| record.entry_hash(seq, ledger_id, &commitment));
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
            Ok(r) => d.gov = r.map(Box::new),
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
