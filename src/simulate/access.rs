//! The simulator's enumeration routes: the read-only listings `quench access` pages through,
//! in each issuer's documented shapes — GitHub's organisation memberships, repositories and
//! installation repositories (`Link` paging, `permissions` flags), Slack's
//! `conversations.list` (cursor in `response_metadata.next_cursor`, `missing_scope`), OpenAI's
//! listings a restricted key is refused ("Missing scopes"), Anthropic's Admin API workspaces
//! and users (`has_more`, `last_id`, `after_id`). What a key reaches is its `[[key.grant]]`s.

use axum::http::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{k, num_id, principal, reply, Reply, Req, Sim};

/// One thing a simulated key reaches (`[[key.grant]]` in keys.toml).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `org`, `repo`, `channel`, `workspace`, `user`.
    pub kind: String,
    pub name: String,
    /// GitHub: `admin`/`member` for orgs, `admin`/`maintain`/`push`/`triage`/`pull` for
    /// repositories; Slack: `member` when the token's user is in the channel; Anthropic: a
    /// user's role.
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: bool,
}

/// The answer to an enumeration request, or `None` to leave it to the issuer's own handler.
pub(super) fn route(sim: &Sim, issuer: &str, r: &Req) -> Option<Reply> {
    if r.method != Method::GET {
        return None;
    }
    match (issuer, r.rest.as_str()) {
        ("github", "/user/memberships/orgs") => Some(github_list(sim, r, "org", None)),
        ("github", "/user/repos") => Some(github_list(sim, r, "repo", None)),
        ("github", "/installation/repositories") => {
            let tok = r.bearer().unwrap_or_default();
            let i = sim.live("github", &tok)?;
            // Keys without grants keep the verify route's one-repository answer.
            if !k(sim, i).grants.iter().any(|g| g.kind == "repo") {
                return None;
            }
            Some(github_list(sim, r, "repo", Some("repositories")))
        }
        ("slack", "/api/conversations.list") => Some(slack_channels(sim, r)),
        ("openai", "/v1/files") => Some(openai_listing(sim, r, "api.files.read")),
        ("openai", "/v1/fine_tuning/jobs") => Some(openai_listing(sim, r, "api.fine_tuning.jobs.read")),
        ("openai", "/v1/batches") => Some(openai_listing(sim, r, "api.batch.read")),
        ("anthropic", "/v1/organizations/workspaces") => Some(anthropic_list(sim, r, "workspace")),
        ("anthropic", "/v1/organizations/users") => Some(anthropic_list(sim, r, "user")),
        _ => None,
    }
}

fn grants<'a>(sim: &'a Sim, i: usize, kind: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
    k(sim, i).grants.iter().filter(move |g| g.kind == kind)
}

/// GitHub's repository `permissions` flags for a role: each role holds the ones below it.
fn github_flags(role: &str) -> Value {
    let order = ["pull", "triage", "push", "maintain", "admin"];
    let at = order.iter().position(|r| *r == role).unwrap_or(0);
    let mut m = serde_json::Map::new();
    for (n, r) in order.iter().enumerate() {
        m.insert(r.to_string(), json!(n <= at));
    }
    Value::Object(m)
}

