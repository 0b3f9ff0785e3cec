//! The fast paths write what the slow path would (issue 11: "every fast path is verified equal
//! to the slow path").
//!
//! The writer encodes a group's frames straight into one buffer, in parallel across threads,
//! patches position signatures in place and seals only the last frame of each write. Here the
//! same random drafts (signed and unsigned, co-signed, empty to multi-KiB payloads, refs, fixed
//! timestamps) go through four paths — one `append_batch` on two threads, one `append` per
//! draft on one thread, `submit_batch` in random chunks left in flight together, and many
//! single `submit`s — and for every path:
//! * every stored frame is byte for byte what the plain, one-frame-at-a-time encoder
//!   (`EntryFields::encode_record` + `encode_frame`, the reference the vectors pin) makes from
//!   the decoded fields, the stored salt and payload and the stored seal;
//! * the receipts name the entry hash and chain value that the sequential recomputation
//!   (`Entry::decode`, `chain_value`) gives, in order, and every receipt of a `Synced` write is
//!   durable;
//! * the ledgers hold the same statements in the same order (kind, time, content type, refs,
//!   payload, which entries carry a position signature, co-signer key ids);
//! * `verify` (the pipelined, parallel verifier) and the independent verifier written from
//!   docs/FORMAT.md alone both pass it, with the same counts.
//!
//! Salts (random per entry) and hence hashes and signatures differ between the ledgers; what
//! must not differ is how each one is laid out and what it says.

use std::path::Path;

use proptest::prelude::*;
use provledger::entry::{EntryFields, Timestamp};
use provledger::hash::chain_value;
use provledger::storage::frame::{encode_frame, parse_header, Seal, StoredPayload, FRAME_HEADER_LEN, SEAL_LEN};
use provledger::{verify, Digest, Draft, Durability, Ledger, LedgerReader, Options, Receipt, SigningKey, TrustAnchor};

#[path = "vectors_support/independent.rs"]
mod independent;

/// One draft of the generated workload.
#[derive(Clone)]
struct Spec {
    payload: Vec<u8>,
    signed: bool,
    cosigned: bool,
    content_type: &'static str,
    refs: Vec<[u8; 32]>,
}

/// Payloads by length only: a failing case of thousands of drafts stays readable.
impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("payload_len", &self.payload.len())
            .field("signed", &self.signed)
            .field("cosigned", &self.cosigned)
            .field("content_type", &self.content_type)
            .field("refs", &self.refs.len())
            .finish()
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..64),
            1 => proptest::collection::vec(any::<u8>(), 64..5000),
        ],
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::sample::select(vec![
            "text/plain",
            "application/json",
            "a/b",
            "application/vnd.x.y+cbor",
        ]),
        proptest::collection::vec(any::<[u8; 32]>(), 0..3),
    )
        .prop_map(|(payload, signed, cosigned, content_type, refs)| Spec {
            payload,
            signed,
            cosigned,
            content_type,
            refs,
        })
}

fn operator() -> SigningKey {
    SigningKey::from_seed(&[11; 32])
}

fn cosigner() -> SigningKey {
    SigningKey::from_seed(&[12; 32])
}

/// The draft of spec `s` at index `i` (its timestamp follows the index); a co-signed draft is
/// co-signed by [`cosigner`], which `write` enrolls first.
fn draft(s: &Spec, i: usize) -> Draft {
    let mut d = Draft::application(s.content_type, s.payload.clone())
        .with_timestamp(Timestamp(1_767_225_600_000_000_000 + i as u64))
        .with_refs(s.refs.iter().map(|r| Digest::from_bytes(*r)).collect());
    if !s.signed {
        d = d.without_position_signature();
    }
    if s.cosigned {
        d = d.cosigned_by(cosigner());
    }
    d
}

#[derive(Clone, Copy, Debug)]
enum WritePath {
    OneBatchTwoThreads,
    OneByOneOneThread,
    SubmitBatchesInFlight,
    SubmitEach,
}

