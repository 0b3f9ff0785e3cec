//! Seeds from real ledgers.

use std::path::Path;
use std::sync::Arc;

use crate::encoding::serde_codec;
use crate::entry::commit_payload;
use crate::hash::Digest;
use crate::ledger::{Draft, Durability, Ledger};
use crate::reader::LedgerReader;
use crate::record::{Genesis, Policy, Record};
use crate::storage::frame::{parse_header, parse_section, SectionRef, FRAME_HEADER_LEN};
use crate::storage::segment::SEGMENT_HEADER_LEN;
use crate::storage::SimBackend;

use super::ledger_dir::{is_segment, sim_options, DIR};
use super::{fuzz_key, ledger_container};

/// Seed inputs for every target, `(target, input)`, taken from real ledgers built on a
/// simulated disk with the fuzzing key.
#[must_use]
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let dir = Path::new(DIR);
    for redact in [false, true] {
        let disk = seed_ledger(redact);
        out.push(("open_arbitrary_ledger", ledger_container(&disk, dir, 0)));
        out.push(("open_arbitrary_ledger", ledger_container(&disk, dir, 0x3f)));
        let reader = LedgerReader::open_with(Arc::new(disk.clone()), dir).expect("seed ledger reads");
        for path in disk.files().into_iter().filter(|p| is_segment(p)) {
            let seg = disk.file_bytes(&path).unwrap_or_default();
            for (seq, record, commitment) in records(&seg) {
                let mut e = seq.to_le_bytes().to_vec();
                e.extend_from_slice(commitment.as_bytes());
                e.extend_from_slice(&record);
                out.push(("decode_entry", e));
            }
            let mut raw = vec![0x20];
            raw.extend_from_slice(&seg);
            out.push(("decode_frame_and_segment", raw));
        }
        for c in reader.checkpoints().unwrap_or_default() {
            let mut rec = vec![0];
            rec.extend_from_slice(&reader.ledger_id().0);
            rec.extend_from_slice(&c.encode());
            out.push(("decode_checkpoint", rec));
            out.push(("decode_note", c.to_note(&fuzz_key().verifying_key()).into_bytes()));
            #[cfg(feature = "json")]
            out.push(("decode_json", serde_json::to_vec(&c).unwrap_or_default()));
        }
        if let Ok(p) = reader.inclusion_proof(1, None) {
            out.push(("decode_proofs", serde_codec::encode(&p, "seed").unwrap_or_default()));
            #[cfg(feature = "json")]
            out.push(("decode_json", serde_json::to_vec_pretty(&p).unwrap_or_default()));
        }
        let first = reader.checkpoints().ok().and_then(|c| c.first().map(|c| c.tree_size));
        if let Ok(p) = reader.consistency_proof(first.unwrap_or(1), None) {
            out.push(("decode_proofs", serde_codec::encode(&p, "seed").unwrap_or_default()));
            #[cfg(feature = "json")]
            out.push(("decode_json", serde_json::to_vec_pretty(&p).unwrap_or_default()));
        }
    }
    out.extend(record_seeds().into_iter().map(|r| ("decode_records", r)));
    #[cfg(feature = "json")]
    out.extend(json_seeds().into_iter().map(|j| ("decode_json", j)));
    for s in [
        &[0u8, 0, 1, 2, 1, 3, 4, 9, 0, 0, 2, 3, 5, 6, 2][..],
        &[1, 200, 0, 0, 5, 2, 4, 6, 1, 7, 3, 5, 11, 0, 6],
    ] {
        out.push(("verify_proofs_against_real_tree", s.to_vec()));
        out.push(("decode_frame_and_segment", s.to_vec()));
    }
    out.extend(model_seeds().into_iter().map(|s| ("model_ops", s)));
    out.extend(super::keyless::seeds().into_iter().map(|s| ("keyless_attacker", s)));
    out.extend(hash_seeds().into_iter().map(|s| ("hash_each", s)));
    out
}

