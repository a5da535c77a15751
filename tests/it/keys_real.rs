//! Private keys as the real generators write them — `ssh-keygen`, `openssl`, `puttygen`, `gpg`
//! run in a temporary directory — found by the binary with the right rule, on their own and in
//! every way a key is pasted into other text (escaped newlines, YAML scalars, heredocs, triple
//! quotes, concatenated literals, base64), at the line and column where the key starts.
//!
//! A missing generator fails the test with the package to install (`.ci/run` installs them);
//! nothing here is skipped silently.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::common;
use quench::rules::keygen::{self, KeygenError};

fn key(recipe: &str) -> String {
    match keygen::generate(recipe) {
        Ok(k) => k,
        Err(KeygenError::Missing(why)) => panic!("{why}: install it (see .ci/run)"),
        Err(KeygenError::Failed(why)) => panic!("{why}"),
    }
}

/// (recipe, the rule that must report it). Encrypted keys are reported too, by their own
/// low-severity rules: the key is still a credential, now only as strong as its passphrase.
const KEYS: &[(&str, &str)] = &[
    ("openssh-ed25519", "private-key.openssh"),
    ("openssh-rsa", "private-key.openssh"),
    ("openssh-ecdsa", "private-key.openssh"),
    ("openssh-encrypted", "private-key.openssh-encrypted"),
    ("ssh-pem-rsa", "private-key.rsa"),
    ("ssh-pem-ecdsa", "private-key.ec"),
    ("ssh-pem-dsa", "private-key.dsa"),
    ("pkcs8-rsa", "private-key.pkcs8"),
    ("pkcs8-ec", "private-key.pkcs8"),
    ("pkcs8-ed25519", "private-key.pkcs8"),
    ("pkcs8-encrypted", "private-key.encrypted-pkcs8"),
    ("pkcs1-rsa", "private-key.rsa"),
    ("pkcs1-encrypted", "private-key.pem-encrypted"),
    ("sec1-ec", "private-key.ec"),
    ("putty-v2", "private-key.putty"),
    ("putty-v2-rsa", "private-key.putty"),
    ("putty-v3", "private-key.putty"),
    ("putty-v3-ecdsa", "private-key.putty"),
    ("putty-encrypted", "private-key.putty-encrypted"),
    ("pgp", "private-key.pgp"),
];

