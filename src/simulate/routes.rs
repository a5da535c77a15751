//! The simulator's request handling: one dispatcher, one function per issuer. Each issuer
//! function finds the credential where that issuer reads it (bearer, `x-api-key`, a signed
//! header, a form field), answers with the issuer's real status codes and JSON shapes, and marks
//! keys revoked on revoke calls so that a later verify sees them dead.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::Sim;
use crate::verify::{aws, jwt};

/// Enumeration routes (`quench access`), in their own file.
#[path = "access.rs"]
pub(super) mod access;
/// AWS session credentials and the inline deny that cuts them off.
#[path = "aws_sessions.rs"]
pub(super) mod aws_sessions;
#[path = "kill_paths.rs"]
mod kill_paths;

pub fn router(sim: Arc<Sim>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(sim)
}

/// A request as the issuer functions see it.
struct Req {
    method: Method,
    /// Full path, as signed (AWS needs it).
    full_path: String,
    /// Path after the issuer prefix, starting with `/`.
    rest: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
    fn bearer(&self) -> Option<String> {
        let a = self.header("authorization")?;
        let (scheme, rest) = a.split_once(' ')?;
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" | "token" | "key" | "ssws" | "bot" => Some(rest.trim().to_string()),
            _ => None,
        }
    }
    fn basic(&self) -> Option<(String, String)> {
        use base64::Engine as _;
        let a = self.header("authorization")?;
        let b = a.strip_prefix("Basic ")?;
        let d = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()?;
        let s = String::from_utf8(d).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }
    fn query(&self, k: &str) -> Option<String> {
        self.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn is(&self, m: &str, path: &str) -> bool {
        self.method.as_str() == m && self.rest == path
    }
}

/// What an issuer function answers.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    kind: &'static str,
    html: Option<String>,
}

fn reply(status: u16, body: Value, kind: &'static str) -> Reply {
    Reply {
        status,
        body,
        headers: vec![],
        kind,
        html: None,
    }
}

impl Reply {
    fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if let Some(ctl) = path.strip_prefix("/_sim/") {
        return control(&sim, &method, ctl, &body);
    }
    let arrived = chrono::Utc::now();
    let trimmed = path.trim_start_matches('/');
    let (issuer, rest) = match trimmed.split_once('/') {
        Some((i, r)) => (i.to_string(), format!("/{r}")),
        None => (trimmed.to_string(), "/".to_string()),
    };
    let req = Req {
        method: method.clone(),
        full_path: path.clone(),
        rest,
        query,
        headers,
        body,
    };
    if !sim.latency.is_zero() {
        tokio::time::sleep(sim.latency).await;
    }
    let kind = classify(&req);
    sim.saw(&issuer, method.as_str(), &path, kind);
    let key = credential_in(&sim, &issuer, &req);
    let script = sim.take_script(&issuer, kind);
    let mut hang_after = false;
    let planned = match &script {
        Some(s) if s.fault == "hang" => {
            // The connection stays open and nothing happens: a revocation that never arrived.
            sim.hang().await;
            None
        }
        Some(s) if s.fault == "hang-after" => {
            hang_after = true;
            None
        }
        Some(s) => {
            let delay = s.delay_ms.map(std::time::Duration::from_millis);
            answer_fault(&sim, &s.fault, key, s.retry_after, delay).await
        }
        None => fault(&sim, &issuer, key).await,
    };
    let (r, injected) = match planned {
        Some(r) => {
            let name = match r.status {
                302 => "redirect".to_string(),
                200 => "html".to_string(),
                s => s.to_string(),
            };
            (Reply { kind, ..r }, Some(name))
        }
        None => (dispatch(&sim, &issuer, &req), None),
    };
    if hang_after {
        // The issuer acted; its answer never leaves: the client cannot know the call worked.
        sim.hang().await;
    }
    sim.record(
        &issuer,
        method.as_str(),
        &path,
        r.kind,
        r.status,
        injected.as_deref(),
        arrived,
        || haystack(&req),
    );
    let mut b = Response::builder().status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK));
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let resp = match r.html {
        Some(h) => b
            .header("content-type", "text/html; charset=utf-8")
            .body(Body::from(h)),
        None if r.status == 204 => b.body(Body::empty()),
        None if r.body.is_string() && r.headers.iter().any(|(k, _)| k == "content-type") => {
            b.body(Body::from(r.body.as_str().unwrap_or("").to_string()))
        }
        None => b
            .header("content-type", "application/json")
            .body(Body::from(r.body.to_string())),
    };
    resp.unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Whether a request is a revoke call or a verify call, from its shape alone (for requests a
/// fault answered before any issuer logic ran).
fn classify(r: &Req) -> &'static str {
    let action = r
        .query("Action")
        .or_else(|| r.form().get("Action").cloned())
        .unwrap_or_default();
    let anthropic_update = r.method == Method::POST && r.rest.contains("/organizations/api_keys/");
    if r.method == Method::DELETE
        || r.rest.contains("revoke")
        || anthropic_update
        || action == "UpdateAccessKey"
        || action == "DeleteAccessKey"
        || action == "PutUserPolicy"
    {
        "revoke"
    } else {
        "verify"
    }
}

/// The simulator's own control paths, under `/_sim/`:
/// `PUT /_sim/fault/ISSUER` (body: a fault name) makes every request to that issuer fail so, and
/// `DELETE` clears it; `POST /_sim/script` queues a fault for the next requests of one kind;
/// `GET /_sim/health` answers 200; `GET /_sim/revoked` lists the revoked keys by position,
/// `POST /_sim/rotate/N` and `/_sim/revive/N` kill or revive key N as its owner would;
/// `POST /_sim/hook` receives notifications and `GET /_sim/hooks` lists them;
/// `GET /_sim/requests` and `/_sim/connections` say what arrived.
fn control(sim: &Sim, method: &Method, path: &str, body: &Bytes) -> Response {
    let ok = |s: u16, t: String| {
        Response::builder()
            .status(s)
            .body(Body::from(t))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    };
    if path == "health" {
        return ok(200, "ok".into());
    }
    if path == "revoked" {
        // Positions (in keys.toml order) of the keys revoked so far: what a test checks after
        // a revocation, without any secret crossing the wire.
        let mut dead: Vec<usize> = (0..sim.keys.len()).filter(|i| sim.is_revoked(*i)).collect();
        dead.sort_unstable();
        return ok(200, serde_json::to_string(&dead).unwrap_or_default());
    }
    if path == "hook" && method == Method::POST {
        // quench's own notifications, for a try-out without a chat server.
        let v = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()));
        sim.hook(v);
        return ok(200, "ok".into());
    }
    if path == "hooks" {
        return ok(200, Value::Array(sim.hooks()).to_string());
    }
    if path == "requests" {
        return ok(200, serde_json::to_string(&sim.seen()).unwrap_or_default());
    }
    if path == "connections" {
        return ok(200, sim.connections().to_string());
    }
    if path == "script" && method == Method::POST {
        // `POST /_sim/script` with a JSON [`super::Script`]: queue a fault for upcoming requests.
        return match serde_json::from_slice::<super::Script>(body)
            .map_err(anyhow::Error::from)
            .and_then(|s| sim.script(s))
        {
            Ok(()) => ok(200, "scripted".into()),
            Err(e) => ok(400, format!("{e:#}")),
        };
    }
    if let Some(n) = path.strip_prefix("rotate/") {
        // `POST /_sim/rotate/N`: the owner revoked key N by hand, outside quench.
        return match n.parse::<usize>() {
            Ok(i) if i < sim.keys.len() && method == Method::POST => {
                sim.revoke(i);
                ok(200, "revoked".into())
            }
            Ok(_) if method != Method::POST => ok(405, "use POST".into()),
            _ => ok(404, format!("no key #{n}")),
        };
    }
    if let Some(n) = path.strip_prefix("revive/") {
        // `POST /_sim/revive/N`: key N (keys.toml order) works again, as a re-activated AWS
        // key or a restored token does.
        return match n.parse::<usize>() {
            Ok(i) if i < sim.keys.len() && method == Method::POST => {
                sim.unrevoke(i);
                ok(200, "revived".into())
            }
            Ok(_) if method != Method::POST => ok(405, "use POST".into()),
            _ => ok(404, format!("no key #{n}")),
        };
    }
    if let Some(issuer) = path.strip_prefix("fault/") {
        let mut f = sim.issuer_faults.lock().unwrap_or_else(|e| e.into_inner());
        return match method.as_str() {
            "PUT" | "POST" => {
                let fault = String::from_utf8_lossy(body).trim().to_string();
                if !super::FAULTS.contains(&fault.as_str()) {
                    return ok(
                        400,
                        format!("unknown fault {fault:?}; known: {}", super::FAULTS.join(", ")),
                    );
                }
                f.insert(issuer.to_string(), fault);
                ok(200, "set".into())
            }
            "DELETE" => {
                f.remove(issuer);
                ok(200, "cleared".into())
            }
            _ => ok(405, "use PUT or DELETE".into()),
        };
    }
    ok(404, "unknown control path".into())
}

/// Everything in a request a credential can travel in: body, header values, query values and
/// basic-auth user and password.
fn haystack(req: &Req) -> String {
    let mut hay = String::from_utf8_lossy(&req.body).into_owned();
    for (_, v) in req.headers.iter() {
        hay.push_str(v.to_str().unwrap_or(""));
    }
    for (_, v) in &req.query {
        hay.push_str(v);
    }
    if let Some((u, p)) = req.basic() {
        hay.push_str(&u);
        hay.push_str(&p);
    }
    hay
}

/// The configured key (live or revoked) whose secret or key id appears anywhere in the request.
fn credential_in(sim: &Sim, issuer: &str, req: &Req) -> Option<usize> {
    let hay = haystack(req);
    sim.keys.iter().position(|k| {
        k.issuer == issuer
            && (hay.contains(&k.secret)
                || k.key_id
                    .as_deref()
                    .is_some_and(|id| id.len() >= 8 && hay.contains(id)))
    })
}

/// The standing fault for this request (the issuer's, set by `/_sim/fault`, or the key's).
async fn fault(sim: &Sim, issuer: &str, key: Option<usize>) -> Option<Reply> {
    let issuer_fault = sim
        .issuer_faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(issuer)
        .cloned();
    let key_fault = key.and_then(|i| sim.keys[i].fault.clone());
    let mut f = issuer_fault.or(key_fault)?;
    if super::ISSUER_FAULTS.contains(&f.as_str()) {
        return None;
    }
    if f == "429-once" {
        let first = key.is_some_and(|i| sim.fired.lock().unwrap_or_else(|e| e.into_inner()).insert(i));
        if !first {
            return None;
        }
        f = "429".into();
    }
    if f == "hang" || f == "hang-after" {
        // Standing hangs are one key's or one issuer's dead connection; both never answer.
        sim.hang().await;
        return None;
    }
    answer_fault(sim, &f, key, None, None).await
}

/// The reply a fault gives, in the common shape (`None` for `slow`, which stalls and then lets
/// the issuer answer).
async fn answer_fault(
    sim: &Sim,
    f: &str,
    key: Option<usize>,
    retry_after: Option<u64>,
    delay: Option<std::time::Duration>,
) -> Option<Reply> {
    let redirect = key
        .and_then(|i| sim.keys[i].redirect_to.clone())
        .unwrap_or_else(|| "http://127.0.0.1:9/elsewhere".into());
    let retry_after = retry_after.unwrap_or(1).to_string();
    Some(match f {
        "401" => reply(401, json!({"message": "Bad credentials (simulated fault)"}), "fault"),
        "403" => reply(403, json!({"message": "Forbidden (simulated fault)"}), "fault"),
        "429" | "429-once" => {
            reply(429, json!({"message": "rate limited (simulated fault)"}), "fault").header("retry-after", retry_after)
        }
        "500" => reply(500, json!({"message": "internal error (simulated fault)"}), "fault"),
        "503" => reply(503, json!({"message": "service unavailable (simulated fault)"}), "fault"),
        "redirect" => reply(302, json!({}), "fault").header("location", redirect),
        "html" => Reply {
            html: Some("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Checking your browser before accessing. (simulated captcha)</body></html>".into()),
            ..reply(200, Value::Null, "fault")
        },
        _ => {
            tokio::time::sleep(delay.unwrap_or(sim.slow)).await;
            return None;
        }
    })
}

