//! Verification resumed from a saved state (`VerifyOptions::resume`, docs/FORMAT.md §9.1):
//! equal to a full verification at every step of a growing governance ledger — decisions
//! open across the state's checkpoint, violations, revocations and erasures included — and
//! failing when the ledger or its checkpoint log was cut, rolled back or rewritten under the
//! state, or when an entry after it was changed; a state that does not fit is refused.

mod common;

use std::path::{Path, PathBuf};

use common::gov::{ai_output, approval, execution, proposal, review, revocation, World};
use common::{anchor, big_draft, key, std_opts};
use provledger::record::{Autonomy, DecisionBoundary, Environment, Verdict};
use provledger::storage::StdBackend;
use provledger::{
    verify_opts, Check, Durability, Ledger, Receipt, SigningKey, StateError, VerifierState, VerifyError, VerifyOptions,
    VerifyReport,
};

fn run(dir: &Path, k: &SigningKey, policy: bool, resume: Option<&VerifierState>) -> Result<VerifyReport, VerifyError> {
    let opts = VerifyOptions::default()
        .policy(policy)
        .resume(resume.cloned())
        .keep_state(true);
    verify_opts(&StdBackend, dir, &anchor(k), &opts)
}

/// What a resumed verification must report exactly as a full one does.
fn verdict(r: &VerifyReport) -> String {
    let violations: Vec<_> = r
        .violations
        .iter()
        .map(|v| (v.rule, v.seq_numbers(), v.policy))
        .collect();
    format!(
        "ok {} entries {} head {} root {} checkpoints {} unsigned {} redacted {:?} pending {:?} \
         violations {violations:?} dropped {} in force {:?} failure {:?}",
        r.is_ok(),
        r.entries,
        r.head,
        r.root,
        r.checkpoints_verified,
        r.unsigned_covered,
        r.redacted,
        r.redaction_pending,
        r.violations_dropped,
        r.policy_in_force,
        r.failure.as_ref().map(|f| (f.seq, f.check)),
    )
}

/// Verifies `w` in full and resumed from `state`; asserts equal verdicts and returns the new
/// state (or the old one if no new checkpoint was verified).
fn step(w: &World, state: Option<VerifierState>) -> Option<VerifierState> {
    w.ledger.checkpoint().expect("checkpoint");
    let full = run(w.dir.path(), &w.op, true, None).expect("full");
    assert!(full.is_ok(), "{:?}", full.failure);
    let Some(s) = state else {
        return full.state;
    };
    let size = s.size();
    let resumed = run(w.dir.path(), &w.op, true, Some(&s)).expect("resumed");
    assert_eq!(verdict(&resumed), verdict(&full));
    assert_eq!(resumed.resumed_from, size);
    // The state a resumed verification returns is the full one's (saved bytes aside: maps
    // are written in any order), and it serves the next resumption alike.
    let next = resumed.state.or(Some(s)).expect("state");
    assert_eq!(next.size(), full.state.as_ref().map_or(size, VerifierState::size));
    let again = run(w.dir.path(), &w.op, true, Some(&next)).expect("resumed from the new state");
    assert_eq!(verdict(&again), verdict(&full));
    Some(next)
}

#[test]
fn resumed_verification_equals_full_verification_at_every_step() {
    let mut w = World::new();
    let mut state = step(&w, None);
    assert!(state.is_some());
    // A compliant decision path, then one split across checkpoints: proposal and review
    // before a state, the approval after it, the execution after the next.
    w.compliant_flow();
    state = step(&w, state);
    let (ai, rev, appr) = (w.ai.clone(), w.rev.clone(), w.appr.clone());
    let out = w.add(&ai_output("raise the limit"), &[&ai]);
    let p = propose(&mut w, &out);
    w.add(&review(&p, Verdict::Endorse, &[]), &[&rev]);
    state = step(&w, state);
    let a = w.add(&approval(&p), &[&appr]);
    state = step(&w, state);
    w.add(&execution(&p, &[&a]), &[]);
    state = step(&w, state);
    // A violation (an execution nobody approved), kept in the report across states.
    let out2 = w.add(&ai_output("close the account"), &[&ai]);
    let p2 = propose(&mut w, &out2);
    state = step(&w, state);
    w.add(&execution(&p2, &[]), &[]);
    state = step(&w, state);
    assert!(!run(w.dir.path(), &w.op, true, state.as_ref())
        .expect("resumed")
        .violations
        .is_empty());
    // Application entries, a revocation, an erasure of an entry older than the state.
    for i in 0..50 {
        w.app(format!("{{\"event\":{i}}}").as_bytes());
    }
    state = step(&w, state);
    let rev_key = w.rev.clone();
    w.add(&revocation(&rev_key), &[]);
    state = step(&w, state);
    // A proposal citing an AI output from before the state (read back from its frame).
    let out3 = w.add(&ai_output("suggest a refund"), &[&ai]);
    state = step(&w, state);
    propose(&mut w, &out3);
    state = step(&w, state);
    let target = out.seq;
    w.ledger.redact(target, "customer request").expect("redact");
    state = step(&w, state);
    // Nothing new: resuming reads nothing but the last entry and the log, and agrees.
    let r = run(w.dir.path(), &w.op, true, state.as_ref()).expect("resumed");
    assert!(r.is_ok());
    assert!(r.redacted.contains(&target), "{:?}", r.redacted);
    assert!(r.state.is_none(), "no new checkpoint, no new state");
    step(&w, state);
}

