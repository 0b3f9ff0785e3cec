use super::*;
use crate::checkpoint::MAX_NOTE_LEN;
use crate::entry::Timestamp;
use crate::hash::{hash_leaf, hash_node, Digest};
use crate::keys::SigningKey;

const ID: LedgerId = LedgerId([7; 16]);

fn op() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

fn wkey(n: u8) -> (SigningKey, WitnessKey) {
    let s = SigningKey::from_seed(&[n; 32]);
    let k = WitnessKey::new(&format!("witness.example/w{n}"), s.verifying_key()).unwrap();
    (s, k)
}

fn leaf(i: u8) -> Digest {
    hash_leaf(&Digest::from_bytes([i; 32]))
}

fn cp(size: u64, root: Digest, t: u64) -> Checkpoint {
    Checkpoint::sign(ID, size, root, Timestamp(t), &op())
}

#[test]
fn signed_message_is_header_time_then_whole_body() {
    let c = cp(3, Digest::from_bytes([9; 32]), 5);
    let msg = signed_message(&c.body(), 1_700_000_000);
    let want = format!(
        "cosignature/v1\ntime 1700000000\nprovledger/{}\n3\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\ntime 5\n",
        hex_id()
    );
    assert_eq!(String::from_utf8(msg).unwrap(), want);
}

fn hex_id() -> String {
    crate::hash::hex_encode(&ID.0)
}

#[test]
fn key_hash_is_sha256_of_name_newline_type_key() {
    let (_, k) = wkey(2);
    let mut pre = b"witness.example/w2\n\x04".to_vec();
    pre.extend_from_slice(&k.verifying_key().to_bytes());
    let d = Sha256::digest(&pre);
    assert_eq!(k.key_hash(), [d[0], d[1], d[2], d[3]]);
    assert_ne!(k.key_hash(), key_hash(k.name(), ED25519_NOTE_TYPE, &k.verifying_key()));
}

#[test]
fn cosignature_line_layout_and_round_trip() {
    let (s, k) = wkey(2);
    let c = cp(3, Digest::from_bytes([9; 32]), 5);
    let cos = Cosignature::sign(&c.body(), &k, &s, 0x0102_0304_0506_0708).unwrap();
    let b = cos.to_bytes();
    assert_eq!(b[..4], k.key_hash());
    assert_eq!(b[4..12], [1, 2, 3, 4, 5, 6, 7, 8]); // big-endian
    assert!(k
        .verifying_key()
        .verify(&signed_message(&c.body(), cos.timestamp), &cos.signature));
    let line = cos.line();
    assert!(line.starts_with("\u{2014} witness.example/w2 "));
    assert!(line.ends_with('\n'));
    assert_eq!(Cosignature::from_line(&line).unwrap(), Some(cos.clone()));
    // A 68-byte (plain Ed25519) signature line is not a cosignature.
    let plain = c.to_note(&op().verifying_key());
    let sig_line = plain.lines().last().unwrap();
    assert_eq!(Cosignature::from_line(sig_line).unwrap(), None);
    assert!(Cosignature::from_line("- not a signature line").is_err());
    assert_eq!(
        Cosignature::sign(&c.body(), &k, &s, MAX_COSIGNATURE_TIME + 1),
        Err(WitnessError::TimestampTooLarge(MAX_COSIGNATURE_TIME + 1))
    );
    let (other, _) = wkey(3);
    assert!(matches!(
        Cosignature::sign(&c.body(), &k, &other, 1),
        Err(WitnessError::Signer(_))
    ));
}

#[test]
fn verify_accepts_only_the_exact_signature() {
    let (s, k) = wkey(2);
    let body = cp(3, Digest::from_bytes([9; 32]), 5).body();
    let cos = Cosignature::sign(&body, &k, &s, 10).unwrap();
    assert_eq!(k.verify(&body, &cos), Some(Covers::WholeBody));
    let mut t = cos.clone();
    t.timestamp = 11;
    assert_eq!(k.verify(&body, &t), None);
    let mut t = cos.clone();
    t.signature[0] ^= 1;
    assert_eq!(k.verify(&body, &t), None);
    let mut t = cos.clone();
    t.name = "witness.example/other".into();
    assert_eq!(k.verify(&body, &t), None);
    assert_eq!(k.verify(&body.replace("\n3\n", "\n4\n"), &cos), None);
    // Same key under another name: the key hash differs, so it is not this witness's line.
    let renamed = WitnessKey::new("witness.example/renamed", k.verifying_key()).unwrap();
    assert_eq!(renamed.verify(&body, &cos), None);
    // The first-three-lines form of cosignature/v1.
    let text = CheckpointText::parse(&body).unwrap();
    let sig = s.sign(&signed_message(&text.first_three_lines(), 10));
    let old = Cosignature { signature: sig, ..cos };
    assert_eq!(k.verify(&body, &old), Some(Covers::FirstThreeLines));
}

