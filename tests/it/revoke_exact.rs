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

/// Cloudflare account-owned tokens: the token lists its account, names its own id there
/// (`/accounts/{id}/tokens/verify`) and deletes exactly that token from that account; the
/// account's other token lives on, and a token without "Account API Tokens Write" is refused
/// (403) and handed to a human.
#[test]
fn cloudflare_account_token_deletes_exactly_itself_from_its_account() {
    let mut g = Gen::new(1457);
    let token = |g: &mut Gen| format!("cfat_{}{}", g.alnum(40), g.hex(8));
    let (bystander, leaked, read_only) = (token(&mut g), token(&mut g), token(&mut g));
    let key = |secret: &str, id: &str, scopes: &str| {
        format!(
            "[[key]]\nissuer = \"cloudflare\"\nsecret = \"{secret}\"\norg = \"acme\"\nkey_id = \"{id}\"\n{scopes}\
             [[key.grant]]\nkind = \"account\"\nname = \"acme\"\n"
        )
    };
    let sim = SimProc::start(&format!(
        "{}{}{}",
        key(&bystander, &g.hex(32), ""),
        key(&leaked, "0123456789abcdef0123456789abcdef", ""),
        key(&read_only, &g.hex(32), "scopes = [\"Account API Tokens Read\"]\n"),
    ));
    let (dir, err) = scan_auto(&sim, &format!("CLOUDFLARE_API_TOKEN={leaked}\n"));
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "cloudflare.account-api-token", &leaked),
        "revoked",
        "{err}"
    );
    let d = deletes(&sim, "cloudflare");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("/cloudflare/client/v4/accounts/")
            && d[0].ends_with("/tokens/0123456789abcdef0123456789abcdef 200"),
        "{d:?}"
    );
    let (dir, err) = scan_auto(&sim, &format!("CLOUDFLARE_API_TOKEN={read_only}\n"));
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "cloudflare.account-api-token", &read_only),
        "escalated",
        "{err}"
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

/// A revoking scan whose policy names an admin credential for `issuer`, read from the
/// environment (`params`: the credential's non-secret parameters, TOML inline-table body).
fn scan_with_admin(
    sim: &SimProc,
    files: &[(&str, String)],
    issuer: &str,
    admin: &str,
    params: &str,
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let var = format!("SIM_{}_ADMIN", issuer.to_uppercase());
    let policy = sim.extra_config(
        "policy.toml",
        &format!(
            "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\nmax_attempts = 2\n\
             [revoke.admin.{issuer}]\nenv = \"{var}\"\nparams = {{ {params} }}\n"
        ),
    );
    let out = common::revoking_scan(dir.path(), &sim.config, &policy)
        .env(var, admin)
        .output()
        .unwrap();
    (dir, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Twilio: a Main key deletes itself through IAM v1 `Keys/{Sid}` by the SID found beside it;
/// a Standard key is refused there (403) and the account's auth token from the policy deletes
/// it instead. The account's other key lives on.
#[test]
fn twilio_api_key_is_deleted_by_its_sid_itself_or_by_the_account() {
    let mut g = Gen::new(1454);
    let account = format!("AC{}", g.hex(32));
    let token = g.hex(32);
    let sk = |g: &mut Gen| (format!("SK{}", g.hex(32)), g.alnum(32));
    let ((by_sid, by_secret), (main_sid, main_secret), (std_sid, std_secret)) =
        (sk(&mut g), sk(&mut g), sk(&mut g));
    let key = |sid: &str, secret: &str, admin: bool| {
        format!("[[key]]\nissuer = \"twilio\"\nkey_id = \"{sid}\"\nsecret = \"{secret}\"\norg = \"{account}\"\nadmin = {admin}\n")
    };
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"twilio\"\nkey_id = \"{account}\"\nsecret = \"{token}\"\norg = \"{account}\"\n{}{}{}",
        key(&by_sid, &by_secret, false),
        key(&main_sid, &main_secret, true),
        key(&std_sid, &std_secret, false),
    ));
    let env = |sid: &str, secret: &str| format!("TWILIO_API_KEY={sid}\nTWILIO_API_SECRET={secret}\n");
    let (dir, err) = scan_with_admin(
        &sim,
        &[
            ("main.env", env(&main_sid, &main_secret)),
            ("standard.env", env(&std_sid, &std_secret)),
        ],
        "twilio",
        &token,
        &format!("account_sid = \"{account}\""),
    );
    assert_eq!(revoked(&sim), "[2,3]", "{err}");
    for secret in [&main_secret, &std_secret] {
        assert_eq!(
            status(dir.path(), "twilio.api-key-secret", secret),
            "revoked",
            "{err}"
        );
    }
    let mut d = deletes(&sim, "twilio");
    d.sort();
    let mut want = vec![
        format!("/twilio/iam/v1/Keys/{main_sid} 204"),
        format!("/twilio/iam/v1/Keys/{std_sid} 403"),
        format!("/twilio/iam/v1/Keys/{std_sid} 204"),
    ];
    want.sort();
    assert_eq!(d, want);
}

