//! Attacks on the integrity guarantee (issue 9, items 1–6, 11 and 13): each test performs the
//! attack against a real ledger on disk and asserts the failure `verify` reports (check and
//! sequence number) or the writer's refusal. The attacker of items 1–6 can write the ledger
//! directory but holds no key; item 13 is a key holder.
//!
//! Frames are edited with the published layout (docs/FORMAT.md §7.3): a 12-byte header
//! (`entry_len` u16, flags u8, reserved u8, `section_len` u32, header CRC), the record, the
//! payload section, an optional 112-byte seal, and a CRC-32C over record, section and seal.

use std::path::{Path, PathBuf};

use provledger::record::{KeyEnrollment, KeyRevocation, PrincipalType, Record, Role};
use provledger::storage::segment_path;
use provledger::{
    verify, verify_opts, Check, Draft, Durability, Genesis, Ledger, OpenError, Options, SigningKey, TrustAnchor,
    TrustAnchorKey, VerifyOptions, VerifyReport,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn anchor(k: &SigningKey) -> TrustAnchor {
    TrustAnchor::PublicKey(k.verifying_key())
}

/// (offset, length, sealed) of every complete frame of a segment file.
fn frames(bytes: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let mut at = 64;
    while at + 12 <= bytes.len() {
        let e = usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let sealed = bytes[at + 2] & 1 == 1;
        let p = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let len = 16 + e + p + if sealed { 112 } else { 0 };
        if at + len > bytes.len() {
            break;
        }
        out.push((at, len, sealed));
        at += len;
    }
    out
}

/// Sets or clears the seal flag of a frame (fixing the header CRC); setting it inserts a
/// made-up seal (an attacker cannot compute a real tag).
fn set_sealed(frame: &[u8], sealed: bool) -> Vec<u8> {
    let is = frame[2] & 1 == 1;
    let mut f = frame.to_vec();
    if is == sealed {
        return f;
    }
    f[2] = u8::from(sealed);
    let hc = crc32c::crc32c(&f[..8]);
    f[8..12].copy_from_slice(&hc.to_le_bytes());
    f.truncate(f.len() - 4);
    if sealed {
        f.extend_from_slice(&[0x5a; 112]);
    } else {
        f.truncate(f.len() - 112);
    }
    let c = crc32c::crc32c(&f[12..]);
    f.extend_from_slice(&c.to_le_bytes());
    f
}

/// Re-fixes the trailing CRC of a frame whose body was edited.
fn fix_crc(frame: &mut [u8]) {
    let end = frame.len() - 4;
    let c = crc32c::crc32c(&frame[12..end]);
    frame[end..].copy_from_slice(&c.to_le_bytes());
}

fn seg0(dir: &Path) -> PathBuf {
    segment_path(dir, 0)
}

fn failure(r: &VerifyReport) -> (Check, Option<u64>) {
    let f = r
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("verification passed: {r:?}"));
    (f.check, f.seq)
}

/// A ledger with an admin+operator writer `w`, an approver `b` enrolled at 1 and revoked at 3,
/// and application entries around; returns the ledger directory.
fn ledger_with_revocation(dir: &Path, w: &SigningKey, b: &SigningKey) {
    let l = Ledger::create(dir, w.clone(), "t", Options::default()).unwrap();
    let enroll = Record::KeyEnrollment(KeyEnrollment {
        public_key: b.verifying_key().to_bytes(),
        principal_id: "bob@example.com".into(),
        display_name: String::new(),
        principal_type: PrincipalType::Person,
        roles: vec![Role::Approver],
        environments: vec![provledger::record::Environment::Production],
    });
    l.append(Draft::record(&enroll).unwrap()).unwrap(); // 1
    l.append(Draft::application("text/plain", b"two".to_vec())).unwrap(); // 2
    let revoke = Record::KeyRevocation(KeyRevocation {
        key_id: b.verifying_key().key_id().0,
        reason: "left the company".into(),
    });
    l.append(Draft::record(&revoke).unwrap()).unwrap(); // 3
    l.append(Draft::application("text/plain", b"four".to_vec())).unwrap(); // 4
    l.close().unwrap();
}

