//! The end-to-end proof of issue 7: a signed push carrying a live key (live at `quench
//! simulate`) is fetched, scanned, verified and revoked by `quench serve`, and the key is dead.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{github_push, start_revoking, Remote, ZERO};
use common::fake_verify::SimProc;

#[test]
fn pushed_live_key_is_revoked_at_the_issuer() {
    let mut g = Gen::new(1234);
    let live = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let remote = Remote::new(tmp.path(), "leaky");
    let c1 = remote.commit_push(
        &[("ci/deploy.sh", &format!("export GH_TOKEN={live}\n"))],
        "deploy",
    );

    let mut s = start_revoking(tmp.path(), &sim.config, Some(1), "", "e2e");
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

    // The same key pushed again in another file is found again, but it is already revoked:
    // nothing is revoked twice, and the metrics count only what this delivery caused.
    let c2 = remote.commit_push(&[("ci/release.sh", &format!("GH_TOKEN={live}\n"))], "release");
    let (status, _) = s.github("e2e", "push", "e2e-2", &github_push(&remote.bare, &c1, &c2));
    assert_eq!(status, 202);
    s.wait_for("(e2e-2) done");
    let revokes = sim
        .recorded()
        .into_iter()
        .filter(|r| r["kind"] == "revoke")
        .count();
    assert_eq!(revokes, 1, "{}", s.log_text());
    assert_eq!(s.metric("quench_findings_total"), Some(2.0));
    assert_eq!(s.metric("quench_revocations_total"), Some(1.0));
    assert_eq!(s.metric("quench_verdicts_total{verdict=\"live\"}"), Some(1.0));
    assert_eq!(s.metric("quench_push_to_revoked_seconds_count"), Some(1.0));
}
