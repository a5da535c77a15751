//! The simulator against the issuers' published OpenAPI descriptions: every answer of a route
//! the recipes use must fit the response schema the issuer publishes, so the simulator cannot
//! drift into agreeing with a wrong recipe. The schemas are the committed excerpts in
//! `schemas/` (OpenAI's openai-openapi, Slack's slack-api-specs, Twilio's sendgrid-oai and twilio-oai; name
//! and version recorded in each), which `schemas/derive.py SPEC MIRROR --check` re-derives from a mirror of the
//! published description.

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
            out.push(format!("{at}: matches none of the alternatives; the nearest: {why:?}"));
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
    let (status, body) = sim.request("GET", "/okta/api/v1/users/me", &[("Authorization", &ssws(&unknown))], "");
    assert_eq!(status, 401, "{body}");
    errors.extend(spec.check("GET", "/api/v1/users/{id}", "403", &body));
    errors.extend(ask_and_check(
        &sim,
        &spec,
        ("DELETE", "/okta/api/v1/api-tokens/current", "/api/v1/api-tokens/current"),
        &[("Authorization", &ssws(&tok))],
        204,
    ));
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Datadog (its v1 description as published in DataDog/datadog-api-client-python's
/// `.generator/schemas`): the key validation an API key verifies with, live and refused.
#[test]
fn datadog_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/datadog.json"));
    let mut g = Gen::new(1472);
    let (key, unknown) = (g.hex(32), g.hex(32));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"datadog\"\nsecret = \"{key}\"\norg = \"acme\"\n"
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
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// GitHub (its docs' dereferenced operations, REST API version 2022-11-28; commits in the
/// excerpt): the user a token verifies as, with and without the `user` scope (private and
/// public profile), and the public revocation endpoint's acceptance.
#[test]
fn github_simulator_answers_fit_the_published_schema() {
    let spec = Excerpt::load(include_str!("schemas/github.json"));
    let mut g = Gen::new(1473);
    let (full, narrow, leaked) = (
        fake::github(&mut g, "ghp_"),
        fake::github(&mut g, "ghp_"),
        fake::github(&mut g, "ghp_"),
    );
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{full}\"\nprincipal = \"octocat\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{narrow}\"\nprincipal = \"hubot\"\nscopes = [\"repo\"]\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{leaked}\"\nprincipal = \"ana\"\n"
    ));
    let mut errors = Vec::new();
    for tok in [&full, &narrow] {
        errors.extend(ask_and_check(
            &sim,
            &spec,
            ("GET", "/github/user", "/user"),
            &[("Authorization", &format!("Bearer {tok}"))],
            200,
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
        assert!(!body.contains(k.as_str()), "the error echoes the whole key: {body}");
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
