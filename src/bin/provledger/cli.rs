//! Command-line syntax: every command, flag and argument, with a doc line each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use provledger::record::Environment;
use provledger::{Digest, Durability, PrincipalType, Role, VerifyingKey};

/// An append-only, tamper-evident ledger of AI-influenced decisions.
///
/// Exit codes: 0 success; 1 verification failed or the ledger is damaged; 2 usage error,
/// unreadable path or bad input.
#[derive(Debug, Parser)]
#[command(name = "provledger", version, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
// Parsed once per run; boxing the verify arguments (a parsed public key) would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new Ed25519 secret key file (mode 0600) and print its public key.
    Keygen(KeygenArgs),
    /// Create a new ledger whose genesis trusts the given key.
    Init(InitArgs),
    /// Append JSON Lines from standard input: governance records by `"kind"`, else application entries.
    Append(AppendArgs),
    /// Enroll a key: who holds it, what it is, its roles and environments (admin-signed).
    Enroll(EnrollArgs),
    /// Revoke a key from this point of the ledger on (admin-signed).
    Revoke(RevokeArgs),
    /// Erase the payload of an entry (personal data) by a recorded, admin-signed redaction.
    Redact(RedactArgs),
    /// Verify a ledger against a trust anchor you supply.
    Verify(VerifyArgs),
    /// Rebuild the derived files (segment indexes, Merkle tree files) from the segments.
    Repair(RepairArgs),
    /// Print decoded entries (does not verify them; run `verify` for that).
    Show(ShowArgs),
    /// The policy recorded in the ledger: `policy show` prints the one in force.
    Policy(PolicyArgs),
    /// Sign a checkpoint of the ledger's current state and print it.
    Checkpoint(CheckpointArgs),
    /// Print an inclusion or consistency proof against signed checkpoints, as JSON.
    Prove(ProveArgs),
    /// Check a proof file offline against the operator's public key.
    VerifyProof(VerifyProofArgs),
    /// Act as an independent witness: `witness keygen`, `witness cosign` (C2SP cosignatures).
    Witness(WitnessArgs),
    /// Build a sample ledger of an AI-assisted, human-approved permission change and audit it.
    Demo(DemoArgs),
    /// Upload what is new in a ledger, up to its newest checkpoint, to object storage
    /// (s3://, gs://, az://, file://); `verify`, `show` and `prove` then read it from the URL.
    #[cfg(feature = "object-store")]
    Publish(PublishArgs),
}

/// Arguments of `publish`.
#[cfg(feature = "object-store")]
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    /// Where to publish it: `s3://bucket/prefix` (credentials and endpoint from AWS_*
    /// variables), `gs://…`, `az://…`, `file:///absolute/path`.
    pub url: String,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key file; an existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to create the ledger in (created if missing).
    pub dir: PathBuf,
    /// Secret key file of the operator (written by `keygen`, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Human-readable ledger name, recorded in the genesis entry.
    #[arg(long, default_value = "provledger")]
    pub name: String,
    /// Initial policy (JSON, e.g. `{"min_approvals":2,"rules":[...]}`); default: every rule, one approval.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// When appended entries are synced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// No sync per batch; one sync at the end of the input.
    None,
    /// One sync per batch (the default).
    Batch,
    /// One sync per entry.
    Every,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::None => Durability::Buffered,
            DurabilityArg::Batch | DurabilityArg::Every => Durability::Synced,
        }
    }
}

/// The trust anchor a writer verifies the ledger against when another key wrote last
/// (`Options::trust_anchor`); without one, the writer's own key must have signed the genesis.
#[derive(Debug, Args)]
pub struct WriterTrust {
    /// When another key wrote last: trust this operator/admin public key (64 hex digits).
    #[arg(long, value_name = "PUBKEY_HEX", conflicts_with = "trust_genesis")]
    pub trust: Option<VerifyingKey>,
    /// When another key wrote last: trust this genesis entry hash (64 hex digits).
    #[arg(long, value_name = "HASH_HEX")]
    pub trust_genesis: Option<Digest>,
}

impl WriterTrust {
    /// `opts` with the anchor given, if any.
    pub fn apply(&self, opts: provledger::Options) -> provledger::Options {
        match (&self.trust, &self.trust_genesis) {
            (Some(k), _) => opts.trust_anchor(provledger::TrustAnchor::PublicKey(*k)),
            (None, Some(h)) => opts.trust_anchor(provledger::TrustAnchor::GenesisHash(*h)),
            (None, None) => opts,
        }
    }
}

/// Arguments of `append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub writer_trust: WriterTrust,
    /// Secret key file that signs the entries (must be enrolled in the genesis).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Secret key file that co-signs every entry of this run (e.g. a reviewer or approver); repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// When entries become durable: `none` (one sync at the end), `batch`, or `every` entry.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Batch)]
    pub durability: DurabilityArg,
    /// Lines per batch: validated together, then appended with one write.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch: u32,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("anchor").required(true).args(["trust", "trust_genesis"])))]
