//! JSON (one document) and JSON Lines (one finding per line, for streaming into other tools).

use std::io::{self, Write};

use serde_json::json;

use crate::scan::ScanOutcome;

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    let doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "findings": outcome.findings,
        "skipped": outcome.skipped,
        "summary": outcome.summary,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

pub fn write_lines(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    for f in &outcome.findings {
        serde_json::to_writer(&mut *out, f)?;
        writeln!(out)?;
    }
    Ok(())
}
