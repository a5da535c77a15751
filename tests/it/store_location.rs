//! Where quench keeps its data, through the binary: never in a scanned tree (a store a
//! repository ships must not change what quench does), owner-only, and fingerprinted with a
//! key of the user's own rather than a published default.

use std::path::Path;
use std::process::Output;

use crate::common;

use common::fake_store::repo_with_tokens;

/// Runs quench in `dir` with `home` as `$XDG_DATA_HOME` (the user's data directory).
fn run_with_home(dir: &Path, home: &Path, args: &[&str]) -> Output {
    common::quench()
        .current_dir(dir)
        .env("XDG_DATA_HOME", home)
        .args(args)
        .output()
        .expect("run quench")
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A store committed in the scanned repository (`.quench/quench.db`, which earlier versions
/// used by default) that already knows the repository's keys: it is named in a note and
/// ignored, and the scan's findings are new in the user's own store.
#[test]
fn a_store_inside_the_scanned_tree_is_ignored_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    repo_with_tokens(tmp.path(), 180, 2, "");
    // The "planted" store: the same findings, recorded where the repository carries it.
    let planted = tmp.path().join("repo/.quench");
    let out = run_with_home(
        tmp.path(),
        &home,
        &[
            "scan",
            "repo",
            "--rules",
            "rules",
            "--data-dir",
            planted.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(planted.join("quench.db").is_file());

    let out = run_with_home(
        tmp.path(),
        &home,
        &["scan", "repo", "--rules", "rules", "--store"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a store inside a scanned path is ignored") && err.contains("repo/.quench"),
        "the planted store is named: {err}"
    );
    assert!(
        err.contains("2 new, 0 seen again"),
        "the planted store was read: {err}"
    );
    assert!(
        home.join("quench/quench.db").is_file(),
        "the user's store is used"
    );

    // Run from inside the repository, the store commands do not pick it up either.
    let out = run_with_home(&tmp.path().join("repo"), &home, &["findings", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
}

/// The data directory, the database and the fingerprint key quench creates are owner-only,
/// and the key is the user's own: two users' fingerprints of one secret differ, and
/// `QUENCH_FINGERPRINT_KEY` still decides when set.
#[cfg(unix)]
#[test]
fn data_is_owner_only_and_fingerprints_use_a_per_user_key() {
    let tmp = tempfile::tempdir().unwrap();
    repo_with_tokens(tmp.path(), 181, 1, "");
    let fingerprint_for = |home: &Path, key: Option<&str>| {
        let mut c = common::quench();
        c.current_dir(tmp.path())
            .env("XDG_DATA_HOME", home)
            .args(["scan", "repo", "--rules", "rules", "--store", "--format", "json"]);
        match key {
            Some(k) => c.env("QUENCH_FINGERPRINT_KEY", k),
            None => c.env_remove("QUENCH_FINGERPRINT_KEY"),
        };
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"][0]["fingerprint"].as_str().unwrap().to_string()
    };
    let (alice, bob) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let a1 = fingerprint_for(&alice, None);
    let a2 = fingerprint_for(&alice, None);
    let b = fingerprint_for(&bob, None);
    assert_eq!(a1, a2, "one user's key is kept");
    assert_ne!(a1, b, "each user has a key of their own");
    let data = alice.join("quench");
    let key = data.join("keys/fingerprint.key");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("keys")), 0o700);
    assert_eq!(mode(&key), 0o600, "fingerprint key");
    assert_eq!(mode(&data.join("quench.db")), 0o600, "database");
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let p = entry.path();
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "{}", p.display());
    }
    assert_eq!(
        fingerprint_for(&alice, Some("team-key")),
        fingerprint_for(&bob, Some("team-key")),
        "QUENCH_FINGERPRINT_KEY overrides"
    );

    // A key others can read is refused, not used.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = common::quench()
        .current_dir(tmp.path())
        .env("XDG_DATA_HOME", &alice)
        .env_remove("QUENCH_FINGERPRINT_KEY")
        .args(["scan", "repo", "--rules", "rules", "--format", "json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readable by others"), "{err}");
}
