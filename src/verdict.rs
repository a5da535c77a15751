//! What verification concluded about one credential, in the terms identity teams use.
//!
//! A typed value on the finding from the verifier to the report and the store: nothing turns it
//! into JSON and back inside the program (the printers and the store read its fields).
//!
//! Only a response that proves validity is [`Verdict::Live`] and only one that proves invalidity
//! is [`Verdict::Dead`]; a timeout, a 429, a 5xx, a WAF page or anything unexpected is
//! [`Verdict::Indeterminate`] with the reason, so that a flaky issuer never hides a live key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::Identity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Live,
    Dead,
    Indeterminate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Live => "live",
            Verdict::Dead => "dead",
            Verdict::Indeterminate => "indeterminate",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "live" => Some(Verdict::Live),
            "dead" => Some(Verdict::Dead),
            "indeterminate" => Some(Verdict::Indeterminate),
            _ => None,
        }
    }
}

/// What the issuer revealed about a live credential: the blast radius.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revealed {
    /// Who the key acts as: a user login or email, a service account, an app, an ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Organisation, workspace, team or account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The issuer's own id for the key, when it names one (revocation needs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The regional site that answered live, when it was not the issuer's `api` (a Datadog EU
    /// key): `api.datadoghq.eu`. Revocation goes to the same site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Anything else a recipe captured (`captures` in the rule).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// One verification result, serialised into the finding's `verification` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub verdict: Verdict,
    /// Why the verdict is not live (or, for live, nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One line for humans, read beside the verdict: the blast radius when live, else the reason.
    pub summary: String,
    /// user | org | m2m | unknown: whose authority the key carries.
    pub identity_model: Identity,
    #[serde(flatten)]
    pub revealed: Revealed,
    pub issuer: String,
    /// Which verifier ran: `http`, `aws-sigv4`, `jwt`, `github-app`, …
    pub verifier: String,
    /// The issuer's HTTP status, when a response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// RFC 3339.
    pub checked_at: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

impl Verification {
    pub fn new(
        verdict: Verdict,
        reason: Option<String>,
        model: Identity,
        revealed: Revealed,
        issuer: &str,
        verifier: &str,
    ) -> Verification {
        let mut v = Verification {
            verdict,
            reason,
            summary: String::new(),
            identity_model: model,
            revealed,
            issuer: issuer.to_string(),
            verifier: verifier.to_string(),
            http_status: None,
            checked_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            cached: false,
        };
        v.summary = v.summarise();
        v
    }

    pub fn indeterminate(reason: impl Into<String>, model: Identity, issuer: &str, verifier: &str) -> Self {
        Verification::new(
            Verdict::Indeterminate,
            Some(reason.into()),
            model,
            Revealed::default(),
            issuer,
            verifier,
        )
    }

    /// The same verification with every field copied from an issuer's answer cleared of
    /// `secrets` (the credential itself): an issuer that echoes the token back in a
    /// name or description would otherwise put it in plaintext in the report and the store.
    /// Each occurrence becomes the secret's redacted preview; values under 8 bytes are left
    /// alone (a short part like a region would redact ordinary words).
    pub fn without_echoes(mut self, secrets: &[&[u8]]) -> Self {
        let pairs: Vec<(String, String)> = secrets
            .iter()
            .filter(|s| s.len() >= 8)
            .filter_map(|s| {
                std::str::from_utf8(s)
                    .ok()
                    .map(|t| (t.to_string(), crate::secret::redact(s)))
            })
            .collect();
        if pairs.is_empty() {
            return self;
        }
        let clean = |v: &mut String| {
            for (secret, shown) in &pairs {
                if v.contains(secret.as_str()) {
                    *v = v.replace(secret.as_str(), shown);
                }
            }
        };
        let r = &mut self.revealed;
        for v in [
            &mut r.principal,
            &mut r.org,
            &mut r.project,
            &mut r.expires_at,
            &mut r.key_id,
            &mut r.site,
            &mut self.reason,
        ]
        .into_iter()
        .flatten()
        {
            clean(v);
        }
        r.scopes.iter_mut().for_each(clean);
        r.extra.values_mut().for_each(clean);
        self.summary = self.summarise();
        self
    }

    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.http_status = status;
        self
    }

    /// Rebuilds the one-line summary (after the fields changed).
    pub fn summarise(&self) -> String {
        match self.verdict {
            Verdict::Live => blast_radius(self.identity_model, &self.revealed),
            Verdict::Dead => self
                .reason
                .clone()
                .unwrap_or_else(|| "the issuer rejected it".into()),
            Verdict::Indeterminate => self
                .reason
                .clone()
                .unwrap_or_else(|| "no conclusive answer".into()),
        }
    }
}

/// The one-line blast radius of a live credential, phrased by identity model.
pub fn blast_radius(model: Identity, r: &Revealed) -> String {
    let who = r.principal.as_deref().unwrap_or("an unnamed principal");
    let mut s = match model {
        Identity::User => format!("user-scoped: acts as {who}"),
        Identity::Org => match (&r.org, &r.principal) {
            (Some(org), Some(p)) => format!("org-scoped: {org} (key of {p})"),
            (Some(org), None) => format!("org-scoped: {org}"),
            (None, _) => format!("org-scoped: {who}"),
        },
        Identity::M2m => format!("m2m: {who} mints tokens"),
        Identity::Unknown => format!("acts as {who}"),
    };
    if model == Identity::User || model == Identity::M2m || model == Identity::Unknown {
        if let Some(org) = &r.org {
            s.push_str(&format!(" in {org}"));
        }
    }
    if let Some(p) = &r.project {
        s.push_str(&format!(", project {p}"));
    }
    if !r.scopes.is_empty() {
        let shown: Vec<&str> = r.scopes.iter().take(8).map(String::as_str).collect();
        let more = r.scopes.len().saturating_sub(shown.len());
        s.push_str(&format!(", scopes {}", shown.join(" ")));
        if more > 0 {
            s.push_str(&format!(" (+{more})"));
        }
    }
    match &r.expires_at {
        Some(e) => s.push_str(&format!(", expires {e}")),
        None => s.push_str(", no expiry reported"),
    }
    if let Some(site) = &r.site {
        s.push_str(&format!(", site: {site}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_principal_scopes_and_expiry() {
        let r = Revealed {
            principal: Some("octocat".into()),
            org: Some("acme".into()),
            scopes: vec!["repo".into(), "gist".into()],
            ..Default::default()
        };
        let v = Verification::new(Verdict::Live, None, Identity::User, r, "github", "http");
        assert_eq!(
            v.summary,
            "user-scoped: acts as octocat in acme, scopes repo gist, no expiry reported"
        );
    }
}
