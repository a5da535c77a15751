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

/// Every failure before the verdicts are stored fails the attempt: with the store locked past
/// its busy timeout, the job is retried (not completed with its findings lost), and once the
/// lock is gone the finding is in the store.
#[test]
fn a_locked_store_fails_the_attempt_and_the_retry_stores_the_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = config(
        tmp.path(),
        "workers = 1\nretry_base_secs = 0.3\nretry_max_secs = 0.3\n\n[store]\nenabled = true\nbusy_timeout_ms = 100\n",
    );
    // Create the store, then hold its write lock as another process's long write would.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = common::quench()
        .current_dir(tmp.path())
        .args(["scan", "--store", "--data-dir", data.to_str().unwrap()])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(
        data.join("quench.db").is_file(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = rusqlite::Connection::open(data.join("quench.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let remote = Remote::new(tmp.path(), "locked");
    let token = fake::github(&mut Gen::new(172), "ghp");
    let c1 = remote.commit_push(&[(".env", &format!("GITHUB_TOKEN={token}\n"))], "env");
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "lock-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    let failed = s.wait_for("(lock-1) failed (attempt 1)");
    assert!(
        failed.contains("recording the findings") && failed.contains("locked"),
        "{failed}"
    );
    assert!(
        !s.log_text().contains("(lock-1) done"),
        "completed with its findings lost"
    );
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    s.wait_for("(lock-1) done");
    let out = common::run_in(
        tmp.path(),
        &["findings", "--json", "--data-dir", data.to_str().unwrap()],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("github.pat-classic"),
        "the finding was stored: {text}"
    );
    assert!(!text.contains(&token) && !s.log_text().contains(&token));
}

/// A fetch that fails for a while (the remote is not there yet) is retried with backoff until
/// it works, instead of three attempts in milliseconds; a job that uses all its attempts is
/// parked, shown in /metrics, and `--retry-parked` queues it again.
#[test]
fn transient_fetch_failures_are_retried_and_parked_jobs_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        "workers = 1\nretry_attempts = 2\nretry_base_secs = 0.3\nretry_max_secs = 0.3\n",
    );
    let remote = Remote::new(tmp.path(), "late");
    let c1 = remote.commit_push(&[("a.txt", "a\n")], "a");
    // The payload names a remote that does not exist yet.
    let hidden = tmp.path().join("late-hidden.git");
    std::fs::rename(&remote.bare, &hidden).unwrap();
    let mut s = start(&cfg, &[]);
    let (status, _) = s.github(SECRET, "push", "late-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    s.wait_for("(late-1) failed (attempt 1)");
    s.wait_for("(late-1) failed (attempt 2)");
    // Parked after its attempts, and visible as such.
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

    std::fs::rename(&hidden, &remote.bare).unwrap();
    let mut s = start(&cfg, &["--retry-parked"]);
    assert!(s
        .wait_for("--retry-parked")
        .contains("1 parked job(s) queued again"));
    let done = s.wait_for("(late-1) done");
    assert!(done.contains("1 blob(s) scanned"), "{done}");
}

/// The delivery id is not signed: the same signed body under a new id is the same push, and
/// is not scanned again.
#[test]
fn a_replayed_body_under_a_new_delivery_id_is_not_queued_again() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 0\n");
    let s = start(&cfg, &[]);
    let body = github_push(&tmp.path().join("r.git"), ZERO, &"4".repeat(40));
    assert_eq!(s.github(SECRET, "push", "orig", &body).0, 202);
    for i in 0..3 {
        let (status, resp) = s.github(SECRET, "push", &format!("replay-{i}"), &body);
        assert_eq!(status, 200, "{resp}");
        assert!(resp.contains("duplicate"), "{resp}");
    }
    assert_eq!(s.metric("quench_queue_jobs{state=\"queued\"}"), Some(1.0));
}

/// `..` in a payload's remote cannot climb out of an allowed prefix.
#[test]
fn dot_dot_in_the_remote_cannot_escape_the_allow_list() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 0\n");
    let s = start(&cfg, &[]);
    let escape = format!("{}/repos/../../../etc/x.git", tmp.path().display());
    let body = github_push(std::path::Path::new(&escape), ZERO, &"5".repeat(40));
    let (status, _) = s.github(SECRET, "push", "dots", &body);
    assert_eq!(status, 403, "{escape}");
}

/// A client that sends half a request and stops is disconnected after the request timeout,
/// instead of holding the socket as long as it likes.
#[test]
fn a_slow_client_is_disconnected_after_the_request_timeout() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "workers = 0\nrequest_timeout_secs = 1\n");
    let s = start(&cfg, &[]);
    let t0 = std::time::Instant::now();
    let mut half_headers = std::net::TcpStream::connect(&s.addr).unwrap();
    half_headers
        .write_all(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pu")
        .unwrap();
    let mut half_body = std::net::TcpStream::connect(&s.addr).unwrap();
    let sig = quench::server::auth::github_sign(SECRET.as_bytes(), b"{}");
    half_body
        .write_all(
            format!(
                "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: slow\r\n\
                 X-Hub-Signature-256: {sig}\r\nContent-Length: 100000\r\n\r\n{{\"a\":"
            )
            .as_bytes(),
        )
        .unwrap();
    for (what, mut c) in [("headers", half_headers), ("body", half_body)] {
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
        let waited = t0.elapsed();
        assert!(
            waited < std::time::Duration::from_secs(10),
            "half-sent {what} held the connection for {waited:?}"
        );
    }
    assert_eq!(s.get("/healthz").0, 200, "the service goes on");
}

