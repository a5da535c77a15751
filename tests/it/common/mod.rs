//! Shared helpers for the end-to-end tests: run the real binary, and make fake credentials
//! that are structurally valid (right prefix, length, checksum) but belong to no one.
#![allow(dead_code)]

pub mod access;
pub mod backends;
pub mod fake;
pub mod fake_git;
pub mod fake_serve;
pub mod fake_store;
pub mod fake_verify;
pub mod payloads;
pub mod pg_cluster;
pub mod sim_github;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The fingerprint key every test run of the binary uses, so that a test can compute the
/// fingerprint of its own fake secret (and so that no test creates a key in the real data
/// directory).
pub const FINGERPRINT_KEY: &str = "quench-integration-tests-fingerprint-key";

/// The fingerprint the binary gives `secret` under `rule_id` in these tests.
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    quench::finding::fingerprint_with(FINGERPRINT_KEY.as_bytes(), rule_id, secret)
}

/// The quench binary built for this test run. Its data directory is one that does not exist
/// unless a test passes its own (`--data-dir`, `[store] data_dir`, `QUENCH_DATA_DIR`): no test
/// writes to the real one.
pub fn quench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quench"));
    // Git's hook variables (set when the suite runs inside a hook) must not point quench at
    // this repository instead of the test's; nor may the user's data directory or store.
    c.env("QUENCH_FINGERPRINT_KEY", FINGERPRINT_KEY)
        .env_remove("QUENCH_DATA_DIR")
        .env("XDG_DATA_HOME", "/dev/null/quench-tests-data-home")
        .env_remove("QUENCH_STORE_URL")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env("NO_COLOR", "1");
    c
}

/// `quench scan . --verify --revoke --data-dir data --config SIM --config POLICY` in `dir`: the
/// scan the revocation tests run against the simulator. A test adds what it needs (admin
/// credentials in the environment) before running it.
pub fn revoking_scan(dir: &Path, sim_config: &Path, policy: &Path) -> Command {
    let mut c = quench();
    c.current_dir(dir)
        .args([
            "scan",
            ".",
            "--verify",
            "--revoke",
            "--data-dir",
            "data",
            "--config",
        ])
        .arg(sim_config)
        .arg("--config")
        .arg(policy);
    c
}

/// Runs quench with `args` in `dir`, optionally feeding `stdin`.
pub fn run_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = quench();
    c.current_dir(dir).args(args);
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn quench");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    child.wait_with_output().expect("wait for quench")
}

/// Runs a JSON-format scan and returns (exit code, parsed report).
pub fn scan_json(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["scan", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args, None);
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

/// Rule ids of the findings in a JSON report.
pub fn rule_ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["rule_id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
