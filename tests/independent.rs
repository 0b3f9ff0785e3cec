//! The library's verifier (`provledger::verify_opts`) and an independent one written from
//! docs/FORMAT.md alone (`vectors_support/independent.rs`) must give the same verdict on every
//! ledger: the same pass or fail, the same failing check and sequence number, and the same
//! counts on success. Ledgers are written with the public API; tampered copies are made at
//! the byte level (every byte of every file of a small ledger, with and without re-fixed CRCs)
//! and by cutting, extending and re-sealing the newest segment.
//!
//! `PROVLEDGER_INDEPENDENT_FULL=1` sweeps every byte with several masks; the default run
//! samples (it still flips every byte of the small ledger once).

#[path = "vectors_support/independent.rs"]
mod independent;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use independent::{Anchor, Opts, Verdict};
use provledger::record::{
    Approval, Autonomy, DecisionBoundary, Environment, ImpactFlags, KeyEnrollment, KeyRevocation, Proposal, Record,
    Redaction, Review, Verdict as ReviewVerdict,
};
use provledger::storage::StdBackend;
use provledger::{
    Checkpoint, Digest, Draft, KeyId, Ledger, LedgerId, LedgerReader, Options, PrincipalType, Role, SigningKey,
    Timestamp, TrustAnchor, VerifyOptions, VerifyingKey,
};

// ---------------------------------------------------------------------------------------------
// The two verifiers side by side

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

fn to_lib(c: &independent::Checkpoint) -> Checkpoint {
    Checkpoint {
        ledger_id: LedgerId(c.ledger_id),
        tree_size: c.tree_size,
        root: Digest::from_bytes(c.root),
        timestamp: Timestamp(c.timestamp),
        key_id: KeyId(Digest::from_bytes(c.key_id)),
        signature: c.signature,
    }
}

fn from_lib(c: &Checkpoint) -> independent::Checkpoint {
    independent::Checkpoint {
        ledger_id: c.ledger_id.0,
        tree_size: c.tree_size,
        root: c.root.to_bytes(),
        timestamp: c.timestamp.0,
        key_id: c.key_id.0.to_bytes(),
        signature: c.signature,
    }
}

/// The library's verdict, in the independent verifier's terms.
fn library(dir: &Path, anchor: &Anchor, opts: &Opts) -> Verdict {
    let anchor = match anchor {
        Anchor::PublicKey(k) => TrustAnchor::PublicKey(VerifyingKey::from_bytes(k).expect("test anchors are valid")),
        Anchor::GenesisHash(h) => TrustAnchor::GenesisHash(Digest::from_bytes(*h)),
    };
    let vo = VerifyOptions {
        allow_uncovered_tail: opts.allow_uncovered_tail,
        from_checkpoint: opts.from_checkpoint.as_ref().map(to_lib),
        policy: false,
    };
    let report = match provledger::verify_opts(&StdBackend, dir, &anchor, &vo) {
        Ok(r) => r,
        Err(e) => return Verdict::NotALedger(e.to_string()),
    };
    if let Some(f) = &report.failure {
        return Verdict::Failed {
            check: f.check.name(),
            seq: f.seq,
            why: f.to_string(),
        };
    }
    Verdict::Ok {
        entries: report.entries,
        head: report.head.to_bytes(),
        root: report.root.to_bytes(),
        redacted: report.redacted.clone(),
        redaction_pending: report.redaction_pending.clone(),
        unsigned_covered: report.unsigned_covered,
        uncovered_tail: report.uncovered_tail,
        torn: report.torn_tail.as_ref().map(|t| independent::Torn {
            file: t.file.clone(),
            offset: t.offset,
            bytes: t.bytes,
            frames: t.frames,
        }),
        checkpoints_verified: report.checkpoints_verified,
        tree_missing: report.tree_missing_nodes,
    }
}

/// Whether two verdicts agree: same variant; same check and seq on failure; every count on
/// success.
fn same(a: &Verdict, b: &Verdict) -> bool {
    match (a, b) {
        (Verdict::Failed { check: c1, seq: s1, .. }, Verdict::Failed { check: c2, seq: s2, .. }) => {
            c1 == c2 && s1 == s2
        }
        (Verdict::NotALedger(_), Verdict::NotALedger(_)) => true,
        (Verdict::Ok { .. }, Verdict::Ok { .. }) => a == b,
        _ => false,
    }
}

/// Runs both verifiers; panics on disagreement; returns the (common) verdict.
#[track_caller]
fn agree(dir: &Path, anchor: &Anchor, opts: &Opts) -> Verdict {
    let lib = library(dir, anchor, opts);
    let ind = independent::verify_dir(dir, anchor.clone(), opts.clone());
    assert!(
        same(&lib, &ind),
        "verdicts differ\n library:     {lib:?}\n independent: {ind:?}"
    );
    ind
}

#[track_caller]
fn assert_ok(v: &Verdict, entries: u64) {
    match v {
        Verdict::Ok { entries: e, .. } => assert_eq!(*e, entries, "{v:?}"),
        _ => panic!("expected a passing ledger of {entries} entries, got {v:?}"),
    }
}

#[track_caller]
fn assert_failed(v: &Verdict, check: &str, seq: Option<u64>) {
    match v {
        Verdict::Failed { check: c, seq: s, .. } => assert_eq!((*c, *s), (check, seq), "{v:?}"),
        _ => panic!("expected {check} at {seq:?}, got {v:?}"),
    }
}

fn opts() -> Opts {
    Opts::default()
}

// ---------------------------------------------------------------------------------------------
// Files

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn seg_path(dir: &Path, first: u64) -> PathBuf {
    dir.join("segments").join(format!("{first:020}.seg"))
}

fn newest_segment(dir: &Path) -> PathBuf {
    files(dir)
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .expect("a segment")
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for (p, b) in files(from) {
        let q = to.path().join(p.strip_prefix(from).unwrap());
        std::fs::create_dir_all(q.parent().unwrap()).unwrap();
        std::fs::write(q, b).unwrap();
    }
    to
}

/// The frames of a segment file, as the independent scanner finds them.
fn frames_of(seg: &[u8], newest: bool) -> Vec<independent::FrameRef> {
    independent::scan_segment(seg, newest).0
}

