//! `quench sweep`: scan many repositories incrementally.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::common::{CommonArgs, StoreFlags};
use crate::config::Config;
use crate::revoke::Request;
use crate::store::StoreOptions;
use crate::sweep::SweepSection;

#[derive(Args)]
pub struct SweepCmd {
    // Mirrors and the record of scanned blobs live in the data directory: `--data-dir` (shared
    // with the store), else `[sweep] data_dir`, else the user's data directory.
    #[command(flatten)]
    common: CommonArgs,
    /// Queue one job per repository in the shared store (`--store=postgres://…`) for
    /// `quench sweep --worker` processes, instead of sweeping here.
    #[arg(long, conflicts_with = "worker")]
    enqueue: bool,
    /// Take queued repositories from the shared store (`--store=postgres://…`) and sweep them,
    /// one at a time, until none is left; findings go to the store.
    #[arg(long)]
    worker: bool,
}

/// The store a sweep (or the service) records into: the data directory unless `[store]
/// data_dir` says otherwise. A sweep's configuration is a request to act: its `[revoke]` policy
/// applies as written (see [`Request::Configured`]); `--store` and `--revoke` still work.
pub(super) fn sweep_store(
    flags: &StoreFlags,
    config: &Config,
    dir: &Path,
) -> Result<(StoreOptions, Request)> {
    let section: crate::store::StoreSection = config.section("store")?;
    let request = if flags.revoke {
        Request::Asked
    } else {
        Request::Configured
    };
    let store = StoreOptions {
        record: flags.store.is_some() || flags.revoke,
        data_dir: match section.data_dir {
            Some(_) => None,
            None => Some(dir.to_path_buf()),
        },
        url: super::common::store_url(flags.store.as_deref()),
    };
    Ok((store, request))
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

impl SweepCmd {
    pub fn run(self) -> Result<i32> {
        if self.common.no_progress {
            // Every flag a command takes does something, or is refused.
            anyhow::bail!(
                "sweep draws no progress bar (it reports one line per repository): drop --no-progress"
            );
        }
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
        let mut opts = self.common.pipeline_options(&prepared, &[], [])?;
        let (store, request) = sweep_store(&self.common.store, &prepared.config, &dir)?;
        opts.store = Some(store);
        opts.revoke = request;
        if self.enqueue {
            let (queued, listed, failed) = crate::sweep::enqueue(&prepared.config, &opts)?;
            for r in &failed {
                eprintln!("quench sweep: {}", r.line());
            }
            eprintln!(
                "quench sweep: {queued} of {listed} repositories queued for the workers ({} queued or being swept already)",
                listed as u64 - queued.min(listed as u64)
            );
            return Ok(if failed.is_empty() { 0 } else { super::EXIT_ERROR });
        }
        if self.worker {
            let (mut failed, mut found) = (false, false);
            crate::sweep::work(&prepared.config, &dir, &prepared.scanner, &opts, |r, ran| {
                eprintln!("quench sweep: {}", r.line());
                failed |= r.error.is_some();
                if let Some(ran) = ran {
                    found |= !ran.outcome.findings.is_empty();
                    for note in &ran.after.notes {
                        eprintln!("quench: {}: {note}", r.name);
                    }
                }
            })?;
            return Ok(if failed {
                super::EXIT_ERROR
            } else if found {
                1
            } else {
                0
            });
        }
        let (mut ran, reports) = crate::sweep::sweep_once(&prepared.config, &dir, &prepared.scanner, &opts)?;
        for r in &reports {
            eprintln!("quench sweep: {}", r.line());
        }
        for note in &ran.after.notes {
            eprintln!("quench: {note}");
        }
        let code = self
            .common
            .output
            .emit(&mut ran.outcome, "sweep", &section.repos)?;
        // A failed repository is an error for whoever runs the sweep (cron, CI), even when
        // others had findings; the report above still has everything that was scanned.
        Ok(if reports.iter().any(|r| r.error.is_some()) {
            super::EXIT_ERROR
        } else {
            code
        })
    }
}
