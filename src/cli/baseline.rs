//! `quench baseline create`: today's findings as fingerprints (never secrets), so later scans
//! with `--baseline FILE` report only what is new. The file is safe to commit.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};

use super::common::CommonArgs;
use super::git::GitCmd;
use crate::scan::{Collector, ScanOutcome};
use crate::suppress::Baseline;

#[derive(Args)]
pub struct BaselineCmd {
    #[command(subcommand)]
    action: BaselineAction,
}

#[derive(Subcommand)]
enum BaselineAction {
    /// Scan, then write the findings' fingerprints, rule ids, paths and lines to `-o FILE`
    /// (standard output without it).
    Create(CreateArgs),
}

#[derive(Args)]
struct CreateArgs {
    /// Files or directories to scan. Default: the current directory.
    #[arg(value_name = "PATH", conflicts_with = "git")]
    paths: Vec<String>,
    /// Scan this repository's whole git history instead of files.
    #[arg(long, value_name = "REPO")]
    git: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

impl BaselineCmd {
    pub fn run(self) -> Result<i32> {
        let BaselineAction::Create(args) = self.action;
        let outcome = match &args.git {
            Some(repo) => GitCmd {
                repo: Some(repo.clone()),
                since: None,
                all_refs: false,
                range: None,
                branch: vec![],
                staged: false,
                pre_push: None,
                common: args.common.clone(),
            }
            .scan()?,
            None => scan_files(&args.paths, &args.common)?,
        };
        let baseline = Baseline::from_findings(&outcome.findings);
        let text = serde_json::to_string_pretty(&baseline)? + "\n";
        match &args.common.output.output {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing baseline {}", path.display()))?;
                eprintln!(
                    "quench: baseline of {} finding(s) written to {}",
                    baseline.findings.len(),
                    path.display()
                );
            }
            None => print!("{text}"),
        }
        Ok(super::EXIT_CLEAN)
    }
}

/// The file scan `quench scan` runs, without its report.
fn scan_files(paths: &[String], common: &CommonArgs) -> Result<ScanOutcome> {
    let paths = if paths.is_empty() {
        vec![".".to_string()]
    } else {
        paths.to_vec()
    };
    let prepared = common.prepare(&paths)?;
    let collector = Arc::new(Collector::new());
    crate::source::fs::scan_paths(&paths, &prepared.scanner, &collector);
    let mut outcome = collector.finish(&prepared.scanner.opts.ignore_fingerprints);
    common.apply_baseline(&mut outcome)?;
    Ok(outcome)
}
