//! Fixtures for the store and revocation tests: a small rule file (so the tests do not depend
//! on the built-in catalogue) and a scanned tree of fake GitHub tokens.

use std::path::Path;

use super::fake::Gen;

/// A rule for a made-up token format (`qtst_` + 36 characters) that no built-in rule claims,
/// sent to the `github` issuer's configured base; `extra` is appended verbatim (recipes).
pub fn github_rule(extra: &str) -> String {
    format!(
        r#"[[rule]]
id = "test.token"
name = "Test token"
issuer = "github"
identity = "user"
keywords = ["qtst_"]
pattern = '''\b(qtst_[A-Za-z0-9]{{36}})\b'''
{extra}
"#
    )
}

/// Writes `rules/test.toml` and a `repo/` (with a `.git` marker) holding `n` fake tokens, one
/// per file; returns the tokens.
pub fn repo_with_tokens(dir: &Path, seed: u64, n: usize, rule_extra: &str) -> Vec<String> {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/test.toml"), github_rule(rule_extra)).unwrap();
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let mut g = Gen::new(seed);
    (0..n)
        .map(|i| {
            let t = format!("qtst_{}", g.alnum(36));
            std::fs::write(repo.join(format!("notes{i}.txt")), format!("acme key {t}\n")).unwrap();
            t
        })
        .collect()
}

/// Whether any file under `dir` contains `needle`.
pub fn any_file_contains(dir: &Path, needle: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            any_file_contains(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        }
    })
}

/// Every finding in `dir/data` as `quench findings --json --timeline` prints it: the store's
/// view, which the revocation tests assert statuses, timelines and jobs against.
pub fn stored_findings(dir: &Path) -> Vec<serde_json::Value> {
    let out = super::run_in(
        dir,
        &["findings", "--json", "--timeline", "--data-dir", "data"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

/// Verify and revoke recipes in the GitHub shape, for [`github_rule`]'s test token.
pub const GITHUB_RECIPES: &str = r#"
[rule.verify]
url = "{api}/user"
headers = { Authorization = "Bearer {secret}" }
live = { status = [200] }
dead = { status = [401] }
identity = { principal = "json:login" }

[rule.revoke]
authority = "public"
method = "POST"
url = "{api}/credentials/revoke"
json = { credentials = ["{secret}"] }
ok = { status = [202] }
"#;

/// `quench scan` over [`repo_with_tokens`]'s layout with `quench.toml` and a store in `data`.
/// A scan that records into `data`; a policy in `quench.toml` only previews (no `--revoke`).
pub const STORE_SCAN: &[&str] = &[
    "scan",
    "repo",
    "--rules",
    "rules",
    "--config",
    "quench.toml",
    "--data-dir",
    "data",
];

/// [`STORE_SCAN`] that applies the policy in `quench.toml`.
pub const REVOKE_SCAN: &[&str] = &[
    "scan",
    "repo",
    "--revoke",
    "--rules",
    "rules",
    "--config",
    "quench.toml",
    "--data-dir",
    "data",
];
