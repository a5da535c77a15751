//! The simulator's enumeration routes: the read-only listings `quench access` pages through,
//! in each issuer's documented shapes — GitHub's organisation memberships, repositories and
//! installation repositories (`Link` paging, `permissions` flags), Slack's
//! `conversations.list` (cursor in `response_metadata.next_cursor`, `missing_scope`), GitLab's
//! groups and projects (access levels, `Link`), Cloudflare's token policies, memberships and
//! accounts (the v4 envelope, `result_info` pages), OpenAI's listings a restricted key is
//! refused ("Missing scopes"), Anthropic's Admin API workspaces and users (`has_more`,
//! `last_id`, `after_id`), Stripe's account and the listings a restricted key is refused
//! (`rak_…`), Datadog's reads with an application key, Vercel's teams (`until`), Supabase's
//! organisations and projects, Google APIs an API key may call (ErrorInfo reasons), a Google
//! project's IAM policy read with a service account's minted token (`getIamPolicy`, a POST that
//! only reads). Hugging
//! Face's `whoami-v2` and AWS IAM's user listings live with their issuers' other routes. What
//! a key reaches is its `[[key.grant]]`s.

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
    /// user's role; Google (`kind = "role"`): the member the role is bound to, when not the
    /// key's own service account (`user:ana@example.com`).
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: bool,
    /// GitLab: the role the user holds through the project's group (`group_access`).
    #[serde(default)]
    pub group_role: Option<String>,
}

/// The answer to an enumeration request, or `None` to leave it to the issuer's own handler.
pub(super) fn route(sim: &Sim, issuer: &str, r: &Req) -> Option<Reply> {
    if issuer == "google" && r.rest.starts_with("/cloudresourcemanager/") {
        return Some(google_iam_policy(sim, r));
    }
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
        ("gitlab", "/api/v4/groups") => Some(gitlab_list(sim, r, "group")),
        ("gitlab", "/api/v4/projects") => Some(gitlab_list(sim, r, "project")),
        ("cloudflare", "/client/v4/accounts") => Some(cloudflare_list(sim, r, "account")),
        ("cloudflare", "/client/v4/memberships") => Some(cloudflare_list(sim, r, "membership")),
        ("cloudflare", p)
            if p.starts_with("/client/v4/user/tokens/") && p != "/client/v4/user/tokens/verify" =>
        {
            Some(cloudflare_token(sim, r, &p["/client/v4/user/tokens/".len()..]))
        }
        ("stripe", "/v1/balance") => Some(stripe(sim, r, Some("rak_balance_read"))),
        ("stripe", "/v1/charges") => Some(stripe(sim, r, Some("rak_charge_read"))),
        ("stripe", "/v1/customers") => Some(stripe(sim, r, Some("rak_customer_read"))),
        ("datadog", "/api/v2/users") => Some(datadog_read(sim, r, "user_access_read")),
        ("datadog", "/api/v1/dashboard") => Some(datadog_read(sim, r, "dashboards_read")),
        ("vercel", "/v2/teams") => Some(vercel_teams(sim, r)),
        ("supabase", "/v1/organizations") => Some(supabase_list(sim, r, "org")),
        ("supabase", "/v1/projects") => Some(supabase_list(sim, r, "project")),
        ("google", "/gemini/v1beta/files") => Some(google_api(sim, r, "generativelanguage.googleapis.com")),
        ("google", "/youtube/youtube/v3/i18nLanguages") => Some(google_api(sim, r, "youtube.googleapis.com")),
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
    let total = all.len();
    link_paged(sim, r, all, 30, move |items| match wrap {
        Some(key) => json!({"total_count": total, "repository_selection": "selected", key: items}),
        None => Value::Array(items),
    })
}

