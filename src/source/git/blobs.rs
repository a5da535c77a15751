//! Scans each unique blob once, in parallel with the tree walk that discovers them, then fans
//! the hits out to every (path, commit) that introduced the blob.
//!
//! The walk runs on the calling thread; workers each open their own `git2::Repository` and
//! read blobs by id. Hits are rare, so they are kept per blob until the walk is over and every
//! introduction is known; memory is the walk's sets plus one blob per worker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository};

use super::pack::{Kind, Objects, Packs, Read};
use super::walk::{BlobMap, Event, Plan, Walker, NO_COMMIT};
use super::{GitReport, Scope};
use crate::engine::Scratch;
use crate::finding::fingerprint;
use crate::scan::{Collector, Hit, Origin, Scanner};
use crate::source::ci;

/// How much of a blob's start is checked for NUL bytes to call it binary (as for files).
const BINARY_PROBE: usize = 8192;
/// Batches queued between the walk and the workers.
const QUEUE: usize = 64;
/// Blobs handed over at a time: one hand-over per blob costs more in lock traffic than small
/// blobs take to scan.
const BATCH: usize = 64;
/// Bytes of built objects each reader keeps for later deltas: the walk's trees, and each
/// worker's blobs. With one blob per worker in flight, this is what bounds the memory for
/// contents, whatever the length of history.
pub(super) const TREE_CACHE: usize = 4 << 20;
const BLOB_CACHE: usize = 8 << 20;
/// Submodules named in full in the note; the rest are counted.
const SUBMODULES_SHOWN: usize = 5;

struct Job {
    blob: Oid,
    path: String,
}