/// Twilio auth tokens: the account fetch with the SID found beside the token tells a live
/// token (reported, escalated: there is no delete, only a human's rotation) from a dead one.
#[test]
fn twilio_auth_token_is_verified_against_its_account() {
    let mut g = Gen::new(1455);
    let account = format!("AC{}", g.hex(32));
    let (live, dead) = (g.hex(32), g.hex(32));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"twilio\"\nkey_id = \"{account}\"\nsecret = \"{live}\"\norg = \"{account}\"\n"
    ));
    let (dir, err) = scan_auto(
        &sim,
        &format!(
            "TWILIO_ACCOUNT_SID={account}\nTWILIO_AUTH_TOKEN={live}\n\n\nOLD_TWILIO_AUTH_TOKEN={dead}\n"
        ),
    );
    assert_eq!(
        status(dir.path(), "twilio.auth-token", &live),
        "escalated",
        "{err}"
    );
    assert_eq!(status(dir.path(), "twilio.auth-token", &dead), "dead", "{err}");
    assert_eq!(revoked(&sim), "[]");
}

/// Auth0: with a Management API token from the policy, the client's current secret is read
/// and, being the leaked one, rotated (`rotate-secret`): the old value is dead, another
/// client of the tenant keeps its secret.
#[test]
fn auth0_client_secret_is_rotated_when_it_is_the_clients_current_one() {
    let mut g = Gen::new(1456);
    let tenant = "acme.us.auth0.com";
    let (admin, cid, other) = (g.alnum(40), g.alnum(32), g.alnum(32));
    let (leaked, kept) = (g.alnum(64), g.alnum(64));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"auth0\"\nsecret = \"{admin}\"\nadmin = true\norg = \"{tenant}\"\n\
         [[key]]\nissuer = \"auth0\"\nkey_id = \"{cid}\"\nsecret = \"{leaked}\"\norg = \"{tenant}\"\n\
         [[key]]\nissuer = \"auth0\"\nkey_id = \"{other}\"\nsecret = \"{kept}\"\norg = \"{tenant}\"\n"
    ));
    let (dir, err) = scan_with_admin(
        &sim,
        &[(
            "app.env",
            format!("AUTH0_DOMAIN={tenant}\nAUTH0_CLIENT_ID={cid}\nAUTH0_CLIENT_SECRET={leaked}\n"),
        )],
        "auth0",
        &admin,
        "",
    );
    assert_eq!(revoked(&sim), "[1]", "{err}");
    assert_eq!(
        status(dir.path(), "auth0.client-secret", &leaked),
        "revoked",
        "{err}"
    );
    let calls: Vec<String> = sim
        .recorded()
        .iter()
        .filter(|r| r["issuer"] == "auth0" && r["kind"] == "revoke")
        .map(|r| {
            format!(
                "{} {} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap(),
                r["status"]
            )
        })
        .collect();
    assert!(
        calls.contains(&format!("POST /auth0/api/v2/clients/{cid}/rotate-secret 200")),
        "{calls:#?}"
    );
    assert!(!calls.iter().any(|c| c.contains(&other)), "{calls:#?}");
}

/// Google Cloud: a service-account key file is deleted by its own private_key_id under its
/// account and project, with an admin access token from the policy; the account's other key
/// stays, and the deleted key can no longer mint tokens (confirmed dead).
#[test]
fn gcp_service_account_key_is_deleted_by_its_private_key_id() {
    let mut g = Gen::new(1457);
    let email = "deployer@proj-x.iam.gserviceaccount.com";
    let (_, leaked_pem) = common::fake_verify::rsa_pem(1458);
    let (_, other_pem) = common::fake_verify::rsa_pem(1459);
    let (leaked_id, other_id, admin) = (g.hex(40), g.hex(40), format!("ya29.{}", g.alnum(40)));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"google\"\nsecret = \"{admin}\"\nadmin = true\n\
         [[key]]\nissuer = \"google\"\nprincipal = \"{email}\"\nkey_id = \"{other_id}\"\nproject = \"proj-x\"\nsecret = \"\"\"{other_pem}\"\"\"\n\
         [[key]]\nissuer = \"google\"\nprincipal = \"{email}\"\nkey_id = \"{leaked_id}\"\nproject = \"proj-x\"\nsecret = \"\"\"{leaked_pem}\"\"\"\n"
    ));
    let sa = serde_json::json!({"type": "service_account", "project_id": "proj-x", "private_key_id": leaked_id,
        "private_key": leaked_pem, "client_email": email, "token_uri": "https://oauth2.googleapis.com/token"});
    let (dir, err) = scan_with_admin(
        &sim,
        &[("sa.json", serde_json::to_string_pretty(&sa).unwrap())],
        "google",
        &admin,
        "",
    );
    assert_eq!(revoked(&sim), "[2]", "{err}");
    // The file holds the key JSON-escaped, so the finding is named by its rule here.
    let out = run_in(dir.path(), &["findings", "--json", "--data-dir", "data"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "google.service-account-key")
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["revoked"], "{err}");
    let d: Vec<String> = deletes(&sim, "google")
        .iter()
        .map(|l| l.replace("%40", "@"))
        .collect();
    assert_eq!(
        d,
        vec![format!(
            "/google/iam/v1/projects/proj-x/serviceAccounts/{email}/keys/{leaked_id} 200"
        )]
    );
}
