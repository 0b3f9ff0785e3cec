//! Guarantee 1 (DESIGN.md §1): changing, removing, reordering or inserting any byte of any
//! entry, signature or index is detected by `verify`, which names the entry sequence number and
//! the check that failed (docs/FORMAT.md §9).
//!
//! What catches what in format v2:
//! * a flipped bit anywhere in a frame: its checksum (`format`), at that frame;
//! * a change whose checksums were recomputed (what an attacker who knows the format does):
//!   for a position-signed entry, its position signature (`chain`), since the entry hash covers
//!   the statement, the payload commitment and who signed; for an unsigned (high-volume) entry,
//!   the stored Merkle tree (`tree`) or, without tree files, the checkpoint covering it
//!   (`checkpoint`); co-signatures (`signature`), signer ids (`key`), field bounds (`format`);
//! * seals carry no meaning for verifiers (docs/FORMAT.md §7.5): changing one is not a
//!   tampering with the ledger, and the writer, which can no longer recognise it as its own,
//!   verifies the whole ledger before it extends it;
//! * moved, removed, duplicated or spliced entries and segments: `chain`.
//!
//! The byte sweeps run on a one-segment ledger of every shape of entry on the simulated disk
//! (segments are at least 1 MiB, too big to sweep byte by byte); the segment-level attacks run
//! on a four-segment ledger of large entries.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{
    anchor, big_draft, draft, file, fix_frame_crcs, fix_segment_header_crc, key, put_file, record_fields, restore,
    sim_dir, sim_layout, sim_opts, snapshot, std_ledger, Frame, Segment, Snapshot, MIN_SEGMENT,
};
use provledger::record::Policy;
use provledger::storage::index::INDEX_HEADER_LEN;
use provledger::storage::segment::SEGMENT_HEADER_LEN;
use provledger::storage::SimBackend;
use provledger::{
    Check, Durability, Failure, Genesis, Ledger, OpenError, PrincipalType, Role, TrustAnchor, TrustAnchorKey,
    VerifyReport,
};

fn verify(disk: &SimBackend) -> VerifyReport {
    common::sim_verify(disk, &sim_dir(), &anchor(&key(1)))
}

/// Writes `bytes` to `path`, verifies, restores `orig`, and returns the report.
fn verify_with_file(disk: &SimBackend, path: &Path, bytes: Vec<u8>, orig: &[u8]) -> VerifyReport {
    put_file(disk, path, bytes);
    let r = verify(disk);
    put_file(disk, path, orig.to_vec());
    r
}

fn failure(r: &VerifyReport) -> &Failure {
    r.failure.as_ref().expect("a failure")
}

/// Sequence number of the last entry of the sweep ledger (its checkpoint covers all).
const SWEEP_LAST: u64 = 9;
/// The entry of the sweep ledger whose payload is erased, and the redaction that erased it.
const REDACTED: u64 = 1;
const REDACTION: u64 = 6;

/// The sweep ledger, one segment: 0 genesis (operator `key(1)`, reviewer `key(2)`); 1 an
/// application entry, later erased; 2 one co-signed by the reviewer; 3–5 a batch; 6 the
/// redaction of 1; 7–9 a batch without position signatures, 8 co-signed by the reviewer; a
/// checkpoint of all 10.
fn sweep_ledger() -> (SimBackend, Snapshot, Segment) {
    let disk = common::new_disk();
    let genesis = Genesis {
        name: "sweep".into(),
        anchors: vec![
            TrustAnchorKey::operator(&key(1).verifying_key(), "operator"),
            TrustAnchorKey {
                public_key: key(2).verifying_key().to_bytes(),
                principal_id: "reviewer".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Reviewer],
            },
        ],
        policy: Policy::default(),
    };
    let opts = sim_opts(&disk, Durability::Synced, MIN_SEGMENT);
    let l = Ledger::create_with_genesis(sim_dir(), key(1), &genesis, opts).expect("create");
    let personal = l.append(draft(1)).expect("append");
    l.append(draft(2).cosigned_by(key(2))).expect("co-signed");
    l.append_batch((3..6).map(draft).collect()).expect("batch");
    l.redact(personal.seq, "erasure request").expect("redact");
    let unsigned = (7..10)
        .map(|i| draft(i).without_position_signature())
        .map(|d| {
            if d.payload().starts_with(b"entry 00000008") {
                d.cosigned_by(key(2))
            } else {
                d
            }
        })
        .collect();
    l.append_batch(unsigned).expect("unsigned batch");
    assert_eq!(l.checkpoint().expect("checkpoint").tree_size, SWEEP_LAST + 1);
    l.close().expect("close");
    let segs = sim_layout(&disk, &sim_dir());
    assert_eq!(segs.len(), 1);
    let seg = segs.into_iter().next().expect("segment");
    assert_eq!(seg.frames.len() as u64, SWEEP_LAST + 1);
    let sealed: Vec<u64> = seg.frames.iter().filter(|f| f.sealed).map(|f| f.seq).collect();
    assert_eq!(sealed, [0, 1, 2, 5, 6, 9], "one seal per write");
    let r = verify(&disk);
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!((r.redacted.clone(), r.unsigned_covered), (vec![1], 3));
    let snap = snapshot(&disk);
    (disk, snap, seg)
}

