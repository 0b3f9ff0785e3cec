//! Generator of ledger.json (docs/FORMAT.md §9): whole small ledgers, every file in hex, and
//! the verdict `verify` gives for each with a trust anchor and options: passing ledgers and
//! at least one failing ledger per check of §9. Each verdict is both declared here (from the
//! specification) and computed by the library; the generator stops if they differ.

use std::path::Path;

use crate::fixtures::*;
use crate::json::{hex, num_list, obj, J};
use crate::ledger_build::Rendered;
use crate::ledger_cases;
use crate::spec::{self, Cp};
use provledger::{verify_opts, Checkpoint, Digest, TrustAnchor, VerifyOptions, VerifyReport, VerifyingKey};
use serde_json::Value;

/// What the auditor trusts.
#[derive(Clone, Copy)]
pub enum Anchor {
    Key([u8; 32]),
    Hash([u8; 32]),
}

impl Anchor {
    fn json(self) -> J {
        match self {
            Anchor::Key(k) => obj([("public_key", hex(&k))]),
            Anchor::Hash(h) => obj([("genesis_hash", hex(&h))]),
        }
    }
}

/// The library's trust anchor for an anchor's JSON form.
pub fn trust_anchor(v: &Value) -> TrustAnchor {
    if let Some(k) = v["public_key"].as_str() {
        let b: [u8; 32] = crate::unhex(k).try_into().expect("32 bytes");
        TrustAnchor::PublicKey(VerifyingKey::from_bytes(&b).expect("valid key"))
    } else {
        TrustAnchor::GenesisHash(
            crate::unhex(v["genesis_hash"].as_str().expect("anchor"))
                .as_slice()
                .try_into()
                .map(Digest::from_bytes)
                .expect("32 bytes"),
        )
    }
}

/// The library's options for an options' JSON form.
pub fn verify_options(v: &Value) -> VerifyOptions {
    VerifyOptions::default()
        .allow_uncovered_tail(v["allow_uncovered_tail"].as_bool().expect("bool"))
        .from_checkpoint(
            (!v["from_checkpoint"].is_null())
                .then(|| serde_json::from_value::<Checkpoint>(v["from_checkpoint"].clone()).expect("checkpoint JSON")),
        )
}

/// The checkpoint JSON form (docs/FORMAT.md §15).
pub fn checkpoint_json(c: &Cp) -> J {
    obj([
        ("ledger_id", hex(&LEDGER_ID)),
        ("tree_size", c.size.into()),
        ("root", hex(&c.root)),
        ("timestamp", c.time.into()),
        ("key_id", hex(&c.key_id)),
        ("signature", hex(&c.signature)),
    ])
}

/// Writes a ledger's files under `dir`.
pub fn write_ledger(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (path, bytes) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("create dir");
        std::fs::write(p, bytes).expect("write file");
    }
}

/// The verdict of a report, as ledger.json records it.
pub fn verdict(r: &VerifyReport, dir: &Path) -> J {
    if let Some(f) = &r.failure {
        return obj([(
            "failure",
            obj([("check", f.check.name().into()), ("seq", f.seq.into())]),
        )]);
    }
    let torn = r.torn_tail.as_ref().map(|t| {
        let rel = t.file.strip_prefix(dir).expect("inside the ledger");
        let file: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        obj([
            ("file", file.join("/").into()),
            ("offset", t.offset.into()),
            ("bytes", t.bytes.into()),
            ("frames", t.frames.into()),
        ])
    });
    obj([
        ("entries", r.entries.into()),
        ("head", hex(r.head.as_bytes())),
        ("root", hex(r.root.as_bytes())),
        ("redacted", num_list(&r.redacted)),
        ("redaction_pending", num_list(&r.redaction_pending)),
        ("unsigned_covered", r.unsigned_covered.into()),
        ("uncovered_tail", r.uncovered_tail.into()),
        ("checkpoints_verified", r.checkpoints_verified.into()),
        ("tree_missing_nodes", r.tree_missing_nodes.into()),
        ("torn_tail", torn.into()),
    ])
}

/// Verifies `files` with the library and gives the verdict.
pub fn library_verdict(files: &[(String, Vec<u8>)], anchor: &Value, options: &Value) -> J {
    let dir = tempfile::tempdir().expect("temp dir");
    write_ledger(dir.path(), files);
    let report = verify_opts(
        &provledger::storage::StdBackend,
        dir.path(),
        &trust_anchor(anchor),
        &verify_options(options),
    )
    .expect("verify runs");
    verdict(&report, dir.path())
}

/// What a passing verification reports beyond entries, head and root.
#[derive(Clone, Default)]
pub struct Extra {
    pub redacted: Vec<u64>,
    pub pending: Vec<u64>,
    pub unsigned_covered: u64,
    pub uncovered_tail: u64,
    pub checkpoints: u64,
    pub missing: u64,
    /// (segment, offset, bytes, frames) of the torn tail.
    pub torn: Option<(String, u64, u64, u64)>,
}

pub enum Want {
    Pass(Extra),
    Fail(&'static str, Option<u64>),
}

pub struct Ledger {
    name: &'static str,
    desc: String,
    r: Rendered,
    /// Whether the files are exactly what the builder placed (no bytes changed afterwards).
    consistent: bool,
}

pub struct Case {
    pub desc: String,
    pub ledger: &'static str,
    pub anchor: Anchor,
    pub allow_uncovered: bool,
    pub from: Option<Cp>,
    pub want: Want,
}

/// The ledgers and cases of ledger.json, as they are declared.
pub struct Gen {
    ledgers: Vec<Ledger>,
    pub cases: Vec<Case>,
}

impl Gen {
    pub fn ledger(&mut self, name: &'static str, desc: &str, r: Rendered, consistent: bool) {
        self.ledgers.push(Ledger {
            name,
            desc: desc.into(),
            r,
            consistent,
        });
    }

