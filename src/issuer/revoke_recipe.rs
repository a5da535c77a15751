//! Revocation recipes: the `[rule.revoke]` table of a rule: the same request keys as verify
//! recipes ([`Call`]: method, url, headers, query, form, json, body, basic) plus what only
//! revocation needs:
//!
//! ```toml
//! [rule.revoke]
//! authority = "public"        # public | self | admin | none: who may make the call
//! method = "POST"
//! url = "{api}/credentials/revoke"
//! json = { credentials = ["{secret}"] }
//! ok = { status = [202] }     # the issuer accepted the revocation (`json = { ok = true }`
//!                             # when a status alone proves nothing: Slack's 200 + ok=false)
//! gone = { status = [404] }   # the key was already dead: success, nothing to undo
//! derive = { key_id = '^SG\.([A-Za-z0-9_-]{22})\.' }  # a variable read from the key itself
//!
//! [rule.revoke.public_if]     # a key public by design is reported, never revoked
//! url = "{apikeys}/v2/{found}"
//! present = ["restrictions.browserKeyRestrictions"]
//!
//! [rule.revoke.find]          # admin paths: find the key's id first (list, match, take)
//! url = "{api}/v1/organization/projects/{project}/api_keys"
//! headers = { Authorization = "Bearer {admin}" }
//! items = "data"              # JSON path of the array
//! field = "redacted_value"    # JSON path, in each item, of the value to match
//! match = "redacted"          # equals | redacted (prefix…suffix hint) | suffix | prefix
//! value = "{secret}"
//! take = "id"                 # becomes {found} in the revoke call
//! page = { more = "has_more", cursor = "last_id", param = "after" }   # read every page
//!                             # (or `page = { next = "urls.next" }`: a link to the next page)
//!
//! [rule.revoke.find.each]     # the variable is unknown: search every scope the list names
//! var = "project"             # skipped when {project} is known (the policy names it)
//! url = "{api}/v1/organization/projects"
//! items = "data"
//! take = "id"
//! ```
//!
//! A find step acts only on a listing read to its end: a page refused, a `more` flag without
//! a new cursor, or `has_more` on a recipe that does not page is a refusal, never "not found".
//!
//! Placeholders: `{secret}`, `{part.NAME}`, the issuer's configured bases (`{api}`),
//! `{admin}` (the admin credential the policy names), `{param.NAME}` (its non-secret
//! parameters), `{key_id}`, `{project}`, `{org}`, `{principal}` (from the last live verdict)
//! and `{found}`.

use anyhow::{anyhow, bail, Context as _, Result};
use serde::Deserialize;

use crate::issuer::call::deserialize_with_call;
use crate::issuer::verify_recipe::{Exchange, Matcher};
use crate::issuer::Call;

/// Who may revoke a key, which decides what the call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Authority {
    /// Anyone holding the value (GitHub, Hugging Face, Google OAuth).
    Public,
    /// The key revokes itself.
    #[default]
    #[serde(rename = "self")]
    SelfRevoke,
    /// An org admin credential from the policy.
    Admin,
    /// No API: escalate with the manual steps.
    None,
}

impl Authority {
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Public => "public",
            Authority::SelfRevoke => "self",
            Authority::Admin => "admin",
            Authority::None => "none",
        }
    }
}

/// How to find the issuer's id of a key before revoking it: list the keys an admin (or the key
/// itself) can see and take the id of the one matching the leaked value, or look the value up
/// directly (`items` and `field` left out: the answer is the one item).
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Find {
    /// The request (method default GET), read from the same table by [`crate::issuer::call::split`].
    #[serde(skip)]
    pub call: Call,
    /// JSON path of the array of keys; absent when the answer describes one key.
    #[serde(default)]
    pub items: Option<String>,
    /// JSON path, in each item, of the value to match; absent when the call itself was keyed
    /// by the value (a lookup), so every item it returns is the key.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default = "default_match", rename = "match")]
    pub mode: String,
    #[serde(default = "default_value")]
    pub value: String,
    /// JSON path of the id to take, or `xml:TAG` for the text of the first `<TAG>` of an XML
    /// answer (AWS query APIs).
    pub take: String,
    /// Statuses meaning "no such key": the key is already gone.
    #[serde(default)]
    pub gone: Option<Matcher>,
    /// How the listing continues past its first page. Without it, a listing that says more
    /// items follow (`has_more`) is refused: the leaked key may be on a page not read, and
    /// another key matching its hint on the one read.
    #[serde(default)]
    pub page: Option<Page>,
    /// Where to look when the recipe lacks a variable the listing needs (OpenAI's project):
    /// list the candidates and search the keys of each.
    #[serde(default)]
    pub each: Option<Each>,
}

