//! `storage::MemoryBackend` behaves as the file system does: the same `LedgerDir` operations
//! give the same results (values and error kinds), and the same ledger operations leave the
//! same files, of the same lengths, which verify, read and prove the same way.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use provledger::record::{Environment, KeyEnrollment, Record};
use provledger::storage::{Backend, LedgerDir, MemoryBackend, StdBackend, StorageFile};
use provledger::{
    verify_opts, Draft, Durability, EntryKind, Ledger, LedgerReader, OpenError, Options, PrincipalType, Role,
    SigningKey, StoredPayload, TrustAnchor, VerifyOptions,
};

fn kind<T>(r: io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

fn read_all(f: &dyn StorageFile) -> Vec<u8> {
    let mut buf = vec![0; usize::try_from(f.len().unwrap()).unwrap()];
    f.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// Runs the same `LedgerDir` operations on `backend` in `root` and writes down each outcome.
#[allow(clippy::too_many_lines)] // one script, read top to bottom
fn script(backend: &dyn Backend, root: &Path) -> Vec<(&'static str, String)> {
    let mut t: Vec<(&'static str, String)> = Vec::new();
    let path = root.join("ledger");
    t.push(("open missing dir", kind(backend.open_dir(&path, false))));
    let d = backend.open_dir(&path, true).unwrap();
    t.push(("reopen dir", kind(backend.open_dir(&path, false))));
    t.push(("create segments/", kind(d.create_subdir(Path::new("segments")))));
    t.push(("create segments/ again", kind(d.create_subdir(Path::new("segments")))));
    let a = Path::new("segments/a");
    t.push(("read missing", kind(d.open_read(a))));
    t.push(("write missing", kind(d.open_write(a, false))));
    t.push(("read in missing dir", kind(d.open_read(Path::new("tree/x")))));
    t.push(("create in missing dir", kind(d.open_write(Path::new("tree/x"), true))));
    let mut w = d.open_write(a, true).unwrap();
    t.push(("create again", kind(d.open_write(a, true))));
    w.write_all_at(b"hello", 0).unwrap();
    w.write_all_at(b"!", 7).unwrap();
    let r = d.open_read(a).unwrap();
    t.push(("bytes after a gap", format!("{:?}", read_all(r.as_ref()))));
    let mut five = [0; 5];
    t.push(("read inside", kind(r.read_exact_at(&mut five, 0))));
    t.push(("read past the end", kind(r.read_exact_at(&mut five, 6))));
    t.push(("read far past the end", kind(r.read_exact_at(&mut five, 1 << 40))));
    t.push((
        "read at an impossible offset",
        kind(r.read_exact_at(&mut five, u64::MAX - 2)),
    ));
    let mut ro = d.open_read(a).unwrap();
    // The error kind of writing a read-only descriptor is not the same everywhere (EBADF is
    // uncategorized); only that it fails is part of the contract.
    t.push(("write read-only", ro.write_all_at(b"x", 0).is_err().to_string()));
    w.set_len(2).unwrap();
    t.push(("reader sees truncation", format!("{:?}", read_all(r.as_ref()))));
    w.set_len(4).unwrap();
    t.push(("extended with zeros", format!("{:?}", read_all(r.as_ref()))));
    w.sync_data().unwrap();
    let mut names = d.list(Path::new("segments")).unwrap();
    names.sort();
    t.push(("list segments/", format!("{names:?}")));
    t.push(("list root", format!("{:?}", d.list(Path::new("")).unwrap())));
    t.push(("list missing", kind(d.list(Path::new("tree")))));
    t.push(("list a file", kind(d.list(a))));
    for bad in ["", "../x", "/etc/passwd", "segments/../a", "./x"] {
        t.push((
            "not a plain path",
            format!("{bad}: {}", kind(d.open_read(Path::new(bad)))),
        ));
    }
    t.push(("read a directory", kind(d.open_read(Path::new("segments")))));
    t.push(("write a directory", kind(d.open_write(Path::new("segments"), false))));
    t.push((
        "create over a directory",
        kind(d.open_write(Path::new("segments"), true)),
    ));
    t.push(("read under a file", kind(d.open_read(Path::new("segments/a/b")))));
    t.push(("subdir over a file", kind(d.create_subdir(a))));
    t.push((
        "open a file as ledger",
        kind(backend.open_dir(&path.join("segments/a"), false)),
    ));
    t.push(("sync segments/", kind(d.sync_dir(Path::new("segments")))));
    t.push(("sync root", kind(d.sync_dir(Path::new("")))));
    t.push(("sync missing", kind(d.sync_dir(Path::new("tree")))));
    t.push(("remove a directory", kind(d.remove(Path::new("segments")))));
    t.push(("remove", kind(d.remove(a))));
    t.push(("remove again", kind(d.remove(a))));
    t.push(("read removed", kind(d.open_read(a))));
    t.push(("open handle keeps bytes", format!("{:?}", read_all(r.as_ref()))));
    let mut fresh = d.open_write(a, true).unwrap();
    fresh.write_all_at(b"new", 0).unwrap();
    t.push(("old handle unaffected", format!("{:?}", read_all(r.as_ref()))));
    let guard = d.try_lock().unwrap();
    t.push(("lock", guard.is_some().to_string()));
    t.push(("lock again", d.try_lock().unwrap().is_some().to_string()));
    let other = backend.open_dir(&path, false).unwrap();
    t.push((
        "lock from another handle",
        other.try_lock().unwrap().is_some().to_string(),
    ));
    drop(guard);
    t.push(("lock after release", other.try_lock().unwrap().is_some().to_string()));
    t.push(("display path", d.display_path(a).display().to_string()));
    t.push(("display root", d.display_path(Path::new("")).display().to_string()));
    t
}

#[test]
fn ledger_dir_operations_give_what_the_file_system_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = script(&StdBackend, tmp.path());
    let memory = script(&MemoryBackend::new(), tmp.path());
    for (d, m) in disk.iter().zip(&memory) {
        assert_eq!(d, m, "file system vs memory");
    }
    assert_eq!(disk.len(), memory.len());
    // Pinned, so that both agreeing on a wrong answer fails too.
    let want: BTreeMap<&str, &str> = [
        ("open missing dir", "NotFound"),
        ("read missing", "NotFound"),
        ("read in missing dir", "NotFound"),
        ("create again", "AlreadyExists"),
        ("bytes after a gap", "[104, 101, 108, 108, 111, 0, 0, 33]"),
        ("read past the end", "UnexpectedEof"),
        ("read far past the end", "UnexpectedEof"),
        ("read at an impossible offset", "InvalidInput"),
        ("write read-only", "true"),
        ("reader sees truncation", "[104, 101]"),
        ("extended with zeros", "[104, 101, 0, 0]"),
        ("list segments/", r#"["a"]"#),
        ("list root", r#"["segments"]"#),
        ("list a file", "NotADirectory"),
        ("read a directory", "InvalidInput"),
        ("read under a file", "NotADirectory"),
        ("subdir over a file", "NotADirectory"),
        ("open a file as ledger", "NotADirectory"),
        ("remove again", "NotFound"),
        ("open handle keeps bytes", "[104, 101, 0, 0]"),
        ("old handle unaffected", "[104, 101, 0, 0]"),
        ("lock", "true"),
        ("lock again", "false"),
        ("lock from another handle", "false"),
        ("lock after release", "true"),
    ]
    .into();
    for (what, outcome) in &memory {
        if let Some(w) = want.get(what) {
            assert_eq!(outcome, w, "{what}");
        }
    }
    assert!(memory
        .iter()
        .filter(|(w, _)| *w == "not a plain path")
        .all(|(_, o)| o.ends_with(": Other")));
}

/// Every file under `rel` of `dir` with its length, by relative path.
fn files(dir: &dyn LedgerDir, rel: &Path, out: &mut BTreeMap<PathBuf, u64>) {
    for name in dir.list(rel).unwrap() {
        let p = rel.join(name);
        match dir.open_read(&p) {
            Ok(f) => {
                out.insert(p, f.len().unwrap());
            }
            Err(_) => files(dir, &p, out),
        }
    }
}

/// What a ledger on `backend` looks like after the same life on either backend.
#[derive(Debug, PartialEq)]
struct Outcome {
    files: BTreeMap<PathBuf, u64>,
    len: u64,
    entries: u64,
    checkpoints: u64,
    /// Per entry after the genesis: its kind, and the payload of an application entry (other
    /// records name entry hashes, which differ: salts and timestamps are fresh), `None` once
    /// erased.
    payloads: Vec<(&'static str, Option<Vec<u8>>)>,
}

fn key(b: u8) -> SigningKey {
    SigningKey::from_seed(&[b; 32])
}

fn life(backend: Arc<dyn Backend>, dir: &Path) -> Outcome {
    let (operator, cosigner) = (key(1), key(2));
    let opts = || Options::default().backend(Arc::clone(&backend)).segment_size(1 << 20);
    let ledger = Ledger::create(dir, &operator, "memory-vs-disk", opts()).unwrap();
    let enrollment = Record::KeyEnrollment(KeyEnrollment {
        public_key: cosigner.verifying_key().to_bytes(),
        principal_id: "dpo@bank.example".into(),
        display_name: "data protection officer".into(),
        principal_type: PrincipalType::Person,
        roles: vec![Role::Requester],
        environments: vec![Environment::Production],
    });
    ledger.append(Draft::record(&enrollment).unwrap()).unwrap();
    // 40 × 32 KiB: past one segment, so the ledger rotates.
    for i in 0..40u8 {
        let r = ledger
            .submit(
                Draft::application("application/octet-stream", vec![i; 32 << 10]),
                Durability::Synced,
            )
            .unwrap()
            .wait()
            .unwrap();
        assert!(r.durable);
    }
    let batch = (0..5u8)
        .map(|i| Draft::application("text/plain", vec![b'a' + i; 100]))
        .collect();
    ledger.append_batch(batch).unwrap();
    let erased = ledger
        .append(Draft::application("text/plain", b"personal data".to_vec()).cosigned_by(&cosigner))
        .unwrap();
    ledger.checkpoint().unwrap();
    ledger.redact(erased.seq, "erasure request").unwrap();
    ledger.close().unwrap();

    let ledger = Ledger::open(dir, &operator, opts()).unwrap();
    assert!(matches!(
        Ledger::open(dir, &operator, opts()),
        Err(OpenError::Locked { .. })
    ));
    ledger
        .append(Draft::application("text/plain", b"after reopening".to_vec()))
        .unwrap();
    ledger.checkpoint().unwrap();
    let len = ledger.len();
    ledger.close().unwrap();

    let anchor = TrustAnchor::PublicKey(operator.verifying_key());
    let report = verify_opts(backend.as_ref(), dir, &anchor, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.redacted, vec![erased.seq]);

    let reader = LedgerReader::open_with(Arc::clone(&backend), dir).unwrap();
    for seq in [1, 41, len - 1] {
        reader
            .inclusion_proof(seq, None)
            .unwrap()
            .verify(&operator.verifying_key())
            .unwrap();
    }
    let payloads = (1..len)
        .map(|seq| {
            let stored = reader.get(seq).unwrap();
            let kind = stored.entry.kind;
            let bytes = match stored.payload {
                StoredPayload::Present { bytes, .. } if kind == EntryKind::Application => Some(bytes),
                StoredPayload::Present { bytes, .. } => Some(bytes.len().to_le_bytes().to_vec()),
                StoredPayload::Erased { .. } => None,
            };
            (kind.name(), bytes)
        })
        .collect();
    let mut all = BTreeMap::new();
    files(backend.open_dir(dir, false).unwrap().as_ref(), Path::new(""), &mut all);
    Outcome {
        files: all,
        len,
        entries: report.entries,
        checkpoints: report.checkpoints_verified,
        payloads,
    }
}

#[test]
fn a_ledger_on_memory_lives_as_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let disk = life(Arc::new(StdBackend), &dir);
    let memory = MemoryBackend::new();
    let in_memory = life(Arc::new(memory.clone()), &dir);
    assert_eq!(in_memory.files, disk.files, "the same files, of the same lengths");
    assert_eq!(
        (in_memory.len, in_memory.entries, in_memory.checkpoints),
        (disk.len, disk.entries, disk.checkpoints)
    );
    assert!(in_memory.payloads == disk.payloads, "the same entries read back");
    assert_eq!(
        disk.len,
        1 + 1 + 40 + 5 + 1 + 1 + 1,
        "genesis, enrollment, entries, redaction, one more"
    );
    assert_eq!(disk.checkpoints, 2);
    assert!(
        disk.files
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .count()
            >= 2,
        "the ledger rotated: {:?}",
        disk.files
    );
    assert_eq!(
        disk.payloads.iter().filter(|(_, p)| p.is_none()).count(),
        1,
        "one erased payload"
    );
    assert_eq!(disk.payloads[1], ("application", Some(vec![0; 32 << 10])));
    // Nothing of the in-memory ledger reached the file system beyond the first run's files,
    // and a separate MemoryBackend is a separate disk.
    assert!(matches!(
        LedgerReader::open_with(Arc::new(MemoryBackend::new()), &dir),
        Err(provledger::ReadError::Storage(_))
    ));
    assert!(LedgerReader::open_with(Arc::new(memory), &dir).is_ok());
}