fn dispatch(sim: &Sim, issuer: &str, r: &Req) -> Reply {
    if let Some(rep) = access::route(sim, issuer, r) {
        return rep;
    }
    match issuer {
        _ if kill_paths::serves(issuer, r) => kill_paths::dispatch(sim, issuer, r),
        "github" => github(sim, r),
        "gitlab" => gitlab(sim, r),
        "slack" => slack(sim, r),
        "openai" => openai(sim, r),
        "anthropic" => anthropic(sim, r),
        "aws" => aws_api(sim, r),
        "huggingface" => huggingface(sim, r),
        "npm" => npm(sim, r),
        "google" if r.rest.starts_with("/apikeys/") => google_apikeys(sim, r),
        "google" => google(sim, r),
        "doppler" => doppler(sim, r),
        "vault" => vault(sim, r),
        "idp" => idp(sim, r),
        "azure" if r.rest.starts_with("/graph/") => azure_graph(sim, r),
        "digitalocean" => digitalocean(sim, r),
        "vercel" => vercel(sim, r),
        "okta" => okta(sim, r),
        "buildkite" => buildkite(sim, r),
        "posthog" => posthog(sim, r),
        "crates-io" => crates_io(sim, r),
        "openrouter" => openrouter(sim, r),
        "workos" if r.rest.starts_with("/api_keys") => workos_api_keys(sim, r),
        "workos" => workos(sim, r),
        "sendgrid" => sendgrid(sim, r),
        "stripe" => stripe(sim, r),
        "discord" => discord(sim, r),
        "figma" => figma(sim, r),
        "netlify" => netlify(sim, r),
        "assemblyai" => assemblyai(sim, r),
        "together" => together(sim, r),
        "pinecone" => pinecone(sim, r),
        "hubspot" => hubspot(sim, r),
        "cohere" => cohere(sim, r),
        "deepgram" => deepgram(sim, r),
        "notion" => notion(sim, r),
        "firecrawl" => firecrawl(sim, r),
        "elevenlabs" if r.is("GET", "/v1/user") => elevenlabs_user(sim, r),
        "datadog" if r.rest.starts_with("/api/v2/api_keys") => datadog_api_keys(sim, r),
        "datadog" if r.method == Method::GET && r.rest.ends_with("/api/v1/validate") => {
            datadog_validate(sim, r)
        }
        "tailscale" => tailscale(sim, r),
        "cloudflare" if r.rest.starts_with("/client/v4/user/tokens") => cloudflare_user_tokens(sim, r),
        _ if r.rest.ends_with("/token") && r.method == Method::POST => client_credentials(sim, issuer, r),
        _ => generic(sim, issuer, r),
    }
}

fn k(sim: &Sim, i: usize) -> &super::SimKey {
    &sim.keys[i]
}

fn principal(key: &super::SimKey) -> String {
    key.principal.clone().unwrap_or_else(|| "sim-user".into())
}

fn num_id(s: &str) -> u64 {
    s.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 90_000_000
        + 10_000_000
}

/// `GET /user` as GitHub documents it: the "Public User" (a closed object), plus the private
/// profile fields when the token may read them (the `user` scope; no scopes listed: all).
fn github_user(key: &super::SimKey) -> Value {
    let login = principal(key);
    let mut u = access::github_simple_user(&login, "User");
    let mut add = |more: Value| {
        for (field, v) in more.as_object().into_iter().flatten() {
            u[field] = v.clone();
        }
    };
    add(
        json!({"user_view_type": "public", "name": login, "company": key.org, "blog": "", "location": null,
        "email": null, "hireable": null, "bio": null, "twitter_username": null, "public_repos": 1, "public_gists": 0,
        "followers": 0, "following": 0, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}),
    );
    if key.scopes.is_empty() || key.scopes.iter().any(|s| s == "user") {
        add(
            json!({"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 0,
            "collaborators": 0, "two_factor_authentication": true, "user_view_type": "private",
            "plan": {"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0}}),
        );
    }
    u
}

fn github(sim: &Sim, r: &Req) -> Reply {
    let bad = || {
        reply(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            "verify",
        )
    };
    if r.is("POST", "/credentials/revoke") {
        if r.header("authorization").is_some() {
            return reply(
                403,
                json!({"message": "Authenticated requests are not allowed"}),
                "revoke",
            );
        }
        let creds = r.json()["credentials"].as_array().cloned().unwrap_or_default();
        if creds.is_empty() || creds.len() > 1000 {
            return reply(422, json!({"message": "Validation Failed"}), "revoke");
        }
        for c in creds.iter().filter_map(|c| c.as_str()) {
            if let Some(i) = sim.live("github", c) {
                sim.revoke(i);
            }
        }
        return reply(202, json!({}), "revoke");
    }
    if r.is("GET", "/app") {
        let Some(tok) = r.bearer() else { return bad() };
        let Ok(t) = jwt::decode(&tok) else {
            return reply(
                401,
                json!({"message": "A JSON web token could not be decoded"}),
                "verify",
            );
        };
        let iss = t.claim_str("iss").unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        let found = sim.keys.iter().enumerate().find(|(i, key)| {
            key.issuer == "github"
                && key.key_id.as_deref() == Some(iss.as_str())
                && !sim.is_revoked(*i)
                && jwt::private_key_from_pem(&key.secret)
                    .map(|sk| jwt::verify_rs256(&sk.to_public_key(), &t))
                    .unwrap_or(false)
        });
        return match found {
            Some((_, key)) if t.exp().unwrap_or(0) > now => {
                let perms: serde_json::Map<String, Value> = key
                    .scopes
                    .iter()
                    .map(|s| match s.split_once(':') {
                        Some((a, b)) => (a.to_string(), json!(b)),
                        None => (s.clone(), json!("read")),
                    })
                    .collect();
                reply(
                    200,
                    json!({"id": iss.parse::<u64>().unwrap_or(1), "slug": principal(key), "name": principal(key),
                        "owner": {"login": key.org.clone().unwrap_or_default(), "type": "Organization"},
                        "permissions": perms, "events": []}),
                    "verify",
                )
            }
            _ => reply(
                401,
                json!({"message": "'Expiration time' claim ('exp') is invalid or the signature does not match"}),
                "verify",
            ),
        };
    }
    let tok = r.bearer().unwrap_or_default();
    let live = sim.live("github", &tok);
    if r.is("GET", "/user") {
        let Some(i) = live else { return bad() };
        if tok.starts_with("ghs_") {
            return reply(
                403,
                json!({"message": "Resource not accessible by integration"}),
                "verify",
            );
        }
        let key = k(sim, i);
        let mut rep = reply(200, github_user(key), "verify").header("x-oauth-scopes", key.scopes.join(", "));
        if let Some(e) = &key.expires_at {
            rep = rep.header("github-authentication-token-expiration", e.clone());
        }
        return rep;
    }
    if r.method == Method::GET && r.rest.starts_with("/installation/repositories") {
        let Some(i) = live else { return bad() };
        let org = k(sim, i).org.clone().unwrap_or_else(|| "sim-org".into());
        return reply(
            200,
            json!({"total_count": 1, "repository_selection": "selected",
                "repositories": [access::github_repo(&format!("{org}/app"), true, "main", None)]}),
            "verify",
        );
    }
    if r.is("DELETE", "/installation/token") {
        let Some(i) = live else { return bad() };
        sim.revoke(i);
        return reply(204, Value::Null, "revoke");
    }
    reply(404, json!({"message": "Not Found"}), "other")
}

fn gitlab(sim: &Sim, r: &Req) -> Reply {
    let tok = r
        .header("private-token")
        .or_else(|| r.bearer())
        .or_else(|| r.header("job-token"))
        .unwrap_or_default();
    let live = sim.live("gitlab", &tok);
    let bad = |kind| reply(401, json!({"message": "401 Unauthorized"}), kind);
    match (r.method.as_str(), r.rest.as_str()) {
        ("GET", "/api/v4/personal_access_tokens/self") => {
            let Some(i) = live else { return bad("verify") };
            let key = k(sim, i);
            reply(
                200,
                json!({"id": num_id(&key.secret), "name": "quench-sim", "revoked": false, "active": true,
                    "scopes": key.scopes, "user_id": key.principal.clone().unwrap_or_else(|| "1".into()),
                    "expires_at": key.expires_at, "created_at": "2026-01-01T00:00:00Z", "last_used_at": null}),
                "verify",
            )
        }
        ("DELETE", "/api/v4/personal_access_tokens/self") => {
            let Some(i) = live else { return bad("revoke") };
            sim.revoke(i);
            reply(204, Value::Null, "revoke")
        }
        ("GET", "/api/v4/user") => {
            let Some(i) = live else { return bad("verify") };
            let key = k(sim, i);
            reply(
                200,
                json!({"id": num_id(&principal(key)), "username": principal(key), "name": principal(key)}),
                "verify",
            )
        }
        ("POST", "/api/v4/runners/verify") => {
            let t = r.form().get("token").cloned().unwrap_or_default();
            match sim.live("gitlab", &t) {
                Some(i) => reply(
                    200,
                    json!({"id": num_id(&k(sim, i).secret), "token_expires_at": k(sim, i).expires_at}),
                    "verify",
                ),
                None => reply(403, json!({"message": "403 Forbidden"}), "verify"),
            }
        }
        _ => reply(404, json!({"message": "404 Not Found"}), "other"),
    }
}

fn slack(sim: &Sim, r: &Req) -> Reply {
    let tok = r
        .bearer()
        .or_else(|| r.form().get("token").cloned())
        .unwrap_or_default();
    let known = sim
        .keys
        .iter()
        .position(|k| k.issuer == "slack" && k.secret == tok);
    let live = sim.live("slack", &tok);
    let err = |kind| {
        let e = if known.is_some() {
            "token_revoked"
        } else {
            "invalid_auth"
        };
        reply(200, json!({"ok": false, "error": e}), kind)
    };
    let fault = known.and_then(|i| k(sim, i).fault.clone()).unwrap_or_default();
    let answer = |kind, e: &str| reply(200, json!({"ok": false, "error": e}), kind);
    match r.rest.as_str() {
        // Slack's answer to a request from an address the token's allowlist refuses.
        "/api/auth.test" | "/api/auth.revoke" if live.is_some() && fault == "ip-denied" => {
            answer(classify(r), "invalid_auth")
        }
        "/api/auth.revoke" if live.is_some() && fault == "revoke-refused" => {
            answer("revoke", "no_permission")
        }
        "/api/auth.test" => {
            let Some(i) = live else { return err("verify") };
            let key = k(sim, i);
            let team = key.org.clone().unwrap_or_else(|| "sim-team".into());
            let mut body = json!({"ok": true, "url": format!("https://{team}.slack.com/"), "team": team,
                "user": principal(key), "team_id": format!("T{}", num_id(&team)), "user_id": format!("U{}", num_id(&principal(key))),
                "is_enterprise_install": false});
            if tok.starts_with("xoxb-") {
                body["bot_id"] = json!(format!("B{}", num_id(&tok)));
            }
            reply(200, body, "verify").header("x-oauth-scopes", key.scopes.join(","))
        }
        "/api/auth.revoke" => {
            let Some(i) = live else { return err("revoke") };
            let test =
                r.form().get("test").is_some_and(|t| t == "1" || t == "true") || r.query("test").is_some();
            if !test {
                sim.revoke(i);
            }
            reply(200, json!({"ok": true, "revoked": !test}), "revoke")
        }
        _ => reply(200, json!({"ok": false, "error": "unknown_method"}), "other"),
    }
}

fn redacted_value(s: &str) -> String {
    let n = s.len();
    format!("{}...{}", &s[..8.min(n)], &s[n.saturating_sub(4)..])
}

/// One page of a cursor-paged list, the shape OpenAI and Anthropic share: `limit` items (the
/// issuer's default when absent, capped at its maximum) after the item whose `id` the query
/// parameter `after` names, with `first_id`, `last_id` and `has_more`.
fn cursor_page(items: Vec<Value>, r: &Req, after: &str, default_limit: usize, max_limit: usize) -> Value {
    let limit = r
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(default_limit)
        .clamp(1, max_limit);
    let start = match r.query(after) {
        Some(a) => items
            .iter()
            .position(|i| i["id"].as_str() == Some(a.as_str()))
            .map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let has_more = start + page.len() < items.len();
    json!({"first_id": page.first().map(|i| i["id"].clone()), "last_id": page.last().map(|i| i["id"].clone()),
        "has_more": has_more, "data": page})
}

/// The issuer's id of a simulated key: its configured `key_id`, or one derived from the secret.
fn key_id_of(key: &super::SimKey) -> String {
    key.key_id
        .clone()
        .unwrap_or_else(|| format!("key_{}", num_id(&key.secret)))
}

/// An OpenAI project's display name: never its id, as on the real service.
fn openai_project_name(id: &str) -> String {
    format!("Project {}", num_id(id) % 1000)
}

fn openai(sim: &Sim, r: &Req) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let live = sim.live("openai", &tok);
    let bad = |kind| {
        reply(
            401,
            json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            kind,
        )
    };
    let Some(i) = live else {
        return bad(if r.method == Method::DELETE {
            "revoke"
        } else {
            "verify"
        });
    };
    let key = k(sim, i).clone();
    let org = key.org.clone().unwrap_or_else(|| "sim-org".into());
    let denied = || {
        reply(
            403,
            json!({"error": {"message": "Insufficient permissions", "code": "insufficient_permissions"}}),
            "verify",
        )
    };
    // A key with scopes is a restricted key holding only those. OpenAI refuses it a route whose
    // scope it lacks with 401 and "Missing scopes" (an unknown key is 401 invalid_api_key).
    let missing = |scope: &str| {
        reply(
            401,
            json!({"error": {"message": format!("You have insufficient permissions for this operation. Missing scopes: {scope}. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes."),
                "type": "invalid_request_error", "param": null, "code": null}}),
            "verify",
        )
    };
    let restricted_without = |scope: &str| !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == scope);
    // Every project the simulated organization holds, in id order: `/v1/me` lists the user's
    // projects, not the key's, so the key's own project need not come first.
    let mut projects: Vec<String> = sim
        .keys
        .iter()
        .filter(|k| k.issuer == "openai")
        .filter_map(|k| k.project.clone())
        .collect();
    projects.sort();
    projects.dedup();
    let project_keys = |pid: &str| -> Vec<(usize, &super::SimKey)> {
        sim.keys
            .iter()
            .enumerate()
            .filter(|(j, k)| {
                k.issuer == "openai" && !k.admin && k.project.as_deref() == Some(pid) && !sim.is_revoked(*j)
            })
            .collect()
    };
    let segs: Vec<&str> = r.rest.trim_matches('/').split('/').collect();
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["v1", "models"]) if restricted_without("api.model.read") => missing("api.model.read"),
        ("GET", ["v1", "me"]) => reply(
            200,
            json!({"object": "user", "id": format!("user-{}", num_id(&principal(&key))), "email": principal(&key), "name": principal(&key),
                "orgs": {"object": "list", "data": [{"object": "organization", "id": format!("org-{}", num_id(&org)), "title": org, "name": format!("org-{}", num_id(&org)), "role": "owner",
                "projects": {"object": "list", "data": projects.iter().map(|p| json!({"id": p, "title": openai_project_name(p)})).collect::<Vec<_>>()}}]}}),
            "verify",
        ),
        ("GET", ["v1", "models"]) => reply(
            200,
            json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"}]}),
            "verify",
        ),
        ("GET", ["v1", "organization", "admin_api_keys"]) => {
            if !key.admin {
                return denied();
            }
            let data: Vec<Value> = sim.keys.iter().filter(|k| k.issuer == "openai" && k.admin).map(|k| {
                json!({"object": "organization.admin_api_key", "id": key_id_of(k), "name": "sim", "redacted_value": redacted_value(&k.secret),
                    "created_at": 1711471533, "expires_at": null, "last_used_at": null,
                    "owner": {"type": "user", "object": "organization.user", "id": format!("user-{}", num_id(&principal(k))), "name": principal(k), "created_at": 1711471533, "role": "owner"}})
            }).collect();
            let mut page = cursor_page(data, r, "after", 20, 100);
            page["object"] = json!("list");
            reply(200, page, "verify")
        }
        ("GET", ["v1", "organization", "projects"]) => {
            if !key.admin {
                return denied();
            }
            let data: Vec<Value> = projects
                .iter()
                .map(|p| json!({"id": p, "object": "organization.project", "name": openai_project_name(p), "created_at": 1711471533, "archived_at": null, "status": "active"}))
                .collect();
            let mut page = cursor_page(data, r, "after", 20, 100);
            page["object"] = json!("list");
            reply(200, page, "revoke")
        }
        ("GET", ["v1", "organization", "projects", pid, "api_keys"]) => {
            if !key.admin {
                return denied();
            }
            if !projects.iter().any(|p| p == pid) {
                return reply(
                    404,
                    json!({"error": {"message": format!("No such project: {pid}"), "type": "invalid_request_error"}}),
                    "revoke",
                );
            }
            // Without `owner_project_access`, OpenAI applies its membership rules and leaves
            // out keys whose owner no longer has access to the project; `any` lists them all.
            let any = r.query("owner_project_access").as_deref() == Some("any");
            let data: Vec<Value> = project_keys(pid)
                .into_iter()
                .map(|(_, k)| {
                    let access = k.owner_project_access.clone().unwrap_or_else(|| "active".into());
                    let owner = if k.secret.starts_with("sk-svcacct-") {
                        json!({"type": "service_account", "service_account": {"id": format!("svc_acct_{}", num_id(&k.secret)), "name": principal(k), "created_at": 1711471533, "role": "member"}})
                    } else {
                        json!({"type": "user", "user": {"id": format!("user-{}", num_id(&principal(k))), "email": principal(k), "name": principal(k), "created_at": 1711471533, "role": "owner"}})
                    };
                    json!({"object": "organization.project.api_key", "redacted_value": redacted_value(&k.secret), "name": "sim", "created_at": 1711471533,
                        "last_used_at": null, "id": key_id_of(k), "owner_project_access": access, "owner": owner})
                })
                .filter(|item| any || item["owner_project_access"] == "active")
                .collect();
            let mut page = cursor_page(data, r, "after", 20, 100);
            page["object"] = json!("list");
            reply(200, page, "revoke")
        }
        ("DELETE", ["v1", "organization", "projects", pid, "api_keys", kid]) => {
            if !key.admin {
                return reply(
                    403,
                    json!({"error": {"message": "Insufficient permissions"}}),
                    "revoke",
                );
            }
            let target = project_keys(pid).into_iter().find(|(_, k)| key_id_of(k) == *kid);
            match target {
                // "an error if the key belonged to a service account": such a key goes with
                // its service account.
                Some((_, k)) if k.secret.starts_with("sk-svcacct-") => reply(
                    400,
                    json!({"error": {"message": "API keys owned by service accounts cannot be deleted; delete the service account instead.", "type": "invalid_request_error", "param": null, "code": null}}),
                    "revoke",
                ),
                Some((j, _)) => {
                    sim.revoke(j);
                    reply(
                        200,
                        json!({"object": "organization.project.api_key.deleted", "id": kid, "deleted": true}),
                        "revoke",
                    )
                }
                None => reply(
                    404,
                    json!({"error": {"message": "No such API key", "type": "invalid_request_error"}}),
                    "revoke",
                ),
            }
        }
        _ => reply(404, json!({"error": {"message": "Unknown request URL"}}), "other"),
    }
}