deserialize_with_call!(Find);

/// How to tell a key that is public by design: a GET (after `find`, so `{found}` may be used)
/// whose answer holds any of the JSON paths in `present`. An answer that cannot be read is a
/// refusal too: the key is revoked only once it is known not to be public.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct PublicIf {
    #[serde(skip)]
    pub call: Call,
    pub present: Vec<String>,
}

deserialize_with_call!(PublicIf);

/// How a listing pages: by a cursor (the answer says whether more items follow, `more`, and
/// names the value, `cursor`, that the next request passes as the query parameter `param`:
/// OpenAI, Anthropic), or by a link (`next`: the JSON path of the next page's URL, absent or
/// empty on the last page: npm's `urls.next`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// JSON path of the flag that is `true` while more items follow (`has_more`).
    #[serde(default)]
    pub more: Option<String>,
    /// JSON path of the value to continue from (`last_id`).
    #[serde(default)]
    pub cursor: Option<String>,
    /// The query parameter that carries it (`after`, `after_id`).
    #[serde(default)]
    pub param: Option<String>,
    /// JSON path of the next page's URL, resolved against the page that named it.
    #[serde(default)]
    pub next: Option<String>,
    /// Page-number paging (Datadog): the query parameter carrying the 0-based page number,
    /// and the JSON path of the total number of items, read until every one was seen.
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
    /// The number of the first page for page-number paging: 0 (Datadog, the default) or 1
    /// (Cloudflare, whose `page=0` reads as page 1, so counting from 0 would read it twice).
    #[serde(default)]
    pub first: u64,
}

impl Page {
    fn check(&self, table: &str) -> Result<()> {
        let cursor = [&self.more, &self.cursor, &self.param];
        let number = [&self.number, &self.total];
        let n = |f: &[&Option<String>]| f.iter().filter(|f| f.is_some()).count();
        match (&self.next, n(&cursor), n(&number)) {
            (Some(_), 0, 0) | (None, 3, 0) | (None, 0, 2) => Ok(()),
            _ => bail!(
                "{table}.page names either `next` (a link to the next page), all of `more`, `cursor` and `param`, or `number` and `total`"
            ),
        }
    }
}

/// The outer listing of a search over several scopes: each item's `take` becomes the
/// variable `var` of the inner listing. It runs only when `var` is not known already (the
/// policy naming a project wins over searching them all).
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Each {
    #[serde(skip)]
    pub call: Call,
    pub var: String,
    pub items: String,
    pub take: String,
    #[serde(default)]
    pub page: Option<Page>,
}

deserialize_with_call!(Each);

fn default_match() -> String {
    "equals".into()
}
fn default_value() -> String {
    "{secret}".into()
}