/// Batches for `hash_each` (layout in `hashes::hash_each`): 40 commitments of a 280-byte
/// payload (312 bytes: two full passes of sixteen lanes and eight alone), and a mixed batch
/// of 64 around 130 bytes (entry hash inputs) with lengths spread over every block count.
fn hash_seeds() -> Vec<Vec<u8>> {
    let mut same = vec![0u8, 40];
    same.extend_from_slice(&312u16.to_le_bytes());
    same.extend(std::iter::repeat_n(0u8, 40));
    same.extend((0..40 * 312).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let mut mixed = vec![2u8, 64];
    mixed.extend_from_slice(&130u16.to_le_bytes());
    for i in 0..64u16 {
        match i % 4 {
            0 | 1 => mixed.push(0),
            2 => mixed.push(0x80 | u8::try_from(i % 64).unwrap_or(0)),
            _ => {
                mixed.push(0xc0);
                mixed.extend_from_slice(&(i * 17 % 1101).to_le_bytes());
            }
        }
    }
    mixed.extend((0..4096u32).map(|i| (i * 7 + 3) as u8));
    vec![same, mixed]
}

/// Operation sequences for `model_ops` (see `model::Model::step` for the codes): appends of
/// every kind, tickets, checkpoints, a redaction, faults and each way of stopping.
fn model_seeds() -> Vec<Vec<u8>> {
    vec![
        // Appends (signed, unsigned), a batch, tickets in both durabilities, a checkpoint.
        vec![
            0, 0, 5, 0, 1, 7, 1, 3, 3, 1, 0, 2, 1, 3, 0, 4, 0, 9, 0, 5, 1, 3, 4, 0, 5, 1, 6, 8, 9,
        ],
        // Enroll a co-signer, entries it co-signs, revoke it, co-sign again (refused).
        vec![
            18, 0, 0, 19, 1, 0, 0, 19, 3, 1, 1, 6, 18, 1, 0, 19, 5, 0, 0, 6, 8, 10, 0, 0,
        ],
        // Segment-filling entries, a redaction, power loss while running, reopen.
        vec![7, 3, 0, 0, 7, 5, 0, 0, 7, 7, 1, 0, 6, 11, 2, 0, 12, 0, 0, 3, 6, 8],
        // A failing sync, an append and a sync that fail, heal, reopen, clean power loss.
        vec![0, 4, 0, 16, 0, 9, 0, 9, 17, 10, 1, 0, 0, 6, 1, 13, 1, 14, 0, 8],
        // Disk full in the middle of a batch, then a redaction on a full disk.
        vec![
            3, 4, 1, 1, 2, 0, 3, 0, 4, 0, 15, 200, 0, 3, 5, 9, 0, 8, 0, 7, 1, 15, 40, 0, 11, 1, 0, 17, 10, 0,
        ],
    ]
}

/// `(seq, record, payload commitment)` of every complete frame of a segment file.
fn records(seg: &[u8]) -> Vec<(u64, Vec<u8>, Digest)> {
    let mut out = Vec::new();
    let first = seg
        .get(32..40)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= seg.len() {
        let Ok(h) = parse_header(&std::array::from_fn(|i| seg[pos + i])) else {
            break;
        };
        let end = pos + h.frame_len();
        if end > seg.len() {
            break;
        }
        let record = seg[pos + FRAME_HEADER_LEN..pos + h.section_offset()].to_vec();
        let s = pos + h.section_offset();
        let commitment = match parse_section(&seg[s..s + h.section_len]) {
            Ok(SectionRef::Present { salt, payload }) => commit_payload(salt, payload),
            Ok(SectionRef::Erased { commitment, .. }) => commitment,
            Err(_) => Digest::ZERO,
        };
        out.push((first + out.len() as u64, record, commitment));
        pos = end;
    }
    out
}

/// A ledger with signed, unsigned and co-signed entries, a key enrollment, two checkpoints,
/// and (if `redact`) an erasure.
fn seed_ledger(redact: bool) -> SimBackend {
    let disk = SimBackend::new();
    let opts = sim_options(&disk, Durability::Synced);
    let l = Ledger::create(Path::new(DIR), fuzz_key(), "seed", opts).expect("seed ledger");
    let draft = |i: u8| Draft::application("text/plain", vec![b'a' + i; usize::from(i) * 5]);
    for i in 0..3 {
        l.append(draft(i)).expect("seed append");
    }
    let reviewer = crate::keys::SigningKey::from_seed(&[2; 32]);
    let enroll = Record::KeyEnrollment(crate::record::KeyEnrollment {
        public_key: reviewer.verifying_key().to_bytes(),
        principal_id: "reviewer@seed".to_owned(),
        display_name: String::new(),
        principal_type: crate::record::PrincipalType::Person,
        roles: vec![crate::record::Role::Reviewer],
        environments: vec![crate::record::Environment::Production],
    });
    l.append(Draft::record(&enroll).expect("seed record"))
        .expect("seed enrollment");
    l.append(draft(3).cosigned_by(reviewer)).expect("seed co-signed append");
    l.checkpoint().expect("seed checkpoint");
    l.append_batch((4..7).map(|i| draft(i).without_position_signature()).collect())
        .expect("seed batch");
    if redact {
        l.redact(2, "seed erasure").expect("seed redaction");
    }
    l.checkpoint().expect("seed checkpoint");
    l.append(draft(7)).expect("seed append");
    l.close().expect("seed close");
    disk
}

/// A policy with one action class using every field.
fn seed_policy() -> Policy {
    use crate::record::{ActionClass, DecisionBoundary, ImpactFlags, Requirements, Threshold};
    Policy {
        classes: vec![ActionClass {
            name: "large refunds".to_owned(),
            actions: vec!["refund".to_owned(), "payments.*".to_owned()],
            impact: ImpactFlags {
                personal_data: true,
                ..ImpactFlags::default()
            },
            threshold: Some(Threshold {
                attribute: "amount_eur".to_owned(),
                at_least: 1000,
            }),
            require: Requirements {
                boundary: DecisionBoundary::HumanApprovalRequired,
                min_approvals: 2,
                reviews: 1,
                evidence: true,
                cite_ai_outputs: true,
            },
        }],
        unclassified: Some(Requirements::default()),
        ..Policy::default()
    }
}

fn seed_risk_acceptance(subject: Digest) -> Record {
    Record::RiskAcceptance(crate::record::RiskAcceptance {
        subject,
        risk: "r".to_owned(),
        scope: "s".to_owned(),
        expires_at: crate::entry::Timestamp(9),
        evidence: Vec::new(),
    })
}

/// One record of every governance kind, and a genesis.
fn seed_values() -> (Vec<Record>, Genesis) {
    use crate::record::{
        AiOutput, AiSystem, Approval, Autonomy, DecisionBoundary, Environment, Evidence, Execution, ImpactFlags,
        KeyEnrollment, KeyRevocation, Override, PrincipalType, Proposal, Redaction, Rejection, Review, Role,
        TokenUsage, TrustAnchorKey, Verdict,
    };
    let d = Digest::from_bytes([3; 32]);
    let pk = fuzz_key().verifying_key().to_bytes();
    let s = |t: &str| t.to_owned();
    let records = vec![
        Record::KeyEnrollment(KeyEnrollment {
            public_key: pk,
            principal_id: s("a@b"),
            display_name: s("A"),
            principal_type: PrincipalType::Person,
            roles: vec![Role::Approver],
            environments: vec![Environment::Production],
        }),
        Record::KeyRevocation(KeyRevocation {
            key_id: d,
            reason: s("lost"),
        }),
        Record::PolicyUpdate(seed_policy()),
        Record::AiOutput(AiOutput {
            system: AiSystem {
                provider_name: s("p"),
                request_model: s("m"),
                version: s("1"),
                config_digest: Some(d),
            },
            task: s("t"),
            input_digest: d,
            output_digest: d,
            summary: s("s"),
            usage: Some(TokenUsage {
                input_tokens: 1,
                output_tokens: 2,
            }),
        }),
        Record::Proposal(Proposal {
            action: s("x"),
            action_type: s("refund"),
            attributes: std::collections::BTreeMap::from([(s("amount_eur"), 5000)]),
            boundary: DecisionBoundary::HumanApprovalRequired,
            autonomy: Autonomy::Assistance,
            environment: Environment::Production,
            impact: ImpactFlags {
                customer_impacting: true,
                ..ImpactFlags::default()
            },
            evidence: vec![Evidence {
                name: s("n"),
                uri: s("u"),
                digest: d,
                description: s("d"),
            }],
            rationale: s("r"),
            ai_outputs: vec![crate::record::EntryRef { seq: 1, hash: d }],
        }),
        Record::Review(Review {
            subject: d,
            verdict: Verdict::Concerns,
            digests: vec![d],
            comment: s("c"),
        }),
        Record::Approval(Approval {
            proposal: d,
            scope: s("all"),
            expires_at: Some(crate::entry::Timestamp(9)),
        }),
        Record::Rejection(Rejection {
            proposal: d,
            reason: s("no"),
        }),
        Record::Execution(Execution {
            proposal: d,
            approvals: vec![d],
            action_taken: s("done"),
            outcome: s("ok"),
        }),
        Record::Override(Override {
            target: d,
            reversal: true,
            reason: s("undo"),
            proposal: Some(d),
            approvals: vec![d],
        }),
        Record::Redaction(Redaction {
            target_seq: 1,
            target: d,
            reason: s("gdpr"),
        }),
        seed_risk_acceptance(d),
    ];
    let genesis = Genesis {
        name: s("seed"),
        anchors: vec![TrustAnchorKey::operator(&fuzz_key().verifying_key(), "svc")],
        policy: Policy::default(),
    };
    (records, genesis)
}

/// [`seed_values`] encoded, each payload behind its kind.
fn record_seeds() -> Vec<Vec<u8>> {
    let (records, genesis) = seed_values();
    let mut out: Vec<Vec<u8>> = records
        .iter()
        .map(|r| [vec![r.entry_kind().code() as u8], r.encode().unwrap_or_default()].concat())
        .collect();
    out.push([vec![0], genesis.encode().unwrap_or_default()].concat());
    out
}

/// Writes [`seeds`] into `<root>/<target>/seed-<n>`.
///
/// # Errors
/// I/O errors creating the directories or files.
pub fn write_seeds(root: &Path) -> std::io::Result<()> {
    for (i, (target, bytes)) in seeds().into_iter().enumerate() {
        let d = root.join(target);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("seed-{i:03}")), bytes)?;
    }
    Ok(())
}

/// [`seed_values`] and a policy in JSON, as the CLI's `show` prints them and `append` /
/// `init --policy` read them.
#[cfg(feature = "json")]
fn json_seeds() -> Vec<Vec<u8>> {
    let (records, genesis) = seed_values();
    let mut out: Vec<Vec<u8>> = records.iter().filter_map(|r| serde_json::to_vec(r).ok()).collect();
    out.extend(serde_json::to_vec(&genesis));
    out.extend(serde_json::to_vec_pretty(&Policy::default()));
    out
}
