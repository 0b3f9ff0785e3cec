//! The keyless attacker: someone who can write the ledger directory but holds no key edits a
//! real ledger in every way the format allows, then `verify` and the writer judge the result
//! (issue 9: what such an attacker must not be able to do; docs/SECURITY.md §3).
//!
//! Three ledgers are built once, on simulated disks, by the same key: the **original** (three
//! segments; signed, unsigned, co-signed and governance entries; writes of one frame and of
//! several; three checkpoints; an erasure; an uncovered unsigned entry before the last, signed,
//! one), a **fork** of it (a copy taken after its first checkpoint that the same writer then
//! extended differently: every signature and seal in it is genuine) and an **other** ledger
//! (another ledger id). Every execution starts from a copy of the original's files and applies
//! a fuzzer-chosen sequence of edits, each one an attacker can make without a key: frames and
//! whole segments removed, moved, duplicated or spliced in from any of the three ledgers,
//! segments renamed and renumbered, seals cleared, made up or copied, bytes changed with every
//! checksum fixed (or not), payloads erased in place, files truncated, index, tree and
//! checkpoint-log files edited or taken from another ledger, a pending erasure planted, and
//! the derived files rebuilt with `rebuild_derived`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::checkpoint::{Checkpoint, CHECKPOINT_HEADER_LEN, CHECKPOINT_LOG, CHECKPOINT_RECORD_LEN};
use crate::encoding::crc;
use crate::entry::{commit_payload, EntryKind, LedgerId, RecordRef};
use crate::error::OpenError;
use crate::hash::Digest;
use crate::ledger::{rebuild_derived, Draft, Durability, Ledger};
use crate::record::{Environment, KeyEnrollment, KeyRevocation, PrincipalType, Record, Role};
use crate::storage::frame::{
    check_frame, erased_section, parse_header, parse_section, SectionRef, FRAME_HEADER_LEN, SEAL_LEN,
};
use crate::storage::index::{encode_index_header, INDEX_HEADER_LEN};
use crate::storage::segment::{parse_segment_file_name, SEGMENT_HEADER_LEN};
use crate::storage::{SimBackend, SEGMENTS_DIR};
use crate::tree::TREE_DIR;
use crate::verify::{verify_opts, TrustAnchor, VerifyOptions, VerifyReport};

use super::ledger_dir::{files, sim_options, DIR};
use super::{fuzz_key, Input};

/// Most edits applied per input.
const MAX_EDITS: usize = 12;
/// Name of the pending-erasure file.
const PENDING: &str = "redaction.pending";

/// What an entry of a ledger is: the facts a verified entry must share with the original's.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Truth {
    hash: Digest,
    kind: EntryKind,
    signed: bool,
    /// The payload, `None` once erased.
    payload: Option<Vec<u8>>,
    /// For a redaction entry whose payload is present, the entry it erases.
    redacts: Option<u64>,
}

/// One of the three ledgers: its files (paths under [`DIR`]), its entries, its checkpoints.
struct Base {
    name: &'static str,
    files: BTreeMap<PathBuf, Vec<u8>>,
    entries: Vec<Truth>,
    /// The chain value after each entry.
    chains: Vec<Digest>,
    checkpoints: Vec<Checkpoint>,
}

struct Bases {
    original: Base,
    fork: Base,
    other: Base,
    /// The state a verification of the original saved at its last checkpoint.
    state: crate::verify::VerifierState,
}

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(build_bases)
}

fn app(tag: &str, len: usize) -> Draft {
    let mut p = tag.as_bytes().to_vec();
    p.resize(len.max(p.len()), b'.');
    Draft::application("text/plain", p)
}

fn reviewer() -> crate::keys::SigningKey {
    crate::keys::SigningKey::from_seed(&[2; 32])
}

fn build_bases() -> Bases {
    let dir = Path::new(DIR);
    let disk = SimBackend::new();
    let opts = || sim_options(&disk, Durability::Buffered);
    let l = Ledger::create(dir, fuzz_key(), "original", opts()).expect("original ledger");
    l.append(app("signed 1", 20)).expect("append");
    l.append(app("signed 2", 30)).expect("append");
    let enroll = Record::KeyEnrollment(KeyEnrollment {
        public_key: reviewer().verifying_key().to_bytes(),
        principal_id: "reviewer@fuzz".into(),
        display_name: String::new(),
        principal_type: PrincipalType::Person,
        roles: vec![Role::Reviewer],
        environments: vec![Environment::Production],
    });
    l.append(Draft::record(&enroll).expect("record")).expect("enroll");
    // One write of three unsigned frames (only the last sealed).
    let batch = (0..3).map(|i| app(&format!("unsigned {i}"), 25).without_position_signature());
    l.append_batch(batch.collect()).expect("batch");
    l.append(app("big 1", 400 << 10)).expect("append");
    l.checkpoint().expect("checkpoint");
    l.close().expect("close");
    // The fork: the same writer continues a copy of the ledger as it is now.
    let fork_disk = copy_disk(&disk);
    let l = Ledger::open(dir, fuzz_key(), opts()).expect("reopen");
    l.append(app("big 2 unsigned", 400 << 10).without_position_signature())
        .expect("append");
    l.append(app("big 3", 400 << 10)).expect("append");
    l.append(app("co-signed", 10).cosigned_by(reviewer())).expect("append");
    let revoke = Record::KeyRevocation(KeyRevocation {
        key_id: reviewer().verifying_key().key_id().0,
        reason: "left".into(),
    });
    l.append(Draft::record(&revoke).expect("record")).expect("revoke");
    let batch = (0..2).map(|i| app(&format!("unsigned {}", 3 + i), 12).without_position_signature());
    l.append_batch(batch.collect()).expect("batch");
    l.checkpoint().expect("checkpoint");
    l.redact(4, "erasure").expect("redact");
    l.append(app("big 4", 700 << 10)).expect("append");
    l.checkpoint().expect("checkpoint");
    l.append(app("signed tail", 8)).expect("append");
    l.append(app("unsigned tail", 8).without_position_signature())
        .expect("append");
    l.append(app("signed last", 8)).expect("append");
    l.close().expect("close");
    let l = Ledger::open(dir, fuzz_key(), sim_options(&fork_disk, Durability::Buffered)).expect("fork");
    l.append(app("fork signed", 40)).expect("append");
    l.append(app("fork big", 700 << 10)).expect("append");
    let batch = (0..2).map(|i| app(&format!("fork unsigned {i}"), 12).without_position_signature());
    l.append_batch(batch.collect()).expect("batch");
    l.checkpoint().expect("checkpoint");
    l.append(app("fork last", 9)).expect("append");
    l.close().expect("close");
    let other_disk = SimBackend::new();
    let l = Ledger::create(dir, fuzz_key(), "other", sim_options(&other_disk, Durability::Buffered)).expect("other");
    l.append(app("other 1", 30)).expect("append");
    l.append(app("other 2", 30).without_position_signature())
        .expect("append");
    l.checkpoint().expect("checkpoint");
    l.append(app("other 3", 30)).expect("append");
    l.close().expect("close");
    let keep = VerifyOptions::default().allow_uncovered_tail(true).keep_state(true);
    let state = verify_sim(&disk, &keep)
        .and_then(|r| r.state)
        .expect("the original gives a state at its last checkpoint");
    let bases = Bases {
        original: base("original", &disk),
        fork: base("fork", &fork_disk),
        other: base("other", &other_disk),
        state,
    };
    let segs = |b: &Base| b.files.keys().filter(|p| super::ledger_dir::is_segment(p)).count();
    assert!(segs(&bases.original) >= 3, "the original ledger spans three segments");
    bases
}

