//! `quench sweep`: scan many repositories, each costing only what changed since the last sweep.
//!
//! Repositories come from the `[sweep]` config (URLs or paths) and from the GitHub and GitLab
//! APIs ([`discover`]); each is fetched into the [`mirror`] cache, its new history walked down to
//! the tips the last sweep saw, and only blobs not scanned before are scanned ([`blobs`],
//! [`state`]). Repositories run in parallel within a budget, and one that fails is reported
//! without stopping the others.

pub mod discover;
pub mod mirror;
pub mod schedule;
pub mod shared;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use git2::Repository;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::pipeline::{self, Ran};
use crate::scan::{Collector, Scanner};
use crate::source::git::{self, Scope, Selection};
use mirror::{Mirrors, RemotePolicy};
use state::SweepState;

/// `[sweep]`: what to sweep and how.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// Where mirrors and the sweep state live (`--data-dir` wins; shared with `[serve]`).
    pub data_dir: Option<PathBuf>,
    /// Repository URLs or local paths.
    #[serde(default)]
    pub repos: Vec<String>,
    /// How many repositories are fetched and scanned at once (default 2).
    pub parallel: Option<usize>,
    /// If set, every repository (listed or discovered) must match one of these globs.
    #[serde(default)]
    pub allow_remotes: Vec<String>,
    #[serde(default)]
    pub github: Vec<discover::GithubOrg>,
    #[serde(default)]
    pub gitlab: Vec<discover::GitlabGroup>,
}

/// One repository to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Shown in reports and finding paths (`{name}:{path}`).
    pub name: String,
    pub remote: String,
}

