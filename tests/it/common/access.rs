//! Shared set-up for the blast-radius tests: a simulator holding keys with their
//! `[[key.grant]]`s, a directory where the keys leak in one env file, a `scan --access` of it,
//! and readers over the reach each finding carries in the JSON report.

use std::path::Path;

use serde_json::Value;

use super::fake_verify::SimProc;
use super::run_in;

/// A running simulator and the directory its keys leaked into (`ci.env`).
pub struct Leak {
    pub sim: SimProc,
    pub dir: tempfile::TempDir,
}

impl Leak {
    /// Starts the simulator with `keys_toml` and writes each `(VAR, secret)` to `ci.env`.
    pub fn start(keys_toml: &str, env: &[(&str, &str)]) -> Leak {
        let sim = SimProc::start(keys_toml);
        let dir = tempfile::tempdir().unwrap();
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(dir.path().join("ci.env"), text).unwrap();
        Leak { sim, dir }
    }

    /// Starts the simulator with `keys_toml` and writes each `(FILE, text)` (key files that are
    /// not env lines: a service-account JSON).
    pub fn with_files(keys_toml: &str, files: &[(String, String)]) -> Leak {
        let sim = SimProc::start(keys_toml);
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Leak { sim, dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> &str {
        self.sim.config.to_str().unwrap()
    }

    /// `quench scan . --access --format json`, recorded in `data`; the report (exit 1: live
    /// keys were found).
    pub fn scan_with_access(&self) -> Value {
        self.scan(&["--access", "--format", "json"])
    }

    /// `quench scan . EXTRA… --data-dir data --config SIM`; stdout as JSON when `--format json`
    /// was asked, else as a JSON string.
    pub fn scan(&self, extra: &[&str]) -> Value {
        let out = self.scan_raw(extra);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if extra
            .windows(2)
            .any(|w| w == ["--format", "json"] || w == ["--format", "sarif"])
        {
            serde_json::from_slice(&out.stdout).unwrap()
        } else {
            Value::String(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    }

    pub fn scan_raw(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["scan", "."];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data-dir", "data", "--config", self.config()]);
        run_in(self.path(), &args, None)
    }

    /// Requests the simulator received for `issuer`.
    pub fn calls(&self, issuer: &str) -> Vec<Value> {
        self.sim
            .recorded()
            .into_iter()
            .filter(|r| r["issuer"] == issuer)
            .collect()
    }

    /// Neither the report text nor any file of the store holds any of `secrets`.
    pub fn assert_no_plaintext(&self, report: &str, secrets: &[&str]) {
        for s in secrets {
            assert!(!report.contains(s), "a secret reached the report");
            assert!(
                !super::fake_store::any_file_contains(&self.path().join("data"), s),
                "a secret reached the store"
            );
        }
    }
}

/// The finding of `secret` under `rule` in a JSON report.
pub fn finding<'a>(report: &'a Value, rule: &str, secret: &str) -> &'a Value {
    let fp = super::fingerprint(rule, secret.as_bytes());
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .unwrap_or_else(|| panic!("no {rule} finding in {report:#}"))
}

/// The reach of `secret`'s finding.
pub fn reach<'a>(report: &'a Value, rule: &str, secret: &str) -> &'a Value {
    let r = &finding(report, rule, secret)["reach"];
    assert!(r.is_object(), "{rule}: no reach in {report:#}");
    r
}

/// `"NAME PERMISSION"` for each resource of `kind`, in order (`-` without a permission).
pub fn names(reach: &Value, kind: &str) -> Vec<String> {
    reach["resources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| r["kind"] == kind)
        .map(|r| {
            format!(
                "{} {}",
                r["name"].as_str().unwrap(),
                r["permission"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// A string list of the reach (`capabilities`, `scopes`, `granted`, `denied`, `unseen`).
pub fn list<'a>(reach: &'a Value, field: &str) -> Vec<&'a str> {
    reach[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}
