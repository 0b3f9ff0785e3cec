//! How the policy engine is fed: the glue between the verification pipeline (or a plain scan of
//! the ledger, for `policy show`) and [`PolicyEngine::observe`].
//!
//! For every entry that is not an application event — payload present or erased — the engine
//! gets an [`Observed`]: kind, hash, time, refs, signers with what the registry knew of them,
//! and, for a proposal, what each AI output it cites turned out to be: the entry at the cited
//! sequence number is read back (hash, kind, signers), which stays possible after its payload
//! is erased.

use std::collections::HashMap;
use std::path::Path;

use crate::entry::{AuthorSignature, EntryKind, LedgerId, RecordRef, MAX_REFS};
use crate::error::{Error, VerifyError};
use crate::hash::Digest;
use crate::keys::KeyId;
use crate::reader::LedgerReader;
use crate::record::{Genesis, Policy, Record};
use crate::storage::frame::StoredPayload;
use crate::storage::{LedgerDir, SegmentStream};

use super::entry_check::decode_frame;
use super::policy::{Cited, Observed, PolicyEngine, Signer};
use super::registry::Registry;
use super::report::{PolicyEvent, PolicyRef};
use super::{Ordered, Verifier};

/// Hash, kind and signer key ids of an entry read back by sequence number.
type Found = (Digest, EntryKind, Vec<KeyId>);

/// The AI outputs `record` cites (a proposal's), each with what `lookup` finds at its position
/// if that is before `seq`; signers resolved through `registry`.
fn cited<E>(
    record: Option<&Record>,
    seq: u64,
    registry: &Registry,
    mut lookup: impl FnMut(u64) -> Result<Option<Found>, E>,
) -> Result<Vec<Cited>, E> {
    let Some(Record::Proposal(p)) = record else {
        return Ok(Vec::new());
    };
    // At most as many as a statement's refs can carry (a writer cannot make more); the engine
    // reports a proposal citing more. Each position is read once.
    let cap = usize::try_from(MAX_REFS).unwrap_or(usize::MAX);
    let mut read: HashMap<u64, Option<Found>> = HashMap::new();
    let mut out = Vec::with_capacity(p.ai_outputs.len().min(cap));
    for at in p.ai_outputs.iter().take(cap) {
        let found = if at.seq >= seq {
            None
        } else if let Some(f) = read.get(&at.seq) {
            f.clone()
        } else {
            let f = lookup(at.seq)?;
            read.insert(at.seq, f.clone());
            f
        };
        let found = found.map(|(hash, kind, ids)| {
            let signers = ids
                .into_iter()
                .filter_map(|id| registry.get(&id).map(|k| (id, k.clone())))
                .collect();
            (hash, kind, signers)
        });
        out.push(Cited { at: *at, found });
    }
    Ok(out)
}

impl Verifier<'_> {
    /// Policy evaluation of a governance entry (`rec` is `None` when its payload was erased).
    pub(super) fn observe(
        &mut self,
        seq: u64,
        record: &RecordRef<'_>,
        hash: &Digest,
        rec: Option<&Record>,
        o: &Ordered,
        erased: bool,
    ) -> Result<(), VerifyError> {
        if self.policy.is_none() || record.kind() == EntryKind::Application {
            return Ok(());
        }
        let (dir, ledger_id) = (self.dir, self.ledger_id);
        let cited = cited(rec, seq, &self.keys, |at| read_at(dir, ledger_id, at))?;
        let refs: Vec<Digest> = record.refs().collect();
        let obs = Observed {
            seq,
            kind: record.kind(),
            hash: *hash,
            timestamp: record.timestamp(),
            refs: &refs,
            signers: &o.signers,
            erased,
            cited: &cited,
        };
        if let Some(engine) = self.policy.as_mut() {
            engine.observe(&obs, rec);
        }
        Ok(())
    }
}

/// Reads the entry at `seq` back from the segments (an entry the verifier has already passed):
/// its hash, kind and signers. `None` if it cannot be read or decoded.
fn read_at(dir: &dyn LedgerDir, ledger_id: LedgerId, seq: u64) -> Result<Option<Found>, VerifyError> {
    let mut stream = SegmentStream::open_at(dir, seq)?;
    let Ok(Some(sc)) = stream.next_chunk(1) else {
        return Ok(None);
    };
    let Some(f) = sc.chunk.frames.first().filter(|_| sc.first_seq == seq) else {
        return Ok(None);
    };
    let d = decode_frame(&sc.chunk.data, f, seq, ledger_id);
    Ok(match (d.record(&sc.chunk.data, f), d.problem) {
        (Some(r), None) => Some((d.hash, r.kind(), signer_ids(r.position().as_ref(), r.cosignatures()))),
        _ => None,
    })
}

