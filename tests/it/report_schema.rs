//! The JSON report against its published schema (`schema/report.schema.json`, JSON Schema
//! 2020-12): real output of `scan`, `git` and a verifying scan against the simulator, every
//! optional part present at least once (commit, verification with identity, decoded, parts,
//! skips, examples), and each JSON Lines row against the schema's finding.

use std::path::Path;

use serde_json::Value;

use crate::common::fake::{self, Gen};
use crate::common::fake_git::Repo;
use crate::common::fake_verify::SimProc;
use crate::common::run_in;

fn validator(def: Option<&str>) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("schema is JSON");
    if let Some(d) = def {
        // A row of JSON Lines is one finding: validate against that definition, with the
        // document's definitions in scope.
        let defs = schema["$defs"].clone();
        schema =
            serde_json::json!({"$schema": schema["$schema"], "$defs": defs, "$ref": format!("#/$defs/{d}")});
    }
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let out = run_in(dir, args, None);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn real_reports_validate_against_the_published_schema() {
    let doc = validator(None);
    let mut g = Gen::new(1902);
    let live = fake::github(&mut g, "ghp");
    let (aws_id, aws_secret) = fake::aws(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo-ci\"\norg = \"acme\"\nscopes = [\"repo\"]\n"
    ));
    let mut repo = Repo::init(19020);
    let other = repo.secret();
    repo.write("deploy.env", &format!("GITHUB_TOKEN={live}\n"));
    repo.write(
        "aws.ini",
        &format!("aws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n"),
    );
    // Base64 of a token: a location with `decoded`.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("token={other}"));
    repo.write(
        "secret.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: gh\ndata:\n  credentials: {b64}\n"),
    );
    // A documented example value (summary.examples) and a binary file (a skip).
    repo.write("docs.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    std::fs::write(repo.path().join("bin.dat"), [0u8, 159, 146, 150, 0, 1, 2, 3]).unwrap();
    // A stand-in a filter drops (summary.dropped, with --explain).
    repo.write(
        "example.env",
        "SLACK_TOKEN=xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx\n",
    );
    repo.commit("add config");

    let cfg = sim.config.display().to_string();
    let mut reports = vec![
        ("scan", json_of(repo.path(), &["scan", ".", "-f", "json"])),
        ("git", json_of(repo.path(), &["git", ".", "-f", "json"])),
        (
            "scan --explain",
            json_of(repo.path(), &["scan", ".", "-f", "json", "--explain"]),
        ),
        (
            "scan --verify",
            json_of(
                repo.path(),
                &["scan", ".", "-f", "json", "--verify", "--config", &cfg],
            ),
        ),
    ];
    for (what, r) in &mut reports {
        let e = errors(&doc, r);
        assert!(e.is_empty(), "{what}: {e:#?}\n{r:#}");
        assert_eq!(r["schema_version"], 1, "{what}");
    }
    // Every optional part the schema describes appeared in what was validated.
    let all: String = reports.iter().map(|(_, r)| r.to_string()).collect();
    for key in [
        "\"commit\"",
        "\"verification\"",
        "\"principal\"",
        "\"decoded\"",
        "\"parts\"",
        "\"examples\"",
        "\"skipped\"",
        "\"dropped\"",
    ] {
        assert!(all.contains(key), "no {key} in any report validated");
    }
    assert!(
        !all.contains(&live) && !all.contains(&aws_secret),
        "a secret in a JSON report"
    );

    // JSON Lines: each row is a finding.
    let row = validator(Some("finding"));
    let out = run_in(
        repo.path(),
        &["scan", ".", "-f", "jsonl", "--verify", "--config", &cfg],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().count() >= 3, "{text}");
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let e = errors(&row, &v);
        assert!(e.is_empty(), "{e:#?}\n{v:#}");
    }
}

#[test]
fn the_schema_rejects_what_it_does_not_describe() {
    // The validator is not vacuous: a report missing its version, with an unknown verdict or a
    // stray field fails.
    let doc = validator(None);
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(1903);
    std::fs::write(
        dir.path().join("a.env"),
        format!("T={}\n", fake::github(&mut g, "ghp")),
    )
    .unwrap();
    let good = json_of(dir.path(), &["scan", ".", "-f", "json"]);
    assert!(errors(&doc, &good).is_empty());
    let mut no_version = good.clone();
    no_version.as_object_mut().unwrap().remove("schema_version");
    assert!(!errors(&doc, &no_version).is_empty());
    let mut stray = good.clone();
    stray["findings"][0]["secret_plain"] = "x".into();
    assert!(!errors(&doc, &stray).is_empty());
    let mut bad_line = good;
    bad_line["findings"][0]["locations"][0]["line"] = 0.into();
    assert!(!errors(&doc, &bad_line).is_empty());
}
