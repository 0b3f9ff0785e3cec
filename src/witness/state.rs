//! A witness: its key, the operator keys it trusts, and its state directory (per log origin,
//! the last checkpoint it cosigned), answering C2SP `tlog-witness` add-checkpoint requests.
//!
//! State layout (one directory, any number of logs): for each origin, `<h>.note` holds the last
//! cosigned checkpoint as a signed note (its body and the operator's signature line), where
//! `<h>` is the lowercase hex SHA-256 of the origin line; `<h>.lock` is the lock file that
//! serialises requests for that origin. A request takes the lock, reads the state, checks, signs,
//! writes `<h>.note.tmp`, fsyncs it, renames it over `<h>.note`, fsyncs the directory, and only
//! then releases the lock and returns the cosignature: two concurrent requests cannot both pass
//! their checks against the same state, and no cosignature leaves the witness before the state
//! it implies is durable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::{AddCheckpoint, CheckpointText, Cosignature, LogKey, SignedNote, WitnessError, WitnessKey};
use crate::checkpoint::{Checkpoint, MAX_NOTE_LEN};
use crate::hash::{hex_encode, Digest};
use crate::keys::{IntoSigner, Signer};
use crate::merkle::{verify_consistency, ProofError};

/// What a witness found wrong with an add-checkpoint request it refused. Each variant maps to
/// the HTTP status C2SP `tlog-witness` prescribes ([`Refusal::http_status`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The witness follows no log of this origin (404).
    #[error("the witness follows no log with origin {origin:?}")]
    UnknownOrigin {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// No signature line verifies under an operator key trusted for the origin (403).
    #[error("the checkpoint carries no valid signature by a key trusted for {origin}")]
    NotSigned {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// The request's old size is above the checkpoint's size (400).
    #[error("the old size {old_size} is above the checkpoint's size {size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The request's old size is not the size of the last checkpoint the witness cosigned for
    /// the origin (409): the client should ask again with a consistency proof from `stored`.
    #[error("the request proves from size {claimed}, but the last cosigned checkpoint has size {stored}")]
    Conflict {
        /// The request's old size.
        claimed: u64,
        /// The size of the last cosigned checkpoint (0 if none).
        stored: u64,
    },
    /// The checkpoint is smaller than the last one cosigned: the log would go backwards
    /// (refused whatever the request's old size).
    #[error("rollback: checkpoint of size {} offered after one of size {} was cosigned", .0.offered_size, .0.cosigned_size)]
    Rollback(Box<Evidence>),
    /// Same size as the last cosigned checkpoint but another root (409): two checkpoints the
    /// operator signed that cannot both be true. The evidence proves the split view by itself.
    #[error("split view: two checkpoints of size {} with different roots", .0.offered_size)]
    SplitView(Box<Evidence>),
    /// The consistency proof does not show that the checkpoint extends the last one cosigned
    /// (422): either a broken client or a fork the operator cannot prove consistent.
    #[error("inconsistent: no proof that size {} extends the cosigned size {}: {reason}", .evidence.offered_size, .evidence.cosigned_size)]
    Inconsistent {
        /// The two notes and the proof offered.
        evidence: Box<Evidence>,
        /// Why the proof failed.
        reason: String,
    },
}

impl Refusal {
    /// The HTTP status code C2SP `tlog-witness` gives this refusal (409 for a rollback, as
    /// the old size cannot match the stored one).
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::UnknownOrigin { .. } => 404,
            Refusal::NotSigned { .. } => 403,
            Refusal::OldSizeTooLarge { .. } => 400,
            Refusal::Conflict { .. } | Refusal::Rollback(_) | Refusal::SplitView(_) => 409,
            Refusal::Inconsistent { .. } => 422,
        }
    }

    /// The evidence against the log: both checkpoints, when the refusal is a rollback, a
    /// split view or an unproven extension.
    #[must_use]
    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            Refusal::Rollback(e) | Refusal::SplitView(e) => Some(e),
            Refusal::Inconsistent { evidence, .. } => Some(evidence),
            _ => None,
        }
    }
}

/// Both checkpoints of a refused request, each as a note signed by the log's operator key:
/// what a witness hands to whoever audits the log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Evidence {
    /// The log's origin line.
    pub origin: String,
    /// The last checkpoint the witness cosigned (its body and the operator's signature line).
    pub cosigned_note: String,
    /// Its size.
    pub cosigned_size: u64,
    /// The checkpoint refused, as offered (its body and the operator's signature line).
    pub offered_note: String,
    /// Its size.
    pub offered_size: u64,
    /// The request's old size.
    pub old_size: u64,
    /// The request's consistency proof (base64 hashes), as offered.
    pub proof: Vec<String>,
}

