//! The issuer registry: which hosts each issuer's keys may be sent to.
//!
//! Defaults are data (`issuers.toml`, embedded); the operator overrides them from `--config`
//! (`[issuers.github] api = "https://ghe.example.com/api/v3"`) and from the environment
//! (`QUENCH_ISSUER_GITHUB_API=…`, which wins). Nothing read from a scanned tree reaches here, so
//! a planted rule or config can never add an endpoint (ARCHITECTURE.md, invariant 2). `quench issuers`
//! prints this table so that an operator can allow-list egress.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use url::Url;

use crate::config::Config;

const BUILTIN: &str = include_str!("issuers.toml");

/// Environment variable prefix for base overrides: `QUENCH_ISSUER_<ISSUER>_<BASE>`.
pub const ENV_PREFIX: &str = "QUENCH_ISSUER_";

const DEFAULT_CONCURRENCY: usize = 8;
const DEFAULT_RATE: f64 = 20.0;

/// Where a base URL came from, for `quench issuers`.
/// Ordered by precedence: a later source overrides an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    Config,
    Env,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Base {
    pub url: String,
    pub source: Source,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuerEntry {
    pub name: String,
    pub why: String,
    /// Base name → URL. An empty URL means "not configured".
    pub bases: BTreeMap<String, Base>,
    /// Host globs that may be taken from scanned data (self-hosted products); such hosts must
    /// resolve to public addresses and be reached over https.
    pub derived_hosts: Vec<String>,
    /// Bases built from what was found next to the key (`site = "https://{part.domain}"` for
    /// an Okta org). Recipes name them like any base; a literal base of the same name in the
    /// config wins, which is how an operator (or the simulator) points them somewhere fixed.
    /// The rendered URL is not a configured base, so it passes the `derived_hosts` check.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub derived_bases: BTreeMap<String, String>,
    /// The issuer's other regional sites (Datadog EU, US3, …; PostHog EU), each a full
    /// replacement for `api`. Some issuers answer a key from another site exactly like a bad
    /// key, so a dead answer on `api` is checked again on each of these (see
    /// [`IssuerEntry::fan_out_sites`]).
    #[serde(skip_serializing_if = "Sites::is_empty")]
    pub sites: Sites,
    pub concurrency: usize,
    /// Requests per second.
    pub rate: f64,
    /// Requests an hour the issuer allows to its public (unauthenticated) revoke endpoints,
    /// e.g. GitHub's `POST /credentials/revoke` at 60. Spent requests are counted in the store,
    /// so the budget holds across runs and processes; jobs past it wait, they do not fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_per_hour: Option<u32>,
}

/// An issuer's regional sites and where the list came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sites {
    pub urls: Vec<String>,
    pub source: Source,
}

impl Sites {
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Parses and checks a list of site URLs (each like a base).
    fn parse<'a>(urls: impl Iterator<Item = &'a str>, source: Source) -> Result<Sites> {
        let mut out = vec![];
        for u in urls.map(str::trim).filter(|u| !u.is_empty()) {
            check_base(u).with_context(|| format!("site {u:?}"))?;
            out.push(u.trim_end_matches('/').to_string());
        }
        Ok(Sites { urls: out, source })
    }
}

impl Default for Sites {
    fn default() -> Self {
        Sites {
            urls: vec![],
            source: Source::Default,
        }
    }
}

/// How a site is named in a verdict and matched back on revocation: its URL without the scheme
/// (`api.datadoghq.eu`, `127.0.0.1:4100/datadog`).
pub fn site_label(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}

impl IssuerEntry {
    /// The sites to try after `api` reads dead: none when `api` was pinned at a higher
    /// precedence than the site list (an operator who sets `api` for their EU org means that
    /// site only, and no key should leave for hosts they did not choose); the list when the
    /// operator set `sites` themselves, at the same level as `api` or above.
    pub fn fan_out_sites(&self) -> &[String] {
        let api = self.bases.get("api").map(|b| &b.source);
        match api {
            Some(src) if !self.sites.is_empty() && self.sites.source >= *src => &self.sites.urls,
            _ => &[],
        }
    }

