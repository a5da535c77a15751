//! The shared store through the real binary: `--store postgres://…` records, revokes and lists
//! on a real PostgreSQL (a scratch schema of `QUENCH_TEST_PG_URL`, see `quench::store::pgtest`),
//! with no secret in any table; a URL that cannot work is a clear error, exit 2, that never
//! repeats the password.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;
use quench::store::pgtest::ScratchDb;

fn findings_json(dir: &std::path::Path, url: &str) -> Vec<serde_json::Value> {
    let out = run_in(dir, &["findings", "--json", "--timeline", "--store", url], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("findings --json is JSON");
    v["findings"].as_array().unwrap().clone()
}

#[test]
fn scan_verify_revoke_on_postgres_records_revokes_and_lists_the_key_revoked() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1515);
    let live = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n"
    ));
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 5\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tree")).unwrap();
    std::fs::write(dir.path().join("tree/app.env"), format!("GITHUB_TOKEN={live}\n")).unwrap();
    let out = common::quench()
        .current_dir(dir.path())
        .args(["scan", "tree", "--verify", "--revoke", "--store", &db.url])
        .args(["--data-dir", "data", "--config"])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    // The data directory keeps the sealing key, outside the database; the store is not there.
    assert!(
        !dir.path().join("data/quench.db").exists(),
        "the scan wrote an SQLite store instead"
    );
    assert!(dir.path().join("data/keys/store.key").is_file());

    let fs = findings_json(dir.path(), &db.url);
    let fp = crate::common::fingerprint("github.pat-classic", live.as_bytes());
    let f = fs
        .iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .unwrap_or_else(|| panic!("the key is not in the store: {fs:?}"));
    assert_eq!(f["status"], "revoked", "{f:#}");
    assert_eq!(f["principal"], "octo", "{f:#}");
    assert_eq!(f["jobs"][0]["state"], "done", "{f:#}");
    assert!(!f["timeline"]["confirmed_dead"].is_null(), "{f:#}");
    let revokes = sim
        .recorded()
        .iter()
        .filter(|r| r["kind"] == "revoke" && r["issuer"] == "github")
        .count();
    assert_eq!(revokes, 1, "one revoke call to the issuer");
    assert!(
        !db.holds(&live),
        "a PostgreSQL table holds the secret in plaintext"
    );

    // The same scan again on the same database: recorded again, never revoked twice.
    let out = common::quench()
        .current_dir(dir.path())
        .args(["scan", "tree", "--verify", "--revoke", "--store", &db.url])
        .args(["--data-dir", "data", "--config"])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("1 already revoked"), "{err}");
    let revokes = sim
        .recorded()
        .iter()
        .filter(|r| r["kind"] == "revoke" && r["issuer"] == "github")
        .count();
    assert_eq!(revokes, 1, "a revoked key was revoked again");

    // A process holding another store key is refused before it revokes anything.
    let out = common::quench()
        .current_dir(dir.path())
        .args(["scan", "tree", "--verify", "--revoke", "--store", &db.url])
        .args(["--data-dir", "data", "--config"])
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .env("QUENCH_STORE_KEY", "12".repeat(32))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs the same key"), "{err}");
}

#[test]
fn a_store_url_that_cannot_work_is_a_clear_error_without_the_password() {
    let db = ScratchDb::require();
    let tmp = tempfile::tempdir().unwrap();
    let mut missing = url::Url::parse(&db.url).unwrap();
    missing.set_path("/quench_no_such_database");
    let _ = missing.set_password(Some("hunter2-not-shown"));
    let refused = "postgres://quench:hunter2-not-shown@127.0.0.1:1/quench"; // quench:allow (a fake, on purpose)
    for (url, cause) in [
        (missing.as_str(), "does not exist"),
        (refused, "Connection refused"),
        (
            "mysql://quench:hunter2-not-shown@127.0.0.1/q", // quench:allow (a fake, on purpose)
            "neither postgres://",
        ),
    ] {
        let out = run_in(tmp.path(), &["findings", "--store", url], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(cause), "{url}: {err}");
        assert!(!err.contains("hunter2"), "the password was printed: {err}");
    }
    // Through QUENCH_STORE_URL too, and on a scanning command.
    std::fs::write(tmp.path().join("a.txt"), "nothing here\n").unwrap();
    let out = common::quench()
        .current_dir(tmp.path())
        .args(["scan", "a.txt", "--store", "--data-dir", "data"])
        .env("QUENCH_STORE_URL", missing.as_str())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not exist") && !err.contains("hunter2"),
        "{err}"
    );
}

