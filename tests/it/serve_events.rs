//! `quench serve` driven by every push-like event a forge sends, each body in the shape GitHub
//! and GitLab document (`common::payloads`, checked against octokit/webhooks' examples and
//! GitLab's webhook documentation by `tests/it/payloads/check.py`): the first push of a branch,
//! an ordinary push, a force-push, a tag push, a branch deletion and a pull request from GitHub;
//! a push and a tag push from GitLab.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{commit, git, Remote, Server};
use common::payloads::{self, ZERO};

const SECRET: &str = "test-webhook-secret";
const TOKEN: &str = "gl-webhook-token";

fn start(dir: &std::path::Path) -> Server {
    let cfg = dir.join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\nworkers = 1\ndata_dir = {:?}\nallow_remotes = [{:?}]\n",
            dir.join("data").to_str().unwrap(),
            format!("{}/**", dir.to_str().unwrap())
        ),
    )
    .unwrap();
    Server::start(
        &["--config", cfg.to_str().unwrap()],
        &[
            ("QUENCH_GITHUB_WEBHOOK_SECRET", SECRET),
            ("QUENCH_GITLAB_WEBHOOK_TOKEN", TOKEN),
        ],
    )
}

fn gitlab(s: &Server, event: &str, uuid: &str, body: &serde_json::Value) -> (u16, String) {
    s.post(
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", event),
            ("X-Gitlab-Event-UUID", uuid),
            ("X-Gitlab-Token", TOKEN),
        ],
        body.to_string().as_bytes(),
    )
}

#[test]
fn github_documented_push_events_each_scan_what_they_introduce() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = Remote::new(tmp.path(), "app");
    let url = remote.bare.to_str().unwrap();
    let mut gen = Gen::new(61);
    let first_key = fake::github(&mut gen, "ghp");
    let c1 = remote.commit_push(
        &[
            ("README.md", "app\n"),
            ("deploy/env.sh", &format!("GITHUB_TOKEN={first_key}\n")),
        ],
        "first",
    );
    let mut s = start(tmp.path());

    // The repository's first push: `before` all zeros, `created: true`.
    let body = payloads::github_push("refs/heads/main", ZERO, &c1, false, url).to_string();
    assert_eq!(s.github(SECRET, "push", "first-push", &body).0, 202);
    let done = s.wait_for("(first-push) done");
    assert!(done.contains("2 blob(s) scanned, 1 finding(s)"), "{done}");

    // An ordinary push to the branch: only the one new blob.
    let c2 = remote.commit_push(&[("README.md", "app, documented\n")], "docs");
    let body = payloads::github_push("refs/heads/main", &c1, &c2, false, url).to_string();
    assert_eq!(s.github(SECRET, "push", "push", &body).0, 202);
    let done = s.wait_for("(push) done");
    assert!(done.contains("1 blob(s) scanned, 0 finding(s)"), "{done}");

    // A force-push: `before` rewritten away, `forced: true`; the rewritten commit is scanned.
    let forced_key = fake::github(&mut gen, "ghp");
    git(&remote.work, &["reset", "-q", "--hard", &c1]);
    let c2b = commit(
        &remote.work,
        &[("README.md", &format!("app {forced_key}\n"))],
        "docs, amended",
    );
    git(
        &remote.work,
        &["push", "-q", "--force", "origin", "HEAD:refs/heads/main"],
    );
    let body = payloads::github_push("refs/heads/main", &c2, &c2b, true, url).to_string();
    assert_eq!(s.github(SECRET, "push", "force-push", &body).0, 202);
    let done = s.wait_for("(force-push) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");

    // A tag pushed on a commit no branch has: that commit is what the tag introduces.
    let tag_key = fake::github(&mut gen, "ghp");
    git(&remote.work, &["checkout", "-q", "--detach"]);
    let tagged = commit(
        &remote.work,
        &[("release/keys.env", &format!("GITHUB_TOKEN={tag_key}\n"))],
        "release",
    );
    git(&remote.work, &["tag", "v1", &tagged]);
    git(&remote.work, &["push", "-q", "origin", "refs/tags/v1"]);
    let body = payloads::github_push("refs/tags/v1", ZERO, &tagged, false, url).to_string();
    assert_eq!(s.github(SECRET, "push", "tag-push", &body).0, 202);
    let done = s.wait_for("(tag-push) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");

    // A deleted branch (`after` all zeros, `deleted: true`, no head commit): nothing to scan,
    // answered at once and not queued.
    let body = payloads::github_push("refs/heads/main", &c2b, ZERO, false, url).to_string();
    let (status, resp) = s.github(SECRET, "push", "deletion", &body);
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("ref deleted"), "{resp}");

    // A pull request event: its commits arrive as pushes to their own repository, so the
    // service answers it without queueing anything.
    let body = payloads::github_pull_request(&c1, &c2b, "someone/app-fork").to_string();
    let (status, resp) = s.github(SECRET, "pull_request", "pull-request", &body);
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("is not scanned"), "{resp}");

    assert_eq!(s.metric("quench_scans_total{outcome=\"ok\"}"), Some(4.0));
    assert_eq!(s.metric("quench_findings_total"), Some(3.0));
    assert_eq!(
        s.metric("quench_deliveries_total{outcome=\"ignored\"}"),
        Some(2.0)
    );
    let log = s.log_text();
    for key in [&first_key, &forced_key, &tag_key] {
        assert!(!log.contains(key.as_str()), "a secret reached the log");
    }
}