/// What verify must say about a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// The ledger still verifies.
    Pass,
    /// A failure by one of these checks at this entry.
    Fail(&'static [Check], u64),
    /// Damage (`format`) at entry `seq`, or — when the change makes the newest segment's frame
    /// run past the end of the file, a torn tail back to the seal before it — `torn`: the
    /// failure the end of verification finds for the lost entries (a checkpoint covering them,
    /// or an erasure whose redaction was lost).
    FormatOrTorn {
        seq: u64,
        torn: (Check, u64),
        /// Entries verified before the torn tail.
        torn_entries: u64,
    },
}

use Check::{Chain, Checkpoint, Format, Key, Redaction, Signature, Tree, TrustAnchor as Anchor};

/// Checks a report against what was wanted; for frame damage also the location.
/// `verified_from`: the entries before the changed frame's write, which verify whatever happens
/// to it (the complete frames of a write whose seal is damaged are not verified either).
fn judge(r: &VerifyReport, want: Want, located: Option<(&Segment, &Frame)>, verified_from: u64) -> Result<(), String> {
    let f = match (want, &r.failure) {
        (Want::Pass, None) => return Ok(()),
        (Want::Pass, Some(f)) => return Err(format!("want a pass, got: {f}")),
        (_, None) => return Err(format!("verifies as OK (torn tail: {:?})", r.torn_tail)),
        (_, Some(f)) => f,
    };
    let seq = match want {
        Want::Fail(checks, seq) if checks.contains(&f.check) && f.seq == Some(seq) => seq,
        Want::FormatOrTorn { seq, .. } if (f.check, f.seq) == (Format, Some(seq)) => seq,
        Want::FormatOrTorn { torn, torn_entries, .. } if (f.check, f.seq) == (torn.0, Some(torn.1)) => {
            return if r.entries == torn_entries {
                Ok(())
            } else {
                Err(format!("{} entries verified, want {torn_entries}: {f}", r.entries))
            };
        }
        _ => return Err(format!("want {want:?}, got: {f}")),
    };
    // Damage is located at its frame (the genesis, checked apart against the trust anchor
    // first, may be reported without a location).
    if let (Some((seg, frame)), Format) = (located, f.check) {
        let unlocated_genesis = seq == 0 && f.file.is_none();
        let at_frame = f.file.as_deref() == Some(seg.path.as_path()) && f.offset == Some(frame.offset as u64);
        if !at_frame && !unlocated_genesis {
            return Err(format!("want the frame at offset {}, got: {f}", frame.offset));
        }
    }
    if !(verified_from.min(seq)..=seq).contains(&r.entries) {
        return Err(format!(
            "{} entries verified, want {verified_from} to {seq}: {f}",
            r.entries
        ));
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

/// Every single-bit flip of the segment, header and frames, with nothing recomputed: a
/// checksum catches it (`format`), located at the frame (or the header) and entry concerned,
/// with the entries before it verified.
#[test]
fn every_bit_flip_is_caught_by_a_checksum_and_located() {
    let (disk, _, seg) = sweep_ledger();
    let mut problems = Problems::default();
    for i in 0..seg.bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = seg.bytes.clone();
            b[i] ^= bit;
            let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
            let frame = seg.frame_at(i);
            let seq = frame.map_or(0, |f| f.seq);
            let what = || format!("offset {i} ^ {bit:#04x} (entry {seq})");
            let from = frame.map_or(0, |f| seg.frames[seg.write_of((f.seq) as usize).start].seq);
            problems.check(
                what,
                judge(&r, Want::Fail(&[Format], seq), frame.map(|f| (&seg, f)), from),
            );
        }
    }
    problems.assert_none("bit flips");
}

