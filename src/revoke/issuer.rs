//! Talking to issuers on the revocation path: a fresh verification (before acting, to keep
//! retries idempotent, and after, to confirm death) and the revoke call itself.
//!
//! The runner sees only the [`Issuers`] trait, so the HTTP layer can be swapped (a test double,
//! a remote worker) without touching the job logic. [`HttpIssuers`] verifies with the verify
//! engine (uncached: a revocation needs the issuer's answer now) and sends revoke recipes to the
//! hosts the issuer registry allows, through the same egress guard.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::policy::AdminCredential;
use super::recipe::{self, Authority, RevokeRecipe, Vars};
use crate::config::Config;
use crate::http::Call;
use crate::rules::Rule;
use crate::store::Verdict;
use crate::verify::{self, registry::IssuerEntry, Registry};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// Nothing was sent: the issuer's request budget is spent, or it asked us to hold off
    /// (429 on a budgeted endpoint). The job waits `after`; this is not a failed attempt.
    Deferred { reason: String, after: Duration },
}

pub trait Issuers: Send + Sync {
    /// A fresh verdict, bypassing any cache; `None` when the rule has no usable verify recipe.
    fn verify<'a>(&'a self, t: &'a Target<'a>) -> BoxFuture<'a, Option<Verdict>>;
    fn revoke<'a>(&'a self, t: &'a Target<'a>, recipe: &'a RevokeRecipe) -> BoxFuture<'a, CallResult>;
}

/// The verify engine for checks, declarative revoke recipes over reqwest for calls.
pub struct HttpIssuers {
    /// Bounds each revoke call (the shared client has no timeout of its own).
    timeout: Duration,
    verify: Arc<verify::Context>,
    registry: Registry,
    batcher: super::batch::Batcher,
    /// For admin fallbacks: the credential a recipe's refusal may fall back to.
    policy: super::Policy,
    /// Hourly budgets of rate-limited endpoints (none: unbounded, for store-less use).
    budgets: Option<super::budget::Budgets>,
}

impl HttpIssuers {
    pub fn new(
        config: &Config,
        timeout: Duration,
        budgets: Option<super::budget::Budgets>,
    ) -> Result<HttpIssuers> {
        let registry = Registry::load(config)?;
        let section: verify::VerifySection = config.section("verify")?;
        let mut opts = section.options()?;
        // A cached "live" from before the revoke call would hide the key's death.
        opts.cache_ttl = Duration::ZERO;
        let verify = verify::Context::new(registry.clone(), opts);
        // Fail here, not at the first revocation, when HTTPS cannot be set up.
        crate::http::client::issuers()?;
        Ok(HttpIssuers {
            policy: super::Policy::from_config(config)?,
            timeout,
            verify,
            registry,
            batcher: super::batch::Batcher::new(),
            budgets,
        })
    }

