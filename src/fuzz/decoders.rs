//! Decoders: decode, and when that succeeds, re-encoding gives back the input; the entry
//! record is also checked against an independent transcription of docs/FORMAT.md §4.

use crate::checkpoint::{Checkpoint, CHECKPOINT_RECORD_LEN, MAX_NOTE_LEN};
use crate::encoding::{crc, serde_codec};
use crate::entry::{Entry, EntryFields, EntryKind, LedgerId, RecordRef};
use crate::error::DecodeError;
use crate::hash::Digest;
use crate::ledger::Draft;
use crate::record::{Genesis, Policy, Record};

use super::{fuzz_key, Input};

/// The ledger id and payload commitment the fuzzed records are hashed with.
const LEDGER: LedgerId = LedgerId([0x5a; 16]);

/// How a record failed, by [`DecodeError`] variant (docs/FORMAT.md §4.2 names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Truncated,
    TrailingBytes,
    InvalidTag,
    Invalid,
    TooLong,
}

fn fail_of(e: &DecodeError) -> Fail {
    match e {
        DecodeError::Truncated { .. } => Fail::Truncated,
        DecodeError::TrailingBytes { .. } => Fail::TrailingBytes,
        DecodeError::InvalidTag { .. } => Fail::InvalidTag,
        DecodeError::TooLong { .. } => Fail::TooLong,
        other => {
            assert!(matches!(other, DecodeError::Invalid { .. }), "record error {other:?}");
            Fail::Invalid
        }
    }
}

/// A stored record as §4.2 reads it, field by field, independently of [`RecordRef`]: the
/// statement head (`kind ‖ timestamp ‖ ct_len ‖ ct`), the refs part (`ref_count ‖ refs`), the
/// authorship bytes `A` (§4.3) and whether a position signature is present.
struct SpecRecord<'a> {
    kind: u16,
    head: &'a [u8],
    refs: &'a [u8],
    authorship: Vec<u8>,
    position: bool,
    cosigs: usize,
}

/// §4.2, transcribed: the fields in order, the first rule broken names the error.
fn spec_record(bytes: &[u8]) -> Result<SpecRecord<'_>, Fail> {
    if bytes.len() > 65_535 {
        return Err(Fail::TooLong);
    }
    let take = |at: usize, len: usize| bytes.get(at..at + len).ok_or(Fail::Truncated);
    let kind = u16::from_le_bytes(take(0, 2)?.try_into().map_err(|_| Fail::Truncated)?);
    if kind > 13 {
        return Err(Fail::InvalidTag);
    }
    take(2, 8)?;
    let ct_len = usize::from(take(10, 1)?[0]);
    if !take(11, ct_len)?.iter().all(|x| (0x21..=0x7e).contains(x)) {
        return Err(Fail::Invalid);
    }
    let head_end = 11 + ct_len;
    let ref_count = usize::from(u16::from_le_bytes(
        take(head_end, 2)?.try_into().map_err(|_| Fail::Truncated)?,
    ));
    if ref_count > 1024 {
        return Err(Fail::TooLong);
    }
    let refs_end = head_end + 2 + 32 * ref_count;
    take(head_end + 2, 32 * ref_count)?;
    let flags = take(refs_end, 1)?[0];
    if flags & !1 != 0 {
        return Err(Fail::Invalid);
    }
    let cosig_count = usize::from(take(refs_end + 1, 1)?[0]);
    if cosig_count > 16 {
        return Err(Fail::TooLong);
    }
    let position = usize::from(flags & 1);
    let sigs = take(refs_end + 2, 96 * (position + cosig_count))?;
    if bytes.len() > refs_end + 2 + 96 * (position + cosig_count) {
        return Err(Fail::TrailingBytes);
    }
    let mut authorship = vec![flags, cosig_count as u8];
    if position == 1 {
        authorship.extend_from_slice(&sigs[..32]);
    }
    authorship.extend_from_slice(&sigs[96 * position..]);
    Ok(SpecRecord {
        kind,
        head: &bytes[..head_end],
        refs: &bytes[head_end..refs_end],
        authorship,
        position: position == 1,
        cosigs: cosig_count,
    })
}

/// `BLAKE3-keyed_hash(BLAKE3-derive_key("provledger v2 domain key", label), input)` (§2.1),
/// computed here without the library's domain table.
fn spec_hash(label: &str, input: &[u8]) -> Digest {
    let key = blake3::derive_key("provledger v2 domain key", label.as_bytes());
    Digest::from_bytes(*blake3::keyed_hash(&key, input).as_bytes())
}

