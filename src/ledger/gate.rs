//! The writer refuses governance entries that verification would reject for their keys: a
//! signer that is not enrolled or was revoked, or no signer with the role the kind needs.
//! One wrongly signed line must not break the ledger for good.
//!
//! The key registry is built lazily, the first time a governance entry is appended after the
//! ledger was opened (one pass over the ledger's entries, decoding only governance records);
//! application-only services never pay for it.

use super::{Draft, Ledger};
use crate::entry::{AuthorSignature, EntryKind};
use crate::error::Error;
use crate::keys::{KeyId, SigningKey};
use crate::reader::LedgerReader;
use crate::record::{Genesis, Record};
use crate::storage::frame::StoredPayload;
use crate::verify::registry::Registry;

impl Ledger {
    /// Checks the governance drafts of a batch against the registry (as it will be at each
    /// draft, counting enrollments and revocations earlier in the same batch).
    pub(super) fn gate(&mut self, drafts: &[Draft]) -> Result<(), Error> {
        let governance = |d: &Draft| !matches!(d.kind, EntryKind::Application | EntryKind::Genesis);
        if !self.opts.check_signers || !drafts.iter().any(governance) {
            return Ok(());
        }
        if self.registry.is_none() {
            self.registry = Some(self.load_registry()?);
        }
        let mut scratch = None;
        for (i, d) in drafts.iter().enumerate() {
            if matches!(d.kind, EntryKind::Application | EntryKind::Genesis) {
                continue;
            }
            let seq = self.len() + i as u64;
            let reg = scratch.get_or_insert_with(|| self.registry.clone().unwrap_or_default());
            let sigs = signatures(d, &self.signer);
            reg.resolve(d.kind, &sigs, seq)
                .map_err(|(_, msg)| Error::input(format!("entry {seq} would not verify: {msg}")))?;
            let rec = Record::decode(d.kind, &d.payload)?;
            reg.apply(seq, &rec)
                .map_err(|(_, msg)| Error::input(format!("entry {seq} would not verify: {msg}")))?;
        }
        Ok(())
    }

    /// Records the key enrollments and revocations (seq, kind, payload) that were appended.
    pub(super) fn gate_commit(&mut self, changes: &[(u64, EntryKind, Vec<u8>)]) {
        let Some(reg) = self.registry.as_mut() else { return };
        for (seq, kind, payload) in changes {
            if let Ok(rec) = Record::decode(*kind, payload) {
                // Checked by `gate` before the append; it applies again as it did there.
                let _ = reg.apply(*seq, &rec);
            }
        }
    }

    fn load_registry(&self) -> Result<Registry, Error> {
        let reader = LedgerReader::from_handle(std::sync::Arc::clone(&self.root), &self.dir)?;
        let mut reg = None;
        reader.scan(0, |e| {
            let kind = e.entry.statement.kind;
            let StoredPayload::Present { bytes, .. } = &e.payload else {
                return Ok(true);
            };
            match (kind, reg.as_mut()) {
                (EntryKind::Genesis, None) => reg = Some(Registry::from_genesis(&Genesis::decode(bytes)?)?),
                (EntryKind::KeyEnrollment | EntryKind::KeyRevocation, Some(r)) => {
                    // A ledger whose history fails here fails verification there; keep going.
                    let _ = r.apply(e.entry.seq.0, &Record::decode(kind, bytes)?);
                }
                _ => {}
            }
            Ok(true)
        })?;
        reg.ok_or_else(|| Error::input("the ledger has no readable genesis entry"))
    }
}

/// Placeholder signatures carrying the key ids that will sign `d`.
fn signatures(d: &Draft, appender: &SigningKey) -> Vec<AuthorSignature> {
    let ids: Vec<KeyId> = d
        .signed_by_appender
        .then(|| appender.key_id())
        .into_iter()
        .chain(d.cosigners.iter().map(SigningKey::key_id))
        .collect();
    ids.into_iter()
        .map(|key_id| AuthorSignature {
            key_id,
            signature: [0; 64],
        })
        .collect()
}