/// What changing byte `i` (of frame `f`) with every checksum recomputed must give.
/// `tree_files`: whether the stored tree is there (else unsigned entries are caught by the
/// checkpoint).
fn want_with_crcs_fixed(seg: &Segment, f: &Frame, i: usize, bit: u8, tree_files: bool) -> Want {
    let rec = &seg.bytes[f.entry()];
    let fields = record_fields(rec);
    let signed = fields.position.is_some();
    let seq = f.seq;
    let erased = seg.bytes[f.section().start] == 1;
    // A change to what the entry hash covers: the position signature over it fails; without
    // one, the stored tree's leaf (or the checkpoint's root) differs.
    let rehashed: Want = match (seq, signed) {
        (0, _) => Want::Fail(&[Chain], 0),
        (_, true) => Want::Fail(&[Chain], seq),
        (_, false) if tree_files => Want::Fail(&[Tree], seq),
        (_, false) => Want::Fail(&[Checkpoint], SWEEP_LAST),
    };
    // A change to the statement: the entry hash covers it, and so do the co-signatures, which
    // are checked right after the position signature.
    let restated = if !signed && !fields.cosignatures.is_empty() {
        Want::Fail(&[Signature], seq)
    } else {
        rehashed
    };
    let format = Want::Fail(&[Format], seq);
    let write = seg.write_of(seg.frames.iter().position(|x| x == f).expect("frame"));
    let first_of_write = seg.frames[write.start].seq;
    if f.header().contains(&i) {
        return match i - f.offset {
            // Lengths: the frame no longer parses where it is — damage, or (newest segment) a
            // frame running past the end, a torn tail from the last seal before it, which the
            // checkpoint covering everything then catches.
            0 | 1 | 4..=7 => Want::FormatOrTorn {
                seq,
                torn: if (REDACTED + 1..=REDACTION).contains(&first_of_write) {
                    (Redaction, REDACTED)
                } else {
                    (Checkpoint, first_of_write)
                },
                torn_entries: first_of_write,
            },
            // The seal flag and the reserved byte.
            _ => format,
        };
    }
    if f.crc().contains(&i) {
        return format;
    }
    if let Some(seal) = f.seal() {
        if seal.contains(&i) {
            return Want::Pass;
        }
    }
    let r = i - f.entry().start;
    if f.entry().contains(&i) {
        if fields.kind.contains(&r) {
            // An erased payload of a kind that may not be erased is a `redaction` failure.
            return Want::Fail(
                if erased {
                    &[Format, Chain, Redaction]
                } else {
                    &[Format, Chain]
                },
                seq,
            );
        }
        if fields.timestamp.contains(&r) || fields.refs.contains(&r) {
            return restated;
        }
        if fields.content_type.contains(&r) {
            // Still printable ASCII: another statement; else invalid.
            let c = rec[r] ^ bit;
            return if (0x21..=0x7e).contains(&c) { restated } else { format };
        }
        if let Some((id, sig)) = &fields.position {
            if id.contains(&r) {
                // The genesis must be signed by the trusted key: the anchor check comes first.
                return Want::Fail(if seq == 0 { &[Anchor] } else { &[Key] }, seq);
            }
            if sig.contains(&r) {
                return Want::Fail(&[Chain], seq);
            }
        }
        for (id, sig) in &fields.cosignatures {
            if id.contains(&r) {
                return Want::Fail(&[Key], seq);
            }
            // The entry hash covers the co-signatures (docs/FORMAT.md §4.3): the position
            // signature, checked first, fails; without one, the co-signature itself does.
            if sig.contains(&r) {
                return if signed {
                    rehashed
                } else {
                    Want::Fail(&[Signature], seq)
                };
            }
        }
        // ct_len, ref_count, sig_flags, cosig_count: the record no longer parses.
        return format;
    }
    // The payload section.
    let s = i - f.section().start;
    match (s, erased) {
        // The state byte: present ↔ erased (an erased section must be zero after the
        // commitment; a "present" one hashes to another commitment), or undefined.
        (0, false) => format,
        (0, true) if bit == 0x01 => restated,
        (0, true) => format,
        // Salt, or the commitment of an erased payload.
        (1..=32, _) => restated,
        (_, true) => format,
        // The genesis payload is decoded for the trust anchors first.
        // (A changed anchor may no longer hold the operator role: `key`.)
        _ if seq == 0 => Want::Fail(&[Format, Anchor, Key, Chain], 0),
        // A governance payload is decoded before the signatures are checked.
        _ if seg.record(f).kind() != provledger::EntryKind::Application => Want::Fail(&[Format, Chain], seq),
        _ => restated,
    }
}

