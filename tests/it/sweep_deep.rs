//! `quench sweep` over a repository whose tree is 10,000 levels deep, beside an ordinary one:
//! before the walk was iterative the sweep died of a stack overflow and lost every other
//! repository of the sweep with it.

use crate::common;

use common::fake::{self, Gen};

#[test]
fn a_very_deep_tree_does_not_stop_the_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("deep.git");
    git2::Repository::init_bare(&deep).unwrap();
    let token = fake::github(&mut Gen::new(176), "ghp");
    crate::git_deep::commit_deep_tree(&deep, 10_000, &format!("GITHUB_TOKEN={token}\n"));
    let plain = tmp.path().join("plain.git");
    git2::Repository::init_bare(&plain).unwrap();
    crate::git_deep::commit_deep_tree(&plain, 1, "nothing here\n");
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nparallel = 2\nrepos = [\"deep.git\", \"plain.git\"]\n",
    )
    .unwrap();
    let out = common::run_in(
        tmp.path(),
        &["sweep", "--config", cfg.to_str().unwrap(), "--format", "json"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one finding, no crash: {stderr}");
    assert!(
        stderr.contains("deep.git: 1 new commit(s), 1 blob(s) scanned"),
        "{stderr}"
    );
    assert!(
        stderr.contains("plain.git: 1 new commit(s), 1 blob(s) scanned"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = report["findings"][0]["locations"][0]["path"].as_str().unwrap();
    assert!(
        path.ends_with("/d/deep.env"),
        "{}",
        &path[path.len().saturating_sub(40)..]
    );
}
