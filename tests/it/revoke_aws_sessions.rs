//! AWS sessions outlive the key that minted them: STS `GetSessionToken` credentials stay valid
//! after the long-term key is deactivated. With `cut_sessions = true` in the policy, the
//! revocation first embeds an inline deny on the key's IAM user (IAM `PutUserPolicy`,
//! `DateLessThan aws:TokenIssueTime`), signed by the leaked key or else by the policy's admin
//! key, and audits it on its own line. Against the simulator, in the Query API's documented
//! shapes: a session minted before the cut is refused afterwards, while the user's other key
//! and a session minted after the cut keep working.

use crate::common;

use common::fake::Gen;
use common::fake_verify::{http, SimProc};
use common::run_in;

/// A Query API call to the simulator's AWS `base` (`sts` or `iam`) signed with SigV4 by
/// `creds` (key id, secret, session token), asking for the JSON answer.
fn aws_call(sim: &SimProc, base: &str, query: &str, creds: (&str, &str, Option<&str>)) -> (u16, String) {
    let url = url::Url::parse(&format!("{}/aws/{base}/?{query}", sim.url)).unwrap();
    let service = if base == "sts" { "sts" } else { "iam" };
    let headers = quench::verify::aws::sign(
        "GET",
        &url,
        b"",
        &quench::verify::aws::Credentials {
            key_id: creds.0,
            secret: creds.1,
            session_token: creds.2,
        },
        "us-east-1",
        service,
        chrono::Utc::now(),
    );
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("accept", "application/json")])
        .collect();
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    http(&sim.url, "GET", &path, &headers, "")
}

