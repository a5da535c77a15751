//! Exact-key kill paths: each revocation names the leaked key itself (its id read from the key,
//! or from the issuer's answer to the key), never "the first key in the list". Against the
//! simulator, a bystander key of the same account survives, and a key that may not delete
//! itself is handed to a human with the issuer's refusal.

use crate::common;

use common::fake::Gen;
use common::fake_verify::SimProc;
use common::run_in;

fn scan_auto(sim: &SimProc, env_file: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), env_file).unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n",
    );
    let out = common::revoking_scan(dir.path(), &sim.config, &policy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (dir, err)
}

fn status(dir: &std::path::Path, rule: &str, secret: &str) -> String {
    let fp = crate::common::fingerprint(rule, secret.as_bytes());
    let out = run_in(dir, &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint"] == fp.as_str())
        .map(|f| f["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "not found".into())
}

fn revoked(sim: &SimProc) -> String {
    sim.request("GET", "/_sim/revoked", &[], "").1
}

fn deletes(sim: &SimProc, issuer: &str) -> Vec<String> {
    sim.recorded()
        .iter()
        .filter(|r| r["issuer"] == issuer && r["method"] == "DELETE")
        .map(|r| format!("{} {}", r["path"].as_str().unwrap(), r["status"]))
        .collect()
}

/// SendGrid: the key's middle segment is its id; the key deletes itself by that id, and the
/// other key of the account lives on. A key without `api_keys.delete` is refused (403).
#[test]
fn sendgrid_key_deletes_itself_by_the_id_it_carries() {
    let mut g = Gen::new(1450);
    let key = |g: &mut Gen| {
        let id = g.alnum(22);
        (format!("SG.{id}.{}", g.alnum(43)), id)
    };
    let (bystander, _) = key(&mut g);
    let (leaked, leaked_id) = key(&mut g);
    let (restricted, _) = key(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"sendgrid\"\nsecret = \"{bystander}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"sendgrid\"\nsecret = \"{leaked}\"\norg = \"acme\"\n\
         [[key]]\nissuer = \"sendgrid\"\nsecret = \"{restricted}\"\norg = \"acme\"\nscopes = [\"mail.send\"]\n"
    ));
    let (dir, err) = scan_auto(
        &sim,
        &format!("SENDGRID_API_KEY={leaked}\nMAIL_KEY={restricted}\n"),
    );
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "sendgrid.api-key", &leaked),
        "revoked",
        "{err}"
    );
    let d = deletes(&sim, "sendgrid");
    assert!(
        d.contains(&format!("/sendgrid/v3/api_keys/{leaked_id} 204")),
        "{d:#?}"
    );
    assert!(d.iter().any(|l| l.ends_with(" 403")), "{d:#?}");
    assert_eq!(
        status(dir.path(), "sendgrid.api-key", &restricted),
        "escalated",
        "{err}"
    );
}

/// Cloudflare user API tokens: the token names its own id (tokens/verify) and deletes that
/// token; the user's other token lives on.
#[test]
fn cloudflare_user_token_deletes_exactly_itself() {
    let mut g = Gen::new(1451);
    let token = |g: &mut Gen| format!("cfut_{}{}", g.alnum(40), g.hex(8));
    let (bystander, leaked) = (token(&mut g), token(&mut g));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"cloudflare\"\nsecret = \"{bystander}\"\nprincipal = \"ana\"\nkey_id = \"{}\"\n\
         [[key]]\nissuer = \"cloudflare\"\nsecret = \"{leaked}\"\nprincipal = \"ana\"\nkey_id = \"{}\"\n",
        g.hex(32),
        "0123456789abcdef0123456789abcdef"
    ));
    let (dir, err) = scan_auto(&sim, &format!("CLOUDFLARE_API_TOKEN={leaked}\n"));
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "cloudflare.user-api-token", &leaked),
        "revoked",
        "{err}"
    );
    assert_eq!(
        deletes(&sim, "cloudflare"),
        vec!["/cloudflare/client/v4/user/tokens/0123456789abcdef0123456789abcdef 200".to_string()]
    );
}

