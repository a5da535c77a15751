//! `quench serve` runs sweeps on its cron schedule, from the same process as the webhooks.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{commit, git, Server};

#[test]
fn scheduled_sweep_runs_from_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("nightly");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let token = fake::github(&mut Gen::new(5), "ghp");
    commit(&repo, &[("env", &format!("T={token}\n"))], "c");
    let cfg = tmp.path().join("quench.toml");
    // Every minute: the first sweep starts at the next minute boundary.
    std::fs::write(
        &cfg,
        "[serve]\ndata_dir = \"data\"\nworkers = 0\nschedule = \"* * * * *\"\n\n[sweep]\nrepos = [\"nightly\"]\n",
    )
    .unwrap();
    let mut s = Server::start(&["--config", cfg.to_str().unwrap()], &[]);
    s.wait_for("schedule: next sweep at");
    let line = s.wait_for("sweep: nightly:");
    assert!(line.contains("1 blob(s) scanned"), "{line}");
    let finding = s.wait_for("sweep finding:");
    assert!(
        finding.contains("rule=github.pat-classic") && finding.contains("nightly:env:1"),
        "{finding}"
    );
    assert!(!s.log_text().contains(&token));
    s.wait_for("schedule: sweep finished");
    assert_eq!(s.metric("quench_sweeps_total{outcome=\"ok\"}"), Some(1.0));
}

#[test]
fn a_bad_schedule_is_refused_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        "[serve]\ndata_dir = \"data\"\nschedule = \"61 * * * *\"\n[sweep]\nrepos = [\"x\"]\n",
    )
    .unwrap();
    let out = common::run_in(
        tmp.path(),
        &[
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[serve] schedule") && err.contains("minute"),
        "{err}"
    );
}
