//! Publishing to object storage and verifying from it, against a real S3 API: an in-process
//! `s3s-fs` server on loopback (HTTP, SigV4 authentication, conditional puts), started by each
//! test; the bucket is a directory the test can also tamper with directly.

#![cfg(feature = "object-store")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{anchor, big_draft, draft, key, std_opts};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use provledger::remote::{publish, verify_remote, PublishOptions, Remote, RemoteError};
use provledger::verify::Check;
use provledger::{verify, Durability, Ledger, SigningKey, VerifyOptions, VerifyReport};

const BUCKET: &str = "ledgers";
const ACCESS: &str = "provledger-test";
const SECRET: &str = "provledger-test-secret";

/// A server started by [`S3::serve`].
struct Served {
    endpoint: String,
    rt: Option<tokio::runtime::Runtime>,
}

/// An S3 server on 127.0.0.1, serving the directory `root` (buckets are its subdirectories).
struct S3 {
    endpoint: String,
    root: tempfile::TempDir,
    _rt: Option<tokio::runtime::Runtime>,
}

impl S3 {
    fn start() -> S3 {
        let root = tempfile::tempdir().expect("tempdir");
        let served = Self::serve(root.path().to_path_buf());
        S3 {
            endpoint: served.endpoint,
            root,
            _rt: served.rt,
        }
    }

    /// The server in a child process; the returned `S3` only names it.
    fn start_child() -> (S3, std::process::Child) {
        use std::io::BufRead as _;
        let root = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--ignored",
                "--exact",
                "s3_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PROVLEDGER_S3_ROOT", root.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the server process");
        let out = child.stdout.take().expect("stdout");
        let endpoint = std::io::BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            // libtest may print "test s3_server_process ... " on the same line first.
            .find_map(|l| l.split("ENDPOINT ").nth(1).map(|e| e.trim().to_string()))
            .expect("the server printed its endpoint");
        (
            S3 {
                endpoint,
                root,
                _rt: None,
            },
            child,
        )
    }