/// Why [`Witness::add_checkpoint`] gave no cosignature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The witness's checks refused the checkpoint.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The request or note is malformed, or the signer failed.
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The state directory could not be read or written.
    #[error("witness state {}: {op}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A state file is not a checkpoint note of its origin.
    #[error("witness state {} is damaged: {reason}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl CosignError {
    /// The refusal, if the checks refused the checkpoint.
    #[must_use]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            CosignError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// A checkpoint a witness cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cosigned {
    /// The log's origin line.
    pub origin: String,
    /// The checkpoint's size.
    pub size: u64,
    /// The checkpoint body the cosignature covers (whole, extension lines included).
    pub body: String,
    /// The cosignature.
    pub cosignature: Cosignature,
}

impl Cosigned {
    /// The cosignature's signature line, ending in a line feed (the C2SP add-checkpoint
    /// response body).
    #[must_use]
    pub fn line(&self) -> String {
        self.cosignature.line()
    }
}

/// A witness: its key, the logs it follows (an operator key per origin; several keys for one
/// origin are all trusted) and its state directory. `Send + Sync`: one value may serve
/// concurrent requests, and several processes may share one state directory.
pub struct Witness {
    dir: PathBuf,
    key: WitnessKey,
    signer: Arc<dyn Signer>,
    logs: Vec<LogKey>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness keeping its state in `dir` (created if missing), cosigning as `key` with
    /// `signer`, for the logs `logs`.
    ///
    /// # Errors
    /// [`WitnessError::Signer`] if `signer` does not hold `key`'s public key;
    /// [`CosignError::Io`] if `dir` cannot be created.
    pub fn new(
        dir: impl Into<PathBuf>,
        key: WitnessKey,
        signer: impl IntoSigner,
        logs: Vec<LogKey>,
    ) -> Result<Self, CosignError> {
        let dir = dir.into();
        let signer = signer.into_signer();
        if signer.verifying_key() != key.verifying_key() {
            return Err(WitnessError::Signer("the signer is not the witness's key".into()).into());
        }
        fs::create_dir_all(&dir).map_err(io_at("create", &dir))?;
        Ok(Witness { dir, key, signer, logs })
    }

    /// The witness's public identity.
    #[must_use]
    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// The last checkpoint cosigned for `origin`, as a signed note, if any.
    ///
    /// # Errors
    /// [`CosignError::Io`] or [`CosignError::CorruptState`].
    pub fn latest(&self, origin: &str) -> Result<Option<String>, CosignError> {
        Ok(self.read_state(origin)?.map(|(note, _)| note))
    }

