//! Reports: the same findings as human text, JSON, JSON Lines or SARIF.
//!
//! Secrets are redacted unless the operator passed `--show-secrets`; that choice is made once,
//! here, by filling `Finding::secret`, so no printer can leak by accident.

pub mod human;
pub mod json;
pub mod sarif;

use std::io::{self, Write};

use crate::scan::ScanOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
}

pub struct ReportOptions {
    pub format: Format,
    pub show_secrets: bool,
    pub color: bool,
    /// Name of the command for the report header (`scan`, `git`).
    pub command: String,
}

/// Writes the outcome in the chosen format.
pub fn write(out: &mut dyn Write, outcome: &mut ScanOutcome, opts: &ReportOptions) -> io::Result<()> {
    for f in &mut outcome.findings {
        f.secret = opts
            .show_secrets
            .then(|| String::from_utf8_lossy(&f.raw_secret).into_owned());
        for p in &mut f.parts {
            if opts.show_secrets {
                p.redacted = String::from_utf8_lossy(&p.value).into_owned();
            }
        }
    }
    match opts.format {
        Format::Human => human::write(out, outcome, opts),
        Format::Json => json::write(out, outcome),
        Format::Jsonl => json::write_lines(out, outcome),
        Format::Sarif => sarif::write(out, outcome),
    }
}
