//! Every built-in rule with a revocation API recipe, proved against `quench simulate` through
//! the real binary in one scan: the simulator receives each issuer's real revoke request and
//! marks the key dead, and quench records it revoked (confirmed by verifying again where the
//! rule can verify). A rule that gains a recipe without a case here fails the coverage check.
//! Also: the AWS admin fallback, and a custom rule protecting keys a company issues to its
//! customers through WorkOS (the README's example).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::fake::{self, Gen};
use common::fake_verify::{self as fv, SimProc};
use common::run_in;

/// One key to kill: the rule that should find it, the file that holds it, and how the
/// simulator knows it (`[[key]]` fields after issuer and secret).
struct Case {
    rule: &'static str,
    issuer: &'static str,
    secret: String,
    file: String,
    sim: String,
    /// What the simulator holds when it is not the matched value (AWS: the secret access key,
    /// with the key id in `sim`).
    sim_secret: Option<String>,
}

fn case(rule: &'static str, issuer: &'static str, secret: String, file: String, sim: &str) -> Case {
    Case {
        rule,
        issuer,
        secret,
        file,
        sim: sim.to_string(),
        sim_secret: None,
    }
}

/// An AWS key pair of IAM user `user`; `extra` adds simulator fields.
fn aws_case(g: &mut Gen, user: &str, extra: &str) -> Case {
    let (id, secret) = fake::aws(g);
    Case {
        sim_secret: Some(secret.clone()),
        ..case(
            "aws.access-key",
            "aws",
            id.clone(),
            format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
            &format!("key_id = \"{id}\"\nprincipal = \"arn:aws:iam::111122223333:user/{user}\"\n{extra}"),
        )
    }
}

/// `NAME=secret` on a line of its own, the common shape.
fn env(rule: &'static str, issuer: &'static str, name: &str, secret: String, sim: &str) -> Case {
    let file = format!("{name}={secret}\n");
    case(rule, issuer, secret, file, sim)
}

fn b62(g: &mut Gen, n: usize) -> String {
    g.alnum(n)
}

fn digits(g: &mut Gen, n: usize) -> String {
    g.string(b"0123456789", n)
}

fn lower(g: &mut Gen, n: usize) -> String {
    g.string(b"abcdefghijklmnopqrstuvwxyz0123456789", n)
}

