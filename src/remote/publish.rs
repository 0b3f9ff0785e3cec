//! Uploading what is new in a ledger directory (see the module documentation of
//! [`crate::remote`] for the layout).

use std::collections::HashMap as BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::dir::{RemoteDir, OFFSET_DIGITS};
use super::{Inner, Remote, RemoteError, LATEST_CHECKPOINT, MAX_PIECE};
use crate::checkpoint::{log_len, read_log_upto, CHECKPOINT_HEADER_LEN, CHECKPOINT_LOG, CHECKPOINT_RECORD_LEN};
use crate::entry::EntryKind;
use crate::keys::{KeyId, VerifyingKey};
use crate::reader::LedgerReader;
use crate::record::{Genesis, Record};
use crate::storage::{index_rel, list_segments, segment_rel, LedgerDir, SegmentStream, StdBackend};
use crate::tree::{level_rel, TREE_HEADER_LEN};
use crate::StoredPayload;
use crate::{Checkpoint, ReadError, StorageError};

/// Progress of a publish: bytes uploaded so far out of the bytes this run has to upload.
pub type PublishProgress = dyn Fn(u64, u64) + Send + Sync;

/// How [`publish`] runs.
#[derive(Clone)]
pub struct PublishOptions {
    concurrency: usize,
    on_progress: Option<Arc<PublishProgress>>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            concurrency: 4,
            on_progress: None,
        }
    }
}

impl std::fmt::Debug for PublishOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishOptions")
            .field("concurrency", &self.concurrency)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl PublishOptions {
    /// Uploads in flight at once (default 4; at least 1). Memory is bounded by this times
    /// [`MAX_PIECE`].
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Called after each piece is uploaded with (bytes done, bytes to upload in this run).
    #[must_use]
    pub fn on_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }
}

/// What a publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReport {
    /// The size of the checkpoint whose state was published.
    pub published_size: u64,
    /// The size of the latest published checkpoint before this run, if there was one.
    pub previous_size: Option<u64>,
    /// Pieces this run uploaded.
    pub pieces_uploaded: u64,
    /// Bytes in them.
    pub bytes_uploaded: u64,
    /// Pieces found already there with the same bytes (a concurrent or interrupted publish).
    pub pieces_present: u64,
    /// Pieces replaced because a redaction erased a payload in them.
    pub pieces_republished: u64,
    /// Whether the `checkpoint` object now names `published_size` (false if the bucket
    /// already held a newer checkpoint of this ledger, from another publisher).
    pub latest_updated: bool,
}

/// One file to bring up to `target` bytes.
pub(crate) struct FileJob {
    pub(crate) rel: String,
    pub(crate) target: u64,
}

