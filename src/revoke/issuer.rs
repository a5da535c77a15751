//! Talking to issuers on the revocation path: a fresh verification (before acting, to keep
//! retries idempotent, and after, to confirm death) and the revoke call itself.
//!
//! The runner sees only the [`Issuers`] trait, so the HTTP layer can be swapped (the verify
//! engine's recipe runner, a test double) without touching the job logic. [`HttpIssuers`] reads
//! the issuer bases the same way verification does: `[issuers.NAME] BASE = "https://…"` in the
//! operator's config, overridden by `QUENCH_ISSUER_NAME_BASE`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;

use super::policy::AdminCredential;
use super::recipe::{self, Authority, Call, RevokeRecipe, Vars};
use crate::config::Config;
use crate::rules::Rule;
use crate::store::{Verdict, VerdictKind};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Environment prefix for base overrides, shared with verification.
pub const ENV_PREFIX: &str = "QUENCH_ISSUER_";

/// The key a job acts on, in memory only.
pub struct Target<'a> {
    pub fingerprint: &'a str,
    pub rule: &'a Rule,
    pub secret: &'a [u8],
    pub parts: &'a [(String, Vec<u8>)],
    /// What the last live verdict revealed (key id, project, org) for admin paths.
    pub known: Option<&'a Verdict>,
    pub admin: Option<&'a AdminCredential>,
}

/// What a revoke call achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// The issuer accepted the revocation.
    Accepted { status: u16 },
    /// The issuer says the key was already gone.
    Gone { status: u16 },
    /// Worth retrying: timeout, 429, 5xx.
    Retry {
        status: Option<u16>,
        reason: String,
        after: Option<Duration>,
    },
    /// Retrying will not help (403, a recipe that cannot be built): a human must look.
    Failed { status: Option<u16>, reason: String },
}

pub trait Issuers: Send + Sync {
    /// A fresh verdict, bypassing any cache; `None` when the rule has no usable verify recipe.
    fn verify<'a>(&'a self, t: &'a Target<'a>) -> BoxFuture<'a, Option<Verdict>>;
    fn revoke<'a>(&'a self, t: &'a Target<'a>, recipe: &'a RevokeRecipe) -> BoxFuture<'a, CallResult>;
}

/// Declarative HTTP recipes over reqwest.
pub struct HttpIssuers {
    client: reqwest::Client,
    bases: BTreeMap<String, BTreeMap<String, String>>,
}