fn anthropic(sim: &Sim, r: &Req) -> Reply {
    let tok = r.header("x-api-key").unwrap_or_default();
    let kind = if r.method == Method::POST {
        "revoke"
    } else {
        "verify"
    };
    if r.header("anthropic-version").is_none() {
        return reply(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "anthropic-version header is required"}}),
            kind,
        );
    }
    let Some(i) = sim.live("anthropic", &tok) else {
        return reply(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            kind,
        );
    };
    let key = k(sim, i).clone();
    let denied = || {
        reply(
            403,
            json!({"type": "error", "error": {"type": "permission_error", "message": "admin key required"}}),
            kind,
        )
    };
    let segs: Vec<&str> = r.rest.trim_matches('/').split('/').collect();
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["v1", "models"]) => reply(
            200,
            json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5"}], "has_more": false}),
            "verify",
        ),
        ("GET", ["v1", "organizations", "me"]) => {
            if !key.admin {
                return denied();
            }
            let org = key.org.clone().unwrap_or_else(|| "sim-org".into());
            reply(
                200,
                json!({"id": format!("org-{}", num_id(&org)), "type": "organization", "name": org}),
                "verify",
            )
        }
        ("GET", ["v1", "organizations", "api_keys"]) => {
            if !key.admin {
                return denied();
            }
            let data: Vec<Value> = sim.keys.iter().enumerate().filter(|(_, k)| k.issuer == "anthropic" && !k.admin).map(|(j, k)| {
                let n = k.secret.len();
                json!({"type": "api_key", "id": key_id_of(k), "name": "sim", "partial_key_hint": format!("{}...{}", k.secret.get(..16.min(n)).unwrap_or(""), k.secret.get(n.saturating_sub(4)..).unwrap_or("")),
                    "status": if sim.is_revoked(j) { "inactive" } else { "active" }, "workspace_id": k.project, "created_at": "2026-01-01T00:00:00Z",
                    "created_by": {"id": format!("user_{}", num_id(&principal(k))), "type": "user"}})
            }).collect();
            // Anthropic pages with `after_id` (default 20 a page, at most 1000).
            reply(200, cursor_page(data, r, "after_id", 20, 1000), "verify")
        }
        ("POST", ["v1", "organizations", "api_keys", id]) => {
            if !key.admin {
                return denied();
            }
            let status = r.json()["status"].as_str().unwrap_or("").to_string();
            match sim
                .keys
                .iter()
                .position(|k| k.issuer == "anthropic" && !k.admin && key_id_of(k) == *id)
            {
                Some(j) => {
                    if status == "inactive" || status == "archived" {
                        sim.revoke(j);
                    }
                    reply(
                        200,
                        json!({"type": "api_key", "id": id, "status": status}),
                        "revoke",
                    )
                }
                None => reply(
                    404,
                    json!({"type": "error", "error": {"type": "not_found_error"}}),
                    "revoke",
                ),
            }
        }
        _ => reply(
            404,
            json!({"type": "error", "error": {"type": "not_found_error"}}),
            "other",
        ),
    }
}

fn aws_error(code: &str, json_wanted: bool, kind: &'static str) -> Reply {
    let msg = match code {
        "InvalidClientTokenId" => "The security token included in the request is invalid.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided."
        }
        _ => "Access denied",
    };
    if json_wanted {
        reply(
            403,
            json!({"Error": {"Code": code, "Message": msg, "Type": "Sender"}}),
            kind,
        )
    } else {
        reply(
            403,
            json!(format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error></ErrorResponse>")),
            kind,
        )
        .header("content-type", "text/xml")
    }
}

