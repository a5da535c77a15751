//! The revocation policy: what quench may kill on its own, what it only records, and what it
//! queues for a human. It comes only from the operator's `--config` files (a config inside a
//! scanned tree never reaches here), in a `[revoke]` table:
//!
//! ```toml
//! [revoke]
//! mode = "auto"              # enough on its own: every rule with a recipe is revoked when live
//! require_live = true        # the default: never revoke what was not verified live
//!
//! [revoke.identity.user]     # user-scoped keys: ask first
//! mode = "ask"
//! [revoke.issuers.aws]       # record what would be done
//! mode = "dry-run"
//! cut_sessions = true        # and, when acting, cut off the sessions the key minted
//! [revoke.rules."github.pat-classic"]
//! mode = "off"
//!
//! [revoke.admin.openai]      # where an admin credential comes from: never written inline
//! env = "OPENAI_ADMIN_KEY"
//! ```
//!
//! The most specific entry wins: rule, then issuer, then identity class, then the table itself.
//! Every decision names the entry that made it, and that name goes into the audit log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use crate::config::Config;

/// What to do with a live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Nothing.
    Off,
    /// Record what would be revoked and how; send nothing.
    DryRun,
    /// Revoke now.
    Auto,
    /// Queue for `quench revoke --approve`.
    Ask,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::DryRun => "dry-run",
            Mode::Auto => "auto",
            Mode::Ask => "ask",
        }
    }
}

/// Whether the operator asked for revocation. A policy in the config is not, on its own, a
/// request to revoke from `quench scan` or `quench git`: a user who adds `--verify` to see
/// which keys are live must not find them killed. So those commands preview (every `auto` or
/// `ask` reads as `dry-run`, saying what would be revoked) unless `--revoke` is given; `serve`
/// and `sweep` run from a configuration that exists to act, so their policy applies as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Request {
    /// No `--revoke`: say what the policy would do, do nothing.
    #[default]
    Preview,
    /// `--revoke`: apply the policy, as if it said `mode = "auto"` where it says nothing.
    Asked,
    /// A service or sweep: apply the policy as configured.
    Configured,
}

/// Settings that any level of the policy may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub mode: Option<Mode>,
    pub require_live: Option<bool>,
    /// Also cut off what the key already minted before revoking it, where its recipe can
    /// (`[rule.revoke.sessions]`: AWS sessions from `GetSessionToken`). Off unless enabled:
    /// the AWS cut denies every session of the key's IAM user issued before now, not only
    /// the leaked key's.
    pub cut_sessions: Option<bool>,
}

/// Where an admin credential is read from. Exactly one of `env` or `file`; extra non-secret
/// parameters an issuer's admin API needs (an account, project or org id) go in `params`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSource {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// The `[revoke]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeSection {
    mode: Option<Mode>,
    require_live: Option<bool>,
    /// Retries of a failed call before escalating.
    max_attempts: Option<u32>,
    /// First retry delay; doubles each time up to `backoff_max_secs`.
    backoff_secs: Option<f64>,
    backoff_max_secs: Option<f64>,
    /// How long a one-shot command waits for due retries before leaving them queued.
    wait_secs: Option<f64>,
    /// `quench recheck` escalates keys still live this many hours after detection.
    escalate_live_after_hours: Option<f64>,
    /// Per-request timeout for revoke and re-verify calls.
    timeout_secs: Option<f64>,
    /// Jobs in flight at once (each issuer's own `concurrency` and `rate` still bound its calls).
    concurrency: Option<usize>,
    #[serde(default)]
    rules: BTreeMap<String, Override>,
    #[serde(default)]
    issuers: BTreeMap<String, Override>,
    #[serde(default)]
    identity: BTreeMap<String, Override>,
    #[serde(default)]
    admin: BTreeMap<String, toml::Value>,
}

