//! Admin-path revocation (find the key's id with an admin credential, then delete it), the
//! missing-credential fault, and `quench recheck`, with the built-in OpenAI rule and recipes
//! against the simulator's OpenAI admin API (projects, paged key listings, DELETE by key id).

use crate::common;

use std::path::Path;

use common::fake::{self, Gen};
use common::fake_store::stored_findings;
use common::fake_verify::SimThread;
use common::quench;

const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const ADMIN_ENV: &str = "QUENCH_TEST_OPENAI_ADMIN";
const RULE: &str = "openai.project-key";

/// An OpenAI organisation with an admin key and `n` project keys (project `proj_A1`, ids
/// `key_0`…), each leaked in its own file under `dir/repo`. Returns the simulator, the admin
/// key and the leaked keys.
fn leaked_openai_keys(dir: &Path, seed: u64, n: usize) -> (SimThread, String, Vec<String>) {
    let mut g = Gen::new(seed);
    let admin = format!("sk-admin-{}", g.alnum(40));
    let mut keys =
        format!("[[key]]\nissuer = \"openai\"\nsecret = \"{admin}\"\nadmin = true\nkey_id = \"key_admin\"\n");
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let leaked: Vec<String> = (0..n)
        .map(|i| {
            let k = fake::openai_project(&mut g);
            keys.push_str(&format!(
                "\n[[key]]\nissuer = \"openai\"\nsecret = \"{k}\"\nprincipal = \"dev{i}@example.com\"\nproject = \"proj_A1\"\nkey_id = \"key_{i}\"\n"
            ));
            std::fs::write(repo.join(format!("app{i}.env")), format!("OPENAI_API_KEY={k}\n")).unwrap();
            k
        })
        .collect();
    (SimThread::start(&keys), admin, leaked)
}

fn is_live(sim: &SimThread, secret: &str) -> bool {
    sim.handle.sim.is_live("openai", secret)
}

fn run(dir: &Path, sim: &SimThread, args: &[&str], admin: Option<&str>) -> (i32, String) {
    let mut c = quench();
    c.current_dir(dir)
        .args(args)
        .arg("--config")
        .arg(&sim.config)
        .args(["--config", "quench.toml", "--data-dir", "data"])
        .env("QUENCH_STORE_KEY", STORE_KEY);
    match admin {
        Some(a) => c.env(ADMIN_ENV, a),
        None => c.env_remove(ADMIN_ENV),
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
    let (sim, admin, t) = leaked_openai_keys(tmp.path(), 31, 1);
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!(
            "[revoke]\nmode = \"auto\"\nbackoff_max_secs = 0.1\nwait_secs = 1\n\
             [revoke.admin.openai]\nenv = \"{ADMIN_ENV}\"\n\
             [[notify.webhook]]\nurl = \"{}/_sim/hook\"\n",
            sim.handle.url()
        ),
    )
    .unwrap();
    let (code, err) = run(tmp.path(), &sim, &["scan", "repo", "--revoke"], None);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(is_live(&sim, &t[0]));
    // The summary says what the store says: queued for a credential, not escalated.
    assert!(
        err.contains("0 escalated") && err.contains("1 waiting for an admin credential"),
        "{err}"
    );
    let f = &stored_findings(tmp.path())[0];
    assert_eq!(f["rule_id"], RULE, "{f}");
    assert_eq!(f["status"], "revoking");
    assert_eq!(f["jobs"][0]["state"], "queued");
    let reason = f["jobs"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(ADMIN_ENV), "{reason}");
    let hooks = sim.handle.sim.hooks();
    let events: Vec<&str> = hooks.iter().filter_map(|h| h["event"].as_str()).collect();
    assert_eq!(events, vec!["detected", "escalated"], "escalated once: {hooks:?}");
    assert!(
        !tmp.path().join("data/keys/store.key").exists(),
        "QUENCH_STORE_KEY was not used"
    );
    let deletes = |sim: &SimThread| {
        sim.handle.sim.count(
            "openai",
            "DELETE",
            "/v1/organization/projects/proj_A1/api_keys/key_0",
        )
    };
    assert_eq!(deletes(&sim), 0, "nothing deleted without the credential");

    // With the credential in place, the queued job completes through the admin API.
    let (code, err) = run(tmp.path(), &sim, &["revoke"], Some(&admin));
    assert_eq!(code, 0, "{err}");
    assert!(!is_live(&sim, &t[0]));
    assert_eq!(deletes(&sim), 1, "{:#?}", sim.handle.sim.seen());
    assert_eq!(stored_findings(tmp.path())[0]["status"], "revoked");
}

#[test]
fn inline_admin_credential_in_the_policy_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (sim, _, _) = leaked_openai_keys(tmp.path(), 32, 1);
    std::fs::write(
        tmp.path().join("quench.toml"),
        "[revoke]\nmode = \"auto\"\n[revoke.admin.openai]\ntoken = \"an-inline-admin-token\"\n",
    )
    .unwrap();
    let (code, err) = run(tmp.path(), &sim, &["scan", "repo"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("[revoke.admin.openai]") && err.contains("never written in the config"),
        "{err}"
    );
    assert!(!err.contains("an-inline-admin-token"), "{err}");
}

#[test]
fn recheck_finds_keys_that_died_and_escalates_keys_still_live() {
    let tmp = tempfile::tempdir().unwrap();
    let (sim, admin, t) = leaked_openai_keys(tmp.path(), 33, 2);
    std::fs::write(
        tmp.path().join("quench.toml"),
        format!(
            "[revoke]\nescalate_live_after_hours = 0\n\
             [[notify.webhook]]\nurl = \"{}/_sim/hook\"\nevents = [\"escalated\"]\n",
            sim.handle.url()
        ),
    )
    .unwrap();
    let (code, err) = run(tmp.path(), &sim, &["scan", "repo", "--store"], None);
    assert_eq!(code, 1, "{err}");
    // Someone rotated one key by hand (key 2 in keys.toml order: the admin key is 0).
    let sim_state = &sim.handle.sim;
    sim_state.revoke(sim_state.live("openai", &t[1]).unwrap());
    let (code, err) = run(tmp.path(), &sim, &["recheck"], None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("1 live, 1 dead") && err.contains("1 escalated"),
        "{err}"
    );
    let fs = stored_findings(tmp.path());
    let fp0 = common::fingerprint(RULE, t[0].as_bytes());
    for f in &fs {
        let want = if f["fingerprint"] == fp0.as_str() {
            "escalated"
        } else {
            "dead"
        };
        assert_eq!(f["status"], want, "{f}");
    }
    let hooks = sim_state.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(hooks[0]["detail"].as_str().unwrap().contains("still live"));

    // Escalated for staying live is not "with a human": a later scan with --revoke kills it
    // (OpenAI's path is admin, so name the credential).
    std::fs::write(
        tmp.path().join("admin.toml"),
        format!("[revoke]\nmode = \"auto\"\n[revoke.admin.openai]\nenv = \"{ADMIN_ENV}\"\n"),
    )
    .unwrap();
    let (_, err) = run(
        tmp.path(),
        &sim,
        &["scan", "repo", "--config", "admin.toml", "--revoke"],
        Some(&admin),
    );
    assert!(err.contains("1 revoked and confirmed dead"), "{err}");
    assert!(!is_live(&sim, &t[0]));
}
