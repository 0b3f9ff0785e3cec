//! Checkpoints, proofs and `verify-proof`, through the real binary.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{append, code, fixture, json, run, s, stderr, stdout, verify_json, Fixture, THREE};

/// Signs a checkpoint (`checkpoint --json`) and returns it.
fn checkpoint(f: &Fixture) -> Value {
    let out = run(&["checkpoint", s(&f.dir), "--key", s(&f.key), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)
}

/// Runs `prove` with `args` and returns the proof.
fn prove(f: &Fixture, args: &[&str]) -> Value {
    let mut all = vec!["prove", s(&f.dir), "--json"];
    all.extend_from_slice(args);
    let out = run(&all, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)
}

/// Writes `proof` next to the ledger and runs `verify-proof --json` on it with `trust`.
fn verify_proof(f: &Fixture, proof: &str, trust: &str) -> (i32, Value) {
    let file = proof_file(f);
    std::fs::write(&file, proof).unwrap();
    let out = run(&["verify-proof", s(&file), "--trust", trust, "--json"], "");
    (code(&out), json(&out))
}

fn proof_file(f: &Fixture) -> PathBuf {
    f.dir.parent().unwrap().join("proof.json")
}

/// The proof with one hex digit of `field` (or of its first element, for a list) changed.
fn flip_digit(proof: &Value, field: &str) -> String {
    let mut p = proof.clone();
    let v = match &mut p[field] {
        Value::Array(a) => &mut a[0],
        v => v,
    };
    let hex = v.as_str().unwrap();
    let first = if hex.starts_with('0') { "1" } else { "0" };
    *v = Value::String(format!("{first}{}", &hex[1..]));
    p.to_string()
}

fn other_key(f: &Fixture) -> String {
    let other = f.dir.parent().unwrap().join("other.key");
    let k = json(&run(&["keygen", "--out", s(&other), "--json"], ""));
    k["public_key"].as_str().unwrap().to_owned()
}

#[test]
fn inclusion_proof_round_trip_and_every_way_to_break_it() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let cp = checkpoint(&f);
    assert_eq!(cp["tree_size"], 4);
    let proof = prove(&f, &["--seq", "2"]);
    assert_eq!(
        (proof["leaf_index"].clone(), proof["tree_size"].clone()),
        (2.into(), 4.into())
    );
    assert_eq!(
        proof["checkpoint"], cp,
        "the proof carries the checkpoint it is against"
    );
    let (c, v) = verify_proof(&f, &proof.to_string(), &f.public);
    assert_eq!(
        (c, v["ok"].clone(), v["kind"].clone()),
        (0, true.into(), "inclusion".into()),
        "{v}"
    );
    assert!(v["error"].is_null());
    let (c, v) = verify_proof(&f, &flip_digit(&proof, "path"), &f.public);
    assert_eq!((c, v["ok"].clone()), (1, false.into()), "a changed path element: {v}");
    assert!(v["error"].as_str().unwrap().starts_with("invalid proof"), "{v}");
    assert_eq!(
        verify_proof(&f, &proof.to_string(), &other_key(&f)).0,
        1,
        "wrong trusted key"
    );
    for broken in malformed_variants(&proof) {
        let (c, v) = verify_proof(&f, &broken, &f.public);
        assert_eq!(c, 2, "{broken} -> {v}");
        assert_eq!(v["ok"], false);
    }
    // Text output names the proof and the verdict.
    std::fs::write(proof_file(&f), proof.to_string()).unwrap();
    let out = run(&["verify-proof", s(&proof_file(&f)), "--trust", &f.public], "");
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("entry 2 is in the ledger of size 4") && stdout(&out).contains("VALID"));
}