/// A parsed `[rule.revoke]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RevokeRecipe {
    #[serde(default)]
    pub authority: Authority,
    /// `aws-sigv4`: sign the call (a query-string API call, no body) with AWS Signature V4,
    /// using the leaked key itself (`self`) or the policy's admin key (`KEYID:SECRET`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Credentials per request when the endpoint takes many (`json` holds `["{secret}"]`):
    /// concurrent jobs share one call (GitHub: 1000).
    #[serde(default)]
    pub batch: Option<usize>,
    /// aws-sigv4: the service to sign for (default `iam`) and the region (default us-east-1).
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// The issuer whose admin credential an admin recipe needs (default: the rule's issuer).
    #[serde(default)]
    pub admin_issuer: Option<String>,
    /// The request (method default POST), read from the same table by
    /// [`crate::issuer::call::split`].
    #[serde(skip)]
    pub call: Call,
    #[serde(default)]
    pub ok: Option<Matcher>,
    #[serde(default)]
    pub gone: Option<Matcher>,
    #[serde(default)]
    pub find: Option<Find>,
    /// Values read from the leaked key itself, by a regular expression whose first group
    /// becomes the variable (`key_id = '^SG\.([A-Za-z0-9_-]{22})\.'`: SendGrid's key id is
    /// the key's middle segment), so the call names exactly this key.
    #[serde(default)]
    pub derive: std::collections::BTreeMap<String, String>,
    /// A key public by design (a Google browser or app key, restricted to its referrers or
    /// apps) is reported, never revoked automatically: this asks the issuer, after `find`,
    /// whether the key is one.
    #[serde(default)]
    pub public_if: Option<PublicIf>,
    /// Manual steps for `authority = "none"` (or the rule's `manual_revoke`).
    #[serde(default)]
    pub manual: Option<String>,
    /// An admin recipe tried when this one is refused (AWS: the leaked key may lack
    /// `iam:UpdateAccessKey` on itself) and the policy names an admin credential for it.
    #[serde(default)]
    pub fallback: Option<Box<RevokeRecipe>>,
    /// A call sent before the revocation, when the policy asks for it (`cut_sessions`): it
    /// cuts off what the key already minted and outlives it (AWS: sessions from
    /// `GetSessionToken`, refused by an inline deny on `aws:TokenIssueTime`). Sent first
    /// because afterwards the leaked key can no longer sign it; its own `fallback` (an admin)
    /// sends it when the key may not.
    #[serde(default)]
    pub sessions: Option<Box<RevokeRecipe>>,
}

deserialize_with_call!(RevokeRecipe);

impl RevokeRecipe {
    pub fn parse(t: &toml::Table) -> Result<RevokeRecipe> {
        let r: RevokeRecipe = toml::Value::Table(t.clone())
            .try_into()
            .context("[rule.revoke]")?;
        r.check("[rule.revoke]")?;
        if let Some(f) = &r.fallback {
            f.check("[rule.revoke.fallback]")?;
            if f.authority != Authority::Admin || f.fallback.is_some() {
                bail!("[rule.revoke.fallback] must be an admin recipe (authority = \"admin\") without a fallback of its own");
            }
            if f.sessions.is_some() {
                bail!("[rule.revoke.fallback] cannot have `sessions`: they belong to [rule.revoke]");
            }
        }
        if let Some(s) = &r.sessions {
            s.check("[rule.revoke.sessions]")?;
            if s.authority == Authority::None || s.sessions.is_some() || s.batch.is_some() {
                bail!("[rule.revoke.sessions] must be one call (authority self or admin, no batch, no sessions of its own)");
            }
            if let Some(f) = &s.fallback {
                f.check("[rule.revoke.sessions.fallback]")?;
                if f.authority != Authority::Admin || f.fallback.is_some() || f.sessions.is_some() {
                    bail!("[rule.revoke.sessions.fallback] must be an admin recipe without a fallback or sessions of its own");
                }
            }
        }
        Ok(r)
    }

    fn check(&self, table: &str) -> Result<()> {
        if self.authority != Authority::None && self.call.url.is_none() {
            bail!("{table} needs a `url` (or authority = \"none\")");
        }
        self.call.check().map_err(|e| anyhow!("{table}: {e}"))?;
        if let Some(k) = &self.kind {
            if k != "aws-sigv4" {
                bail!("{table} kind {k:?} is unknown (expected aws-sigv4)");
            }
        }
        for (name, re) in &self.derive {
            let compiled = regex::Regex::new(re).map_err(|e| anyhow!("{table}.derive.{name}: {e}"))?;
            if compiled.captures_len() < 2 {
                bail!("{table}.derive.{name} needs a capture group for the value");
            }
        }
        if let Some(p) = &self.public_if {
            p.call.check().map_err(|e| anyhow!("{table}.public_if: {e}"))?;
            if p.call.url.is_none() || p.present.is_empty() {
                bail!("{table}.public_if needs a `url` and the `present` paths that mark a public key");
            }
        }
        if let Some(f) = &self.find {
            f.call.check().map_err(|e| anyhow!("{table}.find: {e}"))?;
            if f.items.is_some() && f.field.is_none() {
                bail!("{table}.find lists `items` but names no `field` to match the key by");
            }
            if let Some(p) = &f.page {
                p.check(&format!("{table}.find"))?;
            }
            if let Some(e) = &f.each {
                if let Some(p) = &e.page {
                    p.check(&format!("{table}.find.each"))?;
                }
                e.call.check().map_err(|e| anyhow!("{table}.find.each: {e}"))?;
                if e.call.url.is_none() {
                    bail!("{table}.find.each needs a `url`");
                }
                // Without `items`, the find call is a lookup in each scope (Cloudflare: the
                // token's own id on each account it lists); its `gone` status skips a scope.
                if f.items.is_none() && f.gone.is_none() {
                    bail!("{table}.find.each needs the listing's `items` to search in each scope, or a lookup with the `gone` status of a scope that does not hold the key");
                }
            }
            if !["equals", "redacted", "suffix", "prefix"].contains(&f.mode.as_str()) {
                bail!(
                    "{table}.find match {:?} is unknown (expected equals, redacted, suffix or prefix)",
                    f.mode
                );
            }
        }
        Ok(())
    }

