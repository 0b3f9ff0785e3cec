//! Guarantee 1 (DESIGN.md §1): changing, removing, reordering or inserting any byte of any
//! entry, signature or index is detected by `verify`, which names the entry sequence number and
//! the check that failed.
//!
//! The ledgers here are tiny (1–2 KiB segments) so that every byte can be attacked one by one.

mod common;

use std::path::Path;

use common::{anchor, draft, fix_frame_crcs, key, std_layout, std_ledger, Segment};
use provledger::encoding::crc;
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::segment::SEGMENT_HEADER_LEN;
use provledger::{verify, Check, Durability, Failure, Ledger, SigningKey, TrustAnchor, VerifyReport};

/// Segment size of the byte-sweep ledgers: three frames per segment.
const SMALL_SEGMENT: u64 = 1024;
/// Segment size of the structural-attack ledgers.
const SEGMENT: u64 = 2048;

fn failure(r: &VerifyReport) -> &Failure {
    r.failure.as_ref().expect("a failure")
}

/// A ledger of genesis + 6 entries in three segments, and its parsed layout.
fn sweep_ledger() -> (tempfile::TempDir, SigningKey, Vec<Segment>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = key(1);
    std_ledger(tmp.path(), &k, 6, SMALL_SEGMENT);
    let segs = std_layout(tmp.path());
    assert!(segs.len() >= 2, "want several segments, got {}", segs.len());
    assert_eq!(segs.iter().map(|s| s.frames.len()).sum::<usize>(), 7);
    let r = verify(tmp.path(), &anchor(&k)).expect("verify");
    assert!(r.is_ok() && r.entries == 7, "{r:?}");
    (tmp, k, segs)
}

/// Writes `bytes` to `path`, verifies, restores `orig`, and returns the report.
fn verify_with_file(dir: &Path, k: &SigningKey, path: &Path, bytes: &[u8], orig: &[u8]) -> VerifyReport {
    std::fs::write(path, bytes).expect("write");
    let r = verify(dir, &anchor(k)).expect("verify runs");
    std::fs::write(path, orig).expect("restore");
    r
}

/// What verify must say about damage at `offset` of segment `seg`: the seq of the frame
/// holding the byte (or of the segment's first entry for header bytes), and the location.
fn located(r: &VerifyReport, seg: &Segment, offset: usize) -> Result<(), String> {
    let Some(f) = r.failure.as_ref() else {
        return Err(format!("verifies as OK (torn tail: {:?})", r.torn_tail));
    };
    let (seq, at) = match seg.frame_at(offset) {
        None if f.check != Check::Format => return Err(format!("header damage is not a format failure: {f}")),
        None => (seg.first_seq, 0),
        Some(frame) => (frame.seq, frame.offset as u64),
    };
    // Genesis failures are reported without a location (verify checks the genesis apart).
    let unlocated = seq == 0 && f.file.is_none() && f.offset.is_none();
    if f.seq != Some(seq) || !unlocated && (f.offset != Some(at) || f.file.as_deref() != Some(seg.path.as_path())) {
        return Err(format!("want entry {seq} at offset {at}, got: {f}"));
    }
    if r.entries != seq {
        return Err(format!("{} entries verified, want {seq}: {f}", r.entries));
    }
    Ok(())
}

/// Collects what went wrong over a sweep and fails with a digest of it.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, what: impl FnOnce() -> String, r: Result<(), String>) {
        if let Err(e) = r {
            self.0.push(format!("{}: {e}", what()));
        }
    }

    fn assert_none(&self, sweep: &str) {
        let shown: Vec<&String> = self.0.iter().take(12).collect();
        assert!(
            self.0.is_empty(),
            "{sweep}: {} problems, first ones:\n{shown:#?}",
            self.0.len()
        );
    }
}

