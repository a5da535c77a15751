//! The first run a newcomer makes: `quench scan .` on a clone of quench itself is clean (its
//! rule examples and planted fakes are allow-listed in the committed `.quenchignore`), build
//! outputs are skipped and counted rather than walked, and `.quenchignore` `path:` lines work
//! however the scan names the files.

use std::path::Path;

use serde_json::Value;

use crate::common;
use common::fake::{self, Gen};
use common::fake_git::{git_json, Repo};

fn scan(dir: &Path, args: &[&str]) -> (i32, Value) {
    common::scan_json(dir, args)
}

#[test]
fn the_repository_itself_scans_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, report) = scan(root, &["--no-progress", "."]);
    let found: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            f["locations"].as_array().unwrap().iter().map(move |l| {
                format!(
                    "{}:{} {} {}",
                    l["path"], l["line"], f["rule_id"], f["fingerprint"]
                )
            })
        })
        .collect();
    assert_eq!(
        code, 0,
        "a fresh clone's `scan .` reports (allow-list in .quenchignore): {found:#?}"
    );
    assert!(found.is_empty());
    // The rule files are skipped by name, not silently.
    let allowlisted = report["summary"]["skipped"]["allowlisted"].as_u64().unwrap_or(0);
    assert!(
        allowlisted >= 50,
        "the rule files are counted as allow-listed: {}",
        report["summary"]
    );
}

#[test]
fn build_outputs_are_skipped_and_counted_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(71);
    let (a, b, c) = (
        fake::github(&mut g, "ghp"),
        fake::github(&mut g, "ghp"),
        fake::github(&mut g, "ghp"),
    );
    let write = |rel: &str, text: String| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("node_modules/left-pad/index.js", format!("const t = '{a}';\n"));
    write("target/debug/build/out.env", format!("T={b}\n"));
    write("app/__pycache__/x.txt", format!("T={c}\n"));
    write("src/main.py", "print('hello')\n".into());
    let (code, report) = scan(dir.path(), &["."]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report["summary"]["skipped"]["build-output"], 3,
        "{}",
        report["summary"]
    );
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "build-output")
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert!(
        skipped.iter().any(|p| p.ends_with("node_modules")),
        "each skipped directory is named: {report:#}"
    );

    let (code, report) = scan(dir.path(), &["--include-build-dirs", "."]);
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["findings"], 3, "{report:#}");
    // Named as a root, a build directory is scanned.
    let (code, _) = scan(dir.path(), &["node_modules"]);
    assert_eq!(code, 1);
}

#[test]
fn quenchignore_path_lines_apply_to_scans_of_files_dirs_and_history() {
    let mut repo = Repo::init(72);
    let fixture = repo.secret();
    let real = repo.secret();
    repo.write("tests/fixtures/keys.env", &format!("FAKE={fixture}\n"));
    repo.write("app/prod.env", &format!("REAL={real}\n"));
    repo.write(
        ".quenchignore",
        "# fixtures hold fakes\npath:tests/fixtures/*.env\n",
    );
    repo.commit("fixtures and a real key");
    let only_real = |report: &Value, what: &str| {
        assert_eq!(report["summary"]["findings"], 1, "{what}: {report:#}");
        assert_eq!(
            common::fake_git::findings_of(report, &real).len(),
            1,
            "{what}: {report:#}"
        );
    };
    let (_, r) = scan(repo.path(), &["."]);
    only_real(&r, "scan .");
    assert_eq!(r["summary"]["skipped"]["allowlisted"], 1, "{}", r["summary"]);
    let abs = repo.path_str();
    let (_, r) = scan(repo.path(), &[abs.as_str()]);
    only_real(&r, "scan ABSOLUTE");
    // File by file, as pre-commit passes them, and from a subdirectory.
    let (_, r) = scan(repo.path(), &["tests/fixtures/keys.env", "app/prod.env"]);
    only_real(&r, "scan FILES");
    let (_, r) = scan(&repo.path().join("tests"), &[".."]);
    only_real(&r, "scan .. from a subdirectory");
    let (_, r, _) = git_json(repo.path(), &[]);
    only_real(&r, "git history");
    // Without the line the fixture is reported.
    repo.write(".quenchignore", "# nothing\n");
    let (_, r) = scan(repo.path(), &["."]);
    assert_eq!(r["summary"]["findings"], 2, "{r:#}");
}

#[test]
fn a_gitleaks_rule_without_keywords_is_anchored_on_its_regex() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gitleaks.toml"),
        "[[rules]]\nid = \"widget-token\"\ndescription = \"Widget token\"\nregex = '''\\b(wdg_[A-Z0-9]{16})\\b'''\n\
         [[rules]]\nid = \"hex-anything\"\nregex = '''[a-f0-9]{40}'''\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("x.txt"), "b = wdg_Q7W3E9R2T5Y8U1I4\n").unwrap();
    let out = common::run_in(
        dir.path(),
        &["scan", "--rules", "gitleaks.toml", "x.txt", "-f", "json"],
        None,
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(common::rule_ids(&r), ["gitleaks.widget-token"], "{r:#}");
    // A regex with no literal to anchor on is still refused, and the warning says why.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hex-anything")
            && err.contains("none can be read from its regex")
            && err.contains("fixed"),
        "{err}"
    );
    assert!(
        !err.contains("widget-token"),
        "the anchored rule is not warned about: {err}"
    );
}

#[test]
fn a_missing_local_sweep_path_is_named_not_read_as_a_url() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[sweep]\ndata_dir = \"state\"\nrepos = [\"repos/gone\", \"/nonexistent/quench-test/app\"]\n",
    )
    .unwrap();
    let out = common::run_in(tmp.path(), &["sweep", "--config", cfg.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for path in ["repos/gone", "/nonexistent/quench-test/app"] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{path}: failed")))
            .unwrap_or_else(|| panic!("no line for {path}: {stderr}"));
        assert!(line.contains("no such directory"), "{line}");
    }
    assert!(!stderr.contains("unsupported URL protocol"), "{stderr}");
}