    pub fn ok_status(&self) -> Vec<u16> {
        self.ok
            .as_ref()
            .map(|m| m.status.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec![200, 202, 204])
    }

    pub fn gone_status(&self) -> Vec<u16> {
        self.gone.as_ref().map(|m| m.status.clone()).unwrap_or_default()
    }

    /// Whether an answer is the issuer accepting the revocation: an `ok` status and body.
    pub fn accepted(&self, a: &Answer) -> bool {
        self.ok_status().contains(&a.status) && self.ok.as_ref().is_none_or(|m| m.matches(&a.exchange))
    }

    /// Whether an answer says the key was already gone: a `gone` status and body.
    pub fn is_gone(&self, a: &Answer) -> bool {
        self.gone_status().contains(&a.status) && self.gone.as_ref().is_none_or(|m| m.matches(&a.exchange))
    }

    /// A one-line description for dry-run records: method and URL template, no values.
    pub fn describe(&self) -> String {
        match self.authority {
            Authority::None => "no revocation API: manual steps".into(),
            a => format!(
                "{} {} ({a} revocation{})",
                self.call.method.as_deref().unwrap_or("POST"),
                self.call.url.as_deref().unwrap_or(""),
                if self.find.is_some() {
                    ", after finding the key's id"
                } else {
                    ""
                },
                a = a.as_str()
            ),
        }
    }
}

/// Template variables. Values are secrets or derived from them; never logged. Rendering is the
/// shared request template engine ([`crate::issuer::render`]: `{name}`, `{base64:name}`), so
/// verify and revoke recipes read the same way.
#[derive(Default, Clone)]
pub struct Vars(pub crate::issuer::Vars);

impl Vars {
    pub fn set(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.0.set(k, v);
    }

    /// Sets each of a recipe's `derive` variables from the secret; a secret the expression
    /// does not match is an error naming the variable (never the secret).
    pub fn derive(
        &mut self,
        derive: &std::collections::BTreeMap<String, String>,
        secret: &str,
    ) -> Result<()> {
        for (name, re) in derive {
            let re = regex::Regex::new(re).map_err(|e| anyhow!("derive.{name}: {e}"))?;
            let v = re
                .captures(secret)
                .and_then(|c| c.get(1))
                .ok_or_else(|| anyhow!("the key does not have the shape derive.{name} reads"))?;
            self.set(name.clone(), v.as_str());
        }
        Ok(())
    }

    /// Replaces `{name}` for every known name; an unknown name is an error naming it.
    pub fn render(&self, template: &str) -> Result<String> {
        crate::issuer::render(template, &self.0).map_err(|e| anyhow!("the recipe needs {e}"))
    }
}

/// An issuer's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<std::time::Duration>,
    /// The answer as every recipe reads it (status, headers, body, JSON), matched by the same
    /// [`Matcher`] verification uses.
    pub exchange: Exchange,
}

impl Answer {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.exchange.json.as_ref()
    }

    /// The body as text when it is not JSON (an XML answer).
    pub fn text(&self) -> Option<&str> {
        match self.exchange.json {
            None => std::str::from_utf8(&self.exchange.body).ok(),
            Some(_) => None,
        }
    }
}

/// Computes headers to add from the final method and URL (a request signature).
pub type Signer<'a> = &'a (dyn Fn(&str, &url::Url) -> Vec<(String, String)> + Sync);