#[test]
fn every_bit_flip_in_every_segment_is_detected_and_located() {
    let (tmp, k, segs) = sweep_ledger();
    let mut problems = Problems::default();
    for seg in &segs {
        for i in 0..seg.bytes.len() {
            let mut b = seg.bytes.clone();
            b[i] ^= 0x01;
            let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
            // Checksums catch every single-bit flip before any cryptographic check runs.
            let format = match &r.failure {
                Some(f) if f.check != Check::Format => Err(format!("not a format failure: {f}")),
                _ => Ok(()),
            };
            let what = || format!("{} offset {i} (byte {:#04x})", seg.path.display(), seg.bytes[i]);
            problems.check(what, located(&r, seg, i).and(format));
        }
    }
    problems.assert_none("bit flips");
}

#[test]
fn whole_byte_flips_are_detected_and_located() {
    let (tmp, k, segs) = sweep_ledger();
    let mut problems = Problems::default();
    for seg in &segs {
        // Every third byte, with 0xFF (all bits of the byte).
        for i in (0..seg.bytes.len()).step_by(3) {
            let mut b = seg.bytes.clone();
            b[i] ^= 0xFF;
            let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
            let what = || format!("{} offset {i} (byte {:#04x})", seg.path.display(), seg.bytes[i]);
            problems.check(what, located(&r, seg, i));
        }
    }
    problems.assert_none("byte flips");
}

/// The attacker rewrites a byte *and* every checksum, so that framing looks intact: the
/// cryptographic checks (chain, signature, commitment, key, anchor) must catch it, at the
/// entry that was changed.
#[test]
fn every_entry_and_payload_byte_changed_with_checksums_fixed_is_detected() {
    let (tmp, k, segs) = sweep_ledger();
    let mut problems = Problems::default();
    let mut checks = std::collections::BTreeMap::new();
    for seg in &segs {
        for frame in &seg.frames {
            for i in frame.entry().chain(frame.section()) {
                let mut b = seg.bytes.clone();
                b[i] ^= 0x01;
                fix_frame_crcs(&mut b, frame);
                let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
                let what = || format!("entry {} byte {i} (frame at {}), CRCs fixed", frame.seq, frame.offset);
                let mut res = located(&r, seg, i);
                if let Some(f) = &r.failure {
                    *checks.entry(f.check.name()).or_insert(0u32) += 1;
                    // Salt or payload bytes: only the commitment can notice. (The genesis
                    // payload is parsed for the trust anchors first, so other checks may fire.)
                    let payload = frame.section().contains(&i) && i > frame.section().start;
                    if payload && frame.seq > 0 && f.check != Check::Commitment {
                        res = Err(format!("payload change is not a commitment failure: {f}"));
                    }
                }
                problems.check(what, res);
            }
        }
    }
    println!("checks that fired: {checks:?}");
    problems.assert_none("changes with checksums fixed");
    for c in ["chain", "commitment", "signature"] {
        assert!(checks.contains_key(c), "no {c} failure in {checks:?}");
    }
}

#[test]
fn segment_header_changed_with_checksum_fixed_is_detected() {
    let (tmp, k, segs) = sweep_ledger();
    for seg in &segs {
        for i in 0..SEGMENT_HEADER_LEN - 4 {
            let mut b = seg.bytes.clone();
            b[i] ^= 0x01;
            let c = crc(&[&b[..60]]);
            b[60..64].copy_from_slice(&c.to_le_bytes());
            let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
            let what = format!("{} header byte {i} with CRC fixed", seg.path.display());
            assert!(!r.is_ok(), "{what} verifies as OK");
            let f = failure(&r);
            println!("{what}: {f}");
            // A changed ledger id in the first segment may surface as a ledger-level failure
            // (e.g. of the checkpoint log, bound to the ledger id) that names no entry.
            let ledger_level = seg.first_seq == 0 && (16..32).contains(&i) && f.seq.is_none();
            assert!(ledger_level || f.seq == Some(seg.first_seq), "{what}: {f}");
        }
    }
}