fn aws_api(sim: &Sim, r: &Req) -> Reply {
    let json_wanted = r.header("accept").is_some_and(|a| a.contains("json"));
    let mut params: HashMap<String, String> = r.query.iter().cloned().collect();
    if r.method == Method::POST {
        params.extend(r.form());
    }
    let action = params.get("Action").cloned().unwrap_or_default();
    let kind = if [
        "UpdateAccessKey",
        "DeleteAccessKey",
        "GetAccessKeyLastUsed",
        "PutUserPolicy",
    ]
    .contains(&action.as_str())
    {
        "revoke"
    } else {
        "verify"
    };
    let Some(auth) = r.header("authorization").and_then(|a| aws::parse_auth(&a)) else {
        return aws_error("MissingAuthenticationToken", json_wanted, kind);
    };
    // Which partition this endpoint serves, from the base it was reached by.
    let partition = if r.rest.starts_with("/sts_us_gov") || r.rest.starts_with("/iam_us_gov") {
        "aws-us-gov"
    } else if r.rest.starts_with("/sts_cn") || r.rest.starts_with("/iam_cn") {
        "aws-cn"
    } else {
        "aws"
    };
    // A session (from GetSessionToken) signs as its parent key's user, with its own secret.
    let session = sim.aws.session(&auth.key_id);
    let Some(i) = session
        .as_ref()
        .map(|s| s.parent)
        .or_else(|| {
            sim.keys
                .iter()
                .position(|k| k.issuer == "aws" && k.key_id.as_deref() == Some(auth.key_id.as_str()))
        })
        .filter(|i| {
            sim.keys[*i].issuer == "aws" && sim.keys[*i].partition.as_deref().unwrap_or("aws") == partition
        })
    else {
        return aws_error("InvalidClientTokenId", json_wanted, kind);
    };
    if let Some(s) = &session {
        if r.header("x-amz-security-token").as_deref() != Some(s.token.as_str()) {
            return aws_error("InvalidClientTokenId", json_wanted, kind);
        }
        if chrono::Utc::now() >= s.expires {
            return aws_error("ExpiredToken", json_wanted, kind);
        }
    }
    // A partition's endpoints take only signatures scoped to one of its regions.
    let region_ok = match partition {
        "aws-us-gov" => auth.region.starts_with("us-gov-"),
        "aws-cn" => auth.region.starts_with("cn-"),
        _ => !auth.region.starts_with("us-gov-") && !auth.region.starts_with("cn-"),
    };
    if !region_ok {
        return aws_error("SignatureDoesNotMatch", json_wanted, kind);
    }
    // Deactivating a key leaves the sessions it minted valid.
    if session.is_none() && sim.is_revoked(i) {
        return aws_error("InvalidClientTokenId", json_wanted, kind);
    }
    let signed: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .map(|h| (h.clone(), r.header(h).unwrap_or_default()))
        .collect();
    let path = aws::percent_decode(&r.full_path);
    let (creq, _) = aws::canonical_request(
        r.method.as_str(),
        &path,
        &r.query,
        &signed,
        &aws::sha256_hex(&r.body),
    );
    let amz_date = r.header("x-amz-date").unwrap_or_default();
    let key = k(sim, i).clone();
    let signing_secret = session
        .as_ref()
        .map_or(key.secret.as_str(), |s| s.secret.as_str());
    let expected = aws::signature(signing_secret, &amz_date, &auth.region, &auth.service, &creq);
    if expected != auth.signature || !amz_date.starts_with(&auth.date) {
        return aws_error("SignatureDoesNotMatch", json_wanted, kind);
    }
    let account = key.org.clone().unwrap_or_else(|| "123456789012".into());
    let arn = key
        .principal
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{account}:user/sim"));
    if let Some(s) = &session {
        // An explicit deny on the user refuses its older sessions, except GetCallerIdentity,
        // which AWS answers whatever a policy denies. GetSessionToken takes long-term keys only.
        if action == "GetSessionToken"
            || (action != "GetCallerIdentity" && sim.aws.denied(&account, &aws_user_name(&key), s.issued))
        {
            return reply(
                403,
                json!(format!("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: {arn} is not authorized to perform: {action} with an explicit deny in an identity-based policy</Message></Error></ErrorResponse>")),
                kind,
            )
            .header("content-type", "text/xml");
        }
    }
    match action.as_str() {
        "GetSessionToken" => aws_sessions::get_session_token(sim, i, &params, json_wanted),
        "PutUserPolicy" => aws_sessions::put_user_policy(sim, &key, &account, &params, json_wanted),
        // IAM reads a key may make about its own user, in the query API's JSON shapes; a key
        // whose `scopes` (IAM actions) lack the action is refused AccessDenied.
        "GetUser" | "ListAttachedUserPolicies" | "ListUserPolicies" | "ListGroupsForUser" if json_wanted => {
            if !key.scopes.is_empty() && !key.scopes.iter().any(|s| *s == format!("iam:{action}")) {
                return reply(
                    403,
                    json!({"Error": {"Code": "AccessDenied", "Type": "Sender",
                        "Message": format!("User: {arn} is not authorized to perform: iam:{action} on resource: {arn} because no identity-based policy allows the iam:{action} action")}}),
                    kind,
                );
            }
            let user = aws_user_name(&key);
            if action != "GetUser" && params.get("UserName") != Some(&user) {
                return reply(
                    404,
                    json!({"Error": {"Code": "NoSuchEntity", "Type": "Sender", "Message": "The user with name cannot be found."}}),
                    kind,
                );
            }
            let of = |kind: &str, inline: Option<bool>| -> Vec<&access::Grant> {
                key.grants
                    .iter()
                    .filter(|g| {
                        g.kind == kind
                            && inline.is_none_or(|i| (g.permission.as_deref() == Some("inline")) == i)
                    })
                    .collect()
            };
            let (list_key, items): (&str, Vec<Value>) = match action.as_str() {
                "GetUser" => {
                    return reply(
                        200,
                        json!({"GetUserResponse": {"GetUserResult": {"User": {"UserName": user, "UserId": format!("AIDA{}", &auth.key_id[4..]),
                            "Arn": arn, "Path": "/", "CreateDate": 1.7e9}}, "ResponseMetadata": {"RequestId": "sim"}}}),
                        kind,
                    )
                }
                "ListAttachedUserPolicies" => ("AttachedPolicies", of("policy", Some(false)).iter().map(|g| {
                    let owner = if g.name.ends_with("Access") { "aws".to_string() } else { account.clone() };
                    json!({"PolicyName": g.name, "PolicyArn": format!("arn:aws:iam::{owner}:policy/{}", g.name)})
                }).collect()),
                "ListUserPolicies" => ("PolicyNames", of("policy", Some(true)).iter().map(|g| json!(g.name)).collect()),
                _ => ("Groups", of("group", None).iter().map(|g| json!({"GroupName": g.name, "GroupId": format!("AGPA{}", num_id(&g.name)),
                    "Arn": format!("arn:aws:iam::{account}:group/{}", g.name), "Path": "/", "CreateDate": 1.7e9})).collect()),
            };
            let max = params
                .get("MaxItems")
                .and_then(|m| m.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 1000);
            let start = params
                .get("Marker")
                .and_then(|m| m.strip_prefix("sim-"))
                .and_then(|m| m.parse::<usize>().ok())
                .unwrap_or(0);
            let page: Vec<Value> = items.iter().skip(start).take(max).cloned().collect();
            let truncated = start + page.len() < items.len();
            let mut result = json!({list_key: page, "IsTruncated": truncated});
            if truncated {
                result["Marker"] = json!(format!("sim-{}", start + max));
            }
            reply(
                200,
                json!({format!("{action}Response"): {format!("{action}Result"): result, "ResponseMetadata": {"RequestId": "sim"}}}),
                kind,
            )
        }
        "GetCallerIdentity" => {
            let user_id = format!("AIDA{}", &auth.key_id[4..]);
            if json_wanted {
                reply(
                    200,
                    json!({"GetCallerIdentityResponse": {"GetCallerIdentityResult": {"Account": account, "Arn": arn, "UserId": user_id}, "ResponseMetadata": {"RequestId": "sim"}}}),
                    kind,
                )
            } else {
                reply(200, json!(format!("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user_id}</UserId><Account>{account}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>")), kind)
                    .header("content-type", "text/xml")
            }
        }
        // An admin reads any key of the account; a key its own (with iam:GetAccessKeyLastUsed).
        "GetAccessKeyLastUsed"
            if key.admin
                || (params.get("AccessKeyId") == Some(&auth.key_id)
                    && !key.no_self_revoke
                    && (key.scopes.is_empty()
                        || key.scopes.iter().any(|s| s == "iam:GetAccessKeyLastUsed"))) =>
        {
            let target = params.get("AccessKeyId").cloned().unwrap_or_default();
            match sim
                .keys
                .iter()
                .find(|k| k.issuer == "aws" && k.key_id.as_deref() == Some(target.as_str()))
            {
                Some(t) => reply(200, json!(format!("<GetAccessKeyLastUsedResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetAccessKeyLastUsedResult><AccessKeyLastUsed><Region>us-east-1</Region><ServiceName>s3</ServiceName></AccessKeyLastUsed><UserName>{}</UserName></GetAccessKeyLastUsedResult></GetAccessKeyLastUsedResponse>", aws_user_name(t))), kind)
                    .header("content-type", "text/xml"),
                None => reply(
                    404,
                    json!("<ErrorResponse><Error><Code>NoSuchEntity</Code></Error></ErrorResponse>"),
                    kind,
                )
                .header("content-type", "text/xml"),
            }
        }
        "UpdateAccessKey" => {
            let target = params.get("AccessKeyId").cloned().unwrap_or_default();
            let status = params.get("Status").cloned().unwrap_or_default();
            // Without UserName, IAM acts on the signer's own user: another user's key is then
            // not found. An admin names the owner (from GetAccessKeyLastUsed).
            let user_ok = |t: &super::SimKey| match params.get("UserName") {
                Some(u) => *u == aws_user_name(t),
                None => target == auth.key_id,
            };
            match sim
                .keys
                .iter()
                .position(|k| k.issuer == "aws" && k.key_id.as_deref() == Some(target.as_str()))
                .filter(|j| user_ok(&sim.keys[*j]))
            {
                Some(j) if (target == auth.key_id && !key.no_self_revoke) || key.admin => {
                    if status == "Inactive" {
                        sim.revoke(j);
                    }
                    reply(200, json!("<UpdateAccessKeyResponse><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></UpdateAccessKeyResponse>"), kind)
                        .header("content-type", "text/xml")
                }
                Some(_) => aws_error("AccessDenied", json_wanted, kind),
                None => reply(
                    404,
                    json!("<ErrorResponse><Error><Code>NoSuchEntity</Code></Error></ErrorResponse>"),
                    kind,
                )
                .header("content-type", "text/xml"),
            }
        }
        _ => reply(
            400,
            json!("<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>"),
            kind,
        )
        .header("content-type", "text/xml"),
    }
}

fn huggingface(sim: &Sim, r: &Req) -> Reply {
    if r.is("POST", "/api/credentials/revoke") {
        for c in r.json()["credentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str())
        {
            if let Some(i) = sim.live("huggingface", c) {
                sim.revoke(i);
            }
        }
        return reply(202, json!({}), "revoke");
    }
    if r.is("GET", "/api/whoami-v2") {
        let tok = r.bearer().unwrap_or_default();
        let Some(i) = sim.live("huggingface", &tok) else {
            return reply(
                401,
                json!({"error": "Invalid credentials in Authorization header"}),
                "verify",
            );
        };
        let key = k(sim, i);
        // `org` is an organisation the user administers; `[[key.grant]]`s of kind `org` carry
        // their `roleInOrg`.
        let orgs: Vec<Value> = key
            .org
            .iter()
            .map(|o| json!({"type": "org", "name": o, "fullname": o, "roleInOrg": "admin"}))
            .chain(key.grants.iter().filter(|g| g.kind == "org").map(|g| {
                json!({"type": "org", "name": g.name, "fullname": g.name, "roleInOrg": g.permission.as_deref().unwrap_or("read")})
            }))
            .collect();
        let role = key.scopes.first().cloned().unwrap_or_else(|| "read".into());
        let mut token = json!({"displayName": "sim", "role": role, "createdAt": "2026-01-01T00:00:00Z"});
        // A fine-grained token: its `entity` grants with their comma-separated permissions,
        // and the rest of its scopes as global permissions.
        if role == "fineGrained" {
            let scoped: Vec<Value> = key.grants.iter().filter(|g| g.kind == "entity").map(|g| {
                json!({"entity": {"_id": format!("{:024x}", num_id(&g.name)), "type": if g.name.contains('/') { "model" } else { "user" }, "name": g.name},
                    "permissions": g.permission.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()).collect::<Vec<_>>()})
            }).collect();
            token["fineGrained"] =
                json!({"canReadGatedRepos": false, "global": key.scopes[1..], "scoped": scoped});
        }
        return reply(
            200,
            json!({"type": key.identity.clone().unwrap_or_else(|| "user".into()), "name": principal(key), "fullname": principal(key),
                "email": format!("{}@example.com", principal(key)), "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": token}}),
            "verify",
        );
    }
    reply(404, json!({"error": "Not Found"}), "other")
}

fn npm_key(secret: &str) -> String {
    aws::sha256_hex(secret.as_bytes())[..32].to_string()
}

fn npm(sim: &Sim, r: &Req) -> Reply {
    let tok = r.bearer().unwrap_or_default();
    let live = sim.live("npm", &tok);
    let kind = if r.method == Method::DELETE {
        "revoke"
    } else {
        "verify"
    };
    let Some(i) = live else {
        return reply(401, json!({"error": "Unauthorized"}), kind);
    };
    let key = k(sim, i).clone();
    if r.is("GET", "/-/whoami") {
        return reply(200, json!({"username": principal(&key)}), "verify");
    }
    if r.is("GET", "/-/npm/v1/tokens") {
        // The registry shows a token by its first characters only (`npm_1f`; the npm CLI adds
        // the "…" when it prints them) and pages with `urls.next` (`?page=N`, 10 a page here).
        const PER_PAGE: usize = 10;
        let mine: Vec<Value> = sim.keys.iter().enumerate()
            .filter(|(j, k)| k.issuer == "npm" && k.principal == key.principal && !sim.is_revoked(*j))
            .map(|(_, k)| json!({"key": npm_key(&k.secret), "token": k.secret.get(..6.min(k.secret.len())).unwrap_or(""), "readonly": false, "automation": false,
                "cidr_whitelist": null, "created": "2026-01-01T00:00:00.000Z", "updated": "2026-01-01T00:00:00.000Z"}))
            .collect();
        let page: usize = r.query("page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let objects: Vec<Value> = mine
            .iter()
            .skip(page * PER_PAGE)
            .take(PER_PAGE)
            .cloned()
            .collect();
        let mut urls = json!({});
        if (page + 1) * PER_PAGE < mine.len() {
            urls["next"] = json!(format!("/npm/-/npm/v1/tokens?page={}", page + 1));
        }
        return reply(
            200,
            json!({"objects": objects, "total": mine.len(), "urls": urls}),
            "revoke",
        );
    }
    if let Some(id) = r.rest.strip_prefix("/-/npm/v1/tokens/token/") {
        if r.method == Method::DELETE {
            // By key, or by the full token value (what `npm token revoke <token>` sends).
            return match sim.keys.iter().enumerate().position(|(j, k)| {
                k.issuer == "npm"
                    && k.principal == key.principal
                    && !sim.is_revoked(j)
                    && (npm_key(&k.secret) == id || k.secret == id)
            }) {
                Some(j) => {
                    sim.revoke(j);
                    reply(204, Value::Null, "revoke")
                }
                None => reply(404, json!({"error": "Not found"}), "revoke"),
            };
        }
    }
    reply(404, json!({"error": "Not found"}), "other")
}

fn google(sim: &Sim, r: &Req) -> Reply {
    match (r.method.as_str(), r.rest.as_str()) {
        ("GET", "/oauth/tokeninfo") | ("POST", "/oauth/tokeninfo") => {
            let t = r
                .query("access_token")
                .or_else(|| r.form().get("access_token").cloned())
                .unwrap_or_default();
            let Some(i) = sim.live("google", &t) else {
                return reply(
                    400,
                    json!({"error": "invalid_token", "error_description": "Invalid Value"}),
                    "verify",
                );
            };
            let key = k(sim, i);
            let exp = chrono::Utc::now().timestamp() + 3000;
            reply(
                200,
                json!({"azp": key.key_id, "aud": key.key_id, "sub": num_id(&principal(key)).to_string(), "scope": key.scopes.join(" "),
                "exp": exp.to_string(), "expires_in": "3000", "email": principal(key), "email_verified": "true"}),
                "verify",
            )
        }
        ("POST", "/oauth/revoke") => {
            let t = r
                .form()
                .get("token")
                .cloned()
                .or_else(|| r.query("token"))
                .unwrap_or_default();
            match sim.live("google", &t) {
                Some(i) => {
                    sim.revoke(i);
                    reply(200, json!({}), "revoke")
                }
                None => reply(
                    400,
                    json!({"error": "invalid_token", "error_description": "Token expired or revoked"}),
                    "revoke",
                ),
            }
        }
        ("POST", "/oauth/token") => {
            let f = r.form();
            if f.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            {
                return client_credentials(sim, "google", r);
            }
            let bad = || {
                reply(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                    "verify",
                )
            };
            let Some(t) = f.get("assertion").and_then(|a| jwt::decode(a).ok()) else {
                return bad();
            };
            let iss = t.claim_str("iss").unwrap_or_default();
            let ok = sim.keys.iter().enumerate().any(|(i, key)| {
                key.issuer == "google"
                    && key.principal.as_deref() == Some(iss.as_str())
                    && !sim.is_revoked(i)
                    && jwt::private_key_from_pem(&key.secret)
                        .map(|sk| jwt::verify_rs256(&sk.to_public_key(), &t))
                        .unwrap_or(false)
            });
            if ok && t.exp().unwrap_or(0) > chrono::Utc::now().timestamp() {
                reply(
                    200,
                    json!({"access_token": format!("ya29.sim{}", num_id(&iss)), "expires_in": 3599, "token_type": "Bearer"}),
                    "verify",
                )
            } else {
                bad()
            }
        }
        ("GET", p) if p.starts_with("/gemini/") => {
            let t = r
                .header("x-goog-api-key")
                .or_else(|| r.query("key"))
                .unwrap_or_default();
            // An API key's scopes are the APIs enabled in its project (none listed: all). Google
            // refuses a valid key whose project has not enabled this one with 403 SERVICE_DISABLED.
            const GEMINI: &str = "generativelanguage.googleapis.com";
            match sim.live("google", &t) {
                Some(i) if !k(sim, i).scopes.is_empty() && !k(sim, i).scopes.iter().any(|s| s == GEMINI) => {
                    let project = k(sim, i).project.clone().unwrap_or_else(|| "1234567890".into());
                    reply(
                        403,
                        json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                            "message": format!("Generative Language API has not been used in project {project} before or it is disabled."),
                            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
                                "metadata": {"service": GEMINI, "consumer": format!("projects/{project}")}}]}}),
                        "verify",
                    )
                }
                Some(_) => reply(
                    200,
                    json!({"models": [{"name": "models/gemini-2.5-pro"}]}),
                    "verify",
                ),
                None => reply(
                    400,
                    json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}),
                    "verify",
                ),
            }
        }
        _ => reply(404, json!({"error": "not_found"}), "other"),
    }
}