/// Three `quench scan --revoke` processes at once on one database, each with its own live
/// GitHub key, under a revoke budget of one request an hour: the budget lives in the shared
/// store, so one request is sent in all (a runner may batch the others' jobs into it, GitHub's
/// endpoint takes a list); every key it did not carry waits, deferred.
#[test]
fn processes_sharing_one_database_share_one_revoke_budget() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1517);
    let keys: Vec<String> = (0..3).map(|_| fake::github(&mut g, "ghp")).collect();
    let sim = SimProc::start(
        &keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("[[key]]\nissuer = \"github\"\nsecret = \"{k}\"\nprincipal = \"u{i}\"\n"))
            .collect::<String>(),
    );
    let policy = sim.extra_config(
        "policy.toml",
        "[issuers.github]\nrevoke_per_hour = 1\n[verify]\nretries = 0\n\
         [revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 2\n",
    );
    let dir = tempfile::tempdir().unwrap();
    // One store key for all three, as every process on a shared store must have.
    let store_key = "ab".repeat(32);
    let scans: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let tree = dir.path().join(format!("tree{i}"));
            std::fs::create_dir_all(&tree).unwrap();
            std::fs::write(tree.join("app.env"), format!("TOKEN={k}\n")).unwrap();
            common::quench()
                .current_dir(dir.path())
                .args([
                    "scan",
                    &format!("tree{i}"),
                    "--verify",
                    "--revoke",
                    "--store",
                    &db.url,
                ])
                .args(["--data-dir", &format!("data{i}"), "--config"])
                .arg(&sim.config)
                .arg("--config")
                .arg(&policy)
                .env("QUENCH_STORE_KEY", &store_key)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in scans {
        let out = s.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let accepted: Vec<usize> = sim
        .recorded()
        .iter()
        .filter(|r| r["kind"] == "revoke" && r["status"] == 202)
        .map(|r| r["keys"].as_array().map_or(0, |k| k.len()))
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "the processes sent past their shared budget: {accepted:?}"
    );
    let fs = findings_json(dir.path(), &db.url);
    let revoked = fs.iter().filter(|f| f["status"] == "revoked").count();
    assert_eq!(revoked, accepted[0], "{fs:#?}");
    for f in fs.iter().filter(|f| f["status"] != "revoked") {
        assert_eq!(f["status"], "revoking", "{f:#}");
        assert_eq!(f["jobs"][0]["state"], "queued", "deferred, not failed: {f:#}");
    }
    assert_eq!(fs.len(), 3);
}

/// `sweep --store URL` records into the shared store, and `revoke` and `recheck` work on it:
/// the operator's commands act on what the sweep found.
#[test]
fn sweep_revoke_and_recheck_work_on_the_shared_store() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1520);
    let live = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo\"\n"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    common::fake_serve::git(&repo, &["init", "-q"]);
    common::fake_serve::commit(&repo, &[("ci.env", &format!("GH={live}\n"))], "leak");
    let cfg = tmp.path().join("sweep.toml");
    // The policy asks a human: the sweep queues the job for approval, `revoke --approve` acts.
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nrepos = [\"app\"]\n[verify]\nretries = 0\n\
         [revoke]\nmode = \"ask\"\nbackoff_secs = 0.05\nwait_secs = 5\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = common::quench()
            .current_dir(tmp.path())
            .args(args)
            .args(["--store", &db.url, "--config"])
            .arg(&sim.config)
            // Last, so that its relative paths resolve beside it.
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["sweep", "--verify"]);
    assert_eq!(code, Some(1), "{err}");
    let fs = findings_json(tmp.path(), &db.url);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0]["jobs"][0]["state"], "awaiting-approval", "{:#}", fs[0]);
    assert!(
        !tmp.path().join("state/quench.db").exists(),
        "the sweep wrote an SQLite store"
    );

    let fp = fs[0]["fingerprint"].as_str().unwrap().to_string();
    let (code, err) = run(&[
        "revoke",
        "--approve",
        "--fingerprint",
        &fp[..12],
        "--data-dir",
        "state",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let fs = findings_json(tmp.path(), &db.url);
    assert_eq!(fs[0]["status"], "revoked", "{err}\n{:#}", fs[0]);

    let (code, err) = run(&["recheck", "--data-dir", "state"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(findings_json(tmp.path(), &db.url)[0]["status"], "revoked");
}
