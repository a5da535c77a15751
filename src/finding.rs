//! Findings: one leaked secret, every place it occurs, and how it is named without being shown.
//!
//! The secret itself stays in memory (verification and revocation need it) and is skipped by
//! serialisation; reports show a redacted preview unless the operator asks for the value.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::rules::{Confidence, Identity, Rule, Severity};

/// Key for fingerprints when the operator sets none: the user's own random key (see
/// [`crate::datadir::load_fingerprint_key`]), read once. A team whose committed
/// baselines and `.quenchignore` files must agree across machines shares one key through
/// `QUENCH_FINGERPRINT_KEY`.
fn user_fingerprint_key() -> &'static [u8] {
    // Unit tests run as the developer: they must not create a key in the real data directory.
    if cfg!(test) {
        return b"quench.unit-test.fingerprint";
    }
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        crate::datadir::load_fingerprint_key().unwrap_or_else(|e| {
            // Still never a public key: one for this run only, said out loud.
            eprintln!(
                "quench: warning: {e:#}; fingerprints of this run use a one-off key and will not \
                 match earlier ones (set {FINGERPRINT_KEY_ENV})"
            );
            let mut key = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            key
        })
    })
}

/// Environment variable that overrides the fingerprint key.
pub const FINGERPRINT_KEY_ENV: &str = "QUENCH_FINGERPRINT_KEY";

/// A keyed hash of the rule id and the secret: stable, safe to store and share, and useless
/// for recovering the secret (the key prevents confirming guesses of a low-entropy value
/// without it).
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    let key = std::env::var(FINGERPRINT_KEY_ENV).ok().filter(|k| !k.is_empty());
    match key {
        Some(k) => fingerprint_with(k.as_bytes(), rule_id, secret),
        None => fingerprint_with(user_fingerprint_key(), rule_id, secret),
    }
}

/// [`fingerprint`] under an explicit key.
pub fn fingerprint_with(key: &[u8], rule_id: &str, secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(rule_id.as_bytes());
    mac.update(&[0]);
    mac.update(secret);
    hex::encode(&mac.finalize().into_bytes()[..16])
}

pub use crate::secret::{redact, Hidden, Secret};

/// What kind of place a location is in; reports and policies treat CI configs and logs apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Context {
    File,
    CiConfig,
    Log,
    Stdin,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::File => "file",
            Context::CiConfig => "ci-config",
            Context::Log => "log",
            Context::Stdin => "stdin",
        }
    }
}

/// The commit that introduced a blob at a path (filled by the git source).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    /// RFC 3339.
    pub author_time: String,
    pub summary: String,
    /// Whether the secret is still present at the tip of some branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_tip: Option<bool>,
}

/// Where a secret was decoded from, when it was not found as plain text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Decoded {
    pub encoding: String,
    /// How many decoding layers deep.
    pub depth: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte offset of the secret in its file, blob or stream.
    pub offset: u64,
    pub context: Context,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<Decoded>,
    /// For a git blob: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// Where a finding stands. Ordered roughly along its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Found, never verified.
    Detected,
    /// The issuer's answer proved nothing either way.
    Indeterminate,
    /// Verified live and not yet revoked.
    Live,
    /// Verified dead without quench revoking it.
    Dead,
    /// A revocation is queued, awaiting approval or in flight.
    Revoking,
    /// Revoked and confirmed dead by a second verification.
    Revoked,
    /// Needs a human: revocation failed, is impossible, or the key stayed live too long.
    Escalated,
}

impl Status {
    /// Every status, along a finding's life (the order `--help` lists them).
    pub const ALL: &'static [Status] = &[
        Status::Detected,
        Status::Indeterminate,
        Status::Live,
        Status::Dead,
        Status::Revoking,
        Status::Revoked,
        Status::Escalated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Detected => "detected",
            Status::Indeterminate => "indeterminate",
            Status::Live => "live",
            Status::Dead => "dead",
            Status::Revoking => "revoking",
            Status::Revoked => "revoked",
            Status::Escalated => "escalated",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "detected" => Status::Detected,
            "indeterminate" => Status::Indeterminate,
            "live" => Status::Live,
            "dead" => Status::Dead,
            "revoking" => Status::Revoking,
            "revoked" => Status::Revoked,
            "escalated" => Status::Escalated,
            _ => return None,
        })
    }

    /// Whether the key is known to no longer work.
    pub fn is_dead(self) -> bool {
        matches!(self, Status::Dead | Status::Revoked)
    }
}