fn doppler(sim: &Sim, r: &Req) -> Reply {
    if r.is("POST", "/v3/auth/revoke") {
        let t = r.json()["token"]
            .as_str()
            .map(String::from)
            .or_else(|| r.bearer())
            .unwrap_or_default();
        if let Some(i) = sim.live("doppler", &t) {
            sim.revoke(i);
        }
        return reply(200, json!({"success": true}), "revoke");
    }
    if r.is("GET", "/v3/me") {
        let t = r.bearer().unwrap_or_default();
        let Some(i) = sim.live("doppler", &t) else {
            return reply(
                401,
                json!({"messages": ["Invalid Auth token"], "success": false}),
                "verify",
            );
        };
        let key = k(sim, i);
        let org = key.org.clone().unwrap_or_else(|| "sim-workplace".into());
        return reply(
            200,
            json!({"name": principal(key), "slug": principal(key), "type": key.identity.clone().unwrap_or_else(|| "personal".into()),
            "token_preview": format!("{}…", t.get(..8.min(t.len())).unwrap_or("")), "workplace": {"slug": org, "name": org}, "created_at": "2026-01-01T00:00:00Z", "last_seen_at": null}),
            "verify",
        );
    }
    reply(404, json!({"messages": ["Not found"], "success": false}), "other")
}

fn vault(sim: &Sim, r: &Req) -> Reply {
    let t = r.header("x-vault-token").unwrap_or_default();
    let live = sim.live("vault", &t);
    let denied = |kind| reply(403, json!({"errors": ["permission denied"]}), kind);
    match (r.method.as_str(), r.rest.as_str()) {
        ("GET", "/v1/auth/token/lookup-self") => {
            let Some(i) = live else { return denied("verify") };
            let key = k(sim, i);
            reply(
                200,
                json!({"data": {"display_name": principal(key), "policies": key.scopes, "entity_id": format!("ent-{}", num_id(&principal(key))),
                "expire_time": key.expires_at, "ttl": 3600, "type": "service", "path": "auth/token/create", "meta": {"org": key.org}}}),
                "verify",
            )
        }
        ("POST", "/v1/auth/token/revoke-self") => {
            let Some(i) = live else { return denied("revoke") };
            sim.revoke(i);
            reply(204, Value::Null, "revoke")
        }
        _ => reply(404, json!({"errors": []}), "other"),
    }
}

/// A JWT issuer: OpenID discovery and a JWKS of every `idp` key's public half.
fn idp(sim: &Sim, r: &Req) -> Reply {
    let base = format!("{}/idp", sim.base());
    match r.rest.as_str() {
        "/.well-known/openid-configuration" => reply(
            200,
            json!({"issuer": base, "jwks_uri": format!("{base}/.well-known/jwks.json")}),
            "verify",
        ),
        "/.well-known/jwks.json" => {
            let keys: Vec<Value> = sim
                .keys
                .iter()
                .enumerate()
                .filter(|(i, k)| k.issuer == "idp" && !sim.is_revoked(*i))
                .filter_map(|(_, k)| {
                    jwt::private_key_from_pem(&k.secret)
                        .ok()
                        .map(|sk| jwt::key_to_jwk(&sk.to_public_key(), k.key_id.as_deref().unwrap_or("sim")))
                })
                .collect();
            reply(200, json!({"keys": keys}), "verify")
        }
        _ => reply(404, json!({"error": "not_found"}), "other"),
    }
}

/// Any issuer's OAuth token endpoint, client-credentials grant.
fn client_credentials(sim: &Sim, issuer: &str, r: &Req) -> Reply {
    let f = r.form();
    let (id, secret) = match r.basic() {
        Some((u, p)) => (u, p),
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    let found = sim.keys.iter().enumerate().find(|(i, k)| {
        k.issuer == issuer
            && k.secret == secret
            && k.key_id.as_deref() == Some(id.as_str())
            && !sim.is_revoked(*i)
    });
    match found {
        Some((_, key)) => {
            use base64::Engine as _;
            let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let claims = json!({"appid": id, "tid": key.org, "roles": key.scopes, "exp": chrono::Utc::now().timestamp() + 3599, "sub": id, "client_id": id});
            let token = format!(
                "{}.{}.c2lt",
                e(&json!({"alg": "RS256", "typ": "JWT"})),
                e(&claims)
            );
            reply(
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token, "scope": key.scopes.join(" ")}),
                "verify",
            )
        }
        None => reply(
            401,
            json!({"error": "invalid_client", "error_description": "Invalid client secret provided."}),
            "verify",
        ),
    }
}

/// Every other issuer: a key is read from wherever issuers usually put it; a live key gets a
/// JSON body with the common identity fields, anything else a 401.
fn generic(sim: &Sim, issuer: &str, r: &Req) -> Reply {
    let mut candidates: Vec<String> = vec![];
    if let Some(b) = r.bearer() {
        candidates.push(b);
    }
    if let Some(a) = r.header("authorization") {
        candidates.push(a);
    }
    if let Some((u, p)) = r.basic() {
        candidates.push(u);
        candidates.push(p);
    }
    for h in [
        "x-api-key",
        "xi-api-key",
        "api-key",
        "x-goog-api-key",
        "private-token",
        "x-auth-key",
        "dd-api-key",
        "x-figma-token",
    ] {
        candidates.extend(r.header(h));
    }
    for q in ["key", "api_key", "token", "access_token"] {
        candidates.extend(r.query(q));
    }
    candidates.extend(r.form().get("credentials").cloned());
    candidates.extend(r.form().get("token").cloned());
    if let Some(s) = r.json().get("value").and_then(|v| v.as_str()) {
        candidates.push(s.to_string());
    }
    let found = candidates.iter().find_map(|c| sim.live(issuer, c));
    if let Some((status, body)) = found.and_then(|i| permission_refusal(issuer, r, k(sim, i))) {
        return reply(status, body, "verify");
    }
    match found {
        Some(i) => {
            let key = k(sim, i);
            let org = key.org.clone();
            reply(
                200,
                json!({"object": "list", "data": [], "valid": true, "is_available": true,
                "id": key.key_id, "name": principal(key), "username": principal(key), "email": principal(key), "label": principal(key),
                "type": key.identity, "organization": org, "organization_id": org, "team": org, "scopes": key.scopes, "acls": key.scopes,
                "expires_at": key.expires_at}),
                "verify",
            )
        }
        None => {
            let (status, body) = refusal(issuer);
            reply(status, body, "verify")
        }
    }
}

/// A generic issuer's refusal of a live restricted key for want of a permission, in the issuer's
/// words. A key's scopes are the permissions it holds (none listed: all).
fn permission_refusal(issuer: &str, r: &Req, key: &super::SimKey) -> Option<(u16, Value)> {
    let (needed, status, body) = match issuer {
        "elevenlabs" if r.rest.starts_with("/v1/user") => (
            "user_read",
            401,
            json!({"detail": {"type": "authentication_error", "code": "unauthorized", "status": "missing_permissions",
                "message": "The API key you used is missing the permission user_read to execute this operation."}}),
        ),
        "figma" if r.rest == "/v1/me" => (
            "current_user:read",
            403,
            json!({"status": 403, "err": format!("Invalid scope(s): {}. This endpoint requires the current_user:read scope", key.scopes.join(", "))}),
        ),
        _ => return None,
    };
    let lacks = !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == needed);
    lacks.then_some((status, body))
}

/// What a generic issuer answers an unknown or revoked key: 401, except where the real service
/// answers otherwise.
fn refusal(issuer: &str) -> (u16, Value) {
    match issuer {
        // xAI: 400 "Client specified an invalid argument", with the key masked in the message.
        "xai" => (
            400,
            json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided: xa***. You can obtain an API key from https://console.x.ai."}),
        ),
        "figma" => (403, json!({"status": 403, "err": "Invalid token"})),
        // Datadog: the same 403 for a bad key and for a key of another site (US1 vs EU).
        "datadog" => (403, json!({"errors": ["Forbidden"]})),
        "elevenlabs" => (
            401,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        ),
        _ => (
            401,
            json!({"error": {"message": "Invalid API key (simulated)", "code": "invalid_api_key"}, "valid": false}),
        ),
    }
}

/// The IAM user name of an AWS key: the last segment of its principal ARN.
fn aws_user_name(key: &super::SimKey) -> String {
    let p = principal(key);
    p.rsplit('/').next().unwrap_or(&p).to_string()
}

/// Whether the bearer of `r` is a live admin key of `issuer`.
fn admin_bearer(sim: &Sim, issuer: &str, r: &Req) -> bool {
    r.bearer()
        .and_then(|t| sim.live(issuer, &t))
        .is_some_and(|i| k(sim, i).admin)
}

/// A "who am I" and "delete the current token" pair authenticated by the token itself, the
/// shape of several self-revoking issuers.
struct SelfRevoking<'a> {
    issuer: &'a str,
    whoami: (&'a str, &'a str),
    /// Method, path and success status; `None` when the issuer's handler answers it itself.
    revoke: Option<(&'a str, &'a str, u16)>,
    /// The issuer's answer to an unknown or revoked token, and its status.
    dead: (u16, Value),
}

impl SelfRevoking<'_> {
    fn answer(
        &self,
        sim: &Sim,
        r: &Req,
        tok: Option<String>,
        body: impl Fn(&super::SimKey) -> Value,
    ) -> Reply {
        let is_revoke = self.revoke.is_some_and(|(m, p, _)| r.is(m, p));
        if !is_revoke && !r.is(self.whoami.0, self.whoami.1) {
            return reply(404, json!({"message": "Not Found"}), "other");
        }
        let kind = if is_revoke { "revoke" } else { "verify" };
        let Some(i) = tok.and_then(|t| sim.live(self.issuer, &t)) else {
            return reply(self.dead.0, self.dead.1.clone(), kind);
        };
        match self.revoke {
            Some((_, _, 204)) if is_revoke => {
                sim.revoke(i);
                reply(204, Value::Null, "revoke")
            }
            Some((_, _, status)) if is_revoke => {
                sim.revoke(i);
                reply(
                    status,
                    json!({"tokenId": format!("tok_{}", num_id(&k(sim, i).secret))}),
                    "revoke",
                )
            }
            _ => reply(200, body(k(sim, i)), "verify"),
        }
    }
}

