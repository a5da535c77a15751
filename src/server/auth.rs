//! Webhook authentication: GitHub's HMAC signature and GitLab's shared token, both compared in
//! constant time so response timing does not reveal how much of a forged value was right.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`.
pub fn github_signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sig).is_ok()
}

/// Constant-time equality of a presented token and the configured one (only the length can
/// leak, and the configured token's length is no secret worth keeping).
pub fn token_ok(expected: &[u8], presented: Option<&str>) -> bool {
    let Some(p) = presented.map(str::as_bytes) else {
        return false;
    };
    if expected.is_empty() || p.len() != expected.len() {
        return false;
    }
    p.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Signs `body` as GitHub does (for tests and tools that deliver payloads).
pub fn github_sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_tokens() {
        let sig = github_sign(b"s3cret", b"{}");
        assert!(github_signature_ok(b"s3cret", b"{}", Some(&sig)));
        assert!(!github_signature_ok(b"other", b"{}", Some(&sig)));
        assert!(!github_signature_ok(b"s3cret", b"{ }", Some(&sig)));
        assert!(!github_signature_ok(b"s3cret", b"{}", None));
        assert!(!github_signature_ok(b"s3cret", b"{}", Some("sha1=00")));
        assert!(token_ok(b"tok", Some("tok")));
        assert!(!token_ok(b"tok", Some("tok2")));
        assert!(!token_ok(b"tok", None));
        assert!(!token_ok(b"", Some("")));
    }
}
