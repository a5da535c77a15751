//! Filters that reject a regex match which is not a real secret: placeholders, documentation
//! examples, references to a secret kept elsewhere, and (for low-confidence rules) values that
//! are plainly code, hashes or identifiers.
//!
//! They are deliberately conservative for prefixed formats, where a random-looking body almost
//! never trips them, and strict for the generic rule, where precision is the whole problem.

/// Words that mark a value as a stand-in rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "xxxx",
    "placeholder",
    "changeme",
    "change_me",
    "dummy",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "redacted",
    "sample",
    "insert",
    "replace",
    "notreal",
    "not_real",
    "foobar",
    "******",
    "....",
];

/// Why a candidate was dropped: the filter that rejected it and, where the filter has several
/// tests, which one. Typed and allocation-free, so the engine can return it on the hot path;
/// `--explain` and `quench rules check` turn it into words with [`Reject::reason`], the one
/// place that text is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reject {
    /// A key-shape rule's value does not parse as that kind of key.
    KeyShape,
    /// The name the value is assigned to names a property of a secret (its length, policy…).
    PropertyName,
    /// The capture is empty.
    Empty,
    /// Less Shannon entropy than the rule's minimum, in bits per byte.
    LowEntropy {
        bits: f32,
        min: f32,
    },
    /// The rule's checksum (CRC, key structure) does not hold.
    Checksum,
    /// A reference to a secret kept elsewhere (`${VAR}`, `secrets.X`, a template).
    Reference,
    Placeholder(Placeholder),
    /// A low-confidence (generic) match whose value is plainly not a secret.
    NotASecret(NotASecret),
    /// A generic match in a format a specific rule owns (it starts with that rule's prefix), which
    /// that rule already rejected.
    OwnedPrefix,
    /// The value is one of the rule's stopwords (`literal`) or matches a stopword regex.
    Stopword {
        regex: bool,
    },
    /// A required companion value (part index in the rule) was not found nearby.
    MissingPart(u16),
}

/// Which placeholder test a value failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// It holds a marker word (index into the word list).
    Word(u8),
    AngleBrackets,
    /// A run of six or more of one character.
    Repeated,
    /// An ascending run of six or more characters (`abcdef`, `123456`).
    Sequential,
}

/// Which shape made a generic value implausible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotASecret {
    NotUtf8,
    TooShort,
    HexDigest,
    Uuid,
    Integrity,
    PathOrUrl,
    Code,
    OneCharacterClass,
    Identifier,
    DottedName,
}

impl Reject {
    /// The filter's short name, stable for JSON and scripts.
    pub fn filter(&self) -> &'static str {
        match self {
            Reject::KeyShape => "key-shape",
            Reject::PropertyName => "property-name",
            Reject::Empty => "empty",
            Reject::LowEntropy { .. } => "entropy",
            Reject::Checksum => "checksum",
            Reject::Reference => "reference",
            Reject::Placeholder(_) => "placeholder",
            Reject::NotASecret(_) => "not-a-secret",
            Reject::OwnedPrefix => "owned-prefix",
            Reject::Stopword { .. } => "stopword",
            Reject::MissingPart(_) => "missing-part",
        }
    }

    /// The reason in words, for a person; `rule` is the rule whose candidate was dropped (it
    /// names the checksum, the part, the entropy threshold). Never quotes the value itself.
    pub fn reason(&self, rule: &crate::rules::Rule) -> String {
        let spec = &rule.spec;
        match *self {
            Reject::KeyShape => format!(
                "the value does not parse as a {} key",
                spec.checksum.as_deref().unwrap_or("structured")
            ),
            Reject::PropertyName => {
                "the name it is assigned to names a property of a secret (a name stopword), not the secret".into()
            }
            Reject::Empty => "the captured value is empty".into(),
            Reject::LowEntropy { bits, min } => {
                format!("entropy {bits:.2} bits/byte is below the rule's minimum of {min:.2}")
            }
            Reject::Checksum => format!(
                "the {} checksum does not hold, so the value is not a real token of this format",
                spec.checksum.as_deref().unwrap_or("rule's")
            ),
            Reject::Reference => {
                "the value refers to a secret kept elsewhere (a variable, template or secret-store reference)".into()
            }
            Reject::Placeholder(p) => match p {
                Placeholder::Word(i) => format!(
                    "a placeholder: it contains the marker {:?}",
                    PLACEHOLDER_WORDS.get(i as usize).unwrap_or(&"?")
                ),
                Placeholder::AngleBrackets => "a placeholder: it contains `<` or `>`".into(),
                Placeholder::Repeated => {
                    "a placeholder: one character repeated six or more times in a row".into()
                }
                Placeholder::Sequential => {
                    "a sequential placeholder: an ascending run of six or more characters (like 123456 or abcdef)".into()
                }
            },
            Reject::NotASecret(n) => format!(
                "a generic match that is {}",
                match n {
                    NotASecret::NotUtf8 => "not UTF-8 text",
                    NotASecret::TooShort => "shorter than 8 characters",
                    NotASecret::HexDigest => "a hex digest or git object id (32, 40, 64 or 128 hex digits)",
                    NotASecret::Uuid => "a UUID",
                    NotASecret::Integrity => "a subresource-integrity hash (sha…-)",
                    NotASecret::PathOrUrl => "a path or a URL",
                    NotASecret::Code => "code (a call, `::` or `->`)",
                    NotASecret::OneCharacterClass => "of one character class only (all lower, all upper or all digits)",
                    NotASecret::Identifier => "an identifier (words and separators, no digits)",
                    NotASecret::DottedName => "a dotted name (config.auth.token)",
                }
            ),
            Reject::OwnedPrefix => {
                "a generic match in a format a specific rule owns (by its prefix); that rule rejected it".into()
            }
            Reject::Stopword { regex: false } => "the value is one of the rule's stopwords".into(),
            Reject::Stopword { regex: true } => "the value matches one of the rule's stopword patterns".into(),
            Reject::MissingPart(i) => format!(
                "its required companion value {:?} was not found nearby",
                spec.parts.get(i as usize).map(|p| p.name.as_str()).unwrap_or("?")
            ),
        }
    }
}

