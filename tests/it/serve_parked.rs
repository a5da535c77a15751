//! Parked deliveries — pushes whose every attempt failed, so their findings were never
//! recorded — are shown by `quench findings`, next to what the store holds.

use crate::common;

use common::fake_serve::{github_push, Remote, Server, ZERO};

const SECRET: &str = "test-webhook-secret";

#[test]
fn quench_findings_lists_the_deliveries_the_service_parked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\nworkers = 1\nretry_attempts = 1\ndata_dir = {:?}\nallow_remotes = [{:?}]\n\n[store]\nenabled = true\n",
            data.to_str().unwrap(),
            format!("{}/**", tmp.path().to_str().unwrap())
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let remote = Remote::new(tmp.path(), "gone");
    let c1 = remote.commit_push(&[("a.txt", "a\n")], "a");
    // The payload names a remote that is not there: every fetch fails.
    std::fs::remove_dir_all(&remote.bare).unwrap();
    let mut s = Server::start(&["--config", cfg], &[("QUENCH_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let (status, _) = s.github(SECRET, "push", "lost-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.wait_for("(lost-1) failed (attempt 1)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.metric("quench_queue_jobs{state=\"failed\"}") != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "not parked:\n{}",
            s.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(s);

    let out = common::quench()
        .args(["findings", "--config", cfg, "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.contains("lost-1"))
        .unwrap_or_else(|| panic!("the parked delivery is not listed:\n{stdout}"));
    assert!(
        line.contains("acme/app") && line.contains("refs/heads/main") && line.contains(&c1[..12]),
        "{line}"
    );
    assert!(line.contains("1 attempt(s)"), "{line}");
    assert!(stdout.contains("1 parked delivery"), "{stdout}");

    let out = common::quench()
        .args([
            "findings",
            "--config",
            cfg,
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parked = doc["parked_deliveries"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{doc:#}");
    assert_eq!(parked[0]["delivery"], "lost-1");
    assert_eq!(parked[0]["after"], c1.as_str());
    assert!(!parked[0]["error"].as_str().unwrap().is_empty(), "{doc:#}");
}
