//! Declarative HTTP recipes: the `[rule.verify]` table of a rule (and, with `ok` matchers, a
//! `[rule.revoke]` table). A recipe says how to build one request from the secret, its parts and
//! the issuer's configured base URLs, and how to read a verdict and an identity from the answer.
//!
//! ```toml
//! [rule.verify]
//! url = "{api}/user"
//! headers = { Authorization = "Bearer {secret}" }
//! live = { status = [200] }
//! dead = { status = [401] }
//! identity = { principal = "json:login", scopes = "header:x-oauth-scopes" }
//! ```
//!
//! The request keys and their templates are [`crate::issuer::call`]'s, shared with revocation.
//! Placeholders here are `{secret}`, `{part.NAME}`, `{capture.NAME}` (a value captured by an
//! earlier step) and the issuer's base names (`{api}`, `{sts}`…).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::issuer::call::{deserialize_with_call, Call};

/// Which verifier runs the recipe. Most are plain HTTP; the rest need code (signatures, tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Http,
    /// AWS STS GetCallerIdentity signed with SigV4 (key id = secret's `id` part or the match).
    AwsSigv4,
    /// Local JWT decode, expiry, and a JWKS signature check when the issuer allows it.
    Jwt,
    /// Sign an RS256 app JWT with the leaked private key and call `GET /app`.
    GithubApp,
    /// Google service-account key: JWT-bearer exchange at the token endpoint.
    GoogleServiceAccount,
    /// OAuth client id + secret at a token endpoint (client-credentials grant).
    OauthClientCredentials,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::AwsSigv4 => "aws-sigv4",
            Kind::Jwt => "jwt",
            Kind::GithubApp => "github-app",
            Kind::GoogleServiceAccount => "google-service-account",
            Kind::OauthClientCredentials => "oauth-client-credentials",
        }
    }
}

/// A recipe as written in a rule file: the request ([`Call`]) and how to read the answer. Every
/// field is optional so that special verifiers can use the few they need; [`Recipe::check`] says
/// which combinations make sense.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Recipe {
    /// The request keys (`method`, default GET; `url`, `headers`, `query`, a body, `basic`),
    /// read from the same table by [`crate::issuer::call::split`].
    #[serde(skip)]
    pub call: Call,
    #[serde(default)]
    pub kind: Kind,
    /// What proves the key valid (verify). Default: status 200.
    #[serde(default)]
    pub live: Option<Matchers>,
    /// What proves it invalid (verify). Default: status 401.
    #[serde(default)]
    pub dead: Option<Matchers>,
    /// Answers that say nothing either way, checked before `dead` (Slack's `invalid_auth`:
    /// a bad token, or a good one used from an IP address it does not allow).
    #[serde(default)]
    pub indeterminate: Option<Matchers>,
    /// What a successful call looks like (revoke recipes).
    #[serde(default)]
    pub ok: Option<Matchers>,
    /// Where the identity fields are in the answer.
    #[serde(default)]
    pub identity: IdentitySpec,
    /// Extra values to keep from the answer (`name = "json:path"`), for reports or later steps.
    #[serde(default)]
    pub captures: BTreeMap<String, String>,
    /// The answer is not JSON (do not treat a non-JSON body as a WAF page).
    #[serde(default)]
    pub text: bool,
    /// oauth-client-credentials / google-service-account: the token endpoint template.
    #[serde(default)]
    pub token_url: Option<String>,
    /// oauth-client-credentials / google-service-account: the scope to ask for.
    #[serde(default)]
    pub scope: Option<String>,
    /// oauth-client-credentials: the client id template (default `{part.client_id}`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// oauth-client-credentials: send the client as HTTP Basic instead of form fields.
    #[serde(default)]
    pub client_auth_basic: bool,
    /// aws-sigv4: signing region (default us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// oauth-client-credentials: where the client secret's own expiry is read, with the token
    /// just minted (the token's `exp` is its hour, not the secret's).
    #[serde(default)]
    pub secret_expiry: Option<SecretExpiry>,
}

/// A lookup of the client secret's own expiry (Entra: the app registration's
/// `passwordCredentials`, each with the secret's first characters as `hint` and its
/// `endDateTime`): a GET with `Authorization: Bearer {token}`, the list at `items`, the entry
/// whose `hint` starts the secret, its `take`. Only one entry may match; an app that may not
/// read its own registration leaves the expiry unknown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretExpiry {
    pub url: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    pub items: String,
    pub hint: String,
    pub take: String,
}

