//! Creating a ledger, and opening one after a clean stop or a crash (docs/FORMAT.md §7.5, §8).
//!
//! Opening resumes from the last seal the writer can authenticate: its own (the tag verifies
//! under its key), whose chain value and root it then trusts; or, when the last write was
//! sealed by another key, the result of verifying the whole ledger. Everything after the last
//! seal is a torn tail and is cut. The stored tree must reproduce the trusted root (it is
//! rebuilt from the entries otherwise, and the open refused if even they do not), so the
//! writer never extends or checkpoints entries it did not write or verify.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::writer::{seal_key, seal_tag, Active, Writer};
use super::{prepare, Draft, Options, Recovery};
use crate::checkpoint::LogWriter;
use crate::entry::{EntryKind, LedgerId, RecordRef, SaltSource, Timestamp, SALT_LEN};
use crate::error::{OpenError, StorageError};
use crate::hash::Digest;
use crate::keys::Signer;
use crate::record::{Genesis, Record, Role};
use crate::storage::frame::{check_frame, parse_header, parse_section, Seal, SectionRef, FRAME_HEADER_LEN};
use crate::storage::index::{decode_slot, encode_index_header, encode_slot, slot, INDEX_HEADER_LEN};
use crate::storage::segment::{FrameLoc, ScanStop, Scanner, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::{
    index_rel, io_err, list_segments, open_ledger_dir, open_read, read_segment_header, segment_rel, LedgerDir,
    LockGuard, StorageFile, TornTail, SEGMENTS_DIR,
};
use crate::tree::TreeWriter;
use crate::verify::registry::Registry;

/// The writer lock: an `flock` on the ledger directory itself (removing or replacing a file
/// inside it cannot release it).
pub(super) fn take_lock(root: &dyn LedgerDir) -> Result<Box<dyn LockGuard>, OpenError> {
    let path = root.display_path(Path::new(""));
    root.try_lock()
        .map_err(io_err("lock", &path))?
        .ok_or(OpenError::Locked { path })
}

/// Syncs the directory `rel` (relative to the ledger; "" for the ledger itself).
fn sync_dir(root: &dyn LedgerDir, rel: &str) -> Result<(), StorageError> {
    let rel = Path::new(rel);
    root.sync_dir(rel).map_err(io_err("sync", &root.display_path(rel)))
}

fn pool(opts: &Options) -> Result<Option<rayon::ThreadPool>, OpenError> {
    opts.threads
        .map(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("provledger-prepare-{i}"))
                .build()
                .map_err(|e| {
                    OpenError::Storage(StorageError::Io {
                        op: "start threads",
                        path: std::path::PathBuf::new(),
                        source: std::io::Error::other(e.to_string()),
                    })
                })
        })
        .transpose()
}

/// Creates a ledger and writes its genesis entry (durable when this returns).
pub(super) fn create(
    dir: &Path,
    signer: Arc<dyn Signer>,
    genesis: &Genesis,
    opts: &Options,
) -> Result<(Writer, Recovery), OpenError> {
    let key = signer.verifying_key();
    let anchor = genesis.anchors.iter().find(|a| a.public_key == key.to_bytes());
    if !anchor.is_some_and(|a| a.roles.contains(&Role::Operator)) {
        return Err(OpenError::InvalidGenesis(
            "the genesis signer must be one of the trust anchors, with the operator role".into(),
        ));
    }
    // `encode` makes the checks `decode` makes: a reader will accept this genesis.
    let payload = genesis.encode()?;
    let root = open_ledger_dir(opts.backend.as_ref(), dir, true)?;
    let lock = take_lock(root.as_ref())?;
    let seg_dir = Path::new(SEGMENTS_DIR);
    root.create_subdir(seg_dir)
        .map_err(io_err("create", &root.display_path(seg_dir)))?;
    if !unfinished_create(root.as_ref())? {
        return Err(OpenError::AlreadyExists {
            path: dir.to_path_buf(),
        });
    }
    let ledger_id = LedgerId::random().map_err(|e| OpenError::Entropy(e.to_string()))?;
    let active = create_segment(root.as_ref(), ledger_id, 0)?;
    let tree = TreeWriter::open(&root, ledger_id, 0)?;
    let checkpoints = LogWriter::open(root.as_ref(), ledger_id)?;
    sync_dir(root.as_ref(), "")?;
    let mut w = Writer {
        dir: dir.to_path_buf(),
        root,
        ledger_id,
        seal_key: seal_key(signer.as_ref(), ledger_id)?,
        signer_id: key.key_id(),
        signer,
        salts: SaltSource::new().map_err(|e| OpenError::Entropy(e.to_string()))?,
        pool: pool(opts)?,
        len: 0,
        chain: Digest::ZERO,
        active,
        durable_len: 0,
        tree,
        checkpoints,
        registry: Registry::from_genesis(genesis)?,
        segment_size: opts.segment_size,
        check_signers: opts.check_signers,
        poisoned: false,
        published: None,
        spare: Vec::new(),
        bg_sync: None,
        syncer: None,
        overlap: super::writer::Overlap::default(),
        _lock: lock,
    };
    let mut salt = [[0u8; SALT_LEN]; 1];
    w.salts.fill(&mut salt);
    let staged = prepare::stage(
        Draft::genesis(payload),
        salt[0],
        ledger_id,
        Timestamp::now(),
        w.signer_id,
    )
    .map_err(append_to_open)?;
    w.write_entries(&[staged], true).map_err(append_to_open)?;
    Ok((w, Recovery::default()))
}