/// True when the value is a placeholder: a marker word, angle brackets, a run of one repeated
/// character, or an ascending run like `abcdef` / `123456`.
pub fn is_placeholder(secret: &[u8]) -> bool {
    placeholder(secret).is_some()
}

/// Which placeholder test `secret` fails, if any (see [`is_placeholder`]).
pub fn placeholder(secret: &[u8]) -> Option<Placeholder> {
    if secret.contains(&b'<') || secret.contains(&b'>') {
        return Some(Placeholder::AngleBrackets);
    }
    let lower = secret.to_ascii_lowercase();
    if let Some(i) = PLACEHOLDER_WORDS
        .iter()
        .position(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return Some(Placeholder::Word(i as u8));
    }
    let (mut same, mut seq) = (1usize, 1usize);
    for w in lower.windows(2) {
        same = if w[1] == w[0] { same + 1 } else { 1 };
        seq = if w[0].is_ascii_alphanumeric() && w[1] == w[0].wrapping_add(1) {
            seq + 1
        } else {
            1
        };
        if same >= 6 {
            return Some(Placeholder::Repeated);
        }
        if seq >= 6 {
            return Some(Placeholder::Sequential);
        }
    }
    None
}

/// True when `name` (the text a generic match assigns its value to) holds one of `words`
/// (lowercase): the value is then a property of a secret — its policy, length, reset URL — and
/// not the secret.
pub fn names_a_property(name: &[u8], words: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    words
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
}

/// True when the whole value is a template variable: `@VAR@` (autoconf, Maven filtering),
/// `%VAR%` (Windows batch, Octopus), `{{ var }}`, `${VAR:-default}`, `#{var}`, `[PASSWORD]`,
/// `<your-key>`.
fn is_template(s: &[u8]) -> bool {
    let wrapped = |open: &[u8], close: &[u8]| {
        s.len() > open.len() + close.len()
            && s.starts_with(open)
            && s.ends_with(close)
            && s[open.len()..s.len() - close.len()]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b' ' | b':'))
    };
    wrapped(b"@", b"@")
        || wrapped(b"%", b"%")
        || wrapped(b"#{", b"}")
        || wrapped(b"{{", b"}}")
        || wrapped(b"[", b"]")
}