/// What a sweep did with one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoReport {
    pub name: String,
    pub remote: String,
    pub commits_walked: usize,
    pub blobs_scanned: usize,
    /// Blobs met in new commits but already scanned by an earlier sweep.
    pub blobs_known: u64,
    /// Objects that could not be read (named in the skips, or for commits in `notes`): the
    /// next sweep walks their history again.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable: usize,
    /// What the history scan noted (unreadable commits, submodules not followed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RepoReport {
    pub fn line(&self) -> String {
        match &self.error {
            Some(e) => format!("{}: failed: {e}", self.name),
            None => {
                let mut line = format!(
                    "{}: {} new commit(s), {} blob(s) scanned, {} already scanned in earlier sweeps",
                    self.name, self.commits_walked, self.blobs_scanned, self.blobs_known
                );
                if self.unreadable > 0 {
                    line.push_str(&format!(
                        "; {} object(s) unreadable, retried next sweep",
                        self.unreadable
                    ));
                }
                for note in &self.notes {
                    line.push_str("; ");
                    line.push_str(note);
                }
                line
            }
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The repositories the config lists and its APIs return (listed first, duplicates dropped).
/// A discovery source that fails becomes an error entry rather than ending the sweep.
pub async fn targets(section: &SweepSection, base: Option<&Path>) -> (Vec<Target>, Vec<RepoReport>) {
    let mut failed = Vec::new();
    let mut out: Vec<Target> = Vec::new();
    for r in &section.repos {
        // A relative path in the config is relative to the config file.
        let remote = match base {
            Some(b) if is_local(r) && Path::new(r).is_relative() => b.join(r).display().to_string(),
            _ => r.clone(),
        };
        // A local path that is not there would reach git as a URL it cannot read
        // ("unsupported URL protocol"): name the path instead.
        if is_local(r) && !Path::new(&remote).exists() {
            failed.push(RepoReport {
                name: r.clone(),
                error: Some(format!(
                    "{remote}: no such directory (a local repository path in [sweep] repos)"
                )),
                ..Default::default()
            });
            continue;
        }
        out.push(Target {
            name: r.clone(),
            remote,
        });
    }
    for g in &section.github {
        match discover::github(g).await {
            Ok(t) => out.extend(t),
            Err(e) => failed.push(RepoReport {
                name: format!("github:{}", g.org),
                error: Some(format!("{e:#}")),
                ..Default::default()
            }),
        }
    }
    for g in &section.gitlab {
        match discover::gitlab(g).await {
            Ok(t) => out.extend(t),
            Err(e) => failed.push(RepoReport {
                name: format!("gitlab:{}", g.group),
                error: Some(format!("{e:#}")),
                ..Default::default()
            }),
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.remote.clone()));
    (out, failed)
}

/// Whether a `[sweep] repos` entry is a path on this machine rather than a URL (`https://…`,
/// `file://…`) or an scp-style `user@host:path` / `host:path`.
fn is_local(r: &str) -> bool {
    if r.contains("://") {
        return false;
    }
    // scp-style: a colon before the first slash (not a Windows drive letter).
    !matches!((r.find(':'), r.find('/')), (Some(c), slash) if c > 1 && slash.is_none_or(|s| c < s))
}

/// Everything one sweep needs besides its targets.
pub struct Sweeper {
    pub mirrors: Mirrors,
    pub state: SweepState,
    /// `None`: every target is allowed (the operator listed or configured them all).
    pub policy: Option<RemotePolicy>,
    pub parallel: usize,
}

impl Sweeper {
    /// The sweeper of `data_dir` (its mirrors) with the sweep state of the shared PostgreSQL
    /// store at `shared`, else of the data directory's file.
    pub fn open(data_dir: &Path, section: &SweepSection, shared: Option<&str>) -> Result<Sweeper> {
        let policy = if section.allow_remotes.is_empty() {
            None
        } else {
            Some(RemotePolicy::new(&section.allow_remotes)?)
        };
        Ok(Sweeper {
            mirrors: Mirrors::new(data_dir.join("mirrors"))?,
            state: match shared {
                Some(url) => SweepState::open_shared(url)?,
                None => SweepState::open(data_dir)?,
            },
            policy,
            parallel: section.parallel.unwrap_or(2).max(1),
        })
    }

    /// Sweeps `targets`, at most `parallel` at a time, adding findings to `collector`.
    pub fn run(&self, targets: &[Target], scanner: &Scanner, collector: &Collector) -> Vec<RepoReport> {
        let next = AtomicUsize::new(0);
        let reports = Mutex::new(vec![RepoReport::default(); targets.len()]);
        std::thread::scope(|s| {
            for _ in 0..self.parallel.min(targets.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { return };
                    let mut r = RepoReport {
                        name: t.name.clone(),
                        remote: t.remote.clone(),
                        ..Default::default()
                    };
                    if let Err(e) = self.one(t, scanner, collector, &mut r) {
                        r.error = Some(format!("{e:#}"));
                    }
                    if let Ok(mut g) = reports.lock() {
                        g[i] = r;
                    }
                });
            }
        });
        reports.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn one(&self, t: &Target, scanner: &Scanner, collector: &Collector, r: &mut RepoReport) -> Result<()> {
        if let Some(p) = &self.policy {
            if !p.allows(&t.remote) {
                anyhow::bail!("{}: remote is not in [sweep] allow_remotes", t.remote);
            }
        }
        let fetched = self.mirrors.fetch(&t.remote)?;
        let repo = Repository::open_bare(&fetched.path)
            .with_context(|| format!("opening mirror {}", fetched.path.display()))?;
        let tips = mirror::ref_tips(&repo);
        let swept = self.state.tips(&t.remote)?;
        // New history: from the current tips down to the tips the last sweep saw. A tip
        // rewritten away upstream may be gone from the mirror; hiding it is then moot.
        let selection = Selection {
            all_refs: false,
            include: tips.iter().map(|(_, tip)| *tip).collect(),
            exclude: swept
                .into_iter()
                .filter(|old| repo.find_commit(*old).is_ok())
                .collect(),
        };
        let known = self.state.known_blobs(&t.remote)?;
        let scope = Scope {
            label: Some(&t.name),
            known: Some(&known),
        };
        let report = git::scan_history(&repo, &selection, &scope, scanner, collector)
            .with_context(|| format!("{}: scanning history", t.name))?;
        r.commits_walked = report.commits;
        r.blobs_scanned = report.covered.len();
        r.blobs_known = report.known;
        r.unreadable = report.unreadable;
        // With no new commits the only note would say so, which the counts already do.
        if report.commits > 0 || report.unreadable > 0 {
            r.notes = report.notes;
        }
        // Tips are recorded only when everything below them was read, so that what could not
        // be is walked again (and its blobs retried) next time.
        let complete = report.unreadable == 0;
        self.state
            .record(&t.remote, &report.covered, complete.then_some(tips.as_slice()))?;
        Ok(())
    }
}

/// Runs one sweep over the `[sweep]` section of `config` through the pipeline (store, verify and
/// revoke as `opts` says): the shared body of `quench sweep` and the scheduled sweeps of
/// `quench serve`. Returns the pipeline's result and one report per repository, failed ones
/// included.
pub fn sweep_once(
    config: &Config,
    data_dir: &Path,
    scanner: &Scanner,
    opts: &pipeline::Options,
) -> Result<(Ran, Vec<RepoReport>)> {
    let (section, targets, failed) = discover(config)?;
    let sweeper = Sweeper::open(data_dir, &section, shared_url(config, opts)?.as_deref())?;
    let mut reports = Vec::new();
    let ran = pipeline::run(config, opts, |collector| {
        reports = sweeper.run(&targets, scanner, collector);
        reports.extend(failed);
        Ok(reports.iter().map(RepoReport::line).collect())
    })?;
    Ok((ran, reports))
}

/// The `[sweep]` section of `config` and the repositories it names or discovers (and the
/// discovery sources that failed, as reports).
fn discover(config: &Config) -> Result<(SweepSection, Vec<Target>, Vec<RepoReport>)> {
    let section: SweepSection = config.section("sweep")?;
    let discover = targets(&section, config.base_dir());
    let (targets, failed) = match tokio::runtime::Handle::try_current() {
        Ok(h) => h.block_on(discover),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(discover),
    };
    Ok((section, targets, failed))
}

/// The PostgreSQL URL of the store `opts` records into, if it is one: the sweep state then lives
/// there too, shared by every process sweeping on it.
fn shared_url(config: &Config, opts: &pipeline::Options) -> Result<Option<String>> {
    let Some(store) = &opts.store else {
        return Ok(None);
    };
    // The URL decides, as it decides where `quench serve` keeps its delivery queue.
    Ok(
        match crate::store::DataDir::resolve(store, config, &opts.roots)?.backend {
            crate::store::Backend::Postgres(url) => Some(url),
            crate::store::Backend::Sqlite(_) => None,
        },
    )
}

/// The shared store a distributed sweep needs, or an error saying so.
fn shared_or_fail(config: &Config, opts: &pipeline::Options) -> Result<String> {
    shared_url(config, opts)?.ok_or_else(|| {
        anyhow::anyhow!(
            "a distributed sweep (--enqueue, --worker) needs a shared store: give --store=postgres://… \
             (or QUENCH_STORE_URL, [store] url)"
        )
    })
}

/// `quench sweep --enqueue`: queues one job per repository of the `[sweep]` section in the
/// shared store, for `quench sweep --worker` processes to take. Returns how many were queued
/// (a repository queued or being swept already is not queued twice) and the discovery sources
/// that failed.
pub fn enqueue(config: &Config, opts: &pipeline::Options) -> Result<(u64, usize, Vec<RepoReport>)> {
    let url = shared_or_fail(config, opts)?;
    let (_, mut targets, failed) = discover(config)?;
    // Other processes, in other directories, sweep these: a local path is made absolute.
    for t in &mut targets {
        if is_local(&t.remote) {
            if let Ok(abs) = std::path::absolute(&t.remote) {
                t.remote = abs.display().to_string();
            }
        }
    }
    let queued = shared::Shared::open(&url)?.enqueue(&targets)?;
    Ok((queued, targets.len(), failed))
}

/// A process taking a distributed sweep's repositories from the shared store: its sweeper
/// (mirrors here, the blob record in the database), its name on claims, and the thread renewing
/// its leases. `quench sweep --worker` and `quench serve` on PostgreSQL each hold one.
pub struct Worker {
    sweeper: Sweeper,
    owner: String,
    _renewer: shared::Renewer,
}

impl Worker {
    pub fn open(config: &Config, data_dir: &Path, opts: &pipeline::Options) -> Result<Worker> {
        let url = shared_or_fail(config, opts)?;
        let section: SweepSection = config.section("sweep")?;
        let sweeper = Sweeper::open(data_dir, &section, Some(&url))?;
        let owner = shared::owner_name();
        let renewer = shared::Renewer::start(&url, &owner)?;
        Ok(Worker {
            sweeper,
            owner,
            _renewer: renewer,
        })
    }

    fn queue(&self) -> &shared::Shared {
        self.sweeper
            .state
            .shared()
            .expect("a worker's sweeper is opened on the shared store")
    }

    /// Sweeps queued repositories, one at a time, each claimed with a lease, through the
    /// pipeline (findings recorded, verified and revoked as `opts` says) until none can be
    /// claimed; returns how many it swept. `each` sees every repository's report and run as it
    /// ends (no run when the pipeline failed: the report says why, and the repository is
    /// recorded failed, to be queued again by the next `--enqueue`).
    pub fn take_queued(
        &self,
        config: &Config,
        scanner: &Scanner,
        opts: &pipeline::Options,
        mut each: impl FnMut(&RepoReport, Option<Ran>),
    ) -> Result<usize> {
        let mut swept = 0;
        while let Some(target) = self.queue().claim(&self.owner)? {
            let mut report = RepoReport::default();
            let ran = pipeline::run(config, opts, |collector| {
                report = self
                    .sweeper
                    .run(std::slice::from_ref(&target), scanner, collector)
                    .pop()
                    .unwrap_or_default();
                Ok(vec![report.line()])
            });
            if let Err(e) = &ran {
                report.name = target.name.clone();
                report.remote = target.remote.clone();
                report.error = Some(format!("{e:#}"));
            }
            self.queue()
                .finish(&self.owner, &target.remote, report.error.as_deref())?;
            swept += 1;
            each(&report, ran.ok());
        }
        Ok(swept)
    }
}

/// `quench sweep --worker`: [`Worker::take_queued`] until nothing is queued and no other worker
/// holds a repository (one that dies gives its repository back when its lease runs out).
pub fn work(
    config: &Config,
    data_dir: &Path,
    scanner: &Scanner,
    opts: &pipeline::Options,
    mut each: impl FnMut(&RepoReport, Option<Ran>),
) -> Result<()> {
    let worker = Worker::open(config, data_dir, opts)?;
    loop {
        worker.take_queued(config, scanner, opts, &mut each)?;
        if worker.queue().running()? == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
