//! Generator of checkpoint.json (docs/FORMAT.md §11): a checkpoint of entry.json's ledger,
//! its body, note, log record and verifier key, the checkpoint log with its torn-tail rule,
//! and the tree level files of that ledger.

use std::path::Path;

use crate::fixtures::*;
use crate::generate::entry_chain;
use crate::json::{hex, hex_list, obj, J};
use crate::spec::{self, Cp, Key};
use provledger::checkpoint::{note_key_hash, note_verifier_key, origin, Checkpoint, CHECKPOINT_LOG};
use provledger::tree::{level_header, level_path};
use provledger::{Digest, KeyId, LedgerId, Timestamp};

pub const CHECKPOINT_TIME: u64 = T0 + 10 * SECOND;

/// The entry hashes of entry.json's entries (one ledger).
pub fn ledger_entry_hashes() -> Vec<[u8; 32]> {
    entry_chain().iter().map(|(_, b)| b.entry_hash).collect()
}

/// The checkpoint of entry.json's ledger at its full size, signed by the operator.
pub fn checkpoint_fixture() -> Cp {
    let leaves: Vec<[u8; 32]> = ledger_entry_hashes().iter().map(spec::leaf).collect();
    let cp = Cp::sign(
        &LEDGER_ID,
        leaves.len() as u64,
        spec::mth(&leaves),
        CHECKPOINT_TIME,
        &Key::from_seed(&SEED_OPERATOR),
    );
    let lib = library_checkpoint(&cp);
    assert_eq!(lib.encode(), cp.record(), "library checkpoint record");
    cp
}

pub fn library_checkpoint(cp: &Cp) -> Checkpoint {
    Checkpoint {
        ledger_id: LedgerId(LEDGER_ID),
        tree_size: cp.size,
        root: Digest::from_bytes(cp.root),
        timestamp: Timestamp(cp.time),
        key_id: KeyId(Digest::from_bytes(cp.key_id)),
        signature: cp.signature,
    }
}

/// What the library's checkpoint-log reader finds in `bytes`: (checkpoints, torn bytes), or
/// `Err` for damage.
pub fn library_read_log(bytes: &[u8]) -> Result<(u64, u64), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(CHECKPOINT_LOG), bytes).expect("write log");
    use provledger::storage::Backend;
    let root = provledger::storage::StdBackend
        .open_dir(dir.path(), false)
        .expect("open dir");
    provledger::checkpoint::read_log(root.as_ref(), LedgerId(LEDGER_ID))
        .map(|l| (l.checkpoints.len() as u64, l.torn_bytes))
        .map_err(|e| e.to_string())
}

/// The nodes of level `level` of the tree over `leaves` (roots of perfect subtrees, §11.4).
pub fn level_nodes(leaves: &[[u8; 32]], level: u32) -> Vec<[u8; 32]> {
    leaves.chunks_exact(1 << level).map(spec::mth).collect()
}

