//! Runs the real `provledger` binary: exit codes, JSON shapes, and tamper detection.
//! Checkpoints and proofs are in `proofs.rs`; governance records, keys, erasure and the
//! policy audit in `governance.rs`; witnesses in `witness.rs`.

mod governance;
mod proofs;
mod witness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs the binary with `args` and `stdin`.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A ledger made by keygen + init, with its key file and public key.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: PathBuf,
    public: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("operator.key");
    let out = run(&["keygen", "--out", s(&key), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let k = json(&out);
    assert_eq!(k["file"], s(&key));
    assert_eq!(k["key_id"].as_str().unwrap().len(), 64);
    let public = k["public_key"].as_str().unwrap().to_owned();
    let dir = tmp.path().join("ledger");
    let out = run(&["init", s(&dir), "--key", s(&key), "--name", "t", "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["public_key"], public.as_str());
    Fixture {
        _tmp: tmp,
        dir,
        key,
        public,
    }
}

fn append(f: &Fixture, lines: &str) -> Output {
    run(&["append", s(&f.dir), "--key", s(&f.key)], lines)
}

/// Three entries on four lines (one blank), with `"kind":"application"` and a number wider
/// than u64.
const THREE: &str = concat!(
    "{\"event\":\"ai_output\",\"gen_ai.request.model\":\"m\"}\n",
    "\n",
    "{\"kind\":\"application\", \"n\" : 12345678901234567890123}\n",
    "{\"event\":\"exec\"}\n",
);

fn verify_json(dir: &Path, trust: &str) -> (i32, Value) {
    let out = run(&["verify", s(dir), "--trust", trust, "--json"], "");
    (code(&out), json(&out))
}

#[test]
fn keygen_init_append_verify_round_trip() {
    let f = fixture();
    let out = append(&f, THREE);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let receipts: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = receipts.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3], "blank line skipped, one receipt per entry");
    assert!(receipts.iter().all(|r| r["durable"] == true));
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"], 4);
    assert!(report["failure"].is_null() && report["torn_tail"].is_null());
    assert!(report["trusted"].as_str().unwrap().contains(&f.public));
    assert_eq!(report["ledger_id"].as_str().unwrap().len(), 32);
    // The head is the chain value after the last entry: L_n = H_chain(L_{n-1} ‖ E_n) over the
    // entry hashes `show` and the receipts print (docs/FORMAT.md §4.4).
    let mut head = provledger::Digest::ZERO;
    for seq in 0..4 {
        let e = json(&run(&["show", s(&f.dir), "--seq", &seq.to_string(), "--json"], ""));
        if seq > 0 {
            assert_eq!(e["entry_hash"], receipts[seq - 1]["entry_hash"], "entry {seq}");
        }
        let hash: provledger::Digest = e["entry_hash"].as_str().unwrap().parse().unwrap();
        head = provledger::hash::chain_value(&head, &hash);
    }
    assert_eq!(report["head"], head.to_hex());
    // The payload is the line's JSON minus whitespace: every digit of the big number survives.
    let out = run(&["show", s(&f.dir), "--seq", "2", "--json"], "");
    let e = json(&out);
    assert_eq!(
        e["payload_text"],
        r#"{"kind":"application","n":12345678901234567890123}"#
    );
}

#[test]
fn durability_none_still_leaves_entries_durable_and_verifiable() {
    let f = fixture();
    let out = run(
        &[
            "append",
            s(&f.dir),
            "--key",
            s(&f.key),
            "--durability",
            "none",
            "--batch",
            "2",
        ],
        THREE,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("all durable"), "{}", stderr(&out));
    assert_eq!(verify_json(&f.dir, &f.public).1["entries"], 4);
}

#[test]
fn verify_with_another_key_fails_the_trust_anchor_check() {
    let f = fixture();
    let other = f.dir.parent().unwrap().join("other.key");
    let k = json(&run(&["keygen", "--out", s(&other), "--json"], ""));
    let (c, report) = verify_json(&f.dir, k["public_key"].as_str().unwrap());
    assert_eq!(c, 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"]["check"], "trust_anchor");
    assert_eq!(report["failure"]["seq"], 0);
}

#[test]
fn verify_by_genesis_hash_and_a_wrong_one() {
    let f = fixture();
    let genesis = json(&run(&["show", s(&f.dir), "--seq", "0", "--json"], ""))["entry_hash"].clone();
    let genesis = genesis.as_str().unwrap();
    let out = run(&["verify", s(&f.dir), "--trust-genesis", genesis], "");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("genesis entry hash"), "says what it trusted");
    let out = run(&["verify", s(&f.dir), "--trust-genesis", &"0".repeat(64)], "");
    assert_eq!(code(&out), 1);
    // Both anchors at once, or neither, is a usage error.
    let both = run(
        &["verify", s(&f.dir), "--trust", &f.public, "--trust-genesis", genesis],
        "",
    );
    assert_eq!(code(&both), 2);
    assert_eq!(code(&run(&["verify", s(&f.dir)], "")), 2);
}

#[test]
fn verify_of_a_non_ledger_path_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let pk = "11".repeat(32);
    for dir in [tmp.path().to_path_buf(), tmp.path().join("missing")] {
        let out = run(&["verify", s(&dir), "--trust", &pk], "");
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains("not a valid ledger"), "{}", stderr(&out));
    }
}