/// Item 1: delete a signed key revocation after the newest checkpoint (and the checkpoint
/// log), close the gap, rebuild the derived files: `verify` fails at the place of the deleted
/// entry (the next entry's position signature covers what came before it), and the writer
/// refuses to extend the rewritten ledger.
#[test]
fn deleting_a_revocation_and_relinking_fails_and_the_writer_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (w, b) = (key(1), key(2));
    ledger_with_revocation(dir.path(), &w, &b);
    let bytes = std::fs::read(seg0(dir.path())).unwrap();
    let fr = frames(&bytes);
    assert_eq!(fr.len(), 5);
    // Remove frame 3 (the revocation): everything after moves up one place.
    let (off, len, _) = fr[3];
    let mut cut = bytes[..off].to_vec();
    cut.extend_from_slice(&bytes[off + len..]);
    std::fs::write(seg0(dir.path()), &cut).unwrap();
    let _ = std::fs::remove_file(dir.path().join("checkpoints.log"));
    let r = verify(dir.path(), &anchor(&w)).unwrap();
    assert_eq!(failure(&r), (Check::Chain, Some(3)));
    // The attacker rebuilds index and tree files: still fails, and the writer will not
    // extend (or checkpoint) what it did not write.
    provledger::rebuild_derived(dir.path(), &Options::default()).unwrap();
    assert_eq!(
        failure(&verify(dir.path(), &anchor(&w)).unwrap()),
        (Check::Chain, Some(3))
    );
    // Its last seal no longer matches (the sizes moved), so it verifies and refuses.
    let opened = Ledger::open(dir.path(), w.clone(), Options::default());
    match opened {
        Err(OpenError::Unverified(f)) => assert_eq!((f.check, f.seq), (Check::Chain, Some(3))),
        Err(OpenError::Tampered { .. }) => {}
        other => panic!("the writer adopted a rewritten ledger: {other:?}"),
    }
}

/// Item 2: replay — a copy of a signed entry placed at the head verifies nowhere but where
/// its writer put it. Unsealed, the copy is only a torn tail (not counted, cut by a writer);
/// sealed (with a made-up seal), it fails its position signature.
#[test]
fn replaying_an_entry_at_the_head_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (w, b) = (key(1), key(2));
    ledger_with_revocation(dir.path(), &w, &b);
    let bytes = std::fs::read(seg0(dir.path())).unwrap();
    let fr = frames(&bytes);
    for replayed in [1, 2, 3] {
        let (off, len, _) = fr[replayed];
        for sealed in [false, true] {
            let mut tampered = bytes.clone();
            tampered.extend_from_slice(&set_sealed(&bytes[off..off + len], sealed));
            std::fs::write(seg0(dir.path()), &tampered).unwrap();
            let r = verify(dir.path(), &anchor(&w)).unwrap();
            if sealed {
                // Its position signature fails; a replayed enrollment or revocation is caught
                // one check earlier, by the key registry (the key is enrolled or revoked already).
                let (check, seq) = failure(&r);
                assert_eq!(seq, Some(5), "entry {replayed}");
                assert!(
                    matches!(check, Check::Chain | Check::Key),
                    "entry {replayed}: {check:?}"
                );
            } else {
                assert!(r.is_ok(), "{r:?}");
                assert_eq!(r.entries, 5);
                assert_eq!(r.torn_tail.as_ref().map(|t| t.frames), Some(1));
            }
        }
    }
    std::fs::write(seg0(dir.path()), &bytes).unwrap();
    assert!(verify(dir.path(), &anchor(&w)).unwrap().is_ok());
}

