//! `quench issuers`: every host quench may send a credential to, and why — the egress
//! allow-list an operator needs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Result;
use clap::Args;

use crate::config::Config;
use crate::issuer::registry::Source;
use crate::rules::RuleSet;
use crate::verify::Registry;

#[derive(Args)]
pub struct IssuersCmd {
    /// Operator configuration file; repeatable, later files override earlier ones.
    #[arg(long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Extra rules (counted in the RULES column).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl IssuersCmd {
    pub fn run(self) -> Result<i32> {
        let config = Config::load(&self.config)?;
        let registry = Registry::load(&config)?;
        let mut rules = RuleSet::builtin()?;
        for p in &self.rules {
            rules.add_path(p)?;
        }
        let mut uses: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in &rules.rules {
            if r.spec.verify.is_some() || r.spec.revoke.is_some() {
                uses.entry(r.spec.issuer.as_str())
                    .or_default()
                    .push(r.spec.id.as_str());
            }
        }
        if self.json {
            let rows: Vec<_> = registry
                .issuers
                .values()
                .map(|e| {
                    serde_json::json!({
                        "issuer": e.name, "why": e.why, "bases": e.bases, "sites": e.sites.urls, "derived_hosts": e.derived_hosts,
                        "concurrency": e.concurrency, "rate_per_sec": e.rate, "revoke_per_hour": e.revoke_per_hour,
                        "rules": uses.get(e.name.as_str()).cloned().unwrap_or_default(),
                    })
                })
                .collect();
            return print(&format!("{}\n", serde_json::to_string_pretty(&rows)?));
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:<44} {:<8} {:>5}  WHY",
            "ISSUER", "BASE", "URL", "SOURCE", "RULES"
        );
        for e in registry.issuers.values() {
            let n = uses.get(e.name.as_str()).map_or(0, Vec::len);
            for (base, b) in &e.bases {
                let url = if b.url.is_empty() {
                    "(not configured)"
                } else {
                    b.url.as_str()
                };
                let src = source_name(&b.source);
                let _ = writeln!(
                    out,
                    "{:<12} {:<8} {:<44} {:<8} {:>5}  {}",
                    e.name, base, url, src, n, e.why
                );
            }
            for site in &e.sites.urls {
                let _ = writeln!(
                    out,
                    "{:<12} {:<8} {:<44} {:<8} {:>5}  regional site, tried when api reads dead",
                    e.name,
                    "site",
                    site,
                    source_name(&e.sites.source),
                    n
                );
            }
            for g in &e.derived_hosts {
                let _ = writeln!(
                    out,
                    "{:<12} {:<8} {:<44} {:<8} {:>5}  host named next to the key; https and public addresses only",
                    e.name, "derived", g, "default", n
                );
            }
        }
        let _ = writeln!(
            out,
            "\nAlso: a JWT's own `iss` (https, public addresses only) for OpenID discovery and its JWKS on the same host."
        );
        let _ = writeln!(out, "Override a base with [issuers.NAME] BASE = \"https://…\" in --config, or QUENCH_ISSUER_NAME_BASE.");
        print(&out)
    }
}

/// Writes to standard output; a closed pipe (`quench issuers | head`) is not an error.
fn print(s: &str) -> Result<i32> {
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(super::EXIT_CLEAN),
    }
}

fn source_name(s: &Source) -> &'static str {
    match s {
        Source::Default => "default",
        Source::Config => "config",
        Source::Env => "env",
    }
}
