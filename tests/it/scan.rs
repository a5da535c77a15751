//! End-to-end tests of `quench scan` through the real binary: what is found, where, how it is
//! reported, what is suppressed, and how bad input is handled.

use crate::common;

use std::fs;
use std::io::Write;

use common::fake::{self, Gen};
use common::{rule_ids, run_in, scan_json};
use serde_json::Value;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("findings array")
}

fn paths_of(f: &Value) -> Vec<String> {
    f["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn finds_a_token_with_location_and_exit_code_one() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(1), "ghp");
    fs::write(
        d.path().join("config.py"),
        format!("x = 1\nGITHUB_TOKEN = \"{tok}\"\n"),
    )
    .unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 1);
    let f = &findings(&r)[0];
    assert_eq!(f["rule_id"], "github.pat-classic");
    assert_eq!(f["issuer"], "github");
    assert_eq!(f["identity"], "user");
    let loc = &f["locations"][0];
    assert_eq!(loc["line"], 2);
    assert_eq!(loc["column"], 17);
    assert_eq!(loc["end_column"], 17 + 40);
    assert_eq!(loc["context"], "file");
    assert_eq!(f["fingerprint"].as_str().unwrap().len(), 32);
    for key in ["rule_name", "severity", "confidence", "secret_redacted"] {
        assert!(f.get(key).is_some(), "{key} missing");
    }
}

#[test]
fn clean_tree_exits_zero() {
    let d = tmp();
    fs::write(d.path().join("a.txt"), "nothing to see\n").unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 0);
    assert!(findings(&r).is_empty());
    assert_eq!(r["summary"]["files_scanned"], 1);
}

#[test]
fn secrets_are_redacted_unless_asked() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(2), "ghp");
    fs::write(d.path().join("a.env"), format!("T={tok}\n")).unwrap();
    for fmt in ["human", "json", "jsonl", "sarif"] {
        let out = run_in(d.path(), &["scan", "--format", fmt], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{fmt}");
        assert!(!text.contains(&tok), "{fmt} leaked the secret");
        assert!(text.contains(&tok[..6]), "{fmt} shows no preview");
    }
    let out = run_in(d.path(), &["scan", "--format", "json", "--show-secrets"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&tok));
}

#[test]
fn failed_checksum_is_not_a_finding() {
    let d = tmp();
    let mut tok = fake::github(&mut Gen::new(3), "ghp").into_bytes();
    tok[8] = if tok[8] == b'a' { b'b' } else { b'a' };
    fs::write(
        d.path().join("a.txt"),
        [b"token: ".as_slice(), &tok, b"\n"].concat(),
    )
    .unwrap();
    fs::write(
        d.path().join("docs.md"),
        "ghp_16C7e42F292c69C2E7C10c838347Ae178B4a\n",
    )
    .unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 0, "{r}");
}

#[test]
fn same_secret_twice_is_one_finding_with_two_locations() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(4), "ghp");
    fs::write(d.path().join("a.txt"), format!("{tok}\n")).unwrap();
    fs::create_dir(d.path().join("sub")).unwrap();
    fs::write(d.path().join("sub/b.txt"), format!("\n\n{tok}\n")).unwrap();
    let (_, r) = scan_json(d.path(), &[]);
    assert_eq!(findings(&r).len(), 1);
    let mut paths = paths_of(&findings(&r)[0]);
    paths.sort();
    assert_eq!(paths.len(), 2);
    assert!(
        paths[0].ends_with("a.txt") && paths[1].ends_with("b.txt"),
        "{paths:?}"
    );
}

#[test]
fn gitignored_files_are_scanned_unless_asked_not_to() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(5), "ghp");
    fs::write(d.path().join(".gitignore"), ".env\n").unwrap();
    fs::write(d.path().join(".env"), format!("GH={tok}\n")).unwrap();
    fs::create_dir_all(d.path().join(".git/objects")).unwrap();
    fs::write(d.path().join(".git/config"), format!("token={tok}\n")).unwrap();
    let (_, r) = scan_json(d.path(), &[]);
    let f = findings(&r);
    assert_eq!(f.len(), 1);
    // .git internals are never walked.
    assert_eq!(paths_of(&f[0]).len(), 1);
    let (code, r) = scan_json(d.path(), &["--respect-gitignore"]);
    assert_eq!(code, 0, "{r}");
}