    /// The request budget a revoke call must spend from, if its endpoint has one.
    fn guard(&self, t: &Target, r: &RevokeRecipe) -> Option<super::budget::Guard<'_>> {
        self.budgets
            .as_ref()?
            .guard(self.registry.get(&t.rule.spec.issuer), r.authority)
    }

    fn vars(&self, t: &Target) -> Vars {
        let mut v = Vars::default();
        v.set("secret", String::from_utf8_lossy(t.secret));
        v.set("redacted", crate::finding::redact(t.secret));
        for (n, p) in t.parts {
            v.set(format!("part.{n}"), String::from_utf8_lossy(p));
        }
        if let Some(e) = self.registry.get(&t.rule.spec.issuer) {
            for (k, b) in &e.bases {
                if !b.url.is_empty() {
                    v.set(k.clone(), b.url.trim_end_matches('/'));
                }
            }
            e.set_derived_bases(&mut v.0);
            // A key that answered live on another regional site is revoked there. The stored
            // label is matched against the configured sites, so it can only pick a listed one.
            if let Some(url) = t
                .known
                .and_then(|k| k.site.as_deref())
                .and_then(|s| e.site_by_label(s))
            {
                v.set("api", url);
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
                // The policy may name what verification did not reveal (an OpenAI project).
                v.0.values.entry(k.clone()).or_insert_with(|| p.clone());
            }
        }
        v
    }

    async fn do_verify(&self, t: &Target<'_>) -> Option<Verdict> {
        t.rule.spec.verify.as_ref()?;
        let job = verify::Job {
            fingerprint: t.fingerprint.to_string(),
            rule: Arc::new(t.rule.clone()),
            secret: t.secret.to_vec(),
            parts: t.parts.to_vec(),
        };
        let v = self.verify.verify(job).await;
        let mut out = Verdict::from_json(&serde_json::to_value(&v).ok()?)?;
        out.reason = out.reason.map(|r| scrub(&r, t));
        Some(out)
    }

    async fn do_revoke(&self, t: &Target<'_>, r: &RevokeRecipe) -> CallResult {
        let first = self.call_recipe(t, r).await;
        let Some(fallback) = r.fallback.as_deref() else {
            return first;
        };
        if !matches!(first, CallResult::Failed { .. }) {
            return first;
        }
        // Refused with the key's own authority: an admin may still do it, when the policy
        // names one. A missing or unreadable admin credential leaves the first refusal standing.
        let issuer = fallback
            .admin_issuer
            .clone()
            .unwrap_or_else(|| t.rule.spec.issuer.clone());
        match self.policy.admin_credential(&issuer) {
            Ok(Some(admin)) => {
                let t2 = Target {
                    admin: Some(&admin),
                    ..*t
                };
                self.call_recipe(&t2, fallback).await
            }
            Ok(None) => first,
            Err(e) => match first {
                CallResult::Failed { status, reason } => CallResult::Failed {
                    status,
                    reason: format!("{reason}; the admin fallback cannot run: {e:#}"),
                },
                other => other,
            },
        }
    }

    /// One recipe: its find step (if any), then its call.
    async fn call_recipe(&self, t: &Target<'_>, r: &RevokeRecipe) -> CallResult {
        let mut vars = self.vars(t);
        if r.authority == Authority::Admin && t.admin.is_none() {
            return CallResult::Failed {
                status: None,
                reason: "admin revocation without an admin credential".into(),
            };
        }
        let creds = match r.kind.as_deref() {
            Some("aws-sigv4") => match aws_credentials(t, r) {
                Ok(c) => Some(c),
                Err(reason) => return CallResult::Failed { status: None, reason },
            },
            _ => None,
        };
        let sign = creds.map(|(id, secret)| {
            let service = r.service.clone().unwrap_or_else(|| "iam".into());
            let region = r.region.clone().unwrap_or_else(|| "us-east-1".into());
            move |method: &str, url: &url::Url| {
                let creds = verify::aws::Credentials {
                    key_id: &id,
                    secret: &secret,
                    session_token: None,
                };
                verify::aws::sign(method, url, b"", &creds, &region, &service, chrono::Utc::now())
            }
        });
        let sign_ref = sign.as_ref().map(|f| f as recipe::Signer<'_>);
        let issuer = self.registry.get(&t.rule.spec.issuer);
        if let Some(find) = &r.find {
            match self.find(find, &vars, issuer, sign_ref).await {
                Ok(Some(id)) => vars.set("found", id),
                Ok(None) => {
                    return CallResult::Gone { status: 404 };
                }
                Err(res) => return scrubbed(res, t),
            }
        }
        if let (Some(max), Some(json)) = (r.batch.filter(|n| *n > 1), &r.call.json) {
            let key = format!("{}\u{0}{}", t.rule.spec.id, r.call.url.as_deref().unwrap_or(""));
            let secret = String::from_utf8_lossy(t.secret).into_owned();
            let fill = || self.guard(t, r).map_or(Duration::ZERO, |g| g.fill_window());
            return self
                .batcher
                .submit(&key, secret, max, fill, |items| async move {
                    let call = Call {
                        json: Some(super::batch::expand(json, &items)),
                        ..r.call.clone()
                    };
                    let send =
                        async { judge(r, recipe::send(self.timeout, &call, &vars, issuer, None).await, t) };
                    super::budget::guarded(self.guard(t, r), send).await
                })
                .await;
        }
        let send = async {
            judge(
                r,
                recipe::send(self.timeout, &r.call, &vars, issuer, sign_ref).await,
                t,
            )
        };
        super::budget::guarded(self.guard(t, r), send).await
    }

    /// Finds the issuer's id of the leaked key: lists the keys and takes the one matching the
    /// leaked value, or reads a lookup keyed by the value. `Ok(None)` when nothing matches (it
    /// is gone, or was never this org's). Two different matches are a refusal: acting on a
    /// guess could kill a key that did not leak.
    async fn find(
        &self,
        f: &recipe::Find,
        vars: &Vars,
        issuer: Option<&IssuerEntry>,
        sign: Option<recipe::Signer<'_>>,
    ) -> Result<Option<String>, CallResult> {
        let call = Call {
            method: f.call.method.clone().or(Some("GET".into())),
            ..f.call.clone()
        };
        let gone = f.gone.as_ref().map(|g| g.status.clone()).unwrap_or_default();
        let a = match recipe::send(self.timeout, &call, vars, issuer, sign).await {
            Ok(a) if a.status == 200 => a,
            Ok(a) if gone.contains(&a.status) => return Ok(None),
            Ok(a) => return Err(classify(a)),
            Err(e) => {
                return Err(CallResult::Retry {
                    status: None,
                    reason: format!("finding the key: {e}"),
                    after: None,
                })
            }
        };
        let value = vars.render(&f.value).map_err(|e| CallResult::Failed {
            status: None,
            reason: e.to_string(),
        })?;
        let matches = |item: &serde_json::Value| match &f.field {
            Some(field) => recipe::json_path(item, field)
                .and_then(|l| l.as_str())
                .is_some_and(|listed| recipe::key_matches(&f.mode, listed, &value)),
            None => true,
        };
        let mut ids: Vec<String> = match &f.items {
            Some(path) => a
                .json
                .as_ref()
                .and_then(|j| recipe::json_path(j, path))
                .and_then(|i| i.as_array())
                .map(|items| {
                    items
                        .iter()
                        .filter(|i| matches(i))
                        .filter_map(|i| recipe::json_take(i, &f.take))
                        .collect()
                })
                .unwrap_or_default(),
            None => {
                let whole = a.json.clone().unwrap_or(serde_json::Value::Null);
                if f.field.is_some() && !matches(&whole) {
                    vec![]
                } else {
                    recipe::take(&a, &f.take).into_iter().collect()
                }
            }
        };
        ids.sort();
        ids.dedup();
        match ids.len() {
            0 => Ok(None),
            1 => Ok(ids.pop()),
            n => Err(CallResult::Failed {
                status: None,
                reason: format!(
                    "{n} keys match the leaked value's hint; a human must pick the one to revoke"
                ),
            }),
        }
    }
}