/// Creates, fills in and syncs a new segment file and its index.
pub(super) fn create_segment(
    root: &dyn LedgerDir,
    ledger_id: LedgerId,
    first_seq: u64,
) -> Result<Active, StorageError> {
    let rel = segment_rel(first_seq);
    let path = root.display_path(&rel);
    let mut file = root.open_write(&rel, true).map_err(io_err("create", &path))?;
    let header = SegmentHeader { ledger_id, first_seq }.encode();
    file.write_all_at(&header, 0).map_err(io_err("write", &path))?;
    file.sync_data().map_err(io_err("sync", &path))?;
    let idx_rel = index_rel(first_seq);
    let idx_path = root.display_path(&idx_rel);
    // A stray index left under this name (no segment had it) is derived data: replace it.
    let mut idx = match root.open_write(&idx_rel, true) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut f = root.open_write(&idx_rel, false).map_err(io_err("open", &idx_path))?;
            f.set_len(0).map_err(io_err("truncate", &idx_path))?;
            f
        }
        r => r.map_err(io_err("create", &idx_path))?,
    };
    idx.write_all_at(&encode_index_header(ledger_id, first_seq), 0)
        .map_err(io_err("write", &idx_path))?;
    idx.sync_data().map_err(io_err("sync", &idx_path))?;
    sync_dir(root, SEGMENTS_DIR)?;
    Ok(Active {
        path,
        file,
        idx_path,
        idx,
        pending_slots: Vec::new(),
        len: SEGMENT_HEADER_LEN as u64,
        count: 0,
        synced: SEGMENT_HEADER_LEN as u64,
        allocated: SEGMENT_HEADER_LEN as u64,
        reserving: true,
    })
}

/// Whether the directory holds no ledger, or only the remains of a `create` that never wrote
/// a complete genesis entry (which are removed, as there is nothing in them to lose).
fn unfinished_create(root: &dyn LedgerDir) -> Result<bool, OpenError> {
    let seg_dir = Path::new(SEGMENTS_DIR);
    let names = root
        .list(seg_dir)
        .map_err(io_err("list", &root.display_path(seg_dir)))?;
    let segs: Vec<u64> = names
        .iter()
        .filter_map(|n| crate::storage::segment::parse_segment_file_name(n))
        .collect();
    if segs.is_empty() {
        return Ok(true);
    }
    if segs != [0] {
        return Ok(false);
    }
    let rel = segment_rel(0);
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    crate::storage::check_segment_len(&path, len, 0)?;
    if len > SEGMENT_HEADER_LEN as u64 {
        let mut sc = Scanner::new(file, &path, SEGMENT_HEADER_LEN as u64, len, true);
        if matches!(sc.next_chunk(1), Ok(c) if !c.frames.is_empty()) {
            return Ok(false);
        }
    }
    for rel in [
        segment_rel(0),
        index_rel(0),
        PathBuf::from(crate::checkpoint::CHECKPOINT_LOG),
    ] {
        match root.remove(&rel) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove", &root.display_path(&rel))(e).into())
            }
            _ => {}
        }
    }
    sync_dir(root, SEGMENTS_DIR)?;
    Ok(true)
}

