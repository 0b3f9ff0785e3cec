//! Checks of one entry that need no other entry: decoding, payload commitment, signatures.
//! They run in parallel over a chunk.

use crate::entry::{entry_hash, signing_message, statement_digest, Entry, STATEMENT_OFFSET};
use crate::hash::Digest;
use crate::keys::{KeyId, VerifyingKey};
use crate::record::{Genesis, Role};
use crate::storage::frame::{parse_section, StoredPayload, PAYLOAD_PREFIX_LEN};
use crate::storage::segment::FrameLoc;

use super::Check;

/// Keys enrolled by the genesis, with their roles.
#[derive(Default)]
pub(super) struct Registry {
    keys: Vec<(KeyId, VerifyingKey, Vec<Role>)>,
}

impl Registry {
    pub(super) fn from_genesis(g: &Genesis) -> Result<Self, crate::error::KeyError> {
        let mut keys = Vec::with_capacity(g.anchors.len());
        for a in &g.anchors {
            let k = a.verifying_key()?;
            keys.push((k.key_id(), k, a.roles.clone()));
        }
        Ok(Registry { keys })
    }

    pub(super) fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _, _)| k == id).map(|(_, v, _)| v)
    }

    pub(super) fn has_role(&self, id: &KeyId, role: Role) -> bool {
        self.keys.iter().any(|(k, _, roles)| k == id && roles.contains(&role))
    }
}

/// The per-entry results computed in parallel.
pub(super) struct Checked {
    pub entry: Option<Entry>,
    pub hash: Digest,
    pub redacted: bool,
    pub unsigned: bool,
    pub problem: Option<(Check, String)>,
}

/// Decodes the frame's entry and checks its payload and signatures against `keys`.
pub(super) fn check_frame(keys: &Registry, data: &[u8], f: &FrameLoc) -> Checked {
    let bytes = f.entry(data);
    let mut c = Checked {
        entry: None,
        hash: entry_hash(bytes),
        redacted: false,
        unsigned: false,
        problem: None,
    };
    let (entry, stmt_end) = match Entry::decode_parts(bytes) {
        Ok(x) => x,
        Err(e) => {
            c.problem = Some((Check::Format, e.to_string()));
            return c;
        }
    };
    c.problem = check_payload(&entry, f.section(data), &mut c.redacted).err();
    if c.problem.is_none() {
        c.unsigned = entry.signatures.is_empty();
        let digest = statement_digest(&bytes[STATEMENT_OFFSET..stmt_end]);
        c.problem = check_signatures(keys, &entry, &digest).err();
    }
    c.entry = Some(entry);
    c
}

fn check_payload(entry: &Entry, section: &[u8], redacted: &mut bool) -> Result<(), (Check, String)> {
    let p = &entry.statement.payload;
    if section.len() as u64 != p.len + PAYLOAD_PREFIX_LEN as u64 {
        return Err((
            Check::Format,
            "payload section length differs from the committed length".into(),
        ));
    }
    match parse_section(section).map_err(|e| (Check::Format, e.to_string()))? {
        StoredPayload::Erased => {
            *redacted = true;
            Ok(())
        }
        StoredPayload::Present { salt, bytes } if p.opens(&salt, &bytes) => Ok(()),
        StoredPayload::Present { .. } => Err((Check::Commitment, "payload does not open its commitment".into())),
    }
}

fn check_signatures(keys: &Registry, entry: &Entry, digest: &Digest) -> Result<(), (Check, String)> {
    let msg = signing_message(digest);
    for (i, s) in entry.signatures.iter().enumerate() {
        if entry.signatures[..i].iter().any(|o| o.key_id == s.key_id) {
            return Err((Check::Format, format!("key {} signs twice", s.key_id)));
        }
        let key = keys
            .get(&s.key_id)
            .ok_or_else(|| (Check::Key, format!("signed by key {} which is not enrolled", s.key_id)))?;
        if !key.verify(&msg, &s.signature) {
            return Err((
                Check::Signature,
                format!("signature by key {} does not verify", s.key_id),
            ));
        }
    }
    Ok(())
}