deserialize_with_call!(Recipe);

/// One matcher or a list (any of them matches).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Matchers {
    One(Matcher),
    Many(Vec<Matcher>),
}

impl Matchers {
    pub fn any(&self, ex: &Exchange) -> bool {
        match self {
            Matchers::One(m) => m.matches(ex),
            Matchers::Many(v) => v.iter().any(|m| m.matches(ex)),
        }
    }
    pub fn status(codes: &[u16]) -> Matchers {
        Matchers::One(Matcher {
            status: codes.to_vec(),
            ..Default::default()
        })
    }
}

/// Every condition given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub status: Vec<u16>,
    /// JSON path → expected value.
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    /// JSON paths that must be present (and not null).
    #[serde(default)]
    pub json_present: Vec<String>,
    /// Header name → substring its value must contain.
    #[serde(default)]
    pub header: BTreeMap<String, String>,
    /// Substring the body must contain.
    #[serde(default)]
    pub body: Option<String>,
}

/// Where each identity field comes from: `json:PATH`, `header:NAME`, `const:TEXT`. A `json:`
/// path is dot-separated; `*` maps over an array (`json:access_scopes.*.handle`) or an
/// object's values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub scopes: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    /// Overrides the rule's identity model from the answer (`user`/`organization`/`bot`/…).
    #[serde(default)]
    pub model: Option<String>,
}

/// An issuer's answer, as matchers and extractors see it.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub json: Option<serde_json::Value>,
}

impl Exchange {
    /// An issuer's answer as recipes read it: lower-cased header names, the body, and the body
    /// as JSON when it is JSON. The one conversion verification and revocation both use.
    pub fn from_response(resp: crate::issuer::client::Response) -> Exchange {
        let headers = resp
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let json = serde_json::from_slice(&resp.body).ok();
        Exchange {
            status: resp.status.as_u16(),
            headers,
            body: resp.body,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body looks like an HTML page (a WAF, a captcha, a login or error page).
    pub fn is_html(&self) -> bool {
        let ct = self.header("content-type").unwrap_or("");
        if ct.contains("text/html") {
            return true;
        }
        let head: Vec<u8> = self
            .body
            .iter()
            .copied()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(15)
            .collect();
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        head.starts_with("<!doctype html") || head.starts_with("<html")
    }
}

impl Matcher {
    pub fn matches(&self, ex: &Exchange) -> bool {
        if !self.status.is_empty() && !self.status.contains(&ex.status) {
            return false;
        }
        for (path, want) in &self.json {
            let got = ex.json.as_ref().map(|j| json_path(j, path)).unwrap_or_default();
            if !got.iter().any(|v| json_eq(v, want)) {
                return false;
            }
        }
        for path in &self.json_present {
            let got = ex.json.as_ref().map(|j| json_path(j, path)).unwrap_or_default();
            if got.iter().all(|v| v.is_null()) {
                return false;
            }
        }
        for (name, needle) in &self.header {
            match ex.header(name) {
                Some(v) if v.contains(needle.as_str()) => {}
                _ => return false,
            }
        }
        if let Some(needle) = &self.body {
            if !String::from_utf8_lossy(&ex.body).contains(needle.as_str()) {
                return false;
            }
        }
        true
    }
}

fn json_eq(v: &serde_json::Value, want: &toml::Value) -> bool {
    match (v, want) {
        (serde_json::Value::String(a), toml::Value::String(b)) => a == b,
        (serde_json::Value::Bool(a), toml::Value::Boolean(b)) => a == b,
        (serde_json::Value::Number(a), toml::Value::Integer(b)) => a.as_i64() == Some(*b),
        (serde_json::Value::Number(a), toml::Value::Float(b)) => a.as_f64() == Some(*b),
        _ => false,
    }
}

/// Every value at a dot-separated path; `*` fans out over arrays and over an object's values
/// (GitLab's `permissions.*.access_level`), numbers index arrays.
pub fn json_path<'a>(root: &'a serde_json::Value, path: &str) -> Vec<&'a serde_json::Value> {
    let mut cur = vec![root];
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let mut next = Vec::new();
        for v in cur {
            match (seg, v) {
                ("*", serde_json::Value::Array(a)) => next.extend(a.iter()),
                ("*", serde_json::Value::Object(m)) => next.extend(m.values()),
                (_, serde_json::Value::Array(a)) => {
                    if let Ok(i) = seg.parse::<usize>() {
                        next.extend(a.get(i));
                    }
                }
                (_, serde_json::Value::Object(m)) => next.extend(m.get(seg)),
                _ => {}
            }
        }
        cur = next;
    }
    cur
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the values an extractor (`json:…`, `header:…`, `const:…`) names in an answer.
pub fn extract(spec: &str, ex: &Exchange) -> Vec<String> {
    if let Some(path) = spec.strip_prefix("json:") {
        let Some(j) = &ex.json else { return vec![] };
        let mut out = Vec::new();
        for v in json_path(j, path) {
            match v {
                serde_json::Value::Array(a) => out.extend(a.iter().filter_map(scalar)),
                v => out.extend(scalar(v)),
            }
        }
        out
    } else if let Some(name) = spec.strip_prefix("header:") {
        ex.header(name).map(|v| vec![v.to_string()]).unwrap_or_default()
    } else if let Some(c) = spec.strip_prefix("const:") {
        vec![c.to_string()]
    } else {
        vec![]
    }
}

