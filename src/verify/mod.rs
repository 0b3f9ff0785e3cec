//! Verification: stream the ledger against a trust anchor the auditor supplies.
//!
//! For every entry: framing and checksums, decoding, sequence numbers and previous-hash links,
//! the ledger id, the payload commitment (unless erased), and every author signature
//! (docs/FORMAT.md §3) against keys the genesis enrolled; the genesis must match the trust
//! anchor. The Merkle tree is recomputed: every stored tree node and every checkpoint root is
//! compared with it, and every checkpoint signature is checked against an operator key.
//! Entries without an author signature (high-volume mode) pass only when a checkpoint covers
//! them. Hashing, commitments and signatures run in parallel per chunk; links are checked in
//! order; memory stays bounded by the chunk size.

mod entry_check;
mod incremental;
mod index_check;
mod policy;
pub(crate) mod registry;
mod report;
mod tree_check;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use report::{Check, Failure, VerifyReport, Violation};

use crate::checkpoint::{read_log, Checkpoint};
use crate::entry::{entry_hash, Entry, EntryKind};
use crate::error::{Error, StorageError};
use crate::hash::Digest;
use crate::keys::VerifyingKey;
use crate::merkle::Frontier;
use crate::record::{Genesis, Role};
use crate::storage::frame::{parse_section, StoredPayload};
use crate::storage::segment::{FrameLoc, SEGMENT_HEADER_LEN};
use crate::storage::{list_segments, Backend, SegmentStream, StdBackend};
use crate::tree::TreeReader;
use entry_check::{check_signatures, decode_frame, Decoded, Problem};
use index_check::IndexCursor;
use policy::{Observed, PolicyEngine, Signer};
use registry::Registry;
use tree_check::{TreeCheck, TreeProblem};

/// An entry's signature keys as resolved in ledger order.
#[derive(Default)]
struct Resolved {
    keys: Vec<VerifyingKey>,
    /// Signers with what the registry knew of them (governance entries, policy on).
    signers: Vec<Signer>,
    bootstrap: bool,
    problem: Option<Problem>,
}

/// The chain rules for `entry` at position `expected`; a message if one is broken.
fn chain_problem(
    entry: &Entry,
    expected: u64,
    head: Digest,
    ledger_id: Option<crate::entry::LedgerId>,
    first_seq: u64,
    f: &FrameLoc,
) -> Option<String> {
    if entry.seq.0 != expected {
        return Some(format!("sequence number {} where {expected} was expected", entry.seq));
    }
    if entry.prev != head || (expected == 0) != (entry.statement.kind == EntryKind::Genesis) {
        return Some("does not link to the previous entry".into());
    }
    if Some(entry.statement.ledger_id) != ledger_id {
        return Some("statement belongs to another ledger".into());
    }
    if f.offset == SEGMENT_HEADER_LEN as u64 && entry.seq.0 != first_seq {
        return Some(format!("segment says it starts at entry {first_seq}"));
    }
    None
}

/// Frames verified per parallel chunk.
const CHUNK_FRAMES: usize = 4096;

/// What the auditor trusts. Verification never trusts keys the ledger asserts on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustAnchor {
    /// An operator/admin public key: it must be a genesis anchor and must have signed the
    /// genesis entry.
    PublicKey(VerifyingKey),
    /// The entry hash of the genesis entry, obtained out of band.
    GenesisHash(Digest),
}

impl TrustAnchor {
    fn describe(&self) -> String {
        match self {
            TrustAnchor::PublicKey(k) => format!("public key {k} (key id {})", k.key_id()),
            TrustAnchor::GenesisHash(h) => format!("genesis entry hash {h}"),
        }
    }
}

/// Settings of a verification.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Accept entries without an author signature after the last checkpoint (a live ledger
    /// between checkpoints), counting them in [`VerifyReport::uncovered_tail`]. Off by
    /// default: otherwise anyone with write access could append unsigned entries unnoticed.
    pub allow_uncovered_tail: bool,
    /// Verify incrementally from this checkpoint, which the auditor trusts (e.g. verified
    /// last time): the stored tree must reproduce its root, and only newer entries are read.
    pub from_checkpoint: Option<Checkpoint>,
    /// Evaluate the policy rules (DESIGN §4) and report violations. Integrity checks,
    /// including key roles and revocations, run either way.
    pub policy: bool,
}

