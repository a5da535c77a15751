//! `quench baseline create` records today's findings without their secrets; `--baseline` then
//! hides those and reports only new ones, in git and file scans alike.

use crate::common;

use common::fake_git::{findings_of, git_json, only_location, quench_in, Repo};

#[test]
fn git_baseline_suppresses_old_findings_and_not_new_ones() {
    let mut repo = Repo::init(61);
    let old = repo.secret();
    repo.write("old.env", &format!("T={old}\n"));
    repo.commit("old");
    let out = quench_in(
        repo.path(),
        &["baseline", "create", "--git", ".", "-o", ".quench-baseline.json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(repo.path().join(".quench-baseline.json")).unwrap();
    assert!(!text.contains(&old), "the baseline holds no secret");
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(b["findings"].as_array().unwrap().len(), 1);
    assert_eq!(b["findings"][0]["path"], "old.env");
    assert_eq!(b["findings"][0]["line"], 1);
    assert_eq!(b["findings"][0]["rule_id"], "github.pat-classic");

    let new = repo.secret();
    repo.write("new.env", &format!("T={new}\n"));
    repo.commit("new");
    let (code, report, _) = git_json(repo.path(), &["--baseline", ".quench-baseline.json"]);
    assert_eq!(code, 1);
    only_location(&report, &new);
    assert!(findings_of(&report, &old).is_empty());
    assert_eq!(report["summary"]["suppressed_baseline"], 1);

    // The staged mode honours it too.
    let staged_old = format!("T={old}\nagain\n");
    repo.write("again.env", &staged_old);
    repo.git(&["add", "-A"]);
    let (code, _, _) = git_json(repo.path(), &["--staged", "--baseline", ".quench-baseline.json"]);
    assert_eq!(code, 0, "a baselined secret does not block a commit");
}

#[test]
fn file_baseline_works_with_scan() {
    let mut repo = Repo::init(62);
    let old = repo.secret();
    repo.write("dir/old.env", &format!("T={old}\n"));
    let base = repo.path().join("base.json");
    let out = quench_in(
        repo.path(),
        &["baseline", "create", "dir", "-o", base.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new = repo.secret();
    repo.write("dir/new.env", &format!("T={new}\n"));
    let (code, report) = common::scan_json(repo.path(), &["dir", "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(findings_of(&report, &new).len(), 1);
    assert!(findings_of(&report, &old).is_empty());
}

#[test]
fn baseline_create_refuses_flags_it_would_ignore() {
    let mut repo = Repo::init(63);
    let s = repo.secret();
    repo.write("k.env", &format!("T={s}\n"));
    repo.commit("a key");
    for flags in [
        &["--revoke"][..],
        &["--verify"],
        &["-f", "sarif"],
        &["--format", "json"],
        &["--store"],
        &["--show-secrets"],
        &["--no-progress"],
    ] {
        for target in [&["--git", "."][..], &["."]] {
            let mut args = vec!["baseline", "create"];
            args.extend_from_slice(target);
            args.extend_from_slice(&["-o", "b.json"]);
            args.extend_from_slice(flags);
            let out = quench_in(repo.path(), &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} accepted: {stderr}");
            assert!(stderr.contains(flags[0]), "{args:?}: names the flag: {stderr}");
            assert!(
                !repo.path().join("b.json").exists(),
                "{args:?}: wrote a baseline anyway"
            );
            assert!(
                !repo.path().join(".quench").exists(),
                "{args:?}: touched the store"
            );
        }
    }
    // Without them it works.
    let out = quench_in(repo.path(), &["baseline", "create", "--git", ".", "-o", "b.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
