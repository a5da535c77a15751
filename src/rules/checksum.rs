//! Offline validators for formats that carry their own checksum.
//!
//! A failed checksum on a checksummed format is a near-certain false positive (documentation
//! examples, hand-typed placeholders), so these run before any network call and drop the match.
//! The algorithms are the issuers' published ones (GitHub's CRC-32 in base62, GitLab's routable
//! tokens' CRC-32, …), each re-computed against the issuer's published sample tokens.

use base64::Engine as _;

/// Names a rule may give in its `checksum` field.
pub const NAMES: &[&str] = &["github", "npm", "gitlab-routable", "grafana-glsa", "jwt"];

/// Whether `name` is a validator this build knows (a token checksum or a key structure).
pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name) || super::keyshape::NAMES.contains(&name)
}

/// Runs validator `name` over `secret`. Unknown names fail closed (rules are checked at load).
pub fn validate(name: &str, secret: &[u8]) -> bool {
    match name {
        "github" | "npm" => crc32_base62_tail(secret),
        "gitlab-routable" => gitlab_routable(secret),
        "grafana-glsa" => grafana_glsa(secret),
        "jwt" => jwt_shape(secret),
        key => super::keyshape::canonical(key, secret).is_some(),
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Renders `n` in the given alphabet, left-padded with the alphabet's zero to `width`.
fn encode_radix(mut n: u64, alphabet: &[u8], width: usize) -> Vec<u8> {
    let radix = alphabet.len() as u64;
    let mut out = Vec::with_capacity(width);
    while n > 0 {
        out.push(alphabet[(n % radix) as usize]);
        n /= radix;
    }
    while out.len() < width {
        out.push(alphabet[0]);
    }
    out.reverse();
    out
}

/// GitHub and npm tokens: `<prefix>_<body><6-char check>`, check = base62(CRC-32(body)).
fn crc32_base62_tail(token: &[u8]) -> bool {
    let Some(us) = token.iter().position(|&b| b == b'_') else {
        return false;
    };
    let rest = &token[us + 1..];
    if rest.len() <= 6 {
        return false;
    }
    let (body, check) = rest.split_at(rest.len() - 6);
    encode_radix(crc32fast::hash(body) as u64, BASE62, 6) == check
}

/// Computes the 6-character GitHub/npm check for a body; used by fixture generators.
pub fn github_check(body: &[u8]) -> String {
    String::from_utf8(encode_radix(crc32fast::hash(body) as u64, BASE62, 6)).unwrap_or_default()
}

/// GitLab routable tokens: the last 7 characters are CRC-32 of everything before them (prefix
/// included) in lowercase base36.
fn gitlab_routable(token: &[u8]) -> bool {
    if token.len() <= 7 {
        return false;
    }
    let (head, check) = token.split_at(token.len() - 7);
    encode_radix(crc32fast::hash(head) as u64, BASE36, 7) == check
}

/// Computes the 7-character GitLab routable check for everything before it.
pub fn gitlab_check(head: &[u8]) -> String {
    String::from_utf8(encode_radix(crc32fast::hash(head) as u64, BASE36, 7)).unwrap_or_default()
}

/// Grafana `glsa_<32>_<8 hex>`: hex of CRC-32(`glsa_<32>`) written little-endian.
fn grafana_glsa(token: &[u8]) -> bool {
    let Some(us) = token.iter().rposition(|&b| b == b'_') else {
        return false;
    };
    let (head, check) = (&token[..us], &token[us + 1..]);
    check.len() == 8 && hex::encode(crc32fast::hash(head).to_le_bytes()).as_bytes() == check
}

/// Computes the Grafana check for `glsa_<32 chars>`.
pub fn grafana_check(head: &[u8]) -> String {
    hex::encode(crc32fast::hash(head).to_le_bytes())
}

/// A JWT: three base64url segments whose header is a JSON object naming an `alg`.
fn jwt_shape(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(claims), Some(_sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let decode = |seg: &[u8]| {
        let trimmed: Vec<u8> = seg.iter().copied().filter(|&b| b != b'=').collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .ok()
    };
    let Some(h) = decode(header) else {
        return false;
    };
    let Ok(serde_json::Value::Object(h)) = serde_json::from_slice::<serde_json::Value>(&h) else {
        return false;
    };
    h.contains_key("alg") && decode(claims).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_example_fails() {
        // GitHub's documentation token is not checksummed: it must never be a finding.
        assert!(!validate("github", b"ghp_16C7e42F292c69C2E7C10c838347Ae178B4a"));
    }

    #[test]
    fn github_generated_token_passes() {
        let body = b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1";
        let tok = format!("ghp_{}{}", std::str::from_utf8(body).unwrap(), github_check(body));
        assert_eq!(tok.len(), 40);
        assert!(validate("github", tok.as_bytes()));
        let mut bad = tok.into_bytes();
        bad[10] ^= 1;
        assert!(!validate("github", &bad));
    }

    #[test]
    fn gitlab_routable_roundtrip() {
        let head = b"glpat-AAAAbbbbCCCCddddEEEEffffGGGG.01.0w";
        let tok = format!("{}{}", std::str::from_utf8(head).unwrap(), gitlab_check(head));
        assert!(validate("gitlab-routable", tok.as_bytes()));
        assert!(!validate("gitlab-routable", &tok.as_bytes()[..tok.len() - 1]));
    }

    #[test]
    fn grafana_roundtrip() {
        let head = b"glsa_Zk3mQ8vT2pX7rL9wN4bH6cJ1dF5gS0aE";
        let tok = format!("{}_{}", std::str::from_utf8(head).unwrap(), grafana_check(head));
        assert!(validate("grafana-glsa", tok.as_bytes()));
        assert!(!validate("grafana-glsa", tok.replace('Z', "Y").as_bytes()));
    }

    #[test]
    fn jwt_shape_checks_header() {
        let ok = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"; // quench:allow (a fake, on purpose)
        assert!(validate("jwt", ok));
        assert!(!validate("jwt", b"eyJub3RhbGciOjF9.eyJzdWIiOiIxIn0.c2ln"));
        assert!(!validate("nope", ok));
    }
}