fn fix_frame_crcs(seg: &mut [u8], f: &independent::FrameRef) {
    let o = f.offset;
    let hc = crc32c::crc32c(&seg[o..o + 8]);
    seg[o + 8..o + 12].copy_from_slice(&hc.to_le_bytes());
    let fc = crc32c::crc32c(&seg[f.crc_range()]);
    let end = f.end();
    seg[end - 4..end].copy_from_slice(&fc.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// Ledgers

fn enrollment(k: &SigningKey, roles: Vec<Role>) -> Record {
    Record::KeyEnrollment(KeyEnrollment {
        public_key: pk(k),
        principal_id: format!("person-{}", &k.verifying_key().to_hex()[..8]),
        display_name: String::new(),
        principal_type: PrincipalType::Person,
        roles,
        environments: vec![Environment::Production],
    })
}

fn revocation(k: &SigningKey) -> Record {
    Record::KeyRevocation(KeyRevocation {
        key_id: k.key_id().0,
        reason: "left".into(),
    })
}

fn review(subject: Digest) -> Record {
    Record::Review(Review {
        subject,
        verdict: ReviewVerdict::Endorse,
        digests: vec![],
        comment: "fine".into(),
    })
}

fn proposal() -> Record {
    Record::Proposal(Proposal {
        action: "raise limit".into(),
        boundary: DecisionBoundary::HumanApprovalRequired,
        autonomy: Autonomy::Assistance,
        environment: Environment::Production,
        impact: ImpactFlags {
            customer_impacting: true,
            ..ImpactFlags::default()
        },
        evidence: vec![],
        rationale: "r".into(),
        ai_outputs: vec![],
    })
}

fn approval(p: Digest) -> Record {
    Record::Approval(Approval {
        proposal: p,
        scope: "limit 8000".into(),
        expires_at: None,
    })
}

fn rec(r: &Record) -> Draft {
    Draft::record(r).expect("record fits")
}

fn app(payload: &[u8]) -> Draft {
    Draft::application("text/plain", payload.to_vec()).with_timestamp(Timestamp(1_767_225_600_000_000_000))
}

/// The small ledger of the sweep (13 entries): signed, unsigned (covered), co-signed
/// governance entries (two enrollments; a review, a proposal and an approval co-signed by the
/// enrolled keys; a revocation), an erased payload with its redaction, two checkpoints.
fn rich_ledger(dir: &Path) -> SigningKey {
    let a = key(1);
    let r = key(2);
    let q = key(3);
    let l = Ledger::create(dir, a.clone(), "sweep", Options::default()).unwrap();
    let e1 = l.append(app(b"hello")).unwrap();
    l.append(rec(&enrollment(&r, vec![Role::Reviewer, Role::Approver])))
        .unwrap();
    l.append(app(b"unsigned").without_position_signature()).unwrap();
    l.append(rec(&review(e1.entry_hash)).cosigned_by(r.clone())).unwrap();
    let pii = l.append(app(b"jane@example.com")).unwrap();
    l.checkpoint().unwrap();
    l.append(rec(&enrollment(&q, vec![Role::Requester]))).unwrap();
    let p = l.append(rec(&proposal()).cosigned_by(q.clone())).unwrap();
    l.append(rec(&approval(p.entry_hash)).cosigned_by(r.clone())).unwrap();
    l.redact(pii.seq.0, "GDPR art. 17", []).unwrap();
    l.append(rec(&revocation(&r))).unwrap();
    l.append(app(b"later, unsigned").without_position_signature()).unwrap();
    l.checkpoint().unwrap();
    l.append(app(b"last")).unwrap();
    l.close().unwrap();
    a
}

// ---------------------------------------------------------------------------------------------
// Ledgers that pass (and what happens to them under simple changes)

#[test]
fn signed_ledger() {
    let d = tempfile::tempdir().unwrap();
    let k = key(1);
    let l = Ledger::create(d.path(), k.clone(), "t", Options::default()).unwrap();
    for i in 0..20u8 {
        l.append(app(&[i; 40])).unwrap();
    }
    let batch: Vec<Draft> = (0..30u8).map(|i| app(&[i; 3])).collect();
    l.append_batch(batch).unwrap();
    // Not `l.head()`: right after `append_batch` returns, `Ledger::head()` and `len()` may
    // still give the state before the batch (seen in about one run in four).
    let head = l.append(app(b"last")).unwrap().chain;
    l.close().unwrap();
    let v = agree(d.path(), &Anchor::PublicKey(pk(&k)), &opts());
    assert_ok(&v, 52);
    let Verdict::Ok { head: h, .. } = v else { unreachable!() };
    assert_eq!(h, head.to_bytes());
    // The genesis hash anchor, and anchors that do not match.
    let reader = LedgerReader::open(d.path()).unwrap();
    let g = reader.get(0).unwrap().entry.hash.to_bytes();
    assert_ok(&agree(d.path(), &Anchor::GenesisHash(g), &opts()), 52);
    assert_failed(
        &agree(d.path(), &Anchor::GenesisHash([7; 32]), &opts()),
        "trust_anchor",
        Some(0),
    );
    assert_failed(
        &agree(d.path(), &Anchor::PublicKey(pk(&key(9))), &opts()),
        "trust_anchor",
        Some(0),
    );
}

#[test]
fn unsigned_entries_and_checkpoints() {
    let d = tempfile::tempdir().unwrap();
    let k = key(3);
    let anchor = Anchor::PublicKey(pk(&k));
    let l = Ledger::create(d.path(), k.clone(), "t", Options::default()).unwrap();
    let unsigned = |n: u8| {
        (0..n)
            .map(|i| app(&[i; 8]).without_position_signature())
            .collect::<Vec<_>>()
    };
    l.append_batch(unsigned(10)).unwrap();
    l.sync().unwrap();
    // No checkpoint yet: the first unsigned entry fails, unless the tail is allowed.
    assert_failed(&agree(d.path(), &anchor, &opts()), "signature", Some(1));
    let allow = Opts {
        allow_uncovered_tail: true,
        ..opts()
    };
    let v = agree(d.path(), &anchor, &allow);
    assert!(
        matches!(
            v,
            Verdict::Ok {
                uncovered_tail: 10,
                entries: 11,
                ..
            }
        ),
        "{v:?}"
    );
    let cp = l.checkpoint().unwrap();
    let v = agree(d.path(), &anchor, &opts());
    assert!(
        matches!(
            v,
            Verdict::Ok {
                unsigned_covered: 10,
                checkpoints_verified: 1,
                ..
            }
        ),
        "{v:?}"
    );
    // Mixed: signed, unsigned, checkpoint, unsigned tail.
    l.append(app(b"signed")).unwrap();
    l.append_batch(unsigned(3)).unwrap();
    l.checkpoint().unwrap();
    l.append_batch(unsigned(2)).unwrap();
    l.close().unwrap();
    assert_failed(&agree(d.path(), &anchor, &opts()), "signature", Some(15));
    let v = agree(d.path(), &anchor, &allow);
    assert!(
        matches!(
            v,
            Verdict::Ok {
                unsigned_covered: 13,
                uncovered_tail: 2,
                checkpoints_verified: 2,
                ..
            }
        ),
        "{v:?}"
    );
    // Incremental from the first checkpoint.
    let from = Opts {
        allow_uncovered_tail: true,
        from_checkpoint: Some(from_lib(&cp)),
    };
    let v = agree(d.path(), &anchor, &from);
    assert_ok(&v, 17);
}

#[test]
fn governance_entries_enroll_cosign_revoke() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let v = agree(d.path(), &Anchor::PublicKey(pk(&a)), &opts());
    assert_ok(&v, 13);
    let Verdict::Ok {
        redacted,
        unsigned_covered,
        checkpoints_verified,
        ..
    } = &v
    else {
        unreachable!()
    };
    assert_eq!(
        (redacted.as_slice(), *unsigned_covered, *checkpoints_verified),
        (&[5][..], 2, 2)
    );
}

/// Governance entries the writer would refuse (built with `check_signers(false)`): both
/// verifiers reject them with the same check at the same entry.
#[test]
fn governance_failures() {
    let a = key(1);
    let r = key(2);
    let stranger = key(3);
    let anchor = Anchor::PublicKey(pk(&a));
    let loose = || Options::default().check_signers(false);
    type Build = Box<dyn Fn(&Ledger)>;
    let cases: Vec<(&str, Build, &str, u64)> = vec![
        (
            "review co-signed by a key never enrolled",
            Box::new(move |l: &Ledger| {
                l.append(rec(&review(Digest::from_bytes([1; 32]))).cosigned_by(stranger.clone()))
                    .unwrap();
            }),
            "key",
            1,
        ),
        (
            "approval co-signed by a revoked approver",
            Box::new({
                let r = r.clone();
                move |l: &Ledger| {
                    l.append(rec(&enrollment(&r, vec![Role::Approver]))).unwrap();
                    l.append(rec(&revocation(&r))).unwrap();
                    l.append(rec(&approval(Digest::from_bytes([1; 32]))).cosigned_by(r.clone()))
                        .unwrap();
                }
            }),
            "key",
            3,
        ),
        (
            "approval without an approver's signature",
            Box::new(|l: &Ledger| {
                l.append(rec(&approval(Digest::from_bytes([1; 32])))).unwrap();
            }),
            "key",
            1,
        ),
        (
            "proposal without a requester's signature",
            Box::new(|l: &Ledger| {
                l.append(rec(&proposal())).unwrap();
            }),
            "key",
            1,
        ),
        (
            "the revoked key signs its own revocation, then a review",
            Box::new({
                let r = r.clone();
                move |l: &Ledger| {
                    l.append(rec(&enrollment(&r, vec![Role::Reviewer, Role::Admin])))
                        .unwrap();
                    l.append(rec(&revocation(&r)).cosigned_by(r.clone())).unwrap();
                    l.append(rec(&review(Digest::from_bytes([1; 32]))).cosigned_by(r.clone()))
                        .unwrap();
                }
            }),
            "key",
            3,
        ),
        (
            "a key enrolled twice",
            Box::new({
                let r = r.clone();
                move |l: &Ledger| {
                    l.append(rec(&enrollment(&r, vec![Role::Approver]))).unwrap();
                    l.append(rec(&enrollment(&r, vec![Role::Reviewer]))).unwrap();
                }
            }),
            "key",
            2,
        ),
        (
            "revocation of a key not enrolled",
            Box::new({
                let r = r.clone();
                move |l: &Ledger| {
                    l.append(rec(&revocation(&r))).unwrap();
                }
            }),
            "key",
            1,
        ),
        (
            "redaction naming a later entry",
            Box::new(|l: &Ledger| {
                l.append(rec(&Record::Redaction(Redaction {
                    target_seq: 5,
                    target: Digest::from_bytes([0; 32]),
                    reason: "x".into(),
                })))
                .unwrap();
            }),
            "redaction",
            1,
        ),
        (
            "redaction naming an entry by the wrong hash",
            Box::new(|l: &Ledger| {
                l.append(app(b"a")).unwrap();
                l.append(rec(&Record::Redaction(Redaction {
                    target_seq: 1,
                    target: Digest::from_bytes([9; 32]),
                    reason: "x".into(),
                })))
                .unwrap();
            }),
            "redaction",
            2,
        ),
    ];
    for (what, build, check, seq) in cases {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::create(d.path(), a.clone(), "t", loose()).unwrap();
        build(&l);
        l.close().unwrap();
        let v = agree(d.path(), &anchor, &opts());
        assert!(
            matches!(&v, Verdict::Failed { check: c, seq: Some(s), .. } if *c == check && *s == seq),
            "{what}: {v:?}"
        );
    }
}

#[test]
fn erasure_and_pending_redaction() {
    let d = tempfile::tempdir().unwrap();
    let a = key(4);
    let anchor = Anchor::PublicKey(pk(&a));
    let l = Ledger::create(d.path(), a.clone(), "t", Options::default()).unwrap();
    let x = l.append(app(b"jane@example.com")).unwrap();
    let y = l.append(app(b"john@example.com")).unwrap();
    l.close().unwrap();
    let seg = seg_path(d.path(), 0);
    let before = std::fs::read(&seg).unwrap();

    let l = Ledger::open(d.path(), a.clone(), Options::default()).unwrap();
    let red = l.redact(x.seq.0, "request 88", []).unwrap();
    l.close().unwrap();
    let v = agree(d.path(), &anchor, &opts());
    assert!(
        matches!(&v, Verdict::Ok { redacted, redaction_pending, .. } if redacted == &[1] && redaction_pending.is_empty()),
        "{v:?}"
    );

    // A crash between appending the redaction entry and erasing (§7.6 step 2 → 3): the
    // target's original frame is back in place.
    let mut after = std::fs::read(&seg).unwrap();
    after[..before.len()].copy_from_slice(&before);
    std::fs::write(&seg, &after).unwrap();
    let v = agree(d.path(), &anchor, &opts());
    let Verdict::Ok {
        redacted,
        redaction_pending,
        ..
    } = &v
    else {
        panic!("{v:?}")
    };
    assert!(redacted.is_empty(), "{v:?}");
    assert_eq!(redaction_pending.len(), 1, "{v:?}");
    assert!([x.seq.0, red.seq.0].contains(&redaction_pending[0]));

    // An erasure without a redaction: the section of `y` is erased by hand.
    let frames = frames_of(&after, true);
    let f = frames[y.seq.0 as usize];
    let c = {
        let s = f.section(&after);
        independent::payload_commitment(&s[1..33].try_into().unwrap(), &s[33..])
    };
    let s0 = f.offset + 12 + f.entry_len;
    after[s0] = 1;
    after[s0 + 1..s0 + 33].copy_from_slice(&c);
    after[s0 + 33..s0 + f.section_len].fill(0);
    fix_frame_crcs(&mut after, &f);
    std::fs::write(&seg, &after).unwrap();
    assert_failed(&agree(d.path(), &anchor, &opts()), "redaction", Some(y.seq.0));
}

#[test]
fn multiple_segments() {
    let d = tempfile::tempdir().unwrap();
    let k = key(5);
    let anchor = Anchor::PublicKey(pk(&k));
    let l = Ledger::create(d.path(), k.clone(), "t", Options::default().segment_size(1 << 20)).unwrap();
    for i in 0..25u8 {
        l.append(app(&vec![i; 100_000])).unwrap();
        if i == 12 {
            l.checkpoint().unwrap();
        }
    }
    l.append(app(b"x").without_position_signature()).unwrap();
    l.checkpoint().unwrap();
    l.close().unwrap();
    let segs: Vec<_> = files(d.path())
        .into_keys()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert!(segs.len() >= 3, "{segs:?}");
    assert_ok(&agree(d.path(), &anchor, &opts()), 27);

    // A sampled sweep (each tamper re-hashes 2.5 MiB twice): every 3rd byte of the segment and
    // index headers, of the first frame header and of the last frame's seal and CRC of each
    // segment; every 16th byte of the tree files and checkpoint log; every 100 003rd byte of
    // the payloads. `PROVLEDGER_INDEPENDENT_FULL=1`: every 16th byte of everything.
    let (n, bad) = sweep(d.path(), &anchor, &opts(), |p, i, len| {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let pick = if full_sweep() {
            i % 16 == 0
        } else {
            match ext {
                "seg" => (i < 76 && i % 3 == 0) || (i + 120 >= len && i % 3 == 0) || i % 100_003 == 0,
                "idx" => i < 48 && i % 3 == 0,
                _ => i % 16 == 0,
            }
        };
        if pick {
            vec![(if i % 2 == 0 { 0xff } else { 0x01 }, false), (0x01, true)]
        } else {
            vec![]
        }
    });
    eprintln!("multiple_segments sweep: {n} tampers, {} disagreements", bad.len());
    assert!(bad.is_empty(), "{bad:#?}");

    // A segment renamed (its name no longer its first_seq), then a middle segment missing
    // (the next one does not continue the one before).
    let c = copy_dir(d.path());
    let moved = |p: &Path| c.path().join(p.strip_prefix(d.path()).unwrap());
    std::fs::rename(
        moved(&segs[2]),
        c.path().join("segments").join(format!("{:020}.seg", 1_000_000)),
    )
    .unwrap();
    let v = agree(c.path(), &anchor, &opts());
    assert!(matches!(v, Verdict::Failed { check: "format", .. }), "{v:?}");
    std::fs::remove_file(&segs[1]).unwrap();
    std::fs::remove_file(segs[1].with_extension("idx")).unwrap();
    let v = agree(d.path(), &anchor, &opts());
    assert!(matches!(v, Verdict::Failed { check: "chain", .. }), "{v:?}");
}

// ---------------------------------------------------------------------------------------------
// Torn tails (§8)

#[test]
fn torn_tails() {
    let d = tempfile::tempdir().unwrap();
    let k = key(6);
    let anchor = Anchor::PublicKey(pk(&k));
    let l = Ledger::create(d.path(), k.clone(), "t", Options::default()).unwrap();
    l.append(app(b"one")).unwrap();
    l.append_batch((0..3u8).map(|i| app(&[i; 20])).collect()).unwrap();
    l.close().unwrap();
    let seg = seg_path(d.path(), 0);
    let orig = std::fs::read(&seg).unwrap();
    let frames = frames_of(&orig, true);
    assert_eq!(frames.len(), 5);
    let last_write_start = frames[2].offset;
    let mut n = 0;
    let mut check = |bytes: &[u8], what: &str| {
        std::fs::write(&seg, bytes).unwrap();
        let lib = library(d.path(), &anchor, &opts());
        let ind = independent::verify_dir(d.path(), anchor.clone(), opts());
        assert!(same(&lib, &ind), "{what}\n library:     {lib:?}\n independent: {ind:?}");
        n += 1;
        ind
    };
    // Cut at every byte of the last write (three frames, sealed last): a torn tail, the
    // earlier entries verified.
    for cut in last_write_start..orig.len() {
        let v = check(&orig[..cut], &format!("cut at {cut}"));
        assert!(
            matches!(
                &v,
                Verdict::Ok {
                    entries: 2,
                    torn: Some(_),
                    ..
                }
            ) || cut == last_write_start,
            "cut {cut}: {v:?}"
        );
    }
    // Cut inside the header and the first frames.
    for cut in (0..last_write_start).step_by(7) {
        check(&orig[..cut], &format!("cut at {cut}"));
    }
    // Zeros appended (a preallocated tail), and zeros over the last frame.
    for z in [1, 11, 12, 13, 100, 4096] {
        let mut b = orig.clone();
        b.extend(std::iter::repeat_n(0, z));
        let v = check(&b, &format!("{z} zeros appended"));
        assert!(
            matches!(
                &v,
                Verdict::Ok {
                    entries: 5,
                    torn: Some(_),
                    ..
                }
            ),
            "{v:?}"
        );
    }
    let mut b = orig.clone();
    b[frames[4].offset..].fill(0);
    check(&b, "last frame zeroed");
    // The final frame_crc zeroed (T7) and non-zero wrong (T8).
    let mut b = orig.clone();
    let end = b.len();
    b[end - 4..].fill(0);
    check(&b, "final frame_crc zero");
    b[end - 1] = 1;
    assert!(matches!(
        check(&b, "final frame_crc wrong"),
        Verdict::Failed { check: "format", .. }
    ));
    // Garbage appended.
    let mut b = orig.clone();
    b.extend_from_slice(b"garbage after the last frame");
    check(&b, "garbage appended");
    // The seal of the last frame removed, flag cleared, both CRCs fixed: the last write is
    // a torn tail (indistinguishable from a crash, §8).
    let f = frames[4];
    assert!(f.sealed);
    let mut b = orig[..f.end() - 4 - 112].to_vec();
    b.extend_from_slice(&[0; 4]);
    b[f.offset + 2] = 0;
    let unsealed = independent::FrameRef { sealed: false, ..f };
    fix_frame_crcs(&mut b, &unsealed);
    let v = check(&b, "seal removed");
    assert!(
        matches!(&v, Verdict::Ok { entries: 2, torn: Some(t), .. } if t.frames == 3),
        "{v:?}"
    );
    // Flag cleared with only the header CRC fixed: the frame no longer checks (damage).
    let mut b = orig.clone();
    b[f.offset + 2] = 0;
    let hc = crc32c::crc32c(&b[f.offset..f.offset + 8]);
    b[f.offset + 8..f.offset + 12].copy_from_slice(&hc.to_le_bytes());
    check(&b, "seal flag cleared, header CRC fixed");
    // A sealed middle frame unsealed (CRCs fixed): the frames after it still end in a seal.
    let g = frames[1];
    let mut b = orig[..g.end() - 116].to_vec();
    b.extend_from_slice(&[0; 4]);
    b[g.offset + 2] = 0;
    fix_frame_crcs(&mut b, &independent::FrameRef { sealed: false, ..g });
    b.extend_from_slice(&orig[g.end()..]);
    check(&b, "middle seal removed");
    // A sparse tail beyond MAX_TORN: damage.
    let mut b = orig.clone();
    b.resize(orig.len() + independent::MAX_TORN as usize + 1, 0);
    let v = check(&b, "MAX_TORN + 1 zeros");
    assert!(matches!(v, Verdict::Failed { check: "format", .. }), "{v:?}");
    let mut b = orig.clone();
    b.resize(orig.len() + independent::MAX_TORN as usize, 0);
    check(&b, "MAX_TORN zeros");
    std::fs::write(&seg, &orig).unwrap();
    eprintln!("torn_tails: {n} cases agree");
}

// ---------------------------------------------------------------------------------------------
// Incremental verification (§9 step 3)

#[test]
fn incremental_from_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let anchor = Anchor::PublicKey(pk(&a));
    let reader = LedgerReader::open(d.path()).unwrap();
    let cps = reader.checkpoints().unwrap();
    assert_eq!(cps.len(), 2);
    for cp in &cps {
        let t = from_lib(cp);
        let v = agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(t.clone()),
                ..opts()
            },
        );
        assert_ok(&v, 13);
        // Forged or foreign trusted checkpoints.
        let mut bad = t.clone();
        bad.root[0] ^= 1;
        let v = agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(bad),
                ..opts()
            },
        );
        assert!(
            matches!(
                v,
                Verdict::Failed {
                    check: "checkpoint",
                    ..
                }
            ),
            "{v:?}"
        );
        let mut bad = t.clone();
        bad.signature[5] ^= 1;
        let v = agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(bad),
                ..opts()
            },
        );
        assert!(
            matches!(
                v,
                Verdict::Failed {
                    check: "checkpoint",
                    ..
                }
            ),
            "{v:?}"
        );
        let mut bad = t.clone();
        bad.ledger_id[0] ^= 1;
        let v = agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(bad),
                ..opts()
            },
        );
        assert!(
            matches!(
                v,
                Verdict::Failed {
                    check: "checkpoint",
                    ..
                }
            ),
            "{v:?}"
        );
        let mut bad = t.clone();
        bad.tree_size = 100;
        let v = agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(bad),
                ..opts()
            },
        );
        assert!(
            matches!(
                v,
                Verdict::Failed {
                    check: "checkpoint",
                    ..
                }
            ),
            "{v:?}"
        );
        let mut bad = t.clone();
        bad.tree_size = 0;
        agree(
            d.path(),
            &anchor,
            &Opts {
                from_checkpoint: Some(bad),
                ..opts()
            },
        );
    }
    // A checkpoint the auditor holds, signed by the operator over another (forked) state.
    let t = from_lib(&cps[0]);
    let forged = Checkpoint::sign(
        LedgerId(t.ledger_id),
        t.tree_size,
        Digest::from_bytes([3; 32]),
        Timestamp(1),
        &a,
    );
    let v = agree(
        d.path(),
        &anchor,
        &Opts {
            from_checkpoint: Some(from_lib(&forged)),
            ..opts()
        },
    );
    assert_failed(&v, "checkpoint", Some(t.tree_size - 1));
    // The signatures below T are not checked: a broken position signature (whose value the
    // entry hash does not cover, §4.3) fails a full verification and passes an incremental
    // one from a checkpoint above it. A broken co-signature changes the entry hash, so it
    // fails both (tampered copies with their CRCs fixed).
    let seg = seg_path(d.path(), 0);
    let orig = std::fs::read(&seg).unwrap();
    let frames = frames_of(&orig, true);
    let f = frames[4]; // the co-signed review, below both checkpoints
    let record = independent::parse_record(f.record(&orig)).unwrap();
    assert_eq!(record.cosignatures.len(), 1);
    let record_end = f.offset + 12 + f.entry_len;
    let from_t = Opts {
        from_checkpoint: Some(t),
        ..opts()
    };
    for (at, full, incremental) in [
        (record_end - 96 - 1, ("chain", Some(4)), None),
        (record_end - 1, ("chain", Some(4)), Some(("tree", Some(4)))),
    ] {
        let mut b = orig.clone();
        b[at] ^= 1;
        fix_frame_crcs(&mut b, &f);
        std::fs::write(&seg, &b).unwrap();
        assert_failed(&agree(d.path(), &anchor, &opts()), full.0, full.1);
        let v = agree(d.path(), &anchor, &from_t);
        match incremental {
            None => assert_ok(&v, 13),
            Some((check, seq)) => assert_failed(&v, check, seq),
        }
    }
    std::fs::write(&seg, &orig).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// The tampers to make at one byte: (XOR mask, re-fix the CRC that covers the byte).