/// Sends a templated call (method default POST). The URL must pass the issuer's egress guard
/// (under one of its configured bases); plain HTTP is allowed only to loopback (the simulator,
/// tests); redirects are never followed, so the secret cannot be bounced to another host.
/// `timeout` bounds the whole exchange.
pub async fn send(
    timeout: std::time::Duration,
    call: &Call,
    vars: &Vars,
    issuer: Option<&crate::issuer::registry::IssuerEntry>,
    signer: Option<Signer<'_>>,
) -> Result<Answer> {
    let mut req = call
        .prepare(call.url.as_deref().unwrap_or(""), "POST", &vars.0)
        .map_err(|e| anyhow!("cannot build the request: {e}"))?;
    match issuer {
        Some(e) => match crate::issuer::guard::check(&req.url, e).await {
            Ok(crate::issuer::guard::Target::Configured) => {}
            Ok(_) => bail!("revocation is only sent to the issuer's configured hosts"),
            Err(e) => bail!("{e}"),
        },
        None => bail!("the issuer is not in the registry (add [issuers.NAME] to the config)"),
    }
    if let Some(sign) = signer {
        if req.body.is_some() {
            bail!("a signed revoke call carries its parameters in the query, not a body");
        }
        req.headers.extend(sign(req.method.as_str(), &req.url));
    }
    let host = req.url.host_str().unwrap_or("?").to_string();
    let client = crate::issuer::client::issuers()?;
    let rb = req.request(client, crate::issuer::client::USER_AGENT);
    // The error text of reqwest names the URL, which may hold a secret in its path or query:
    // describe the failure by kind only.
    let resp = crate::issuer::client::fetch(rb, timeout, 1 << 20)
        .await
        .map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            anyhow!("{kind} ({host})")
        })?;
    // The status is the answer; a body cut short (a timeout while reading it) reads as empty.
    let status = resp.status.as_u16();
    let retry_after = resp
        .header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|v| std::time::Duration::try_from_secs_f64(v).ok());
    let mut resp = resp;
    if resp.body_error.is_some() {
        resp.body.clear();
    }
    Ok(Answer {
        status,
        retry_after,
        exchange: Exchange::from_response(resp),
    })
}

/// The first value at a JSON path, in the one dialect every recipe uses
/// ([`super::verify_recipe::json_path`]: dots, array indexes, `*`).
pub fn json_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    super::verify_recipe::json_path(v, path).into_iter().next()
}

/// The value `take` names in an answer: a JSON path, or `xml:TAG` for the text of the first
/// `<TAG>` element (AWS query APIs answer in XML). `None` when absent or null.
pub fn take(a: &Answer, path: &str) -> Option<String> {
    if let Some(tag) = path.strip_prefix("xml:") {
        let text = a.text()?;
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{tag}>"))?;
        let v = text[start..start + len].trim();
        return (!v.is_empty()).then(|| v.to_string());
    }
    json_take(a.json()?, path)
}

