//! The end-to-end proof of issue 7: a signed push carrying a live key (live at `quench
//! simulate`) is fetched, scanned, verified and revoked by `quench serve`, and the key is dead.

mod common;

use common::fake::{self, Gen};
use common::fake_serve::{github_push, Remote, Server, ZERO};
use common::fake_verify::SimProc;

#[test]
fn pushed_live_key_is_revoked_at_the_issuer() {
    let mut g = Gen::new(1234);
    let live = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\ndata_dir = {:?}\nallow_remotes = [{:?}]\nworkers = 1\n",
            tmp.path().join("data").to_str().unwrap(),
            format!("{}/**", tmp.path().to_str().unwrap())
        ),
    )
    .unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\n",
    );
    let remote = Remote::new(tmp.path(), "leaky");
    let c1 = remote.commit_push(
        &[("ci/deploy.sh", &format!("export GH_TOKEN={live}\n"))],
        "deploy",
    );

    let mut s = Server::start(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--config",
            sim.config.to_str().unwrap(),
            "--config",
            policy.to_str().unwrap(),
        ],
        &[("QUENCH_GITHUB_WEBHOOK_SECRET", "e2e")],
    );
    let (status, _) = s.github("e2e", "push", "e2e-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.wait_for("(e2e-1) done");

    let revokes: Vec<_> = sim
        .recorded()
        .into_iter()
        .filter(|r| r["kind"] == "revoke")
        .collect();
    assert_eq!(
        revokes.len(),
        1,
        "simulator saw {:?}\n{}",
        sim.recorded(),
        s.log_text()
    );
    assert_eq!(revokes[0]["issuer"], "github");
    let out = common::run_in(
        tmp.path(),
        &[
            "findings",
            "--json",
            "--data-dir",
            tmp.path().join("data").to_str().unwrap(),
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["rule_id"], "github.pat-classic", "{v:#}");
    assert_eq!(f["status"], "revoked", "{v:#}\n{}", s.log_text());
    assert!(!s.log_text().contains(&live), "the key reached the log");
    assert_eq!(s.metric("quench_revocations_total"), Some(1.0));
    assert_eq!(s.metric("quench_verdicts_total{verdict=\"live\"}"), Some(1.0));
    assert_eq!(s.metric("quench_push_to_revoked_seconds_count"), Some(1.0));
}
