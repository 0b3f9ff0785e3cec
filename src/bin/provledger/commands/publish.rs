//! `provledger publish`: upload a ledger's state at its newest checkpoint to object storage.

use std::fmt::Write as _;

use serde_json::json;

use provledger::remote::{publish, PublishOptions, PublishReport, Remote};

use crate::cli::PublishArgs;
use crate::error::CliError;
use crate::output;

/// Publishes; exit 0 when the bucket holds the state at the newest checkpoint.
pub fn run(args: &PublishArgs) -> Result<u8, CliError> {
    let remote = Remote::from_url(&args.url)?;
    let mut opts = PublishOptions::default().concurrency(args.concurrency);
    // A progress bar on a terminal (stderr), never in JSON mode or when stderr is redirected.
    let bar = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    if let Some(b) = &bar {
        let b = b.clone();
        opts = opts.on_progress(move |done, total| {
            b.set_length(total);
            b.set_position(done);
        });
    }
    let report = publish(&args.dir, &remote, &opts);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let r = report?;
    if args.json {
        output::json(&json!({
            "url": remote.url(),
            "published_size": r.published_size,
            "previous_size": r.previous_size,
            "pieces_uploaded": r.pieces_uploaded,
            "bytes_uploaded": r.bytes_uploaded,
            "pieces_present": r.pieces_present,
            "pieces_republished": r.pieces_republished,
            "latest_updated": r.latest_updated,
        }))?;
    } else {
        output::line(&summary(remote.url(), &r))?;
    }
    Ok(0)
}

fn summary(url: &str, r: &PublishReport) -> String {
    let mut s = format!(
        "published: {url} holds the ledger up to its checkpoint of {} entries ({} pieces, {} uploaded",
        r.published_size,
        r.pieces_uploaded,
        output::bytes(r.bytes_uploaded)
    );
    if r.pieces_present > 0 {
        let _ = write!(s, "; {} already there", r.pieces_present);
    }
    if r.pieces_republished > 0 {
        let _ = write!(s, "; {} replaced to erase redacted payloads", r.pieces_republished);
    }
    s.push(')');
    if !r.latest_updated {
        s.push_str("; its latest checkpoint was already this one or newer");
    }
    s
}
