//! Incremental verification from a checkpoint the auditor trusts.
//!
//! The stored tree must reproduce the trusted root (so the frontier is authentic), the last
//! covered entry must be proven included, and the governance entries before the checkpoint
//! (key enrollments and revocations, policy, the decision records, erased payloads) are replayed
//! — each authenticated by an inclusion proof against the trusted root, not re-verified — so
//! that keys, policy state and redactions carry over. Application entries before the
//! checkpoint are read only for their sequence number and kind. Cost: one pass of I/O over the
//! prefix, O(log n) reads per governance entry there, full verification of newer entries.

use super::{Check, Verifier};
use crate::checkpoint::Checkpoint;
use crate::entry::{entry_hash, EntryKind};
use crate::error::Error;
use crate::merkle::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion_of_entry, Frontier, NodeSource,
};
use crate::storage::frame::PAYLOAD_ERASED;
use crate::storage::SegmentStream;
use crate::tree::TreeReader;

use super::entry_check::decode_frame;

/// Byte range of the entry kind inside an encoded entry (after seq, prev and ledger id).
const KIND_AT: usize = 8 + 32 + 16;

impl<'a> Verifier<'a> {
    fn bad_start(&mut self, t: &Checkpoint, why: &str) {
        let msg = format!("trusted checkpoint (size {}): {why}", t.tree_size);
        self.fail(t.tree_size.checked_sub(1), Check::Checkpoint, msg);
    }

    /// Authenticates the stored tree and the prefix against `t`; returns the stream of newer
    /// entries and the frontier, or `None` after recording a failure.
    pub(super) fn resume(&mut self, t: &Checkpoint) -> Result<Option<(SegmentStream<'a>, Frontier)>, Error> {
        let ledger_id = self.report.ledger_id.unwrap_or_default();
        if t.tree_size == 0 {
            self.bad_start(t, "an empty checkpoint cannot anchor verification");
            return Ok(None);
        }
        if t.ledger_id != ledger_id {
            self.bad_start(t, "it belongs to another ledger");
            return Ok(None);
        }
        let reader = TreeReader::new(self.backend, &self.dir, ledger_id);
        let frontier = match Frontier::load(&reader, t.tree_size) {
            Ok(f) if f.root() == t.root => f,
            Ok(_) => {
                self.bad_start(
                    t,
                    "the stored tree does not reproduce its root: the ledger was rewritten",
                );
                return Ok(None);
            }
            Err(e) => {
                self.bad_start(t, &format!("the stored tree is incomplete ({e})"));
                return Ok(None);
            }
        };
        if !self.replay_prefix(t, &reader)? || !self.older_checkpoints(t, &reader) {
            return Ok(None);
        }
        let op = self.keys.get(&t.key_id);
        let signed = op.is_some_and(|k| k.has(crate::record::Role::Operator) && t.verify(&k.key));
        if !signed {
            self.bad_start(t, "it is not signed by an operator key of this ledger");
            return Ok(None);
        }
        let last = t.tree_size - 1;
        let Some(head) = self.proven_hash(t, &reader, last)? else {
            self.bad_start(t, &format!("entry {last} is not the one it covers"));
            return Ok(None);
        };
        self.report.entries = t.tree_size;
        self.report.head = head;
        self.report.verified_from = t.tree_size;
        let rest = SegmentStream::open_at(self.backend, &self.dir, t.tree_size)?;
        Ok(Some((rest, frontier)))
    }

    /// The entry hash of `seq`, if the stored frame is the one `t` covers.
    fn proven_hash(
        &mut self,
        t: &Checkpoint,
        reader: &TreeReader<'_>,
        seq: u64,
    ) -> Result<Option<crate::Digest>, Error> {
        let mut stream = SegmentStream::open_at(self.backend, &self.dir, seq)?;
        let Some(sc) = self.next(&mut stream)? else {
            return Ok(None);
        };
        let Some(f) = sc.chunk.frames.first() else {
            return Ok(None);
        };
        let hash = entry_hash(f.entry(&sc.chunk.data));
        Ok(proven(reader, t, seq, &hash).then_some(hash))
    }

