//! The issuer simulator (`quench::simulate`, the same one `quench simulate` runs) on a thread of
//! the test process, holding GitHub keys for the revocation tests. It answers GitHub's
//! documented shapes (`GET /user`, `POST /credentials/revoke`); tests stage faults with the
//! simulator's scripts and read what it received from its state. There is no second fake issuer.

use quench::simulate::{Script, Sim};

use super::fake_verify::SimThread;

pub struct SimGithub {
    /// The GitHub API base to configure (`[issuers.github] api`).
    pub url: String,
    sim: SimThread,
}

impl SimGithub {
    /// A simulator where each `(secret, login)` is a live GitHub token acting as `login`.
    pub fn start(live: &[(&str, &str)]) -> SimGithub {
        let keys: String = live
            .iter()
            .map(|(s, login)| {
                format!("[[key]]\nissuer = \"github\"\nsecret = \"{s}\"\nprincipal = \"{login}\"\n\n")
            })
            .collect();
        let sim = SimThread::start(&keys);
        SimGithub {
            url: format!("{}/github", sim.handle.url()),
            sim,
        }
    }

    fn state(&self) -> &Sim {
        &self.sim.handle.sim
    }

    pub fn is_live(&self, secret: &str) -> bool {
        self.state().is_live("github", secret)
    }

    /// Requests with `method` whose path (after `/github`) starts with `path`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.state().count("github", method, path)
    }

    /// Where quench's notifications go in these tests: the simulator's receiver.
    pub fn hook_url(&self) -> String {
        format!("{}/_sim/hook", self.sim.handle.url())
    }

    /// The notifications received, in order.
    pub fn hooks(&self) -> Vec<serde_json::Value> {
        self.state().hooks()
    }

    /// TCP connections the simulator accepted.
    pub fn connections(&self) -> usize {
        self.state().connections()
    }

    /// Answers the next `times` revoke calls with `fault` (a name from the simulator's faults).
    pub fn fail_revokes(&self, fault: &str, times: usize) {
        self.script(Script {
            issuer: "github".into(),
            on: "revoke".into(),
            fault: fault.into(),
            times,
            retry_after: None,
            delay_ms: None,
        });
    }

    pub fn script(&self, s: Script) {
        self.state().script(s).expect("a valid script");
    }

    /// The owner revoked `secret` by hand.
    pub fn rotate(&self, secret: &str) {
        let sim = self.state();
        let i = sim.live("github", secret).expect("a live key");
        sim.revoke(i);
    }
}