/// `[seq u64][commitment 32][stored entry record]`: [`RecordRef::parse`] accepts exactly what
/// an independent transcription of docs/FORMAT.md §4.2 accepts, failing with the same error
/// kind; an accepted record re-encodes to the same bytes (canonical); [`Entry::decode`] agrees
/// with it; the entry hash is `H_entry(seq ‖ S ‖ A)` and the statement digest `H_statement(S)`
/// as §4.1 – §4.4 assemble them, and the entry hash changes with the sequence number.
pub fn decode_entry(data: &[u8]) {
    let mut input = Input(data);
    let seq = input.u64();
    let commitment = input.digest();
    let bytes = input.bytes(usize::MAX);
    let parsed = RecordRef::parse(bytes);
    let spec = spec_record(bytes);
    match (&parsed, &spec) {
        (Ok(_), Ok(_)) => {}
        (Err(e), Err(f)) => {
            assert_eq!(fail_of(e), *f, "the record fails with another error than §4.2 names");
            return;
        }
        (Ok(_), Err(f)) => panic!("accepted a record §4.2 rejects ({f:?})"),
        (Err(e), Ok(_)) => panic!("rejected a record §4.2 accepts: {e}"),
    }
    let (Ok(r), Ok(s)) = (parsed, spec) else { return };
    assert_eq!((r.kind().code(), r.position().is_some()), (s.kind, s.position));
    assert_eq!(r.cosignatures().len(), s.cosigs);
    let fields = EntryFields {
        kind: r.kind(),
        timestamp: r.timestamp(),
        content_type: r.content_type().to_owned().into(),
        refs: r.refs().collect(),
    };
    let cosigs: Vec<_> = r.cosignatures().collect();
    let again = fields.encode_record(r.position().as_ref(), &cosigs);
    assert_eq!(again.as_deref(), Ok(bytes), "the record is not canonical");
    let mut statement = LEDGER.0.to_vec();
    statement.extend_from_slice(s.head);
    statement.extend_from_slice(commitment.as_bytes());
    statement.extend_from_slice(s.refs);
    assert_eq!(r.statement(LEDGER, &commitment), statement, "statement bytes (§4.1)");
    let mut input = seq.to_le_bytes().to_vec();
    input.extend_from_slice(&statement);
    input.extend_from_slice(&s.authorship);
    let hash = spec_hash("entry", &input);
    assert_eq!(r.entry_hash(seq, LEDGER, &commitment), hash, "entry hash (§4.4)");
    assert_eq!(
        r.statement_digest(LEDGER, &commitment),
        spec_hash("statement", &statement)
    );
    assert_ne!(r.entry_hash(seq.wrapping_add(1), LEDGER, &commitment), hash);
    let e = Entry::decode(bytes, seq, LEDGER, commitment).expect("a parsed record decodes");
    assert_eq!(
        (e.seq, e.kind, e.timestamp, e.hash, e.commitment),
        (seq, r.kind(), r.timestamp(), hash, commitment)
    );
    assert_eq!(
        (e.position, e.cosignatures, e.refs),
        (r.position(), cosigs, fields.refs)
    );
    assert_eq!(e.content_type, r.content_type());
}

/// `Checkpoint::decode` of `[flags][ledger id 16][record 148]`: a record that decodes
/// re-encodes to the same bytes; if its signature verifies, its signed note parses back to it.
/// Flag bit 0 fixes the record's CRC first, so the fields behind it get fuzzed.
pub fn decode_checkpoint(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let ledger_id = LedgerId(std::array::from_fn(|_| input.u8()));
    let mut rec = [0u8; CHECKPOINT_RECORD_LEN];
    rec.copy_from_slice(&input.padded(CHECKPOINT_RECORD_LEN));
    if flags & 1 != 0 {
        let c = crc(&[&rec[..CHECKPOINT_RECORD_LEN - 4]]);
        rec[CHECKPOINT_RECORD_LEN - 4..].copy_from_slice(&c.to_le_bytes());
    }
    let Ok(c) = Checkpoint::decode(&rec, ledger_id) else {
        let sum = crc(&[&rec[..CHECKPOINT_RECORD_LEN - 4]]).to_le_bytes();
        assert_ne!(
            rec[CHECKPOINT_RECORD_LEN - 4..],
            sum,
            "a record with a good CRC is refused"
        );
        return;
    };
    assert_eq!(c.encode(), rec, "checkpoint record is not canonical");
    assert_eq!(c.ledger_id, ledger_id);
    let key = fuzz_key().verifying_key();
    let note = c.to_note(&key);
    assert!(note.ends_with('\n'));
    match Checkpoint::from_note(&note, &key) {
        // The note carries no key id (the record's is only a hint of which key signed, and a
        // wrong one makes `verify` fail): all else must round-trip.
        Ok(back) => assert!(
            back.verify(&key)
                && Checkpoint {
                    key_id: c.key_id,
                    ..back
                } == c,
            "{note:?} parsed to {back:?}"
        ),
        Err(e) => assert!(
            !Checkpoint {
                key_id: key.key_id(),
                ..c
            }
            .verify(&key),
            "a valid checkpoint's note fails to parse: {e}"
        ),
    }
    // The JSON form (docs/FORMAT.md §15) round-trips too.
    #[cfg(feature = "json")]
    {
        let json = serde_json::to_string(&c).expect("a checkpoint prints as JSON");
        let back: Checkpoint = serde_json::from_str(&json).expect("its JSON parses");
        assert_eq!(back, c, "{json}");
    }
}