#[test]
fn append_with_an_invalid_line_exits_2_naming_it_and_appends_nothing_of_its_batch() {
    let f = fixture();
    for (bad, why) in [
        ("{\"a\":1,}", "invalid JSON"),
        ("[1,2]", "expected a JSON object"),
        (
            &format!("{{\"a\":{}{}}}", "[".repeat(300), "]".repeat(300)),
            "recursion limit",
        ),
    ] {
        let out = append(&f, &format!("{{\"ok\":1}}\n\n{bad}\n{{\"ok\":2}}\n"));
        assert_eq!(code(&out), 2);
        let err = stderr(&out);
        assert!(err.contains("line 3") && err.contains(why), "{err}");
        assert_eq!(stdout(&out), "", "the good line 1 shares the bad line's batch");
    }
    assert_eq!(verify_json(&f.dir, &f.public).1["entries"], 1);
}

/// Flips a bit in the middle of entry `seq`'s frame (it must be the last frame); returns the
/// frame's offset.
fn flip_in_last_frame(f: &Fixture, seq: &str) -> u64 {
    let last = json(&run(&["show", s(&f.dir), "--seq", seq, "--json"], ""));
    let seg = f.dir.join("segments/00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let offset = last["offset"].as_u64().unwrap();
    let start = usize::try_from(offset).unwrap();
    let at = start + (bytes.len() - start) / 2;
    bytes[at] ^= 0x04;
    std::fs::write(&seg, &bytes).unwrap();
    offset
}

#[test]
fn a_flipped_bit_in_the_last_frame_fails_verify_with_a_seq() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let offset = flip_in_last_frame(&f, "3");
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!(c, 1, "{report}");
    assert_eq!(report["ok"], false);
    let failure = &report["failure"];
    assert_eq!(
        (failure["seq"].clone(), failure["check"].clone()),
        (3.into(), "format".into()),
        "{report}"
    );
    // The three lines were appended as one write, sealed at its last frame: the entries before
    // that write verify; the write's first two frames, whose seal is damaged, are not counted.
    assert_eq!(report["entries"], 1, "{report}");
    assert_eq!(failure["offset"], offset, "names the damaged frame");
    assert!(failure["file"].as_str().unwrap().ends_with("00000000000000000000.seg"));
    let human = run(&["verify", s(&f.dir), "--trust", &f.public], "");
    assert_eq!(code(&human), 1);
    assert!(stdout(&human).contains("FAILED"), "{}", stdout(&human));
}

#[test]
fn a_torn_tail_is_reported_not_failed() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    let last = json(&run(&["show", s(&f.dir), "--seq", "3", "--json"], ""));
    let seg = f.dir.join("segments/00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let len = bytes.len() as u64;
    // The start of a copy of the last frame: a valid header whose frame runs past the end.
    let start = usize::try_from(last["offset"].as_u64().unwrap()).unwrap();
    let partial = bytes[start..start + 40].to_vec();
    bytes.extend_from_slice(&partial);
    std::fs::write(&seg, &bytes).unwrap();
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["entries"], 4);
    assert_eq!(report["torn_tail"]["offset"], len);
    assert_eq!(report["torn_tail"]["bytes"], 40);
    let human = stdout(&run(&["verify", s(&f.dir), "--trust", &f.public], ""));
    assert!(
        human.contains(&format!(
            "incomplete final record at {} offset {len} (40 bytes)",
            s(&seg)
        )),
        "{human}"
    );
}

#[test]
fn keygen_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k");
    std::fs::write(&key, "precious").unwrap();
    let out = run(&["keygen", "--out", s(&key)], "");
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "precious");
}

