//! Generator of segment_header.json (docs/FORMAT.md §7.1, §7.2, §7.7): segment and index
//! headers, file names and index slots.

use crate::fixtures::LEDGER_ID;
use crate::generate::file_obj;
use crate::json::{hex, obj, J};
use crate::spec;
use provledger::storage::index::{encode_index_header, encode_slot, index_file_name};
use provledger::storage::segment::{segment_file_name, SegmentHeader};
use provledger::LedgerId;

pub fn gen_segment_header() -> J {
    let id = LedgerId(LEDGER_ID);
    let mut cases = Vec::new();
    for first_seq in [0u64, 1234, u64::MAX] {
        let h = spec::segment_header(2, &LEDGER_ID, first_seq);
        assert_eq!(
            SegmentHeader {
                ledger_id: id,
                first_seq
            }
            .encode(),
            h
        );
        assert_eq!(
            SegmentHeader::decode(&h),
            Ok(SegmentHeader {
                ledger_id: id,
                first_seq
            })
        );
        let name = format!("{first_seq:020}.seg");
        assert_eq!(segment_file_name(first_seq), name);
        cases.push(obj([
            ("desc", format!("segment header, first_seq {first_seq}").into()),
            ("type", "segment_header".into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("first_seq", first_seq.into()),
            ("header", hex(&h)),
            ("file_name", name.into()),
        ]));
    }
    for first_seq in [0u64, 1234] {
        let h = spec::index_header(&LEDGER_ID, first_seq);
        assert_eq!(encode_index_header(id, first_seq), h);
        let name = format!("{first_seq:020}.idx");
        assert_eq!(index_file_name(first_seq), name);
        cases.push(obj([
            ("desc", format!("index header, first_seq {first_seq}").into()),
            ("type", "index_header".into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("first_seq", first_seq.into()),
            ("header", hex(&h)),
            ("file_name", name.into()),
        ]));
    }
    for (offset, governance) in [(64u64, false), (64, true), (1_000_000, false), ((1 << 31) - 1, true)] {
        let slot = spec::index_slot(offset, governance);
        assert_eq!(encode_slot(offset, governance), slot);
        cases.push(obj([
            (
                "desc",
                format!(
                    "index slot: frame at offset {offset}, {}",
                    if governance {
                        "not an application entry (bit 31 set)"
                    } else {
                        "an application entry"
                    }
                )
                .into(),
            ),
            ("type", "index_slot".into()),
            ("offset", offset.into()),
            ("governance", governance.into()),
            ("slot", hex(&slot)),
        ]));
    }
    cases.extend(segment_header_negatives());
    let idx = spec::index_header(&LEDGER_ID, 7);
    let idx_neg = |desc: &str, b: Vec<u8>, err: &str| {
        let got = provledger::storage::index::check_index_header(&b.clone().try_into().expect("48 bytes"), id, 7)
            .map_err(|e| crate::class(&e));
        assert_eq!(got, Err(err), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "index_header".into()),
            ("ledger_id", hex(&LEDGER_ID)),
            ("first_seq", 7u64.into()),
            ("header", hex(&b)),
            ("want_err", err.into()),
        ])
    };
    let recrc = |mut b: Vec<u8>| {
        let c = spec::crc(&[&b[..44]]);
        b[44..].copy_from_slice(&c.to_le_bytes());
        b
    };
    cases.extend([
        idx_neg(
            "index header of segment 8 read for segment 7",
            spec::index_header(&LEDGER_ID, 8).to_vec(),
            "Invalid",
        ),
        idx_neg(
            "index header of another ledger (id b0..bf)",
            spec::index_header(&[0xb0; 16], 7).to_vec(),
            "Invalid",
        ),
        idx_neg(
            "index header with a bad CRC",
            {
                let mut b = idx.to_vec();
                b[44] ^= 1;
                b
            },
            "Invalid",
        ),
        idx_neg(
            "index header of version 1 (CRC recomputed)",
            recrc({
                let mut b = idx.to_vec();
                b[8] = 1;
                b
            }),
            "Invalid",
        ),
        idx_neg(
            "index header with bad magic",
            {
                let mut b = idx.to_vec();
                b[0] = b'X';
                b
            },
            "BadMagic",
        ),
    ]);
    file_obj(
        "Segment and index files (docs/FORMAT.md §7.1, §7.2, §7.7): headers and file names, index slots (bits \
         0-30 the frame offset, bit 31 set iff the entry is not an application entry). Segment headers are \
         checked in this order: magic (BadMagic), CRC (Checksum), version (UnsupportedVersion: version 1 is \
         refused with 'format version 1 is not supported'), reserved bytes (Invalid). An index header is valid \
         only if it is exactly the encoding for its segment's ledger id and first_seq; want_err names the \
         DecodeError variant the library gives (any error means 'not valid').",
        cases,
    )
}

fn segment_header_negatives() -> Vec<J> {
    let base = spec::segment_header(2, &LEDGER_ID, 7);
    let neg = |desc: &str, b: [u8; 64], err: &str| {
        let got = SegmentHeader::decode(&b).map_err(|e| crate::class(&e));
        assert_eq!(got.map(|_| ()), Err(err), "{desc}");
        obj([
            ("desc", desc.into()),
            ("type", "segment_header".into()),
            ("header", hex(&b)),
            ("want_err", err.into()),
        ])
    };
    let with = |f: &dyn Fn(&mut [u8; 64]), recrc: bool| {
        let mut b = base;
        f(&mut b);
        if recrc {
            spec::refresh_segment_crc(&mut b);
        }
        b
    };
    vec![
        neg("bad magic (first byte)", with(&|b| b[0] = b'X', false), "BadMagic"),
        neg("CRC bit flip", with(&|b| b[60] ^= 1, false), "Checksum"),
        neg(
            "first_seq bit flip, CRC not updated",
            with(&|b| b[32] ^= 1, false),
            "Checksum",
        ),
        neg(
            "a version 1 segment header (as version 1 wrote it: the same layout with version 1)",
            spec::segment_header(1, &LEDGER_ID, 0),
            "UnsupportedVersion",
        ),
        neg(
            "version 3 with a matching CRC",
            with(&|b| b[8] = 3, true),
            "UnsupportedVersion",
        ),
        neg(
            "version 1 with a stale CRC: the CRC is checked before the version",
            with(&|b| b[8] = 1, false),
            "Checksum",
        ),
        neg(
            "reserved byte 12 non-zero, CRC matching",
            with(&|b| b[12] = 1, true),
            "Invalid",
        ),
        neg(
            "reserved byte 50 non-zero, CRC matching",
            with(&|b| b[50] = 1, true),
            "Invalid",
        ),
    ]
}