/// What scanning a segment found.
pub(super) struct NewestScan {
    /// Frames handed out (complete and ending in a seal): (offset, governance).
    pub frames: Vec<(u64, bool)>,
    /// The last seal and the end of its frame.
    pub last_seal: Option<(Seal, u64)>,
    /// The torn tail after the last seal, if any.
    pub torn: Option<TornTail>,
}

fn scan_newest(root: &dyn LedgerDir, first_seq: u64) -> Result<NewestScan, OpenError> {
    scan_segment(root, first_seq, true)
}

/// Scans a whole segment (whose first entry is `first_seq`): its frames (offset, governance
/// bit), its last seal, a torn tail. Damage is reported with the sequence number of the entry
/// expected where it is.
pub(super) fn scan_segment(root: &dyn LedgerDir, first_seq: u64, newest: bool) -> Result<NewestScan, OpenError> {
    let rel = segment_rel(first_seq);
    let path = &root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", path))?;
    crate::storage::check_segment_len(path, len, first_seq)?;
    let mut sc = Scanner::new(file, path, SEGMENT_HEADER_LEN as u64, len, newest);
    let mut out = NewestScan {
        frames: Vec::new(),
        last_seal: None,
        torn: None,
    };
    loop {
        match sc.next_chunk(4096) {
            Ok(c) if c.frames.is_empty() => break,
            Ok(c) => {
                for f in &c.frames {
                    out.frames.push((f.offset, governance(&c.data, f)));
                    if let Some(seal) = f.seal(&c.data) {
                        out.last_seal = Some((seal, f.end()));
                    }
                }
            }
            Err(ScanStop::Torn {
                offset,
                bytes,
                reason,
                frames,
            }) => {
                out.torn = Some(TornTail {
                    file: path.clone(),
                    offset,
                    bytes,
                    reason: reason.into(),
                    frames,
                });
                break;
            }
            Err(ScanStop::Corrupt { offset, reason, frames }) => {
                let seq = first_seq + out.frames.len() as u64 + frames;
                return Err(crate::storage::corrupt(path, offset, Some(seq), reason.into()).into());
            }
            Err(ScanStop::Io(kind)) => return Err(io_err("read", path)(kind.into()).into()),
        }
    }
    Ok(out)
}

fn governance(data: &[u8], f: &FrameLoc) -> bool {
    RecordRef::parse(f.entry(data)).is_ok_and(|r| r.kind() != EntryKind::Application)
}

/// The seal of the last frame of a sealed segment, found through its index (or a scan).
fn last_seal_of(root: &dyn LedgerDir, first_seq: u64) -> Result<(Seal, u64), OpenError> {
    let rel = segment_rel(first_seq);
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    crate::storage::check_segment_len(&path, len, first_seq)?;
    let mut sc = Scanner::new(file, &path, SEGMENT_HEADER_LEN as u64, len, false);
    let mut last = None;
    let mut count = 0u64;
    loop {
        match sc.next_chunk(4096) {
            Ok(c) if c.frames.is_empty() => break,
            Ok(c) => {
                count += c.frames.len() as u64;
                last = c.frames.last().and_then(|f| f.seal(&c.data));
            }
            Err(ScanStop::Corrupt { offset, reason, .. }) => {
                return Err(crate::storage::corrupt(&path, offset, None, reason.into()).into());
            }
            Err(e) => return Err(crate::storage::corrupt(&path, 0, None, format!("{e:?}")).into()),
        }
    }
    let seal = last
        .ok_or_else(|| crate::storage::corrupt(&path, len, None, "segment does not end with a sealed frame".into()))?;
    Ok((seal, first_seq + count))
}

