//! Credential values the issuers publish in their documentation (AWS's `…EXAMPLE` keys, the
//! jwt.io sample token, Stripe's API-reference test key). They are everywhere — tutorials,
//! forks, test suites — and grant nothing, so a match on one is marked as an example instead of
//! being reported as a leak or dropped unseen. The list is data (`rules/examples/`).

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::bytes::Regex;
use serde::Deserialize;

const LIST: &str = include_str!("../../rules/examples/documented.toml");

/// One documented value: who documents it, and where.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Documented {
    pub issuer: String,
    pub what: String,
    pub source: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
}

#[derive(Deserialize)]
struct File {
    example: Vec<Documented>,
}

struct Index {
    exact: HashMap<Vec<u8>, usize>,
    patterns: Vec<(Regex, usize)>,
    all: Vec<Documented>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        // The list is embedded and proven by the unit test below; a broken edit fails the build's
        // tests, and at run time an unparsable list only means no value is marked.
        let all = toml::from_str::<File>(LIST)
            .map(|f| f.example)
            .unwrap_or_default();
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        for (i, d) in all.iter().enumerate() {
            if let Some(v) = &d.value {
                exact.insert(v.as_bytes().to_vec(), i);
            }
            if let Some(p) = d
                .pattern
                .as_deref()
                .and_then(|p| crate::rules::load::compile(p).ok())
            {
                patterns.push((p, i));
            }
        }
        Index { exact, patterns, all }
    })
}

/// The documentation entry `secret` comes from, if any: one hash lookup and a few anchored
/// patterns, paid per candidate, not per byte.
pub fn lookup(secret: &[u8]) -> Option<&'static Documented> {
    let ix = index();
    if let Some(&i) = ix.exact.get(secret) {
        return Some(&ix.all[i]);
    }
    ix.patterns
        .iter()
        .find(|(re, _)| re.is_match(secret))
        .map(|&(_, i)| &ix.all[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_every_entry_matches_something() {
        let f: File = toml::from_str(LIST).expect("rules/examples/documented.toml parses");
        assert!(!f.example.is_empty());
        for d in &f.example {
            assert!(
                d.value.is_some() != d.pattern.is_some(),
                "{}: value or pattern",
                d.what
            );
            if let Some(p) = &d.pattern {
                crate::rules::load::compile(p).expect("pattern compiles");
            }
        }
        assert!(lookup(b"AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(lookup(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_some());
        assert!(lookup(b"sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_some());
        assert!(lookup(b"AKIAQ3EGVP2ZXKMN7Y4R").is_none()); // quench:allow (a fake, on purpose)
    }
}