/// A production proposal needing human approval, citing the AI output `out`, by the requester.
fn propose(w: &mut World, out: &Receipt) -> Receipt {
    let req = w.req.clone();
    w.add(
        &proposal(
            Environment::Production,
            DecisionBoundary::HumanApprovalRequired,
            Autonomy::Assistance,
            &[out],
        ),
        &[&req],
    )
}

/// Appends entries `seqs` (of `len` bytes) and a checkpoint.
fn grow(l: &Ledger, seqs: std::ops::RangeInclusive<u64>, len: usize) {
    for i in seqs {
        l.append(big_draft(i, len)).expect("append");
    }
    l.checkpoint().expect("checkpoint");
}

/// A ledger of `n` application entries of `len` bytes with a checkpoint, in segments of
/// 1 MiB.
fn plain(dir: &Path, k: &SigningKey, n: u64, len: usize) -> Ledger {
    let l = Ledger::create(dir, k.clone(), "resume", std_opts(Durability::Buffered, 1 << 20)).expect("create");
    grow(&l, 1..=n, len);
    l
}

/// A closed ledger of `n` entries of `len` bytes, a state saved at its checkpoint, then `more`
/// entries and another checkpoint: (its tempdir, its directory, the key, the state).
fn grown_after_state(
    seed: u8,
    n: u64,
    more: u64,
    len: usize,
) -> (tempfile::TempDir, PathBuf, SigningKey, VerifierState) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let k = key(seed);
    let l = plain(&dir, &k, n, len);
    let state = state_of(&dir, &k);
    grow(&l, n + 1..=n + more, len);
    l.close().expect("close");
    (tmp, dir, k, state)
}

fn state_of(dir: &Path, k: &SigningKey) -> VerifierState {
    let r = run(dir, k, false, None).expect("verify");
    assert!(r.is_ok(), "{:?}", r.failure);
    r.state.expect("state")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), dst).expect("copy");
        }
    }
}

#[test]
fn only_what_follows_the_state_is_read() {
    let (_tmp, dir, k, state) = grown_after_state(1, 300, 100, 20_000);
    // The segments holding only entries the state covers are gone: a full verification
    // fails, a resumed one does not need them (a state vouches for its prefix; what is older
    // than it is re-read only by a full verification).
    let segs = common::std_layout(&dir);
    assert!(segs.len() > 3, "several segments: {}", segs.len());
    // (Segment 0 stays: it is what makes the directory a ledger.)
    let old: Vec<_> = segs
        .iter()
        .filter(|s| s.first_seq > 0 && s.first_seq + (s.frames.len() as u64) < 300)
        .collect();
    assert!(!old.is_empty());
    for s in &old {
        std::fs::remove_file(&s.path).expect("rm");
        std::fs::remove_file(provledger::storage::index_path(&dir, s.first_seq)).expect("rm idx");
    }
    assert!(!run(&dir, &k, false, None).expect("full").is_ok());
    let r = run(&dir, &k, false, Some(&state)).expect("resumed");
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!((r.resumed_from, r.entries, r.checkpoints_verified), (301, 401, 2));
}

#[test]
fn a_ledger_cut_or_rolled_back_under_the_state_fails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, early) = (tmp.path().join("l"), tmp.path().join("early"));
    let k = key(2);
    let l = plain(&dir, &k, 100, 100);
    l.close().expect("close");
    copy_dir(&dir, &early);
    let l = Ledger::open(&dir, k.clone(), std_opts(Durability::Buffered, 1 << 20)).expect("open");
    grow(&l, 101..=200, 100);
    l.close().expect("close");
    let state = state_of(&dir, &k);
    assert_eq!(state.size(), 201);
    // Every file rolled back to the earlier, consistent state: entry 200 is not there.
    let r = run(&early, &k, false, Some(&state)).expect("resumed");
    let f = r.failure.expect("a rollback under the state fails");
    assert_eq!((f.seq, f.check), (Some(200), Check::Chain), "{}", f.message);
    assert!(r.state.is_none());
    // Only the checkpoint log rolled back (one record fewer): caught too.
    std::fs::copy(early.join("checkpoints.log"), dir.join("checkpoints.log")).expect("copy log");
    let f = run(&dir, &k, false, Some(&state))
        .expect("resumed")
        .failure
        .expect("fails");
    assert_eq!(f.check, Check::Checkpoint, "{}", f.message);
}