/// A session minted by the long-term key `(id, secret)`: its id, secret and token.
fn session(sim: &SimProc, id: &str, secret: &str) -> (String, String, String) {
    let (status, body) = aws_call(
        sim,
        "sts",
        "Action=GetSessionToken&Version=2011-06-15",
        (id, secret, None),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let c = &v["GetSessionTokenResponse"]["GetSessionTokenResult"]["Credentials"];
    let s = |k: &str| c[k].as_str().unwrap().to_string();
    assert!(s("AccessKeyId").starts_with("ASIA"), "{body}");
    (s("AccessKeyId"), s("SecretAccessKey"), s("SessionToken"))
}

/// The status of an IAM `GetUser` signed by the session.
fn get_user(sim: &SimProc, s: &(String, String, String)) -> u16 {
    aws_call(
        sim,
        "iam",
        "Action=GetUser&Version=2010-05-08",
        (&s.0, &s.1, Some(&s.2)),
    )
    .0
}

/// A revoking scan of a file holding `(id, secret)`, under `policy_extra` after an `auto`
/// policy, with `env` set.
fn scan(
    sim: &SimProc,
    id: &str,
    secret: &str,
    policy_extra: &str,
    env: &[(&str, &str)],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.env"),
        format!("aws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
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
    assert!(
        sim.request("GET", "/_sim/revoked", &[], "").1.contains('0'),
        "the leaked key was not deactivated: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Each audit line (action, detail) of the leaked key's finding.
fn audit(dir: &std::path::Path, id: &str) -> Vec<String> {
    let fp = common::fingerprint("aws.access-key", id.as_bytes());
    let out = run_in(
        dir,
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

/// The AWS revoke-kind requests in order: `Action` of each, with its status.
fn revoke_actions(sim: &SimProc) -> Vec<String> {
    sim.recorded()
        .iter()
        .filter(|r| r["issuer"] == "aws" && r["kind"] == "revoke")
        .map(|r| format!("{} {}", r["path"].as_str().unwrap_or(""), r["status"]))
        .collect()
}

fn two_keys_of_one_user(g: &mut Gen, leaked_extra: &str) -> (String, String, String, String, SimProc) {
    let (id, secret) = common::fake::aws(g);
    let (fresh_id, fresh_secret) = common::fake::aws(g);
    let user = "principal = \"arn:aws:iam::111122223333:user/ci\"\norg = \"111122223333\"\n";
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"aws\"\nkey_id = \"{id}\"\nsecret = \"{secret}\"\n{user}{leaked_extra}\n\
         [[key]]\nissuer = \"aws\"\nkey_id = \"{fresh_id}\"\nsecret = \"{fresh_secret}\"\n{user}"
    ));
    (id, secret, fresh_id, fresh_secret, sim)
}

/// The leaked key may write its own user's policy: it embeds the deny itself, before it is
/// deactivated (afterwards it could no longer sign). The old session is refused; the user's
/// other key and a session it mints after the cut still work.
#[test]
fn sessions_minted_before_the_revocation_are_cut_off_by_the_leaked_key_itself() {
    let mut g = Gen::new(1460);
    let (id, secret, fresh_id, fresh_secret, sim) = two_keys_of_one_user(&mut g, "");
    let old = session(&sim, &id, &secret);
    assert_eq!(get_user(&sim, &old), 200);
    let dir = scan(
        &sim,
        &id,
        &secret,
        "[revoke.issuers.aws]\ncut_sessions = true\n",
        &[],
    );
    assert_eq!(sim.request("GET", "/_sim/revoked", &[], "").1, "[0]");
    assert_eq!(
        get_user(&sim, &old),
        403,
        "a session minted before the cut still works"
    );
    // The user's other long-term key carries no token issue time: unaffected.
    let (status, body) = aws_call(
        &sim,
        "iam",
        "Action=GetUser&Version=2010-05-08",
        (&fresh_id, &fresh_secret, None),
    );
    assert_eq!(status, 200, "{body}");
    // A session minted after the cut-off (rounded up to the next second) is not refused.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = session(&sim, &fresh_id, &fresh_secret);
    assert_eq!(get_user(&sim, &new), 200);
    let lines = audit(dir.path(), &id);
    assert!(
        lines.iter().any(|l| l.starts_with("sessions-cut accepted")),
        "{lines:#?}"
    );
    // Signed by the leaked key: its owner's name (GetAccessKeyLastUsed), the policy, then the
    // deactivation. Had the policy come after, the dead key's signature would be refused.
    let calls = revoke_actions(&sim);
    assert_eq!(calls, vec!["/aws/iam/ 200".to_string(); 3], "{calls:#?}");
}

/// Without `cut_sessions`, only the key is deactivated and its sessions live on: the cut is
/// the policy's choice (it denies every older session of the user, not only the leaked key's).
#[test]
fn sessions_are_left_alone_unless_the_policy_enables_the_cut() {
    let mut g = Gen::new(1461);
    let (id, secret, _, _, sim) = two_keys_of_one_user(&mut g, "");
    let old = session(&sim, &id, &secret);
    let dir = scan(&sim, &id, &secret, "", &[]);
    assert_eq!(get_user(&sim, &old), 200);
    let lines = audit(dir.path(), &id);
    assert!(!lines.iter().any(|l| l.starts_with("sessions-cut")), "{lines:#?}");
}

/// A leaked key without iam:PutUserPolicy on itself is refused; the policy's admin key embeds
/// the deny instead (finding the user by GetAccessKeyLastUsed), and deactivates the key.
#[test]
fn an_admin_key_cuts_the_sessions_when_the_leaked_key_may_not() {
    let mut g = Gen::new(1462);
    let (admin_id, admin_secret) = common::fake::aws(&mut g);
    let (id, secret, _, _, sim) = {
        let (id, secret) = common::fake::aws(&mut g);
        let (fresh_id, fresh_secret) = common::fake::aws(&mut g);
        let user = "principal = \"arn:aws:iam::111122223333:user/ci\"\norg = \"111122223333\"\n";
        let sim = SimProc::start(&format!(
            "[[key]]\nissuer = \"aws\"\nkey_id = \"{id}\"\nsecret = \"{secret}\"\n{user}no_self_revoke = true\n\n\
             [[key]]\nissuer = \"aws\"\nkey_id = \"{fresh_id}\"\nsecret = \"{fresh_secret}\"\n{user}\n\
             [[key]]\nissuer = \"aws\"\nkey_id = \"{admin_id}\"\nsecret = \"{admin_secret}\"\nadmin = true\n\
             principal = \"arn:aws:iam::111122223333:user/admin\"\norg = \"111122223333\"\n"
        ));
        (id, secret, fresh_id, fresh_secret, sim)
    };
    let old = session(&sim, &id, &secret);
    let admin = format!("{admin_id}:{admin_secret}");
    let dir = scan(
        &sim,
        &id,
        &secret,
        "[revoke.issuers.aws]\ncut_sessions = true\n[revoke.admin.aws]\nenv = \"SIM_AWS_ADMIN\"\n",
        &[("SIM_AWS_ADMIN", &admin)],
    );
    assert_eq!(
        get_user(&sim, &old),
        403,
        "a session minted before the cut still works"
    );
    let lines = audit(dir.path(), &id);
    assert!(
        lines.iter().any(|l| l.starts_with("sessions-cut accepted")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(&secret)), "{lines:#?}");
}
