//! The simulator against the issuers' published OpenAPI descriptions: every answer of a route
//! the recipes use must fit the response schema the issuer publishes, so the simulator cannot
//! drift into agreeing with a wrong recipe. The schemas are the committed excerpts in
//! `schemas/` (spec, version and, where derived from a mirror, commit recorded in each), which
//! `schemas/derive.py SPEC MIRROR --check` re-derives from a mirror of the published
//! description.
//!
//! Coverage, per issuer (every route a built-in verify, revoke or access recipe calls is in
//! [`COVERAGE`], and `every_recipe_route_is_listed_with_its_schema_coverage` fails when a
//! recipe's route is missing from it or a listed route is no longer called):
//!
//! | issuer | routes the recipes call | checked against |
//! | --- | --- | --- |
//! | OpenAI | models, admin_api_keys, projects, project api_keys (list, delete), files, batches, fine_tuning/jobs; `/v1/me` | openai/openai-openapi; `/v1/me` is not in it |
//! | Slack | auth.test, auth.revoke, conversations.list | slackapi/slack-api-specs |
//! | SendGrid | scopes, api_keys delete | twilio/sendgrid-oai |
//! | Twilio | v2010 account, Verify services, IAM key delete | twilio/twilio-oai |
//! | GitHub | `/user`, `/credentials/revoke`, installation/repositories, installation/token, user/memberships/orgs, user/repos | GitHub's description as the npm package @octokit/openapi publishes it (github/rest-api-description is too large to mirror here) |
//! | Stripe | `/v1/account` | the account fixture of stripe/openapi (spec3.json is too large to mirror here) |
//! | DigitalOcean | `/v2/account`; not: the OAuth revoke (outside the description) | digitalocean/openapi |
//! | Okta | users/me, api-tokens/current delete | okta/okta-management-openapi-spec |
//! | Datadog | v1 validate; not: v2 api_keys list and delete (the v2 description is too large to mirror here) | DataDog/datadog-api-client-python `.generator/schemas` |
//! | Discord, Figma, Netlify, AssemblyAI, Together, Mistral, Pinecone, HubSpot, Cohere, ElevenLabs, Deepgram, Firecrawl, Notion | the "who am I" their verify recipes call | discord/discord-api-spec, figma/rest-api-spec, netlify/open-api, AssemblyAI/assemblyai-api-spec, togethercomputer/openapi, mistralai/platform-docs-public, pinecone-io/pinecone-api, HubSpot/HubSpot-public-api-spec-collection, cohere-ai/cohere-developer-experience, elevenlabs/elevenlabs-docs, deepgram/deepgram-api-specs, firecrawl/firecrawl, makenotion/notion-mcp-server |
//! | Vault | not checked: its generated description gives the token routes no response body | hashicorp/vault-client-go openapi.json |
//! | crates.io | the token deleting itself; not: `/api/v1/me` (not in the description) | the description crates.io serves, as snapshotted in rust-lang/crates.io |
//! | Cloudflare, GitLab, Microsoft Graph, Supabase | not checked: their descriptions are too large to mirror here | — |
//! | Vercel | not checked yet: a description is published (named in [`COVERAGE`]), not in a repository found here | — |
//! | AWS, Google, Heroku, Linear, W&B, Telegram | no OpenAPI description (Smithy, Discovery, hyper-schema, GraphQL, prose) | — |
//! | the other 26 issuers | not looked for yet | — |
//!
//! Verifiers written in code rather than as recipes (AWS SigV4's STS and IAM calls, the GitHub
//! App's `GET /app`, JWT key sets, OAuth token endpoints) are outside this table.

use serde_json::Value;

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::{self, SimProc};