fn crc_fixed_sweep(tree_files: bool) -> BTreeMap<&'static str, u32> {
    let (disk, snap, seg) = sweep_ledger();
    let disk = if tree_files {
        disk
    } else {
        let d = restore(
            &snap
                .into_iter()
                .filter(|(p, _)| !p.starts_with(sim_dir().join("tree")))
                .collect(),
        );
        let r = verify(&d);
        assert!(r.is_ok() && r.tree_missing_nodes > 0, "{:?}", r.failure);
        d
    };
    let mut problems = Problems::default();
    let mut checks = BTreeMap::new();
    for f in &seg.frames {
        // Unsigned entries are what the tree and checkpoint protect; the rest was swept above.
        if !tree_files && record_fields(&seg.bytes[f.entry()]).position.is_some() {
            continue;
        }
        for i in f.offset..f.end() {
            for bit in [0x01u8, 0x80] {
                if f.header().contains(&i) && i - f.offset >= 8 {
                    continue; // the header checksum itself: recomputing undoes the change
                }
                let mut b = seg.bytes.clone();
                b[i] ^= bit;
                if !f.crc().contains(&i) {
                    fix_frame_crcs(&mut b, f);
                }
                let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
                let want = want_with_crcs_fixed(&seg, f, i, bit, tree_files);
                if let Some(f) = &r.failure {
                    *checks.entry(f.check.name()).or_insert(0u32) += 1;
                }
                let what = || {
                    format!(
                        "entry {} byte {i} (frame at {}) ^ {bit:#04x}, CRCs fixed",
                        f.seq, f.offset
                    )
                };
                let from = seg.frames[seg.write_of(f.seq as usize).start].seq;
                problems.check(what, judge(&r, want, Some((&seg, f)), from));
            }
        }
    }
    problems.assert_none(if tree_files {
        "changes with checksums fixed"
    } else {
        "without tree files"
    });
    println!("checks that fired: {checks:?}");
    checks
}

/// Every byte of every frame changed (two bits each) with the checksums recomputed: caught by
/// the check that protects that byte, at that entry.
#[test]
fn every_byte_changed_with_checksums_fixed_is_caught_by_the_right_check() {
    let checks = crc_fixed_sweep(true);
    for c in [Format, Chain, Signature, Key, Anchor, Tree] {
        assert!(checks.contains_key(c.name()), "no {c} failure in {checks:?}");
    }
}

/// Without tree files (derived data, deleted), a changed unsigned entry is caught by the
/// checkpoint that covers it.
#[test]
fn unsigned_entries_changed_without_tree_files_fail_their_checkpoint() {
    let checks = crc_fixed_sweep(false);
    assert!(checks.contains_key(Checkpoint.name()), "{checks:?}");
}

/// Changing the last seal (CRC fixed) changes nothing a verifier checks; the writer, which can
/// no longer recognise the seal as its own, verifies the whole ledger before extending it.
#[test]
fn a_changed_seal_makes_the_writer_verify_before_it_appends() {
    let (_, snap, seg) = sweep_ledger();
    let last = *seg.frames.last().expect("frame");
    let seal = last.seal().expect("sealed");
    for i in seal.clone().step_by(5).chain([seal.end - 1]) {
        let d = restore(&snap);
        let mut b = seg.bytes.clone();
        b[i] ^= 0x01;
        fix_frame_crcs(&mut b, &last);
        put_file(&d, &seg.path, b);
        assert!(verify(&d).is_ok(), "seal byte {i}");
        let l = Ledger::open(sim_dir(), key(1), sim_opts(&d, Durability::Synced, MIN_SEGMENT))
            .unwrap_or_else(|e| panic!("seal byte {i}: {e}"));
        assert!(l.recovery().verified_on_open, "seal byte {i}");
        assert_eq!(l.len(), SWEEP_LAST + 1);
        l.append(draft(10)).expect("append");
        l.close().expect("close");
        assert!(verify(&d).is_ok(), "seal byte {i}");
    }
}

/// Every bit flip in the index file: `index` at the entry of the slot (the header at the
/// segment's first entry).
#[test]
fn every_bit_flip_in_the_index_is_detected() {
    let (disk, _, seg) = sweep_ledger();
    let idx = file(&disk, &seg.idx_path).expect("index");
    assert_eq!(idx.len(), INDEX_HEADER_LEN + 4 * seg.frames.len());
    let mut problems = Problems::default();
    for i in 0..idx.len() {
        for bit in 0..8 {
            let mut b = idx.clone();
            b[i] ^= 1 << bit;
            let r = verify_with_file(&disk, &seg.idx_path, b, &idx);
            let seq = if i < INDEX_HEADER_LEN {
                0
            } else {
                ((i - INDEX_HEADER_LEN) / 4) as u64
            };
            let what = || format!("index byte {i} bit {bit}");
            problems.check(what, judge(&r, Want::Fail(&[Check::Index], seq), None, seq));
        }
    }
    problems.assert_none("index flips");
}

