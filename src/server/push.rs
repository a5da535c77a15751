//! The worker's scan step: exactly the blobs a push introduced.
//!
//! [`scan_push`] is the service's source for the pipeline: the git source's history scan
//! ([`crate::source::git::scan_history`]) over the pushed range of the mirror, so a push is
//! attributed as `quench git` attributes it, merges included.

use anyhow::{Context as _, Result};
use git2::{Oid, Repository};

use super::event::PushEvent;
use crate::scan::{Collector, Scanner};
use crate::source::git::{self, Scope, Selection};
use crate::sweep::mirror::Fetched;

/// Scans what `event` introduced into the freshly fetched `mirror`, feeding `collector`.
/// A branch deletion introduces nothing.
pub fn scan_push(
    scanner: &Scanner,
    mirror: &Fetched,
    event: &PushEvent,
    collector: &Collector,
) -> Result<Vec<String>> {
    if event.is_deletion() {
        return Ok(Vec::new());
    }
    let repo = Repository::open_bare(&mirror.path)
        .with_context(|| format!("opening mirror {}", mirror.path.display()))?;
    let selection = pushed(&repo, mirror, event)?;
    let scope = Scope {
        label: Some(&event.repo),
        known: None,
    };
    let report = git::scan_history(&repo, &selection, &scope, scanner, collector)
        .with_context(|| format!("{}: scanning pushed history", event.repo))?;
    Ok(report.notes)
}

/// The commits `event` introduced.
///
/// An ordinary or forced push: reachable from `after` and not from `before` (for a force-push
/// that is the rewritten commits). A new ref (`before` all zeros), or a `before` the mirror does
/// not have: reachable from `after` and from no ref the mirror had before this fetch — for a
/// tag on an existing commit that is nothing. Excluded commits' trees count as seen, so only
/// what the push adds over them is scanned.
fn pushed(repo: &Repository, mirror: &Fetched, event: &PushEvent) -> Result<Selection> {
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
    let before = Oid::from_str(&event.before)
        .ok()
        .filter(|_| !event.is_new_ref())
        .and_then(|b| repo.find_commit(b).ok());
    let exclude = match before {
        Some(b) => vec![b.id()],
        None => mirror
            .refs_before
            .iter()
            .filter(|(name, _)| name != &event.git_ref)
            .map(|(_, tip)| *tip)
            .collect(),
    };
    Ok(Selection {
        all_refs: false,
        include: vec![after],
        exclude,
    })
}
