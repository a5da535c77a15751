//! Numbers in the operator's config that no duration can hold (`1e30`, `nan`, `inf`, negative)
//! are a clear error naming the key, never a panic.

use crate::common;

#[test]
fn out_of_range_seconds_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "nothing\n").unwrap();
    let data = dir.path().join("data");
    for (section, key, value, flag) in [
        ("verify", "timeout_secs", "1e30", "--verify"),
        ("verify", "timeout_secs", "nan", "--verify"),
        ("verify", "max_retry_wait_secs", "inf", "--verify"),
        ("revoke", "timeout_secs", "1e30", "--revoke"),
        ("revoke", "backoff_secs", "-1.0", "--revoke"),
        ("notify", "timeout_secs", "1e30", "--store"),
        ("serve", "retry_base_secs", "1e30", ""),
    ] {
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, format!("[{section}]\n{key} = {value}\n")).unwrap();
        let cfg = cfg.to_str().unwrap();
        let args: Vec<&str> = if section == "serve" {
            vec![
                "serve",
                "--config",
                cfg,
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ]
        } else {
            vec![
                "scan",
                "a.txt",
                flag,
                "--config",
                cfg,
                "--data-dir",
                data.to_str().unwrap(),
            ]
        };
        let out = common::run_in(dir.path(), &args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "[{section}] {key} = {value}: {err}");
        assert!(!err.contains("panicked"), "[{section}] {key} = {value}: {err}");
        assert!(
            err.contains(key),
            "names the key: [{section}] {key} = {value}: {err}"
        );
    }
}
