//! Runs one input through a hook outside libFuzzer, for debugging a finding:
//! `RUSTFLAGS="--cfg fuzzing" PROVLEDGER_FUZZ_TRACE=1 cargo run --manifest-path fuzz/Cargo.toml
//! --example repro -- <target> <input file>`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(target), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: repro <target> <input file>");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("read the input");
    let hook: fn(&[u8]) = match target.as_str() {
        "decode_entry" => provledger::fuzz::decode_entry,
        "decode_frame_and_segment" => provledger::fuzz::decode_frame_and_segment,
        "decode_checkpoint" => provledger::fuzz::decode_checkpoint,
        "decode_note" => provledger::fuzz::decode_note,
        "decode_proofs" => provledger::fuzz::decode_proofs,
        "verify_proofs_against_real_tree" => provledger::fuzz::verify_proofs_against_real_tree,
        "decode_json" => provledger::fuzz::decode_json,
        "decode_records" => provledger::fuzz::decode_records,
        "hash_each" => provledger::fuzz::hash_each,
        "open_arbitrary_ledger" => provledger::fuzz::open_arbitrary_ledger,
        "keyless_attacker" => provledger::fuzz::keyless_attacker,
        "model_ops" => provledger::fuzz::model_ops,
        other => {
            eprintln!("unknown target {other}");
            std::process::exit(2);
        }
    };
    hook(&data);
    eprintln!("{target}: no finding");
}