/// The resolved policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mode: Mode,
    pub require_live: bool,
    pub max_attempts: u32,
    pub backoff: std::time::Duration,
    pub backoff_max: std::time::Duration,
    pub wait: std::time::Duration,
    pub escalate_live_after: chrono::Duration,
    pub timeout: std::time::Duration,
    /// Jobs acting at once (claimed, revoke call not yet answered). High by default (1,024):
    /// the issuer registry's per-issuer limits are what protects issuers, and a GitHub batch
    /// (up to 1,000 keys) can only fill from jobs that are waiting for it.
    pub concurrency: usize,
    rules: BTreeMap<String, Override>,
    issuers: BTreeMap<String, Override>,
    identity: BTreeMap<String, Override>,
    admin: BTreeMap<String, AdminSource>,
    base_dir: PathBuf,
    /// Every `auto` or `ask` decision reads as `dry-run` (see [`Request::Preview`]).
    preview: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_section(RevokeSection::default(), PathBuf::new()).expect("the empty policy is valid")
    }
}

/// The policy's answer for one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub mode: Mode,
    pub require_live: bool,
    /// Whether to send the recipe's `sessions` call before revoking (see [`Override`]).
    pub cut_sessions: bool,
    /// The entry that decided the mode, e.g. `revoke.rules."github.pat-classic"`.
    pub source: String,
}

/// Fields that would hold a credential inline; refused with a pointer to `env`/`file`.
const INLINE_SECRET_FIELDS: &[&str] = &["key", "token", "secret", "value", "password", "api_key"];

impl Policy {
    pub fn from_config(config: &Config) -> Result<Policy> {
        let section: RevokeSection = config.section("revoke")?;
        let base = config.base_dir().map(PathBuf::from).unwrap_or_default();
        Policy::from_section(section, base)
    }

    fn from_section(s: RevokeSection, base_dir: PathBuf) -> Result<Policy> {
        let mut admin = BTreeMap::new();
        for (issuer, v) in s.admin {
            if let Some(t) = v.as_table() {
                if let Some(bad) = INLINE_SECRET_FIELDS.iter().find(|f| t.contains_key(**f)) {
                    bail!(
                        "[revoke.admin.{issuer}] has `{bad}`: admin credentials are never written in \
                         the config; name an environment variable (env = \"VAR\") or a file (file = \"PATH\")"
                    );
                }
            }
            let src: AdminSource = v.try_into().with_context(|| format!("[revoke.admin.{issuer}]"))?;
            if src.env.is_some() == src.file.is_some() {
                bail!("[revoke.admin.{issuer}] needs exactly one of `env` or `file`");
            }
            admin.insert(issuer, src);
        }
        for k in s.identity.keys() {
            if !["user", "org", "m2m", "unknown"].contains(&k.as_str()) {
                bail!("[revoke.identity.{k}]: unknown identity class (expected user, org, m2m or unknown)");
            }
        }
        let secs =
            |v: Option<f64>, d: f64, name: &str| crate::config::secs(v, d, &format!("[revoke] {name}"));
        Ok(Policy {
            mode: s.mode.unwrap_or(Mode::Off),
            require_live: s.require_live.unwrap_or(true),
            max_attempts: s.max_attempts.unwrap_or(5).max(1),
            backoff: secs(s.backoff_secs, 1.0, "backoff_secs")?,
            backoff_max: secs(s.backoff_max_secs, 300.0, "backoff_max_secs")?,
            wait: secs(s.wait_secs, 30.0, "wait_secs")?,
            escalate_live_after: chrono::Duration::from_std(secs(
                s.escalate_live_after_hours.map(|h| h * 3600.0),
                72.0 * 3600.0,
                "escalate_live_after_hours",
            )?)
            .unwrap_or(chrono::Duration::MAX),
            timeout: secs(s.timeout_secs, 10.0, "timeout_secs")?,
            concurrency: s.concurrency.unwrap_or(1024).max(1),
            rules: s.rules,
            issuers: s.issuers,
            identity: s.identity,
            admin,
            base_dir,
            preview: false,
        })
    }