/// Key ids of the position signer, then of the co-signers.
fn signer_ids(position: Option<&AuthorSignature>, cosigs: impl Iterator<Item = AuthorSignature>) -> Vec<KeyId> {
    position
        .map(|p| p.key_id)
        .into_iter()
        .chain(cosigs.map(|s| s.key_id))
        .collect()
}

/// The policy in force at a point of a ledger, and the policy updates before it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyView {
    /// Entries considered: those before this sequence number.
    pub before: u64,
    /// The policy in force for the entry at `before`: set by the genesis or by the last
    /// policy update that took effect.
    pub in_force: PolicyRef,
    /// That policy.
    pub policy: Policy,
    /// Every policy update before `before`, and whether it took effect (only gated ones do).
    pub updates: Vec<PolicyEvent>,
}

/// The policy in force for the entry `at` (default: after the last entry) of the ledger in
/// `dir`, found by replaying the governance entries before it through the policy engine: a
/// policy update takes effect only when it is gated (docs/GOVERNANCE.md).
///
/// This reads the ledger as it is, like `provledger show`: it checks no signature, commitment
/// or chain link. Run [`verify_opts`](super::verify_opts) for that; its report names the policy
/// in force too ([`VerifyReport::policy_in_force`](super::VerifyReport::policy_in_force)).
///
/// # Errors
/// When the ledger cannot be read, or has no readable genesis.
pub fn policy_at(dir: &Path, at: Option<u64>) -> Result<PolicyView, Error> {
    let reader = LedgerReader::open(dir)?;
    let mut state: Option<(Registry, PolicyEngine)> = None;
    let mut before = 0;
    reader.scan(0, |e| -> Result<bool, Error> {
        let seq = e.entry.seq;
        if at.is_some_and(|a| seq >= a) {
            return Ok(false);
        }
        before = seq + 1;
        let kind = e.entry.kind;
        let payload = match &e.payload {
            StoredPayload::Present { bytes, .. } => Some(bytes.as_slice()),
            StoredPayload::Erased { .. } => None,
        };
        let Some((registry, engine)) = state.as_mut() else {
            let genesis = Genesis::decode(payload.unwrap_or_default())?;
            state = Some((Registry::from_genesis(&genesis)?, PolicyEngine::new(&genesis)?));
            return Ok(true);
        };
        if kind == EntryKind::Application {
            return Ok(true);
        }
        let record = payload.map(|b| Record::decode(kind, b)).transpose()?;
        let ids = signer_ids(e.entry.position.as_ref(), e.entry.cosignatures.iter().copied());
        let signers: Vec<Signer> = ids
            .into_iter()
            .filter_map(|id| registry.get(&id).map(|k| (id, k.clone())))
            .collect();
        let lookup = |s: u64| -> Result<_, Error> {
            Ok(reader.get(s).ok().map(|x| {
                let ids = signer_ids(x.entry.position.as_ref(), x.entry.cosignatures.iter().copied());
                (x.entry.hash, x.entry.kind, ids)
            }))
        };
        let cited = cited(record.as_ref(), seq, registry, lookup)?;
        let o = Observed {
            seq,
            kind,
            hash: e.entry.hash,
            timestamp: e.entry.timestamp,
            refs: &e.entry.refs,
            signers: &signers,
            erased: payload.is_none(),
            cited: &cited,
        };
        engine.observe(&o, record.as_ref());
        if let Some(rec) = &record {
            // A ledger whose history fails here fails verification there; keep reading.
            let _ = registry.apply(seq, rec);
        }
        Ok(true)
    })?;
    let (_, engine) = state.ok_or_else(|| crate::error::StorageError::NotALedger {
        path: dir.to_path_buf(),
        reason: "no readable genesis entry".into(),
    })?;
    let verdict = engine.finish();
    Ok(PolicyView {
        before,
        in_force: verdict.in_force,
        policy: verdict.policy,
        updates: verdict.history,
    })
}
