//! Reports: the same findings as human text, JSON, JSON Lines or SARIF.
//!
//! Secrets are redacted unless the operator passed `--show-secrets`; that choice is made once,
//! here, by filling `Finding::secret`, so no printer can leak by accident.

pub mod human;
pub mod json;
pub mod sarif;

use std::io::{self, Write};

use crate::scan::ScanOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: &'static [Format] = &[Format::Human, Format::Json, Format::Jsonl, Format::Sarif];

    /// The name users type (`-f sarif`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Sarif => "sarif",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown report format {s:?}"))
    }
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
            .then(|| String::from_utf8_lossy(f.raw_secret.expose()).into_owned());
        for p in &mut f.parts {
            if opts.show_secrets {
                p.redacted = String::from_utf8_lossy(p.value.expose()).into_owned();
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