#[test]
fn every_bit_flip_in_index_files_is_detected() {
    let (tmp, k, segs) = sweep_ledger();
    for seg in &segs {
        let idx = std::fs::read(&seg.idx_path).expect("index");
        assert_eq!(idx.len(), INDEX_HEADER_LEN + 8 * seg.frames.len());
        for i in 0..idx.len() {
            let mut b = idx.clone();
            b[i] ^= 0x01;
            let r = verify_with_file(tmp.path(), &k, &seg.idx_path, &b, &idx);
            let what = format!("{} byte {i}", seg.idx_path.display());
            assert!(!r.is_ok(), "{what} verifies as OK");
            let f = failure(&r);
            assert!(matches!(f.check, Check::Index | Check::Format), "{what}: {f}");
            let slot = i.saturating_sub(INDEX_HEADER_LEN) / 8;
            let want = if i < INDEX_HEADER_LEN { 0 } else { slot as u64 };
            assert_eq!(f.seq, Some(seg.first_seq + want), "{what}: {f}");
        }
    }
}

#[test]
fn index_truncated_or_extended_in_a_sealed_segment_is_detected() {
    let (tmp, k, segs) = sweep_ledger();
    let sealed = &segs[0];
    let idx = std::fs::read(&sealed.idx_path).expect("index");
    let short = &idx[..idx.len() - 8];
    let r = verify_with_file(tmp.path(), &k, &sealed.idx_path, short, &idx);
    assert_eq!(failure(&r).check, Check::Index, "{}", failure(&r));
    let mut long = idx.clone();
    long.extend_from_slice(&idx[idx.len() - 8..]);
    let r = verify_with_file(tmp.path(), &k, &sealed.idx_path, &long, &idx);
    assert_eq!(failure(&r).check, Check::Index, "{}", failure(&r));
    std::fs::remove_file(&sealed.idx_path).expect("rm");
    let r = verify(tmp.path(), &anchor(&k)).expect("verify");
    assert_eq!(failure(&r).check, Check::Index, "{}", failure(&r));
    assert_eq!(failure(&r).seq, Some(sealed.first_seq));
}

#[test]
fn trust_anchor_must_match() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = key(1);
    let mut ledger = Ledger::create(
        tmp.path(),
        &k,
        "anchor",
        common::std_opts(Durability::PerBatch, SEGMENT),
    )
    .expect("create");
    let genesis_hash = ledger.head();
    ledger.append(draft(1)).expect("append");
    drop(ledger);

    let r = verify(tmp.path(), &TrustAnchor::PublicKey(key(2).verifying_key())).expect("verify");
    assert_eq!(failure(&r).check, Check::TrustAnchor, "{}", failure(&r));
    assert_eq!(failure(&r).seq, Some(0));
    assert_eq!(r.entries, 0);

    let r = verify(tmp.path(), &TrustAnchor::GenesisHash(genesis_hash)).expect("verify");
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.entries, 2);

    let mut wrong = genesis_hash.to_bytes();
    wrong[31] ^= 1;
    let r = verify(
        tmp.path(),
        &TrustAnchor::GenesisHash(provledger::Digest::from_bytes(wrong)),
    )
    .expect("verify");
    assert_eq!(failure(&r).check, Check::TrustAnchor, "{}", failure(&r));
    assert_eq!(failure(&r).seq, Some(0));
}

/// A whole ledger replaced by another one (another operator key): the files are internally
/// consistent, so only the trust anchor can catch it.
#[test]
fn a_replaced_ledger_fails_the_anchor_not_just_the_chain() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    std_ledger(a.path(), &key(1), 3, SEGMENT);
    std_ledger(b.path(), &key(2), 3, SEGMENT);
    let r = verify(b.path(), &anchor(&key(1))).expect("verify");
    assert_eq!(failure(&r).check, Check::TrustAnchor, "{}", failure(&r));
    assert_eq!(failure(&r).seq, Some(0));
}

/// A ledger of genesis + 14 equal-sized entries over three 2 KiB segments, for structural
/// attacks; returns it with its layout.
fn structural_ledger(k: &SigningKey) -> (tempfile::TempDir, Vec<Segment>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std_ledger(tmp.path(), k, 14, SEGMENT);
    let segs = std_layout(tmp.path());
    assert!(segs.len() >= 3, "want three segments, got {}", segs.len());
    assert!(segs[1].frames.len() >= 3, "{:?}", segs[1].frames);
    (tmp, segs)
}