/// The ledger trusted by its genesis hash, or by a key: a wrong one fails at entry 0.
#[test]
fn trust_anchor_must_match() {
    let (disk, _, _) = sweep_ledger();
    let genesis = common::sim_reader(&disk, &sim_dir())
        .get(0)
        .expect("genesis")
        .entry
        .hash;
    let check = |a: &TrustAnchor| common::sim_verify(&disk, &sim_dir(), a);
    let r = check(&TrustAnchor::GenesisHash(genesis));
    assert!(r.is_ok() && r.entries == SWEEP_LAST + 1, "{:?}", r.failure);
    let mut wrong = genesis.to_bytes();
    wrong[31] ^= 1;
    for a in [
        TrustAnchor::GenesisHash(provledger::Digest::from_bytes(wrong)),
        anchor(&key(3)),
        // An anchor of the genesis, but not the key that signed it.
        anchor(&key(2)),
    ] {
        let r = check(&a);
        assert_eq!(
            (failure(&r).check, failure(&r).seq),
            (Anchor, Some(0)),
            "{a:?}: {}",
            failure(&r)
        );
        assert_eq!(r.entries, 0);
    }
}

/// A whole ledger replaced by another one (another operator key): the files are internally
/// consistent, so only the trust anchor can catch it.
#[test]
fn a_replaced_ledger_fails_the_anchor_not_just_the_chain() {
    let b = tempfile::tempdir().expect("tempdir");
    std_ledger(b.path(), &key(2), 3, MIN_SEGMENT);
    let r = provledger::verify(b.path(), &anchor(&key(1))).expect("verify");
    assert_eq!(
        (failure(&r).check, failure(&r).seq),
        (Anchor, Some(0)),
        "{}",
        failure(&r)
    );
}

/// Frames appended after the last seal without a seal of their own (a copy of the last frame
/// with its seal flag cleared, checksums fixed) are a torn tail: not verified, and cut by the
/// writer. (Cutting the tail back to a seal is indistinguishable from a crash; a checkpoint
/// catches it, below.)
#[test]
fn unsealed_frames_after_the_last_seal_are_a_torn_tail_the_writer_cuts() {
    let (_, snap, seg) = sweep_ledger();
    let last = *seg.frames.last().expect("frame");
    let mut copy = seg.bytes[last.offset..last.seal().expect("sealed").start].to_vec();
    copy.extend_from_slice(&[0; 4]);
    copy[2] = 0; // unsealed
    let f = Frame {
        offset: 0,
        sealed: false,
        ..last
    };
    fix_frame_crcs(&mut copy, &f);
    let d = restore(&snap);
    put_file(&d, &seg.path, [&seg.bytes[..], &copy, &copy].concat());
    let r = verify(&d);
    assert!(r.is_ok(), "{:?}", r.failure);
    let t = r.torn_tail.expect("torn tail");
    assert_eq!(
        (t.offset, t.bytes, t.frames),
        (seg.bytes.len() as u64, 2 * copy.len() as u64, 2)
    );
    assert_eq!(r.entries, SWEEP_LAST + 1);
    let l = Ledger::open(sim_dir(), key(1), sim_opts(&d, Durability::Synced, MIN_SEGMENT)).expect("open");
    assert_eq!(l.recovery().torn_tail.as_ref().map(|t| t.frames), Some(2));
    assert!(!l.recovery().verified_on_open, "its own seal is still the last one");
    drop(l);
    assert_eq!(file(&d, &seg.path), Some(seg.bytes.clone()), "cut back to the seal");
}

/// A sealed frame appended by someone without the key (a copy of the last frame, seal and
/// all) is an entry at the wrong place: `chain` for verify, and the writer, which cannot
/// recognise the copied seal at that size as its own, verifies and refuses to extend it.
#[test]
fn a_copied_sealed_frame_is_caught_and_never_adopted() {
    let (disk, snap, seg) = sweep_ledger();
    let n = seg.frames.len() as u64;
    // Copy a position-signed, sealed frame (the redaction, entry 6) to the end.
    let six = seg.frames[6];
    let copy = seg.bytes[six.offset..six.end()].to_vec();
    let d = restore(&snap);
    put_file(&d, &seg.path, [&seg.bytes[..], &copy].concat());
    let r = verify(&d);
    assert_eq!(
        (failure(&r).check, failure(&r).seq),
        (Chain, Some(n)),
        "{}",
        failure(&r)
    );
    match Ledger::open(sim_dir(), key(1), sim_opts(&d, Durability::Synced, MIN_SEGMENT)) {
        Err(OpenError::Unverified(f)) => assert_eq!((f.check, f.seq), (Chain, Some(n)), "{f}"),
        Err(e) => panic!("want Unverified, got {e}"),
        Ok(_) => panic!("the writer adopted a frame it did not write"),
    }
    drop(disk);
}