/// Publishes the state of the ledger in `dir` at its newest checkpoint to `remote`: uploads the
/// bytes of each file the bucket does not hold yet (create-only pieces, `opts.concurrency` at
/// a time), replaces the pieces holding payloads that redactions published since the last run
/// erased, then moves the bucket's `checkpoint` object to this checkpoint by compare-and-swap
/// — only if the one it replaces is of this ledger and consistent with it. Idempotent: a run
/// with nothing new uploads nothing; a run after an interrupted one completes it. It may run
/// while a writer appends to the ledger (it reads no further than the newest checkpoint).
///
/// # Errors
/// [`RemoteError::NoCheckpoint`] if the ledger has none; [`RemoteError::Conflict`] if the
/// bucket holds bytes or a checkpoint this ledger does not (another ledger under the same
/// prefix, a tampered piece, a split view), with nothing overwritten; [`RemoteError::Store`]
/// and [`RemoteError::Ledger`] for I/O failures (run again to resume).
pub fn publish(dir: &Path, remote: &Remote, opts: &PublishOptions) -> Result<PublishReport, RemoteError> {
    let inner = &remote.inner;
    let reader = LedgerReader::open(dir)?;
    let root = crate::storage::open_ledger_dir(&StdBackend, dir, false).map_err(ReadError::Storage)?;
    let root = root.as_ref();
    let ledger_id = reader.ledger_id();

    // The state at the newest checkpoint: the log's length before anything else (a writer
    // logs a checkpoint only after the entries it covers are written).
    let log_bytes = log_len(root).map_err(ReadError::Storage)?;
    let log = read_log_upto(root, ledger_id, log_bytes).map_err(ReadError::Storage)?;
    let Some(&cp) = log.checkpoints.last() else {
        return Err(RemoteError::NoCheckpoint { dir: dir.into() });
    };
    let size = cp.tree_size;
    let jobs = targets(root, size, log.checkpoints.len() as u64)?;

    let listing = RemoteDir::list(Arc::clone(&remote.inner))?;
    if let Some((object, reason)) = listing.anomaly() {
        return Err(RemoteError::Conflict { object, reason });
    }
    let latest = inner.latest_note()?;
    let previous = match &latest {
        Some((text, _)) => Some(parse_latest(inner, text)?),
        None => None,
    };
    if let Some(p) = previous {
        if p.ledger_id != ledger_id {
            return Err(RemoteError::Conflict {
                object: inner.object_url(LATEST_CHECKPOINT),
                reason: format!("a checkpoint of another ledger ({}) is published there", p.ledger_id),
            });
        }
    }
    same_ledger(inner, root, &listing)?;

    let mut report = PublishReport {
        published_size: size,
        previous_size: previous.map(|p| p.tree_size),
        ..PublishReport::default()
    };

    // The pieces to upload, on a grid of MAX_PIECE so that concurrent publishers cut files at
    // the same places. The pieces of one file go up in order (files in parallel): at every
    // moment, and after a crash, each published file is a prefix of the ledger's.
    let mut files: Vec<Vec<(String, u64, u64)>> = Vec::new();
    for job in &jobs {
        let mut at = listing.file_len(&job.rel).unwrap_or(0);
        let mut pieces = Vec::new();
        while at < job.target {
            let to = ((at / MAX_PIECE + 1) * MAX_PIECE).min(job.target);
            pieces.push((job.rel.clone(), at, to));
            at = to;
        }
        if !pieces.is_empty() {
            files.push(pieces);
        }
    }
    let total: u64 = files.iter().flatten().map(|(_, a, b)| b - a).sum();
    let done = AtomicU64::new(0);
    let uploaded = AtomicU64::new(0);
    let present = AtomicU64::new(0);
    // One buffer per upload in flight, reused from piece to piece (see `BufferPool`).
    let pool = super::BufferPool::new(opts.concurrency);
    let results: Vec<Result<(), RemoteError>> = inner.rt.block_on(async {
        futures::stream::iter(files.into_iter().map(|pieces| {
            let (done, uploaded, present, pool) = (&done, &uploaded, &present, &pool);
            async move {
                for (rel, a, b) in pieces {
                    let was_there = put_piece(inner, root, pool, &rel, a, b).await?;
                    if was_there {
                        present.fetch_add(1, Ordering::Relaxed);
                    } else {
                        uploaded.fetch_add(1, Ordering::Relaxed);
                    }
                    let d = done.fetch_add(b - a, Ordering::Relaxed) + (b - a);
                    if let Some(f) = &opts.on_progress {
                        f(d, total);
                    }
                }
                Ok(())
            }
        }))
        .buffer_unordered(opts.concurrency)
        .collect()
        .await
    });
    for r in results {
        r?;
    }
    report.pieces_uploaded = uploaded.into_inner();
    report.pieces_present = present.into_inner();
    report.bytes_uploaded = done.into_inner();

    // Redactions since the last publish: their targets' payloads are erased locally; the
    // pieces that still hold them are replaced.
    let from = previous.map_or(0, |p| p.tree_size.min(size));
    let (targets, keys) = scan_new(&reader, from, size)?;
    for t in targets {
        report.pieces_republished += republish_erased(inner, root, &listing, t)?;
    }

    // The latest checkpoint, moved forward by compare-and-swap.
    let Some(key) = find_key(&reader, cp.key_id, &keys, from)? else {
        return Err(RemoteError::Conflict {
            object: dir.display().to_string(),
            reason: format!("the checkpoint's signer {} is not a key of this ledger", cp.key_id),
        });
    };
    report.latest_updated = advance_latest(inner, &reader, &cp, &key, latest)?;
    Ok(report)
}

