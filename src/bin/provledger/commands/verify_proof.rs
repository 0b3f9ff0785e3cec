//! `provledger verify-proof`: check an inclusion or consistency proof offline, with nothing
//! but the proof file and the operator's public key.
//!
//! Exit 0 valid, 1 invalid (well formed but false), 2 malformed (not JSON, wrong shape,
//! unknown or missing fields, or structurally impossible as a proof).

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use provledger::{ConsistencyProof, InclusionProof, ProofCheckError, VerifyingKey};
use provledger::{Digest, LedgerId};

use crate::cli::VerifyProofArgs;
use crate::error::{CliError, EXIT_FAILED, EXIT_USAGE};
use crate::output;

/// Largest proof file read (a proof has at most 64 path elements, about 5 KiB).
pub const MAX_PROOF_FILE: u64 = 1 << 20;

const INCLUSION_FIELDS: [&str; 8] = [
    "version",
    "ledger_id",
    "tree_size",
    "leaf_index",
    "entry_hash",
    "path",
    "root",
    "checkpoint",
];
const CONSISTENCY_FIELDS: [&str; 9] = [
    "version",
    "ledger_id",
    "old_size",
    "new_size",
    "old_root",
    "new_root",
    "path",
    "old_checkpoint",
    "new_checkpoint",
];

/// Which proof a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An [`InclusionProof`] (has `leaf_index`).
    Inclusion,
    /// A [`ConsistencyProof`] (has `old_size`).
    Consistency,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Inclusion => "inclusion",
            Kind::Consistency => "consistency",
        }
    }
}

/// What checking a proof found.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The proof's kind, once it could be told.
    pub kind: Option<Kind>,
    /// What the proof claims, in words (once it parsed).
    pub claim: Option<String>,
    /// The ledger the proof is about (once it parsed).
    pub ledger_id: Option<LedgerId>,
    /// `Ok` when valid; the library's verdict otherwise (or `Malformed` for bad input).
    pub result: Result<(), ProofCheckError>,
}

impl Outcome {
    fn malformed(kind: Option<Kind>, why: impl Into<String>) -> Self {
        Outcome {
            kind,
            claim: None,
            ledger_id: None,
            result: Err(ProofCheckError::Malformed(why.into())),
        }
    }

    /// 0 valid, 1 invalid, 2 malformed.
    pub fn exit_code(&self) -> u8 {
        match &self.result {
            Ok(()) => 0,
            Err(ProofCheckError::Invalid(_)) => EXIT_FAILED,
            Err(_) => EXIT_USAGE,
        }
    }
}

/// Reads the proof file (bounded), checks it, and reports the verdict.
pub fn run(args: &VerifyProofArgs) -> Result<u8, CliError> {
    let bytes = output::read_bounded(&args.proof, MAX_PROOF_FILE)?;
    let trusted_old = args.old_size.zip(args.old_root);
    let outcome = check(&bytes, &args.trust, args.ledger, trusted_old);
    if args.json {
        output::json(&outcome_json(&outcome))?;
    } else {
        print_human(&outcome)?;
    }
    Ok(outcome.exit_code())
}

/// Parses `bytes` as a proof of either kind and verifies it against `key` (a consistency
/// proof against the older state `trusted_old` too, if given).
pub fn check(
    bytes: &[u8],
    key: &VerifyingKey,
    ledger: Option<LedgerId>,
    trusted_old: Option<(u64, Digest)>,
) -> Outcome {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Outcome::malformed(None, format!("not JSON: {e}")),
    };
    let Value::Object(fields) = value else {
        return Outcome::malformed(None, "expected a JSON object");
    };
    match (fields.contains_key("leaf_index"), fields.contains_key("old_size")) {
        (true, false) if trusted_old.is_some() => Outcome::malformed(
            Some(Kind::Inclusion),
            "--old-size/--old-root apply to consistency proofs, not inclusion proofs",
        ),
        (true, false) => check_as::<InclusionProof>(fields, Kind::Inclusion, key, ledger, None),
        (false, true) => check_as::<ConsistencyProof>(fields, Kind::Consistency, key, ledger, trusted_old),
        (true, true) => Outcome::malformed(None, "has both `leaf_index` and `old_size`"),
        (false, false) => Outcome::malformed(
            None,
            "neither an inclusion (`leaf_index`) nor a consistency (`old_size`) proof",
        ),
    }
}

/// A proof type `verify-proof` handles.
trait Proof: DeserializeOwned {
    fn claim(&self) -> String;
    fn ledger(&self) -> LedgerId;
    fn check(
        &self,
        key: &VerifyingKey,
        ledger: Option<LedgerId>,
        old: Option<(u64, Digest)>,
    ) -> Result<(), ProofCheckError>;
}

