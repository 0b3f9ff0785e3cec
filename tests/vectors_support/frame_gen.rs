//! Generator of frame.json (docs/FORMAT.md §7.3 – §7.5, §8): frames in every form and how a
//! scan classifies segment files as the newest or a sealed segment.

use crate::fields::FieldWriter;
use crate::fixtures::*;
use crate::generate::{entry_chain, file_obj};
use crate::json::{hex, obj, J};
use crate::scan::{classify, pieces_json, Piece, Scan, Stop};
use crate::spec::{self, Key, MAX_TORN};
use provledger::storage::frame::{encode_frame, parse_section, Seal, SectionRef};
use provledger::{Digest, KeyId};

/// Entry 1 of entry.json: its record, salt, payload, and the seal of a write ending with it.
pub struct FrameParts {
    pub record: Vec<u8>,
    pub salt: [u8; 32],
    pub payload: Vec<u8>,
    pub commitment: [u8; 32],
    pub seal: [u8; spec::SEAL_LEN],
    /// sealer, chain, root, tag, size.
    pub seal_fields: ([u8; 32], [u8; 32], [u8; 32], [u8; 16], u64),
}

pub fn frame_parts() -> FrameParts {
    let chain = entry_chain();
    let (e0, e1) = (&chain[0].1, &chain[1].1);
    let op = Key::from_seed(&SEED_OPERATOR);
    let root = spec::mth(&[spec::leaf(&e0.entry_hash), spec::leaf(&e1.entry_hash)]);
    let tag = spec::seal_tag(&op.seal_key(&LEDGER_ID), &LEDGER_ID, 2, &e1.chain, &root);
    FrameParts {
        record: e1.record.clone(),
        salt: e1.spec.salt,
        payload: e1.spec.payload.clone(),
        commitment: e1.commitment,
        seal: spec::seal(&op.key_id(), &e1.chain, &root, &tag),
        seal_fields: (op.key_id(), e1.chain, root, tag, 2),
    }
}

fn frame_fields(frame: &[u8], record_len: usize, erased: bool, sealed: bool) -> FieldWriter {
    let mut w = FieldWriter::new();
    let section_len = u32::from_le_bytes(frame[4..8].try_into().expect("4"));
    w.u16("entry_len", u16::from_le_bytes([frame[0], frame[1]]));
    w.u8("frame_flags", frame[2]);
    w.u8("reserved", frame[3]);
    w.u32("section_len", section_len);
    w.raw("header_crc (CRC-32C of bytes 0..8)", &frame[8..12]);
    w.raw("entry record", &frame[12..12 + record_len]);
    let s = 12 + record_len;
    let p = usize::try_from(section_len).expect("small") - 33;
    w.u8("section state", frame[s]);
    w.digest(
        if erased { "commitment" } else { "salt" },
        &frame[s + 1..s + 33].try_into().expect("32"),
    );
    w.raw(
        if erased { "zeros (erased payload)" } else { "payload" },
        &frame[s + 33..s + 33 + p],
    );
    if sealed {
        let z = s + 33 + p;
        w.digest("seal.sealer (key id)", &frame[z..z + 32].try_into().expect("32"));
        w.digest("seal.chain", &frame[z + 32..z + 64].try_into().expect("32"));
        w.digest("seal.root", &frame[z + 64..z + 96].try_into().expect("32"));
        w.raw("seal.tag", &frame[z + 96..z + 112]);
    }
    w.raw(
        "frame_crc (CRC-32C of record, section and seal)",
        &frame[frame.len() - 4..],
    );
    assert_eq!(w.bytes, frame, "frame breakdown");
    w
}

