//! Egress rules: where a credential may be sent. Every request quench makes with a secret
//! passes through [`check`] first.
//!
//! - A URL under one of the issuer's configured bases or regional sites is allowed (the operator
//!   chose it, even if it is loopback or private: a GitHub Enterprise Server on the LAN, the
//!   simulator).
//! - A URL whose host came from scanned data (a self-hosted issuer named next to the key, a JWT's
//!   `iss`, a JWKS URL) must be https, must match the issuer's `derived_hosts` globs (or, for JWT,
//!   be the token's own issuer host), and every address it resolves to must be public. The
//!   checked addresses are pinned for the request, so a DNS answer cannot change in between.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::registry::{under, IssuerEntry, Registry};

/// Where a checked request may go.
#[derive(Debug, Clone)]
pub enum Target {
    /// Under a configured base: connect normally.
    Configured,
    /// Derived from data: connect only to these pre-resolved public addresses.
    Pinned { host: String, addrs: Vec<SocketAddr> },
}

/// https anywhere; plain http only to a loopback address (the simulator, tests). Every request
/// that carries a secret or a finding passes this first: issuer calls through [`check`],
/// notification webhooks directly.
pub fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "refusing to send a secret over plain HTTP to {}",
                    url.host_str().unwrap_or("?")
                ))
            }
        }
        s => Err(format!("refusing URL scheme {s:?}")),
    }
}

/// Checks a rendered URL for `issuer`. Errors name the host, never the full URL (which may
/// carry the secret in its path or query).
pub async fn check(url: &Url, issuer: &IssuerEntry) -> Result<Target, String> {
    check_scheme(url)?;
    if issuer.allowed_urls().any(|b| under(url, &b)) {
        return Ok(Target::Configured);
    }
    let host = url.host_str().unwrap_or("").to_string();
    if !issuer.derived_hosts.iter().any(|g| glob_host(g, &host)) {
        return Err(format!(
            "refused to send a {} credential to {host}: not one of the issuer's configured hosts",
            issuer.name
        ));
    }
    pin_public(url).await
}

/// Checks a URL taken from a token (a JWT issuer or its JWKS): allowed if under any configured
/// issuer base, else https to public addresses only.
pub async fn check_derived(url: &Url, registry: &Registry) -> Result<Target, String> {
    if registry.configured_anywhere(url) {
        return Ok(Target::Configured);
    }
    pin_public(url).await
}

async fn pin_public(url: &Url) -> Result<Target, String> {
    let host = url.host_str().unwrap_or("").to_string();
    if url.scheme() != "https" {
        return Err(format!(
            "refused {host}: a host taken from scanned data must use https"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
        None => return Err("refused: URL without a host".into()),
    };
    if addrs.is_empty() {
        return Err(format!("cannot resolve {host}"));
    }
    if let Some((bad, why)) = addrs
        .iter()
        .find_map(|a| super::addrs::special(a.ip()).map(|why| (a.ip(), why)))
    {
        return Err(format!(
            "refused {host}: it resolves to non-public address {bad} ({why})"
        ));
    }
    Ok(Target::Pinned { host, addrs })
}

/// `*.okta.com` matches `acme.okta.com` (not `okta.com` itself); other globs match exactly.
fn glob_host(glob: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match glob.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(&suffix.to_ascii_lowercase())
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => glob.eq_ignore_ascii_case(&host),
    }
}

pub use super::addrs::is_public;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let ok = |u: &str| check_scheme(&u.parse().unwrap()).is_ok();
        assert!(ok("http://127.0.0.1:80/x"));
        assert!(ok("http://[::1]:80/x"));
        assert!(ok("https://api.github.com/x"));
        assert!(!ok("http://api.github.com/x"));
        assert!(!ok("file:///etc/passwd"));
    }

    #[test]
    fn private_ranges_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        assert!(is_public("140.82.112.3".parse().unwrap()));
    }

    #[test]
    fn host_globs() {
        assert!(glob_host("*.okta.com", "acme.okta.com"));
        assert!(!glob_host("*.okta.com", "okta.com"));
        assert!(!glob_host("*.okta.com", "evilokta.com"));
    }
}