/// An issuer that answers 503 while a push's key is verified does not leave the key
/// indeterminate and the push done: the attempt fails, the retry (after its backoff) asks the
/// issuer again, finds the key live and revokes it, once.
#[test]
fn a_transient_issuer_fault_while_verifying_fails_the_attempt_and_the_retry_revokes() {
    use common::fake_verify::SimProc;
    let mut g = Gen::new(173);
    let live = fake::github(&mut g, "ghp");
    // Beside it a Slack key, whose issuer answers at once: revoked on the first attempt.
    let slack = fake::slack_bot(&mut g);
    // GitHub answers the next two verifications with 503, then normally.
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n\n\
         [[key]]\nissuer = \"slack\"\nsecret = \"{slack}\"\nprincipal = \"bot\"\n\n\
         [[simulator.script]]\nissuer = \"github\"\non = \"verify\"\nfault = \"503\"\ntimes = 2\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let remote = Remote::new(tmp.path(), "flaky-issuer");
    let c1 = remote.commit_push(
        &[
            ("deploy.sh", &format!("GH_TOKEN={live}\n")),
            ("bot.env", &format!("SLACK_BOT_TOKEN={slack}\n")),
        ],
        "deploy",
    );
    let mut s = common::fake_serve::start_revoking(
        tmp.path(),
        &sim.config,
        Some(1),
        "[serve]\nretry_base_secs = 0.3\nretry_max_secs = 0.3\n",
        SECRET,
    );
    let (status, _) = s.github(SECRET, "push", "flaky-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    let failed = s.wait_for("(flaky-1) failed (attempt 1)");
    assert!(failed.contains("HTTP 503"), "{failed}");
    s.wait_for("1 finding(s) not verified, the issuer failing for a passing reason");
    s.wait_for("(flaky-1) failed (attempt 2)");
    s.wait_for("(flaky-1) done");
    let seen = sim.recorded();
    let count = |kind: &str| seen.iter().filter(|r| r["kind"] == kind).count();
    let github = |kind: &str| {
        seen.iter()
            .filter(|r| r["kind"] == kind && r["issuer"] == "github")
            .count()
    };
    assert_eq!(github("revoke"), 1, "{seen:?}\n{}", s.log_text());
    assert!(github("verify") >= 3, "the verdict was asked again: {seen:?}");
    assert_eq!(count("revoke"), 2, "each key revoked once: {seen:?}");
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
    let statuses: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["status"])
        .collect();
    assert_eq!(statuses, ["revoked", "revoked"], "{v:#}\n{}", s.log_text());
    // The Slack key's revocation, done by the attempt that failed, is counted too.
    assert_eq!(
        s.metric("quench_revocations_total"),
        Some(2.0),
        "{}",
        s.log_text()
    );
    assert!(
        !s.log_text().contains(&live) && !s.log_text().contains(&slack),
        "a key reached the log"
    );
}

/// A delivery the service dies on at every attempt (here: killed with SIGKILL while the issuer
/// never answers) is counted an attempt each time it is claimed, so the next start parks it with
/// its reason instead of dying on it again, and the service takes the next push.
#[test]
fn a_job_the_service_dies_on_at_each_attempt_is_parked_and_the_service_goes_on() {
    use common::fake_verify::SimProc;
    let live = fake::github(&mut Gen::new(174), "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n\n\
         [[simulator.script]]\nissuer = \"github\"\non = \"verify\"\nfault = \"hang\"\ntimes = 2\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let patient = sim.extra_config("patient.toml", "[verify]\ntimeout_secs = 300\n");
    let more = ["--config", patient.to_str().unwrap()];
    let start = || {
        common::fake_serve::start_revoking_with(
            tmp.path(),
            &sim.config,
            Some(1),
            "[serve]\nretry_attempts = 2\n",
            SECRET,
            &more,
            &[],
        )
    };
    let remote = Remote::new(tmp.path(), "poison");
    let c1 = remote.commit_push(&[("deploy.sh", &format!("GH_TOKEN={live}\n"))], "deploy");
    let wait_metric = |s: &Server, series: &str, want: f64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while s.metric(series) != Some(want) {
            assert!(
                std::time::Instant::now() < deadline,
                "{series} != {want}:\n{}",
                s.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    for attempt in 1..=2 {
        let mut s = start();
        if attempt == 1 {
            let (status, _) = s.github(SECRET, "push", "poison-1", &github_push(&remote.bare, ZERO, &c1));
            assert_eq!(status, 202);
        } else {
            s.wait_for("resuming 1 job(s)");
        }
        wait_metric(&s, "quench_queue_jobs{state=\"running\"}", 1.0);
        // The worker is inside the job, waiting on the issuer that never answers (the request is
        // recorded only once answered): the process dies there.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
    let mut s = start();
    wait_metric(&s, "quench_queue_jobs{state=\"failed\"}", 1.0);
    assert!(!s.log_text().contains("(poison-1) done"), "{}", s.log_text());
    // Had it run a third time, the issuer (its two hangs spent) would have answered live and
    // the key been revoked.
    let revokes = sim.recorded().iter().filter(|r| r["kind"] == "revoke").count();
    assert_eq!(revokes, 0, "the poisoned job ran a third time:\n{}", s.log_text());
    // The service goes on: the next push is scanned.
    let c2 = remote.commit_push(&[("a.txt", "nothing secret\n")], "a");
    let (status, _) = s.github(SECRET, "push", "after-1", &github_push(&remote.bare, &c1, &c2));
    assert_eq!(status, 202);
    s.wait_for("(after-1) done");
    drop(s);
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
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parked = doc["parked_deliveries"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{doc:#}");
    assert_eq!(parked[0]["delivery"], "poison-1");
    let error = parked[0]["error"].as_str().unwrap();
    assert!(
        error.contains("stopped while scanning") && error.contains("2 attempt(s)"),
        "{error}"
    );
}