fn frame_case(desc: &str, p: &FrameParts, erased: bool, sealed: bool) -> J {
    let section = if erased {
        spec::erased_section(&p.commitment, p.payload.len())
    } else {
        spec::present_section(&p.salt, &p.payload)
    };
    let seal = sealed.then_some(&p.seal);
    let frame = spec::frame(&p.record, &section, seal);
    if !erased {
        let lib_seal = seal.map(Seal::decode);
        let mut lib = Vec::new();
        encode_frame(&mut lib, &p.record, &p.salt, &p.payload, lib_seal.as_ref());
        assert_eq!(lib, frame, "{desc}: library frame");
    }
    let (sealer, chain, root, tag, size) = p.seal_fields;
    assert_eq!(
        Seal::decode(&p.seal),
        Seal {
            sealer: KeyId(Digest::from_bytes(sealer)),
            chain: Digest::from_bytes(chain),
            root: Digest::from_bytes(root),
            tag
        }
    );
    let mut c = obj([
        ("desc", desc.into()),
        ("type", "frame".into()),
        ("state", if erased { "erased" } else { "present" }.into()),
        ("record", hex(&p.record)),
    ]);
    c = if erased {
        c.with("commitment", hex(&p.commitment))
            .with("payload_len", p.payload.len() as u64)
    } else {
        c.with("salt", hex(&p.salt)).with("payload", hex(&p.payload))
    };
    let seal_json = sealed.then(|| {
        obj([
            ("sealer", hex(&sealer)),
            ("chain", hex(&chain)),
            ("root", hex(&root)),
            ("size", size.into()),
            ("tag", hex(&tag)),
        ])
    });
    c.with("seal", seal_json)
        .with("frame", hex(&frame))
        .with("fields", frame_fields(&frame, p.record.len(), erased, sealed).to_json())
}

/// An expected scan (from docs/FORMAT.md §8): frames handed out, then the stop.
#[derive(Clone, Copy)]
enum Exp {
    Clean(u64),
    /// Frames handed out, torn-tail offset, complete frames in the torn tail.
    Torn(u64, u64, u64),
    /// Frames handed out, damage offset.
    Damage(u64, u64),
}

fn matches(exp: Exp, got: &Scan, file_len: u64) -> bool {
    match (exp, &got.stop) {
        (Exp::Clean(n), Stop::Clean) => got.frames == n,
        (
            Exp::Torn(n, o, f),
            Stop::Torn {
                offset, bytes, frames, ..
            },
        ) => got.frames == n && *offset == o && *frames == f && *bytes == file_len - o,
        (Exp::Damage(n, o), Stop::Damage { offset, .. }) => got.frames == n && *offset == o,
        _ => false,
    }
}

fn scan_case(desc: &str, pieces: Vec<Piece>, newest: Exp, sealed: Exp) -> J {
    let len = 64
        + pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::Zeros(n) => *n,
            })
            .sum::<u64>();
    let (n, s) = (classify(&pieces, true), classify(&pieces, false));
    assert!(matches(newest, &n, len), "{desc}: newest segment: {n:?}");
    assert!(matches(sealed, &s, len), "{desc}: sealed segment: {s:?}");
    obj([
        ("desc", desc.into()),
        ("type", "scan".into()),
        ("segment", pieces_json(&pieces)),
        ("newest", n.json()),
        ("sealed", s.json()),
    ])
}

fn b(bytes: &[u8]) -> Piece {
    Piece::Bytes(bytes.to_vec())
}

/// A frame with a valid header CRC whose header breaks a rule of §7.3 (T3).
fn bad_header(frame: &[u8], f: &dyn Fn(&mut [u8])) -> Vec<u8> {
    let mut v = frame.to_vec();
    f(&mut v[..8]);
    let c = spec::crc(&[&v[..8]]);
    v[8..12].copy_from_slice(&c.to_le_bytes());
    v
}

