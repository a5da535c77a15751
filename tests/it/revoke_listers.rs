//! Revocations that find the leaked key in the issuer's listing (OpenAI, Anthropic, npm),
//! against a simulator that pages as the issuers document: the key may sit on a later page, in
//! a project other than the first, under an owner who lost access; a key whose hint another
//! key shares is never guessed at.

use std::collections::{BTreeMap, BTreeSet};

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;

/// An OpenAI project key whose redacted hint (`sk-proj-...` and the last four characters)
/// differs from every key in `taken`.
fn openai_key(g: &mut Gen, taken: &mut BTreeSet<String>) -> String {
    loop {
        let k = fake::openai_project(g);
        if taken.insert(k[k.len() - 4..].to_string()) {
            return k;
        }
    }
}

fn openai_entry(secret: &str, project: &str, id: &str, extra: &str) -> String {
    format!(
        "[[key]]\nissuer = \"openai\"\nsecret = \"{secret}\"\nprincipal = \"dev@example.com\"\n\
         project = \"{project}\"\nkey_id = \"{id}\"\n{extra}\n"
    )
}

struct Run {
    dir: tempfile::TempDir,
    stderr: String,
}

/// `scan --verify` in auto mode over a file holding `leaked`, with `policy_extra` added to the
/// policy and `env` set.
fn scan(sim: &SimProc, leaked: &[&str], policy_extra: &str, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let body: String = leaked
        .iter()
        .enumerate()
        .map(|(i, s)| format!("KEY_{i}={s}\n"))
        .collect();
    std::fs::write(dir.path().join("app.env"), body).unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        &format!(
            "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n{policy_extra}"
        ),
    );
    let mut cmd = common::revoking_scan(dir.path(), &sim.config, &policy);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    }
}