/// Opens an existing ledger for appending (see the module documentation).
// One sequence of recovery steps, in the order the module documentation gives them.
#[allow(clippy::too_many_lines)]
pub(super) fn open(dir: &Path, signer: Arc<dyn Signer>, opts: &Options) -> Result<(Writer, Recovery), OpenError> {
    let ldir = open_ledger_dir(opts.backend.as_ref(), dir, false)?;
    let b = ldir.as_ref();
    let lock = take_lock(b)?;
    let mut recovery = Recovery {
        erasure_completed: super::erasure::complete_pending(b)?,
        ..Recovery::default()
    };
    let mut segs = list_segments(b)?;
    let ledger_id = first_ledger_id(b)?;
    // A rotation cut short before the newest segment's header was complete.
    while let Some(&last) = segs.last() {
        let rel = segment_rel(last);
        let path = b.display_path(&rel);
        let file = open_read(b, &rel)?;
        let len = file.len().map_err(io_err("stat", &path))?;
        if read_segment_header(file.as_ref(), &path, len, last != 0)?.is_some() {
            break;
        }
        b.remove(&rel).map_err(io_err("remove", &path))?;
        let _ = b.remove(&index_rel(last));
        recovery.removed_segment = Some(path);
        segs.pop();
    }
    let newest = *segs.last().ok_or_else(|| StorageError::NotALedger {
        path: dir.to_path_buf(),
        reason: "no readable segment".into(),
    })?;
    let seg_rel = segment_rel(newest);
    let path = b.display_path(&seg_rel);
    {
        let file = open_read(b, &seg_rel)?;
        let len = file.len().map_err(io_err("stat", &path))?;
        let header = read_segment_header(file.as_ref(), &path, len, false)?;
        if header.map(|h| h.ledger_id) != Some(ledger_id) {
            return Err(crate::storage::corrupt(&path, 0, None, "segment belongs to another ledger".into()).into());
        }
    }
    sync_dir(b, SEGMENTS_DIR)?;
    let scan = scan_newest(b, newest)?;
    let (seal, len) = match &scan.last_seal {
        Some((seal, _)) => (*seal, newest + scan.frames.len() as u64),
        None if newest == 0 => {
            return Err(StorageError::NotALedger {
                path: dir.to_path_buf(),
                reason: "no complete genesis entry: creating the ledger did not finish; create it again".into(),
            }
            .into())
        }
        None => {
            let prev = segs[segs.len() - 2];
            let (seal, end) = last_seal_of(b, prev)?;
            if end != newest {
                let why = format!("segment should start at entry {end}");
                return Err(crate::storage::corrupt(&path, 0, Some(end), why).into());
            }
            (seal, newest)
        }
    };
    // Cut the torn tail, make what stays durable.
    let sealed_end = scan.last_seal.map_or(SEGMENT_HEADER_LEN as u64, |(_, end)| end);
    let mut file = b.open_write(&seg_rel, false).map_err(io_err("open", &path))?;
    if scan.torn.is_some() || file.len().map_err(io_err("stat", &path))? > sealed_end {
        file.set_len(sealed_end).map_err(io_err("truncate", &path))?;
    }
    file.sync_data().map_err(io_err("sync", &path))?;
    recovery.torn_tail.clone_from(&scan.torn);
    let (idx, idx_path, index_rebuilt) = rebuild_index(b, ledger_id, newest, &scan.frames)?;
    recovery.index_rebuilt = index_rebuilt;
    let mut tree = TreeWriter::open(&ldir, ledger_id, len)?;
    recovery.tree_replayed = replay_tree(b, ledger_id, &mut tree, len)?;
    // Whose seal is it?
    let signer_id = signer.verifying_key().key_id();
    let key = seal_key(signer.as_ref(), ledger_id)?;
    let own = seal.sealer == signer_id
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            &seal.tag[..],
            &seal_tag(&key, ledger_id, len, &seal.chain, &seal.root)[..],
        ));
    let (chain, root) = if own {
        (seal.chain, seal.root)
    } else {
        // Not recognisably ours: verify everything (with a tree rebuilt from the entries, so
        // that derived data cannot fail it).
        tree = TreeWriter::open(&ldir, ledger_id, 0)?;
        recovery.tree_replayed = replay_tree(b, ledger_id, &mut tree, len)?;
        tree.sync()?;
        recovery.verified_on_open = true;
        if let Some(anchor) = &opts.trust {
            verify_foreign(b, len, anchor)?
        } else {
            // Without an anchor, this key is the anchor: it must have signed the genesis. (Also
            // with `check_signers(false)`: never the ledger's own genesis, which anyone able
            // to write the directory can replace.)
            let anchor = crate::verify::TrustAnchor::PublicKey(signer.verifying_key());
            verify_foreign(b, len, &anchor).map_err(|e| match e {
                OpenError::Unverified(f) if f.check == crate::verify::Check::TrustAnchor => {
                    OpenError::SignerNotAuthorized {
                        key_id: signer_id,
                        reason: "another key wrote last and this key did not sign the genesis: \
                                 name the ledger's trust anchor (Options::trust_anchor, --trust \
                                 or --trust-genesis)",
                    }
                }
                other => other,
            })?
        }
    };
    if tree.root() != root {
        // Damaged tree files (derived data): rebuild from the entries, which must then agree.
        tree = TreeWriter::open(&ldir, ledger_id, 0)?;
        recovery.tree_replayed = replay_tree(b, ledger_id, &mut tree, len)?;
        if tree.root() != root {
            return Err(OpenError::Tampered { seq: len });
        }
    }
    let registry = load_registry(b, ledger_id, &segs)?;
    let checkpoints = LogWriter::open(b, ledger_id)?;
    let seg_len = sealed_end;
    let active = Active {
        path,
        file,
        idx_path,
        idx,
        pending_slots: Vec::new(),
        len: seg_len,
        count: len - newest,
        synced: seg_len,
        allocated: seg_len,
        reserving: true,
    };
    let w = Writer {
        dir: dir.to_path_buf(),
        root: Arc::clone(&ldir),
        ledger_id,
        signer,
        signer_id,
        seal_key: key,
        salts: SaltSource::new().map_err(|e| OpenError::Entropy(e.to_string()))?,
        pool: pool(opts)?,
        len,
        chain,
        active,
        durable_len: len,
        tree,
        checkpoints,
        registry,
        segment_size: opts.segment_size,
        check_signers: opts.check_signers,
        poisoned: false,
        published: None,
        spare: Vec::new(),
        bg_sync: None,
        syncer: None,
        overlap: super::writer::Overlap::default(),
        _lock: lock,
    };
    if !w.signer_valid() {
        return Err(OpenError::SignerNotAuthorized {
            key_id: w.signer_id,
            reason: "it is not an enrolled, unrevoked operator of this ledger",
        });
    }
    Ok((w, recovery))
}

