//! AWS Signature Version 4, written out so that both sides of the simulator and the verifier
//! share one canonical-request implementation (and no AWS SDK is pulled in for one call).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Whether a value has the shape of an AWS access key id.
pub fn is_key_id(s: &str) -> bool {
    s.len() == 20
        && ["AKIA", "ASIA", "ABIA", "ACCA", "A3T"]
            .iter()
            .any(|p| s.starts_with(p))
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The canonical request. `path` is the decoded path; `query` the decoded pairs; `headers` the
/// signed headers with lower-case names and their values.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let cq: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    h.sort();
    let ch: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let path = if path.is_empty() { "/" } else { path };
    let creq = format!(
        "{method}\n{}\n{}\n{ch}\n{signed}\n{payload_hash}",
        uri_encode(path, true),
        cq.join("&")
    );
    (creq, signed)
}

/// The hex signature over a canonical request.
pub fn signature(secret: &str, amz_date: &str, region: &str, service: &str, creq: &str) -> String {
    let date = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(creq.as_bytes())
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    hex::encode(hmac(&k, sts.as_bytes()))
}

/// The `Host` header value as an HTTP client sends it for `url`.
pub fn host_header(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
        None => url.host_str().unwrap_or("").to_string(),
    }
}

/// Credentials for signing.
pub struct Credentials<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
}

/// Headers to add to a request so that AWS accepts it: `x-amz-date`, optionally
/// `x-amz-security-token`, and `authorization`.
pub fn sign(
    method: &str,
    url: &url::Url,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut signed = vec![
        ("host".to_string(), host_header(url)),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    if let Some(t) = creds.session_token {
        signed.push(("x-amz-security-token".to_string(), t.to_string()));
    }
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let path = percent_decode(url.path());
    let (creq, signed_names) = canonical_request(method, &path, &query, &signed, &sha256_hex(body));
    let sig = signature(creds.secret, &amz_date, region, service, &creq);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{region}/{service}/aws4_request, SignedHeaders={signed_names}, Signature={sig}",
        creds.key_id,
        &amz_date[..8]
    );
    let mut out: Vec<(String, String)> = signed.into_iter().filter(|(k, _)| k != "host").collect();
    out.push(("authorization".to_string(), auth));
    out
}

pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone)]
pub struct AuthHeader {
    pub key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_auth(h: &str) -> Option<AuthHeader> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.to_string()),
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    let cred = cred?;
    let mut c = cred.split('/');
    let (key_id, date, region, service) = (c.next()?, c.next()?, c.next()?, c.next()?);
    Some(AuthHeader {
        key_id: key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed?.split(';').map(String::from).collect(),
        signature: sig?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example from the AWS SigV4 documentation (IAM ListUsers).
    #[test]
    fn matches_the_documented_example() {
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let query = vec![
            ("Action".to_string(), "ListUsers".to_string()),
            ("Version".to_string(), "2010-05-08".to_string()),
        ];
        let (creq, signed) = canonical_request("GET", "/", &query, &headers, &sha256_hex(b""));
        assert_eq!(signed, "content-type;host;x-amz-date");
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "us-east-1",
            "iam",
            &creq,
        );
        assert_eq!(
            sig,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
