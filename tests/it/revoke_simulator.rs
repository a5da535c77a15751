//! `scan --verify --revoke` against `quench simulate`: live keys of every path kind the
//! simulator implements (public, self, admin) are killed and confirmed dead through the
//! built-in rules' revoke recipes; dead keys are left alone; `report` shows the timelines.

use crate::common;

use common::fake::{self, Gen};
use common::fake_store::stored_findings;
use common::fake_verify::{self as fv, SimProc};
use common::run_in;

#[test]
fn every_path_kind_is_revoked_and_confirmed_dead() {
    let mut g = Gen::new(77);
    let gh = fake::github(&mut g, "ghp");
    let gh_dead = fake::github(&mut g, "ghp");
    let gl = fake::gitlab_routable(&mut g);
    let slack = fake::slack_bot(&mut g);
    let hf = fake::huggingface(&mut g);
    let npm = fake::npm(&mut g);
    let dop = fv::doppler_personal(&mut g);
    let vault = fv::vault_service(&mut g);
    let goog = fv::google_access_token(&mut g);
    let oai = fake::openai_project(&mut g);
    let oai_admin = format!("sk-admin-{}", g.alnum(40));
    let ant = fake::anthropic(&mut g);
    let ant_admin = format!("sk-ant-admin01-{}", g.alnum(40));
    let (aws_id, aws_secret) = fake::aws(&mut g);
    let keys = format!(
        r#"
[[key]]
issuer = "github"
secret = "{gh}"
principal = "octo"
[[key]]
issuer = "gitlab"
secret = "{gl}"
principal = "4242"
[[key]]
issuer = "slack"
secret = "{slack}"
principal = "quench-bot"
[[key]]
issuer = "huggingface"
secret = "{hf}"
principal = "hf-user"
[[key]]
issuer = "npm"
secret = "{npm}"
principal = "npm-user"
[[key]]
issuer = "doppler"
secret = "{dop}"
principal = "ci-bot"
[[key]]
issuer = "vault"
secret = "{vault}"
principal = "approle"
[[key]]
issuer = "google"
secret = "{goog}"
principal = "ana@example.com"
key_id = "client-123.apps.googleusercontent.com"
[[key]]
issuer = "openai"
secret = "{oai}"
principal = "dev@example.com"
project = "proj_web1"
key_id = "key_oai1"
[[key]]
issuer = "openai"
secret = "{oai_admin}"
admin = true
key_id = "admin_1"
[[key]]
issuer = "anthropic"
secret = "{ant}"
key_id = "apikey_01"
[[key]]
issuer = "anthropic"
secret = "{ant_admin}"
admin = true
[[key]]
issuer = "aws"
secret = "{aws_secret}"
key_id = "{aws_id}"
principal = "arn:aws:iam::111122223333:user/ci"
"#
    );
    let sim = SimProc::start(&keys);
    let dir = tempfile::tempdir().unwrap();
    let all = [
        &gh, &gh_dead, &gl, &slack, &hf, &npm, &dop, &vault, &goog, &oai, &ant,
    ];
    let body: String = all
        .iter()
        .enumerate()
        .map(|(i, s)| format!("SECRET_{i}={s}\n"))
        .collect();
    std::fs::write(dir.path().join("app.env"), body).unwrap();
    std::fs::write(
        dir.path().join("aws.ini"),
        format!("aws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n"),
    )
    .unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\n\
         [revoke.admin.openai]\nenv = \"SIM_OPENAI_ADMIN\"\n[revoke.admin.anthropic]\nenv = \"SIM_ANTHROPIC_ADMIN\"\n",
    );
    let out = common::revoking_scan(dir.path(), &sim.config, &policy)
        .env("SIM_OPENAI_ADMIN", &oai_admin)
        .env("SIM_ANTHROPIC_ADMIN", &ant_admin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");

    let fs = stored_findings(dir.path());
    let status = |secret: &str| -> String {
        let hit = fs.iter().find(|f| {
            let fp = f["fingerprint"].as_str().unwrap();
            common::fingerprint(f["rule_id"].as_str().unwrap(), secret.as_bytes()) == fp
        });
        hit.map(|f| {
            format!(
                "{} {}",
                f["rule_id"].as_str().unwrap(),
                f["status"].as_str().unwrap()
            )
        })
        .unwrap_or_else(|| "not found".into())
    };
    for s in [
        &gh, &gl, &slack, &hf, &npm, &dop, &vault, &goog, &oai, &ant, &aws_id,
    ] {
        let st = status(s);
        assert!(st.ends_with(" revoked"), "{st}; stderr: {err}");
    }
    assert!(status(&gh_dead).ends_with(" dead"), "{}", status(&gh_dead));

    // The simulator saw revoke calls and the keys are dead now (a fresh verify says so).
    let revokes: Vec<String> = sim
        .recorded()
        .iter()
        .filter(|r| r["kind"] == "revoke")
        .map(|r| r["issuer"].as_str().unwrap_or("").to_string())
        .collect();
    for issuer in [
        "github",
        "gitlab",
        "slack",
        "huggingface",
        "npm",
        "doppler",
        "vault",
        "google",
        "openai",
        "anthropic",
    ] {
        assert!(
            revokes.iter().any(|i| i == issuer),
            "no revoke call to {issuer}: {revokes:?}"
        );
    }
    for r in sim.recorded() {
        let line = r.to_string();
        for s in &all {
            assert!(
                !line.contains(s.as_str()),
                "the simulator's record holds a secret"
            );
        }
    }

    let out = run_in(dir.path(), &["report", "--json", "--data-dir", "data"], None);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["time_to_revoke"]["count"], 11, "{r:#}");
}

