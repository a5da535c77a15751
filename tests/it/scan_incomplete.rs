//! `quench scan` says so when data it was asked to scan was not read: exit status 2 (with
//! nothing found) and a named skip, never a clean 0 that claims the data was clean.

use std::path::Path;

use crate::common;

fn scan(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    common::scan_json(dir, args)
}

fn skipped_kinds(report: &serde_json::Value) -> Vec<String> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_truncated_gzip_exits_2() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..2000 {
        writeln!(gz, "line {i}: nothing to see here, just ordinary log text").unwrap();
    }
    let full = gz.finish().unwrap();
    std::fs::write(dir.path().join("app.log.gz"), &full[..full.len() / 2]).unwrap();
    let (code, report) = scan(dir.path(), &["."]);
    assert_eq!(code, 2, "{report:#}");
    assert!(
        skipped_kinds(&report).contains(&"read-error".to_string()),
        "{report:#}"
    );
    // The whole file, intact, is clean: exit 0.
    std::fs::write(dir.path().join("app.log.gz"), &full).unwrap();
    assert_eq!(scan(dir.path(), &["."]).0, 0);
}

/// A named path that exists but cannot be opened (a symbolic link to itself: `open` fails
/// with "too many levels of symbolic links", whoever runs the test, root included).
#[cfg(unix)]
#[test]
fn an_explicitly_named_file_that_cannot_be_read_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.txt"), "nothing here\n").unwrap();
    std::os::unix::fs::symlink("self.txt", dir.path().join("self.txt")).unwrap();
    let (code, report) = scan(dir.path(), &["ok.txt", "self.txt"]);
    assert_eq!(code, 2, "{report:#}");
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"] == "self.txt" && s["kind"] == "unreadable"),
        "{report:#}"
    );
    assert_eq!(scan(dir.path(), &["ok.txt"]).0, 0);
}

/// Directories nested past the system's path limit (4,096 bytes on Linux; 24 levels of long
/// names here): the walker cannot open what lies below, which is named and exits 2.
#[test]
fn directories_deeper_than_the_path_limit_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // mkdir -p of 8 levels at a time, from inside the last one: no path passed to the system
    // is longer than it allows.
    let name = "d".repeat(250);
    let chunk = [name.as_str(); 8].join("/");
    let script =
        format!("for i in 1 2 3; do mkdir -p {chunk} && cd -P {chunk} || exit 1; done; echo x > leaf.txt");
    let ok = std::process::Command::new("sh")
        .current_dir(dir.path())
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(ok.success(), "building the deep tree");
    let (code, report) = scan(dir.path(), &["."]);
    assert_eq!(code, 2, "{report:#}");
    assert!(
        skipped_kinds(&report).contains(&"path-too-long".to_string()),
        "{report:#}"
    );
    // GNU rm removes a tree of any depth; the temp dir's own cleanup would run out of file
    // descriptors on one this deep.
    let _ = std::process::Command::new("rm")
        .current_dir(dir.path())
        .args(["-rf", &name])
        .status();
}

/// A gzip bomb (here 80 MB of one repeated byte in about a hundred kilobytes): inflating stops at a cap
/// relative to the compressed size, named in a skip, instead of scanning without end; what
/// came before the cap is still scanned.
#[test]
fn a_gzip_bomb_is_capped_with_a_note() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let token = common::fake::github(&mut common::fake::Gen::new(173), "ghp");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    writeln!(gz, "GITHUB_TOKEN={token}").unwrap();
    let line = [b'.'; 1 << 20];
    for _ in 0..80 {
        gz.write_all(&line).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    std::fs::write(dir.path().join("app.log.gz"), &bomb).unwrap();
    let (code, report) = scan(dir.path(), &["."]);
    assert_eq!(code, 1, "the key before the cap is found: {report:#}");
    let skip = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "expansion-cap")
        .unwrap_or_else(|| panic!("no expansion-cap skip: {report:#}"));
    assert!(skip["reason"].as_str().unwrap().contains("gzip bomb"), "{skip:#}");
    let scanned = report["summary"]["bytes_scanned"].as_u64().unwrap();
    assert!(
        scanned <= (64 << 20) + 1,
        "scanned {scanned} bytes of an 80 MB bomb"
    );
}