#[cfg(unix)]
#[test]
fn init_refuses_a_group_readable_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k");
    assert_eq!(code(&run(&["keygen", "--out", s(&key)], "")), 0);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = tmp.path().join("ledger");
    let out = run(&["init", s(&dir), "--key", s(&key)], "");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("permissions"), "{}", stderr(&out));
    assert!(!dir.join("segments").exists(), "no ledger was created");
}

#[test]
fn demo_builds_and_verifies_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    let out = run(&["demo", s(&root)], "");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("integrity verification passed"), "{text}");
    assert_eq!(
        text.matches("proof VALID").count(),
        2,
        "inclusion and consistency: {text}"
    );
    assert!(text.contains("checkpoints verified: 2"), "{text}");
    // The proof files it leaves behind verify offline with the operator's public key.
    let proof_lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(" verify-proof ").map(|x| x.1))
        .filter(|l| l.contains(" --trust "))
        .collect();
    assert_eq!(proof_lines.len(), 2, "{text}");
    for line in proof_lines {
        let (file, public) = line.split_once(" --trust ").unwrap();
        let out = run(&["verify-proof", file, "--trust", public], "");
        assert_eq!(code(&out), 0, "{file}: {}", stdout(&out));
    }
    assert!(
        root.join("proofs/inclusion-9.json").is_file(),
        "the approval is entry 9"
    );
    assert!(text.contains("gen_ai.request.model=gpt-4o"), "{text}");
    assert!(root.join("keys/operator.key").is_file());
    // The approval binds the proposal and is co-signed by the approver.
    let approval = json(&run(&["show", s(&root.join("ledger")), "--seq", "9", "--json"], ""));
    assert_eq!(approval["kind"], "approval");
    assert_eq!(approval["refs"].as_array().unwrap().len(), 1, "{approval}");
    assert_eq!(approval["record"]["proposal"], approval["refs"][0]);
    // The operator signs its place; the approver co-signs the statement.
    let operator = json(&run(&["show", s(&root.join("ledger")), "--seq", "0", "--json"], ""));
    assert_eq!(approval["position_signer"], operator["position_signer"], "{approval}");
    assert_eq!(approval["cosigners"].as_array().unwrap().len(), 1, "{approval}");
    assert_ne!(approval["cosigners"][0], approval["position_signer"]);
    governance::demo_names_the_planted_violation(&root, &text);
    // A second run into the same directory refuses to clobber it.
    assert_eq!(code(&run(&["demo", s(&root)], "")), 2);
}

