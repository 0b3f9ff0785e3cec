//! Generator of `checkpoint.json`: a signed checkpoint over the entries of `entry.json`, its
//! note, log record and verifier key, the checkpoint log header and the tree level files
//! (docs/FORMAT.md §11).

use std::path::Path;

use crate::generate::{entry_inputs, LEDGER_ID, SEED_OPERATOR, SEED_REVIEWER, T0};
use crate::json::{hex, obj, J};
use base64ct::{Base64, Encoding};
use provledger::checkpoint::{
    note_key_hash, note_verifier_key, origin, Checkpoint, CHECKPOINT_HEADER_LEN, CHECKPOINT_LOG, CHECKPOINT_MAGIC,
};
use provledger::entry::entry_hash;
use provledger::hash::hash_leaf;
use provledger::merkle::{MemoryTree, NodeSource};
use provledger::tree::{level_header, level_path};
use provledger::{Digest, LedgerId, SigningKey, Timestamp};

/// The entry hashes of entry.json's positive cases, in order (entries 0..5 of one ledger).
pub(crate) fn ledger_entry_hashes() -> Vec<Digest> {
    entry_inputs()
        .iter()
        .map(|i| entry_hash(&i.build().to_bytes().expect("encodes")))
        .collect()
}

pub(crate) const CHECKPOINT_TIME: u64 = T0 + 10_000_000_000;

/// The checkpoint of the entry.json ledger at its full size, signed by the operator.
pub(crate) fn checkpoint_fixture() -> (Checkpoint, SigningKey) {
    let hashes = ledger_entry_hashes();
    let mut tree = MemoryTree::new();
    for h in &hashes {
        tree.push(hash_leaf(h)).expect("push");
    }
    let key = SigningKey::from_seed(&SEED_OPERATOR);
    let c = Checkpoint::sign(
        LedgerId(LEDGER_ID),
        hashes.len() as u64,
        tree.root(),
        Timestamp(CHECKPOINT_TIME),
        &key,
    );
    (c, key)
}