/// Writes `specs` into a new ledger in `dir` through `path`; the receipts, in order.
fn write(dir: &Path, specs: &[Spec], path: WritePath, chunks: &[usize]) -> Vec<Receipt> {
    let threads = if matches!(path, WritePath::OneByOneOneThread) {
        1
    } else {
        2
    };
    let opts = Options::default().durability(Durability::Synced).threads(threads);
    let l = Ledger::create(dir, operator(), "fast-path", opts).unwrap();
    // The co-signer must be enrolled for the writer to accept its signatures.
    let enroll = provledger::record::Record::KeyEnrollment(provledger::record::KeyEnrollment {
        public_key: cosigner().verifying_key().to_bytes(),
        principal_id: "reviewer".into(),
        display_name: String::new(),
        principal_type: provledger::PrincipalType::Person,
        roles: vec![provledger::Role::Reviewer],
        environments: vec![],
    });
    l.append(Draft::record(&enroll).unwrap()).unwrap();
    let drafts: Vec<Draft> = specs.iter().enumerate().map(|(i, s)| draft(s, i)).collect();
    let receipts = match path {
        WritePath::OneBatchTwoThreads => l.append_batch(drafts).unwrap(),
        WritePath::OneByOneOneThread => drafts.into_iter().map(|d| l.append(d).unwrap()).collect(),
        WritePath::SubmitBatchesInFlight => {
            let mut tickets = Vec::new();
            let mut rest = drafts;
            let mut k = 0;
            while !rest.is_empty() {
                let n = chunks[k % chunks.len()].clamp(1, rest.len());
                k += 1;
                let tail = rest.split_off(n);
                tickets.push(l.submit_batch(rest, Durability::Synced).unwrap());
                rest = tail;
            }
            tickets.into_iter().flat_map(|t| t.wait().unwrap()).collect()
        }
        WritePath::SubmitEach => {
            let tickets: Vec<_> = drafts
                .into_iter()
                .map(|d| l.submit(d, Durability::Synced).unwrap())
                .collect();
            tickets.into_iter().map(|t| t.wait().unwrap()).collect()
        }
    };
    l.checkpoint().unwrap();
    l.close().unwrap();
    receipts
}

/// What an entry says, independent of its salt: compared across paths.
#[derive(Debug, PartialEq, Eq)]
struct Said {
    kind: provledger::EntryKind,
    timestamp: u64,
    content_type: String,
    refs: Vec<Digest>,
    payload: Vec<u8>,
    positioned: bool,
    cosigners: Vec<provledger::KeyId>,
}

/// What the entry made from `draft(s, i)` must say.
fn said_of(s: &Spec, i: usize) -> Said {
    Said {
        kind: provledger::EntryKind::Application,
        timestamp: 1_767_225_600_000_000_000 + i as u64,
        content_type: s.content_type.to_owned(),
        refs: s.refs.iter().map(|r| Digest::from_bytes(*r)).collect(),
        payload: s.payload.clone(),
        positioned: s.signed,
        cosigners: if s.cosigned {
            vec![cosigner().verifying_key().key_id()]
        } else {
            Vec::new()
        },
    }
}

/// Checks every frame of the ledger in `dir` against the reference encoder and the receipts
/// against the sequential recomputation; returns what each entry says.
fn check_ledger(dir: &Path, receipts: &[Receipt]) -> Vec<Said> {
    assert!(receipts.iter().all(|r| r.durable), "a Synced receipt must be durable");
    check_frames_and_chain(dir, receipts, 2)
}