/// Verifies the ledger in `dir` on the real file system with default options.
///
/// ```
/// use provledger::{verify, Draft, Ledger, Options, SigningKey, TrustAnchor};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let mut ledger = Ledger::create(dir.path(), &key, "demo", Options::default())?;
/// ledger.append(Draft::application("text/plain", b"hi".to_vec()))?;
/// let report = verify(dir.path(), &TrustAnchor::PublicKey(key.verifying_key()))?;
/// assert!(report.is_ok());
/// assert_eq!(report.entries, 2);
/// # Ok::<_, provledger::Error>(())
/// ```
///
/// # Errors
/// Only when the ledger cannot be read at all ([`StorageError::NotALedger`], I/O errors).
/// Damage and failed checks are reported in [`VerifyReport::failure`].
pub fn verify(dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, Error> {
    verify_opts(&StdBackend, dir, anchor, &VerifyOptions::default())
}

/// Verifies the ledger in `dir` through `backend` with default options.
///
/// # Errors
/// As [`verify`].
pub fn verify_with(backend: &dyn Backend, dir: &Path, anchor: &TrustAnchor) -> Result<VerifyReport, Error> {
    verify_opts(backend, dir, anchor, &VerifyOptions::default())
}

/// Verifies the ledger in `dir` through `backend`. Needs no lock: it may run while a writer
/// appends, and reports a partly written final record as [`VerifyReport::torn_tail`].
///
/// # Errors
/// As [`verify`].
pub fn verify_opts(
    backend: &dyn Backend,
    dir: &Path,
    anchor: &TrustAnchor,
    opts: &VerifyOptions,
) -> Result<VerifyReport, Error> {
    let mut v = Verifier {
        backend,
        dir: dir.to_path_buf(),
        anchor,
        opts,
        report: VerifyReport {
            trusted: anchor.describe(),
            ..VerifyReport::default()
        },
        keys: Registry::default(),
        policy: None,
        erased: BTreeMap::new(),
        index: None,
        checkpoints: Vec::new(),
        covered_until: 0,
        next_signature: 0,
        newest_segment: list_segments(backend, dir)?.last().copied().unwrap_or(0),
    };
    let mut genesis_stream = SegmentStream::open(backend, dir)?;
    let Some(first) = v.next(&mut genesis_stream)? else {
        v.finish_empty(&genesis_stream);
        return Ok(v.into_report());
    };
    let Some(f0) = first.chunk.frames.first() else {
        return Ok(v.into_report());
    };
    if !v.genesis(&first.chunk.data, f0)? || !v.load_checkpoints()? {
        return Ok(v.into_report());
    }
    let (mut stream, mut tree) = if let Some(t) = &opts.from_checkpoint {
        let Some((stream, frontier)) = v.resume(t)? else {
            return Ok(v.into_report());
        };
        (stream, v.tree_check(frontier))
    } else {
        let mut tree = v.tree_check(Frontier::new());
        let (data, frames) = (&first.chunk.data, &first.chunk.frames);
        if !v.chunk(&first.path, first.header.first_seq, data, frames, &mut tree)? {
            return Ok(v.into_report());
        }
        (genesis_stream, tree)
    };
    while let Some(sc) = v.next(&mut stream)? {
        if !v.chunk(
            &sc.path,
            sc.header.first_seq,
            &sc.chunk.data,
            &sc.chunk.frames,
            &mut tree,
        )? {
            return Ok(v.into_report());
        }
    }
    if v.report.is_ok() {
        v.report.torn_tail = stream.tail().cloned();
        v.finish(&tree);
    }
    Ok(v.into_report())
}

struct Verifier<'a> {
    backend: &'a dyn Backend,
    dir: PathBuf,
    anchor: &'a TrustAnchor,
    opts: &'a VerifyOptions,
    report: VerifyReport,
    keys: Registry,
    policy: Option<PolicyEngine>,
    /// Erased payloads not (yet) explained by a redaction entry: seq → entry hash.
    erased: BTreeMap<u64, Digest>,
    index: Option<IndexCursor>,
    checkpoints: Vec<Checkpoint>,
    /// Entries below this sequence number are covered by a signed checkpoint.
    covered_until: u64,
    /// The next checkpoint (in log order) whose signature is still to be checked.
    next_signature: usize,
    newest_segment: u64,
}