fn vercel(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "vercel",
        whoami: ("GET", "/v2/user"),
        revoke: Some(("DELETE", "/v3/user/tokens/current", 200)),
        // Vercel answers an unknown, expired or revoked token with 403, not 401.
        dead: (403, json!({"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": true}})),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"user": {"id": format!("usr_{}", num_id(&principal(key))), "email": format!("{}@example.com", principal(key)), "username": principal(key)}})
    })
}

fn buildkite(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "buildkite",
        whoami: ("GET", "/v2/access-token"),
        revoke: Some(("DELETE", "/v2/access-token", 204)),
        dead: (401, json!({"message": "Authentication required. Please supply a valid API Access Token"})),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"uuid": format!("b1d0c0de-0000-4000-8000-{:012}", num_id(&key.secret)), "scopes": key.scopes, "description": "sim"})
    })
}

fn crates_io(sim: &Sim, r: &Req) -> Reply {
    // crates.io takes the token bare in Authorization, with no scheme, and looks every token up
    // first: an unknown or revoked one is 403 "authentication failed". `/api/v1/me` is for the
    // website only, so a live API token is refused there too, with its own message (crates.io
    // src/auth.rs); nothing a token may read names its owner.
    let is_revoke = r.is("DELETE", "/api/v1/tokens/current");
    if !is_revoke && !r.is("GET", "/api/v1/me") {
        return reply(404, json!({"errors": [{"detail": "Not Found"}]}), "other");
    }
    let kind = if is_revoke { "revoke" } else { "verify" };
    let forbidden = |detail: &str| reply(403, json!({"errors": [{"detail": detail}]}), kind);
    let Some(i) = r.header("authorization").and_then(|t| sim.live("crates-io", &t)) else {
        return forbidden("authentication failed");
    };
    if is_revoke {
        sim.revoke(i);
        return reply(204, Value::Null, "revoke");
    }
    forbidden("this action can only be performed on the crates.io website")
}

fn okta(sim: &Sim, r: &Req) -> Reply {
    // Okta reads `Authorization: SSWS <token>` only; a Bearer header is an OAuth token.
    let tok = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("SSWS ").map(|t| t.trim().to_string()));
    SelfRevoking {
        issuer: "okta",
        whoami: ("GET", "/api/v1/users/me"),
        revoke: Some(("DELETE", "/api/v1/api-tokens/current", 204)),
        dead: (401, json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided", "errorCauses": []})),
    }
    .answer(sim, r, tok, |key| {
        json!({"id": format!("00u{}", num_id(&principal(key))), "status": "ACTIVE", "profile": {"login": principal(key), "email": principal(key)}})
    })
}

fn digitalocean(sim: &Sim, r: &Req) -> Reply {
    if r.is("POST", "/cloud/v1/oauth/revoke") {
        // The token authenticates the call and names itself in the form.
        let named = r.form().get("token").cloned().unwrap_or_default();
        return match r
            .bearer()
            .filter(|b| *b == named)
            .and_then(|t| sim.live("digitalocean", &t))
        {
            Some(i) => {
                sim.revoke(i);
                reply(200, json!({}), "revoke")
            }
            None => reply(
                401,
                json!({"id": "unauthorized", "message": "Unable to authenticate you."}),
                "revoke",
            ),
        };
    }
    SelfRevoking {
        issuer: "digitalocean",
        whoami: ("GET", "/v2/account"),
        revoke: None,
        dead: (401, json!({"id": "unauthorized", "message": "Unable to authenticate you."})),
    }
    .answer(sim, r, r.bearer(), |key| {
        let team = key.org.clone().unwrap_or_else(|| "sim-team".into());
        // Every field DigitalOcean's description marks required on the account.
        json!({"account": {"email": principal(key), "uuid": format!("{:032x}", num_id(&principal(key))), "status": "active",
            "status_message": "", "email_verified": true, "droplet_limit": 25, "floating_ip_limit": 3,
            "team": {"uuid": format!("{:032x}", num_id(&team)), "name": team}}})
    })
}

fn posthog(sim: &Sim, r: &Req) -> Reply {
    if r.is("POST", "/api/revoke_leaked_key/") {
        // Public: no authentication, the leaked value in the form.
        let t = r.form().get("token").cloned().unwrap_or_default();
        return match sim.live("posthog", &t) {
            Some(i) => {
                sim.revoke(i);
                reply(200, json!({"found": true, "type": "personal_api_key"}), "revoke")
            }
            None => reply(200, json!({"found": false}), "revoke"),
        };
    }
    SelfRevoking {
        issuer: "posthog",
        whoami: ("GET", "/api/users/@me/"),
        revoke: None,
        dead: (401, json!({"type": "authentication_error", "code": "authentication_failed", "detail": "Personal API key found in request is invalid."})),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"email": principal(key), "organization": {"name": key.org.clone().unwrap_or_else(|| "sim-org".into())}})
    })
}

/// OpenRouter's redacted form of a key, as `/api/v1/key` labels it.
fn openrouter_label(secret: &str) -> String {
    let n = secret.len();
    format!(
        "{}...{}",
        secret.get(..12.min(n)).unwrap_or(""),
        secret.get(n.saturating_sub(3)..).unwrap_or("")
    )
}

fn openrouter(sim: &Sim, r: &Req) -> Reply {
    let unauthorized = |kind| {
        reply(
            401,
            json!({"error": {"code": 401, "message": "No auth credentials found"}}),
            kind,
        )
    };
    let segs: Vec<&str> = r.rest.trim_matches('/').split('/').collect();
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "key"]) => match r.bearer().and_then(|t| sim.live("openrouter", &t)) {
            Some(i) => {
                let key = k(sim, i);
                reply(
                    200,
                    json!({"data": {"label": openrouter_label(&key.secret), "usage": 0, "limit": null, "is_free_tier": false, "is_management_key": key.admin}}),
                    "verify",
                )
            }
            None => unauthorized("verify"),
        },
        ("GET", ["api", "v1", "keys"]) => {
            if !admin_bearer(sim, "openrouter", r) {
                return unauthorized("revoke");
            }
            let data: Vec<Value> = sim
                .keys
                .iter()
                .enumerate()
                .filter(|(j, k)| k.issuer == "openrouter" && !k.admin && !sim.is_revoked(*j))
                .map(|(_, k)| json!({"hash": aws::sha256_hex(k.secret.as_bytes()), "name": "sim", "label": openrouter_label(&k.secret), "disabled": false, "limit": null, "usage": 0}))
                .collect();
            reply(200, json!({"data": data}), "revoke")
        }
        ("DELETE", ["api", "v1", "keys", hash]) => {
            if !admin_bearer(sim, "openrouter", r) {
                return unauthorized("revoke");
            }
            let found = sim.keys.iter().enumerate().position(|(j, k)| {
                k.issuer == "openrouter"
                    && !sim.is_revoked(j)
                    && aws::sha256_hex(k.secret.as_bytes()) == *hash
            });
            match found {
                Some(j) => {
                    sim.revoke(j);
                    reply(200, json!({"deleted": true}), "revoke")
                }
                None => reply(
                    404,
                    json!({"error": {"code": 404, "message": "Key not found"}}),
                    "revoke",
                ),
            }
        }
        _ => reply(
            404,
            json!({"error": {"code": 404, "message": "Not Found"}}),
            "other",
        ),
    }
}

/// Cloudflare's answer envelope: `success`, `errors`, `messages`, `result`.
fn cf_envelope(ok: bool, errors: Value, result: Value) -> Value {
    json!({"success": ok, "errors": errors, "messages": [], "result": result})
}

/// A Cloudflare refusal: the envelope with one error.
fn cf_error(status: u16, code: u32, message: &str, kind: &'static str) -> Reply {
    reply(
        status,
        cf_envelope(false, json!([{"code": code, "message": message}]), Value::Null),
        kind,
    )
}

/// A token's id: its `key_id`, else one derived from the secret.
fn cf_token_id(k: &super::SimKey) -> String {
    k.key_id
        .clone()
        .unwrap_or_else(|| format!("{:032x}", num_id(&k.secret)))
}

/// `tokens/verify`'s answer for `key`, user and account tokens alike.
fn cf_verify(key: &super::SimKey) -> Reply {
    let mut b = cf_envelope(
        true,
        json!([]),
        json!({"id": cf_token_id(key), "status": "active"}),
    );
    b["messages"] = json!([{"code": 10000, "message": "This API Token is valid and active", "type": null}]);
    if let Some(e) = &key.expires_at {
        b["result"]["expires_on"] = json!(e);
    }
    reply(200, b, "verify")
}

/// `DELETE …/tokens/{id}` by `key`: refused without `permission` (scopes empty here: every
/// permission), else the live token of that id among those `owned` accepts is deleted, or 404.
fn cf_delete(
    sim: &Sim,
    key: &super::SimKey,
    permission: &str,
    id: &str,
    owned: impl Fn(&super::SimKey) -> bool,
) -> Reply {
    if !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == permission) {
        return cf_error(403, 9109, "Unauthorized to access requested resource", "revoke");
    }
    match sim.keys.iter().enumerate().position(|(j, k2)| {
        k2.issuer == "cloudflare" && owned(k2) && !sim.is_revoked(j) && cf_token_id(k2) == id
    }) {
        Some(j) => {
            sim.revoke(j);
            reply(200, cf_envelope(true, json!([]), json!({"id": id})), "revoke")
        }
        None => cf_error(404, 1003, "Token not found", "revoke"),
    }
}

/// Cloudflare user API tokens: `tokens/verify` names the token's id and status; `DELETE
/// tokens/{id}` deletes a token of the same user, given "API Tokens Write".
fn cloudflare_user_tokens(sim: &Sim, r: &Req) -> Reply {
    let Some(i) = r.bearer().and_then(|t| sim.live("cloudflare", &t)) else {
        return cf_error(401, 1000, "Invalid API Token", classify(r));
    };
    let key = k(sim, i);
    if r.is("GET", "/client/v4/user/tokens/verify") {
        return cf_verify(key);
    }
    if let Some(id) = r
        .rest
        .strip_prefix("/client/v4/user/tokens/")
        .filter(|_| r.method == Method::DELETE)
    {
        return cf_delete(sim, key, "API Tokens Write", id, |k2| {
            k2.principal == key.principal
        });
    }
    cf_error(404, 7003, "No route for that URI", "other")
}

/// Tailscale: the secret-scanning check (form `key`: 204 for a live key, 401 otherwise) and
/// `DELETE /api/v2/tailnet/-/keys/{keyId}` with an API access token of the same tailnet (the
/// key's `org`). A key's id is the segment after its kind (`tskey-api-<keyId>-<secret>`).
fn tailscale(sim: &Sim, r: &Req) -> Reply {
    let id_of = |s: &str| s.split('-').nth(2).map(String::from);
    if r.is("POST", "/api/v2/secret-scanning/verify") {
        let key = r.form().get("key").cloned().unwrap_or_default();
        return match sim.live("tailscale", &key) {
            Some(_) => reply(204, Value::Null, "verify"),
            None => reply(401, json!({"message": "API token invalid"}), "verify"),
        };
    }
    let Some(id) = r
        .rest
        .strip_prefix("/api/v2/tailnet/-/keys/")
        .filter(|_| r.method == Method::DELETE)
    else {
        return reply(404, json!({"message": "not found"}), "other");
    };
    let Some(i) = r
        .bearer()
        .filter(|t| t.starts_with("tskey-api-"))
        .and_then(|t| sim.live("tailscale", &t))
    else {
        return reply(401, json!({"message": "API token invalid"}), "revoke");
    };
    let tailnet = k(sim, i).org.clone();
    match sim.keys.iter().enumerate().position(|(j, k2)| {
        k2.issuer == "tailscale"
            && k2.org == tailnet
            && !sim.is_revoked(j)
            && id_of(&k2.secret).as_deref() == Some(id)
    }) {
        Some(j) => {
            sim.revoke(j);
            reply(200, Value::Null, "revoke")
        }
        None => reply(404, json!({"message": "key not found"}), "revoke"),
    }
}

