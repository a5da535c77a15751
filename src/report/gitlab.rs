//! GitLab's secret-detection security report (`artifacts:reports:secret_detection`), the shape
//! the merge-request security widget and the vulnerability report read. GitLab refuses a whole
//! report that does not match the schema version it declares, so every field written here is
//! one that version defines, with the types and bounds it sets.
//!
//! One vulnerability per location: GitLab tracks a vulnerability by its location (file, line,
//! commit) and primary identifier, so the same key in two files is two entries to triage. The
//! secret itself is never written (`raw_source_code_extract` would hold it): only its redacted
//! preview, in the description.

use std::io::{self, Write};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::finding::{Finding, Location};
use crate::scan::ScanOutcome;

/// The schema version the report declares (GitLab's `security-report-schemas` release).
pub const SCHEMA_VERSION: &str = "15.2.1";

/// A commit id for locations outside git history (a directory scan), where the schema still
/// requires one: all zeros, as git itself writes for "no commit".
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    let end = chrono::Utc::now();
    let start = end - chrono::Duration::milliseconds(outcome.summary.duration_ms as i64);
    let tool = json!({
        "id": "quench",
        "name": "quench",
        "url": env!("CARGO_PKG_REPOSITORY"),
        "version": env!("CARGO_PKG_VERSION"),
        "vendor": { "name": "quench" },
    });
    let messages: Vec<Value> = outcome
        .summary
        .notes
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| json!({ "level": "info", "value": n }))
        .collect();
    let vulnerabilities: Vec<Value> = outcome
        .findings
        .iter()
        .flat_map(|f| f.locations.iter().map(move |l| vulnerability(f, l)))
        .collect();
    let doc = json!({
        "version": SCHEMA_VERSION,
        "schema": format!(
            "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v{SCHEMA_VERSION}/dist/secret-detection-report-format.json"
        ),
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "secret_detection",
            "start_time": gitlab_time(start),
            "end_time": gitlab_time(end),
            "status": "success",
            "messages": messages,
        },
        "vulnerabilities": vulnerabilities,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The schema's time format: UTC, seconds, no offset (`2020-01-28T03:26:02`).
fn gitlab_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn vulnerability(f: &Finding, loc: &Location) -> Value {
    let rule = f.rule.as_ref();
    let shown = f.secret.as_deref().unwrap_or(&f.secret_redacted);
    let mut description = format!(
        "A {} credential ({}, {} identity) `{shown}`.",
        f.issuer,
        f.rule_name,
        f.identity.as_str()
    );
    if let Some(v) = super::verdict(f) {
        description.push_str(&format!(" Verified {}: {}.", v.verdict.as_str(), v.summary));
    }
    let mut identifier = json!({
        "type": "quench_rule_id",
        "name": format!("quench rule {}", f.rule_id),
        "value": f.rule_id,
    });
    if let Some(url) = rule
        .and_then(|r| r.spec.references.first())
        .filter(|u| u.starts_with("http"))
    {
        identifier["url"] = json!(url);
    }
    let mut commit = json!({ "sha": NO_COMMIT });
    if let Some(c) = &loc.commit {
        commit = json!({
            "sha": c.id,
            "author": format!("{} <{}>", c.author_name, c.author_email),
            "date": c.author_time,
            "message": c.summary,
        });
    }
    let links: Vec<Value> = rule
        .map(|r| {
            r.spec
                .references
                .iter()
                .filter(|u| u.starts_with("http"))
                .map(|u| json!({ "url": u }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": location_id(f, loc),
        "name": truncate(&f.rule_name, 255),
        "description": description,
        "severity": severity(f),
        "solution": format!(
            "Revoke the credential at {} (it is exposed wherever this commit is), then remove it from the code; \
             history rewriting does not un-leak it.",
            f.issuer
        ),
        "identifiers": [identifier],
        "links": links,
        "location": {
            "file": super::relative_path(&loc.path),
            "start_line": loc.line,
            "end_line": loc.end_line.max(loc.line),
            "commit": commit,
        },
    })
}

/// A UUID-shaped id, stable for one secret at one place, so GitLab keeps a dismissal across
/// pipelines and two places of one secret stay two vulnerabilities.
fn location_id(f: &Finding, loc: &Location) -> String {
    let h = Sha256::digest(super::location_key(f, loc).as_bytes());
    let h = hex::encode(&h[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// GitLab's severities; a key the issuer confirmed dead is reported, but as Info.
fn severity(f: &Finding) -> &'static str {
    if super::verdict(f).is_some_and(|v| v.verdict == crate::verdict::Verdict::Dead) {
        return "Info";
    }
    match f.severity.as_str() {
        "critical" => "Critical",
        "high" => "High",
        "medium" => "Medium",
        "low" => "Low",
        _ => "Unknown",
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