type Plan = Vec<(u8, bool)>;

fn full_sweep() -> bool {
    std::env::var_os("PROVLEDGER_INDEPENDENT_FULL").is_some()
}

/// Every byte with masks 0xff, 0x01 and 0x80, each with and without the CRC re-fixed.
fn every_byte(_: usize) -> Plan {
    [0xff, 0x01, 0x80]
        .into_iter()
        .flat_map(|m| [(m, false), (m, true)])
        .collect()
}

/// The default sample: every 2nd byte flipped (0xff and 0x01 in turn), every 3rd byte
/// flipped with its CRC re-fixed.
fn sampled(i: usize) -> Plan {
    let mut p = Vec::new();
    if i % 2 == 0 {
        p.push((if i % 4 == 0 { 0xff } else { 0x01 }, false));
    }
    if i % 3 == 0 {
        p.push((if i % 2 == 0 { 0x01 } else { 0xff }, true));
    }
    p
}

/// Flips bytes of every file of `dir` as `plan` (path, offset, file length) says, where asked
/// also re-fixing the CRC that covers the byte (segment header, frame header, frame, index
/// header, checkpoint record), so that the damage reaches the hash and signature checks;
/// both verifiers must agree on each tampered copy. Returns the number of tampers and the
/// disagreements.
fn sweep(dir: &Path, anchor: &Anchor, o: &Opts, plan: impl Fn(&Path, usize, usize) -> Plan) -> (usize, Vec<String>) {
    let orig = files(dir);
    let newest = newest_segment(dir);
    let mut count = 0;
    let mut bad = Vec::new();
    for (path, bytes) in &orig {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let is_seg = name.ends_with(".seg");
        let is_idx = name.ends_with(".idx");
        let is_log = name == "checkpoints.log";
        let frames = if is_seg {
            frames_of(bytes, *path == newest)
        } else {
            Vec::new()
        };
        for i in 0..bytes.len() {
            for (mask, fix) in plan(path, i, bytes.len()) {
                let mut b = bytes.clone();
                b[i] ^= mask;
                if fix && !refix(&mut b, i, is_seg, is_idx, is_log, &frames) {
                    continue;
                }
                std::fs::write(path, &b).unwrap();
                let lib = library(dir, anchor, o);
                let ind = independent::verify_dir(dir, anchor.clone(), o.clone());
                count += 1;
                if !same(&lib, &ind) {
                    bad.push(format!(
                        "{name} byte {i} ^ {mask:#04x}{}\n  library:     {lib:?}\n  independent: {ind:?}",
                        if fix { " (CRC re-fixed)" } else { "" }
                    ));
                }
            }
        }
        std::fs::write(path, bytes).unwrap();
    }
    assert_eq!(files(dir), orig, "the sweep restores every file");
    (count, bad)
}