fn cases(g: &mut Gen) -> Vec<Case> {
    let who = "principal = \"dev@example.com\"";
    let tenant = fv::uuid(g);
    let client = fv::uuid(g);
    let entra = fv::entra_secret(g);
    vec![
        env("github.pat-classic", "github", "GH", fake::github(g, "ghp"), who),
        env("github.oauth-token", "github", "GH", fake::github(g, "gho"), who),
        env(
            "github.app-user-token",
            "github",
            "GH",
            fake::github(g, "ghu"),
            who,
        ),
        env(
            "github.app-refresh-token",
            "github",
            "GH",
            fake::github(g, "ghr"),
            who,
        ),
        env(
            "github.app-installation-token",
            "github",
            "GH",
            fake::github(g, "ghs"),
            "org = \"acme\"",
        ),
        env(
            "github.pat-fine-grained",
            "github",
            "GH",
            format!("github_pat_{}_{}", b62(g, 22), b62(g, 59)),
            who,
        ),
        env("gitlab.pat", "gitlab", "GL", format!("glpat-{}", b62(g, 20)), who),
        env(
            "gitlab.pat-routable",
            "gitlab",
            "GL",
            fake::gitlab_routable(g),
            who,
        ),
        env(
            "google.oauth-access-token",
            "google",
            "GOOG",
            fv::google_access_token(g),
            "principal = \"ana@example.com\"\nkey_id = \"client-123.apps.googleusercontent.com\"",
        ),
        env(
            "google.oauth-refresh-token",
            "google",
            "GOOG",
            format!("1//0{}", b62(g, 60)),
            who,
        ),
        env(
            "google.api-key",
            "google",
            "GOOGLE_API_KEY",
            format!("AIza{}", b62(g, 35)),
            // A Maps key: its project has not enabled Gemini, so Google answers 403
            // SERVICE_DISABLED, which still proves the key live.
            "project = \"1234567890\"\nkey_id = \"k-api\"\nscopes = [\"maps-backend.googleapis.com\"]",
        ),
        env(
            "google.gemini-api-key",
            "google",
            "GEMINI_API_KEY",
            format!("AQ.Ab8RN6{}", b62(g, 44)),
            "project = \"1234567890\"\nkey_id = \"k-gemini\"",
        ),
        env(
            "huggingface.access-token",
            "huggingface",
            "HF",
            fake::huggingface(g),
            who,
        ),
        env(
            "huggingface.org-token",
            "huggingface",
            "HF",
            format!(
                "api_org_{}",
                g.string(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 34)
            ),
            who,
        ),
        env(
            "npm.access-token",
            "npm",
            "NPM",
            fake::npm(g),
            "principal = \"npm-user\"",
        ),
        {
            let t = fv::uuid(g);
            let file = format!("//registry.npmjs.org/:_authToken={t}\n");
            case("npm.legacy-token", "npm", t, file, "principal = \"npm-legacy\"")
        },
        {
            let t = format!("00{}", b62(g, 40));
            let file = format!("OKTA_ORG_URL=https://acme.okta.com\nOKTA_API_TOKEN={t}\n");
            case("okta.api-token", "okta", t, file, who)
        },
        env(
            "openai.project-key",
            "openai",
            "OPENAI_API_KEY",
            fake::openai_project(g),
            "project = \"proj_web1\"\nkey_id = \"key_oai1\"",
        ),
        {
            let k = g.hex(32);
            let file = format!("DD_API_KEY={k}\n");
            case("datadog.api-key", "datadog", k, file, "org = \"acme\"")
        },
        env(
            "tailscale.api-token",
            "tailscale",
            "TS_API_KEY",
            format!("tskey-api-k{}CNTRL-{}", b62(g, 11), b62(g, 32)),
            "org = \"example.com\"",
        ),
        env(
            "sendgrid.api-key",
            "sendgrid",
            "SENDGRID_API_KEY",
            format!("SG.{}.{}", b62(g, 22), b62(g, 43)),
            "org = \"acme\"",
        ),
        env(
            "cloudflare.user-api-token",
            "cloudflare",
            "CLOUDFLARE_API_TOKEN",
            format!("cfut_{}{}", b62(g, 40), g.hex(8)),
            who,
        ),
        env(
            "cloudflare.account-api-token",
            "cloudflare",
            "CLOUDFLARE_API_TOKEN",
            format!("cfat_{}{}", b62(g, 40), g.hex(8)),
            "org = \"acme\"\n[[key.grant]]\nkind = \"account\"\nname = \"acme\"",
        ),
        env(
            "anthropic.api-key",
            "anthropic",
            "ANTHROPIC_API_KEY",
            fake::anthropic(g),
            "key_id = \"apikey_01\"",
        ),
        env(
            "posthog.personal-api-key",
            "posthog",
            "POSTHOG",
            format!("phx_{}", b62(g, 43)),
            who,
        ),
        env("slack.bot-token", "slack", "SLACK", fake::slack_bot(g), who),
        env(
            "slack.user-token",
            "slack",
            "SLACK",
            format!(
                "xoxp-{}-{}-{}-{}",
                digits(g, 12),
                digits(g, 12),
                digits(g, 12),
                b62(g, 32)
            ),
            who,
        ),
        env(
            "slack.legacy-workspace-token",
            "slack",
            "SLACK",
            format!("xoxr-{}", b62(g, 40)),
            who,
        ),
        env(
            "slack.legacy-token",
            "slack",
            "SLACK",
            format!(
                "xoxs-{}-{}-{}-{}",
                digits(g, 10),
                digits(g, 10),
                digits(g, 10),
                g.hex(64)
            ),
            who,
        ),
        env(
            "slack.config-access-token",
            "slack",
            "SLACK",
            format!("xoxe.xoxp-1-{}", b62(g, 164)),
            who,
        ),
        env(
            "vault.service-token",
            "vault",
            "VAULT_TOKEN",
            fv::vault_service(g),
            who,
        ),
        env(
            "vault.token-legacy",
            "vault",
            "VAULT_TOKEN",
            format!("s.{}", b62(g, 24)),
            who,
        ),
        env(
            "vercel.personal-token",
            "vercel",
            "VERCEL_TOKEN",
            format!("vcp_{}", b62(g, 56)),
            who,
        ),
        env(
            "vercel.integration-token",
            "vercel",
            "VERCEL_TOKEN",
            format!("vci_{}", b62(g, 56)),
            who,
        ),
        env("vercel.token-legacy", "vercel", "VERCEL_TOKEN", b62(g, 24), who),
        env(
            "doppler.personal-token",
            "doppler",
            "DOPPLER",
            format!("dp.pt.{}", b62(g, 43)),
            who,
        ),
        env(
            "doppler.cli-token",
            "doppler",
            "DOPPLER",
            format!("dp.ct.{}", b62(g, 43)),
            who,
        ),
        env(
            "doppler.service-token",
            "doppler",
            "DOPPLER",
            format!("dp.st.{}", b62(g, 43)),
            who,
        ),
        env(
            "doppler.service-account-token",
            "doppler",
            "DOPPLER",
            format!("dp.sa.{}", b62(g, 43)),
            who,
        ),
        env(
            "doppler.scim-token",
            "doppler",
            "DOPPLER",
            format!("dp.scim.{}", b62(g, 43)),
            who,
        ),
        env(
            "doppler.audit-token",
            "doppler",
            "DOPPLER",
            format!("dp.audit.{}", b62(g, 43)),
            who,
        ),
        env(
            "digitalocean.personal-access-token",
            "digitalocean",
            "DIGITALOCEAN_TOKEN",
            format!("dop_v1_{}", g.hex(64)),
            who,
        ),
        env(
            "digitalocean.oauth-access-token",
            "digitalocean",
            "DIGITALOCEAN_TOKEN",
            format!("doo_v1_{}", g.hex(64)),
            who,
        ),
        env(
            "buildkite.api-token",
            "buildkite",
            "BUILDKITE",
            format!("bkua_{}", lower(g, 40)),
            who,
        ),
        env(
            "crates-io.api-token",
            "crates-io",
            "CARGO_REGISTRY_TOKEN",
            format!("cio{}", b62(g, 32)),
            who,
        ),
        env(
            "openrouter.api-key",
            "openrouter",
            "OPENROUTER_API_KEY",
            format!("sk-or-v1-{}", g.hex(64)),
            who,
        ),
        case(
            "azure.entra-client-secret",
            "azure",
            entra.clone(),
            format!("AZURE_TENANT_ID={tenant}\nAZURE_CLIENT_ID={client}\nAZURE_CLIENT_SECRET={entra}\n"),
            &format!("key_id = \"{client}\"\norg = \"{tenant}\""),
        ),
        {
            let (sid, secret) = (format!("SK{}", g.hex(32)), b62(g, 32));
            let file = format!("TWILIO_API_KEY={sid}\nTWILIO_API_SECRET={secret}\n");
            let sim = format!("key_id = \"{sid}\"\norg = \"AC{}\"\nadmin = true", g.hex(32));
            case("twilio.api-key-secret", "twilio", secret, file, &sim)
        },
        {
            let (cid, secret) = (b62(g, 32), b62(g, 64));
            let file = format!(
                "AUTH0_DOMAIN=acme.us.auth0.com\nAUTH0_CLIENT_ID={cid}\nAUTH0_CLIENT_SECRET={secret}\n"
            );
            case(
                "auth0.client-secret",
                "auth0",
                secret,
                file,
                &format!("key_id = \"{cid}\"\norg = \"acme\""),
            )
        },
        {
            // A key file as written by hand (the PEM's own line breaks), so the finding is the
            // PEM as the simulator holds it.
            let (_, pem) = fv::rsa_pem(4243);
            let pem = pem.trim_end().to_string();
            let (id, email) = (g.hex(40), "ci@proj-x.iam.gserviceaccount.com");
            let file = format!(
                "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"proj-x\",\n  \"private_key_id\": \"{id}\",\n  \"private_key\": \"{pem}\",\n  \"client_email\": \"{email}\"\n}}\n"
            );
            let sim = format!("principal = \"{email}\"\nkey_id = \"{id}\"\nproject = \"proj-x\"");
            Case {
                sim_secret: Some(pem.replace('\n', "\\n")),
                ..case("google.service-account-key", "google", pem, file, &sim)
            }
        },
        aws_case(g, "ci", ""),
        // The same rule through the admin fallback: this key may not deactivate itself.
        aws_case(g, "deploy", "no_self_revoke = true"),
    ]
}