/// Items 3, 5 and 6: incremental verification from a trusted checkpoint re-hashes the prefix,
/// so a swapped genesis payload, a deleted entry or a changed application payload before the
/// checkpoint fail with check `checkpoint` (the prefix no longer reproduces the root).
#[test]
fn from_checkpoint_catches_a_changed_prefix() {
    let (w, b) = (key(1), key(2));
    let base = tempfile::tempdir().unwrap();
    ledger_with_revocation(base.path(), &w, &b);
    let l = Ledger::open(base.path(), w.clone(), Options::default()).unwrap();
    let cp = l.checkpoint().unwrap();
    l.append(Draft::application("text/plain", b"after".to_vec())).unwrap();
    l.close().unwrap();
    let opts = VerifyOptions::default().from_checkpoint(Some(cp));
    let check = |dir: &Path| verify_opts(&provledger::storage::StdBackend, dir, &anchor(&w), &opts).unwrap();
    assert!(check(base.path()).is_ok());
    let pristine = std::fs::read(seg0(base.path())).unwrap();
    let fr = frames(&pristine);

    // (3) The genesis payload: enroll an attacker key in place of the anchor's principal name.
    let mut t = pristine.clone();
    let (off, len, _) = fr[0];
    let pos = t[off..off + len]
        .windows(1)
        .position(|w| w == b"t")
        .map(|p| off + p)
        .unwrap();
    t[pos] ^= 0x20;
    fix_crc(&mut t[off..off + len]);
    std::fs::write(seg0(base.path()), &t).unwrap();
    // A careful attacker also rebuilds the derived files, so the stored tree agrees.
    provledger::rebuild_derived(base.path(), &Options::default()).unwrap();
    assert_eq!(
        failure(&check(base.path())),
        (Check::Checkpoint, Some(cp.tree_size - 1))
    );
    // Without the trusted checkpoint the genesis's own position signature fails.
    assert_eq!(
        failure(&verify(base.path(), &anchor(&w)).unwrap()),
        (Check::Chain, Some(0))
    );

    // (5) A revocation deleted before the checkpoint.
    let (off, len, _) = fr[3];
    let mut t = pristine[..off].to_vec();
    t.extend_from_slice(&pristine[off + len..]);
    std::fs::write(seg0(base.path()), &t).unwrap();
    provledger::rebuild_derived(base.path(), &Options::default()).unwrap();
    assert_eq!(failure(&check(base.path())).0, Check::Checkpoint);

    // (6) An application payload before the checkpoint, CRC fixed.
    let mut t = pristine.clone();
    let (off, len, _) = fr[2];
    let p = t[off..off + len]
        .windows(3)
        .position(|w| w == b"two")
        .map(|p| off + p)
        .unwrap();
    t[p] = b'T';
    fix_crc(&mut t[off..off + len]);
    std::fs::write(seg0(base.path()), &t).unwrap();
    provledger::rebuild_derived(base.path(), &Options::default()).unwrap();
    assert_eq!(
        failure(&check(base.path())),
        (Check::Checkpoint, Some(cp.tree_size - 1))
    );
}

/// Item 4: laundering — unsigned frames appended by someone without the key are never
/// adopted: unsealed they are a torn tail the writer cuts; with a made-up seal the writer
/// cannot recognise the write as its own, verifies the ledger, and refuses it (the frames are
/// unsigned and no checkpoint covers them). The next checkpoint therefore never covers them.
#[test]
fn appended_unsigned_frames_are_never_adopted_or_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let w = key(1);
    let l = Ledger::create(dir.path(), w.clone(), "t", Options::default()).unwrap();
    l.append(Draft::application("a/b", b"legit".to_vec()).without_position_signature())
        .unwrap();
    l.checkpoint().unwrap();
    l.close().unwrap();
    let bytes = std::fs::read(seg0(dir.path())).unwrap();
    let fr = frames(&bytes);
    let (off, len, _) = fr[1];
    // A copy of the unsigned entry: it would hash differently at its new place, but an
    // attacker can write any unsigned record; the copy is as good as any.
    let forged = set_sealed(&bytes[off..off + len], false);
    for sealed in [false, true] {
        let mut t = bytes.clone();
        t.extend_from_slice(&set_sealed(&forged, sealed));
        std::fs::write(seg0(dir.path()), &t).unwrap();
        let opened = Ledger::open(dir.path(), w.clone(), Options::default());
        if sealed {
            assert!(matches!(opened, Err(OpenError::Unverified(_))), "{opened:?}");
        } else {
            let l = opened.unwrap();
            assert_eq!(l.recovery().torn_tail.as_ref().map(|t| t.frames), Some(1));
            assert_eq!(l.len(), 2);
            let cp = l.checkpoint().unwrap();
            assert_eq!(cp.tree_size, 2);
            l.close().unwrap();
            let r = verify(dir.path(), &anchor(&w)).unwrap();
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(r.entries, 2);
        }
    }
}