/// Malformed inputs: not JSON, no kind, an unknown field, a missing field, a wrong type, and a
/// path longer than any tree of 2^64 entries needs.
fn malformed_variants(proof: &Value) -> Vec<String> {
    let without = |field: &str| {
        let mut p = proof.clone();
        p.as_object_mut().unwrap().remove(field);
        p.to_string()
    };
    let with = |field: &str, v: Value| {
        let mut p = proof.clone();
        p[field] = v;
        p.to_string()
    };
    let long_path = Value::Array(vec![proof["path"][0].clone(); 70]);
    vec![
        "not json".into(),
        "[1,2]".into(),
        without("leaf_index"),
        without("entry_hash"),
        without("version"),
        without("ledger_id"),
        with("extra", Value::Bool(true)),
        with("tree_size", Value::String("4".into())),
        with("path", long_path),
        with("version", 1.into()),
        with("ledger_id", Value::String("not a ledger id".into())),
    ]
}

#[test]
fn consistency_proof_round_trip_and_a_tampered_old_root() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    checkpoint(&f);
    assert_eq!(code(&append(&f, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")), 0);
    assert_eq!(checkpoint(&f)["tree_size"], 7);
    let proof = prove(&f, &["--from", "4"]);
    assert_eq!(
        (proof["old_size"].clone(), proof["new_size"].clone()),
        (4.into(), 7.into())
    );
    assert_eq!(prove(&f, &["--from", "4", "--to", "7"]), proof);
    let (c, v) = verify_proof(&f, &proof.to_string(), &f.public);
    assert_eq!((c, v["kind"].clone()), (0, "consistency".into()), "{v}");
    let (c, v) = verify_proof(&f, &flip_digit(&proof, "old_root"), &f.public);
    assert_eq!(c, 1, "{v}");
    // An inclusion proof against the older checkpoint still works.
    let old = prove(&f, &["--seq", "3", "--size", "4"]);
    assert_eq!(verify_proof(&f, &old.to_string(), &f.public).0, 0);
}

#[test]
fn prove_without_a_checkpoint_or_past_it_exits_2() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let out = run(&["prove", s(&f.dir), "--seq", "1"], "");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no checkpoint yet"), "{}", stderr(&out));
    checkpoint(&f);
    let out = run(&["prove", s(&f.dir), "--seq", "4"], "");
    assert_eq!(code(&out), 2, "entry 4 is not covered by the checkpoint of size 4");
    // Exactly one of --seq and --from.
    assert_eq!(code(&run(&["prove", s(&f.dir)], "")), 2);
    assert_eq!(code(&run(&["prove", s(&f.dir), "--seq", "1", "--from", "4"], "")), 2);
}

#[test]
fn checkpoint_note_is_a_c2sp_signed_note() {
    let f = fixture();
    let ledger_id = verify_json(&f.dir, &f.public).1["ledger_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run(&["checkpoint", s(&f.dir), "--key", s(&f.key), "--note"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let note = stdout(&out);
    assert!(note.starts_with(&format!("provledger/{ledger_id}\n1\n")), "{note}");
    assert!(note.contains("\n\n\u{2014} "), "{note}");
    assert!(note.lines().any(|l| l.starts_with("\u{2014} provledger/")), "{note}");
    let out = run(&["checkpoint", s(&f.dir), "--key", s(&f.key)], "");
    assert!(
        stdout(&out).contains(&format!("verifier: provledger/{ledger_id}+")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn cutting_the_ledger_after_a_checkpoint_fails_verify_naming_the_checkpoint() {
    let f = fixture();
    // One write per entry, so that the cut below falls on a seal (as an attacker would cut).
    let out = run(&["append", s(&f.dir), "--key", s(&f.key), "--batch", "1"], THREE);
    assert_eq!(code(&out), 0);
    checkpoint(&f);
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!((c, report["checkpoints_verified"].clone()), (0, 1.into()), "{report}");
    let entry = json(&run(&["show", s(&f.dir), "--json", "--seq", "2"], ""));
    let seg = Path::new(entry["file"].as_str().unwrap());
    let file = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    file.set_len(entry["offset"].as_u64().unwrap()).unwrap();
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!(c, 1, "{report}");
    assert_eq!(report["failure"]["check"], "checkpoint", "{report}");
    assert_eq!(report["failure"]["seq"], 2, "{report}");
    assert!(
        report["failure"]["message"].as_str().unwrap().contains("checkpoint #0"),
        "{report}"
    );
    assert_eq!(report["entries"], 2);
}

#[test]
fn verify_from_a_checkpoint_reads_only_newer_entries() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let held = f.dir.parent().unwrap().join("held.json");
    std::fs::write(&held, checkpoint(&f).to_string()).unwrap();
    assert_eq!(code(&append(&f, "{\"a\":1}\n")), 0);
    let cp2 = checkpoint(&f);
    let out = run(
        &[
            "verify",
            s(&f.dir),
            "--trust",
            &f.public,
            "--from-checkpoint",
            s(&held),
            "--json",
        ],
        "",
    );
    let report = json(&out);
    assert_eq!(code(&out), 0, "{report}");
    assert_eq!(report["verified_from"], 4);
    assert_eq!(report["entries"], 5);
    // The held checkpoint is also checkpoint #0 of the log: both log checkpoints are checked.
    assert_eq!(report["checkpoints_verified"], 2);
    assert_eq!(report["latest_checkpoint"], cp2);
    assert_eq!(report["root"], cp2["root"]);
    for field in ["unsigned_covered", "uncovered_tail", "tree_missing_nodes"] {
        assert_eq!(report[field], 0, "{field}");
    }
    let human = run(
        &["verify", s(&f.dir), "--trust", &f.public, "--from-checkpoint", s(&held)],
        "",
    );
    assert!(
        stdout(&human).contains("verified: 5 entries (0 to 4), every one read and hashed; the signatures of 0 to 3 taken on your checkpoint's word"),
        "{}",
        stdout(&human)
    );
    std::fs::write(&held, "{}").unwrap();
    let bad = run(
        &["verify", s(&f.dir), "--trust", &f.public, "--from-checkpoint", s(&held)],
        "",
    );
    assert_eq!(code(&bad), 2, "not a checkpoint");
}

/// Proofs name their ledger (docs/FORMAT.md §15): `version` 2 and `ledger_id` in the JSON, the
/// ledger in `verify-proof`'s verdict, and with `--ledger ID` a proof of another ledger — even
/// one signed by the same key, like a staging ledger's — is invalid (exit 1).
#[test]
fn proofs_name_their_ledger_and_verify_proof_ledger_pins_it() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    checkpoint(&f);
    let id = verify_json(&f.dir, &f.public).1["ledger_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = prove(&f, &["--seq", "1"]);
    assert_eq!(
        (proof["version"].clone(), proof["ledger_id"].clone()),
        (2.into(), id.as_str().into())
    );
    assert_eq!(proof["checkpoint"]["ledger_id"], id.as_str());
    // A second ledger ("staging") operated with the same key.
    let staging = f.dir.parent().unwrap().join("staging");
    let out = run(&["init", s(&staging), "--key", s(&f.key), "--name", "staging"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&run(&["append", s(&staging), "--key", s(&f.key)], THREE)), 0);
    assert_eq!(code(&run(&["checkpoint", s(&staging), "--key", s(&f.key)], "")), 0);
    let out = run(&["prove", s(&staging), "--json", "--seq", "1"], "");
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(theirs["ledger_id"], proof["ledger_id"]);
    let file = proof_file(&f);
    let check = |p: &Value, ledger: Option<&str>| {
        std::fs::write(&file, p.to_string()).unwrap();
        let mut args = vec!["verify-proof", s(&file), "--trust", &f.public, "--json"];
        if let Some(l) = ledger {
            args.extend(["--ledger", l]);
        }
        let out = run(&args, "");
        (code(&out), json(&out))
    };
    let (c, v) = check(&proof, Some(&id));
    assert_eq!((c, v["ledger_id"].clone()), (0, id.as_str().into()), "{v}");
    // Without --ledger, the staging proof holds (same key): it is a true statement about
    // staging, and the verdict says which ledger it is about.
    let (c, v) = check(&theirs, None);
    assert_eq!((c, v["ledger_id"].clone()), (0, theirs["ledger_id"].clone()), "{v}");
    let (c, v) = check(&theirs, Some(&id));
    assert_eq!(c, 1, "a proof of another ledger: {v}");
    assert!(v["error"].as_str().unwrap().starts_with("invalid proof"), "{v}");
    // Its ledger id rewritten to ours, the checkpoint inside no longer matches (and its
    // signature covers the origin, which names the ledger).
    let mut forged = theirs.clone();
    forged["ledger_id"] = id.as_str().into();
    assert_eq!(check(&forged, Some(&id)).0, 1);
    forged["checkpoint"]["ledger_id"] = id.as_str().into();
    assert_eq!(check(&forged, Some(&id)).0, 1);
    // A proof without its checkpoint is malformed (FORMAT §15 step 1) whatever ledger is
    // asked for: step 1 comes before the ledger id (step 2), as the independent verifier reads it.
    let mut bare = theirs.clone();
    bare["checkpoint"] = Value::Null;
    assert_eq!(check(&bare, Some(&id)).0, 2);
    assert_eq!(check(&bare, None).0, 2);
    // Human output names the ledger.
    std::fs::write(&file, proof.to_string()).unwrap();
    let out = run(&["verify-proof", s(&file), "--trust", &f.public, "--ledger", &id], "");
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains(&format!("ledger: {id}")), "{}", stdout(&out));
    // A malformed --ledger is a usage error.
    assert_eq!(
        code(&run(
            &["verify-proof", s(&file), "--trust", &f.public, "--ledger", "xyz"],
            ""
        )),
        2
    );
}

/// A consistency proof from a size no checkpoint pins (RFC 9162 allows any two sizes): the
/// auditor who verified the ledger at 5 entries (and kept `entries` and `root`) checks that the
/// newest checkpoint extends exactly that state, without re-verifying. Without the trusted
/// older state the proof cannot be checked (exit 2); with a wrong root or size it is invalid.
#[test]
fn consistency_proof_from_any_size_against_the_state_an_audit_kept() {
    let f = fixture();
    assert_eq!(code(&append(&f, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n")), 0);
    let (c, audit) = verify_json(&f.dir, &f.public);
    assert_eq!((c, audit["entries"].clone()), (0, 5.into()), "{audit}");
    let root = audit["root"].as_str().unwrap().to_owned();
    assert_eq!(code(&append(&f, "{\"a\":5}\n{\"a\":6}\n")), 0);
    assert_eq!(checkpoint(&f)["tree_size"], 7);
    let proof = prove(&f, &["--from", "5"]);
    assert_eq!(proof["old_checkpoint"], Value::Null, "{proof}");
    assert_eq!(proof["old_root"], root.as_str());
    let file = proof_file(&f);
    std::fs::write(&file, proof.to_string()).unwrap();
    let check = |size: &str, root: &str| {
        let mut args = vec!["verify-proof", s(&file), "--trust", &f.public, "--json"];
        if !size.is_empty() {
            args.extend(["--old-size", size, "--old-root", root]);
        }
        let out = run(&args, "");
        (code(&out), json(&out))
    };
    let (c, v) = check("5", &root);
    assert_eq!((c, v["ok"].clone()), (0, true.into()), "{v}");
    let (c, v) = check("", "");
    assert_eq!(c, 2, "no trusted older state: {v}");
    let wrong = format!("{}{}", if root.starts_with('0') { "1" } else { "0" }, &root[1..]);
    assert_eq!(check("5", &wrong).0, 1);
    assert_eq!(check("4", &root).0, 1);
    // The proof's own older root changed to match a forged state: the path no longer checks.
    let forged = flip_digit(&proof, "old_root");
    std::fs::write(&file, &forged).unwrap();
    let forged_root = serde_json::from_str::<Value>(&forged).unwrap()["old_root"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(check("5", &forged_root).0, 1);
    // Out of range: from 0, or past the newest checkpoint.
    assert_eq!(code(&run(&["prove", s(&f.dir), "--from", "0"], "")), 2);
    assert_eq!(code(&run(&["prove", s(&f.dir), "--from", "8"], "")), 2);
}
