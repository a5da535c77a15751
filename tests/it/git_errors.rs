//! Bad input to `quench git`: each case gives a clear message or a named skip, never a panic.

use crate::common;

use common::fake_git::{git_in, git_json, notes, only_location, quench_in, Repo};

#[test]
fn not_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = quench_in(dir.path(), &["git", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a git repository"), "{stderr}");
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "names the path: {stderr}"
    );

    let out = quench_in(dir.path(), &["git", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir"));
}

#[test]
fn empty_repository_exits_clean_with_a_note() {
    let repo = Repo::init(71);
    let (code, report, _) = git_json(repo.path(), &[]);
    assert_eq!(code, 0);
    assert!(
        notes(&report).iter().any(|n| n.contains("no commits")),
        "{report:#}"
    );
}

#[test]
fn bad_revisions_are_named() {
    let repo = Repo::init(72);
    repo.write("a", "a\n");
    repo.commit("a");
    for args in [
        &["--since", "nope"][..],
        &["--range", "HEAD"],
        &["--branch", "ghost"],
    ] {
        let mut all = vec!["git"];
        all.extend_from_slice(args);
        let out = quench_in(repo.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[1]), "{args:?}: {stderr}");
    }
}

#[test]
fn shallow_clone_is_scanned_with_a_truncation_note() {
    let mut repo = Repo::init(73);
    let old = repo.secret();
    repo.write("a.env", &format!("T={old}\n"));
    repo.commit("old");
    let new = repo.secret();
    repo.write("b.env", &format!("T={new}\n"));
    repo.commit("new");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    git_in(clone.path(), &["clone", "-q", "--depth", "1", &url, "c"]);
    let (code, report, stderr) = git_json(&clone.path().join("c"), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(notes(&report).iter().any(|n| n.contains("shallow")), "{report:#}");
    only_location(&report, &new);
    // Both secrets are in the one commit present; history before it is not.
    only_location(&report, &old);
}

/// One commit with two secrets; the test then makes `lost.env`'s blob unreadable. Returns the
/// repository, the secret that stays readable, and the blob's id.
fn two_secrets(seed: u64) -> (Repo, String, String) {
    let mut repo = Repo::init(seed);
    let kept = repo.secret();
    repo.write("kept.env", &format!("T={kept}\n"));
    let lost = repo.secret();
    repo.write("lost.env", &format!("T={lost}\n"));
    repo.commit("two secrets");
    let blob = repo.git(&["rev-parse", "HEAD:lost.env"]);
    (repo, kept, blob)
}

/// The scan still finds `kept`, and names `blob` at `lost.env` among the skipped.
fn scan_names_the_lost_blob(repo: &Repo, kept: &str, blob: &str) {
    let (code, report, stderr) = git_json(repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    only_location(&report, kept);
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["reason"].as_str().unwrap_or("").contains(blob) && s["path"] == "lost.env"),
        "names the unreadable object: {report:#}"
    );
}

#[test]
fn a_missing_blob_is_skipped_by_name_and_the_rest_is_scanned() {
    let (repo, kept, blob) = two_secrets(74);
    let object = repo.git_dir().join("objects").join(&blob[..2]).join(&blob[2..]);
    std::fs::remove_file(&object).expect("the blob is a loose object");
    scan_names_the_lost_blob(&repo, &kept, &blob);
}

#[test]
fn submodules_are_reported_not_followed() {
    let repo = Repo::init(75);
    repo.write("a", "a\n");
    let c = repo.commit("a");
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{c},vendor/lib"),
    ]);
    repo.git(&["commit", "-q", "-m", "add submodule"]);
    let (code, report, _) = git_json(repo.path(), &[]);
    assert_eq!(code, 0);
    assert!(
        notes(&report)
            .iter()
            .any(|n| n.contains("submodule") && n.contains("vendor/lib")),
        "{report:#}"
    );
}