/// The `[[key]]` entry of a case.
fn sim_entry(c: &Case) -> String {
    format!(
        "[[key]]\nissuer = \"{}\"\nsecret = \"{}\"\n{}\n",
        c.issuer,
        c.sim_secret.as_ref().unwrap_or(&c.secret),
        c.sim
    )
}

/// Rule id → revoke authority of every built-in rule with a revoke table.
fn revoke_authorities(dir: &std::path::Path) -> BTreeMap<String, String> {
    let out = run_in(dir, &["rules", "list", "--json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_string(),
                r["revoke_authority"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn no_verify_rules(dir: &std::path::Path) -> BTreeSet<String> {
    let out = run_in(dir, &["rules", "list", "--json"], None);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .filter(|r| r["verify"] == false)
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect()
}

fn statuses(dir: &std::path::Path) -> BTreeMap<String, String> {
    let out = run_in(dir, &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn revoked_positions(sim: &SimProc) -> BTreeSet<usize> {
    let (status, body) = sim.request("GET", "/_sim/revoked", &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn every_api_recipe_kills_its_key_on_the_simulator() {
    let mut g = Gen::new(4242);
    let cases = cases(&mut g);
    let dir = tempfile::tempdir().unwrap();

    // Coverage: every built-in rule whose recipe calls an API has a case here.
    let authorities = revoke_authorities(dir.path());
    let api: BTreeSet<&String> = authorities
        .iter()
        .filter(|(_, a)| a.as_str() != "none")
        .map(|(id, _)| id)
        .collect();
    let covered: BTreeSet<String> = cases.iter().map(|c| c.rule.to_string()).collect();
    let missing: Vec<&&String> = api.iter().filter(|id| !covered.contains(**id)).collect();
    assert!(
        missing.is_empty(),
        "rules with a revoke API recipe but no simulator case: {missing:?}"
    );
    assert!(
        api.len() >= 30,
        "only {} rules have a revoke API recipe",
        api.len()
    );
    for id in &covered {
        assert!(api.contains(id), "{id} has a case but no revoke API recipe");
    }

    // Admin credentials the policy names, each a key the simulator knows as an admin.
    let admins = [
        ("openai", "SIM_OPENAI_ADMIN", format!("sk-admin-{}", g.alnum(40))),
        (
            "anthropic",
            "SIM_ANTHROPIC_ADMIN",
            format!("sk-ant-admin01-{}", g.alnum(40)),
        ),
        ("google", "SIM_GOOGLE_ADMIN", format!("ya29.admin{}", g.alnum(40))),
        ("azure", "SIM_AZURE_ADMIN", format!("graph-admin-{}", g.alnum(40))),
        (
            "openrouter",
            "SIM_OPENROUTER_ADMIN",
            format!("sk-or-v1-{}", g.hex(64)),
        ),
        ("datadog", "SIM_DATADOG_ADMIN", g.hex(40)),
        ("auth0", "SIM_AUTH0_ADMIN", g.alnum(40)),
    ];
    let (aws_admin_id, aws_admin_secret) = fake::aws(&mut g);
    let mut keys: String = cases.iter().map(sim_entry).collect();
    for (issuer, _, secret) in &admins {
        keys.push_str(&format!(
            "[[key]]\nissuer = \"{issuer}\"\nsecret = \"{secret}\"\nadmin = true\norg = \"acme\"\n"
        ));
    }
    keys.push_str(&format!(
        "[[key]]\nissuer = \"aws\"\nsecret = \"{aws_admin_secret}\"\nkey_id = \"{aws_admin_id}\"\nadmin = true\n\
         principal = \"arn:aws:iam::111122223333:user/security-admin\"\n"
    ));
    let sim = SimProc::start(&keys);

    for (i, c) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("case{i:02}.env")), &c.file).unwrap();
    }
    let mut policy = String::from(
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 5\n",
    );
    // A rule that cannot verify has no live verdict to wait for; its revocation is confirmed
    // by the simulator's state below instead.
    for id in no_verify_rules(dir.path())
        .iter()
        .filter(|id| covered.contains(*id))
    {
        policy.push_str(&format!("[revoke.rules.\"{id}\"]\nrequire_live = false\n"));
    }
    for (issuer, var, _) in &admins {
        policy.push_str(&format!("[revoke.admin.{issuer}]\nenv = \"{var}\"\n"));
    }
    policy.push_str("[revoke.admin.aws]\nenv = \"SIM_AWS_ADMIN\"\n");
    let policy = sim.extra_config("policy.toml", &policy);
    let mut cmd = common::revoking_scan(dir.path(), &sim.config, &policy);
    cmd.env("SIM_AWS_ADMIN", format!("{aws_admin_id}:{aws_admin_secret}"));
    for (_, var, secret) in &admins {
        cmd.env(var, secret);
    }
    let t0 = std::time::Instant::now();
    let out = cmd.output().unwrap();
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");

    // Every key is revoked in quench's store and dead in the simulator.
    let st = statuses(dir.path());
    let dead = revoked_positions(&sim);
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let fp = common::fingerprint(c.rule, c.secret.as_bytes());
        let status = st.get(&fp).map(String::as_str).unwrap_or("not found");
        if status != "revoked" || !dead.contains(&i) {
            failures.push(format!(
                "{}: status {status}, simulator {}",
                c.rule,
                if dead.contains(&i) { "revoked" } else { "live" }
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\nstderr: {err}");
    // Only the leaked keys died: no admin key, no bystander.
    assert_eq!(dead.len(), cases.len(), "{dead:?}");

    // The AWS key that may not revoke itself was refused once, then deactivated by the admin.
    let aws: Vec<u64> = sim
        .recorded()
        .iter()
        .filter(|r| r["issuer"] == "aws" && r["kind"] == "revoke")
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert!(
        aws.contains(&403) && aws.iter().filter(|s| **s == 200).count() >= 3,
        "{aws:?}"
    );

    // Nothing the simulator recorded (method, path, status) carries a secret.
    let all: Vec<&String> = cases.iter().map(|c| &c.secret).collect();
    for r in sim.recorded() {
        let line = r.to_string();
        assert!(
            !all.iter().any(|s| line.contains(s.as_str())),
            "the record holds a secret: {line}"
        );
    }
    eprintln!(
        "{} keys over {} rules revoked in one scan: {took:?}",
        cases.len(),
        covered.len()
    );
}

/// The README's example: keys a company issues to its customers through WorkOS, found by the
/// company's own prefix, validated and deleted with the company's WorkOS key.
const ACME_RULE: &str = r#"
[[rule]]
id = "acme.customer-api-key"
name = "Acme customer API key"
issuer = "workos"                     # the keys are WorkOS API keys: calls go to api.workos.com
identity = "org"
keywords = ["acme_live_"]
pattern = '''\b(acme_live_[A-Za-z0-9]{40})\b'''

[rule.revoke]
authority = "admin"                   # with your WorkOS key: [revoke.admin.workos]
method = "DELETE"
url = "{api}/api_keys/{found}"
headers = { Authorization = "Bearer {admin}" }
ok = { status = [204] }
gone = { status = [404] }

[rule.revoke.find]                    # WorkOS names the key from its value
method = "POST"
url = "{api}/api_keys/validations"
headers = { Authorization = "Bearer {admin}" }
json = { value = "{secret}" }
take = "api_key.id"                   # null for a key WorkOS does not know: nothing to delete
"#;

const ACME_POLICY: &str = r#"
[revoke]
mode = "auto"
[revoke.rules."acme.customer-api-key"]
require_live = false                  # the validation above is the liveness check
[revoke.admin.workos]
env = "WORKOS_API_KEY"
"#;

/// Scans a repository holding `env` (an `agent.env`) with the custom rule `rule` under
/// [`ACME_POLICY`], the simulator's config and `company` as the WorkOS admin key.
fn scan_with_acme_rule(
    sim: &SimProc,
    rule: &str,
    env: &str,
    company: &str,
) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/acme.toml"), rule).unwrap();
    std::fs::create_dir_all(dir.path().join("repo")).unwrap();
    std::fs::write(dir.path().join("repo/agent.env"), env).unwrap();
    let policy = sim.extra_config("policy.toml", ACME_POLICY);
    let out = common::quench()
        .current_dir(dir.path())
        .args([
            "scan",
            "repo",
            "--revoke",
            "--rules",
            "rules",
            "--data-dir",
            "data",
            "--config",
        ])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .env("WORKOS_API_KEY", company)
        .output()
        .unwrap();
    (dir, out)
}

#[test]
fn a_custom_rule_protects_keys_a_company_issues_through_workos() {
    let mut g = Gen::new(99);
    let leaked = format!("acme_live_{}", g.alnum(40));
    let unknown = format!("acme_live_{}", g.alnum(40));
    let bystander = format!("acme_live_{}", g.alnum(40));
    let company = format!("sk_live_a2V5Xz{}", g.alnum(70));
    let keys = format!(
        "[[key]]\nissuer = \"workos\"\nsecret = \"{company}\"\nadmin = true\n\
         [[key]]\nissuer = \"workos\"\nsecret = \"{leaked}\"\nkey_id = \"api_key_01LEAKED\"\norg = \"org_01CUSTOMER\"\n\
         [[key]]\nissuer = \"workos\"\nsecret = \"{bystander}\"\nkey_id = \"api_key_01BYSTANDER\"\norg = \"org_01CUSTOMER\"\n"
    );
    let sim = SimProc::start(&keys);
    let (dir, out) = scan_with_acme_rule(
        &sim,
        ACME_RULE,
        &format!("ACME_API_KEY={leaked}\nACME_OLD_KEY={unknown}\n"),
        &company,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");

    // The leaked key was validated and deleted; the unknown one validated only; the bystander
    // (a live key that did not leak) untouched.
    assert_eq!(revoked_positions(&sim), BTreeSet::from([1]), "{err}");
    let calls: Vec<(String, String, u64)> = sim
        .recorded()
        .iter()
        .filter(|r| r["issuer"] == "workos")
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let validations = calls
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/workos/api_keys/validations");
    assert_eq!(validations.count(), 2, "{calls:?}");
    let deletes: Vec<_> = calls.iter().filter(|(m, _, _)| m == "DELETE").collect();
    assert_eq!(
        deletes,
        vec![&(
            "DELETE".to_string(),
            "/workos/api_keys/api_key_01LEAKED".to_string(),
            204
        )],
        "{calls:?}"
    );
    let st = statuses(dir.path());
    let fp = common::fingerprint("acme.customer-api-key", leaked.as_bytes());
    assert_eq!(st.get(&fp).map(String::as_str), Some("revoked"), "{st:?}");
    // WorkOS does not know the unknown key: nothing was revoked, so it is not recorded as
    // revoked by quench.
    let fp = common::fingerprint("acme.customer-api-key", unknown.as_bytes());
    assert_eq!(st.get(&fp).map(String::as_str), Some("dead"), "{st:?}");
    for r in sim.recorded() {
        let line = r.to_string();
        assert!(!line.contains(&leaked) && !line.contains(&company), "{line}");
    }
}

/// The request keys of a recipe are read apart from its own keys (see `quench::issuer::call`), and
/// a misspelt key anywhere in `[rule.revoke]` still stops the revocation with a message naming
/// it, instead of sending a request without the misspelt part.
#[test]
fn a_misspelt_key_in_a_revoke_recipe_is_rejected_naming_it() {
    let mut g = Gen::new(7);
    let leaked = format!("acme_live_{}", g.alnum(40));
    let company = format!("sk_live_a2V5Xz{}", g.alnum(70));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"workos\"\nsecret = \"{company}\"\nadmin = true\n\
         [[key]]\nissuer = \"workos\"\nsecret = \"{leaked}\"\nkey_id = \"api_key_01LEAKED\"\n"
    ));
    // (as written, misspelt, in which table)
    for (right, wrong, table) in [
        ("method = \"DELETE\"", "metod = \"DELETE\"", "[rule.revoke]"),
        ("json = { value", "jsn = { value", "[rule.revoke.find]"),
    ] {
        assert!(ACME_RULE.contains(right));
        let key = wrong.split_once(' ').unwrap().0;
        let env = format!("ACME_API_KEY={leaked}\n");
        let (_dir, out) = scan_with_acme_rule(&sim, &ACME_RULE.replacen(right, wrong, 1), &env, &company);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{table} {key}: {err}"
        );
        assert!(!err.contains(&leaked) && !err.contains(&company), "{err}");
        assert!(revoked_positions(&sim).is_empty(), "{table} {key}: {err}");
        assert!(
            !sim.recorded().iter().any(|r| r["method"] == "DELETE"),
            "{table} {key}: a recipe with a misspelt key must not be sent"
        );
    }
}
