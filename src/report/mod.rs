//! Reports: the same findings as human text, JSON, JSON Lines, SARIF or GitLab's
//! secret-detection report.
//!
//! Secrets are redacted unless the operator passed `--show-secrets`; that choice is made once,
//! here, by filling `Finding::secret`, so no printer can leak by accident.

pub mod gitlab;
pub mod human;
pub mod json;
pub mod sarif;

use std::io::{self, Write};

use crate::finding::{Finding, Location};
use crate::scan::ScanOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
    /// GitLab's secret-detection report (`artifacts:reports:secret_detection`).
    Gitlab,
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
        Format::Gitlab => gitlab::write(out, outcome),
    }
}

/// Which findings fail a run (exit status 1): what a CI job gates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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
            FailOn::Live => v.is_none_or(|v| v.verdict != "dead"),
            FailOn::Verified => v.is_some_and(|v| v.verdict == "live"),
        }
    }
}

/// What verification concluded about a finding, for the reports that grade by it.
pub struct VerdictView {
    /// `live`, `dead` or `indeterminate`.
    pub verdict: String,
    /// The one-line blast radius or reason.
    pub summary: String,
}

/// The verification verdict a finding carries, if verification ran.
pub fn verdict(f: &Finding) -> Option<VerdictView> {
    let v = f.verification.as_ref()?;
    Some(VerdictView {
        verdict: v.get("verdict")?.as_str()?.to_string(),
        summary: v
            .get("summary")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string(),
    })
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
