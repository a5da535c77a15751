//! Keywords for a rule that names none. gitleaks makes `keywords` optional (it then runs the
//! regex over everything); quench anchors every rule on keywords, so a gitleaks rule without
//! them gets the literals its regex requires: every match starts (or else ends) with one of
//! them. A regex with no such literal of useful length cannot be anchored and is reported.

use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// A keyword shorter than this would fire on almost every line.
const MIN_LEN: usize = 3;
/// Literals are shortened until at most this many distinct ones remain: `xox[bp]-[0-9]+`
/// gives `xoxb-` and `xoxp-`, not a hundred `xoxb-00`, `xoxb-01`… (each as required).
const MAX_KEYWORDS: usize = 8;

/// The literals every match of `pattern` starts with (or, failing that, ends with), lower-cased
/// and deduplicated (keywords match case-insensitively), or why there are none.
pub fn derive_keywords(pattern: &str) -> Result<Vec<String>, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| format!("regex does not parse: {e}"))?;
    let mut why = String::new();
    for (suffix, name) in [(false, "start"), (true, "end")] {
        let mut ex = Extractor::new();
        ex.kind(if suffix {
            ExtractKind::Suffix
        } else {
            ExtractKind::Prefix
        });
        let seq = ex.extract(&hir);
        let Some(lits) = seq.literals() else {
            why = format!("no fixed text every match must {name} with");
            continue;
        };
        let words: Vec<Vec<char>> = lits
            .iter()
            .map(|l| {
                String::from_utf8_lossy(l.as_bytes())
                    .to_lowercase()
                    .chars()
                    .collect()
            })
            .collect();
        let longest = words.iter().map(Vec::len).max().unwrap_or(0);
        if words.is_empty() || words.iter().any(|w| w.len() < MIN_LEN) {
            why = format!("a match may {name} with fewer than {MIN_LEN} fixed characters");
            continue;
        }
        // The longest cut (from the start for prefixes, the end for suffixes) that leaves few
        // enough distinct keywords; every match still contains one of them.
        let cut = (MIN_LEN..=longest).rev().find_map(|k| {
            let mut set: Vec<String> = words
                .iter()
                .map(|w| {
                    let n = w.len().min(k);
                    if suffix {
                        w[w.len() - n..].iter().collect()
                    } else {
                        w[..n].iter().collect()
                    }
                })
                .collect();
            set.sort();
            set.dedup();
            (set.len() <= MAX_KEYWORDS).then_some(set)
        });
        let Some(words) = cut else {
            why = format!("more than {MAX_KEYWORDS} alternative literals at the {name}");
            continue;
        };
        return Ok(words);
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::derive_keywords;

    #[test]
    fn prefixes_are_the_keywords() {
        assert_eq!(derive_keywords(r"\b(ghp_[A-Za-z0-9]{36})\b").unwrap(), ["ghp_"]);
        assert_eq!(
            derive_keywords(r"(?:xoxb|xoxp)-[0-9]{10,13}-[a-zA-Z0-9-]*").unwrap(),
            ["xoxb-", "xoxp-"]
        );
        // Case-insensitive regexes give one lower-cased keyword, not every casing.
        assert_eq!(
            derive_keywords(r"(?i)acme_key=[a-f0-9]{32}").unwrap(),
            ["acme_key="]
        );
    }

    #[test]
    fn a_suffix_serves_when_the_start_varies() {
        assert_eq!(
            derive_keywords(r"[a-z0-9]{20}\.widget\.example").unwrap(),
            [".widget.example"]
        );
    }

    #[test]
    fn unanchorable_regexes_say_why() {
        let e = derive_keywords(r"[a-f0-9]{40}").unwrap_err();
        assert!(e.contains("fixed"), "{e}");
        let e = derive_keywords(r"ab.+x").unwrap_err();
        assert!(e.contains("fewer than 3"), "{e}");
        assert!(derive_keywords(r"(unclosed")
            .unwrap_err()
            .contains("does not parse"));
    }
}