/// Stripe: `GET /v1/account`, the account a secret or restricted key belongs to, with every
/// field of Stripe's account resource (null when unset). A restricted key holding scopes but
/// not `rak_accounts_kyc_basic_read` is refused with 403 (a live key); an unknown or rolled key
/// with 401. Errors are Stripe's `{"error": {"message", "type"}}`.
fn stripe(sim: &Sim, r: &Req) -> Reply {
    let error = |status: u16, message: String| {
        reply(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error"}}),
            classify(r),
        )
    };
    if !r.is("GET", "/v1/account") {
        return error(404, format!("Unrecognized request URL (GET: {}).", r.rest));
    }
    let tok = r
        .bearer()
        .or_else(|| r.basic().map(|(u, _)| u))
        .unwrap_or_default();
    let masked = format!(
        "{}****{}",
        tok.get(..8).unwrap_or(""),
        tok.get(tok.len().saturating_sub(4)..).unwrap_or("")
    );
    let Some(i) = sim.live("stripe", &tok) else {
        return error(401, format!("Invalid API Key provided: {masked}"));
    };
    let key = k(sim, i);
    // `org` in keys.toml is the account id, written with or without its `acct_` prefix.
    let id = match &key.org {
        Some(o) if o.starts_with("acct_") => o.clone(),
        Some(o) => format!("acct_{o}"),
        None => format!("acct_{:016X}", num_id(&key.secret)),
    };
    if !key.scopes.is_empty() && !key.scopes.iter().any(|s| s == "rak_accounts_kyc_basic_read") {
        return error(
            403,
            format!("The provided key '{masked}' does not have the required permissions for this endpoint on account '{id}'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue."),
        );
    }
    reply(
        200,
        json!({"id": id, "object": "account", "email": principal(key), "type": "standard", "country": "US",
            "default_currency": "usd", "created": 1_700_000_000, "charges_enabled": true, "payouts_enabled": true,
            "details_submitted": true, "business_type": null, "metadata": {},
            "business_profile": {"name": key.org, "url": null, "support_email": null},
            "capabilities": {"card_payments": "active", "transfers": "active"}, "controller": {"type": "account"},
            "external_accounts": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/accounts/{id}/external_accounts")},
            "requirements": {"currently_due": [], "eventually_due": [], "past_due": [], "disabled_reason": null},
            "future_requirements": {"currently_due": [], "eventually_due": [], "past_due": [], "disabled_reason": null},
            "settings": {"dashboard": {"display_name": key.org}}, "tos_acceptance": {"date": 1_700_000_000}}),
        "verify",
    )
}

/// Discord: `GET /api/v10/users/@me` with `Authorization: Bot <token>`, the bot's user as
/// Discord's description has it; an unknown token gets Discord's `{"message", "code"}` 401.
fn discord(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "discord",
        whoami: ("GET", "/api/v10/users/@me"),
        revoke: None,
        dead: (401, json!({"message": "401: Unauthorized", "code": 0})),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"id": num_id(&key.secret).to_string(), "username": principal(key), "global_name": null,
            "discriminator": "0", "avatar": null, "bot": true, "flags": 0, "public_flags": 0,
            "mfa_enabled": false, "locale": "en-US", "verified": true, "email": null})
    })
}

/// Figma: `GET /v1/me` with `X-Figma-Token`, the token's user; a live token without the
/// `current_user:read` scope and an unknown one both get 403 (`{"status", "err"}`), told
/// apart by the message.
fn figma(sim: &Sim, r: &Req) -> Reply {
    if !r.is("GET", "/v1/me") {
        return reply(404, json!({"status": 404, "err": "Not found"}), "other");
    }
    let Some(i) = r.header("x-figma-token").and_then(|t| sim.live("figma", &t)) else {
        return reply(403, json!({"status": 403, "err": "Invalid token"}), "verify");
    };
    let key = k(sim, i);
    if let Some((status, body)) = permission_refusal("figma", r, key) {
        return reply(status, body, "verify");
    }
    reply(
        200,
        json!({"id": num_id(&principal(key)).to_string(), "handle": principal(key), "email": principal(key),
            "img_url": "https://s3-alpha.figma.com/profile/sim"}),
        "verify",
    )
}

/// Netlify: `GET /api/v1/user`, the token's user; an unknown token gets Netlify's
/// `{"code", "message"}` 401.
fn netlify(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "netlify",
        whoami: ("GET", "/api/v1/user"),
        revoke: None,
        dead: (401, json!({"code": 401, "message": "Access Denied: your token is invalid"})),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"id": format!("{:024x}", num_id(&principal(key))), "uid": format!("{:024x}", num_id(&principal(key))),
            "full_name": principal(key), "email": principal(key), "avatar_url": "https://avatars.netlify.com/sim",
            "site_count": 1, "created_at": "2024-01-01T00:00:00.000Z", "last_login": "2026-01-01T00:00:00.000Z",
            "login_providers": ["email"]})
    })
}

/// AssemblyAI: `GET /v2/transcript` with the key as the whole `Authorization` header, the
/// key's transcript list (empty here) and its page details; an unknown key gets 401 with
/// `{"error"}`.
fn assemblyai(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "assemblyai",
        whoami: ("GET", "/v2/transcript"),
        revoke: None,
        dead: (401, json!({"error": "Authentication error, API token missing/invalid"})),
    }
    .answer(sim, r, r.header("authorization"), |_| {
        let limit = r.query("limit").and_then(|l| l.parse::<i64>().ok()).unwrap_or(10);
        json!({"page_details": {"limit": limit, "result_count": 0, "current_url": format!("https://api.assemblyai.com/v2/transcript?limit={limit}"),
            "prev_url": null, "next_url": null}, "transcripts": []})
    })
}

/// Together: `GET /v1/models` answers a bare array of models (not a `{"data": …}` list), and
/// an unknown key Together's `{"error": {"message", "type"}}` 401.
fn together(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "together",
        whoami: ("GET", "/v1/models"),
        revoke: None,
        dead: (
            401,
            json!({"error": {"message": "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.",
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ),
    }
    .answer(sim, r, r.bearer(), |_| {
        json!([{"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "created": 1_733_000_000,
            "type": "chat", "display_name": "Llama 3.3 70B Instruct Turbo", "organization": "Meta", "context_length": 131072}])
    })
}

/// Pinecone: `GET /indexes` with `Api-Key`, the project's indexes (none here); an unknown key
/// gets Pinecone's `{"error": {"code", "message"}, "status"}` 401.
fn pinecone(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "pinecone",
        whoami: ("GET", "/indexes"),
        revoke: None,
        dead: (
            401,
            json!({"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}),
        ),
    }
    .answer(sim, r, r.header("api-key"), |_| json!({"indexes": []}))
}

/// HubSpot: `GET /account-info/v3/details`, the account (portal) of a private-app token, every
/// field HubSpot's description requires; an unknown token gets HubSpot's error object.
fn hubspot(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "hubspot",
        whoami: ("GET", "/account-info/v3/details"),
        revoke: None,
        dead: (
            401,
            json!({"status": "error", "message": "Authentication credentials not found.", "correlationId": "00000000-0000-4000-8000-000000000000",
                "category": "INVALID_AUTHENTICATION"}),
        ),
    }
    .answer(sim, r, r.bearer(), |key| {
        let portal = key.org.as_deref().and_then(|o| o.parse::<u64>().ok()).unwrap_or_else(|| num_id(&key.secret));
        json!({"portalId": portal, "accountType": "STANDARD", "timeZone": "US/Eastern", "companyCurrency": "USD",
            "additionalCurrencies": [], "utcOffset": "-05:00", "utcOffsetMilliseconds": -18_000_000,
            "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1"})
    })
}

/// Cohere: `POST /v1/check-api-key`, `{"valid": true}` with the key's organization and owner
/// (which the recipe reads as org and principal); an unknown key gets 401.
fn cohere(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "cohere",
        whoami: ("POST", "/v1/check-api-key"),
        revoke: None,
        dead: (401, json!({"id": "sim-request", "message": "invalid api token"})),
    }
    .answer(sim, r, r.bearer(), |key| {
        let org = key.org.clone().unwrap_or_else(|| "sim-org".into());
        json!({"valid": true, "organization_id": format!("{:08x}-0000-4000-8000-000000000000", num_id(&org)),
            "owner_id": format!("{:08x}-0000-4000-8000-000000000001", num_id(&principal(key)))})
    })
}

/// ElevenLabs: `GET /v1/user` with `xi-api-key`, the key's user with its subscription, every
/// field ElevenLabs' description requires; a live key without `user_read` gets its
/// permission refusal, an unknown key the generic issuer's 401.
fn elevenlabs_user(sim: &Sim, r: &Req) -> Reply {
    let Some(i) = r.header("xi-api-key").and_then(|t| sim.live("elevenlabs", &t)) else {
        let (status, body) = refusal("elevenlabs");
        return reply(status, body, "verify");
    };
    let key = k(sim, i);
    if let Some((status, body)) = permission_refusal("elevenlabs", r, key) {
        return reply(status, body, "verify");
    }
    reply(
        200,
        json!({"user_id": principal(key), "first_name": null, "created_at": 1_700_000_000, "is_new_user": false,
            "is_onboarding_completed": true, "is_onboarding_checklist_completed": true,
            "can_use_delayed_payment_methods": false, "is_api_key_hashed": true,
            "subscription": {"tier": "starter", "status": "active", "character_count": 0, "character_limit": 30000,
                "max_character_limit_extension": null, "allowed_to_extend_character_limit": false,
                "can_extend_character_limit": false, "can_extend_voice_limit": false,
                "can_use_instant_voice_cloning": true, "can_use_professional_voice_cloning": false,
                "voice_limit": 10, "voice_slots_used": 0, "voice_add_edit_counter": 0,
                "professional_voice_limit": 0, "professional_voice_slots_used": 0}}),
        "verify",
    )
}

/// Deepgram: `GET /v1/projects` with `Authorization: Token <key>`, the key's projects (one,
/// named after its org, which the recipe reads as the org); an unknown key gets 401.
fn deepgram(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "deepgram",
        whoami: ("GET", "/v1/projects"),
        revoke: None,
        dead: (
            401,
            json!({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "sim"}),
        ),
    }
    .answer(sim, r, r.bearer(), |key| {
        let name = key.org.clone().unwrap_or_else(|| "sim-project".into());
        json!({"projects": [{"project_id": format!("{:08x}-0000-4000-8000-000000000000", num_id(&name)), "name": name}]})
    })
}

/// Firecrawl: `GET /v1/team/credit-usage`, the team's remaining credits; an unknown key gets
/// 401.
fn firecrawl(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "firecrawl",
        whoami: ("GET", "/v1/team/credit-usage"),
        revoke: None,
        dead: (
            401,
            json!({"success": false, "error": "Unauthorized: Invalid token"}),
        ),
    }
    .answer(
        sim,
        r,
        r.bearer(),
        |_| json!({"success": true, "data": {"remaining_credits": 500}}),
    )
}

/// Notion: `GET /v1/users/me`, the integration's bot user, owned by its workspace (whose name
/// the recipe reads as the org); an unknown token gets Notion's `unauthorized` error.
fn notion(sim: &Sim, r: &Req) -> Reply {
    SelfRevoking {
        issuer: "notion",
        whoami: ("GET", "/v1/users/me"),
        revoke: None,
        dead: (
            401,
            json!({"object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."}),
        ),
    }
    .answer(sim, r, r.bearer(), |key| {
        json!({"object": "user", "id": format!("{:08x}-0000-4000-8000-000000000000", num_id(&key.secret)),
            "name": principal(key), "avatar_url": null, "type": "bot",
            "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": key.org}})
    })
}

/// Datadog's key validation (v1): `{"valid": true}` for a live API key, the 403 error list
/// otherwise (a bad key and a key of another site alike), as Datadog's description has it.
fn datadog_validate(sim: &Sim, r: &Req) -> Reply {
    match r.header("dd-api-key").and_then(|t| sim.live("datadog", &t)) {
        Some(_) => reply(200, json!({"valid": true}), "verify"),
        None => reply(403, json!({"errors": ["Forbidden"]}), "verify"),
    }
}

/// Datadog's API key management (v2): a request carries an API key (`DD-API-KEY`) and an
/// application key (`DD-APPLICATION-KEY`, an admin key here). The listing pages by number
/// (`page[size]` up to 100, `page[number]` from 0) and shows each key's last four
/// characters; `DELETE /api/v2/api_keys/{id}` deletes one (204). A key's organization is its
/// `org`; its id a UUID derived from it.
fn datadog_api_keys(sim: &Sim, r: &Req) -> Reply {
    let errors = |m: &str| json!({"errors": [m]});
    let api = r.header("dd-api-key").and_then(|t| sim.live("datadog", &t));
    let app = r
        .header("dd-application-key")
        .and_then(|t| sim.live("datadog", &t))
        .filter(|i| k(sim, *i).admin);
    let (Some(a), Some(_)) = (api, app) else {
        return reply(403, errors("Forbidden"), classify(r));
    };
    let org = k(sim, a).org.clone();
    let id_of = |s: &str| {
        let h = aws::sha256_hex(s.as_bytes());
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    };
    let keys: Vec<(usize, &super::SimKey)> = sim
        .keys
        .iter()
        .enumerate()
        .filter(|(j, kk)| kk.issuer == "datadog" && !kk.admin && kk.org == org && !sim.is_revoked(*j))
        .collect();
    if r.is("GET", "/api/v2/api_keys") {
        let size = r
            .query("page[size]")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(10)
            .clamp(1, 100);
        let number = r
            .query("page[number]")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        let data: Vec<Value> = keys
            .iter()
            .skip(number * size)
            .take(size)
            .map(|(_, kk)| json!({"type": "api_keys", "id": id_of(&kk.secret),
                "attributes": {"name": "sim", "last4": kk.secret.get(kk.secret.len().saturating_sub(4)..).unwrap_or(""),
                "created_at": "2026-01-01T00:00:00.000000+00:00", "modified_at": "2026-01-01T00:00:00.000000+00:00", "remote_config_read_enabled": false}}))
            .collect();
        return reply(
            200,
            json!({"data": data, "meta": {"max_allowed": 50, "page": {"total_filtered_count": keys.len()}}}),
            "revoke",
        );
    }
    if let Some(id) = r
        .rest
        .strip_prefix("/api/v2/api_keys/")
        .filter(|_| r.method == Method::DELETE)
    {
        return match keys.iter().find(|(_, kk)| id_of(&kk.secret) == id) {
            Some((j, _)) => {
                sim.revoke(*j);
                reply(204, Value::Null, "revoke")
            }
            None => reply(404, errors("API key not found"), "revoke"),
        };
    }
    reply(404, errors("Not found"), "other")
}