pub struct VerifyArgs {
    /// The ledger directory, or the URL it was published to (`s3://bucket/prefix`…).
    pub dir: PathBuf,
    /// With a URL: keep the pieces read in DIR and read them from there next time, so that
    /// verifying the same bucket again downloads only what is new (see docs/CLI.md).
    #[cfg(feature = "object-store")]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Trust this operator/admin public key (64 hex digits), obtained out of band.
    #[arg(long, value_name = "PUBKEY_HEX")]
    pub trust: Option<VerifyingKey>,
    /// Trust this genesis entry hash (64 hex digits), obtained out of band.
    #[arg(long, value_name = "HASH_HEX")]
    pub trust_genesis: Option<Digest>,
    /// Accept entries without an author signature after the last checkpoint (a live ledger).
    #[arg(long)]
    pub allow_uncovered_tail: bool,
    /// Start from this checkpoint (JSON, as printed by `checkpoint --json`), which you trust.
    #[arg(long, value_name = "FILE", conflicts_with = "state")]
    pub from_checkpoint: Option<PathBuf>,
    /// Your saved verification state: if FILE exists, verify only what was added after the
    /// checkpoint it was taken at; when verification passes, save the state at the newest
    /// checkpoint to FILE (see docs/CLI.md).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Also evaluate the policy rules in force (genesis and policy updates); violations exit 1.
    #[arg(long)]
    pub policy: bool,
    /// A trusted witness, as its verifier key `NAME+HASH+BASE64` (`witness keygen` prints it); repeatable.
    #[arg(long = "witness", value_name = "VKEY", requires_all = ["min_witnesses", "note"])]
    pub witnesses: Vec<provledger::witness::WitnessKey>,
    /// With `--witness`: how many distinct trusted witnesses must have cosigned the newest checkpoint.
    #[arg(long, value_name = "K", requires = "witnesses", value_parser = clap::value_parser!(u32).range(1..))]
    pub min_witnesses: Option<u32>,
    /// With `--witness`: the newest checkpoint as a signed note carrying the witnesses' cosignature lines.
    #[arg(long, value_name = "FILE", requires = "witnesses")]
    pub note: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `witness`.
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// What the witness does.
    #[command(subcommand)]
    pub command: WitnessCommand,
}

/// The `witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Generate a witness key file (mode 0600) and print its verifier key (`NAME+HASH+BASE64`, type 0x04).
    Keygen(WitnessKeygenArgs),
    /// Check a new checkpoint against the witness's state and, if it extends it, cosign it.
    Cosign(WitnessCosignArgs),
}

/// Arguments of `witness keygen`.
#[derive(Debug, Args)]
pub struct WitnessKeygenArgs {
    /// The witness's name (e.g. `witness.example.com/w1`: no spaces, no `+`).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Where to write the secret key file; an existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `witness cosign`.
#[derive(Debug, Args)]
pub struct WitnessCosignArgs {
    /// The witness's state directory (per ledger: the last checkpoint cosigned); created if missing.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// The witness's secret key file (written by `witness keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The witness's name, as given to `witness keygen`.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The operator key trusted to sign the ledger's checkpoints: 64 hex digits, or the
    /// verifier key `checkpoint` prints (`provledger/<ledger id>+HASH+BASE64`, which also pins the ledger).
    #[arg(long, value_name = "KEY")]
    pub operator: String,
    /// The new checkpoint as a signed note (`checkpoint --note`).
    #[arg(long, value_name = "FILE")]
    pub note: PathBuf,
    /// Consistency proof (JSON, `prove --from M --json`) from the size this witness last cosigned
    /// to the note's checkpoint; omit it for the witness's first checkpoint of the ledger.
    #[arg(long, value_name = "FILE")]
    pub proof: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The ledger directory, or the URL it was published to (`s3://bucket/prefix`…).
    pub dir: PathBuf,
    /// Show only the entry with this sequence number (0 is the genesis).
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
    /// Print one JSON object per entry (JSON Lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do with the policy.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force (genesis or the last gated policy update) and every policy update.
    Show(PolicyShowArgs),
}

/// Arguments of `policy show`.
#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    /// The policy in force for entry N (judging N), instead of after the last entry.
    #[arg(long, value_name = "N")]
    pub at: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory to build the demo in (default: a new directory under the system temp dir).
    pub dir: Option<PathBuf>,
}

/// Arguments of `checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub writer_trust: WriterTrust,
    /// Secret key file of the operator that signs the checkpoint (takes the writer lock).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Print the checkpoint as a C2SP signed note.
    #[arg(long, conflicts_with = "json")]
    pub note: bool,
    /// Print the checkpoint as one JSON object (the form `verify --from-checkpoint` reads).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("proof").required(true).args(["seq", "from"])))]