#[test]
fn a_changed_entry_after_the_state_fails_as_it_does_in_full() {
    let (_tmp, dir, k, state) = grown_after_state(3, 50, 30, 100);
    // Change one payload byte of entry 70 and fix the frame checksums (an attacker who knows
    // the format).
    let segs = common::std_layout(&dir);
    let (seg, frame) = segs
        .iter()
        .find_map(|s| s.frames.iter().find(|f| f.seq == 70).map(|f| (s, *f)))
        .expect("entry 70");
    let mut bytes = std::fs::read(&seg.path).expect("read");
    let at = frame.payload().start + 1;
    bytes[at] ^= 1;
    common::fix_frame_crcs(&mut bytes, &frame);
    std::fs::write(&seg.path, bytes).expect("write");
    let full = run(&dir, &k, false, None).expect("full");
    let resumed = run(&dir, &k, false, Some(&state)).expect("resumed");
    let (a, b) = (
        full.failure.expect("full fails"),
        resumed.failure.expect("resumed fails"),
    );
    assert_eq!((a.seq, a.check), (b.seq, b.check));
    assert_eq!(a.seq, Some(70));
}

#[test]
fn a_state_that_does_not_fit_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let k = key(4);
    plain(&a, &k, 10, 100).close().expect("close");
    plain(&b, &k, 10, 100).close().expect("close");
    let state = state_of(&a, &k);
    let mismatch = |r: Result<VerifyReport, VerifyError>| match r {
        Err(VerifyError::State(StateError::Mismatch(why))) => why,
        other => panic!("expected a mismatch, got {other:?}"),
    };
    // Another anchor, the policy evaluated now but not then.
    let other = key(5);
    let opts = VerifyOptions::default().resume(Some(state.clone()));
    let why = mismatch(verify_opts(&StdBackend, &a, &anchor(&other), &opts));
    assert!(why.contains("trusting"), "{why}");
    let why = mismatch(run(&a, &k, true, Some(&state)));
    assert!(why.contains("policy"), "{why}");
    // Another ledger (same key, same sizes): its last entry is not the state's.
    let r = run(&b, &k, false, Some(&state)).expect("resumed");
    assert_eq!(r.failure.map(|f| f.check), Some(Check::Chain));
    // Damaged or foreign bytes.
    let mut bytes = state.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(
        VerifierState::from_bytes(&bytes),
        Err(StateError::Malformed(_))
    ));
    assert!(matches!(
        VerifierState::from_bytes(b"hello"),
        Err(StateError::Malformed(_))
    ));
    assert!(matches!(VerifierState::from_bytes(&[]), Err(StateError::Malformed(_))));
    let back = VerifierState::from_bytes(state.as_bytes()).expect("round trip");
    assert_eq!(back, state);
}

/// A state whose bytes were altered after its checksum was recomputed (what someone who can
/// write the auditor's state file could hand it): `from_bytes` refuses it or resuming from it
/// runs to a report or an error — never a panic, whatever byte changed.
#[test]
fn crafted_states_are_refused_or_verified_never_panic() {
    let mut w = World::new();
    w.compliant_flow();
    let ai = w.ai.clone();
    let out = w.add(&ai_output("open question"), &[&ai]);
    propose(&mut w, &out);
    let state = step(&w, None).expect("state");
    w.compliant_flow();
    w.ledger.checkpoint().expect("checkpoint");
    let good = state.as_bytes().to_vec();
    const HEADER: usize = 26 + 4 + 32;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).expect("fits")
    };
    let (mut refused, mut resumed) = (0, 0);
    for round in 0..400 {
        let mut bytes = good.clone();
        match round % 4 {
            0 => {
                let i = HEADER + rand(bytes.len() - HEADER);
                bytes[i] ^= 1 << rand(8);
            }
            1 => {
                let i = HEADER + rand(bytes.len() - HEADER);
                bytes[i] = [0, 1, 2, 0x7f, 0xff][rand(5)];
            }
            2 => {
                let i = HEADER + rand(bytes.len() - HEADER);
                let end = (i + 8).min(bytes.len());
                bytes[i..end].fill(0xff);
            }
            _ => bytes.truncate(HEADER + rand(bytes.len() - HEADER)),
        }
        let sum = *blake3::hash(&bytes[HEADER..]).as_bytes();
        bytes[30..HEADER].copy_from_slice(&sum);
        match VerifierState::from_bytes(&bytes) {
            Err(StateError::Malformed(_)) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
            Ok(s) => {
                resumed += 1;
                let _ = run(w.dir.path(), &w.op, true, Some(&s));
            }
        }
    }
    assert!(refused > 0 && resumed > 0, "refused {refused}, resumed {resumed}");
}
