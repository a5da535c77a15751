//! `quench git`: a repository's whole history, a range of it, or the staged changes.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{anyhow, Context as _, Result};
use clap::Args;
use git2::{Oid, Repository};

use super::common::CommonArgs;
use super::progress::Progress;
use crate::pipeline;
use crate::scan::ScanOutcome;
use crate::source::git::{self, Selection};

#[derive(Args, Debug, Clone)]
pub struct GitCmd {
    /// The repository: a work tree (or a directory in one), a `.git` directory, a bare
    /// repository or a mirror. Default: the repository of the current directory.
    #[arg(value_name = "REPO")]
    pub repo: Option<PathBuf>,
    /// Scan only what the checked-out branch added after REV: REV..HEAD, or REV..B for each
    /// `--branch B`. Other branches and tags are left out (a pull request's check reports
    /// only its own commits); `--all-refs` widens it to every ref's commits REV lacks.
    #[arg(long, value_name = "REV", conflicts_with_all = ["range", "staged", "pre_push"])]
    pub since: Option<String>,
    /// With `--since`: every ref's commits (branches, tags, remote-tracking refs) that REV
    /// lacks, not only HEAD's. Without `--since` every ref is already the default.
    #[arg(long, requires = "since", conflicts_with = "branch")]
    pub all_refs: bool,
    /// Scan only what the commits in A..B introduced (reachable from B, not from A).
    #[arg(long, value_name = "A..B", conflicts_with_all = ["staged", "branch", "pre_push"])]
    pub range: Option<String>,
    /// Only these branches (or any revision) instead of every ref. Repeatable.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["staged", "pre_push"])]
    pub branch: Vec<String>,
    /// Scan the staged changes (index against HEAD), reporting only lines the commit would add.
    #[arg(long, conflicts_with = "pre_push")]
    pub staged: bool,
    /// Pre-push hook mode: read git's `<local ref> <local sha> <remote ref> <remote sha>` lines
    /// from standard input and scan what the push sends to REMOTE.
    #[arg(long, value_name = "REMOTE", hide = true)]
    pub pre_push: Option<String>,
    /// For each candidate a filter dropped (a placeholder, a reference, a failed checksum…),
    /// say which filter and why: on stderr, and as `summary.dropped` in JSON.
    #[arg(long)]
    pub explain: bool,
    /// Draw progress even when stderr is not a terminal (plain lines for a log, ending with
    /// the total and time). On a terminal it is drawn anyway, unless `--no-progress`.
    #[arg(long, conflicts_with = "no_progress")]
    pub progress: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl GitCmd {
    pub fn run(self) -> Result<i32> {
        let mut ran = self.run_pipeline(true)?;
        for note in &ran.after.notes {
            eprintln!("quench: {note}");
        }
        let repo = self.repo.as_deref().unwrap_or(std::path::Path::new("."));
        self.common
            .output
            .emit(&mut ran.outcome, "git", &[repo.display().to_string()])
    }

    /// Runs the scan this command describes, without the store or the policy, and returns its
    /// outcome, baseline applied.
    pub fn scan(&self) -> Result<ScanOutcome> {
        Ok(self.run_pipeline(false)?.outcome)
    }

    /// The history (or staged changes) through the pipeline; with `act`, the store and the
    /// policy too (`--store`, `--revoke`, `[store]`, `[revoke]`).
    fn run_pipeline(&self, act: bool) -> Result<pipeline::Ran> {
        let mut common = self.common.clone();
        common.explain = self.explain;
        common.force_progress = self.progress;
        let (repo, prepared) = common.prepare_alongside(|| {
            let repo = git::open(self.repo.as_deref())?;
            let roots = git::ignore_roots(&repo);
            Ok((repo, roots))
        })?;
        for w in &prepared.warnings {
            eprintln!("quench: warning: {w}");
        }
        let root = self
            .repo
            .as_deref()
            .unwrap_or(std::path::Path::new("."))
            .display()
            .to_string();
        // Fingerprints ignored in the repository's committed .quenchignore are never verified.
        let committed = git::committed_ignores(&repo);
        let mut opts = self.common.pipeline_options(&prepared, &[root], committed)?;
        if !act {
            opts.store = None;
        }
        let scanner = &prepared.scanner;
        let ran = pipeline::run(&prepared.config, &opts, |collector| {
            if self.staged {
                return git::staged::scan_staged(&repo, scanner, collector);
            }
            let selection = self.selection(&repo)?;
            let progress = Progress::start(scanner.opts.progress, collector.clone());
            let report = git::scan_history(&repo, &selection, &git::Scope::default(), scanner, collector);
            progress.finish();
            Ok(report?.notes)
        });
        let ran = ran.map(|mut ran| {
            super::common::explain_dropped(scanner, &mut ran.outcome);
            ran
        });
        // The process ends after this scan: freeing ~700 compiled rules one by one would cost
        // a pre-commit hook more than a millisecond for nothing.
        std::mem::forget(prepared);
        ran
    }

    fn selection(&self, repo: &Repository) -> Result<Selection> {
        if let Some(remote) = &self.pre_push {
            let stdin = std::io::stdin();
            return pre_push_selection(repo, remote, stdin.lock());
        }
        if let Some(range) = &self.range {
            let (exclude, include) = git::parse_range(repo, range)?;
            return Ok(Selection {
                all_refs: false,
                include,
                exclude,
            });
        }
        let mut include = self
            .branch
            .iter()
            .map(|b| git::resolve_commit(repo, b, "--branch"))
            .collect::<Result<Vec<_>>>()?;
        let exclude = match &self.since {
            Some(rev) => vec![git::resolve_commit(repo, rev, "--since")?],
            None => vec![],
        };
        // `--since` alone means the checked-out commit's history (detached too, as CI checks out).
        if self.since.is_some() && include.is_empty() && !self.all_refs {
            include.push(
                git::resolve_commit(repo, "HEAD", "--since (REV..HEAD): HEAD")
                    .context("name the commits to scan with --branch, or use --all-refs for every ref")?,
            );
        }
        Ok(Selection {
            all_refs: include.is_empty(),
            include,
            exclude,
        })
    }
}

/// What a push sends: each pushed commit not already on the remote (by the remote's old value
/// or any of its remote-tracking refs). Deletions send nothing.
fn pre_push_selection(repo: &Repository, remote: &str, input: impl BufRead) -> Result<Selection> {
    // A push that only deletes refs selects nothing (not everything).
    let mut sel = Selection::default();
    for line in input.lines() {
        let line = line.context("reading the pre-push ref lines from standard input")?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_local_ref, local, _remote_ref, remote_sha] = fields[..] else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(anyhow!(
                "pre-push input line {line:?}: expected `<local ref> <local sha> <remote ref> <remote sha>`"
            ));
        };
        let local = Oid::from_str(local).map_err(|_| anyhow!("pre-push input: bad object id {local:?}"))?;
        if local.is_zero() {
            continue;
        }
        sel.include.push(local);
        if let Ok(old) = Oid::from_str(remote_sha) {
            // The old remote value may be unknown here (someone else pushed): then only the
            // remote-tracking refs bound the range.
            if !old.is_zero() && repo.find_commit(old).is_ok() {
                sel.exclude.push(old);
            }
        }
    }
    let prefix = format!("refs/remotes/{remote}/");
    if let Ok(refs) = repo.references_glob(&format!("{prefix}*")) {
        for r in refs.flatten() {
            if let Ok(c) = r.peel_to_commit() {
                sel.exclude.push(c.id());
            }
        }
    }
    Ok(sel)
}
