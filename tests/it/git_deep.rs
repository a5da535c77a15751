//! Hostile history shapes: a tree nested thousands of levels deep must be walked (the depth is
//! the pusher's choice, so recursion on it would let one push overflow a stack and abort the
//! process), with its secret still found and attributed.

use std::path::Path;

use crate::common;

use common::fake::{self, Gen};
use common::fake_git::only_location;

/// Commits, on `refs/heads/main` of the repository at `repo`, a tree `depth` directories deep
/// (`d/d/…/d/deep.env`) whose one file holds `content`; returns the commit id. Trees are built
/// bottom-up with libgit2, one object per level, which is fast where a work tree would need a
/// path longer than the system allows.
pub fn commit_deep_tree(repo: &Path, depth: usize, content: &str) -> String {
    let repo = git2::Repository::open(repo).expect("open repository");
    let blob = repo.blob(content.as_bytes()).expect("write blob");
    let mut b = repo.treebuilder(None).unwrap();
    b.insert("deep.env", blob, 0o100644).unwrap();
    let mut tree = b.write().unwrap();
    for _ in 0..depth {
        let mut b = repo.treebuilder(None).unwrap();
        b.insert("d", tree, 0o040000).unwrap();
        tree = b.write().unwrap();
    }
    let tree = repo.find_tree(tree).unwrap();
    let sig = git2::Signature::now("Ada Tester", "ada@example.com").unwrap();
    let parent = repo
        .refname_to_id("refs/heads/main")
        .ok()
        .and_then(|id| repo.find_commit(id).ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("refs/heads/main"), &sig, &sig, "deep", &tree, &parents)
        .unwrap()
        .to_string()
}

/// `quench git` on a tree 7,000 levels deep, run with a 512 KiB stack (below the 2 MiB a serve
/// worker has): before the walk was iterative this died of a stack overflow (SIGSEGV).
#[test]
fn a_tree_thousands_of_levels_deep_is_walked_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(dir.path()).unwrap();
    let token = fake::github(&mut Gen::new(170), "ghp");
    let commit = commit_deep_tree(dir.path(), 7_000, &format!("GITHUB_TOKEN={token}\n"));
    // An edit of the deep file that keeps the key: the key's introduction is still the first
    // commit, which takes a lookup of the deep path in the parent's tree.
    commit_deep_tree(dir.path(), 7_000, &format!("GITHUB_TOKEN={token}\nMORE=1\n"));
    let out = common::quench()
        .current_dir(dir.path())
        .env_remove("GIT_DIR")
        .args(["git", "--format", "json", "--no-progress", "--threads", "1"])
        .arg(dir.path())
        .output_with_stack_kib(512);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one finding, no crash: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loc = only_location(&report, &token);
    assert_eq!(loc["commit"]["id"], commit.as_str());
    let path = loc["path"].as_str().unwrap();
    assert_eq!(path.len(), 7_000 * 2 + "deep.env".len(), "the full path is kept");
    assert!(path.ends_with("/d/deep.env"), "{}", &path[path.len() - 40..]);
}

/// Runs a command under a smaller stack limit (`ulimit -s`), which is the main thread's stack.
trait WithStack {
    fn output_with_stack_kib(&mut self, kib: u32) -> std::process::Output;
}

impl WithStack for std::process::Command {
    fn output_with_stack_kib(&mut self, kib: u32) -> std::process::Output {
        let program = self.get_program().to_owned();
        let args: Vec<_> = self.get_args().map(|a| a.to_owned()).collect();
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit -s {kib} && exec \"$0\" \"$@\""))
            .arg(program)
            .args(args);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        if let Some(d) = self.get_current_dir() {
            sh.current_dir(d);
        }
        sh.stdin(std::process::Stdio::null());
        sh.output().expect("run under sh")
    }
}