pub(crate) fn gen_checkpoint() -> J {
    let (c, key) = checkpoint_fixture();
    let vk = key.verifying_key();
    let name = origin(c.ledger_id);
    let record = c.encode();
    let note = c.to_note(&vk);
    let record_fields: Vec<J> = [
        (0, 8, "tree_size (u64)"),
        (8, 32, "root ([u8; 32])"),
        (40, 8, "timestamp (u64 ns)"),
        (48, 32, "key_id ([u8; 32])"),
        (80, 64, "signature ([u8; 64], Ed25519 over the body)"),
        (144, 4, "CRC-32C of bytes 0..144 (u32)"),
    ]
    .iter()
    .map(|&(off, size, field): &(usize, usize, &str)| {
        obj([
            ("offset", (off as u64).into()),
            ("size", (size as u64).into()),
            ("field", field.into()),
            ("hex", hex(&record[off..off + size])),
        ])
    })
    .collect();
    let mut cases = vec![obj([
        (
            "desc",
            "checkpoint of the entry.json ledger (entries 0..=4, tree size 5) at T0 + 10 s, signed by the operator \
             key (seed 0x01 x 32)"
                .into(),
        ),
        ("type", "checkpoint".into()),
        ("ledger_id", hex(&LEDGER_ID)),
        ("tree_size", c.tree_size.into()),
        ("root", hex(c.root.as_bytes())),
        ("root_base64", Base64::encode_string(c.root.as_bytes()).into()),
        ("timestamp", c.timestamp.0.into()),
        ("seed", hex(&SEED_OPERATOR)),
        ("public_key", hex(&vk.to_bytes())),
        ("key_id", hex(c.key_id.0.as_bytes())),
        ("origin", name.as_str().into()),
        ("body", c.body().into()),
        ("signature", hex(&c.signature)),
        ("record", hex(&record)),
        ("record_fields", record_fields.into()),
        ("note_key_hash", hex(&note_key_hash(&name, &vk))),
        ("note", note.as_str().into()),
        ("verifier_key", note_verifier_key(c.ledger_id, &vk).into()),
    ])];
    let mut log_header = CHECKPOINT_MAGIC.to_vec();
    log_header.extend_from_slice(&1u16.to_le_bytes());
    log_header.extend_from_slice(&[0; 6]);
    log_header.extend_from_slice(&LEDGER_ID);
    assert_eq!(log_header.len(), CHECKPOINT_HEADER_LEN);
    cases.push(obj([
        (
            "desc",
            "checkpoint log header; the file is this header followed by 148-byte records".into(),
        ),
        ("type", "log_header".into()),
        ("file_name", CHECKPOINT_LOG.into()),
        ("ledger_id", hex(&LEDGER_ID)),
        ("header", hex(&log_header)),
        ("log", hex(&[log_header.clone(), record.to_vec()].concat())),
    ]));
    let mut tree = MemoryTree::new();
    for h in ledger_entry_hashes() {
        tree.push(hash_leaf(&h)).expect("push");
    }
    for level in 0u8..3 {
        let n = tree.size() >> level;
        let nodes: Vec<J> = (0..n)
            .map(|i| hex(tree.node(level, i).expect("node").as_bytes()))
            .collect();
        let file = level_path(Path::new(""), level);
        cases.push(obj([
            (
                "desc",
                format!("tree level file {level} of the same 5-entry ledger: {n} node(s)").into(),
            ),
            ("type", "tree_level".into()),
            ("file_name", file.to_string_lossy().replace('\\', "/").into()),
            ("level", u64::from(level).into()),
            ("header", hex(&level_header(LedgerId(LEDGER_ID), level))),
            ("nodes", nodes.into()),
        ]));
    }
    let rec_neg = |desc: &str, f: &dyn Fn(&mut [u8])| {
        let mut b = record;
        f(&mut b);
        obj([
            ("desc", desc.into()),
            ("type", "record".into()),
            ("record", hex(&b)),
            ("want_err", "Checksum".into()),
        ])
    };
    cases.extend([
        rec_neg("log record with one bit of the root flipped", &|b| b[8] ^= 0x01),
        rec_neg("log record with one bit of the tree size flipped", &|b| b[0] ^= 0x01),
        rec_neg("log record with one bit of the CRC flipped", &|b| b[147] ^= 0x80),
    ]);
    let reviewer = SigningKey::from_seed(&SEED_REVIEWER).verifying_key();
    let note_neg = |desc: &str, text: String, pk: [u8; 32]| {
        obj([
            ("desc", desc.into()),
            ("type", "note".into()),
            ("note", text.into()),
            ("public_key", hex(&pk)),
            ("want_err", "Invalid".into()),
        ])
    };
    let size_line = format!("\n{}\n", c.tree_size);
    let op = vk.to_bytes();
    cases.extend([
        note_neg(
            "note with the tree size changed from 5 to 6 (signature no longer verifies)",
            note.replacen(&size_line, "\n6\n", 1),
            op,
        ),
        note_neg(
            "note with the size written non-canonically as 05 (leading zero)",
            note.replacen(&size_line, "\n05\n", 1),
            op,
        ),
        note_neg(
            "note with an extra extension line after the time line (the body must be exactly four lines)",
            note.replacen("\n\n", "\nextra\n\n", 1),
            op,
        ),
        note_neg(
            "note checked against another key (the reviewer's): no signature line with its key hash",
            note.clone(),
            reviewer.to_bytes(),
        ),
        note_neg(
            "note whose signature line uses '-' (ASCII hyphen) instead of the em dash U+2014",
            note.replacen('\u{2014}', "-", 1),
            op,
        ),
    ]);
    let hashes: Vec<J> = ledger_entry_hashes().iter().map(|h| hex(h.as_bytes())).collect();
    obj([
        (
            "desc",
            "Checkpoints and tree files (docs/FORMAT.md §11). The checkpoint body is the C2SP tlog-checkpoint \
             text 'provledger/<ledger id hex>\\n<size>\\n<root base64>\\ntime <ns>\\n', signed directly with Ed25519; \
             the root is the RFC 9162 Merkle root with BLAKE3 (NOT SHA-256). The note is the C2SP signed note: \
             body, blank line, '\u{2014} <origin> base64(key hash (4) || signature (64))'. Log records are 148 \
             bytes: tree_size u64, root, timestamp u64, key_id, signature, CRC-32C. type 'record': want_err \
             names the DecodeError of Checkpoint::decode; type 'note': Checkpoint::from_note(note, public_key) \
             must fail."
                .into(),
        ),
        ("entry_hashes", hashes.into()),
        ("cases", cases.into()),
    ])
}