/// Replaces the byte range `range` of segment `seg` with `with`, verifies, and returns the
/// failure (asserting there is one, in that file).
fn attack(dir: &Path, k: &SigningKey, seg: &Segment, range: std::ops::Range<usize>, with: &[u8]) -> Failure {
    let mut b = seg.bytes.clone();
    b.splice(range, with.iter().copied());
    let r = verify_with_file(dir, k, &seg.path, &b, &seg.bytes);
    let f = r.failure.clone().expect("attack detected");
    println!("{f}");
    assert_eq!(f.file.as_deref(), Some(seg.path.as_path()), "{f}");
    f
}

#[test]
fn reordered_entries_are_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    let seg = &segs[1];
    let (a, b) = (seg.frames[0], seg.frames[1]);
    assert_eq!(a.len(), b.len(), "equal payloads give equal frames");
    let mut swapped = seg.bytes[b.offset..b.end()].to_vec();
    swapped.extend_from_slice(&seg.bytes[a.offset..a.end()]);
    let f = attack(tmp.path(), &k, seg, a.offset..b.end(), &swapped);
    assert_eq!((f.seq, f.check), (Some(a.seq), Check::Chain), "{f}");
    assert_eq!(f.offset, Some(a.offset as u64));
}

#[test]
fn a_removed_middle_entry_is_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    // In the middle of a segment.
    let seg = &segs[1];
    let m = seg.frames[1];
    let f = attack(tmp.path(), &k, seg, m.offset..m.end(), &[]);
    assert_eq!((f.seq, f.check), (Some(m.seq), Check::Chain), "{f}");
    // The first entry of a segment.
    let m = seg.frames[0];
    let f = attack(tmp.path(), &k, seg, m.offset..m.end(), &[]);
    assert_eq!((f.seq, f.check), (Some(m.seq), Check::Chain), "{f}");
    // The last entry of a sealed segment: the next segment does not continue the chain.
    let m = *seg.frames.last().expect("frames");
    let mut b = seg.bytes.clone();
    b.truncate(m.offset);
    let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
    let f = failure(&r);
    assert_eq!(f.seq, Some(m.seq), "{f}");
    assert!(matches!(f.check, Check::Chain | Check::Index), "{f}");
}

#[test]
fn a_duplicated_entry_is_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    let seg = &segs[1];
    let m = seg.frames[1];
    let copy = seg.bytes[m.offset..m.end()].to_vec();
    let f = attack(tmp.path(), &k, seg, m.end()..m.end(), &copy);
    assert_eq!((f.seq, f.check), (Some(m.seq + 1), Check::Chain), "{f}");
    assert_eq!(f.offset, Some(m.end() as u64));
}

#[test]
fn entries_spliced_in_from_another_ledger_are_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    // The other ledger has the same key (the worst case: its signatures are valid).
    let other = tempfile::tempdir().expect("tempdir");
    std_ledger(other.path(), &k, 14, SEGMENT);
    let other_segs = std_layout(other.path());
    let seg = &segs[1];
    let m = seg.frames[1];
    let theirs = other_segs
        .iter()
        .flat_map(|s| s.frames.iter().map(move |f| (s, *f)))
        .find(|(_, f)| f.seq == m.seq)
        .map(|(s, f)| s.bytes[f.offset..f.end()].to_vec())
        .expect("same seq in the other ledger");
    assert_eq!(theirs.len(), m.len());
    // Replacing entry m.
    let f = attack(tmp.path(), &k, seg, m.offset..m.end(), &theirs);
    assert_eq!((f.seq, f.check), (Some(m.seq), Check::Chain), "{f}");
    // Inserting it before entry m.
    let f = attack(tmp.path(), &k, seg, m.offset..m.offset, &theirs);
    assert_eq!((f.seq, f.check), (Some(m.seq), Check::Chain), "{f}");
}

