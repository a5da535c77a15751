//! Issuers' answers that look like success or death and are neither, through `scan --verify`
//! in auto mode against the simulator: a revocation counts only when the issuer's body says
//! so, and an ambiguous refusal is never read as a dead key.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::{verification, SimProc};
use common::run_in;

/// `scan --verify` in auto mode over `env_file`; returns the data directory's parent and the
/// JSON report.
fn scan_auto(sim: &SimProc, env_file: &str) -> (tempfile::TempDir, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), env_file).unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n",
    );
    let out = common::quench()
        .current_dir(dir.path())
        .args([
            "scan",
            ".",
            "--verify",
            "--revoke",
            "--format",
            "json",
            "--data-dir",
            "data",
            "--config",
        ])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    (dir, report, err)
}

/// Each audit entry (action and detail) of the finding for `secret` under `rule`.
fn audit(dir: &std::path::Path, rule: &str, secret: &str) -> Vec<String> {
    let fp = crate::common::fingerprint(rule, secret.as_bytes());
    let out = run_in(
        dir,
        &["findings", "--json", "--timeline", "--data-dir", "data"],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fingerprint"] == fp.as_str())
        .flat_map(|f| f["audit"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            format!(
                "{} {}",
                a["action"].as_str().unwrap_or(""),
                a["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn status(dir: &std::path::Path, rule: &str, secret: &str) -> String {
    let fp = crate::common::fingerprint(rule, secret.as_bytes());
    let out = run_in(dir, &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .map(|f| f["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "not found".into())
}

/// Slack answers a refused `auth.revoke` with HTTP 200 and `"ok": false`: quench records the
/// refusal (with Slack's error) and hands the key to a human, instead of counting an accepted
/// revocation and waiting for a death that never comes.
#[test]
fn slack_revoke_refused_with_200_is_not_a_revocation() {
    let mut g = Gen::new(1410);
    let tok = fake::slack_bot(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"slack\"\nsecret = \"{tok}\"\nprincipal = \"bot\"\nfault = \"revoke-refused\"\n"
    ));
    let (dir, _, err) = scan_auto(&sim, &format!("SLACK_TOKEN={tok}\n"));
    let log = audit(dir.path(), "slack.bot-token", &tok);
    assert!(
        !log.iter().any(|a| a.starts_with("revoke-call accepted")),
        "a 200 with ok=false was counted as accepted: {log:#?}\n{err}"
    );
    assert!(
        log.iter()
            .any(|a| a.contains("without confirming the revocation (no_permission)")),
        "{log:#?}"
    );
    assert_eq!(
        status(dir.path(), "slack.bot-token", &tok),
        "escalated",
        "{log:#?}"
    );
}

/// A live Slack token used from an address its IP allowlist refuses reads `invalid_auth`:
/// quench says it cannot tell, and neither records the key dead nor gives up on it.
#[test]
fn slack_invalid_auth_reads_indeterminate_not_dead() {
    let mut g = Gen::new(1411);
    let tok = fake::slack_bot(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"slack\"\nsecret = \"{tok}\"\nprincipal = \"bot\"\nfault = \"ip-denied\"\n"
    ));
    let (dir, report, _) = scan_auto(&sim, &format!("SLACK_TOKEN={tok}\n"));
    let v = verification(&report, "slack.bot-token", &tok);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(v["reason"].as_str().unwrap().contains("invalid_auth"), "{v:#}");
    assert_ne!(status(dir.path(), "slack.bot-token", &tok), "dead");
}

/// Google browser and app keys (Firebase, Maps JavaScript) are public by design, restricted to
/// their referrers or apps: quench reports them and never deletes them; a server key
/// restricted to IP addresses is a secret and is deleted.
#[test]
fn google_keys_public_by_design_are_reported_not_deleted() {
    let mut g = Gen::new(1412);
    let browser = format!("AIza{}", g.alnum(35));
    let android = format!("AIza{}", g.alnum(35));
    let server = format!("AIza{}", g.alnum(35));
    let admin = format!("ya29.admin{}", g.alnum(40));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"google\"\nsecret = \"{browser}\"\nproject = \"1234567890\"\nkey_id = \"k-browser\"\nrestriction = \"browser\"\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{android}\"\nproject = \"1234567890\"\nkey_id = \"k-android\"\nrestriction = \"android\"\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{server}\"\nproject = \"1234567890\"\nkey_id = \"k-server\"\nrestriction = \"server\"\n\
         [[key]]\nissuer = \"google\"\nsecret = \"{admin}\"\nadmin = true\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.env"),
        format!("FIREBASE_API_KEY={browser}\nANDROID_MAPS_KEY={android}\nGOOGLE_API_KEY={server}\n"),
    )
    .unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n\
         [revoke.admin.google]\nenv = \"SIM_GOOGLE_ADMIN\"\n",
    );
    let out = common::revoking_scan(dir.path(), &sim.config, &policy)
        .env("SIM_GOOGLE_ADMIN", &admin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let (code, body) = sim.request("GET", "/_sim/revoked", &[], "");
    assert_eq!(code, 200);
    assert_eq!(body, "[2]", "only the server key may die: {err}");
    for (key, restriction) in [
        (&browser, "browserKeyRestrictions"),
        (&android, "androidKeyRestrictions"),
    ] {
        assert_eq!(status(dir.path(), "google.api-key", key), "escalated", "{err}");
        let log = audit(dir.path(), "google.api-key", key);
        assert!(
            log.iter()
                .any(|a| a.contains(&format!("public by design (restrictions.{restriction})"))),
            "{log:#?}"
        );
    }
    assert_eq!(status(dir.path(), "google.api-key", &server), "revoked", "{err}");
}
