//! Webhook and workflow event payloads in the shapes GitHub and GitLab document.
//!
//! The files under `tests/it/payloads/` are ours (our values, a subset of the fields) written in
//! the documented shape; `tests/it/payloads/check.py` proves that shape against octokit/webhooks'
//! examples and GitLab's webhook documentation. Each builder here loads one file and sets only
//! the fields that differ between the kinds of event, the way the forge sets them: a new ref has
//! an all-zeros `before` and `created: true`, a deletion an all-zeros `after`, `deleted: true`
//! and no head commit.

use serde_json::Value;

pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// The payload file `tests/it/payloads/<rel>`.
pub fn load(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/payloads")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A GitHub `push` event (also what `github.event` holds in a workflow run by a push).
pub fn github_push(git_ref: &str, before: &str, after: &str, forced: bool, clone_url: &str) -> Value {
    let mut p = load("github/push.json");
    p["ref"] = git_ref.into();
    p["before"] = before.into();
    p["after"] = after.into();
    p["created"] = (before == ZERO).into();
    p["deleted"] = (after == ZERO).into();
    p["forced"] = forced.into();
    p["repository"]["clone_url"] = clone_url.into();
    if after == ZERO {
        // GitHub sends no commits and a null head commit for a deleted ref.
        p["commits"] = Value::Array(Vec::new());
        p["head_commit"] = Value::Null;
    } else {
        for c in p["commits"].as_array_mut().unwrap() {
            c["id"] = after.into();
        }
        p["head_commit"]["id"] = after.into();
    }
    p
}

/// A GitHub `pull_request` event (`synchronize`): `base` and `head` commits, the head from
/// `head_repo` (another repository for a pull request from a fork).
pub fn github_pull_request(base: &str, head: &str, head_repo: &str) -> Value {
    let mut p = load("github/pull_request.json");
    p["after"] = head.into();
    let pr = &mut p["pull_request"];
    pr["base"]["sha"] = base.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["repo"]["full_name"] = head_repo.into();
    pr["head"]["repo"]["fork"] = (head_repo != "acme/app").into();
    let owner = head_repo.split('/').next().unwrap_or(head_repo);
    pr["head"]["label"] = format!("{owner}:topic").into();
    p
}

/// A GitLab `Push Hook` (`tag: false`) or `Tag Push Hook` body for the project at `http_url`.
pub fn gitlab_push(tag: bool, git_ref: &str, before: &str, after: &str, http_url: &str) -> Value {
    let mut p = load(if tag {
        "gitlab/tag_push.json"
    } else {
        "gitlab/push.json"
    });
    p["ref"] = git_ref.into();
    p["before"] = before.into();
    p["after"] = after.into();
    // GitLab's checkout_sha is null when the ref was deleted.
    p["checkout_sha"] = if after == ZERO { Value::Null } else { after.into() };
    p["project"]["git_http_url"] = http_url.into();
    p["repository"]["git_http_url"] = http_url.into();
    if let Some(commits) = p["commits"].as_array_mut() {
        if after == ZERO {
            commits.clear();
        }
        for c in commits.iter_mut() {
            c["id"] = after.into();
        }
    }
    p
}