pub fn gen_frame() -> J {
    let p = frame_parts();
    let mut cases = vec![
        frame_case(
            "frame of entry.json entry 1, payload present (state 0), not sealed",
            &p,
            false,
            false,
        ),
        frame_case(
            "the same frame sealed: frame_flags bit 0, then the seal of a write ending with entry 1 (sealer = the \
             operator's key id, chain = L_1, root = the Merkle root of entries 0 and 1, tag under the \
             operator's seal key of hashes.json)",
            &p,
            false,
            true,
        ),
        frame_case(
            "the unsealed frame after erasure: state 1, the commitment C in place of the salt, the payload \
             zeroed, a new frame_crc; header and record unchanged",
            &p,
            true,
            false,
        ),
        frame_case("the sealed frame after erasure (the seal is kept)", &p, true, true),
    ];
    cases.extend(scan_cases(&p));
    cases.extend(section_cases(&p));
    file_obj(
        "Frames (docs/FORMAT.md §7.3 - §7.5) and torn tail versus damage (§8). type 'frame': exact bytes with a \
         field breakdown. type 'scan': a segment file of ledger a0..af, first_seq 0: its 64-byte header, then \
         'segment' - pieces in order, each a hex string (bytes) or a number (that many zero bytes; large \
         files are given this way). 'newest' / 'sealed' give how a reader classifies the file as the newest \
         segment or as a sealed one: 'frames' complete frames accepted (in the newest segment only those up to \
         the last sealed one, unless damage follows: then every complete frame before the damage, so that \
         the damage is at the next entry's position), then 'stop': null for a clean end, or class 'torn' (offset where the torn tail \
         starts = the end of the last sealed frame, its length in bytes, the complete frames in it) or class \
         'damage' (offset). 'reason' is the library's wording, informative only. The frames in 'scan' cases \
         are entry.json entry 1's (sealed 'S' and unsealed 'U' forms, as in the first two cases); in the \
         cases with large frames the payloads are zeros and not the committed ones (a scan checks framing \
         only). type 'section': parsing a payload section (§7.4); want_err 'format' for damage.",
        cases,
    )
}