/// One page of a `page`/`per_page` list (default `default_per`, at most 100), as GitHub and
/// GitLab page: the items `body` wraps, and a `Link` header with `next` and `last` while more
/// pages exist.
fn link_paged(
    sim: &Sim,
    r: &Req,
    all: Vec<Value>,
    default_per: usize,
    body: impl FnOnce(Vec<Value>) -> Value,
) -> Reply {
    let per = r
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(default_per)
        .clamp(1, 100);
    let page = r
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = all.len().div_ceil(per).max(1);
    let items: Vec<Value> = all.into_iter().skip((page - 1) * per).take(per).collect();
    let mut rep = reply(200, body(items), "access");
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

/// GitLab's access levels by role name (the members API's "valid access levels").
fn gitlab_level(role: &str) -> u64 {
    match role {
        "owner" => 50,
        "maintainer" => 40,
        "developer" => 30,
        "reporter" => 20,
        "planner" => 15,
        _ => 10,
    }
}

/// `GET /api/v4/groups` (`min_access_level`, default: every group the user sees) and
/// `GET /api/v4/projects?membership=true`: a project's own membership is
/// `permissions.project_access`, one through its group `permissions.group_access`
/// (`group_role` of the grant), either null.
fn gitlab_list(sim: &Sim, r: &Req, kind: &str) -> Reply {
    let tok = r
        .header("private-token")
        .or_else(|| r.bearer())
        .unwrap_or_default();
    let Some(i) = sim.live("gitlab", &tok) else {
        return reply(401, json!({"message": "401 Unauthorized"}), "access");
    };
    let min = r
        .query("min_access_level")
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(0);
    let all: Vec<Value> = grants(sim, i, kind)
        .filter(|g| kind != "group" || gitlab_level(g.permission.as_deref().unwrap_or("guest")) >= min)
        .map(|g| {
            let id = num_id(&g.name);
            let (ns, path) = g.name.rsplit_once('/').unwrap_or(("", g.name.as_str()));
            if kind == "group" {
                return json!({"id": id, "name": path, "path": path, "full_name": g.name.replace('/', " / "), "full_path": g.name,
                    "parent_id": null, "visibility": if g.private { "private" } else { "internal" },
                    "web_url": format!("https://gitlab.example.com/groups/{}", g.name)});
            }
            let access = |role: Option<&str>| {
                role.map_or(Value::Null, |r| json!({"access_level": gitlab_level(r), "notification_level": 3}))
            };
            json!({"id": id, "name": path, "path": path, "path_with_namespace": g.name,
                "namespace": {"full_path": ns, "kind": "group"},
                "default_branch": g.default_branch.as_deref().unwrap_or("main"),
                "visibility": if g.private { "private" } else { "internal" },
                "permissions": {"project_access": access(g.permission.as_deref()), "group_access": access(g.group_role.as_deref())}})
        })
        .collect();
    link_paged(sim, r, all, 20, Value::Array)
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

/// Cloudflare's envelope around a result.
fn cf_envelope(ok: bool, errors: Value, result: Value) -> Value {
    json!({"success": ok, "errors": errors, "messages": [], "result": result})
}

fn cf_refused() -> Reply {
    reply(
        403,
        cf_envelope(
            false,
            json!([{"code": 9109, "message": "Unauthorized to access requested resource"}]),
            Value::Null,
        ),
        "access",
    )
}

/// The live Cloudflare key a bearer token is, and whether its permission groups
/// (`[[key.grant]]` of kind `permission-group`) hold one of `needed` (a key without any holds
/// every permission).
fn cf_key(sim: &Sim, r: &Req, needed: &[&str]) -> Result<(usize, bool), Reply> {
    let Some(i) = r.bearer().and_then(|t| sim.live("cloudflare", &t)) else {
        return Err(reply(
            401,
            cf_envelope(
                false,
                json!([{"code": 1000, "message": "Invalid API Token"}]),
                Value::Null,
            ),
            "access",
        ));
    };
    let groups: Vec<&Grant> = grants(sim, i, "permission-group").collect();
    Ok((
        i,
        groups.is_empty() || groups.iter().any(|g| needed.contains(&g.name.as_str())),
    ))
}

/// `GET /user/tokens/{id}`: the token's policies, one allow policy holding every permission
/// group granted; "API Tokens Read" (or Write) is needed.
fn cloudflare_token(sim: &Sim, r: &Req, id: &str) -> Reply {
    let (i, allowed) = match cf_key(sim, r, &["API Tokens Read", "API Tokens Write"]) {
        Ok(v) => v,
        Err(rep) => return rep,
    };
    if !allowed {
        return cf_refused();
    }
    let key = k(sim, i);
    let own = key
        .key_id
        .clone()
        .unwrap_or_else(|| format!("{:032x}", num_id(&key.secret)));
    if own != id {
        return reply(
            404,
            cf_envelope(
                false,
                json!([{"code": 1003, "message": "Token not found"}]),
                Value::Null,
            ),
            "access",
        );
    }
    let groups: Vec<Value> = grants(sim, i, "permission-group")
        .map(|g| json!({"id": format!("{:032x}", num_id(&g.name)), "name": g.name}))
        .collect();
    reply(
        200,
        cf_envelope(
            true,
            json!([]),
            json!({"id": id, "name": "sim", "status": "active", "issued_on": "2026-01-01T00:00:00Z",
            "policies": [{"id": format!("{:032x}", num_id(id)), "effect": "allow",
                "resources": {"com.cloudflare.api.account.*": "*"}, "permission_groups": groups}]}),
        ),
        "access",
    )
}

/// `GET /accounts` and `GET /memberships` (the latter needs "Memberships Read"), numbered
/// pages of `per_page` (default 20, at most 50) with `result_info`.
fn cloudflare_list(sim: &Sim, r: &Req, what: &str) -> Reply {
    let (i, allowed) = match cf_key(sim, r, &["Memberships Read", "Memberships Write"]) {
        Ok(v) => v,
        Err(rep) => return rep,
    };
    if what == "membership" && !allowed {
        return cf_refused();
    }
    let all: Vec<Value> = grants(sim, i, "account")
        .map(|g| {
            let account = json!({"id": format!("{:032x}", num_id(&g.name)), "name": g.name, "type": "standard",
                "settings": {"enforce_twofactor": false}, "created_on": "2024-01-01T00:00:00Z"});
            if what == "account" {
                return account;
            }
            json!({"id": format!("{:032x}", num_id(&format!("m{}", g.name))), "account": account, "status": "accepted",
                "roles": g.permission.as_deref().unwrap_or("Administrator Read Only").split(',').collect::<Vec<_>>(),
                "api_access_enabled": true})
        })
        .collect();
    let per = r
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(5, 50);
    let page = r
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total_pages = all.len().div_ceil(per).max(1);
    let items: Vec<Value> = all.iter().skip((page - 1) * per).take(per).cloned().collect();
    let mut body = cf_envelope(true, json!([]), Value::Array(items.clone()));
    body["result_info"] = json!({"page": page, "per_page": per, "count": items.len(), "total_count": all.len(), "total_pages": total_pages});
    reply(200, body, "access")
}

/// Stripe: `GET /v1/account`, and the listings a restricted key (`rk_`) reads only with the
/// `rak_…` permission in its scopes; Stripe's refusal masks the key but its last six
/// characters.
fn stripe(sim: &Sim, r: &Req, needed: Option<&str>) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let Some(i) = sim.live("stripe", &tok) else {
        return reply(
            401,
            json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_live_********"}}),
            "access",
        );
    };
    let key = k(sim, i);
    let account = key
        .org
        .clone()
        .unwrap_or_else(|| format!("acct_{}", num_id(&key.secret)));
    if let Some(p) = needed.filter(|p| tok.starts_with("rk_") && !key.scopes.iter().any(|s| s == p)) {
        let shown = format!(
            "{}{}{}",
            &tok[..8],
            "*".repeat(tok.len().saturating_sub(14)),
            &tok[tok.len().saturating_sub(6)..]
        );
        return reply(
            403,
            json!({"error": {"type": "invalid_request_error", "message": format!("The provided key '{shown}' does not have the required permissions for this endpoint on account '{account}'. Having the '{p}' permission would allow this request to continue.")}}),
            "access",
        );
    }
    let live = !tok.contains("_test_");
    let body = match r.rest.as_str() {
        "/v1/account" => {
            json!({"id": account, "object": "account", "email": principal(key), "type": "standard", "country": "US",
            "business_profile": {"name": format!("{} Inc.", principal(key))}, "charges_enabled": true, "payouts_enabled": true})
        }
        "/v1/balance" => {
            json!({"object": "balance", "available": [{"amount": 0, "currency": "usd"}], "pending": [], "livemode": live})
        }
        rest => json!({"object": "list", "data": [], "has_more": false, "url": rest}),
    };
    reply(200, body, "access")
}

/// Datadog reads that need a live API key and a live application key whose scopes (none
/// listed: its owner's every permission) hold `needed`; Datadog's refusal is 403
/// `{"errors": ["Forbidden"]}`.
fn datadog_read(sim: &Sim, r: &Req, needed: &str) -> Reply {
    let live = |h: &str| r.header(h).and_then(|t| sim.live("datadog", &t));
    let (Some(_), Some(app)) = (live("dd-api-key"), live("dd-application-key")) else {
        return reply(403, json!({"errors": ["Forbidden"]}), "access");
    };
    let scopes = &k(sim, app).scopes;
    if !scopes.is_empty() && !scopes.iter().any(|s| s == needed) {
        return reply(403, json!({"errors": ["Forbidden"]}), "access");
    }
    let body = if r.rest == "/api/v1/dashboard" {
        json!({"dashboards": [{"id": "abc-def-ghi", "title": "Service overview", "layout_type": "ordered"}]})
    } else {
        json!({"data": [{"type": "users", "id": format!("{:08x}-0000-4000-8000-000000000000", num_id(&principal(k(sim, app)))),
            "attributes": {"email": principal(k(sim, app)), "status": "Active"}}], "meta": {"page": {"total_count": 1}}})
    };
    reply(200, body, "access")
}

/// Vercel's `GET /v2/teams`: newest first, `limit` (default 20, at most 100) created before
/// `until`, and `pagination.next` the last one's `createdAt` while more remain (else null).
fn vercel_teams(sim: &Sim, r: &Req) -> Reply {
    let Some(i) = r.bearer().and_then(|t| sim.live("vercel", &t)) else {
        return reply(
            403,
            json!({"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": true}}),
            "access",
        );
    };
    let all: Vec<Value> = grants(sim, i, "team")
        .enumerate()
        .map(|(n, g)| {
            json!({"id": format!("team_{}", num_id(&g.name)), "slug": g.name, "name": g.name, "avatar": null,
                "createdAt": 1_700_000_000_000u64 - n as u64 * 1000, "creatorId": format!("usr_{}", num_id(&principal(k(sim, i)))),
                "membership": {"role": g.permission.as_deref().unwrap_or("MEMBER"), "confirmed": true, "createdAt": 1_700_000_000_000u64}})
        })
        .collect();
    let limit = r
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let until = r
        .query("until")
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let left: Vec<&Value> = all
        .iter()
        .filter(|t| t["createdAt"].as_u64().unwrap_or(0) < until)
        .collect();
    let page: Vec<Value> = left.iter().take(limit).map(|v| (*v).clone()).collect();
    let next = (left.len() > page.len())
        .then(|| page.last().map(|t| t["createdAt"].clone()))
        .flatten();
    reply(
        200,
        json!({"teams": page, "pagination": {"count": page.len(), "next": next, "prev": null}}),
        "access",
    )
}

