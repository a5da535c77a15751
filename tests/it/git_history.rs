//! `quench git` over whole histories: each secret is found once, attributed to the commit that
//! introduced it, wherever it hides (removed later, side branch, tag only, deleted file, merge).

use crate::common;

use common::fake_git::{git_json, notes, only_location, Repo};

/// A history with one secret in each hiding place, and the commits that introduced them.
struct Scenario {
    repo: Repo,
    removed: (String, String),
    side: (String, String),
    tagged: (String, String),
    deleted: (String, String),
    merged_from_side: (String, String),
    evil_merge: (String, String),
    live: (String, String),
}

fn scenario() -> Scenario {
    let mut repo = Repo::init(4);
    repo.write("README.md", "hello\n");
    repo.commit("initial");

    // Added, then removed from the file in the next commit.
    let s = repo.secret();
    repo.write("config/app.env", &format!("TOKEN={s}\nDEBUG=1\n"));
    let c = repo.commit("add app config");
    repo.write("config/app.env", "TOKEN=\nDEBUG=1\n");
    repo.commit("remove secret from config");
    let removed = (s, c);

    // In a file that is deleted later.
    let s = repo.secret();
    repo.write("scripts/deploy.sh", &format!("export GH_TOKEN={s}\n"));
    let c = repo.commit("deploy script");
    repo.remove("scripts/deploy.sh");
    repo.commit("drop deploy script");
    let deleted = (s, c);

    // On a side branch that is never merged.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let s = repo.secret();
    repo.write("feature.txt", &format!("key = \"{s}\"\n"));
    let c = repo.commit("feature work");
    let side = (s, c);
    repo.git(&["checkout", "-q", "main"]);

    // Reachable only from a tag: the branch that held it is deleted.
    repo.git(&["checkout", "-q", "-b", "release-tmp"]);
    let s = repo.secret();
    repo.write("release.cfg", &format!("token: {s}\n"));
    let c = repo.commit("release config");
    repo.git(&["tag", "-a", "v1.0", "-m", "release"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "release-tmp"]);
    let tagged = (s, c);

    // Merged in from a branch (attributed to the branch's commit, not the merge), and added by
    // the merge commit itself.
    repo.git(&["checkout", "-q", "-b", "topic"]);
    let s = repo.secret();
    repo.write("topic/settings.ini", &format!("[gh]\ntoken={s}\n"));
    let c = repo.commit("topic settings");
    let merged_from_side = (s, c);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("main-only.txt", "unrelated\n");
    repo.commit("main moves on");
    repo.git(&["merge", "-q", "--no-ff", "--no-commit", "topic"]);
    let s = repo.secret();
    repo.write("merge-fix.txt", &format!("GITHUB_TOKEN={s}\n"));
    let c = repo.commit("Merge branch 'topic'");
    let evil_merge = (s, c);

    // Still at the tip of main.
    let s = repo.secret();
    repo.write("live.env", &format!("GH={s}\n"));
    let c = repo.commit("live secret");
    let live = (s, c);

    Scenario {
        repo,
        removed,
        side,
        tagged,
        deleted,
        merged_from_side,
        evil_merge,
        live,
    }
}

fn commit_of(loc: &serde_json::Value) -> &str {
    loc["commit"]["id"].as_str().unwrap_or("")
}