/// The files of the state at `size` and their lengths there.
pub(crate) fn targets(root: &dyn LedgerDir, size: u64, checkpoints: u64) -> Result<Vec<FileJob>, RemoteError> {
    let st = |e: StorageError| RemoteError::Ledger(ReadError::Storage(e));
    let local_len = |rel: &Path| -> Result<Option<u64>, RemoteError> {
        match root.open_read(rel) {
            Ok(f) => {
                Ok(Some(f.len().map_err(|e| {
                    st(crate::storage::io_err("stat", &root.display_path(rel))(e))
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(st(crate::storage::io_err("open", &root.display_path(rel))(e))),
        }
    };
    let rel_str = |p: PathBuf| p.to_string_lossy().replace('\\', "/");
    let mut jobs = Vec::new();
    let segs = list_segments(root).map_err(st)?;
    for (i, &first) in segs.iter().enumerate() {
        if first >= size {
            break;
        }
        let next = segs.get(i + 1).copied().unwrap_or(u64::MAX);
        let seg = segment_rel(first);
        let seg_len = local_len(&seg)?.unwrap_or(0);
        let target = if next <= size {
            seg_len
        } else {
            // Cut after the checkpoint's last entry (the end of a write, hence of a seal).
            let mut s = SegmentStream::open_at(root, size - 1).map_err(st)?;
            let sc = s.next_chunk(1).map_err(st)?;
            let end = sc
                .and_then(|sc| {
                    (sc.first_seq == size - 1)
                        .then(|| sc.chunk.frames.first().map(crate::storage::segment::FrameLoc::end))
                })
                .flatten();
            end.ok_or_else(|| {
                st(crate::storage::corrupt(
                    &root.display_path(&seg),
                    0,
                    Some(size - 1),
                    "the checkpoint's last entry is not in the ledger".into(),
                ))
            })?
        };
        jobs.push(FileJob {
            rel: rel_str(seg),
            target: target.min(seg_len),
        });
        let idx = index_rel(first);
        if let Some(len) = local_len(&idx)? {
            let slots = next.min(size) - first;
            let want = crate::storage::index::slot(slots).unwrap_or(u64::MAX);
            jobs.push(FileJob {
                rel: rel_str(idx),
                target: want.min(len),
            });
        }
    }
    for level in (0u8..64).step_by(2) {
        let nodes = size >> level;
        if nodes == 0 {
            break;
        }
        let rel = level_rel(level);
        if let Some(len) = local_len(&rel)? {
            let want = nodes.saturating_mul(32).saturating_add(TREE_HEADER_LEN);
            jobs.push(FileJob {
                rel: rel_str(rel),
                target: want.min(len),
            });
        }
    }
    jobs.push(FileJob {
        rel: CHECKPOINT_LOG.to_string(),
        target: CHECKPOINT_HEADER_LEN as u64 + checkpoints * CHECKPOINT_RECORD_LEN as u64,
    });
    Ok(jobs)
}

fn piece_rel(rel: &str, offset: u64) -> String {
    let name = format!("{rel}/{offset:020}");
    debug_assert_eq!(name.len() - rel.len() - 1, OFFSET_DIGITS);
    name
}

fn read_local(root: &dyn LedgerDir, rel: &str, a: u64, b: u64) -> Result<Vec<u8>, RemoteError> {
    read_local_into(root, rel, a, b, Vec::new())
}

/// Bytes `[a, b)` of `rel`, read into `buf` (reused if large enough).
fn read_local_into(root: &dyn LedgerDir, rel: &str, a: u64, b: u64, mut buf: Vec<u8>) -> Result<Vec<u8>, RemoteError> {
    let rel = Path::new(rel);
    let path = root.display_path(rel);
    let st = |op: &'static str| {
        let path = path.clone();
        move |e| RemoteError::Ledger(ReadError::Storage(crate::storage::io_err(op, &path)(e)))
    };
    let file = root.open_read(rel).map_err(st("open"))?;
    let len = usize::try_from(b - a).unwrap_or(0);
    if buf.capacity() < len {
        buf = vec![0u8; len];
    } else {
        buf.resize(len, 0);
    }
    file.read_exact_at(&mut buf, a).map_err(st("read"))?;
    Ok(buf)
}

/// Uploads bytes `[a, b)` of `rel` as the piece at `a`, create-only; `Ok(true)` if a piece with
/// those bytes was already there. A shorter piece there (a publisher of an older state) is
/// checked and the rest uploaded after it; a longer one (a newer state) is checked.
async fn put_piece(
    inner: &Inner,
    root: &dyn LedgerDir,
    pool: &super::BufferPool,
    rel: &str,
    a: u64,
    b: u64,
) -> Result<bool, RemoteError> {
    let mut at = a;
    let mut was_there = true;
    while at < b {
        let bytes = bytes::Bytes::from(read_local_into(root, rel, at, b, pool.take())?);
        let prel = piece_rel(rel, at);
        let loc = inner.object(&prel);
        let put = inner
            .store
            .put_opts(
                &loc,
                PutPayload::from(bytes.clone()),
                PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                },
            )
            .await;
        let reclaim = |bytes: bytes::Bytes| pool.give(Vec::from(bytes));
        match put {
            Ok(_) => {
                // The store holds no clone once the put completed: the buffer comes back
                // whole (`Vec::from` copies only if a clone were still alive).
                reclaim(bytes);
                was_there = false;
                at = b;
            }
            Err(object_store::Error::AlreadyExists { .. }) => {
                let there = inner.store.get(&loc).await.map_err(inner.store_err(&prel))?;
                let there = there.bytes().await.map_err(inner.store_err(&prel))?;
                let n = there.len().min(bytes.len());
                if there.is_empty() || there[..n] != bytes[..n] {
                    return Err(RemoteError::Conflict {
                        object: inner.object_url(&prel),
                        reason: "the bucket holds other bytes there than the ledger".into(),
                    });
                }
                at += n as u64;
                reclaim(bytes);
            }
            Err(e) => return Err(inner.store_err(&prel)(e)),
        }
    }
    Ok(was_there)
}

/// The bucket's segment 0 must begin with this ledger's segment header.
fn same_ledger(inner: &Inner, root: &dyn LedgerDir, listing: &RemoteDir) -> Result<(), RemoteError> {
    let rel = segment_rel(0).to_string_lossy().replace('\\', "/");
    let Some(len) = listing.file_len(&rel) else {
        return Ok(());
    };
    let n = len.min(crate::storage::segment::SEGMENT_HEADER_LEN as u64);
    let mine = read_local(root, &rel, 0, n)?;
    let mut theirs = vec![0u8; mine.len()];
    listing
        .open_read(Path::new(&rel))
        .and_then(|f| f.read_exact_at(&mut theirs, 0))
        .map_err(|e| RemoteError::Conflict {
            object: inner.object_url(&rel),
            reason: e.to_string(),
        })?;
    if mine != theirs {
        return Err(RemoteError::Conflict {
            object: inner.object_url(&piece_rel(&rel, 0)),
            reason: "another ledger is published there".into(),
        });
    }
    Ok(())
}

fn parse_latest(inner: &Inner, text: &str) -> Result<Checkpoint, RemoteError> {
    Checkpoint::parse_note_unverified(text)
        .map(|(c, _)| c)
        .map_err(|e| RemoteError::Conflict {
            object: inner.object_url(LATEST_CHECKPOINT),
            reason: format!("not a checkpoint note: {e}"),
        })
}

/// Redaction targets and enrolled keys among entries `[from, to)`.
#[allow(clippy::type_complexity)]
fn scan_new(
    reader: &LedgerReader,
    from: u64,
    to: u64,
) -> Result<(Vec<u64>, BTreeMap<KeyId, VerifyingKey>), RemoteError> {
    let mut targets = Vec::new();
    let mut keys = BTreeMap::new();
    if from >= to {
        return Ok((targets, keys));
    }
    reader.scan(from, |e| {
        if e.entry.seq >= to {
            return Ok::<_, ReadError>(false);
        }
        if let StoredPayload::Present { bytes, .. } = &e.payload {
            collect(e.entry.kind, bytes, &mut targets, &mut keys);
        }
        Ok(true)
    })?;
    Ok((targets, keys))
}

fn collect(kind: EntryKind, bytes: &[u8], targets: &mut Vec<u64>, keys: &mut BTreeMap<KeyId, VerifyingKey>) {
    match kind {
        EntryKind::Genesis => {
            if let Ok(g) = Genesis::decode(bytes) {
                for a in g.anchors {
                    if let Ok(k) = VerifyingKey::from_bytes(&a.public_key) {
                        keys.insert(k.key_id(), k);
                    }
                }
            }
        }
        EntryKind::KeyEnrollment | EntryKind::Redaction => match Record::decode(kind, bytes) {
            Ok(Record::KeyEnrollment(k)) => {
                if let Ok(k) = VerifyingKey::from_bytes(&k.public_key) {
                    keys.insert(k.key_id(), k);
                }
            }
            Ok(Record::Redaction(r)) => targets.push(r.target_seq),
            _ => {}
        },
        _ => {}
    }
}

/// The public key of `id`: among the keys just scanned, else from the genesis and every
/// enrollment before `from`.
fn find_key(
    reader: &LedgerReader,
    id: KeyId,
    scanned: &BTreeMap<KeyId, VerifyingKey>,
    from: u64,
) -> Result<Option<VerifyingKey>, RemoteError> {
    if let Some(k) = scanned.get(&id) {
        return Ok(Some(*k));
    }
    let mut keys = BTreeMap::new();
    let mut ignored = Vec::new();
    reader.scan(0, |e| {
        if e.entry.seq >= from.max(1) {
            return Ok::<_, ReadError>(false);
        }
        if let StoredPayload::Present { bytes, .. } = &e.payload {
            collect(e.entry.kind, bytes, &mut ignored, &mut keys);
        }
        Ok(!keys.contains_key(&id))
    })?;
    Ok(keys.get(&id).copied())
}

/// Replaces the published pieces that still hold the payload of entry `seq` (erased locally).
fn republish_erased(inner: &Inner, root: &dyn LedgerDir, listing: &RemoteDir, seq: u64) -> Result<u64, RemoteError> {
    let storage = |e: StorageError| RemoteError::Ledger(ReadError::Storage(e));
    let mut stream = SegmentStream::open_at(root, seq).map_err(storage)?;
    let Some(chunk) = stream.next_chunk(1).map_err(storage)? else {
        return Ok(0);
    };
    let Some(frame) = chunk.chunk.frames.first().filter(|_| chunk.first_seq == seq) else {
        return Ok(0);
    };
    let rel = segment_rel(chunk.header.first_seq).to_string_lossy().replace('\\', "/");
    let (start, end) = (frame.offset, frame.end());
    let Some(info) = listing.files.get(&rel) else {
        return Ok(0);
    };
    let mut n = 0;
    for p in info
        .pieces
        .iter()
        .filter(|p| p.offset < end && start < p.offset + p.size)
    {
        let prel = piece_rel(&rel, p.offset);
        let mine = read_local(root, &rel, p.offset, p.offset + p.size)?;
        let theirs = inner
            .rt
            .block_on(async {
                let r = inner.store.get(&p.location).await?;
                r.bytes().await
            })
            .map_err(inner.store_err(&prel))?;
        if theirs[..] == mine[..] {
            continue;
        }
        let mode = match &p.e_tag {
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e.clone()),
                version: None,
            }),
            None => PutMode::Overwrite,
        };
        put_mode(inner, &p.location, mine, &mode).map_err(inner.store_err(&prel))?;
        n += 1;
    }
    Ok(n)
}