/// SendGrid: `GET /v3/scopes` lists a live key's scopes; `DELETE /v3/api_keys/{id}` deletes
/// a key of the same account (204), given the `api_keys.delete` scope (a key's scopes empty
/// here: full access). A key's id is its middle segment (`SG.<id>.<secret>`).
fn sendgrid(sim: &Sim, r: &Req) -> Reply {
    let errors = |msg: &str| json!({"errors": [{"field": null, "message": msg}]});
    let kind = classify(r);
    let Some(i) = r.bearer().and_then(|t| sim.live("sendgrid", &t)) else {
        return reply(401, errors("authorization required"), kind);
    };
    let key = k(sim, i);
    let may = |scope: &str| key.scopes.is_empty() || key.scopes.iter().any(|s| s == scope);
    if r.is("GET", "/v3/scopes") {
        let scopes: Vec<&str> = if key.scopes.is_empty() {
            vec!["api_keys.delete", "api_keys.read", "mail.send"]
        } else {
            key.scopes.iter().map(String::as_str).collect()
        };
        return reply(200, json!({"scopes": scopes}), "verify");
    }
    if let Some(id) = r
        .rest
        .strip_prefix("/v3/api_keys/")
        .filter(|_| r.method == Method::DELETE)
    {
        if !may("api_keys.delete") {
            return reply(403, errors("access forbidden"), "revoke");
        }
        let id_of = |s: &str| s.split('.').nth(1).map(String::from);
        return match sim.keys.iter().enumerate().position(|(j, k2)| {
            k2.issuer == "sendgrid"
                && k2.org == key.org
                && !sim.is_revoked(j)
                && id_of(&k2.secret).as_deref() == Some(id)
        }) {
            Some(j) => {
                sim.revoke(j);
                reply(204, Value::Null, "revoke")
            }
            None => reply(404, errors("unable to find API Key"), "revoke"),
        };
    }
    reply(404, errors("not found"), "other")
}

/// WorkOS's own API: `GET /organizations` lists the environment's organizations for a live
/// key (an empty page here), with its cursor metadata; an unknown key is 401.
fn workos(sim: &Sim, r: &Req) -> Reply {
    if !r.is("GET", "/organizations") {
        return reply(404, json!({"message": "Not Found"}), "other");
    }
    match r.bearer().and_then(|t| sim.live("workos", &t)) {
        Some(_) => reply(
            200,
            json!({"object": "list", "data": [], "list_metadata": {"before": null, "after": null}}),
            "verify",
        ),
        None => reply(401, json!({"message": "Unauthorized"}), "verify"),
    }
}

/// WorkOS API keys that a company issues to its customers: validated and deleted with the
/// company's own WorkOS key (an admin key here). Customer keys are the non-admin `workos` keys
/// with an `api_key_` id.
fn workos_api_keys(sim: &Sim, r: &Req) -> Reply {
    let unauthorized = || reply(401, json!({"message": "Unauthorized"}), "revoke");
    if !admin_bearer(sim, "workos", r) {
        return unauthorized();
    }
    let customer = |k: &super::SimKey| {
        k.issuer == "workos" && !k.admin && k.key_id.as_deref().is_some_and(|id| id.starts_with("api_key_"))
    };
    if r.is("POST", "/api_keys/validations") {
        let Some(value) = r.json()["value"].as_str().map(String::from) else {
            return reply(
                422,
                json!({"message": "Validation failed", "errors": [{"field": "value", "code": "value must be a string"}]}),
                "revoke",
            );
        };
        let found = sim
            .live("workos", &value)
            .map(|i| k(sim, i))
            .filter(|k| customer(k));
        return match found {
            Some(key) => {
                let n = key.secret.len();
                reply(
                    200,
                    json!({"api_key": {"object": "api_key", "id": key.key_id, "owner": {"type": "organization", "id": key.org.clone().unwrap_or_else(|| "org_sim".into())},
                    "name": "sim", "obfuscated_value": format!("sk_...{}", key.secret.get(n.saturating_sub(4)..).unwrap_or("")), "permissions": key.scopes,
                    "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z", "last_used_at": null}}),
                    "revoke",
                )
            }
            None => reply(200, json!({"api_key": null}), "revoke"),
        };
    }
    if let Some(id) = r
        .rest
        .strip_prefix("/api_keys/")
        .filter(|_| r.method == Method::DELETE)
    {
        let found = sim
            .keys
            .iter()
            .enumerate()
            .position(|(j, k)| customer(k) && k.key_id.as_deref() == Some(id) && !sim.is_revoked(j));
        return match found {
            Some(j) => {
                sim.revoke(j);
                reply(204, Value::Null, "revoke")
            }
            None => reply(
                404,
                json!({"message": "Not Found", "code": "entity_not_found"}),
                "revoke",
            ),
        };
    }
    reply(404, json!({"message": "Not Found"}), "other")
}

/// Google's API Keys API: `keys:lookupKey` names a key from its value, `DELETE` of that name
/// deletes it; both need an admin OAuth token.
fn google_apikeys(sim: &Sim, r: &Req) -> Reply {
    let kind = classify(r);
    if !admin_bearer(sim, "google", r) {
        return reply(
            401,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
            kind,
        );
    }
    let not_found = || {
        reply(
            404,
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}),
            "revoke",
        )
    };
    let name = |key: &super::SimKey| {
        format!(
            "projects/{}/locations/global/keys/{}",
            key.project.clone().unwrap_or_else(|| "1234567890".into()),
            key.key_id
                .clone()
                .unwrap_or_else(|| format!("k{}", num_id(&key.secret)))
        )
    };
    let api_key =
        |key: &super::SimKey| !key.admin && (key.secret.starts_with("AIza") || key.secret.starts_with("AQ."));
    if r.is("GET", "/apikeys/v2/keys:lookupKey") {
        let value = r.query("keyString").unwrap_or_default();
        return match sim
            .live("google", &value)
            .map(|i| k(sim, i))
            .filter(|k| api_key(k))
        {
            Some(key) => {
                let n = name(key);
                let parent = n.split("/keys/").next().unwrap_or("").to_string();
                reply(200, json!({"parent": parent, "name": n}), "revoke")
            }
            None => not_found(),
        };
    }
    if let Some(n) = r
        .rest
        .strip_prefix("/apikeys/v2/")
        .filter(|_| r.method == Method::GET)
    {
        // keys.get: the Key resource, with its restrictions (no key string).
        return match sim
            .keys
            .iter()
            .enumerate()
            .find(|(j, k)| k.issuer == "google" && api_key(k) && !sim.is_revoked(*j) && name(k) == n)
        {
            Some((_, key)) => {
                let mut restrictions = json!({});
                match key.restriction.as_deref() {
                    Some("browser") => {
                        restrictions["browserKeyRestrictions"] =
                            json!({"allowedReferrers": ["https://app.example.com/*"]})
                    }
                    Some("android") => {
                        restrictions["androidKeyRestrictions"] = json!({"allowedApplications": [{"sha1Fingerprint": "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09", "packageName": "com.example.app"}]})
                    }
                    Some("ios") => {
                        restrictions["iosKeyRestrictions"] = json!({"allowedBundleIds": ["com.example.app"]})
                    }
                    Some("server") => {
                        restrictions["serverKeyRestrictions"] = json!({"allowedIps": ["203.0.113.0/24"]})
                    }
                    _ => {}
                }
                if !key.scopes.is_empty() {
                    restrictions["apiTargets"] =
                        Value::Array(key.scopes.iter().map(|s| json!({"service": s})).collect());
                }
                let mut body = json!({"name": n, "uid": format!("{:032x}", num_id(n)), "displayName": "sim",
                    "createTime": "2026-01-01T00:00:00.000000Z", "updateTime": "2026-01-01T00:00:00.000000Z", "etag": format!("W/\"{}\"", num_id(n))});
                if restrictions.as_object().is_some_and(|o| !o.is_empty()) {
                    body["restrictions"] = restrictions;
                }
                reply(200, body, "revoke")
            }
            None => not_found(),
        };
    }
    if let Some(n) = r
        .rest
        .strip_prefix("/apikeys/v2/")
        .filter(|_| r.method == Method::DELETE)
    {
        let found = sim
            .keys
            .iter()
            .enumerate()
            .position(|(j, k)| k.issuer == "google" && api_key(k) && !sim.is_revoked(j) && name(k) == n);
        return match found {
            Some(j) => {
                sim.revoke(j);
                reply(
                    200,
                    json!({"name": format!("operations/akmf.p7-{}", num_id(n)), "done": true}),
                    "revoke",
                )
            }
            None => not_found(),
        };
    }
    reply(
        404,
        json!({"error": {"code": 404, "status": "NOT_FOUND"}}),
        "other",
    )
}

/// Microsoft Graph's application passwords: list an app registration's secrets (by client id,
/// the `appId` alternate key) and remove one by its keyId, with an admin access token.
fn azure_graph(sim: &Sim, r: &Req) -> Reply {
    let kind = classify(r);
    // A token the simulator minted for an app (client credentials) may read that app's own
    // registration when the app holds Application.Read.All; nothing else.
    let own_app = r
        .bearer()
        .and_then(|t| jwt::decode(&t).ok())
        .filter(|t| t.exp().unwrap_or(0) > chrono::Utc::now().timestamp())
        .and_then(|t| t.claim_str("appid"))
        .filter(|app| {
            sim.keys.iter().enumerate().any(|(j, k)| {
                k.issuer == "azure"
                    && !sim.is_revoked(j)
                    && k.key_id.as_deref() == Some(app.as_str())
                    && k.scopes.iter().any(|s| s == "Application.Read.All")
            })
        })
        .filter(|app| {
            r.method == Method::GET
                && aws::percent_decode(&r.rest) == format!("/graph/v1.0/applications(appId='{app}')")
        });
    if own_app.is_none() && !admin_bearer(sim, "azure", r) {
        return reply(
            401,
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}}),
            kind,
        );
    }
    let rest = aws::percent_decode(&r.rest);
    let Some(app) = rest
        .strip_prefix("/graph/v1.0/applications(appId='")
        .and_then(|x| x.split_once("')"))
    else {
        return reply(404, json!({"error": {"code": "Request_ResourceNotFound"}}), kind);
    };
    let (app_id, tail) = (app.0.to_string(), app.1.to_string());
    let key_id = |k: &super::SimKey| {
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            num_id(&app_id),
            num_id(&k.secret)
        )
    };
    let secrets: Vec<usize> = sim
        .keys
        .iter()
        .enumerate()
        .filter(|(j, k)| {
            k.issuer == "azure"
                && !k.admin
                && k.key_id.as_deref() == Some(app_id.as_str())
                && !sim.is_revoked(*j)
        })
        .map(|(j, _)| j)
        .collect();
    let known_app = sim
        .keys
        .iter()
        .any(|k| k.issuer == "azure" && k.key_id.as_deref() == Some(app_id.as_str()));
    if !known_app {
        return reply(
            404,
            json!({"error": {"code": "Request_ResourceNotFound", "message": format!("Resource '{app_id}' does not exist")}}),
            kind,
        );
    }
    match (r.method.as_str(), tail.as_str()) {
        ("GET", "") => {
            let creds: Vec<Value> = secrets
                .iter()
                .map(|j| {
                    let key = k(sim, *j);
                    json!({"keyId": key_id(key), "hint": key.secret.get(..3).unwrap_or(""), "displayName": "sim",
                        "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": key.expires_at.clone().unwrap_or_else(|| "2027-01-01T00:00:00Z".into())})
                })
                .collect();
            reply(
                200,
                json!({"id": format!("{:08x}-1111-4000-8000-000000000000", num_id(&app_id)), "appId": app_id, "passwordCredentials": creds}),
                "revoke",
            )
        }
        ("POST", "/removePassword") => {
            let wanted = r.json()["keyId"].as_str().unwrap_or("").to_string();
            match secrets.iter().find(|j| key_id(k(sim, **j)) == wanted) {
                Some(j) => {
                    sim.revoke(*j);
                    reply(204, Value::Null, "revoke")
                }
                None => reply(
                    400,
                    json!({"error": {"code": "CannotDeleteOrUpdateEnabledEntitlement", "message": "No password credential found with the keyId."}}),
                    "revoke",
                ),
            }
        }
        _ => reply(404, json!({"error": {"code": "Request_ResourceNotFound"}}), kind),
    }
}