/// Re-fixes the CRC that covers byte `i` (in the original layout); false if no CRC covers it
/// or `i` is in the CRC itself.
fn refix(b: &mut [u8], i: usize, is_seg: bool, is_idx: bool, is_log: bool, frames: &[independent::FrameRef]) -> bool {
    let put = |b: &mut [u8], at: usize, from: usize| {
        let c = crc32c::crc32c(&b[from..at]);
        b[at..at + 4].copy_from_slice(&c.to_le_bytes());
    };
    if is_seg {
        if i < 60 {
            put(b, 60, 0);
            return true;
        }
        let Some(f) = frames.iter().find(|f| (f.offset..f.end()).contains(&i)) else {
            return false;
        };
        let o = f.offset;
        if i < o + 8 {
            put(b, o + 8, o);
            true
        } else if (o + 12..f.end() - 4).contains(&i) {
            put(b, f.end() - 4, o + 12);
            true
        } else {
            false
        }
    } else if is_idx {
        if i < 44 {
            put(b, 44, 0);
            return true;
        }
        false
    } else if is_log {
        if i < 32 {
            return false;
        }
        let r = (i - 32) / 148;
        let start = 32 + r * 148;
        if start + 148 > b.len() || i >= start + 144 {
            return false;
        }
        put(b, start + 144, start);
        true
    } else {
        false
    }
}