/// Moves the bucket's latest checkpoint to `cp` if it is newer and consistent; `Ok(false)` if
/// the bucket already holds a newer one (or this one).
fn advance_latest(
    inner: &Inner,
    reader: &LedgerReader,
    cp: &Checkpoint,
    key: &VerifyingKey,
    mut latest: Option<(String, Option<String>)>,
) -> Result<bool, RemoteError> {
    let note = cp.to_note(key);
    let loc = inner.object(LATEST_CHECKPOINT);
    let split = |reason: String| RemoteError::Conflict {
        object: inner.object_url(LATEST_CHECKPOINT),
        reason,
    };
    loop {
        let mode = match &latest {
            None => PutMode::Create,
            Some((text, etag)) => {
                let old = parse_latest(inner, text)?;
                if old.ledger_id != cp.ledger_id {
                    return Err(split(format!("a checkpoint of another ledger ({})", old.ledger_id)));
                }
                if old.tree_size > cp.tree_size {
                    return Ok(false);
                }
                let (old_root, new_root, _) = reader.consistency(old.tree_size, cp.tree_size)?;
                if old_root != old.root || new_root != cp.root {
                    return Err(split(format!(
                        "the published checkpoint of size {} is not consistent with this ledger \
                         (a split view): refusing to replace it",
                        old.tree_size
                    )));
                }
                if old.tree_size == cp.tree_size {
                    return Ok(false);
                }
                match etag {
                    Some(e) => PutMode::Update(UpdateVersion {
                        e_tag: Some(e.clone()),
                        version: None,
                    }),
                    None => PutMode::Overwrite,
                }
            }
        };
        let r = put_mode(inner, &loc, note.clone().into_bytes(), &mode);
        match r {
            Ok(_) => return Ok(true),
            // Another publisher moved it meanwhile: look again.
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                latest = inner.latest_note()?;
            }
            Err(e) => return Err(inner.store_err(LATEST_CHECKPOINT)(e)),
        }
    }
}

/// A put in `mode`; a store without compare-and-swap (a local path) gets a plain overwrite
/// for `Update`, after the same checks (docs/DESIGN.md says what that gives up).
fn put_mode(
    inner: &Inner,
    loc: &object_store::path::Path,
    bytes: Vec<u8>,
    mode: &PutMode,
) -> Result<object_store::PutResult, object_store::Error> {
    let payload = bytes::Bytes::from(bytes);
    let put = |mode: PutMode| {
        inner.rt.block_on(inner.store.put_opts(
            loc,
            PutPayload::from(payload.clone()),
            PutOptions {
                mode,
                ..PutOptions::default()
            },
        ))
    };
    match put(mode.clone()) {
        Err(object_store::Error::NotImplemented { .. }) if matches!(mode, PutMode::Update(_)) => {
            put(PutMode::Overwrite)
        }
        r => r,
    }
}
