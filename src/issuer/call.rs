//! One HTTP request as a template: the request keys a `[rule.verify]` and a `[rule.revoke]` table
//! (and a revoke recipe's `find` step) share, the placeholders they are written with, and the
//! rendering of both into a [`Prepared`] request.
//!
//! ```toml
//! method = "POST"                                   # default: GET to verify, POST to revoke
//! url = "{api}/credentials/revoke"                  # must resolve under an issuer base
//! headers = { Authorization = "Bearer {secret}" }
//! query = { key = "{secret}" }                      # appended to the URL
//! json = { credentials = ["{secret}"] }             # or `form = {…}`, or `body = "…"`
//! basic = ["{part.client_id}", "{secret}"]          # HTTP Basic user and password
//! ```
//!
//! Placeholders are bare names in braces (`{secret}`, `{part.NAME}`, `{api}`…); `{base64:X}`
//! base64-encodes a value. Text in braces that is not a bare name (a GraphQL query) is left alone.

use std::collections::BTreeMap;

use base64::Engine as _;
use reqwest::Method;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use url::Url;

/// The request keys of a recipe table. Every one is optional: a recipe names what its call needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// HTTP method; the default depends on what the call is for (see [`Call::prepare`]).
    #[serde(default)]
    pub method: Option<String>,
    /// URL template; must resolve under one of the issuer's configured base URLs.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters appended to the URL.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// `application/x-www-form-urlencoded` body.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// JSON body; strings inside are templates.
    #[serde(default)]
    pub json: Option<toml::Value>,
    /// Raw body template.
    #[serde(default)]
    pub body: Option<String>,
    /// HTTP Basic credentials: `[user, password]` templates.
    #[serde(default)]
    pub basic: Option<[String; 2]>,
}

/// The methods a recipe may name.
const METHODS: [&str; 6] = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE"];

impl Call {
    /// The keys of [`Call`] as written in a recipe table.
    pub const KEYS: [&'static str; 8] = [
        "method", "url", "headers", "query", "form", "json", "body", "basic",
    ];

    /// Structural checks made when a rule loads: a known method, at most one body.
    pub fn check(&self) -> Result<(), String> {
        if let Some(m) = &self.method {
            if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
                return Err(format!(
                    "unknown method {m:?} (expected one of {})",
                    METHODS.join(", ")
                ));
            }
        }
        let bodies = self.json.is_some() as u8 + self.body.is_some() as u8 + (!self.form.is_empty()) as u8;
        if bodies > 1 {
            return Err("give at most one of `json`, `form`, `body`".into());
        }
        Ok(())
    }

    /// The method to send, upper-cased; `default` when the recipe names none.
    pub fn method_or(&self, default: &str) -> String {
        self.method.as_deref().unwrap_or(default).to_ascii_uppercase()
    }

    /// Renders the request. `url_template` is the URL to render (the call's `url`, or a token
    /// exchange's `token_url`); `default_method` applies when the recipe names none. An error
    /// names the placeholder or the part that cannot be built, never a value.
    pub fn prepare(&self, url_template: &str, default_method: &str, vars: &Vars) -> Result<Prepared, String> {
        let mut url =
            Url::parse(&render(url_template, vars)?).map_err(|e| format!("recipe URL is invalid: {e}"))?;
        if !self.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &self.query {
                q.append_pair(k, &render(v, vars)?);
            }
        }
        let method = Method::from_bytes(self.method_or(default_method).as_bytes())
            .map_err(|_| "recipe method is invalid".to_string())?;
        let mut headers = Vec::new();
        for (k, v) in &self.headers {
            headers.push((k.clone(), render(v, vars)?));
        }
        let body = if let Some(j) = &self.json {
            let v = render_json(j, vars)?;
            Some((serde_json::to_vec(&v).unwrap_or_default(), "application/json"))
        } else if !self.form.is_empty() {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.form {
                s.append_pair(k, &render(v, vars)?);
            }
            Some((s.finish().into_bytes(), "application/x-www-form-urlencoded"))
        } else if let Some(b) = &self.body {
            Some((render(b, vars)?.into_bytes(), "text/plain"))
        } else {
            None
        };
        let basic = match &self.basic {
            Some([u, p]) => Some((render(u, vars)?, render(p, vars)?)),
            None => None,
        };
        Ok(Prepared {
            method,
            url,
            headers,
            body,
            basic,
        })
    }
}

/// Reads a recipe table that holds a [`Call`]'s keys beside its owner's own keys.
///
/// serde's `flatten` would read such a table, but serde does not support it together with
/// `deny_unknown_fields`, and a misspelt key in a recipe must be an error, not a silently
/// different request. So the call's keys are taken out and read as a [`Call`], and the rest is
/// read by `own`: the owner's derived deserialiser (`#[serde(remote = "Self")]`), which keeps
/// rejecting unknown keys. Owners implement `Deserialize` with `deserialize_with_call!`.
pub fn split<'de, D, T>(
    d: D,
    own: fn(toml::Value) -> Result<T, toml::de::Error>,
) -> Result<(Call, T), D::Error>
where
    D: Deserializer<'de>,
{
    let mut table = toml::Table::deserialize(d)?;
    let call: toml::Table = Call::KEYS
        .iter()
        .filter_map(|k| Some((k.to_string(), table.remove(*k)?)))
        .collect();
    let call = Call::deserialize(toml::Value::Table(call)).map_err(D::Error::custom)?;
    let own = own(toml::Value::Table(table)).map_err(|e| {
        // The owner's message lists only its own keys; the request keys are valid too. (A
        // nested recipe's message, `find`'s, already says so.)
        let mut msg = e.to_string().trim_end().to_string();
        if msg.starts_with("unknown field") && !msg.contains("a request key") {
            let end = msg.find('\n').unwrap_or(msg.len());
            msg.insert_str(end, &format!(", or a request key: `{}`", Call::KEYS.join("`, `")));
        }
        D::Error::custom(msg)
    })?;
    Ok((call, own))
}