/// A companion value of a multi-part credential.
#[derive(Clone, Serialize)]
pub struct FoundPart {
    pub name: String,
    pub redacted: String,
    #[serde(skip)]
    pub value: Secret,
}

/// One secret, deduplicated by fingerprint, with every location it was seen at.
#[derive(Clone, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub issuer: String,
    pub identity: Identity,
    pub severity: Severity,
    pub confidence: Confidence,
    pub fingerprint: String,
    pub secret_redacted: String,
    /// Present only when the operator asked (`--show-secrets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<FoundPart>,
    pub locations: Vec<Location>,
    /// Facts readable offline (JWT claims, ids embedded in the token).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Filled by verification when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verdict::Verification>,
    /// Where the finding stands in the store once the pipeline ran (recorded, revoked,
    /// escalated…); `None` when the store was not used. Reports show this, not the first
    /// verdict, so a key revoked during the scan is never printed as live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// What the key can reach, when `--access` enumerated it (live keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<crate::reach::Reach>,
    #[serde(skip)]
    pub rule: Option<Arc<Rule>>,
    #[serde(skip)]
    pub raw_secret: Secret,
}

impl std::fmt::Debug for FoundPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundPart")
            .field("name", &self.name)
            .field("value", &self.value)
            .finish()
    }
}

impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finding")
            .field("rule_id", &self.rule_id)
            .field("fingerprint", &self.fingerprint)
            .field("secret", &self.raw_secret)
            .field("parts", &self.parts)
            .field("locations", &self.locations)
            .field("details", &self.details)
            .field("verification", &self.verification)
            .finish_non_exhaustive()
    }
}

impl Finding {
    pub fn new(rule: Arc<Rule>, secret: Vec<u8>, parts: Vec<(String, Vec<u8>)>) -> Finding {
        let spec = &rule.spec;
        Finding {
            rule_id: spec.id.clone(),
            rule_name: spec.name.clone(),
            issuer: spec.issuer.clone(),
            identity: spec.identity,
            severity: spec.severity,
            confidence: spec.confidence,
            fingerprint: fingerprint(&spec.id, &secret),
            secret_redacted: redact(&secret),
            secret: None,
            parts: parts
                .into_iter()
                .map(|(name, value)| FoundPart {
                    name,
                    redacted: redact(&value),
                    value: Secret::new(value),
                })
                .collect(),
            locations: Vec::new(),
            details: Default::default(),
            verification: None,
            status: None,
            reach: None,
            rule: Some(rule),
            raw_secret: Secret::new(secret),
        }
    }

    /// The first location after sorting: what a one-line report names.
    pub fn primary(&self) -> Option<&Location> {
        self.locations.first()
    }

    pub fn part(&self, name: &str) -> Option<&[u8]> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.expose())
    }

    /// The named parts' bytes, copied out of their `Secret`s: what an issuer call (verify,
    /// revoke, enumerate) or a sealed job needs beside the secret itself.
    pub fn exposed_parts(&self) -> Vec<(String, Vec<u8>)> {
        self.parts
            .iter()
            .map(|p| (p.name.clone(), p.value.expose().to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let rule = Arc::new(crate::rules::RuleSet::builtin().unwrap().rules[0].clone());
        let secret = b"ghp_Zk3mQ8vT2pX7rL9wN4bH6cJ1dF5gS0aE1q2w".to_vec();
        let f = Finding::new(
            rule,
            secret,
            vec![("secret".into(), b"wJalrXUtnFEMIK7MDENGbPxRfiCY".to_vec())],
        );
        let shown = format!("{f:?}");
        assert!(
            shown.contains("ghp_Zk3m"),
            "the redacted preview is shown: {shown}"
        );
        assert!(!shown.contains("Q8vT2pX7"), "{shown}");
        assert!(!shown.contains("XUtnFEMI"), "{shown}");
    }

    #[test]
    fn redaction_hides_most() {
        let r = redact(b"ghp_Zk3mQ8vT2pX7rL9wN4bH6cJ1dF5gS0aE1q2w");
        assert!(r.starts_with("ghp_Zk3m"));
        assert!(r.ends_with("2w"));
        assert!(!r.contains("Q8vT"));
        assert_eq!(redact(b"short"), "*****");
    }

    #[test]
    fn fingerprint_is_keyed_by_rule_and_secret() {
        let a = fingerprint("a", b"x");
        assert_eq!(a, fingerprint("a", b"x"));
        assert_ne!(a, fingerprint("b", b"x"));
        assert_eq!(a.len(), 32);
    }
}