/// The first value an extractor finds, non-empty.
pub fn extract_one(spec: Option<&String>, ex: &Exchange) -> Option<String> {
    let spec = spec?;
    extract(spec, ex).into_iter().find(|s| !s.is_empty())
}

/// Scopes: a list from JSON, or a comma/space separated header.
pub fn extract_list(spec: Option<&String>, ex: &Exchange) -> Vec<String> {
    let Some(spec) = spec else { return vec![] };
    extract(spec, ex)
        .iter()
        .flat_map(|s| {
            s.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        })
        .collect()
}

impl Recipe {
    /// Structural checks made when a rule file loads, so that a broken recipe names its rule.
    pub fn check(&self) -> Result<(), String> {
        match self.kind {
            Kind::Http => {
                if self.call.url.is_none() {
                    return Err("verify: an http recipe needs `url`".into());
                }
            }
            Kind::OauthClientCredentials | Kind::GoogleServiceAccount => {
                if self.token_url.is_none() {
                    return Err(format!(
                        "verify: a {} recipe needs `token_url`",
                        self.kind.as_str()
                    ));
                }
            }
            Kind::AwsSigv4 | Kind::Jwt | Kind::GithubApp => {}
        }
        self.call.check().map_err(|e| format!("verify: {e}"))?;
        for spec in [
            &self.identity.principal,
            &self.identity.org,
            &self.identity.project,
            &self.identity.scopes,
            &self.identity.expires,
            &self.identity.key_id,
            &self.identity.model,
        ]
        .into_iter()
        .flatten()
        .chain(self.captures.values())
        {
            if !(spec.starts_with("json:") || spec.starts_with("header:") || spec.starts_with("const:")) {
                return Err(format!(
                    "verify: extractor {spec:?} must start with json:, header: or const:"
                ));
            }
        }
        Ok(())
    }

    pub fn live_matchers(&self) -> Matchers {
        self.live.clone().unwrap_or_else(|| Matchers::status(&[200]))
    }

    pub fn dead_matchers(&self) -> Matchers {
        self.dead.clone().unwrap_or_else(|| Matchers::status(&[401]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_fan_out() {
        let j: serde_json::Value = serde_json::json!({"a": [{"h": "x"}, {"h": "y"}], "b": {"c": 1}});
        let ex = Exchange {
            json: Some(j),
            ..Default::default()
        };
        assert_eq!(extract("json:a.*.h", &ex), vec!["x", "y"]);
        assert_eq!(extract("json:b.c", &ex), vec!["1"]);
        assert_eq!(extract("json:a.1.h", &ex), vec!["y"]);
        let j = serde_json::json!({"p": {"project_access": null, "group_access": {"level": 40}}});
        let ex = Exchange {
            json: Some(j),
            ..Default::default()
        };
        assert_eq!(extract("json:p.*.level", &ex), vec!["40"]);
    }
}
