//! What the policy knows of keys and principals, beyond the integrity registry: principals
//! interned to small numbers, revocations, which grants did not take effect because they were
//! not gated, and who counts as an eligible approver (for the bootstrap rule).

use std::collections::HashMap;

use crate::keys::KeyId;
use crate::record::{Environment, KeyEnrollment, PrincipalType, Role};

use super::Signer;

/// A principal, interned.
pub(super) type Principal = u32;
/// A key, interned.
pub(super) type KeyIdx = u32;

/// One key as the policy sees it.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct KeyState {
    index: KeyIdx,
    principal: Principal,
    /// Holds the approver role, is a person (not an AI agent), may act in production.
    could_approve: bool,
    revoked_at: Option<u64>,
    /// Its approver grant was not gated: it does not count as an approver.
    ungated_approver: bool,
    /// It is an AI agent whose production grant was not gated: it acts in experimentation only.
    ungated_production: bool,
}

/// A signer of the observed entry, as the policy judges it.
#[allow(clippy::struct_excessive_bools)] // independent facts about one signer, each a rule's input
#[derive(Clone, Debug)]
pub(super) struct Actor {
    pub key: KeyIdx,
    pub principal: Principal,
    /// The principal id, for messages.
    pub name: String,
    /// `principal_type` is `person`.
    pub person: bool,
    /// An AI agent: the `ai_agent` role or a `software_agent`.
    pub ai: bool,
    /// Holds the approver role (whatever its grant).
    pub approver: bool,
    /// Its approver grant took effect (was gated, or made during bootstrap or in the genesis).
    pub approver_granted: bool,
    pub requester: bool,
    pub reviewer: bool,
    may_production: bool,
    may_experimentation: bool,
    /// Why it may not act in production although enrolled for it (an ungated AI grant).
    pub production_withheld: bool,
}

impl Actor {
    pub fn may_act_in(&self, env: Environment) -> bool {
        match env {
            Environment::Production => self.may_production,
            Environment::Experimentation => self.may_experimentation,
        }
    }

    /// `name (what)`, e.g. `credit-model (AI agent)`, for messages.
    pub fn describe(&self) -> String {
        let what = if self.ai {
            "AI agent"
        } else if self.person {
            "person"
        } else {
            "service"
        };
        format!("{} ({what})", self.name)
    }
}

/// Keys and principals seen so far.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct KeyBook {
    principals: HashMap<String, Principal>,
    keys: HashMap<KeyId, KeyState>,
    /// Revocation of each key, by index.
    revoked: Vec<Option<u64>>,
}

fn is_ai(roles: &[Role], t: PrincipalType) -> bool {
    roles.contains(&Role::AiAgent) || t == PrincipalType::SoftwareAgent
}

impl KeyBook {
    fn intern(&mut self, name: &str) -> Principal {
        if let Some(&p) = self.principals.get(name) {
            return p;
        }
        let p = self.principals.len() as Principal;
        self.principals.insert(name.to_owned(), p);
        p
    }

    fn add(&mut self, id: KeyId, name: &str, t: PrincipalType, roles: &[Role], production: bool) {
        let principal = self.intern(name);
        let could_approve =
            roles.contains(&Role::Approver) && t == PrincipalType::Person && !is_ai(roles, t) && production;
        let index = self.keys.get(&id).map_or(self.revoked.len() as KeyIdx, |k| k.index);
        if index as usize == self.revoked.len() {
            self.revoked.push(None);
        }
        self.keys.insert(
            id,
            KeyState {
                index,
                principal,
                could_approve,
                revoked_at: None,
                ungated_approver: false,
                ungated_production: false,
            },
        );
    }

    /// A genesis anchor (acts everywhere, never gated).
    pub fn anchor(&mut self, id: KeyId, name: &str, t: PrincipalType, roles: &[Role]) {
        self.add(id, name, t, roles, true);
    }

    /// A key enrolled at an entry; `gated` says whether its powerful grants took effect.
    pub fn enroll(&mut self, id: KeyId, e: &KeyEnrollment, gated: bool) {
        let production = e.environments.contains(&Environment::Production);
        self.add(id, &e.principal_id, e.principal_type, &e.roles, production);
        if let (false, Some(k)) = (gated, self.keys.get_mut(&id)) {
            k.ungated_approver = e.roles.contains(&Role::Approver);
            k.ungated_production = is_ai(&e.roles, e.principal_type) && production;
        }
    }

    pub fn revoke(&mut self, id: &KeyId, seq: u64) {
        if let Some(k) = self.keys.get_mut(id) {
            let at = *k.revoked_at.get_or_insert(seq);
            self.revoked[k.index as usize] = Some(at);
        }
    }

    /// Checks that every key's index has its revocation slot (see
    /// [`super::PolicyEngine::check_consistent`]).
    pub fn check_consistent(&self) -> Result<(), String> {
        if self.keys.values().all(|k| (k.index as usize) < self.revoked.len()) {
            Ok(())
        } else {
            Err("the policy state refers to keys it does not hold".into())
        }
    }

    /// The sequence number of the key's revocation, if it was revoked.
    pub fn revoked_at(&self, key: KeyIdx) -> Option<u64> {
        self.revoked.get(key as usize).copied().flatten()
    }

    /// The signer as the policy judges it (a key the engine has not seen enrolled — which
    /// verification would have refused — is taken as the registry describes it).
    pub fn actor(&mut self, (id, info): &Signer) -> Actor {
        if !self.keys.contains_key(id) {
            // Never an eligible approver: the engine did not see it granted.
            self.add(*id, &info.principal_id, info.principal_type, &[], false);
        }
        let principal = self.intern(&info.principal_id);
        let state = self.keys.get(id).copied();
        let ai = info.is_ai();
        let withheld = state.is_some_and(|s| s.ungated_production);
        Actor {
            key: state.map_or(0, |s| s.index),
            principal,
            name: info.principal_id.clone(),
            person: info.principal_type == PrincipalType::Person,
            ai,
            approver: info.has(Role::Approver),
            approver_granted: !state.is_some_and(|s| s.ungated_approver),
            requester: info.has(Role::Requester) || info.has(Role::AiAgent),
            reviewer: info.has(Role::Reviewer),
            may_production: info.may_act_in(Environment::Production) && !withheld,
            may_experimentation: info.may_act_in(Environment::Experimentation),
            production_withheld: withheld && info.may_act_in(Environment::Production),
        }
    }

    /// Distinct persons holding an unrevoked approver key that may act in production and whose
    /// grant took effect.
    pub fn eligible_approvers(&self) -> usize {
        let mut who: Vec<Principal> = self
            .keys
            .values()
            .filter(|k| k.could_approve && k.revoked_at.is_none() && !k.ungated_approver)
            .map(|k| k.principal)
            .collect();
        who.sort_unstable();
        who.dedup();
        who.len()
    }
}
