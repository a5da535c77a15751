//! Which commits to read, and which (blob, path) pairs each one introduces.
//!
//! Commits are visited parents first. A tree already visited (in any commit, at any path) is
//! skipped whole, so a commit costs only the trees it changed, and a merge introduces only what
//! differs from every parent: whatever came from a parent was seen when the parent was read.
//! The first commit to hold a blob at a path is that pair's introduction. A tree copied to a new
//! path is pruned too: its blobs keep the attribution of where they first appeared.

use std::collections::HashMap;

use anyhow::Result;
use git2::{ObjectType, Oid, Repository, Sort};

use super::oidset::{OidMap, OidSet};
use super::pack::{entry_kind, tree_entries, tree_entry_at, Kind, Objects, Read};

/// The part of history to scan.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Start from every ref: branches, tags, remote-tracking refs, notes, the stash (with its
    /// reflog) and `HEAD`.
    pub all_refs: bool,
    /// Commits to start from (besides every ref, when `all_refs`).
    pub include: Vec<Oid>,
    /// Commits whose history is left out; their trees count as already seen, so what the
    /// selected commits introduce is measured against them (`--since`, `--range`, pre-push).
    pub exclude: Vec<Oid>,
}

impl Selection {
    /// The whole history.
    pub fn everything() -> Self {
        Selection {
            all_refs: true,
            ..Default::default()
        }
    }

    pub fn is_everything(&self) -> bool {
        self.all_refs && self.exclude.is_empty()
    }
}

/// Index of a commit in [`Plan::commits`]; [`NO_COMMIT`] for blobs a ref names directly.
pub type CommitIdx = u32;
pub const NO_COMMIT: CommitIdx = u32::MAX;

/// Commits to read in order, plus what the selection's edges need.
#[derive(Default)]
pub struct Plan {
    /// (commit, its tree), parents before children.
    pub commits: Vec<(Oid, Oid)>,
    /// Trees of excluded commits that selected commits build on: seen before the walk starts.
    pub boundary_trees: Vec<Oid>,
    /// Refs that point straight at a tree or a blob (a tag can), with the ref's name.
    pub loose: Vec<(String, Oid, ObjectType)>,
    /// Trees of branch tips, for telling history-only secrets from live ones.
    pub tips: Vec<Oid>,
    /// Commits that could not be read (corrupt or missing), named for the summary.
    pub problems: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty() && self.loose.is_empty()
    }
}

/// Lists the commits of `sel`, parents first. Commits are read through `objects` (the packs
/// directly): the revwalk has parsed each commit already, and reading it again through libgit2
/// with its cache off would cost as much again.
pub fn plan(repo: &Repository, objects: &mut Objects, sel: &Selection) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut tips = Vec::new();
    let mut starts = Vec::new();
    if sel.all_refs {
        for (name, target, is_branch) in every_ref(repo, &mut plan.problems) {
            match target {
                (id, ObjectType::Commit) => {
                    starts.push(id);
                    if is_branch {
                        tips.push(id);
                    }
                }
                (id, kind) => plan.loose.push((name, id, kind)),
            }
        }
    }
    for &id in &sel.include {
        starts.push(id);
        tips.push(id);
    }
    let order = if sel.exclude.is_empty() {
        // The whole history: our own walk reads each commit once, straight from the packs.
        manual_order(objects, &starts, &[], &mut plan.problems)
    } else {
        // A range: libgit2 stops as soon as everything left is excluded, where a walk that
        // first collects every excluded commit would read all of history for a short range.
        // It gives up on the first commit it cannot read; then walk by hand, skipping (and
        // naming) what is missing and reading everything else.
        match revwalk_order(repo, &starts, &sel.exclude) {
            Ok(ids) => ids
                .into_iter()
                .filter_map(|id| match objects.commit(id) {
                    Ok((tree, parents)) => Some(Commit { id, tree, parents }),
                    Err(reason) => {
                        plan.problems.push(format!("commit {id}: {reason}; skipped"));
                        None
                    }
                })
                .collect(),
            Err(_) => manual_order(objects, &starts, &sel.exclude, &mut plan.problems),
        }
    };
    // Parents matter only at the edge of a range, for the boundary trees below.
    let mut parents: Vec<Oid> = Vec::new();
    for c in order {
        plan.commits.push((c.id, c.tree));
        if !sel.exclude.is_empty() {
            parents.extend(c.parents);
        }
    }
    if !sel.exclude.is_empty() {
        let walked: OidSet<Oid> = plan.commits.iter().map(|c| c.0).collect();
        let mut boundary: OidSet<Oid> = OidSet::default();
        // The excluded commits themselves count too: in a shallow clone the range's oldest
        // commit may have no parent to measure against, and `A..B` means "what B adds over A".
        for p in sel.exclude.iter().copied().chain(parents) {
            if !walked.contains(&p) && boundary.insert(p) {
                if let Ok(c) = repo.find_commit(p) {
                    plan.boundary_trees.push(c.tree_id());
                }
            }
        }
    }
    plan.tips = tips
        .into_iter()
        .filter_map(|id| repo.find_commit(id).ok().map(|c| c.tree_id()))
        .collect();
    plan.tips.sort();
    plan.tips.dedup();
    Ok(plan)
}

