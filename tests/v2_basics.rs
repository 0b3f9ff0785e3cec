//! The v2 write path end to end: create, append (signed and unsigned, batches, many
//! producers), checkpoint, reopen, verify.

use std::sync::Arc;

use provledger::{verify, verify_opts, Draft, Durability, Ledger, Options, SigningKey, TrustAnchor, VerifyOptions};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

#[test]
fn create_append_verify_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let anchor = TrustAnchor::PublicKey(k.verifying_key());
    let ledger = Ledger::create(dir.path(), k.clone(), "t", Options::default()).unwrap();
    let r = ledger
        .append(Draft::application("text/plain", b"one".to_vec()))
        .unwrap();
    assert_eq!(r.seq, 1);
    assert!(r.durable);
    let rs = ledger
        .append_batch(
            (0..100u8)
                .map(|i| Draft::application("text/plain", vec![i; 10]))
                .collect(),
        )
        .unwrap();
    assert_eq!(rs.last().unwrap().seq, 101);
    assert_eq!(ledger.head(), rs.last().unwrap().chain);
    ledger.close().unwrap();
    let report = verify(dir.path(), &anchor).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 102);
    assert_eq!(report.head, rs.last().unwrap().chain);

    let ledger = Ledger::open(dir.path(), k.clone(), Options::default()).unwrap();
    assert_eq!(ledger.len(), 102);
    assert!(!ledger.recovery().verified_on_open);
    ledger
        .append_batch(
            (0..50u8)
                .map(|i| Draft::application("a/b", vec![i]).without_position_signature())
                .collect(),
        )
        .unwrap();
    let report = verify(dir.path(), &anchor).unwrap();
    assert!(!report.is_ok(), "unsigned entries need a checkpoint");
    let cp = ledger.checkpoint().unwrap();
    assert_eq!(cp.tree_size, 152);
    drop(ledger);
    let report = verify(dir.path(), &anchor).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.unsigned_covered, 50);
    assert_eq!(report.root, cp.root);
    let incremental = VerifyOptions::default().from_checkpoint(Some(cp));
    let report = verify_opts(&provledger::storage::StdBackend, dir.path(), &anchor, &incremental).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn many_producers_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(2);
    let ledger = Arc::new(Ledger::create(dir.path(), k.clone(), "t", Options::default()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let l = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let tickets: Vec<_> = (0..50u8)
                    .map(|i| {
                        l.submit(Draft::application("x/y", vec![t, i]), Durability::Synced)
                            .unwrap()
                    })
                    .collect();
                tickets.into_iter().map(|t| t.wait().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|r| {
            assert!(r.durable);
            r.seq
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    Arc::into_inner(ledger).unwrap().close().unwrap();
    let report = verify(dir.path(), &TrustAnchor::PublicKey(k.verifying_key())).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 401);
}

#[test]
fn opening_with_another_operator_verifies_first() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(3), key(4));
    let genesis = provledger::Genesis {
        name: "t".into(),
        anchors: vec![
            provledger::TrustAnchorKey::operator(&a.verifying_key(), "a"),
            provledger::TrustAnchorKey::operator(&b.verifying_key(), "b"),
        ],
        policy: provledger::record::Policy::default(),
    };
    let ledger = Ledger::create_with_genesis(dir.path(), a.clone(), &genesis, Options::default()).unwrap();
    ledger.append(Draft::application("x/y", vec![1])).unwrap();
    drop(ledger);
    // `b` did not sign the genesis: it must be told what to verify the ledger against.
    let refused = Ledger::open(dir.path(), b.clone(), Options::default());
    assert!(
        matches!(refused, Err(provledger::OpenError::SignerNotAuthorized { .. })),
        "{refused:?}"
    );
    let anchor = TrustAnchor::PublicKey(a.verifying_key());
    let ledger = Ledger::open(dir.path(), b.clone(), Options::default().trust_anchor(anchor)).unwrap();
    assert!(ledger.recovery().verified_on_open);
    ledger.append(Draft::application("x/y", vec![2])).unwrap();
    drop(ledger);
    let report = verify(dir.path(), &TrustAnchor::PublicKey(a.verifying_key())).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 3);
}

/// `VerifyOptions::on_progress` reports a growing count after each chunk, ending at the number
/// of entries verified.
#[test]
fn verify_reports_progress_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(5);
    let ledger = Ledger::create(
        dir.path(),
        k.clone(),
        "t",
        Options::default().durability(provledger::Durability::Buffered),
    )
    .unwrap();
    let drafts: Vec<Draft> = (0..10_000u32)
        .map(|i| Draft::application("x/y", i.to_le_bytes().to_vec()).without_position_signature())
        .collect();
    ledger.append_batch(drafts).unwrap();
    ledger.checkpoint().unwrap();
    ledger.close().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = std::sync::Arc::clone(&seen);
    let opts = provledger::VerifyOptions::default().on_progress(move |n| s.lock().unwrap().push(n));
    let report = provledger::verify_opts(
        &provledger::storage::StdBackend,
        dir.path(),
        &TrustAnchor::PublicKey(k.verifying_key()),
        &opts,
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last().copied(), Some(report.entries));
    assert_eq!(report.entries, 10_001);
}