pub struct ProveArgs {
    /// The ledger directory, or the URL it was published to (`s3://bucket/prefix`…).
    pub dir: PathBuf,
    /// Prove that entry N is included (inclusion proof).
    #[arg(long, value_name = "N")]
    pub seq: Option<u64>,
    /// With `--seq`: against the checkpoint of size M instead of the newest one.
    #[arg(long, value_name = "M", requires = "seq")]
    pub size: Option<u64>,
    /// Prove that the checkpoint of size M is a prefix of a newer one (consistency proof).
    #[arg(long, value_name = "M")]
    pub from: Option<u64>,
    /// With `--from`: up to the checkpoint of size N instead of the newest one.
    #[arg(long, value_name = "N", requires = "from")]
    pub to: Option<u64>,
    /// Print the proof as one line of JSON (without it: the same JSON, indented).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `verify-proof`.
#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// The proof file (JSON, as printed by `prove`; at most 1 MiB).
    pub proof: PathBuf,
    /// Trust this operator public key (64 hex digits), obtained out of band.
    #[arg(long, value_name = "PUBKEY_HEX")]
    pub trust: VerifyingKey,
    /// Require the proof to be about this ledger (its id, 32 hex digits); a proof of another
    /// ledger is INVALID even when the same key signed both.
    #[arg(long, value_name = "LEDGER_ID")]
    pub ledger: Option<provledger::LedgerId>,
    /// Consistency proofs: the older size you already trust (with `--old-root`), e.g. the
    /// `entries` of an earlier `verify`; the proof must start from it. Needed when no
    /// checkpoint pins the older size (`old_checkpoint` is null).
    #[arg(long, value_name = "N", requires = "old_root")]
    pub old_size: Option<u64>,
    /// Consistency proofs: the root you trust at `--old-size` (64 hex digits), e.g. the `root`
    /// of an earlier `verify`.
    #[arg(long, value_name = "HASH_HEX", requires = "old_size")]
    pub old_root: Option<Digest>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What a principal is (W3C PROV), as `enroll --type` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PrincipalTypeArg {
    /// A human being.
    Person,
    /// An AI system or other software acting with some autonomy.
    SoftwareAgent,
    /// A service acting on its own behalf.
    Service,
}

impl From<PrincipalTypeArg> for PrincipalType {
    fn from(t: PrincipalTypeArg) -> Self {
        match t {
            PrincipalTypeArg::Person => PrincipalType::Person,
            PrincipalTypeArg::SoftwareAgent => PrincipalType::SoftwareAgent,
            PrincipalTypeArg::Service => PrincipalType::Service,
        }
    }
}

/// A role, as `enroll --role` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RoleArg {
    /// Enrolls and revokes keys, changes policy, redacts.
    Admin,
    /// Runs the ledger: appends entries, signs checkpoints, records executions.
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

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Requester => Role::Requester,
            RoleArg::Reviewer => Role::Reviewer,
            RoleArg::Approver => Role::Approver,
            RoleArg::AiAgent => Role::AiAgent,
        }
    }
}

/// An environment, as `enroll --env` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum EnvArg {
    /// Trials, sandboxes, evaluation: no production authority.
    Experimentation,
    /// Real customers, real permissions, real money.
    Production,
}

impl From<EnvArg> for Environment {
    fn from(e: EnvArg) -> Self {
        match e {
            EnvArg::Experimentation => Environment::Experimentation,
            EnvArg::Production => Environment::Production,
        }
    }
}

/// Arguments of `enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub writer_trust: WriterTrust,
    /// Secret key file of an admin (signs the enrollment and appends it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The Ed25519 public key to enroll (64 hex digits, as `keygen` prints it).
    #[arg(long, value_name = "HEX")]
    pub public_key: VerifyingKey,
    /// Stable identifier of the principal (email, service name…).
    #[arg(long, value_name = "ID")]
    pub principal: String,
    /// Display name.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub name: String,
    /// Person, software agent or service.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub principal_type: PrincipalTypeArg,
    /// A role granted (repeatable).
    #[arg(long = "role", value_enum, value_name = "ROLE", required = true)]
    pub roles: Vec<RoleArg>,
    /// An environment the key may act in (repeatable).
    #[arg(long = "env", value_enum, value_name = "ENV", required = true)]
    pub envs: Vec<EnvArg>,
    /// Secret key file that co-signs the enrollment (e.g. a second admin); repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// Entry hash to reference, e.g. the approved permission-change proposal that gates an
    /// admin or approver grant; repeatable.
    #[arg(long = "ref", value_name = "HEX")]
    pub refs: Vec<Digest>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub writer_trust: WriterTrust,
    /// Secret key file of an admin (signs the revocation and appends it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Id of the key to revoke (64 hex digits, as `enroll` and `keygen` print it).
    #[arg(long, value_name = "HEX")]
    pub key_id: Digest,
    /// Why (recorded in the ledger).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The ledger directory (no writer may hold it).
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The ledger directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub writer_trust: WriterTrust,
    /// Secret key file of an admin (signs the redaction entry and appends it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Sequence number of the entry whose payload is erased (`application` or `ai_output` only).
    #[arg(long, value_name = "N")]
    pub seq: u64,
    /// Why: legal basis or request reference (recorded in the ledger; no personal data here).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Secret key file that co-signs the redaction entry; repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