/// Verifies the whole ledger from `anchor` (a write sealed by another key cannot be recognised
/// as ours): the chain value and root it ends with, which must cover exactly `len` entries.
fn verify_foreign(
    root: &dyn LedgerDir,
    len: u64,
    anchor: &crate::verify::TrustAnchor,
) -> Result<(Digest, Digest), OpenError> {
    let opts = crate::verify::VerifyOptions::default();
    let report = crate::verify::verify_dir(root, anchor, &opts).map_err(|e| match e {
        crate::error::VerifyError::Storage(s) => OpenError::Storage(s),
        // No state is resumed from here.
        crate::error::VerifyError::State(e) => OpenError::Storage(crate::StorageError::Io {
            op: "verify",
            path: root.display_path(std::path::Path::new("")),
            source: std::io::Error::other(e),
        }),
    })?;
    if let Some(f) = report.failure {
        return Err(OpenError::Unverified(Box::new(f)));
    }
    if report.entries != len {
        let why = format!(
            "the ledger changed while it was verified on open ({} entries, expected {len})",
            report.entries
        );
        return Err(StorageError::NotALedger {
            path: root.display_path(Path::new("")),
            reason: why,
        }
        .into());
    }
    Ok((report.head, report.root))
}

/// Brings the newest segment's index in line with its frames (derived data).
pub(super) fn rebuild_index(
    root: &dyn LedgerDir,
    ledger_id: LedgerId,
    first_seq: u64,
    frames: &[(u64, bool)],
) -> Result<(Box<dyn StorageFile>, std::path::PathBuf, bool), OpenError> {
    let rel = index_rel(first_seq);
    let path = root.display_path(&rel);
    let mut file = match root.open_write(&rel, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            root.open_write(&rel, true).map_err(io_err("create", &path))?
        }
        Err(e) => return Err(io_err("open", &path)(e).into()),
    };
    let mut want = encode_index_header(ledger_id, first_seq).to_vec();
    for &(off, gov) in frames {
        want.extend_from_slice(&encode_slot(off, gov));
    }
    let len = file.len().map_err(io_err("stat", &path))?;
    let mut have = vec![0u8; usize::try_from(len.min(want.len() as u64)).unwrap_or(0)];
    let same = len == want.len() as u64 && file.read_exact_at(&mut have, 0).is_ok() && have == want;
    if !same {
        // Written over in place, then cut: a verifier reading the index meanwhile (it takes no
        // lock) sees its header throughout and slots that are either the old ones or right,
        // never an empty file it would report as damage.
        file.write_all_at(&want, 0).map_err(io_err("write", &path))?;
        if len > want.len() as u64 {
            file.set_len(want.len() as u64).map_err(io_err("truncate", &path))?;
        }
        file.sync_data().map_err(io_err("sync", &path))?;
    }
    Ok((file, path, !same))
}