/// `Checkpoint::from_note` with the fuzzing key: an accepted note is at most `MAX_NOTE_LEN`
/// bytes and ends with a line feed, verifies, its body is exactly the four canonical lines of
/// the checkpoint, and `to_note` gives a note that parses to the same value.
pub fn decode_note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = fuzz_key().verifying_key();
    let Ok(c) = Checkpoint::from_note(text, &key) else {
        return;
    };
    assert!(text.len() <= MAX_NOTE_LEN && text.ends_with('\n'), "accepted {text:?}");
    assert!(c.verify(&key), "an accepted note does not verify");
    assert_eq!(c.key_id, key.key_id());
    let (body, _) = text.split_once("\n\n").expect("an accepted note has a blank line");
    assert_eq!(format!("{body}\n"), c.body(), "accepted a non-canonical body");
    assert_eq!(body.lines().count(), 4, "a checkpoint body is four lines");
    let again = c.to_note(&key);
    assert_eq!(Checkpoint::from_note(&again, &key), Ok(c));
    // The first signature line is ours and canonical: then the note is exactly `to_note`.
    if text.matches('\n').count() == again.matches('\n').count() {
        assert_eq!(text, again, "a one-signature note is not in canonical form");
    }
}

/// `Genesis::decode` and `Record::decode` for the kind `data[0]` names: what decodes
/// re-encodes to the same bytes. Also `VerifierState::from_bytes` on the bytes as a state's
/// body.
pub fn decode_records(data: &[u8]) {
    // A saved verifier state with these bytes as its body and a checksum that holds (what
    // someone who can write the auditor's state file hands it): refused or loaded, never a
    // panic; a loaded one gives its bytes back.
    let mut state = b"provledger verifier state\n".to_vec();
    state.extend_from_slice(&1u32.to_le_bytes());
    state.extend_from_slice(blake3::hash(data).as_bytes());
    state.extend_from_slice(data);
    if let Ok(s) = crate::VerifierState::from_bytes(&state) {
        assert_eq!(s.as_bytes(), &state[..]);
    }
    let Some((&k, bytes)) = data.split_first() else {
        return;
    };
    let Ok(kind) = EntryKind::from_code(u16::from(k % 14)) else {
        return;
    };
    if kind == EntryKind::Genesis {
        if let Ok(g) = Genesis::decode(bytes) {
            assert_eq!(g.encode().as_deref(), Ok(bytes), "genesis is not canonical");
        }
    } else if let Ok(r) = Record::decode(kind, bytes) {
        assert_eq!(r.entry_kind(), kind);
        assert_eq!(
            r.encode().as_deref(),
            Ok(bytes),
            "{} record is not canonical",
            kind.name()
        );
        let _ = (r.refs(), Draft::record(&r));
    }
    if let Ok(p) = serde_codec::decode::<Policy>(bytes, "policy") {
        let _ = (
            p.min_approvals(),
            p.enforces(crate::record::RuleId::GatedImpact),
            p.digest(),
        );
        // Class matching over whatever patterns and thresholds the bytes hold.
        let attributes = std::collections::BTreeMap::from([("amount_eur".to_owned(), 5000)]);
        for action_type in ["", "refund", "permission.grant.admin", "*"] {
            let action = crate::record::ActionDesc {
                action_type,
                attributes: &attributes,
                impact: crate::record::ImpactFlags::default(),
            };
            let resolved = p.resolve(&action);
            assert!(resolved.classes.iter().all(|&i| i < p.classes.len()));
        }
    }
}