/// GitHub's "Simple User" for `login` of `kind` (`User` or `Organization`): the fields every
/// owner, member and user object carries.
pub(super) fn github_simple_user(login: &str, kind: &str) -> Value {
    let (api, id) = (format!("https://api.github.com/users/{login}"), num_id(login));
    json!({"login": login, "id": id, "node_id": format!("U_kgDO{id}"), "type": kind, "site_admin": false,
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"), "gravatar_id": "",
        "url": api, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"), "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"), "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"), "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events")})
}

/// GitHub's "Repository" for `full_name` (`owner/name`), every field GitHub's description
/// requires, with the caller's `permissions` when `role` is given.
pub(super) fn github_repo(full_name: &str, private: bool, default_branch: &str, role: Option<&str>) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or(("sim-org", full_name));
    let api = format!("https://api.github.com/repos/{full_name}");
    let mut r = json!({"id": num_id(full_name), "node_id": format!("R_kgDO{}", num_id(full_name)), "name": name,
        "full_name": full_name, "private": private, "owner": github_simple_user(owner, "Organization"),
        "html_url": format!("https://github.com/{full_name}"), "url": api, "description": null, "homepage": null,
        "language": null, "license": null, "mirror_url": null, "fork": false, "archived": false, "disabled": false,
        "default_branch": default_branch, "visibility": if private { "private" } else { "public" },
        "forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0, "size": 1, "stargazers_count": 0,
        "watchers": 0, "watchers_count": 0, "has_issues": true, "has_projects": true, "has_wiki": false,
        "has_pages": false, "has_downloads": true,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "pushed_at": "2026-01-01T00:00:00Z",
        "git_url": format!("git://github.com/{full_name}.git"), "ssh_url": format!("git@github.com:{full_name}.git"),
        "clone_url": format!("https://github.com/{full_name}.git"), "svn_url": format!("https://github.com/{full_name}")});
    // The `{api}/…` URL templates GitHub lists on every repository.
    for (field, rest) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        ("notifications_url", "/notifications{?since,all,participating}"),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        r[field] = json!(format!("{api}{rest}"));
    }
    if let Some(role) = role {
        r["permissions"] = github_flags(role);
    }
    r
}

fn github_item(sim: &Sim, i: usize, g: &Grant) -> Value {
    if g.kind == "org" {
        let (org, api) = (&g.name, format!("https://api.github.com/orgs/{}", g.name));
        let id = num_id(org);
        return json!({"url": format!("{api}/memberships/{}", principal(k(sim, i))),
            "state": "active", "role": g.permission.as_deref().unwrap_or("member"), "organization_url": api,
            "organization": {"login": org, "id": id, "node_id": format!("O_kgDO{id}"), "url": api,
                "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events"), "hooks_url": format!("{api}/hooks"),
                "issues_url": format!("{api}/issues"), "members_url": format!("{api}/members{{/member}}"),
                "public_members_url": format!("{api}/public_members{{/member}}"),
                "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"), "description": null},
            "user": github_simple_user(&principal(k(sim, i)), "User")});
    }
    github_repo(
        &g.name,
        g.private,
        g.default_branch.as_deref().unwrap_or("main"),
        Some(g.permission.as_deref().unwrap_or("pull")),
    )
}