    /// Serves `root` (creating the bucket) on a runtime of its own.
    fn serve(root: PathBuf) -> Served {
        std::fs::create_dir_all(root.join(BUCKET)).expect("bucket");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs");
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS, SECRET));
        let service = b.build();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        rt.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let svc = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Served {
            endpoint: format!("http://{addr}"),
            rt: Some(rt),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", ACCESS.into()),
            ("aws_secret_access_key", SECRET.into()),
            ("aws_region", "us-east-1".into()),
        ]
    }

    fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    fn remote(&self, prefix: &str) -> Remote {
        Remote::from_url_opts(&self.url(prefix), self.env()).expect("remote")
    }

    /// The file on the server's disk holding object `rel` under `prefix`.
    fn object_file(&self, prefix: &str, rel: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(prefix).join(rel)
    }

    /// Every piece of published file `rel`, in offset order.
    fn pieces(&self, prefix: &str, rel: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.object_file(prefix, rel))
            .map(|d| d.map(|e| e.expect("entry").path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn seg(first: u64) -> String {
    format!("segments/{first:020}.seg")
}

fn verify_dir(dir: &Path, k: &SigningKey) -> VerifyReport {
    verify(dir, &anchor(k)).expect("verify runs")
}

fn verify_url(remote: &Remote, k: &SigningKey) -> VerifyReport {
    verify_remote(remote, &anchor(k), &VerifyOptions::default()).expect("verify from the bucket runs")
}

/// The parts of a report that must be equal whether a ledger is read from its directory or
/// from the bucket (file names differ).
type Verdict = (bool, u64, String, Option<(Option<u64>, Check)>, Vec<u64>, u64);

fn verdict(r: &VerifyReport) -> Verdict {
    (
        r.is_ok(),
        r.entries,
        r.root.to_hex(),
        r.failure.as_ref().map(|f| (f.seq, f.check)),
        r.redacted.clone(),
        r.checkpoints_verified,
    )
}

/// A ledger of `n` signed entries (rotating segments when `segment` is small), with a
/// checkpoint every `every` entries and one at the end.
fn ledger(dir: &Path, k: &SigningKey, n: u64, segment: u64, every: u64) -> Ledger {
    let l = Ledger::create(dir, k.clone(), "published", std_opts(Durability::Buffered, segment)).expect("create");
    for i in 1..=n {
        if i % 50 == 0 {
            l.append(big_draft(i, 200 << 10)).expect("append");
        } else {
            l.append(draft(i)).expect("append");
        }
        if i % every == 0 {
            l.checkpoint().expect("checkpoint");
        }
    }
    l.checkpoint().expect("checkpoint");
    l
}

#[test]
fn publish_then_verify_from_the_bucket_equals_verify_of_the_directory() {
    let s3 = S3::start();
    let k = key(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 160, 1 << 20, 40);
    let remote = s3.remote("a");
    let r = publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    assert_eq!(r.published_size, l.len());
    assert!(r.pieces_uploaded >= 5 && r.latest_updated, "{r:?}");
    let local = verify_dir(&dir, &k);
    let remote_report = verify_url(&remote, &k);
    assert!(local.is_ok() && remote_report.is_ok(), "{:?}", remote_report.failure);
    assert_eq!(verdict(&local), verdict(&remote_report));
    assert!(s3.pieces("a", &seg(0)).len() == 1, "one piece per file in one run");

    // Idempotent: nothing new, nothing uploaded.
    let again = publish(&dir, &remote, &PublishOptions::default()).expect("publish again");
    assert_eq!(
        (again.pieces_uploaded, again.bytes_uploaded, again.latest_updated),
        (0, 0, false)
    );

    // Incremental: only what is new, in new pieces after the old ones.
    for i in 1000..1030 {
        l.append(draft(i)).expect("append");
    }
    // Entries after the newest checkpoint are not published.
    let before = publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    assert_eq!(before.bytes_uploaded, 0);
    l.checkpoint().expect("checkpoint");
    let more = publish(&dir, &remote, &PublishOptions::default()).expect("publish more");
    assert_eq!(more.previous_size, Some(r.published_size));
    assert_eq!(more.published_size, l.len());
    assert!(
        more.bytes_uploaded > 0 && more.bytes_uploaded < r.bytes_uploaded,
        "{more:?}"
    );
    let (local, from_bucket) = (verify_dir(&dir, &k), verify_url(&remote, &k));
    assert!(from_bucket.is_ok(), "{:?}", from_bucket.failure);
    assert_eq!(verdict(&local), verdict(&from_bucket));
    assert_eq!(from_bucket.entries, l.len());

    // show and prove read the bucket as they read the directory.
    let reader = provledger::LedgerReader::open_with(Arc::new(remote.clone()), Path::new("")).expect("reader");
    let local_reader = provledger::LedgerReader::open(&dir).expect("reader");
    assert_eq!(
        reader.get(77).expect("get").entry,
        local_reader.get(77).expect("get").entry
    );
    let p = reader.inclusion_proof(77, None).expect("proof");
    p.verify(&k.verifying_key()).expect("the proof from the bucket checks");
    assert_eq!(p, local_reader.inclusion_proof(77, None).expect("proof"));
    l.close().expect("close");
}

#[test]
fn tampered_ledgers_verify_from_the_bucket_as_from_the_directory() {
    let s3 = S3::start();
    let k = key(2);
    // Each case tampers with a copy of one ledger's directory, publishes it, and compares.
    type Tamper = fn(&Path);
    let cases: Vec<(&str, Tamper)> = vec![
        ("none", |_| {}),
        ("payload byte", |d| {
            let p = d.join("segments").join("00000000000000000000.seg");
            let len = std::fs::metadata(&p).expect("stat").len();
            let mut b = std::fs::read(&p).expect("read");
            let at = usize::try_from(len / 2).expect("len");
            b[at] ^= 0x40;
            std::fs::write(&p, b).expect("write");
        }),
        ("tree node", |d| {
            let p = d.join("tree").join("level-00.hashes");
            let mut b = std::fs::read(&p).expect("read");
            b[32 + 5 * 32] ^= 1;
            std::fs::write(&p, b).expect("write");
        }),
        ("checkpoint record", |d| {
            let p = d.join("checkpoints.log");
            let mut b = std::fs::read(&p).expect("read");
            b[32 + 20] ^= 1;
            std::fs::write(&p, b).expect("write");
        }),
    ];
    for (i, (what, tamper)) in cases.into_iter().enumerate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("l");
        ledger(&dir, &k, 60, 1 << 20, 25).close().expect("close");
        tamper(&dir);
        let local = verify_dir(&dir, &k);
        let prefix = format!("t{i}");
        let remote = s3.remote(&prefix);
        match publish(&dir, &remote, &PublishOptions::default()) {
            Ok(_) => {
                let from_bucket = verify_url(&remote, &k);
                assert_eq!(verdict(&local), verdict(&from_bucket), "{what}");
                assert_eq!(local.is_ok(), what == "none", "{what}: {:?}", local.failure);
            }
            // A checkpoint log too damaged to read cannot be published (and fails verify).
            Err(e) => {
                assert!(!local.is_ok(), "{what}: publish refused a good ledger: {e}");
                assert!(matches!(e, RemoteError::Ledger(_)), "{what}: {e}");
            }
        }
    }
}

/// Single-byte changes and truncations swept over every file of a ledger (segments, indexes,
/// tree levels, checkpoint log): whatever `verify` says of the directory, it says of the
/// bucket the directory was published to — or the publish is refused and `verify` of the
/// directory fails too.
#[test]
fn a_sweep_of_tampered_copies_verifies_the_same_from_the_bucket() {
    let s3 = S3::start();
    let k = key(12);
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base");
    ledger(&base, &k, 120, 1 << 20, 30).close().expect("close");
    let mut files = Vec::new();
    for sub in ["segments", "tree"] {
        for e in std::fs::read_dir(base.join(sub)).expect("read_dir") {
            files.push(PathBuf::from(sub).join(e.expect("entry").file_name()));
        }
    }
    files.push(PathBuf::from("checkpoints.log"));
    files.sort();
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut rand = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (mut same, mut refused, mut failed) = (0, 0, 0);
    for case in 0..30u64 {
        let rel = &files[usize::try_from(rand(files.len() as u64)).expect("index")];
        let dir = tmp.path().join(format!("c{case}"));
        copy_dir(&base, &dir);
        let path = dir.join(rel);
        let mut b = std::fs::read(&path).expect("read");
        let what = if case % 5 == 4 && b.len() > 100 {
            let cut = usize::try_from(rand(b.len() as u64 - 64)).expect("cut") + 64;
            b.truncate(cut);
            format!("{} truncated to {cut}", rel.display())
        } else {
            let at = usize::try_from(rand(b.len() as u64)).expect("at");
            b[at] ^= 1 << rand(8);
            format!("{} byte {at}", rel.display())
        };
        std::fs::write(&path, b).expect("write");
        let local = verify_dir(&dir, &k);
        failed += u32::from(!local.is_ok());
        let remote = s3.remote(&format!("sweep{case}"));
        match publish(&dir, &remote, &PublishOptions::default()) {
            Ok(r) => {
                let from_bucket = verify_url(&remote, &k);
                if r.published_size == local.entries || !local.is_ok() {
                    // The whole ledger was published (or it fails within what was).
                    let within = local
                        .failure
                        .as_ref()
                        .is_none_or(|f| f.seq.is_none_or(|s| s < r.published_size));
                    if r.published_size == local.entries || within {
                        assert_eq!(verdict(&local), verdict(&from_bucket), "{what}");
                    }
                } else {
                    // A shortened checkpoint log: the bucket holds the state at its newest
                    // checkpoint, a prefix that verifies.
                    assert!(from_bucket.is_ok(), "{what}: {:?}", from_bucket.failure);
                    assert_eq!(from_bucket.entries, r.published_size, "{what}");
                }
                same += 1;
            }
            Err(e) => {
                assert!(!local.is_ok(), "{what}: publish refused a ledger that verifies: {e}");
                refused += 1;
            }
        }
    }
    println!("{same} published with equal verdicts, {refused} refused; {failed} of 30 copies fail verify");
    assert!(same >= 15 && failed >= 10, "the sweep exercised both outcomes");
}

/// The demo ledger (governance records, a redaction, planted policy violations): the policy
/// verdict from the bucket equals the directory's.
#[test]
fn the_demo_ledger_audits_the_same_from_the_bucket() {
    let s3 = S3::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(["demo", tmp.path().to_str().expect("utf-8")])
        .output()
        .expect("demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .split("--trust ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the demo prints its trust key");
    let vk: provledger::VerifyingKey = hex.parse().expect("key");
    let anchor = provledger::TrustAnchor::PublicKey(vk);
    let dir = tmp.path().join("ledger");
    // The demo's last entries come after its last checkpoint; a publish takes the state at a
    // checkpoint, so the operator signs one first (as a service would before publishing).
    let out = Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(["checkpoint", dir.to_str().expect("utf-8"), "--key"])
        .arg(tmp.path().join("keys").join("operator.key"))
        .output()
        .expect("checkpoint");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let remote = s3.remote("demo");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let opts = VerifyOptions::default().policy(true);
    let local = provledger::verify_opts(&provledger::storage::StdBackend, &dir, &anchor, &opts).expect("verify");
    let from_bucket = verify_remote(&remote, &anchor, &opts).expect("verify from the bucket");
    assert!(local.is_ok() && from_bucket.is_ok());
    assert!(!local.violations.is_empty(), "the demo plants violations");
    assert_eq!(local.violations, from_bucket.violations);
    assert_eq!(verdict(&local), verdict(&from_bucket));
}

#[test]
fn a_tampered_deleted_or_rolled_back_object_is_caught_and_named() {
    let s3 = S3::start();
    let k = key(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 120, 1 << 20, 1000);
    let remote = s3.remote("x");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish 1");
    for i in 0..40 {
        l.append(draft(5000 + i)).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish 2");
    assert!(verify_url(&remote, &k).is_ok());
    let pieces = s3.pieces("x", &seg(0));
    assert!(pieces.len() >= 2, "two publishes, two pieces: {pieces:?}");

    // A byte of a piece changed: the entry is named, in the bucket's file.
    let backup = std::fs::read(&pieces[0]).expect("read");
    let mut b = backup.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0x20;
    std::fs::write(&pieces[0], &b).expect("write");
    let r = verify_url(&remote, &k);
    let f = r.failure.expect("tampering caught");
    assert!(
        f.file
            .as_ref()
            .is_some_and(|p| p.to_string_lossy() == format!("{}/{}", s3.url("x"), seg(0))),
        "{f:?}"
    );
    std::fs::write(&pieces[0], &backup).expect("restore");
    assert!(verify_url(&remote, &k).is_ok());

    // A piece deleted in the middle: the bucket is not a ledger's files; the object is named.
    let moved = pieces[0].with_extension("moved");
    std::fs::rename(&pieces[0], &moved).expect("hide");
    let r = verify_url(&remote, &k);
    let f = r.failure.expect("a missing piece is caught");
    assert!(
        f.file.as_ref().is_some_and(|p| p.to_string_lossy().contains(&seg(0))),
        "{f:?}"
    );
    // Publishing onto it is refused too, naming the object.
    match publish(&dir, &remote, &PublishOptions::default()) {
        Err(RemoteError::Conflict { object, .. }) => assert!(object.contains(&seg(0)), "{object}"),
        other => panic!("publish onto a broken bucket: {other:?}"),
    }
    std::fs::rename(&moved, &pieces[0]).expect("restore");

    // Rolled back: the second publish's pieces removed (an older, self-consistent state); the
    // published latest checkpoint still names the newer state.
    let mut removed = Vec::new();
    for rel in [
        "checkpoints.log",
        &seg(0),
        "segments/00000000000000000000.idx",
        "tree/level-00.hashes",
    ] {
        let ps = s3.pieces("x", rel);
        if ps.len() > 1 {
            let last = ps.last().expect("piece").clone();
            let to = last.with_extension("rolled");
            std::fs::rename(&last, &to).expect("roll back");
            removed.push((last, to));
        }
    }
    assert!(removed.len() >= 3, "{removed:?}");
    // Every file rolled back consistently: the latest note, which the log no longer holds,
    // is what catches it, and it is named.
    let r = verify_url(&remote, &k);
    let f = r.failure.expect("a rollback is caught");
    assert_eq!(f.check, Check::Checkpoint, "{f:?}");
    assert_eq!(
        f.file.as_deref().map(|p| p.to_string_lossy().into_owned()),
        Some(format!("{}/checkpoint", s3.url("x")))
    );
    assert!(verify_dir(&dir, &k).is_ok());
    for (from, to) in &removed {
        std::fs::rename(to, from).expect("restore");
    }
    assert!(verify_url(&remote, &k).is_ok());
    l.close().expect("close");
}

/// Pieces uploaded beyond the `checkpoint` note (a publish under way, or killed before it
/// moved the note) are not part of the state a reader sees: unsigned entries there, which no
/// published checkpoint covers yet, are no failure; once the note moves, they are verified.
#[test]
fn pieces_beyond_the_published_checkpoint_are_not_read() {
    let s3 = S3::start();
    let k = key(15);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 50, 1 << 20, 1000);
    let remote = s3.remote("mid");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let first = l.len();
    let note_file = s3.object_file("mid", "checkpoint");
    let old_note = std::fs::read(&note_file).expect("note");
    for i in 0..30 {
        let d = provledger::Draft::application("text/plain", format!("unsigned {i}").into_bytes())
            .without_position_signature();
        l.append(d).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    // As if the publisher had been killed after its pieces, before the note.
    std::fs::write(&note_file, &old_note).expect("old note");
    let r = verify_url(&remote, &k);
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!((r.entries, r.uncovered_tail), (first, 0));
    let reader = provledger::LedgerReader::open_with(Arc::new(s3.remote("mid")), Path::new("")).expect("reader");
    assert!(reader.get(first).is_err(), "entries beyond the note are not shown");
    // The next run moves the note; everything verifies.
    let again = publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    assert!(again.latest_updated && again.bytes_uploaded == 0, "{again:?}");
    let r = verify_url(&remote, &k);
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.entries, l.len());
    l.close().expect("close");
}

/// An auditor verifying the same bucket again with a piece cache downloads only what is new:
/// after a second publish, incremental verification from the checkpoint it trusts fetches the
/// new pieces and reads the old ones from its cache; a piece replaced in the bucket (here: by
/// a redaction) is fetched again and its stale copy deleted.
#[test]
fn a_piece_cache_downloads_only_what_is_new() {
    let s3 = S3::start();
    let k = key(16);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let cache = tmp.path().join("cache");
    let l = ledger(&dir, &k, 80, 1 << 20, 1000);
    let remote = s3.remote("cached");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let cached = |r: &Remote| r.clone().with_cache(&cache).expect("cache");
    let cache_files = || -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut v: Vec<_> = walk(&cache)
            .into_iter()
            .map(|p| {
                let t = std::fs::metadata(&p).and_then(|m| m.modified()).expect("mtime");
                (p, t)
            })
            .collect();
        v.sort();
        v
    };
    let first = verify_remote(&cached(&remote), &anchor(&k), &VerifyOptions::default()).expect("verify");
    assert!(first.is_ok(), "{:?}", first.failure);
    let before = cache_files();
    let pieces_before = count_pieces(&s3, "cached");
    assert_eq!(before.len(), pieces_before, "every piece read once, cached once");

    for i in 0..25 {
        l.append(draft(7000 + i)).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let opts = VerifyOptions::default().from_checkpoint(first.latest_checkpoint);
    let again = verify_remote(&cached(&remote), &anchor(&k), &opts).expect("verify again");
    assert!(again.is_ok(), "{:?}", again.failure);
    assert_eq!(again.entries, l.len());
    let after = cache_files();
    let new_pieces = count_pieces(&s3, "cached") - pieces_before;
    assert!(
        new_pieces >= 4,
        "new pieces in segment, index, tree and log: {new_pieces}"
    );
    assert_eq!(
        after.len(),
        before.len() + new_pieces,
        "only the new pieces were downloaded"
    );
    for (p, t) in &before {
        assert!(after.contains(&(p.clone(), *t)), "{} was fetched again", p.display());
    }
    // Same verdict as without a cache.
    assert_eq!(
        verdict(&again),
        verdict(&verify_remote(&remote, &anchor(&k), &opts).expect("verify"))
    );

    // A redaction replaces a published piece: its old copy (holding the payload) is deleted
    // from the cache and the new one fetched.
    l.redact(3, "erasure").expect("redact");
    l.checkpoint().expect("checkpoint");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let v = verify_remote(&cached(&remote), &anchor(&k), &VerifyOptions::default()).expect("verify");
    assert!(v.is_ok() && v.redacted == vec![3], "{:?}", v.failure);
    let secret = b"entry 00000003 ";
    for p in walk(&cache) {
        let b = std::fs::read(&p).expect("read");
        assert!(
            !b.windows(secret.len()).any(|w| w == secret),
            "{} still holds the erased payload",
            p.display()
        );
    }
    l.close().expect("close");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn count_pieces(s3: &S3, prefix: &str) -> usize {
    walk(&s3.root.path().join(BUCKET).join(prefix))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.len() == 20 && n.to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

#[test]
fn two_publishers_at_once_leave_one_consistent_bucket() {
    let s3 = S3::start();
    let k = key(4);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    // Several segments, so that the two runs race on many pieces.
    let l = ledger(&dir, &k, 400, 1 << 20, 100);
    let remote_a = s3.remote("two");
    let remote_b = s3.remote("two");
    let (ra, rb) = std::thread::scope(|s| {
        let a = s.spawn(|| publish(&dir, &remote_a, &PublishOptions::default().concurrency(2)));
        let b = s.spawn(|| publish(&dir, &remote_b, &PublishOptions::default().concurrency(3)));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let (ra, rb) = (ra.expect("publisher a"), rb.expect("publisher b"));
    assert_eq!(ra.published_size, rb.published_size);
    assert!(
        ra.pieces_uploaded + rb.pieces_uploaded >= 1 && (ra.latest_updated || rb.latest_updated),
        "{ra:?} {rb:?}"
    );
    let r = verify_url(&remote_a, &k);
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(verdict(&r), verdict(&verify_dir(&dir, &k)));
    l.close().expect("close");
}

#[test]
fn a_split_view_is_refused_and_the_published_checkpoint_kept() {
    let s3 = S3::start();
    let k = key(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    ledger(&dir, &k, 30, 1 << 20, 1000).close().expect("close");
    // A fork: the same ledger copied, then each copy grows differently.
    let fork = tmp.path().join("fork");
    copy_dir(&dir, &fork);
    for (d, tag) in [(&dir, 1u64), (&fork, 2)] {
        let l = Ledger::open(d, k.clone(), std_opts(Durability::Buffered, 1 << 20)).expect("open");
        for i in 0..5 {
            l.append(draft(tag * 10_000 + i)).expect("append");
        }
        l.checkpoint().expect("checkpoint");
        l.close().expect("close");
    }
    let remote = s3.remote("split");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish the original");
    let note_before = remote.latest_note().expect("note").expect("present").0;
    match publish(&fork, &remote, &PublishOptions::default()) {
        Err(RemoteError::Conflict { object, reason }) => {
            assert!(
                object.ends_with("/seg") || object.contains("segments/") || object.ends_with("/checkpoint"),
                "{object}"
            );
            assert!(!reason.is_empty());
        }
        other => panic!("a fork was published over the original: {other:?}"),
    }
    assert_eq!(remote.latest_note().expect("note").expect("present").0, note_before);
    assert!(verify_url(&remote, &k).is_ok());
}

#[test]
fn a_redaction_erases_the_payload_from_the_bucket() {
    let s3 = S3::start();
    let k = key(6);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 20, 1 << 20, 1000);
    let remote = s3.remote("gdpr");
    publish(&dir, &remote, &PublishOptions::default()).expect("publish");
    let secret = b"entry 00000007 ";
    let holds = |rel: &str| {
        s3.pieces("gdpr", rel).iter().any(|p| {
            std::fs::read(p)
                .expect("read")
                .windows(secret.len())
                .any(|w| w == secret)
        })
    };
    assert!(holds(&seg(0)), "the payload was published");
    l.redact(7, "erasure request #1").expect("redact");
    l.checkpoint().expect("checkpoint");
    let r = publish(&dir, &remote, &PublishOptions::default()).expect("publish after the redaction");
    assert!(r.pieces_republished >= 1, "{r:?}");
    assert!(!holds(&seg(0)), "the erased payload is gone from the bucket");
    let v = verify_url(&remote, &k);
    assert!(v.is_ok(), "{:?}", v.failure);
    assert_eq!(v.redacted, vec![7]);
    l.close().expect("close");
}

/// `provledger publish` killed with SIGKILL at random moments, 20 rounds, each followed by a
/// run that completes it: the bucket always verifies (up to what it holds) and in the end
/// equals the directory.
#[test]
fn a_publisher_killed_mid_upload_is_resumed() {
    let s3 = S3::start();
    let k = key(7);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 300, 1 << 20, 1000);
    let bin = env!("CARGO_BIN_EXE_provledger");
    let url = s3.url("kill");
    let env: Vec<(String, String)> = s3.env().into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect();
    let run = |dir: &Path| {
        Command::new(bin)
            .args(["publish", dir.to_str().expect("utf-8"), &url, "--concurrency", "2"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn provledger publish")
    };
    // How long one uninterrupted run takes here: the kills below land at a uniformly random
    // moment within it (a fixed window would miss on a much faster or slower machine).
    for i in 0..15 {
        l.append(big_draft(10_000 + i, 40 << 10)).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    let t = std::time::Instant::now();
    let out = run(&dir).wait_with_output().expect("first run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full_run = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1_000);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed = 0;
    for round in 0..20 {
        for i in 0..15 {
            l.append(big_draft(round * 100 + i, 40 << 10)).expect("append");
        }
        l.checkpoint().expect("checkpoint");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = run(&dir);
        std::thread::sleep(Duration::from_micros(seed % full_run));
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("kill -9");
            killed += 1;
        }
        let _ = child.wait();
        // Whatever the kill left, the bucket reads as a ledger's files (pieces follow one
        // another) and the next run completes it.
        let out = run(&dir).wait_with_output().expect("resume");
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = verify_url(&s3.remote("kill"), &k);
        assert!(r.is_ok(), "round {round}: {:?}", r.failure);
        assert_eq!(r.entries, l.len(), "round {round}");
    }
    println!("one run {full_run} µs; {killed} of 20 publishers killed mid-run");
    assert!(killed >= 5, "the kills landed mid-run ({killed})");
    l.close().expect("close");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            copy_dir(&src, &dst);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Peak resident memory of this process so far (KiB), from /proc.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The figures in benches/README.md ("Publishing"): publish and verify-from-bucket
/// throughput at `PROVLEDGER_MEASURE_N` entries (default 1,000,000) of 256 bytes, next to
/// verify from the directory, against the loopback server. Not a test of correctness beyond
/// the equal verdicts; run it in release:
/// `cargo test --release --test publish -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement (minutes); run explicitly in release"]
fn measure_publish_and_verify_from_the_bucket() {
    let n: u64 = std::env::var("PROVLEDGER_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // The server runs in a child process (this test binary, running `s3_server_process`), so
    // that the peak RSS measured is this process's: publisher and verifier only.
    let (s3, mut server) = S3::start_child();
    let k = key(9);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = Ledger::create(&dir, k.clone(), "measure", std_opts(Durability::Buffered, 64 << 20)).expect("create");
    let payload = vec![b'x'; 256];
    let mut i = 0;
    while i < n {
        let batch = (i..(i + 1000).min(n))
            .map(|_| {
                provledger::Draft::application("application/octet-stream", payload.clone()).without_position_signature()
            })
            .collect();
        l.append_batch(batch).expect("append");
        i += 1000;
    }
    l.checkpoint().expect("checkpoint");
    l.close().expect("close");
    let entries = n + 1;
    // Each phase in a process of its own, so that its peak RSS is its own (not what an
    // earlier phase left the allocator holding).
    let phase = |name: &str| -> (Duration, u64, String) {
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--ignored",
                "--exact",
                "measure_phase_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PROVLEDGER_MEASURE_PHASE", name)
            .env("PROVLEDGER_MEASURE_DIR", &dir)
            .env("PROVLEDGER_MEASURE_ENDPOINT", &s3.endpoint)
            .stderr(Stdio::inherit())
            .output()
            .expect("run a phase");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find_map(|l| l.split("PHASE ").nth(1))
            .unwrap_or_else(|| panic!("phase {name} printed no result: {text}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        let secs: f64 = f[0].parse().expect("seconds");
        let rss: u64 = f[1].parse().expect("rss");
        (Duration::from_secs_f64(secs), rss, f[2..].join(" "))
    };
    let (t_dir, rss0, v_dir) = phase("dir");
    let (t_pub, rss1, published) = phase("publish");
    let (t_url, rss2, v_url) = phase("url");
    assert!(v_dir.starts_with("ok"), "{v_dir}");
    assert_eq!(v_dir, v_url, "the same verdict from the directory and from the bucket");
    let rate = |d: Duration| entries as f64 / d.as_secs_f64();
    let server_rss = std::fs::read_to_string(format!("/proc/{}/status", server.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .unwrap_or(0);
    let bytes: u64 = published
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    println!("server process peak RSS: {} MiB", server_rss >> 10);
    println!(
        "entries {entries}; published {published}\n\
         verify from the directory: {t_dir:?} ({:.0} entries/s)\n\
         publish to the loopback S3 server: {t_pub:?} ({:.0} entries/s, {:.1} MiB/s)\n\
         verify from the bucket: {t_url:?} ({:.0} entries/s)\n\
         peak RSS of each phase's process (the server runs apart): verify from the \
         directory {} MiB, publish {} MiB, verify from the bucket {} MiB",
        rate(t_dir),
        rate(t_pub),
        bytes as f64 / (1 << 20) as f64 / t_pub.as_secs_f64(),
        rate(t_url),
        rss0 >> 10,
        rss1 >> 10,
        rss2 >> 10
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// Not a test: one phase of `measure_publish_and_verify_from_the_bucket` in a process of its
/// own (`PROVLEDGER_MEASURE_PHASE` = `dir`, `publish` or `url`); prints
/// `PHASE <seconds> <peak RSS KiB> <result>`.
#[test]
#[ignore = "a helper process for the measurement"]
fn measure_phase_process() {
    let (Ok(phase), Ok(dir), Ok(endpoint)) = (
        std::env::var("PROVLEDGER_MEASURE_PHASE"),
        std::env::var("PROVLEDGER_MEASURE_DIR"),
        std::env::var("PROVLEDGER_MEASURE_ENDPOINT"),
    ) else {
        return;
    };
    let s3 = S3 {
        endpoint,
        root: tempfile::tempdir().expect("tempdir"),
        _rt: None,
    };
    let k = key(9);
    let dir = PathBuf::from(dir);
    let summary = |r: &VerifyReport| {
        format!(
            "{} {} {}",
            if r.is_ok() { "ok" } else { "failed" },
            r.entries,
            r.root.to_hex()
        )
    };
    let t = std::time::Instant::now();
    let result = match phase.as_str() {
        "dir" => summary(&verify_dir(&dir, &k)),
        "publish" => {
            let r = publish(&dir, &s3.remote("measure"), &PublishOptions::default()).expect("publish");
            format!("{} bytes in {} pieces", r.bytes_uploaded, r.pieces_uploaded)
        }
        "url" => summary(&verify_url(&s3.remote("measure"), &k)),
        other => panic!("unknown phase {other}"),
    };
    let secs = t.elapsed().as_secs_f64();
    println!("PHASE {secs} {} {result}", peak_rss_kib());
}

/// Verifying a bucket again from a saved state (`VerifyOptions::resume`) downloads only what
/// was published after it (and a few small blocks of the index, tree and log files) — here
/// under an eighth of what verifying it in full downloads — and
/// agrees with a full verification of the bucket and of the directory.
#[test]
fn verifying_again_from_a_saved_state_downloads_only_what_is_new() {
    let s3 = S3::start();
    let k = key(14);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    let l = ledger(&dir, &k, 1000, 1 << 20, 250);
    publish(&dir, &s3.remote("r"), &PublishOptions::default()).expect("publish");
    let keep = VerifyOptions::default().keep_state(true);
    let first = verify_remote(&s3.remote("r"), &anchor(&k), &keep).expect("verify");
    assert!(first.is_ok(), "{:?}", first.failure);
    assert!(verify_url(&s3.remote("r"), &k).state.is_none(), "no state unless asked");
    let state = first.state.expect("a state");
    for i in 1001..=1020 {
        l.append(draft(i)).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    publish(&dir, &s3.remote("r"), &PublishOptions::default()).expect("publish again");
    let full_remote = s3.remote("r");
    let full = verify_url(&full_remote, &k);
    let resumed_remote = s3.remote("r");
    let opts = VerifyOptions::default().resume(Some(state.clone()));
    let resumed = verify_remote(&resumed_remote, &anchor(&k), &opts).expect("resumed");
    assert!(resumed.is_ok(), "{:?}", resumed.failure);
    assert_eq!(resumed.resumed_from, state.size());
    assert_eq!(verdict(&resumed), verdict(&full));
    assert_eq!(verdict(&resumed), verdict(&verify_dir(&dir, &k)));
    let (all, new) = (full_remote.bytes_fetched(), resumed_remote.bytes_fetched());
    assert!(all > 1 << 20, "the full verification downloaded {all} bytes");
    println!("downloaded: full verification {all} bytes, resumed {new} bytes");
    assert!(new * 8 < all, "resumed: {new} bytes downloaded, full: {all}");
}

/// Not a test: the S3 server of `measure_publish_and_verify_from_the_bucket`, run in a child
/// process (it serves `PROVLEDGER_S3_ROOT` and prints its endpoint, until killed).
#[test]
#[ignore = "a helper process for the measurement"]
fn s3_server_process() {
    let Ok(root) = std::env::var("PROVLEDGER_S3_ROOT") else {
        return;
    };
    let s3 = S3::serve(PathBuf::from(root));
    println!("ENDPOINT {}", s3.endpoint);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The command line on a `file://` URL: `publish` then `verify URL --json` exits 0; a changed
/// byte in a piece exits 1 naming the file in the bucket; publishing another ledger over it
/// exits 2 naming the object, and overwrites nothing.
#[test]
fn the_cli_publishes_and_verifies_urls_with_stable_exit_codes() {
    let k = key(13);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("l");
    ledger(&dir, &k, 40, 1 << 20, 1000).close().expect("close");
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir(&bucket).expect("bucket");
    let url = format!("file://{}/prod", bucket.display());
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_provledger"))
            .args(args)
            .output()
            .expect("run provledger")
    };
    let trust = hex(&k.verifying_key().to_bytes());
    let o = cli(&["publish", dir.to_str().expect("utf-8"), &url, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["published_size"], 41);
    assert_eq!(j["latest_updated"], true);
    let o = cli(&["verify", &url, "--trust", &trust, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));

    let piece = bucket.join("prod").join(seg(0)).join(format!("{:020}", 0));
    let mut b = std::fs::read(&piece).expect("piece");
    let at = b.len() - 300;
    b[at] ^= 4;
    std::fs::write(&piece, &b).expect("tamper");
    let o = cli(&["verify", &url, "--trust", &trust, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["failure"]["file"], format!("{url}/{}", seg(0)));
    b[at] ^= 4;
    std::fs::write(&piece, &b).expect("restore");

    let other = tmp.path().join("other");
    ledger(&other, &key(14), 10, 1 << 20, 1000).close().expect("close");
    let before = std::fs::read(&piece).expect("piece");
    let o = cli(&["publish", other.to_str().expect("utf-8"), &url]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("prod/") && err.contains("another ledger"), "{err}");
    assert_eq!(std::fs::read(&piece).expect("piece"), before);
    let o = cli(&["verify", &url, "--trust", &trust]);
    assert_eq!(o.status.code(), Some(0));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