fn copy_disk(disk: &SimBackend) -> SimBackend {
    materialize(&files(disk))
}

/// A fresh simulated disk holding exactly `files` (written and synced).
fn materialize(files: &BTreeMap<PathBuf, Vec<u8>>) -> SimBackend {
    let disk = SimBackend::new();
    let dir = Path::new(DIR);
    for d in [dir.join(SEGMENTS_DIR), dir.join(TREE_DIR)] {
        disk.create_dir_all(&d).expect("simulated mkdir");
    }
    for (p, b) in files {
        disk.set_file_bytes(p, b.clone());
    }
    disk
}

fn base(name: &'static str, disk: &SimBackend) -> Base {
    let files = files(disk);
    let r = verify_sim(disk, &VerifyOptions::default().allow_uncovered_tail(true)).expect("a base ledger reads");
    assert!(r.is_ok(), "a base ledger verifies: {:?}", r.failure);
    let entries = truths(&files).expect("a base ledger parses");
    assert_eq!(entries.len() as u64, r.entries);
    let checkpoints = crate::checkpoint::read_log(
        crate::storage::Backend::open_dir(disk, Path::new(DIR), false)
            .expect("ledger dir")
            .as_ref(),
        ledger_id(&files).expect("ledger id"),
    )
    .expect("checkpoint log")
    .checkpoints;
    let mut chain = Digest::ZERO;
    let chains = entries
        .iter()
        .map(|e| {
            chain = crate::hash::chain_value(&chain, &e.hash);
            chain
        })
        .collect();
    assert_eq!(chain, r.head);
    Base {
        name,
        files,
        entries,
        chains,
        checkpoints,
    }
}

fn verify_sim(disk: &SimBackend, opts: &VerifyOptions) -> Option<VerifyReport> {
    verify_opts(
        disk,
        Path::new(DIR),
        &TrustAnchor::PublicKey(fuzz_key().verifying_key()),
        opts,
    )
    .ok()
}

fn ledger_id(files: &BTreeMap<PathBuf, Vec<u8>>) -> Option<LedgerId> {
    let seg0 = files.get(&seg_path(0))?;
    let id = seg0.get(16..32)?;
    Some(LedgerId(std::array::from_fn(|i| id[i])))
}

fn seg_path(first_seq: u64) -> PathBuf {
    crate::storage::segment_path(Path::new(DIR), first_seq)
}

fn idx_path(first_seq: u64) -> PathBuf {
    crate::storage::index_path(Path::new(DIR), first_seq)
}

/// The complete, checksum-valid frames of a segment file, walked by their headers, stopping
/// at the first one that is not.
fn frames(seg: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= seg.len() {
        let Ok(h) = parse_header(&std::array::from_fn(|i| seg[pos + i])) else {
            break;
        };
        let end = pos + h.frame_len();
        if end > seg.len() || !check_frame(&seg[pos..end]) {
            break;
        }
        out.push(pos..end);
        pos = end;
    }
    out
}

fn sealed(frame: &[u8]) -> bool {
    frame[2] & 1 == 1
}

/// The entries of a ledger's files as docs/FORMAT.md §7 – §8 lay them out, read here without
/// the library's scanner: the frames of each segment in name order, the newest segment's up
/// to its last seal; each with its entry hash at its place. `None` if a segment is unreadable.
fn truths(files: &BTreeMap<PathBuf, Vec<u8>>) -> Option<Vec<Truth>> {
    let id = ledger_id(files)?;
    let mut segs: Vec<(u64, &Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| super::ledger_dir::is_segment(p))
        .filter_map(|(p, b)| Some((parse_segment_file_name(p.file_name()?.to_str()?)?, b)))
        .collect();
    segs.sort_by_key(|s| s.0);
    let mut out = Vec::new();
    let last = segs.len().checked_sub(1)?;
    for (i, (_, seg)) in segs.iter().enumerate() {
        let mut fr = frames(seg);
        if i == last {
            let keep = fr.iter().rposition(|f| sealed(&seg[f.clone()])).map_or(0, |p| p + 1);
            fr.truncate(keep);
        }
        for f in fr {
            out.push(truth(&seg[f], out.len() as u64, id)?);
        }
    }
    Some(out)
}

