//! Inputs that used to be scanned as the wrong thing or not at all: text saved as UTF-16 or
//! UTF-32 by Windows tools, and files bigger than the old 32 MiB cap. Both must be found at the
//! line and column of the original file; bad input gets a note or a named skip, never a panic.

use std::io::{Seek, SeekFrom, Write};

use serde_json::Value;

use crate::common::{self, fake::Gen};

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

/// (rule, path, line, column) of every location in a report.
fn locations(r: &Value) -> Vec<(String, String, u64, u64)> {
    let mut v = Vec::new();
    for f in r["findings"].as_array().unwrap() {
        for l in f["locations"].as_array().unwrap() {
            v.push((
                f["rule_id"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().trim_start_matches("./").to_string(),
                l["line"].as_u64().unwrap(),
                l["column"].as_u64().unwrap(),
            ));
        }
    }
    v.sort();
    v
}

#[test]
fn utf16_and_utf32_text_is_transcoded_and_located_in_the_original() {
    let mut g = Gen::new(16);
    let token = common::fake::github(&mut g, "ghp");
    let ps1 = format!(
        "# Deploy script\r\n$ErrorActionPreference = 'Stop'\r\n# café ünïcode 😀\r\n$env:GITHUB_TOKEN = \"{token}\"\r\nInvoke-Deploy\r\n"
    );
    let reg = format!(
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\Deploy]\r\n\"Token\"=\"{token}\"\r\n"
    );
    let d = tempfile::tempdir().unwrap();
    let mut bom = vec![0xFF, 0xFE];
    bom.extend(utf16(&ps1, false));
    std::fs::write(d.path().join("deploy.ps1"), bom).unwrap();
    std::fs::write(d.path().join("export.reg"), utf16(&reg, true)).unwrap();
    let mut le32 = vec![0xFF, 0xFE, 0, 0];
    le32.extend(ps1.chars().flat_map(|c| (c as u32).to_le_bytes()));
    std::fs::write(d.path().join("wide32.ps1"), le32).unwrap();
    let (code, r) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    let col = |text: &str| {
        let line = text.lines().find(|l| l.contains(&token)).unwrap();
        line[..line.find(&token).unwrap()].chars().count() as u64 + 1
    };
    let rule = "github.pat-classic".to_string();
    assert_eq!(
        locations(&r),
        vec![
            (rule.clone(), "deploy.ps1".into(), 4, col(&ps1)),
            (rule.clone(), "export.reg".into(), 4, col(&reg)),
            (rule, "wide32.ps1".into(), 4, col(&ps1)),
        ],
        "{r}"
    );
    assert_eq!(r["summary"]["skipped"], serde_json::json!({}), "{r}");
}

#[test]
fn utf16_on_standard_input_is_transcoded_like_a_file() {
    let mut g = Gen::new(18);
    let token = common::fake::github(&mut g, "ghp");
    let ps1 = format!("# Deploy\r\n# café 😀\r\n$env:GITHUB_TOKEN = \"{token}\"\r\n");
    let line = ps1.lines().nth(2).unwrap();
    let col = line[..line.find(&token).unwrap()].chars().count() as u64 + 1;
    let d = tempfile::tempdir().unwrap();
    let mut with_bom = vec![0xFF, 0xFE];
    with_bom.extend(utf16(&ps1, false));
    // With a byte-order mark (PowerShell's `Out-File`), and big-endian without one.
    for input in [with_bom, utf16(&ps1, true)] {
        let out = common::run_in(d.path(), &["scan", "-", "--format", "json"], Some(&input));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            locations(&r),
            vec![("github.pat-classic".to_string(), "-".to_string(), 3, col)],
            "{r}"
        );
        assert_eq!(r["findings"][0]["locations"][0]["context"], "stdin", "{r}");
    }
    // Eight-bit input with NUL bytes is still scanned as it was: the user piped it in.
    let mut binary = format!("TOKEN={token}\n").into_bytes();
    binary.extend([0u8, 1, 2, 0, 0xFF]);
    let out = common::run_in(d.path(), &["scan", "-", "--format", "json"], Some(&binary));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn bad_wide_input_gets_a_note_or_a_named_skip() {
    let mut g = Gen::new(17);
    let token = common::fake::github(&mut g, "ghp");
    let d = tempfile::tempdir().unwrap();
    // A byte-order mark in front of binary data: not UTF-16, so a binary skip that says why.
    let mut fake = vec![0xFF, 0xFE];
    fake.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(d.path().join("claims.bin"), fake).unwrap();
    // A lone mark: empty text, scanned, nothing found.
    std::fs::write(d.path().join("lone-bom.txt"), [0xFF, 0xFE]).unwrap();
    // An odd byte count: the text before is scanned, the stray byte noted.
    let mut odd = utf16(&format!("TOKEN={token}\r\n"), false);
    odd.push(b'x');
    std::fs::write(d.path().join("odd.txt"), odd).unwrap();
    let (code, r) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    let locs = locations(&r);
    assert_eq!(locs.len(), 1, "{r}");
    assert_eq!((locs[0].1.as_str(), locs[0].2, locs[0].3), ("odd.txt", 1, 7));
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{r}");
    assert_eq!(skipped[0]["kind"], "binary");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-16LE byte-order mark"),
        "{r}"
    );
    let notes = r["summary"]["notes"].to_string();
    assert!(notes.contains("odd.txt") && notes.contains("U+FFFD"), "{r}");
    assert_eq!(r["summary"]["files_scanned"], 2, "{r}");
}

/// A sparse file of `size` bytes with `text` written at `at`: big on paper, quick to make.
fn sparse(path: &std::path::Path, size: u64, at: u64, text: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    // Text first (a file whose first bytes are NULs is binary), then a hole of NULs.
    f.write_all(&b"log line\n".repeat(1000)).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(text).unwrap();
    f.set_len(size).unwrap();
}

#[test]
fn files_of_any_size_are_scanned_and_a_cap_is_never_silent() {
    let mut g = Gen::new(18);
    let token = common::fake::github(&mut g, "ghp");
    let d = tempfile::tempdir().unwrap();
    let size = 70u64 << 20;
    let at = size - (1 << 20);
    sparse(
        &d.path().join("dump.sql"),
        size,
        at,
        format!("\nINSERT INTO t VALUES ('{token}');\n").as_bytes(),
    );
    let (code, r) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    let locs = locations(&r);
    assert_eq!(locs.len(), 1, "{r}");
    assert_eq!(
        (locs[0].0.as_str(), locs[0].1.as_str()),
        ("github.pat-classic", "dump.sql")
    );
    assert_eq!(locs[0].2, 1002, "the key's line, counted across chunks");
    assert_eq!(r["summary"]["bytes_scanned"], size, "{r}");

    // With a cap, the file is skipped, counted, and named in JSON and SARIF.
    let (code, r) = common::scan_json(d.path(), &["--max-file-size", "1048576"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["summary"]["skipped"]["too-large"], 1, "{r}");
    let out = common::run_in(
        d.path(),
        &["scan", "--format", "sarif", "--max-file-size", "1048576"],
        None,
    );
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(n["descriptor"]["id"], "skipped/too-large", "{sarif}");
    assert!(n["message"]["text"].as_str().unwrap().contains("max-file-size"));
}