#[test]
fn every_hiding_place_is_found_once_with_its_introducing_commit() {
    let sc = scenario();
    let (code, report, stderr) = git_json(sc.repo.path(), &[]);
    assert_eq!(code, 1, "findings exit 1; stderr: {stderr}");
    let cases = [
        ("removed", &sc.removed, "config/app.env", false),
        ("deleted", &sc.deleted, "scripts/deploy.sh", false),
        ("side branch", &sc.side, "feature.txt", true),
        ("tag only", &sc.tagged, "release.cfg", false),
        (
            "merged from topic",
            &sc.merged_from_side,
            "topic/settings.ini",
            true,
        ),
        ("added by the merge", &sc.evil_merge, "merge-fix.txt", true),
        ("live", &sc.live, "live.env", true),
    ];
    for (what, (secret, commit), path, at_tip) in cases {
        let loc = only_location(&report, secret);
        assert_eq!(loc["path"], *path, "{what}: {loc:#}");
        assert_eq!(
            commit_of(loc),
            commit.as_str(),
            "{what}: wrong introducing commit: {loc:#}"
        );
        assert_eq!(loc["commit"]["at_tip"], at_tip, "{what}: at_tip: {loc:#}");
        assert_eq!(loc["commit"]["author_name"], "Ada Tester", "{what}");
        assert_eq!(loc["commit"]["author_email"], "ada@example.com", "{what}");
        assert!(
            loc["blob"].as_str().is_some_and(|b| b.len() == 40),
            "{what}: blob id: {loc:#}"
        );
        assert!(loc["line"].as_u64().is_some_and(|l| l >= 1), "{what}");
    }
    assert_eq!(report["summary"]["findings"], cases.len(), "{report:#}");
    // The attribution carries the commit summary and an RFC 3339 author time.
    let loc = only_location(&report, &sc.removed.0);
    assert_eq!(loc["commit"]["summary"], "add app config");
    let time = loc["commit"]["author_time"].as_str().unwrap_or("");
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "author_time {time:?}"
    );
    // No secret in the report.
    let text = report.to_string();
    assert!(!text.contains(&sc.live.0), "plaintext secret in the report");
}