#[test]
fn gitlab_documented_push_and_tag_push_hooks_are_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = Remote::new(tmp.path(), "proj");
    let url = remote.bare.to_str().unwrap();
    let mut gen = Gen::new(62);
    let c1 = remote.commit_push(&[("README.md", "proj\n")], "first");
    let key = fake::github(&mut gen, "ghp");
    let c2 = remote.commit_push(&[("ci/env", &format!("TOKEN={key}\n"))], "ci env");
    let mut s = start(tmp.path());

    let body = payloads::gitlab_push(false, "refs/heads/main", &c1, &c2, url);
    let (status, resp) = gitlab(&s, "Push Hook", "gl-push", &body);
    assert_eq!(status, 202, "{resp}");
    let done = s.wait_for("(gitlab:gl-push) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");
    let finding = s.wait_for("finding in acme/app");
    assert!(finding.contains("acme/app:ci/env:1"), "{finding}");

    // GitLab's documented tag push: `before` all zeros, a tag on a commit no branch has.
    let tag_key = fake::github(&mut gen, "ghp");
    git(&remote.work, &["checkout", "-q", "--detach"]);
    let tagged = commit(
        &remote.work,
        &[("release.env", &format!("TOKEN={tag_key}\n"))],
        "release",
    );
    git(&remote.work, &["tag", "v1.0.0", &tagged]);
    git(&remote.work, &["push", "-q", "origin", "refs/tags/v1.0.0"]);
    let body = payloads::gitlab_push(true, "refs/tags/v1.0.0", ZERO, &tagged, url);
    let (status, resp) = gitlab(&s, "Tag Push Hook", "gl-tag", &body);
    assert_eq!(status, 202, "{resp}");
    let done = s.wait_for("(gitlab:gl-tag) done");
    assert!(done.contains("1 blob(s) scanned, 1 finding(s)"), "{done}");

    // A deleted tag, as GitLab sends it (`after` all zeros): nothing is queued.
    let body = payloads::gitlab_push(true, "refs/tags/v1.0.0", &tagged, ZERO, url);
    let (status, resp) = gitlab(&s, "Tag Push Hook", "gl-tag-deleted", &body);
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("ref deleted"), "{resp}");
    assert_eq!(s.metric("quench_scans_total{outcome=\"ok\"}"), Some(2.0));
}