#[allow(clippy::too_many_lines)] // one list of cases
fn scan_cases(p: &FrameParts) -> Vec<J> {
    let present = spec::present_section(&p.salt, &p.payload);
    let u = spec::frame(&p.record, &present, None);
    let s = spec::frame(&p.record, &present, Some(&p.seal));
    let (o, sl, ul) = (64u64, s.len() as u64, u.len() as u64);
    let last = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = s.clone();
        f(&mut v);
        v
    };
    let crc_zeroed = last(&|v| {
        let n = v.len();
        v[n - 4..].fill(0);
    });
    let mut cases = vec![
        scan_case("header only, no frame", vec![], Exp::Clean(0), Exp::Damage(0, o)),
        scan_case(
            "header only, then 40 zero bytes: a new segment with space reserved ahead (T1b)",
            vec![Piece::Zeros(40)],
            Exp::Clean(0),
            Exp::Damage(0, o),
        ),
        scan_case("S: one sealed frame", vec![b(&s)], Exp::Clean(1), Exp::Clean(1)),
        scan_case(
            "U S: a write of two frames",
            vec![b(&u), b(&s)],
            Exp::Clean(2),
            Exp::Clean(2),
        ),
        scan_case("S S: two writes", vec![b(&s), b(&s)], Exp::Clean(2), Exp::Clean(2)),
        scan_case(
            "U: one complete frame whose write never got its seal (T1)",
            vec![b(&u)],
            Exp::Torn(0, o, 1),
            Exp::Damage(1, o),
        ),
        scan_case(
            "S U: complete frames after the last seal (T1) - also what removing the final write's seal (flag \
             cleared, seal cut, CRCs recomputed) looks like: indistinguishable from a crash",
            vec![b(&s), b(&u)],
            Exp::Torn(1, o + sl, 1),
            Exp::Damage(2, o + sl),
        ),
        scan_case(
            "S U U: two complete frames after the last seal",
            vec![b(&s), b(&u), b(&u)],
            Exp::Torn(1, o + sl, 2),
            Exp::Damage(3, o + sl),
        ),
        scan_case(
            "S, then 5 non-zero bytes: an incomplete frame header at EOF (T2)",
            vec![b(&s), b(&[0xee; 5])],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then the first 11 bytes of a frame header (T2)",
            vec![b(&s), b(&s[..11])],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S U, then the first 11 bytes of a header: the torn tail starts after S and holds U",
            vec![b(&s), b(&u), b(&s[..11])],
            Exp::Torn(1, o + sl, 1),
            Exp::Damage(2, o + sl + ul),
        ),
        scan_case(
            "S, then S with bit 0 of entry_len flipped (header CRC mismatch, T6)",
            vec![b(&s), b(&last(&|v| v[0] ^= 1))],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S with a flipped bit in its header CRC, then S: damage even in the newest segment (T6)",
            vec![b(&last(&|v| v[9] ^= 0x80)), b(&s)],
            Exp::Damage(0, o),
            Exp::Damage(0, o),
        ),
    ];
    for (what, f) in [
        (
            "entry_len 14 (below MIN_ENTRY_LEN = 15)",
            &(|h: &mut [u8]| h[..2].copy_from_slice(&14u16.to_le_bytes())) as &dyn Fn(&mut [u8]),
        ),
        ("frame_flags 0x03 (an undefined flag bit)", &|h: &mut [u8]| h[2] = 3),
        ("the reserved byte 1", &|h: &mut [u8]| h[3] = 1),
        ("section_len 32 (below 33)", &|h: &mut [u8]| {
            h[4..8].copy_from_slice(&32u32.to_le_bytes())
        }),
        (
            "section_len 33 + 16 MiB + 1 (payload above MAX_PAYLOAD_LEN)",
            &|h: &mut [u8]| h[4..8].copy_from_slice(&(33u32 + (16 << 20) + 1).to_le_bytes()),
        ),
    ] {
        cases.push(scan_case(
            &format!("S, then a frame whose header has a matching CRC but {what} (T3)"),
            vec![b(&s), b(&bad_header(&s, f))],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ));
    }
    cases.extend([
        scan_case(
            "S, then S cut one byte short: the frame extends past EOF (T4)",
            vec![b(&s), b(&s[..s.len() - 1])],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then only the 12-byte header of the next frame (T4)",
            vec![b(&s), b(&s[..12])],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then 40 zero bytes: space reserved ahead, or a size extended whose data never reached the disk: \
             a clean end (T1b)",
            vec![b(&s), Piece::Zeros(40)],
            Exp::Clean(1),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then the first 7 bytes of a header and 40 zero bytes: a write that stopped in its header, in \
             reserved space (header CRC field zero, zeros after it: T5)",
            vec![b(&s), b(&s[..7]), Piece::Zeros(40)],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then the first 11 bytes of a header and 40 zero bytes: 3 bytes of the header CRC field are \
             not zero, so damage (T6) - a write cut inside a checksum field is not told from damage",
            vec![b(&s), b(&s[..11]), Piece::Zeros(40)],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S U, then 40 zero bytes (T5): the torn tail starts after S",
            vec![b(&s), b(&u), Piece::Zeros(40)],
            Exp::Torn(1, o + sl, 1),
            Exp::Damage(2, o + sl + ul),
        ),
        scan_case(
            "S, then 40 zero bytes and one byte 0x01: not all zero, so damage (T6)",
            vec![b(&s), Piece::Zeros(40), b(&[1])],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then S whose frame_crc (its last 4 bytes) is zero and which ends at EOF (T7)",
            vec![b(&s), b(&crc_zeroed)],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then S whose frame_crc is zero, then 40 zero bytes: reserved space after it (T7)",
            vec![b(&s), b(&crc_zeroed), Piece::Zeros(40)],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then the first 40 bytes of S and zeros to 40 bytes past where it would end: a write that \
             stopped part-way into reserved space (frame_crc zero, zeros after it: T7)",
            vec![b(&s), b(&s[..40]), Piece::Zeros(sl - 40 + 40)],
            Exp::Torn(1, o + sl, 0),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, S with a zero frame_crc, S: a non-zero byte after it, so damage (T8)",
            vec![b(&s), b(&crc_zeroed), b(&s)],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then S with a bit flipped in its record (T8)",
            vec![b(&s), b(&last(&|v| v[12 + 20] ^= 1))],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then S with a bit flipped in its payload (T8)",
            vec![b(&s), b(&last(&|v| v[12 + p.record.len() + 33] ^= 1))],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then S with a bit flipped in its seal's tag: frame_crc covers the seal (T8)",
            vec![
                b(&s),
                b(&last(&|v| {
                    let n = v.len();
                    v[n - 5] ^= 1;
                })),
            ],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S U, then S with its payload state byte set to 1 but not erased (CRC not updated, T8)",
            vec![b(&s), b(&u), b(&last(&|v| v[12 + p.record.len()] = 1))],
            Exp::Damage(2, o + sl + ul),
            Exp::Damage(2, o + sl + ul),
        ),
    ]);
    cases.extend(max_torn_cases(&p.record, &s, o, sl));
    cases
}