/// Commits reachable from `starts` and not from `hide`, parents first, by libgit2.
fn revwalk_order(repo: &Repository, starts: &[Oid], hide: &[Oid]) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    for &id in starts {
        walk.push(id)?;
    }
    for &id in hide {
        walk.hide(id)?;
    }
    walk.collect()
}

/// A commit as the plan needs it.
struct Commit {
    id: Oid,
    tree: Oid,
    parents: Vec<Oid>,
}

/// Commits reachable from `starts` and not from `hide`, parents first, by a depth-first walk
/// that skips unreadable commits, naming each.
fn manual_order(
    objects: &mut Objects,
    starts: &[Oid],
    hide: &[Oid],
    problems: &mut Vec<String>,
) -> Vec<Commit> {
    let mut hidden: OidSet<Oid> = OidSet::default();
    let mut quiet = Vec::new();
    postorder(objects, hide, &OidSet::default(), &mut hidden, &mut quiet);
    let mut seen = OidSet::default();
    let mut missing = Vec::new();
    let order = postorder(objects, starts, &hidden, &mut seen, &mut missing);
    for (id, why) in missing {
        problems.push(format!(
            "commit {id}: {why}; skipped, and history only it leads to is not read"
        ));
    }
    order
}

/// Depth-first post-order from `starts` (parents before children), not entering `stop`.
fn postorder(
    objects: &mut Objects,
    starts: &[Oid],
    stop: &OidSet<Oid>,
    seen: &mut OidSet<Oid>,
    missing: &mut Vec<(Oid, String)>,
) -> Vec<Commit> {
    enum Step {
        Enter(Oid),
        Leave(Commit),
    }
    let mut out = Vec::new();
    let mut stack: Vec<Step> = starts.iter().rev().map(|&id| Step::Enter(id)).collect();
    while let Some(step) = stack.pop() {
        let id = match step {
            Step::Leave(c) => {
                out.push(c);
                continue;
            }
            Step::Enter(id) => id,
        };
        if stop.contains(&id) || !seen.insert(id) {
            continue;
        }
        match objects.commit(id) {
            Ok((tree, parents)) => {
                let enter: Vec<Step> = parents
                    .iter()
                    .filter(|p| !seen.contains(*p))
                    .map(|&p| Step::Enter(p))
                    .collect();
                stack.push(Step::Leave(Commit { id, tree, parents }));
                stack.extend(enter);
            }
            Err(reason) => missing.push((id, reason)),
        }
    }
    out
}

/// Every ref's target, peeled through tags: (name, (id, kind), whether it is a branch tip). A
/// ref whose object cannot be read (a missing tip commit, a truncated pack) is named in
/// `problems`: the history behind it is not scanned, which must not pass for "no commits".
fn every_ref(repo: &Repository, problems: &mut Vec<String>) -> Vec<(String, (Oid, ObjectType), bool)> {
    let mut out = Vec::new();
    if let Ok(head) = repo.head() {
        if let Ok(c) = head.peel(ObjectType::Commit) {
            out.push(("HEAD".to_string(), (c.id(), ObjectType::Commit), true));
        }
    }
    let refs = match repo.references() {
        Ok(refs) => refs,
        Err(e) => {
            problems.push(format!(
                "refs cannot be listed: {}; no history scanned",
                e.message()
            ));
            return out;
        }
    };
    for r in refs {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("a ref cannot be read: {}; skipped", e.message()));
                continue;
            }
        };
        let name = String::from_utf8_lossy(r.name_bytes()).into_owned();
        let obj = match r.peel(ObjectType::Any) {
            Ok(obj) => obj,
            Err(e) => {
                let target = r
                    .resolve()
                    .ok()
                    .and_then(|r| r.target())
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
                problems.push(format!(
                    "ref {name}{target}: its object cannot be read ({}); the history behind it is not scanned",
                    e.message()
                ));
                continue;
            }
        };
        let Some(kind) = obj.kind() else { continue };
        let branch = name.starts_with("refs/heads/") || name.starts_with("refs/remotes/");
        out.push((name, (obj.id(), kind), branch && kind == ObjectType::Commit));
    }
    // Older stashes live only in the stash's reflog.
    if let Ok(log) = repo.reflog("refs/stash") {
        for e in log.iter() {
            out.push(("refs/stash".into(), (e.id_new(), ObjectType::Commit), false));
        }
    }
    out
}

