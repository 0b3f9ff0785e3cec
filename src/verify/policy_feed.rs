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

use crate::entry::{entry_hash, Entry, EntryKind, MAX_REFS};
use crate::error::Error;
use crate::hash::Digest;
use crate::keys::KeyId;
use crate::reader::LedgerReader;
use crate::record::{Genesis, Policy, Record};
use crate::storage::frame::StoredPayload;
use crate::storage::SegmentStream;

use super::policy::{Cited, Observed, PolicyEngine, Signer};
use super::registry::Registry;
use super::report::{PolicyEvent, PolicyRef};
use super::{Resolved, Verifier};

/// Hash, kind and signer key ids of an entry read back by sequence number.
type Found = (Digest, EntryKind, Vec<KeyId>);

/// The AI outputs `record` cites (a proposal's), each with what `lookup` finds at its position
/// if that is before `seq`; signers resolved through `registry`.
fn cited(
    record: Option<&Record>,
    seq: u64,
    registry: &Registry,
    mut lookup: impl FnMut(u64) -> Result<Option<Found>, Error>,
) -> Result<Vec<Cited>, Error> {
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
        entry: &Entry,
        hash: &Digest,
        rec: Option<&Record>,
        r: &Resolved,
        erased: bool,
    ) -> Result<(), Error> {
        if self.policy.is_none() || entry.statement.kind == EntryKind::Application {
            return Ok(());
        }
        let (backend, dir) = (self.backend, self.dir.clone());
        let cited = cited(rec, entry.seq.0, &self.keys, |seq| read_at(backend, &dir, seq))?;
        let o = Observed {
            seq: entry.seq.0,
            kind: entry.statement.kind,
            hash: *hash,
            timestamp: entry.statement.timestamp,
            refs: &entry.statement.refs,
            signers: &r.signers,
            erased,
            cited: &cited,
        };
        if let Some(engine) = self.policy.as_mut() {
            engine.observe(&o, rec);
        }
        Ok(())
    }
}

/// Reads the entry at `seq` from the segments.
fn read_at(backend: &dyn crate::storage::Backend, dir: &Path, seq: u64) -> Result<Option<Found>, Error> {
    let mut stream = SegmentStream::open_at(backend, dir, seq)?;
    let Ok(Some(sc)) = stream.next_chunk(1) else {
        return Ok(None);
    };
    let Some(f) = sc.chunk.frames.first() else {
        return Ok(None);
    };
    let bytes = f.entry(&sc.chunk.data);
    Ok(Entry::decode(bytes)
        .ok()
        .filter(|e| e.seq.0 == seq)
        .map(|e| found(&e, entry_hash(bytes))))
}

fn found(e: &Entry, hash: Digest) -> Found {
    let ids = e.signatures.iter().map(|s| s.key_id).collect();
    (hash, e.statement.kind, ids)
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
    reader.scan(0, |e| {
        let seq = e.entry.seq.0;
        if at.is_some_and(|a| seq >= a) {
            return Ok(false);
        }
        before = seq + 1;
        let kind = e.entry.statement.kind;
        let payload = match &e.payload {
            StoredPayload::Present { bytes, .. } => Some(bytes.as_slice()),
            StoredPayload::Erased => None,
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
        let signers: Vec<Signer> = e
            .entry
            .signatures
            .iter()
            .filter_map(|s| registry.get(&s.key_id).map(|k| (s.key_id, k.clone())))
            .collect();
        let lookup = |s: u64| Ok(reader.get(s).ok().map(|x| found(&x.entry, x.hash)));
        let cited = cited(record.as_ref(), seq, registry, lookup)?;
        let o = Observed {
            seq,
            kind,
            hash: e.hash,
            timestamp: e.entry.statement.timestamp,
            refs: &e.entry.statement.refs,
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
    let (_, engine) = state.ok_or_else(|| Error::input("the ledger has no readable genesis entry"))?;
    let verdict = engine.finish();
    Ok(PolicyView {
        before,
        in_force: verdict.in_force,
        policy: verdict.policy,
        updates: verdict.history,
    })
}