    /// Replays the governance entries and erasures before `t`, each proven included.
    fn replay_prefix(&mut self, t: &Checkpoint, reader: &TreeReader<'_>) -> Result<bool, Error> {
        let mut stream = SegmentStream::open(self.backend, &self.dir)?;
        while let Some(sc) = self.next(&mut stream)? {
            for f in &sc.chunk.frames {
                let bytes = f.entry(&sc.chunk.data);
                let seq = read_u64(bytes);
                if seq >= t.tree_size {
                    return Ok(true);
                }
                let kind = bytes
                    .get(KIND_AT..KIND_AT + 2)
                    .map_or(0, |k| u16::from_le_bytes([k[0], k[1]]));
                let erased = f.section(&sc.chunk.data).first() == Some(&PAYLOAD_ERASED);
                if seq == 0 || (kind == EntryKind::Application.code() && !erased) {
                    continue;
                }
                let d = decode_frame(&sc.chunk.data, f);
                if d.problem.is_some() || !proven(reader, t, seq, &d.hash) {
                    self.bad_start(t, &format!("entry {seq} is not the one it covers"));
                    return Ok(false);
                }
                self.report.entries = seq;
                if d.redacted {
                    self.erased.insert(seq, d.hash);
                    self.report.redacted.push(seq);
                }
                let r = self.resolve(&d);
                if let Some((check, msg)) = r.problem.clone() {
                    self.fail(Some(seq), check, msg);
                    return Ok(false);
                }
                if let Some(rec) = &d.record {
                    if let Some(msg) = self.redaction(rec)? {
                        self.fail(Some(seq), Check::Redaction, msg);
                        return Ok(false);
                    }
                }
                if let Some(entry) = &d.entry {
                    self.observe(entry, &d.hash, d.record.as_ref(), &r, d.redacted)?;
                }
            }
        }
        Ok(true)
    }

    /// Checkpoints no larger than `t`: signed by an operator valid then, and consistent with `t`.
    fn older_checkpoints(&mut self, t: &Checkpoint, reader: &TreeReader<'_>) -> bool {
        while let Some(c) = self.checkpoints.get(self.next_signature).copied() {
            if c.tree_size > t.tree_size {
                break;
            }
            if let Some(msg) = self.checkpoint_signatures(c.tree_size) {
                self.fail(Some(c.tree_size - 1), Check::Checkpoint, msg);
                return false;
            }
            if !consistent(reader, &c, t) {
                let msg = format!(
                    "checkpoint of size {} is not consistent with the trusted one",
                    c.tree_size
                );
                self.fail(Some(c.tree_size - 1), Check::Checkpoint, msg);
                return false;
            }
        }
        true
    }
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(..8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// Whether `hash` is entry `seq` of the tree `t` pins (an inclusion proof from stored nodes).
fn proven<S: NodeSource>(reader: &S, t: &Checkpoint, seq: u64, hash: &crate::Digest) -> bool {
    inclusion_proof(reader, seq, t.tree_size)
        .ok()
        .is_some_and(|p| verify_inclusion_of_entry(hash, seq, t.tree_size, &p, &t.root).is_ok())
}

/// Whether `old` is a prefix of `new` (a consistency proof from stored nodes).
pub(super) fn consistent<S: NodeSource>(reader: &S, old: &Checkpoint, new: &Checkpoint) -> bool {
    if old.tree_size == new.tree_size {
        return old.root == new.root;
    }
    consistency_proof(reader, old.tree_size, new.tree_size)
        .ok()
        .is_some_and(|p| verify_consistency(old.tree_size, new.tree_size, &old.root, &new.root, &p).is_ok())
}
