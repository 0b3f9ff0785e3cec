//! `witness keygen`, `witness cosign` and `verify --witness`, through the real binary.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{append, code, fixture, json, run, s, stderr, stdout, Fixture, THREE};

/// `checkpoint --note` into `<name>.note` beside the ledger; returns the file.
fn note(f: &Fixture, dir: &Path, name: &str) -> PathBuf {
    let out = run(&["checkpoint", s(dir), "--key", s(&f.key), "--note"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let file = f.dir.parent().unwrap().join(format!("{name}.note"));
    std::fs::write(&file, stdout(&out)).unwrap();
    file
}

/// `prove --from M --json` into a file.
fn proof(f: &Fixture, dir: &Path, from: u64, name: &str) -> PathBuf {
    let out = run(&["prove", s(dir), "--from", &from.to_string(), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let file = f.dir.parent().unwrap().join(format!("{name}.json"));
    std::fs::write(&file, stdout(&out)).unwrap();
    file
}

/// A witness: key file, name, verifier key, state directory.
struct W {
    key: PathBuf,
    name: String,
    vkey: String,
    state: PathBuf,
}

fn witness(f: &Fixture, n: u8) -> W {
    let base = f.dir.parent().unwrap();
    let key = base.join(format!("w{n}.key"));
    let name = format!("witness.example/w{n}");
    let out = run(&["witness", "keygen", "--name", &name, "--out", s(&key), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["name"], name.as_str());
    let vkey = j["vkey"].as_str().unwrap().to_owned();
    assert!(vkey.starts_with(&format!("{name}+")));
    W {
        key,
        name,
        vkey,
        state: base.join(format!("w{n}.state")),
    }
}

fn cosign(f: &Fixture, w: &W, note: &Path, proof: Option<&Path>, json_out: bool) -> std::process::Output {
    let mut args = vec![
        "witness",
        "cosign",
        "--state",
        s(&w.state),
        "--key",
        s(&w.key),
        "--name",
        &w.name,
        "--operator",
        &f.public,
        "--note",
        s(note),
    ];
    if let Some(p) = proof {
        args.extend(["--proof", s(p)]);
    }
    if json_out {
        args.push("--json");
    }
    run(&args, "")
}

/// Cosigns and returns the cosignature line.
fn cosigned_line(f: &Fixture, w: &W, note: &Path, proof: Option<&Path>) -> String {
    let out = cosign(f, w, note, proof, false);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let line = stdout(&out);
    assert!(line.starts_with(&format!("\u{2014} {} ", w.name)) && line.ends_with('\n'));
    assert_eq!(line.lines().count(), 1);
    line
}

fn verify_witnessed(f: &Fixture, witnesses: &[&W], k: u32, note: &Path) -> (i32, Value) {
    let k = k.to_string();
    let mut args = vec![
        "verify",
        s(&f.dir),
        "--trust",
        &f.public,
        "--json",
        "--min-witnesses",
        &k,
    ];
    for w in witnesses {
        args.extend(["--witness", &w.vkey]);
    }
    args.extend(["--note", s(note)]);
    let out = run(&args, "");
    assert!(code(&out) != 2, "{}", stderr(&out));
    (code(&out), json(&out))
}

#[test]
fn cosign_a_growing_ledger_and_verify_k_of_n() {
    let f = fixture();
    let (w1, w2, w3) = (witness(&f, 1), witness(&f, 2), witness(&f, 3));
    let first = note(&f, &f.dir, "first");
    for w in [&w1, &w2] {
        cosigned_line(&f, w, &first, None);
    }
    assert_eq!(code(&append(&f, THREE)), 0);
    let newer = note(&f, &f.dir, "newer");
    let p = proof(&f, &f.dir, 1, "p1");
    let l1 = cosigned_line(&f, &w1, &newer, Some(&p));
    let l2 = cosigned_line(&f, &w2, &newer, Some(&p));
    let text = std::fs::read_to_string(&newer).unwrap();
    let full = f.dir.parent().unwrap().join("cosigned.note");
    std::fs::write(&full, format!("{text}{l1}{l2}")).unwrap();

    let (c, r) = verify_witnessed(&f, &[&w1, &w2, &w3], 2, &full);
    assert_eq!(c, 0, "{r}");
    assert_eq!(r["witnesses"]["ok"], true);
    let names: Vec<&str> = r["witnesses"]["cosigners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["witness.example/w1", "witness.example/w2"]);
    // Three required, two present: integrity passes, the verdict fails (exit 1).
    let (c, r) = verify_witnessed(&f, &[&w1, &w2, &w3], 3, &full);
    assert_eq!(
        (c, &r["ok"], &r["witnesses"]["ok"]),
        (1, &Value::Bool(true), &Value::Bool(false))
    );
    // A forged line by a trusted witness (one base64 character of its signature changed).
    let mut forged = l2.clone();
    let i = forged.len() - 6;
    let swap = if &forged[i..=i] == "A" { "B" } else { "A" };
    forged.replace_range(i..=i, swap);
    std::fs::write(&full, format!("{text}{l1}{forged}")).unwrap();
    let (c, r) = verify_witnessed(&f, &[&w1, &w2], 1, &full);
    assert_eq!(c, 1, "{r}");
    assert!(r["witnesses"]["error"].as_str().unwrap().contains("does not verify"));
    // The first checkpoint's cosignatures do not count for the newest checkpoint.
    let (c, _) = verify_witnessed(&f, &[&w1], 1, &first);
    assert_eq!(c, 1);
    // More witnesses required than given is a usage error.
    let out = run(
        &[
            "verify",
            s(&f.dir),
            "--trust",
            &f.public,
            "--witness",
            &w1.vkey,
            "--min-witnesses",
            "2",
            "--note",
            s(&full),
        ],
        "",
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_fork_is_refused_with_both_notes_and_exit_1() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let w = witness(&f, 1);
    let base = note(&f, &f.dir, "base");
    cosigned_line(&f, &w, &base, None);
    let fork = f.dir.parent().unwrap().join("fork");
    copy_dir(&f.dir, &fork);
    assert_eq!(code(&append(&f, "{\"side\":\"a\"}\n")), 0);
    let out = run(&["append", s(&fork), "--key", s(&f.key)], "{\"side\":\"b\"}\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let a = note(&f, &f.dir, "a");
    let b = note(&f, &fork, "b");
    cosigned_line(&f, &w, &a, Some(&proof(&f, &f.dir, 4, "pa")));

    let out = cosign(&f, &w, &b, Some(&proof(&f, &fork, 4, "pb")), true);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(
        (&r["cosigned"], &r["refusal"]),
        (&Value::Bool(false), &Value::from("split_view"))
    );
    assert_eq!(r["http_status"], 409);
    let e = &r["evidence"];
    let note_of = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(e["cosigned_note"], note_of(&a).as_str());
    assert_eq!(e["offered_note"], note_of(&b).as_str());
    assert_eq!(
        (e["cosigned_size"].as_u64(), e["offered_size"].as_u64()),
        (Some(5), Some(5))
    );
    // The human report prints both notes.
    let out = cosign(&f, &w, &b, Some(&proof(&f, &fork, 4, "pb")), false);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.starts_with("REFUSED: split view"), "{text}");
    assert!(text.contains(&note_of(&a)) && text.contains(&note_of(&b)), "{text}");

    // Going back to the base checkpoint is a rollback; a stale proof a conflict; both exit 1.
    let r = json(&cosign(&f, &w, &base, None, true));
    assert_eq!(
        (&r["refusal"], &r["stored_size"]),
        (&Value::from("rollback"), &Value::from(5))
    );
    assert_eq!(code(&append(&f, "{\"side\":\"a2\"}\n")), 0);
    let a6 = note(&f, &f.dir, "a6");
    let out = cosign(&f, &w, &a6, Some(&proof(&f, &f.dir, 4, "stale")), true);
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["refusal"], "conflict");
    assert_eq!(json(&out)["stored_size"], 5);
    // A proof of another checkpoint than the note's is a usage error; the right one works.
    let out = cosign(&f, &w, &a6, Some(&proof(&f, &fork, 4, "wrong")), false);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    cosigned_line(&f, &w, &a6, Some(&proof(&f, &f.dir, 5, "p5")));
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let f = fixture();
    let w = witness(&f, 1);
    let n = note(&f, &f.dir, "n");
    let other = f.dir.parent().unwrap().join("other.key");
    let k = json(&run(&["keygen", "--out", s(&other), "--json"], ""));
    let out = run(
        &[
            "witness",
            "cosign",
            "--state",
            s(&w.state),
            "--key",
            s(&w.key),
            "--name",
            &w.name,
            "--operator",
            k["public_key"].as_str().unwrap(),
            "--note",
            s(&n),
            "--json",
        ],
        "",
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["refusal"], "not_signed");
    assert_eq!(json(&out)["http_status"], 403);
    // A witness name with a space cannot be a C2SP key name.
    let out = run(
        &[
            "witness",
            "keygen",
            "--name",
            "bad name",
            "--out",
            s(&f.dir.parent().unwrap().join("x.key")),
        ],
        "",
    );
    assert_eq!(code(&out), 2);
}
