//! The store through the real binary: `scan --store` records, `findings` lists, and a corrupt
//! or locked database is a clear error.

use crate::common;

use common::fake_store::{any_file_contains, repo_with_tokens};
use common::run_in;

fn findings_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["findings", "--json"];
    a.extend_from_slice(args);
    let out = run_in(dir, &a, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("findings --json is JSON")
}

#[test]
fn scan_records_findings_in_the_user_data_directory_without_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = repo_with_tokens(tmp.path(), 1, 3, "");
    // The user's data directory, as `$XDG_DATA_HOME` names it.
    let home = tmp.path().join("home");
    let run_in = |dir: &std::path::Path, args: &[&str], _: Option<&[u8]>| {
        common::quench()
            .current_dir(dir)
            .env("XDG_DATA_HOME", &home)
            .args(args)
            .output()
            .unwrap()
    };
    let findings_json = |dir: &std::path::Path, args: &[&str]| -> serde_json::Value {
        let mut a = vec!["findings", "--json"];
        a.extend_from_slice(args);
        let out = run_in(dir, &a, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("findings --json is JSON")
    };
    let out = run_in(
        tmp.path(),
        &["scan", "repo", "--rules", "rules", "--store", "--format", "json"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = home.join("quench");
    assert!(
        data.join("quench.db").is_file(),
        "store not created in the user's data directory"
    );
    assert!(
        !tmp.path().join("repo/.quench").exists(),
        "nothing is written into the scanned tree"
    );
    for t in &tokens {
        assert!(
            !any_file_contains(&data, t),
            "the store holds a secret in plaintext"
        );
    }

    // `findings` run inside the repository uses the same store.
    let v = findings_json(&tmp.path().join("repo"), &[]);
    let mut stored: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    let mut scanned: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    stored.sort();
    scanned.sort();
    assert_eq!(stored, scanned);
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(f["status"], "detected");
        assert!(f["timeline"]["detected"].is_string());
        assert!(f["timeline"]["first_exposed"].is_string());
    }

    // A second scan sees them again and adds no duplicate.
    let out = run_in(tmp.path(), &["scan", "repo", "--rules", "rules", "--store"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 new, 3 seen again"), "{err}");
    let v = findings_json(&tmp.path().join("repo"), &["--rule", "test.token"]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 3);
    let v = findings_json(&tmp.path().join("repo"), &["--rule", "other.rule"]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn data_dir_flag_and_codeowners_attribution() {
    let tmp = tempfile::tempdir().unwrap();
    repo_with_tokens(tmp.path(), 2, 1, "");
    std::fs::create_dir_all(tmp.path().join("repo/.github")).unwrap();
    std::fs::write(
        tmp.path().join("repo/.github/CODEOWNERS"),
        "* @all\n*.txt @secops\n",
    )
    .unwrap();
    let out = run_in(
        tmp.path(),
        &["scan", "repo", "--rules", "rules", "--data-dir", "elsewhere"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("elsewhere/quench.db").is_file());
    assert!(!tmp.path().join("repo/.quench").exists());
    let v = findings_json(tmp.path(), &["--data-dir", "elsewhere"]);
    assert_eq!(v["findings"][0]["owners"], serde_json::json!(["@secops"]));
}

#[test]
fn missing_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &["findings", "--data-dir", "nothing-here"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at") && err.contains("nothing-here"),
        "{err}"
    );
}

#[test]
fn corrupt_database_is_a_clear_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    repo_with_tokens(tmp.path(), 3, 1, "");
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(
        tmp.path().join("data/quench.db"),
        b"this is not a database at all, just text\n".repeat(200),
    )
    .unwrap();
    for args in [
        vec!["scan", "repo", "--rules", "rules", "--data-dir", "data"],
        vec!["findings", "--data-dir", "data"],
    ] {
        let out = run_in(tmp.path(), &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("corrupt or not a quench database"), "{err}");
        assert!(err.contains("data/quench.db"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn locked_database_blocks_writers_with_a_clear_error_but_not_readers() {
    let tmp = tempfile::tempdir().unwrap();
    repo_with_tokens(tmp.path(), 4, 2, "");
    let out = run_in(
        tmp.path(),
        &["scan", "repo", "--rules", "rules", "--data-dir", "data"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(tmp.path().join("fast.toml"), "[store]\nbusy_timeout_ms = 200\n").unwrap();

    // Another process holds the write lock.
    let conn = rusqlite::Connection::open(tmp.path().join("data/quench.db")).unwrap();
    conn.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO audit (at, actor, action) VALUES ('x', 'test', 'lock');",
    )
    .unwrap();

    let out = run_in(
        tmp.path(),
        &[
            "scan",
            "repo",
            "--rules",
            "rules",
            "--data-dir",
            "data",
            "--config",
            "fast.toml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is locked by another process"), "{err}");

    // WAL: a reader is not blocked by the writer.
    let v = findings_json(tmp.path(), &["--data-dir", "data", "--config", "fast.toml"]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    conn.execute_batch("ROLLBACK").unwrap();
}
