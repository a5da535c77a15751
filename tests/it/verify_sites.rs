//! Issuers with regional sites, through the real binary against two `quench simulate`
//! instances standing in for two regions: Datadog answers a key from another site exactly like a
//! bad key (403), so a key dead on `api` is asked again on each listed site; the site that
//! answers live is named in the verdict and receives the revocation; a pinned `api` asks only
//! there.

use crate::common;

use std::path::Path;

use common::fake::Gen;
use common::fake_verify::{verification, SimProc};
use common::{run_in, scan_json};

/// Two regions: `home` (the issuer's `api`, which knows no key) and `away`, which knows `keys`.
fn regions(keys: &str) -> (SimProc, SimProc) {
    (SimProc::start(""), SimProc::start(keys))
}

fn key(issuer: &str, secret: &str) -> String {
    format!("[[key]]\nissuer = \"{issuer}\"\nsecret = \"{secret}\"\norg = \"acme-eu\"\n")
}

/// Paths the simulator was asked for `issuer`, in order.
fn paths(sim: &SimProc, issuer: &str) -> Vec<String> {
    sim.recorded()
        .iter()
        .filter(|r| r["issuer"] == issuer)
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// `DD_API_KEY=…` in a tree of its own, scanned with `config` (written next to `home`'s).
fn scan_datadog(home: &SimProc, secret: &str, config: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), format!("DD_API_KEY={secret}\n")).unwrap();
    let cfg = home.extra_config("sites.toml", config);
    let cfg = cfg.to_string_lossy().into_owned();
    let (code, report) = scan_json(dir.path(), &["--config", &cfg, "--verify"]);
    assert_eq!(code, 1, "findings expected: {report:#}");
    report
}

/// Datadog's `api` and a second US site on `home`, its EU site on `away`.
fn datadog_sites(home: &SimProc, away: &SimProc) -> String {
    format!(
        "[issuers.datadog]\napi = \"{h}/datadog\"\nsites = [\"{h}/datadog/us5\", \"{a}/datadog\"]\n",
        h = home.url,
        a = away.url
    )
}

fn label(sim: &SimProc) -> String {
    format!("{}/datadog", sim.url.trim_start_matches("http://"))
}

#[test]
fn a_key_live_only_on_another_site_is_live_and_names_that_site() {
    let secret = Gen::new(9101).hex(32);
    let (home, away) = regions(&key("datadog", &secret));
    let report = scan_datadog(&home, &secret, &datadog_sites(&home, &away));
    let v = verification(&report, "datadog.api-key", &secret);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["site"], label(&away).as_str(), "{v:#}");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("site: {}", label(&away))), "{summary}");
    // US1 and US5 said 403 first, then the EU site answered; each was asked once.
    assert_eq!(
        paths(&home, "datadog"),
        ["GET /datadog/api/v1/validate", "GET /datadog/us5/api/v1/validate"]
    );
    assert_eq!(paths(&away, "datadog"), ["GET /datadog/api/v1/validate"]);
    assert!(
        !report.to_string().contains(&secret),
        "the report holds the secret"
    );
}

#[test]
fn a_key_unknown_everywhere_is_dead_after_asking_each_site_once() {
    let secret = Gen::new(9102).hex(32);
    let (home, away) = regions("");
    let report = scan_datadog(&home, &secret, &datadog_sites(&home, &away));
    let v = verification(&report, "datadog.api-key", &secret);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    assert!(v.get("site").is_none(), "{v:#}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP 403") && reason.contains("each of its 3 sites"),
        "{reason}"
    );
    assert_eq!(paths(&home, "datadog").len(), 2);
    assert_eq!(paths(&away, "datadog").len(), 1);
}

#[test]
fn a_pinned_api_disables_the_fan_out() {
    let secret = Gen::new(9103).hex(32);
    let (home, away) = regions(&key("datadog", &secret));
    // `api` set in the config, `sites` left at its defaults: this site only.
    let pinned = format!("[issuers.datadog]\napi = \"{}/datadog\"\n", home.url);
    let report = scan_datadog(&home, &secret, &pinned);
    let v = verification(&report, "datadog.api-key", &secret);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    assert!(!v["reason"].as_str().unwrap().contains("sites"), "{v:#}");
    assert_eq!(paths(&home, "datadog"), ["GET /datadog/api/v1/validate"]);
    assert!(paths(&away, "datadog").is_empty());
}

/// PostHog's public revoke endpoint answers 200 on every site, whether or not the key lives
/// there: sent to the wrong site it would record a live key revoked.
#[test]
fn a_key_live_on_another_site_is_revoked_on_that_site() {
    let mut g = Gen::new(9104);
    let secret = format!("phx_{}", g.alnum(43));
    let (home, away) = regions(&key("posthog", &secret));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), format!("POSTHOG_KEY={secret}\n")).unwrap();
    let cfg = home.extra_config(
        "sites.toml",
        &format!(
            "[issuers.posthog]\napi = \"{}/posthog\"\nsites = [\"{}/posthog\"]\n\
             [verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nwait_secs = 5\n",
            home.url, away.url
        ),
    );
    let cfg = cfg.to_string_lossy().into_owned();
    let out = run_in(
        dir.path(),
        &[
            "scan",
            ".",
            "--verify",
            "--revoke",
            "--data-dir",
            "data",
            "--config",
            &cfg,
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let (status, body) = away.request("GET", "/_sim/revoked", &[], "");
    assert_eq!((status, body.trim()), (200, "[0]"), "{err}");
    let revokes = |sim: &SimProc| {
        paths(sim, "posthog")
            .iter()
            .filter(|p| p.contains("revoke"))
            .count()
    };
    assert_eq!(revokes(&home), 0, "{:?}", paths(&home, "posthog"));
    assert_eq!(revokes(&away), 1, "{:?}", paths(&away, "posthog"));
    assert_eq!(stored_status(dir.path()), "revoked", "{err}");
}

fn stored_status(dir: &Path) -> String {
    let out = run_in(dir, &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"][0]["status"].as_str().unwrap_or("none").to_string()
}
