//! The rule file format: what a `rules/<issuer>.toml` file may say.
//!
//! Rules are data so that adding an issuer is a reviewable TOML change, not code. Every field is
//! checked when the file is loaded (see [`super::load`]) so that a mistake names its file and
//! rule instead of surfacing as a missed secret at scan time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One rules file: a list of `[[rule]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// The identity model of a credential: whose authority it carries. This is what an identity
/// team needs to know to size the blast radius and to pick the revocation path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Identity {
    /// Acts as one human; dies with that user.
    User,
    /// Belongs to an organisation, workspace, project or account.
    Org,
    /// Machine-to-machine: client credentials or keys that mint short-lived tokens.
    M2m,
    /// Not tied to an issuer's identity model (a bare private key, a password in a URL).
    Unknown,
}

impl Identity {
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::User => "user",
            Identity::Org => "org",
            Identity::M2m => "m2m",
            Identity::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// How sure a match is to be a real secret. Prefixed, checksummed formats are `high`; rules that
/// lean on a nearby word (`mistral` near 32 characters) are `medium`; the generic assignment
/// rule is `low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl std::str::FromStr for Confidence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Confidence::Low),
            "medium" => Ok(Confidence::Medium),
            "high" => Ok(Confidence::High),
            other => Err(format!(
                "unknown confidence {other:?} (expected low, medium or high)"
            )),
        }
    }
}

/// A `[[rule]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable dotted id, `issuer.kind` (e.g. `github.pat-classic`). Fingerprints include it.
    pub id: String,
    pub name: String,
    /// Registry name of the issuer (`github`, `openai`, …) or `generic`.
    pub issuer: String,
    pub identity: Identity,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    #[serde(default = "default_confidence")]
    pub confidence: Confidence,
    /// Literals for the keyword automaton, matched ASCII-case-insensitively. The regex runs only
    /// near a keyword hit, so every rule needs at least one.
    pub keywords: Vec<String>,
    /// The regex. The secret is capture group `secret_group` (default: 1 if the pattern has a
    /// group, else the whole match).
    pub pattern: String,
    #[serde(default)]
    pub secret_group: Option<usize>,
    /// How far before the keyword hit the match may start (bytes). Prefix rules need ~0; rules
    /// whose keyword is a variable name before the value need little; default 64.
    #[serde(default)]
    pub lookbehind: Option<usize>,
    /// How far after the keyword hit the match may end (bytes). Default 256; PEM keys need more.
    #[serde(default)]
    pub window: Option<usize>,
    /// Minimum Shannon entropy (bits per character) of the secret.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Name of an offline validator in `engine::checksum` (e.g. `github`, `gitlab-routable`).
    #[serde(default)]
    pub checksum: Option<String>,
    /// Breaks ties between overlapping matches of equal confidence: the higher wins. Structural
    /// rules that many issuers' formats also match (a bare JWT) sit below 0 so the issuer's own
    /// rule names the finding.
    #[serde(default)]
    pub priority: i32,
    /// Skip the global placeholder filter (for formats whose real values look repetitive).
    #[serde(default)]
    pub allow_placeholders: bool,
    /// Secret values (or regexes over the secret, `re:` prefixed) that are never findings:
    /// documented examples specific to this issuer.
    #[serde(default)]
    pub stopwords: Vec<String>,
    /// Words (lowercase) that, anywhere in the matched text before the secret — the name it
    /// is assigned to — mean the value is a property of a secret, not one: `password_policy`,
    /// `password_reset_url`, a URL's `;AUTH=` mechanism option.
    #[serde(default)]
    pub name_stopwords: Vec<String>,
    /// Companion values that make up one multi-part credential (an AWS secret next to its key
    /// id, an OAuth client id next to its secret).
    #[serde(default)]
    pub parts: Vec<PartSpec>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
    /// Strings that must produce a finding (each one, scanned alone).
    #[serde(default)]
    pub examples: Vec<String>,
    /// Near-misses that must not produce a finding for this rule.
    #[serde(default)]
    pub negative_examples: Vec<String>,
    /// How to ask the issuer whether the secret is live.
    #[serde(default)]
    pub verify: Option<crate::issuer::verify_recipe::Recipe>,
    /// How to kill it.
    #[serde(default)]
    pub revoke: Option<toml::Table>,
    /// Free-form manual revocation steps for issuers without an API (used in escalations).
    #[serde(default)]
    pub manual_revoke: Option<String>,
}

/// A companion value searched for around the main match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSpec {
    /// The part's name, as recipes refer to it (`{part.secret}`).
    pub name: String,
    pub pattern: String,
    #[serde(default)]
    pub secret_group: Option<usize>,
    /// Bytes on either side of the main match to look in. Default 512.
    #[serde(default)]
    pub distance: Option<usize>,
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Without this part the main match is not a finding.
    #[serde(default)]
    pub required: bool,
}

fn default_severity() -> Severity {
    Severity::High
}

fn default_confidence() -> Confidence {
    Confidence::High
}

/// Metadata kept with every rule for reports.
pub type Extra = BTreeMap<String, String>;
