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

/// Why a candidate was dropped; kept for `--debug-filters`-style diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Placeholder,
    Reference,
    LowEntropy,
    Checksum,
    Stopword,
    NotASecret,
}

/// True when the value is a placeholder: a marker word, angle brackets, a run of one repeated
/// character, or an ascending run like `abcdef` / `123456`.
pub fn is_placeholder(secret: &[u8]) -> bool {
    if secret.contains(&b'<') || secret.contains(&b'>') {
        return true;
    }
    let lower = secret.to_ascii_lowercase();
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    let (mut same, mut seq) = (1usize, 1usize);
    for w in lower.windows(2) {
        same = if w[1] == w[0] { same + 1 } else { 1 };
        seq = if w[0].is_ascii_alphanumeric() && w[1] == w[0].wrapping_add(1) {
            seq + 1
        } else {
            1
        };
        if same >= 6 || seq >= 6 {
            return true;
        }
    }
    false
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
    let Ok(s) = std::str::from_utf8(secret) else {
        return true;
    };
    let len = s.len();
    if len < 8 {
        return true;
    }
    // Hex digests (md5, sha1, sha256, sha512) and git object ids are not credentials by shape;
    // too many lock files and checksums carry them.
    let all_hex = s.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && matches!(len, 32 | 40 | 64 | 128) {
        return true;
    }
    // UUIDs
    if len == 36
        && s.bytes().filter(|&b| b == b'-').count() == 4
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        return true;
    }
    // Subresource-integrity strings in lock files.
    if s.starts_with("sha1-") || s.starts_with("sha256-") || s.starts_with("sha512-") {
        return true;
    }
    if s.contains("://") || s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
        return true;
    }
    // Code, not a value: calls, member access chains, template syntax.
    if s.contains('(') || s.contains(')') || s.contains("::") || s.contains("->") {
        return true;
    }
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let classes = has_lower as u8 + has_upper as u8 + has_digit as u8;
    if classes < 2 {
        return true;
    }
    // Identifiers: words joined by `_`, `.` or `-`, or camelCase, with no digits.
    if !has_digit
        && s.bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'.' || b == b'-')
    {
        return true;
    }
    // Dotted identifiers (`config.auth.token`), constant names (`API_KEY_NAME`).
    if s.split('.').count() > 2
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
    {
        return true;
    }
    false
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