impl Proof for InclusionProof {
    fn claim(&self) -> String {
        format!("entry {} is in the ledger of size {}", self.leaf_index, self.tree_size)
    }
    fn ledger(&self) -> LedgerId {
        self.ledger_id
    }
    fn check(
        &self,
        key: &VerifyingKey,
        ledger: Option<LedgerId>,
        _: Option<(u64, Digest)>,
    ) -> Result<(), ProofCheckError> {
        self.verify_for(key, ledger)
    }
}

impl Proof for ConsistencyProof {
    fn claim(&self) -> String {
        format!(
            "the ledger of size {} extends the one of size {}",
            self.new_size, self.old_size
        )
    }
    fn ledger(&self) -> LedgerId {
        self.ledger_id
    }
    fn check(
        &self,
        key: &VerifyingKey,
        ledger: Option<LedgerId>,
        old: Option<(u64, Digest)>,
    ) -> Result<(), ProofCheckError> {
        match old {
            Some((size, root)) => self.verify_extends(key, ledger, size, &root),
            None => self.verify_for(key, ledger),
        }
    }
}

fn check_as<P: Proof>(
    fields: Map<String, Value>,
    kind: Kind,
    key: &VerifyingKey,
    ledger: Option<LedgerId>,
    old: Option<(u64, Digest)>,
) -> Outcome {
    let known = match kind {
        Kind::Inclusion => &INCLUSION_FIELDS[..],
        Kind::Consistency => &CONSISTENCY_FIELDS[..],
    };
    if let Some(extra) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Outcome::malformed(Some(kind), format!("unknown field `{extra}`"));
    }
    if let Some(missing) = known.iter().find(|k| !fields.contains_key(**k)) {
        return Outcome::malformed(Some(kind), format!("missing field `{missing}`"));
    }
    match serde_json::from_value::<P>(Value::Object(fields)) {
        Ok(proof) => Outcome {
            kind: Some(kind),
            claim: Some(proof.claim()),
            ledger_id: Some(proof.ledger()),
            result: proof.check(key, ledger, old),
        },
        Err(e) => Outcome::malformed(Some(kind), e.to_string()),
    }
}

/// `{"ok":bool,"kind":"inclusion|consistency"|null,"error":null|"…"}`.
fn outcome_json(o: &Outcome) -> Value {
    json!({
        "ok": o.result.is_ok(),
        "kind": o.kind.map(Kind::name),
        "ledger_id": o.ledger_id.map(|l| l.to_string()),
        "error": o.result.as_ref().err().map(ToString::to_string),
    })
}

fn print_human(o: &Outcome) -> Result<(), CliError> {
    let kind = o.kind.map_or("unrecognised", Kind::name);
    output::line(&format!("proof:  {kind}"))?;
    if let Some(id) = o.ledger_id {
        output::line(&format!("ledger: {id}"))?;
    }
    if let Some(claim) = &o.claim {
        output::line(&format!("claims: {claim}"))?;
    }
    output::line(&match &o.result {
        Ok(()) => "result: VALID: the checkpoint signature by the trusted key and the Merkle path hold".to_owned(),
        Err(ProofCheckError::Invalid(why)) => format!("result: INVALID: {why}"),
        Err(ProofCheckError::Malformed(why)) => format!("result: MALFORMED: {why}"),
        Err(e) => format!("result: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> VerifyingKey {
        provledger::SigningKey::from_seed(&[7; 32]).verifying_key()
    }

    #[test]
    fn the_kind_is_told_by_its_marker_field_and_ambiguity_is_malformed() {
        let o = check(br#"{"leaf_index":1,"old_size":2}"#, &key(), None, None);
        assert_eq!((o.kind, o.exit_code()), (None, EXIT_USAGE));
        let o = check(br#"{"leaf_index":1}"#, &key(), None, None);
        assert_eq!(o.kind, Some(Kind::Inclusion));
        assert!(matches!(&o.result, Err(ProofCheckError::Malformed(m)) if m.contains("missing field `version`")));
        let o = check(br#"{"old_size":1,"surprise":0}"#, &key(), None, None);
        assert_eq!(o.kind, Some(Kind::Consistency));
        assert!(matches!(&o.result, Err(ProofCheckError::Malformed(m)) if m.contains("unknown field `surprise`")));
    }

    #[test]
    fn json_verdict_shape() {
        let o = check(b"{}", &key(), None, None);
        let v = outcome_json(&o);
        assert_eq!((v["ok"].clone(), v["kind"].clone()), (Value::Bool(false), Value::Null));
        assert!(v["error"].as_str().is_some_and(|e| e.starts_with("malformed proof")));
    }
}
