//! The one pipeline as a user meets it: a policy alone never revokes from `scan` or `git`
//! (only `--revoke` does), and the printed verdict is the final one.

use crate::common;

use std::path::Path;

use common::fake_store::{repo_with_tokens, stored_findings, GITHUB_RECIPES};
use common::run_in;
use common::sim_github::SimGithub;

fn policy(dir: &Path, issuer: &SimGithub) {
    std::fs::write(
        dir.join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{}\"\n\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 10\n",
            issuer.url
        ),
    )
    .unwrap();
}

fn scan(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "scan",
        "repo",
        "--verify",
        "--rules",
        "rules",
        "--config",
        "quench.toml",
        "--data-dir",
        "data",
    ];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_policy_alone_only_says_what_it_would_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 71, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    policy(tmp.path(), &issuer);

    let (code, out, err) = scan(tmp.path(), &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        0,
        "no --revoke: nothing sent to the issuer\n{err}"
    );
    assert!(issuer.is_live(&t[0]));
    assert!(err.contains("1 dry-run"), "the run says what it would do: {err}");
    assert!(out.contains("status:      live (not revoked)"), "{out}");
    let fs = stored_findings(tmp.path());
    let audit = fs[0]["audit"].as_array().unwrap();
    let dry = audit
        .iter()
        .find(|a| a["action"] == "dry-run")
        .unwrap_or_else(|| panic!("a dry-run audit entry: {audit:?}"));
    assert!(
        dry["policy_rule"].as_str().unwrap().contains("no --revoke"),
        "the audit says why nothing was sent: {dry}"
    );
}

#[test]
fn with_revoke_the_report_prints_the_final_status_not_the_first_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 72, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    policy(tmp.path(), &issuer);

    let (code, out, err) = scan(tmp.path(), &["--revoke"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 1, "{err}");
    assert!(!issuer.is_live(&t[0]));
    assert!(
        out.contains("verified:    live"),
        "the verdict is still shown: {out}"
    );
    assert!(out.contains("status:      revoked (confirmed dead)"), "{out}");

    // The JSON report carries the same status.
    let (_, json, err) = scan(tmp.path(), &["--revoke", "-f", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}\n{err}"));
    assert_eq!(doc["findings"][0]["status"], "revoked", "{doc}");
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        1,
        "revoked once, never twice"
    );
}