/// Cutting the ledger back to a seal (undetectable without a checkpoint, like a crash) is
/// caught by the checkpoint that covers the removed entries.
#[test]
fn cutting_the_last_writes_is_caught_by_the_checkpoint() {
    let (disk, _, seg) = sweep_ledger();
    let cut = seg.frames[REDACTION as usize].end();
    let r = verify_with_file(&disk, &seg.path, seg.bytes[..cut].to_vec(), &seg.bytes);
    let f = failure(&r);
    assert_eq!((f.check, f.seq), (Checkpoint, Some(REDACTION + 1)), "{f}");
    assert!(f.message.contains("checkpoint #0"), "{f}");
    // Cut before the redaction, the erased payload it explained is found first.
    let cut = seg.frames[REDACTED as usize].end();
    let r = verify_with_file(&disk, &seg.path, seg.bytes[..cut].to_vec(), &seg.bytes);
    let f = failure(&r);
    assert_eq!((f.check, f.seq), (Redaction, Some(REDACTED)), "{f}");
}

/// The four-segment ledger of equal large entries for segment-level attacks: 0 genesis, then
/// 1–3, 4–6, 7–9 and 10 in segments of three (each appended on its own, so each sealed).
fn structural_ledger(k: u8) -> (SimBackend, Snapshot, Vec<Segment>) {
    let disk = common::new_disk();
    let l = Ledger::create(
        sim_dir(),
        key(k),
        "structural",
        sim_opts(&disk, Durability::Buffered, MIN_SEGMENT),
    )
    .expect("create");
    for i in 1..=10 {
        l.append(big_draft(i, 330_000)).expect("append");
    }
    l.close().expect("close");
    let segs = sim_layout(&disk, &sim_dir());
    let firsts: Vec<u64> = segs.iter().map(|s| s.first_seq).collect();
    assert_eq!(firsts, [0, 4, 7, 10]);
    let snap = snapshot(&disk);
    (disk, snap, segs)
}

/// Replaces the byte range `range` of segment `seg` with `with`, verifies, restores, and
/// returns the failure (asserting there is one, in that file).
fn attack(disk: &SimBackend, seg: &Segment, range: std::ops::Range<usize>, with: &[u8]) -> Failure {
    let mut b = seg.bytes.clone();
    b.splice(range, with.iter().copied());
    let r = verify_with_file(disk, &seg.path, b, &seg.bytes);
    let f = r.failure.clone().expect("attack detected");
    assert_eq!(f.file.as_deref(), Some(seg.path.as_path()), "{f}");
    f
}

#[test]
fn reordered_removed_duplicated_or_spliced_entries_fail_the_chain() {
    let (disk, _, segs) = structural_ledger(1);
    let seg = &segs[1];
    let (a, b, c) = (seg.frames[0], seg.frames[1], seg.frames[2]);
    assert_eq!(a.len(), b.len(), "equal payloads give equal frames");
    // Two entries swapped.
    let swapped = [&seg.bytes[b.offset..b.end()], &seg.bytes[a.offset..a.end()]].concat();
    let f = attack(&disk, seg, a.offset..b.end(), &swapped);
    assert_eq!(
        (f.seq, f.check, f.offset),
        (Some(a.seq), Chain, Some(a.offset as u64)),
        "{f}"
    );
    // An entry removed from the middle, or the first of a segment.
    for m in [b, a] {
        let f = attack(&disk, seg, m.offset..m.end(), &[]);
        assert_eq!((f.seq, f.check), (Some(m.seq), Chain), "{f}");
    }
    // An entry duplicated.
    let f = attack(&disk, seg, b.end()..b.end(), &seg.bytes[b.offset..b.end()]);
    assert_eq!(
        (f.seq, f.check, f.offset),
        (Some(b.seq + 1), Chain, Some(b.end() as u64)),
        "{f}"
    );
    // The genesis entry copied into the ledger: only entry 0 may be one.
    let g = segs[0].frames[0];
    let f = attack(&disk, seg, b.offset..b.end(), &segs[0].bytes[g.offset..g.end()]);
    assert_eq!((f.seq, f.check), (Some(b.seq), Chain), "{f}");
    // The last entry of a sealed segment removed: the next segment does not continue it.
    let mut cut = seg.bytes.clone();
    cut.truncate(c.offset);
    let r = verify_with_file(&disk, &seg.path, cut, &seg.bytes);
    assert_eq!(
        (failure(&r).seq, failure(&r).check),
        (Some(c.seq), Chain),
        "{}",
        failure(&r)
    );
    // Entries from another ledger of the same operator key (their signatures are valid there).
    let (_, _, other) = structural_ledger(1);
    let theirs = &other[1].bytes[b.offset..b.end()];
    assert_ne!(theirs, &seg.bytes[b.offset..b.end()]);
    let f = attack(&disk, seg, b.offset..b.end(), theirs);
    assert_eq!((f.seq, f.check), (Some(b.seq), Chain), "replaced: {f}");
    let f = attack(&disk, seg, b.offset..b.offset, theirs);
    assert_eq!((f.seq, f.check), (Some(b.seq), Chain), "inserted: {f}");
}