#[test]
fn tamper_sweep() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let anchor = Anchor::PublicKey(pk(&a));
    assert_ok(&agree(d.path(), &anchor, &opts()), 13);
    let plan = if full_sweep() { every_byte } else { sampled };
    let (n, bad) = sweep(d.path(), &anchor, &opts(), |_, i, _| plan(i));
    eprintln!("tamper_sweep: {n} tampers, {} disagreements", bad.len());
    assert!(
        bad.is_empty(),
        "{} of {n} tampers disagree:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(n > 3_000, "{n}");
}

/// The same ledger checked incrementally from its first checkpoint, with the uncovered tail
/// allowed and anchored by the genesis hash (a sampled sweep).
#[test]
fn tamper_sweep_incremental() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let _ = a;
    let reader = LedgerReader::open(d.path()).unwrap();
    let t = from_lib(&reader.checkpoints().unwrap()[0]);
    let g = reader.get(0).unwrap().entry.hash.to_bytes();
    let anchor = Anchor::GenesisHash(g);
    let o = Opts {
        allow_uncovered_tail: true,
        from_checkpoint: Some(t),
    };
    assert_ok(&agree(d.path(), &anchor, &o), 13);
    let (n, bad) = sweep(d.path(), &anchor, &o, |_, i, _| {
        if full_sweep() {
            every_byte(i)
        } else if i % 7 == 0 {
            vec![(0xff, false), (0x01, true)]
        } else {
            vec![]
        }
    });
    eprintln!("tamper_sweep_incremental: {n} tampers, {} disagreements", bad.len());
    assert!(
        bad.is_empty(),
        "{} of {n} tampers disagree:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Whole files removed, emptied, or replaced by another's.
#[test]
fn missing_and_swapped_files() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let anchor = Anchor::PublicKey(pk(&a));
    let orig = files(d.path());
    let mut n = 0;
    for path in orig.keys() {
        for how in ["remove", "empty", "truncate 1"] {
            let b = &orig[path];
            match how {
                "remove" => std::fs::remove_file(path).unwrap(),
                "empty" => std::fs::write(path, b"").unwrap(),
                _ => std::fs::write(path, &b[..b.len().saturating_sub(1)]).unwrap(),
            }
            let lib = library(d.path(), &anchor, &opts());
            let ind = independent::verify_dir(d.path(), anchor.clone(), opts());
            assert!(
                same(&lib, &ind),
                "{how} {}\n library:     {lib:?}\n independent: {ind:?}",
                path.display()
            );
            std::fs::write(path, b).unwrap();
            n += 1;
        }
    }
    eprintln!("missing_and_swapped_files: {n} cases agree");
}

