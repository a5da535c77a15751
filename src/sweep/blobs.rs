//! Git history as a set of blobs: which blobs a set of commits introduced, and scanning each of
//! them once with the ordinary [`Scanner`].
//!
//! This is deliberately simple (diff each commit against its first parent); the git source's
//! range scanner can replace it behind [`crate::server::PushScanner`] and the sweep without
//! either caller changing.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{Oid, Repository};
use rayon::prelude::*;

use crate::engine::Scratch;
use crate::finding::CommitInfo;
use crate::scan::{Collector, Origin, Scanner};

/// How many leading bytes decide that a blob is binary (as for files).
const BINARY_PROBE: usize = 8192;

/// A blob, the path it appeared at, and the commit that introduced it there.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub id: Oid,
    pub path: String,
    pub commit: CommitInfo,
}

/// The blobs added or modified by `commits` (each against its first parent; a root commit
/// against the empty tree), each blob listed once at its first sighting.
pub fn introduced_by(
    repo: &Repository,
    commits: &[Oid],
    skip: &dyn Fn(&Oid) -> bool,
) -> Result<Vec<BlobRef>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &id in commits {
        let commit = repo
            .find_commit(id)
            .with_context(|| format!("commit {id}: not in the mirror"))?;
        let tree = commit
            .tree()
            .with_context(|| format!("commit {id}: unreadable tree"))?;
        let parent_tree = match commit.parent(0) {
            Ok(p) => Some(
                p.tree()
                    .with_context(|| format!("commit {}: unreadable tree", p.id()))?,
            ),
            Err(_) => None,
        };
        let diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
            .with_context(|| format!("commit {id}: diff against its parent"))?;
        let info = commit_info(&commit);
        for delta in diff.deltas() {
            if !matches!(
                delta.status(),
                git2::Delta::Added | git2::Delta::Modified | git2::Delta::Renamed | git2::Delta::Copied
            ) {
                continue;
            }
            let file = delta.new_file();
            // Submodule entries (commits) and symlinks carry no scannable content.
            if !matches!(file.mode(), git2::FileMode::Blob | git2::FileMode::BlobExecutable) {
                continue;
            }
            let blob = file.id();
            if skip(&blob) || !seen.insert(blob) {
                continue;
            }
            let path = file
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(BlobRef {
                id: blob,
                path,
                commit: info.clone(),
            });
        }
    }
    Ok(out)
}

fn commit_info(c: &git2::Commit) -> CommitInfo {
    let author = c.author();
    let time = chrono::DateTime::from_timestamp(author.when().seconds(), 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    CommitInfo {
        id: c.id().to_string(),
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        author_time: time,
        summary: c.summary().unwrap_or("").to_string(),
        at_tip: None,
    }
}

/// Scans `blobs` of the repository at `repo_path` in parallel, naming each location
/// `{label}:{path}`. Blobs that cannot be read, are too large or binary are skipped with a
/// reason. Returns the ids actually scanned or deliberately skipped (not the unreadable ones), so
/// a caller that remembers scanned blobs retries the failures next time.
pub fn scan(
    repo_path: &Path,
    label: &str,
    blobs: &[BlobRef],
    scanner: &Scanner,
    collector: &Collector,
) -> Vec<Oid> {
    blobs
        .par_iter()
        .map_init(
            || (Repository::open_bare(repo_path), Scratch::default()),
            |(repo, scratch), b| {
                let display = format!("{label}:{}", b.path);
                let repo = match repo {
                    Ok(r) => r,
                    Err(e) => {
                        collector.skip(display.clone(), "unreadable", format!("{display}: {e}"));
                        return None;
                    }
                };
                scan_one(repo, b, &display, scanner, collector, scratch).then_some(b.id)
            },
        )
        .flatten()
        .collect()
}

fn scan_one(
    repo: &Repository,
    b: &BlobRef,
    display: &str,
    scanner: &Scanner,
    collector: &Collector,
    scratch: &mut Scratch,
) -> bool {
    let opts = &scanner.opts;
    if opts.allow_paths.is_match(&b.path) {
        return true;
    }
    let blob = match repo.find_blob(b.id) {
        Ok(x) => x,
        Err(e) => {
            collector.skip(display, "unreadable", format!("{display}: blob {}: {e}", b.id));
            return false;
        }
    };
    let bytes = blob.content();
    if bytes.len() as u64 > opts.max_file_size {
        collector.skip(
            display,
            "too-large",
            format!(
                "{display}: {} bytes is over --max-file-size ({} bytes)",
                bytes.len(),
                opts.max_file_size
            ),
        );
        return true;
    }
    if !opts.scan_binary && memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some() {
        collector.skip(
            display,
            "binary",
            format!("{display}: binary blob (use --scan-binary)"),
        );
        return true;
    }
    let context = crate::source::ci::classify(&b.path);
    let origin = Origin::file(display, context);
    let mut hits = Vec::new();
    let suppressed = scanner.scan_buffer(bytes, &origin, scratch, &mut hits);
    for h in &mut hits {
        h.location.blob = Some(b.id.to_string());
        h.location.commit = Some(b.commit.clone());
    }
    collector
        .suppressed_inline
        .fetch_add(suppressed as u64, std::sync::atomic::Ordering::Relaxed);
    collector.scanned(bytes.len() as u64);
    collector.add_hits(hits);
    true
}
