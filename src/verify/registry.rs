//! The key registry, built while reading the ledger: genesis anchors, then enrollments and
//! revocations in ledger order. A signature by a key that is not enrolled, was revoked at an
//! earlier point, or lacks the role the entry kind needs fails verification (check `key`).

use std::collections::HashMap;

use crate::entry::{AuthorSignature, EntryKind};
use crate::keys::{KeyId, VerifyingKey};
use crate::record::{Environment, Genesis, KeyEnrollment, PrincipalType, Record, Role};

use super::Check;

/// What the registry knows about one key.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeyInfo {
    pub key: VerifyingKey,
    pub principal_id: String,
    pub principal_type: PrincipalType,
    pub roles: Vec<Role>,
    /// Environments the key may act in; genesis anchors act everywhere.
    pub environments: Option<Vec<Environment>>,
    /// Sequence number of the enrollment (0 for genesis anchors).
    pub enrolled_at: u64,
    /// Sequence number of the revocation, if revoked.
    pub revoked_at: Option<u64>,
}

impl KeyInfo {
    pub(crate) fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the key is a machine acting for itself (an AI agent).
    pub(crate) fn is_ai(&self) -> bool {
        self.has(Role::AiAgent) || self.principal_type == PrincipalType::SoftwareAgent
    }

    pub(crate) fn may_act_in(&self, env: Environment) -> bool {
        self.environments.as_ref().is_none_or(|e| e.contains(&env))
    }

    /// Whether the key was enrolled and not yet revoked when the ledger had `size` entries.
    pub(crate) fn valid_at_size(&self, size: u64) -> bool {
        self.enrolled_at < size && self.revoked_at.is_none_or(|r| r >= size)
    }
}

/// The keys an entry's signatures resolved to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolved<'r> {
    /// The position signer's key.
    pub position: Option<&'r VerifyingKey>,
    /// The co-signers' keys, in record order.
    pub cosigners: Vec<&'r VerifyingKey>,
}

/// Enrolled keys by id.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Registry {
    keys: HashMap<KeyId, KeyInfo>,
}

type Problem = (Check, String);

/// The roles of which an entry of `kind` needs at least one signature (any of them).
#[must_use]
pub(crate) fn required_roles(kind: EntryKind) -> &'static [Role] {
    match kind {
        EntryKind::KeyEnrollment | EntryKind::KeyRevocation | EntryKind::PolicyUpdate | EntryKind::Redaction => {
            &[Role::Admin]
        }
        EntryKind::AiOutput => &[Role::AiAgent, Role::Operator],
        EntryKind::Proposal => &[Role::Requester, Role::AiAgent],
        EntryKind::Review => &[Role::Reviewer],
        EntryKind::Approval | EntryKind::Rejection | EntryKind::RiskAcceptance => &[Role::Approver],
        EntryKind::Execution => &[Role::Operator],
        EntryKind::Override => &[Role::Admin, Role::Approver],
        EntryKind::Genesis | EntryKind::Application => &[],
    }
}

impl Registry {
    pub(crate) fn from_genesis(g: &Genesis) -> Result<Self, crate::error::KeyError> {
        let mut keys = HashMap::with_capacity(g.anchors.len());
        for a in &g.anchors {
            let key = a.verifying_key()?;
            let info = KeyInfo {
                key,
                principal_id: a.principal_id.clone(),
                principal_type: a.principal_type,
                roles: a.roles.clone(),
                environments: None,
                enrolled_at: 0,
                revoked_at: None,
            };
            keys.insert(key.key_id(), info);
        }
        Ok(Registry { keys })
    }

    pub(crate) fn get(&self, id: &KeyId) -> Option<&KeyInfo> {
        self.keys.get(id)
    }

    /// Resolves the keys of an entry's position signature and co-signatures as of entry `seq`
    /// (docs/FORMAT.md §9 E5): distinct signers, enrolled, not revoked before `seq`; the
    /// position signer holds the Operator role; one signature holds one of the kind's roles.
    pub(crate) fn resolve(
        &self,
        kind: EntryKind,
        position: Option<&AuthorSignature>,
        cosigs: &[AuthorSignature],
        seq: u64,
    ) -> Result<Resolved<'_>, Problem> {
        let all = || position.into_iter().chain(cosigs);
        for (i, s) in all().enumerate() {
            if all().take(i).any(|o| o.key_id == s.key_id) {
                return Err((Check::Format, format!("key {} signs twice", s.key_id)));
            }
        }
        if position.is_none() && kind.requires_position_signature() {
            return Err((
                Check::Signature,
                format!("a {} entry must carry the writer's position signature", kind.name()),
            ));
        }
        let lookup = |s: &AuthorSignature| -> Result<&KeyInfo, Problem> {
            let info = self
                .keys
                .get(&s.key_id)
                .ok_or_else(|| (Check::Key, format!("signed by key {} which is not enrolled", s.key_id)))?;
            if let Some(at) = info.revoked_at.filter(|&at| at < seq) {
                return Err((
                    Check::Key,
                    format!("signed by key {} which was revoked at entry {at}", s.key_id),
                ));
            }
            Ok(info)
        };
        let position_key = match position {
            Some(p) => {
                let info = lookup(p)?;
                if !info.has(Role::Operator) {
                    return Err((
                        Check::Key,
                        format!("position signed by key {} which lacks the operator role", p.key_id),
                    ));
                }
                Some(&info.key)
            }
            None => None,
        };
        let cosig_keys = cosigs
            .iter()
            .map(|s| lookup(s).map(|k| &k.key))
            .collect::<Result<Vec<_>, _>>()?;
        let roles = required_roles(kind);
        let has_role = |s: &AuthorSignature| {
            self.keys
                .get(&s.key_id)
                .is_some_and(|k| roles.iter().any(|r| k.has(*r)))
        };
        if !roles.is_empty() && !all().any(has_role) {
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            let name = kind.name();
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let msg = format!(
                "{article} {name} entry needs a signature by a key with role {}",
                names.join(" or ")
            );
            return Err((Check::Key, msg));
        }
        Ok(Resolved {
            position: position_key,
            cosigners: cosig_keys,
        })
    }

    /// Applies an enrollment or revocation recorded at `seq`.
    pub(crate) fn apply(&mut self, seq: u64, record: &Record) -> Result<(), Problem> {
        match record {
            Record::KeyEnrollment(e) => self.enroll(seq, e),
            Record::KeyRevocation(r) => {
                let id = KeyId(r.key_id);
                let info = self
                    .keys
                    .get_mut(&id)
                    .ok_or_else(|| (Check::Key, format!("revokes key {id} which is not enrolled")))?;
                if info.revoked_at.is_some() {
                    return Err((Check::Key, format!("revokes key {id} a second time")));
                }
                info.revoked_at = Some(seq);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn enroll(&mut self, seq: u64, e: &KeyEnrollment) -> Result<(), Problem> {
        let key = VerifyingKey::from_bytes(&e.public_key).map_err(|err| (Check::Key, err.to_string()))?;
        if self.keys.contains_key(&key.key_id()) {
            return Err((
                Check::Key,
                format!("key {} is already enrolled (rotate with a new key)", key.key_id()),
            ));
        }
        let info = KeyInfo {
            key,
            principal_id: e.principal_id.clone(),
            principal_type: e.principal_type,
            roles: e.roles.clone(),
            environments: Some(e.environments.clone()),
            enrolled_at: seq,
            revoked_at: None,
        };
        self.keys.insert(key.key_id(), info);
        Ok(())
    }
}
