//! Facts a secret tells about itself without a network call: a JWT's issuer, subject and
//! expiry; the organisation and user ids inside a GitLab routable token. They are reported even
//! with verification off, and an expired short-lived token is marked as such.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Offline details for a secret, keyed for the report's `details` object.
pub fn details(secret: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    if secret.starts_with(b"eyJ") || secret.starts_with(b"ewo") {
        jwt(secret, &mut out);
    } else if secret.starts_with(b"glpat-") || secret.starts_with(b"glrt-") {
        gitlab_routable(secret, &mut out);
    }
    out
}

fn b64url(seg: &[u8]) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = seg.iter().copied().filter(|&b| b != b'=').collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
}

fn jwt(secret: &[u8], out: &mut Map<String, Value>) {
    let mut parts = secret.split(|&b| b == b'.');
    let (Some(h), Some(c)) = (parts.next(), parts.next()) else {
        return;
    };
    if let Some(Value::Object(header)) = b64url(h).and_then(|b| serde_json::from_slice(&b).ok()) {
        if let Some(alg) = header.get("alg") {
            out.insert("jwt_alg".into(), alg.clone());
        }
    }
    let Some(Value::Object(claims)) = b64url(c).and_then(|b| serde_json::from_slice(&b).ok()) else {
        return;
    };
    for (claim, key) in [
        ("iss", "jwt_issuer"),
        ("sub", "jwt_subject"),
        ("aud", "jwt_audience"),
        ("role", "jwt_role"),
    ] {
        if let Some(v) = claims.get(claim) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        if let Some(t) = chrono::DateTime::from_timestamp(exp, 0) {
            out.insert("jwt_expires".into(), Value::String(t.to_rfc3339()));
        }
        let expired = exp < chrono::Utc::now().timestamp();
        out.insert("jwt_expired".into(), Value::Bool(expired));
    }
}

/// GitLab routable tokens: `glpat-<base64url payload>.<…>`; the payload decodes to `key:value`
/// lines (`o:` organisation, `u:` user, `c:` cell, ids in base36) followed by random bytes.
fn gitlab_routable(secret: &[u8], out: &mut Map<String, Value>) {
    let Some(dash) = secret.iter().position(|&b| b == b'-') else {
        return;
    };
    let rest = &secret[dash + 1..];
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return;
    };
    // Routable payloads are at least 27 characters; legacy 20-character tokens carry nothing.
    if dot < 27 {
        return;
    }
    let Some(payload) = b64url(&rest[..dot]) else {
        return;
    };
    for line in payload.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            break;
        };
        let Some((k, v)) = line.split_once(':') else { break };
        let key = match k {
            "o" => "gitlab_org_id",
            "u" => "gitlab_user_id",
            "c" => "gitlab_cell_id",
            "g" => "gitlab_group_id",
            "p" => "gitlab_project_id",
            _ => continue,
        };
        if let Ok(n) = u64::from_str_radix(v, 36) {
            out.insert(key.into(), Value::from(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_claims_and_expiry() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let tok = format!(
            "{}.{}.c2lnbmF0dXJlc2ln",
            enc(r#"{"alg":"HS256"}"#),
            enc(r#"{"iss":"https://issuer.test","sub":"agent-7","exp":1000}"#)
        );
        let d = details(tok.as_bytes());
        assert_eq!(d["jwt_issuer"], "https://issuer.test");
        assert_eq!(d["jwt_subject"], "agent-7");
        assert_eq!(d["jwt_expired"], true);
        assert_eq!(d["jwt_alg"], "HS256");
    }

    #[test]
    fn gitlab_payload_ids() {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"c:1\no:2s\nu:a\n\x01\x02\x03rnd");
        let padded = format!("glpat-{enc}AAAAAAAAAAAA.01.0w1234567");
        let d = details(padded.as_bytes());
        assert_eq!(d["gitlab_org_id"], 100);
        assert_eq!(d["gitlab_user_id"], 10);
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(details(b"eyJ!!!.???").is_empty());
        assert!(details(b"glpat-short").is_empty());
    }
}