#[test]
fn binary_and_oversized_blobs_are_skipped_with_reasons() {
    let mut repo = Repo::init(76);
    let s = repo.secret();
    std::fs::write(repo.path().join("blob.bin"), format!("\0\0bin {s}\n")).unwrap();
    let big = repo.secret();
    repo.write("big.txt", &format!("{}\nT={big}\n", "x".repeat(4096)));
    repo.commit("binary and big");
    let (code, report, _) = git_json(repo.path(), &["--max-file-size", "1024"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["skipped"]["binary"], 1);
    assert_eq!(report["summary"]["skipped"]["too-large"], 1);
    let (code, report, _) = git_json(repo.path(), &["--scan-binary"]);
    assert_eq!(code, 1);
    only_location(&report, &s);
    only_location(&report, &big);
}

#[test]
fn a_missing_commit_is_named_and_the_rest_of_history_is_scanned() {
    let mut repo = Repo::init(77);
    let first = repo.secret();
    repo.write("a.env", &format!("T={first}\n"));
    repo.commit("first");
    repo.write("b.txt", "b\n");
    let lost = repo.commit("second, to be lost");
    let last = repo.secret();
    repo.write("c.env", &format!("T={last}\n"));
    repo.commit("third");
    let object = repo.git_dir().join("objects").join(&lost[..2]).join(&lost[2..]);
    std::fs::remove_file(&object).expect("the commit is a loose object");
    let (code, report, stderr) = git_json(repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        notes(&report).iter().any(|n| n.contains(&lost)),
        "names the commit: {report:#}"
    );
    // Everything in the tip's tree is still scanned (attributed to the tip).
    only_location(&report, &last);
    only_location(&report, &first);
}

#[test]
fn a_corrupt_packed_blob_is_skipped_by_name_and_the_rest_is_scanned() {
    let (repo, kept, blob) = two_secrets(76);
    repo.git(&["repack", "-adq"]);
    let pack_dir = repo.git_dir().join("objects").join("pack");
    let idx = std::fs::read_dir(&pack_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a pack");
    // `verify-pack -v`: id, type, size, size in pack, offset.
    let listing = repo.git(&["verify-pack", "-v", idx.to_str().unwrap()]);
    let fields: Vec<u64> = listing
        .lines()
        .find(|l| l.starts_with(&blob))
        .expect("the blob is packed")
        .split_whitespace()
        .skip(3)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    let (in_pack, offset) = (fields[0], fields[1]);
    let pack = idx.with_extension("pack");
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    // Two bytes in the middle of its compressed data.
    let at = (offset + in_pack / 2) as usize;
    bytes[at] ^= 0xff;
    bytes[at + 1] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
    scan_names_the_lost_blob(&repo, &kept, &blob);
}

/// A branch whose tip commit is gone: before, "repository has no commits: nothing to scan" and
/// exit 0; now the ref is named and the exit status says history was not scanned.
#[test]
fn a_missing_tip_commit_is_named_and_exits_2() {
    let mut repo = Repo::init(78);
    let s = repo.secret();
    repo.write("a.env", &format!("T={s}\n"));
    let tip = repo.commit("only");
    let object = repo.git_dir().join("objects").join(&tip[..2]).join(&tip[2..]);
    std::fs::remove_file(&object).expect("the commit is a loose object");
    let (code, report, stderr) = git_json(repo.path(), &[]);
    assert_eq!(code, 2, "{stderr}\n{report:#}");
    let notes = notes(&report);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("refs/heads/main") && n.contains(&tip)),
        "names the ref and its commit: {notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("has no commits")), "{notes:?}");
}

/// A pack cut short (a failed transfer, a full disk): the history in it cannot be read, which
/// is exit 2 with a note, not a clean "nothing found".
#[test]
fn a_truncated_pack_is_named_and_exits_2() {
    let mut repo = Repo::init(79);
    for i in 0..5 {
        let s = repo.secret();
        repo.write(&format!("f{i}.env"), &format!("T={s}\n"));
        repo.commit(&format!("c{i}"));
    }
    repo.git(&["repack", "-adq"]);
    repo.git(&["prune-packed"]);
    let pack = std::fs::read_dir(repo.git_dir().join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("a pack");
    let bytes = std::fs::read(&pack).unwrap();
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).unwrap();
    std::fs::write(&pack, &bytes[..bytes.len() / 3]).unwrap();
    let out = quench_in(repo.path(), &["git", "--format", "json", "--no-progress"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(".idx") && stderr.contains("cannot be read") && !stderr.contains("has no commits"),
        "names the pack and says the history was not read: {stderr}"
    );
}

/// Walk flags choose files in a directory; `git` reads objects, so it refuses them instead of
/// accepting and ignoring them (a user who passed `--follow` must not think it applied).
#[test]
fn directory_walk_flags_are_refused_by_git_not_ignored() {
    let repo = Repo::init(72);
    for flag in ["--follow", "--include-build-dirs", "--respect-gitignore"] {
        let out = quench_in(repo.path(), &["git", flag]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
    let out = quench_in(repo.path(), &["baseline", "create", "--git", ".", "--follow"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a walk"));
}