/// Pushes the entry hashes the stored tree lacks (`tree.size()..entries`) and writes them.
pub(super) fn replay_tree(
    root: &dyn LedgerDir,
    ledger_id: LedgerId,
    tree: &mut TreeWriter,
    entries: u64,
) -> Result<u64, OpenError> {
    let from = tree.size();
    if from >= entries {
        return Ok(0);
    }
    // A replay from the start reads every segment anyway: scan them, trusting no index.
    let mut stream = if from == 0 {
        crate::storage::SegmentStream::open(root)?
    } else {
        crate::storage::SegmentStream::open_at(root, from)?
    };
    while tree.size() < entries {
        let Some(sc) = stream.next_chunk(4096)? else { break };
        for (i, f) in sc.chunk.frames.iter().enumerate() {
            let seq = sc.first_seq + i as u64;
            if seq != tree.size() || seq >= entries {
                continue;
            }
            tree.push(&frame_hash(&sc.chunk.data, f, seq, ledger_id)?)?;
        }
    }
    tree.flush()?;
    Ok(entries.saturating_sub(from))
}

/// The entry hash of a frame at `seq`.
pub(super) fn frame_hash(data: &[u8], f: &FrameLoc, seq: u64, ledger_id: LedgerId) -> Result<Digest, OpenError> {
    let record = RecordRef::parse(f.entry(data))?;
    let commitment = match parse_section(f.section(data)) {
        Ok(SectionRef::Present { salt, payload }) => crate::entry::commit_payload(salt, payload),
        Ok(SectionRef::Erased { commitment, .. }) => commitment,
        Err(e) => {
            return Err(OpenError::Storage(StorageError::Corrupt {
                file: std::path::PathBuf::new(),
                offset: f.offset,
                seq: Some(seq),
                reason: e.into(),
            }))
        }
    };
    Ok(record.entry_hash(seq, ledger_id, &commitment))
}

/// The key registry: the genesis anchors, then every enrollment and revocation, read through
/// the governance bit of the index slots (only governance entries are read). A segment whose
/// index is missing, bad, or points at something that is not a sound frame (indexes are
/// derived data) is scanned instead; damage is then reported where the scan finds it.
fn load_registry(root: &dyn LedgerDir, ledger_id: LedgerId, segs: &[u64]) -> Result<Registry, OpenError> {
    let mut reg: Option<Registry> = None;
    for &first in segs {
        let seg_rel = segment_rel(first);
        let seg_path = root.display_path(&seg_rel);
        let seg = open_read(root, &seg_rel)?;
        let idx = root.open_read(&index_rel(first)).ok();
        let slots = idx.as_deref().and_then(|i| read_slots(i, ledger_id, first));
        let before = reg.clone();
        let indexed = slots.is_some_and(|slots| {
            slots.into_iter().enumerate().all(|(i, (off, gov))| {
                let seq = first + i as u64;
                !(gov || seq == 0) || apply_at(seg.as_ref(), &seg_path, off, seq, &mut reg).is_ok()
            })
        });
        if !indexed {
            reg = before;
            scan_registry(root, first, segs.last() == Some(&first), &mut reg)?;
        }
    }
    reg.ok_or_else(|| no_genesis(root))
}