/// Torn tails at and beyond `MAX_TORN` (T0), given with runs of zeros.
fn max_torn_cases(record: &[u8], s: &[u8], o: u64, sl: u64) -> Vec<J> {
    // An unsealed frame with an 11 MiB zero payload: header, record, state and salt, zeros, CRC.
    let big = 11u64 << 20;
    let head = spec::frame_header(record.len(), false, 33 + usize::try_from(big).expect("small"));
    let prefix = [&head[..], record, &[0u8], &[0x5a; 32]].concat();
    let zeros = vec![0u8; usize::try_from(big).expect("small")];
    let crc = spec::crc(&[&prefix[12..], &zeros]);
    let big_len = prefix.len() as u64 + big + 4;
    let big_frame = vec![Piece::Bytes(prefix), Piece::Zeros(big), b(&crc.to_le_bytes())];
    let frames = |k: usize| -> Vec<Piece> { (0..k).flat_map(|_| big_frame.clone()).collect() };
    let three_then_s = [frames(3), vec![b(s)]].concat();
    let s_then_two = [vec![b(s)], frames(2)].concat();
    assert!(3 * big_len > MAX_TORN && 2 * big_len < MAX_TORN);
    vec![
        scan_case(
            "S, then exactly MAX_TORN (32 MiB) zero bytes: still reserved space, a clean end (T1b)",
            vec![b(s), Piece::Zeros(MAX_TORN)],
            Exp::Clean(1),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then MAX_TORN + 1 zero bytes: more than MAX_TORN after the last seal is damage (T0)",
            vec![b(s), Piece::Zeros(MAX_TORN + 1)],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "S, then 1 TiB of zeros: damage, decided from the lengths alone (T0)",
            vec![b(s), Piece::Zeros(1 << 40)],
            Exp::Damage(1, o + sl),
            Exp::Damage(1, o + sl),
        ),
        scan_case(
            "no frame, MAX_TORN + 1 zero bytes after the header: damage (T0)",
            vec![Piece::Zeros(MAX_TORN + 1)],
            Exp::Damage(0, o),
            Exp::Damage(0, o),
        ),
        scan_case(
            "S, then two complete unsealed frames of 11 MiB each (under MAX_TORN): a torn tail of two frames",
            s_then_two,
            Exp::Torn(1, o + sl, 2),
            Exp::Damage(3, o + sl),
        ),
        scan_case(
            "three complete unsealed frames of 11 MiB each, then S: at the fourth frame more than MAX_TORN bytes \
             follow the last seal, damage in the newest segment (T0, checked first); a sealed segment does not \
             apply T0 and ends cleanly",
            three_then_s,
            Exp::Damage(0, o),
            Exp::Clean(4),
        ),
    ]
}

fn section_cases(p: &FrameParts) -> Vec<J> {
    let present = spec::present_section(&p.salt, &p.payload);
    let erased = spec::erased_section(&p.commitment, 3);
    let section = |desc: &str, s: Vec<u8>, want: J| {
        obj([("desc", desc.into()), ("type", "section".into()), ("section", hex(&s))]).with("want", want)
    };
    let bad = |desc: &str, s: Vec<u8>| {
        let reason = parse_section(&s).expect_err(desc);
        section(desc, s, obj([("want_err", "format".into()), ("reason", reason.into())]))
    };
    assert_eq!(
        parse_section(&present),
        Ok(SectionRef::Present {
            salt: &p.salt,
            payload: &p.payload
        })
    );
    assert_eq!(
        parse_section(&erased),
        Ok(SectionRef::Erased {
            commitment: Digest::from_bytes(p.commitment),
            len: 3
        })
    );
    let mut not_zeroed = erased.clone();
    not_zeroed[34] = 1;
    vec![
        section(
            "present: state 0, salt, payload",
            present.clone(),
            obj([
                ("state", "present".into()),
                ("salt", hex(&p.salt)),
                ("payload", hex(&p.payload)),
            ]),
        ),
        section(
            "erased: state 1, the commitment, three zero bytes (a 3-byte payload)",
            erased,
            obj([
                ("state", "erased".into()),
                ("commitment", hex(&p.commitment)),
                ("payload_len", 3u64.into()),
            ]),
        ),
        bad("state 1 but a non-zero byte after the commitment", not_zeroed),
        bad("state 2 is undefined", [vec![2], present[1..].to_vec()].concat()),
    ]
}
