//! The database restarted under two `quench serve` processes while deliveries are queued and
//! one is being worked on: a restart of the test's own PostgreSQL cluster (`pg_ctl stop -m
//! fast`, then start), not of the shared server. What was acknowledged before is finished
//! after, a delivery sent while the database is down is refused (so its sender redelivers)
//! rather than acknowledged and lost, and every live key is revoked exactly once.

use std::time::{Duration, Instant};

use crate::common;

use common::fake::{self, Gen};
use common::fake_serve::{github_push, Remote, Server, ZERO};
use common::fake_verify::SimProc;
use common::pg_cluster::PgCluster;

#[test]
fn a_database_restart_with_work_queued_loses_nothing_and_doubles_nothing() {
    const PUSHES: usize = 5;
    let pg = PgCluster::start();
    let mut g = Gen::new(1530);
    let keys: Vec<String> = (0..PUSHES).map(|_| fake::github(&mut g, "ghp")).collect();
    // Each issuer call stalls 400 ms, so the first jobs are mid-flight when the database stops
    // and the rest still queued.
    let mut sim_keys = String::from("[simulator]\nslow_ms = 400\n");
    for (i, k) in keys.iter().enumerate() {
        sim_keys.push_str(&format!(
            "[[key]]\nissuer = \"github\"\nsecret = \"{k}\"\nprincipal = \"octo{i}\"\nfault = \"slow\"\n"
        ));
    }
    let sim = SimProc::start(&sim_keys);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\nworkers = 1\nlease_secs = 2\nretry_attempts = 50\nretry_base_secs = 0.2\n\
             retry_max_secs = 1\nallow_remotes = [{:?}]\n[verify]\nretries = 0\n\
             [revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 20\n",
            format!("{}/**", tmp.path().to_str().unwrap())
        ),
    )
    .unwrap();
    let store_key = "a1".repeat(32);
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
                &pg.url,
            ],
            &[
                ("QUENCH_GITHUB_WEBHOOK_SECRET", "e2e"),
                ("QUENCH_STORE_KEY", &store_key),
            ],
        )
    };
    let servers = [start("host-a"), start("host-b")];
    let pushes: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let remote = Remote::new(tmp.path(), &format!("repo{i}"));
            let c = remote.commit_push(&[("deploy.sh", &format!("export GH_TOKEN={k}\n"))], "deploy");
            github_push(&remote.bare, ZERO, &c)
        })
        .collect();
    // All but the last acknowledged while the database is up, spread over both processes.
    for (i, body) in pushes.iter().take(PUSHES - 1).enumerate() {
        let (status, reply) = servers[i % 2].github("e2e", "push", &format!("d-{i}"), body);
        assert_eq!(status, 202, "{reply}");
    }
    // The restart hits work in flight and work still queued.
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = db
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = 'running'),
                        COUNT(*) FILTER (WHERE state = 'queued') FROM serve_jobs",
                &[],
            )
            .unwrap();
        let (running, queued): (i64, i64) = (r.get(0), r.get(1));
        if running >= 1 && queued >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw a job running with others queued ({running} running, {queued} queued)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(db);
    pg.stop();
    let last = PUSHES - 1;
    let (status, _) = servers[0].github("e2e", "push", &format!("d-{last}"), &pushes[last]);
    assert!(
        status >= 500,
        "a delivery was acknowledged ({status}) while the database was down"
    );
    std::thread::sleep(Duration::from_secs(3));
    pg.start_again();
    // The sender redelivers what was refused, to the other process this time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, reply) = servers[1].github("e2e", "push", &format!("d-{last}"), &pushes[last]);
        if status == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the redelivery was refused after the restart ({status}): {reply}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let logs = || format!("{}\n---\n{}", servers[0].log_text(), servers[1].log_text());
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let done: i64 = db
            .query_one("SELECT COUNT(*) FROM serve_jobs WHERE state = 'done'", &[])
            .unwrap()
            .get(0);
        if done == PUSHES as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {PUSHES} deliveries done after the restart:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let jobs: i64 = db
        .query_one("SELECT COUNT(*) FROM serve_jobs", &[])
        .unwrap()
        .get(0);
    assert_eq!(jobs, PUSHES as i64, "a delivery was recorded twice");

    // Each key went to the issuer's revoke endpoint exactly once (a batched call lists every
    // key it carried).
    let mut calls = vec![0usize; PUSHES];
    for r in sim.recorded().into_iter().filter(|r| r["kind"] == "revoke") {
        for k in r["keys"].as_array().unwrap() {
            calls[k.as_u64().unwrap() as usize] += 1;
        }
    }
    assert_eq!(calls, vec![1; PUSHES], "revoke calls per key\n{}", logs());
    let out = common::run_in(tmp.path(), &["findings", "--json", "--store", &pg.url], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), PUSHES, "{v:#}");
    for f in findings {
        assert_eq!(f["status"], "revoked", "{v:#}\n{}", logs());
        assert_eq!(f["locations"], 1, "{v:#}");
    }
}