/// A GitHub list, `per_page` (default 30, at most 100) at `page`, with the `Link` header's
/// `next` and `last`; `wrap` names the object key the list sits under (or the bare array).
fn github_list(sim: &Sim, r: &Req, kind: &str, wrap: Option<&str>) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let Some(i) = sim.live("github", &tok) else {
        return reply(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            "access",
        );
    };
    let is_installation = tok.starts_with("ghs_");
    if is_installation != wrap.is_some() {
        return reply(
            403,
            json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"}),
            "access",
        );
    }
    let all: Vec<Value> = grants(sim, i, kind).map(|g| github_item(sim, i, g)).collect();
    let per = r
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = r
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let items: Vec<Value> = all.iter().skip((page - 1) * per).take(per).cloned().collect();
    let last = all.len().div_ceil(per).max(1);
    let body = match wrap {
        Some(key) => json!({"total_count": all.len(), "repository_selection": "selected", key: items}),
        None => Value::Array(items),
    };
    let mut rep = reply(200, body, "access");
    if page < last {
        let link = |p: usize| {
            let mut q: Vec<(String, String)> = r.query.iter().filter(|(k, _)| k != "page").cloned().collect();
            q.push(("page".into(), p.to_string()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish();
            format!("{}{}?{qs}", sim.base(), r.full_path)
        };
        rep = rep.header(
            "link",
            format!(
                "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                link(page + 1),
                link(last)
            ),
        );
    }
    rep
}

/// `conversations.list`: `limit` channels (default 100, at most 1000) after `cursor`.
fn slack_channels(sim: &Sim, r: &Req) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let Some(i) = sim.live("slack", &tok) else {
        return reply(200, json!({"ok": false, "error": "invalid_auth"}), "access");
    };
    let key = k(sim, i);
    if !key
        .scopes
        .iter()
        .any(|s| s == "channels:read" || s == "groups:read")
    {
        return reply(
            200,
            json!({"ok": false, "error": "missing_scope", "needed": "channels:read,groups:read", "provided": key.scopes.join(",")}),
            "access",
        )
        .header("x-oauth-scopes", key.scopes.join(","));
    }
    let all: Vec<Value> = grants(sim, i, "channel")
        .map(|g| {
            json!({"id": format!("C{}", num_id(&g.name)), "name": g.name, "is_channel": true, "is_private": g.private,
                "is_archived": false, "is_member": g.permission.as_deref() == Some("member"), "num_members": 3})
        })
        .collect();
    let limit = r
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = r
        .query("cursor")
        .and_then(|c| c.strip_prefix("dXNlcjo").and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let next = if start + page.len() < all.len() {
        format!("dXNlcjo{}", start + page.len())
    } else {
        String::new()
    };
    reply(
        200,
        json!({"ok": true, "channels": page, "response_metadata": {"next_cursor": next}}),
        "access",
    )
}

/// An OpenAI list route a restricted key (one with scopes) may use only with `scope`.
fn openai_listing(sim: &Sim, r: &Req, scope: &str) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let Some(i) = sim.live("openai", &tok) else {
        return reply(
            401,
            json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            "access",
        );
    };
    let key = k(sim, i);
    if !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == scope) {
        return reply(
            401,
            json!({"error": {"message": format!("You have insufficient permissions for this operation. Missing scopes: {scope}. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes."),
                "type": "invalid_request_error", "param": null, "code": null}}),
            "access",
        );
    }
    // As OpenAI's description has each list: files name their first and last ids (so the
    // project holds one file here), batches and fine-tuning jobs only when there are any.
    let body = if r.rest == "/v1/files" {
        let file = json!({"id": "file-sim1", "object": "file", "bytes": 120, "created_at": 1_700_000_000,
            "filename": "train.jsonl", "purpose": "fine-tune", "status": "processed"});
        json!({"object": "list", "data": [file], "first_id": "file-sim1", "last_id": "file-sim1", "has_more": false})
    } else {
        json!({"object": "list", "data": [], "has_more": false})
    };
    reply(200, body, "access")
}

/// Anthropic's Admin API lists: `limit` (default 20, at most 100) after `after_id`.
fn anthropic_list(sim: &Sim, r: &Req, kind: &str) -> Reply {
    let tok = r.header("x-api-key").unwrap_or_default();
    let Some(i) = sim.live("anthropic", &tok) else {
        return reply(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            "access",
        );
    };
    if !k(sim, i).admin {
        return reply(
            403,
            json!({"type": "error", "error": {"type": "permission_error", "message": "admin key required"}}),
            "access",
        );
    }
    let all: Vec<Value> = grants(sim, i, kind)
        .map(|g| match kind {
            "workspace" => json!({"id": format!("wrkspc_{}", num_id(&g.name)), "type": "workspace", "name": g.name,
                "created_at": "2024-10-30T23:58:27.427722Z", "archived_at": null, "display_color": "#6C5BB9"}),
            _ => json!({"id": format!("user_{}", num_id(&g.name)), "type": "user", "email": g.name, "name": g.name,
                "role": g.permission.as_deref().unwrap_or("user"), "added_at": "2024-10-30T23:58:27.427722Z"}),
        })
        .collect();
    let limit = r
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let start = match r.query("after_id") {
        Some(a) => all
            .iter()
            .position(|v| v["id"].as_str() == Some(a.as_str()))
            .map_or(all.len(), |p| p + 1),
        None => 0,
    };
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    reply(
        200,
        json!({"data": page, "has_more": start + page.len() < all.len(),
            "first_id": page.first().map(|v| v["id"].clone()), "last_id": page.last().map(|v| v["id"].clone())}),
        "access",
    )
}