/// One (blob, path) pair a commit introduced.
#[derive(Debug, Clone, Copy)]
pub struct Introduction {
    pub blob: Oid,
    pub path: u32,
    pub commit: CommitIdx,
}

/// Paths interned: history repeats the same few thousand paths across a million blobs.
#[derive(Default)]
pub struct Paths {
    ids: HashMap<Vec<u8>, u32>,
    names: Vec<String>,
    raw: Vec<Vec<u8>>,
}

impl Paths {
    fn intern(&mut self, raw: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(raw) {
            return id;
        }
        let id = self.names.len() as u32;
        // Non-UTF-8 names are shown lossily; the raw bytes still keep them distinct.
        self.names.push(String::from_utf8_lossy(raw).into_owned());
        self.raw.push(raw.to_vec());
        self.ids.insert(raw.to_vec(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The path as git stores it, for looking it up in other trees.
    pub fn raw(&self, id: u32) -> &[u8] {
        &self.raw[id as usize]
    }
}

/// What the tree walk tells its caller.
pub enum Event<'a> {
    /// A blob seen for the first time anywhere, at its first path.
    NewBlob { blob: Oid, path: &'a str },
    /// A tree or blob that could not be read.
    Unreadable {
        what: &'static str,
        id: Oid,
        path: &'a str,
        reason: String,
    },
    /// A submodule (gitlink): reported, not followed.
    Submodule { path: &'a str, commit: Oid },
}

/// Walks trees, remembering every tree, blob and (blob, path) pair it has seen.
pub struct Walker<'r> {
    objects: Objects<'r>,
    seen_trees: OidSet<Oid>,
    seen_blobs: OidSet<Oid>,
    /// (blob, hash of its path): paths are hashed as the walk descends, so the millions of
    /// entries that are not new cost no string work; a path is interned only when new.
    seen_pairs: OidSet<(Oid, u64)>,
    pub paths: Paths,
    pub introductions: Vec<Introduction>,
    prefix: Vec<u8>,
}

impl<'r> Walker<'r> {
    pub fn new(objects: Objects<'r>) -> Self {
        Walker {
            objects,
            seen_trees: OidSet::default(),
            seen_blobs: OidSet::default(),
            seen_pairs: OidSet::default(),
            paths: Paths::default(),
            introductions: Vec::new(),
            prefix: Vec::new(),
        }
    }

    /// Marks everything in `tree` as seen without introducing it (an excluded commit's tree).
    pub fn seed(&mut self, tree: Oid, on: &mut dyn FnMut(Event)) {
        self.prefix.clear();
        self.tree(tree, PATH_SEED, NO_COMMIT, false, on);
    }

    /// Records what `tree` introduces, attributed to `commit`.
    pub fn introduce(&mut self, tree: Oid, commit: CommitIdx, on: &mut dyn FnMut(Event)) {
        self.prefix.clear();
        self.tree(tree, PATH_SEED, commit, true, on);
    }

    /// A blob a ref names directly: introduced at the ref's name.
    pub fn loose_blob(&mut self, blob: Oid, name: &str, on: &mut dyn FnMut(Event)) {
        self.prefix.clear();
        self.prefix.extend_from_slice(name.as_bytes());
        let hash = path_hash(PATH_SEED, name.as_bytes());
        self.blob(blob, hash, NO_COMMIT, true, on);
    }

    /// Walks `root` depth first with an explicit stack: a tree's depth is the pusher's choice
    /// (git itself refuses trees past 4,096 levels, older git and libgit2 do not), so recursion
    /// would let one push overflow a worker's stack and abort the whole service.
    fn tree(&mut self, root: Oid, dir: u64, commit: CommitIdx, record: bool, on: &mut dyn FnMut(Event)) {
        /// A tree being read: its bytes, where the next entry starts, its path hash, and the
        /// length of `prefix` to restore once it is done.
        struct Frame {
            id: Oid,
            data: std::rc::Rc<Vec<u8>>,
            at: usize,
            dir: u64,
            prefix_len: usize,
        }
        let mut stack: Vec<Frame> = Vec::new();
        if let Some(data) = self.enter(root, on) {
            stack.push(Frame {
                id: root,
                data,
                at: 0,
                dir,
                prefix_len: self.prefix.len(),
            });
        }
        while let Some(top) = stack.last_mut() {
            let Some(entry) = tree_entry_at(&top.data, top.at) else {
                let done = stack.pop().expect("the loop holds a frame");
                self.prefix.truncate(done.prefix_len);
                continue;
            };
            let (mode, name, child, next) = match entry {
                Ok(e) => e,
                Err(reason) => {
                    // The rest of this tree cannot be parsed; its parent's walk goes on.
                    let done = stack.pop().expect("the loop holds a frame");
                    self.unreadable_tree(done.id, reason, on);
                    self.prefix.truncate(done.prefix_len);
                    continue;
                }
            };
            top.at = next;
            let (dir, data) = (top.dir, top.data.clone());
            let name = &data[name];
            match entry_kind(mode) {
                Some(Kind::Tree) => {
                    let len = self.prefix.len();
                    self.prefix.extend_from_slice(name);
                    self.prefix.push(b'/');
                    match self.enter(child, on) {
                        Some(sub) => stack.push(Frame {
                            id: child,
                            data: sub,
                            at: 0,
                            dir: path_hash(dir, name) ^ DIR_MARK,
                            prefix_len: len,
                        }),
                        None => self.prefix.truncate(len),
                    }
                }
                Some(Kind::Blob) => {
                    let len = self.prefix.len();
                    self.prefix.extend_from_slice(name);
                    self.blob(child, path_hash(dir, name), commit, record, on);
                    self.prefix.truncate(len);
                }
                Some(Kind::Commit) if record => {
                    let mut p = self.prefix.clone();
                    p.extend_from_slice(name);
                    on(Event::Submodule {
                        path: &String::from_utf8_lossy(&p),
                        commit: child,
                    });
                }
                _ => {}
            }
        }
    }

    /// Reads tree `id` for walking, unless it was seen before; an unreadable tree is reported
    /// at the current prefix.
    fn enter(&mut self, id: Oid, on: &mut dyn FnMut(Event)) -> Option<std::rc::Rc<Vec<u8>>> {
        if !self.seen_trees.insert(id) {
            return None;
        }
        match self.objects.read(id, Kind::Tree, u64::MAX) {
            Ok(Read::Found(t)) => Some(t),
            Ok(Read::TooLarge(_)) => unreachable!("trees are read without a limit"),
            Err(reason) => {
                self.unreadable_tree(id, reason, on);
                None
            }
        }
    }
    /// Names tree `id` at the current prefix as unreadable.
    fn unreadable_tree(&self, id: Oid, reason: String, on: &mut dyn FnMut(Event)) {
        let path = self.shown_prefix();
        on(Event::Unreadable {
            what: "tree",
            id,
            path: &path,
            reason,
        });
    }

    /// `self.prefix` holds the blob's full path.
    fn blob(&mut self, blob: Oid, hash: u64, commit: CommitIdx, record: bool, on: &mut dyn FnMut(Event)) {
        if !self.seen_pairs.insert((blob, hash)) || !record {
            return;
        }
        let path_id = self.paths.intern(&self.prefix);
        self.introductions.push(Introduction {
            blob,
            path: path_id,
            commit,
        });
        if self.seen_blobs.insert(blob) {
            on(Event::NewBlob {
                blob,
                path: self.paths.name(path_id),
            });
        }
    }

    /// Every blob in the trees `tips`, for deciding which secrets are still live on a branch.
    /// An unreadable tree was already named by the walk; here it only holds no blobs.
    pub fn blobs_in(&mut self, tips: &[Oid]) -> OidSet<Oid> {
        let mut trees = OidSet::default();
        let mut blobs = OidSet::default();
        let mut todo: Vec<Oid> = tips.to_vec();
        while let Some(id) = todo.pop() {
            if !trees.insert(id) {
                continue;
            }
            let Ok(Read::Found(tree)) = self.objects.read(id, Kind::Tree, u64::MAX) else {
                continue;
            };
            for (mode, _, child) in tree_entries(&tree).map_while(Result::ok) {
                match entry_kind(mode) {
                    Some(Kind::Tree) => todo.push(child),
                    Some(Kind::Blob) => {
                        blobs.insert(child);
                    }
                    _ => {}
                }
            }
        }
        blobs
    }

    fn shown_prefix(&self) -> String {
        let p = String::from_utf8_lossy(&self.prefix);
        let p = p.trim_end_matches('/');
        if p.is_empty() {
            "/".into()
        } else {
            p.to_string()
        }
    }
}

/// Start of every path hash.
const PATH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// Keeps a directory's hash apart from a file's of the same name.
const DIR_MARK: u64 = 0x9e37_79b9_7f4a_7c15;

/// Extends the hash of a directory with one name (FNV-1a): computed once per tree entry, where
/// a whole path would be hashed again for every entry of every tree.
fn path_hash(dir: u64, name: &[u8]) -> u64 {
    let mut h = dir;
    for &b in name {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (name.len() as u64).rotate_left(56)
}

/// Helps callers that hold `OidMap`s keyed by blob.
pub type BlobMap<V> = OidMap<Oid, V>;