impl Verifier<'_> {
    fn fail(&mut self, seq: Option<u64>, check: Check, message: String) {
        self.report.failure = Some(Failure {
            seq,
            check,
            file: None,
            offset: None,
            message,
        });
    }

    fn fail_at(&mut self, check: Check, file: PathBuf, offset: u64, message: String) {
        self.report.failure = Some(Failure {
            seq: Some(self.report.entries),
            check,
            file: Some(file),
            offset: Some(offset),
            message,
        });
    }

    /// The next chunk; damage becomes a `Format` failure (and `None`).
    fn next(&mut self, stream: &mut SegmentStream<'_>) -> Result<Option<crate::storage::StreamChunk>, Error> {
        match stream.next_chunk(CHUNK_FRAMES) {
            Ok(Some(sc)) => {
                self.report.ledger_id.get_or_insert(sc.header.ledger_id);
                Ok(Some(sc))
            }
            Ok(None) => Ok(None),
            Err(StorageError::Corrupt {
                file, offset, reason, ..
            }) => {
                self.fail_at(Check::Format, file, offset, reason);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn finish_empty(&mut self, stream: &SegmentStream<'_>) {
        if self.report.is_ok() {
            self.report.torn_tail = stream.tail().cloned();
            self.fail(
                Some(0),
                Check::Format,
                "the ledger has no complete genesis entry".into(),
            );
        }
    }

    fn tree_check(&self, frontier: Frontier) -> TreeCheck {
        let ledger_id = self.report.ledger_id.unwrap_or_default();
        TreeCheck::new(self.backend, &self.dir, ledger_id, frontier, self.checkpoints.clone())
    }

    /// Verifies one chunk; `Ok(false)` once a failure is recorded.
    ///
    /// Decoding, hashing and commitments run in parallel; then signature keys are resolved in
    /// ledger order (enrollments and revocations change the registry); then signatures are
    /// verified in parallel; then links, coverage, tree and policy are checked in order.
    fn chunk(
        &mut self,
        path: &Path,
        first_seq: u64,
        data: &[u8],
        frames: &[FrameLoc],
        tree: &mut TreeCheck,
    ) -> Result<bool, Error> {
        let decoded: Vec<Decoded> = frames.par_iter().map(|f| decode_frame(data, f)).collect();
        let resolved: Vec<Resolved> = decoded.iter().map(|d| self.resolve(d)).collect();
        let sig_problems: Vec<Option<Problem>> = decoded
            .par_iter()
            .zip(resolved.par_iter())
            .map(|(d, r)| match (&d.entry, d.problem.is_none() && r.problem.is_none()) {
                (Some(e), true) => check_signatures(e, &d.digest, &r.keys),
                _ => None,
            })
            .collect();
        for ((f, d), (r, sp)) in frames.iter().zip(decoded).zip(resolved.into_iter().zip(sig_problems)) {
            if !self.link(path, first_seq, f, d, &r, sp, tree)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Resolves an entry's signature keys against the registry as of that entry, then applies
    /// the entry if it enrolls or revokes a key.
    fn resolve(&mut self, d: &Decoded) -> Resolved {
        let mut r = Resolved::default();
        let Some(e) = d.entry.as_ref().filter(|_| d.problem.is_none()) else {
            return r;
        };
        let kind = e.statement.kind;
        match self.keys.resolve(kind, &e.signatures, e.seq.0) {
            Ok(keys) => r.keys = keys,
            Err(p) => {
                r.problem = Some(p);
                return r;
            }
        }
        if self.policy.is_some() && kind != EntryKind::Application {
            r.bootstrap = !self.keys.has_approver();
            let info = |s: &crate::entry::AuthorSignature| self.keys.get(&s.key_id).map(|k| (s.key_id, k.clone()));
            r.signers = e.signatures.iter().filter_map(info).collect();
        }
        if let Some(rec) = &d.record {
            r.problem = self.keys.apply(e.seq.0, rec).err();
        }
        r
    }

    /// Checks the genesis entry against the trust anchor and loads its keys.
    fn genesis(&mut self, data: &[u8], f: &FrameLoc) -> Result<bool, Error> {
        let bytes = f.entry(data);
        let entry = match Entry::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                self.fail(Some(0), Check::Format, e.to_string());
                return Ok(false);
            }
        };
        if entry.seq.0 != 0 || entry.prev != Digest::ZERO || entry.statement.kind != EntryKind::Genesis {
            self.fail(Some(0), Check::Chain, "the first entry is not a genesis entry".into());
            return Ok(false);
        }
        let Ok(StoredPayload::Present { bytes: g, .. }) = parse_section(f.section(data)) else {
            self.fail(Some(0), Check::Format, "genesis payload missing or erased".into());
            return Ok(false);
        };
        let genesis = match Genesis::decode(&g) {
            Ok(g) => g,
            Err(e) => {
                self.fail(Some(0), Check::Format, format!("genesis payload: {e}"));
                return Ok(false);
            }
        };
        self.keys = Registry::from_genesis(&genesis)?;
        self.report.policy_checked = self.opts.policy;
        if self.opts.policy {
            self.policy = Some(PolicyEngine::new(genesis.policy.clone()));
        }
        if let Err(why) = self.check_anchor(&entry, bytes, &genesis) {
            self.fail(Some(0), Check::TrustAnchor, why);
            return Ok(false);
        }
        Ok(true)
    }

    fn check_anchor(&self, entry: &Entry, bytes: &[u8], genesis: &Genesis) -> Result<(), String> {
        if entry.signatures.is_empty() {
            return Err("the genesis entry carries no signature".into());
        }
        match self.anchor {
            TrustAnchor::GenesisHash(h) if entry_hash(bytes) == *h => Ok(()),
            TrustAnchor::GenesisHash(h) => Err(format!(
                "genesis entry hash {} is not the trusted {h}",
                entry_hash(bytes)
            )),
            TrustAnchor::PublicKey(k) => {
                if !genesis.anchors.iter().any(|a| a.public_key == k.to_bytes()) {
                    return Err(format!("trusted key {k} is not a trust anchor of this ledger"));
                }
                if !entry.signatures.iter().any(|s| s.key_id == k.key_id()) {
                    return Err(format!("the genesis entry is not signed by trusted key {k}"));
                }
                Ok(())
            }
        }
    }

    /// Reads the checkpoint log and checks every signature and the order of sizes.
    fn load_checkpoints(&mut self) -> Result<bool, Error> {
        let ledger_id = self.report.ledger_id.unwrap_or_default();
        let log = match read_log(self.backend, &self.dir, ledger_id) {
            Ok(l) => l,
            Err(StorageError::Corrupt {
                file, offset, reason, ..
            }) => {
                self.fail_at(Check::Checkpoint, file, offset, reason);
                self.report.failure.as_mut().map(|f| f.seq.take());
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let mut last = 0;
        for (i, c) in log.checkpoints.iter().enumerate() {
            let problem = if c.tree_size == 0 {
                Some("it covers no entry")
            } else if c.tree_size < last {
                Some("its size is smaller than the checkpoint before it")
            } else {
                None
            };
            if let Some(why) = problem {
                let msg = format!("checkpoint #{i} (size {}) is invalid: {why}", c.tree_size);
                self.fail(c.tree_size.checked_sub(1), Check::Checkpoint, msg);
                return Ok(false);
            }
            last = c.tree_size;
        }
        self.covered_until = last;
        self.checkpoints = log.checkpoints;
        Ok(true)
    }

    /// Checks the chain link of one checked entry and records it; `Ok(false)` on failure.
    #[allow(clippy::too_many_arguments)] // the four results of the chunk pipeline, consumed here
    fn link(
        &mut self,
        path: &Path,
        first_seq: u64,
        f: &FrameLoc,
        d: Decoded,
        r: &Resolved,
        sig_problem: Option<Problem>,
        tree: &mut TreeCheck,
    ) -> Result<bool, Error> {
        let expected = self.report.entries;
        let fail = |v: &mut Self, check, msg: String| {
            v.fail_at(check, path.to_path_buf(), f.offset, msg);
            Ok(false)
        };
        let Some(entry) = d.entry.as_ref() else {
            let (check, msg) = d.problem.unwrap_or((Check::Format, "undecodable entry".into()));
            return fail(self, check, msg);
        };
        if let Some(msg) = chain_problem(entry, expected, self.report.head, self.report.ledger_id, first_seq, f) {
            return fail(self, Check::Chain, msg);
        }
        if let Some((check, msg)) = d.problem.or_else(|| r.problem.clone()).or(sig_problem) {
            return fail(self, check, msg);
        }
        if entry.signatures.is_empty() {
            if let Some(msg) = self.uncovered(entry.statement.kind, expected) {
                return fail(self, Check::Signature, msg);
            }
        }
        if let Some(msg) = self.index_check(path, first_seq, expected, f.offset)? {
            return fail(self, Check::Index, msg);
        }
        if let Err(p) = tree.push(&d.hash) {
            return Ok(self.tree_problem(&p));
        }
        if let Some(msg) = self.checkpoint_signatures(expected + 1) {
            self.fail(Some(expected), Check::Checkpoint, msg);
            return Ok(false);
        }
        if d.redacted {
            self.report.redacted.push(expected);
            self.erased.insert(expected, d.hash);
        }
        if let Some(rec) = &d.record {
            if let Some(msg) = self.redaction(rec)? {
                return fail(self, Check::Redaction, msg);
            }
            self.observe(entry, &d.hash, rec, r);
        }
        self.report.entries += 1;
        self.report.head = d.hash;
        Ok(true)
    }

    /// Accounts for an entry without author signature; a message if it is not acceptable.
    fn uncovered(&mut self, kind: EntryKind, seq: u64) -> Option<String> {
        if kind.must_be_signed() {
            return Some(format!("a {} entry must carry an author signature", kind.name()));
        }
        if seq < self.covered_until {
            self.report.unsigned_covered += 1;
        } else if self.opts.allow_uncovered_tail {
            self.report.uncovered_tail += 1;
        } else {
            return Some("entry carries no author signature and no checkpoint covers it".into());
        }
        None
    }

    /// Checks the signatures of the checkpoints of `size` entries, with the registry as of
    /// then: an operator key enrolled before and not revoked by that point.
    fn checkpoint_signatures(&mut self, size: u64) -> Option<String> {
        while let Some(c) = self.checkpoints.get(self.next_signature).copied() {
            if c.tree_size != size {
                break;
            }
            let key = self.keys.get(&c.key_id);
            let why = if !key.is_some_and(|k| k.has(Role::Operator) && k.valid_at_size(size)) {
                Some("it is not signed by an operator key valid at that point")
            } else if !key.is_some_and(|k| c.verify(&k.key)) {
                Some("its signature does not verify")
            } else {
                None
            };
            if let Some(why) = why {
                return Some(format!(
                    "checkpoint #{} (size {size}) is invalid: {why}",
                    self.next_signature
                ));
            }
            self.next_signature += 1;
        }
        None
    }

    /// A redaction must name an earlier entry by its true hash; a message if it does not.
    fn redaction(&mut self, rec: &crate::record::Record) -> Result<Option<String>, Error> {
        let crate::record::Record::Redaction(red) = rec else {
            return Ok(None);
        };
        let (seq, want) = (red.target_seq, red.target);
        if seq >= self.report.entries {
            return Ok(Some(format!(
                "the redaction names entry {seq}, which is not an earlier entry"
            )));
        }
        let actual = if let Some(h) = self.erased.get(&seq) {
            *h
        } else {
            let mut stream = SegmentStream::open_at(self.backend, &self.dir, seq)?;
            match stream.next_chunk(1) {
                Ok(Some(sc)) => sc
                    .chunk
                    .frames
                    .first()
                    .map_or(Digest::ZERO, |f| entry_hash(f.entry(&sc.chunk.data))),
                _ => Digest::ZERO,
            }
        };
        if actual != want {
            return Ok(Some(format!(
                "the redaction names entry {seq} with a hash that is not its hash"
            )));
        }
        if self.erased.remove(&seq).is_none() {
            self.report.redaction_pending.push(seq);
        }
        Ok(None)
    }

    /// Policy evaluation for a governance record.
    fn observe(&mut self, entry: &Entry, hash: &Digest, rec: &crate::record::Record, r: &Resolved) {
        let Some(engine) = self.policy.as_mut() else { return };
        let o = Observed {
            seq: entry.seq.0,
            hash: *hash,
            timestamp: entry.statement.timestamp,
            refs: &entry.statement.refs,
            signers: &r.signers,
            bootstrap: r.bootstrap,
        };
        let keys = &self.keys;
        engine.observe(&o, rec, &|id| keys.get(id).and_then(|k| k.revoked_at));
    }

    fn tree_problem(&mut self, p: &TreeProblem) -> bool {
        match *p {
            TreeProblem::Node { level, index } => {
                let msg = format!(
                    "stored tree node (level {level}, index {index}) differs from the entries; rebuild the tree files"
                );
                self.fail(Some(self.report.entries), Check::Tree, msg);
            }
            TreeProblem::Checkpoint { number, size } => {
                let msg = format!(
                    "checkpoint #{number} (size {size}) has a different root than the ledger: entries up to {} were rewritten or forked after it was issued",
                    size - 1
                );
                self.fail(Some(size - 1), Check::Checkpoint, msg);
            }
        }
        false
    }

    fn index_check(&mut self, seg_path: &Path, first_seq: u64, seq: u64, offset: u64) -> Result<Option<String>, Error> {
        if self.index.as_ref().is_none_or(|c| c.first_seq() != first_seq) {
            if let Some(msg) = self.index.take().and_then(IndexCursor::finish) {
                return Ok(Some(msg));
            }
            let ledger_id = self.report.ledger_id.unwrap_or_default();
            let sealed = first_seq != self.newest_segment;
            self.index = Some(IndexCursor::open(
                self.backend,
                &self.dir,
                ledger_id,
                first_seq,
                sealed,
            )?);
        }
        match self.index.as_mut() {
            Some(cur) => cur.check(seg_path, seq, offset),
            None => Ok(None),
        }
    }

    /// End of the ledger: index completeness, checkpoints beyond the end, consistency.
    /// The report, with the policy engine's violations.
    fn into_report(mut self) -> VerifyReport {
        if let Some(engine) = self.policy.take() {
            self.report.violations = engine.violations;
            self.report.violations_dropped = engine.dropped;
        }
        self.report
    }

    fn finish(&mut self, tree: &TreeCheck) {
        if let Some(msg) = self.index.take().and_then(IndexCursor::finish) {
            self.fail(Some(self.report.entries), Check::Index, msg);
            return;
        }
        if let Some((&seq, _)) = self.erased.iter().next() {
            let msg = format!("the payload of entry {seq} was erased but no authorised redaction entry names it");
            self.fail(Some(seq), Check::Redaction, msg);
            return;
        }
        self.report.root = tree.root();
        self.report.tree_missing_nodes = tree.missing;
        let n = self.report.entries;
        if let Some((i, c)) = self.checkpoints.iter().enumerate().find(|(_, c)| c.tree_size > n) {
            let msg = format!(
                "the ledger has {n} entries but checkpoint #{i} covers {}: entries were removed after it was issued",
                c.tree_size
            );
            self.fail(Some(n), Check::Checkpoint, msg);
            return;
        }
        let verified: Vec<&Checkpoint> = self
            .checkpoints
            .iter()
            .filter(|c| c.tree_size > self.report.verified_from)
            .collect();
        self.report.checkpoints_verified = verified.len() as u64;
        self.report.latest_checkpoint = self.checkpoints.last().copied();
        if let (Some(t), Some(latest)) = (self.opts.from_checkpoint, self.checkpoints.last().copied()) {
            self.check_consistency(&t, &latest);
        }
    }

    fn check_consistency(&mut self, old: &Checkpoint, new: &Checkpoint) {
        if new.tree_size <= old.tree_size {
            return;
        }
        let ledger_id = self.report.ledger_id.unwrap_or_default();
        let reader = TreeReader::new(self.backend, &self.dir, ledger_id);
        if !incremental::consistent(&reader, old, new) {
            let msg = format!(
                "no valid consistency proof from size {} to {}",
                old.tree_size, new.tree_size
            );
            self.fail(Some(new.tree_size - 1), Check::Checkpoint, msg);
        }
    }
}
