//! Reports: the same findings as human text, JSON, JSON Lines, SARIF, GitLab's
//! secret-detection report or an HTML page.
//!
//! Secrets are redacted unless the operator passed `--show-secrets`; that choice is made once,
//! here, by filling `Finding::secret`, so no printer can leak by accident.

pub mod access;
pub mod chart;
pub mod gitlab;
pub mod html;
pub mod human;
pub mod json;
pub mod sarif;

use std::io::{self, Write};

use crate::finding::{Finding, Location};
use crate::scan::ScanOutcome;
use crate::verdict::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
    /// GitLab's secret-detection report (`artifacts:reports:secret_detection`).
    Gitlab,
    /// One self-contained HTML page with the exposure chart (`html.rs`).
    Html,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: &'static [Format] = &[
        Format::Human,
        Format::Json,
        Format::Jsonl,
        Format::Sarif,
        Format::Gitlab,
        Format::Html,
    ];

    /// The name users type (`-f sarif`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Sarif => "sarif",
            Format::Gitlab => "gitlab",
            Format::Html => "html",
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
    /// What was scanned (paths, a repository, sweep targets): the HTML page names them and
    /// the repository each finding is in.
    pub roots: Vec<String>,
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
        Format::Gitlab => gitlab::write(out, outcome),
        Format::Html => html::write(out, outcome, opts),
    }
}

/// Which findings fail a run (exit status 1): what a CI job gates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// Every finding.
    #[default]
    Any,
    /// Findings the issuer did not confirm dead: live, inconclusive, or with no way to verify.
    Live,
    /// Only findings the issuer confirmed live.
    Verified,
}

impl FailOn {
    /// Every level, in the order `--help` lists them.
    pub const ALL: &'static [FailOn] = &[FailOn::Any, FailOn::Live, FailOn::Verified];

    pub fn parse(s: &str) -> Option<FailOn> {
        FailOn::ALL.iter().copied().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Any => "any",
            FailOn::Live => "live",
            FailOn::Verified => "verified",
        }
    }

    /// Whether this finding fails the run.
    pub fn fails(self, f: &Finding) -> bool {
        let v = verdict(f);
        match self {
            FailOn::Any => true,
            FailOn::Live => v.is_none_or(|v| v.verdict != Verdict::Dead),
            FailOn::Verified => v.is_some_and(|v| v.verdict == Verdict::Live),
        }
    }
}

/// The verification a finding carries, if verification ran.
pub fn verdict(f: &Finding) -> Option<&crate::verdict::Verification> {
    f.verification.as_ref()
}

/// One place of one secret, as a stable string: the fingerprint with the path, line and
/// commit. Reports that track results per place (SARIF, GitLab) hash it, so the same secret in
/// two files is two results.
pub fn location_key(f: &Finding, loc: &Location) -> String {
    let commit = loc.commit.as_ref().map(|c| c.id.as_str()).unwrap_or("");
    format!("{}\0{}\0{}\0{}", f.fingerprint, loc.path, loc.line, commit)
}

/// A location's path as CI tools want it, relative with forward slashes: a leading `./`
/// stripped (SARIF URIs, GitLab `location.file`).
pub fn relative_path(path: &str) -> String {
    let p = path.replace('\\', "/");
    p.strip_prefix("./").unwrap_or(&p).to_string()
}
