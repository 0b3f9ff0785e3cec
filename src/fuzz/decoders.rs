//! Decoders: decode, and when that succeeds, re-encoding gives back the input.

use crate::checkpoint::{Checkpoint, CHECKPOINT_RECORD_LEN};
use crate::encoding::{crc, serde_codec};
use crate::entry::{entry_hash, statement_digest, Entry, EntryKind, LedgerId, STATEMENT_OFFSET};
use crate::ledger::Draft;
use crate::record::{Genesis, Policy, Record};

use super::{fuzz_key, Input};

/// `Entry::decode`: an entry that decodes re-encodes to the same bytes, and its statement
/// digest is the one computed over the statement bytes in place.
pub fn decode_entry(data: &[u8]) {
    let Ok((entry, statement_end)) = Entry::decode_parts(data) else {
        return;
    };
    // A decoded entry satisfies every bound `to_bytes` checks.
    let bytes = entry.to_bytes().expect("a decoded entry re-encodes");
    assert_eq!(bytes, data, "entry is not canonical");
    assert_eq!(entry_hash(&bytes), entry_hash(data));
    assert_eq!(
        statement_digest(&data[STATEMENT_OFFSET..statement_end]),
        entry.statement.digest()
    );
    assert_eq!(Entry::decode(&bytes).as_ref(), Ok(&entry));
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
        return;
    };
    assert_eq!(c.encode(), rec, "checkpoint record is not canonical");
    let key = fuzz_key().verifying_key();
    let note = c.to_note(&key);
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
        Err(e) => assert!(!c.verify(&key), "a valid checkpoint's note fails to parse: {e}"),
    }
}

/// `Checkpoint::from_note` with the fuzzing key: an accepted note verifies, its body is the
/// canonical body of the checkpoint, and `to_note` gives a note that parses to the same value.
pub fn decode_note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = fuzz_key().verifying_key();
    let Ok(c) = Checkpoint::from_note(text, &key) else {
        return;
    };
    assert!(c.verify(&key), "an accepted note does not verify");
    let (body, _) = text.split_once("\n\n").expect("an accepted note has a blank line");
    assert_eq!(format!("{body}\n"), c.body(), "accepted a non-canonical body");
    let again = c.to_note(&key);
    assert_eq!(Checkpoint::from_note(&again, &key), Ok(c));
    // The first signature line is ours and canonical: then the note is exactly `to_note`.
    if text.ends_with('\n') && text.matches('\n').count() == again.matches('\n').count() {
        assert_eq!(text, again, "a one-signature note is not in canonical form");
    }
}

/// `Genesis::decode` and `Record::decode` for the kind `data[0]` names: what decodes
/// re-encodes to the same bytes.
pub fn decode_records(data: &[u8]) {
    let Some((&k, bytes)) = data.split_first() else {
        return;
    };
    let Ok(kind) = EntryKind::from_code(u16::from(k % 13)) else {
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