/// Everything wrong with `v` under the excerpt schema `s`, each naming its JSON path.
fn violations(v: &Value, s: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(alts) = s["any_of"].as_array() {
        // None fits: say why the closest one does not.
        let nearest = alts.iter().map(|a| violations(v, a, at)).min_by_key(Vec::len);
        if let Some(why) = nearest.filter(|w| !w.is_empty()) {
            out.push(format!(
                "{at}: matches none of the alternatives; the nearest: {why:?}"
            ));
        }
    }
    if let Some(types) = s["type"].as_array() {
        let t = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.iter().any(|w| w == t || (w == "number" && t == "integer"));
        if !ok {
            out.push(format!("{at}: is {t}, the schema wants {types:?}"));
            return out;
        }
    }
    if let Some(e) = s["enum"].as_array() {
        if !e.contains(v) {
            out.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(p), Some(text)) = (s["pattern"].as_str(), v.as_str()) {
        let re = regex::Regex::new(p).unwrap_or_else(|e| panic!("pattern {p:?} at {at}: {e}"));
        if !re.is_match(text) {
            out.push(format!("{at}: {text:?} does not match {p:?}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap_or("");
            if !obj.contains_key(r) {
                out.push(format!("{at}: lacks required field `{r}`"));
            }
        }
        let props = s["properties"].as_object();
        for (k, child) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => out.extend(violations(child, ps, &format!("{at}.{k}"))),
                None if s["closed"] == true => out.push(format!("{at}: field `{k}` is not in the schema")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            out.extend(violations(item, items, &format!("{at}[{i}]")));
        }
    }
    out
}

struct Excerpt(Value);

impl Excerpt {
    fn load(text: &str) -> Excerpt {
        let v: Value = serde_json::from_str(text).expect("schema excerpt is JSON");
        assert!(
            v["version"].is_string() && v["spec"].is_string(),
            "the excerpt names its spec and version"
        );
        Excerpt(v)
    }

    /// Checks one simulator answer against the route's schema for its status (`default` for
    /// an answer the description documents as the error case).
    fn check(&self, method: &str, path: &str, status: &str, body: &str) -> Vec<String> {
        let route = self.0["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["path"] == path && r["status"] == status)
            .unwrap_or_else(|| panic!("the excerpt has no {method} {path} {status}"));
        if route["no_body"] == true {
            return match body.trim() {
                "" => vec![],
                _ => vec![format!(
                    "{} {} {method} {path} {status}: documented without a body, answered {body}",
                    self.0["spec"].as_str().unwrap(),
                    self.0["version"].as_str().unwrap()
                )],
            };
        }
        let v: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"));
        violations(&v, &route["schema"], "$")
            .into_iter()
            .map(|e| {
                format!(
                    "{} {} {method} {path} {status}: {e}",
                    self.0["spec"].as_str().unwrap(),
                    self.0["version"].as_str().unwrap()
                )
            })
            .collect()
    }
}

#[test]
fn openai_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/openai.json"));
    let mut g = Gen::new(1440);
    let admin = format!("sk-admin-{}", g.alnum(40));
    let user_key = fake::openai_project(&mut g);
    let svc_key = format!("sk-svcacct-{}T3BlbkFJ{}", g.alnum(74), g.alnum(74));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nadmin = true\nkey_id = \"key_admin1\"\nprincipal = \"owner@example.com\"\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{user_key}\"\nproject = \"proj_abc\"\nkey_id = \"key_user1\"\nprincipal = \"dev@example.com\"\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{svc_key}\"\nproject = \"proj_abc\"\nkey_id = \"key_svc1\"\nowner_project_access = \"inactive\"\n"
    ));
    let bearer = |k: &str| format!("Bearer {k}");
    let mut errors = Vec::new();
    let mut ask = |method: &str, sim_path: &str, key: &str, spec_path: &str| {
        let (status, body) = sim.request(method, sim_path, &[("Authorization", &bearer(key))], "");
        assert_eq!(status, 200, "{method} {sim_path}: {body}");
        errors.extend(spec.check(method, spec_path, "200", &body));
    };
    ask("GET", "/openai/v1/models", &user_key, "/models");
    ask(
        "GET",
        "/openai/v1/organization/admin_api_keys?limit=1",
        &admin,
        "/organization/admin_api_keys",
    );
    ask(
        "GET",
        "/openai/v1/organization/projects?limit=100",
        &admin,
        "/organization/projects",
    );
    for q in [
        "",
        "?owner_project_access=any&limit=1",
        "?owner_project_access=any&after=key_user1",
    ] {
        ask(
            "GET",
            &format!("/openai/v1/organization/projects/proj_abc/api_keys{q}"),
            &admin,
            "/organization/projects/{project_id}/api_keys",
        );
    }
    // The listings `quench access` probes a project key's reach with.
    for path in ["/files", "/batches", "/fine_tuning/jobs"] {
        ask("GET", &format!("/openai/v1{path}"), &user_key, path);
    }
    ask(
        "DELETE",
        "/openai/v1/organization/projects/proj_abc/api_keys/key_user1",
        &admin,
        "/organization/projects/{project_id}/api_keys/{api_key_id}",
    );
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn slack_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/slack.json"));
    let mut g = Gen::new(1441);
    let bot = fake::slack_bot(&mut g);
    let user = format!("xoxp-{}-{}-{}-{}", g.hex(12), g.hex(12), g.hex(12), g.alnum(32));
    let unknown = fake::slack_bot(&mut g);
    let reader = fake::slack_bot(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"slack\"\nsecret = \"{bot}\"\nprincipal = \"quench-bot\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"slack\"\nsecret = \"{user}\"\nprincipal = \"ana\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"slack\"\nsecret = \"{reader}\"\nprincipal = \"reader-bot\"\norg = \"acme\"\nscopes = [\"channels:read\"]\n\
         [[key.grant]]\nkind = \"channel\"\nname = \"general\"\npermission = \"member\"\n\
         [[key.grant]]\nkind = \"channel\"\nname = \"secret-plans\"\nprivate = true\n"
    ));
    let call = |method: &str, tok: &str| {
        sim.request(
            "POST",
            &format!("/slack/api/{method}"),
            &[("Authorization", &format!("Bearer {tok}"))],
            "",
        )
    };
    let mut errors = Vec::new();
    for (method, tok, status) in [
        ("auth.test", &bot, "200"),
        ("auth.test", &user, "200"),
        ("auth.test", &unknown, "default"),
        ("auth.revoke", &bot, "200"),
        // Revoked now: both methods answer with an error body.
        ("auth.revoke", &bot, "default"),
        ("auth.test", &bot, "default"),
    ] {
        let (code, body) = call(method, tok);
        assert_eq!(code, 200, "Slack answers HTTP 200 either way: {body}");
        errors.extend(spec.check("GET", &format!("/{method}"), status, &body));
    }
    // The channel listing `quench access` reads: with the scope it needs, and without it.
    for (tok, status) in [(&reader, "200"), (&user, "default")] {
        let (code, body) = sim.request(
            "GET",
            "/slack/api/conversations.list?limit=100",
            &[("Authorization", &format!("Bearer {tok}"))],
            "",
        );
        assert_eq!(code, 200, "{body}");
        errors.extend(spec.check("GET", "/conversations.list", status, &body));
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn sendgrid_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/sendgrid.json"));
    let mut g = Gen::new(1442);
    let key = |g: &mut Gen| format!("SG.{}.{}", g.alnum(22), g.alnum(43));
    let (full, restricted, unknown) = (key(&mut g), key(&mut g), key(&mut g));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"sendgrid\"\nsecret = \"{full}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"sendgrid\"\nsecret = \"{restricted}\"\norg = \"acme\"\nscopes = [\"mail.send\"]\n"
    ));
    let ask = |method: &str, path: &str, key: &str| {
        sim.request(
            method,
            &format!("/sendgrid{path}"),
            &[("Authorization", &format!("Bearer {key}"))],
            "",
        )
    };
    let mut errors = Vec::new();
    for (method, path, key, want, spec_path) in [
        ("GET", "/v3/scopes", &full, 200, "/v3/scopes"),
        ("GET", "/v3/scopes", &restricted, 200, "/v3/scopes"),
        ("GET", "/v3/scopes", &unknown, 401, "/v3/scopes"),
        (
            "DELETE",
            "/v3/api_keys/abcdefghijklmnopqrstuv",
            &restricted,
            403,
            "/v3/api_keys/{api_key_id}",
        ),
        (
            "DELETE",
            "/v3/api_keys/abcdefghijklmnopqrstuv",
            &full,
            404,
            "/v3/api_keys/{api_key_id}",
        ),
    ] {
        let (status, body) = ask(method, path, key);
        assert_eq!(status, want, "{method} {path}: {body}");
        errors.extend(spec.check(method, spec_path, &status.to_string(), &body));
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Twilio (twilio/twilio-oai at d50069b, 2026-04-14; each file says version 1.0.0): the Verify
/// service list that verifies an API key and the v2010 account fetch that verifies an auth
/// token, as the Main key, a Standard key and the account's token see them.
#[test]
fn twilio_simulator_answers_fit_the_published_schema() {
    use base64::Engine as _;
    let spec = Excerpt::load(include_str!("schemas/twilio.json"));
    let mut g = Gen::new(1460);
    let account = format!("AC{}", g.hex(32));
    let (token, main, standard) = (g.hex(32), format!("SK{}", g.hex(32)), format!("SK{}", g.hex(32)));
    let (main_secret, std_secret) = (g.alnum(32), g.alnum(32));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"twilio\"\nkey_id = \"{account}\"\nsecret = \"{token}\"\norg = \"{account}\"\n\
         [[key]]\nissuer = \"twilio\"\nkey_id = \"{main}\"\nsecret = \"{main_secret}\"\norg = \"{account}\"\nadmin = true\n\
         [[key]]\nissuer = \"twilio\"\nkey_id = \"{standard}\"\nsecret = \"{std_secret}\"\norg = \"{account}\"\n"
    ));
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let mut errors = Vec::new();
    let account_path = format!("/2010-04-01/Accounts/{account}.json");
    for (path, spec_path, auth) in [
        ("/verify/v2/Services", "/v2/Services", basic(&main, &main_secret)),
        (
            "/verify/v2/Services",
            "/v2/Services",
            basic(&standard, &std_secret),
        ),
        (
            account_path.as_str(),
            "/2010-04-01/Accounts/{Sid}.json",
            basic(&account, &token),
        ),
        (
            account_path.as_str(),
            "/2010-04-01/Accounts/{Sid}.json",
            basic(&main, &main_secret),
        ),
    ] {
        let (status, body) = sim.request("GET", &format!("/twilio{path}"), &[("Authorization", &auth)], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        errors.extend(spec.check("GET", spec_path, "200", &body));
    }
    // The Main key deletes the Standard key (the exact-key kill path).
    let (status, body) = sim.request(
        "DELETE",
        &format!("/twilio/iam/v1/Keys/{standard}"),
        &[("Authorization", &basic(&main, &main_secret))],
        "",
    );
    assert_eq!(status, 204, "{body}");
    errors.extend(spec.check("DELETE", "/v1/Keys/{Sid}", "204", &body));
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The checker itself: a field of the wrong type, a missing required field, an extra field in
/// a closed object, and a value outside an enum or pattern are each caught.
#[test]
fn the_schema_check_catches_what_it_should() {
    let spec = Excerpt::load(include_str!("schemas/slack.json"));
    let good = r#"{"ok": true, "url": "https://acme.slack.com/", "team": "acme", "user": "ana", "team_id": "T123", "user_id": "U123"}"#;
    assert!(spec.check("GET", "/auth.test", "200", good).is_empty());
    for bad in [
        r#"{"ok": "true", "url": "u", "team": "t", "user": "u", "team_id": "T1", "user_id": "U1"}"#,
        r#"{"ok": true, "url": "u", "team": "t", "user": "u", "team_id": "T1"}"#,
        r#"{"ok": true, "url": "u", "team": "t", "user": "u", "team_id": "T1", "user_id": "U1", "extra": 1}"#,
        r#"{"ok": false, "url": "u", "team": "t", "user": "u", "team_id": "T1", "user_id": "U1"}"#,
        r#"{"ok": true, "url": "u", "team": "t", "user": "u", "team_id": "X1", "user_id": "U1"}"#,
    ] {
        assert!(
            !spec.check("GET", "/auth.test", "200", bad).is_empty(),
            "not caught: {bad}"
        );
    }
    // A route documented without a body: an answer with one is caught.
    let okta = Excerpt::load(include_str!("schemas/okta.json"));
    let route = ("DELETE", "/api/v1/api-tokens/current", "204");
    assert!(okta.check(route.0, route.1, route.2, "").is_empty());
    assert!(!okta.check(route.0, route.1, route.2, "{}").is_empty());
}

/// Asks the simulator `method path` with `headers`, expects `want`, and checks the answer
/// against the excerpt's route `spec_path` for that status (`no_body` routes: an empty body).
fn ask_and_check(
    sim: &SimProc,
    spec: &Excerpt,
    (method, path, spec_path): (&str, &str, &str),
    headers: &[(&str, &str)],
    want: u16,
) -> Vec<String> {
    let (status, body) = sim.request(method, path, headers, "");
    assert_eq!(status, want, "{method} {path}: {body}");
    spec.check(method, spec_path, &status.to_string(), &body)
}

/// DigitalOcean (digitalocean/openapi, commit and version in the excerpt): the account a
/// personal access token or an OAuth token verifies with, for a user and in a team context,
/// and the error object of an unknown token.
#[test]
fn digitalocean_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/digitalocean.json"));
    let mut g = Gen::new(1470);
    let (user, team, unknown) = (
        format!("dop_v1_{}", g.hex(64)),
        format!("doo_v1_{}", g.hex(64)),
        format!("dop_v1_{}", g.hex(64)),
    );
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"digitalocean\"\nsecret = \"{user}\"\nprincipal = \"sammy@example.com\"\n\
         [[key]]\nissuer = \"digitalocean\"\nsecret = \"{team}\"\nprincipal = \"ana@example.com\"\norg = \"acme\"\n"
    ));
    let mut errors = Vec::new();
    for (tok, want) in [(&user, 200), (&team, 200), (&unknown, 401)] {
        errors.extend(ask_and_check(
            &sim,
            &spec,
            ("GET", "/digitalocean/v2/account", "/v2/account"),
            &[("Authorization", &format!("Bearer {tok}"))],
            want,
        ));
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Okta (okta/okta-management-openapi-spec, the 2026.06.3 management description): the user
/// an API token verifies as (`users/me`, Okta's `GET /api/v1/users/{id}`), the token deleting
/// itself (204, no body), and an unknown token's error, which Okta documents as its one
/// `Error` object (the schema of the route's documented 403).
#[test]
fn okta_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/okta.json"));
    let mut g = Gen::new(1471);
    let (tok, unknown) = (format!("00{}", g.alnum(40)), format!("00{}", g.alnum(40)));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"okta\"\nsecret = \"{tok}\"\nprincipal = \"ana@acme.example\"\n"
    ));
    let ssws = |t: &str| format!("SSWS {t}");
    let mut errors = ask_and_check(
        &sim,
        &spec,
        ("GET", "/okta/api/v1/users/me", "/api/v1/users/{id}"),
        &[("Authorization", &ssws(&tok))],
        200,
    );
    let (status, body) = sim.request(
        "GET",
        "/okta/api/v1/users/me",
        &[("Authorization", &ssws(&unknown))],
        "",
    );
    assert_eq!(status, 401, "{body}");
    errors.extend(spec.check("GET", "/api/v1/users/{id}", "403", &body));
    errors.extend(ask_and_check(
        &sim,
        &spec,
        (
            "DELETE",
            "/okta/api/v1/api-tokens/current",
            "/api/v1/api-tokens/current",
        ),
        &[("Authorization", &ssws(&tok))],
        204,
    ));
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Datadog (its v1 description as published in DataDog/datadog-api-client-python's
/// `.generator/schemas`): the key validation an API key verifies with, live and refused, and
/// the dashboard listing `quench access` reads with an API key and its application key.
#[test]
fn datadog_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/datadog.json"));
    let mut g = Gen::new(1472);
    let (key, unknown, app) = (g.hex(32), g.hex(32), g.hex(40));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"datadog\"\nsecret = \"{key}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"datadog\"\nsecret = \"{app}\"\norg = \"acme\"\nprincipal = \"ops@acme.test\"\n"
    ));
    let mut errors = Vec::new();
    for (k, want) in [(&key, 200), (&unknown, 403)] {
        errors.extend(ask_and_check(
            &sim,
            &spec,
            ("GET", "/datadog/api/v1/validate", "/api/v1/validate"),
            &[("DD-API-KEY", k)],
            want,
        ));
        // The dashboards an API key with its application key reads (`quench access`).
        errors.extend(ask_and_check(
            &sim,
            &spec,
            ("GET", "/datadog/api/v1/dashboard", "/api/v1/dashboard"),
            &[("DD-API-KEY", k), ("DD-APPLICATION-KEY", &app)],
            want,
        ));
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// GitHub (its description as octokit publishes it, @octokit/openapi; version in the
/// excerpt): the user a token verifies as, with and without the `user` scope (private and
/// public profile) and refused; the public revocation endpoint's acceptance; an installation
/// token's repositories, bare (verify) and with grants (`quench access`), and its deletion;
/// a user token's organisation memberships and repositories.
#[test]
fn github_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/github.json"));
    let mut g = Gen::new(1473);
    let (full, narrow, leaked, unknown) = (
        fake::github(&mut g, "ghp_"),
        fake::github(&mut g, "ghp_"),
        fake::github(&mut g, "ghp_"),
        fake::github(&mut g, "ghp_"),
    );
    let (inst_bare, inst) = (fake::github(&mut g, "ghs_"), fake::github(&mut g, "ghs_"));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{full}\"\nprincipal = \"octocat\"\norg = \"acme\"\n\
         [[key.grant]]\nkind = \"org\"\nname = \"acme\"\npermission = \"admin\"\n\
         [[key.grant]]\nkind = \"repo\"\nname = \"acme/deploy\"\npermission = \"push\"\nprivate = true\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{narrow}\"\nprincipal = \"hubot\"\nscopes = [\"repo\"]\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{leaked}\"\nprincipal = \"ana\"\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{inst_bare}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{inst}\"\norg = \"acme\"\n\
         [[key.grant]]\nkind = \"repo\"\nname = \"acme/app\"\npermission = \"pull\"\n"
    ));
    let bearer = |t: &str| format!("Bearer {t}");
    let mut errors = Vec::new();
    for (method, path, spec_path, tok, want) in [
        ("GET", "/user", "/user", &full, 200),
        ("GET", "/user", "/user", &narrow, 200),
        ("GET", "/user", "/user", &unknown, 401),
        (
            "GET",
            "/user/memberships/orgs",
            "/user/memberships/orgs",
            &full,
            200,
        ),
        ("GET", "/user/repos", "/user/repos", &full, 200),
        (
            "GET",
            "/installation/repositories",
            "/installation/repositories",
            &inst_bare,
            200,
        ),
        (
            "GET",
            "/installation/repositories",
            "/installation/repositories",
            &inst,
            200,
        ),
        ("DELETE", "/installation/token", "/installation/token", &inst, 204),
    ] {
        errors.extend(ask_and_check(
            &sim,
            &spec,
            (method, &format!("/github{path}"), spec_path),
            &[("Authorization", &bearer(tok))],
            want,
        ));
    }
    let (status, body) = sim.request(
        "POST",
        "/github/credentials/revoke",
        &[("Content-Type", "application/json")],
        &format!("{{\"credentials\": [\"{leaked}\"]}}"),
    );
    assert_eq!(status, 202, "{body}");
    errors.extend(spec.check("POST", "/credentials/revoke", "202", &body));
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Stripe (stripe/openapi's fixtures of the v1 description, commit in the excerpt; the
/// description itself is too large to mirror here): the account a secret key verifies with
/// has every field of Stripe's account resource and no other; a restricted key without the
/// permission and an unknown key get Stripe's error object, which the verify recipe reads
/// (`error.message`).
#[test]
fn stripe_simulator_answers_fit_the_published_fixtures() {
    let spec = Excerpt::load(include_str!("schemas/stripe.json"));
    let mut g = Gen::new(1474);
    let (secret, restricted, unknown) = (
        format!("sk_live_{}", g.alnum(99)),
        format!("rk_live_{}", g.alnum(99)),
        format!("sk_live_{}", g.alnum(99)),
    );
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"stripe\"\nsecret = \"{secret}\"\nprincipal = \"billing@acme.example\"\norg = \"1AcmeCo\"\n\
         [[key]]\nissuer = \"stripe\"\nsecret = \"{restricted}\"\norg = \"1AcmeCo\"\nscopes = [\"rak_charge_read\"]\n"
    ));
    let bearer = |k: &str| format!("Bearer {k}");
    let errors = ask_and_check(
        &sim,
        &spec,
        ("GET", "/stripe/v1/account", "/v1/account"),
        &[("Authorization", &bearer(&secret))],
        200,
    );
    assert!(errors.is_empty(), "{errors:#?}");
    for (k, want) in [(&restricted, 403), (&unknown, 401)] {
        let (status, body) = sim.request("GET", "/stripe/v1/account", &[("Authorization", &bearer(k))], "");
        assert_eq!(status, want, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"]["message"].is_string(), "{body}");
        assert!(
            !body.contains(k.as_str()),
            "the error echoes the whole key: {body}"
        );
    }
    // The verify recipe reads its identity from that shape: the account's email and id; the
    // restricted key's 403 is live too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("STRIPE_SECRET_KEY={secret}\nSTRIPE_RESTRICTED={restricted}\n"),
    )
    .unwrap();
    let cfg = sim.config.to_string_lossy().into_owned();
    let (code, report) = common::scan_json(dir.path(), &["--config", &cfg, "--verify"]);
    assert_eq!(code, 1, "{report:#}");
    let v = fake_verify::verification(&report, "stripe.live-secret-key", &secret);
    assert_eq!(
        (v["verdict"].as_str(), v["principal"].as_str(), v["org"].as_str()),
        (Some("live"), Some("billing@acme.example"), Some("acct_1AcmeCo")),
        "{v:#}"
    );
    let v = fake_verify::verification(&report, "stripe.live-restricted-key", &restricted);
    assert_eq!(v["verdict"], "live", "{v:#}");
}

