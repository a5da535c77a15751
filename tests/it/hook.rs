//! `quench hook install|uninstall`: the installed hook blocks a commit (or push) adding a fake
//! key, lets a clean one through, and foreign hooks are never clobbered.

use crate::common;

use common::fake_git::{git_cmd, git_in, quench_in, Repo};

fn install(repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["hook", "install"];
    args.extend_from_slice(extra);
    quench_in(repo.path(), &args)
}

#[test]
fn pre_commit_blocks_a_fake_key_and_lets_a_clean_commit_through() {
    let mut repo = Repo::init(51);
    repo.write("README.md", "hi\n");
    repo.commit("initial");
    let out = install(&repo, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hook = std::fs::read_to_string(repo.git_dir().join("hooks/pre-commit")).unwrap();
    assert!(
        hook.contains(env!("CARGO_BIN_EXE_quench")),
        "hook runs this binary: {hook}"
    );

    let before = repo.head();
    let s = repo.secret();
    repo.write("config/prod.env", &format!("A=1\nGITHUB_TOKEN={s}\n"));
    repo.git(&["add", "-A"]);
    let out = git_cmd(repo.path())
        .args(["commit", "-q", "-m", "add prod config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "commit must be blocked: {stderr}");
    assert_eq!(repo.head(), before, "no commit was made");
    assert!(
        stderr.contains("config/prod.env:2"),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("github.pat-classic"), "names the rule: {stderr}");
    assert!(
        stderr.contains("quench:allow") && stderr.contains(".quenchignore"),
        "how to suppress: {stderr}"
    );
    assert!(stderr.contains("commit blocked"), "{stderr}");
    assert!(!stderr.contains(&s), "secret printed in full: {stderr}");

    // Fixed: the commit goes through.
    repo.write("config/prod.env", "A=1\nGITHUB_TOKEN=${GITHUB_TOKEN}\n");
    repo.git(&["add", "-A"]);
    let out = git_cmd(repo.path())
        .args(["commit", "-q", "-m", "prod config from the environment"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(repo.head(), before);

    // `git commit -a` (a temporary index) is checked too.
    let s = repo.secret();
    repo.write("README.md", &format!("hi\ntoken {s}\n"));
    let out = git_cmd(repo.path())
        .args(["commit", "-q", "-a", "-m", "readme"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "commit -a must be blocked too");
}

#[test]
fn foreign_hooks_are_left_alone_unless_forced() {
    let repo = Repo::init(52);
    let hooks = repo.git_dir().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let foreign = "#!/bin/sh\necho my own hook\n";
    std::fs::write(hooks.join("pre-commit"), foreign).unwrap();

    let out = install(&repo, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--force") && stderr.contains("pre-commit"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        foreign
    );

    let out = quench_in(repo.path(), &["hook", "uninstall"]);
    assert_eq!(out.status.code(), Some(2), "refuses to remove a foreign hook");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by quench"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        foreign
    );

    let out = install(&repo, &["--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit.pre-quench")).unwrap(),
        foreign
    );
    // Re-installing over our own hook needs no force.
    assert!(install(&repo, &[]).status.success());

    let out = quench_in(repo.path(), &["hook", "uninstall"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        foreign,
        "restored"
    );
    assert!(!hooks.join("pre-commit.pre-quench").exists());
}

#[test]
fn pre_push_blocks_pushing_a_secret() {
    let mut repo = Repo::init(53);
    let remote = tempfile::tempdir().unwrap();
    git_in(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    repo.write("a.txt", "a\n");
    repo.commit("a");
    let out = install(&repo, &["--pre-push"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let push = |repo: &Repo| {
        git_cmd(repo.path())
            .args(["push", "-q", "origin", "main"])
            .output()
            .unwrap()
    };
    let out = push(&repo);
    assert!(
        out.status.success(),
        "clean push: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = repo.secret();
    repo.write("b.env", &format!("T={s}\n"));
    repo.commit("b");
    let out = push(&repo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "push must be blocked: {stderr}");
    assert!(
        stderr.contains("b.env") && stderr.contains("push blocked"),
        "{stderr}"
    );

    // The pushed history without the secret goes through; the old, already pushed commit is
    // not re-scanned.
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.write("c.txt", "c\n");
    repo.commit("c");
    let out = push(&repo);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