#[test]
fn ci_config_context_and_secret_references() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(6), "ghp");
    fs::create_dir_all(d.path().join(".github/workflows")).unwrap();
    fs::write(
        d.path().join(".github/workflows/release.yml"),
        format!(
            "on: push\njobs:\n  r:\n    runs-on: ubuntu-latest\n    env:\n      GH_TOKEN: {tok}\n      OTHER: ${{{{ secrets.GITHUB_TOKEN }}}}\n    steps:\n      - run: echo ${{{{ secrets.NPM_TOKEN }}}}\n"
        ),
    )
    .unwrap();
    fs::write(
        d.path().join(".gitlab-ci.yml"),
        "variables:\n  API_KEY: $CI_JOB_TOKEN\n  PASSWORD: ${DB_PASSWORD}\n",
    )
    .unwrap();
    let (_, r) = scan_json(d.path(), &[]);
    let f = findings(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["locations"][0]["context"], "ci-config");
    assert_eq!(f[0]["locations"][0]["line"], 6);
}

#[test]
fn stdin_is_scanned_as_a_stream() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(7), "gho");
    let input =
        format!("2026-11-28T10:00:00Z INFO starting\n2026-11-28T10:00:01Z DEBUG auth header bearer {tok}\n");
    let out = run_in(
        d.path(),
        &["scan", "-", "--format", "json"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let loc = &findings(&r)[0]["locations"][0];
    assert_eq!(loc["path"], "-");
    assert_eq!(loc["context"], "stdin");
    assert_eq!(loc["line"], 2);
}

#[test]
fn a_key_across_a_stream_chunk_boundary_is_found_once() {
    // The stream reads 4 MiB chunks: put a token across the first boundary, and another at the
    // very end, after a single 5 MiB line with no newline at all.
    let d = tmp();
    let mut g = Gen::new(8);
    let (a, b) = (fake::github(&mut g, "ghp"), fake::github(&mut g, "ghu"));
    let chunk = 4 << 20;
    let mut input = vec![b'.'; chunk - 20];
    input.extend_from_slice(b" ");
    input.extend_from_slice(a.as_bytes());
    input.extend_from_slice(b" ");
    input.extend(std::iter::repeat_n(b'z', 5 << 20));
    input.extend_from_slice(b" ");
    input.extend_from_slice(b.as_bytes());
    let out = run_in(
        d.path(),
        &["scan", "-", "--format", "json", "--show-secrets"],
        Some(&input),
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secrets: Vec<&str> = findings(&r)
        .iter()
        .map(|f| f["secret"].as_str().unwrap())
        .collect();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert!(secrets.contains(&a.as_str()) && secrets.contains(&b.as_str()));
    let offsets: Vec<u64> = findings(&r)
        .iter()
        .map(|f| f["locations"][0]["offset"].as_u64().unwrap())
        .collect();
    assert!(offsets.contains(&((chunk - 19) as u64)), "{offsets:?}");
}

#[test]
fn gzip_logs_are_decompressed_and_truncation_is_reported() {
    let d = tmp();
    let mut g = Gen::new(9);
    let tok = fake::github(&mut g, "ghp");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("line {i} nothing here {}\n", g.alnum(40)));
    }
    text.push_str(&format!("leaked {tok}\n"));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    fs::write(d.path().join("app.log.gz"), &gz).unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 1);
    let loc = &findings(&r)[0]["locations"][0];
    assert_eq!(loc["context"], "log");
    assert_eq!(loc["line"], 2001);

    // Cut the archive short: the scan goes on, names the file and the cause.
    fs::write(d.path().join("app.log.gz"), &gz[..gz.len() / 2]).unwrap();
    let (_, r) = scan_json(d.path(), &[]);
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{r}");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("gzip"), "{r}");
}