/// Discord, Figma, Netlify, AssemblyAI, Together, Mistral, Pinecone, HubSpot, Cohere,
/// ElevenLabs, Deepgram, Firecrawl and Notion (their published descriptions, named with commit and version in each excerpt):
/// the "who am I" each verify recipe calls, for a live token and an unknown one, Figma's live
/// token without the scope its route needs; and crates.io's token deleting itself.
#[test]
fn whoami_answers_of_fourteen_issuers_fit_their_published_schemas() {
    let mut g = Gen::new(1475);
    let mut key = || g.alnum(40);
    let (dc, dc_x, fg, fg_narrow, fg_x, nl, nl_x, aai, aai_x) =
        (key(), key(), key(), key(), key(), key(), key(), key(), key());
    let (tg, tg_x, ms, pc, pc_x, hs, hs_x) = (key(), key(), key(), key(), key(), key(), key());
    let (co, co_x, el, cr, dg, fc, no) = (key(), key(), key(), key(), key(), key(), key());
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"discord\"\nsecret = \"{dc}\"\nprincipal = \"quench-bot\"\n\
         [[key]]\nissuer = \"figma\"\nsecret = \"{fg}\"\nprincipal = \"ana@acme.example\"\n\
         [[key]]\nissuer = \"figma\"\nsecret = \"{fg_narrow}\"\nscopes = [\"files:read\"]\n\
         [[key]]\nissuer = \"netlify\"\nsecret = \"{nl}\"\nprincipal = \"ana@acme.example\"\n\
         [[key]]\nissuer = \"assemblyai\"\nsecret = \"{aai}\"\n\
         [[key]]\nissuer = \"together\"\nsecret = \"{tg}\"\n\
         [[key]]\nissuer = \"mistral\"\nsecret = \"{ms}\"\n\
         [[key]]\nissuer = \"pinecone\"\nsecret = \"{pc}\"\n\
         [[key]]\nissuer = \"hubspot\"\nsecret = \"{hs}\"\norg = \"62515\"\n\
         [[key]]\nissuer = \"cohere\"\nsecret = \"{co}\"\nprincipal = \"ana\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"elevenlabs\"\nsecret = \"{el}\"\nprincipal = \"ana\"\n\
         [[key]]\nissuer = \"crates-io\"\nsecret = \"{cr}\"\n\
         [[key]]\nissuer = \"deepgram\"\nsecret = \"{dg}\"\norg = \"acme-voice\"\n\
         [[key]]\nissuer = \"firecrawl\"\nsecret = \"{fc}\"\n\
         [[key]]\nissuer = \"notion\"\nsecret = \"{no}\"\nprincipal = \"quench\"\norg = \"Acme\"\n"
    ));
    let bot = |t: &str| format!("Bot {t}");
    let bearer = |t: &str| format!("Bearer {t}");
    let mut errors = Vec::new();
    for (name, route, header, cases) in [
        (
            "discord",
            ("GET", "/discord/api/v10/users/@me", "/users/@me"),
            "Authorization",
            vec![(bot(&dc), 200, "200"), (bot(&dc_x), 401, "4XX")],
        ),
        (
            "figma",
            ("GET", "/figma/v1/me", "/v1/me"),
            "X-Figma-Token",
            vec![
                (fg.clone(), 200, "200"),
                (fg_narrow.clone(), 403, "403"),
                (fg_x.clone(), 403, "403"),
            ],
        ),
        (
            "netlify",
            ("GET", "/netlify/api/v1/user", "/user"),
            "Authorization",
            vec![(bearer(&nl), 200, "200"), (bearer(&nl_x), 401, "default")],
        ),
        (
            "assemblyai",
            ("GET", "/assemblyai/v2/transcript?limit=1", "/v2/transcript"),
            "Authorization",
            vec![(aai.clone(), 200, "200"), (aai_x.clone(), 401, "401")],
        ),
        (
            "together",
            ("GET", "/together/v1/models", "/models"),
            "Authorization",
            vec![(bearer(&tg), 200, "200"), (bearer(&tg_x), 401, "401")],
        ),
        (
            "mistral",
            ("GET", "/mistral/v1/models", "/v1/models"),
            "Authorization",
            vec![(bearer(&ms), 200, "200")],
        ),
        (
            "pinecone",
            ("GET", "/pinecone/indexes", "/indexes"),
            "Api-Key",
            vec![(pc.clone(), 200, "200"), (pc_x.clone(), 401, "401")],
        ),
        (
            "hubspot",
            (
                "GET",
                "/hubspot/account-info/v3/details",
                "/account-info/v3/details",
            ),
            "Authorization",
            vec![(bearer(&hs), 200, "200"), (bearer(&hs_x), 401, "default")],
        ),
        (
            "cohere",
            ("POST", "/cohere/v1/check-api-key", "/v1/check-api-key"),
            "Authorization",
            vec![(bearer(&co), 200, "200"), (bearer(&co_x), 401, "401")],
        ),
        (
            "elevenlabs",
            ("GET", "/elevenlabs/v1/user", "/v1/user"),
            "xi-api-key",
            vec![(el.clone(), 200, "200")],
        ),
        (
            "crates-io",
            (
                "DELETE",
                "/crates-io/api/v1/tokens/current",
                "/api/v1/tokens/current",
            ),
            "Authorization",
            vec![(cr.clone(), 204, "204")],
        ),
        (
            "deepgram",
            ("GET", "/deepgram/v1/projects", "/v1/projects"),
            "Authorization",
            vec![(format!("Token {dg}"), 200, "200")],
        ),
        (
            "firecrawl",
            ("GET", "/firecrawl/v1/team/credit-usage", "/team/credit-usage"),
            "Authorization",
            vec![(bearer(&fc), 200, "200")],
        ),
        (
            "notion",
            ("GET", "/notion/v1/users/me", "/v1/users/me"),
            "Authorization",
            vec![(bearer(&no), 200, "200")],
        ),
    ] {
        let spec = excerpt(name);
        for (value, want, status) in cases {
            let (code, body) = sim.request(route.0, route.1, &[(header, &value)], "");
            assert_eq!(code, want, "{name} {}: {body}", route.1);
            errors.extend(spec.check(route.0, route.2, status, &body));
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// How a route a recipe calls is checked against its issuer's published description.
#[derive(Debug)]
enum Cover {
    /// By the excerpt `schemas/{0}.json`, at its path `{1}`, in a test above.
    Checked(&'static str, &'static str),
    /// The issuer publishes a description, too large to mirror here.
    TooLarge(&'static str),
    /// The issuer publishes a description, which leaves this route out.
    Undocumented(&'static str),
    /// The issuer publishes a description; no excerpt is derived from it yet.
    Pending(&'static str),
    /// The issuer documents its API in another form.
    NotOpenApi(&'static str),
    /// Whether the issuer publishes a description was not looked for yet.
    Unknown,
}

use Cover::*;

/// Every (issuer, method, URL template) a built-in recipe calls, with its coverage.
#[rustfmt::skip]
const COVERAGE: &[(&str, &str, &str, Cover)] = &[
    ("airtable", "GET", "{api}/v0/meta/whoami", Unknown),
    ("anthropic", "GET", "{api}/v1/models", Unknown),
    ("anthropic", "GET", "{api}/v1/organizations/api_keys", Unknown),
    ("anthropic", "GET", "{api}/v1/organizations/me", Unknown),
    ("anthropic", "GET", "{api}/v1/organizations/users", Unknown),
    ("anthropic", "GET", "{api}/v1/organizations/workspaces", Unknown),
    ("anthropic", "POST", "{api}/v1/organizations/api_keys/{found}", Unknown),
    ("assemblyai", "GET", "{api}/v2/transcript", Checked("assemblyai", "/v2/transcript")),
    ("auth0", "GET", "{site}/api/v2/clients/{part.client_id}", Unknown),
    ("auth0", "POST", "{site}/api/v2/clients/{found}/rotate-secret", Unknown),
    ("auth0", "POST", "{site}/oauth/token", Unknown),
    ("aws", "GET", "{iam}/", NotOpenApi("AWS publishes Smithy models (aws/api-models-aws)")),
    ("aws", "GET", "{iam}/?Action=UpdateAccessKey&AccessKeyId={secret}&Status=Inactive&Version=2010-05-08", NotOpenApi("AWS publishes Smithy models (aws/api-models-aws)")),
    ("azure", "GET", "{graph}/v1.0/applications(appId='{part.client_id}')", TooLarge("microsoftgraph/msgraph-metadata openapi/v1.0")),
    ("azure", "POST", "{graph}/v1.0/applications(appId='{part.client_id}')/removePassword", TooLarge("microsoftgraph/msgraph-metadata openapi/v1.0")),
    ("buildkite", "DELETE", "{api}/v2/access-token", Unknown),
    ("buildkite", "GET", "{api}/v2/access-token", Unknown),
    ("cerebras", "GET", "{api}/v1/models", Unknown),
    ("cloudflare", "DELETE", "{api}/client/v4/user/tokens/{found}", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "DELETE", "{api}/client/v4/accounts/{account}/tokens/{found}", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "GET", "{api}/client/v4/accounts", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "GET", "{api}/client/v4/accounts/{account}/tokens/verify", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "GET", "{api}/client/v4/memberships", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "GET", "{api}/client/v4/user/tokens/verify", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cloudflare", "GET", "{api}/client/v4/user/tokens/{capture.id}", TooLarge("cloudflare/api-schemas openapi.json")),
    ("cohere", "POST", "{api}/v1/check-api-key", Checked("cohere", "/v1/check-api-key")),
    ("crates-io", "DELETE", "{api}/api/v1/tokens/current", Checked("crates-io", "/api/v1/tokens/current")),
    ("crates-io", "GET", "{api}/api/v1/me", Undocumented("not in the description crates.io serves (its snapshot in rust-lang/crates.io)")),
    ("cursor", "GET", "{api}/v0/me", Unknown),
    ("datadog", "DELETE", "{api}/api/v2/api_keys/{found}", TooLarge("the v2 openapi.yaml of DataDog/datadog-api-client-*")),
    ("datadog", "GET", "{api}/api/v1/dashboard", Checked("datadog", "/api/v1/dashboard")),
    ("datadog", "GET", "{api}/api/v1/validate", Checked("datadog", "/api/v1/validate")),
    ("datadog", "GET", "{api}/api/v2/api_keys", TooLarge("the v2 openapi.yaml of DataDog/datadog-api-client-*")),
    ("datadog", "GET", "{api}/api/v2/users", TooLarge("the v2 openapi.yaml of DataDog/datadog-api-client-*")),
    ("deepgram", "GET", "{api}/v1/projects", Checked("deepgram", "/v1/projects")),
    ("deepseek", "GET", "{api}/user/balance", Unknown),
    ("devin", "GET", "{api}/v1/sessions", Unknown),
    ("digitalocean", "GET", "{api}/v2/account", Checked("digitalocean", "/v2/account")),
    ("digitalocean", "POST", "{cloud}/v1/oauth/revoke", Undocumented("DigitalOcean's OAuth API is outside its OpenAPI description")),
    ("discord", "GET", "{api}/api/v10/users/@me", Checked("discord", "/users/@me")),
    ("doppler", "GET", "{api}/v3/me", Unknown),
    ("doppler", "POST", "{api}/v3/auth/revoke", Unknown),
    ("elevenlabs", "GET", "{api}/v1/user", Checked("elevenlabs", "/v1/user")),
    ("figma", "GET", "{api}/v1/me", Checked("figma", "/v1/me")),
    ("firecrawl", "GET", "{api}/v1/team/credit-usage", Checked("firecrawl", "/team/credit-usage")),
    ("github", "DELETE", "{api}/installation/token", Checked("github", "/installation/token")),
    ("github", "GET", "{api}/installation/repositories", Checked("github", "/installation/repositories")),
    ("github", "GET", "{api}/user", Checked("github", "/user")),
    ("github", "GET", "{api}/user/memberships/orgs", Checked("github", "/user/memberships/orgs")),
    ("github", "GET", "{api}/user/repos", Checked("github", "/user/repos")),
    ("github", "POST", "{api}/credentials/revoke", Checked("github", "/credentials/revoke")),
    ("gitlab", "DELETE", "{api}/api/v4/personal_access_tokens/self", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "GET", "{api}/api/v4/groups", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "GET", "{api}/api/v4/job", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "GET", "{api}/api/v4/personal_access_tokens/self", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "GET", "{api}/api/v4/projects", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "GET", "{api}/api/v4/user", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("gitlab", "POST", "{api}/api/v4/runners/verify", TooLarge("doc/api/openapi in gitlab-org/gitlab (mirrors: gitlabhq/gitlabhq)")),
    ("google", "DELETE", "{apikeys}/v2/{found}", NotOpenApi("Google publishes Discovery documents")),
    ("google", "DELETE", "{iam}/v1/projects/{part.project_id}/serviceAccounts/{part.client_email}/keys/{part.private_key_id}", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{apikeys}/v2/keys:lookupKey", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{apikeys}/v2/{found}", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{gemini}/v1beta/files", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{gemini}/v1beta/models", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{oauth}/tokeninfo", NotOpenApi("Google publishes Discovery documents")),
    ("google", "GET", "{youtube}/i18nLanguages", NotOpenApi("Google publishes Discovery documents")),
    ("google", "POST", "{cloudresourcemanager}/v1/projects/{part.project_id}:getIamPolicy", NotOpenApi("Google publishes Discovery documents")),
    ("google", "POST", "{oauth}/revoke", NotOpenApi("Google publishes Discovery documents")),
    ("google", "POST", "{oauth}/token", NotOpenApi("Google publishes Discovery documents")),
    ("groq", "GET", "{api}/openai/v1/models", Unknown),
    ("heroku", "GET", "{api}/account", NotOpenApi("Heroku publishes a JSON hyper-schema")),
    ("hubspot", "GET", "{api}/account-info/v3/details", Checked("hubspot", "/account-info/v3/details")),
    ("huggingface", "GET", "{api}/api/whoami-v2", Unknown),
    ("huggingface", "POST", "{api}/api/credentials/revoke", Unknown),
    ("langsmith", "GET", "{api}/api/v1/api-key/current", Unknown),
    ("langsmith", "GET", "{api}/api/v1/orgs/current", Unknown),
    ("linear", "POST", "{api}/graphql", NotOpenApi("a GraphQL API")),
    ("minimax", "GET", "{api}/v1/models", Unknown),
    ("mistral", "GET", "{api}/v1/models", Checked("mistral", "/v1/models")),
    ("moonshot", "GET", "{api}/v1/models", Unknown),
    ("netlify", "GET", "{api}/api/v1/user", Checked("netlify", "/user")),
    ("notion", "GET", "{api}/v1/users/me", Checked("notion", "/v1/users/me")),
    ("npm", "DELETE", "{api}/-/npm/v1/tokens/token/{secret}", Unknown),
    ("npm", "GET", "{api}/-/npm/v1/tokens", Unknown),
    ("npm", "GET", "{api}/-/whoami", Unknown),
    ("nvidia", "POST", "{api}/v3/keys/get-caller-info", Unknown),
    ("okta", "DELETE", "{site}/api/v1/api-tokens/current", Checked("okta", "/api/v1/api-tokens/current")),
    ("okta", "GET", "{site}/api/v1/users/me", Checked("okta", "/api/v1/users/{id}")),
    ("openai", "DELETE", "{api}/v1/organization/projects/{project}/api_keys/{found}", Checked("openai", "/organization/projects/{project_id}/api_keys/{api_key_id}")),
    ("openai", "GET", "{api}/v1/batches", Checked("openai", "/batches")),
    ("openai", "GET", "{api}/v1/files", Checked("openai", "/files")),
    ("openai", "GET", "{api}/v1/fine_tuning/jobs", Checked("openai", "/fine_tuning/jobs")),
    ("openai", "GET", "{api}/v1/me", Undocumented("not in openai/openai-openapi")),
    ("openai", "GET", "{api}/v1/models", Checked("openai", "/models")),
    ("openai", "GET", "{api}/v1/organization/admin_api_keys", Checked("openai", "/organization/admin_api_keys")),
    ("openai", "GET", "{api}/v1/organization/projects", Checked("openai", "/organization/projects")),
    ("openai", "GET", "{api}/v1/organization/projects/{project}/api_keys", Checked("openai", "/organization/projects/{project_id}/api_keys")),
    ("openrouter", "DELETE", "{api}/api/v1/keys/{found}", Unknown),
    ("openrouter", "GET", "{api}/api/v1/key", Unknown),
    ("openrouter", "GET", "{api}/api/v1/keys", Unknown),
    ("pinecone", "GET", "{api}/indexes", Checked("pinecone", "/indexes")),
    ("posthog", "GET", "{api}/api/users/@me/", Unknown),
    ("posthog", "POST", "{api}/api/revoke_leaked_key/", Unknown),
    ("postman", "GET", "{api}/me", Unknown),
    ("replicate", "GET", "{api}/v1/account", Unknown),
    ("sendgrid", "DELETE", "{api}/v3/api_keys/{key_id}", Checked("sendgrid", "/v3/api_keys/{api_key_id}")),
    ("sendgrid", "GET", "{api}/v3/scopes", Checked("sendgrid", "/v3/scopes")),
    ("serpapi", "GET", "{api}/account.json", Unknown),
    ("slack", "GET", "{api}/auth.test", Checked("slack", "/auth.test")),
    ("slack", "GET", "{api}/conversations.list", Checked("slack", "/conversations.list")),
    ("slack", "POST", "{api}/auth.revoke", Checked("slack", "/auth.revoke")),
    ("slack", "POST", "{api}/auth.test", Checked("slack", "/auth.test")),
    ("snyk", "GET", "{api}/v1/user/me", Unknown),
    ("stability", "GET", "{api}/v1/user/account", Unknown),
    ("stripe", "GET", "{api}/v1/account", Checked("stripe", "/v1/account")),
    ("stripe", "GET", "{api}/v1/balance", TooLarge("stripe/openapi spec3.json; only /v1/account is excerpted (schemas/stripe.json)")),
    ("stripe", "GET", "{api}/v1/charges", TooLarge("stripe/openapi spec3.json; only /v1/account is excerpted (schemas/stripe.json)")),
    ("stripe", "GET", "{api}/v1/customers", TooLarge("stripe/openapi spec3.json; only /v1/account is excerpted (schemas/stripe.json)")),
    ("supabase", "GET", "{api}/v1/organizations", TooLarge("the Management API description is kept in supabase/supabase, too large to mirror here (served at api.supabase.com/api/v1-json)")),
    ("supabase", "GET", "{api}/v1/projects", TooLarge("the Management API description is kept in supabase/supabase, too large to mirror here (served at api.supabase.com/api/v1-json)")),
    ("tailscale", "DELETE", "{api}/api/v2/tailnet/-/keys/{key_id}", Unknown),
    ("tailscale", "POST", "{api}/api/v2/secret-scanning/verify", Unknown),
    ("telegram", "GET", "{api}/bot{secret}/getMe", NotOpenApi("the Bot API is documented in prose only")),
    ("together", "GET", "{api}/v1/models", Checked("together", "/models")),
    ("twilio", "DELETE", "{iam}/v1/Keys/{part.key_sid}", Checked("twilio", "/v1/Keys/{Sid}")),
    ("twilio", "GET", "{api}/2010-04-01/Accounts/{part.account_sid}.json", Checked("twilio", "/2010-04-01/Accounts/{Sid}.json")),
    ("twilio", "GET", "{verify}/v2/Services", Checked("twilio", "/v2/Services")),
    ("vault", "GET", "{api}/v1/auth/token/lookup-self", Undocumented("Vault's generated description (hashicorp/vault-client-go openapi.json, 1.15.0) gives these routes no response body")),
    ("vault", "POST", "{api}/v1/auth/token/revoke-self", Undocumented("Vault's generated description (hashicorp/vault-client-go openapi.json, 1.15.0) gives these routes no response body")),
    ("vercel", "DELETE", "{api}/v3/user/tokens/current", Pending("openapi.vercel.sh")),
    ("vercel", "GET", "{api}/v2/teams", Pending("openapi.vercel.sh")),
    ("vercel", "GET", "{api}/v2/user", Pending("openapi.vercel.sh")),
    ("wandb", "POST", "{api}/graphql", NotOpenApi("a GraphQL API")),
    ("workos", "GET", "{api}/organizations", Unknown),
    ("xai", "GET", "{api}/v1/api-key", Unknown),
];

/// The committed excerpt named `name`.
fn excerpt(name: &str) -> Excerpt {
    Excerpt::load(match name {
        "assemblyai" => include_str!("schemas/assemblyai.json"),
        "datadog" => include_str!("schemas/datadog.json"),
        "cohere" => include_str!("schemas/cohere.json"),
        "crates-io" => include_str!("schemas/crates-io.json"),
        "deepgram" => include_str!("schemas/deepgram.json"),
        "discord" => include_str!("schemas/discord.json"),
        "elevenlabs" => include_str!("schemas/elevenlabs.json"),
        "figma" => include_str!("schemas/figma.json"),
        "firecrawl" => include_str!("schemas/firecrawl.json"),
        "hubspot" => include_str!("schemas/hubspot.json"),
        "mistral" => include_str!("schemas/mistral.json"),
        "pinecone" => include_str!("schemas/pinecone.json"),
        "together" => include_str!("schemas/together.json"),
        "netlify" => include_str!("schemas/netlify.json"),
        "digitalocean" => include_str!("schemas/digitalocean.json"),
        "github" => include_str!("schemas/github.json"),
        "notion" => include_str!("schemas/notion.json"),
        "okta" => include_str!("schemas/okta.json"),
        "openai" => include_str!("schemas/openai.json"),
        "sendgrid" => include_str!("schemas/sendgrid.json"),
        "slack" => include_str!("schemas/slack.json"),
        "stripe" => include_str!("schemas/stripe.json"),
        "twilio" => include_str!("schemas/twilio.json"),
        other => panic!("no excerpt named {other}"),
    })
}

/// The calls of one recipe table (`url`, and `method` or the default), into `out`.
fn calls_of(
    issuer: &str,
    call: &toml::Value,
    default: &str,
    out: &mut std::collections::BTreeSet<(String, String, String)>,
) {
    if let Some(url) = call.get("url").and_then(|u| u.as_str()) {
        let method = call.get("method").and_then(|m| m.as_str()).unwrap_or(default);
        out.insert((issuer.to_string(), method.to_ascii_uppercase(), url.to_string()));
    }
}

/// A revoke recipe's calls: its own (POST by default), its find step, the find's walk over
/// each item, its public-key check (GET by default), its fallback's and its session cut's.
fn revoke_calls(
    issuer: &str,
    r: &toml::Value,
    out: &mut std::collections::BTreeSet<(String, String, String)>,
) {
    calls_of(issuer, r, "POST", out);
    if let Some(find) = r.get("find") {
        calls_of(issuer, find, "GET", out);
        if let Some(each) = find.get("each") {
            calls_of(issuer, each, "GET", out);
        }
    }
    if let Some(p) = r.get("public_if") {
        calls_of(issuer, p, "GET", out);
    }
    if let Some(f) = r.get("fallback") {
        revoke_calls(issuer, f, out);
    }
    if let Some(s) = r.get("sessions") {
        revoke_calls(issuer, s, out);
    }
}

#[test]
fn every_recipe_route_is_listed_with_its_schema_coverage() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut called = std::collections::BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(root.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in &files {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for rule in doc.get("rule").and_then(|r| r.as_array()).into_iter().flatten() {
            let issuer = rule.get("issuer").and_then(|i| i.as_str()).unwrap_or("");
            let verify = match rule.get("verify") {
                Some(toml::Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => vec![],
            };
            for v in &verify {
                calls_of(issuer, v, "GET", &mut called);
                if let Some(e) = v.get("secret_expiry") {
                    calls_of(issuer, e, "GET", &mut called);
                }
            }
            if let Some(r) = rule.get("revoke") {
                revoke_calls(issuer, r, &mut called);
            }
        }
    }
    let access: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("src/issuer/access.toml")).unwrap()).unwrap();
    for a in access
        .get("access")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
    {
        let issuer = a.get("issuer").and_then(|i| i.as_str()).unwrap_or("");
        for kind in ["step", "probe"] {
            for call in a.get(kind).and_then(|s| s.as_array()).into_iter().flatten() {
                calls_of(issuer, call, "GET", &mut called);
            }
        }
    }
    assert!(called.len() >= 100, "the walk found only {} routes", called.len());
    let listed: std::collections::BTreeSet<(String, String, String)> = COVERAGE
        .iter()
        .map(|(i, m, u, _)| (i.to_string(), m.to_string(), u.to_string()))
        .collect();
    let unlisted: Vec<_> = called.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&called).collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "routes the recipes call that COVERAGE does not list: {unlisted:#?}\nlisted routes no recipe calls: {stale:#?}"
    );
    // A route said to be checked names a route its excerpt holds; a route left unchecked says
    // why, and an issuer whose description is excerpted says it for each of its other routes.
    let excerpted: std::collections::BTreeSet<&str> = COVERAGE
        .iter()
        .filter(|(_, _, _, c)| matches!(c, Checked(..)))
        .map(|(i, ..)| *i)
        .collect();
    for (issuer, method, url, cover) in COVERAGE {
        match cover {
            Checked(name, path) => {
                let ex = excerpt(name);
                assert!(
                    ex.0["routes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["path"] == *path),
                    "{issuer} {method} {url}: schemas/{name}.json has no route {path}"
                );
            }
            TooLarge(why) | Undocumented(why) | Pending(why) | NotOpenApi(why) => {
                assert!(
                    !why.trim().is_empty(),
                    "{issuer} {method} {url}: {cover:?} says nothing"
                );
                assert!(
                    !excerpted.contains(issuer) || matches!(cover, TooLarge(_) | Undocumented(_)),
                    "{issuer} {method} {url}: its description is excerpted; say why this route is not checked"
                );
            }
            Unknown => assert!(
                !excerpted.contains(issuer),
                "{issuer} {method} {url}: its description is excerpted; say why this route is not checked"
            ),
        }
    }
}
