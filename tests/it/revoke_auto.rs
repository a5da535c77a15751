//! Automatic revocation through the real binary against a loopback issuer: policy modes,
//! confirmation by re-verification, retries, idempotence and the report.

use crate::common;

use std::path::Path;

use common::fake_store::{
    any_file_contains, repo_with_tokens, stored_findings, GITHUB_RECIPES, REVOKE_SCAN, STORE_SCAN,
};
use common::run_in;
use common::sim_github::SimGithub;

fn config(dir: &Path, issuer: &SimGithub, revoke: &str) {
    std::fs::write(
        dir.join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{}\"\n\n[revoke]\nbackoff_secs = 0.05\nbackoff_max_secs = 0.2\nwait_secs = 10\n{revoke}\n",
            issuer.url
        ),
    )
    .unwrap();
}

fn quench(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = run_in(dir, args, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status_of<'a>(fs: &'a [serde_json::Value], secret: &str) -> &'a str {
    let fp = quench_fingerprint(secret);
    fs.iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .and_then(|f| f["status"].as_str())
        .unwrap_or("missing")
}

fn quench_fingerprint(secret: &str) -> String {
    common::fingerprint("test.token", secret.as_bytes())
}

#[test]
fn mode_auto_revokes_live_keys_confirms_them_dead_and_never_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 11, 3, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "bob")]);
    config(tmp.path(), &issuer, "mode = \"auto\"");

    let (code, err) = quench(tmp.path(), REVOKE_SCAN);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2 revoked and confirmed dead"), "{err}");
    assert!(!issuer.is_live(&t[0]) && !issuer.is_live(&t[1]));
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        2,
        "one call per live key"
    );

    let fs = stored_findings(tmp.path());
    assert_eq!(status_of(&fs, &t[0]), "revoked");
    assert_eq!(status_of(&fs, &t[1]), "revoked");
    assert_eq!(
        status_of(&fs, &t[2]),
        "dead",
        "a dead key is recorded, not revoked"
    );
    let f0 = fs
        .iter()
        .find(|f| f["fingerprint"] == quench_fingerprint(&t[0]).as_str())
        .unwrap();
    assert_eq!(f0["principal"], "alice");
    for e in ["detected", "verified", "revoke_requested", "confirmed_dead"] {
        assert!(f0["timeline"][e].is_string(), "timeline lacks {e}: {f0}");
    }
    let actions: Vec<&str> = f0["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "verified",
        "revoke-queued",
        "re-verified",
        "revoke-call",
        "confirmed-dead",
    ] {
        assert!(actions.contains(&a), "audit lacks {a}: {actions:?}");
    }
    let call = f0["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "revoke-call")
        .unwrap();
    assert_eq!(call["issuer_status"], 202);
    assert_eq!(call["policy_rule"], "revoke.mode");
    for s in &t {
        assert!(
            !any_file_contains(&tmp.path().join("data"), s),
            "plaintext secret in the data dir"
        );
    }

    // A second scan finds the revoked keys again: recorded, not revoked twice.
    let (_, err) = quench(tmp.path(), STORE_SCAN);
    assert!(err.contains("2 already revoked"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 2);

    // The report shows the time-to-revoke distribution and draws it.
    let out = run_in(
        tmp.path(),
        &["report", "--json", "--data-dir", "data", "--html", "r.html"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["time_to_revoke"]["count"], 2);
    assert!(r["time_to_revoke"]["median_secs"].as_f64().unwrap() >= 0.0);
    assert!(
        r["time_to_revoke"]["p95_secs"].as_f64().unwrap()
            <= r["time_to_revoke"]["max_secs"].as_f64().unwrap()
    );
    assert_eq!(r["exposure"]["count"], 3);
    let html = std::fs::read_to_string(tmp.path().join("r.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Time to revoke"));
    assert!(
        !html.contains("src=") && !html.contains("<script") && !html.contains("href="),
        "external assets"
    );
    for s in &t {
        assert!(!html.contains(s.as_str()));
    }
}

#[test]
fn dry_run_records_and_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 12, 2, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "bob")]);
    config(tmp.path(), &issuer, "mode = \"dry-run\"");
    let (_, err) = quench(tmp.path(), STORE_SCAN);
    assert!(err.contains("2 dry-run"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 0);
    assert!(issuer.is_live(&t[0]) && issuer.is_live(&t[1]));
    let fs = stored_findings(tmp.path());
    for f in &fs {
        let audit = f["audit"].as_array().unwrap();
        let dry = audit
            .iter()
            .find(|a| a["action"] == "dry-run")
            .expect("dry-run audited");
        assert!(
            dry["detail"].as_str().unwrap().contains("/credentials/revoke"),
            "{dry}"
        );
        assert_eq!(f["jobs"][0]["state"], "dry-run");
    }
    // Named revocation honours the dry-run too.
    let fp = quench_fingerprint(&t[0]);
    let (_, err) = quench(
        tmp.path(),
        &[
            "revoke",
            "--fingerprint",
            &fp[..16],
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 0, "{err}");
}

#[test]
fn ask_mode_waits_for_approval_and_principal_selects_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 13, 3, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "alice"), (&t[2], "bob")]);
    config(
        tmp.path(),
        &issuer,
        "mode = \"auto\"\n[revoke.identity.user]\nmode = \"ask\"",
    );
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("3 awaiting approval"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 0);

    // Offboarding alice: only her keys.
    let (code, err) = quench(
        tmp.path(),
        &[
            "revoke",
            "--principal",
            "alice",
            "--as",
            "carol",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!issuer.is_live(&t[0]) && !issuer.is_live(&t[1]) && issuer.is_live(&t[2]));
    let fs = stored_findings(tmp.path());
    assert_eq!(status_of(&fs, &t[0]), "revoked");
    assert_eq!(status_of(&fs, &t[2]), "revoking");
    let f0 = fs
        .iter()
        .find(|f| f["fingerprint"] == quench_fingerprint(&t[0]).as_str())
        .unwrap();
    assert!(f0["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "approved" && a["actor"] == "operator:carol"));

    // Approving the rest.
    let (code, err) = quench(
        tmp.path(),
        &[
            "revoke",
            "--approve",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!issuer.is_live(&t[2]));
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 3);
}

#[test]
fn revoke_by_fingerprint_recovers_the_secret_from_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 14, 2, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "bob")]);
    config(tmp.path(), &issuer, "");
    // Recorded only: no policy, no secret kept.
    let (code, err) = quench(tmp.path(), STORE_SCAN);
    assert_eq!(code, 1, "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 0);
    let fp = quench_fingerprint(&t[1]);
    let (code, err) = quench(
        tmp.path(),
        &[
            "revoke",
            "--fingerprint",
            &fp,
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(issuer.is_live(&t[0]) && !issuer.is_live(&t[1]));
    assert_eq!(status_of(&stored_findings(tmp.path()), &t[1]), "revoked");
}

#[test]
fn server_errors_are_retried_with_backoff_until_confirmed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 15, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    issuer.fail_revokes("503", 2);
    config(tmp.path(), &issuer, "mode = \"auto\"");
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 3);
    let fs = stored_findings(tmp.path());
    let job = &fs[0]["jobs"][0];
    assert_eq!(job["state"], "done");
    assert_eq!(job["calls"], 3);
    let retries = fs[0]["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "retry-scheduled")
        .count();
    assert_eq!(retries, 2);
}

#[test]
fn repeated_failure_escalates_and_notifies_without_the_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 16, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    issuer.fail_revokes("503", 100);
    config(
        tmp.path(),
        &issuer,
        &format!(
            "mode = \"auto\"\nmax_attempts = 3\n\n[[notify.webhook]]\nurl = \"{}\"\nformat = \"slack\"\n\n[[notify.webhook]]\nurl = \"{}\"\nformat = \"json\"\nevents = [\"escalated\"]\n",
            issuer.hook_url(), issuer.hook_url()
        ),
    );
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("1 escalated"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 3);
    assert_eq!(status_of(&stored_findings(tmp.path()), &t[0]), "escalated");
    let hooks = issuer.hooks();
    // The Slack hook takes every event: detected, the first failure, escalated; the JSON hook
    // only the escalation.
    let slack: Vec<&str> = hooks.iter().filter_map(|h| h["text"].as_str()).collect();
    assert_eq!(slack.len(), 3, "{hooks:?}");
    for (i, e) in ["detected", "failed", "escalated"].iter().enumerate() {
        assert!(slack[i].contains(&format!("quench {e}:")), "{slack:?}");
    }
    assert_eq!(
        hooks.iter().filter(|h| h["event"].is_string()).count(),
        1,
        "{hooks:?}"
    );
    let generic = hooks.iter().find(|h| h["event"] == "escalated").unwrap();
    assert!(generic["secret_redacted"].as_str().unwrap().contains('…'));
    assert_eq!(generic["rule_id"], "test.token");
    assert!(generic["detail"]
        .as_str()
        .unwrap()
        .contains("gave up after 3 attempts"));
    for h in &hooks {
        assert!(
            !h.to_string().contains(t[0].as_str()),
            "webhook carried the secret"
        );
    }
}

