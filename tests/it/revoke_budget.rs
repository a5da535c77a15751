//! Rate-limited revoke endpoints: GitHub's public `POST /credentials/revoke` allows 60 requests
//! an hour. The budget is data in the issuer registry, counted in the store (so it holds across
//! runs and processes); calls past it are not sent, and their jobs are deferred, not failed. A
//! 429 from such an endpoint holds every runner until its `Retry-After`.

use crate::common;

use common::fake::{self, Gen};
use common::fake_store::{repo_with_tokens, stored_findings, GITHUB_RECIPES, REVOKE_SCAN};
use common::fake_verify::SimProc;
use common::run_in;
use common::sim_github::SimGithub;

fn finding<'a>(fs: &'a [serde_json::Value], rule: &str, secret: &str) -> &'a serde_json::Value {
    let fp = common::fingerprint(rule, secret.as_bytes());
    fs.iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .unwrap_or_else(|| panic!("no finding for {rule}: {fs:?}"))
}

/// Accepted revoke calls the simulator received, each as the key indices it carried.
fn revoke_calls(sim: &SimProc) -> Vec<Vec<u64>> {
    sim.recorded()
        .iter()
        .filter(|r| r["kind"] == "revoke" && r["status"] == 202)
        .map(|r| {
            r["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_u64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn calls_past_the_hourly_budget_are_deferred_across_runs_not_failed() {
    let mut g = Gen::new(606);
    let tokens: Vec<String> = (0..3).map(|_| fake::github(&mut g, "ghp")).collect();
    let keys: String = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| format!("[[key]]\nissuer = \"github\"\nsecret = \"{t}\"\nprincipal = \"user{i}\"\n"))
        .collect();
    let sim = SimProc::start(&keys);
    // A budget of two requests an hour instead of GitHub's 60, by config override.
    let policy = sim.extra_config(
        "policy.toml",
        "[issuers.github]\nrevoke_per_hour = 2\n[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nwait_secs = 1\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tree")).unwrap();
    let scan = |n: usize| {
        // Each run leaks one more key: three runs, three separate requests.
        std::fs::write(
            dir.path().join(format!("tree/leak{n}.txt")),
            format!("token: {}\n", tokens[n]),
        )
        .unwrap();
        let out = common::quench()
            .current_dir(dir.path())
            .args([
                "scan",
                "tree",
                "--verify",
                "--revoke",
                "--data-dir",
                "data",
                "--config",
            ])
            .arg(&sim.config)
            .arg("--config")
            .arg(&policy)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = scan(0);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    let err = scan(1);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    let err = scan(2);
    assert!(err.contains("0 revoked") && err.contains("1 deferred"), "{err}");
    assert_eq!(
        revoke_calls(&sim),
        vec![vec![0], vec![1]],
        "the third request would exceed the budget"
    );

    let fs = stored_findings(dir.path());
    let third = finding(&fs, "github.pat-classic", &tokens[2]);
    assert_eq!(third["status"], "revoking", "{third:#}");
    let job = &third["jobs"][0];
    assert_eq!(job["state"], "queued", "deferred, not failed: {job:#}");
    assert_eq!(job["calls"], 0, "{job:#}");
    assert_eq!(job["attempts"], 0, "a deferral is not an attempt: {job:#}");
    let reason = job["reason"].as_str().unwrap();
    assert!(
        reason.contains("revoke budget (2 requests an hour") && reason.contains("deferred until"),
        "{reason}"
    );
    assert!(third["timeline"]["revoke_requested"].is_null(), "{third:#}");
    let audit: Vec<&str> = third["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(audit.contains(&"deferred"), "{audit:?}");

    // An operator's run in another process reads the same budget from the store: still
    // nothing is sent.
    let out = common::quench()
        .current_dir(dir.path())
        .args(["revoke", "--data-dir", "data", "--config"])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 deferred"), "{err}");
    assert_eq!(revoke_calls(&sim).len(), 2);
    let fs = stored_findings(dir.path());
    assert_eq!(
        finding(&fs, "github.pat-classic", &tokens[2])["jobs"][0]["state"],
        "queued"
    );
}

#[test]
fn a_429_holds_the_endpoint_until_retry_after_for_every_process() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 31, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], "alice")]);
    issuer.script(quench::simulate::Script {
        issuer: "github".into(),
        on: "revoke".into(),
        fault: "429".into(),
        times: 1,
        retry_after: Some(2),
        delay_ms: None,
    });
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{}\"\n[revoke]\nmode = \"auto\"\nwait_secs = 0\n",
            issuer.url
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = run_in(tmp.path(), args, None);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(REVOKE_SCAN);
    assert!(err.contains("1 deferred"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 1);
    let fs = stored_findings(tmp.path());
    let f = finding(&fs, "test.token", &t[0]);
    let reason = f["jobs"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("answered 429"), "{reason}");
    assert_eq!(f["jobs"][0]["state"], "queued");

    // Another process, during the pause: nothing goes out.
    let revoke = [
        "revoke",
        "--rules",
        "rules",
        "--config",
        "quench.toml",
        "--data-dir",
        "data",
    ];
    let err = run(&revoke);
    assert!(err.contains("1 deferred"), "{err}");
    assert_eq!(
        issuer.count("POST", "/credentials/revoke"),
        1,
        "sent during the pause"
    );
    assert!(issuer.is_live(&t[0]));

    // After Retry-After (2 s), the call goes and the key dies.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let err = run(&revoke);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert_eq!(issuer.count("POST", "/credentials/revoke"), 2);
    assert!(!issuer.is_live(&t[0]));
}