/// Supabase's Management API lists (not paged): the token's organisations (`org` of the key
/// and `[[key.grant]]`s of kind `org`), and its projects (`project` grants named
/// `ORG/PROJECT`, the grant's permission their status, default `ACTIVE_HEALTHY`).
fn supabase_list(sim: &Sim, r: &Req, kind: &str) -> Reply {
    let Some(i) = r.bearer().and_then(|t| sim.live("supabase", &t)) else {
        return reply(401, json!({"message": "Unauthorized"}), "verify");
    };
    let key = k(sim, i);
    let orgs: Vec<String> = key
        .org
        .iter()
        .cloned()
        .chain(grants(sim, i, "org").map(|g| g.name.clone()))
        .collect();
    let org_id = |name: &str| format!("org{}", num_id(name));
    let body: Vec<Value> = if kind == "org" {
        orgs.iter().map(|o| json!({"id": org_id(o), "name": o})).collect()
    } else {
        grants(sim, i, "project")
            .map(|g| {
                let (org, name) = g.name.split_once('/').unwrap_or(("", g.name.as_str()));
                json!({"id": format!("{:020x}", num_id(&g.name)), "organization_id": org_id(org), "name": name,
                    "region": "us-east-1", "created_at": "2026-01-01T00:00:00Z",
                    "status": g.permission.as_deref().unwrap_or("ACTIVE_HEALTHY"),
                    "database": {"host": format!("db.{:020x}.supabase.co", num_id(&g.name)), "version": "15.1.0.117"}})
            })
            .collect()
    };
    reply(200, Value::Array(body), "verify")
}