#[test]
fn a_removed_middle_segment_is_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    let mid = &segs[1];
    std::fs::remove_file(&mid.path).expect("rm seg");
    std::fs::remove_file(&mid.idx_path).expect("rm idx");
    let r = verify(tmp.path(), &anchor(&k)).expect("verify");
    let f = failure(&r);
    assert_eq!((f.seq, f.check), (Some(mid.first_seq), Check::Chain), "{f}");
    assert_eq!(f.file.as_deref(), Some(segs[2].path.as_path()), "{f}");
    assert_eq!(r.entries, mid.first_seq);
}

#[test]
fn a_payload_changed_with_its_checksum_recomputed_fails_the_commitment() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    let seg = &segs[1];
    let m = seg.frames[1];
    let mut b = seg.bytes.clone();
    let at = m.section().end - 1; // last payload byte
    b[at] ^= 0x20;
    let c = crc(&[&b[m.section()]]);
    b[m.section().end..m.section().end + 4].copy_from_slice(&c.to_le_bytes());
    let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
    let f = failure(&r);
    assert_eq!((f.seq, f.check), (Some(m.seq), Check::Commitment), "{f}");
    assert_eq!(r.entries, m.seq);
}

#[test]
fn an_entry_changed_with_its_checksum_recomputed_is_detected() {
    let k = key(1);
    let (tmp, segs) = structural_ledger(&k);
    let seg = &segs[1];
    let m = seg.frames[1];
    // Timestamp (signed statement), the signature itself, and the previous-hash link.
    let stmt_ts = m.entry().start + 8 + 32 + 16 + 2;
    let sig = m.entry().end - 1;
    let prev = m.entry().start + 8;
    for (at, want) in [
        (stmt_ts, Check::Signature),
        (sig, Check::Signature),
        (prev, Check::Chain),
    ] {
        let mut b = seg.bytes.clone();
        b[at] ^= 0x01;
        let c = crc(&[&b[m.entry()]]);
        b[m.entry().end..m.entry().end + 4].copy_from_slice(&c.to_le_bytes());
        let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
        let f = failure(&r);
        assert_eq!((f.seq, f.check), (Some(m.seq), want), "byte {at}: {f}");
    }
}

/// Bytes appended after the last frame: garbage anywhere, or zeros in a sealed segment, is
/// damage (only the newest segment may end in a torn, zero-filled tail).
#[test]
fn bytes_appended_to_a_segment_are_detected() {
    let (tmp, k, segs) = sweep_ledger();
    let newest = segs.last().expect("segment");
    for (seg, fill, want_failure) in [
        (&segs[0], 0xA5u8, true),
        (&segs[0], 0, true),
        (newest, 0xA5, true),
        (newest, 0, false),
    ] {
        let mut b = seg.bytes.clone();
        b.extend_from_slice(&[fill; 40]);
        let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
        let what = format!("{} + 40 × {fill:#04x}", seg.path.display());
        if want_failure {
            let f = failure(&r);
            let next = seg.first_seq + seg.frames.len() as u64;
            assert_eq!((f.seq, f.check), (Some(next), Check::Format), "{what}: {f}");
            assert_eq!(f.offset, Some(seg.bytes.len() as u64), "{what}: {f}");
        } else {
            assert!(r.is_ok(), "{what}: {}", failure(&r));
            let t = r.torn_tail.expect("a zero tail is reported as torn");
            assert_eq!((t.offset, t.bytes), (seg.bytes.len() as u64, 40), "{what}");
        }
    }
}

/// The genesis entry with its sequence number changed (checksums fixed) is reported at
/// entry 0, where it sits — not at the forged number.
#[test]
fn a_genesis_with_a_forged_sequence_number_is_reported_at_entry_0() {
    let (tmp, k, segs) = sweep_ledger();
    let seg = &segs[0];
    let g = seg.frames[0];
    let mut b = seg.bytes.clone();
    b[g.entry().start + 7] ^= 0x01; // seq = 2^56
    fix_frame_crcs(&mut b, &g);
    let r = verify_with_file(tmp.path(), &k, &seg.path, &b, &seg.bytes);
    let f = failure(&r);
    assert_eq!(f.seq, Some(0), "{f}");
}
