//! Interoperability with the transparency-log ecosystem, checked by implementations we did not
//! write: Cloudflare's `signed_note` and `tlog_tiles` (ports of Go's `sumdb/note` and `tlog`,
//! what C2SP witnesses and tiles clients run). A witness of the public network verifies the
//! log's signed note, parses the checkpoint, and checks a consistency proof from the size it
//! last cosigned; each of those is done here on provledger's output by that code.

mod common;

use common::{draft, key, std_opts};
use provledger::{Durability, Ledger, LedgerReader};
use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::tlog::{check_record, check_tree, record_hash, Hash};

fn h(d: &provledger::Digest) -> Hash {
    Hash(*d.as_bytes())
}

#[test]
fn third_party_c2sp_code_accepts_our_checkpoints_and_proofs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let k = key(21);
    let ledger = Ledger::create(&dir, k.clone(), "interop", std_opts(Durability::Buffered, 1 << 20)).expect("create");
    let mut checkpoints = Vec::new();
    for round in 0..6u64 {
        for i in 0..(round * 37 + 5) {
            ledger.append(draft(round * 1000 + i)).expect("append");
        }
        checkpoints.push(ledger.checkpoint().expect("checkpoint"));
    }
    let reader = LedgerReader::open(&dir).expect("reader");
    let vk = k.verifying_key();
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&vk.to_bytes()).expect("key");
    for c in &checkpoints {
        // The signed note: verified by signed_note with the standard Ed25519 verifier key of
        // the log (name = origin line).
        let note_text = c.to_note(&vk);
        let origin = note_text.lines().next().expect("origin line").to_string();
        let vkey = signed_note::new_ed25519_verifier_key(&origin, &dalek);
        let verifier = StandardVerifier::new(&vkey).expect("verifier key");
        let note = Note::from_bytes(note_text.as_bytes()).expect("signed_note parses our note");
        let (verified, unverified) = note
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .expect("signed_note verifies our checkpoint signature");
        assert_eq!((verified.len(), unverified.len()), (1, 0));
        assert_eq!(note.text(), c.body().as_bytes());

        // The checkpoint body: parsed by tlog_tiles as a C2SP tlog-checkpoint.
        let parsed = tlog_tiles::Checkpoint::from_bytes(note.text()).expect("tlog_tiles parses our checkpoint");
        assert_eq!(parsed.origin(), origin);
        assert_eq!(parsed.size(), c.tree_size);
        assert_eq!(parsed.hash().0, *c.root.as_bytes());

        // A tampered signature is refused by the third-party verifier too.
        let mut bad = note_text.clone().into_bytes();
        let at = bad.len() - 10;
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let verifier = StandardVerifier::new(&vkey).expect("verifier key");
        let refused = Note::from_bytes(&bad).map(|n| n.verify(&VerifierList::new(vec![Box::new(verifier)])).is_err());
        assert!(refused.unwrap_or(true), "a changed signature must not verify");

        // Inclusion proofs (RFC 6962 / 9162) of several entries, checked by tlog_tiles.
        for seq in [0, c.tree_size / 3, c.tree_size - 1] {
            let p = reader.inclusion_proof(seq, Some(c.tree_size)).expect("inclusion proof");
            let path: Vec<Hash> = p.path.iter().map(h).collect();
            let leaf = record_hash(p.entry_hash.as_bytes());
            check_record(&path, c.tree_size, h(&c.root), seq, leaf).expect("tlog_tiles checks our inclusion proof");
            // The wrong leaf index fails there too.
            if c.tree_size > 1 {
                let other = (seq + 1) % c.tree_size;
                assert!(check_record(&path, c.tree_size, h(&c.root), other, leaf).is_err());
            }
        }
    }
    // Consistency proofs between every pair of checkpoints, and from sizes that are not
    // checkpoints (what a witness that last cosigned size m asks for).
    for (i, old) in checkpoints.iter().enumerate() {
        for new in &checkpoints[i + 1..] {
            let p = reader
                .consistency_proof(old.tree_size, Some(new.tree_size))
                .expect("consistency proof");
            let path: Vec<Hash> = p.path.iter().map(h).collect();
            check_tree(&path, new.tree_size, h(&new.root), old.tree_size, h(&old.root))
                .expect("tlog_tiles checks our consistency proof");
            // Against another older root, it fails there too.
            let mut wrong = *old.root.as_bytes();
            wrong[0] ^= 1;
            assert!(check_tree(&path, new.tree_size, h(&new.root), old.tree_size, Hash(wrong)).is_err());
        }
    }
    let newest = checkpoints.last().expect("checkpoints");
    for m in [1, 2, 3, 7, 100, newest.tree_size - 1] {
        let p = reader.consistency_proof(m, None).expect("consistency proof");
        let (old_root, _, _) = reader.consistency(m, newest.tree_size).expect("roots");
        let path: Vec<Hash> = p.path.iter().map(h).collect();
        check_tree(&path, newest.tree_size, h(&newest.root), m, h(&old_root)).expect("from any size");
    }
    ledger.close().expect("close");
}