/// A Google API read with an API key: refused with Google's ErrorInfo when the key's project
/// has not enabled `service` (the key's `scopes`, none listed: every API), or when an
/// application restriction (`restriction = "browser"` or `"server"`) refuses this caller.
fn google_api(sim: &Sim, r: &Req, service: &str) -> Reply {
    let t = r
        .header("x-goog-api-key")
        .or_else(|| r.query("key"))
        .unwrap_or_default();
    let Some(i) = sim.live("google", &t) else {
        return reply(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key not valid. Please pass a valid API key.",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
            "access",
        );
    };
    let key = k(sim, i);
    let project = key.project.clone().unwrap_or_else(|| "1234567890".into());
    let refuse = |reason: &str, message: String| {
        reply(
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": message,
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
                    "metadata": {"service": service, "consumer": format!("projects/{project}")}}]}}),
            "access",
        )
    };
    match key.restriction.as_deref() {
        Some("browser") => {
            return refuse(
                "API_KEY_HTTP_REFERRER_BLOCKED",
                "Requests from referer <empty> are blocked.".into(),
            )
        }
        Some("server") => {
            return refuse(
                "API_KEY_IP_ADDRESS_BLOCKED",
                "The provided API key has an IP address restriction.".into(),
            )
        }
        _ => {}
    }
    if !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == service) {
        return refuse(
            "SERVICE_DISABLED",
            format!("{service} has not been used in project {project} before or it is disabled."),
        );
    }
    let body = if service.starts_with("youtube") {
        json!({"kind": "youtube#i18nLanguageListResponse", "items": [{"kind": "youtube#i18nLanguage", "id": "en", "snippet": {"hl": "en", "name": "English"}}]})
    } else {
        json!({"files": []})
    };
    reply(200, body, "access")
}

