//! The progress display through the binary: nothing on a stderr that is not a terminal unless
//! asked, and with `--progress` plain lines that end with the total (files counted by the walk,
//! commits from the history plan), never a control character in a log.

use crate::common;

use std::fs;

use common::run_in;

/// The progress lines of a run's stderr.
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("quench: progress: "))
        .collect()
}

#[test]
fn a_scan_draws_nothing_on_a_pipe_unless_asked_and_then_ends_with_its_total() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..37 {
        let sub = d.path().join(format!("d{}", i % 4));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i}.txt")), format!("line {i}\n")).unwrap();
    }
    // A build directory is not walked, so not counted either.
    fs::create_dir_all(d.path().join("target")).unwrap();
    fs::write(d.path().join("target/out.txt"), "built\n").unwrap();

    let quiet = run_in(d.path(), &["scan", "."], None);
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert_eq!(quiet.status.code(), Some(0), "{err}");
    assert!(progress_lines(&err).is_empty(), "{err}");
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");

    let asked = run_in(d.path(), &["scan", "--progress", "."], None);
    let err = String::from_utf8_lossy(&asked.stderr);
    assert_eq!(asked.status.code(), Some(0), "{err}");
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "a log gets plain lines: {err:?}"
    );
    let lines = progress_lines(&err);
    let last = lines.last().unwrap_or_else(|| panic!("no progress line:\n{err}"));
    assert!(
        last.contains("] 37/37 files 100%") && last.ends_with("done"),
        "{last}"
    );

    let refused = run_in(d.path(), &["scan", "--progress", "--no-progress", "."], None);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn git_progress_counts_commits() {
    let repo = common::fake_git::Repo::init(23);
    for i in 0..5 {
        repo.write("notes.txt", &format!("revision {i}\n"));
        repo.commit(&format!("c{i}"));
    }
    let out = common::fake_git::quench_in(repo.path(), &["git", "--progress", "."]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines = progress_lines(&err);
    let last = lines.last().unwrap_or_else(|| panic!("no progress line:\n{err}"));
    assert!(last.contains("] 5/5 commits 100%"), "{last}");
    let quiet = common::fake_git::quench_in(repo.path(), &["git", "."]);
    assert!(progress_lines(&String::from_utf8_lossy(&quiet.stderr)).is_empty());
}