/// The simulator's scripted faults, as `quench simulate` users stage them over HTTP: each fires
/// for as many requests of its kind as it says, in order, then the issuer answers normally; a
/// 429 carries the `Retry-After` the script names; a malformed script is refused with a reason.
#[test]
fn scripted_faults_fire_in_order_for_their_kind_then_the_issuer_answers() {
    let mut g = Gen::new(78);
    let gh = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{gh}\"\nprincipal = \"octo\"\n\n\
         [[simulator.script]]\nissuer = \"github\"\non = \"revoke\"\nfault = \"503\"\ntimes = 2\n"
    ));
    let (s, body) = sim.request(
        "POST",
        "/_sim/script",
        &[("content-type", "application/json")],
        r#"{"issuer":"github","on":"revoke","fault":"429","retry_after":7}"#,
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = sim.request(
        "POST",
        "/_sim/script",
        &[],
        r#"{"issuer":"github","fault":"teapot"}"#,
    );
    assert_eq!(s, 400);
    assert!(body.contains("unknown fault \"teapot\""), "{body}");

    let revoke = format!(r#"{{"credentials":["{gh}"]}}"#);
    let bearer = format!("Bearer {gh}");
    // A verify call is not a revoke call: the scripts wait.
    let (s, _) = sim.request("GET", "/github/user", &[("authorization", &bearer)], "");
    assert_eq!(s, 200);
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(sim.request("POST", "/github/credentials/revoke", &[], &revoke).0);
    }
    assert_eq!(statuses, vec![503, 503, 429, 202]);
    let raw = fv::http_raw(
        &sim.url,
        "POST",
        "/_sim/script",
        r#"{"issuer":"github","on":"revoke","fault":"429","retry_after":7}"#,
    );
    assert_eq!(raw.0, 200);
    let raw = fv::http_raw(&sim.url, "POST", "/github/credentials/revoke", &revoke);
    assert!(raw.1.to_ascii_lowercase().contains("retry-after: 7"), "{}", raw.1);
    let (s, _) = sim.request("GET", "/github/user", &[("authorization", &bearer)], "");
    assert_eq!(s, 401, "revoked after the faults passed");
    let (_, seen) = sim.request("GET", "/_sim/requests", &[], "");
    assert!(
        !seen.contains(&gh),
        "the request log names keys by position: {seen}"
    );

    // keys.toml is checked when the simulator starts.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("keys.toml"),
        "[[simulator.script]]\nissuer = \"github\"\non = \"sometimes\"\nfault = \"503\"\n",
    )
    .unwrap();
    let out = run_in(
        tmp.path(),
        &["simulate", "--keys", "keys.toml", "--listen", "127.0.0.1:0"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keys.toml") && err.contains("\"sometimes\""),
        "{err}"
    );
}
