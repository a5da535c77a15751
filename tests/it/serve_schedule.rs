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

/// On a shared store, each service's schedule queues the sweep rather than sweeping alone: two
/// services on one database, both scheduled, scan the repository's blob once between them
/// (whichever queued it, whichever took it; a second queueing after the first sweep finds
/// nothing new).
#[test]
fn scheduled_sweeps_on_a_shared_store_are_queued_and_scan_each_blob_once() {
    let db = quench::store::pgtest::ScratchDb::require();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("nightly");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    commit(&repo, &[("a.txt", "alpha\n")], "c");
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        "[serve]\nworkers = 0\nschedule = \"* * * * *\"\n\n[sweep]\nrepos = [\"nightly\"]\n",
    )
    .unwrap();
    let start = |host: &str| {
        Server::start(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                tmp.path().join(host).to_str().unwrap(),
                "--store",
                &db.url,
            ],
            &[],
        )
    };
    let (mut a, mut b) = (start("host-a"), start("host-b"));
    a.wait_for("repositories queued for the workers");
    b.wait_for("repositories queued for the workers");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let swept = |a: &Server, b: &Server| -> Vec<String> {
        [a, b]
            .iter()
            .flat_map(|s| {
                s.log_text()
                    .lines()
                    .filter(|l| l.contains("sweep: nightly:") && l.contains("blob(s) scanned"))
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    while swept(&a, &b).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "not swept:\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lines = swept(&a, &b);
    let blobs: usize = lines
        .iter()
        .map(|l| l.contains("1 blob(s) scanned") as usize)
        .sum();
    assert_eq!(blobs, 1, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("1 blob(s) scanned") || l.contains("0 blob(s) scanned")),
        "{lines:#?}"
    );
}