fn read_slots(idx: &dyn StorageFile, ledger_id: LedgerId, first_seq: u64) -> Option<Vec<(u64, bool)>> {
    let len = idx.len().ok()?;
    let mut h = [0u8; INDEX_HEADER_LEN];
    idx.read_exact_at(&mut h, 0).ok()?;
    crate::storage::index::check_index_header(&h, ledger_id, first_seq).ok()?;
    let n = crate::storage::index::count(len);
    let mut buf = vec![0u8; usize::try_from(n * 4).ok()?];
    idx.read_exact_at(&mut buf, slot(0)?).ok()?;
    Some(
        buf.chunks_exact(4)
            .map(|c| decode_slot([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Reads the governance entry at `off` and applies it to the registry; damage (a bad header
/// or checksum, an undecodable record or payload) is an error naming the entry.
fn apply_at(
    seg: &dyn StorageFile,
    path: &Path,
    off: u64,
    seq: u64,
    reg: &mut Option<Registry>,
) -> Result<(), OpenError> {
    let damaged = |why: String| OpenError::from(crate::storage::corrupt(path, off, Some(seq), why));
    let mut h = [0u8; FRAME_HEADER_LEN];
    seg.read_exact_at(&mut h, off).map_err(io_err("read", path))?;
    let header = parse_header(&h).map_err(|_| damaged("bad frame header".into()))?;
    let mut frame = vec![0u8; header.frame_len()];
    seg.read_exact_at(&mut frame, off).map_err(io_err("read", path))?;
    if !check_frame(&frame) {
        return Err(damaged("frame checksum mismatch".into()));
    }
    let record = RecordRef::parse(&frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + header.entry_len])
        .map_err(|e| damaged(e.to_string()))?;
    let s = header.section_offset();
    let Ok(SectionRef::Present { payload, .. }) = parse_section(&frame[s..s + header.section_len]) else {
        return Ok(());
    };
    apply_record(record.kind(), payload, seq, reg).map_err(|e| match e {
        OpenError::Decode(d) => damaged(d.to_string()),
        other => other,
    })
}

fn apply_record(kind: EntryKind, payload: &[u8], seq: u64, reg: &mut Option<Registry>) -> Result<(), OpenError> {
    match (kind, reg.as_mut()) {
        (EntryKind::Genesis, None) => *reg = Some(Registry::from_genesis(&Genesis::decode(payload)?)?),
        (EntryKind::KeyEnrollment | EntryKind::KeyRevocation, Some(r)) => {
            // A ledger whose history fails here fails verification there; keep going.
            let _ = r.apply(seq, &Record::decode(kind, payload)?);
        }
        _ => {}
    }
    Ok(())
}

/// Applies the governance entries of the segment starting at `first` by scanning it (not
/// through its index, which is why we are here).
fn scan_registry(root: &dyn LedgerDir, first: u64, newest: bool, reg: &mut Option<Registry>) -> Result<(), OpenError> {
    let rel = segment_rel(first);
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    crate::storage::check_segment_len(&path, len, first)?;
    let mut sc = Scanner::new(file, &path, SEGMENT_HEADER_LEN as u64, len, newest);
    let mut seq = first;
    loop {
        let c = match sc.next_chunk(4096) {
            Ok(c) if c.frames.is_empty() => return Ok(()),
            Ok(c) => c,
            // Open has cut the newest segment's torn tail before it reads the registry.
            Err(ScanStop::Torn { .. }) => return Ok(()),
            Err(ScanStop::Corrupt { offset, reason, frames }) => {
                return Err(crate::storage::corrupt(&path, offset, Some(seq + frames), reason.into()).into())
            }
            Err(ScanStop::Io(kind)) => return Err(io_err("read", &path)(kind.into()).into()),
        };
        for f in &c.frames {
            if let (Ok(record), Ok(SectionRef::Present { payload, .. })) =
                (RecordRef::parse(f.entry(&c.data)), parse_section(f.section(&c.data)))
            {
                apply_record(record.kind(), payload, seq, reg).map_err(|e| match e {
                    OpenError::Decode(d) => crate::storage::corrupt(&path, f.offset, Some(seq), d.to_string()).into(),
                    other => other,
                })?;
            }
            seq += 1;
        }
    }
}

/// The ledger id from the first segment's header.
pub(super) fn first_ledger_id(root: &dyn LedgerDir) -> Result<LedgerId, OpenError> {
    let rel = segment_rel(0);
    let path = root.display_path(&rel);
    let file = open_read(root, &rel)?;
    let len = file.len().map_err(io_err("stat", &path))?;
    let header = read_segment_header(file.as_ref(), &path, len, false)?.ok_or_else(|| StorageError::NotALedger {
        path: root.display_path(Path::new("")),
        reason: "first segment has no header".into(),
    })?;
    Ok(header.ledger_id)
}

fn no_genesis(root: &dyn LedgerDir) -> OpenError {
    StorageError::NotALedger {
        path: root.display_path(Path::new("")),
        reason: "no readable genesis entry".into(),
    }
    .into()
}

/// Writing the genesis entry failed: as an open error.
fn append_to_open(e: crate::error::AppendError) -> OpenError {
    use crate::error::AppendError as A;
    match e {
        A::Storage(s) => OpenError::Storage(s),
        A::Signer(k) => OpenError::Key(k),
        A::Record(d) => OpenError::Decode(d),
        other => OpenError::InvalidGenesis(other.to_string()),
    }
}
