//! Rule files from elsewhere: whatever the gitleaks importer cannot honour is a warning, never
//! dropped in silence, and no rule file replaces a built-in rule without saying so.

use crate::common;

use common::fake_store::{repo_with_tokens, GITHUB_RECIPES};
use common::run_in;
use common::sim_github::SimGithub;

#[test]
fn gitleaks_fields_that_are_not_imported_are_warned_about() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("gitleaks.toml"),
        r#"title = "custom"
[extend]
useDefault = true

[allowlist]
paths = ['''vendor/''']

[[rules]]
id = "widget-token"
regex = '''wdg_[A-Z0-9]{16}'''
keywords = ["wdg_"]
entropy = "high"
[rules.allowlist]
regexes = ['''wdg_(unclosed''', '''wdg_TEST.*''']
"#,
    )
    .unwrap();
    std::fs::write(d.path().join("x.txt"), "b = wdg_Q7W3E9R2T5Y8U1I4\n").unwrap();
    let out = run_in(
        d.path(),
        &["scan", "--rules", "gitleaks.toml", "x.txt", "-f", "json"],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the rule still loads and finds: {err}"
    );
    for (what, needle) in [
        ("top-level allowlist", "top-level `[allowlist]` is not imported"),
        ("extend", "`[extend]` is not followed"),
        ("bad allowlist regex", "does not compile and was ignored"),
        ("entropy = \"high\"", "entropy \"high\" is not a number"),
    ] {
        assert!(err.contains(needle), "no warning for {what}: {err}");
    }
}

#[test]
fn a_user_rule_with_a_built_in_id_is_announced() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("mine.toml"),
        "[[rule]]\nid = \"github.pat-classic\"\nname = \"Quieter\"\nissuer = \"github\"\nidentity = \"user\"\nkeywords = [\"never-matches-anything\"]\npattern = '''never-matches-anything-[0-9]{40}'''\n",
    )
    .unwrap();
    let token = common::fake::github(&mut common::fake::Gen::new(174), "ghp");
    std::fs::write(d.path().join("x.txt"), format!("t = {token}\n")).unwrap();
    let out = run_in(
        d.path(),
        &["scan", "--rules", "mine.toml", "x.txt", "-f", "json"],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule `github.pat-classic` replaces the rule of the same id from builtin:"),
        "the replacement is not silent: {err}"
    );
}

/// An issuer that echoes the token in an identity field (here the login it answers with): the
/// field is redacted before it reaches the report or the store.
#[test]
fn identity_fields_echoing_the_token_are_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 175, 1, GITHUB_RECIPES);
    let issuer = SimGithub::start(&[(&t[0], &format!("bot-{}", t[0]))]);
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!("[issuers.github]\napi = \"{}\"\n", issuer.url),
    )
    .unwrap();
    let out = run_in(
        tmp.path(),
        &[
            "scan",
            "repo",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--verify",
            "--store",
            "--data-dir",
            "data",
            "-f",
            "json",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let v = &report["findings"][0]["verification"];
    assert_eq!(v["verdict"], "live", "{v:#}");
    let principal = v["principal"].as_str().unwrap();
    assert!(
        principal.starts_with("bot-") && principal.contains('…'),
        "{principal}"
    );
    assert!(!stdout.contains(&t[0]), "the token is in the report");
    assert!(
        !common::fake_store::any_file_contains(&tmp.path().join("data"), &t[0]),
        "the token is in the store"
    );
}