/// [`check_ledger`] for a ledger whose first `lead` entries (genesis, …) have no receipt here.
fn check_frames_and_chain(dir: &Path, receipts: &[Receipt], lead: u64) -> Vec<Said> {
    let reader = LedgerReader::open(dir).unwrap();
    let n = reader.indexed_len().unwrap();
    assert_eq!(receipts.len() as u64 + lead, n, "leading entries + drafts");
    let mut chain = Digest::from_bytes([0; 32]);
    let mut said = Vec::new();
    let mut file_cache: Option<(std::path::PathBuf, Vec<u8>)> = None;
    for seq in 0..n {
        let stored = reader.get(seq).unwrap();
        let e = &stored.entry;
        // The frame as stored.
        if file_cache.as_ref().is_none_or(|(p, _)| *p != stored.file) {
            file_cache = Some((stored.file.clone(), std::fs::read(&stored.file).unwrap()));
        }
        let data = &file_cache.as_ref().unwrap().1;
        let at = stored.offset as usize;
        let header = parse_header(data[at..at + FRAME_HEADER_LEN].try_into().unwrap()).unwrap();
        let frame = &data[at..at + header.frame_len()];
        // The same frame from the plain encoder.
        let fields = EntryFields {
            kind: e.kind,
            timestamp: e.timestamp,
            content_type: e.content_type.clone().into(),
            refs: e.refs.clone(),
        };
        let record = fields.encode_record(e.position.as_ref(), &e.cosignatures).unwrap();
        let StoredPayload::Present { salt, bytes } = &stored.payload else {
            panic!("entry {seq}: no payload erased here");
        };
        let seal = header.sealed.then(|| {
            let end = frame.len() - 4;
            Seal::decode(frame[end - SEAL_LEN..end].try_into().unwrap())
        });
        let mut expected = Vec::new();
        encode_frame(&mut expected, &record, salt, bytes, seal.as_ref());
        assert_eq!(
            frame,
            &expected[..],
            "entry {seq}: stored frame differs from the reference encoding"
        );
        // The chain, sequentially.
        chain = chain_value(&chain, &e.hash);
        if seq >= lead {
            let r = &receipts[(seq - lead) as usize];
            assert_eq!(
                (r.seq, r.entry_hash, r.chain),
                (seq, e.hash, chain),
                "receipt of entry {seq}"
            );
            said.push(Said {
                kind: e.kind,
                timestamp: e.timestamp.0,
                content_type: e.content_type.clone(),
                refs: e.refs.clone(),
                payload: bytes.clone(),
                positioned: e.position.is_some(),
                cosigners: e.cosignatures.iter().map(|c| c.key_id).collect(),
            });
        }
    }
    said
}

/// `verify` and the independent verifier written from docs/FORMAT.md alone both pass the
/// ledger in `dir`, with `entries` entries and the same root and head; the library's report.
fn verify_both(dir: &Path, entries: u64, what: &str) -> Result<provledger::VerifyReport, TestCaseError> {
    let report = verify(dir, &TrustAnchor::PublicKey(operator().verifying_key())).unwrap();
    prop_assert!(report.is_ok(), "{what}: {report:?}");
    prop_assert_eq!(report.entries, entries, "{}", what);
    let v = independent::verify_dir(
        dir,
        independent::Anchor::PublicKey(operator().verifying_key().to_bytes()),
        independent::Opts::default(),
    );
    match v {
        independent::Verdict::Ok {
            entries, root, head, ..
        } => {
            prop_assert_eq!(entries, report.entries, "{}", what);
            prop_assert_eq!(root, report.root.to_bytes(), "{}", what);
            prop_assert_eq!(head, report.head.to_bytes(), "{}", what);
        }
        other => prop_assert!(false, "{}: the independent verifier says {:?}", what, other),
    }
    Ok(report)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_write_path_writes_what_the_reference_encoder_writes(
        specs in proptest::collection::vec(spec(), 1..120),
        chunks in proptest::collection::vec(1usize..40, 1..6),
    ) {
        let mut said = Vec::new();
        for path in [WritePath::OneBatchTwoThreads, WritePath::OneByOneOneThread, WritePath::SubmitBatchesInFlight, WritePath::SubmitEach] {
            let dir = tempfile::tempdir().unwrap();
            let receipts = write(dir.path(), &specs, path, &chunks);
            said.push((path, check_ledger(dir.path(), &receipts)));
            let _ = verify_both(dir.path(), specs.len() as u64 + 2, &format!("{path:?}"))?;
        }
        for (path, s) in &said[1..] {
            prop_assert_eq!(s, &said[0].1, "{:?} says something else than {:?}", path, said[0].0);
        }
        // …and what they say is what the drafts said (co-signatures included).
        for (i, (got, s)) in said[0].1.iter().zip(&specs).enumerate() {
            prop_assert_eq!(got, &said_of(s, i), "entry {} of {:?}", i + 2, said[0].0);
        }
    }
}