/// Path (relative to the scanned directory) → [(rule, line, column, fingerprint)].
fn by_path(report: &Value) -> BTreeMap<String, Vec<(String, u64, u64, String)>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for f in report["findings"].as_array().expect("findings") {
        for l in f["locations"].as_array().unwrap() {
            let path = l["path"].as_str().unwrap().trim_start_matches("./").to_string();
            out.entry(path).or_default().push((
                f["rule_id"].as_str().unwrap().to_string(),
                l["line"].as_u64().unwrap(),
                l["column"].as_u64().unwrap(),
                f["fingerprint"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[test]
fn every_generator_output_in_its_own_file_is_found_with_its_rule() {
    let d = tempfile::tempdir().unwrap();
    for (recipe, _) in KEYS {
        std::fs::write(d.path().join(format!("{recipe}.key")), key(recipe)).unwrap();
    }
    let (code, report) = common::scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let found = by_path(&report);
    for (recipe, rule) in KEYS {
        let hits = found.get(&format!("{recipe}.key")).cloned().unwrap_or_default();
        let rules: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(rules, vec![*rule], "{recipe}: {hits:?}");
        assert_eq!((hits[0].1, hits[0].2), (1, 1), "{recipe}");
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line as u64, (text[line_start..offset].chars().count() + 1) as u64)
}

/// Each way a multi-line key is written inside another file: (file name, content, the text
/// the finding must point at).
fn embeddings(pem: &str) -> Vec<(String, String, String)> {
    let pem = pem.trim_end();
    let lines: Vec<&str> = pem.lines().collect();
    let escaped = pem.replace('\n', "\\n");
    let indented = |n: usize| {
        lines
            .iter()
            .map(|l| format!("{}{l}", " ".repeat(n)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let concat = |open: &str, op: &str| {
        lines
            .iter()
            .map(|l| format!("{open}{l}\\n{open}"))
            .collect::<Vec<_>>()
            .join(&format!(" {op}\n    "))
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{pem}\n"));
    let begin = "-----BEGIN".to_string();
    vec![
        (
            "service.json".into(),
            format!("{{\n  \"name\": \"deploy\",\n  \"private_key\": \"{escaped}\\n\"\n}}\n"),
            begin.clone(),
        ),
        (
            "crlf.json".into(),
            format!("{{\"key\": \"{}\\r\\n\"}}\n", pem.replace('\n', "\\r\\n")),
            begin.clone(),
        ),
        (
            "nested.json".into(),
            format!("{{\"config\": \"{{\\\"key\\\": \\\"{}\\\"}}\"}}\n", pem.replace('\n', "\\\\n")),
            begin.clone(),
        ),
        (".env".into(), format!("APP=web\nDEPLOY_KEY=\"{escaped}\"\n"), begin.clone()),
        (
            "block.yaml".into(),
            format!("deploy:\n  key: |\n{}\n  user: git\n", indented(4)),
            begin.clone(),
        ),
        (
            "folded.yaml".into(),
            format!("deploy:\n  key: >\n{}\n  user: git\n", indented(4)),
            begin.clone(),
        ),
        (
            "one-line.yaml".into(),
            format!("key: \"{}\"\n", lines.join(" ")),
            begin.clone(),
        ),
        (
            "main.tf".into(),
            format!("resource \"x\" \"y\" {{\n  private_key = <<-EOT\n{}\n  EOT\n}}\n", indented(4)),
            begin.clone(),
        ),
        (
            "install.sh".into(),
            format!("#!/bin/sh\ncat > ~/.ssh/id <<'EOF'\n{pem}\nEOF\nchmod 600 ~/.ssh/id\n"),
            begin.clone(),
        ),
        (
            "settings.py".into(),
            format!("DEBUG = False\nKEY = \"\"\"{pem}\n\"\"\"\n"),
            begin.clone(),
        ),
        (
            "key.js".into(),
            format!("const key =\n    {};\n", concat("\"", "+")),
            begin.clone(),
        ),
        (
            "key.py".into(),
            format!("KEY = (\n    {}\n)\n", concat("'", "")),
            begin.clone(),
        ),
        ("key.php".into(), format!("<?php\n$key = {};\n", concat("\"", ".")), begin.clone()),
        (
            "secret.yaml".into(),
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ntype: Opaque\ndata:\n  tls.key: {b64}\n"),
            b64.clone(),
        ),
        ("ci.env".into(), format!("DEPLOY_KEY_B64={b64}\n"), b64),
    ]
}

#[test]
fn every_embedding_of_a_real_key_is_found_where_the_key_starts() {
    for (recipe, rule) in [
        ("pkcs1-rsa", "private-key.rsa"),
        ("openssh-ed25519", "private-key.openssh"),
    ] {
        let pem = key(recipe);
        let d = tempfile::tempdir().unwrap();
        let cases = embeddings(&pem);
        for (name, content, _) in &cases {
            std::fs::write(d.path().join(name), content).unwrap();
        }
        let (_, report) = common::scan_json(d.path(), &[]);
        let found = by_path(&report);
        let mut fingerprints = std::collections::BTreeSet::new();
        for (name, content, at) in &cases {
            let hits = found.get(name).cloned().unwrap_or_default();
            let want = line_col(content, content.find(at.as_str()).unwrap());
            assert!(
                hits.iter().any(|h| h.0 == rule && (h.1, h.2) == want),
                "{recipe} in {name}: want {rule} at {want:?}, got {hits:?}"
            );
            fingerprints.extend(hits.iter().filter(|h| h.0 == rule).map(|h| h.3.clone()));
        }
        // One key, one finding, however it was pasted.
        assert_eq!(fingerprints.len(), 1, "{recipe}: {fingerprints:?}");
    }
}
