//! Admin-path revocation (find the key's id with an admin credential, then delete it), the
//! missing-credential fault, and `quench recheck`.

use crate::common;

use std::path::Path;

use common::fake_issuer::FakeIssuer;
use common::fake_store::{repo_with_tokens, stored_findings, REVOKE_SCAN, STORE_SCAN};
use common::quench;

const ADMIN_RECIPES: &str = r#"
[rule.verify]
url = "{api}/user"
headers = { Authorization = "Bearer {secret}" }
identity = { principal = "json:login" }

[rule.revoke]
authority = "admin"
method = "DELETE"
url = "{api}/admin/keys/{found}"
headers = { Authorization = "Bearer {admin}" }
ok = { status = [200] }
gone = { status = [404] }

[rule.revoke.find]
url = "{api}/admin/keys"
headers = { Authorization = "Bearer {admin}" }
items = "data"
field = "redacted_value"
match = "redacted"
take = "id"
"#;

const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn run(dir: &Path, args: &[&str], admin: Option<&str>) -> (i32, String) {
    let mut c = quench();
    c.current_dir(dir).args(args).env("QUENCH_STORE_KEY", STORE_KEY);
    match admin {
        Some(a) => c.env("QUENCH_TEST_GH_ADMIN", a),
        None => c.env_remove("QUENCH_TEST_GH_ADMIN"),
    };
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_admin_credential_keeps_the_job_queued_then_it_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 31, 1, ADMIN_RECIPES);
    let issuer = FakeIssuer::start(&[(&t[0], "alice")]);
    *issuer.state.admin_key.lock().unwrap() = Some("org-admin-credential".into());
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{u}\"\n[revoke]\nmode = \"auto\"\nbackoff_max_secs = 0.1\nwait_secs = 1\n\
             [revoke.admin.github]\nenv = \"QUENCH_TEST_GH_ADMIN\"\n\
             [[notify.webhook]]\nurl = \"{u}/hook\"\n",
            u = issuer.url
        ),
    )
    .unwrap();
    let (code, err) = run(tmp.path(), REVOKE_SCAN, None);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(issuer.is_live(&t[0]));
    // The summary says what the store says: queued for a credential, not escalated.
    assert!(
        err.contains("0 escalated") && err.contains("1 waiting for an admin credential"),
        "{err}"
    );
    let f = &stored_findings(tmp.path())[0];
    assert_eq!(f["status"], "revoking");
    assert_eq!(f["jobs"][0]["state"], "queued");
    let reason = f["jobs"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("QUENCH_TEST_GH_ADMIN"), "{reason}");
    let hooks = issuer.hooks();
    let events: Vec<&str> = hooks.iter().filter_map(|h| h["event"].as_str()).collect();
    assert_eq!(events, vec!["detected", "escalated"], "escalated once: {hooks:?}");
    assert!(
        !tmp.path().join("data/keys/store.key").exists(),
        "QUENCH_STORE_KEY was not used"
    );

    // With the credential in place, the queued job completes through the admin API.
    let (code, err) = run(
        tmp.path(),
        &[
            "revoke",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
        Some("org-admin-credential"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!issuer.is_live(&t[0]));
    assert_eq!(issuer.state.deleted_ids.lock().unwrap().len(), 1);
    assert_eq!(issuer.count("GET", "/admin/keys"), 1);
    assert_eq!(stored_findings(tmp.path())[0]["status"], "revoked");
}

#[test]
fn inline_admin_credential_in_the_policy_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    repo_with_tokens(tmp.path(), 32, 1, ADMIN_RECIPES);
    std::fs::write(
        tmp.path().join("quench.toml"),
        "[revoke]\nmode = \"auto\"\n[revoke.admin.github]\ntoken = \"an-inline-admin-token\"\n",
    )
    .unwrap();
    let (code, err) = run(tmp.path(), STORE_SCAN, None);
    assert_eq!(code, 2);
    assert!(
        err.contains("[revoke.admin.github]") && err.contains("never written in the config"),
        "{err}"
    );
    assert!(!err.contains("an-inline-admin-token"), "{err}");
}

#[test]
fn recheck_finds_keys_that_died_and_escalates_keys_still_live() {
    let tmp = tempfile::tempdir().unwrap();
    let t = repo_with_tokens(tmp.path(), 33, 2, ADMIN_RECIPES);
    let issuer = FakeIssuer::start(&[(&t[0], "alice"), (&t[1], "bob")]);
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!(
            "[issuers.github]\napi = \"{u}\"\n[revoke]\nescalate_live_after_hours = 0\n\
             [[notify.webhook]]\nurl = \"{u}/hook\"\nevents = [\"escalated\"]\n",
            u = issuer.url
        ),
    )
    .unwrap();
    let (code, err) = run(tmp.path(), &[STORE_SCAN, &["--store"]].concat(), None);
    assert_eq!(code, 1, "{err}");
    // Someone rotated one key by hand.
    issuer.state.live.lock().unwrap().remove(&t[1]);
    let (code, err) = run(
        tmp.path(),
        &[
            "recheck",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--data-dir",
            "data",
        ],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("1 live, 1 dead") && err.contains("1 escalated"),
        "{err}"
    );
    let fs = stored_findings(tmp.path());
    let fp0 = common::fingerprint("test.token", t[0].as_bytes());
    for f in &fs {
        let want = if f["fingerprint"] == fp0.as_str() {
            "escalated"
        } else {
            "dead"
        };
        assert_eq!(f["status"], want);
    }
    assert_eq!(issuer.hooks().len(), 1);
    assert!(issuer.hooks()[0]["detail"]
        .as_str()
        .unwrap()
        .contains("still live"));

    // Escalated for staying live is not "with a human": a later scan with --revoke kills it
    // (this rule's recipe is admin, so name the credential).
    std::fs::write(
        tmp.path().join("admin.toml"),
        "[revoke.admin.github]\nenv = \"QUENCH_TEST_GH_ADMIN\"\n",
    )
    .unwrap();
    *issuer.state.admin_key.lock().unwrap() = Some("adm".into());
    let (_, err) = run(
        tmp.path(),
        &[
            "scan",
            "repo",
            "--rules",
            "rules",
            "--config",
            "quench.toml",
            "--config",
            "admin.toml",
            "--data-dir",
            "data",
            "--revoke",
        ],
        Some("adm"),
    );
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert!(!issuer.is_live(&t[0]));
}