#[test]
fn binary_files_are_skipped_and_counted_unless_asked() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(10), "ghp");
    let mut bin = vec![0u8, 1, 2, 3, 0, 0];
    bin.extend_from_slice(tok.as_bytes());
    fs::write(d.path().join("blob.bin"), &bin).unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(r["summary"]["skipped"]["binary"], 1);
    let (code, _) = scan_json(d.path(), &["--scan-binary"]);
    assert_eq!(code, 1);
}

#[test]
fn files_over_the_size_bound_are_skipped_with_a_reason() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(11), "ghp");
    let mut big = "#".repeat(2000);
    big.push_str(&tok);
    fs::write(d.path().join("big.txt"), &big).unwrap();
    let (code, r) = scan_json(d.path(), &["--max-file-size", "1000"]);
    assert_eq!(code, 0);
    let s = &r["skipped"][0];
    assert_eq!(s["kind"], "too-large");
    assert!(s["reason"].as_str().unwrap().contains("max-file-size"));
}

#[test]
fn inline_allow_quenchignore_and_allowlisted_paths_suppress() {
    let d = tmp();
    let mut g = Gen::new(12);
    let (a, b, c) = (
        fake::github(&mut g, "ghp"),
        fake::github(&mut g, "ghp"),
        fake::github(&mut g, "ghp"),
    );
    fs::write(
        d.path().join("a.txt"),
        format!("{a} # quench:allow reviewed test value\n"),
    )
    .unwrap();
    fs::write(d.path().join("b.txt"), format!("{b}\n")).unwrap();
    fs::create_dir(d.path().join("vendor")).unwrap();
    fs::write(d.path().join("vendor/c.txt"), format!("{c}\n")).unwrap();
    let (_, r) = scan_json(d.path(), &[]);
    assert_eq!(findings(&r).len(), 2, "{r}");
    let fp_b = findings(&r)
        .iter()
        .find(|f| paths_of(f)[0].ends_with("b.txt"))
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
        .unwrap();
    fs::write(
        d.path().join(".quenchignore"),
        format!("# reviewed\n{fp_b}  # b.txt\n"),
    )
    .unwrap();
    fs::write(
        d.path().join("q.toml"),
        "[allowlist]\npaths = [\"**/vendor/**\"]\n",
    )
    .unwrap();
    let (code, r) = scan_json(d.path(), &["--config", "q.toml"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["summary"]["suppressed_inline"], 1);
    assert_eq!(r["summary"]["suppressed_ignored"], 1);
    assert_eq!(r["summary"]["skipped"]["allowlisted"], 1);
}

#[test]
fn sarif_is_well_formed_for_code_scanning() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(13), "ghp");
    fs::write(d.path().join("a.txt"), format!("{tok}\n")).unwrap();
    let out = run_in(d.path(), &["scan", "--format", "sarif", "a.txt"], None);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let run = &s["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "quench");
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "github.pat-classic");
    let res = &run["results"][0];
    assert_eq!(res["ruleId"], "github.pat-classic");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "a.txt"
    );
    assert_eq!(res["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
    assert!(res["partialFingerprints"]["quench/location/v1"].is_string());
    assert_eq!(res["properties"]["identity"], "user");
}

#[test]
fn jsonl_has_one_finding_per_line() {
    let d = tmp();
    let mut g = Gen::new(14);
    fs::write(
        d.path().join("a.txt"),
        format!(
            "{}\n{}\n",
            fake::github(&mut g, "ghp"),
            fake::github(&mut g, "gho")
        ),
    )
    .unwrap();
    let out = run_in(d.path(), &["scan", "--format", "jsonl"], None);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["fingerprint"].is_string()));
}

