//! `--format gitlab`: GitLab's secret-detection report, validated against our restatement of
//! the schema version it declares (tests/it/schemas/), from real `quench git` and `quench scan`
//! output.

use serde_json::Value;

use crate::common;
use common::fake_git::{quench_in, Repo};

const SCHEMA: &str = include_str!("schemas/gitlab-secret-detection-15.2.1.json");

/// The schema's complaints about `report`, one line each (empty when it validates).
fn schema_errors(report: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema excerpt is JSON");
    let validator = jsonschema::draft7::new(&schema).expect("schema excerpt compiles");
    validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn gitlab_report(dir: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let out = quench_in(dir, args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn git_history_report_validates_and_keeps_each_place_apart() {
    let mut repo = Repo::init(51);
    let shared = repo.secret();
    repo.write("a/app.env", &format!("TOKEN={shared}\n"));
    let first = repo.commit("first place");
    repo.write("b/worker.env", &format!("\n\nTOKEN={shared}\n"));
    let second = repo.commit("second place");
    let (code, report) = gitlab_report(repo.path(), &["git", "--no-progress", "--format", "gitlab"]);
    assert_eq!(code, 1, "findings exit 1");
    let errors = schema_errors(&report);
    assert!(errors.is_empty(), "schema violations: {errors:#?}\n{report:#}");
    assert_eq!(report["version"], "15.2.1");
    assert_eq!(report["scan"]["type"], "secret_detection");
    let vulns = report["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 2, "one vulnerability per place: {report:#}");
    let mut places: Vec<(String, String, u64)> = vulns
        .iter()
        .map(|v| {
            let l = &v["location"];
            (
                l["file"].as_str().unwrap().to_string(),
                l["commit"]["sha"].as_str().unwrap().to_string(),
                l["start_line"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    assert_eq!(
        places,
        vec![("a/app.env".into(), first, 1), ("b/worker.env".into(), second, 3)]
    );
    assert_ne!(vulns[0]["id"], vulns[1]["id"], "two places, two ids");
    assert_eq!(
        vulns[0]["identifiers"][0]["value"],
        vulns[1]["identifiers"][0]["value"]
    );
    assert!(
        !report.to_string().contains(&shared),
        "plaintext secret in the report"
    );
    // The same scan again gives the same ids, so GitLab keeps a dismissal across pipelines.
    let (_, again) = gitlab_report(repo.path(), &["git", "--no-progress", "--format", "gitlab"]);
    let ids = |r: &Value| {
        let mut v: Vec<String> = r["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&report), ids(&again));
}

#[test]
fn directory_scan_report_validates_and_a_clean_one_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = common::fake::Gen::new(52);
    let key = common::fake::github(&mut g, "ghp");
    std::fs::write(dir.path().join("settings.py"), format!("TOKEN = \"{key}\"\n")).unwrap();
    let (code, report) = gitlab_report(dir.path(), &["scan", "--format", "gitlab", "."]);
    assert_eq!(code, 1);
    let errors = schema_errors(&report);
    assert!(errors.is_empty(), "schema violations: {errors:#?}\n{report:#}");
    assert_eq!(report["vulnerabilities"][0]["location"]["file"], "settings.py");

    let clean = tempfile::tempdir().unwrap();
    let (code, report) = gitlab_report(clean.path(), &["scan", "--format", "gitlab", "."]);
    assert_eq!(code, 0);
    assert!(schema_errors(&report).is_empty(), "{report:#}");
    assert_eq!(report["vulnerabilities"], serde_json::json!([]));
}

#[test]
fn the_schema_excerpt_rejects_what_gitlab_rejects() {
    // Without this, a schema that accepted anything would pass the tests above.
    let dir = tempfile::tempdir().unwrap();
    let mut g = common::fake::Gen::new(53);
    let key = common::fake::github(&mut g, "ghp");
    std::fs::write(dir.path().join("k.env"), format!("K={key}\n")).unwrap();
    let (_, good) = gitlab_report(dir.path(), &["scan", "--format", "gitlab", "."]);
    assert!(schema_errors(&good).is_empty());
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 4] = [
        ("no commit", |r| {
            r["vulnerabilities"][0]["location"]
                .as_object_mut()
                .unwrap()
                .remove("commit");
        }),
        ("no identifiers", |r| {
            r["vulnerabilities"][0]["identifiers"] = serde_json::json!([])
        }),
        ("time with an offset", |r| {
            r["scan"]["end_time"] = "2026-01-01T00:00:00+00:00".into()
        }),
        ("lower-case severity", |r| {
            r["vulnerabilities"][0]["severity"] = "critical".into()
        }),
    ];
    for (what, break_it) in breakages {
        let mut bad = good.clone();
        break_it(&mut bad);
        assert!(!schema_errors(&bad).is_empty(), "{what}: accepted");
    }
}