#[test]
fn a_key_without_a_revocation_api_is_escalated_with_the_manual_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let manual = r#"
[rule.verify]
url = "{api}/user"
headers = { Authorization = "Bearer {secret}" }

[rule.revoke]
authority = "none"
manual = "Console > Settings > Tokens: delete the token"
"#;
    let t = repo_with_tokens(tmp.path(), 17, 1, manual);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    config(
        tmp.path(),
        &issuer,
        &format!(
            "mode = \"auto\"\n\n[[notify.webhook]]\nurl = \"{}\"\nevents = [\"escalated\"]\n",
            issuer.hook_url()
        ),
    );
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("1 escalated"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 0);
    assert_eq!(status_of(&stored_findings(tmp.path()), &t[0]), "escalated");
    let hooks = issuer.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Console > Settings > Tokens"),
        "{hooks:?}"
    );
}

#[test]
fn batched_recipes_share_one_call_between_concurrent_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let batched = GITHUB_RECIPES.replace("ok = { status = [202] }", "ok = { status = [202] }\nbatch = 1000");
    let t = repo_with_tokens(tmp.path(), 18, 3, &batched);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "bob"), (&t[2], "carol")]);
    // Each call stays out long enough for the other jobs to arrive, however the machine
    // schedules them (the calls run on their own runtime, in parallel with the jobs).
    issuer.script(quench::simulate::Script {
        issuer: "github".into(),
        on: "revoke".into(),
        fault: "slow".into(),
        times: 3,
        retry_after: None,
        delay_ms: Some(500),
    });
    config(tmp.path(), &issuer, "mode = \"auto\"");
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("3 revoked and confirmed dead"), "{err}");
    // The first job finds the endpoint idle and sends at once, alone; the two that arrive
    // while its call is out share the next one.
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        2,
        "one request for the first key, one for the keys that queued behind it"
    );
    assert!(t.iter().all(|s| !issuer.is_live(s)));
    // Each job still records its own attempt.
    let fs = stored_findings(tmp.path());
    assert!(fs.iter().all(|f| f["jobs"][0]["calls"] == 1), "{fs:?}");
}

