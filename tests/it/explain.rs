//! `--explain` through the binary: every candidate a filter drops is named with the filter and
//! the reason, on stderr and in the JSON summary, without the value; and `rules check` says why
//! a positive example was not found.

use crate::common;

use std::fs;

use common::fake::{self, Gen};
use common::run_in;
use serde_json::Value;

/// A Slack bot token whose first number is an ascending run: the shape of a documentation
/// stand-in (`xoxb-123456789012-…`), which the placeholder filter drops.
fn sequential_slack(g: &mut Gen) -> String {
    let real = fake::slack_bot(g);
    format!("xoxb-123456789012{}", &real["xoxb-123456789012".len()..])
}

#[test]
fn scan_explain_names_the_filter_and_reason_for_each_dropped_candidate() {
    let d = tempfile::tempdir().unwrap();
    let mut g = Gen::new(19);
    let seq = sequential_slack(&mut g);
    let kept = fake::slack_bot(&mut g);
    let allowed = fake::slack_bot(&mut g);
    fs::write(
        d.path().join("app.env"),
        format!("SLACK_TOKEN={seq}\nOTHER_SLACK={kept}\nTEST_SLACK={allowed} # quench:allow\n"),
    )
    .unwrap();

    // Without --explain nothing is said of the dropped token.
    let plain = run_in(d.path(), &["scan", "--no-progress", "."], None);
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(!err.contains("explain"), "{err}");

    let out = run_in(d.path(), &["scan", "--explain", "-f", "json", "."], None);
    assert_eq!(out.status.code(), Some(1), "the real-shaped token is still found");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stderr
        .lines()
        .find(|l| l.contains("slack.bot-token") && l.contains("explain"))
        .unwrap_or_else(|| panic!("no explanation for the Slack rule:\n{stderr}"));
    assert!(line.contains("app.env:1:13"), "{line}");
    assert!(
        line.contains("placeholder filter") && line.contains("sequential"),
        "{line}"
    );
    // The value never appears, neither dropped nor found: only redacted previews.
    for s in [&seq, &kept, &allowed] {
        assert!(!stderr.contains(s.as_str()) && !stdout.contains(s.as_str()));
    }

    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped = report["summary"]["dropped"].as_array().expect("summary.dropped");
    let slack: Vec<&Value> = dropped
        .iter()
        .filter(|d| d["rule_id"] == "slack.bot-token" && d["filter"] != "inline-allow")
        .collect();
    assert_eq!(slack.len(), 1, "{dropped:?}");
    assert_eq!(slack[0]["filter"], "placeholder");
    assert_eq!(slack[0]["line"], 1);
    assert!(slack[0]["preview"].as_str().unwrap().starts_with("xoxb-"));
    // The line marked quench:allow is named as such.
    let inline: Vec<&Value> = dropped.iter().filter(|d| d["filter"] == "inline-allow").collect();
    assert_eq!(inline.len(), 1, "{dropped:?}");
    assert_eq!(
        (inline[0]["line"].as_u64(), inline[0]["rule_id"].as_str()),
        (Some(3), Some("slack.bot-token"))
    );
    // The token on line 2 passed every filter: it is a finding, not an explanation.
    assert!(dropped
        .iter()
        .all(|d| d["line"] != 2 || d["rule_id"] != "slack.bot-token"));
    let found = report["findings"].as_array().unwrap();
    assert!(found.iter().any(|f| f["rule_id"] == "slack.bot-token"));
}

#[test]
fn git_explain_covers_history() {
    let repo = common::fake_git::Repo::init(19);
    let mut g = Gen::new(191);
    repo.write("ci.env", &format!("TOKEN={}\n", sequential_slack(&mut g)));
    repo.commit("placeholder token");
    let out = common::fake_git::quench_in(repo.path(), &["git", "--explain", "-f", "json", "."]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("slack.bot-token") && stderr.contains("placeholder filter"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["rule_id"] == "slack.bot-token" && d["path"] == "ci.env"));
}

#[test]
fn rules_check_says_why_a_positive_example_was_not_found() {
    let d = tempfile::tempdir().unwrap();
    // The positive example is a sequential placeholder, and a second rule's example fails
    // its entropy threshold: each failure names its filter.
    fs::write(
        d.path().join("acme.toml"),
        "[[rule]]\nid = \"acme.key\"\nname = \"Acme key\"\nissuer = \"acme\"\nidentity = \"org\"\n\
         keywords = [\"acme_\"]\npattern = '''\\b(acme_[a-z0-9]{16})\\b'''\n\
         examples = [\"k = acme_abcdefgh12345678\"]\nnegative_examples = [\"k = acme_short\"]\n\n\
         [[rule]]\nid = \"acme.flat\"\nname = \"Acme flat key\"\nissuer = \"acme\"\nidentity = \"org\"\n\
         keywords = [\"acmef_\"]\npattern = '''\\b(acmef_[a-z0-9]{16})\\b'''\nentropy = 3.5\n\
         examples = [\"k = acmef_q1q1q1q1q2q2q2q2\"]\nnegative_examples = [\"k = acmef_\"]\n",
    )
    .unwrap();
    let out = run_in(
        d.path(),
        &["rules", "check", "--explain", "--rules", "acme.toml"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("FAIL {id}: positive example not found")))
            .unwrap_or_else(|| panic!("no failure for {id}:\n{text}"))
            .to_string()
    };
    let seq = fail("acme.key");
    assert!(
        seq.contains("placeholder filter") && seq.contains("sequential"),
        "{seq}"
    );
    let flat = fail("acme.flat");
    assert!(
        flat.contains("entropy filter") && flat.contains("below the rule's minimum of 3.50"),
        "{flat}"
    );
    // --explain also says why each negative example did not match.
    assert!(
        text.lines()
            .any(|l| l.starts_with("NEGATIVE acme.key: negative example")
                && l.contains("pattern did not match")),
        "{text}"
    );
}