#[test]
fn show_seq_returns_that_entry() {
    let f = fixture();
    let receipts = stdout(&append(&f, THREE));
    let first: Value = serde_json::from_str(receipts.lines().next().unwrap()).unwrap();
    let out = run(&["show", s(&f.dir), "--json", "--seq", "1"], "");
    assert_eq!(code(&out), 0);
    let e = json(&out);
    assert_eq!(e["seq"], 1);
    assert_eq!(e["kind"], "application");
    assert_eq!(e["content_type"], "application/json");
    assert_eq!(e["entry_hash"], first["entry_hash"]);
    assert_eq!(e["payload_text"], r#"{"event":"ai_output","gen_ai.request.model":"m"}"#);
    assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
    let missing = run(&["show", s(&f.dir), "--seq", "9"], "");
    assert_eq!(code(&missing), 2);
}

#[test]
fn help_and_version_exit_0_usage_errors_exit_2() {
    assert_eq!(code(&run(&["--help"], "")), 0);
    assert_eq!(code(&run(&["verify", "--help"], "")), 0);
    assert_eq!(code(&run(&["--version"], "")), 0);
    assert_eq!(code(&run(&["frobnicate"], "")), 2);
    assert_eq!(code(&run(&["verify", ".", "--trust", "not-hex"], "")), 2);
}

#[test]
fn repair_rebuilds_a_deleted_index() {
    let f = fixture();
    assert_eq!(code(&append(&f, THREE)), 0);
    std::fs::remove_file(f.dir.join("segments/00000000000000000000.idx")).unwrap();
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!((c, report["failure"]["check"].as_str()), (1, Some("index")), "{report}");
    let out = run(&["repair", s(&f.dir), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["indexes"], 1);
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["entries"], 4);
}

/// Exit code 1 means one thing: a verification ran and failed. Every other error — a damaged
/// ledger the command cannot work on, a locked or missing one, bad input — exits 2.
#[test]
fn only_failed_verifications_exit_1() {
    let f = fixture();
    assert_eq!(
        code(&run(&["append", s(&f.dir), "--key", s(&f.key), "--batch", "1"], THREE)),
        0
    );
    assert_eq!(code(&run(&["checkpoint", s(&f.dir), "--key", s(&f.key)], "")), 0);
    let seg = f.dir.join("segments/00000000000000000000.seg");
    let clean = std::fs::read(&seg).unwrap();
    // Damage in the middle of entry 2 (a sealed write before the last one).
    let e2 = json(&run(&["show", s(&f.dir), "--seq", "2", "--json"], ""));
    let mut bytes = clean.clone();
    bytes[usize::try_from(e2["offset"].as_u64().unwrap()).unwrap() + 20] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let (c, report) = verify_json(&f.dir, &f.public);
    assert_eq!((c, report["failure"]["seq"].clone()), (1, 2.into()), "{report}");
    let out = run(&["verify", s(&f.dir), "--trust", &f.public, "--policy"], "");
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    for (what, args, input) in [
        ("append", vec!["append", s(&f.dir), "--key", s(&f.key)], "{\"a\":1}\n"),
        ("checkpoint", vec!["checkpoint", s(&f.dir), "--key", s(&f.key)], ""),
        ("show", vec!["show", s(&f.dir), "--seq", "2"], ""),
        ("prove", vec!["prove", s(&f.dir), "--seq", "2"], ""),
        ("repair", vec!["repair", s(&f.dir)], ""),
    ] {
        let out = run(&args, input);
        assert_eq!(
            code(&out),
            2,
            "{what} on a damaged ledger: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stderr(&out).contains("damaged"), "{what}: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "nothing repaired the damage by cutting"
    );
    std::fs::write(&seg, &clean).unwrap();
    assert_eq!(verify_json(&f.dir, &f.public).0, 0);
    // Usage, I/O and input errors.
    let missing = f.dir.join("nope");
    for (what, args) in [
        ("no such ledger", vec!["show", s(&missing)]),
        ("append to no ledger", vec!["append", s(&missing), "--key", s(&f.key)]),
        ("bad key file", vec!["append", s(&f.dir), "--key", s(&seg)]),
        ("no anchor", vec!["verify", s(&f.dir)]),
        ("bad anchor", vec!["verify", s(&f.dir), "--trust", "00"]),
    ] {
        assert_eq!(code(&run(&args, "")), 2, "{what}");
    }
}

/// `verify --state FILE`: the first run verifies everything and saves the state; the next reads
/// only what was added after it (JSON `resumed_from`), and saves the newer state; a damaged
/// state file is a usage error naming it (exit 2) and is left alone.
#[test]
fn verify_with_a_saved_state_reads_only_what_is_new() {
    let f = fixture();
    let state = f.dir.parent().unwrap().join("audit.state");
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", s(&f.dir), "--trust", &f.public, "--state", s(&state)];
        args.extend_from_slice(extra);
        run(&args, "")
    };
    assert_eq!(code(&append(&f, THREE)), 0);
    assert_eq!(code(&run(&["checkpoint", s(&f.dir), "--key", s(&f.key)], "")), 0);
    let out = verify(&["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let j = json(&out);
    assert_eq!((j["entries"].as_u64(), j["resumed_from"].as_u64()), (Some(4), Some(0)));
    assert_eq!(j["state_saved"], true);
    assert!(state.exists());
    assert_eq!(code(&append(&f, THREE)), 0);
    assert_eq!(code(&run(&["checkpoint", s(&f.dir), "--key", s(&f.key)], "")), 0);
    let out = verify(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("4 to 6 read and verified now, 0 to 3 by an earlier run"),
        "{text}"
    );
    assert!(text.contains("state:    saved to"), "{text}");
    let j = json(&verify(&["--json"]));
    assert_eq!((j["entries"].as_u64(), j["resumed_from"].as_u64()), (Some(7), Some(7)));
    // With --from-checkpoint: refused as a usage error.
    let cp = f.dir.parent().unwrap().join("cp.json");
    std::fs::write(&cp, "{}").unwrap();
    assert_eq!(code(&verify(&["--from-checkpoint", s(&cp)])), 2);
    // A damaged state file: exit 2 naming it, and it is left as it was.
    let mut bytes = std::fs::read(&state).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&state, &bytes).unwrap();
    let out = verify(&[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("audit.state"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&state).unwrap(), bytes);
}
