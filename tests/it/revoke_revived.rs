//! A revoked key that comes back (re-activated, restored) is not "seen again, already
//! revoked": the issuer's live answer reopens it, quench revokes it again under the policy and
//! counts a second exposure window; `quench recheck` finds it without a new scan.

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;

struct Env {
    sim: SimProc,
    dir: tempfile::TempDir,
    policy: std::path::PathBuf,
    secret: String,
}

fn setup() -> Env {
    let mut g = Gen::new(1430);
    let secret = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{secret}\"\nprincipal = \"octo\"\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.env"), format!("GITHUB_TOKEN={secret}\n")).unwrap();
    let policy = sim.extra_config(
        "policy.toml",
        "[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\nbackoff_secs = 0.05\n",
    );
    Env {
        sim,
        dir,
        policy,
        secret,
    }
}

impl Env {
    fn quench(&self, args: &[&str]) -> std::process::Output {
        common::quench()
            .current_dir(self.dir.path())
            .args(args)
            .args(["--data-dir", "data", "--config"])
            .arg(&self.sim.config)
            .arg("--config")
            .arg(&self.policy)
            .output()
            .unwrap()
    }

    fn finding(&self) -> serde_json::Value {
        let fp = crate::common::fingerprint("github.pat-classic", self.secret.as_bytes());
        let out = run_in(
            self.dir.path(),
            &["findings", "--json", "--timeline", "--data-dir", "data"],
            None,
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fingerprint"] == fp.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no finding: {v:#}"))
    }

    fn actions(&self) -> Vec<String> {
        self.finding()["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap().to_string())
            .collect()
    }

    fn revive(&self) {
        let (status, body) = self.sim.request("POST", "/_sim/revive/0", &[], "");
        assert_eq!(status, 200, "{body}");
    }

    fn revoke_calls(&self) -> usize {
        self.sim
            .recorded()
            .iter()
            .filter(|r| r["kind"] == "revoke" && r["issuer"] == "github")
            .count()
    }

    fn report(&self) -> serde_json::Value {
        let out = run_in(self.dir.path(), &["report", "--json", "--data-dir", "data"], None);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn a_revoked_key_live_again_is_revived_and_revoked_again_by_scan_and_recheck() {
    let e = setup();
    let out = e.quench(&["scan", ".", "--verify", "--revoke"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(e.finding()["status"], "revoked", "{err}");
    assert_eq!(e.revoke_calls(), 1);

    // The issuer restores the token; the next scan sees it live.
    e.revive();
    let out = e.quench(&["scan", ".", "--verify", "--revoke"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let actions = e.actions();
    assert!(actions.iter().any(|a| a == "revived"), "{actions:?}\n{err}");
    assert!(!actions.iter().any(|a| a == "seen-again"), "{actions:?}");
    assert_eq!(e.finding()["status"], "revoked", "{actions:?}\n{err}");
    assert_eq!(e.revoke_calls(), 2, "{err}");
    let f = e.finding();
    assert_eq!(f["timeline"]["windows"], 2, "{f:#}");
    assert!(f["timeline"]["revived"].is_string(), "{f:#}");
    let r = e.report();
    assert_eq!(r["revived"], 1, "{r:#}");
    assert_eq!(r["windows"][0]["windows"], 2, "{r:#}");

    // Again, and this time only a recheck looks: it finds the key live, revives it and revokes
    // it once more.
    e.revive();
    let out = e.quench(&["recheck"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("1 revived"), "{err}");
    assert_eq!(e.revoke_calls(), 3, "{err}");
    let f = e.finding();
    assert_eq!(f["status"], "revoked", "{f:#}\n{err}");
    assert_eq!(f["timeline"]["windows"], 3, "{f:#}");
}