fn statuses(dir: &std::path::Path) -> BTreeMap<String, String> {
    let out = run_in(dir, &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(run: &Run, rule: &str, secret: &str) -> String {
    let fp = crate::common::fingerprint(rule, secret.as_bytes());
    statuses(run.dir.path())
        .get(&fp)
        .cloned()
        .unwrap_or_else(|| format!("not found; stderr: {}", run.stderr))
}

/// The audit details of the finding for `secret`, in order.
fn audit(run: &Run, rule: &str, secret: &str) -> Vec<String> {
    let fp = crate::common::fingerprint(rule, secret.as_bytes());
    let out = run_in(
        run.dir.path(),
        &["findings", "--json", "--timeline", "--data-dir", "data"],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fingerprint"] == fp.as_str())
        .flat_map(|f| f["audit"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            format!(
                "{} {}",
                a["action"].as_str().unwrap_or(""),
                a["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn revoked_positions(sim: &SimProc) -> Vec<usize> {
    let (status, body) = sim.request("GET", "/_sim/revoked", &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

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

const ADMIN_ENV: &str = "SIM_OPENAI_ADMIN";

/// The leaked key belongs to the second project (by id order), is listed after 120 other keys
/// of that project (past OpenAI's 100-a-page maximum), and its owner has lost access to the
/// project (listed only with `owner_project_access=any`). With no project in the policy,
/// quench searches every project by id, reads every page and deletes exactly that key.
#[test]
fn openai_key_in_a_later_project_and_page_is_found_by_id_and_deleted() {
    let mut g = Gen::new(1401);
    let mut taken = BTreeSet::new();
    let admin = format!("sk-admin-{}", g.alnum(40));
    let mut keys =
        format!("[[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nadmin = true\nkey_id = \"key_admin\"\n");
    for i in 0..3 {
        keys.push_str(&openai_entry(
            &openai_key(&mut g, &mut taken),
            "proj_A1b2",
            &format!("key_a{i:03}"),
            "",
        ));
    }
    for i in 0..120 {
        keys.push_str(&openai_entry(
            &openai_key(&mut g, &mut taken),
            "proj_Z9y8",
            &format!("key_z{i:03}"),
            "",
        ));
    }
    let leaked = openai_key(&mut g, &mut taken);
    keys.push_str(&openai_entry(
        &leaked,
        "proj_Z9y8",
        "key_z999",
        "owner_project_access = \"inactive\"",
    ));
    let leaked_pos = 1 + 3 + 120;
    let sim = SimProc::start(&keys);
    let run = scan(
        &sim,
        &[&leaked],
        &format!("[revoke.admin.openai]\nenv = \"{ADMIN_ENV}\"\n"),
        &[(ADMIN_ENV, &admin)],
    );
    assert_eq!(
        status_of(&run, "openai.project-key", &leaked),
        "revoked",
        "{}",
        run.stderr
    );
    assert_eq!(revoked_positions(&sim), vec![leaked_pos], "{}", run.stderr);
    let p = paths(&sim, "openai");
    assert!(
        p.iter().any(|l| l == "GET /openai/v1/organization/projects"),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|l| l == "DELETE /openai/v1/organization/projects/proj_Z9y8/api_keys/key_z999"),
        "{p:#?}"
    );
    // Two pages of proj_Z9y8's keys were read (the record names paths, not queries).
    let listings = p
        .iter()
        .filter(|l| *l == "GET /openai/v1/organization/projects/proj_Z9y8/api_keys")
        .count();
    assert!(listings >= 2, "{p:#?}");
}

/// A project the policy names wins: quench lists that project's keys only, and never the
/// organization's projects.
#[test]
fn openai_policy_project_wins() {
    let mut g = Gen::new(1402);
    let mut taken = BTreeSet::new();
    let admin = format!("sk-admin-{}", g.alnum(40));
    let leaked = openai_key(&mut g, &mut taken);
    let keys = format!(
        "[[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nadmin = true\n{}{}",
        openai_entry(&openai_key(&mut g, &mut taken), "proj_A1b2", "key_a1", ""),
        openai_entry(&leaked, "proj_M5n6", "key_m1", ""),
    );
    let sim = SimProc::start(&keys);
    let run = scan(
        &sim,
        &[&leaked],
        &format!("[revoke.admin.openai]\nenv = \"{ADMIN_ENV}\"\n[revoke.admin.openai.params]\nproject = \"proj_M5n6\"\n"),
        &[(ADMIN_ENV, &admin)],
    );
    assert_eq!(
        status_of(&run, "openai.project-key", &leaked),
        "revoked",
        "{}",
        run.stderr
    );
    assert_eq!(revoked_positions(&sim), vec![2]);
    let p = paths(&sim, "openai");
    assert!(
        !p.iter().any(|l| l == "GET /openai/v1/organization/projects"),
        "{p:#?}"
    );
    assert!(
        !p.iter().any(|l| l.contains("proj_A1b2")),
        "another project was searched: {p:#?}"
    );
}

/// Another key on the first page shares the leaked key's hint; the leaked key is on the second
/// page. Reading one page would delete the bystander; reading every page finds two candidates,
/// and quench refuses to choose: nothing is deleted, the job goes to a human.
#[test]
fn openai_hint_shared_across_pages_is_refused() {
    let mut g = Gen::new(1403);
    let mut taken = BTreeSet::new();
    let admin = format!("sk-admin-{}", g.alnum(40));
    let leaked = openai_key(&mut g, &mut taken);
    // Same hint: a different key with the same last four characters.
    let mut bystander = fake::openai_project(&mut g);
    bystander.replace_range(bystander.len() - 4.., &leaked[leaked.len() - 4..]);
    assert_ne!(bystander, leaked);
    let mut keys = format!("[[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nadmin = true\n");
    keys.push_str(&openai_entry(&bystander, "proj_Q1", "key_000", ""));
    for i in 1..105 {
        keys.push_str(&openai_entry(
            &openai_key(&mut g, &mut taken),
            "proj_Q1",
            &format!("key_{i:03}"),
            "",
        ));
    }
    keys.push_str(&openai_entry(&leaked, "proj_Q1", "key_999", ""));
    let sim = SimProc::start(&keys);
    let run = scan(
        &sim,
        &[&leaked],
        &format!("[revoke.admin.openai]\nenv = \"{ADMIN_ENV}\"\n[revoke.admin.openai.params]\nproject = \"proj_Q1\"\n"),
        &[(ADMIN_ENV, &admin)],
    );
    assert_eq!(revoked_positions(&sim), Vec::<usize>::new(), "{}", run.stderr);
    assert_eq!(
        status_of(&run, "openai.project-key", &leaked),
        "escalated",
        "{}",
        run.stderr
    );
    assert!(
        !paths(&sim, "openai").iter().any(|l| l.starts_with("DELETE")),
        "a delete was sent"
    );
    let log = audit(&run, "openai.project-key", &leaked);
    assert!(
        log.iter()
            .any(|a| a.contains("2 keys match the leaked value's hint")),
        "{log:#?}"
    );
}

/// Anthropic's listing pages with `after_id`: the leaked key, 130th of the organization's
/// keys, is found and deactivated; no other key is touched.
#[test]
fn anthropic_key_on_a_later_page_is_deactivated() {
    let mut g = Gen::new(1404);
    let admin = format!("sk-ant-admin01-{}", g.alnum(40));
    let mut keys = format!("[[key]]\nissuer = \"anthropic\"\nsecret = \"{admin}\"\nadmin = true\n");
    let mut tails = BTreeSet::new();
    let mut next = |g: &mut Gen| loop {
        let k = fake::anthropic(g);
        if tails.insert(k[..16].to_string() + &k[k.len() - 4..]) {
            return k;
        }
    };
    for i in 0..129 {
        keys.push_str(&format!(
            "[[key]]\nissuer = \"anthropic\"\nsecret = \"{}\"\nkey_id = \"apikey_{i:03}\"\n",
            next(&mut g)
        ));
    }
    let leaked = next(&mut g);
    keys.push_str(&format!(
        "[[key]]\nissuer = \"anthropic\"\nsecret = \"{leaked}\"\nkey_id = \"apikey_999\"\n"
    ));
    let sim = SimProc::start(&keys);
    let run = scan(
        &sim,
        &[&leaked],
        "[revoke.admin.anthropic]\nenv = \"SIM_ANTHROPIC_ADMIN\"\n",
        &[("SIM_ANTHROPIC_ADMIN", &admin)],
    );
    assert_eq!(
        status_of(&run, "anthropic.api-key", &leaked),
        "revoked",
        "{}",
        run.stderr
    );
    assert_eq!(revoked_positions(&sim), vec![130], "{}", run.stderr);
    let p = paths(&sim, "anthropic");
    assert!(
        p.iter()
            .any(|l| l == "POST /anthropic/v1/organizations/api_keys/apikey_999"),
        "{p:#?}"
    );
}

/// A recipe that does not page, over a listing that says more keys follow (`has_more`): the
/// key may be on a page not read, another key matching its hint on the page read, so quench
/// refuses to act and says why.
#[test]
fn a_listing_read_in_part_is_refused() {
    let mut g = Gen::new(1405);
    let admin = format!("sk-ant-admin01-{}", g.alnum(40));
    let mut keys = format!("[[key]]\nissuer = \"anthropic\"\nsecret = \"{admin}\"\nadmin = true\n");
    for i in 0..25 {
        keys.push_str(&format!(
            "[[key]]\nissuer = \"anthropic\"\nsecret = \"tstkey_{}\"\nkey_id = \"apikey_{i:03}\"\n",
            g.alnum(40)
        ));
    }
    let leaked = format!("tstkey_{}", g.alnum(40));
    keys.push_str(&format!(
        "[[key]]\nissuer = \"anthropic\"\nsecret = \"{leaked}\"\nkey_id = \"apikey_999\"\n"
    ));
    let sim = SimProc::start(&keys);
    // The built-in Anthropic recipe without its `page` table.
    let rule = sim.extra_config(
        "rule.toml",
        r#"[[rule]]
id = 'test.unpaged-admin-find'
name = "A key revoked through a listing read one page only"
issuer = 'anthropic'
identity = 'user'
severity = 'high'
confidence = 'high'
keywords = ["tstkey_"]
pattern = '''\b(tstkey_[A-Za-z0-9]{40})\b'''

[rule.verify]
url = "{api}/v1/models"
headers = { x-api-key = "{secret}", anthropic-version = "2023-06-01" }
live = { status = [200] }
dead = { status = [401] }

[rule.revoke]
authority = "admin"
method = "POST"
url = "{api}/v1/organizations/api_keys/{found}"
headers = { "x-api-key" = "{admin}", "anthropic-version" = "2023-06-01" }
json = { status = "inactive" }
ok = { status = [200] }

[rule.revoke.find]
url = "{api}/v1/organizations/api_keys"
headers = { "x-api-key" = "{admin}", "anthropic-version" = "2023-06-01" }
items = "data"
field = "partial_key_hint"
match = "redacted"
take = "id"
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), format!("KEY={leaked}\n")).unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n\
         [revoke.admin.anthropic]\nenv = \"SIM_ANTHROPIC_ADMIN\"\n",
    );
    let out = common::quench()
        .current_dir(dir.path())
        .args([
            "scan",
            ".",
            "--verify",
            "--revoke",
            "--data-dir",
            "data",
            "--rules",
        ])
        .arg(&rule)
        .arg("--config")
        .arg(&sim.config)
        .arg("--config")
        .arg(&policy)
        .env("SIM_ANTHROPIC_ADMIN", &admin)
        .output()
        .unwrap();
    let run = Run {
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    };
    assert_eq!(revoked_positions(&sim), Vec::<usize>::new(), "{}", run.stderr);
    assert_eq!(
        status_of(&run, "test.unpaged-admin-find", &leaked),
        "escalated",
        "{}",
        run.stderr
    );
    let log = audit(&run, "test.unpaged-admin-find", &leaked);
    assert!(log.iter().any(|a| a.contains("not read to its end")), "{log:#?}");
}

/// npm tokens of one user whose listed prefixes (six characters) all differ from `taken`.
fn npm_token(g: &mut Gen, taken: &mut BTreeSet<String>) -> String {
    loop {
        let t = fake::npm(g);
        if taken.insert(t[..6].to_string()) {
            return t;
        }
    }
}

fn npm_entry(secret: &str) -> String {
    format!("[[key]]\nissuer = \"npm\"\nsecret = \"{secret}\"\nprincipal = \"npm-user\"\n")
}

/// The registry lists each token by a short prefix, ten a page; the leaked token is on the
/// second page. quench matches it by prefix, as the npm CLI does, and deletes it by its full
/// value; the user's other tokens live on.
#[test]
fn npm_token_is_matched_by_prefix_and_deleted_by_value() {
    let mut g = Gen::new(1406);
    let mut taken = BTreeSet::new();
    let mut keys = String::new();
    for _ in 0..14 {
        keys.push_str(&npm_entry(&npm_token(&mut g, &mut taken)));
    }
    let leaked = npm_token(&mut g, &mut taken);
    keys.push_str(&npm_entry(&leaked));
    let sim = SimProc::start(&keys);
    let run = scan(&sim, &[&leaked], "", &[]);
    assert_eq!(
        status_of(&run, "npm.access-token", &leaked),
        "revoked",
        "{}",
        run.stderr
    );
    assert_eq!(revoked_positions(&sim), vec![14], "{}", run.stderr);
    let p = paths(&sim, "npm");
    assert!(
        p.iter()
            .any(|l| l == "DELETE /npm/-/npm/v1/tokens/token/[key 14]"),
        "{p:#?}"
    );
    assert!(
        p.iter().filter(|l| *l == "GET /npm/-/npm/v1/tokens").count() >= 2,
        "the second page was not read: {p:#?}"
    );
}

/// Two of the user's tokens share the listed prefix: the listing cannot tell which one leaked,
/// so nothing is deleted and a human is asked.
#[test]
fn npm_tokens_sharing_a_prefix_are_refused() {
    let mut g = Gen::new(1407);
    let mut taken = BTreeSet::new();
    let leaked = npm_token(&mut g, &mut taken);
    let mut twin = fake::npm(&mut g);
    twin.replace_range(..6, &leaked[..6]);
    let keys = format!("{}{}", npm_entry(&twin), npm_entry(&leaked));
    let sim = SimProc::start(&keys);
    let run = scan(&sim, &[&leaked], "", &[]);
    assert_eq!(revoked_positions(&sim), Vec::<usize>::new(), "{}", run.stderr);
    assert_eq!(
        status_of(&run, "npm.access-token", &leaked),
        "escalated",
        "{}",
        run.stderr
    );
    let log = audit(&run, "npm.access-token", &leaked);
    assert!(
        log.iter()
            .any(|a| a.contains("2 keys match the leaked value's hint")),
        "{log:#?}"
    );
}