/// Drafts the writer takes its simple path for (application entries without co-signers, with
/// or without references), with payloads large enough that a 1 MiB segment fills within a few hundred entries.
fn simple_spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            1 => proptest::collection::vec(any::<u8>(), 0..64),
            3 => proptest::collection::vec(any::<u8>(), 1000..6000),
        ],
        any::<bool>(),
        prop::sample::select(vec!["text/plain", "application/octet-stream"]),
        proptest::collection::vec(any::<[u8; 32]>(), 0..3),
    )
        .prop_map(|(payload, signed, content_type, refs)| Spec {
            payload,
            signed,
            cosigned: false,
            content_type,
            refs,
        })
}

/// Where each entry's frame is (segment file name, offset) and whether it is sealed.
fn layout(dir: &Path) -> Vec<(std::ffi::OsString, u64, bool)> {
    let reader = LedgerReader::open(dir).unwrap();
    let n = reader.indexed_len().unwrap();
    let mut out = Vec::new();
    let mut file_cache: Option<(std::path::PathBuf, Vec<u8>)> = None;
    for seq in 0..n {
        let stored = reader.get(seq).unwrap();
        if file_cache.as_ref().is_none_or(|(p, _)| *p != stored.file) {
            file_cache = Some((stored.file.clone(), std::fs::read(&stored.file).unwrap()));
        }
        let data = &file_cache.as_ref().unwrap().1;
        let at = stored.offset as usize;
        let header = parse_header(data[at..at + FRAME_HEADER_LEN].try_into().unwrap()).unwrap();
        out.push((
            stored.file.file_name().unwrap().to_owned(),
            stored.offset,
            header.sealed,
        ));
    }
    out
}

