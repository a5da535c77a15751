//! `quench serve` through the real binary: webhook security, a signed push producing a finding,
//! replayed deliveries, crash recovery and graceful shutdown.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{git, github_push, Remote, Server, ZERO};

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

#[test]
fn refuses_unsigned_forged_oversized_malformed_and_disallowed_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "max_body_bytes = 2048\nworkers = 0\n");
    let s = start(&cfg, &[]);
    // A marker that must never reach the log: bodies are not logged.
    let marker = fake::github(&mut Gen::new(7), "ghp");
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"{ZERO}","after":"{}","note":"{marker}","repository":{{"full_name":"a/b","clone_url":"{}"}}}}"#,
        "1".repeat(40),
        tmp.path().join("r.git").display()
    );

    let (status, _) = s.github(SECRET, "ping", "p-1", r#"{"zen":"hi"}"#);
    assert_eq!(status, 200, "ping is answered");

    let (status, _) = s.post(
        "/hooks/github",
        &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-unsigned")],
        body.as_bytes(),
    );
    assert_eq!(status, 401, "unsigned");
    let (status, _) = s.github("wrong-secret", "push", "d-forged", &body);
    assert_eq!(status, 401, "signed with another secret");
    let sig = quench::server::auth::github_sign(SECRET.as_bytes(), body.as_bytes());
    let (status, _) = s.post(
        "/hooks/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d-tampered"),
            ("X-Hub-Signature-256", &sig),
        ],
        format!("{body} ").as_bytes(),
    );
    assert_eq!(status, 401, "body changed after signing");

    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096));
    let (status, _) = s.github(SECRET, "push", "d-big", &big);
    assert_eq!(status, 413, "over max_body_bytes");

    let (status, _) = s.github(SECRET, "push", "d-bad-json", &format!("{{\"note\":\"{marker}\""));
    assert_eq!(status, 400, "malformed JSON");
    let (status, _) = s.github(SECRET, "push", "d-no-repo", r#"{"ref":"refs/heads/main"}"#);
    assert_eq!(status, 400, "push without repository");

    let elsewhere = github_push(std::path::Path::new("/srv/other/repo.git"), ZERO, &"2".repeat(40));
    let (status, _) = s.github(SECRET, "push", "d-remote", &elsewhere);
    assert_eq!(status, 403, "remote outside the allow-list");

    let (status, _) = s.github(SECRET, "push", "d-ok", &body);
    assert_eq!(status, 202, "a good delivery is queued");

    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"unauthorized\"}"),
        Some(3.0)
    );
    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"too_large\"}"),
        Some(1.0)
    );
    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"malformed\"}"),
        Some(2.0)
    );
    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"remote_not_allowed\"}"),
        Some(1.0)
    );
    assert_eq!(s.metric("quench_queue_jobs{state=\"queued\"}"), Some(1.0));
    let log = s.log_text();
    assert!(
        log.contains("d-forged") && log.contains("does not match"),
        "refusals are logged:\n{log}"
    );
    assert!(!log.contains(&marker), "a request body reached the log:\n{log}");
    assert_eq!(s.get("/healthz").0, 200);
}

#[test]
fn gitlab_token_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 0\n");
    let s = Server::start(
        &["--config", &cfg],
        &[("QUENCH_GITLAB_WEBHOOK_TOKEN", "gl-token")],
    );
    let body = serde_json::json!({
        "object_kind": "push", "ref": "refs/heads/main", "before": ZERO, "after": "3".repeat(40),
        "project": { "path_with_namespace": "g/p", "git_http_url": tmp.path().join("p.git").to_str().unwrap() },
    })
    .to_string();
    let push = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Event-UUID", "u-1")];
    let (status, _) = s.post("/hooks/gitlab", &push, body.as_bytes());
    assert_eq!(status, 401, "no token");
    let (status, _) = s.post(
        "/hooks/gitlab",
        &[push[0], push[1], ("X-Gitlab-Token", "gl-tokex")],
        body.as_bytes(),
    );
    assert_eq!(status, 401, "wrong token");
    let (status, _) = s.post(
        "/hooks/gitlab",
        &[push[0], push[1], ("X-Gitlab-Token", "gl-token")],
        body.as_bytes(),
    );
    assert_eq!(status, 202);
    let (status, _) = s.post(
        "/hooks/gitlab",
        &[push[0], push[1], ("X-Gitlab-Token", "gl-token")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "same event UUID again is a duplicate");
    // GitHub deliveries are refused when only GitLab is configured.
    assert_eq!(s.github(SECRET, "ping", "p", "{}").0, 401);
}

