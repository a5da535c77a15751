//! Outbound notifications: a webhook per destination, in Slack's message shape or as a generic
//! JSON body, on detection, revocation, failure and escalation.
//!
//! ```toml
//! [[notify.webhook]]
//! url = "https://hooks.slack.com/services/…"
//! format = "slack"                  # or "json"
//! events = ["revoked", "escalated"] # default: all
//! owners = ["@secops"]              # only findings these CODEOWNERS own (default: all)
//! ```
//!
//! A message carries the fingerprint and the redacted preview, never the secret. Delivery is
//! retried with backoff; a delivery that still fails is reported to the caller (who audits it),
//! never a reason to stop revoking.

use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::StoredFinding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Detected,
    Revoked,
    Failed,
    Escalated,
    DryRun,
    AwaitingApproval,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Detected => "detected",
            Event::Revoked => "revoked",
            Event::Failed => "failed",
            Event::Escalated => "escalated",
            Event::DryRun => "dry-run",
            Event::AwaitingApproval => "awaiting-approval",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Slack,
    #[default]
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub owners: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifySection {
    #[serde(default)]
    webhook: Vec<Webhook>,
    retries: Option<u32>,
    timeout_secs: Option<f64>,
}

/// The generic JSON body.
#[derive(Debug, Clone, Serialize)]
pub struct Message<'a> {
    pub event: Event,
    pub fingerprint: &'a str,
    pub rule_id: &'a str,
    pub issuer: &'a str,
    pub secret_redacted: &'a str,
    pub location: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub owners: &'a [String],
    pub detail: &'a str,
}

impl Message<'_> {
    /// Slack's incoming-webhook shape: one `text` line.
    fn slack(&self) -> serde_json::Value {
        let who = self
            .principal
            .map(|p| format!(", acts as {p}"))
            .unwrap_or_default();
        let owners = if self.owners.is_empty() {
            String::new()
        } else {
            format!(", owners {}", self.owners.join(" "))
        };
        serde_json::json!({
            "text": format!(
                ":rotating_light: quench {}: {} `{}` at {}{}{} — {}",
                self.event.as_str(),
                self.rule_id,
                self.secret_redacted,
                self.location,
                who,
                owners,
                self.detail
            )
        })
    }
}

pub struct Notifier {
    hooks: Vec<Webhook>,
    retries: u32,
    /// Bounds each delivery attempt.
    timeout: Duration,
}

impl Notifier {
    pub fn from_config(config: &Config) -> Result<Notifier> {
        let s: NotifySection = config.section("notify")?;
        for h in &s.webhook {
            let url = url::Url::parse(&h.url).map_err(|e| anyhow::anyhow!("[[notify.webhook]] url: {e}"))?;
            if crate::issuer::guard::check_scheme(&url).is_err() {
                bail!("[[notify.webhook]] url must be https (plain http only to loopback)");
            }
        }
        if !s.webhook.is_empty() {
            // Fail here, not at the first delivery, when HTTPS cannot be set up.
            crate::issuer::client::issuers()?;
        }
        Ok(Notifier {
            hooks: s.webhook,
            retries: s.retries.unwrap_or(3),
            timeout: crate::config::secs(s.timeout_secs, 5.0, "[notify] timeout_secs")?
                .max(Duration::from_millis(100)),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Delivers `event` about `f` to every webhook that wants it. Returns one line per failed
    /// delivery (naming the host, not the URL, whose path is often itself a secret).
    pub async fn send(&self, event: Event, f: &StoredFinding, detail: &str) -> Vec<String> {
        if self.hooks.is_empty() {
            return vec![];
        }
        let msg = Message {
            event,
            fingerprint: &f.fingerprint,
            rule_id: &f.rule_id,
            issuer: &f.issuer,
            secret_redacted: &f.secret_redacted,
            location: &f.first_location,
            principal: f.principal.as_deref(),
            author: f.author.as_deref(),
            owners: &f.owners,
            detail,
        };
        let mut failures = Vec::new();
        for h in &self.hooks {
            if !h.events.is_empty() && !h.events.contains(&event) {
                continue;
            }
            if !h.owners.is_empty() && !h.owners.iter().any(|o| f.owners.contains(o)) {
                continue;
            }
            let body = match h.format {
                Format::Slack => msg.slack(),
                Format::Json => serde_json::to_value(&msg).unwrap_or_default(),
            };
            if let Err(e) = self.deliver(&h.url, &body).await {
                failures.push(e);
            }
        }
        failures
    }

    async fn deliver(&self, url: &str, body: &serde_json::Value) -> Result<(), String> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_default();
        let client = crate::issuer::client::issuers().map_err(|e| format!("webhook {host}: {e}"))?;
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << (attempt - 1).min(6))).await;
            }
            // Only the status matters; a short answer is read whole so the connection is reused.
            match crate::issuer::client::fetch(client.post(url).json(body), self.timeout, 64 << 10).await {
                Ok(r) if r.status.is_success() => return Ok(()),
                Ok(r) if r.status.as_u16() == 429 || r.status.is_server_error() => {
                    last = format!("status {}", r.status.as_u16());
                }
                Ok(r) => {
                    return Err(format!(
                        "webhook {host} refused the message ({})",
                        r.status.as_u16()
                    ))
                }
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "could not connect".into()
                    }
                }
            }
        }
        Err(format!(
            "webhook {host} failed after {} tries ({last})",
            self.retries + 1
        ))
    }
}
