//! `quench git --staged`: what the commit being made would add. Each staged file is scanned
//! whole (a rule's window may reach past the changed lines), and only findings that touch an
//! added line are kept, so a secret already committed does not block every later commit.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{anyhow, Result};
use git2::{Delta, DiffFindOptions, DiffOptions, ErrorCode, Index, Oid, Patch, Repository};

use crate::engine::Scratch;
use crate::scan::{Collector, Origin, Scanner};
use crate::source::ci;

/// How much of a blob's start is checked for NUL bytes to call it binary (as for files).
const BINARY_PROBE: usize = 8192;

/// The index a commit is being made from: git points hooks at a temporary one for
/// `git commit -a` and `git commit <paths>` through `GIT_INDEX_FILE`.
fn staged_index(repo: &Repository) -> Result<Index> {
    match std::env::var_os("GIT_INDEX_FILE") {
        Some(p) if !p.is_empty() => {
            let path = PathBuf::from(&p);
            Index::open(&path).map_err(|e| anyhow!("reading the index {}: {}", path.display(), e.message()))
        }
        _ => repo
            .index()
            .map_err(|e| anyhow!("reading the index of {}: {}", repo.path().display(), e.message())),
    }
}

/// Scans the index against `HEAD` (or the empty tree before the first commit).
pub fn scan_staged(repo: &Repository, scanner: &Scanner, collector: &Collector) -> Result<Vec<String>> {
    if repo.is_bare() {
        return Err(anyhow!(
            "{}: a bare repository has no staged changes (--staged needs a work tree)",
            repo.path().display()
        ));
    }
    let head = match repo.head() {
        Ok(h) => Some(
            h.peel_to_tree()
                .map_err(|e| anyhow!("reading the tree of HEAD: {}", e.message()))?,
        ),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(anyhow!("reading HEAD: {}", e.message())),
    };
    let index = staged_index(repo)?;
    let mut opts = DiffOptions::new();
    opts.context_lines(0).ignore_submodules(true);
    let mut diff = repo
        .diff_tree_to_index(head.as_ref(), Some(&index), Some(&mut opts))
        .map_err(|e| anyhow!("comparing the index with HEAD: {}", e.message()))?;
    // A renamed file adds no lines: without rename detection it would look wholly new.
    let _ = diff.find_similar(Some(DiffFindOptions::new().renames(true)));

    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        if !matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied | Delta::Typechange
        ) {
            continue;
        }
        let new = delta.new_file();
        let id = new.id();
        let Some(raw) = new.path_bytes() else { continue };
        let path = String::from_utf8_lossy(raw).into_owned();
        if id.is_zero() || scanner.opts.allow_paths.is_match(&path) {
            continue;
        }
        let Some(bytes) = read(repo, id, &path, scanner, collector) else {
            continue;
        };
        let origin = Origin::file(&path, ci::classify(&path));
        let mut hits = Vec::new();
        let suppressed = scanner.scan_buffer(&bytes, &origin, &mut scratch, &mut hits);
        collector
            .suppressed_inline
            .fetch_add(suppressed as u64, Ordering::Relaxed);
        collector.scanned(bytes.len() as u64);
        if hits.is_empty() {
            continue;
        }
        // A wholly new file adds every line; otherwise ask for the line diff (only now: most
        // staged files have no hit and never pay for it).
        // If the line diff cannot be made, every hit is kept: a hook errs on the side of
        // blocking.
        let added = if delta.status() == Delta::Added {
            None
        } else {
            added_lines(&diff, i)
        };
        for mut h in hits {
            let keep = match &added {
                None => true,
                Some(lines) => (h.location.line..=h.location.end_line).any(|l| lines.contains(&l)),
            };
            if keep {
                h.location.blob = Some(id.to_string());
                out.push(h);
            }
        }
    }
    collector.add_hits(out);
    Ok(Vec::new())
}

/// Reads a staged blob, or records why it is skipped.
fn read(repo: &Repository, id: Oid, path: &str, scanner: &Scanner, collector: &Collector) -> Option<Vec<u8>> {
    let blob = match repo.find_blob(id) {
        Ok(b) => b,
        Err(e) => {
            collector.skip(
                path,
                "missing-object",
                format!("staged blob {id} ({path}): {}; skipped", e.message()),
            );
            return None;
        }
    };
    let bytes = blob.content();
    if bytes.len() as u64 > scanner.opts.max_file_size {
        collector.skip(
            path,
            "too-large",
            format!(
                "{path}: {} bytes is over --max-file-size ({} bytes)",
                bytes.len(),
                scanner.opts.max_file_size
            ),
        );
        return None;
    }
    if !scanner.opts.scan_binary && memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some() {
        collector.skip(path, "binary", format!("{path}: binary file (use --scan-binary)"));
        return None;
    }
    Some(bytes.to_vec())
}

/// Line numbers (in the staged version) of the lines delta `i` adds.
fn added_lines(diff: &git2::Diff, i: usize) -> Option<HashSet<usize>> {
    let mut lines = HashSet::new();
    let Ok(Some(patch)) = Patch::from_diff(diff, i) else {
        return None;
    };
    for h in 0..patch.num_hunks() {
        let n = patch.num_lines_in_hunk(h).unwrap_or(0);
        for l in 0..n {
            if let Ok(line) = patch.line_in_hunk(h, l) {
                if line.origin() == '+' {
                    if let Some(no) = line.new_lineno() {
                        lines.insert(no as usize);
                    }
                }
            }
        }
    }
    Some(lines)
}