#[test]
fn signed_push_is_scanned_and_replays_are_not_queued_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n");
    let remote = Remote::new(tmp.path(), "app");
    let token = fake::github(&mut Gen::new(42), "ghp");
    let c1 = remote.commit_push(
        &[
            ("README.md", "hello\n"),
            ("deploy/env.sh", &format!("export GITHUB_TOKEN={token}\n")),
        ],
        "add deploy script",
    );
    let mut s = start(&cfg, &[]);
    let body = github_push(&remote.bare, ZERO, &c1);
    let (status, resp) = s.github(SECRET, "push", "delivery-1", &body);
    assert_eq!(status, 202, "{resp}");
    let done = s.wait_for("(delivery-1) done");
    assert!(done.contains("2 blob(s) scanned, 1 finding(s)"), "{done}");
    let finding = s.wait_for("finding in acme/app");
    assert!(finding.contains("rule=github.pat-classic"), "{finding}");
    assert!(finding.contains("acme/app:deploy/env.sh:1"), "{finding}");
    assert!(finding.contains(&c1), "{finding}");

    let (status, resp) = s.github(SECRET, "push", "delivery-1", &body);
    assert_eq!(status, 200, "replay answered without queueing: {resp}");
    assert!(resp.contains("duplicate"), "{resp}");
    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"duplicate\"}"),
        Some(1.0)
    );

    // The next push scans only what it introduced: one changed blob, no secret.
    let c2 = remote.commit_push(&[("README.md", "hello again\n")], "docs");
    let (status, _) = s.github(SECRET, "push", "delivery-2", &github_push(&remote.bare, &c1, &c2));
    assert_eq!(status, 202);
    let done = s.wait_for("(delivery-2) done");
    assert!(done.contains("1 blob(s) scanned, 0 finding(s)"), "{done}");

    // A new branch from main with one new commit: only that commit's blob.
    git(&remote.work, &["checkout", "-q", "-b", "feature"]);
    let c3 = common::fake_serve::commit(&remote.work, &[("notes.txt", "wip\n")], "wip");
    git(&remote.work, &["push", "-q", "origin", "feature"]);
    let mut ev: serde_json::Value = serde_json::from_str(&github_push(&remote.bare, ZERO, &c3)).unwrap();
    ev["ref"] = "refs/heads/feature".into();
    let (status, _) = s.github(SECRET, "push", "delivery-3", &ev.to_string());
    assert_eq!(status, 202);
    let done = s.wait_for("(delivery-3) done");
    assert!(done.contains("1 blob(s) scanned, 0 finding(s)"), "{done}");

    assert_eq!(s.metric("quench_findings_total"), Some(1.0));
    assert_eq!(s.metric("quench_scans_total{outcome=\"ok\"}"), Some(3.0));
    assert!(!s.log_text().contains(&token), "the secret reached the log");
    assert_eq!(
        s.terminate(),
        Some(0),
        "SIGTERM is a clean exit:\n{}",
        s.log_text()
    );
    assert!(s.log_text().contains("stopped"));
}