// ---------------------------------------------------------------------------------------------
// §11.2 notes and §15 proofs

#[test]
fn notes_agree() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let reader = LedgerReader::open(d.path()).unwrap();
    let cp = reader.checkpoints().unwrap().pop().unwrap();
    let vk = a.verifying_key();
    let note = cp.to_note(&vk);
    let mine = independent::parse_note(note.as_bytes(), &pk(&a)).expect("the library's note parses");
    assert_eq!(mine, from_lib(&cp));
    // Another signer's line first (a witness) is skipped by both.
    let witness = key(50);
    let body = cp.body();
    let origin = body.lines().next().unwrap().to_string();
    let wsig = witness.sign(body.as_bytes());
    let mut raw = independent::note_key_hash(&origin, &pk(&witness)).to_vec();
    raw.extend_from_slice(&wsig);
    let wline = format!("\u{2014} {origin} {}\n", base64_std(&raw));
    let with_witness = note.replacen("\n\n", &format!("\n\n{wline}"), 1);
    let mut cases: Vec<(String, Vec<u8>)> = vec![("witness first".into(), with_witness.into_bytes())];
    for i in 0..note.len() {
        for mask in [0x01u8, 0x20] {
            let mut b = note.clone().into_bytes();
            b[i] ^= mask;
            cases.push((format!("byte {i} ^ {mask:#x}"), b));
        }
    }
    let (body, sig) = note.split_once("\n\n").unwrap();
    let t = sig.trim_end();
    let broken = format!(
        "{}{}{}\n",
        &t[..t.len() - 10],
        if &t[t.len() - 10..t.len() - 9] == "A" { "B" } else { "A" },
        &t[t.len() - 9..]
    );
    cases.extend([
        ("no final line feed".to_string(), note.trim_end().as_bytes().to_vec()),
        ("extra line feed".into(), format!("{note}\n").into_bytes()),
        (
            "blank line before the signature".into(),
            format!("{body}\n\n\n{sig}").into_bytes(),
        ),
        ("CRLF".into(), note.replace('\n', "\r\n").into_bytes()),
        ("no signature line".into(), format!("{body}\n\n").into_bytes()),
        (
            "a name with a space".into(),
            format!("{body}\n\n\u{2014} a b AAAA\n{sig}").into_bytes(),
        ),
        (
            "a line without base64".into(),
            format!("{body}\n\n\u{2014} other !!\n{sig}").into_bytes(),
        ),
        (
            "first matching line broken".into(),
            format!("{body}\n\n{broken}{sig}").into_bytes(),
        ),
        (
            "second matching line broken".into(),
            format!("{body}\n\n{sig}{broken}").into_bytes(),
        ),
        (
            "over 8 KiB".into(),
            format!("{body}\n\n{}{sig}", wline.repeat(80)).into_bytes(),
        ),
    ]);
    let mut n = 0;
    for (what, bytes) in cases {
        let lib = std::str::from_utf8(&bytes)
            .ok()
            .map(|t| Checkpoint::from_note(t, &vk).map(|c| from_lib(&c)));
        let lib = match lib {
            Some(Ok(c)) => Ok(c),
            _ => Err(()),
        };
        let ind = independent::parse_note(&bytes, &pk(&a)).map_err(|_| ());
        assert_eq!(lib, ind, "{what}: {:?}", String::from_utf8_lossy(&bytes));
        n += 1;
    }
    eprintln!("notes_agree: {n} notes");
}