/// Implements `Deserialize` for a recipe struct that carries its request in a
/// `#[serde(skip)] call: Call` field and derives the rest with
/// `#[derive(Deserialize)] #[serde(remote = "Self", deny_unknown_fields)]` (see [`split`]).
macro_rules! deserialize_with_call {
    ($owner:ty) => {
        impl<'de> serde::Deserialize<'de> for $owner {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // `<$owner>::deserialize` is the inherent function the remote derive made.
                let (call, own) = $crate::issuer::call::split(d, <$owner>::deserialize)?;
                Ok(Self { call, ..own })
            }
        }
    };
}
pub(crate) use deserialize_with_call;

/// A rendered request, not yet sent. Its `Debug` never shows header values or the body.
#[derive(Clone)]
pub struct Prepared {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    /// The body and the content type it is sent with unless a header names another.
    pub body: Option<(Vec<u8>, &'static str)>,
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url.host_str().unwrap_or(""))
    }
}

impl Prepared {
    /// The request on `client`: headers (with `user_agent` unless the recipe sets its own),
    /// Basic credentials, then the body with its content type.
    pub fn request(self, client: &reqwest::Client, user_agent: &str) -> reqwest::RequestBuilder {
        let mut rb = client.request(self.method, self.url);
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            rb = rb.header("user-agent", user_agent);
        }
        if let Some((u, p)) = &self.basic {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some((body, ct)) = self.body {
            if !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                rb = rb.header("content-type", ct);
            }
            rb = rb.body(body);
        }
        rb
    }
}

/// Values a template may name. They are secrets or derived from them, so `Debug` shows the
/// names only.
#[derive(Clone, Default)]
pub struct Vars {
    /// `secret`, `part.NAME`, `capture.NAME`, base names, and what revocation adds.
    pub values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vars {
    pub fn set(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.values.insert(k.into(), v.into());
    }
}

/// Fills `{name}` placeholders. An unknown name is an error (a recipe that silently sent
/// `{part.tenant}` literally would be a wrong request, not a verdict); the error names the
/// placeholder, never a value.
pub fn render(template: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        match name {
            Some(n)
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c)) =>
            {
                let (enc, key) = match n.strip_prefix("base64:") {
                    Some(k) => (true, k),
                    None => (false, n),
                };
                let v = vars
                    .values
                    .get(key)
                    .ok_or_else(|| format!("placeholder {{{key}}} has no value"))?;
                if enc {
                    out.push_str(&base64::engine::general_purpose::STANDARD.encode(v));
                } else {
                    out.push_str(v);
                }
                rest = &after[n.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders the strings inside a TOML value into JSON.
pub fn render_json(v: &toml::Value, vars: &Vars) -> Result<serde_json::Value, String> {
    Ok(match v {
        toml::Value::String(s) => serde_json::Value::String(render(s, vars)?),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(|x| render_json(x, vars)).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, x)| Ok((k.clone(), render_json(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_names_and_leaves_graphql_alone() {
        let mut v = Vars::default();
        v.set("secret", "abc");
        v.set("api", "https://x");
        assert_eq!(render("{api}/u?k={secret}", &v).unwrap(), "https://x/u?k=abc");
        assert_eq!(render("{ viewer { id } }", &v).unwrap(), "{ viewer { id } }");
        assert_eq!(render("{base64:secret}", &v).unwrap(), "YWJj");
        assert!(render("{part.x}", &v).unwrap_err().contains("part.x"));
    }

    #[test]
    fn prepare_renders_every_part_of_the_request() {
        let call: Call = toml::from_str(
            "url = \"{api}/keys\"\nquery = { q = \"{secret}\" }\nheaders = { X-Key = \"{secret}\" }\n\
             form = { token = \"{secret}\" }\nbasic = [\"u\", \"{secret}\"]\n",
        )
        .unwrap();
        let mut v = Vars::default();
        v.set("secret", "a b");
        v.set("api", "http://127.0.0.1:9");
        let p = call.prepare(call.url.as_deref().unwrap(), "POST", &v).unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(p.url.as_str(), "http://127.0.0.1:9/keys?q=a+b");
        assert_eq!(p.headers, vec![("X-Key".to_string(), "a b".to_string())]);
        let (body, ct) = p.body.unwrap();
        assert_eq!(
            (body.as_slice(), ct),
            (&b"token=a+b"[..], "application/x-www-form-urlencoded")
        );
        assert_eq!(p.basic, Some(("u".into(), "a b".into())));
        let get = Call {
            method: Some("delete".into()),
            ..call
        };
        assert_eq!(get.prepare("{api}/k", "GET", &v).unwrap().method, Method::DELETE);
        let e = get.prepare("{admin}/k", "GET", &v).unwrap_err();
        assert!(e.contains("{admin}") && !e.contains("a b"), "{e}");
    }
}
