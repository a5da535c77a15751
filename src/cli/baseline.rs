//! `quench baseline create`: today's findings as fingerprints (never secrets), so later scans
//! with `--baseline FILE` report only what is new. The file is safe to commit.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};

use super::common::{CommonArgs, WalkArgs};
use super::git::GitCmd;
use crate::scan::ScanOutcome;
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
    /// For the file walk (refused with `--git`).
    #[command(flatten)]
    walk: WalkArgs,
    #[command(flatten)]
    common: CommonArgs,
}

impl BaselineCmd {
    pub fn run(self) -> Result<i32> {
        let BaselineAction::Create(mut args) = self.action;
        if args.git.is_some()
            && (args.walk.follow || args.walk.include_build_dirs || args.walk.respect_gitignore)
        {
            anyhow::bail!(
                "--follow, --include-build-dirs and --respect-gitignore choose files in a directory walk; \
                 baseline create --git reads the repository's history, not a walk"
            );
        }
        args.common.walk = args.walk.clone();
        refuse_what_does_not_apply(&args.common)?;
        let outcome = match &args.git {
            Some(repo) => GitCmd {
                repo: Some(repo.clone()),
                since: None,
                all_refs: false,
                range: None,
                branch: vec![],
                staged: false,
                pre_push: None,
                explain: false,
                progress: false,
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

/// `baseline create` shares the scanning flags of `scan` and `git`, but it only scans and writes
/// fingerprints: flags that would verify, store, revoke or shape a report are refused by name
/// rather than silently ignored (a user who passed `--revoke` must not think it ran).
fn refuse_what_does_not_apply(c: &CommonArgs) -> Result<()> {
    let mut given = Vec::new();
    if c.store.revoke {
        given.push("--revoke");
    }
    if c.store.store.is_some() {
        given.push("--store");
    }
    if c.store.data_dir.is_some() && std::env::var_os("QUENCH_DATA_DIR").is_none() {
        given.push("--data-dir");
    }
    if c.verify.verify {
        given.push("--verify");
    }
    if c.verify.verify_timeout.is_some() {
        given.push("--verify-timeout");
    }
    if c.output.format != crate::report::Format::Human {
        given.push("--format (the baseline is always its own JSON)");
    }
    if c.output.show_secrets {
        given.push("--show-secrets (a baseline never holds secrets)");
    }
    if c.output.fail_on != crate::report::FailOn::Any {
        given.push("--fail-on");
    }
    if c.output.color != "auto" {
        given.push("--color");
    }
    if c.no_progress {
        given.push("--no-progress (it draws no progress)");
    }
    if given.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "baseline create only scans and writes fingerprints; it does not take {}",
        given.join(", ")
    )
}

/// The file scan `quench scan` runs, without its report.
fn scan_files(paths: &[String], common: &CommonArgs) -> Result<ScanOutcome> {
    let paths = if paths.is_empty() {
        vec![".".to_string()]
    } else {
        paths.to_vec()
    };
    let prepared = common.prepare(&paths)?;
    let mut opts = common.pipeline_options(&prepared, &paths, [])?;
    // A baseline records what is there: no store, no issuer, no policy.
    opts.store = None;
    opts.verify = None;
    let ran = crate::pipeline::run(&prepared.config, &opts, |collector| {
        crate::source::fs::scan_paths(&paths, &prepared.scanner, collector);
        Ok(Vec::new())
    })?;
    Ok(ran.outcome)
}
