//! `[serve]`: the webhook service's section of the operator's config.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

/// Environment variable holding the GitHub webhook secret.
pub const GITHUB_SECRET_ENV: &str = "QUENCH_GITHUB_WEBHOOK_SECRET";
/// Environment variable holding the GitLab webhook token.
pub const GITLAB_TOKEN_ENV: &str = "QUENCH_GITLAB_WEBHOOK_TOKEN";

/// Default request body limit: GitHub caps push payloads at 25 MB; a real push event is rarely
/// above a few hundred kilobytes.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Default worker pool. A push's pipeline mostly waits (on the issuer's verify, revoke and
/// confirm calls, and the revoke batch window), so a pool larger than a small machine's cores
/// keeps a burst of pushes from queueing: on 2 busy cores, `benches/push_to_revoke.rs` measured
/// a 50-push burst's push-to-revoked p99 at 5-7 s with 2 workers and 1.4-1.5 s with 4.
pub const DEFAULT_WORKERS: usize = 4;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// Address to listen on (`--listen` wins).
    pub listen: Option<String>,
    /// Where the queue database and mirror cache live (`--data-dir` wins).
    pub data_dir: Option<PathBuf>,
    /// URL or path globs of remotes that may be fetched.
    #[serde(default)]
    pub allow_remotes: Vec<String>,
    /// A file holding the GitHub webhook secret (the environment variable wins).
    pub github_secret_file: Option<PathBuf>,
    /// A file holding the GitLab webhook token (the environment variable wins).
    pub gitlab_token_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Worker tasks processing the queue; 0 only receives and queues (an ingest-only instance).
    pub workers: Option<usize>,
    /// Cron expression (five fields, UTC) for sweeps over the `[sweep]` section.
    pub schedule: Option<String>,
    /// Seconds to let in-flight jobs finish at shutdown before they are handed back to the queue.
    pub shutdown_grace_secs: Option<u64>,
    /// On a shared store: seconds a claimed delivery stays with its process unless renewed
    /// (default 30); a process that dies loses its deliveries to the others after this.
    pub lease_secs: Option<f64>,
    /// Attempts a job gets before it is parked (default 8).
    pub retry_attempts: Option<i64>,
    /// Wait after a job's first failed attempt, doubling after each further one (default 30).
    pub retry_base_secs: Option<f64>,
    /// Longest wait between two attempts (default 900).
    pub retry_max_secs: Option<f64>,
    /// Seconds a connection may take to send its requests (headers and body) before it is
    /// closed (default 30): a client that trickles bytes holds a connection no longer.
    pub request_timeout_secs: Option<f64>,
    /// Connections served at once (default 256); more wait to be accepted.
    pub max_connections: Option<usize>,
    /// Request bodies read at once before their signature is checked (default 16): what
    /// unauthenticated clients can make the service buffer is this times `max_body_bytes`.
    pub max_unauthenticated: Option<usize>,
}

impl ServeSection {
    /// The retry policy these settings give.
    pub fn retry(&self) -> Result<super::queue::Retry> {
        let d = super::queue::Retry::default();
        let attempts = self.retry_attempts.unwrap_or(d.attempts);
        if !(1..=1000).contains(&attempts) {
            anyhow::bail!("[serve] retry_attempts = {attempts}: expected 1 to 1000");
        }
        Ok(super::queue::Retry {
            attempts,
            base: crate::config::secs(
                self.retry_base_secs,
                d.base.as_secs_f64(),
                "[serve] retry_base_secs",
            )?,
            max: crate::config::secs(self.retry_max_secs, d.max.as_secs_f64(), "[serve] retry_max_secs")?,
        })
    }
}

/// Reads a secret from `env` or else from `file` (relative to the config's directory); trailing
/// newlines are dropped. `None` when neither is set: that endpoint then refuses every delivery.
pub fn load_secret(env: &str, file: Option<&Path>, base: Option<&Path>) -> Result<Option<Vec<u8>>> {
    if let Some(v) = std::env::var_os(env) {
        let v = v
            .to_string_lossy()
            .trim_end_matches(['\r', '\n'])
            .as_bytes()
            .to_vec();
        if !v.is_empty() {
            return Ok(Some(v));
        }
    }
    let Some(file) = file else { return Ok(None) };
    let path = match base {
        Some(b) if file.is_relative() => b.join(file),
        _ => file.to_path_buf(),
    };
    let mut v = std::fs::read(&path).with_context(|| format!("reading secret file {}", path.display()))?;
    while matches!(v.last(), Some(b'\n' | b'\r')) {
        v.pop();
    }
    if v.is_empty() {
        anyhow::bail!("secret file {} is empty", path.display());
    }
    Ok(Some(v))
}
