//! `quench store migrate` and `quench store copy` through the binary: a store recorded in
//! SQLite by a real scan (findings, verdicts, a revocation job and its attempts, the audit log,
//! the spent budget) copied to PostgreSQL and back reads the same on every side, and the copy
//! goes on working as a store.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;
use quench::store::pgtest::ScratchDb;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `quench findings --json --timeline` with `store` flags.
fn timeline(dir: &std::path::Path, store: &[&str]) -> serde_json::Value {
    let out = run_in(
        dir,
        &[&["findings", "--json", "--timeline"], store].concat(),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn store_migrate_applies_each_step_once_and_says_so() {
    let db = ScratchDb::require();
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &["store", "migrate", "--store", &db.url], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Every step the binary knows, by the names of its SQL files, in order.
    let steps: Vec<&str> = quench::store::migrate::POSTGRES.iter().map(|m| m.name).collect();
    let latest = quench::store::migrate::POSTGRES.last().unwrap().version;
    assert!(
        err.contains(&format!(
            "schema version 0 -> {latest}, applied {}",
            steps.join(", ")
        )),
        "{err}"
    );
    let out = run_in(tmp.path(), &["store", "migrate", "--store", &db.url], None);
    assert!(
        stderr(&out).contains(&format!("schema version {latest}, up to date")),
        "{}",
        stderr(&out)
    );
    let out = run_in(
        tmp.path(),
        &["store", "migrate", "--data-dir", "nothing-here"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no store at"), "{}", stderr(&out));
}

#[test]
fn a_store_copied_to_postgres_and_back_reads_the_same_and_keeps_working() {
    let db = ScratchDb::require();
    let mut g = Gen::new(1516);
    let (first, second) = (fake::github(&mut g, "ghp"), fake::github(&mut g, "ghp"));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{first}\"\nprincipal = \"octo\"\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{second}\"\nprincipal = \"octo2\"\n"
    ));
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 5\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tree")).unwrap();
    let scan = |store: &[&str]| {
        let out = common::quench()
            .current_dir(dir.path())
            .args(["scan", "tree", "--verify", "--revoke", "--data-dir", "data"])
            .args(store)
            .arg("--config")
            .arg(&sim.config)
            .arg("--config")
            .arg(&policy)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        err
    };
    std::fs::write(dir.path().join("tree/a.env"), format!("TOKEN={first}\n")).unwrap();
    let err = scan(&[]);
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    let in_sqlite = timeline(dir.path(), &["--data-dir", "data"]);
    assert_eq!(in_sqlite["findings"][0]["status"], "revoked", "{in_sqlite:#}");

    let out = run_in(
        dir.path(),
        &["store", "copy", "--from", "sqlite:data", "--to", &db.url],
        None,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 findings") && err.contains("1 jobs"), "{err}");
    let in_postgres = timeline(dir.path(), &["--store", &db.url]);
    assert_eq!(in_postgres, in_sqlite, "the copy reads differently");

    // Into a store that is not empty: refused, nothing written.
    let out = run_in(
        dir.path(),
        &["store", "copy", "--from", "sqlite:data", "--to", &db.url],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert_eq!(timeline(dir.path(), &["--store", &db.url]), in_sqlite);

    // The copy is a working store: a new key is recorded and revoked there, with new ids.
    std::fs::write(dir.path().join("tree/b.env"), format!("TOKEN={second}\n")).unwrap();
    let err = scan(&["--store", &db.url]);
    assert!(
        err.contains("1 new") && err.contains("1 revoked and confirmed dead"),
        "{err}"
    );
    let grown = timeline(dir.path(), &["--store", &db.url]);
    let jobs: Vec<i64> = grown["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["jobs"][0]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(jobs.len(), 2, "{grown:#}");
    assert_ne!(jobs[0], jobs[1], "{grown:#}");

    // And back to SQLite: the same again.
    let out = run_in(
        dir.path(),
        &["store", "copy", "--from", &db.url, "--to", "sqlite:back.db"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(timeline(dir.path(), &["--store", "sqlite:back.db"]), grown);
    let back = std::fs::read(dir.path().join("back.db")).unwrap();
    for s in [&first, &second] {
        assert!(
            !back.windows(s.len()).any(|w| w == s.as_bytes()),
            "back.db holds a secret"
        );
    }
    assert!(!db.holds(&first) && !db.holds(&second), "a table holds a secret");
}