/// The value at a JSON path as a string (`None` when absent or null).
pub fn json_take(v: &serde_json::Value, path: &str) -> Option<String> {
    match json_path(v, path)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether an issuer's listing of a key matches the leaked value. `redacted` compares the
/// issuer's hint (`sk-proj-abc…wxyz`, `sk-ant-api03-R2D…igAA`) by its visible head and tail.
pub fn key_matches(mode: &str, listed: &str, value: &str) -> bool {
    match mode {
        "suffix" => !listed.is_empty() && value.ends_with(listed),
        // A hint that is the key's first characters (Entra's three-character `hint`).
        "prefix" => !listed.is_empty() && value.starts_with(listed),
        "redacted" => {
            // `head…tail`, `head...tail`, `head****tail`, or `head…` (no tail shown).
            let norm = listed.replace("...", "…");
            let segs: Vec<&str> = norm.split(['…', '*']).filter(|s| !s.is_empty()).collect();
            let hidden = norm.contains('…') || norm.contains('*');
            let (head, tail) = match segs.as_slice() {
                [h] if hidden && norm.starts_with(h) => (*h, ""),
                [h, .., t] => (*h, *t),
                _ => return listed == value,
            };
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
        _ => listed == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_name_missing_values() {
        let mut v = Vars::default();
        v.set("api", "http://127.0.0.1:9");
        v.set("secret", "s3");
        assert_eq!(
            v.render("{api}/x?t={secret}").unwrap(),
            "http://127.0.0.1:9/x?t=s3"
        );
        assert_eq!(v.render("{ viewer { id } }").unwrap(), "{ viewer { id } }");
        let e = v.render("{admin}/x").unwrap_err().to_string();
        assert!(e.contains("{admin}"), "{e}");
    }

    #[test]
    fn redacted_hints_match_head_and_tail() {
        assert!(key_matches(
            "redacted",
            "sk-proj-abc...wxyz",
            "sk-proj-abcdefwxyz"
        ));
        assert!(key_matches(
            "redacted",
            "sk-ant-api03-R2D…igAA",
            "sk-ant-api03-R2Dxxxxx-igAA"
        ));
        assert!(!key_matches(
            "redacted",
            "sk-proj-abc...wxyz",
            "sk-proj-abcdefwxy0"
        ));
        assert!(key_matches("redacted", "npm_abcdef…", "npm_abcdefghij"));
        assert!(!key_matches("redacted", "…", "anything"));
        assert!(key_matches("suffix", "wxyz", "sk-abcwxyz"));
        assert!(key_matches("prefix", "73T", "73T2Q~NF5FWeg"));
        assert!(!key_matches("prefix", "", "73T2Q~NF5FWeg"));
        assert!(!key_matches("prefix", "74T", "73T2Q~NF5FWeg"));
        assert!(!key_matches("equals", "a", "b"));
    }

    /// Every `[rule.revoke]` in the built-in catalogue parses, so a typo fails here rather than
    /// as an escalation at the moment a key needs killing.
    #[test]
    fn builtin_revoke_recipes_parse() {
        let set = crate::rules::RuleSet::builtin().unwrap();
        let mut n = 0;
        for r in &set.rules {
            if let Some(t) = &r.spec.revoke {
                let recipe = RevokeRecipe::parse(t).unwrap_or_else(|e| panic!("{}: {e:#}", r.spec.id));
                if recipe.authority != Authority::None {
                    n += 1;
                }
            }
        }
        assert!(n >= 30, "only {n} rules have a revocation API recipe");
    }

    #[test]
    fn take_reads_json_paths_and_xml_tags() {
        let answer = |body: &str| Answer {
            status: 200,
            retry_after: None,
            exchange: Exchange {
                status: 200,
                headers: vec![],
                body: body.as_bytes().to_vec(),
                json: serde_json::from_str(body).ok(),
            },
        };
        let a = answer(r#"{"api_key": {"id": "api_key_1"}, "gone": null}"#);
        assert_eq!(take(&a, "api_key.id").as_deref(), Some("api_key_1"));
        assert_eq!(take(&a, "gone"), None);
        assert_eq!(take(&a, "missing"), None);
        let x = answer("<R><Result><UserName> ci </UserName></Result></R>");
        assert_eq!(take(&x, "xml:UserName").as_deref(), Some("ci"));
        assert_eq!(take(&x, "xml:Arn"), None);
        assert_eq!(take(&x, "UserName"), None);
    }

    #[test]
    fn fallbacks_and_find_steps_are_checked_when_parsed() {
        let parse = |t: &str| RevokeRecipe::parse(&toml::from_str(t).unwrap());
        let ok = parse(
            "authority = \"self\"\nurl = \"{api}/x\"\n[fallback]\nauthority = \"admin\"\nurl = \"{api}/y\"\n\
             [fallback.find]\nurl = \"{api}/who\"\ntake = \"xml:UserName\"\n",
        )
        .unwrap();
        assert_eq!(ok.fallback.unwrap().authority, Authority::Admin);
        let e =
            parse("url = \"{api}/x\"\n[fallback]\nauthority = \"self\"\nurl = \"{api}/y\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("must be an admin recipe"), "{e:#}");
        let e = parse("url = \"{api}/x\"\n[find]\nurl = \"{api}/l\"\nitems = \"data\"\ntake = \"id\"\n")
            .unwrap_err();
        assert!(format!("{e:#}").contains("names no `field`"), "{e:#}");
        let e = parse(
            "url = \"{api}/x\"\n[find]\nurl = \"{api}/l\"\nitems = \"data\"\nfield = \"f\"\nmatch = \"fuzzy\"\ntake = \"id\"\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("fuzzy"), "{e:#}");
        let e = parse(
            "url = \"{api}/x\"\n[find]\nurl = \"{api}/l\"\nitems = \"data\"\nfield = \"f\"\ntake = \"id\"\n\
             page = { more = \"has_more\", param = \"after\" }\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("`more`, `cursor` and `param`"), "{e:#}");
        let e = parse(
            "url = \"{api}/x\"\n[find]\nurl = \"{api}/l\"\ntake = \"id\"\n[find.each]\nvar = \"p\"\n\
             url = \"{api}/p\"\nitems = \"data\"\ntake = \"id\"\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("needs the listing's `items`"), "{e:#}");
        let e = parse("url = \"{api}/x/{id}\"\nderive = { id = '^SG\\.[a-z]+' }\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("derive.id needs a capture group"),
            "{e:#}"
        );
        let ok = parse("url = \"{api}/x/{id}\"\nderive = { id = '^SG\\.([A-Za-z0-9_-]{22})\\.' }\n").unwrap();
        let mut v = Vars::default();
        v.derive(&ok.derive, "SG.abcdefghijklmnopqrstuv.rest").unwrap();
        assert_eq!(v.render("{id}").unwrap(), "abcdefghijklmnopqrstuv");
        let e = v
            .derive(&ok.derive, "not-a-sendgrid-key")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("derive.id") && !e.contains("not-a-sendgrid-key"),
            "{e}"
        );
        let e = parse(
            "url = \"{api}/x\"\n[fallback]\nauthority = \"admin\"\nurl = \"{api}/y\"\nheader = { A = \"b\" }\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `header`"), "{e:#}");
    }

    #[test]
    fn session_cuts_and_per_scope_lookups_are_checked_when_parsed() {
        let parse = |t: &str| RevokeRecipe::parse(&toml::from_str(t).unwrap());
        let ok = parse(
            "url = \"{api}/x\"\n[sessions]\nauthority = \"self\"\nurl = \"{api}/cut\"\n\
             [sessions.fallback]\nauthority = \"admin\"\nurl = \"{api}/cut\"\n",
        )
        .unwrap();
        let s = ok.sessions.unwrap();
        assert_eq!(s.fallback.unwrap().authority, Authority::Admin);
        let e = parse(
            "url = \"{api}/x\"\n[sessions]\nurl = \"{api}/cut\"\n[sessions.fallback]\nauthority = \"self\"\nurl = \"{api}/y\"\n",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("[rule.revoke.sessions.fallback] must be an admin recipe"),
            "{e:#}"
        );
        let e = parse("url = \"{api}/x\"\n[sessions]\nauthority = \"none\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("must be one call"), "{e:#}");
        let e = parse(
            "url = \"{api}/x\"\n[fallback]\nauthority = \"admin\"\nurl = \"{api}/y\"\n[fallback.sessions]\nurl = \"{api}/z\"\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("cannot have `sessions`"), "{e:#}");
        // A lookup in each scope needs the status of a scope without the key.
        let ok = parse(
            "url = \"{api}/x\"\n[find]\nurl = \"{api}/{p}/me\"\ntake = \"id\"\ngone = { status = [401] }\n\
             [find.each]\nvar = \"p\"\nurl = \"{api}/p\"\nitems = \"result\"\ntake = \"id\"\n\
             page = { number = \"page\", first = 1, total = \"result_info.total_count\" }\n",
        )
        .unwrap();
        assert_eq!(ok.find.unwrap().each.unwrap().page.unwrap().first, 1);
    }

    #[test]
    fn recipes_parse_with_defaults() {
        let t: toml::Table = toml::from_str(
            "method = \"POST\"\nurl = \"{api}/credentials/revoke\"\nauthority = \"public\"\n\
             json = { credentials = [\"{secret}\"] }\nok = { status = [202] }\n",
        )
        .unwrap();
        let r = RevokeRecipe::parse(&t).unwrap();
        assert_eq!(r.authority, Authority::Public);
        assert_eq!(r.ok_status(), vec![202]);
        let bad: toml::Table = toml::from_str("authority = \"self\"\n").unwrap();
        assert!(RevokeRecipe::parse(&bad).is_err());
    }
}
