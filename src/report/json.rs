//! JSON (one document) and JSON Lines (one finding per line, for streaming into other tools).
//!
//! The shape is a contract with the tools built on it: `schema/report.schema.json` describes it
//! and `tests/it/report_schema.rs` validates real output against it. Adding an optional field
//! keeps [`SCHEMA_VERSION`]; removing or changing one raises it.

use std::io::{self, Write};

use serde_json::json;

use crate::scan::ScanOutcome;

/// The version of `schema/report.schema.json` this output follows.
pub const SCHEMA_VERSION: u32 = 1;

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
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
