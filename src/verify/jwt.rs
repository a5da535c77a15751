//! JSON Web Tokens: local decode, expiry, RS256 signatures (checking a JWKS; signing the app
//! and service-account assertions that GitHub App and Google keys are verified with).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use sha2::Sha256;

use super::verdict::Revealed;
use crate::rules::Identity;

/// Token parts are decoded leniently (padding optional, stray trailing bits allowed): issuers
/// and hand-made tokens differ, and a strict decoder would call a real token malformed.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded (not yet trusted) token.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

impl Jwt {
    pub fn alg(&self) -> &str {
        self.header["alg"].as_str().unwrap_or("")
    }
    pub fn claim_str(&self, k: &str) -> Option<String> {
        match &self.claims[k] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    pub fn exp(&self) -> Option<i64> {
        self.claims["exp"].as_i64()
    }
}

pub fn decode(token: &str) -> Result<Jwt, String> {
    let token = token.trim();
    let mut it = token.split('.');
    let (h, c, s) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(c), Some(s), None) => (h, c, s),
        _ => return Err("not a JWT (expected three dot-separated parts)".into()),
    };
    let part = |p: &str| LENIENT.decode(p.trim_end_matches('='));
    let header: Value = part(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("JWT header is not base64url JSON")?;
    let claims: Value = part(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("JWT claims are not base64url JSON")?;
    let signature = part(s).map_err(|_| "JWT signature is not base64url")?;
    Ok(Jwt {
        header,
        claims,
        signing_input: format!("{h}.{c}"),
        signature,
    })
}

/// What a token's claims say about whose authority it carries.
pub fn reveal(jwt: &Jwt) -> (Identity, Revealed) {
    let c = |k: &str| jwt.claim_str(k);
    let client = c("client_id").or_else(|| c("azp")).or_else(|| c("appid"));
    let sub = c("sub");
    let principal = c("email")
        .or_else(|| c("preferred_username"))
        .or_else(|| c("upn"))
        .or_else(|| sub.clone())
        .or_else(|| client.clone());
    let org = c("tid")
        .or_else(|| c("org_id"))
        .or_else(|| c("org"))
        .or_else(|| c("ref"));
    let mut scopes: Vec<String> = Vec::new();
    for k in ["scope", "scp"] {
        if let Some(s) = c(k) {
            scopes.extend(s.split_whitespace().map(String::from));
        }
    }
    for k in ["roles", "scp", "permissions"] {
        if let Some(a) = jwt.claims[k].as_array() {
            scopes.extend(a.iter().filter_map(|v| v.as_str().map(String::from)));
        }
    }
    if let Some(r) = c("role") {
        scopes.push(format!("role:{r}"));
    }
    let gty = c("gty").unwrap_or_default();
    let model = if gty.contains("client-credentials") || (sub.is_some() && sub == client) {
        Identity::M2m
    } else if c("ref").is_some() || c("role").is_some() {
        Identity::Org
    } else if sub.is_some() || c("email").is_some() {
        Identity::User
    } else {
        Identity::Unknown
    };
    let expires_at = jwt
        .exp()
        .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    (
        model,
        Revealed {
            principal,
            org,
            scopes,
            expires_at,
            key_id: c("jti"),
            ..Default::default()
        },
    )
}

/// Parses a PEM RSA private key (PKCS#1 or PKCS#8) as found in files: with `\n` escapes,
/// quotes or odd line widths, which strict PEM parsers refuse.
pub fn private_key_from_pem(text: &str) -> Result<RsaPrivateKey, String> {
    let text = text.replace("\\n", "\n").replace("\\r", "");
    let begin = text.find("-----BEGIN ").ok_or("no PEM BEGIN line")?;
    let after_begin = &text[begin + 11..];
    let label_end = after_begin.find("-----").ok_or("malformed PEM BEGIN line")?;
    let label = &after_begin[..label_end];
    let body_start = begin + 11 + label_end + 5;
    let end = text[body_start..].find("-----END").ok_or("no PEM END line")? + body_start;
    let b64: String = text[body_start..end]
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/' || *c == '=')
        .collect();
    let der = STANDARD.decode(b64).map_err(|_| "PEM body is not base64")?;
    if label.contains("RSA PRIVATE KEY") {
        RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| format!("not an RSA private key: {e}"))
    } else if label.contains("PRIVATE KEY") {
        RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| format!("not an RSA private key: {e}"))
    } else {
        Err(format!("PEM block {label:?} is not a private key"))
    }
}

/// Signs `claims` as an RS256 JWT (with `kid` in the header when given).
pub fn sign_rs256(key: &RsaPrivateKey, claims: &Value, kid: Option<&str>) -> String {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = kid {
        header["kid"] = Value::String(k.to_string());
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sk = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let sig = sk.sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Checks an RS256 signature with a public key.
pub fn verify_rs256(key: &RsaPublicKey, jwt: &Jwt) -> bool {
    let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
    match rsa::pkcs1v15::Signature::try_from(jwt.signature.as_slice()) {
        Ok(sig) => vk.verify(jwt.signing_input.as_bytes(), &sig).is_ok(),
        Err(_) => false,
    }
}

/// A JWK (`kty = RSA`) as a public key.
pub fn jwk_to_key(jwk: &Value) -> Option<RsaPublicKey> {
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str()?.trim_end_matches('='))
        .ok()?;
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str()?.trim_end_matches('='))
        .ok()?;
    RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).ok()
}

/// A public key as a JWK.
pub fn key_to_jwk(key: &RsaPublicKey, kid: &str) -> Value {
    use rsa::traits::PublicKeyParts;
    serde_json::json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_claims_and_model() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let c = URL_SAFE_NO_PAD.encode(br#"{"sub":"c1","client_id":"c1","exp":4102444800}"#);
        let jwt = decode(&format!("{h}.{c}.c2ln")).unwrap();
        assert_eq!(jwt.alg(), "HS256");
        let (model, r) = reveal(&jwt);
        assert_eq!(model, Identity::M2m);
        assert_eq!(r.expires_at.as_deref(), Some("2100-01-01T00:00:00Z"));
        assert!(decode("a.b").is_err());
    }
}