fn truth(frame: &[u8], seq: u64, id: LedgerId) -> Option<Truth> {
    let h = parse_header(&std::array::from_fn(|i| frame[i])).ok()?;
    let record = RecordRef::parse(&frame[FRAME_HEADER_LEN..h.section_offset()]).ok()?;
    let s = h.section_offset();
    let (commitment, payload) = match parse_section(&frame[s..s + h.section_len]).ok()? {
        SectionRef::Present { salt, payload } => (commit_payload(salt, payload), Some(payload.to_vec())),
        SectionRef::Erased { commitment, .. } => (commitment, None),
    };
    let redacts = match (record.kind(), &payload) {
        (EntryKind::Redaction, Some(p)) => match Record::decode(EntryKind::Redaction, p) {
            Ok(Record::Redaction(r)) => Some(r.target_seq),
            _ => None,
        },
        _ => None,
    };
    Some(Truth {
        hash: record.entry_hash(seq, id, &commitment),
        kind: record.kind(),
        signed: record.position().is_some(),
        payload,
        redacts,
    })
}

// ------------------------------------------------------------------------------------------
// The attacker's view of a ledger directory, and the edits.

/// A segment file: its name's number and bytes.
#[derive(Clone)]
struct Seg {
    name: u64,
    bytes: Vec<u8>,
}

/// The directory being edited: segments (in name order once sorted) and every other file.
struct Dir {
    segs: Vec<Seg>,
    others: BTreeMap<PathBuf, Vec<u8>>,
    ledger_id: LedgerId,
}

impl Dir {
    fn from(b: &Base) -> Self {
        let mut segs = Vec::new();
        let mut others = BTreeMap::new();
        for (p, bytes) in &b.files {
            match p.file_name().and_then(|n| n.to_str()).and_then(parse_segment_file_name) {
                Some(name) if super::ledger_dir::is_segment(p) => segs.push(Seg {
                    name,
                    bytes: bytes.clone(),
                }),
                _ => {
                    others.insert(p.clone(), bytes.clone());
                }
            }
        }
        segs.sort_by_key(|s| s.name);
        Dir {
            segs,
            others,
            ledger_id: ledger_id(&b.files).unwrap_or_default(),
        }
    }

    fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = self.others.clone();
        for s in &self.segs {
            out.insert(seg_path(s.name), s.bytes.clone());
        }
        out
    }

    fn sort(&mut self) {
        self.segs.sort_by_key(|s| s.name);
        self.segs.dedup_by_key(|s| s.name);
    }

    fn seg(&mut self, i: u8) -> Option<&mut Seg> {
        let n = self.segs.len();
        (n > 0).then(|| &mut self.segs[usize::from(i) % n])
    }
}

/// A segment split into its header, its frames (walked by header lengths) and what follows.
struct Split {
    header: Vec<u8>,
    frames: Vec<Vec<u8>>,
    rest: Vec<u8>,
}

fn split(seg: &[u8]) -> Split {
    let fr = frames(seg);
    let end = fr.last().map_or(SEGMENT_HEADER_LEN.min(seg.len()), |f| f.end);
    Split {
        header: seg[..SEGMENT_HEADER_LEN.min(seg.len())].to_vec(),
        frames: fr.into_iter().map(|f| seg[f].to_vec()).collect(),
        rest: seg[end..].to_vec(),
    }
}