#[test]
fn entry_fields_changed_with_the_checksum_recomputed_fail_the_chain() {
    let (disk, _, segs) = structural_ledger(1);
    let seg = &segs[2];
    let m = seg.frames[1];
    let fields = record_fields(&seg.bytes[m.entry()]);
    let (_, sig) = fields.position.clone().expect("position-signed");
    for at in [
        m.entry().start + fields.timestamp.start,
        m.entry().start + sig.end - 1,
        m.section().start + 5,    // salt
        m.section().end - 1,      // the last payload byte
        m.section().start + 1000, // the middle of the payload
    ] {
        let mut b = seg.bytes.clone();
        b[at] ^= 0x20;
        fix_frame_crcs(&mut b, &m);
        let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
        assert_eq!(
            (failure(&r).seq, failure(&r).check),
            (Some(m.seq), Chain),
            "byte {at}: {}",
            failure(&r)
        );
        assert_eq!(r.entries, m.seq);
    }
}

/// Rewrites a segment's header to start at `first_seq` (CRC fixed).
fn with_first_seq(bytes: &[u8], first_seq: u64) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[32..40].copy_from_slice(&first_seq.to_le_bytes());
    fix_segment_header_crc(&mut b);
    b
}

#[test]
fn removed_reordered_duplicated_or_spliced_segments_fail_the_chain() {
    let (_, snap, segs) = structural_ledger(1);
    let run = |edit: &dyn Fn(&SimBackend)| {
        let d = restore(&snap);
        edit(&d);
        verify(&d)
    };
    // A middle segment removed (with its index).
    let r = run(&|d| {
        common::remove(d, &segs[1].path);
        common::remove(d, &segs[1].idx_path);
    });
    let f = failure(&r);
    assert_eq!((f.seq, f.check), (Some(4), Chain), "{f}");
    assert_eq!(f.file.as_deref(), Some(segs[2].path.as_path()), "{f}");
    assert_eq!(r.entries, 4);
    // Two segments of equal length swapped (headers rewritten to match their names).
    let r = run(&|d| {
        put_file(d, &segs[1].path, with_first_seq(&segs[2].bytes, 4));
        put_file(d, &segs[2].path, with_first_seq(&segs[1].bytes, 7));
    });
    assert_eq!(
        (failure(&r).seq, failure(&r).check),
        (Some(4), Chain),
        "{}",
        failure(&r)
    );
    // A segment duplicated as a new newest segment.
    let r = run(&|d| {
        let name = sim_dir().join("segments").join(format!("{:020}.seg", 11));
        put_file(d, &name, with_first_seq(&segs[1].bytes, 11));
    });
    assert_eq!(
        (failure(&r).seq, failure(&r).check),
        (Some(11), Chain),
        "{}",
        failure(&r)
    );
    // The same segment of another ledger of the same key: another ledger id (damage), and with
    // the id rewritten, entries that are not this ledger's.
    let (_, _, other) = structural_ledger(1);
    let r = run(&|d| put_file(d, &segs[1].path, other[1].bytes.clone()));
    assert_eq!(
        (failure(&r).seq, failure(&r).check),
        (Some(4), Format),
        "{}",
        failure(&r)
    );
    let r = run(&|d| {
        let mut b = other[1].bytes.clone();
        b[16..32].copy_from_slice(&segs[1].bytes[16..32]);
        fix_segment_header_crc(&mut b);
        put_file(d, &segs[1].path, b);
    });
    assert_eq!(
        (failure(&r).seq, failure(&r).check),
        (Some(4), Chain),
        "{}",
        failure(&r)
    );
}