    pub fn case(&mut self, desc: &str, ledger: &'static str, anchor: Anchor, want: Want) {
        self.cases.push(Case {
            desc: desc.into(),
            ledger,
            anchor,
            allow_uncovered: false,
            from: None,
            want,
        });
    }

    /// A ledger with one case verifying it against the operator's key.
    pub fn fail(&mut self, name: &'static str, desc: &str, r: Rendered, check: &'static str, seq: Option<u64>) {
        self.ledger(name, desc, r, false);
        let at = seq.map_or("(no entry)".into(), |s| format!("at entry {s}"));
        self.case(
            &format!("{name}: verify fails, check '{check}' {at}"),
            name,
            Anchor::Key(public(&SEED_OPERATOR)),
            Want::Fail(check, seq),
        );
    }
}

pub fn gen_ledger() -> J {
    let mut g = Gen {
        ledgers: vec![],
        cases: vec![],
    };
    ledger_cases::passing(&mut g);
    ledger_cases::format_failures(&mut g);
    ledger_cases::chain_and_signature_failures(&mut g);
    ledger_cases::key_and_anchor_failures(&mut g);
    ledger_cases::derived_data_failures(&mut g);
    ledger_cases::checkpoint_failures(&mut g);
    ledger_cases::redaction_failures(&mut g);
    render(&g)
}

fn expected(w: &Want, r: &Rendered) -> J {
    match w {
        Want::Fail(check, seq) => obj([("failure", obj([("check", (*check).into()), ("seq", (*seq).into())]))]),
        Want::Pass(x) => {
            let n = r.entries.len();
            let torn = x.torn.as_ref().map(|(file, offset, bytes, frames)| {
                obj([
                    ("file", file.as_str().into()),
                    ("offset", (*offset).into()),
                    ("bytes", (*bytes).into()),
                    ("frames", (*frames).into()),
                ])
            });
            let leaves: Vec<[u8; 32]> = r.entries[..n].iter().map(|(e, _)| spec::leaf(e)).collect();
            obj([
                ("entries", (n as u64).into()),
                ("head", hex(&r.entries[n - 1].1)),
                ("root", hex(&spec::mth(&leaves))),
                ("redacted", num_list(&x.redacted)),
                ("redaction_pending", num_list(&x.pending)),
                ("unsigned_covered", x.unsigned_covered.into()),
                ("uncovered_tail", x.uncovered_tail.into()),
                ("checkpoints_verified", x.checkpoints.into()),
                ("tree_missing_nodes", x.missing.into()),
                ("torn_tail", torn.into()),
            ])
        }
    }
}

fn render(g: &Gen) -> J {
    let mut ledgers = Vec::new();
    for l in &g.ledgers {
        let files: Vec<J> =
            l.r.files
                .iter()
                .map(|(p, b)| obj([("path", p.as_str().into()), ("hex", hex(b))]))
                .collect();
        let mut o = obj([
            ("name", l.name.into()),
            ("desc", l.desc.as_str().into()),
            ("files", files.into()),
        ]);
        if l.consistent {
            let entries: Vec<J> =
                l.r.entries
                    .iter()
                    .map(|(e, c)| obj([("entry_hash", hex(e)), ("chain", hex(c))]))
                    .collect();
            o = o.with("entries", entries);
        }
        ledgers.push(o);
    }
    let mut cases = Vec::new();
    for c in &g.cases {
        let l = g.ledgers.iter().find(|l| l.name == c.ledger).expect("ledger defined");
        let options = obj([
            ("allow_uncovered_tail", c.allow_uncovered.into()),
            ("from_checkpoint", c.from.as_ref().map(checkpoint_json).into()),
        ]);
        let anchor = c.anchor.json();
        let files: Vec<(String, Vec<u8>)> = l.r.files.iter().map(|(p, b)| (p.clone(), b.clone())).collect();
        let round = |j: &J| serde_json::from_str::<Value>(&j.render()).expect("JSON");
        let got = library_verdict(&files, &round(&anchor), &round(&options));
        let want = expected(&c.want, &l.r);
        assert_eq!(
            round(&got),
            round(&want),
            "{}: the library's verdict (left) differs from the specification's (right)",
            c.desc
        );
        cases.push(obj([
            ("desc", c.desc.as_str().into()),
            ("ledger", c.ledger.into()),
            ("anchor", anchor),
            ("options", options),
            ("verdict", got),
        ]));
    }
    obj([
        (
            "desc",
            "Whole ledgers (docs/FORMAT.md §7, §9, §11) and the verdict of verifying them. 'ledgers': each a \
             directory given as every file ('path' relative to the ledger directory, 'hex' its bytes; there is \
             no lock file, which verification does not read); ledger id a0..af, the genesis record of \
             genesis.json, the operator (seed 01 x 32) as writer: every write ends with a frame sealed with the \
             operator's seal key (hashes.json). 'entries' (consistent ledgers only): the entry hash and chain \
             value of each complete frame. 'cases': a ledger verified against 'anchor' ('public_key' or \
             'genesis_hash') with 'options' ('allow_uncovered_tail', 'from_checkpoint' in the JSON form of \
             §15 or null). 'verdict': either 'failure' {check: the §9 check that failed first, seq: the entry \
             concerned or null}, or a passing report: entries verified, head (chain value of the last), \
             root (Merkle root), redacted and redaction_pending sequence numbers, unsigned_covered, \
             uncovered_tail, checkpoints_verified, tree_missing_nodes, torn_tail (file, offset, bytes, \
             complete frames) or null."
                .into(),
        ),
        ("ledgers", ledgers.into()),
        ("cases", cases.into()),
    ])
}
