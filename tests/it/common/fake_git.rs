//! Git repositories built with the `git` CLI in temporary directories, holding fake secrets,
//! and helpers to run `quench git` on them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::fake::{self, Gen};

/// A repository in a temporary directory, with a fixed identity and no user or system config.
pub struct Repo {
    pub dir: tempfile::TempDir,
    gen: Gen,
}

/// `git` with no global or system configuration leaking in, a fixed identity, `main` as the
/// first branch, no signing, and the test environment of [`super::quench`] for the quench a hook
/// runs: the one way every test runs git.
pub fn git_cmd(dir: &Path) -> Command {
    let test_env = super::quench();
    let mut c = Command::new("git");
    for (k, v) in test_env.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(dir)
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE");
    c
}

/// Runs git in `dir`, panicking with its stderr on failure; returns trimmed stdout.
pub fn git_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> String {
    let out = git_cmd(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    /// `git init` on branch `main`; `seed` makes the fake secrets reproducible.
    pub fn init(seed: u64) -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = Repo {
            dir,
            gen: Gen::new(seed),
        };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> String {
        self.path().display().to_string()
    }

    pub fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        git_in(self.path(), args)
    }

    /// A fresh fake GitHub token.
    pub fn secret(&mut self) -> String {
        fake::github(&mut self.gen, "ghp")
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, content).expect("write file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path().join(rel)).expect("remove file");
    }

    /// Stages everything and commits; returns the commit id.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn git_dir(&self) -> PathBuf {
        self.path().join(".git")
    }
}

/// Runs `quench <args>` in `dir` (the one runner: [`super::run_in`]).
pub fn quench_in(dir: &Path, args: &[&str]) -> Output {
    super::run_in(dir, args, None)
}

/// Runs `quench git --format json <args>` in `dir`; returns (exit code, report, stderr).
pub fn git_json(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["git", "--format", "json", "--no-progress"];
    all.extend_from_slice(args);
    let out = quench_in(dir, &all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}); stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), v, stderr)
}

/// The findings whose redacted secret matches `secret`'s redaction and whose fingerprint is the
/// secret's (the report never holds the secret itself).
pub fn findings_of<'a>(report: &'a Value, secret: &str) -> Vec<&'a Value> {
    let want = quench::finding::redact(secret.as_bytes());
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["secret_redacted"] == want.as_str())
                .filter(|f| {
                    let id = f["rule_id"].as_str().unwrap_or("");
                    f["fingerprint"] == super::fingerprint(id, secret.as_bytes()).as_str()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one location of the one finding of `secret`, failing the test otherwise.
pub fn only_location<'a>(report: &'a Value, secret: &str) -> &'a Value {
    let found = findings_of(report, secret);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one finding for the secret; report: {report:#}"
    );
    let locs = found[0]["locations"].as_array().expect("locations");
    assert_eq!(
        locs.len(),
        1,
        "expected exactly one location; finding: {:#}",
        found[0]
    );
    &locs[0]
}

pub fn notes(report: &Value) -> Vec<String> {
    report["summary"]["notes"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect())
        .unwrap_or_default()
}
