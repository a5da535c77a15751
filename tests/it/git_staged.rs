//! `quench git --staged`: only the lines the commit would add.

use crate::common;

use common::fake_git::{findings_of, git_json, only_location, Repo};

#[test]
fn reports_only_added_lines_of_staged_content() {
    let mut repo = Repo::init(41);
    let old = repo.secret();
    repo.write("app.env", &format!("OLD={old}\nA=1\n"));
    repo.commit("old secret, already committed");

    let new = repo.secret();
    let unstaged = repo.secret();
    repo.write("app.env", &format!("OLD={old}\nA=1\nNEW={new}\n"));
    repo.git(&["add", "app.env"]);
    // Changed in the work tree after staging: not part of the commit.
    repo.write("app.env", &format!("OLD={old}\nA=1\nNEW={new}\nU={unstaged}\n"));
    repo.write("untracked.env", &format!("U={unstaged}\n"));

    let (code, report, stderr) = git_json(repo.path(), &["--staged"]);
    assert_eq!(code, 1, "{stderr}");
    let loc = only_location(&report, &new);
    assert_eq!(loc["path"], "app.env");
    assert_eq!(loc["line"], 3);
    assert!(loc.get("commit").is_none(), "staged findings have no commit yet");
    assert!(
        findings_of(&report, &old).is_empty(),
        "already committed: {report:#}"
    );
    assert!(
        findings_of(&report, &unstaged).is_empty(),
        "not staged: {report:#}"
    );
}

#[test]
fn works_before_the_first_commit_and_on_clean_changes() {
    let mut repo = Repo::init(42);
    let s = repo.secret();
    repo.write("first.env", &format!("T={s}\n"));
    repo.git(&["add", "-A"]);
    let (code, report, stderr) = git_json(repo.path(), &["--staged"]);
    assert_eq!(code, 1, "{stderr}");
    only_location(&report, &s);

    repo.write("first.env", "T=\n");
    repo.commit("clean");
    repo.write("other.txt", "nothing to see\n");
    repo.git(&["add", "-A"]);
    let (code, report, _) = git_json(repo.path(), &["--staged"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["findings"], 0);
}

#[test]
fn renamed_files_add_nothing_and_inline_allow_holds() {
    let mut repo = Repo::init(43);
    let s = repo.secret();
    repo.write("a.env", &format!("T={s}\nmore\nlines\nhere\n"));
    repo.commit("a");
    repo.git(&["mv", "a.env", "b.env"]);
    let allowed = repo.secret();
    repo.write("c.env", &format!("T={allowed} # quench:allow fixture\n"));
    repo.git(&["add", "-A"]);
    let (code, report, _) = git_json(repo.path(), &["--staged"]);
    assert_eq!(
        code, 0,
        "a rename adds no secret and the new one is allowed: {report:#}"
    );
    assert_eq!(report["summary"]["suppressed_inline"], 1);
}

#[test]
fn honours_git_index_file_as_hooks_see_it() {
    // `git commit -a` runs hooks with GIT_INDEX_FILE pointing at a temporary index.
    let mut repo = Repo::init(44);
    repo.write("a.txt", "a\n");
    repo.commit("a");
    let s = repo.secret();
    repo.write("a.txt", &format!("a\nT={s}\n"));
    let tmp_index = repo.git_dir().join("index.test");
    let out = common::fake_git::git_cmd(repo.path())
        .env("GIT_INDEX_FILE", &tmp_index)
        .args(["add", "-A"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // The default index has nothing staged.
    let (code, _, _) = git_json(repo.path(), &["--staged"]);
    assert_eq!(code, 0);
    let out = common::quench()
        .current_dir(repo.path())
        .env("GIT_INDEX_FILE", &tmp_index)
        .args(["git", "--staged", "--format", "json", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    only_location(&v, &s);
}