fn base64_std(b: &[u8]) -> String {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(b)
}

/// The library's verdict on a proof file: the CLI's exit code (0 valid, 1 invalid,
/// 2 malformed), as an auditor would run it.
fn cli_proof(file: &Path, key: &[u8; 32], ledger: Option<[u8; 16]>) -> Result<(), &'static str> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provledger"));
    cmd.arg("verify-proof")
        .arg(file)
        .arg("--trust")
        .arg(independent::hex(key));
    if let Some(l) = ledger {
        cmd.arg("--ledger").arg(independent::hex(&l));
    }
    let out = cmd.output().unwrap();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err("invalid"),
        Some(2) => Err("malformed"),
        c => panic!("exit {c:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn ind_proof(bytes: &[u8], key: &[u8; 32], ledger: Option<[u8; 16]>) -> Result<(), &'static str> {
    independent::check_proof_json(bytes, key, ledger).map_err(|e| match e {
        independent::ProofError::Malformed(_) => "malformed",
        independent::ProofError::Invalid(_) => "invalid",
    })
}

#[test]
fn proofs_agree() {
    let d = tempfile::tempdir().unwrap();
    let a = key(7);
    let l = Ledger::create(d.path(), a.clone(), "t", Options::default()).unwrap();
    for i in 0..6u8 {
        l.append(app(&[i])).unwrap();
        if i % 2 == 1 {
            l.checkpoint().unwrap();
        }
    }
    let id = l.ledger_id().0;
    l.close().unwrap();
    let reader = LedgerReader::open(d.path()).unwrap();
    let mut docs: Vec<serde_json::Value> = Vec::new();
    for seq in 0..7 {
        docs.push(serde_json::to_value(reader.inclusion_proof(seq, None).unwrap()).unwrap());
    }
    // Checkpoints of sizes 3, 5 and 7.
    docs.push(serde_json::to_value(reader.inclusion_proof(1, Some(3)).unwrap()).unwrap());
    docs.push(serde_json::to_value(reader.inclusion_proof(4, Some(5)).unwrap()).unwrap());
    docs.push(serde_json::to_value(reader.consistency_proof(3, None).unwrap()).unwrap());
    docs.push(serde_json::to_value(reader.consistency_proof(5, None).unwrap()).unwrap());
    docs.push(serde_json::to_value(reader.consistency_proof(3, Some(5)).unwrap()).unwrap());
    docs.push(serde_json::to_value(reader.consistency_proof(7, Some(7)).unwrap()).unwrap());

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("proof.json");
    let mut n = 0;
    let mut outcomes = [0u32; 2];
    let mut check = |bytes: &[u8], what: &str, ledger: Option<[u8; 16]>| {
        std::fs::write(&file, bytes).unwrap();
        let lib = cli_proof(&file, &pk(&a), ledger);
        let ind = ind_proof(bytes, &pk(&a), ledger);
        assert_eq!(lib, ind, "{what}: {}", String::from_utf8_lossy(bytes));
        n += 1;
        ind
    };
    for (i, doc) in docs.iter().enumerate() {
        let text = serde_json::to_vec(doc).unwrap();
        assert_eq!(check(&text, &format!("proof {i}"), None), Ok(()));
        assert_eq!(check(&text, &format!("proof {i}, its ledger"), Some(id)), Ok(()));
        assert_eq!(
            check(&text, &format!("proof {i}, another ledger"), Some([9; 16])),
            Err("invalid")
        );
        assert_eq!(cli_proof(&file, &pk(&key(8)), None), Err("invalid"));
        assert_eq!(ind_proof(&text, &pk(&key(8)), None), Err("invalid"));
        for m in mutations(doc) {
            let text = serde_json::to_vec(&m.1).unwrap();
            let v = check(&text, &format!("proof {i}: {}", m.0), None);
            outcomes[usize::from(v.is_ok())] += 1;
        }
    }
    for junk in [&b"[]"[..], b"{}", b"null", b"{\"version\":2}", b"not json"] {
        assert_eq!(check(junk, "junk", None), Err("malformed"));
    }
    eprintln!(
        "proofs_agree: {n} proof files; mutations rejected {}, accepted {}",
        outcomes[0], outcomes[1]
    );
    assert!(outcomes[0] > 100);
}

