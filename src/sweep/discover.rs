//! Repository discovery through the GitHub and GitLab APIs: an organisation's or a group's
//! repositories, every page. Base URLs are overridable (Enterprise, self-managed GitLab, tests);
//! tokens come from the environment and are sent only to the configured API's own origin.

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use super::Target;

/// Upper bound on pages followed, so a misbehaving API cannot keep a sweep paging forever.
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOrg {
    pub org: String,
    /// API base, default `https://api.github.com` (Enterprise: `https://HOST/api/v3`).
    pub api: Option<String>,
    /// Environment variable holding the token (default `GITHUB_TOKEN`).
    pub token_env: Option<String>,
    /// Include archived repositories (default: no).
    #[serde(default)]
    pub include_archived: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabGroup {
    /// Numeric id or URL-encoded full path.
    pub group: String,
    /// Instance base, default `https://gitlab.com`.
    pub api: Option<String>,
    /// Environment variable holding the token (default `GITLAB_TOKEN`).
    pub token_env: Option<String>,
    #[serde(default)]
    pub include_archived: bool,
}

/// Bounds each page request.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Fetches one page of a listing API; `what` names it in errors.
async fn get(req: reqwest::RequestBuilder, what: &str) -> Result<crate::issuer::client::Response> {
    let req = req.header("user-agent", crate::issuer::client::USER_AGENT);
    let resp = crate::issuer::client::fetch(req, TIMEOUT, usize::MAX)
        .await
        .with_context(|| what.to_string())?;
    match resp.body_error {
        Some(e) => Err(e).context(what.to_string()),
        None => Ok(resp),
    }
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The `rel="next"` target of a Link header.
fn next_link(h: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    let v = h?.to_str().ok()?;
    v.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[derive(Deserialize)]
struct GhRepo {
    full_name: String,
    clone_url: String,
    #[serde(default)]
    archived: bool,
}

pub async fn github(src: &GithubOrg) -> Result<Vec<Target>> {
    let base = src
        .api
        .as_deref()
        .unwrap_or("https://api.github.com")
        .trim_end_matches('/');
    let env = src.token_env.as_deref().unwrap_or("GITHUB_TOKEN");
    let token = std::env::var(env).ok().filter(|t| !t.is_empty());
    let first = format!("{base}/orgs/{}/repos?per_page=100", src.org);
    let origin = url::Url::parse(&first).with_context(|| format!("GitHub API URL {first:?}"))?;
    let client = crate::issuer::client::discovery().context("GitHub API")?;
    let mut out = Vec::new();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(u) = next.take() {
        pages += 1;
        let parsed = url::Url::parse(&u).with_context(|| format!("GitHub next-page URL {u:?}"))?;
        if !same_origin(&origin, &parsed) || pages > MAX_PAGES {
            bail!(
                "GitHub org {}: refusing to follow pagination to {u} (other host or too many pages)",
                src.org
            );
        }
        let mut req = client.get(parsed).header("Accept", "application/vnd.github+json");
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let resp = get(req, &format!("GitHub org {}: listing repositories", src.org)).await?;
        let status = resp.status;
        if !status.is_success() {
            bail!(
                "GitHub org {}: listing repositories: HTTP {status}{}",
                src.org,
                auth_hint(&token, env)
            );
        }
        next = next_link(resp.headers.get("link"));
        let repos: Vec<GhRepo> = serde_json::from_slice(&resp.body)
            .with_context(|| format!("GitHub org {}: repository list is not the expected JSON", src.org))?;
        out.extend(
            repos
                .into_iter()
                .filter(|r| src.include_archived || !r.archived)
                .map(|r| Target {
                    name: r.full_name,
                    remote: r.clone_url,
                }),
        );
    }
    Ok(out)
}

#[derive(Deserialize)]
struct GlProject {
    path_with_namespace: String,
    http_url_to_repo: String,
    #[serde(default)]
    archived: bool,
}

pub async fn gitlab(src: &GitlabGroup) -> Result<Vec<Target>> {
    let base = src
        .api
        .as_deref()
        .unwrap_or("https://gitlab.com")
        .trim_end_matches('/');
    let env = src.token_env.as_deref().unwrap_or("GITLAB_TOKEN");
    let token = std::env::var(env).ok().filter(|t| !t.is_empty());
    let client = crate::issuer::client::discovery().context("GitLab API")?;
    let mut out = Vec::new();
    let mut page = "1".to_string();
    for _ in 0..MAX_PAGES {
        let u = format!(
            "{base}/api/v4/groups/{}/projects?per_page=100&include_subgroups=true&page={page}",
            src.group
        );
        let parsed = url::Url::parse(&u).with_context(|| format!("GitLab API URL {u:?}"))?;
        let mut req = client.get(parsed);
        if let Some(t) = &token {
            req = req.header("PRIVATE-TOKEN", t);
        }
        let resp = get(req, &format!("GitLab group {}: listing projects", src.group)).await?;
        let status = resp.status;
        if !status.is_success() {
            bail!(
                "GitLab group {}: listing projects: HTTP {status}{}",
                src.group,
                auth_hint(&token, env)
            );
        }
        let next = resp
            .header("x-next-page")
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string);
        let projects: Vec<GlProject> = serde_json::from_slice(&resp.body).with_context(|| {
            format!(
                "GitLab group {}: project list is not the expected JSON",
                src.group
            )
        })?;
        out.extend(
            projects
                .into_iter()
                .filter(|p| src.include_archived || !p.archived)
                .map(|p| Target {
                    name: p.path_with_namespace,
                    remote: p.http_url_to_repo,
                }),
        );
        match next {
            Some(n) => page = n,
            None => return Ok(out),
        }
    }
    bail!(
        "GitLab group {}: more than {MAX_PAGES} pages of projects",
        src.group
    )
}

fn auth_hint(token: &Option<String>, env: &str) -> String {
    if token.is_none() {
        format!(" (no token: {env} is not set)")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let v = reqwest::header::HeaderValue::from_static(
            "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"",
        );
        assert_eq!(
            next_link(Some(&v)).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let last =
            reqwest::header::HeaderValue::from_static("<https://api.github.com/x?page=1>; rel=\"prev\"");
        assert_eq!(next_link(Some(&last)), None);
    }
}
