//! Whole ledger directories written from docs/FORMAT.md §7 and §11: segments (frames, seals),
//! index files, tree level files and the checkpoint log, from entries built by
//! `fixtures::build`. The library's writer draws ledger ids, salts and times at random, so the
//! vector ledgers are assembled here; ledger.json's test then checks that the library verifies
//! them as recorded and that its writer recognises their seals as its own.

use std::collections::{BTreeMap, BTreeSet};

use crate::fixtures::*;
use crate::spec::{self, Cp, Key};
use provledger::EntryKind;

/// Where a frame landed.
#[derive(Clone, Debug)]
pub struct FrameAt {
    pub path: String,
    pub offset: usize,
    pub record_len: usize,
    pub len: usize,
}

/// A ledger's files and what the entries as placed hash to.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub files: BTreeMap<String, Vec<u8>>,
    pub frames: Vec<FrameAt>,
    /// Entry hash and chain value of each complete frame (torn tail excluded), as placed.
    pub entries: Vec<([u8; 32], [u8; 32])>,
}

impl Rendered {
    pub fn patch(&mut self, path: &str, f: impl FnOnce(&mut Vec<u8>)) {
        f(self.files.get_mut(path).unwrap_or_else(|| panic!("no file {path}")));
    }

    /// Changes the frame at `seq` with `f` (given the frame's bytes) and, if `recrc`,
    /// recomputes its frame CRC.
    pub fn patch_frame(&mut self, seq: usize, recrc: bool, f: impl FnOnce(&mut [u8])) {
        let at = self.frames[seq].clone();
        self.patch(&at.path, |file| {
            let frame = &mut file[at.offset..at.offset + at.len];
            f(frame);
            if recrc {
                spec::refresh_frame_crc(frame);
            }
        });
    }

    /// Offset of the payload section inside the frame at `seq`.
    pub fn section_at(&self, seq: usize) -> usize {
        12 + self.frames[seq].record_len
    }
}

pub fn segment_path(first: u64) -> String {
    format!("segments/{first:020}.seg")
}

pub fn index_path(first: u64) -> String {
    format!("segments/{first:020}.idx")
}

/// A ledger being assembled.
#[derive(Clone, Debug)]
pub struct Lb {
    /// Entries built at the place they were signed for.
    pub built: Vec<Built>,
    /// Which built entry is at each position.
    pub order: Vec<usize>,
    /// Positions whose frame is sealed (the last frame of each write).
    pub sealed: BTreeSet<usize>,
    /// First positions of the segments (0 first).
    pub segments: Vec<usize>,
    /// Positions whose payload section is erased.
    pub erased: BTreeSet<usize>,
    pub checkpoints: Vec<Cp>,
    /// Bytes after the last frame of the newest segment (a torn tail).
    pub tail: Vec<u8>,
}

/// The time of entry `seq` in the vector ledgers.
pub fn t(seq: u64) -> u64 {
    T0 + seq * SECOND
}

/// The salt of entry `seq` in the vector ledgers.
pub fn salt(seq: u64) -> [u8; 32] {
    arr32(0x40 + 8 * u8::try_from(seq).expect("small ledger"))
}

impl Lb {
    /// A ledger of `specs` in one segment, each position in `sealed` ending a write.
    pub fn new(specs: Vec<EntrySpec>, sealed: &[usize]) -> Self {
        let mut lb = Lb {
            built: vec![],
            order: vec![],
            sealed: sealed.iter().copied().collect(),
            segments: vec![0],
            erased: BTreeSet::new(),
            checkpoints: vec![],
            tail: vec![],
        };
        for s in specs {
            lb.push(s, false);
        }
        lb
    }

    /// Builds `spec` at the end of the ledger as it is placed now.
    pub fn push(&mut self, spec: EntrySpec, sealed: bool) -> [u8; 32] {
        let seq = self.order.len();
        let prev = self.placed().last().map_or([0; 32], |(_, l)| *l);
        let b = build(&LEDGER_ID, seq as u64, prev, &spec);
        check_with_library(&LEDGER_ID, &b);
        let e = b.entry_hash;
        self.built.push(b);
        self.order.push(self.built.len() - 1);
        if sealed {
            self.sealed.insert(seq);
        }
        e
    }

    /// The entry hash the entry at position `i` was built with.
    pub fn hash(&self, i: usize) -> [u8; 32] {
        self.built[self.order[i]].entry_hash
    }