#[test]
fn deliveries_survive_kill_9_and_resume_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let remote = Remote::new(tmp.path(), "svc");
    let token = fake::github(&mut Gen::new(9), "ghp");
    let c1 = remote.commit_push(&[("config.yml", &format!("token: {token}\n"))], "config");

    // An ingest-only instance acknowledges the delivery, then dies without a chance to clean up.
    let mut s = start(&cfg, &["--workers", "0"]);
    let (status, _) = s.github(SECRET, "push", "crash-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    drop(s);

    let mut s = start(&cfg, &["--workers", "1"]);
    let done = s.wait_for("(crash-1) done");
    assert!(done.contains("1 finding(s)"), "{done}");
    // The restarted service still knows the delivery: a redelivery is a duplicate.
    let (status, _) = s.github(SECRET, "push", "crash-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 200);
}

#[test]
fn force_pushes_and_tags_scan_what_they_introduce() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n");
    let remote = Remote::new(tmp.path(), "lib");
    let c1 = remote.commit_push(&[("a.txt", "one\n")], "one");
    let c2 = remote.commit_push(&[("b.txt", "two\n")], "two");
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "f-1", &github_push(&remote.bare, ZERO, &c2));
    assert_eq!(status, 202);
    assert!(s.wait_for("(f-1) done").contains("2 blob(s) scanned"));

    // Rewrite the last commit so that it now carries a key, and force-push it.
    let token = fake::github(&mut Gen::new(11), "ghp");
    git(&remote.work, &["reset", "-q", "--hard", &c1]);
    let c2b = common::fake_serve::commit(
        &remote.work,
        &[("b.txt", &format!("two {token}\n"))],
        "two, amended",
    );
    git(
        &remote.work,
        &["push", "-q", "--force", "origin", "HEAD:refs/heads/main"],
    );
    let mut ev: serde_json::Value = serde_json::from_str(&github_push(&remote.bare, &c2, &c2b)).unwrap();
    ev["forced"] = true.into();
    let (status, _) = s.github(SECRET, "push", "f-2", &ev.to_string());
    assert_eq!(status, 202);
    let done = s.wait_for("(f-2) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");

    // An annotated tag on a commit that is already on a branch introduces nothing.
    git(&remote.work, &["tag", "-a", "-m", "release", "v1"]);
    git(&remote.work, &["push", "-q", "origin", "v1"]);
    let tag = git(&remote.work, &["rev-parse", "v1"]);
    let mut ev: serde_json::Value = serde_json::from_str(&github_push(&remote.bare, ZERO, &tag)).unwrap();
    ev["ref"] = "refs/tags/v1".into();
    let (status, _) = s.github(SECRET, "push", "f-3", &ev.to_string());
    assert_eq!(status, 202);
    let done = s.wait_for("(f-3) done");
    assert!(done.contains("0 blob(s) scanned, 0 finding(s)"), "{done}");
}

#[test]
fn a_secret_from_a_merged_side_branch_is_attributed_to_its_own_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n");
    let remote = Remote::new(tmp.path(), "merged");
    let c1 = remote.commit_push(&[("README.md", "base\n")], "base");
    // A side branch adds a key; main moves on; the side branch is merged (not fast-forwarded),
    // and only then is main pushed.
    let token = fake::github(&mut Gen::new(31), "ghp");
    git(&remote.work, &["checkout", "-q", "-b", "side"]);
    let side = common::fake_serve::commit(
        &remote.work,
        &[("side/deploy.env", &format!("GITHUB_TOKEN={token}\n"))],
        "side: deploy env",
    );
    git(&remote.work, &["checkout", "-q", "main"]);
    common::fake_serve::commit(&remote.work, &[("main.txt", "main moves on\n")], "main");
    git(
        &remote.work,
        &["merge", "-q", "--no-ff", "-m", "merge side", "side"],
    );
    let merge = git(&remote.work, &["rev-parse", "HEAD"]);
    remote.push(&merge);

    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "m-1", &github_push(&remote.bare, &c1, &merge));
    assert_eq!(status, 202);
    let done = s.wait_for("(m-1) done");
    assert!(done.contains("2 blob(s) scanned, 1 finding(s)"), "{done}");
    let finding = s.wait_for("finding in acme/app");
    assert!(finding.contains("acme/app:side/deploy.env:1"), "{finding}");
    // The merge brought the key to main, but the side branch's commit introduced it.
    assert!(finding.ends_with(&format!("commit {side}")), "{finding}");
    assert!(!s.log_text().contains(&token), "the secret reached the log");
}

#[test]
fn with_the_store_enabled_push_findings_are_recorded_there() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 1\n\n[store]\nenabled = true\n");
    let remote = Remote::new(tmp.path(), "stored");
    let token = fake::github(&mut Gen::new(21), "ghp");
    let c1 = remote.commit_push(&[(".env", &format!("GITHUB_TOKEN={token}\n"))], "env");
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "s-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.wait_for("(s-1) done");
    let line = s.wait_for("acme/app: store ");
    assert!(line.contains("1 new"), "{line}");
    let out = common::run_in(
        tmp.path(),
        &[
            "findings",
            "--data-dir",
            tmp.path().join("data").to_str().unwrap(),
            "--json",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("github.pat-classic"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(&token) && !s.log_text().contains(&token));
}
