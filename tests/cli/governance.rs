//! Governance through the real binary: records appended as JSON lines with co-signatures,
//! `enroll`/`revoke`, `redact`, and `verify --policy`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{code, fixture, json, run, s, stderr, stdout, Fixture};

const Z: &str = "00000000000000000000000000000000000000000000000000000000000000aa";

/// A new key file next to the ledger; returns its path and public key.
fn keygen(f: &Fixture, name: &str) -> (PathBuf, String) {
    let file = f.dir.parent().unwrap().join(format!("{name}.key"));
    let out = run(&["keygen", "--out", s(&file), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (file, json(&out)["public_key"].as_str().unwrap().to_owned())
}

/// Enrolls a new key for `principal` with `--type ty`, the given roles, in production.
fn enroll(f: &Fixture, name: &str, ty: &str, roles: &[&str]) -> (PathBuf, String) {
    let (file, public) = keygen(f, name);
    let mut args = vec!["enroll", s(&f.dir), "--key", s(&f.key), "--json"];
    args.extend([
        "--public-key",
        &public,
        "--principal",
        name,
        "--type",
        ty,
        "--env",
        "production",
    ]);
    for r in roles {
        args.extend(["--role", r]);
    }
    let out = run(&args, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let receipt = json(&out);
    assert_eq!(receipt["key_id"].as_str().unwrap().len(), 64);
    (file, receipt["key_id"].as_str().unwrap().to_owned())
}

/// Appends one line signed by the operator and `cosign`; returns (seq, entry hash).
fn add(f: &Fixture, line: &str, cosign: &[&Path]) -> (u64, String) {
    let mut args = vec!["append", s(&f.dir), "--key", s(&f.key)];
    for c in cosign {
        args.extend(["--cosign", s(c)]);
    }
    let out = run(&args, &format!("{line}\n"));
    assert_eq!(code(&out), 0, "{line}: {}", stderr(&out));
    let r = json(&out);
    (r["seq"].as_u64().unwrap(), r["entry_hash"].as_str().unwrap().to_owned())
}

fn policy_verify(f: &Fixture) -> (i32, Value) {
    let out = run(&["verify", s(&f.dir), "--trust", &f.public, "--policy", "--json"], "");
    (code(&out), json(&out))
}

fn ai_output() -> String {
    format!(
        r#"{{"kind":"ai_output","system":{{"provider_name":"openai","request_model":"gpt-4o"}},"task":"draft","input_digest":"{Z}","output_digest":"{Z}"}}"#
    )
}

/// A production permission-change proposal citing the AI output at `ai` (seq, hash), if any.
fn proposal(ai: Option<(u64, &str)>) -> String {
    let cited = ai.map_or(String::new(), |(seq, hash)| {
        format!(r#"{{"seq":{seq},"hash":"{hash}"}}"#)
    });
    format!(
        r#"{{"kind":"proposal","action":"grant refund-issuer","action_type":"permission.grant","boundary":"human_approval_required","autonomy":"assistance","environment":"production","impact":{{"permission_change":true}},"evidence":[{{"name":"ticket","uri":"https://t.example/1","digest":"{Z}"}}],"ai_outputs":[{cited}]}}"#
    )
}

fn approval(p: &str) -> String {
    format!(r#"{{"kind":"approval","proposal":"{p}","scope":"as proposed","expires_at":null}}"#)
}

#[test]
fn a_compliant_flow_appended_as_json_lines_passes_verify_policy() {
    let f = fixture();
    let (agent, _) = enroll(&f, "agent", "software_agent", &["ai_agent"]);
    let (requester, _) = enroll(&f, "rita", "person", &["requester"]);
    let (reviewer, _) = enroll(&f, "alice", "person", &["reviewer"]);
    let (approver, _) = enroll(&f, "bob", "person", &["approver"]);
    let (ai_seq, ai) = add(&f, &ai_output(), &[&agent]);
    let (_, p) = add(&f, &proposal(Some((ai_seq, &ai))), &[&requester]);
    let review = format!(r#"{{"kind":"review","subject":"{ai}","verdict":"endorse","digests":["{Z}"]}}"#);
    add(&f, &review, &[&reviewer]);
    let (a_seq, a) = add(&f, &approval(&p), &[&approver]);
    let exec = format!(r#"{{"kind":"execution","proposal":"{p}","approvals":["{a}"],"action_taken":"granted"}}"#);
    add(&f, &exec, &[]);
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["policy_checked"], true);
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(report["violations_dropped"], 0);
    let human = stdout(&run(&["verify", s(&f.dir), "--trust", &f.public, "--policy"], ""));
    assert!(human.contains("no violations"), "{human}");
    // `show --json` decodes the record.
    let shown = json(&run(&["show", s(&f.dir), "--seq", &a_seq.to_string(), "--json"], ""));
    assert_eq!(shown["record"]["kind"], "approval");
    assert_eq!(shown["record"]["proposal"], p.as_str());
    assert_eq!(shown["refs"], serde_json::json!([p]));
    // The writer signs the position; the approver co-signs the statement.
    assert!(shown["position_signer"].is_string(), "{shown}");
    assert_eq!(shown["cosigners"].as_array().unwrap().len(), 1, "{shown}");
}

#[test]
fn a_self_approval_exits_1_naming_the_rule_and_entries() {
    let f = fixture();
    let (carol, _) = enroll(&f, "carol", "person", &["requester", "approver"]);
    let (ai_seq, ai) = add(&f, &ai_output(), &[]);
    let (p_seq, p) = add(&f, &proposal(Some((ai_seq, &ai))), &[&carol]);
    let (a_seq, _) = add(&f, &approval(&p), &[&carol]);
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 1, "{report}");
    assert_eq!(report["ok"], true, "integrity holds: {report}");
    let v = &report["violations"];
    assert_eq!(v.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(v[0]["rule"], "approval.self_approval");
    assert_eq!(
        v[0]["seqs"],
        serde_json::json!([{"seq": p_seq, "role": "proposal"}, {"seq": a_seq, "role": "approval"}])
    );
    // Judged under the genesis policy: entry 0 and the digest of its policy.
    let shown = json(&run(&["policy", "show", s(&f.dir), "--json"], ""));
    assert_eq!(
        v[0]["policy"],
        serde_json::json!({"seq": 0, "digest": shown["in_force"]["digest"]})
    );
    assert_eq!(report["policy_in_force"], v[0]["policy"]);
    let human = run(&["verify", s(&f.dir), "--trust", &f.public, "--policy"], "");
    assert_eq!(code(&human), 1);
    let text = stdout(&human);
    assert!(
        text.contains(&format!("approval.self_approval  proposal {p_seq}, approval {a_seq}  ")),
        "{text}"
    );
    assert!(text.contains("1 violation"), "{text}");
    // Without --policy only integrity is judged.
    assert_eq!(code(&run(&["verify", s(&f.dir), "--trust", &f.public], "")), 0);
}

#[test]
fn separation_of_duties_survives_an_empty_policy() {
    let f = fixture();
    let policy = f.dir.parent().unwrap().join("policy.json");
    std::fs::write(&policy, r#"{"min_approvals":1,"rules":[]}"#).unwrap();
    let dir = f.dir.parent().unwrap().join("lax");
    let out = run(&["init", s(&dir), "--key", s(&f.key), "--policy", s(&policy)], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lax = Fixture {
        _tmp: tempfile::tempdir().unwrap(),
        dir,
        key: f.key.clone(),
        public: f.public.clone(),
    };
    let (carol, _) = enroll(&lax, "carol", "person", &["requester", "approver"]);
    let (_, p) = add(&lax, &proposal(None), &[&carol]);
    add(&lax, &approval(&p), &[&carol]);
    let (c, report) = policy_verify(&lax);
    assert_eq!(c, 1, "{report}");
    assert_eq!(report["violations"][0]["rule"], "approval.self_approval");
    std::fs::write(&policy, r#"{"rules":"all"}"#).unwrap();
    let out = run(
        &[
            "init",
            s(&f.dir.with_extension("x")),
            "--key",
            s(&f.key),
            "--policy",
            s(&policy),
        ],
        "",
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not a policy"), "{}", stderr(&out));
}

#[test]
fn a_revoked_keys_later_signature_is_refused() {
    let f = fixture();
    let (reviewer, key_id) = enroll(&f, "alice", "person", &["reviewer"]);
    let (_, ai) = add(&f, &ai_output(), &[]);
    let review = format!(r#"{{"kind":"review","subject":"{ai}","verdict":"concerns"}}"#);
    add(&f, &review, &[&reviewer]);
    let out = run(
        &[
            "revoke",
            s(&f.dir),
            "--key",
            s(&f.key),
            "--key-id",
            &key_id,
            "--reason",
            "left",
            "--json",
        ],
        "",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let revoked_at = json(&out)["seq"].as_u64().unwrap();
    assert_eq!(policy_verify(&f).0, 0, "signatures before the revocation stay valid");
    // A later signature by the revoked key is refused before it reaches the ledger (the
    // verifier's own check of such a signature is tested in tests/governance.rs).
    let args = ["append", s(&f.dir), "--key", s(&f.key), "--cosign", s(&reviewer)];
    let out = run(&args, &format!("{review}\n"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("revoked at entry {revoked_at}")),
        "{}",
        stderr(&out)
    );
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 0, "nothing was appended: {report}");
    assert_eq!(report["entries"], revoked_at + 1);
}

#[test]
fn redact_destroys_the_bytes_and_the_ledger_still_verifies() {
    let f = fixture();
    let email = "jane.doe@example.com";
    let (requester, _) = enroll(&f, "rita", "person", &["requester"]);
    let (seq, _) = add(&f, &format!(r#"{{"event":"ticket","customer":"{email}"}}"#), &[]);
    let (p_seq, p) = add(&f, &proposal(None), &[&requester]);
    let out = run(
        &[
            "redact",
            s(&f.dir),
            "--key",
            s(&f.key),
            "--seq",
            &seq.to_string(),
            "--reason",
            "GDPR 17",
            "--json",
        ],
        "",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["redacted"], seq);
    assert!(
        files_with(&f.dir, email.as_bytes()).is_empty(),
        "the address survives somewhere"
    );
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["redacted"], serde_json::json!([seq]));
    let human = stdout(&run(&["verify", s(&f.dir), "--trust", &f.public], ""));
    assert!(human.contains(&format!("redacted: entries {seq}")), "{human}");
    let shown = json(&run(&["show", s(&f.dir), "--seq", &seq.to_string(), "--json"], ""));
    assert_eq!(shown["payload_state"], "erased");
    // Records decisions rest on cannot be erased; a redaction line cannot bypass the library.
    let p_seq = p_seq.to_string();
    let out = run(
        &[
            "redact",
            s(&f.dir),
            "--key",
            s(&f.key),
            "--seq",
            &p_seq,
            "--reason",
            "x",
        ],
        "",
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("may not be erased"), "{}", stderr(&out));
    let line = format!(r#"{{"kind":"redaction","target_seq":1,"target":"{p}","reason":"x"}}"#);
    let out = run(&["append", s(&f.dir), "--key", s(&f.key)], &line);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("provledger redact"), "{}", stderr(&out));
}

#[test]
fn bad_governance_lines_exit_2_naming_the_line() {
    let f = fixture();
    for (bad, why) in [
        (r#"{"kind":"frobnicate"}"#, "unknown kind"),
        (r#"{"kind":"approval","scope":"x"}"#, "invalid approval record"),
        (
            &format!(r#"{{"kind":"approval","proposal":"{Z}","expires":1}}"#),
            "unknown field `expires`",
        ),
    ] {
        let out = run(&["append", s(&f.dir), "--key", s(&f.key)], &format!("{{}}\n{bad}\n"));
        assert_eq!(code(&out), 2, "{bad}");
        let err = stderr(&out);
        assert!(err.contains("line 2") && err.contains(why), "{err}");
    }
}

#[test]
fn policy_show_prints_the_policy_in_force_and_which_updates_took_effect() {
    let f = fixture();
    let (requester, _) = enroll(&f, "rita", "person", &["requester"]);
    let (approver, _) = enroll(&f, "bob", "person", &["approver"]);
    let classes = r#"[{"name":"large refunds","actions":["refund"],"threshold":{"attribute":"amount_eur","at_least":1000},"require":{"boundary":"human_approval_required","min_approvals":2}}]"#;
    let update =
        format!(r#"{{"kind":"policy_update","min_approvals":1,"rules":["approval.required"],"classes":{classes}}}"#);
    // Ungated: judged, reported, not in force.
    let (ungated, _) = add(&f, &update, &[]);
    let change = format!(
        r#"{{"kind":"proposal","action":"refund policy","action_type":"policy.change","boundary":"human_approval_required","autonomy":"automation","environment":"production","evidence":[{{"name":"memo","uri":"https://m.example/1","digest":"{Z}"}}]}}"#
    );
    let (_, p) = add(&f, &change, &[&requester]);
    add(&f, &approval(&p), &[&approver]);
    let gated = update.replace(
        r#""kind":"policy_update","#,
        &format!(r#""kind":"policy_update","refs":["{p}"],"#),
    );
    let (in_force, _) = add(&f, &gated, &[]);
    let out = run(&["policy", "show", s(&f.dir), "--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["in_force"]["seq"], in_force);
    assert_eq!(v["policy"]["classes"][0]["name"], "large refunds");
    assert_eq!(v["policy"]["classes"][0]["require"]["min_approvals"], 2);
    assert_eq!(
        v["updates"],
        serde_json::json!([
            {"policy": {"seq": ungated, "digest": v["in_force"]["digest"]}, "took_effect": false},
            {"policy": {"seq": in_force, "digest": v["in_force"]["digest"]}, "took_effect": true},
        ])
    );
    // Before the gated update, the genesis policy judged.
    let before = json(&run(
        &["policy", "show", s(&f.dir), "--at", &in_force.to_string(), "--json"],
        "",
    ));
    assert_eq!(before["in_force"]["seq"], 0);
    assert_eq!(before["policy"]["rules"].as_array().unwrap().len(), RULE_COUNT);
    let text = stdout(&run(&["policy", "show", s(&f.dir)], ""));
    assert!(
        text.contains(&format!("set by the policy update at entry {in_force}")),
        "{text}"
    );
    assert!(
        text.contains("'large refunds': actions refund with amount_eur >= 1000"),
        "{text}"
    );
    assert!(
        text.contains(&format!("entry {ungated} (digest")) && text.contains("NOT gated"),
        "{text}"
    );
    assert!(
        text.contains("always:        approval.self_approval, approval.by_ai, governance.ungated_change"),
        "{text}"
    );
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 1);
    assert_eq!(report["violations"][0]["rule"], "governance.ungated_change");
    assert_eq!(report["policy_in_force"]["seq"], in_force);
}

/// Rules of the default policy.
const RULE_COUNT: usize = 23;

/// Every file under `dir` whose bytes contain `needle`.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            found.extend(files_with(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

/// Called by the demo test: the output names the planted violations and their entries, the
/// ledger it leaves reports exactly those and the redaction, and every "try it yourself"
/// command works as printed.
pub fn demo_names_the_planted_violation(root: &Path, text: &str) {
    assert!(text.contains("PLANTED VIOLATIONS"), "{text}");
    for line in [
        "boundary.below_class  proposal 14  proposal 14 declares ai_may_assist but class 'refund limits' requires at least human_approval_required",
        "review.required  proposal 14, approval 15  ",
        "approval.required  proposal 14, execution 16  ",
        "class 'permission grants' applies: a person must review the evidence before anyone approves",
        "the only violations are the planted ones: boundary.below_class, review.required, approval.required",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    let public = text
        .lines()
        .filter_map(|l| l.split_once(" verify-proof "))
        .find_map(|(_, l)| l.split("--trust ").nth(1))
        .unwrap();
    let ledger = root.join("ledger");
    let out = run(&["verify", s(&ledger), "--trust", public, "--policy", "--json"], "");
    assert_eq!(code(&out), 1);
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["redacted"], serde_json::json!([5]));
    let rules: Vec<&str> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["boundary.below_class", "review.required", "approval.required"],
        "{report}"
    );
    assert!(files_with(&ledger, b"jane.doe@example.com").is_empty());
    // The closing commands run as printed, by a shell.
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Try it yourself"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(commands.len(), 6, "{text}");
    for c in commands {
        let (cmd, expect) = match c.split_once("   # exits 1") {
            Some((cmd, _)) => (cmd.trim(), 1),
            None => (c.trim(), 0),
        };
        let out = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Operator hand-over: a second operator key, enrolled later, may extend the ledger after the
/// first one wrote last only when told what to trust (`--trust`); without it, it refuses
/// (exit 2, naming the remedy) and writes nothing.
#[test]
fn a_second_operator_appends_after_naming_the_trust_anchor() {
    let f = fixture();
    let (op2, _) = enroll(&f, "svc2", "service", &["operator"]);
    let line = "{\"event\":\"by op2\"}\n";
    let refused = run(&["append", s(&f.dir), "--key", s(&op2)], line);
    assert_eq!(code(&refused), 2, "{}", stdout(&refused));
    assert!(stderr(&refused).contains("trust anchor"), "{}", stderr(&refused));
    let out = run(&["append", s(&f.dir), "--key", s(&op2), "--trust", &f.public], line);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["seq"], 2);
    let (c, report) = policy_verify(&f);
    assert_eq!(c, 0, "{report}");
    assert_eq!(report["entries"], 3);
}