    /// Answers an add-checkpoint request now (the cosignature's time is the system clock's).
    ///
    /// # Errors
    /// As [`Witness::add_checkpoint_at`].
    pub fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Cosigned, CosignError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.add_checkpoint_at(request, now)
    }

    /// Answers an add-checkpoint request with a cosignature at `timestamp` (seconds since the
    /// Unix epoch), in the order C2SP `tlog-witness` gives: the origin must be followed, a
    /// trusted operator key must have signed the checkpoint, the checkpoint must not be
    /// smaller than the last cosigned one, an equal size must have an equal root, the old
    /// size must be at most the new size and equal to the stored size, and the consistency
    /// proof must verify from the stored checkpoint to the new one. Then the new state is
    /// made durable and the cosignature returned. The whole runs under the origin's lock.
    ///
    /// # Errors
    /// [`CosignError::Refused`] with the [`Refusal`] (and its evidence);
    /// [`CosignError::Witness`] for a malformed note or request, or a failing signer;
    /// [`CosignError::Io`] / [`CosignError::CorruptState`] for the state directory.
    pub fn add_checkpoint_at(&self, request: &AddCheckpoint, timestamp: u64) -> Result<Cosigned, CosignError> {
        let offered = self.trusted_checkpoint(&request.note)?;
        let origin = crate::checkpoint::origin(offered.checkpoint.ledger_id);
        let _lock = self.lock(&origin)?;
        let stored = self.read_state(&origin)?;
        let proof_b64 = || request.proof.iter().map(base64_of).collect();
        if let Some((note, text)) = &stored {
            let evidence = || {
                Box::new(Evidence {
                    origin: origin.clone(),
                    cosigned_note: note.clone(),
                    cosigned_size: text.size,
                    offered_note: offered.note.clone(),
                    offered_size: offered.checkpoint.tree_size,
                    old_size: request.old_size,
                    proof: proof_b64(),
                })
            };
            if offered.checkpoint.tree_size < text.size {
                return Err(CosignError::Refused(Refusal::Rollback(evidence())));
            }
            if offered.checkpoint.tree_size == text.size && offered.checkpoint.root != text.root {
                return Err(CosignError::Refused(Refusal::SplitView(evidence())));
            }
            Self::check_old_size(request, offered.checkpoint.tree_size, text.size)?;
            if let Err(e) = verify_consistency(
                text.size,
                offered.checkpoint.tree_size,
                &text.root,
                &offered.checkpoint.root,
                &request.proof,
            ) {
                let reason = match e {
                    ProofError::RootMismatch => "the proof does not verify".to_owned(),
                    ProofError::Malformed(m) => format!("malformed proof: {m}"),
                };
                return Err(CosignError::Refused(Refusal::Inconsistent {
                    evidence: evidence(),
                    reason,
                }));
            }
        } else {
            Self::check_old_size(request, offered.checkpoint.tree_size, 0)?;
            if !request.proof.is_empty() {
                return Err(WitnessError::MalformedRequest("a request from size 0 carries no proof".into()).into());
            }
        }
        let body = offered.checkpoint.body();
        let cosignature = Cosignature::sign(&body, &self.key, self.signer.as_ref(), timestamp)?;
        self.write_state(&origin, &offered.note)?;
        Ok(Cosigned {
            origin,
            size: offered.checkpoint.tree_size,
            body,
            cosignature,
        })
    }

    fn check_old_size(request: &AddCheckpoint, size: u64, stored: u64) -> Result<(), CosignError> {
        if request.old_size > size {
            return Err(CosignError::Refused(Refusal::OldSizeTooLarge {
                old_size: request.old_size,
                size,
            }));
        }
        if request.old_size != stored {
            return Err(CosignError::Refused(Refusal::Conflict {
                claimed: request.old_size,
                stored,
            }));
        }
        Ok(())
    }

    /// The checkpoint of `note`, if a key trusted for its origin signed it; with its note in
    /// canonical form (the body and that key's signature line only).
    fn trusted_checkpoint(&self, note: &str) -> Result<Trusted, CosignError> {
        let parsed = SignedNote::parse(note)?;
        let text = CheckpointText::parse(&parsed.body)?;
        let mut known = self.logs.iter().filter(|l| l.origin() == text.origin).peekable();
        if known.peek().is_none() {
            return Err(CosignError::Refused(Refusal::UnknownOrigin { origin: text.origin }));
        }
        for log in known {
            let key = log.verifying_key();
            if let Ok(checkpoint) = Checkpoint::from_note(note, &key) {
                return Ok(Trusted {
                    note: checkpoint.to_note(&key),
                    checkpoint,
                });
            }
        }
        Err(CosignError::Refused(Refusal::NotSigned { origin: text.origin }))
    }

    pub(super) fn file(&self, origin: &str, ext: &str) -> PathBuf {
        let h = Sha256::digest(origin.as_bytes());
        self.dir.join(format!("{}.{ext}", hex_encode(&h)))
    }

    /// Takes the origin's exclusive lock (blocking), held until the returned file is dropped.
    fn lock(&self, origin: &str) -> Result<File, CosignError> {
        let path = self.file(origin, "lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_at("open", &path))?;
        f.lock().map_err(io_at("lock", &path))?;
        Ok(f)
    }

    /// The stored note of `origin` and its parsed body.
    fn read_state(&self, origin: &str) -> Result<Option<(String, CheckpointText)>, CosignError> {
        let path = self.file(origin, "note");
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at("open", &path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_NOTE_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_at("read", &path))?;
        let corrupt = |reason: String| CosignError::CorruptState {
            path: path.clone(),
            reason,
        };
        let note = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))?;
        let parsed = SignedNote::parse(&note).map_err(|e| corrupt(e.to_string()))?;
        let text = CheckpointText::parse(&parsed.body).map_err(|e| corrupt(e.to_string()))?;
        if text.origin != origin {
            return Err(corrupt(format!("holds a checkpoint of {:?}", text.origin)));
        }
        Ok(Some((note, text)))
    }

    /// Replaces the stored note of `origin` durably: temp file, fsync, rename, fsync the
    /// directory.
    fn write_state(&self, origin: &str, note: &str) -> Result<(), CosignError> {
        let path = self.file(origin, "note");
        let tmp = self.file(origin, "note.tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(io_at("create", &tmp))?;
        f.write_all(note.as_bytes()).map_err(io_at("write", &tmp))?;
        f.sync_all().map_err(io_at("sync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_at("rename", &path))?;
        sync_dir(&self.dir)
    }
}

/// A checkpoint a trusted key signed, with its canonical note.
struct Trusted {
    checkpoint: Checkpoint,
    note: String,
}

fn base64_of(h: &Digest) -> String {
    use base64ct::{Base64, Encoding};
    Base64::encode_string(h.as_bytes())
}

fn io_at<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> CosignError + 'p {
    move |source| CosignError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Makes a rename in `dir` durable (Unix: fsync the directory; elsewhere the rename is
/// durable once the file system says so).
fn sync_dir(dir: &Path) -> Result<(), CosignError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_at("sync", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