#[test]
fn vkeys_round_trip_and_reject_mismatches() {
    let (_, k) = wkey(2);
    let v = k.vkey();
    assert!(v.starts_with("witness.example/w2+"));
    assert_eq!(v.parse::<WitnessKey>().unwrap(), k);
    // A type 0x01 vkey of the same name and key is read as the same witness.
    let plain = vkey_string(k.name(), ED25519_NOTE_TYPE, &k.verifying_key());
    assert_eq!(plain.parse::<WitnessKey>().unwrap(), k);
    // Wrong hash, wrong type, bad names, bad base64.
    let mut bad_hash = v.clone();
    let i = v.find('+').unwrap() + 1;
    bad_hash.replace_range(i..=i, if &v[i..=i] == "0" { "1" } else { "0" });
    assert!(matches!(
        bad_hash.parse::<WitnessKey>(),
        Err(WitnessError::InvalidVkey(_))
    ));
    let other_type = vkey_string(k.name(), 0x02, &k.verifying_key());
    assert!(matches!(
        other_type.parse::<WitnessKey>(),
        Err(WitnessError::InvalidVkey(_))
    ));
    assert!(matches!("a+b".parse::<WitnessKey>(), Err(WitnessError::InvalidVkey(_))));
    assert!(matches!(
        WitnessKey::new("has space", k.verifying_key()),
        Err(WitnessError::InvalidName { .. })
    ));
    assert!(WitnessKey::new("", k.verifying_key()).is_err());
    assert!(WitnessKey::new("a+b", k.verifying_key()).is_err());
    assert!(WitnessKey::new(&"x".repeat(256), k.verifying_key()).is_err());
    // Keys whose base64 holds a `+` (the separator) parse too.
    let plus = (0..=255u8)
        .map(|n| WitnessKey::new("w", SigningKey::from_seed(&[n; 32]).verifying_key()).unwrap())
        .find(|k| k.vkey().matches('+').count() > 2)
        .unwrap();
    assert_eq!(plus.vkey().parse::<WitnessKey>().unwrap(), plus);
    // A log key is the checkpoint's note verifier key.
    let log = LogKey::new(ID, op().verifying_key());
    let text = crate::checkpoint::note_verifier_key(ID, &op().verifying_key());
    assert_eq!(log.to_string(), text);
    assert_eq!(text.parse::<LogKey>().unwrap(), log);
    assert!(k.vkey().parse::<LogKey>().is_err());
}

fn note_with(c: &Checkpoint, cosigs: &[Cosignature]) -> String {
    let mut n = c.to_note(&op().verifying_key());
    for x in cosigs {
        n.push_str(&x.line());
    }
    n
}

#[test]
fn policy_counts_distinct_valid_trusted_cosigners() {
    let c = cp(3, Digest::from_bytes([9; 32]), 5);
    let body = c.body();
    let ws: Vec<(SigningKey, WitnessKey)> = (2..6).map(wkey).collect();
    let sigs: Vec<Cosignature> = ws
        .iter()
        .map(|(s, k)| Cosignature::sign(&body, k, s, 100).unwrap())
        .collect();
    let keys: Vec<WitnessKey> = ws.iter().map(|(_, k)| k.clone()).collect();
    let p = WitnessPolicy::new(keys.clone(), 2).unwrap();
    assert_eq!(
        p.check(&c, &note_with(&c, &sigs[..1])),
        Err(WitnessError::TooFewCosignatures { valid: 1, required: 2 })
    );
    let w = p.check(&c, &note_with(&c, &sigs[..2])).unwrap();
    assert_eq!(w.cosigners.len(), 2);
    assert_eq!(w.cosigners[1].name, "witness.example/w3");
    // One witness's line twice counts once.
    let twice = [sigs[0].clone(), sigs[0].clone()];
    assert!(matches!(
        p.check(&c, &note_with(&c, &twice)),
        Err(WitnessError::TooFewCosignatures { valid: 1, .. })
    ));
    // A cosignature by an untrusted key is ignored.
    let (fs, fk) = wkey(9);
    let foreign = Cosignature::sign(&body, &fk, &fs, 100).unwrap();
    assert!(p.check(&c, &note_with(&c, &[sigs[0].clone(), foreign])).is_err());
    // A forged line by a trusted witness rejects the note.
    let mut forged = sigs[1].clone();
    forged.signature[10] ^= 0x40;
    assert_eq!(
        p.check(&c, &note_with(&c, &[sigs[0].clone(), forged, sigs[2].clone()])),
        Err(WitnessError::BadCosignature {
            witness: "witness.example/w3".into()
        })
    );
    // A cosignature of another checkpoint does not count for this one.
    let other = cp(4, Digest::from_bytes([9; 32]), 5);
    let moved = format!(
        "{}\n{}",
        other.body(),
        note_with(&c, &sigs).split_once("\n\n").unwrap().1
    );
    assert_eq!(p.check(&c, &moved), Err(WitnessError::OtherCheckpoint));
    assert!(matches!(p.check_note(&moved), Err(WitnessError::BadCosignature { .. })));
    // Two names, one key: counted once; K above the distinct keys is refused.
    let alias = WitnessKey::new("alias", keys[0].verifying_key()).unwrap();
    assert!(WitnessPolicy::new(vec![keys[0].clone(), alias], 2).is_err());
    assert!(WitnessPolicy::new(keys.clone(), 0).is_err());
    assert!(WitnessPolicy::new(keys, 5).is_err());
}