/// Walks `plan`, scans every new blob `scope` does not know, and adds attributed hits to
/// `collector`. Returns what else it learned: notes, unreadable objects and, with
/// [`Scope::known`], the blobs covered and left out.
pub fn scan(
    repo: &Repository,
    packs: &Packs,
    objects: Objects,
    plan: Plan,
    scope: &Scope,
    scanner: &Scanner,
    collector: &Collector,
) -> GitReport {
    let git_dir = repo.path();
    let hits: Mutex<BlobMap<Vec<Hit>>> = Mutex::new(BlobMap::default());
    let (tx, rx) = sync_channel::<Vec<Job>>(QUEUE);
    let rx = Mutex::new(rx);
    let mut submodules: BTreeMap<String, Oid> = BTreeMap::new();
    let mut report = GitReport::default();
    let threads = scanner.opts.threads.max(1);

    let mut walker = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| worker(git_dir, packs, &rx, scope, scanner, collector, &hits)))
            .collect();
        let mut walker = Walker::new(objects);
        let mut batch = Vec::with_capacity(BATCH);
        {
            let mut on = |ev: Event| match ev {
                Event::NewBlob { blob, .. } if scope.known.is_some_and(|k| k.contains(&blob)) => {
                    report.known += 1;
                }
                Event::NewBlob { blob, path } => {
                    batch.push(Job {
                        blob,
                        path: path.to_string(),
                    });
                    if batch.len() == BATCH {
                        // Workers only stop when the channel closes, so a send cannot fail.
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                }
                Event::Unreadable {
                    what,
                    id,
                    path,
                    reason,
                } => {
                    report.unreadable += 1;
                    let shown = scope.shown(path);
                    collector.skip(
                        shown.as_ref(),
                        "missing-object",
                        format!("{what} {id} (at {shown}): {reason}; skipped"),
                    );
                }
                Event::Submodule { path, commit } => {
                    submodules.entry(path.to_string()).or_insert(commit);
                }
            };
            for &t in &plan.boundary_trees {
                walker.seed(t, &mut on);
            }
            collector.work.set_total("commits", plan.commits.len() as u64);
            for (i, &(_, tree)) in plan.commits.iter().enumerate() {
                walker.introduce(tree, i as u32, &mut on);
                collector
                    .work
                    .done
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            for (name, id, kind) in &plan.loose {
                match kind {
                    ObjectType::Tree => walker.introduce(*id, NO_COMMIT, &mut on),
                    ObjectType::Blob => walker.loose_blob(*id, name, &mut on),
                    _ => {}
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        for w in workers {
            let tally = w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            report.unreadable += tally.unreadable;
            report.covered.extend(tally.covered);
        }
        walker
    });

    let hits = hits.into_inner().unwrap_or_else(|e| e.into_inner());
    if !hits.is_empty() {
        fan_out(repo, &plan, &mut walker, &hits, scope, scanner, collector);
    }
    if !submodules.is_empty() {
        let shown: Vec<String> = submodules
            .iter()
            .take(SUBMODULES_SHOWN)
            .map(|(p, c)| format!("{p} ({})", &c.to_string()[..10]))
            .collect();
        let more = submodules.len().saturating_sub(SUBMODULES_SHOWN);
        report.notes.push(format!(
            "{} submodule(s) not followed (scan each with `quench git` in its own clone): {}{}",
            submodules.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    report
}

/// What one worker got through.
#[derive(Default)]
struct Tally {
    /// Blobs scanned or deliberately skipped; kept only when the caller remembers them.
    covered: Vec<Oid>,
    unreadable: usize,
}

/// Takes blobs off the queue until it closes, scanning each.
fn worker(
    git_dir: &Path,
    packs: &Packs,
    rx: &Mutex<Receiver<Vec<Job>>>,
    scope: &Scope,
    scanner: &Scanner,
    collector: &Collector,
    hits: &Mutex<BlobMap<Vec<Hit>>>,
) -> Tally {
    let repo = Repository::open(git_dir).map_err(|e| e.message().to_string());
    let mut objects = repo
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|r| r.odb().map_err(|e| e.message().to_string()))
        .map(|odb| Objects::new(packs, odb, BLOB_CACHE));
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    loop {
        let jobs = {
            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return tally,
            }
        };
        for job in jobs {
            let found = match &mut objects {
                Ok(objects) => scan_blob(objects, &job, scope, scanner, collector, &mut scratch),
                Err(e) => {
                    // Keep draining so the walk never blocks on a full queue.
                    let shown = scope.shown(&job.path);
                    collector.skip(
                        shown.as_ref(),
                        "unreadable",
                        format!("blob {} (at {shown}): {e}", job.blob),
                    );
                    None
                }
            };
            let Some(found) = found else {
                tally.unreadable += 1;
                continue;
            };
            if scope.known.is_some() {
                tally.covered.push(job.blob);
            }
            if !found.is_empty() {
                hits.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.blob, found);
            }
        }
    }
}

/// Reads and scans one blob; returns its hits (none for a blob deliberately skipped), or
/// `None` if it could not be read.
fn scan_blob(
    objects: &mut Objects,
    job: &Job,
    scope: &Scope,
    scanner: &Scanner,
    collector: &Collector,
    scratch: &mut Scratch,
) -> Option<Vec<Hit>> {
    let opts = &scanner.opts;
    let shown = || scope.shown(&job.path);
    let bytes = match objects.read(job.blob, Kind::Blob, opts.max_file_size) {
        Ok(Read::Found(bytes)) => bytes,
        Ok(Read::TooLarge(size)) => {
            let path = shown();
            collector.skip(
                path.as_ref(),
                "too-large",
                format!(
                    "blob {} (at {path}): {size} bytes is over --max-file-size ({} bytes)",
                    job.blob, opts.max_file_size
                ),
            );
            return Some(Vec::new());
        }
        Err(reason) => {
            let path = shown();
            collector.skip(
                path.as_ref(),
                "missing-object",
                format!("blob {} (at {path}): {reason}; skipped", job.blob),
            );
            return None;
        }
    };
    if !opts.scan_binary && memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some() {
        let path = shown();
        collector.skip(
            path.as_ref(),
            "binary",
            format!("blob {} (at {path}): binary (use --scan-binary)", job.blob),
        );
        return Some(Vec::new());
    }
    let path = &job.path;
    let origin = Origin::file(path, ci::classify(path));
    let mut found = Vec::new();
    let suppressed = scanner.scan_buffer(&bytes, &origin, scratch, &mut found);
    collector
        .suppressed_inline
        .fetch_add(suppressed as u64, Ordering::Relaxed);
    collector.scanned(bytes.len() as u64);
    Some(found)
}

/// Gives each hit every place its blob was introduced, with the commit's attribution and
/// whether the secret is still on some branch tip.
fn fan_out(
    repo: &Repository,
    plan: &Plan,
    walker: &mut Walker,
    hits: &BlobMap<Vec<Hit>>,
    scope: &Scope,
    scanner: &Scanner,
    collector: &Collector,
) {
    // A secret is live if any blob holding it is in a branch tip's tree, even a later edit of
    // the file that first held it.
    let tip_blobs = walker.blobs_in(&plan.tips);
    let live: HashSet<String> = hits
        .iter()
        .filter(|(blob, _)| tip_blobs.contains(*blob))
        .flat_map(|(_, hs)| hs.iter().map(|h| fingerprint(&h.rule.spec.id, &h.secret)))
        .collect();
    let mut infos: HashMap<u32, crate::finding::CommitInfo> = HashMap::new();
    let mut out = Vec::new();
    for intro in &walker.introductions {
        let Some(blob_hits) = hits.get(&intro.blob) else {
            continue;
        };
        let path = walker.paths.name(intro.path);
        if scanner.opts.allow_paths.is_match(path) {
            continue;
        }
        let (commit, before) = if intro.commit == NO_COMMIT {
            (None, Vec::new())
        } else {
            let id = plan.commits[intro.commit as usize].0;
            let info = infos
                .entry(intro.commit)
                .or_insert_with(|| super::commit_info(repo, id))
                .clone();
            (
                Some(info),
                parent_versions(repo, id, walker.paths.raw(intro.path)),
            )
        };
        for h in blob_hits {
            // An edit to a file that already held the secret re-commits it, it does not
            // introduce it: only the commit that brought the secret to this path is named.
            if before
                .iter()
                .any(|old| memchr::memmem::find(old, &h.secret).is_some())
            {
                continue;
            }
            let mut h = h.clone();
            h.location.path = scope.shown(path).into_owned();
            h.location.context = ci::classify(path);
            h.location.blob = Some(intro.blob.to_string());
            h.location.commit = commit.clone().map(|mut c| {
                c.at_tip = Some(live.contains(&fingerprint(&h.rule.spec.id, &h.secret)));
                c
            });
            out.push(h);
        }
    }
    collector.add_hits(out);
}

/// The contents of `path` in each parent of `commit` that has it.
fn parent_versions(repo: &Repository, commit: Oid, path: &[u8]) -> Vec<Vec<u8>> {
    let Ok(c) = repo.find_commit(commit) else {
        return Vec::new();
    };
    c.parents()
        .filter_map(|p| {
            let blob = repo.find_blob(entry_at(repo, p.tree().ok()?, path)?).ok()?;
            Some(blob.content().to_vec())
        })
        .collect()
}

/// The id at `path` under `tree`, one directory at a time: libgit2's own lookup by path
/// recurses once per directory, and the depth of a path is the pusher's choice.
fn entry_at<'r>(repo: &'r Repository, mut tree: git2::Tree<'r>, path: &[u8]) -> Option<Oid> {
    let mut names = path.split(|&b| b == b'/').peekable();
    while let Some(name) = names.next() {
        let id = tree.get_name_bytes(name)?.id();
        if names.peek().is_none() {
            return Some(id);
        }
        tree = repo.find_tree(id).ok()?;
    }
    None
}
