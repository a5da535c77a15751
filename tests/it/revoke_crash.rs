//! A process killed mid-revocation (kill -9) leaves its job in the store; the next run resumes
//! it and the key ends revoked exactly once in effect.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::fake_store::{repo_with_tokens, stored_findings, GITHUB_RECIPES, STORE_SCAN};
use common::sim_github::SimGithub;
use common::{quench, run_in};

/// Scans with `--revoke`, kills quench with SIGKILL once the issuer has received the revoke
/// call, then runs `quench revoke` to resume. Returns the resumed run's stderr.
fn kill_mid_call_then_resume(issuer: &SimGithub, dir: &std::path::Path) -> String {
    std::fs::write(
        dir.join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{}\"\n[revoke]\nbackoff_secs = 0.05\ntimeout_secs = 30\n",
            issuer.url
        ),
    )
    .unwrap();
    let mut child = quench()
        .current_dir(dir)
        .args(STORE_SCAN)
        .arg("--revoke")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while issuer.count("POST", "/credentials/revoke") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the revoke call never arrived"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "quench exited before the revoke call"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs.
    child.wait().unwrap();

    let out = run_in(
        dir,
        &[
            "revoke",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

fn job(dir: &std::path::Path) -> serde_json::Value {
    let fs = stored_findings(dir);
    assert_eq!(fs[0]["status"], "revoked", "{fs:?}");
    fs[0]["jobs"][0].clone()
}

#[test]
fn killed_after_the_issuer_acted_resumes_without_a_second_call() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 21, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    issuer.fail_revokes("hang-after", 1);
    let err = kill_mid_call_then_resume(&issuer, tmp.path());
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert!(!issuer.is_live(&t[0]));
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        1,
        "the resumed job called again"
    );
    let j = job(tmp.path());
    assert_eq!(j["state"], "done");
    assert_eq!(
        j["attempts"], 2,
        "the job was claimed by the killed run and the resumed one"
    );
}

#[test]
fn killed_before_the_issuer_acted_resumes_and_revokes_once() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 22, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    issuer.fail_revokes("hang", 1);
    let err = kill_mid_call_then_resume(&issuer, tmp.path());
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert!(!issuer.is_live(&t[0]));
    // The lost call never took effect; the resumed job made the one that did.
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 2);
    assert_eq!(job(tmp.path())["state"], "done");
}
