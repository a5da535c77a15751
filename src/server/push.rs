//! The worker's scan step: exactly the blobs a push introduced.
//!
//! [`PushScanner`] is the seam for the git source's range scanner; [`Git2PushScanner`] is the
//! simple implementation (walk `before..after`, diff each commit against its parent, scan each
//! new blob once).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use git2::{Oid, Repository};

use super::event::PushEvent;
use crate::scan::{Collector, ScanOutcome, Scanner};
use crate::sweep::blobs;
use crate::sweep::mirror::Fetched;

pub trait PushScanner: Send + Sync {
    /// Scans what `event` introduced into the freshly fetched `mirror`.
    fn scan_push(&self, mirror: &Fetched, event: &PushEvent) -> Result<ScanOutcome>;
}

pub struct Git2PushScanner {
    pub scanner: Arc<Scanner>,
}

impl PushScanner for Git2PushScanner {
    fn scan_push(&self, mirror: &Fetched, event: &PushEvent) -> Result<ScanOutcome> {
        let collector = Collector::new();
        if !event.is_deletion() {
            let repo = Repository::open_bare(&mirror.path)
                .with_context(|| format!("opening mirror {}", mirror.path.display()))?;
            let commits = pushed_commits(&repo, mirror, event)?;
            let found = blobs::introduced_by(&repo, &commits, &|_| false)?;
            blobs::scan(&mirror.path, &event.repo, &found, &self.scanner, &collector);
        }
        Ok(collector.finish(&self.scanner.opts.ignore_fingerprints))
    }
}

/// The commits `event` introduced, newest first.
///
/// An ordinary or forced push: reachable from `after` and not from `before` (for a force-push
/// that is the rewritten commits). A new ref (`before` all zeros), or a `before` the mirror does
/// not have: reachable from `after` and from no ref the mirror had before this fetch — for a
/// tag on an existing commit that is nothing.
pub fn pushed_commits(repo: &Repository, mirror: &Fetched, event: &PushEvent) -> Result<Vec<Oid>> {
    let after = Oid::from_str(&event.after).with_context(|| format!("after {:?}", event.after))?;
    let after = repo
        .find_object(after, None)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| {
            format!(
                "{}: pushed object {after} is not in the fetched mirror",
                event.repo
            )
        })?
        .id();
    let mut walk = repo.revwalk()?;
    walk.push(after)?;
    let before = Oid::from_str(&event.before)
        .ok()
        .filter(|_| !event.is_new_ref())
        .and_then(|b| repo.find_commit(b).ok());
    match before {
        Some(b) => walk.hide(b.id())?,
        None => {
            for (name, tip) in &mirror.refs_before {
                if name != &event.git_ref {
                    walk.hide(*tip)?;
                }
            }
        }
    }
    let mut out = Vec::new();
    for id in walk {
        out.push(id.with_context(|| format!("{}: walking pushed history", event.repo))?);
    }
    Ok(out)
}
