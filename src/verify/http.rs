//! Running one HTTP exchange of a recipe: render, check the destination, send without following
//! redirects, read a bounded body, and judge the answer.
//!
//! The request is rendered by [`Call::prepare`](crate::issuer::Call::prepare), shared with
//! revocation.

use std::time::Duration;

use url::Url;

use super::verdict::{Revealed, Verdict};
use crate::issuer::guard::{self, Target};
use crate::issuer::registry::IssuerEntry;
use crate::issuer::verify_recipe::{extract, extract_list, extract_one, Exchange, Recipe};
use crate::issuer::{client, Prepared};
use crate::rules::Identity;

/// Largest body read from an issuer; verification answers are small.
const MAX_BODY: usize = 1 << 20;

/// Why no answer arrived.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The egress guard refused the destination, or the recipe cannot be rendered.
    Refused(String),
    Timeout,
    Network(String),
}

/// The reason a timeout gives, and how a network error's begins: [`transient`] reads them back.
const TIMED_OUT: &str = "timed out waiting for the issuer";
const NETWORK: &str = "network error: ";

impl Failure {
    pub fn reason(&self) -> String {
        match self {
            Failure::Refused(r) => r.clone(),
            Failure::Timeout => TIMED_OUT.into(),
            Failure::Network(e) => format!("{NETWORK}{e}"),
        }
    }
}

/// Whether an indeterminate verdict with this HTTP status and reason came from a fault that
/// passes — the issuer's 5xx or 429, a timeout, a connection that failed — so that asking again
/// later may give a verdict. A refused destination, a redirect, an HTML page or an answer the
/// recipe cannot read are not: asking again gets the same.
pub fn transient(http_status: Option<u16>, reason: Option<&str>) -> bool {
    match http_status {
        Some(s) => s == 429 || s >= 500,
        None => reason.is_some_and(|r| r == TIMED_OUT || r.starts_with(NETWORK)),
    }
}

/// Verification's user agent: says who calls and why.
const USER_AGENT: &str = concat!(
    "quench/",
    env!("CARGO_PKG_VERSION"),
    " (leaked-credential verification)"
);

/// Sends a prepared request to `issuer` after the egress check.
pub async fn send(timeout: Duration, issuer: &IssuerEntry, req: Prepared) -> Result<Exchange, Failure> {
    let target = guard::check(&req.url, issuer).await.map_err(Failure::Refused)?;
    send_to(timeout, target, req).await
}

/// Sends to an already checked target: a configured base on the shared client (no redirects),
/// a host from scanned data on a client pinned to the addresses the guard checked.
pub async fn send_to(timeout: Duration, target: Target, req: Prepared) -> Result<Exchange, Failure> {
    let pinned;
    let c = match &target {
        Target::Configured => client::issuers(),
        Target::Pinned { host, addrs } => {
            pinned = client::pinned(host, addrs);
            pinned.as_ref().map_err(Clone::clone)
        }
    }
    .map_err(|e| Failure::Network(e.to_string()))?;
    let resp = client::fetch(req.request(c, USER_AGENT), timeout, MAX_BODY)
        .await
        .map_err(net_failure)?;
    if let Some(e) = resp.body_error {
        return Err(net_failure(e));
    }
    Ok(Exchange::from_response(resp))
}

/// A reqwest error without its URL (which may hold the secret).
fn net_failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        let e = e.without_url();
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        Failure::Network(msg)
    }
}

/// The verdict an answer proves under a recipe's matchers.
pub fn judge(recipe: &Recipe, ex: &Exchange) -> (Verdict, Option<String>) {
    if (300..400).contains(&ex.status) {
        let to = ex
            .header("location")
            .and_then(|l| Url::parse(l).ok())
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_else(|| "another location".into());
        return (
            Verdict::Indeterminate,
            Some(format!(
                "redirect (HTTP {}) to {to} not followed with the secret",
                ex.status
            )),
        );
    }
    if !recipe.text && ex.is_html() {
        return (
            Verdict::Indeterminate,
            Some(format!(
                "HTML page where JSON was expected (HTTP {}; a WAF, captcha or error page)",
                ex.status
            )),
        );
    }
    if recipe.live_matchers().any(ex) {
        return (Verdict::Live, None);
    }
    if recipe.indeterminate.as_ref().is_some_and(|m| m.any(ex)) {
        return (
            Verdict::Indeterminate,
            Some(format!(
                "the issuer's answer does not tell live from dead ({})",
                issuer_code(ex).unwrap_or_else(|| format!("HTTP {}", ex.status))
            )),
        );
    }
    if recipe.dead_matchers().any(ex) {
        return (Verdict::Dead, Some(dead_reason(ex)));
    }
    let reason = match ex.status {
        429 => "rate limited by the issuer (HTTP 429)".to_string(),
        s if s >= 500 => format!("issuer error (HTTP {s})"),
        s => format!("unexpected answer (HTTP {s})"),
    };
    (Verdict::Indeterminate, Some(reason))
}

