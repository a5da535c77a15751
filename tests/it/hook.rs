//! `quench hook install|uninstall`: the installed hook blocks a commit (or push) adding a fake
//! key, lets a clean one through, chains a hook that was already there (and uninstall puts it
//! back), and keeps working when the binary that installed it moves.

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

/// Writes an executable script at `path`.
fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_existing_hook_is_chained_and_restored_on_uninstall() {
    let repo = Repo::init(52);
    repo.write("README.md", "hi\n");
    repo.commit("initial");
    let hooks = repo.git_dir().join("hooks");
    let ran = repo.git_dir().join("foreign-ran");
    let foreign = format!(
        "#!/bin/sh\necho ran >> '{}'\n[ -f .block-me ] && {{ echo 'my own hook says no' >&2; exit 3; }}\nexit 0\n",
        ran.display()
    );
    write_script(&hooks.join("pre-commit"), &foreign);

    let out = install(&repo, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pre-commit.pre-quench") && stderr.contains("runs first"),
        "{stderr}"
    );
    // Re-installing over our own hook keeps the chain.
    assert!(install(&repo, &[]).status.success());

    // A clean commit: both hooks run, the commit is made.
    repo.write("a.txt", "clean\n");
    repo.git(&["add", "-A"]);
    let out = git_cmd(repo.path())
        .args(["commit", "-q", "-m", "clean"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap(),
        "ran\n",
        "the chained hook ran"
    );

    // The chained hook's refusal stops the commit, with its own status and words.
    let before = repo.head();
    repo.write(".block-me", "x\n");
    repo.git(&["add", "-A"]);
    let out = git_cmd(repo.path())
        .args(["commit", "-q", "-m", "blocked"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("my own hook says no"));
    assert_eq!(repo.head(), before);

    // Uninstall puts the original back, byte for byte and executable.
    let out = quench_in(repo.path(), &["hook", "uninstall"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        foreign
    );
    assert!(!hooks.join("pre-commit.pre-quench").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(hooks.join("pre-commit"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "restored hook is executable");

    // Uninstall never removes a hook it did not write.
    let out = quench_in(repo.path(), &["hook", "uninstall"]);
    assert_eq!(out.status.code(), Some(2), "refuses to remove a foreign hook");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by quench"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        foreign
    );
}

#[test]
fn a_second_foreign_hook_is_refused_not_lost() {
    let repo = Repo::init(55);
    let hooks = repo.git_dir().join("hooks");
    write_script(&hooks.join("pre-commit.pre-quench"), "#!/bin/sh\nexit 0\n");
    write_script(&hooks.join("pre-commit"), "#!/bin/sh\necho second\n");
    let out = install(&repo, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\necho second\n"
    );
}

/// A copy of the quench under test in its own directory, as an installed binary would be.
fn copied_quench(dir: &std::path::Path) -> std::path::PathBuf {
    let exe = dir.join("quench");
    std::fs::create_dir_all(dir).unwrap();
    // A hard link, not a copy: a copy is written through a file descriptor that a process
    // forked meanwhile by another test holds until it execs, and running the copy then fails
    // with "Text file busy". A link opens nothing for writing.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_quench"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_quench"), &exe).unwrap();
    }
    exe
}

/// `git commit` with `path` as the whole PATH (plus where git itself lives).
fn commit_with_path(repo: &Repo, path: &str, msg: &str) -> std::process::Output {
    repo.git(&["add", "-A"]);
    git_cmd(repo.path())
        .env("PATH", path)
        .args(["commit", "-q", "-m", msg])
        .output()
        .unwrap()
}

#[test]
fn the_hook_falls_back_to_path_when_the_installed_binary_moves() {
    let mut repo = Repo::init(56);
    repo.write("README.md", "hi\n");
    repo.commit("initial");
    let bin = tempfile::tempdir().unwrap();
    let old = copied_quench(&bin.path().join("old"));
    let out = std::process::Command::new(&old)
        .args(["hook", "install"])
        .current_dir(repo.path())
        .env_remove("GIT_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // An upgrade moved quench elsewhere: the recorded binary is gone.
    std::fs::remove_file(&old).unwrap();
    let new_dir = bin.path().join("new");
    copied_quench(&new_dir);
    let path = format!("{}:/usr/bin:/bin", new_dir.display());

    let s = repo.secret();
    repo.write("k.env", &format!("T={s}\n"));
    let out = commit_with_path(&repo, &path, "a key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("commit blocked") && stderr.contains("k.env"),
        "quench on PATH scanned: {stderr}"
    );
    repo.write("k.env", "T=${TOKEN}\n");
    let out = commit_with_path(&repo, &path, "clean");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Neither the recorded binary nor one on PATH: stopped, with a message, not status 127.
    repo.write("b.txt", "b\n");
    let before = repo.head();
    let out = commit_with_path(&repo, "/usr/bin:/bin", "no quench anywhere");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(repo.head(), before);
    assert!(
        stderr.contains("no longer at")
            && stderr.contains("no quench on PATH")
            && stderr.contains("--no-verify"),
        "{stderr}"
    );
    assert!(!stderr.contains("not found"), "a shell's 127 message: {stderr}");
}

#[test]
fn pre_push_blocks_pushing_a_secret() {
    let mut repo = Repo::init(53);
    let remote = tempfile::tempdir().unwrap();
    git_in(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    repo.write("a.txt", "a\n");
    repo.commit("a");
    // A pre-push hook already there reads the pushed refs too: it must still get them.
    let seen = repo.git_dir().join("refs-seen");
    write_script(
        &repo.git_dir().join("hooks/pre-push"),
        &format!(
            "#!/bin/sh
cat >> '{}'
",
            seen.display()
        ),
    );
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
    let refs = std::fs::read_to_string(&seen).unwrap();
    assert!(
        refs.starts_with("refs/heads/main "),
        "the chained hook got the ref lines: {refs:?}"
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