/// Item 11: proofs name their ledger — a staging proof does not pass as production's, even
/// when one key signs both.
#[test]
fn a_proof_of_another_ledger_is_invalid() {
    let w = key(1);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let staging = Ledger::create(a.path(), w.clone(), "staging", Options::default()).unwrap();
    let production = Ledger::create(b.path(), w.clone(), "production", Options::default()).unwrap();
    staging.append(Draft::application("a/b", b"x".to_vec())).unwrap();
    staging.checkpoint().unwrap();
    let prod_id = production.ledger_id();
    let proof = provledger::LedgerReader::open(a.path())
        .unwrap()
        .inclusion_proof(1, None)
        .unwrap();
    assert_eq!(proof.ledger_id, staging.ledger_id());
    assert!(proof.verify(&w.verifying_key()).is_ok());
    assert!(matches!(
        proof.verify_for(&w.verifying_key(), Some(prod_id)),
        Err(provledger::ProofCheckError::Invalid(_))
    ));
    assert!(proof.verify_for(&w.verifying_key(), Some(staging.ledger_id())).is_ok());
}

/// Item 13 (and issue 12 item 2): a writer whose key is revoked, or not an operator, or not
/// enrolled at all, signs nothing: no checkpoint, no entry, and it cannot open the ledger.
#[test]
fn a_revoked_or_foreign_key_cannot_write_or_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, op) = (key(1), key(2));
    let genesis = Genesis {
        name: "t".into(),
        anchors: vec![
            TrustAnchorKey {
                public_key: admin.verifying_key().to_bytes(),
                principal_id: "admin".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Admin],
            },
            TrustAnchorKey::operator(&op.verifying_key(), "svc"),
        ],
        policy: provledger::record::Policy::default(),
    };
    // An admin-only key cannot be the writer.
    assert!(Ledger::create_with_genesis(dir.path(), admin.clone(), &genesis, Options::default()).is_err());
    let l = Ledger::create_with_genesis(dir.path(), op.clone(), &genesis, Options::default()).unwrap();
    let revoke = Record::KeyRevocation(KeyRevocation {
        key_id: op.verifying_key().key_id().0,
        reason: "rotated".into(),
    });
    l.append(Draft::record(&revoke).unwrap().cosigned_by(admin.clone()))
        .unwrap();
    let after = l.append(Draft::application("a/b", b"x".to_vec()));
    assert!(
        matches!(
            after,
            Err(provledger::AppendError::WouldNotVerify { check: Check::Key, .. })
        ),
        "{after:?}"
    );
    let cp = l.checkpoint();
    assert!(
        matches!(cp, Err(provledger::CheckpointError::SignerNotAuthorized { .. })),
        "{cp:?}"
    );
    l.close().unwrap();
    assert!(verify(dir.path(), &anchor(&op)).unwrap().is_ok());
    let reopen = Ledger::open(dir.path(), op.clone(), Options::default());
    assert!(
        matches!(reopen, Err(OpenError::SignerNotAuthorized { .. })),
        "{reopen:?}"
    );
    let stranger = Ledger::open(dir.path(), key(9), Options::default().durability(Durability::Buffered));
    assert!(
        matches!(stranger, Err(OpenError::SignerNotAuthorized { .. })),
        "{stranger:?}"
    );
}

