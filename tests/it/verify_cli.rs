//! `quench issuers` and `quench verify` through the real binary.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;

#[test]
fn issuers_lists_egress_hosts_with_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["issuers"], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for host in [
        "https://api.github.com",
        "https://sts.amazonaws.com",
        "https://slack.com/api",
        "https://api.openai.com",
    ] {
        assert!(text.contains(host), "{host} missing:\n{text}");
    }
    assert!(text.contains("*.okta.com"), "{text}");
    assert!(text.contains("(not configured)"), "vault has no default:\n{text}");
    // Config overrides defaults; the environment overrides config.
    std::fs::write(
        dir.path().join("ghes.toml"),
        "[issuers.github]\napi = \"https://ghe.example.com/api/v3\"\n[issuers.vault]\napi = \"https://vault.example.com:8200\"\n",
    )
    .unwrap();
    let mut c = common::quench();
    c.current_dir(dir.path())
        .args(["issuers", "--json", "--config", "ghes.toml"])
        .env("QUENCH_ISSUER_SLACK_API", "http://127.0.0.1:9/slack");
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |n: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["issuer"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("github")["bases"]["api"]["url"],
        "https://ghe.example.com/api/v3"
    );
    assert_eq!(row("github")["bases"]["api"]["source"], "config");
    assert_eq!(
        row("vault")["bases"]["api"]["url"],
        "https://vault.example.com:8200"
    );
    assert_eq!(row("slack")["bases"]["api"]["source"], "env");
    assert!(row("github")["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "github.pat-classic"));
}

#[test]
fn plain_http_to_a_non_loopback_issuer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[issuers.github]\napi = \"http://api.github.example\"\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["issuers", "--config", "bad.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[issuers.github]") && err.contains("loopback"),
        "{err}"
    );
    let mut c = common::quench();
    c.current_dir(dir.path())
        .args(["issuers"])
        .env("QUENCH_ISSUER_NOPE_API", "https://x.example");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("QUENCH_ISSUER_NOPE_API"));
}

#[test]
fn verify_reads_secrets_from_stdin_or_a_findings_report() {
    let mut g = Gen::new(601);
    let live = fake::github(&mut g, "ghp");
    let dead = fake::github(&mut g, "ghp");
    let slack = fake::slack_bot(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octocat\"\n[[key]]\nissuer = \"slack\"\nsecret = \"{slack}\"\norg = \"acme\"\n"
    ));
    let cfg = sim.config.to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();

    // --rule: one secret per line.
    let input = format!("{live}\n{dead}\n\n{live}\n");
    let out = run_in(
        dir.path(),
        &[
            "verify",
            "--rule",
            "github.pat-classic",
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        Some(input.as_bytes()),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a live key exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&live) && !stdout.contains(&dead));
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let fs = r["findings"].as_array().unwrap();
    assert_eq!(fs.len(), 2, "the repeated secret is one finding");
    let live_f = fs
        .iter()
        .find(|f| f["verification"]["verdict"] == "live")
        .unwrap();
    assert_eq!(live_f["verification"]["principal"], "octocat");
    assert_eq!(live_f["locations"].as_array().unwrap().len(), 2);
    assert!(fs.iter().any(|f| f["verification"]["verdict"] == "dead"));

    // No --rule: each line is scanned to find its rule.
    let input = format!("token: {dead}\nSLACK_BOT_TOKEN={slack}\n");
    let out = run_in(
        dir.path(),
        &["verify", "--config", &cfg, "--format", "json"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_rule = |id: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == id)
            .unwrap()["verification"]
            .clone()
    };
    assert_eq!(by_rule("slack.bot-token")["verdict"], "live");
    assert_eq!(by_rule("slack.bot-token")["org"], "acme");
    assert_eq!(by_rule("github.pat-classic")["verdict"], "dead");

    // Only dead keys: exit 0.
    let out = run_in(
        dir.path(),
        &["verify", "--rule", "github.pat-classic", "--config", &cfg],
        Some(format!("{dead}\n").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified:    dead"));

    // --findings: re-check a report written with --show-secrets.
    std::fs::write(dir.path().join("app.env"), format!("GH={live}\n")).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "scan",
            "app.env",
            "--format",
            "json",
            "--show-secrets",
            "-o",
            "report.json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run_in(
        dir.path(),
        &[
            "verify",
            "--findings",
            "report.json",
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["findings"][0]["verification"]["verdict"], "live");
    assert_eq!(r["findings"][0]["locations"][0]["path"], "app.env");
    // A report without secrets cannot be re-verified, and says why.
    let out = run_in(
        dir.path(),
        &["scan", "app.env", "--format", "json", "-o", "redacted.json"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run_in(
        dir.path(),
        &["verify", "--findings", "redacted.json", "--config", &cfg],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("redacted.json") && err.contains("--show-secrets"),
        "{err}"
    );
    assert!(!err.contains(&live));
    // An unknown rule is named.
    let out = run_in(dir.path(), &["verify", "--rule", "nope.nothing"], Some(b"x\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.nothing"));
}

#[test]
fn unconfigured_self_hosted_issuer_is_indeterminate_with_advice() {
    let mut g = Gen::new(602);
    let token = common::fake_verify::vault_service(&mut g);
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["verify", "--rule", "vault.service-token", "--format", "json"],
        Some(format!("{token}\n").as_bytes()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &r["findings"][0]["verification"];
    assert_eq!(v["verdict"], "indeterminate");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("[issuers.vault] api") && reason.contains("QUENCH_ISSUER_VAULT_API"),
        "{reason}"
    );
}

#[test]
fn simulate_rejects_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.toml"),
        "[[key]]\nissuer = \"github\"\nsecret = \"x\"\nfault = \"boom\"\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["simulate", "--keys", "keys.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys.toml") && err.contains("boom"), "{err}");
    let out = run_in(
        dir.path(),
        &["simulate", "--keys", "keys.toml", "--listen", "0.0.0.0:0"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = run_in(dir.path(), &["simulate", "--keys", "missing.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}