fn join(s: &Split) -> Vec<u8> {
    let mut out = s.header.clone();
    for f in &s.frames {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(&s.rest);
    out
}

/// Rewrites both CRCs of a frame whose header or body was edited.
fn fix_frame(f: &mut [u8]) {
    if f.len() < FRAME_HEADER_LEN + 4 {
        return;
    }
    let h = crc(&[&f[..8]]);
    f[8..12].copy_from_slice(&h.to_le_bytes());
    let end = f.len() - 4;
    let c = crc(&[&f[FRAME_HEADER_LEN..end]]);
    f[end..].copy_from_slice(&c.to_le_bytes());
}

fn fix_segment_header(seg: &mut [u8]) {
    if seg.len() >= SEGMENT_HEADER_LEN {
        let c = crc(&[&seg[..60]]);
        seg[60..64].copy_from_slice(&c.to_le_bytes());
    }
}

/// Sets (with a seal's 112 bytes) or clears a frame's seal flag, fixing its checksums.
fn set_seal(frame: &[u8], seal: Option<&[u8]>) -> Vec<u8> {
    let mut f = frame.to_vec();
    if sealed(frame) {
        // Take the old seal out.
        let end = f.len() - 4;
        f.drain(end - SEAL_LEN..end);
    }
    let end = f.len() - 4;
    match seal {
        Some(s) => {
            f[2] |= 1;
            f.splice(end..end, s.iter().copied().take(SEAL_LEN));
        }
        None => f[2] &= !1,
    }
    fix_frame(&mut f);
    f
}

/// The seal of a sealed frame.
fn seal_of(frame: &[u8]) -> Option<Vec<u8>> {
    sealed(frame).then(|| frame[frame.len() - 4 - SEAL_LEN..frame.len() - 4].to_vec())
}

/// A frame of one of the three ledgers, or of the directory being edited (`src` picks).
fn pick_frame(dir: &Dir, input: &mut Input<'_>) -> Option<Vec<u8>> {
    let (src, s, f) = (input.u8(), input.u8(), input.u8());
    let b = bases();
    let segs: Vec<&Vec<u8>> = match src % 4 {
        0 => dir.segs.iter().map(|s| &s.bytes).collect(),
        1 => seg_files(&b.original),
        2 => seg_files(&b.fork),
        _ => seg_files(&b.other),
    };
    let seg = segs.get(usize::from(s) % segs.len().max(1))?;
    let fr = frames(seg);
    let r = fr.get(usize::from(f) % fr.len().max(1))?;
    Some(seg[r.clone()].to_vec())
}

fn seg_files(b: &Base) -> Vec<&Vec<u8>> {
    b.files
        .iter()
        .filter(|(p, _)| super::ledger_dir::is_segment(p))
        .map(|(_, v)| v)
        .collect()
}

fn donor(input: &mut Input<'_>) -> &'static Base {
    let b = bases();
    match input.u8() % 3 {
        0 => &b.fork,
        1 => &b.other,
        _ => &b.original,
    }
}

/// Applies one edit chosen by the input. Every edit is something a keyless attacker with write
/// access to the directory can do; the "fix" variants recompute every checksum they break.
#[allow(clippy::too_many_lines)] // one match arm per edit
fn edit(dir: &mut Dir, input: &mut Input<'_>) {
    let op = input.u8();
    super::trace(|| format!("edit {}", op % 24));
    match op % 24 {
        // Frames: remove, move, duplicate, insert one from any ledger, replace one.
        0..=4 => {
            let (s, i) = (input.u8(), input.u8());
            let other = pick_frame(dir, input);
            let (s2, j) = (input.u8(), input.u8());
            let Some(seg) = dir.seg(s) else { return };
            let mut sp = split(&seg.bytes);
            if sp.frames.is_empty() && op % 24 != 3 {
                return;
            }
            let i = usize::from(i) % sp.frames.len().max(1);
            match op % 24 {
                0 => drop(sp.frames.remove(i)),
                1 | 2 => {
                    let f = if op % 24 == 1 {
                        sp.frames.remove(i)
                    } else {
                        sp.frames[i].clone()
                    };
                    seg.bytes = join(&sp);
                    let Some(seg2) = dir.seg(s2) else { return };
                    let mut sp2 = split(&seg2.bytes);
                    let j = usize::from(j) % (sp2.frames.len() + 1);
                    sp2.frames.insert(j, f);
                    seg2.bytes = join(&sp2);
                    return;
                }
                3 => {
                    let Some(f) = other else { return };
                    let j = usize::from(j) % (sp.frames.len() + 1);
                    sp.frames.insert(j, f);
                }
                _ => {
                    let Some(f) = other else { return };
                    sp.frames[i] = f;
                }
            }
            seg.bytes = join(&sp);
        }
        // Seals: clear one, add a made-up one or one copied from any frame, replace one.
        5..=7 => {
            let (s, i, mode) = (input.u8(), input.u8(), input.u8());
            let donor_seal = pick_frame(dir, input).and_then(|f| seal_of(&f));
            let made_up: Vec<u8> = (0..SEAL_LEN).map(|k| mode ^ k as u8).collect();
            let Some(seg) = dir.seg(s) else { return };
            let mut sp = split(&seg.bytes);
            if sp.frames.is_empty() {
                return;
            }
            let i = usize::from(i) % sp.frames.len();
            let seal = match op % 24 {
                5 => None,
                _ if mode & 1 == 0 => Some(donor_seal.unwrap_or(made_up)),
                _ => Some(made_up),
            };
            if op % 24 == 7 && !sealed(&sp.frames[i]) {
                return;
            }
            sp.frames[i] = set_seal(&sp.frames[i], seal.as_deref());
            seg.bytes = join(&sp);
        }
        // Segments: remove, swap names, duplicate, splice from another ledger.
        8 => {
            let n = dir.segs.len();
            if n > 0 {
                dir.segs.remove(usize::from(input.u8()) % n);
            }
        }
        9 => {
            let (a, b) = (input.u8(), input.u8());
            let n = dir.segs.len();
            if n > 1 {
                let (a, b) = (usize::from(a) % n, usize::from(b) % n);
                let na = dir.segs[a].name;
                dir.segs[a].name = dir.segs[b].name;
                dir.segs[b].name = na;
                dir.sort();
            }
        }
        10 | 11 => {
            let (src, s, name) = (input.u8(), input.u8(), input.u16());
            let segs: Vec<Vec<u8>> = if op % 24 == 10 {
                dir.segs.iter().map(|s| s.bytes.clone()).collect()
            } else {
                let d = donor(&mut Input(&[src]));
                seg_files(d).into_iter().cloned().collect()
            };
            let Some(bytes) = segs.get(usize::from(s) % segs.len().max(1)).cloned() else {
                return;
            };
            let max = dir.segs.iter().map(|s| s.name).max().unwrap_or(0);
            let name = if name & 0x8000 == 0 {
                max + 1 + u64::from(name & 0xff)
            } else {
                u64::from(name & 0x7fff)
            };
            dir.segs.retain(|s| s.name != name);
            dir.segs.push(Seg { name, bytes });
            dir.sort();
        }
        // Renumber: every segment named (and its header and index header rewritten) by the
        // entries before it, as if it had always been there.
        12 => renumber(dir),
        // A segment header claims this ledger (or another one).
        13 => {
            let (s, which) = (input.u8(), input.u8());
            let id = if which & 1 == 0 {
                dir.ledger_id
            } else {
                LedgerId([which; 16])
            };
            if let Some(seg) = dir.seg(s) {
                if seg.bytes.len() >= SEGMENT_HEADER_LEN {
                    seg.bytes[16..32].copy_from_slice(&id.0);
                    fix_segment_header(&mut seg.bytes);
                }
            }
        }
        // A byte of any file, with the checksum that covers it fixed (or not).
        14 | 15 => byte_edit(dir, input, op % 24 == 14),
        // Truncate any file.
        16 => {
            let (f, at) = (input.u8(), input.u32());
            with_file(dir, f, |b| {
                let n = b.len();
                b.truncate(at as usize % (n + 1));
            });
        }
        // Erase a payload in place (the erased section of §7.6, the true commitment or not).
        17 => {
            let (s, i, wrong) = (input.u8(), input.u8(), input.u8());
            let Some(seg) = dir.seg(s) else { return };
            let mut sp = split(&seg.bytes);
            if sp.frames.is_empty() {
                return;
            }
            let i = usize::from(i) % sp.frames.len();
            erase(&mut sp.frames[i], wrong);
            seg.bytes = join(&sp);
        }
        // Index files: remove, truncate, take another ledger's (header fixed or not).
        18 => {
            let (which, mode, k) = (input.u8(), input.u8(), input.u16());
            let Some(name) = dir.seg(which).map(|seg| seg.name) else {
                return;
            };
            let path = idx_path(name);
            match mode % 4 {
                0 => drop(dir.others.remove(&path)),
                1 => {
                    if let Some(b) = dir.others.get_mut(&path) {
                        let n = b.len();
                        b.truncate(INDEX_HEADER_LEN + usize::from(k) % (n + 1).saturating_sub(INDEX_HEADER_LEN).max(1));
                    }
                }
                _ => {
                    let d = donor(input);
                    let idxs: Vec<&Vec<u8>> = d
                        .files
                        .iter()
                        .filter(|(p, _)| p.extension().is_some_and(|e| e == "idx"))
                        .map(|(_, v)| v)
                        .collect();
                    if let Some(b) = idxs.get(usize::from(k) % idxs.len().max(1)) {
                        let mut b = (*b).clone();
                        if mode % 4 == 3 && b.len() >= INDEX_HEADER_LEN {
                            b[..INDEX_HEADER_LEN].copy_from_slice(&encode_index_header(dir.ledger_id, name));
                        }
                        dir.others.insert(path, b);
                    }
                }
            }
        }
        // Tree level files: remove, truncate, append nodes, take another ledger's.
        19 => {
            let (level, mode, k) = (input.u8() % 8 * 2, input.u8(), input.u16());
            let p = crate::tree::level_path(Path::new(DIR), level);
            match mode % 4 {
                0 => drop(dir.others.remove(&p)),
                1 => {
                    if let Some(b) = dir.others.get_mut(&p) {
                        let n = b.len();
                        b.truncate(usize::from(k) % (n + 1));
                    }
                }
                2 => {
                    if let Some(b) = dir.others.get_mut(&p) {
                        for i in 0..=(k % 3) {
                            b.extend_from_slice(&[mode ^ i as u8; 32]);
                        }
                    }
                }
                _ => {
                    if let Some(b) = donor(input).files.get(&p) {
                        dir.others.insert(p, b.clone());
                    }
                }
            }
        }
        // The checkpoint log: remove it, drop / duplicate / swap records, truncate, take
        // another ledger's log, append another ledger's record.
        20 | 21 => checkpoint_edit(dir, input),
        // A pending erasure, naming any target and redaction entry, the true commitment or not.
        22 => {
            let (t, r, c) = (input.u8(), input.u8(), input.u8());
            let b = bases();
            let target = u64::from(t) % (b.original.entries.len() as u64 + 2);
            let redaction = u64::from(r) % (b.original.entries.len() as u64 + 2);
            let commitment = if c & 1 == 0 {
                b.original
                    .entries
                    .get(target as usize)
                    .and_then(|_| commitment_of(dir, target))
                    .unwrap_or(Digest::from_bytes([c; 32]))
            } else {
                Digest::from_bytes([c; 32])
            };
            let mut rec = target.to_le_bytes().to_vec();
            rec.extend_from_slice(&redaction.to_le_bytes());
            rec.extend_from_slice(commitment.as_bytes());
            let sum = crc(&[&rec]);
            rec.extend_from_slice(&sum.to_le_bytes());
            dir.others.insert(Path::new(DIR).join(PENDING), rec);
        }
        // What a careful attacker runs after editing segments: `rebuild_derived` rewrites the
        // index and tree files from the segments.
        _ => {
            let disk = materialize(&dir.files());
            let opts = sim_options(&disk, Durability::Buffered);
            if rebuild_derived(Path::new(DIR), &opts).is_ok() {
                let all = files(&disk);
                dir.others = all
                    .into_iter()
                    .filter(|(p, _)| !super::ledger_dir::is_segment(p))
                    .collect();
            }
        }
    }
}

/// The payload commitment entry `seq` has in the directory now (present or erased).
fn commitment_of(dir: &Dir, seq: u64) -> Option<Digest> {
    let mut at = 0u64;
    for s in &dir.segs {
        for f in frames(&s.bytes) {
            if at == seq {
                let frame = &s.bytes[f];
                let h = parse_header(&std::array::from_fn(|i| frame[i])).ok()?;
                let sec = &frame[h.section_offset()..h.section_offset() + h.section_len];
                return match parse_section(sec).ok()? {
                    SectionRef::Present { salt, payload } => Some(commit_payload(salt, payload)),
                    SectionRef::Erased { commitment, .. } => Some(commitment),
                };
            }
            at += 1;
        }
    }
    None
}

/// Overwrites a frame's payload section with its erased form and fixes the frame checksum;
/// `wrong` odd: with a made-up commitment.
fn erase(frame: &mut [u8], wrong: u8) {
    let Ok(h) = parse_header(&std::array::from_fn(|i| frame[i])) else {
        return;
    };
    let s = h.section_offset();
    let c = match parse_section(&frame[s..s + h.section_len]) {
        Ok(SectionRef::Present { salt, payload }) if wrong & 1 == 0 => commit_payload(salt, payload),
        Ok(SectionRef::Erased { commitment, .. }) if wrong & 1 == 0 => commitment,
        _ => Digest::from_bytes([wrong; 32]),
    };
    let section = erased_section(&c, h.payload_len());
    frame[s..s + section.len()].copy_from_slice(&section);
    fix_frame(frame);
}

/// Renames every segment (and its index) by the number of frames before it, rewriting their
/// headers' `first_seq` and checksums.
fn renumber(dir: &mut Dir) {
    dir.sort();
    let mut next = 0u64;
    let mut others = std::mem::take(&mut dir.others);
    let mut idx = BTreeMap::new();
    for s in &mut dir.segs {
        if let Some(b) = others.remove(&idx_path(s.name)) {
            idx.insert(next, b);
        }
        s.name = next;
        if s.bytes.len() >= SEGMENT_HEADER_LEN {
            s.bytes[32..40].copy_from_slice(&next.to_le_bytes());
            fix_segment_header(&mut s.bytes);
        }
        next += frames(&s.bytes).len() as u64;
    }
    for (name, mut b) in idx {
        if b.len() >= INDEX_HEADER_LEN {
            b[..INDEX_HEADER_LEN].copy_from_slice(&encode_index_header(dir.ledger_id, name));
        }
        others.insert(idx_path(name), b);
    }
    dir.others = others;
    dir.sort();
}

/// Runs `f` on file number `i` of the directory (segments first, then the others).
fn with_file(dir: &mut Dir, i: u8, f: impl FnOnce(&mut Vec<u8>)) {
    let n = dir.segs.len() + dir.others.len();
    if n == 0 {
        return;
    }
    let i = usize::from(i) % n;
    if i < dir.segs.len() {
        f(&mut dir.segs[i].bytes);
    } else if let Some(b) = dir.others.values_mut().nth(i - dir.segs.len()) {
        f(b);
    }
}

/// Flips bits of one byte of any file; with `fix`, recomputes the checksum that covers it (of
/// a frame, a segment header, a checkpoint record or the pending-erasure record).
fn byte_edit(dir: &mut Dir, input: &mut Input<'_>, fix: bool) {
    let (file, at, flip) = (input.u8(), input.u32(), input.u8().max(1));
    let count = dir.segs.len() + dir.others.len();
    if count == 0 {
        return;
    }
    let i = usize::from(file) % count;
    if i < dir.segs.len() {
        let seg = &mut dir.segs[i].bytes;
        if seg.is_empty() {
            return;
        }
        let at = at as usize % seg.len();
        let fr = frames(seg);
        seg[at] ^= flip;
        if fix {
            if at < SEGMENT_HEADER_LEN {
                fix_segment_header(seg);
            } else if let Some(r) = fr.into_iter().find(|r| r.contains(&at)) {
                fix_frame(&mut seg[r]);
            }
        }
        return;
    }
    let Some((path, b)) = dir.others.iter_mut().nth(i - dir.segs.len()) else {
        return;
    };
    if b.is_empty() {
        return;
    }
    let at = at as usize % b.len();
    b[at] ^= flip;
    if !fix {
        return;
    }
    if path.ends_with(CHECKPOINT_LOG) && at >= CHECKPOINT_HEADER_LEN {
        let r = (at - CHECKPOINT_HEADER_LEN) / CHECKPOINT_RECORD_LEN;
        let start = CHECKPOINT_HEADER_LEN + r * CHECKPOINT_RECORD_LEN;
        if let Some(rec) = b.get_mut(start..start + CHECKPOINT_RECORD_LEN) {
            let c = crc(&[&rec[..CHECKPOINT_RECORD_LEN - 4]]);
            rec[CHECKPOINT_RECORD_LEN - 4..].copy_from_slice(&c.to_le_bytes());
        }
    } else if path.ends_with(PENDING) && b.len() >= 52 {
        let c = crc(&[&b[..48]]);
        b[48..52].copy_from_slice(&c.to_le_bytes());
    }
}

fn checkpoint_edit(dir: &mut Dir, input: &mut Input<'_>) {
    let (mode, first, second) = (input.u8(), input.u8(), input.u8());
    let p = Path::new(DIR).join(CHECKPOINT_LOG);
    let records = |log: &[u8]| -> Vec<Vec<u8>> {
        log.get(CHECKPOINT_HEADER_LEN..)
            .unwrap_or_default()
            .chunks(CHECKPOINT_RECORD_LEN)
            .map(<[u8]>::to_vec)
            .collect()
    };
    let Some(log) = dir.others.get(&p).cloned() else {
        if mode % 8 == 6 {
            if let Some(l) = donor(input).files.get(&p) {
                dir.others.insert(p, l.clone());
            }
        }
        return;
    };
    let header = log[..CHECKPOINT_HEADER_LEN.min(log.len())].to_vec();
    let mut recs = records(&log);
    let n = recs.len();
    match mode % 8 {
        0 => {
            dir.others.remove(&p);
            return;
        }
        1 if n > 0 => drop(recs.remove(usize::from(first) % n)),
        2 if n > 0 => {
            let r = recs[usize::from(first) % n].clone();
            recs.insert(usize::from(second) % (n + 1), r);
        }
        3 if n > 1 => recs.swap(usize::from(first) % n, usize::from(second) % n),
        4 => recs.truncate(usize::from(first) % (n + 1)),
        5 | 7 => {
            let d = donor(input);
            let theirs = d.files.get(&p).map(|l| records(l)).unwrap_or_default();
            if let Some(r) = theirs.get(usize::from(first) % theirs.len().max(1)) {
                recs.insert(usize::from(second) % (n + 1), r.clone());
            }
        }
        6 => {
            if let Some(l) = donor(input).files.get(&p) {
                dir.others.insert(p, l.clone());
            }
            return;
        }
        _ => return,
    }
    let mut out = header;
    for r in recs {
        out.extend_from_slice(&r);
    }
    dir.others.insert(p, out);
}

// ------------------------------------------------------------------------------------------
// The properties.

/// Which of the key's ledgers the first `n` entries are a prefix of, if any.
fn prefix_of(entries: &[Truth], n: usize) -> Option<&'static str> {
    let b = bases();
    [&b.original, &b.fork, &b.other]
        .into_iter()
        .find(|base| is_prefix(entries, n, base))
        .map(|base| base.name)
}

/// Whether the first `n` entries are the first `n` of `base`.
fn is_prefix(entries: &[Truth], n: usize, base: &Base) -> bool {
    n <= base.entries.len() && entries[..n].iter().zip(&base.entries).all(|(e, t)| same_entry(e, t))
}

/// The same entry: hash, kind and signature; the payload equal where both are present (an
/// erased payload in either is allowed here and checked against the redactions separately).
fn same_entry(e: &Truth, t: &Truth) -> bool {
    e.hash == t.hash
        && e.kind == t.kind
        && e.signed == t.signed
        && match (&e.payload, &t.payload) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// A passing report over `files`: the verified entries (their number, and below the
/// authenticated bound every one — position-signed entries, unsigned ones under a checkpoint
/// or under `trusted`, and everything before the last signed one) are a prefix of one of the
/// ledgers the key wrote (the original, its fork, the other ledger — never a mix); the entries
/// past the bound are unsigned application entries (an uncovered tail, allowed); an erased
/// payload among them is named by a redaction entry among them. Returns which ledger.
fn check_prefix(files: &BTreeMap<PathBuf, Vec<u8>>, r: &VerifyReport, trusted: u64, what: &str) -> &'static str {
    let entries = truths(files).unwrap_or_else(|| panic!("{what}: verified, but its frames do not parse"));
    let n = usize::try_from(r.entries).expect("small ledger");
    assert!(
        n <= entries.len(),
        "{what}: verified {n} entries, the files hold {}",
        entries.len()
    );
    let covered = r.latest_checkpoint.map_or(0, |c| c.tree_size).max(trusted);
    let last_signed = entries[..n].iter().rposition(|e| e.signed).map_or(0, |i| i + 1);
    let bound = usize::try_from(covered).expect("small").max(last_signed);
    assert!(bound <= n, "{what}: a checkpoint of {covered} entries passed over {n}");
    for (i, e) in entries[bound..n].iter().enumerate() {
        assert!(
            e.kind == EntryKind::Application && !e.signed,
            "{what}: entry {} verified as an uncovered tail but is not unsigned",
            bound + i
        );
    }
    let Some(source) = prefix_of(&entries, bound) else {
        panic!("{what}: verify accepted {bound} authenticated entries that are no ledger's prefix")
    };
    for (i, e) in entries[..n].iter().enumerate() {
        if e.payload.is_none() {
            let named = entries[..n].iter().any(|r| r.redacts == Some(i as u64));
            assert!(
                named,
                "{what}: entry {i} verified erased, but no redaction among the verified entries names it"
            );
        }
    }
    assert_eq!(
        r.redacted.len(),
        entries[..n].iter().filter(|e| e.payload.is_none()).count()
    );
    source
}

/// Input: a sequence of edits (see `edit`); an empty input is the original ledger untouched.
///
/// After the edits, `verify` (default options, then `allow_uncovered_tail`, then incrementally
/// from the original's last checkpoint) and the writer (`Ledger::open` with the real key) run
/// on the result. Asserts: nothing panics; what `verify` accepts is, below the authenticated
/// bound (signed entries, unsigned ones under a signed checkpoint, everything before the last
/// signed entry), exactly a prefix of one ledger the key wrote — the original, its fork, or
/// the other ledger whole (a public-key anchor names a key, not a ledger) — with seq, entry
/// hash, kind, signature, payload or its authorised erasure; from the original's last
/// checkpoint it accepts only a prefix of the original at least that long, and resumed from the
/// state a verification saved there only the original's entries; the default options
/// accept nothing the lenient ones refuse; the untouched original verifies.
///
/// The writer opens whatever verifies with the default options (and may refuse what verifies
/// only with uncovered entries allowed, as unverified). When it opens anything, it resumes from
/// a chain value one of the key's ledgers had at that length (equal to `verify`'s head when the
/// ledger verified), three appends and a checkpoint succeed, and the checkpoint it signs is the
/// root of that ledger's prefix plus exactly its own appends: the writer never signs entries it
/// did not write, whatever the files hold. Afterwards, a ledger that verified before still
/// verifies, and whatever verifies is that prefix plus the new entries.
pub fn keyless_attacker(data: &[u8]) {
    let b = bases();
    let mut input = Input(data);
    let mut dir = Dir::from(&b.original);
    for _ in 0..MAX_EDITS {
        if input.is_empty() {
            break;
        }
        edit(&mut dir, &mut input);
    }
    let edited = dir.files();
    let untouched = edited == b.original.files;
    let disk = materialize(&edited);
    let strict = verify_sim(&disk, &VerifyOptions::default()).filter(VerifyReport::is_ok);
    let lenient = verify_sim(&disk, &VerifyOptions::default().allow_uncovered_tail(true)).filter(VerifyReport::is_ok);
    if untouched {
        assert!(lenient.is_some(), "the original ledger does not verify");
    }
    if let Some(r) = &strict {
        assert!(
            lenient.is_some(),
            "allow_uncovered_tail refused what the default accepts"
        );
        check_prefix(&edited, r, 0, "verify");
    }
    if let Some(r) = &lenient {
        check_prefix(&edited, r, 0, "verify --allow-uncovered-tail");
    }
    let t = *b.original.checkpoints.last().expect("the original has checkpoints");
    let incremental = verify_sim(
        &disk,
        &VerifyOptions::default()
            .allow_uncovered_tail(true)
            .from_checkpoint(Some(t)),
    )
    .filter(VerifyReport::is_ok);
    if let Some(r) = &incremental {
        assert!(
            r.entries >= t.tree_size,
            "verified {} entries from a checkpoint of {}",
            r.entries,
            t.tree_size
        );
        let source = check_prefix(&edited, r, t.tree_size, "verify --from-checkpoint");
        assert_eq!(
            source, "original",
            "accepted another ledger past a checkpoint of the original"
        );
    }
    if untouched {
        assert!(
            incremental.is_some(),
            "the original does not verify from its own checkpoint"
        );
    }
    // Resumed from the state saved at the original's last checkpoint (default options: every
    // entry it accepts is authenticated): only the original, at least as long as the state,
    // and exactly its entries (the chain value after them is the original's). The prefix the
    // state covers is not read again (docs/FORMAT.md §9.1), so it is not checked here.
    let resumed =
        verify_sim(&disk, &VerifyOptions::default().resume(Some(b.state.clone()))).filter(VerifyReport::is_ok);
    if let Some(r) = &resumed {
        let n = usize::try_from(r.entries).expect("small ledger");
        assert!(
            r.entries >= b.state.size(),
            "verify --state accepted {n} entries, fewer than its state's"
        );
        assert!(
            n <= b.original.chains.len() && r.head == b.original.chains[n - 1],
            "verify --state accepted {n} entries that are not the original's"
        );
    }
    if untouched && strict.is_some() {
        assert!(resumed.is_some(), "the original does not verify from its own state");
    }
    super::trace(|| {
        let n = |r: Option<&VerifyReport>| r.map_or(-1, |r| i64::try_from(r.entries).unwrap_or(i64::MAX));
        format!(
            "verified: strict {} lenient {} incremental {} resumed {}",
            n(strict.as_ref()),
            n(lenient.as_ref()),
            n(incremental.as_ref()),
            n(resumed.as_ref())
        )
    });
    writer(&disk, strict.as_ref(), lenient.as_ref());
}

/// The writer opens the edited ledger with the real key (see [`keyless_attacker`]).
fn writer(disk: &SimBackend, strict: Option<&VerifyReport>, lenient: Option<&VerifyReport>) {
    let dir = Path::new(DIR);
    let ledger = match Ledger::open(dir, fuzz_key(), sim_options(disk, Durability::Buffered)) {
        Ok(l) => l,
        Err(e) => {
            super::trace(|| format!("writer: refused: {e}"));
            assert!(strict.is_none(), "the writer refused a ledger that verifies: {e}");
            if lenient.is_some() {
                assert!(
                    matches!(e, OpenError::Unverified(_)),
                    "the writer refused a verified ledger: {e}"
                );
            }
            return;
        }
    };
    let len0 = ledger.len();
    super::trace(|| format!("writer: opened at {len0}"));
    // Whatever the files hold now, the writer resumes from a state one of the key's ledgers
    // had: the chain value after `len0` entries of the original, the fork or the other ledger.
    let n = usize::try_from(len0).expect("small");
    let head = ledger.head();
    let b = bases();
    let source = [&b.original, &b.fork, &b.other]
        .into_iter()
        .find(|s| n >= 1 && s.chains.get(n - 1) == Some(&head))
        .unwrap_or_else(|| panic!("the writer resumed at {len0} entries from a head none of the key's ledgers had"));
    if let Some(r) = lenient {
        assert_eq!(
            (len0, ledger.head()),
            (r.entries, r.head),
            "the writer and verify disagree"
        );
    }
    let new = [
        app("after attack 1", 11),
        app("after attack 2", 12).without_position_signature(),
        app("after attack 3", 13),
    ];
    let mut receipts = Vec::new();
    for d in new {
        let payload = d.payload().to_vec();
        let r = ledger
            .append(d)
            .unwrap_or_else(|e| panic!("append after a successful open: {e}"));
        receipts.push((r, payload));
    }
    let cp = ledger
        .checkpoint()
        .unwrap_or_else(|e| panic!("checkpoint after a successful open: {e}"));
    ledger.close().unwrap_or_else(|e| panic!("close: {e}"));
    // The checkpoint it signs covers exactly that state and its own appends: never an entry
    // it did not write, whatever the attacker left in the files.
    let mut tree = crate::merkle::MemoryTree::new();
    let hashes = source.entries[..n].iter().map(|e| e.hash);
    for h in hashes.chain(receipts.iter().map(|(r, _)| r.entry_hash)) {
        tree.push(crate::hash::hash_leaf(&h)).expect("small tree");
    }
    assert_eq!(
        (cp.tree_size, cp.root),
        (len0 + 3, tree.root()),
        "the writer signed a checkpoint over entries it did not write ({} prefix of {len0})",
        source.name
    );
    let after = files(disk);
    let r = verify_sim(disk, &VerifyOptions::default());
    super::trace(|| {
        format!(
            "after the writer: {:?}",
            r.as_ref().map(|r| (r.entries, r.failure.clone()))
        )
    });
    let Some(r) = r.filter(VerifyReport::is_ok) else {
        assert!(
            lenient.is_none(),
            "the writer opened a ledger that verified and left one that does not: {:?}",
            verify_sim(disk, &VerifyOptions::default()).and_then(|r| r.failure)
        );
        return;
    };
    assert_eq!(r.entries, len0 + 3, "the writer's appends are not the verified tail");
    let entries = truths(&after).expect("a verified ledger parses");
    assert!(
        is_prefix(&entries, n, source),
        "the writer extended {n} entries that are not the {} prefix it resumed from",
        source.name
    );
    for (i, (receipt, payload)) in receipts.iter().enumerate() {
        let e = &entries[n + i];
        assert_eq!(receipt.seq as usize, n + i);
        assert_eq!(
            (e.hash, e.payload.as_deref()),
            (receipt.entry_hash, Some(payload.as_slice()))
        );
    }
}

/// Seed edit sequences for `keyless_attacker`.
#[must_use]
pub fn seeds() -> Vec<Vec<u8>> {
    vec![
        // The original, untouched.
        vec![],
        // Remove a frame of the first segment, renumber, rebuild the derived files.
        vec![0, 0, 3, 0, 0, 0, 0, 0, 12, 23],
        // Move a frame from the second segment to the first, drop the checkpoint log.
        vec![1, 1, 2, 0, 0, 0, 0, 5, 20, 0, 0, 0],
        // Splice the fork's last segment in place of the original's, renumber.
        vec![8, 2, 11, 0, 2, 0, 0, 12, 23],
        // Take the fork's checkpoint log and tree files.
        vec![21, 6, 0, 0, 0, 19, 0, 3, 0, 0, 0],
        // Clear the seal of the last frame; add a made-up seal to an unsigned frame.
        vec![5, 2, 255, 0, 0, 0, 0, 6, 0, 5, 1, 0, 0, 0],
        // Flip a byte of the last segment, checksums fixed; a pending erasure.
        vec![14, 2, 77, 1, 0, 0, 3, 22, 4, 11, 0],
        // Erase a payload with its true commitment; truncate the newest segment.
        vec![17, 0, 1, 0, 16, 2, 0, 16, 0, 0],
    ]
}