#[test]
fn notes_are_parsed_within_bounds() {
    let c = cp(3, Digest::from_bytes([9; 32]), 5);
    let note = c.to_note(&op().verifying_key());
    let n = SignedNote::parse(&note).unwrap();
    assert_eq!(n.body, c.body());
    assert_eq!(n.signatures.len(), 1);
    assert!(SignedNote::parse(&c.body()).is_err());
    assert!(SignedNote::parse(note.trim_end()).is_err());
    assert!(SignedNote::parse(&note.replace("time", "ti\rme")).is_err());
    let long = format!("{note}{}", "x".repeat(MAX_NOTE_LEN));
    assert!(matches!(SignedNote::parse(&long), Err(WitnessError::NoteTooLong(_))));
    let many = format!(
        "{}{}",
        note,
        format!("{}\n", note.lines().last().unwrap()).repeat(MAX_SIGNATURE_LINES)
    );
    assert!(matches!(SignedNote::parse(&many), Err(WitnessError::NoteTooLong(_))));
    assert!(CheckpointText::parse("o\n01\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n").is_err());
    assert!(CheckpointText::parse("o\n1\nCQkJ\n").is_err());
    assert!(CheckpointText::parse("o\n1\n").is_err());
    let t = CheckpointText::parse(&c.body()).unwrap();
    assert_eq!((t.size, t.extensions.clone()), (3, vec!["time 5".to_owned()]));
}

#[test]
fn add_checkpoint_request_round_trip_and_bounds() {
    let c = cp(3, Digest::from_bytes([9; 32]), 5);
    let r = AddCheckpoint {
        old_size: 2,
        proof: vec![leaf(1), leaf(2)],
        note: c.to_note(&op().verifying_key()),
    };
    let text = r.to_text();
    assert!(text.starts_with("old 2\n"));
    assert_eq!(AddCheckpoint::parse(text.as_bytes()).unwrap(), r);
    assert!(AddCheckpoint::parse(text.replace("old 2", "old 02").as_bytes()).is_err());
    assert!(AddCheckpoint::parse(text.replace("old 2", "old").as_bytes()).is_err());
    let line = format!("{}\n", base64ct::Base64::encode_string(leaf(1).as_bytes()));
    let big = format!("old 2\n{}\n{}", line.repeat(MAX_PROOF_LINES + 1), r.note);
    assert!(AddCheckpoint::parse(big.as_bytes()).is_err());
    let ok = format!("old 2\n{}\n{}", line.repeat(MAX_PROOF_LINES), r.note);
    assert_eq!(
        AddCheckpoint::parse(ok.as_bytes()).unwrap().proof.len(),
        MAX_PROOF_LINES
    );
}

fn witness(dir: &std::path::Path) -> Witness {
    let (s, k) = wkey(2);
    Witness::new(dir, k, s, vec![LogKey::new(ID, op().verifying_key())]).unwrap()
}

fn request(old: u64, proof: Vec<Digest>, c: &Checkpoint) -> AddCheckpoint {
    AddCheckpoint {
        old_size: old,
        proof,
        note: c.to_note(&op().verifying_key()),
    }
}

