//! Structured payloads: the genesis record and (later) the governance records.
//!
//! Structured payloads are encoded by [`crate::encoding`]'s fixed bincode layout
//! (docs/FORMAT.md §6) and committed like any payload.

mod genesis;

pub use genesis::{Genesis, PrincipalType, Role, TrustAnchorKey, GENESIS_CONTENT_TYPE};