/// True when the value names a secret stored elsewhere instead of being one: `${VAR}`,
/// `$VAR`, `{{ secrets.X }}`, `%(name)s`, `os.environ[...]`, `process.env.X`.
pub fn is_reference(secret: &[u8]) -> bool {
    let s = secret;
    if is_template(s) {
        return true;
    }
    if s.starts_with(b"$") || s.starts_with(b"{{") || s.starts_with(b"%(") || s.starts_with(b"<%") {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    [
        "secrets.",
        "os.environ",
        "process.env",
        "getenv(",
        "env(",
        "${",
        "{{",
        "vault:",
        "ssm:",
        "keyvault",
    ]
    .iter()
    .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
}

/// Extra checks for low-confidence (generic) rules, where the value is any string assigned to a
/// secret-sounding name. Rejects hashes, UUIDs, lock-file integrity strings, file paths, URLs,
/// code identifiers and plain words — the common false positives of generic detectors.
pub fn is_unlikely_generic(secret: &[u8]) -> bool {
    unlikely_generic(secret).is_some()
}

/// Which shape makes `secret` implausible as a generic secret, if any (see
/// [`is_unlikely_generic`]).
pub fn unlikely_generic(secret: &[u8]) -> Option<NotASecret> {
    let Ok(s) = std::str::from_utf8(secret) else {
        return Some(NotASecret::NotUtf8);
    };
    let len = s.len();
    if len < 8 {
        return Some(NotASecret::TooShort);
    }
    // Hex digests (md5, sha1, sha256, sha512) and git object ids are not credentials by shape;
    // too many lock files and checksums carry them.
    let all_hex = s.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && matches!(len, 32 | 40 | 64 | 128) {
        return Some(NotASecret::HexDigest);
    }
    // UUIDs
    if len == 36
        && s.bytes().filter(|&b| b == b'-').count() == 4
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        return Some(NotASecret::Uuid);
    }
    // Subresource-integrity strings in lock files.
    if s.starts_with("sha1-") || s.starts_with("sha256-") || s.starts_with("sha512-") {
        return Some(NotASecret::Integrity);
    }
    if s.contains("://") || s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
        return Some(NotASecret::PathOrUrl);
    }
    // Code, not a value: calls, member access chains, template syntax.
    if s.contains('(') || s.contains(')') || s.contains("::") || s.contains("->") {
        return Some(NotASecret::Code);
    }
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let classes = has_lower as u8 + has_upper as u8 + has_digit as u8;
    if classes < 2 {
        return Some(NotASecret::OneCharacterClass);
    }
    // Identifiers: words joined by `_`, `.` or `-`, or camelCase, with no digits.
    if !has_digit
        && s.bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'.' || b == b'-')
    {
        return Some(NotASecret::Identifier);
    }
    // Dotted identifiers (`config.auth.token`), constant names (`API_KEY_NAME`).
    if s.split('.').count() > 2
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
    {
        return Some(NotASecret::DottedName);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        for p in [
            "AKIAIOSFODNN7EXAMPLE",
            "sk-xxxxxxxxxxxxxxxx",
            "<your-api-key>",
            "aaaaaaaaaaaa",
            "abcdefghij12",
            "0123456789",
            "your_token_here",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for real in ["ghp_Zk3mQ8vT2pX7rL9wN4bH6cJ1dF5gS0aE1q2w", "q8Rk2LmZ0vXy7TnB"] {
            assert!(!is_placeholder(real.as_bytes()), "{real}");
        }
    }

    #[test]
    fn placeholders_say_which_test_they_fail() {
        assert_eq!(placeholder(b"xoxb-123456789012-x"), Some(Placeholder::Sequential));
        assert_eq!(placeholder(b"q8Rk2Lmaaaaaaa"), Some(Placeholder::Repeated));
        assert_eq!(placeholder(b"<token>"), Some(Placeholder::AngleBrackets));
        let Some(Placeholder::Word(i)) = placeholder(b"MY_DUMMY_KEY") else {
            panic!("a marker word")
        };
        assert_eq!(PLACEHOLDER_WORDS[i as usize], "dummy");
        assert_eq!(
            unlikely_generic(b"get_password_from_vault"),
            Some(NotASecret::OneCharacterClass)
        );
        assert_eq!(
            unlikely_generic(b"getPasswordFromVault"),
            Some(NotASecret::Identifier)
        );
        assert_eq!(unlikely_generic(b"q8Rk2LmZ0vXy7TnB"), None);
    }

    #[test]
    fn references() {
        for r in [
            "${{ secrets.OPENAI_API_KEY }}",
            "${API_KEY}",
            "$TOKEN",
            "%(password)s",
            "os.environ['K']",
            "@DB_PASSWORD@",
            "%SERVICE_PASSWORD_2%",
            "#{db.password}",
            "${DB_PASSWORD:-changeit}",
            "[PASSWORD]",
        ] {
            assert!(is_reference(r.as_bytes()), "{r}");
        }
        assert!(!is_reference(b"q8Rk2LmZ0vXy7TnB"));
        assert!(
            !is_reference(b"q8Rk%2LmZ0vXy7%TnB"),
            "a % inside a value is not a template"
        );
    }

    #[test]
    fn generic_values() {
        for bad in [
            "d41d8cd98f00b204e9800998ecf8427e",
            "123e4567-e89b-12d3-a456-426614174000",
            "sha512-AbCdEf0123==",
            "get_password_from_vault",
            "self.config.password",
            "https://example.org/x",
            "password",
        ] {
            assert!(is_unlikely_generic(bad.as_bytes()), "{bad}");
        }
        assert!(!is_unlikely_generic(b"q8Rk2LmZ0vXy7TnB"));
    }
}
