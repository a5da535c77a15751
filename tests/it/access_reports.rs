//! A live key's reach where a reader meets it: under the finding in the human scan report,
//! as a small table per key in the HTML report, and as SARIF's `security-severity` (the risk
//! rank, not the rule's guess) with each result's risk and reach.

use crate::common;

use common::access::Leak;
use common::fake::{self, Gen};

struct Keys {
    admin: String,
    reader: String,
    npm: String,
}

/// A GitHub org admin reaching 8 repositories, an Anthropic key that only reads models, and a
/// live npm token no recipe enumerates.
fn setup(seed: u64) -> (Leak, Keys) {
    let mut g = Gen::new(seed);
    let keys = Keys {
        admin: fake::github(&mut g, "ghp"),
        reader: fake::anthropic(&mut g),
        npm: fake::npm(&mut g),
    };
    let mut toml = format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{}\"\nprincipal = \"octocat\"\nscopes = [\"repo\"]\n\
         [[key.grant]]\nkind = \"org\"\nname = \"acme\"\npermission = \"admin\"\n",
        keys.admin
    );
    for n in 0..8 {
        toml.push_str(&format!(
            "[[key.grant]]\nkind = \"repo\"\nname = \"acme/<svc-{n}>\"\npermission = \"{}\"\n",
            if n == 0 { "admin" } else { "pull" }
        ));
    }
    toml.push_str(&format!(
        "[[key]]\nissuer = \"anthropic\"\nsecret = \"{}\"\n[[key]]\nissuer = \"npm\"\nsecret = \"{}\"\n",
        keys.reader, keys.npm
    ));
    let leak = Leak::start(
        &toml,
        &[("GH", &keys.admin), ("CLAUDE", &keys.reader), ("NPM", &keys.npm)],
    );
    (leak, keys)
}

#[test]
fn the_human_scan_report_shows_each_live_keys_reach_under_it() {
    let (leak, keys) = setup(1611);
    let text = leak.scan(&["--access"]);
    let text = text.as_str().unwrap();
    let block = |rule: &str| {
        let start = text
            .find(&format!("({rule})"))
            .unwrap_or_else(|| panic!("{text}"));
        let end = text[start..].find("fingerprint:").unwrap() + start;
        &text[start..end]
    };
    let gh = block("github.pat-classic");
    assert!(
        gh.contains("  reach:\n    whose: user-scoped: acts as octocat"),
        "{gh}"
    );
    assert!(
        gh.contains("    risk:  org-admin (org-admin, repo-admin, push-to-default-branch, read)"),
        "{gh}"
    );
    assert!(gh.contains("      org        acme"), "{gh}");
    assert!(gh.contains("      repo       acme/<svc-7>"), "{gh}");
    let claude = block("anthropic.api-key");
    assert!(claude.contains("    risk:  read-only (read)"), "{claude}");
    assert!(
        claude.contains("permissions: granted models.read; denied none"),
        "{claude}"
    );
    assert!(
        !block("npm.access-token").contains("reach:"),
        "no recipe, no reach"
    );
    leak.assert_no_plaintext(text, &[&keys.admin, &keys.reader, &keys.npm]);
}

#[test]
fn the_html_report_has_a_small_reach_table_per_live_key() {
    let (leak, keys) = setup(1612);
    let out = leak.scan_raw(&["--access", "--format", "html"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |rule: &str| {
        let at = html
            .find(&format!("</code> {rule}<br>"))
            .unwrap_or_else(|| panic!("{rule}: {html}"));
        let end = html[at..].find("</tr>\n").map_or(html.len(), |e| at + e);
        // The row ends after the reach table's own rows.
        let end = html[end..]
            .find("<td class=\"repository\">")
            .map_or(end, |e| end + e);
        &html[at..end]
    };
    let gh = row("github.pat-classic");
    assert!(
        gh.contains("<table class=\"reach-table\" data-risk=\"org-admin\">"),
        "{gh}"
    );
    assert!(gh.contains("data-kind=\"org\" data-count=\"1\""), "{gh}");
    assert!(gh.contains("data-kind=\"repo\" data-count=\"8\""), "{gh}");
    // Five repositories named, the rest counted; names escaped.
    assert!(
        gh.contains("acme/&lt;svc-0&gt; <span class=\"k\">admin</span>"),
        "{gh}"
    );
    assert!(gh.contains("+3 more"), "{gh}");
    assert!(!gh.contains("<svc-"), "an unescaped name: {gh}");
    let claude = row("anthropic.api-key");
    assert!(claude.contains("data-risk=\"read-only\""), "{claude}");
    assert!(claude.contains("granted models.read; denied none"), "{claude}");
    assert!(!row("npm.access-token").contains("reach-table"));
    leak.assert_no_plaintext(&html, &[&keys.admin, &keys.reader, &keys.npm]);
}

#[test]
fn sarif_security_severity_follows_the_risk_rank() {
    let (leak, _keys) = setup(1613);
    let sarif = leak.scan(&["--access", "--format", "sarif"]);
    let run = &sarif["runs"][0];
    let rule = |id: &str| {
        run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no rule {id}"))["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let score = |id: &str| rule(id).parse::<f64>().unwrap();
    // Org admin is critical; a key that only reads models drops below it, to medium, though
    // its rule is rated critical; a key nobody enumerated keeps its rule's grade.
    assert_eq!(rule("github.pat-classic"), "9.8");
    assert_eq!(rule("anthropic.api-key"), "5.5");
    assert_eq!(rule("npm.access-token"), "9.5");
    assert!(score("github.pat-classic") > score("anthropic.api-key"));
    let result = |id: &str| {
        run["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ruleId"] == id)
            .unwrap()["properties"]
            .clone()
    };
    let gh = result("github.pat-classic");
    assert_eq!(gh["risk"], "org-admin");
    assert_eq!(gh["security-severity"], "9.8");
    assert!(
        gh["reach"].as_str().unwrap().contains("reaches 1 org, 8 repos"),
        "{gh:#}"
    );
    assert!(result("npm.access-token").get("risk").is_none());
}

/// `--access --revoke`: what a live key reaches is read before the key is revoked, since a
/// revoked key enumerates nothing, and the record of an exposure without its reach leaves the
/// responder to guess what the attacker could have touched.
#[test]
fn a_key_revoked_in_the_same_run_has_its_reach_read_first() {
    let (leak, keys) = setup(1612);
    let report = leak.scan(&["--access", "--revoke", "--format", "json"]);
    let reach = common::access::reach(&report, "github.pat-classic", &keys.admin);
    assert_eq!(common::access::names(reach, "org"), ["acme admin"], "{report:#}");
    let f = common::access::finding(&report, "github.pat-classic", &keys.admin);
    assert_eq!(f["status"], "revoked", "{f:#}");
    let calls = leak.calls("github");
    let revoked = calls
        .iter()
        .position(|c| {
            c["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/credentials/revoke"))
        })
        .unwrap_or_else(|| panic!("no revoke call in {calls:#?}"));
    let enumerated = calls
        .iter()
        .rposition(|c| c["path"].as_str().is_some_and(|p| p.contains("/repos")))
        .unwrap_or_else(|| panic!("no enumeration in {calls:#?}"));
    assert!(enumerated < revoked, "{calls:#?}");
}
