//! Two `quench serve` processes on one PostgreSQL (`--store postgres://…`), each with its own
//! data directory (mirrors are per host) and the same store key: a push delivered to one is
//! scanned and its live key revoked; the redelivery of that delivery id to the other is
//! recognised and not processed; a second push to the other finds the key already revoked and
//! does not revoke it again. A process killed with `kill -9` mid-job loses the delivery to the
//! other, running beside it, when its lease runs out, and the key is still revoked exactly once.

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{github_push, Remote, Server, ZERO};
use common::fake_verify::SimProc;
use quench::store::pgtest::ScratchDb;

#[test]
fn two_services_on_one_database_share_deliveries_and_revoke_once() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1518);
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
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\nworkers = 1\nallow_remotes = [{:?}]\n[verify]\nretries = 0\n\
             [revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\n",
            format!("{}/**", tmp.path().to_str().unwrap())
        ),
    )
    .unwrap();
    let key = "cd".repeat(32);
    let start = |name: &str| {
        let data = tmp.path().join(name);
        Server::start(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--config",
                sim.config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--store",
                &db.url,
            ],
            &[
                ("QUENCH_GITHUB_WEBHOOK_SECRET", "e2e"),
                ("QUENCH_STORE_KEY", &key),
            ],
        )
    };
    let (mut a, mut b) = (start("host-a"), start("host-b"));

    let push1 = github_push(&remote.bare, ZERO, &c1);
    let (status, _) = a.github("e2e", "push", "d-1", &push1);
    assert_eq!(status, 202);
    a.wait_for("(d-1) done");
    let (status, body) = b.github("e2e", "push", "d-1", &push1);
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");

    let c2 = remote.commit_push(&[("ci/release.sh", &format!("GH_TOKEN={live}\n"))], "release");
    let (status, _) = b.github("e2e", "push", "d-2", &github_push(&remote.bare, &c1, &c2));
    assert_eq!(status, 202);
    b.wait_for("(d-2) done");

    let revokes = sim
        .recorded()
        .into_iter()
        .filter(|r| r["kind"] == "revoke")
        .count();
    assert_eq!(revokes, 1, "{}\n---\n{}", a.log_text(), b.log_text());
    let out = common::run_in(tmp.path(), &["findings", "--json", "--store", &db.url], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    let f = &v["findings"][0];
    assert_eq!(f["status"], "revoked", "{v:#}");
    assert_eq!(f["locations"], 2, "{v:#}");
    for s in [&a, &b] {
        assert!(!s.log_text().contains(&live), "the key reached a log");
    }
    assert!(!db.holds(&live), "a table holds the secret");
    assert!(
        !tmp.path().join("host-a/queue.db").exists(),
        "the queue stayed on the host"
    );
}

#[test]
fn a_service_killed_mid_job_loses_the_delivery_to_the_other_and_the_key_is_revoked_once() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1519);
    let live = fake::github(&mut g, "ghp");
    // Every issuer call with this key stalls two seconds: the job is still running when killed.
    let sim = SimProc::start(&format!(
        "[simulator]\nslow_ms = 2000\n[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\n\
         principal = \"octo\"\nfault = \"slow\"\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let remote = Remote::new(tmp.path(), "leaky");
    let c1 = remote.commit_push(
        &[("ci/deploy.sh", &format!("export GH_TOKEN={live}\n"))],
        "deploy",
    );
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\nworkers = 1\nlease_secs = 1\nallow_remotes = [{:?}]\n[verify]\nretries = 0\n\
             [revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 20\n",
            format!("{}/**", tmp.path().to_str().unwrap())
        ),
    )
    .unwrap();
    let key = "ef".repeat(32);
    let start = |name: &str| {
        let data = tmp.path().join(name);
        Server::start(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--config",
                sim.config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--store",
                &db.url,
            ],
            &[
                ("QUENCH_GITHUB_WEBHOOK_SECRET", "e2e"),
                ("QUENCH_STORE_KEY", &key),
            ],
        )
    };
    // Both run from the start: whichever claims the delivery is killed while its issuer call
    // stalls, and the other, polling, takes it over when the lease runs out.
    let mut servers = vec![start("host-a"), start("host-b")];
    let (status, _) = servers[0].github("e2e", "push", "d-1", &github_push(&remote.bare, ZERO, &c1));
    assert_eq!(status, 202);
    let mut pg = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let holder = loop {
        let owner: Option<String> = pg
            .query_opt(
                "SELECT owner FROM serve_jobs WHERE delivery = 'd-1' AND state = 'running'",
                &[],
            )
            .unwrap()
            .and_then(|r| r.get(0));
        if let Some(o) = owner {
            let i = servers
                .iter()
                .position(|s| o.contains(&format!(":{}:", s.child.id())))
                .expect("the owner is one of the two services");
            break i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nobody claimed the delivery:\n{}",
            servers[0].log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut killed = servers.remove(holder);
    let mut survivor = servers.pop().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    killed.child.kill().unwrap(); // SIGKILL: no shutdown, no release, no lease renewal
    killed.child.wait().unwrap();
    assert!(
        !killed.log_text().contains("(d-1) done"),
        "finished before it was killed"
    );
    survivor.wait_for("(d-1) done");
    let (a, b) = (&killed, &survivor);
    let revokes = sim
        .recorded()
        .into_iter()
        .filter(|r| r["kind"] == "revoke" && r["status"] == 202)
        .count();
    assert_eq!(revokes, 1, "{}\n---\n{}", a.log_text(), b.log_text());
    let out = common::run_in(tmp.path(), &["findings", "--json", "--store", &db.url], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["status"], "revoked", "{v:#}\n{}", b.log_text());
}
