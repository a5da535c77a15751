//! Answers that are neither proof of life nor of death, read as the issuers mean them
//! (`scan --verify` against the simulator): a proxy's bare 403 is not WorkOS saying "live";
//! AWS's SignatureDoesNotMatch and a key of another partition are not a dead key.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::{self as fv, verification, SimProc};
use common::scan_json;

fn scan_verify(sim: &SimProc, files: &[(&str, String)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let policy = sim.extra_config("verify.toml", "[verify]\nretries = 0\n");
    let cfg = sim.config.to_string_lossy().into_owned();
    let pol = policy.to_string_lossy().into_owned();
    let (code, report) = scan_json(dir.path(), &["--config", &cfg, "--config", &pol, "--verify", "."]);
    assert_eq!(code, 1, "findings expected: {report:#}");
    report
}

/// WorkOS answers a live key with its list (`object`, `list_metadata`); a 403 without that
/// body (a proxy, a WAF) says nothing about the key.
#[test]
fn workos_is_live_only_on_its_own_list() {
    let mut g = Gen::new(1420);
    let live = format!("sk_live_a2V5XzAx{}", g.alnum(130));
    let behind_proxy = format!("sk_live_a2V5XzAx{}", g.alnum(130));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"workos\"\nsecret = \"{live}\"\n\
         [[key]]\nissuer = \"workos\"\nsecret = \"{behind_proxy}\"\nfault = \"403\"\n"
    ));
    let r = scan_verify(
        &sim,
        &[
            ("a.env", format!("WORKOS_API_KEY={live}\n")),
            ("b.env", format!("WORKOS_API_KEY={behind_proxy}\n")),
        ],
    );
    let v = verification(&r, "workos.live-api-key", &live);
    assert_eq!(v["verdict"], "live", "{v:#}");
    let v = verification(&r, "workos.live-api-key", &behind_proxy);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(v["reason"].as_str().unwrap().contains("403"), "{v:#}");
}

fn aws_file(id: &str, secret: &str) -> String {
    format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n")
}

/// AWS: a key id with the wrong secret beside it is known to AWS (SignatureDoesNotMatch) and
/// may be live: indeterminate. GovCloud and China keys, unknown to the commercial STS, are
/// asked of their own partition's STS and read live there; a key no partition knows is dead.
#[test]
fn aws_wrong_secret_and_other_partitions_are_not_dead() {
    let mut g = Gen::new(1421);
    let (mismatched, right_secret) = fake::aws(&mut g);
    let (_, wrong_secret) = fake::aws(&mut g);
    let (gov, gov_secret) = fake::aws(&mut g);
    let (cn, cn_secret) = fake::aws(&mut g);
    let (gone, gone_secret) = fake::aws(&mut g);
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{mismatched}\"\nsecret = \"{right_secret}\"\n\
         [[key]]\nissuer = \"aws\"\nkey_id = \"{gov}\"\nsecret = \"{gov_secret}\"\npartition = \"aws-us-gov\"\n\
         principal = \"arn:aws-us-gov:iam::111122223333:user/ci\"\n\
         [[key]]\nissuer = \"aws\"\nkey_id = \"{cn}\"\nsecret = \"{cn_secret}\"\npartition = \"aws-cn\"\n\
         principal = \"arn:aws-cn:iam::111122223333:user/ci\"\n"
    ));
    let r = scan_verify(
        &sim,
        &[
            ("mismatched.ini", aws_file(&mismatched, &wrong_secret)),
            ("gov.ini", aws_file(&gov, &gov_secret)),
            ("cn.ini", aws_file(&cn, &cn_secret)),
            ("gone.ini", aws_file(&gone, &gone_secret)),
        ],
    );
    let v = verification(&r, "aws.access-key", &mismatched);
    assert_eq!(v["verdict"], "indeterminate", "{v:#}");
    assert!(
        v["reason"].as_str().unwrap().contains("SignatureDoesNotMatch"),
        "{v:#}"
    );
    let v = verification(&r, "aws.access-key", &gov);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["principal"], "arn:aws-us-gov:iam::111122223333:user/ci");
    let v = verification(&r, "aws.access-key", &cn);
    assert_eq!(v["verdict"], "live", "{v:#}");
    let v = verification(&r, "aws.access-key", &gone);
    assert_eq!(v["verdict"], "dead", "{v:#}");
    assert!(
        v["reason"].as_str().unwrap().contains("no AWS partition"),
        "{v:#}"
    );
}

/// Entra: the expiry reported for a client secret is the secret's own `endDateTime` (read from
/// the app registration with the token the secret minted), not the hour the token lives.
#[test]
fn entra_secret_expiry_is_the_secrets_own_end_date() {
    let mut g = Gen::new(1422);
    let (tenant, client, cs) = (fv::uuid(&mut g), fv::uuid(&mut g), fv::entra_secret(&mut g));
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"azure\"\nkey_id = \"{client}\"\norg = \"{tenant}\"\nsecret = \"{cs}\"\n\
         scopes = [\"Application.Read.All\"]\nexpires_at = \"2027-06-30T00:00:00Z\"\n"
    ));
    let r = scan_verify(
        &sim,
        &[(
            "azure.env",
            format!("AZURE_TENANT_ID={tenant}\nAZURE_CLIENT_ID={client}\nAZURE_CLIENT_SECRET={cs}\n"),
        )],
    );
    let v = verification(&r, "azure.entra-client-secret", &cs);
    assert_eq!(v["verdict"], "live", "{v:#}");
    assert_eq!(v["expires_at"], "2027-06-30T00:00:00Z", "{v:#}");
    assert!(v["extra"]["token_expires_at"].is_string(), "{v:#}");
}
