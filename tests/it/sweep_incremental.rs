//! `quench sweep` through the real binary: incremental sweeps over local repositories, a failing
//! repository that does not stop the others, and discovery through mock GitHub and GitLab APIs.

use crate::common;

use std::path::Path;

use common::fake::{self, Gen};
use common::fake_serve::{commit, git};

/// A work-tree repository with `files` committed.
fn repo(root: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    commit(&dir, files, "initial");
    dir
}

fn sweep(cfg: &Path) -> (i32, serde_json::Value, String) {
    let out = common::run_in(
        cfg.parent().unwrap(),
        &["sweep", "--config", cfg.to_str().unwrap(), "--format", "json"],
        None,
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn second_sweep_scans_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let token = fake::github(&mut Gen::new(1), "ghp");
    let a = repo(tmp.path(), "a", &[("a.txt", "alpha\n"), ("b.txt", "beta\n")]);
    repo(tmp.path(), "b", &[("ci.env", &format!("GH={token}\n"))]);
    let c = repo(tmp.path(), "c", &[("x.md", "x\n")]);
    commit(&c, &[("y.md", "y\n")], "second");
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nparallel = 2\nrepos = [\"a\", \"b\", \"c\"]\n",
    )
    .unwrap();

    let (code, report, stderr) = sweep(&cfg);
    assert_eq!(code, 1, "findings → exit 1; {stderr}");
    assert_eq!(report["summary"]["files_scanned"], 5, "{stderr}");
    assert_eq!(common::rule_ids(&report), ["github.pat-classic"]);
    assert_eq!(report["findings"][0]["locations"][0]["path"], "b:ci.env");
    assert!(report["findings"][0]["locations"][0]["commit"]["id"].is_string());
    assert!(!report.to_string().contains(&token), "secret in the report");

    // Only repository a changes: one modified blob, one new one.
    commit(&a, &[("a.txt", "alpha 2\n"), ("new.txt", "new\n")], "change a");
    let (code, report, stderr) = sweep(&cfg);
    assert_eq!(report["summary"]["files_scanned"], 2, "{stderr}");
    assert_eq!(code, 0, "the known finding's blob is not rescanned; {stderr}");
    assert!(
        stderr.contains("a: 1 new commit(s), 2 blob(s) scanned"),
        "{stderr}"
    );
    assert!(
        stderr.contains("b: 0 new commit(s), 0 blob(s) scanned"),
        "{stderr}"
    );

    // A revert brings back a blob scanned before: the commit is new, the content is not.
    commit(&a, &[("a.txt", "alpha\n")], "revert a");
    let (_, report, stderr) = sweep(&cfg);
    assert_eq!(report["summary"]["files_scanned"], 0, "{stderr}");
    assert!(
        stderr.contains("a: 1 new commit(s), 0 blob(s) scanned, 1 already scanned"),
        "{stderr}"
    );
}

#[test]
fn a_blob_the_mirror_cannot_read_is_retried_until_it_is_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let a = repo(tmp.path(), "a", &[("a.txt", "alpha\n")]);
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(&cfg, "[sweep]\ndata_dir = \"state\"\nrepos = [\"a\"]\n").unwrap();
    let (code, _, stderr) = sweep(&cfg);
    assert_eq!(code, 0, "{stderr}");
    let mirror = std::fs::read_dir(tmp.path().join("state/mirrors"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .expect("the mirror");

    // A new commit reaches the mirror, then one of its blobs goes missing there (git stores a
    // small fetch as loose objects).
    let token = fake::github(&mut Gen::new(4), "ghp");
    commit(
        &a,
        &[("kept.txt", "kept\n"), ("lost.env", &format!("T={token}\n"))],
        "two",
    );
    git(
        &mirror,
        &["fetch", "-q", a.to_str().unwrap(), "+refs/heads/*:refs/heads/*"],
    );
    let lost = git(&a, &["rev-parse", "HEAD:lost.env"]);
    let object = mirror.join("objects").join(&lost[..2]).join(&lost[2..]);
    std::fs::remove_file(&object).expect("the blob is a loose object");

    // The readable blob is scanned and remembered; the commit stays new while one is missing.
    for known in [0, 1] {
        let (code, report, stderr) = sweep(&cfg);
        assert_eq!(code, 2, "nothing found, but not everything was read: {stderr}");
        let line = format!(
            "a: 1 new commit(s), {} blob(s) scanned, {known} already scanned in earlier sweeps; \
             1 object(s) unreadable, retried next sweep",
            1 - known
        );
        assert!(stderr.contains(&line), "{stderr}");
        assert!(report["skipped"].to_string().contains(&lost), "{report:#}");
    }

    // Once the blob is back, it is scanned (with its finding) and the sweep moves on.
    let content = git(&a, &["cat-file", "blob", &lost]);
    let mut restore = common::fake_git::git_cmd(&mirror)
        .args(["hash-object", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    writeln!(restore.stdin.take().unwrap(), "{content}").unwrap();
    assert!(restore.wait().unwrap().success());
    let (code, report, stderr) = sweep(&cfg);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["findings"][0]["locations"][0]["path"], "a:lost.env");
    assert!(
        stderr.contains("a: 1 new commit(s), 1 blob(s) scanned, 1 already scanned"),
        "{stderr}"
    );
    assert!(!stderr.contains("unreadable"), "{stderr}");
    let (_, _, stderr) = sweep(&cfg);
    assert!(
        stderr.contains("a: 0 new commit(s), 0 blob(s) scanned"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token) && !report.to_string().contains(&token));
}

#[test]
fn a_failing_repository_is_reported_and_the_rest_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let token = fake::github(&mut Gen::new(2), "ghp");
    repo(tmp.path(), "good", &[("k.sh", &format!("T={token}\n"))]);
    std::fs::create_dir_all(tmp.path().join("not-a-repo")).unwrap();
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nrepos = [\"missing\", \"not-a-repo\", \"good\"]\n",
    )
    .unwrap();
    let (code, report, stderr) = sweep(&cfg);
    assert_eq!(code, 2, "a failed repository is an error exit; {stderr}");
    assert_eq!(common::rule_ids(&report), ["github.pat-classic"], "{stderr}");
    assert!(stderr.contains("missing: failed:"), "{stderr}");
    assert!(stderr.contains("not-a-repo: failed:"), "{stderr}");
    let notes = report["summary"]["notes"].to_string();
    assert!(notes.contains("missing: failed"), "{notes}");
}

#[test]
fn allow_remotes_restricts_listed_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    repo(tmp.path(), "r", &[("f", "x\n")]);
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nrepos = [\"r\"]\nallow_remotes = [\"https://github.com/acme/*\"]\n",
    )
    .unwrap();
    let (code, _, stderr) = sweep(&cfg);
    assert_eq!(code, 2);
    assert!(stderr.contains("not in [sweep] allow_remotes"), "{stderr}");
}

/// Serves a GitHub org listing in two pages (Link header) and a GitLab group in two pages
/// (X-Next-Page), each repository a local path.
fn mock_apis(repos: Vec<String>) -> String {
    use axum::extract::Query;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use axum::Json;
    use std::collections::HashMap;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let base = format!("http://{addr}");
    let gh = repos.clone();
    let gl = repos;
    let app = axum::Router::new()
        .route(
            "/orgs/acme/repos",
            get(move |Query(q): Query<HashMap<String, String>>, h: HeaderMap| {
                let gh = gh.clone();
                let base = base.clone();
                async move {
                    assert_eq!(h.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer gh-test-token"));
                    let page = q.get("page").map(String::as_str).unwrap_or("1");
                    let item = |i: usize| serde_json::json!({"full_name": format!("acme/r{i}"), "clone_url": gh[i], "archived": false});
                    let mut headers = HeaderMap::new();
                    if page == "1" {
                        let link = format!("<{base}/orgs/acme/repos?per_page=100&page=2>; rel=\"next\"");
                        headers.insert("link", link.parse().unwrap());
                        (headers, Json(serde_json::json!([item(0)])))
                    } else {
                        (headers, Json(serde_json::json!([item(1), {"full_name": "acme/old", "clone_url": "/nowhere", "archived": true}])))
                    }
                }
            }),
        )
        .route(
            "/api/v4/groups/7/projects",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let gl = gl.clone();
                async move {
                    let page = q.get("page").map(String::as_str).unwrap_or("1");
                    let mut headers = HeaderMap::new();
                    if page == "1" {
                        headers.insert("x-next-page", "2".parse().unwrap());
                        (headers, Json(serde_json::json!([])))
                    } else {
                        headers.insert("x-next-page", "".parse().unwrap());
                        (headers, Json(serde_json::json!([{"path_with_namespace": "grp/r2", "http_url_to_repo": gl[2]}])))
                    }
                }
            }),
        );
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

#[test]
fn discovers_repositories_through_paginated_github_and_gitlab_apis() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Gen::new(3);
    let paths: Vec<String> = (0..3)
        .map(|i| {
            let t = fake::github(&mut g, "ghp");
            repo(
                tmp.path(),
                &format!("r{i}"),
                &[("s.env", &format!("TOKEN={t}\n"))],
            )
            .to_str()
            .unwrap()
            .to_string()
        })
        .collect();
    let api = mock_apis(paths);
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sweep]\ndata_dir = \"state\"\n\n[[sweep.github]]\norg = \"acme\"\napi = \"{api}\"\ntoken_env = \"TEST_GH_TOKEN\"\n\n[[sweep.gitlab]]\ngroup = \"7\"\napi = \"{api}\"\n"
        ),
    )
    .unwrap();
    let out = common::quench()
        .current_dir(tmp.path())
        .args(["sweep", "--config", cfg.to_str().unwrap(), "--format", "json"])
        .env("TEST_GH_TOKEN", "gh-test-token")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let mut paths: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["locations"][0]["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["acme/r0:s.env", "acme/r1:s.env", "grp/r2:s.env"],
        "{stderr}"
    );
    assert!(
        !stderr.contains("acme/old"),
        "archived repositories are skipped: {stderr}"
    );
}

#[test]
fn sweep_refuses_no_progress_which_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(&cfg, "[sweep]\nrepos = []\n").unwrap();
    let out = common::run_in(
        dir.path(),
        &["sweep", "--config", cfg.to_str().unwrap(), "--no-progress"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--no-progress"), "names the flag: {stderr}");
}