#[allow(clippy::too_many_lines)] // one list of cases
pub fn gen_checkpoint() -> J {
    let cp = checkpoint_fixture();
    let op = Key::from_seed(&SEED_OPERATOR);
    let vk = provledger::SigningKey::from_seed(&SEED_OPERATOR).verifying_key();
    let id = LedgerId(LEDGER_ID);
    let name = format!("provledger/{}", spec::hex(&LEDGER_ID));
    assert_eq!(origin(id), name);
    let body = spec::checkpoint_body(&LEDGER_ID, cp.size, &cp.root, cp.time);
    let lib = library_checkpoint(&cp);
    assert_eq!(lib.body(), body);
    let note = spec::note(&LEDGER_ID, &cp, &op.public());
    assert_eq!(lib.to_note(&vk), note);
    assert_eq!(note_key_hash(&name, &vk), spec::note_key_hash(&name, &op.public()));
    let vkey = spec::verifier_key(&LEDGER_ID, &op.public());
    assert_eq!(note_verifier_key(id, &vk), vkey);
    let record = cp.record();
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
            "checkpoint of entry.json's ledger (entries 0..=5, tree size 6) at T0 + 10 s, signed by the operator \
             key (seed 01 x 32)"
                .into(),
        ),
        ("type", "checkpoint".into()),
        ("ledger_id", hex(&LEDGER_ID)),
        ("tree_size", cp.size.into()),
        ("root", hex(&cp.root)),
        ("root_base64", spec::base64(&cp.root).into()),
        ("timestamp", cp.time.into()),
        ("seed", hex(&SEED_OPERATOR)),
        ("public_key", hex(&op.public())),
        ("key_id", hex(&cp.key_id)),
        ("origin", name.as_str().into()),
        ("body", body.as_str().into()),
        ("signature", hex(&cp.signature)),
        ("record", hex(&record)),
        ("record_fields", record_fields.into()),
        ("note_key_hash", hex(&spec::note_key_hash(&name, &op.public()))),
        ("note", note.as_str().into()),
        ("verifier_key", vkey.into()),
    ])];
    let header = spec::log_header(&LEDGER_ID);
    let log = |desc: &str, bytes: Vec<u8>, checkpoints: u64, torn: u64| {
        assert_eq!(library_read_log(&bytes), Ok((checkpoints, torn)), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "log".into()),
            ("file_name", CHECKPOINT_LOG.into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("log", hex(&bytes)),
            ("checkpoints", checkpoints.into()),
            ("torn_bytes", torn.into()),
        ])
    };
    let log_err = |desc: &str, bytes: Vec<u8>| {
        assert!(library_read_log(&bytes).is_err(), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "log".into()),
            ("file_name", CHECKPOINT_LOG.into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("log", hex(&bytes)),
            ("want_err", "damage".into()),
        ])
    };
    let one = [&header[..], &record].concat();
    let mut bad_crc = one.clone();
    bad_crc[32 + 147] ^= 0x80;
    let mut other = spec::log_header(&[0xb0; 16]).to_vec();
    other.extend_from_slice(&record);
    cases.extend([
        log(
            "checkpoint log: the 32-byte header (magic PLEDGCKP, version 2, zeros, ledger id) and no record",
            header.to_vec(),
            0,
            0,
        ),
        log("the log holding the checkpoint above", one.clone(), 1, 0),
        log(
            "the log with an incomplete final record (100 bytes): torn, ignored",
            [&one[..], &record[..100]].concat(),
            1,
            100,
        ),
        log(
            "the log with a final complete record of 148 zero bytes: torn, ignored",
            [&one[..], &[0; 148]].concat(),
            1,
            148,
        ),
        log_err(
            "a record of zeros that is not the last one: damage",
            [&header[..], &[0; 148], &record].concat(),
        ),
        log_err("the record with one bit of its CRC flipped", bad_crc),
        log_err("the record with one bit of its root flipped (CRC not updated)", {
            let mut b = one.clone();
            b[32 + 8] ^= 1;
            b
        }),
        log_err("the log header of another ledger (id b0..bf)", other),
        log_err("the log header with version 1", {
            let mut b = one.clone();
            b[8] = 1;
            b
        }),
    ]);
    let leaves: Vec<[u8; 32]> = ledger_entry_hashes().iter().map(spec::leaf).collect();
    for level in [0u8, 2] {
        let nodes = level_nodes(&leaves, u32::from(level));
        let h = spec::tree_header(&LEDGER_ID, level);
        assert_eq!(level_header(id, level), h);
        let file = format!("tree/level-{level:02}.hashes");
        assert_eq!(level_path(Path::new(""), level), Path::new(&file));
        let bytes: Vec<u8> = [h.to_vec(), nodes.concat()].concat();
        cases.push(obj([
            (
                "desc",
                format!(
                    "tree level file {level} of the same 6-entry ledger: {} node(s) (level {level} holds the roots \
                     of the perfect subtrees of {} leaves)",
                    nodes.len(),
                    1u32 << level
                )
                .into(),
            ),
            ("type", "tree_level".into()),
            ("file_name", file.into()),
            ("level", u64::from(level).into()),
            ("header", hex(&h)),
            ("nodes", hex_list(&nodes)),
            ("file", hex(&bytes)),
        ]));
    }
    cases.extend(note_cases(&cp, &note));
    obj([
        (
            "desc",
            "Checkpoints and tree files (docs/FORMAT.md §11). The body is the C2SP tlog-checkpoint text \
             'provledger/<ledger id hex>\\n<size>\\n<root base64>\\ntime <ns>\\n', signed directly with Ed25519; \
             the root is the RFC 6962 SHA-256 Merkle root of the entries' hashes. The note is the C2SP signed \
             note: body, blank line, one line per signature '\u{2014} <origin> base64(key hash (4) || signature \
             (64))'. type 'log': a checkpoints.log file: the number of valid checkpoints and torn bytes a \
             reader finds, or want_err 'damage' (a bad header or a bad record that is not a torn tail). type \
             'tree_level': a tree/level-NN.hashes file. type 'note': reading a note for 'public_key': 'checkpoint' \
             (tree size, root, time) or want_err 'Invalid' (rejected)."
                .into(),
        ),
        ("entry_hashes", hex_list(&ledger_entry_hashes())),
        ("cases", cases.into()),
    ])
}

