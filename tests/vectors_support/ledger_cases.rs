//! The ledgers of ledger.json and what verifying them must give (docs/FORMAT.md §9): a few
//! base ledgers, the passing cases, and the failing ledgers, at least one per check.

use crate::fixtures::*;
use crate::generate::entry_chain;
use crate::ledger_build::{index_path, salt, segment_path, t, Lb, Rendered};
use crate::ledger_gen::{Anchor, Case, Extra, Gen, Want};
use crate::spec::{self, Cp, Key};
use provledger::record::{AiOutput, AiSystem, Environment, KeyEnrollment, KeyRevocation, Record, Redaction};
use provledger::{Digest, PrincipalType, Role};

fn op_anchor() -> Anchor {
    Anchor::Key(public(&SEED_OPERATOR))
}

/// entry.json's entry 0.
fn genesis() -> EntrySpec {
    EntrySpec::genesis(T0).salt([0x5a; 32])
}

fn app(seq: u64, text: &str) -> EntrySpec {
    EntrySpec::application(t(seq), "text/plain", text.as_bytes()).salt(salt(seq))
}

fn rec(seq: u64, r: &Record) -> EntrySpec {
    EntrySpec::record(t(seq), r).salt(salt(seq))
}

/// Genesis, then three application entries in writes [0], [1, 2], [3]; entry 2 co-signed by
/// the reviewer.
fn small() -> Lb {
    Lb::new(
        vec![
            genesis(),
            EntrySpec::application(t(1), "application/json", br#"{"event":"limit-raised","account":42}"#).salt(salt(1)),
            app(2, "reviewed by alice").cosign(SEED_REVIEWER),
            app(3, "done"),
        ],
        &[0, 2, 3],
    )
}

fn bob_enrollment() -> Record {
    Record::KeyEnrollment(KeyEnrollment {
        public_key: public(&SEED_ENROLLED),
        principal_id: "bob@example.com".into(),
        display_name: "Bob".into(),
        principal_type: PrincipalType::Person,
        roles: vec![Role::Requester, Role::Approver],
        environments: vec![Environment::Production],
    })
}

/// Governance in a signed ledger: an enrollment, an approval co-signed by the enrolled key,
/// its revocation.
fn signed() -> Lb {
    let mut lb = Lb::new(vec![genesis()], &[0]);
    let e1 = lb.push(
        EntrySpec::application(t(1), "application/json", br#"{"proposal":"raise limit of account 42"}"#).salt(salt(1)),
        false,
    );
    lb.push(app(2, "reviewed").refs(vec![e1]).cosign(SEED_REVIEWER), true);
    lb.push(rec(3, &bob_enrollment()), true);
    lb.push(
        rec(4, &approval_fixture(Digest::from_bytes(e1))).cosign(SEED_ENROLLED),
        true,
    );
    lb.push(app(5, "limit raised"), false);
    let revoke = Record::KeyRevocation(KeyRevocation {
        key_id: Digest::from_bytes(Key::from_seed(&SEED_ENROLLED).key_id()),
        reason: "left the team".into(),
    });
    lb.push(rec(6, &revoke), true);
    lb
}

/// Genesis and four unsigned application entries, covered by a checkpoint of size 5.
fn unsigned() -> Lb {
    let mut lb = Lb::new(vec![genesis()], &[0]);
    for s in 1..=4 {
        lb.push(app(s, &format!("event {s}")).position(None), s == 4);
    }
    lb.checkpoint(5, &SEED_OPERATOR);
    lb
}

/// An application entry erased and explained; an AI output whose redaction is pending.
fn redacted(target_hash_of: Option<usize>) -> Lb {
    let mut lb = Lb::new(vec![genesis()], &[0]);
    let e1 = lb.push(
        EntrySpec::application(t(1), "application/json", br#"{"customer":"jane@example.com"}"#).salt(salt(1)),
        true,
    );
    let ai = Record::AiOutput(AiOutput {
        system: AiSystem {
            provider_name: "anthropic".into(),
            request_model: "model-x".into(),
            version: String::new(),
            config_digest: None,
        },
        task: "summarise the complaint".into(),
        input_digest: Digest::from_bytes([0x11; 32]),
        output_digest: Digest::from_bytes([0x12; 32]),
        summary: "customer asks for a refund".into(),
        usage: None,
    });
    let e2 = lb.push(rec(2, &ai).cosign(SEED_AGENT), true);
    let named = target_hash_of.map_or(e1, |i| lb.hash(i));
    let redaction = |target_seq, target: [u8; 32]| {
        Record::Redaction(Redaction {
            target_seq,
            target: Digest::from_bytes(target),
            reason: "GDPR art. 17 request #88".into(),
        })
    };
    lb.push(rec(3, &redaction(1, named)), true);
    lb.push(rec(4, &redaction(2, e2)), true);
    lb.erased.insert(1);
    lb
}

/// Genesis and six application entries in two segments: 0..=3 (sealed) and 4..=6.
fn two_segments() -> Lb {
    let mut lb = Lb::new(vec![genesis()], &[0]);
    for s in 1..=6 {
        lb.push(app(s, &format!("event {s}")), matches!(s, 3 | 5 | 6));
    }
    lb.segments = vec![0, 4];
    lb
}

/// Renames segment `from` (and its index) to `to`, with `header_first` in the segment and
/// index headers.
fn move_segment(r: &mut Rendered, from: u64, to: u64, header_first: u64) {
    let mut seg = r.files.remove(&segment_path(from)).expect("segment");
    let mut h: [u8; 64] = seg[..64].try_into().expect("64");
    h[32..40].copy_from_slice(&header_first.to_le_bytes());
    spec::refresh_segment_crc(&mut h);
    seg[..64].copy_from_slice(&h);
    let mut idx = r.files.remove(&index_path(from)).expect("index");
    idx[..48].copy_from_slice(&spec::index_header(&LEDGER_ID, header_first));
    r.files.insert(segment_path(to), seg);
    r.files.insert(index_path(to), idx);
}

pub fn passing(g: &mut Gen) {
    let chain = entry_chain();
    assert_eq!(
        small().render().entries[0].0,
        chain[0].1.entry_hash,
        "the genesis entry is entry.json's"
    );
    g.ledger(
        "small",
        "genesis (entry.json's entry 0), then three application entries position-signed by the operator, \
         entry 2 co-signed by the reviewer; writes [0], [1, 2], [3]",
        small().render(),
        true,
    );
    let e0 = small().hash(0);
    g.case(
        "small, trusting the operator's key",
        "small",
        op_anchor(),
        Want::Pass(Extra::default()),
    );
    g.case(
        "small, trusting the genesis entry hash",
        "small",
        Anchor::Hash(e0),
        Want::Pass(Extra::default()),
    );
    g.ledger(
        "signed",
        "a signed ledger with governance: entry 3 enrolls bob (seed 04 x 32, Requester and Approver), entry 4 \
         is an approval co-signed by bob, entry 6 revokes bob's key",
        signed().render(),
        true,
    );
    g.case(
        "signed, trusting the operator's key",
        "signed",
        op_anchor(),
        Want::Pass(Extra::default()),
    );
    g.ledger(
        "unsigned",
        "genesis, then four application entries without position signatures (one write), covered by a \
         checkpoint of size 5 signed by the operator",
        unsigned().render(),
        true,
    );
    let covered = Extra {
        unsigned_covered: 4,
        checkpoints: 1,
        ..Extra::default()
    };
    g.case(
        "unsigned: covered by the checkpoint",
        "unsigned",
        op_anchor(),
        Want::Pass(covered.clone()),
    );
    let cp = unsigned().checkpoints[0];
    g.cases.push(Case {
        desc: "unsigned, verified incrementally from the checkpoint (options.from_checkpoint)".into(),
        ledger: "unsigned",
        anchor: op_anchor(),
        allow_uncovered: false,
        from: Some(cp),
        want: Want::Pass(covered.clone()),
    });
    let bad = Cp::sign(&LEDGER_ID, 5, [0x55; 32], cp.time, &Key::from_seed(&SEED_OPERATOR));
    g.cases.push(Case {
        desc: "unsigned, from a trusted checkpoint of size 5 whose root is not the ledger's".into(),
        ledger: "unsigned",
        anchor: op_anchor(),
        allow_uncovered: false,
        from: Some(bad),
        want: Want::Fail("checkpoint", Some(4)),
    });
    let mut more = unsigned();
    more.push(app(5, "event 5").position(None), false);
    more.push(app(6, "event 6").position(None), true);
    g.ledger(
        "uncovered",
        "the 'unsigned' ledger and two more unsigned entries (5, 6) that no checkpoint covers",
        more.render(),
        true,
    );
    g.case(
        "uncovered: entry 5 has no position signature and no checkpoint covers it",
        "uncovered",
        op_anchor(),
        Want::Fail("signature", Some(5)),
    );
    g.cases.push(Case {
        desc: "uncovered, with options.allow_uncovered_tail".into(),
        ledger: "uncovered",
        anchor: op_anchor(),
        allow_uncovered: true,
        from: None,
        want: Want::Pass(Extra {
            uncovered_tail: 2,
            ..covered
        }),
    });
    g.ledger(
        "redacted",
        "entry 1 (application) erased and explained by the redaction entry 3; entry 4 redacts the AI output \
         entry 2, whose payload is still present (an erasure not done yet: 'redaction pending')",
        redacted(None).render(),
        true,
    );
    g.case(
        "redacted: passes, entry 1 redacted, redaction of entry 2 pending",
        "redacted",
        op_anchor(),
        Want::Pass(Extra {
            redacted: vec![1],
            pending: vec![2],
            ..Extra::default()
        }),
    );
    g.ledger(
        "two_segments",
        "seven entries in two segments: 00000000000000000000.seg (entries 0..=3, ends with a sealed frame) and \
         00000000000000000004.seg (entries 4..=6)",
        two_segments().render(),
        true,
    );
    g.case(
        "two_segments: passes",
        "two_segments",
        op_anchor(),
        Want::Pass(Extra::default()),
    );
    let mut longer = small();
    longer.push(app(4, "never sealed"), false);
    let frame4 = {
        let r = longer.render();
        let f = &r.frames[4];
        r.files[&f.path][f.offset..f.offset + f.len].to_vec()
    };
    let mut torn = small();
    torn.tail = [frame4.clone(), frame4[..20].to_vec()].concat();
    let r = torn.render();
    let end = (r.frames[3].offset + r.frames[3].len) as u64;
    g.ledger(
        "torn",
        "'small' with a torn tail: a complete frame of entry 4 whose write was never sealed, then 20 bytes of \
         another frame (the index and tree files do not have them)",
        r,
        true,
    );
    g.case(
        "torn: passes with 4 entries and the torn tail reported",
        "torn",
        op_anchor(),
        Want::Pass(Extra {
            torn: Some((segment_path(0), end, torn.tail.len() as u64, 1)),
            ..Extra::default()
        }),
    );
    let mut r = small().render();
    r.files.remove("tree/level-02.hashes");
    g.ledger(
        "tree_missing",
        "'small' without tree/level-02.hashes: stored nodes that are missing are counted, not a failure",
        r,
        true,
    );
    g.case(
        "tree_missing: passes, one tree node missing",
        "tree_missing",
        op_anchor(),
        Want::Pass(Extra {
            missing: 1,
            ..Extra::default()
        }),
    );
}

pub fn format_failures(g: &mut Gen) {
    let mut r = small().render();
    r.patch_frame(2, false, |f| f[12 + 20] ^= 1);
    g.fail(
        "format_frame_crc",
        "'small' with one bit of entry 2's record flipped (frame CRC not updated): damage",
        r,
        "format",
        Some(2),
    );
    let mut r = small().render();
    // Entry 2's record: kind, timestamp, ct_len, "text/plain", ref_count: sig_flags at 23.
    r.patch_frame(2, true, |f| f[12 + 23] |= 2);
    g.fail(
        "format_record",
        "'small' with an undefined sig_flags bit in entry 2's record, frame CRC recomputed: the record does not \
         decode",
        r,
        "format",
        Some(2),
    );
    let mut lb = small();
    lb.order.truncate(2);
    lb.push(app(2, "signed twice").cosign(SEED_OPERATOR), true);
    g.fail(
        "format_duplicate_signer",
        "entry 2 co-signed by its own position signer (the operator): key ids must be distinct",
        lb.render(),
        "format",
        Some(2),
    );
    let mut lb = small();
    lb.erased.insert(1);
    let mut r = lb.render();
    let at = r.section_at(1) + 33;
    r.patch_frame(1, true, |f| f[at] = 1);
    g.fail(
        "format_erased_not_zeroed",
        "entry 1's payload section erased but with a non-zero byte after the commitment (frame CRC recomputed)",
        r,
        "format",
        Some(1),
    );
    let mut lb = two_segments();
    lb.sealed.remove(&3);
    g.fail(
        "format_sealed_segment_unsealed_end",
        "'two_segments' whose first (sealed) segment does not end with a sealed frame",
        lb.render(),
        "format",
        Some(4),
    );
    let mut r = two_segments().render();
    move_segment(&mut r, 4, 5, 4);
    g.fail(
        "format_segment_name",
        "'two_segments' with the second segment (header first_seq 4) named 00000000000000000005.seg",
        r,
        "format",
        Some(4),
    );
    let mut r = small().render();
    r.files.retain(|p, _| !p.starts_with("tree/"));
    r.patch(&segment_path(0), |s| s.truncate(64));
    r.patch(&index_path(0), |s| s.truncate(48));
    g.fail(
        "format_no_genesis",
        "segment 0 holds its header and no frame",
        r,
        "format",
        Some(0),
    );
    let mut lb = small();
    lb.sealed.remove(&2);
    let mut r = lb.render();
    r.patch_frame(3, false, |f| f[12 + 20] ^= 1);
    g.fail(
        "format_damage_in_last_write",
        "'small' written as [0], [1, 2, 3]: entry 3's record damaged (frame CRC not updated); entries 1 and 2 \
         are complete but their write ends with the damaged frame",
        r,
        "format",
        Some(3),
    );
}

pub fn chain_and_signature_failures(g: &mut Gen) {
    let mut lb = small();
    lb.order.swap(2, 3);
    g.fail(
        "chain_swapped",
        "'small' with entries 2 and 3 swapped (index, tree and seals written for the new order)",
        lb.render(),
        "chain",
        Some(2),
    );
    let mut lb = small();
    lb.order.remove(2);
    lb.sealed = [0, 2].into();
    g.fail(
        "chain_deleted",
        "'small' with entry 2 deleted (index, tree and seals written for what is left)",
        lb.render(),
        "chain",
        Some(2),
    );
    let mut lb = small();
    lb.push(EntrySpec::genesis(t(4)).salt(salt(4)), true);
    g.fail(
        "chain_second_genesis",
        "'small' and a second genesis entry at 4, properly position-signed",
        lb.render(),
        "chain",
        Some(4),
    );
    let lb = Lb::new(vec![app(0, "no genesis"), app(1, "event")], &[0, 1]);
    g.fail(
        "chain_first_not_genesis",
        "entry 0 is an application entry",
        lb.render(),
        "chain",
        Some(0),
    );
    let mut r = two_segments().render();
    move_segment(&mut r, 4, 5, 5);
    g.fail(
        "chain_segment_gap",
        "'two_segments' with the second segment named and headed 5 where 4 entries precede it",
        r,
        "chain",
        Some(4),
    );
    let mut lb = small();
    lb.order.truncate(2);
    let mut bad = app(2, "reviewed by alice").cosign(SEED_REVIEWER);
    bad.bad_cosignature = Some(0);
    lb.push(bad, true);
    lb.push(app(3, "done"), true);
    g.fail(
        "signature_cosignature",
        "entry 2's co-signature has a flipped bit (the writer position-signed the entry with it)",
        lb.render(),
        "signature",
        Some(2),
    );
    let mut lb = small();
    let e1 = lb.hash(1);
    lb.push(
        rec(4, &approval_fixture(Digest::from_bytes(e1)))
            .position(None)
            .cosign(SEED_REVIEWER),
        true,
    );
    g.fail(
        "signature_governance_unsigned",
        "'small' and an approval (entry 4) co-signed by the reviewer but without a position signature",
        lb.render(),
        "signature",
        Some(4),
    );
}

pub fn key_and_anchor_failures(g: &mut Gen) {
    let variants: [(&'static str, &str, EntrySpec); 4] = [
        (
            "key_unknown_position_signer",
            "'small' and entry 4 position-signed (validly) by a key the ledger does not know (seed 09 x 32)",
            app(4, "stranger").position(Some(SEED_STRANGER)),
        ),
        (
            "key_position_signer_not_operator",
            "'small' and entry 4 position-signed by the reviewer, an anchor without the Operator role",
            app(4, "reviewer").position(Some(SEED_REVIEWER)),
        ),
        (
            "key_unknown_cosigner",
            "'small' and entry 4 co-signed by a key the ledger does not know (seed 09 x 32)",
            app(4, "stranger").cosign(SEED_STRANGER),
        ),
        (
            "key_missing_role",
            "'small' and an approval (entry 4) signed by the operator only: none of its signers holds Approver",
            rec(4, &approval_fixture(Digest::from_bytes(small().hash(1)))),
        ),
    ];
    for (name, desc, spec) in variants {
        let mut lb = small();
        lb.push(spec, true);
        g.fail(name, desc, lb.render(), "key", Some(4));
    }
    let mut lb = signed();
    lb.push(app(7, "bob again").cosign(SEED_ENROLLED), true);
    g.fail(
        "key_revoked",
        "'signed' and entry 7 co-signed by bob, whose key entry 6 revoked",
        lb.render(),
        "key",
        Some(7),
    );
    let fail = || Want::Fail("trust_anchor", Some(0));
    g.case(
        "small, trusting a key that is not a genesis anchor (seed 09 x 32)",
        "small",
        Anchor::Key(public(&SEED_STRANGER)),
        fail(),
    );
    g.case(
        "small, trusting the reviewer's key: a genesis anchor, but it did not sign the genesis entry",
        "small",
        Anchor::Key(public(&SEED_REVIEWER)),
        fail(),
    );
    g.case(
        "small, trusting a genesis hash that is not its genesis entry's",
        "small",
        Anchor::Hash([0x77; 32]),
        fail(),
    );
}

pub fn derived_data_failures(g: &mut Gen) {
    let mut r = small().render();
    r.patch(&index_path(0), |i| i[48 + 8] ^= 0x01);
    g.fail(
        "index_offset",
        "'small' whose index gives entry 2 a wrong offset",
        r,
        "index",
        Some(2),
    );
    let mut r = small().render();
    r.patch(&index_path(0), |i| i[48 + 12 + 3] |= 0x80);
    g.fail(
        "index_governance_bit",
        "'small' whose index sets bit 31 (not an application entry) for the application entry 3",
        r,
        "index",
        Some(3),
    );
    let mut r = small().render();
    r.files.remove(&index_path(0));
    g.fail("index_missing", "'small' without its index file", r, "index", Some(0));
    let mut r = two_segments().render();
    r.patch(&index_path(0), |i| i.extend_from_slice(&spec::index_slot(64, false)));
    g.fail(
        "index_extra_slot",
        "'two_segments' whose first (sealed) segment's index has one slot more than the segment has frames",
        r,
        "index",
        Some(4),
    );
    let mut r = small().render();
    r.patch("tree/level-00.hashes", |f| f[32 + 3 * 32] ^= 1);
    g.fail(
        "tree_leaf",
        "'small' with leaf 3 of tree/level-00.hashes changed",
        r,
        "tree",
        Some(3),
    );
    let mut r = small().render();
    r.patch("tree/level-02.hashes", |f| f[32] ^= 1);
    g.fail(
        "tree_level_2",
        "'small' with node 0 of tree/level-02.hashes (the root of leaves 0..=3) changed",
        r,
        "tree",
        Some(3),
    );
}

pub fn checkpoint_failures(g: &mut Gen) {
    let op = Key::from_seed(&SEED_OPERATOR);
    let mut lb = small();
    lb.checkpoints.push(Cp::sign(&LEDGER_ID, 3, [0x55; 32], t(100), &op));
    g.fail(
        "checkpoint_root",
        "'small' and a checkpoint of size 3 signed by the operator whose root is not the ledger's",
        lb.render(),
        "checkpoint",
        Some(2),
    );
    let mut lb = small();
    lb.checkpoint(4, &SEED_OPERATOR);
    lb.order.pop();
    g.fail(
        "checkpoint_truncated",
        "'small' with a checkpoint of size 4, then cut back to 3 entries (at the seal of entry 2)",
        lb.render(),
        "checkpoint",
        Some(3),
    );
    let mut lb = small();
    lb.checkpoint(4, &SEED_REVIEWER);
    g.fail(
        "checkpoint_not_operator",
        "'small' and a checkpoint of size 4 signed by the reviewer (no Operator role)",
        lb.render(),
        "checkpoint",
        Some(3),
    );
    let mut lb = small();
    lb.checkpoint(4, &SEED_OPERATOR);
    let mut r = lb.render();
    r.patch("checkpoints.log", |l| l[16] ^= 1);
    g.fail(
        "checkpoint_log_header",
        "'small' with a checkpoint log whose header names another ledger",
        r,
        "checkpoint",
        None,
    );
    let mut r = lb.render();
    r.patch("checkpoints.log", |l| l[32 + 8] ^= 1);
    g.fail(
        "checkpoint_log_damage",
        "'small' with a checkpoint log record whose root has a flipped bit (CRC not updated)",
        r,
        "checkpoint",
        None,
    );
    let mut lb = small();
    lb.checkpoint(4, &SEED_OPERATOR);
    lb.checkpoint(2, &SEED_OPERATOR);
    g.fail(
        "checkpoint_order",
        "'small' with checkpoints of sizes 4, then 2 (sizes must not decrease)",
        lb.render(),
        "checkpoint",
        Some(1),
    );
    let mut lb = small();
    lb.checkpoints
        .push(Cp::sign(&LEDGER_ID, 0, spec::sha256(&[]), t(100), &op));
    g.fail(
        "checkpoint_size_zero",
        "'small' with a checkpoint of size 0",
        lb.render(),
        "checkpoint",
        None,
    );
}

pub fn redaction_failures(g: &mut Gen) {
    let mut lb = small();
    lb.erased.insert(1);
    g.fail(
        "redaction_unexplained",
        "'small' with entry 1's payload erased and no redaction entry naming it",
        lb.render(),
        "redaction",
        Some(1),
    );
    let mut lb = signed();
    lb.erased.insert(4);
    g.fail(
        "redaction_not_redactable",
        "'signed' with the approval's (entry 4) payload erased: only application and AI output payloads may be",
        lb.render(),
        "redaction",
        Some(4),
    );
    g.fail(
        "redaction_wrong_hash",
        "'redacted' whose redaction entry 3 names entry 1 by entry 2's hash",
        redacted(Some(2)).render(),
        "redaction",
        Some(3),
    );
    let mut lb = Lb::new(vec![genesis(), app(1, "event")], &[0, 1]);
    let r = Record::Redaction(Redaction {
        target_seq: 2,
        target: Digest::from_bytes([0; 32]),
        reason: "names itself".into(),
    });
    lb.push(rec(2, &r), true);
    g.fail(
        "redaction_not_earlier",
        "a redaction entry (2) naming entry 2, not an earlier entry",
        lb.render(),
        "redaction",
        Some(2),
    );
}