    /// The policy as the operator's request makes it: `--revoke` turns `auto` on where the
    /// config leaves it off; no request turns it into a preview.
    pub fn for_request(mut self, request: Request) -> Policy {
        match request {
            Request::Asked if self.mode == Mode::Off => self.mode = Mode::Auto,
            Request::Preview => self.preview = true,
            Request::Asked | Request::Configured => {}
        }
        self
    }

    /// Whether this policy only says what it would do (no `--revoke`).
    pub fn is_preview(&self) -> bool {
        self.preview
    }

    /// The mode for a finding of `rule_id` from `issuer` with identity class `identity`.
    pub fn decide(&self, rule_id: &str, issuer: &str, identity: &str) -> Decision {
        let levels = [
            (self.rules.get(rule_id), format!("revoke.rules.\"{rule_id}\"")),
            (self.issuers.get(issuer), format!("revoke.issuers.{issuer}")),
            (self.identity.get(identity), format!("revoke.identity.{identity}")),
        ];
        let mut mode = (self.mode, "revoke.mode".to_string());
        let mut require_live = self.require_live;
        let mut cut_sessions = false;
        // Walk from the least specific to the most, so the most specific setting wins.
        for (o, name) in levels.iter().rev() {
            if let Some(o) = o {
                if let Some(m) = o.mode {
                    mode = (m, name.clone());
                }
                if let Some(r) = o.require_live {
                    require_live = r;
                }
                if let Some(c) = o.cut_sessions {
                    cut_sessions = c;
                }
            }
        }
        if self.preview && matches!(mode.0, Mode::Auto | Mode::Ask) {
            mode = (Mode::DryRun, format!("{} (no --revoke: dry-run)", mode.1));
        }
        Decision {
            mode: mode.0,
            require_live,
            cut_sessions,
            source: mode.1,
        }
    }

    /// Whether any level could enable revocation (so a scan knows whether to open the store
    /// and queue jobs at all).
    pub fn any_enabled(&self) -> bool {
        self.mode != Mode::Off
            || [&self.rules, &self.issuers, &self.identity]
                .iter()
                .any(|m| m.values().any(|o| o.mode.is_some_and(|m| m != Mode::Off)))
    }

    /// The admin credential for `issuer`, read now from where the policy says. `Ok(None)`
    /// when the policy names no source; an error (naming the variable or file, never a value)
    /// when it names one that is missing.
    pub fn admin_credential(&self, issuer: &str) -> Result<Option<AdminCredential>> {
        let Some(src) = self.admin.get(issuer) else {
            return Ok(None);
        };
        let secret = match (&src.env, &src.file) {
            (Some(var), _) => std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .with_context(|| {
                    format!("admin credential for {issuer}: environment variable {var} is not set")
                })?,
            (None, Some(file)) => {
                let path = self.base_dir.join(file);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("admin credential for {issuer}: reading {}", path.display()))?
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(AdminCredential {
            secret: secret.trim().to_string(),
            params: src.params.clone(),
        }))
    }

    /// Where the policy says the admin credential for `issuer` comes from, for messages.
    pub fn admin_source(&self, issuer: &str) -> Option<String> {
        self.admin.get(issuer).map(|s| match (&s.env, &s.file) {
            (Some(v), _) => format!("environment variable {v}"),
            (None, Some(f)) => format!("file {}", f.display()),
            _ => "nothing".into(),
        })
    }

    /// Delay before retry number `n` (1-based): exponential, capped.
    pub fn backoff_for(&self, n: u32) -> std::time::Duration {
        let factor = 2f64.powi(n.saturating_sub(1).min(30) as i32);
        self.backoff.mul_f64(factor).min(self.backoff_max)
    }
}

/// An admin credential in memory. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct AdminCredential {
    pub secret: String,
    pub params: BTreeMap<String, String>,
}