/// Verification during the scan, the revoke call and the check that confirms the key dead run
/// on different runtimes but share the process's one HTTP client, so they share one
/// keep-alive connection to the issuer (quench used to open one per component).
#[test]
fn verification_and_revocation_share_one_connection_to_the_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 19, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    config(tmp.path(), &issuer, "mode = \"auto\"");
    let (_, err) = quench(tmp.path(), REVOKE_SCAN);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert_eq!(issuer.count("GET", "/user"), 2, "verified, then confirmed dead");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 1);
    assert_eq!(issuer.connections(), 1, "every request on one connection");
}

#[test]
fn a_key_revoked_while_the_scan_runs_is_announced_detected_first() {
    // With --verify, revocation starts as each verdict arrives, before the scan ends; the
    // webhook still hears of each finding before it hears it was revoked.
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 23, 2, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice"), (&t[1], "bob")]);
    config(
        tmp.path(),
        &issuer,
        &format!(
            "mode = \"auto\"\n\n[[notify.webhook]]\nurl = \"{}\"\nformat = \"json\"\n",
            issuer.hook_url()
        ),
    );
    let mut scan = REVOKE_SCAN.to_vec();
    scan.push("--verify");
    let (_, err) = quench(tmp.path(), &scan);
    assert!(err.contains("2 revoked and confirmed dead"), "{err}");
    let hooks = issuer.hooks();
    for secret in &t {
        let fp = quench_fingerprint(secret);
        let events: Vec<&str> = hooks
            .iter()
            .filter(|h| h["fingerprint"] == fp.as_str())
            .filter_map(|h| h["event"].as_str())
            .collect();
        assert_eq!(events, vec!["detected", "revoked"], "{hooks:#?}");
    }
}
