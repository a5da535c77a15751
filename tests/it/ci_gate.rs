//! What a CI job gates on: `--fail-on any|live|verified` against the issuer simulator's
//! verdicts, SARIF graded by the verdict (a live key is an error that says so, a dead one a
//! note), one partial fingerprint per place, and the SARIF shape GitHub code scanning reads
//! (tests/it/schemas/sarif-github-code-scanning.json).

use std::path::Path;

use serde_json::Value;

use crate::common;
use common::fake::{self, Gen};
use common::fake_verify::SimProc;

const SARIF_SCHEMA: &str = include_str!("schemas/sarif-github-code-scanning.json");

fn sarif_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SARIF_SCHEMA).unwrap();
    let v = jsonschema::draft7::new(&schema).expect("schema compiles");
    let mut errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    // Every result's rule is one the driver declares.
    let run = &doc["runs"][0];
    let ids: Vec<&Value> = run["tool"]["driver"]["rules"]
        .as_array()
        .map(|r| r.iter().map(|r| &r["id"]).collect())
        .unwrap_or_default();
    for r in run["results"].as_array().into_iter().flatten() {
        if !ids.contains(&&r["ruleId"]) {
            errors.push(format!("result names undeclared rule {}", r["ruleId"]));
        }
    }
    errors
}

/// A simulator where `live` is a live GitHub key (any other well-formed key is dead) and
/// `flaky` answers 500 (inconclusive).
fn simulator(live: &str, flaky: &str) -> SimProc {
    SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octocat\"\nscopes = [\"repo\"]\n\
         [[key]]\nissuer = \"github\"\nsecret = \"{flaky}\"\nfault = \"500\"\n"
    ))
}

fn run(dir: &Path, sim: &SimProc, args: &[&str]) -> (i32, String, String) {
    let cfg = sim.config.to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", cfg.as_str(), "--no-progress"]);
    let out = common::run_in(dir, &all, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Keys {
    live: String,
    dead: String,
    flaky: String,
}

fn keys(seed: u64) -> Keys {
    let mut g = Gen::new(seed);
    Keys {
        live: fake::github(&mut g, "ghp"),
        dead: fake::github(&mut g, "ghp"),
        flaky: fake::github(&mut g, "ghp"),
    }
}

#[test]
fn fail_on_gates_by_the_verdict() {
    let k = keys(601);
    let sim = simulator(&k.live, &k.flaky);
    // (files, --fail-on, expected exit status)
    let cases: [(&[&str], &str, i32); 9] = [
        (&[&k.live, &k.dead], "any", 1),
        (&[&k.live, &k.dead], "live", 1),
        (&[&k.live, &k.dead], "verified", 1),
        (&[&k.dead], "any", 1),
        (&[&k.dead], "live", 0),
        (&[&k.dead], "verified", 0),
        // Inconclusive may still be live: `live` fails on it, `verified` does not.
        (&[&k.flaky, &k.dead], "live", 1),
        (&[&k.flaky, &k.dead], "verified", 0),
        (&[&k.flaky], "any", 1),
    ];
    for (secrets, fail_on, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        for (i, s) in secrets.iter().enumerate() {
            std::fs::write(dir.path().join(format!("k{i}.env")), format!("T={s}\n")).unwrap();
        }
        let (code, stdout, stderr) = run(
            dir.path(),
            &sim,
            &["scan", ".", "--verify", "--fail-on", fail_on, "-f", "json"],
        );
        assert_eq!(
            code,
            want,
            "{} key(s), --fail-on {fail_on}: {stderr}",
            secrets.len()
        );
        // Whatever fails the run, every finding is reported.
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["summary"]["findings"], secrets.len(), "{report:#}");
        if want == 0 {
            assert!(
                stderr.contains("fail the run (--fail-on"),
                "says why it passed: {stderr}"
            );
        }
    }
}

#[test]
fn fail_on_applies_to_git_and_needs_verify() {
    let k = keys(602);
    let sim = simulator(&k.live, &k.flaky);
    let repo = common::fake_git::Repo::init(602);
    repo.write("dead.env", &format!("T={}\n", k.dead));
    repo.commit("a dead key in history");
    let (code, _, stderr) = run(repo.path(), &sim, &["git", "--verify", "--fail-on", "verified"]);
    assert_eq!(code, 0, "a dead key does not fail --fail-on verified: {stderr}");
    let (code, _, _) = run(repo.path(), &sim, &["git", "--verify"]);
    assert_eq!(code, 1, "the default stays any");
    // Without verification there is no verdict to gate on: refused, not ignored.
    for cmd in ["git", "scan"] {
        for which in ["live", "verified"] {
            let (code, _, stderr) = run(repo.path(), &sim, &[cmd, "--fail-on", which]);
            assert_eq!(code, 2, "{cmd} --fail-on {which} without --verify: {stderr}");
            assert!(stderr.contains("--verify"), "{stderr}");
        }
    }
}

#[test]
fn sarif_level_and_message_follow_the_verdict_and_meet_code_scanning() {
    let k = keys(603);
    let sim = simulator(&k.live, &k.flaky);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("live.env"), format!("T={}\n", k.live)).unwrap();
    std::fs::write(dir.path().join("dead.env"), format!("T={}\n", k.dead)).unwrap();
    std::fs::write(dir.path().join("flaky.env"), format!("T={}\n", k.flaky)).unwrap();
    let (_, stdout, stderr) = run(dir.path(), &sim, &["scan", ".", "--verify", "-f", "sarif"]);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let errors = sarif_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    let by_file = |f: &str| {
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f)
            .unwrap_or_else(|| panic!("no result for {f}: {doc:#}"))
            .clone()
    };
    let live = by_file("live.env");
    assert_eq!(live["level"], "error");
    let msg = live["message"]["text"].as_str().unwrap();
    assert!(msg.contains("LIVE") && msg.contains("octocat"), "{msg}");
    let dead = by_file("dead.env");
    assert_eq!(dead["level"], "note", "{dead:#}");
    assert!(dead["message"]["text"].as_str().unwrap().contains("dead"));
    let flaky = by_file("flaky.env");
    assert!(
        flaky["message"]["text"]
            .as_str()
            .unwrap()
            .contains("inconclusive"),
        "{flaky:#}"
    );
    assert_ne!(flaky["level"], "note");
    for s in [&k.live, &k.dead, &k.flaky] {
        assert!(!stdout.contains(s.as_str()), "plaintext secret in SARIF");
    }
}

#[test]
fn one_secret_in_two_files_gets_two_partial_fingerprints() {
    let mut g = Gen::new(604);
    let key = fake::github(&mut g, "ghp");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.env"), format!("T={key}\n")).unwrap();
    std::fs::write(dir.path().join("b.env"), format!("T={key}\n")).unwrap();
    let sarif = || -> Value {
        let out = common::run_in(dir.path(), &["scan", ".", "-f", "sarif"], None);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let doc = sarif();
    assert!(sarif_errors(&doc).is_empty(), "{:#?}", sarif_errors(&doc));
    let prints = |d: &Value| {
        let mut v: Vec<(String, Value)> = d["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r["partialFingerprints"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let p = prints(&doc);
    assert_eq!(p.len(), 2, "{doc:#}");
    assert_ne!(p[0].1, p[1].1, "two places share a partial fingerprint: {p:?}");
    // Stable across runs, so code scanning matches the alert next time.
    assert_eq!(p, prints(&sarif()));
}