impl HttpIssuers {
    pub fn new(config: &Config, timeout: Duration) -> Result<HttpIssuers> {
        let mut bases: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        if let Some(toml::Value::Table(issuers)) = config.table.get("issuers") {
            for (name, v) in issuers {
                if let toml::Value::Table(t) = v {
                    for (k, url) in t {
                        if let toml::Value::String(u) = url {
                            bases
                                .entry(name.clone())
                                .or_default()
                                .insert(k.clone(), u.clone());
                        }
                    }
                }
            }
        }
        for (k, v) in std::env::vars() {
            if let Some(rest) = k.strip_prefix(ENV_PREFIX) {
                if let Some((issuer, base)) = rest.split_once('_') {
                    bases
                        .entry(issuer.to_ascii_lowercase().replace('_', "-"))
                        .or_default()
                        .insert(base.to_ascii_lowercase(), v);
                }
            }
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("quench/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpIssuers { client, bases })
    }

    fn vars(&self, t: &Target) -> Vars {
        let mut v = Vars::default();
        v.set("secret", String::from_utf8_lossy(t.secret));
        v.set("redacted", crate::finding::redact(t.secret));
        for (n, p) in t.parts {
            v.set(format!("part.{n}"), String::from_utf8_lossy(p));
        }
        if let Some(b) = self.bases.get(&t.rule.spec.issuer) {
            for (k, u) in b {
                v.set(k.clone(), u.trim_end_matches('/'));
            }
        }
        if let Some(k) = t.known {
            for (name, val) in [
                ("principal", &k.principal),
                ("org", &k.org),
                ("project", &k.project),
                ("key_id", &k.key_id),
            ] {
                if let Some(val) = val {
                    v.set(name, val.clone());
                }
            }
        }
        if let Some(a) = t.admin {
            v.set("admin", a.secret.clone());
            for (k, p) in &a.params {
                v.set(format!("param.{k}"), p.clone());
            }
        }
        v
    }

    async fn do_verify(&self, t: &Target<'_>) -> Option<Verdict> {
        let table = t.rule.spec.verify.as_ref()?;
        if table
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| k != "http")
        {
            return None;
        }
        let call = call_from(table)?;
        let call = Call {
            method: call.method.or(Some("GET".into())),
            ..call
        };
        let statuses = |name: &str, d: &[u16]| -> Vec<u16> {
            table
                .get(name)
                .and_then(|m| m.get("status"))
                .and_then(|s| s.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_integer())
                        .map(|x| x as u16)
                        .collect()
                })
                .unwrap_or_else(|| d.to_vec())
        };
        let vars = self.vars(t);
        let mut v = match recipe::send(&self.client, &call, &vars).await {
            Err(e) => {
                let mut v = Verdict::new(VerdictKind::Indeterminate);
                v.reason = Some(e.to_string());
                return Some(v);
            }
            Ok(a) if statuses("live", &[200]).contains(&a.status) => {
                let mut v = Verdict::new(VerdictKind::Live);
                v.http_status = Some(a.status);
                if let (Some(json), Some(id)) = (&a.json, table.get("identity").and_then(|i| i.as_table())) {
                    let pick = |k: &str| {
                        id.get(k)
                            .and_then(|p| p.as_str())
                            .and_then(|p| p.strip_prefix("json:"))
                            .and_then(|p| recipe::json_path(json, p))
                            .and_then(|x| x.as_str().map(String::from))
                    };
                    v.principal = pick("principal");
                    v.org = pick("org");
                    v.project = pick("project");
                    v.key_id = pick("key_id");
                }
                v
            }
            Ok(a) if statuses("dead", &[401]).contains(&a.status) => {
                let mut v = Verdict::new(VerdictKind::Dead);
                v.http_status = Some(a.status);
                v
            }
            Ok(a) => {
                let mut v = Verdict::new(VerdictKind::Indeterminate);
                v.http_status = Some(a.status);
                v.reason = Some(format!("unexpected status {}", a.status));
                v
            }
        };
        v.reason = v.reason.map(|r| scrub(&r, t));
        Some(v)
    }

    async fn do_revoke(&self, t: &Target<'_>, r: &RevokeRecipe) -> CallResult {
        let mut vars = self.vars(t);
        if r.authority == Authority::Admin && t.admin.is_none() {
            return CallResult::Failed {
                status: None,
                reason: "admin revocation without an admin credential".into(),
            };
        }
        if let Some(find) = &r.find {
            match self.find(find, &vars).await {
                Ok(Some(id)) => vars.set("found", id),
                Ok(None) => {
                    return CallResult::Gone { status: 404 };
                }
                Err(res) => return res,
            }
        }
        match recipe::send(&self.client, &r.call, &vars).await {
            Err(e) => CallResult::Retry {
                status: None,
                reason: scrub(&e.to_string(), t),
                after: None,
            },
            Ok(a) if r.ok_status().contains(&a.status) => CallResult::Accepted { status: a.status },
            Ok(a) if r.gone_status().contains(&a.status) => CallResult::Gone { status: a.status },
            Ok(a) => classify(a),
        }
    }

    /// Lists the keys an admin can see and takes the id of the one matching the leaked value;
    /// `Ok(None)` when no listed key matches (it is gone, or was never this org's).
    async fn find(&self, f: &recipe::Find, vars: &Vars) -> Result<Option<String>, CallResult> {
        let call = Call {
            method: f.call.method.clone().or(Some("GET".into())),
            ..f.call.clone()
        };
        let a = match recipe::send(&self.client, &call, vars).await {
            Ok(a) if a.status == 200 => a,
            Ok(a) => return Err(classify(a)),
            Err(e) => {
                return Err(CallResult::Retry {
                    status: None,
                    reason: format!("listing keys: {e}"),
                    after: None,
                })
            }
        };
        let value = vars.render(&f.value).map_err(|e| CallResult::Failed {
            status: None,
            reason: e.to_string(),
        })?;
        let items = a
            .json
            .as_ref()
            .and_then(|j| recipe::json_path(j, &f.items))
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(items.iter().find_map(|item| {
            let listed = recipe::json_path(item, &f.field)?.as_str()?;
            if !recipe::key_matches(&f.mode, listed, &value) {
                return None;
            }
            let id = recipe::json_path(item, &f.take)?;
            Some(id.as_str().map(String::from).unwrap_or_else(|| id.to_string()))
        }))
    }
}

/// 429 and 5xx are worth retrying; anything else unexpected is not.
fn classify(a: recipe::Answer) -> CallResult {
    if a.status == 429 || a.status >= 500 {
        CallResult::Retry {
            status: Some(a.status),
            reason: format!("issuer answered {}", a.status),
            after: a.retry_after,
        }
    } else {
        CallResult::Failed {
            status: Some(a.status),
            reason: format!("issuer refused with status {}", a.status),
        }
    }
}

/// Removes the secret and its parts from a message, whatever produced it.
fn scrub(msg: &str, t: &Target) -> String {
    let mut out = msg.to_string();
    let mut values = vec![t.secret.to_vec()];
    values.extend(t.parts.iter().map(|(_, v)| v.clone()));
    for v in values.iter().filter(|v| v.len() >= 4) {
        let s = String::from_utf8_lossy(v);
        out = out.replace(s.as_ref(), &crate::finding::redact(v));
    }
    out
}

/// The request part of a verify table (its matchers and identity are read separately).
fn call_from(t: &toml::Table) -> Option<Call> {
    let mut c = toml::Table::new();
    for k in [
        "method", "url", "headers", "query", "form", "json", "body", "basic",
    ] {
        if let Some(v) = t.get(k) {
            c.insert(k.into(), v.clone());
        }
    }
    toml::Value::Table(c).try_into().ok()
}

impl Issuers for HttpIssuers {
    fn verify<'a>(&'a self, t: &'a Target<'a>) -> BoxFuture<'a, Option<Verdict>> {
        Box::pin(self.do_verify(t))
    }
    fn revoke<'a>(&'a self, t: &'a Target<'a>, recipe: &'a RevokeRecipe) -> BoxFuture<'a, CallResult> {
        Box::pin(self.do_revoke(t, recipe))
    }
}