/// A keyless attacker replaces the whole directory with a ledger of their own whose genesis
/// enrolls the writer's public key as an operator. The forged genesis cannot carry the
/// writer's signature, so the writer must refuse to extend it or sign a checkpoint over it
/// (such a checkpoint, signed by the real operator key, would vouch for the attacker's
/// entries to anyone holding it). With the ledger's real anchor given, the same holds; a key
/// that legitimately takes over names the anchor and opens.
#[test]
fn a_forged_ledger_enrolling_the_writer_key_is_not_adopted() {
    let (w, x) = (key(1), key(9));
    let real = tempfile::tempdir().unwrap();
    let l = Ledger::create(real.path(), w.clone(), "prod", Options::default()).unwrap();
    l.append(Draft::application("a/b", b"real".to_vec())).unwrap();
    l.close().unwrap();

    // The attacker's ledger: anchors are the attacker (admin, operator) and the writer's
    // public key as a second operator; written and sealed by the attacker's key.
    let forged = tempfile::tempdir().unwrap();
    let genesis = Genesis {
        name: "prod".into(),
        anchors: vec![
            TrustAnchorKey {
                public_key: x.verifying_key().to_bytes(),
                principal_id: "x".into(),
                principal_type: PrincipalType::Person,
                roles: vec![Role::Admin, Role::Operator],
            },
            TrustAnchorKey::operator(&w.verifying_key(), "svc"),
        ],
        policy: provledger::record::Policy::default(),
    };
    let f = Ledger::create_with_genesis(forged.path(), x.clone(), &genesis, Options::default()).unwrap();
    f.append(Draft::application("a/b", b"forged".to_vec())).unwrap();
    f.close().unwrap();
    // The directory, as the attacker leaves it: the forged files in place of the real ones.
    let _ = std::fs::remove_dir_all(real.path().join("segments"));
    let _ = std::fs::remove_dir_all(real.path().join("tree"));
    let _ = std::fs::remove_file(real.path().join("checkpoints.log"));
    copy_dir(forged.path(), real.path());

    let opened = Ledger::open(real.path(), w.clone(), Options::default());
    assert!(
        matches!(&opened, Err(OpenError::SignerNotAuthorized { .. })),
        "{opened:?}"
    );
    // Not even a raw writer (`check_signers(false)`) takes the ledger's own genesis as anchor.
    let opened = Ledger::open(real.path(), w.clone(), Options::default().check_signers(false));
    assert!(
        matches!(&opened, Err(OpenError::SignerNotAuthorized { .. })),
        "{opened:?}"
    );
    let opened = Ledger::open(real.path(), w.clone(), Options::default().trust_anchor(anchor(&w)));
    assert!(
        matches!(&opened, Err(OpenError::Unverified(f)) if f.check == Check::TrustAnchor),
        "{opened:?}"
    );
    // The writer's refusal left the forged ledger as it was: no checkpoint by `w`.
    assert!(!verify(real.path(), &anchor(&w)).unwrap().is_ok());

    // A legitimate hand-over: another operator key of the real ledger, enrolled later, opens
    // after `w` wrote last by naming the ledger's anchor.
    let good = tempfile::tempdir().unwrap();
    let l = Ledger::create(good.path(), w.clone(), "prod", Options::default()).unwrap();
    let op2 = key(3);
    let enroll = Record::KeyEnrollment(KeyEnrollment {
        public_key: op2.verifying_key().to_bytes(),
        principal_id: "svc2".into(),
        display_name: String::new(),
        principal_type: PrincipalType::Service,
        roles: vec![Role::Operator],
        environments: vec![],
    });
    l.append(Draft::record(&enroll).unwrap()).unwrap();
    l.close().unwrap();
    let without = Ledger::open(good.path(), op2.clone(), Options::default());
    assert!(
        matches!(&without, Err(OpenError::SignerNotAuthorized { .. })),
        "{without:?}"
    );
    let l2 = Ledger::open(good.path(), op2.clone(), Options::default().trust_anchor(anchor(&w))).unwrap();
    assert!(l2.recovery().verified_on_open);
    l2.append(Draft::application("a/b", b"by op2".to_vec())).unwrap();
    l2.checkpoint().unwrap();
    l2.close().unwrap();
    assert!(verify(good.path(), &anchor(&w)).unwrap().is_ok());
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
