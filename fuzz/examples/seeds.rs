//! Writes seed inputs from real ledgers into `fuzz/corpus/<target>/` (or the directory given):
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds [DIR]`.

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus").into());
    provledger::fuzz::write_seeds(std::path::Path::new(&root))
}