/// Structural mutations of a proof document: every field removed, changed in value, type and
/// case; an extra field; path elements added, removed and changed; checkpoint fields changed.
fn mutations(doc: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    use serde_json::{json, Value};
    let mut out = Vec::new();
    let obj = doc.as_object().unwrap();
    let mut with = |what: String, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut o = obj.clone();
        f(&mut o);
        out.push((what, Value::Object(o)));
    };
    with("extra field".into(), &|o| {
        o.insert("extra".into(), json!(1));
    });
    for k in obj.keys() {
        with(format!("{k} removed"), &|o| {
            o.remove(k);
        });
        with(format!("{k} null"), &|o| {
            o.insert(k.clone(), Value::Null);
        });
        match &obj[k] {
            Value::Number(x) => {
                let x = x.as_u64().unwrap();
                for v in [x.wrapping_add(1), x.wrapping_sub(1), 0, u64::MAX] {
                    with(format!("{k} = {v}"), &|o| {
                        o.insert(k.clone(), json!(v));
                    });
                }
                with(format!("{k} as string"), &|o| {
                    o.insert(k.clone(), json!(x.to_string()));
                });
                with(format!("{k} negative"), &|o| {
                    o.insert(k.clone(), json!(-1));
                });
            }
            Value::String(s) => {
                let flipped = flip_hex(s);
                with(format!("{k} changed"), &|o| {
                    o.insert(k.clone(), json!(flipped.clone()));
                });
                with(format!("{k} uppercase"), &|o| {
                    o.insert(k.clone(), json!(s.to_uppercase()));
                });
                with(format!("{k} short"), &|o| {
                    o.insert(k.clone(), json!(s[2..].to_string()));
                });
            }
            Value::Array(a) => {
                let a = a.clone();
                with(format!("{k} empty"), &|o| {
                    o.insert(k.clone(), json!([]));
                });
                if !a.is_empty() {
                    with(format!("{k} last removed"), &|o| {
                        let mut b = a.clone();
                        b.pop();
                        o.insert(k.clone(), Value::Array(b));
                    });
                    with(format!("{k} first changed"), &|o| {
                        let mut b = a.clone();
                        b[0] = json!(flip_hex(b[0].as_str().unwrap()));
                        o.insert(k.clone(), Value::Array(b));
                    });
                }
                with(format!("{k} extra element"), &|o| {
                    let mut b = a.clone();
                    b.push(json!("00".repeat(32)));
                    o.insert(k.clone(), Value::Array(b));
                });
                with(format!("{k} 66 elements"), &|o| {
                    o.insert(k.clone(), Value::Array(vec![json!("00".repeat(32)); 66]));
                });
            }
            Value::Object(c) => {
                for ck in c.keys() {
                    let c = c.clone();
                    with(format!("{k}.{ck} changed"), &|o| {
                        let mut c2 = c.clone();
                        let v = match &c[ck] {
                            Value::String(s) => json!(flip_hex(s)),
                            Value::Number(x) => json!(x.as_u64().unwrap() + 1),
                            v => v.clone(),
                        };
                        c2.insert(ck.clone(), v);
                        o.insert(k.clone(), Value::Object(c2));
                    });
                    with(format!("{k}.{ck} removed"), &|o| {
                        let mut c2 = c.clone();
                        c2.remove(ck);
                        o.insert(k.clone(), Value::Object(c2));
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn flip_hex(s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if let Some(x) = c.last_mut() {
        *x = if *x == '0' { '1' } else { '0' };
    }
    c.into_iter().collect()
}

#[test]
#[ignore]
fn timing_probe() {
    let d = tempfile::tempdir().unwrap();
    let a = rich_ledger(d.path());
    let anchor = Anchor::PublicKey(pk(&a));
    let t = std::time::Instant::now();
    for _ in 0..100 {
        let _ = library(d.path(), &anchor, &opts());
    }
    eprintln!("library: {:?}", t.elapsed() / 100);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        let _ = independent::verify_dir(d.path(), anchor.clone(), opts());
    }
    eprintln!("independent: {:?}", t.elapsed() / 100);
    let d = tempfile::tempdir().unwrap();
    let k = key(5);
    let anchor = Anchor::PublicKey(pk(&k));
    let l = Ledger::create(d.path(), k.clone(), "t", Options::default().segment_size(1 << 20)).unwrap();
    for i in 0..25u8 {
        l.append(app(&vec![i; 100_000])).unwrap();
    }
    l.close().unwrap();
    let t = std::time::Instant::now();
    for _ in 0..5 {
        let _ = library(d.path(), &anchor, &opts());
    }
    eprintln!("library big: {:?}", t.elapsed() / 5);
    let t = std::time::Instant::now();
    for _ in 0..5 {
        let _ = independent::verify_dir(d.path(), anchor.clone(), opts());
    }
    eprintln!("independent big: {:?}", t.elapsed() / 5);
}
