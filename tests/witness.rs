//! Witnesses on real ledgers: cosigning a growing ledger from `LedgerReader` consistency
//! proofs, a split view made by two forks of one ledger under one operator key, rollback,
//! forged and foreign cosignatures, K-of-N policies, and concurrent requests on one state
//! directory.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provledger::witness::{
    AddCheckpoint, CosignError, Cosignature, LogKey, Refusal, Witness, WitnessError, WitnessKey, WitnessPolicy,
};
use provledger::{Checkpoint, Draft, Ledger, LedgerReader, Options, SigningKey};
use sha2::{Digest as _, Sha256};

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn witness_key(n: u8) -> WitnessKey {
    WitnessKey::new(&format!("witness.example/w{n}"), key(n).verifying_key()).unwrap()
}

fn witness(state: &Path, n: u8, ledger: &Ledger, operator: &SigningKey) -> Witness {
    let log = LogKey::new(ledger.ledger_id(), operator.verifying_key());
    Witness::new(state, witness_key(n), key(n), vec![log]).unwrap()
}

fn append(ledger: &Ledger, tag: &str, n: usize) {
    for i in 0..n {
        ledger
            .append(Draft::application("text/plain", format!("{tag} {i}").into_bytes()))
            .unwrap();
    }
}

fn request(dir: &Path, from: u64, to: u64, operator: &SigningKey) -> AddCheckpoint {
    let proof = LedgerReader::open(dir)
        .unwrap()
        .consistency_proof(from, Some(to))
        .unwrap();
    AddCheckpoint::from_proof(&proof, &operator.verifying_key()).unwrap()
}

