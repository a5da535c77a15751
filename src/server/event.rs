//! Push events from GitHub and GitLab, normalised to what the worker needs.
//!
//! Only this normalised form is stored in the queue, never the raw body: a payload carries
//! commit messages and author data the service has no reason to keep.

use serde::{Deserialize, Serialize};

/// The all-zeros object id a forge sends as `before` for a new ref (and as `after` for a
/// deleted one).
pub const ZERO_OID: &str = "0000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushEvent {
    /// `github` or `gitlab`.
    pub provider: String,
    /// The URL (or path) the mirror fetches.
    pub remote: String,
    /// A human name for logs and finding paths (`owner/repo`).
    pub repo: String,
    /// The full ref name (`refs/heads/main`, `refs/tags/v1`).
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub forced: bool,
    /// When the service received it (Unix seconds, fractional): the start of the
    /// push-received-to-revoked clock.
    #[serde(default)]
    pub received_at: f64,
}

impl PushEvent {
    pub fn is_new_ref(&self) -> bool {
        is_zero(&self.before)
    }
    pub fn is_deletion(&self) -> bool {
        is_zero(&self.after)
    }
}

fn is_zero(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|b| b == b'0')
}

/// Why a body is not a usable push event (answered with 400).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("push event has no {0}")]
    Missing(&'static str),
    #[error("{0:?} is not an object id")]
    BadOid(String),
}

#[derive(Deserialize)]
struct GithubPush {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    before: Option<String>,
    after: Option<String>,
    #[serde(default)]
    forced: bool,
    repository: Option<GithubRepo>,
}

#[derive(Deserialize)]
struct GithubRepo {
    full_name: Option<String>,
    clone_url: Option<String>,
}

/// Parses a GitHub `push` event body.
pub fn parse_github(body: &[u8]) -> Result<PushEvent, EventError> {
    let p: GithubPush = serde_json::from_slice(body)?;
    let repo = p.repository.ok_or(EventError::Missing("repository"))?;
    let remote = repo
        .clone_url
        .ok_or(EventError::Missing("repository.clone_url"))?;
    finish(
        "github",
        remote,
        repo.full_name,
        p.git_ref,
        p.before,
        p.after,
        p.forced,
    )
}

#[derive(Deserialize)]
struct GitlabPush {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    before: Option<String>,
    after: Option<String>,
    project: Option<GitlabProject>,
}

#[derive(Deserialize)]
struct GitlabProject {
    path_with_namespace: Option<String>,
    git_http_url: Option<String>,
}

/// Parses a GitLab `Push Hook` or `Tag Push Hook` body.
pub fn parse_gitlab(body: &[u8]) -> Result<PushEvent, EventError> {
    let p: GitlabPush = serde_json::from_slice(body)?;
    let project = p.project.ok_or(EventError::Missing("project"))?;
    let remote = project
        .git_http_url
        .ok_or(EventError::Missing("project.git_http_url"))?;
    // GitLab does not flag force-pushes; the worker detects them from the history.
    finish(
        "gitlab",
        remote,
        project.path_with_namespace,
        p.git_ref,
        p.before,
        p.after,
        false,
    )
}

fn finish(
    provider: &str,
    remote: String,
    repo: Option<String>,
    git_ref: Option<String>,
    before: Option<String>,
    after: Option<String>,
    forced: bool,
) -> Result<PushEvent, EventError> {
    let git_ref = git_ref.ok_or(EventError::Missing("ref"))?;
    let before = oid(before, "before")?;
    let after = oid(after, "after")?;
    Ok(PushEvent {
        provider: provider.into(),
        repo: repo.unwrap_or_else(|| remote.clone()),
        remote,
        git_ref,
        before,
        after,
        forced,
        received_at: 0.0,
    })
}

fn oid(v: Option<String>, field: &'static str) -> Result<String, EventError> {
    let v = v.ok_or(EventError::Missing(field))?;
    if (v.len() == 40 || v.len() == 64) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(EventError::BadOid(v.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_push_normalises_and_rejects_bad_ids() {
        let body = br#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000",
            "after":"ABCDEF0123456789abcdef0123456789abcdef01","forced":false,
            "repository":{"full_name":"acme/api","clone_url":"/srv/git/api.git"}}"#;
        let e = parse_github(body).unwrap();
        assert!(e.is_new_ref());
        assert_eq!(e.after, "abcdef0123456789abcdef0123456789abcdef01");
        assert_eq!(e.repo, "acme/api");
        let bad = br#"{"ref":"refs/heads/main","before":"x","after":"y","repository":{"clone_url":"u"}}"#;
        assert!(matches!(parse_github(bad), Err(EventError::BadOid(_))));
        assert!(matches!(
            parse_github(b"{}"),
            Err(EventError::Missing("repository"))
        ));
        assert!(matches!(parse_github(b"not json"), Err(EventError::Json(_))));
    }
}
