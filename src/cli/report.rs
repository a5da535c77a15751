//! `quench report`: exposure windows and the time-to-revoke distribution from the store, as
//! text, JSON, or a self-contained HTML page.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

use super::findings::StoreCmdArgs;
use crate::store::exposure::{human, Distribution, ExposureReport};
use crate::store::{self, FindingFilter};

#[derive(Args)]
pub struct ReportCmd {
    #[command(flatten)]
    store: StoreCmdArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also write an HTML page with a chart of the exposure windows.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

fn line(name: &str, d: &Distribution) -> String {
    let f = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
    format!(
        "{name:<16} median {:<8} p95 {:<8} max {:<8} ({} keys)",
        f(d.median_secs),
        f(d.p95_secs),
        f(d.max_secs),
        d.count
    )
}

impl ReportCmd {
    pub fn run(self) -> Result<i32> {
        let (_, _, st) = self.store.open()?;
        let found = st.findings(&FindingFilter::default())?;
        let report = ExposureReport::build(&found, store::now());
        if let Some(path) = &self.html {
            std::fs::write(path, store::html::render(&report, &found))
                .with_context(|| format!("writing HTML report {}", path.display()))?;
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        } else {
            let statuses: Vec<String> = report.by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
            writeln!(out, "{} findings: {}", report.findings, statuses.join(", "))?;
            writeln!(out, "{}", line("time to revoke", &report.time_to_revoke))?;
            writeln!(out, "{}", line("exposure window", &report.exposure))?;
            for w in &report.windows {
                writeln!(
                    out,
                    "  {:<13} {:<28} {}  exposed {} before detection, {} after{}",
                    w.status.as_str(),
                    w.rule_id,
                    &w.fingerprint[..w.fingerprint.len().min(12)],
                    human(w.to_detect_secs),
                    human(w.after_detect_secs),
                    if w.closed { "" } else { " (still open)" }
                )?;
            }
        }
        Ok(super::EXIT_CLEAN)
    }
}