/// Resource Manager `POST /v1/projects/{project}:getIamPolicy` with a service account's
/// access token (the one the simulator's `/oauth/token` minted for it): the project's Policy
/// in Google's shape, `{version, etag, bindings: [{role, members}]}`, one binding per role, from
/// the `kind = "role"` grants of every service-account key in that project. A caller holding
/// no role on the project is refused as Google refuses it (403 PERMISSION_DENIED).
fn google_iam_policy(sim: &Sim, r: &Req) -> Reply {
    let error = |code: u16, status: &str, message: &str| json!({"error": {"code": code, "message": message, "status": status}});
    let project = r
        .rest
        .strip_prefix("/cloudresourcemanager/v1/projects/")
        .and_then(|p| p.strip_suffix(":getIamPolicy"));
    let (Some(project), true) = (project, r.method == Method::POST) else {
        return reply(404, error(404, "NOT_FOUND", "Not Found"), "other");
    };
    let token = r.bearer().unwrap_or_default();
    let account = |key: &crate::simulate::SimKey| key.issuer == "google" && key.principal.is_some();
    let caller = sim.keys.iter().enumerate().find(|(i, key)| {
        account(key) && !sim.is_revoked(*i) && token == format!("ya29.sim{}", num_id(&principal(key)))
    });
    let Some((_, caller)) = caller else {
        return reply(
            401,
            error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."),
            "access",
        );
    };
    let mut bindings: Vec<(String, Vec<String>)> = Vec::new();
    for key in sim
        .keys
        .iter()
        .filter(|key| account(key) && key.project.as_deref() == Some(project))
    {
        for g in key.grants.iter().filter(|g| g.kind == "role") {
            let member = g
                .permission
                .clone()
                .unwrap_or_else(|| format!("serviceAccount:{}", principal(key)));
            match bindings.iter_mut().find(|(role, _)| *role == g.name) {
                Some((_, members)) if !members.contains(&member) => members.push(member),
                Some(_) => {}
                None => bindings.push((g.name.clone(), vec![member])),
            }
        }
    }
    let me = format!("serviceAccount:{}", principal(caller));
    if caller.project.as_deref() != Some(project) || !bindings.iter().any(|(_, m)| m.contains(&me)) {
        return reply(
            403,
            error(403, "PERMISSION_DENIED", "The caller does not have permission"),
            "access",
        );
    }
    let bindings: Vec<Value> = bindings
        .into_iter()
        .map(|(role, members)| json!({"role": role, "members": members}))
        .collect();
    reply(
        200,
        json!({"version": 1, "etag": format!("BwX{:x}", num_id(project)), "bindings": bindings}),
        "access",
    )
}
