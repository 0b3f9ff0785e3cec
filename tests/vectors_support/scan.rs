//! Scanning a segment file given as pieces (hex bytes and runs of zeros), so that files of
//! tens of megabytes, or a terabyte of zeros, fit in a vector and in memory: runs of zeros are
//! virtual, read as zeros and never allocated.

use std::io;
use std::path::Path;

use crate::fixtures::LEDGER_ID;
use crate::json::{hex, obj, J};
use crate::spec;
use provledger::storage::segment::{ScanStop, Scanner};
use provledger::storage::StorageFile;
use serde_json::Value;

/// A piece of a file: bytes, or a run of zero bytes.
#[derive(Clone, Debug)]
pub enum Piece {
    Bytes(Vec<u8>),
    Zeros(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Zeros(n) => *n,
        }
    }
}

/// Pieces as JSON: hex strings and numbers (runs of zeros).
pub fn pieces_json(pieces: &[Piece]) -> J {
    J::Arr(
        pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => hex(b),
                Piece::Zeros(n) => J::Num(*n),
            })
            .collect(),
    )
}

/// Pieces from their JSON form.
pub fn pieces_from(v: &Value) -> Vec<Piece> {
    v.as_array()
        .expect("pieces")
        .iter()
        .map(|p| match p {
            Value::Number(n) => Piece::Zeros(n.as_u64().expect("u64")),
            Value::String(s) => Piece::Bytes(crate::unhex(s)),
            other => panic!("not a piece: {other}"),
        })
        .collect()
}

/// A read-only file made of pieces.
#[derive(Debug)]
pub struct PieceFile(Vec<Piece>);

impl StorageFile for PieceFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.iter().map(Piece::len).sum())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut start = 0u64;
        let mut done = 0usize;
        for p in &self.0 {
            let end = start + p.len();
            let at = offset + done as u64;
            if done < buf.len() && at < end {
                let n = usize::try_from((end - at).min((buf.len() - done) as u64)).expect("fits");
                let from = usize::try_from(at - start).unwrap_or(usize::MAX);
                match p {
                    Piece::Bytes(b) => buf[done..done + n].copy_from_slice(&b[from..from + n]),
                    Piece::Zeros(_) => buf[done..done + n].fill(0),
                }
                done += n;
            }
            start = end;
        }
        if done == buf.len() {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }

    fn write_all_at(&mut self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&mut self, _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Where a scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The end of the file, cleanly.
    Clean,
    /// A torn tail from `offset`: `bytes` long, holding `frames` complete frames.
    Torn {
        offset: u64,
        bytes: u64,
        frames: u64,
        reason: String,
    },
    /// Damage at `offset`.
    Damage { offset: u64, reason: String },
}

/// What scanning a segment found: the frames handed out, then where it stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub frames: u64,
    pub stop: Stop,
}

impl Scan {
    pub fn json(&self) -> J {
        let stop = match &self.stop {
            Stop::Clean => J::Null,
            Stop::Torn {
                offset,
                bytes,
                frames,
                reason,
            } => obj([
                ("class", "torn".into()),
                ("offset", (*offset).into()),
                ("bytes", (*bytes).into()),
                ("frames", (*frames).into()),
                ("reason", reason.as_str().into()),
            ]),
            Stop::Damage { offset, reason } => obj([
                ("class", "damage".into()),
                ("offset", (*offset).into()),
                ("reason", reason.as_str().into()),
            ]),
        };
        obj([("frames", self.frames.into()), ("stop", stop)])
    }

    /// The scan a vector records (`{frames, stop}`).
    pub fn from_json(v: &Value) -> Self {
        let n = |x: &Value| x.as_u64().expect("number");
        let s = &v["stop"];
        let stop = match s["class"].as_str() {
            None => Stop::Clean,
            Some("torn") => Stop::Torn {
                offset: n(&s["offset"]),
                bytes: n(&s["bytes"]),
                frames: n(&s["frames"]),
                reason: s["reason"].as_str().expect("reason").into(),
            },
            Some("damage") => Stop::Damage {
                offset: n(&s["offset"]),
                reason: s["reason"].as_str().expect("reason").into(),
            },
            Some(c) => panic!("unknown class {c}"),
        };
        Scan {
            frames: n(&v["frames"]),
            stop,
        }
    }
}

/// How the library's scanner classifies segment 0 of ledger a0..af holding `pieces` after its
/// header, as the newest segment or as a sealed one.
pub fn classify(pieces: &[Piece], newest: bool) -> Scan {
    let mut all = vec![Piece::Bytes(spec::segment_header(2, &LEDGER_ID, 0).to_vec())];
    all.extend_from_slice(pieces);
    let file = PieceFile(all);
    let len = file.len().expect("length");
    let path = Path::new("segments/00000000000000000000.seg");
    let mut scanner = Scanner::new(Box::new(file), path, 64, len, newest);
    let mut frames = 0u64;
    let stop = loop {
        match scanner.next_chunk(64) {
            Ok(c) if c.frames.is_empty() => break Stop::Clean,
            Ok(c) => frames += c.frames.len() as u64,
            Err(ScanStop::Torn {
                offset,
                bytes,
                reason,
                frames,
            }) => {
                break Stop::Torn {
                    offset,
                    bytes,
                    frames,
                    reason: reason.into(),
                }
            }
            Err(ScanStop::Corrupt {
                offset,
                reason,
                frames: held,
            }) => {
                // Complete frames before the damage that no seal ended: counted like the rest.
                frames += held;
                break Stop::Damage {
                    offset,
                    reason: reason.into(),
                };
            }
            Err(ScanStop::Io(k)) => panic!("I/O error {k:?}"),
        }
    };
    Scan { frames, stop }
}
