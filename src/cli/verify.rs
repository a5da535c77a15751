//! `quench verify`: secrets on standard input, or a findings report, asked of their issuers.
//! (The `--verify` flag of the scanning commands is in `common.rs`.)

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::common::OutputArgs;
use crate::config::Config;
use crate::finding::{Context as LocContext, Finding, Location};
use crate::rules::RuleSet;
use crate::scan::{Collector, ScanOptions, ScanOutcome, Scanner};
use crate::verify;

#[derive(Args)]
pub struct VerifyCmd {
    /// Rule id of the secrets on standard input (one per line, optionally followed by
    /// `part=value` companions). Without it each line is scanned to find its rule.
    #[arg(long, value_name = "ID")]
    rule: Option<String>,
    /// Re-verify the findings of a JSON report (written with `--show-secrets`) instead.
    #[arg(long, value_name = "FILE")]
    findings: Option<PathBuf>,
    /// Extra rules: a TOML file or a directory of them. Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Operator configuration file; repeatable, later files override earlier ones.
    #[arg(long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Seconds to wait for one issuer answer.
    #[arg(long, value_name = "SECS", value_parser = super::common::parse_seconds)]
    verify_timeout: Option<std::time::Duration>,
    #[command(flatten)]
    access: super::common::AccessArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl VerifyCmd {
    /// Exit status: 1 when a live secret was found, else 0.
    pub fn run(self) -> Result<i32> {
        let config = Config::load(&self.config)?;
        let rules = super::common::load_rules(&config, &self.rules)?;
        let mut outcome = match (&self.findings, &self.rule) {
            (Some(path), _) => from_report(path, &rules)?,
            (None, Some(id)) => from_lines(id, &rules)?,
            (None, None) => by_scanning(&rules)?,
        };
        let ctx = verify::Context::from_config(&config, self.verify_timeout)?;
        let stats =
            verify::verify_findings(&mut outcome.findings, ctx.clone()).context("starting verification")?;
        if let Some(limits) = self.access.limits() {
            let a = crate::access::enumerate_findings(&mut outcome.findings, ctx, &limits)?;
            outcome.summary.notes.push(a.note());
        }
        outcome.summary.findings = outcome.findings.len();
        outcome.summary.locations = outcome.findings.iter().map(|f| f.locations.len()).sum();
        outcome.summary.notes.push(format!(
            "verified: {} live, {} dead, {} indeterminate, {} without a verify recipe",
            stats.live, stats.dead, stats.indeterminate, stats.unverifiable
        ));
        self.output.emit(&mut outcome, "verify", &[])?;
        Ok(if stats.live > 0 {
            super::EXIT_FINDINGS
        } else {
            super::EXIT_CLEAN
        })
    }
}

fn stdin_location(line: usize) -> Location {
    Location {
        path: crate::source::stream::STDIN_PATH.into(),
        line,
        column: 1,
        end_line: line,
        end_column: 1,
        offset: 0,
        context: LocContext::Stdin,
        commit: None,
        decoded: None,
        blob: None,
    }
}

/// One secret per line for a named rule; `name=value` words after it are parts.
fn from_lines(id: &str, rules: &RuleSet) -> Result<ScanOutcome> {
    let rule = Arc::new(
        rules
            .get(id)
            .with_context(|| format!("--rule {id}: no such rule (see `quench rules list`)"))?
            .clone(),
    );
    let mut outcome = ScanOutcome::default();
    let mut seen = std::collections::HashMap::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading standard input")?;
        let mut words = line.split_whitespace();
        let Some(secret) = words.next() else { continue };
        let mut parts = Vec::new();
        for w in words {
            match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => parts.push((k.to_string(), v.as_bytes().to_vec())),
                _ => bail!("standard input line {}: expected `SECRET [part=value …]`", n + 1),
            }
        }
        let f = Finding::new(rule.clone(), secret.as_bytes().to_vec(), parts);
        let i = *seen.entry(f.fingerprint.clone()).or_insert_with(|| {
            outcome.findings.push(f);
            outcome.findings.len() - 1
        });
        outcome.findings[i].locations.push(stdin_location(n + 1));
    }
    Ok(outcome)
}

/// Scans standard input and verifies what it finds.
fn by_scanning(rules: &RuleSet) -> Result<ScanOutcome> {
    let scanner = Scanner::new(rules.clone(), ScanOptions::default()).map_err(anyhow::Error::msg)?;
    let collector = Collector::new();
    let mut input = std::io::stdin().lock();
    let (_, end) = crate::source::stream::scan_reader(
        &mut input as &mut dyn Read,
        crate::source::stream::STDIN_PATH,
        LocContext::Stdin,
        &scanner,
        &collector,
        crate::source::stream::CHUNK,
    );
    if let crate::source::stream::StreamEnd::Failed(e) = end {
        bail!("reading standard input: {e}");
    }
    Ok(collector.finish(&Default::default()))
}

/// Findings of an earlier JSON report; the report must carry the secrets (`--show-secrets`).
fn from_report(path: &PathBuf, rules: &RuleSet) -> Result<ScanOutcome> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading findings {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("findings {} is not JSON", path.display()))?;
    let items = doc["findings"].as_array().with_context(|| {
        format!(
            "findings {}: no `findings` array (a `quench scan --format json` report)",
            path.display()
        )
    })?;
    let mut outcome = ScanOutcome::default();
    for (i, f) in items.iter().enumerate() {
        let rule_id = f["rule_id"].as_str().unwrap_or("");
        let rule = rules
            .get(rule_id)
            .with_context(|| format!("findings {} #{}: unknown rule {rule_id:?}", path.display(), i + 1))?;
        let Some(secret) = f["secret"].as_str() else {
            bail!(
                "findings {} #{}: no secret in the report; write it with `--show-secrets` to re-verify",
                path.display(),
                i + 1
            );
        };
        let parts = f["parts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some((
                            p["name"].as_str()?.to_string(),
                            p["redacted"].as_str()?.as_bytes().to_vec(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut finding = Finding::new(Arc::new(rule.clone()), secret.as_bytes().to_vec(), parts);
        for l in f["locations"].as_array().into_iter().flatten() {
            let n = |k: &str| l[k].as_u64().unwrap_or(0) as usize;
            finding.locations.push(Location {
                path: l["path"].as_str().unwrap_or("").to_string(),
                line: n("line"),
                column: n("column"),
                end_line: n("end_line"),
                end_column: n("end_column"),
                offset: l["offset"].as_u64().unwrap_or(0),
                context: match l["context"].as_str() {
                    Some("ci-config") => LocContext::CiConfig,
                    Some("log") => LocContext::Log,
                    Some("stdin") => LocContext::Stdin,
                    _ => LocContext::File,
                },
                commit: None,
                decoded: None,
                blob: l["blob"].as_str().map(String::from),
            });
        }
        outcome.findings.push(finding);
    }
    Ok(outcome)
}