#[test]
fn invalid_utf8_fifo_symlinks_and_missing_paths() {
    let d = tmp();
    let tok = fake::github(&mut Gen::new(15), "ghp");
    let mut bytes = b"\xff\xfe\xc3(bad utf8 ".to_vec();
    bytes.extend_from_slice(tok.as_bytes());
    fs::write(d.path().join("latin1.txt"), &bytes).unwrap();
    std::os::unix::fs::symlink("nowhere", d.path().join("broken")).unwrap();
    fs::create_dir(d.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.path().join("loop/up")).unwrap();
    let fifo = d.path().join("pipe");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(findings(&r).len(), 1);
    assert_eq!(r["summary"]["skipped"]["symlink"], 2, "{r}");
    if ok {
        assert_eq!(r["summary"]["skipped"]["not-a-file"], 1, "{r}");
    }
    // Following links: the loop and the dangling link are reported, not fatal.
    let (code, r) = scan_json(d.path(), &["--follow"]);
    assert_eq!(code, 1, "{r}");
    let kinds: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"symlink-loop"), "{kinds:?}");
    assert!(kinds.contains(&"broken-symlink"), "{kinds:?}");

    let out = run_in(d.path(), &["scan", "does-not-exist"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist"));
}

#[test]
fn an_invalid_rule_file_is_rejected_naming_file_rule_and_reason() {
    let d = tmp();
    fs::write(
        d.path().join("bad.toml"),
        "[[rule]]\nid = \"acme.key\"\nname = \"Acme\"\nissuer = \"acme\"\nidentity = \"org\"\nkeywords = [\"acme_\"]\npattern = '''acme_([a-z]{10'''\n",
    )
    .unwrap();
    let out = run_in(d.path(), &["scan", "--rules", "bad.toml", "."], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("acme.key") && err.contains("pattern"),
        "{err}"
    );
}

/// A `[rule.verify]` table holds the request keys shared with revocation beside its own; a
/// misspelt key of either kind is still an error naming it, and a misspelt request key is not
/// silently dropped from the request.
#[test]
fn a_misspelt_key_in_a_verify_or_revoke_recipe_is_rejected_naming_it() {
    let d = tmp();
    let rule = "[[rule]]\nid = \"acme.key\"\nname = \"Acme\"\nissuer = \"github\"\nidentity = \"org\"\n\
                keywords = [\"acme_\"]\npattern = 'acme_([a-z]{10})'\n[rule.verify]\nurl = \"{api}/user\"\n";
    for (extra, key) in [
        ("heders = { Authorization = \"Bearer {secret}\" }\n", "heders"),
        ("dead_status = [401]\n", "dead_status"),
    ] {
        fs::write(d.path().join("bad.toml"), format!("{rule}{extra}")).unwrap();
        let out = run_in(d.path(), &["rules", "list", "--rules", "bad.toml"], None);
        assert_eq!(out.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml") && err.contains(&format!("unknown field `{key}`")),
            "{err}"
        );
        // The message lists the valid keys of both kinds.
        assert!(err.contains("`live`") && err.contains("`headers`"), "{err}");
    }
    // A revoke recipe is checked when the rules load, not first when a live key needs it.
    let revoke = format!(
        "{rule}headers = {{ X = \"{{secret}}\" }}\n[rule.revoke]\nauthority = \"self\"\n\
         metod = \"DELETE\"\nurl = \"{{api}}/tokens/current\"\nok = {{ status = [204] }}\n"
    );
    fs::write(d.path().join("bad.toml"), &revoke).unwrap();
    let out = run_in(d.path(), &["rules", "list", "--rules", "bad.toml"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("acme.key") && err.contains("revoke") && err.contains("unknown field `metod`"),
        "{err}"
    );
    fs::write(d.path().join("ok.toml"), revoke.replace("metod", "method")).unwrap();
    let out = run_in(d.path(), &["rules", "list", "--rules", "ok.toml"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let good = format!("{rule}headers = {{ X = \"{{secret}}\" }}\n");
    fs::write(d.path().join("good.toml"), good).unwrap();
    let out = run_in(d.path(), &["rules", "list", "--rules", "good.toml"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn user_rules_and_gitleaks_rules_are_loaded() {
    let d = tmp();
    fs::write(
        d.path().join("ours.toml"),
        "[[rule]]\nid = \"acme.key\"\nname = \"Acme key\"\nissuer = \"acme\"\nidentity = \"org\"\nkeywords = [\"acme_\"]\npattern = '''\\b(acme_[a-z0-9]{20})\\b'''\nexamples = [\"acme_k3j5h7g9f2d4s6a8q1w3\"]\nnegative_examples = [\"acme_short\"]\n",
    )
    .unwrap();
    fs::write(
        d.path().join("gitleaks.toml"),
        "title = \"custom\"\n[[rules]]\nid = \"widget-token\"\ndescription = \"Widget token\"\nregex = '''wdg_[A-Z0-9]{16}'''\nkeywords = [\"wdg_\"]\npath = '''\\.cfg$'''\n",
    )
    .unwrap();
    fs::write(
        d.path().join("x.txt"),
        "a = acme_k3j5h7g9f2d4s6a8q1w3\nb = wdg_Q7W3E9R2T5Y8U1I4\n",
    )
    .unwrap();
    let out = run_in(
        d.path(),
        &[
            "scan",
            "--rules",
            "ours.toml",
            "--rules",
            "gitleaks.toml",
            "x.txt",
            "-f",
            "json",
        ],
        None,
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids = rule_ids(&r);
    ids.sort();
    assert_eq!(ids, vec!["acme.key", "gitleaks.widget-token"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`path` is not supported"), "{err}");
}

#[test]
fn base64_encoded_secrets_are_decoded_and_marked() {
    use base64::Engine as _;
    let d = tmp();
    let tok = fake::github(&mut Gen::new(16), "ghp");
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("token={tok}"));
    fs::write(
        d.path().join("secret.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: gh\ndata:\n  credentials: {enc}\n"),
    )
    .unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    let loc = &findings(&r)[0]["locations"][0];
    assert_eq!(loc["decoded"]["encoding"], "base64");
    assert_eq!(loc["line"], 6);
}

#[test]
fn rules_check_passes_and_list_shows_identity_classes() {
    let d = tmp();
    let out = run_in(d.path(), &["rules", "check"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(", 0 failed"), "{text}");
    // Key examples come from ssh-keygen, openssl, puttygen and gpg: all must be installed here
    // (`.ci/run` installs them), or the key rules are not proven.
    assert!(
        text.contains(", 0 skipped"),
        "a key generator is missing:\n{text}"
    );
    let out = run_in(d.path(), &["rules", "list", "--json"], None);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows
        .iter()
        .all(|r| ["user", "org", "m2m", "unknown"].contains(&r["identity"].as_str().unwrap())));
    assert!(rows.iter().any(|r| r["id"] == "github.pat-classic"));
}

#[test]
fn help_documents_exit_codes() {
    let out = common::quench().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 nothing found") && text.contains("1 findings") && text.contains("2 usage"));
}

#[test]
fn jwts_are_decoded_offline_and_expiry_reported() {
    use base64::Engine as _;
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let d = tmp();
    let mut g = Gen::new(17);
    let tok = format!(
        "{}.{}.{}",
        enc(r#"{"alg":"RS256","typ":"JWT"}"#),
        enc(r#"{"iss":"https://login.agents.test","sub":"svc-backend-agent","exp":1700000000}"#),
        g.alnum(43)
    );
    fs::write(d.path().join("agent.env"), format!("AGENT_JWT={tok}\n")).unwrap();
    let (code, r) = scan_json(d.path(), &[]);
    assert_eq!(code, 1, "{r}");
    let det = &findings(&r)[0]["details"];
    assert_eq!(det["jwt_issuer"], "https://login.agents.test");
    assert_eq!(det["jwt_subject"], "svc-backend-agent");
    assert_eq!(det["jwt_expired"], true);
}

#[test]
fn aws_key_id_and_secret_are_one_finding_with_named_parts() {
    let d = tmp();
    let (id, secret) = fake::aws(&mut Gen::new(18));
    fs::write(
        d.path().join("credentials"),
        format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\nregion = eu-west-1\n"
        ),
    )
    .unwrap();
    let (code, r) = scan_json(d.path(), &["--show-secrets"]);
    assert_eq!(code, 1, "{r}");
    let f = findings(&r);
    assert_eq!(f.len(), 1, "the secret is a part, not a second finding: {r}");
    assert_eq!(f[0]["rule_id"], "aws.access-key");
    assert_eq!(f[0]["secret"], id.as_str());
    assert_eq!(f[0]["parts"][0]["name"], "secret_access_key");
    assert_eq!(f[0]["parts"][0]["redacted"], secret.as_str());
    let (_, r) = scan_json(d.path(), &[]);
    assert!(
        !r.to_string().contains(&secret),
        "a part is redacted like the secret"
    );
}
