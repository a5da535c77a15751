//! Git as attackers read it: every blob reachable from every ref, scanned once, each finding
//! attributed to the commit that introduced the blob at its path; and the staged changes a
//! commit is about to add (the pre-commit hook's mode).
//!
//! History is a set of blobs, not a list of patches: `walk` visits commits oldest first and
//! records which (blob, path) pairs each one introduces, pruning every tree it has already seen
//! (so each commit costs only what it changed, merges included); `blobs` scans each unique
//! blob once on worker threads and fans the hits out to every introduction. Commits, trees and
//! blobs come from `pack`, which reads pack files directly and shares them between threads
//! without locks; each thread still owns a `git2::Repository` (libgit2 handles are not shared
//! across threads) for refs, loose objects and anything the pack reader leaves to libgit2.
//! [`staged`] diffs the index against `HEAD` and keeps only findings on added lines.

mod blobs;
#[doc(hidden)]
pub mod fuzz;
mod oidset;
mod pack;
pub mod staged;
mod walk;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use git2::{ObjectType, Oid, Repository, RepositoryOpenFlags};

use crate::scan::{Collector, Scanner};

pub use walk::Selection;

/// What a git scan learned besides its findings.
#[derive(Debug, Default)]
pub struct GitReport {
    /// Notes for the summary (truncated history, submodules not followed, empty repository).
    pub notes: Vec<String>,
    /// Commits walked.
    pub commits: usize,
    /// Commits, trees and blobs that could not be read (each named in a note or a skip): what
    /// lies behind them was not scanned.
    pub unreadable: usize,
    /// With [`Scope::known`]: the blobs this scan read and scanned, or deliberately skipped
    /// (too large, binary) — not the unreadable ones, so a caller that remembers these retries
    /// the failures next time.
    pub covered: Vec<Oid>,
    /// With [`Scope::known`]: blobs the selection introduced that were left out as known.
    pub known: u64,
}

/// What a service scanning many repositories (`serve`, `sweep`) adds to a history scan.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scope<'a> {
    /// Names every location `{label}:{path}`, so findings from many repositories stay apart.
    pub label: Option<&'a str>,
    /// Blobs an earlier scan covered: not read again, wherever they appear. Setting it also
    /// fills [`GitReport::covered`], for the caller to add to what it remembers.
    pub known: Option<&'a HashSet<Oid>>,
}

impl Scope<'_> {
    /// How a path is shown: with the label, if any (no copy without one: this runs per blob).
    fn shown<'p>(&self, path: &'p str) -> Cow<'p, str> {
        match self.label {
            Some(label) => Cow::Owned(format!("{label}:{path}")),
            None => Cow::Borrowed(path),
        }
    }
}

/// Opens the repository at `path` (a work tree or any directory in one, its `.git` directory,
/// a bare repository or a mirror), or the one the environment names (`GIT_DIR`, as in a
/// hook) or the current directory is in.
pub fn open(path: Option<&Path>) -> Result<Repository> {
    init_libgit2();
    let result = match path {
        Some(p) => {
            if !p.exists() {
                bail!("{}: no such file or directory", p.display());
            }
            Repository::open_ext(
                p,
                RepositoryOpenFlags::empty(),
                std::iter::empty::<&std::ffi::OsStr>(),
            )
        }
        None => Repository::open_from_env(),
    };
    let repo = result.map_err(|e| {
        let shown = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".".into());
        if e.code() == git2::ErrorCode::NotFound {
            anyhow!("{shown}: not a git repository (nor inside one)")
        } else {
            anyhow!("{shown}: cannot open as a git repository: {}", e.message())
        }
    })?;
    // Revision lookups (`--since`, `--range`, `--branch`, the pre-push hook's refs), the
    // committed `.quenchignore` and `--staged`'s diff all read objects through libgit2.
    sound_packs(&repo)?;
    Ok(repo)
}

/// The repository's packs, mapped, once every pack index has been validated.
///
/// Not even libgit2 may read a repository with a corrupt index: it trusts the index's
/// offsets, and a bad one crashes it (a segfault, or a panic under `Odb::read_header`). So
/// every way into a repository — [`open`], before a revision is looked up or the index is
/// diffed, and [`scan_history`] for the service's mirrors — passes through here first.
fn sound_packs(repo: &Repository) -> Result<pack::Packs> {
    let packs = pack::Packs::open(repo.path());
    if !packs.corrupt.is_empty() {
        bail!(
            "{}: the pack index is corrupt, so the history in it cannot be read safely \
             (rebuild it with `git index-pack` on its .pack file, or re-clone)",
            packs.corrupt.join("; ")
        );
    }
    Ok(packs)
}

/// Initialises libgit2 without loading the system's CA certificates.
///
/// libgit2 sets up OpenSSL for https remotes when it starts, reading the whole CA bundle: about
/// 50 ms, more than the rest of a pre-commit scan. quench only reads local repositories, so
/// libgit2 starts with an empty bundle, and the environment is put back at once for anything
/// else in the process that speaks TLS (issuer verification). Called before any other thread
/// exists, as `open` is the first thing a git command does.
fn init_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        const VARS: [(&str, &str); 2] = [("SSL_CERT_FILE", "/dev/null"), ("SSL_CERT_DIR", "/nonexistent")];
        let saved: Vec<_> = VARS.iter().map(|(k, _)| std::env::var_os(k)).collect();
        for (k, v) in VARS {
            std::env::set_var(k, v);
        }
        // Any call that needs libgit2 initialises it; this one has no other effect.
        git2::opts::strict_object_creation(true);
        for ((k, _), old) in VARS.iter().zip(saved) {
            match old {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    });
}