impl std::fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredential")
            .field("secret", &"<redacted>")
            .field("params", &self.params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml_text: &str) -> Result<Policy> {
        let table: toml::Table = toml::from_str(toml_text).unwrap();
        let cfg = Config { table, files: vec![] };
        Policy::from_config(&cfg)
    }

    #[test]
    fn absent_policy_revokes_nothing() {
        let p = policy("").unwrap();
        assert_eq!(p.decide("github.pat-classic", "github", "user").mode, Mode::Off);
        assert!(p.require_live);
        assert!(!p.any_enabled());
    }

    #[test]
    fn mode_auto_alone_enables_everything() {
        let p = policy("[revoke]\nmode = \"auto\"\n").unwrap();
        let d = p.decide("slack.bot-token", "slack", "org");
        assert_eq!(d.mode, Mode::Auto);
        assert_eq!(d.source, "revoke.mode");
        assert!(d.require_live);
    }

    #[test]
    fn most_specific_entry_wins() {
        let p = policy(
            r#"
            [revoke]
            mode = "auto"
            [revoke.identity.user]
            mode = "ask"
            [revoke.issuers.github]
            mode = "dry-run"
            require_live = false
            [revoke.rules."github.pat-classic"]
            mode = "off"
            "#,
        )
        .unwrap();
        assert_eq!(p.decide("gitlab.pat", "gitlab", "user").mode, Mode::Ask);
        let d = p.decide("github.oauth", "github", "user");
        assert_eq!((d.mode, d.require_live), (Mode::DryRun, false));
        assert_eq!(d.source, "revoke.issuers.github");
        let d = p.decide("github.pat-classic", "github", "user");
        assert_eq!(d.mode, Mode::Off);
        assert_eq!(d.source, "revoke.rules.\"github.pat-classic\"");
        assert_eq!(p.decide("openai.project-key", "openai", "org").mode, Mode::Auto);
    }

    #[test]
    fn cutting_sessions_is_off_unless_enabled_and_the_most_specific_entry_wins() {
        let p = policy("[revoke]\nmode = \"auto\"\n").unwrap();
        assert!(!p.decide("aws.access-key", "aws", "user").cut_sessions);
        let p = policy(
            "[revoke]\nmode = \"auto\"\n[revoke.issuers.aws]\ncut_sessions = true\n\
             [revoke.rules.\"aws.bedrock-key\"]\ncut_sessions = false\n",
        )
        .unwrap();
        assert!(p.decide("aws.access-key", "aws", "user").cut_sessions);
        assert!(!p.decide("aws.bedrock-key", "aws", "user").cut_sessions);
        assert!(!p.decide("github.pat-classic", "github", "user").cut_sessions);
    }

    #[test]
    fn inline_admin_credentials_are_refused() {
        let e = policy("[revoke.admin.openai]\nkey = \"sk-admin-x\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("never written in the config"), "{e}");
        assert!(!e.contains("sk-admin-x"));
        let e = policy("[revoke.admin.openai]\n").err().unwrap().to_string();
        assert!(e.contains("exactly one"), "{e}");
    }

    #[test]
    fn missing_admin_env_is_a_named_error() {
        let p = policy("[revoke.admin.openai]\nenv = \"QUENCH_TEST_SURELY_UNSET_VAR\"\n").unwrap();
        let e = p.admin_credential("openai").err().unwrap().to_string();
        assert!(e.contains("QUENCH_TEST_SURELY_UNSET_VAR"), "{e}");
        assert!(p.admin_credential("anthropic").unwrap().is_none());
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(policy("[revoke]\nmode = \"sometimes\"\n").is_err());
        assert!(policy("[revoke.identity.robot]\nmode = \"auto\"\n").is_err());
        assert!(policy("[revoke]\nbackoff_secs = -1\n").is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy("[revoke]\nbackoff_secs = 1\nbackoff_max_secs = 5\n").unwrap();
        let s: Vec<u64> = (1..=5).map(|n| p.backoff_for(n).as_secs()).collect();
        assert_eq!(s, vec![1, 2, 4, 5, 5]);
    }
}