fn refusal(r: Result<provledger::witness::Cosigned, CosignError>) -> Refusal {
    match r {
        Err(CosignError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn cosigns_a_growing_ledger_from_reader_proofs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let op = key(1);
    let ledger = Ledger::create(&dir, &op, "growing", Options::default()).unwrap();
    let w = witness(&tmp.path().join("w"), 2, &ledger, &op);
    let policy = WitnessPolicy::new(vec![witness_key(2)], 1).unwrap();

    let mut last = ledger.checkpoint().unwrap();
    let first = w
        .add_checkpoint_at(&AddCheckpoint::initial(&last, &op.verifying_key()), 100)
        .unwrap();
    assert_eq!(first.size, last.tree_size);
    // Sizes crossing powers of two, and an equal-size repeat.
    for (round, n) in [1usize, 2, 3, 8, 1, 0, 17].into_iter().enumerate() {
        append(&ledger, "e", n);
        let next = ledger.checkpoint().unwrap();
        let req = request(&dir, last.tree_size, next.tree_size, &op);
        assert_eq!(req.old_size, last.tree_size);
        let c = w.add_checkpoint_at(&req, 200 + round as u64).unwrap();
        assert_eq!(c.size, next.tree_size);
        assert_eq!(c.body, next.body());
        let note = next.to_note(&op.verifying_key()) + &c.line();
        let witnessed = policy.check(&next, &note).unwrap();
        assert_eq!(witnessed.cosigners[0].timestamp, 200 + round as u64);
        // The cosignature is for this checkpoint only.
        assert!(policy
            .check(&last, &(last.to_note(&op.verifying_key()) + &c.line()))
            .is_err());
        assert_eq!(
            w.latest(&format!("provledger/{}", ledger.ledger_id())).unwrap(),
            Some(next.to_note(&op.verifying_key()))
        );
        last = next;
    }
    assert_eq!(last.tree_size, 33);
    ledger.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A base ledger of 4 entries with a checkpoint, copied into two forks that each append two
/// different entries and checkpoint (size 6); fork B appends one more (size 7).
struct Forks {
    _tmp: tempfile::TempDir,
    a_dir: std::path::PathBuf,
    b_dir: std::path::PathBuf,
    base: Checkpoint,
    a6: Checkpoint,
    b6: Checkpoint,
    b7: Checkpoint,
    log: LogKey,
}

fn forks(op: &SigningKey) -> Forks {
    let tmp = tempfile::tempdir().unwrap();
    let a_dir = tmp.path().join("a");
    let b_dir = tmp.path().join("b");
    let ledger = Ledger::create(&a_dir, op, "forked", Options::default()).unwrap();
    append(&ledger, "shared", 3);
    let base = ledger.checkpoint().unwrap();
    let log = LogKey::new(ledger.ledger_id(), op.verifying_key());
    ledger.close().unwrap();
    copy_dir(&a_dir, &b_dir);
    let a = Ledger::open(&a_dir, op, Options::default()).unwrap();
    append(&a, "fork A", 2);
    let a6 = a.checkpoint().unwrap();
    a.close().unwrap();
    let b = Ledger::open(&b_dir, op, Options::default()).unwrap();
    append(&b, "fork B", 2);
    let b6 = b.checkpoint().unwrap();
    append(&b, "fork B more", 1);
    let b7 = b.checkpoint().unwrap();
    b.close().unwrap();
    assert_eq!((base.tree_size, a6.tree_size, b6.tree_size, b7.tree_size), (4, 6, 6, 7));
    assert_eq!(a6.ledger_id, b6.ledger_id);
    assert_ne!(a6.root, b6.root);
    Forks {
        _tmp: tmp,
        a_dir,
        b_dir,
        base,
        a6,
        b6,
        b7,
        log,
    }
}

#[test]
fn split_view_between_two_forks_is_refused_with_both_notes() {
    let op = key(1);
    let f = forks(&op);
    let vk = op.verifying_key();
    let state = tempfile::tempdir().unwrap();
    let w = Witness::new(state.path(), witness_key(2), key(2), vec![f.log.clone()]).unwrap();
    w.add_checkpoint_at(&AddCheckpoint::initial(&f.base, &vk), 1).unwrap();
    let on_a = w.add_checkpoint_at(&request(&f.a_dir, 4, 6, &op), 2).unwrap();

    // Fork B at the same size: two operator-signed checkpoints of size 6, different roots.
    let r = refusal(w.add_checkpoint_at(&request(&f.b_dir, 4, 6, &op), 3));
    let Refusal::SplitView(e) = &r else {
        panic!("expected a split view, got {r:?}")
    };
    assert_eq!(r.http_status(), 409);
    let cosigned = Checkpoint::from_note(&e.cosigned_note, &vk).unwrap();
    let offered = Checkpoint::from_note(&e.offered_note, &vk).unwrap();
    assert_eq!((cosigned, offered), (f.a6, f.b6));

    // Fork B further on, with B's honest proof from 6: it cannot extend A's size-6 tree.
    let r = refusal(w.add_checkpoint_at(&request(&f.b_dir, 6, 7, &op), 4));
    let Refusal::Inconsistent { evidence, .. } = &r else {
        panic!("expected an unproven extension, got {r:?}")
    };
    assert_eq!(Checkpoint::from_note(&evidence.cosigned_note, &vk).unwrap(), f.a6);
    assert_eq!(Checkpoint::from_note(&evidence.offered_note, &vk).unwrap(), f.b7);
    assert_eq!((evidence.old_size, evidence.proof.len()), (6, 3));
    // From the base size it is a stale request: 409 with the stored size, no cosignature.
    assert_eq!(
        refusal(w.add_checkpoint_at(&request(&f.b_dir, 4, 7, &op), 5)),
        Refusal::Conflict { claimed: 4, stored: 6 }
    );

    // The witness's state still holds fork A, and only A's note meets a policy on it.
    assert_eq!(w.latest(f.log.origin()).unwrap(), Some(f.a6.to_note(&vk)));
    let policy = WitnessPolicy::new(vec![witness_key(2)], 1).unwrap();
    assert!(policy.check(&f.a6, &(f.a6.to_note(&vk) + &on_a.line())).is_ok());
    // A's cosignature pasted onto B's note names a trusted witness but does not verify.
    assert_eq!(
        policy.check(&f.b6, &(f.b6.to_note(&vk) + &on_a.line())),
        Err(WitnessError::BadCosignature {
            witness: "witness.example/w2".into()
        })
    );
}

#[test]
fn rollback_is_refused() {
    let op = key(1);
    let f = forks(&op);
    let vk = op.verifying_key();
    let state = tempfile::tempdir().unwrap();
    let w = Witness::new(state.path(), witness_key(2), key(2), vec![f.log.clone()]).unwrap();
    w.add_checkpoint_at(&AddCheckpoint::initial(&f.base, &vk), 1).unwrap();
    w.add_checkpoint_at(&request(&f.b_dir, 4, 7, &op), 2).unwrap();
    for (old, c) in [(0, &f.base), (4, &f.base), (4, &f.b6), (6, &f.b6)] {
        let req = AddCheckpoint {
            old_size: old,
            proof: Vec::new(),
            note: c.to_note(&vk),
        };
        let r = refusal(w.add_checkpoint_at(&req, 3));
        let e = r.evidence().unwrap();
        assert!(matches!(r, Refusal::Rollback(_)), "{r:?}");
        assert_eq!((e.cosigned_size, e.offered_size), (7, c.tree_size));
    }
    assert_eq!(w.latest(f.log.origin()).unwrap(), Some(f.b7.to_note(&vk)));
}

#[test]
fn forged_and_foreign_cosignatures_and_k_of_n() {
    let op = key(1);
    let f = forks(&op);
    let vk = op.verifying_key();
    let states = tempfile::tempdir().unwrap();
    // Three independent witnesses cosign fork A's checkpoint.
    let lines: Vec<Cosignature> = (2..5)
        .map(|n| {
            let w = Witness::new(
                states.path().join(n.to_string()),
                witness_key(n),
                key(n),
                vec![f.log.clone()],
            )
            .unwrap();
            w.add_checkpoint_at(&AddCheckpoint::initial(&f.a6, &vk), 10)
                .unwrap()
                .cosignature
        })
        .collect();
    let trusted: Vec<WitnessKey> = (2..5).map(witness_key).collect();
    let note = |sigs: &[&Cosignature]| sigs.iter().fold(f.a6.to_note(&vk), |n, c| n + &c.line());
    let two_of_three = WitnessPolicy::new(trusted.clone(), 2).unwrap();
    let three_of_three = WitnessPolicy::new(trusted.clone(), 3).unwrap();
    assert!(two_of_three.check(&f.a6, &note(&[&lines[0], &lines[2]])).is_ok());
    assert!(matches!(
        three_of_three.check(&f.a6, &note(&[&lines[0], &lines[2]])),
        Err(WitnessError::TooFewCosignatures { valid: 2, required: 3 })
    ));
    assert_eq!(
        three_of_three
            .check(&f.a6, &note(&[&lines[2], &lines[1], &lines[0]]))
            .unwrap()
            .cosigners
            .len(),
        3
    );
    // Foreign: a witness nobody trusts, even with a valid cosignature, adds nothing.
    let stranger = Witness::new(states.path().join("x"), witness_key(9), key(9), vec![f.log.clone()]).unwrap();
    let foreign = stranger
        .add_checkpoint_at(&AddCheckpoint::initial(&f.a6, &vk), 10)
        .unwrap()
        .cosignature;
    assert!(matches!(
        two_of_three.check(&f.a6, &note(&[&lines[0], &foreign])),
        Err(WitnessError::TooFewCosignatures { valid: 1, .. })
    ));
    // A foreign key under a trusted witness's name: its key hash differs, so it is ignored.
    let mut impostor = foreign.clone();
    impostor.name = "witness.example/w3".into();
    assert!(matches!(
        two_of_three.check(&f.a6, &note(&[&lines[0], &impostor])),
        Err(WitnessError::TooFewCosignatures { valid: 1, .. })
    ));
    // Forged: a trusted witness's line with a changed time or signature rejects the note.
    let mut forged = lines[1].clone();
    forged.timestamp += 1;
    assert!(matches!(
        two_of_three.check(&f.a6, &note(&[&lines[0], &forged, &lines[2]])),
        Err(WitnessError::BadCosignature { .. })
    ));
    // A trusted key's line made by someone else (the key hash copied, another signer).
    let mut stolen = foreign;
    stolen.name = "witness.example/w3".into();
    stolen.key_hash = witness_key(3).key_hash();
    assert!(matches!(
        two_of_three.check(&f.a6, &note(&[&lines[0], &stolen])),
        Err(WitnessError::BadCosignature { .. })
    ));
}

#[test]
fn concurrent_cosigns_on_one_state_never_lose_an_update() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let op = key(1);
    let ledger = Ledger::create(&dir, &op, "busy", Options::default()).unwrap();
    let mut checkpoints = vec![ledger.checkpoint().unwrap()];
    for n in 1..=12 {
        append(&ledger, "c", n % 3 + 1);
        checkpoints.push(ledger.checkpoint().unwrap());
    }
    let log = LogKey::new(ledger.ledger_id(), op.verifying_key());
    ledger.close().unwrap();
    let state = tmp.path().join("w");
    let first = Witness::new(&state, witness_key(2), key(2), vec![log.clone()]).unwrap();
    first
        .add_checkpoint_at(&AddCheckpoint::initial(&checkpoints[0], &op.verifying_key()), 1)
        .unwrap();

    // Eight "processes" (a Witness each, one state directory) race to push checkpoints, each
    // proving from the size it last read; stale ones are told the stored size.
    let successes = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (state, log, dir, op, cps, successes) = (&state, &log, &dir, &op, &checkpoints, Arc::clone(&successes));
            s.spawn(move || {
                let w = Witness::new(state, witness_key(2), key(2), vec![log.clone()]).unwrap();
                let reader = LedgerReader::open(dir).unwrap();
                for round in 0..12usize {
                    let stored = w.latest(log.origin()).unwrap().unwrap();
                    let stored = cps
                        .iter()
                        .find(|c| c.to_note(&op.verifying_key()) == stored)
                        .unwrap()
                        .tree_size;
                    let target = &cps[(t * 5 + round * 7) % cps.len()];
                    if target.tree_size < stored {
                        continue;
                    }
                    let proof = reader.consistency_proof(stored, Some(target.tree_size)).unwrap();
                    let req = AddCheckpoint::from_proof(&proof, &op.verifying_key()).unwrap();
                    match w.add_checkpoint_at(&req, 2) {
                        Ok(c) => successes.lock().unwrap().push(c.size),
                        Err(CosignError::Refused(Refusal::Conflict { .. } | Refusal::Rollback(_))) => {}
                        Err(e) => panic!("thread {t}: {e}"),
                    }
                }
            });
        }
    });
    let successes = successes.lock().unwrap();
    assert!(!successes.is_empty());
    let max = *successes.iter().max().unwrap();
    let final_note = first.latest(log.origin()).unwrap().unwrap();
    // Every cosigned size is at most the stored one: no update was lost or reordered.
    assert_eq!(
        Checkpoint::from_note(&final_note, &op.verifying_key())
            .unwrap()
            .tree_size,
        max
    );
}

#[test]
fn a_request_waits_for_the_origin_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let op = key(1);
    let ledger = Ledger::create(&dir, &op, "locked", Options::default()).unwrap();
    let c = ledger.checkpoint().unwrap();
    let state = tmp.path().join("w");
    let w = witness(&state, 2, &ledger, &op);
    ledger.close().unwrap();
    let origin = format!("provledger/{}", c.ledger_id);
    let lock_path = state.join(format!("{}.lock", hex(&Sha256::digest(origin.as_bytes()))));
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let req = AddCheckpoint::initial(&c, &op.verifying_key());
    std::thread::scope(|s| {
        let h = s.spawn(|| w.add_checkpoint_at(&req, 1));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!h.is_finished(), "the request did not wait for the lock");
        assert_eq!(w.latest(&origin).unwrap(), None);
        held.unlock().unwrap();
        assert_eq!(h.join().unwrap().unwrap().size, c.tree_size);
    });
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