fn refusal(r: Result<Cosigned, CosignError>) -> Refusal {
    match r {
        Err(CosignError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
#[allow(clippy::many_single_char_names)]
fn witness_state_advances_only_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let w = witness(dir.path());
    let (l0, l1, l2) = (leaf(0), leaf(1), leaf(2));
    let c1 = cp(1, l0, 1);
    let root2 = hash_node(&l0, &l1);
    let c2 = cp(2, root2, 2);
    let c3 = cp(3, hash_node(&root2, &l2), 3);
    let origin = crate::checkpoint::origin(ID);

    let first = w.add_checkpoint_at(&request(0, vec![], &c1), 50).unwrap();
    assert_eq!((first.size, first.cosignature.timestamp), (1, 50));
    assert_eq!(w.key().verify(&c1.body(), &first.cosignature), Some(Covers::WholeBody));
    assert_eq!(w.latest(&origin).unwrap(), Some(c1.to_note(&op().verifying_key())));

    // Old size must match the stored one (409 with the stored size).
    assert_eq!(
        refusal(w.add_checkpoint_at(&request(0, vec![], &c2), 51)),
        Refusal::Conflict { claimed: 0, stored: 1 }
    );
    assert_eq!(
        refusal(w.add_checkpoint_at(&request(3, vec![], &c2), 51)).http_status(),
        400
    );
    // A wrong proof: refused with both notes as evidence.
    let r = refusal(w.add_checkpoint_at(&request(1, vec![l2], &c2), 51));
    assert_eq!(r.http_status(), 422);
    let e = r.evidence().unwrap();
    assert_eq!((e.cosigned_size, e.offered_size), (1, 2));
    assert_eq!(e.cosigned_note, c1.to_note(&op().verifying_key()));
    assert_eq!(e.offered_note, c2.to_note(&op().verifying_key()));
    assert_eq!(w.latest(&origin).unwrap(), Some(c1.to_note(&op().verifying_key())));

    w.add_checkpoint_at(&request(1, vec![l1], &c2), 52).unwrap();
    w.add_checkpoint_at(&request(2, vec![l2], &c3), 53).unwrap();
    // The same checkpoint again (equal size, equal root, even another time line) is fine.
    w.add_checkpoint_at(&request(3, vec![], &cp(3, hash_node(&root2, &l2), 9)), 54)
        .unwrap();

    // Going backwards: refused whatever old size the request claims.
    for old in [0, 1, 2, 3] {
        let r = refusal(w.add_checkpoint_at(&request(old, vec![], &c2), 55));
        assert!(matches!(r, Refusal::Rollback(_)), "{r:?}");
    }
    // Same size, another root: a split view, proven by the two signed notes.
    let fork = cp(3, hash_node(&root2, &leaf(7)), 4);
    let r = refusal(w.add_checkpoint_at(&request(3, vec![], &fork), 56));
    let Refusal::SplitView(e) = &r else {
        panic!("expected a split view, got {r:?}")
    };
    let a = Checkpoint::from_note(&e.cosigned_note, &op().verifying_key()).unwrap();
    let b = Checkpoint::from_note(&e.offered_note, &op().verifying_key()).unwrap();
    assert_eq!(a.tree_size, b.tree_size);
    assert_ne!(a.root, b.root);
}

#[test]
fn witness_refuses_unknown_logs_and_bad_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let w = witness(dir.path());
    let other = Checkpoint::sign(LedgerId([8; 16]), 1, leaf(0), Timestamp(1), &op());
    let r = refusal(w.add_checkpoint_at(&request(0, vec![], &other), 1));
    assert_eq!(r.http_status(), 404);
    let stranger = SigningKey::from_seed(&[5; 32]);
    let c = Checkpoint::sign(ID, 1, leaf(0), Timestamp(1), &stranger);
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: c.to_note(&stranger.verifying_key()),
    };
    assert_eq!(refusal(w.add_checkpoint_at(&req, 1)).http_status(), 403);
    let mut tampered = request(0, vec![], &cp(1, leaf(0), 1));
    tampered.note = tampered.note.replacen("\n1\n", "\n2\n", 1);
    assert_eq!(refusal(w.add_checkpoint_at(&tampered, 1)).http_status(), 403);
    // Nothing was recorded.
    assert_eq!(w.latest(&crate::checkpoint::origin(ID)).unwrap(), None);
    // A first request with a proof is malformed.
    assert!(matches!(
        w.add_checkpoint_at(&request(0, vec![leaf(1)], &cp(1, leaf(0), 1)), 1),
        Err(CosignError::Witness(WitnessError::MalformedRequest(_)))
    ));
}

#[test]
fn damaged_state_is_an_error_not_a_fresh_start() {
    let dir = tempfile::tempdir().unwrap();
    let w = witness(dir.path());
    w.add_checkpoint_at(&request(0, vec![], &cp(1, leaf(0), 1)), 1).unwrap();
    let origin = crate::checkpoint::origin(ID);
    let path = w.file(&origin, "note");
    std::fs::write(&path, b"garbage\n").unwrap();
    assert!(matches!(
        w.add_checkpoint_at(&request(1, vec![], &cp(1, leaf(0), 1)), 2),
        Err(CosignError::CorruptState { .. })
    ));
}