/// Every byte of every segment header changed with its CRC fixed: `format` at the segment's
/// first entry (its magic, version, reserved bytes, its first sequence number, a ledger id
/// unlike the first segment's); the first segment's ledger id makes the checkpoint log and
/// every entry foreign (the log is checked first, naming no entry).
#[test]
fn segment_headers_changed_with_the_checksum_fixed_are_detected() {
    let (disk, _, segs) = structural_ledger(1);
    let mut problems = Problems::default();
    for seg in &segs {
        for i in 0..SEGMENT_HEADER_LEN - 4 {
            let mut b = seg.bytes.clone();
            b[i] ^= 0x01;
            fix_segment_header_crc(&mut b);
            let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
            let what = || format!("{} header byte {i}", seg.path.display());
            let res = match &r.failure {
                None => Err("verifies".to_string()),
                Some(f) if seg.first_seq == 0 && (16..32).contains(&i) => (f.check == Checkpoint && f.seq.is_none())
                    .then_some(())
                    .ok_or(format!("{f}")),
                Some(f) => (f.check == Format && f.seq == Some(seg.first_seq) && f.offset == Some(0))
                    .then_some(())
                    .ok_or(format!("{f}")),
            };
            problems.check(what, res);
        }
    }
    problems.assert_none("segment headers");
}

/// Bytes appended after the last frame of a segment: garbage anywhere, or zeros in a sealed
/// segment, is damage at the entry that would come next; zeros at the end of the newest segment
/// are a torn tail.
#[test]
fn bytes_appended_to_a_segment_are_detected() {
    let (disk, _, segs) = structural_ledger(1);
    let newest = segs.last().expect("segment");
    for (seg, fill, want_failure) in [
        (&segs[0], 0xA5u8, true),
        (&segs[1], 0, true),
        (newest, 0xA5, true),
        (newest, 0, false),
    ] {
        let mut b = seg.bytes.clone();
        b.extend_from_slice(&[fill; 40]);
        let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
        let what = format!("{} + 40 × {fill:#04x}", seg.path.display());
        if want_failure {
            let f = failure(&r);
            let next = seg.first_seq + seg.frames.len() as u64;
            assert_eq!((f.seq, f.check), (Some(next), Format), "{what}: {f}");
            assert_eq!(f.offset, Some(seg.bytes.len() as u64), "{what}: {f}");
        } else {
            // Zeros after the last seal of the newest segment: reserved space (FORMAT §8 T1b).
            assert!(r.is_ok(), "{what}: {}", failure(&r));
            assert_eq!(r.torn_tail, None, "{what}: zeros after the last seal are a clean end");
            assert_eq!(r.entries, newest.first_seq + newest.frames.len() as u64, "{what}");
        }
    }
}

/// The index of a sealed segment must hold exactly one slot per frame.
#[test]
fn a_sealed_index_truncated_extended_or_missing_is_detected() {
    let (disk, _, segs) = structural_ledger(1);
    let sealed = &segs[1];
    let idx = file(&disk, &sealed.idx_path).expect("index");
    let short = idx[..idx.len() - 4].to_vec();
    let r = verify_with_file(&disk, &sealed.idx_path, short, &idx);
    assert_eq!(failure(&r).check, Check::Index, "{}", failure(&r));
    let long = [&idx[..], &idx[idx.len() - 4..]].concat();
    let r = verify_with_file(&disk, &sealed.idx_path, long, &idx);
    assert_eq!(failure(&r).check, Check::Index, "{}", failure(&r));
    common::remove(&disk, &sealed.idx_path);
    let r = verify(&disk);
    assert_eq!(
        (failure(&r).check, failure(&r).seq),
        (Check::Index, Some(sealed.first_seq))
    );
}

/// An erased payload needs a redaction: erasing one in place (as the writer would, CRC fixed)
/// without one is a `redaction` failure at the erased entry.
#[test]
fn an_erasure_without_a_redaction_is_detected() {
    let (disk, _, seg) = sweep_ledger();
    let f = seg.frames[3];
    let mut b = seg.bytes.clone();
    let commitment = {
        let s = &seg.bytes[f.section()];
        provledger::entry::commit_payload(s[1..33].try_into().expect("salt"), &s[33..])
    };
    b[f.section().start] = 1;
    b[f.section().start + 1..f.section().start + 33].copy_from_slice(commitment.as_bytes());
    b[f.payload()].fill(0);
    fix_frame_crcs(&mut b, &f);
    let r = verify_with_file(&disk, &seg.path, b, &seg.bytes);
    assert_eq!(
        (failure(&r).check, failure(&r).seq),
        (Redaction, Some(3)),
        "{}",
        failure(&r)
    );
}
