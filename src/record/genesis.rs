//! The genesis record: the first entry of every ledger, naming its trust anchors.

use serde::{Deserialize, Serialize};

use crate::encoding::serde_codec;
use crate::error::{DecodeError, KeyError};
use crate::keys::VerifyingKey;

/// Content type of the genesis payload.
pub const GENESIS_CONTENT_TYPE: &str = "application/vnd.provledger.genesis.v2+bincode";

/// Largest number of trust anchors in a genesis record.
pub const MAX_ANCHORS: usize = 64;
/// Longest ledger name, principal id or display name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// What a principal is, in W3C PROV terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// A human being (`prov:Person`).
    Person,
    /// An AI system or other software acting with some autonomy (`prov:SoftwareAgent`).
    SoftwareAgent,
    /// A service acting on its own behalf (e.g. the ledger operator's appender).
    Service,
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Enrolls and revokes keys, changes policy.
    Admin,
    /// Runs the ledger: appends entries and signs checkpoints.
    Operator,
    /// Requests decisions (proposals).
    Requester,
    /// Reviews AI output and proposals.
    Reviewer,
    /// Approves or rejects proposals.
    Approver,
    /// Signs AI output.
    AiAgent,
}

impl Role {
    /// The role's name as in JSON (`admin`, `ai_agent`…).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Requester => "requester",
            Role::Reviewer => "reviewer",
            Role::Approver => "approver",
            Role::AiAgent => "ai_agent",
        }
    }
}

/// A key trusted from the start, with who holds it and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrustAnchorKey {
    /// The Ed25519 public key.
    #[serde(with = "crate::hash::hex32")]
    #[cfg_attr(feature = "schema", schemars(with = "crate::hash::Digest"))]
    pub public_key: [u8; 32],
    /// Stable identifier of the principal (e.g. an email or service name).
    pub principal_id: String,
    /// Person, software agent or service.
    pub principal_type: PrincipalType,
    /// Roles granted.
    pub roles: Vec<Role>,
}

impl TrustAnchorKey {
    /// An anchor for the ledger's operator service with the admin and operator roles.
    #[must_use]
    pub fn operator(key: &VerifyingKey, principal_id: impl Into<String>) -> Self {
        TrustAnchorKey {
            public_key: key.to_bytes(),
            principal_id: principal_id.into(),
            principal_type: PrincipalType::Service,
            roles: vec![Role::Admin, Role::Operator],
        }
    }

    /// The validated public key.
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`] for an invalid or weak key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.public_key)
    }
}

/// Payload of the genesis entry (sequence number 0).
///
/// ```
/// use provledger::{Genesis, SigningKey, TrustAnchorKey};
/// let key = SigningKey::from_seed(&[1; 32]);
/// let g = Genesis {
///     name: "payments".into(),
///     anchors: vec![TrustAnchorKey::operator(&key.verifying_key(), "svc")],
///     policy: Default::default(),
/// };
/// assert_eq!(Genesis::decode(&g.encode()?)?, g);
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Human-readable ledger name.
    pub name: String,
    /// The keys trusted from the start (at least one, with the admin role).
    pub anchors: Vec<TrustAnchorKey>,
    /// The policy in force until a policy update changes it.
    pub policy: super::Policy,
}

impl Genesis {
    /// Encodes the payload (docs/FORMAT.md §6), after the checks [`Genesis::decode`] makes:
    /// what encodes also decodes.
    ///
    /// # Errors
    /// [`DecodeError`] if the record is too large or would not decode (see
    /// [`Genesis::decode`]).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        self.validate()?;
        serde_codec::encode(self, "genesis")
    }

    /// Decodes and validates a genesis payload.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are malformed, there are no anchors or too many, an anchor
    /// key is invalid or appears twice, no anchor has the admin role, or a name is longer than
    /// 256 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let g: Genesis = serde_codec::decode(bytes, "genesis")?;
        g.validate()?;
        Ok(g)
    }

    /// The rules a genesis must satisfy beyond its encoding.
    fn validate(&self) -> Result<(), DecodeError> {
        let invalid = |reason| DecodeError::Invalid {
            context: "genesis",
            reason,
        };
        if self.anchors.is_empty() {
            return Err(invalid("no trust anchors"));
        }
        if self.anchors.len() > MAX_ANCHORS {
            return Err(DecodeError::TooLong {
                context: "genesis anchors",
                len: self.anchors.len() as u64,
                max: MAX_ANCHORS as u64,
            });
        }
        if self.anchors.iter().any(|a| a.verifying_key().is_err()) {
            return Err(invalid("invalid anchor public key"));
        }
        if !self.anchors.iter().any(|a| a.roles.contains(&Role::Admin)) {
            return Err(invalid("no anchor has the admin role"));
        }
        let dup = self
            .anchors
            .iter()
            .enumerate()
            .any(|(i, a)| self.anchors[..i].iter().any(|b| b.public_key == a.public_key));
        if dup {
            return Err(invalid("an anchor key appears twice"));
        }
        let mut names = std::iter::once(&self.name).chain(self.anchors.iter().map(|a| &a.principal_id));
        if names.any(|n| n.len() > MAX_NAME_LEN) {
            return Err(invalid("name longer than 256 bytes"));
        }
        Ok(())
    }
}