/// The writer's pipelined path (a group of at least two pieces of 256 drafts: each piece
/// prepared while the one before it is chained and written) lays the entries out exactly as
/// calls of one piece each do — the same frames sealed, the same segment boundaries, segments
/// rotated where they fill up inside a piece and between pieces — and what it writes is what
/// the reference encoder writes, verifies, and says what one `append` per draft says.
/// (256 is the writer's `PIECE`: if that changes, change it here.)
#[test]
fn a_large_batch_is_written_in_pieces_laid_out_as_separate_calls_would_be() {
    const PIECE: usize = 256;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(simple_spec(), 2 * PIECE + 1..5 * PIECE);
    runner
        .run(&strategy, |specs| {
            let drafts =
                |specs: &[Spec]| -> Vec<Draft> { specs.iter().enumerate().map(|(i, s)| draft(s, i)).collect() };
            let create = |dir: &Path, durability: Durability, threads: Option<usize>| {
                let mut opts = Options::default().durability(durability).segment_size(1 << 20);
                if let Some(t) = threads {
                    opts = opts.threads(t);
                }
                Ledger::create(dir, operator(), "pieces", opts).unwrap()
            };
            // Reference: one call per piece (each below the pipelined size).
            let by_piece = tempfile::tempdir().unwrap();
            let l = create(by_piece.path(), Durability::Buffered, Some(2));
            let mut reference_receipts = Vec::new();
            for chunk in specs.chunks(PIECE) {
                reference_receipts.extend(l.append_batch(drafts(chunk)).unwrap());
            }
            l.close().unwrap();
            let expected = layout(by_piece.path());
            let segments = expected
                .iter()
                .map(|e| &e.0)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            prop_assert!(segments >= 2, "the workload must rotate segments ({segments})");
            // The pipelined path: synced on two threads, buffered on one, and on the global pool.
            for (durability, threads) in [
                (Durability::Synced, Some(2)),
                (Durability::Buffered, Some(1)),
                (Durability::Buffered, None),
            ] {
                let dir = tempfile::tempdir().unwrap();
                let l = create(dir.path(), durability, threads);
                let receipts = l.append_batch(drafts(&specs)).unwrap();
                prop_assert_eq!(receipts.len(), specs.len());
                for (i, r) in receipts.iter().enumerate() {
                    prop_assert_eq!(r.seq, i as u64 + 1);
                    // Synced: all durable. Buffered: those in segments already left (synced
                    // when the writer moved on), i.e. a prefix, and not the newest entries.
                    if durability == Durability::Synced {
                        prop_assert!(r.durable, "receipt {}", i);
                    } else if i > 0 {
                        prop_assert!(!r.durable || receipts[i - 1].durable, "receipt {}", i);
                    }
                }
                if durability == Durability::Buffered {
                    prop_assert!(!receipts.last().unwrap().durable);
                }
                l.checkpoint().unwrap();
                l.close().unwrap();
                let mut got = layout(dir.path());
                // The checkpoint added nothing to the segments; compare the entries.
                got.truncate(expected.len());
                prop_assert_eq!(&got, &expected, "{:?} on {:?} threads", durability, threads);
                let reader = LedgerReader::open(dir.path()).unwrap();
                prop_assert_eq!(reader.indexed_len().unwrap(), specs.len() as u64 + 1);
                let report = verify_both(dir.path(), specs.len() as u64 + 1, &format!("{durability:?}"))?;
                prop_assert_eq!(report.head, receipts.last().unwrap().chain);
                // Frames as the reference encoder makes them, receipts as the chain recomputes
                // them (after the genesis entry, which has no receipt here), and each entry
                // says what its draft said.
                let said = check_frames_and_chain(dir.path(), &receipts, 1);
                prop_assert_eq!(said.len(), specs.len());
                for (i, (got, s)) in said.iter().zip(&specs).enumerate() {
                    prop_assert_eq!(
                        got,
                        &said_of(s, i),
                        "entry {} of {:?} on {:?} threads",
                        i + 1,
                        durability,
                        threads
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// A group made of many requests draws its salts in one pass and hands them out in order:
/// every entry gets a salt of its own. Identical payloads submitted by many threads at once
/// (single entries left in flight, and batches between them) must all be stored, once each,
/// under distinct commitments — a salt handed to two entries, or one request's salts shifted
/// onto another's entries, shows as a repeated commitment or a missing entry.
#[test]
fn entries_grouped_from_many_requests_each_get_a_fresh_salt() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::create(
        dir.path(),
        operator(),
        "salts",
        Options::default().durability(Durability::Synced),
    )
    .unwrap();
    let same = || {
        Draft::application("application/octet-stream", vec![7u8; 100])
            .with_timestamp(Timestamp(1_767_225_600_000_000_000))
            .without_position_signature()
    };
    let (threads, each, batch) = (8u64, 40u64, 5usize);
    let mut seqs: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let singles: Vec<_> = (0..each)
                        .map(|_| l.submit(same(), Durability::Synced).unwrap())
                        .collect();
                    let batched = l
                        .submit_batch((0..batch).map(|_| same()).collect(), Durability::Synced)
                        .unwrap();
                    let mut seqs: Vec<u64> = singles.into_iter().map(|t| t.wait().unwrap().seq).collect();
                    seqs.extend(batched.wait().unwrap().into_iter().map(|r| r.seq));
                    seqs
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    l.close().unwrap();
    let total = threads * (each + batch as u64);
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "every entry once, in one run of sequence numbers"
    );
    let reader = LedgerReader::open(dir.path()).unwrap();
    let mut commitments: Vec<Digest> = (1..=total)
        .map(|seq| reader.get(seq).unwrap().entry.commitment)
        .collect();
    commitments.sort_unstable_by_key(|d| d.to_bytes());
    commitments.dedup();
    assert_eq!(commitments.len() as u64, total, "a salt was used for two entries");
}