/// Tailscale: an API access token's value carries its id; the token deletes itself by that id
/// in its own tailnet, and the tailnet's other token lives on.
#[test]
fn tailscale_api_token_deletes_itself_by_the_id_it_carries() {
    let mut g = Gen::new(1452);
    let token = |g: &mut Gen| {
        let id = format!("k{}CNTRL", g.alnum(11));
        (format!("tskey-api-{id}-{}", g.alnum(32)), id)
    };
    let ((bystander, _), (leaked, leaked_id)) = (token(&mut g), token(&mut g));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"tailscale\"\nsecret = \"{bystander}\"\norg = \"example.com\"\n\
         [[key]]\nissuer = \"tailscale\"\nsecret = \"{leaked}\"\norg = \"example.com\"\n"
    ));
    let (dir, err) = scan_auto(&sim, &format!("TS_API_KEY={leaked}\n"));
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "tailscale.api-token", &leaked),
        "revoked",
        "{err}"
    );
    assert_eq!(
        deletes(&sim, "tailscale"),
        vec![format!("/tailscale/api/v2/tailnet/-/keys/{leaked_id} 200")]
    );
}

/// Datadog: with an application key from the policy, the organization's API keys are listed
/// page by page (100 a page) by their last four characters; the leaked key, on the second
/// page, is deleted by its id. A second run, where another key ends like the leaked one, is
/// refused: nothing is deleted.
#[test]
fn datadog_key_is_found_on_every_page_by_its_last_four() {
    let mut g = Gen::new(1453);
    let admin = g.hex(40);
    let mut tails = std::collections::BTreeSet::new();
    let mut key = |g: &mut Gen| loop {
        let k = g.hex(32);
        if tails.insert(k[28..].to_string()) {
            return k;
        }
    };
    let mut keys =
        format!("[[key]]\nissuer = \"datadog\"\nsecret = \"{admin}\"\nadmin = true\norg = \"acme\"\n");
    for _ in 0..104 {
        keys.push_str(&format!(
            "[[key]]\nissuer = \"datadog\"\nsecret = \"{}\"\norg = \"acme\"\n",
            key(&mut g)
        ));
    }
    let leaked = key(&mut g);
    keys.push_str(&format!(
        "[[key]]\nissuer = \"datadog\"\nsecret = \"{leaked}\"\norg = \"acme\"\n"
    ));
    let run = |keys: &str, leaked: &str| {
        let sim = SimProc::start(keys);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.env"), format!("DD_API_KEY={leaked}\n")).unwrap();
        let policy = sim.extra_config(
            "policy.toml",
            "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n\
             [revoke.admin.datadog]\nenv = \"SIM_DATADOG_ADMIN\"\n",
        );
        let out = common::revoking_scan(dir.path(), &sim.config, &policy)
            .env("SIM_DATADOG_ADMIN", &admin)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (sim, dir, err)
    };
    let (sim, dir, err) = run(&keys, &leaked);
    assert_eq!(revoked(&sim), "[105]", "{err}");
    assert_eq!(status(dir.path(), "datadog.api-key", &leaked), "revoked", "{err}");
    let listings = sim
        .recorded()
        .iter()
        .filter(|r| r["path"] == "/datadog/api/v2/api_keys")
        .count();
    assert!(listings >= 2, "one page read: {listings}");

    // Another key of the organization ends like the leaked one.
    let mut twin = g.hex(32);
    twin.replace_range(28.., &leaked[28..]);
    let keys = format!("{keys}[[key]]\nissuer = \"datadog\"\nsecret = \"{twin}\"\norg = \"acme\"\n");
    let (sim, dir, err) = run(&keys, &leaked);
    assert_eq!(revoked(&sim), "[]", "{err}");
    assert_eq!(
        status(dir.path(), "datadog.api-key", &leaked),
        "escalated",
        "{err}"
    );
    assert!(deletes(&sim, "datadog").is_empty());
}

/// AWS: a key live in GovCloud (unknown to the commercial partition) is deactivated by
/// GovCloud's IAM, signed for a GovCloud region; nothing is sent to the commercial IAM.
#[test]
fn aws_govcloud_key_is_deactivated_in_its_own_partition() {
    let mut g = Gen::new(1454);
    let (id, secret) = common::fake::aws(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{id}\"\nsecret = \"{secret}\"\npartition = \"aws-us-gov\"\n\
         principal = \"arn:aws-us-gov:iam::111122223333:user/ci\"\n"
    ));
    let (dir, err) = scan_auto(
        &sim,
        &format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    );
    assert_eq!(revoked(&sim), "[0]", "{err}");
    assert_eq!(status(dir.path(), "aws.access-key", &id), "revoked", "{err}");
    let revokes: Vec<String> = sim
        .recorded()
        .iter()
        .filter(|r| r["issuer"] == "aws" && r["kind"] == "revoke")
        .map(|r| format!("{} {}", r["path"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(revokes, vec!["/aws/iam_us_gov/ 200".to_string()], "{err}");
}
