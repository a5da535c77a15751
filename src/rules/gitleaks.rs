//! Import of gitleaks / Betterleaks rule files (`[[rules]]` with `regex`, `keywords`, …).
//!
//! Teams already have these files; loading them as-is lowers the cost of switching. Fields we
//! cannot honour are reported as warnings, never dropped in silence.

use super::schema::{Confidence, Identity, RuleSpec, Severity};

/// Converts a parsed gitleaks config into our rule specs plus warnings.
pub fn convert(doc: &toml::Table) -> Result<(Vec<RuleSpec>, Vec<String>), String> {
    let rules = doc
        .get("rules")
        .and_then(|v| v.as_array())
        .ok_or("`rules` is not an array of tables")?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for key in doc.keys() {
        match key.as_str() {
            "rules" | "title" | "description" => {}
            "allowlist" | "allowlists" => warnings.push(format!(
                "top-level `[{key}]` is not imported (it applies to every rule): put the paths \
                 in `[allowlist] paths` of a --config file, or the values in each rule's allowlist"
            )),
            "extend" => warnings.push(
                "`[extend]` is not followed: the rules it would add from another file (or \
                 gitleaks' defaults) are not loaded; quench's built-in rules cover the common ones"
                    .to_string(),
            ),
            other => warnings.push(format!("top-level `{other}` is not supported and was ignored")),
        }
    }
    for (i, r) in rules.iter().enumerate() {
        let t = r.as_table().ok_or(format!("rules[{i}] is not a table"))?;
        let id = t
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or(format!("rules[{i}] has no id"))?
            .to_string();
        let Some(regex) = t.get("regex").and_then(|v| v.as_str()) else {
            warnings.push(format!("rule `{id}`: path-only rules are not supported; skipped"));
            continue;
        };
        let mut keywords: Vec<String> = t
            .get("keywords")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if keywords.is_empty() {
            // gitleaks makes keywords optional; quench anchors on the regex's own literals.
            match super::literals::derive_keywords(regex) {
                Ok(derived) => keywords = derived,
                Err(why) => {
                    warnings.push(format!(
                        "rule `{id}`: no keywords, and none can be read from its regex ({why});                          add `keywords` to anchor it; skipped"
                    ));
                    continue;
                }
            }
        }
        for key in t.keys() {
            if !matches!(
                key.as_str(),
                "id" | "description"
                    | "regex"
                    | "keywords"
                    | "entropy"
                    | "secretGroup"
                    | "allowlist"
                    | "allowlists"
                    | "tags"
            ) {
                warnings.push(format!(
                    "rule `{id}`: field `{key}` is not supported and was ignored"
                ));
            }
        }
        let mut stopwords = Vec::new();
        for al in allowlists(t) {
            for (k, v) in al {
                match k.as_str() {
                    "stopwords" => stopwords.extend(
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string)),
                    ),
                    "regexes" => {
                        for re in v.as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
                            // Checked now: the engine compiles allowlist regexes lazily and
                            // would drop a bad one without a word.
                            match regex::bytes::RegexBuilder::new(re).size_limit(1 << 22).build() {
                                Ok(_) => stopwords.push(format!("re:{re}")),
                                Err(e) => warnings.push(format!(
                                    "rule `{id}`: allowlist regex {re:?} does not compile and was ignored: {}",
                                    e.to_string().lines().last().unwrap_or("invalid")
                                )),
                            }
                        }
                    }
                    "description" | "regexTarget" => {}
                    other => warnings.push(format!(
                        "rule `{id}`: allowlist field `{other}` is not supported and was ignored"
                    )),
                }
            }
        }
        out.push(RuleSpec {
            id: format!("gitleaks.{id}"),
            name: t
                .get("description")
                .and_then(|v| v.as_str())
                .unwrap_or(&id)
                .to_string(),
            issuer: "gitleaks".into(),
            identity: Identity::Unknown,
            severity: Severity::High,
            confidence: Confidence::Medium,
            keywords,
            pattern: regex.to_string(),
            secret_group: t
                .get("secretGroup")
                .and_then(|v| v.as_integer())
                .map(|g| g as usize),
            lookbehind: Some(256),
            window: Some(512),
            entropy: match t.get("entropy") {
                None => None,
                Some(v) => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                    Some(e) if e.is_finite() && e >= 0.0 => Some(e),
                    _ => {
                        warnings.push(format!(
                            "rule `{id}`: entropy {v} is not a number of bits per character; ignored"
                        ));
                        None
                    }
                },
            },
            checksum: None,
            priority: 0,
            allow_placeholders: false,
            stopwords,
            name_stopwords: vec![],
            parts: vec![],
            description: None,
            references: vec![],
            examples: vec![],
            negative_examples: vec![],
            verify: None,
            revoke: None,
            manual_revoke: None,
        });
    }
    Ok((out, warnings))
}

fn allowlists(t: &toml::Table) -> Vec<&toml::Table> {
    let mut v = Vec::new();
    if let Some(a) = t.get("allowlist").and_then(|a| a.as_table()) {
        v.push(a);
    }
    if let Some(arr) = t.get("allowlists").and_then(|a| a.as_array()) {
        v.extend(arr.iter().filter_map(|a| a.as_table()));
    }
    v
}
