//! Talking to issuers on the revocation path: a fresh verification (before acting, to keep
//! retries idempotent, and after, to confirm death) and the revoke call itself.
//!
//! [`HttpIssuers`] verifies with the verify engine (uncached: a revocation needs the issuer's
//! answer now) and sends revoke recipes to the hosts the issuer registry allows, through the
//! same egress guard. Tests talk to it through the issuer simulator, not a test double.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::policy::AdminCredential;
use crate::config::Config;
use crate::issuer::registry::{IssuerEntry, Registry};
use crate::issuer::revoke_recipe::{self as recipe, Authority, RevokeRecipe, Vars};
use crate::issuer::Call;
use crate::rules::Rule;
use crate::store::Verdict;
use crate::verify;

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

pub use super::outcome::CallResult;

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
        pace: Option<Arc<dyn verify::Pace>>,
    ) -> Result<HttpIssuers> {
        let registry = Registry::load(config)?;
        let section: verify::VerifySection = config.section("verify")?;
        let mut opts = section.options()?;
        // A cached "live" from before the revoke call would hide the key's death.
        opts.cache_ttl = Duration::ZERO;
        let verify = verify::Context::paced(registry.clone(), opts, pace);
        // Fail here, not at the first revocation, when HTTPS cannot be set up.
        crate::issuer::client::issuers()?;
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
        v.set("now", cut_off(chrono::Utc::now()));
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
            // An AWS key live in another partition (GovCloud, China) is deactivated by that
            // partition's IAM, signed for its region.
            if let Some((base, region)) = t
                .known
                .and_then(|k| k.site.as_deref())
                .and_then(verify::special::aws_partition_iam)
            {
                if let Some(b) = e.bases.get(base).filter(|b| !b.url.is_empty()) {
                    v.set("iam", b.url.trim_end_matches('/'));
                    v.set("aws_region", region);
                }
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
                // What the policy names (an OpenAI project) wins over what verification
                // guessed: the operator knows where the admin credential acts.
                v.set(k.clone(), p.clone());
            }
        }
        v
    }

    /// A fresh verdict, bypassing any cache; `None` when the rule has no usable verify recipe.
    pub async fn verify(&self, t: &Target<'_>) -> Option<Verdict> {
        t.rule.spec.verify.as_ref()?;
        let job = verify::Job {
            fingerprint: t.fingerprint.to_string(),
            rule: Arc::new(t.rule.clone()),
            secret: t.secret.to_vec(),
            parts: t.parts.to_vec(),
        };
        let v = self.verify.verify(job).await;
        let mut out = Verdict::from_verification(&v);
        out.reason = out.reason.map(|r| scrub(&r, t));
        Some(out)
    }

    /// Sends the revocation `r` describes for the key in `t`.
    pub async fn revoke(&self, t: &Target<'_>, r: &RevokeRecipe) -> CallResult {
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
        if let Err(e) = vars.derive(&r.derive, &String::from_utf8_lossy(t.secret)) {
            return CallResult::Failed {
                status: None,
                reason: e.to_string(),
            };
        }
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
        let partition_region = vars.0.values.get("aws_region").cloned();
        let sign = creds.map(|(id, secret)| {
            let service = r.service.clone().unwrap_or_else(|| "iam".into());
            let region = partition_region
                .or_else(|| r.region.clone())
                .unwrap_or_else(|| "us-east-1".into());
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
            match self.find(find, &mut vars, issuer, sign_ref).await {
                Ok(true) => {}
                Ok(false) => {
                    return CallResult::Gone { status: 404 };
                }
                Err(res) => return scrubbed(res, t),
            }
        }
        if let Some(p) = &r.public_if {
            match self.get(&p.call, &vars, issuer, sign_ref, &[]).await {
                Ok(Some(a)) => {
                    let json = a.json().cloned().unwrap_or(serde_json::Value::Null);
                    if let Some(path) = p
                        .present
                        .iter()
                        .find(|path| recipe::json_path(&json, path).is_some_and(|v| !v.is_null()))
                    {
                        return CallResult::Failed {
                            status: Some(a.status),
                            reason: format!(
                                "public by design ({path}): reported, never revoked automatically; delete it by hand if it should not be public"
                            ),
                        };
                    }
                }
                Ok(None) => {
                    return CallResult::Failed {
                        status: None,
                        reason: "whether the key is public by design could not be read".into(),
                    }
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

    /// Finds the issuer's id of the leaked key and sets `{found}` (and the scope it was found
    /// in, for a search over `each`): lists the keys, every page, and takes the one matching
    /// the leaked value, or reads a lookup keyed by the value. `Ok(false)` when nothing matches
    /// in a complete listing (it is gone, or was never this org's). Two different matches, or
    /// a listing that could not be read to its end, are a refusal: acting on a guess could
    /// kill a key that did not leak.
    async fn find(
        &self,
        f: &recipe::Find,
        vars: &mut Vars,
        issuer: Option<&IssuerEntry>,
        sign: Option<recipe::Signer<'_>>,
    ) -> Result<bool, CallResult> {
        let gone = f.gone.as_ref().map(|g| g.status.clone()).unwrap_or_default();
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
        // The scopes to search: the one the variables name, or every one `each` lists.
        let scopes: Vec<Option<String>> = match &f.each {
            Some(each) if !vars.0.values.contains_key(&each.var) => {
                let listed = self
                    .list(
                        &each.call,
                        each.page.as_ref(),
                        &each.items,
                        vars,
                        issuer,
                        sign,
                        &[],
                    )
                    .await?
                    .unwrap_or_default();
                listed
                    .iter()
                    .filter_map(|i| recipe::json_take(i, &each.take))
                    .map(Some)
                    .collect()
            }
            _ => vec![None],
        };
        let mut hits: Vec<(Option<String>, String)> = Vec::new();
        for scope in scopes {
            let mut v = vars.clone();
            if let (Some(each), Some(s)) = (&f.each, &scope) {
                v.set(each.var.clone(), s.clone());
            }
            let ids: Vec<String> = match &f.items {
                Some(path) => match self
                    .list(&f.call, f.page.as_ref(), path, &v, issuer, sign, &gone)
                    .await?
                {
                    None => continue,
                    Some(items) => items
                        .iter()
                        .filter(|i| matches(i))
                        .filter_map(|i| recipe::json_take(i, &f.take))
                        .collect(),
                },
                None => {
                    let Some(a) = self.get(&f.call, &v, issuer, sign, &gone).await? else {
                        continue;
                    };
                    let whole = a.json().cloned().unwrap_or(serde_json::Value::Null);
                    if f.field.is_some() && !matches(&whole) {
                        vec![]
                    } else {
                        recipe::take(&a, &f.take).into_iter().collect()
                    }
                }
            };
            hits.extend(ids.into_iter().map(|id| (scope.clone(), id)));
        }
        hits.sort();
        hits.dedup();
        match hits.len() {
            0 => Ok(false),
            1 => {
                let (scope, id) = hits.remove(0);
                if let (Some(each), Some(s)) = (&f.each, scope) {
                    vars.set(each.var.clone(), s);
                }
                vars.set("found", id);
                Ok(true)
            }
            n => Err(CallResult::Failed {
                status: None,
                reason: format!(
                    "{n} keys match the leaked value's hint; a human must pick the one to revoke"
                ),
            }),
        }
    }

    /// One GET of a find step: the answer, `None` when its status says the key is gone.
    async fn get(
        &self,
        call: &Call,
        vars: &Vars,
        issuer: Option<&IssuerEntry>,
        sign: Option<recipe::Signer<'_>>,
        gone: &[u16],
    ) -> Result<Option<recipe::Answer>, CallResult> {
        let call = Call {
            method: call.method.clone().or(Some("GET".into())),
            ..call.clone()
        };
        match recipe::send(self.timeout, &call, vars, issuer, sign).await {
            Ok(a) if a.status == 200 => Ok(Some(a)),
            Ok(a) if gone.contains(&a.status) => Ok(None),
            Ok(a) => Err(classify(a)),
            Err(e) => Err(CallResult::Retry {
                status: None,
                reason: format!("finding the key: {e}"),
                after: None,
            }),
        }
    }

    /// Every item of a listing, page after page, or `None` when its first answer says the
    /// key is gone. A listing read only in part is an error: a page refused or unreadable, a
    /// `more` flag without a cursor (or with the same cursor again), more than [`MAX_PAGES`]
    /// pages, or a listing that says more follow when the recipe names no way to page.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        call: &Call,
        page: Option<&recipe::Page>,
        items: &str,
        vars: &Vars,
        issuer: Option<&IssuerEntry>,
        sign: Option<recipe::Signer<'_>>,
        gone: &[u16],
    ) -> Result<Option<Vec<serde_json::Value>>, CallResult> {
        let partial = |why: String| CallResult::Failed {
            status: None,
            reason: format!(
                "the issuer's listing of keys was not read to its end ({why}); refusing to act on part of it"
            ),
        };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        // The next page's URL, for link paging.
        let mut link: Option<url::Url> = None;
        for n in 0..MAX_PAGES {
            let mut c = call.clone();
            let mut v = vars.clone();
            if let Some(u) = &link {
                // The link carries its own query.
                c.url = Some("{page.url}".into());
                c.query.clear();
                v.set("page.url", u.to_string());
            } else if let (Some(param), Some(cur)) = (page.and_then(|p| p.param.as_ref()), &cursor) {
                c.query.insert(param.clone(), "{page.cursor}".into());
                v.set("page.cursor", cur.clone());
            } else if let Some(p) = page.filter(|p| p.number.is_some()) {
                let param = p.number.clone().unwrap_or_default();
                c.query.insert(param, "{page.number}".into());
                v.set("page.number", (n as u64 + p.first).to_string());
            }
            let a = match self
                .get(&c, &v, issuer, sign, if n == 0 { gone } else { &[] })
                .await
            {
                Ok(Some(a)) => a,
                Ok(None) => return Ok(None),
                Err(e) if n == 0 => return Err(e),
                Err(CallResult::Retry {
                    status,
                    reason,
                    after,
                }) => {
                    return Err(CallResult::Retry {
                        status,
                        reason: format!("page {} of the listing: {reason}", n + 1),
                        after,
                    })
                }
                Err(_) => return Err(partial(format!("page {} was refused", n + 1))),
            };
            let json = a.json().cloned().unwrap_or(serde_json::Value::Null);
            let Some(arr) = recipe::json_path(&json, items).and_then(|i| i.as_array()) else {
                return Err(partial(format!("page {} has no `{items}` list", n + 1)));
            };
            out.extend(arr.iter().cloned());
            if let Some(next) = page.and_then(|p| p.next.as_ref()) {
                let Some(href) = recipe::json_take(&json, next).filter(|h| !h.is_empty()) else {
                    return Ok(Some(out));
                };
                let here = match &link {
                    Some(u) => u.clone(),
                    None => v
                        .render(c.url.as_deref().unwrap_or(""))
                        .ok()
                        .and_then(|u| url::Url::parse(&u).ok())
                        .ok_or_else(|| partial("the listing's URL cannot be read".into()))?,
                };
                let to = here
                    .join(&href)
                    .map_err(|_| partial(format!("page {} links to an unreadable `{next}`", n + 1)))?;
                if Some(&to) == link.as_ref() || arr.is_empty() {
                    return Err(partial(format!("page {} links to itself", n + 1)));
                }
                link = Some(to);
                continue;
            }
            if let Some(total_path) = page.and_then(|p| p.total.as_ref()) {
                let Some(total) = recipe::json_path(&json, total_path).and_then(|t| t.as_u64()) else {
                    return Err(partial(format!("page {} names no `{total_path}`", n + 1)));
                };
                if out.len() as u64 >= total {
                    return Ok(Some(out));
                }
                if arr.is_empty() {
                    return Err(partial(format!(
                        "page {} is empty before all {total} were listed",
                        n + 1
                    )));
                }
                continue;
            }
            let more_path = page.and_then(|p| p.more.as_deref()).unwrap_or("has_more");
            let more = recipe::json_path(&json, more_path).and_then(|m| m.as_bool()) == Some(true);
            if !more {
                return Ok(Some(out));
            }
            let Some(cursor_path) = page.and_then(|p| p.cursor.as_ref()) else {
                return Err(partial(
                    "the issuer says more keys follow and the recipe does not page".into(),
                ));
            };
            let next = recipe::json_take(&json, cursor_path);
            if next.is_none() || next == cursor || arr.is_empty() {
                return Err(partial(format!(
                    "page {} says more follow but names no new `{cursor_path}`",
                    n + 1
                )));
            }
            cursor = next;
        }
        Err(partial(format!("more than {MAX_PAGES} pages")))
    }
}

/// `{now}` for a recipe: the moment as ISO 8601 UTC, rounded up to the next whole second. A
/// cut-off (AWS `DateLessThan aws:TokenIssueTime`) written as this moment then covers every
/// session minted before the call, even one minted earlier in the same second.
fn cut_off(now: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    let up = if now.nanosecond() == 0 {
        now
    } else {
        now.with_nanosecond(0).unwrap_or(now) + chrono::Duration::seconds(1)
    };
    up.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The most pages a find step reads before it gives up (and refuses to act).
const MAX_PAGES: usize = 200;

/// The outcome of a revoke call under its recipe's `ok` and `gone` statuses.
fn judge(r: &RevokeRecipe, sent: Result<recipe::Answer>, t: &Target) -> CallResult {
    match sent {
        Err(e) => CallResult::Retry {
            status: None,
            reason: scrub(&e.to_string(), t),
            after: None,
        },
        Ok(a) if r.accepted(&a) => CallResult::Accepted { status: a.status },
        Ok(a) if r.is_gone(&a) => CallResult::Gone { status: a.status },
        // The status of success without its body (Slack's 200 with `"ok": false`): refused.
        Ok(a) if r.ok_status().contains(&a.status) => CallResult::Failed {
            status: Some(a.status),
            reason: format!(
                "the issuer answered {} without confirming the revocation{}",
                a.status,
                issuer_code(&a).map(|c| format!(" ({c})")).unwrap_or_default()
            ),
        },
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

/// The issuer's error code in an answer (`error`, `error.code`, `error.type`), when it is a
/// short plain word: issuers never echo a key there, and it tells a human why.
fn issuer_code(a: &recipe::Answer) -> Option<String> {
    let j = a.json()?;
    ["error", "error.code", "error.type", "code"]
        .iter()
        .find_map(|p| recipe::json_path(j, p).and_then(|v| v.as_str()))
        .filter(|c| c.len() <= 60 && c.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        .map(String::from)
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

#[cfg(test)]
mod tests {
    use super::cut_off;

    #[test]
    fn the_cut_off_rounds_up_to_the_next_second() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        assert_eq!(cut_off(at("2026-12-04T20:01:02.250Z")), "2026-12-04T20:01:03Z");
        assert_eq!(cut_off(at("2026-12-04T23:59:59.001Z")), "2026-12-05T00:00:00Z");
        assert_eq!(cut_off(at("2026-12-04T20:01:02Z")), "2026-12-04T20:01:02Z");
    }
}