#[test]
fn a_secret_copied_to_a_second_path_is_reported_at_both() {
    let mut repo = Repo::init(9);
    let s = repo.secret();
    repo.write("a.env", &format!("T={s}\n"));
    let first = repo.commit("a");
    repo.write("b.env", &format!("T={s}\n"));
    let second = repo.commit("copy");
    let (_, report, _) = git_json(repo.path(), &[]);
    let found = common::fake_git::findings_of(&report, &s);
    assert_eq!(found.len(), 1, "one secret, one finding: {report:#}");
    let locs = found[0]["locations"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = locs
        .iter()
        .map(|l| (l["path"].as_str().unwrap().to_string(), commit_of(l).to_string()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("a.env".to_string(), first), ("b.env".to_string(), second)]
    );
    // Both paths hold the same blob, which is scanned once.
    assert_eq!(report["summary"]["files_scanned"], 1, "{report:#}");
}

#[test]
fn since_reports_only_what_later_commits_introduced() {
    let mut sc = scenario();
    let base = sc.repo.head();
    let s = sc.repo.secret();
    sc.repo.write("new.env", &format!("NEW={s}\n"));
    let c = sc.repo.commit("new secret");
    let (code, report, stderr) = git_json(sc.repo.path(), &["--since", &base, "--branch", "main"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        report["summary"]["findings"], 1,
        "only the new secret: {report:#}"
    );
    assert_eq!(commit_of(only_location(&report, &s)), c);
    // Without --branch, HEAD's history: the same one secret.
    let (code, report, stderr) = git_json(sc.repo.path(), &["--since", &base]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        report["summary"]["findings"], 1,
        "only HEAD's new secret: {report:#}"
    );
    only_location(&report, &s);
    // With --all-refs every ref counts: what the side branch and the tag hold is not in
    // `base`'s history either, while everything `base` has is left out.
    let (_, report, _) = git_json(sc.repo.path(), &["--since", &base, "--all-refs"]);
    only_location(&report, &s);
    only_location(&report, &sc.side.0);
    only_location(&report, &sc.tagged.0);
    assert_eq!(report["summary"]["findings"], 3, "{report:#}");

    let (_, report, _) = git_json(sc.repo.path(), &["--range", &format!("{base}..HEAD")]);
    assert_eq!(report["summary"]["findings"], 1, "{report:#}");
    only_location(&report, &s);

    // Nothing new since HEAD: clean.
    let (code, report, _) = git_json(sc.repo.path(), &["--since", "HEAD", "--branch", "main"]);
    assert_eq!(code, 0, "{report:#}");
}

/// A full clone as CI has it: `main` at `base`, then a topic branch merged into main, a side
/// branch nobody merged, a tag on the side branch's commit, and one more commit on main.
struct Branches {
    repo: Repo,
    base: String,
    merged: String,
    side: String,
    tag_only: String,
    new_on_main: String,
    side_tip: String,
}

fn branches() -> Branches {
    let mut repo = Repo::init(31);
    repo.write("README.md", "hello\n");
    let base = repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "side"]);
    let side = repo.secret();
    repo.write("side.env", &format!("SIDE={side}\n"));
    let side_tip = repo.commit("side branch key");
    repo.git(&["checkout", "-q", "-b", "release"]);
    let tag_only = repo.secret();
    repo.write("release.env", &format!("REL={tag_only}\n"));
    repo.commit("release key");
    repo.git(&["tag", "-a", "v9", "-m", "release"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "release"]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    let merged = repo.secret();
    repo.write("topic.env", &format!("TOPIC={merged}\n"));
    repo.commit("topic key");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
    let new_on_main = repo.secret();
    repo.write("main.env", &format!("MAIN={new_on_main}\n"));
    repo.commit("main key");
    Branches {
        repo,
        base,
        merged,
        side,
        tag_only,
        new_on_main,
        side_tip,
    }
}

#[test]
fn since_leaves_out_other_branches_and_tags_but_keeps_merges() {
    let b = branches();
    let (code, report, stderr) = git_json(b.repo.path(), &["--since", &b.base]);
    assert_eq!(code, 1, "{stderr}");
    // In HEAD's history since base: main's own commit and what the merge brought from topic.
    only_location(&report, &b.new_on_main);
    only_location(&report, &b.merged);
    // Not in HEAD's history: the unmerged side branch and the tag-only commit.
    for (what, s) in [("side branch", &b.side), ("tag", &b.tag_only)] {
        assert!(
            common::fake_git::findings_of(&report, s).is_empty(),
            "{what}'s key reported by --since: {report:#}"
        );
    }
    assert_eq!(report["summary"]["findings"], 2, "{report:#}");
    // --all-refs: today's behaviour, every ref's commits base lacks.
    let (_, report, _) = git_json(b.repo.path(), &["--since", &b.base, "--all-refs"]);
    for s in [&b.new_on_main, &b.merged, &b.side, &b.tag_only] {
        only_location(&report, s);
    }
    assert_eq!(report["summary"]["findings"], 4, "{report:#}");
}

#[test]
fn since_with_branches_and_tags_scans_each_from_rev() {
    let b = branches();
    let (_, report, stderr) = git_json(b.repo.path(), &["--since", &b.base, "--branch", "side"]);
    assert_eq!(report["summary"]["findings"], 1, "{report:#} {stderr}");
    only_location(&report, &b.side);
    // A tag names its commit's history: the release key plus the side key below it.
    let (_, report, _) = git_json(b.repo.path(), &["--since", &b.base, "--branch", "v9"]);
    only_location(&report, &b.tag_only);
    only_location(&report, &b.side);
    assert_eq!(report["summary"]["findings"], 2, "{report:#}");
    // Two branches: the union of base..side and base..main.
    let (_, report, _) = git_json(
        b.repo.path(),
        &["--since", &b.base, "--branch", "side", "--branch", "main"],
    );
    assert_eq!(report["summary"]["findings"], 3, "{report:#}");
    // --all-refs and --branch contradict each other.
    let out = common::fake_git::quench_in(
        b.repo.path(),
        &["git", "--since", &b.base, "--all-refs", "--branch", "side"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn since_on_a_detached_head_scans_what_is_checked_out() {
    let b = branches();
    // CI checks out a pull request's head detached: here the side branch's tip.
    b.repo.git(&["checkout", "-q", "--detach", &b.side_tip]);
    let (code, report, stderr) = git_json(b.repo.path(), &["--since", &b.base]);
    assert_eq!(code, 1, "{stderr}");
    only_location(&report, &b.side);
    assert_eq!(
        report["summary"]["findings"], 1,
        "only the checked-out commit's history, not main's: {report:#}"
    );
    // Detached at base itself: nothing new.
    b.repo.git(&["checkout", "-q", "--detach", &b.base]);
    let (code, report, _) = git_json(b.repo.path(), &["--since", &b.base]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_range_does_not_report_a_secret_its_base_already_had() {
    let mut repo = Repo::init(12);
    let old = repo.secret();
    repo.write("a.env", &format!("OLD={old}\n"));
    let base = repo.commit("old secret");
    // Editing the file elsewhere makes a new blob that still holds the old secret.
    let new = repo.secret();
    repo.write("a.env", &format!("OLD={old}\nNEW={new}\n"));
    repo.commit("new secret");
    let (code, report, _) = git_json(repo.path(), &["--range", &format!("{base}..HEAD")]);
    assert_eq!(code, 1);
    only_location(&report, &new);
    assert!(
        common::fake_git::findings_of(&report, &old).is_empty(),
        "old secret re-reported: {report:#}"
    );
    assert_eq!(report["summary"]["findings"], 1, "{report:#}");
    // The full history names each secret once, at the commit that brought it.
    let (_, report, _) = git_json(repo.path(), &[]);
    assert_eq!(commit_of(only_location(&report, &old)), base);
}

#[test]
fn branch_limits_the_refs() {
    let sc = scenario();
    let (_, report, _) = git_json(sc.repo.path(), &["--branch", "main"]);
    assert!(
        common::fake_git::findings_of(&report, &sc.side.0).is_empty(),
        "side branch excluded"
    );
    assert!(
        common::fake_git::findings_of(&report, &sc.tagged.0).is_empty(),
        "tag excluded"
    );
    only_location(&report, &sc.live.0);
    only_location(&report, &sc.removed.0);
    let (_, report, _) = git_json(sc.repo.path(), &["--branch", "feature"]);
    only_location(&report, &sc.side.0);
}

#[test]
fn bare_mirror_gives_the_same_findings() {
    let sc = scenario();
    let mirror = tempfile::tempdir().unwrap();
    let m = mirror.path().join("m.git");
    common::fake_git::git_in(
        mirror.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            &sc.repo.path_str(),
            m.to_str().unwrap(),
        ],
    );
    let (_, a, _) = git_json(sc.repo.path(), &[]);
    let (code, b, stderr) = git_json(mirror.path(), &[m.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let fps = |r: &serde_json::Value| {
        let mut v: Vec<String> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fingerprint"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(fps(&a), fps(&b));
}

#[test]
fn stash_and_inline_allow_and_quenchignore() {
    let mut repo = Repo::init(21);
    repo.write("a.txt", "a\n");
    repo.commit("a");
    // Only in a stash.
    let stashed = repo.secret();
    repo.write("a.txt", &format!("a\nS={stashed}\n"));
    repo.git(&["stash", "-q"]);
    // Allowed inline.
    let allowed = repo.secret();
    repo.write("b.txt", &format!("T={allowed} # quench:allow test fixture\n"));
    // Ignored by fingerprint.
    let ignored = repo.secret();
    repo.write("c.txt", &format!("T={ignored}\n"));
    repo.commit("b and c");
    let (_, report, _) = git_json(repo.path(), &[]);
    only_location(&report, &stashed);
    assert!(common::fake_git::findings_of(&report, &allowed).is_empty());
    assert!(report["summary"]["suppressed_inline"].as_u64().unwrap() >= 1);
    let fp = common::fake_git::findings_of(&report, &ignored)[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    repo.write(".quenchignore", &format!("{fp}  # reviewed: test fixture\n"));
    let (_, report, _) = git_json(repo.path(), &[]);
    assert!(
        common::fake_git::findings_of(&report, &ignored).is_empty(),
        "{report:#}"
    );
    assert_eq!(report["summary"]["suppressed_ignored"], 1);
}

#[test]
fn non_utf8_paths_and_names_do_not_panic() {
    use std::os::unix::ffi::OsStrExt;
    let mut repo = Repo::init(33);
    let s = repo.secret();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.env");
    std::fs::write(repo.path().join(name), format!("T={s}\n")).unwrap();
    repo.git(&["add", "-A"]);
    let tree = repo.git(&["write-tree"]);
    // git would re-encode a Latin-1 name given to `git commit`; write the object by hand.
    let mut raw = format!("tree {tree}\nauthor ").into_bytes();
    raw.extend_from_slice(b"Jos\xe9 <jose@example.com> 1700000000 +0100\n");
    raw.extend_from_slice(b"committer Jos\xe9 <jose@example.com> 1700000000 +0100\n\nlatin-1 name\n");
    let mut child = common::fake_git::git_cmd(repo.path())
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    repo.git(&["update-ref", "refs/heads/main", &commit]);
    let (code, report, stderr) = git_json(repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let loc = only_location(&report, &s);
    assert_eq!(loc["path"], "caf\u{fffd}.env");
    assert_eq!(loc["commit"]["author_name"], "Jos\u{fffd}");
    assert_eq!(loc["commit"]["author_time"], "2023-11-14T23:13:20+01:00");
    assert!(notes(&report).is_empty(), "{report:#}");
}

#[test]
fn sarif_and_human_carry_the_commit() {
    let sc = scenario();
    let out = common::fake_git::quench_in(sc.repo.path(), &["git", "--no-progress", "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif json");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(results
        .iter()
        .any(|r| r["properties"]["commit"]["id"] == sc.removed.1.as_str()));
    let out = common::fake_git::quench_in(sc.repo.path(), &["git", "--no-progress"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&sc.removed.1[..10]), "{text}");
    assert!(text.contains("history only"), "{text}");
    assert!(!text.contains(&sc.removed.0), "plaintext secret in human output");
}

/// Every location of every finding, as a comparable list.
fn locations(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            f["locations"].as_array().unwrap().iter().map(move |l| {
                format!(
                    "{} {} {} {} {} {}",
                    f["fingerprint"], l["path"], l["line"], l["column"], l["blob"], l["commit"]
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn packed_history_gives_the_same_findings_as_loose_objects() {
    // Packs are read directly, not through libgit2: with offset deltas, with deltas that name
    // their base by id, and with a secret deep in a long delta chain.
    let mut sc = scenario();
    let mut lines: Vec<String> = (0..60).map(|i| format!("setting_{i} = {i}")).collect();
    let deep = sc.repo.secret();
    for i in 0..30 {
        lines[i * 2] = format!("setting_{} = changed {i}", i * 2);
        if i == 3 {
            lines[59] = format!("token = {deep}");
        }
        if i == 4 {
            lines[59] = "token = (rotated)".into();
        }
        sc.repo.write("settings.conf", &lines.join("\n"));
        sc.repo.commit(&format!("tune settings {i}"));
    }
    let (code, loose, stderr) = git_json(sc.repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    only_location(&loose, &deep);
    assert_eq!(loose["summary"]["findings"], 8, "{loose:#}");
    for config in [
        "repack.useDeltaBaseOffset=true",
        "repack.useDeltaBaseOffset=false",
    ] {
        sc.repo
            .git(&["-c", config, "repack", "-adfq", "--depth=50", "--window=50"]);
        let reachable_loose = sc.repo.git(&["count-objects", "-v"]);
        assert!(reachable_loose.contains("packs: 1"), "{reachable_loose}");
        let (code, packed, stderr) = git_json(sc.repo.path(), &[]);
        assert_eq!(code, 1, "{config}: {stderr}");
        assert_eq!(locations(&packed), locations(&loose), "{config}");
        assert_eq!(
            packed["summary"]["files_scanned"],
            loose["summary"]["files_scanned"]
        );
        assert!(
            packed["skipped"].as_array().is_none_or(|s| s.is_empty()),
            "{packed:#}"
        );
    }
    // Packed history with newer loose objects on top, as between two `git gc` runs.
    let newer = sc.repo.secret();
    sc.repo
        .write("settings.conf", &format!("{}\nnew = {newer}\n", lines.join("\n")));
    let c = sc.repo.commit("loose on top of the pack");
    let (_, mixed, _) = git_json(sc.repo.path(), &[]);
    assert_eq!(commit_of(only_location(&mixed, &newer)), c);
    let mut without_newer = locations(&mixed);
    without_newer.retain(|l| !l.contains(&c));
    assert_eq!(without_newer, locations(&loose));
}
