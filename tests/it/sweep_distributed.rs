//! Distributed sweeps on one PostgreSQL (issue 15): `quench sweep --enqueue` queues one job per
//! repository, any number of `quench sweep --worker` processes claim them with leases, and the
//! record of scanned blobs is the database's, so a repository is never scanned twice for the
//! same blobs wherever it lands.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::fake::{self, Gen};
use common::fake_serve::{commit, git};
use quench::store::pgtest::ScratchDb;

const REPOS: usize = 50;

fn quench_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = common::quench();
    c.current_dir(dir).args(args);
    c
}

/// Runs three workers at once (each with its own data directory, as on three hosts) and
/// returns, per repository, the workers' report lines about it, and how many workers swept any.
fn three_workers(root: &Path, store: &str) -> (BTreeMap<String, Vec<String>>, usize) {
    let workers: Vec<_> = (0..3)
        .map(|k| {
            quench_in(root, &["sweep", "--worker", store, "--config", "sweep.toml"])
                .args(["--data-dir", &format!("host{k}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut busy = 0;
    for w in workers {
        let out = w.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
        let mine: Vec<&str> = err
            .lines()
            .filter_map(|l| l.strip_prefix("quench sweep: "))
            .collect();
        busy += usize::from(!mine.is_empty());
        for l in mine {
            let name = l.split(':').next().unwrap().to_string();
            lines.entry(name).or_default().push(l.to_string());
        }
    }
    (lines, busy)
}

/// The blobs a report line says were scanned.
fn scanned(line: &str) -> usize {
    let before = line.split(" blob(s) scanned").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_sweep_of_50_repositories_over_three_workers_scans_each_blob_once() {
    let db = ScratchDb::require();
    let store = format!("--store={}", db.url);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut g = Gen::new(1517);
    let mut names = Vec::new();
    let mut blobs = 0;
    let mut keys = Vec::new();
    for i in 0..REPOS {
        let name = format!("r{i:02}");
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        let (readme, data) = (format!("repo {i}\n"), format!("data {i}\n"));
        let mut files = vec![("README.md", readme.as_str()), ("data.txt", data.as_str())];
        let env;
        if i % 10 == 0 {
            let key = fake::github(&mut g, "ghp");
            env = format!("GITHUB_TOKEN={key}\n");
            keys.push(key);
            files.push((".env", env.as_str()));
        }
        blobs += files.len();
        commit(&dir, &files, "initial");
        names.push(format!("{name:?}"));
    }
    std::fs::write(
        root.join("sweep.toml"),
        format!("[sweep]\nparallel = 1\nrepos = [{}]\n", names.join(", ")),
    )
    .unwrap();

    let enqueue = || {
        let out = quench_in(root, &["sweep", "--enqueue", &store, "--config", "sweep.toml"])
            .args(["--data-dir", "enqueuer"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        err
    };
    let err = enqueue();
    assert!(err.contains("50 of 50 repositories queued"), "{err}");
    // Queued twice is queued once.
    let err = enqueue();
    assert!(err.contains("0 of 50 repositories queued"), "{err}");

    let (lines, busy) = three_workers(root, &store);
    assert_eq!(lines.len(), REPOS, "every repository swept: {lines:#?}");
    for (name, l) in &lines {
        assert_eq!(l.len(), 1, "{name} swept more than once: {l:?}");
    }
    let total: usize = lines.values().map(|l| scanned(&l[0])).sum();
    assert_eq!(total, blobs, "each blob scanned once: {lines:#?}");
    assert!(
        busy >= 2,
        "the repositories were spread over the workers: {lines:#?}"
    );

    let out = quench_in(root, &["findings", "--json", &store, "--data-dir", "enqueuer"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(doc["findings"].as_array().unwrap().len(), keys.len(), "{doc:#}");
    for k in &keys {
        assert!(!db.holds(k), "a table holds a key in plaintext");
    }

    // The next sweep lands each repository wherever: only what is new is scanned, though the
    // worker that gets r01 may never have seen it (its mirror is fetched afresh) — a copy of a
    // blob scanned last time is known, the new file is not.
    commit(
        &root.join("r01"),
        &[("copy.txt", "data 1\n"), ("new.txt", "something new\n")],
        "second",
    );
    let err = enqueue();
    assert!(err.contains("50 of 50 repositories queued"), "{err}");
    let (lines, _) = three_workers(root, &store);
    assert_eq!(lines.len(), REPOS, "{lines:#?}");
    let total: usize = lines.values().map(|l| scanned(&l[0])).sum();
    assert_eq!(total, 1, "{lines:#?}");
    assert!(
        lines["r01"][0].contains("r01: 1 new commit(s), 1 blob(s) scanned, 1 already scanned"),
        "{lines:#?}"
    );
}

/// `quench serve` processes on the shared store take a distributed sweep's repositories too:
/// queued by `quench sweep --enqueue`, each is swept once, by one of them.
#[test]
fn serve_processes_on_the_store_take_queued_repositories() {
    use common::fake_serve::Server;
    let db = ScratchDb::require();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("s{i:02}");
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        commit(
            &dir,
            &[("a.txt", &format!("a {i}\n")), ("b.txt", &format!("b {i}\n"))],
            "one",
        );
        names.push(format!("{name:?}"));
    }
    std::fs::write(
        root.join("quench.toml"),
        format!(
            "[serve]\nworkers = 1\nallow_remotes = [{:?}]\n\n[sweep]\nrepos = [{}]\n",
            format!("{}/**", root.to_str().unwrap()),
            names.join(", ")
        ),
    )
    .unwrap();
    let cfg = root.join("quench.toml");
    let start = |host: &str| {
        Server::start(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                root.join(host).to_str().unwrap(),
                "--store",
                &db.url,
            ],
            &[("QUENCH_GITHUB_WEBHOOK_SECRET", "x")],
        )
    };
    let (a, b) = (start("host-a"), start("host-b"));
    let out = quench_in(root, &["sweep", "--enqueue", &format!("--store={}", db.url)])
        .args(["--config", "quench.toml", "--data-dir", "enqueuer"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("12 of 12 repositories queued"), "{err}");

    let swept = || -> Vec<String> {
        [&a, &b]
            .iter()
            .flat_map(|s| {
                s.log_text()
                    .lines()
                    .filter_map(|l| l.split_once("quench serve: sweep: ").map(|(_, r)| r.to_string()))
                    .filter(|l| l.contains("blob(s) scanned"))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while swept().len() < 12 {
        assert!(
            std::time::Instant::now() < deadline,
            "not every repository was swept:\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A moment for any second sweep of a repository to show.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lines = swept();
    let mut by_repo: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        *by_repo
            .entry(l.split(':').next().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_repo.len(), 12, "{lines:#?}");
    assert!(by_repo.values().all(|n| *n == 1), "swept twice: {lines:#?}");
    assert_eq!(lines.iter().map(|l| scanned(l)).sum::<usize>(), 24, "{lines:#?}");
}