/// Where `.quenchignore` fingerprints come from for a repository: the work tree's file, or for
/// a bare repository the one committed at `HEAD`.
pub fn ignore_roots(repo: &Repository) -> Vec<String> {
    repo.workdir()
        .map(|w| vec![w.display().to_string()])
        .unwrap_or_default()
}

/// Fingerprints from the `.quenchignore` committed at `HEAD`, for bare repositories (a work
/// tree's own file is read through [`ignore_roots`]).
pub fn committed_ignores(repo: &Repository) -> HashSet<String> {
    if repo.workdir().is_some() {
        return HashSet::new();
    }
    let text = (|| {
        let tree = repo.head().ok()?.peel_to_tree().ok()?;
        let entry = tree.get_name(crate::suppress::IGNORE_FILE)?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    })();
    text.map(|t| crate::suppress::parse_ignore(&t))
        .unwrap_or_default()
}

/// Scans the history `selection` names, adding findings (with commit attribution) and skips
/// to `collector`; `scope` is [`Scope::default`] for a single repository.
pub fn scan_history(
    repo: &Repository,
    selection: &Selection,
    scope: &Scope,
    scanner: &Scanner,
    collector: &Collector,
) -> Result<GitReport> {
    let mut report = GitReport::default();
    if repo.is_shallow() {
        report.notes.push(
            "shallow clone: history is truncated, so findings attributed to the oldest commits \
             present may have been introduced earlier (`git fetch --unshallow` for the full history)"
                .into(),
        );
    }
    // Every object is read once (the walk prunes what it has seen, blobs are deduplicated), so
    // libgit2's object cache would only hold memory, growing with history. Hashing every object
    // again to verify it doubles the cost of reading for no finding; a corrupt object still
    // fails to inflate and is skipped.
    git2::opts::enable_caching(false);
    git2::opts::strict_hash_verification(false);
    let packs = sound_packs(repo)?;
    let mut objects = pack::Objects::new(&packs, repo.odb()?, blobs::TREE_CACHE);
    let plan = walk::plan(repo, &mut objects, selection)?;
    report.unreadable = plan.problems.len();
    report.notes.extend(plan.problems.iter().cloned());
    for problem in &plan.problems {
        // Also a skip, so the exit status says that history asked for was not scanned.
        collector.skip(
            scope.shown("(history)").into_owned(),
            "missing-object",
            problem.clone(),
        );
    }
    if plan.is_empty() {
        report.notes.push(if !plan.problems.is_empty() {
            "no commit could be read (see above): the history was not scanned".into()
        } else if selection.is_everything() {
            "repository has no commits: nothing to scan".into()
        } else {
            "no commits in the selected range: nothing to scan".into()
        });
        return Ok(report);
    }
    report.commits = plan.commits.len();
    let scanned = blobs::scan(repo, &packs, objects, plan, scope, scanner, collector);
    report.notes.extend(scanned.notes);
    report.unreadable += scanned.unreadable;
    report.covered = scanned.covered;
    report.known = scanned.known;
    Ok(report)
}

/// Resolves a revision (a branch, tag, commit id, `HEAD~3`…) to a commit, naming it on error.
pub fn resolve_commit(repo: &Repository, rev: &str, what: &str) -> Result<Oid> {
    let obj = repo.revparse_single(rev).map_err(|e| {
        anyhow!(
            "{what} {rev:?}: no such revision in this repository ({})",
            e.message()
        )
    })?;
    let commit = obj
        .peel(ObjectType::Commit)
        .with_context(|| format!("{what} {rev:?} does not name a commit"))?;
    Ok(commit.id())
}

/// Parses `A..B` (B defaults to `HEAD`) into the commits to exclude and include.
pub fn parse_range(repo: &Repository, spec: &str) -> Result<(Vec<Oid>, Vec<Oid>)> {
    if spec.contains("...") {
        bail!("--range {spec:?}: symmetric differences (A...B) are not supported; use A..B");
    }
    let Some((a, b)) = spec.split_once("..") else {
        bail!("--range {spec:?}: expected A..B (commits reachable from B and not from A)");
    };
    let b = if b.is_empty() { "HEAD" } else { b };
    let exclude = if a.is_empty() {
        vec![]
    } else {
        vec![resolve_commit(repo, a, "--range start")?]
    };
    Ok((exclude, vec![resolve_commit(repo, b, "--range end")?]))
}

/// Renders a libgit2 signature time as RFC 3339 in the author's own offset.
fn rfc3339(time: git2::Time) -> String {
    use chrono::{FixedOffset, TimeZone};
    let offset = FixedOffset::east_opt(time.offset_minutes() * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    match offset.timestamp_opt(time.seconds(), 0).single() {
        Some(t) => t.to_rfc3339(),
        None => format!("@{}", time.seconds()),
    }
}

/// The attribution a finding carries: who introduced it, when, and in which commit.
fn commit_info(repo: &Repository, id: Oid) -> crate::finding::CommitInfo {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match repo.find_commit(id) {
        Ok(c) => {
            let author = c.author();
            crate::finding::CommitInfo {
                id: id.to_string(),
                author_name: lossy(author.name_bytes()),
                author_email: lossy(author.email_bytes()),
                author_time: rfc3339(author.when()),
                summary: c.summary_bytes().map(lossy).unwrap_or_default(),
                at_tip: None,
            }
        }
        Err(_) => crate::finding::CommitInfo {
            id: id.to_string(),
            author_name: String::new(),
            author_email: String::new(),
            author_time: String::new(),
            summary: String::new(),
            at_tip: None,
        },
    }
}