    /// (E, L) of every position, computed from the frames as placed.
    pub fn placed(&self) -> Vec<([u8; 32], [u8; 32])> {
        let mut prev = [0u8; 32];
        self.order
            .iter()
            .enumerate()
            .map(|(p, &i)| {
                let e = self.built[i].entry_hash_at(p as u64);
                prev = spec::chain(&prev, &e);
                (e, prev)
            })
            .collect()
    }

    /// The leaf hashes of the first `n` positions.
    pub fn leaves(&self, n: usize) -> Vec<[u8; 32]> {
        self.placed()[..n].iter().map(|(e, _)| spec::leaf(e)).collect()
    }

    /// A checkpoint of the first `size` entries signed by `seed` (and added to the log).
    pub fn checkpoint(&mut self, size: usize, seed: &[u8; 32]) -> Cp {
        let cp = Cp::sign(
            &LEDGER_ID,
            size as u64,
            spec::mth(&self.leaves(size)),
            t(100 + self.checkpoints.len() as u64),
            &Key::from_seed(seed),
        );
        self.checkpoints.push(cp);
        cp
    }

    fn frame(&self, p: usize, placed: &[([u8; 32], [u8; 32])], writer: &Key, seal_key: &[u8; 32]) -> Vec<u8> {
        let b = &self.built[self.order[p]];
        let section = if self.erased.contains(&p) {
            spec::erased_section(&b.commitment, b.spec.payload.len())
        } else {
            spec::present_section(&b.spec.salt, &b.spec.payload)
        };
        let seal = self.sealed.contains(&p).then(|| {
            let leaves: Vec<[u8; 32]> = placed[..=p].iter().map(|(e, _)| spec::leaf(e)).collect();
            let (chain, root) = (placed[p].1, spec::mth(&leaves));
            let tag = spec::seal_tag(seal_key, &LEDGER_ID, p as u64 + 1, &chain, &root);
            spec::seal(&writer.key_id(), &chain, &root, &tag)
        });
        spec::frame(&b.record, &section, seal.as_ref())
    }

    /// Writes every file of the ledger.
    pub fn render(&self) -> Rendered {
        let writer = Key::from_seed(&SEED_OPERATOR);
        let seal_key = writer.seal_key(&LEDGER_ID);
        let placed = self.placed();
        let n = placed.len();
        let mut files = BTreeMap::new();
        let mut frames = Vec::with_capacity(n);
        for (k, &first) in self.segments.iter().enumerate() {
            let end = self.segments.get(k + 1).copied().unwrap_or(n);
            let mut seg = spec::segment_header(2, &LEDGER_ID, first as u64).to_vec();
            let mut idx = spec::index_header(&LEDGER_ID, first as u64).to_vec();
            for p in first..end {
                let f = self.frame(p, &placed, &writer, &seal_key);
                let kind = self.built[self.order[p]].spec.kind;
                idx.extend_from_slice(&spec::index_slot(seg.len() as u64, kind != EntryKind::Application));
                frames.push(FrameAt {
                    path: segment_path(first as u64),
                    offset: seg.len(),
                    record_len: self.built[self.order[p]].record.len(),
                    len: f.len(),
                });
                seg.extend_from_slice(&f);
            }
            if k + 1 == self.segments.len() {
                seg.extend_from_slice(&self.tail);
            }
            files.insert(segment_path(first as u64), seg);
            files.insert(index_path(first as u64), idx);
        }
        let leaves: Vec<[u8; 32]> = placed.iter().map(|(e, _)| spec::leaf(e)).collect();
        for level in (0..64u32).step_by(2).take_while(|&k| n >> k > 0) {
            let nodes: Vec<[u8; 32]> = leaves.chunks_exact(1 << level).map(spec::mth).collect();
            let level8 = u8::try_from(level).expect("small");
            let file = [spec::tree_header(&LEDGER_ID, level8).to_vec(), nodes.concat()].concat();
            files.insert(format!("tree/level-{level:02}.hashes"), file);
        }
        let mut log = spec::log_header(&LEDGER_ID).to_vec();
        for c in &self.checkpoints {
            log.extend_from_slice(&c.record());
        }
        files.insert("checkpoints.log".into(), log);
        Rendered {
            files,
            frames,
            entries: placed,
        }
    }
}