fn note_cases(cp: &Cp, note: &str) -> Vec<J> {
    let op = Key::from_seed(&SEED_OPERATOR).public();
    let reviewer = Key::from_seed(&SEED_REVIEWER);
    let name = format!("provledger/{}", spec::hex(&LEDGER_ID));
    let note_case = |desc: &str, text: String, pk: [u8; 32], ok: bool| {
        let vk = provledger::VerifyingKey::from_bytes(&pk).expect("valid key");
        let got = Checkpoint::from_note(&text, &vk);
        let c = obj([
            ("desc", desc.into()),
            ("type", "note".into()),
            ("note", text.into()),
            ("public_key", hex(&pk)),
        ]);
        if ok {
            let lib = got.expect(desc);
            assert_eq!(
                (lib.tree_size, lib.root.to_bytes(), lib.timestamp.0),
                (cp.size, cp.root, cp.time)
            );
            c.with(
                "checkpoint",
                obj([
                    ("tree_size", cp.size.into()),
                    ("root", hex(&cp.root)),
                    ("timestamp", cp.time.into()),
                ]),
            )
        } else {
            assert!(got.is_err(), "{desc}");
            c.with("want_err", "Invalid")
        }
    };
    let size_line = format!("\n{}\n", cp.size);
    let witness_sig = reviewer.sign(b"a witness cosignature");
    let witness_line = format!(
        "\u{2014} {name} {}\n",
        spec::base64(&[&spec::note_key_hash(&name, &reviewer.public())[..], &witness_sig].concat())
    );
    let other_origin = format!(
        "\u{2014} witness.example/log {}\n",
        spec::base64(
            &[
                &spec::note_key_hash("witness.example/log", &reviewer.public())[..],
                &witness_sig
            ]
            .concat()
        )
    );
    let with_first = |line: &str| note.replacen("\n\n", &format!("\n\n{line}"), 1);
    vec![
        note_case("the note, read with the operator's key", note.to_owned(), op, true),
        note_case(
            "the note with a witness's signature line (another key) before the operator's: skipped",
            with_first(&witness_line),
            op,
            true,
        ),
        note_case(
            "the note with a signature line of another origin before the operator's: skipped",
            with_first(&other_origin),
            op,
            true,
        ),
        note_case(
            "the tree size changed from 6 to 7 (the signature no longer verifies)",
            note.replacen(&size_line, "\n7\n", 1),
            op,
            false,
        ),
        note_case(
            "the size written non-canonically as 06 (leading zero)",
            note.replacen(&size_line, "\n06\n", 1),
            op,
            false,
        ),
        note_case(
            "an extra extension line after the time line (the body is exactly four lines)",
            note.replacen("\n\n", "\nextra\n\n", 1),
            op,
            false,
        ),
        note_case(
            "read with another key (the reviewer's): no signature line carries its key hash",
            note.to_owned(),
            reviewer.public(),
            false,
        ),
        note_case(
            "the signature line starts with '-' (ASCII hyphen) instead of the em dash U+2014",
            note.replacen('\u{2014}', "-", 1),
            op,
            false,
        ),
        note_case(
            "the note without its final line feed",
            note.trim_end_matches('\n').to_owned(),
            op,
            false,
        ),
        note_case(
            "a witness line whose key hash is the operator's but whose signature is not: the first matching line \
             decides",
            with_first(&format!(
                "\u{2014} {name} {}\n",
                spec::base64(&[&spec::note_key_hash(&name, &op)[..], &witness_sig].concat())
            )),
            op,
            false,
        ),
    ]
}