/// The outcome of a revoke call under its recipe's `ok` and `gone` statuses.
fn judge(r: &RevokeRecipe, sent: Result<recipe::Answer>, t: &Target) -> CallResult {
    match sent {
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

/// A find step's failure with the secret scrubbed from its reason.
fn scrubbed(res: CallResult, t: &Target) -> CallResult {
    match res {
        CallResult::Retry {
            status,
            reason,
            after,
        } => CallResult::Retry {
            status,
            reason: scrub(&reason, t),
            after,
        },
        CallResult::Failed { status, reason } => CallResult::Failed {
            status,
            reason: scrub(&reason, t),
        },
        other => other,
    }
}

/// The key pair a SigV4 revoke call is signed with: the leaked key itself (its id among the
/// secret and parts, its 40-character secret beside it), or the policy's admin key given as
/// `KEYID:SECRET`.
fn aws_credentials(t: &Target, r: &RevokeRecipe) -> Result<(String, String), String> {
    if r.authority == Authority::Admin {
        let a = t.admin.ok_or("admin revocation without an admin credential")?;
        return a
            .secret
            .split_once(':')
            .map(|(i, s)| (i.to_string(), s.to_string()))
            .ok_or_else(|| "the AWS admin credential must be KEYID:SECRET".to_string());
    }
    let mut values = vec![String::from_utf8_lossy(t.secret).into_owned()];
    values.extend(
        t.parts
            .iter()
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
    );
    let id = values.iter().find(|v| verify::aws::is_key_id(v));
    let secret = values.iter().find(|v| {
        v.len() == 40
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/+=".contains(&b))
    });
    match (id, secret) {
        (Some(i), Some(s)) => Ok((i.clone(), s.clone())),
        _ => Err("an AWS key is revoked with its secret access key, which was not found beside it".into()),
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

impl Issuers for HttpIssuers {
    fn verify<'a>(&'a self, t: &'a Target<'a>) -> BoxFuture<'a, Option<Verdict>> {
        Box::pin(self.do_verify(t))
    }
    fn revoke<'a>(&'a self, t: &'a Target<'a>, recipe: &'a RevokeRecipe) -> BoxFuture<'a, CallResult> {
        Box::pin(self.do_revoke(t, recipe))
    }
}
