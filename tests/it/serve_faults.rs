//! `quench serve` under hostile pushes and faults: no push can stop the service, and no
//! accepted push is lost.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{github_push, Remote, Server, ZERO};

const SECRET: &str = "test-webhook-secret";

fn config(dir: &std::path::Path, extra: &str) -> String {
    let path = dir.join("quench.toml");
    std::fs::write(
        &path,
        format!(
            "[serve]\ndata_dir = {:?}\nallow_remotes = [{:?}]\n{extra}",
            dir.join("data").to_str().unwrap(),
            format!("{}/**", dir.to_str().unwrap())
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn start(cfg: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--config", cfg];
    args.extend_from_slice(extra);
    Server::start(&args, &[("QUENCH_GITHUB_WEBHOOK_SECRET", SECRET)])
}

/// A push of a tree 7,000 levels deep (older git and libgit2 push it; current git refuses to):
/// before the walk was iterative this overflowed the worker's 2 MiB stack and aborted the
/// service, and every restart died again on the re-queued job.
#[test]
fn a_push_of_a_very_deep_tree_is_scanned_and_the_service_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n");
    let remote = Remote::new(tmp.path(), "deep");
    let token = fake::github(&mut Gen::new(171), "ghp");
    let deep = crate::git_deep::commit_deep_tree(&remote.bare, 7_000, &format!("GITHUB_TOKEN={token}\n"));
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "deep-1", &github_push(&remote.bare, ZERO, &deep));
    assert_eq!(status, 202);
    let done = s.wait_for("(deep-1) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");
    // The service is still up and takes the next push.
    let c2 = crate::git_deep::commit_deep_tree(&remote.bare, 1, "nothing secret\n");
    let (status, _) = s.github(SECRET, "push", "deep-2", &github_push(&remote.bare, &deep, &c2));
    assert_eq!(status, 202);
    s.wait_for("(deep-2) done");
    assert!(!s.log_text().contains(&token), "the secret reached the log");
}

/// The service's data directory holds mirrors (every secret ever pushed) and the queue: both
/// are created owner-only.
#[cfg(unix)]
#[test]
fn the_service_data_directory_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n");
    let remote = Remote::new(tmp.path(), "perm");
    let c1 = remote.commit_push(&[("a.txt", "a\n")], "a");
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "perm-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.wait_for("(perm-1) done");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = tmp.path().join("data");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("mirrors")), 0o700, "mirror cache");
    assert_eq!(mode(&data.join("queue.db")), 0o600, "queue");
}
