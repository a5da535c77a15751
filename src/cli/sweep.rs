//! `quench sweep`: scan many repositories incrementally.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Args;

use super::common::CommonArgs;
use crate::config::Config;
use crate::scan::{Collector, ScanOutcome, Scanner};
use crate::sweep::{RepoReport, SweepSection, Sweeper};

#[derive(Args)]
pub struct SweepCmd {
    // Mirrors and the record of scanned blobs live in the data directory: `--data-dir` (shared
    // with the store), else `[sweep] data_dir`, else the user's data directory.
    #[command(flatten)]
    common: CommonArgs,
}

/// The data directory: flag, then `[serve]`/`[sweep]` `data_dir` (relative to the config file),
/// then the user's data directory (never one in the current directory, which may be a checkout).
pub(super) fn data_dir(flag: Option<&Path>, configured: Option<&Path>, config: &Config) -> Result<PathBuf> {
    if let Some(d) = flag {
        return Ok(d.to_path_buf());
    }
    Ok(match (configured, config.base_dir()) {
        (Some(d), Some(base)) if d.is_relative() => base.join(d),
        (Some(d), _) => d.to_path_buf(),
        (None, _) => crate::store::location::user_data_dir()?,
    })
}

/// Runs one sweep over the `[sweep]` section of `config`: the shared body of `quench sweep` and
/// the scheduled sweeps of `quench serve`.
pub fn sweep_once(
    config: &Config,
    data_dir: &Path,
    scanner: &Scanner,
) -> Result<(ScanOutcome, Vec<RepoReport>)> {
    let section: SweepSection = config.section("sweep")?;
    let discover = crate::sweep::targets(&section, config.base_dir());
    let (targets, mut failed) = match tokio::runtime::Handle::try_current() {
        Ok(h) => h.block_on(discover),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(discover),
    };
    let sweeper = Sweeper::open(data_dir, &section)?;
    let collector = Collector::new();
    let mut reports = sweeper.run(&targets, scanner, &collector);
    reports.append(&mut failed);
    let mut outcome = collector.finish(&scanner.opts.ignore_fingerprints);
    outcome.summary.notes.extend(reports.iter().map(RepoReport::line));
    Ok((outcome, reports))
}

impl SweepCmd {
    pub fn run(self) -> Result<i32> {
        let t0 = Instant::now();
        let prepared = self.common.prepare(&[])?;
        for w in &prepared.warnings {
            eprintln!("quench: warning: {w}");
        }
        let section: SweepSection = prepared.config.section("sweep")?;
        if section.repos.is_empty() && section.github.is_empty() && section.gitlab.is_empty() {
            anyhow::bail!("nothing to sweep: give [sweep] repos, [[sweep.github]] or [[sweep.gitlab]] in a --config file");
        }
        let dir = data_dir(
            self.common.store.data_dir.as_deref(),
            section.data_dir.as_deref(),
            &prepared.config,
        )?;
        let scanner: Arc<Scanner> = prepared.scanner.clone();
        let (mut outcome, reports) = sweep_once(&prepared.config, &dir, &scanner)?;
        for r in &reports {
            eprintln!("quench sweep: {}", r.line());
        }
        self.common.apply_baseline(&mut outcome)?;
        outcome.summary.duration_ms = t0.elapsed().as_millis() as u64;
        let code = self.common.output.emit(&mut outcome, "sweep")?;
        // A failed repository is an error for whoever runs the sweep (cron, CI), even when
        // others had findings; the report above still has everything that was scanned.
        Ok(if reports.iter().any(|r| r.error.is_some()) {
            super::EXIT_ERROR
        } else {
            code
        })
    }
}