/// The issuer's own error code in an answer, when it is short and plain. Issuers' codes are
/// safe to show (they never echo a full key in these fields).
fn issuer_code(ex: &Exchange) -> Option<String> {
    let code = ex.json.as_ref().and_then(|j| {
        ["error.code", "error.type", "error", "code", "errors.0"]
            .iter()
            .find_map(|p| {
                crate::issuer::verify_recipe::json_path(j, p)
                    .first()
                    .and_then(|v| v.as_str().map(String::from))
            })
    })?;
    (code.len() <= 60
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_- .".contains(c)))
    .then_some(code)
}

fn dead_reason(ex: &Exchange) -> String {
    match issuer_code(ex) {
        Some(c) => format!("the issuer rejected it (HTTP {}, {c})", ex.status),
        None => format!("the issuer rejected it (HTTP {})", ex.status),
    }
}

/// Identity fields a recipe names in an answer, and the identity model if the answer says.
pub fn reveal(recipe: &Recipe, ex: &Exchange, default_model: Identity) -> (Identity, Revealed) {
    let id = &recipe.identity;
    let mut r = Revealed {
        principal: extract_one(id.principal.as_ref(), ex),
        org: extract_one(id.org.as_ref(), ex),
        project: extract_one(id.project.as_ref(), ex),
        scopes: extract_list(id.scopes.as_ref(), ex),
        expires_at: extract_one(id.expires.as_ref(), ex).map(normalise_time),
        key_id: extract_one(id.key_id.as_ref(), ex),
        site: None,
        extra: Default::default(),
    };
    for (k, spec) in &recipe.captures {
        if let Some(v) = extract(spec, ex).into_iter().next() {
            r.extra.insert(k.clone(), v);
        }
    }
    let model = extract_one(id.model.as_ref(), ex)
        .and_then(|m| model_from(&m))
        .unwrap_or(default_model);
    (model, r)
}

/// Maps an issuer's account type to an identity model.
pub fn model_from(s: &str) -> Option<Identity> {
    match s.to_ascii_lowercase().as_str() {
        "user" | "human" | "personal" => Some(Identity::User),
        "org" | "organization" | "organisation" | "team" | "workspace" | "bot" | "project" => {
            Some(Identity::Org)
        }
        "m2m" | "service_account" | "service-account" | "serviceaccount" | "app" | "application" => {
            Some(Identity::M2m)
        }
        _ => None,
    }
}

/// Epoch seconds become RFC 3339; anything else is kept as the issuer wrote it.
pub fn normalise_time(s: String) -> String {
    match s.parse::<i64>() {
        Ok(n) if n > 1_000_000_000 => chrono::DateTime::from_timestamp(n, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or(s),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The faults that pass are told from the answers that would be the same tomorrow, by the
    /// reasons this module itself writes.
    #[test]
    fn transient_faults_are_told_from_lasting_ones() {
        let ex = |status: u16| Exchange {
            status,
            ..Default::default()
        };
        let recipe = Recipe::default();
        for status in [429, 500, 502, 503, 504] {
            let (v, reason) = judge(&recipe, &ex(status));
            assert_eq!(v, Verdict::Indeterminate);
            assert!(transient(Some(status), reason.as_deref()), "{status}");
        }
        for status in [302, 400, 404] {
            let (_, reason) = judge(&recipe, &ex(status));
            assert!(!transient(Some(status), reason.as_deref()), "{status}");
        }
        for f in [Failure::Timeout, Failure::Network("connection refused".into())] {
            assert!(transient(None, Some(&f.reason())), "{f:?}");
        }
        let refused = Failure::Refused("the destination is not public".into());
        assert!(!transient(None, Some(&refused.reason())));
        assert!(!transient(None, None));
    }
}