    /// The site (of those [`IssuerEntry::fan_out_sites`] allows now) whose [`site_label`] is
    /// `label`, so that a label read back from a stored verdict can only ever name a listed site.
    pub fn site_by_label(&self, label: &str) -> Option<&str> {
        self.fan_out_sites()
            .iter()
            .find(|u| site_label(u) == label)
            .map(String::as_str)
    }

    /// Every host a credential may be sent to without coming from scanned data: the
    /// configured bases and the regional sites.
    pub fn allowed_urls(&self) -> impl Iterator<Item = Url> + '_ {
        self.base_urls()
            .map(|(_, u)| u)
            .chain(self.sites.urls.iter().filter_map(|u| Url::parse(u).ok()))
    }

    /// Configured bases as parsed URLs.
    pub fn base_urls(&self) -> impl Iterator<Item = (&str, Url)> + '_ {
        self.bases
            .iter()
            .filter(|(_, b)| !b.url.is_empty())
            .filter_map(|(k, b)| Url::parse(&b.url).ok().map(|u| (k.as_str(), u)))
    }

    /// Sets each derived base that no configured base of the same name already set, rendered
    /// from `vars` (the secret's parts). A derived base whose part was not found stays unset,
    /// so a recipe naming it fails with the missing placeholder's name.
    pub fn set_derived_bases(&self, vars: &mut crate::issuer::Vars) {
        for (name, template) in &self.derived_bases {
            if vars.values.contains_key(name) {
                continue;
            }
            if let Ok(url) = crate::issuer::render(template, vars) {
                vars.set(name.clone(), url.trim_end_matches('/').to_string());
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub issuers: BTreeMap<String, IssuerEntry>,
}

impl Registry {
    /// Built-in defaults, then `[issuers.*]` from the config, then the environment.
    pub fn load(config: &Config) -> Result<Registry> {
        let mut reg = Registry::default();
        let builtin: toml::Table = toml::from_str(BUILTIN).context("built-in issuers.toml")?;
        for (name, v) in builtin {
            let t = v.as_table().cloned().unwrap_or_default();
            reg.apply_table(&name, &t, Source::Default)
                .with_context(|| format!("built-in issuer {name}"))?;
        }
        let section: BTreeMap<String, toml::Table> = config.section("issuers")?;
        for (name, t) in section {
            reg.apply_table(&name, &t, Source::Config)
                .with_context(|| format!("config [issuers.{name}]"))?;
        }
        reg.apply_env(std::env::vars())?;
        Ok(reg)
    }

    fn apply_table(&mut self, name: &str, t: &toml::Table, source: Source) -> Result<()> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("issuer names are letters, digits, `-` and `_`");
        }
        let e = self
            .issuers
            .entry(name.to_string())
            .or_insert_with(|| IssuerEntry {
                name: name.to_string(),
                why: String::new(),
                bases: BTreeMap::new(),
                derived_hosts: vec![],
                derived_bases: BTreeMap::new(),
                sites: Sites::default(),
                concurrency: DEFAULT_CONCURRENCY,
                rate: DEFAULT_RATE,
                revoke_per_hour: None,
            });
        for (k, v) in t {
            match (k.as_str(), v) {
                ("why", toml::Value::String(s)) => e.why = s.clone(),
                ("concurrency", toml::Value::Integer(i)) if *i >= 1 => e.concurrency = *i as usize,
                ("rate", toml::Value::Float(f)) if *f > 0.0 => e.rate = *f,
                ("rate", toml::Value::Integer(i)) if *i > 0 => e.rate = *i as f64,
                ("revoke_per_hour", toml::Value::Integer(i)) if (0..=i64::from(u32::MAX)).contains(i) => {
                    e.revoke_per_hour = Some(*i as u32)
                }
                ("revoke_per_hour", _) => bail!("`revoke_per_hour` must be a whole number of requests, 0 or more"),
                ("sites", toml::Value::Array(a)) => {
                    let urls = a
                        .iter()
                        .map(|x| x.as_str().context("`sites` is a list of URL strings"))
                        .collect::<Result<Vec<_>>>()?;
                    e.sites = Sites::parse(urls.into_iter(), source.clone())?;
                }
                ("sites", _) => bail!("`sites` is a list of URL strings"),
                ("derived_hosts", toml::Value::Array(a)) => {
                    e.derived_hosts = a.iter().filter_map(|x| x.as_str().map(String::from)).collect()
                }
                (base, toml::Value::String(url)) if url.contains('{') => {
                    e.derived_bases.insert(base.to_string(), url.clone());
                }
                (base, toml::Value::String(url)) => {
                    if !url.is_empty() {
                        check_base(url).with_context(|| format!("base `{base}`"))?;
                    }
                    e.bases.insert(
                        base.to_string(),
                        Base {
                            url: url.trim_end_matches('/').to_string(),
                            source: source.clone(),
                        },
                    );
                }
                (k, _) => bail!("unexpected setting `{k}` (bases are URL strings; also why, sites, concurrency, rate, revoke_per_hour, derived_hosts)"),
            }
        }
        Ok(())
    }

    /// `QUENCH_ISSUER_GITHUB_API=…` overrides base `api` of issuer `github`;
    /// `QUENCH_ISSUER_DATADOG_SITES=URL,URL` overrides the site list.
    pub fn apply_env(&mut self, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
        for (k, v) in vars {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let found = self.issuers.values().find_map(|e| {
                let up = e.name.to_ascii_uppercase().replace('-', "_");
                let base = rest.strip_prefix(&up)?.strip_prefix('_')?;
                Some((e.name.clone(), base.to_ascii_lowercase()))
            });
            let Some((issuer, base)) = found else {
                bail!("{k}: no issuer in the registry matches (expected {ENV_PREFIX}<ISSUER>_<BASE>)");
            };
            if base == "sites" {
                let sites = Sites::parse(v.split(','), Source::Env).with_context(|| k.clone())?;
                if let Some(e) = self.issuers.get_mut(&issuer) {
                    e.sites = sites;
                }
                continue;
            }
            if !v.is_empty() {
                check_base(&v).with_context(|| k.clone())?;
            }
            if let Some(e) = self.issuers.get_mut(&issuer) {
                e.bases.insert(
                    base,
                    Base {
                        url: v.trim_end_matches('/').to_string(),
                        source: Source::Env,
                    },
                );
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&IssuerEntry> {
        self.issuers.get(name)
    }

    /// Whether `url` lies under any configured base of any issuer (used for JWT issuers, whose
    /// URL comes from the token itself).
    pub fn configured_anywhere(&self, url: &Url) -> bool {
        self.issuers
            .values()
            .any(|e| e.base_urls().any(|(_, b)| under(url, &b)))
    }
}

/// A base URL must be https, or plain http to a loopback address (the simulator, a test).
pub fn check_base(url: &str) -> Result<()> {
    let u = Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&u) => Ok(()),
        "http" => bail!("plain http is only allowed to loopback addresses; use https"),
        s => bail!("scheme {s:?} is not allowed; use https"),
    }
}

pub fn is_loopback_host(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Same scheme, host and port, and the path continues the base's path at a segment boundary.
pub fn under(url: &Url, base: &Url) -> bool {
    if url.scheme() != base.scheme()
        || url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return false;
    }
    let bp = base.path().trim_end_matches('/');
    let p = url.path();
    p == bp || bp.is_empty() || p.starts_with(&format!("{bp}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_bases_render_from_parts_unless_configured() {
        let cfg = |t: &str| Config {
            table: toml::from_str(t).unwrap(),
            files: vec![],
        };
        let reg = Registry::load(&cfg("")).unwrap();
        let okta = reg.get("okta").unwrap();
        let mut v = crate::issuer::Vars::default();
        v.set("part.domain", "acme.okta.com");
        okta.set_derived_bases(&mut v);
        assert_eq!(v.values["site"], "https://acme.okta.com");
        // Without the part the base stays unset, so a recipe naming it fails by name.
        let mut empty = crate::issuer::Vars::default();
        okta.set_derived_bases(&mut empty);
        assert!(!empty.values.contains_key("site"));
        // A configured base of the same name wins.
        let reg = Registry::load(&cfg("[issuers.okta]\nsite = \"http://127.0.0.1:9/okta\"\n")).unwrap();
        let okta = reg.get("okta").unwrap();
        let mut v = crate::issuer::Vars::default();
        for (k, b) in &okta.bases {
            v.set(k.clone(), b.url.clone());
        }
        v.set("part.domain", "acme.okta.com");
        okta.set_derived_bases(&mut v);
        assert_eq!(v.values["site"], "http://127.0.0.1:9/okta");
    }

    #[test]
    fn sites_fan_out_unless_api_is_pinned_above_them() {
        let cfg = |t: &str| Config {
            table: toml::from_str(t).unwrap(),
            files: vec![],
        };
        let default = Registry::load(&cfg("")).unwrap();
        let dd = default.get("datadog").unwrap();
        assert!(dd
            .fan_out_sites()
            .contains(&"https://api.datadoghq.eu".to_string()));
        assert_eq!(
            dd.site_by_label("api.datadoghq.eu"),
            Some("https://api.datadoghq.eu")
        );
        assert_eq!(dd.site_by_label("evil.example.com"), None);
        // `api` in the config, `sites` left default: that site only.
        let pinned = Registry::load(&cfg("[issuers.datadog]\napi = \"https://api.datadoghq.eu\"\n")).unwrap();
        let dd = pinned.get("datadog").unwrap();
        assert!(dd.fan_out_sites().is_empty());
        assert_eq!(dd.site_by_label("api.datadoghq.eu"), None);
        // Both in the config: the operator's list.
        let both =
            "[issuers.datadog]\napi = \"http://127.0.0.1:9/us\"\nsites = [\"http://127.0.0.1:9/eu/\"]\n";
        let mut reg = Registry::load(&cfg(both)).unwrap();
        assert_eq!(
            reg.get("datadog").unwrap().fan_out_sites(),
            ["http://127.0.0.1:9/eu"]
        );
        // An `api` from the environment outranks sites from the config.
        reg.apply_env(vec![("QUENCH_ISSUER_DATADOG_API".into(), "http://127.0.0.1:9/x".into())].into_iter())
            .unwrap();
        assert!(reg.get("datadog").unwrap().fan_out_sites().is_empty());
        reg.apply_env(
            vec![(
                "QUENCH_ISSUER_DATADOG_SITES".into(),
                "http://127.0.0.1:9/a,http://127.0.0.1:9/b".into(),
            )]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(reg.get("datadog").unwrap().fan_out_sites().len(), 2);
        // Sites are checked like bases.
        let bad = Registry::load(&cfg("[issuers.datadog]\nsites = [\"http://example.com\"]\n")).unwrap_err();
        assert!(format!("{bad:#}").contains("http://example.com"), "{bad:#}");
    }

    #[test]
    fn env_overrides_config_and_defaults() {
        let mut reg = Registry::load(&Config::default()).unwrap();
        reg.apply_env(
            vec![(
                "QUENCH_ISSUER_GITHUB_API".to_string(),
                "http://127.0.0.1:9/gh".to_string(),
            )]
            .into_iter(),
        )
        .unwrap();
        let b = &reg.get("github").unwrap().bases["api"];
        assert_eq!(b.url, "http://127.0.0.1:9/gh");
        assert_eq!(b.source, Source::Env);
        assert!(reg
            .apply_env(vec![("QUENCH_ISSUER_GITHUB_API".into(), "http://example.com".into())].into_iter())
            .is_err());
    }

    #[test]
    fn under_respects_segments() {
        let b = Url::parse("http://127.0.0.1:5/github").unwrap();
        assert!(under(&Url::parse("http://127.0.0.1:5/github/user").unwrap(), &b));
        assert!(!under(
            &Url::parse("http://127.0.0.1:5/githubx/user").unwrap(),
            &b
        ));
        assert!(!under(&Url::parse("http://127.0.0.1:6/github/user").unwrap(), &b));
    }
}
