//! Loading rule files into a validated [`RuleSet`].
//!
//! Built-in rules are embedded at build time (see `build.rs`). User rules come from `--rules`
//! (a file or a directory of `.toml` files, in our format or gitleaks'). Every problem is
//! reported with the file, the rule id and the reason, because a silently dropped rule is a
//! silently missed secret.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::schema::{RuleFile, RuleSpec};
use crate::rules::checksum;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Default bytes before a keyword hit in which a match may start.
pub const DEFAULT_LOOKBEHIND: usize = 64;
/// Default bytes after a keyword hit in which a match may end.
pub const DEFAULT_WINDOW: usize = 256;
/// Default distance around a main match in which a part is searched.
pub const DEFAULT_PART_DISTANCE: usize = 512;

/// A rule-file problem, naming where it is.
#[derive(Debug, Clone)]
pub struct RuleError {
    pub file: String,
    pub rule: Option<String>,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(id) => write!(f, "{}: rule `{}`: {}", self.file, id, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for RuleError {}

/// A validated rule: its spec plus where it came from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    /// `builtin:github.toml` or the user's file path.
    pub origin: String,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.id
    }
    pub fn lookbehind(&self) -> usize {
        self.spec.lookbehind.unwrap_or(DEFAULT_LOOKBEHIND)
    }
    pub fn window(&self) -> usize {
        self.spec.window.unwrap_or(DEFAULT_WINDOW)
    }
}

/// Every rule a scan uses.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Non-fatal notes from loading (gitleaks fields we do not support, for example).
    pub warnings: Vec<String>,
}

impl RuleSet {
    /// The rules embedded in the binary. Their regexes are compiled lazily by the engine; the
    /// test suite compiles and exercises all of them (`quench rules check`).
    pub fn builtin() -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        // One id index for every file: the catalogue is hundreds of files, and rebuilding the
        // index per file made start-up grow with files × rules.
        let mut seen = HashSet::new();
        for (name, text, slim) in BUILTIN_RULE_FILES {
            let origin = format!("builtin:{name}");
            match serde_json::from_str::<RuleFile>(slim) {
                Ok(file) => set.insert_specs(&mut seen, &origin, file.rules, false)?,
                // The slim copy is empty when the TOML did not parse: report the TOML error.
                Err(_) => set.add_text(&origin, text, false)?,
            }
        }
        Ok(set)
    }

    /// The built-in rules with their examples, for the self-test.
    pub fn builtin_with_examples() -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        for (name, text, _) in BUILTIN_RULE_FILES {
            set.add_text(&format!("builtin:{name}"), text, false)?;
        }
        Ok(set)
    }

    /// Adds rules from a file or a directory of `.toml` files. User rules are compiled eagerly
    /// so that a bad regex is reported now, not at the first keyword hit.
    pub fn add_path(&mut self, path: &Path) -> Result<(), RuleError> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let rd = std::fs::read_dir(path).map_err(|e| RuleError {
                file: path.display().to_string(),
                rule: None,
                reason: format!("cannot read directory: {e}"),
            })?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            v
        } else {
            vec![path.to_path_buf()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| RuleError {
                file: f.display().to_string(),
                rule: None,
                reason: format!("cannot read: {e}"),
            })?;
            self.add_text(&f.display().to_string(), &text, true)?;
        }
        Ok(())
    }

    /// Parses one file's text in our format or gitleaks' and appends its rules.
    pub fn add_text(&mut self, origin: &str, text: &str, eager: bool) -> Result<(), RuleError> {
        let err = |rule: Option<&str>, reason: String| RuleError {
            file: origin.to_string(),
            rule: rule.map(str::to_string),
            reason,
        };
        let value: toml::Table = toml::from_str(text).map_err(|e| err(None, format!("invalid TOML: {e}")))?;
        let specs: Vec<RuleSpec> = if value.contains_key("rules") && !value.contains_key("rule") {
            let (specs, warnings) = super::gitleaks::convert(&value).map_err(|e| err(None, e))?;
            self.warnings
                .extend(warnings.into_iter().map(|w| format!("{origin}: {w}")));
            specs
        } else {
            let file: RuleFile = toml::from_str(text).map_err(|e| err(None, format!("{e}")))?;
            file.rules
        };
        self.add_specs(origin, specs, eager)
    }

    /// Validates and appends parsed rules; a rule with an existing id replaces it.
    fn add_specs(&mut self, origin: &str, specs: Vec<RuleSpec>, eager: bool) -> Result<(), RuleError> {
        let mut seen: HashSet<String> = self.rules.iter().map(|r| r.spec.id.clone()).collect();
        self.insert_specs(&mut seen, origin, specs, eager)
    }

    /// [`Self::add_specs`] against `seen`, the ids of every rule already in the set.
    fn insert_specs(
        &mut self,
        seen: &mut HashSet<String>,
        origin: &str,
        specs: Vec<RuleSpec>,
        eager: bool,
    ) -> Result<(), RuleError> {
        let err = |rule: Option<&str>, reason: String| RuleError {
            file: origin.to_string(),
            rule: rule.map(str::to_string),
            reason,
        };
        for spec in specs {
            validate(&spec, eager).map_err(|reason| err(Some(&spec.id), reason))?;
            if !seen.insert(spec.id.clone()) {
                // A user rule with a built-in id replaces it: that is how a team tunes a rule,
                // and it is said out loud, so a rule file cannot switch a built-in off unseen.
                if let Some(old) = self.rules.iter().find(|r| r.spec.id == spec.id) {
                    self.warnings.push(format!(
                        "{origin}: rule `{}` replaces the rule of the same id from {}",
                        spec.id, old.origin
                    ));
                }
                self.rules.retain(|r| r.spec.id != spec.id);
            }
            self.rules.push(Rule {
                spec,
                origin: origin.to_string(),
            });
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.spec.id == id)
    }
}

/// Checks what can be checked without compiling (always), and the regexes and revoke recipe
/// (when `eager`).
pub fn validate(spec: &RuleSpec, eager: bool) -> Result<(), String> {
    if spec.id.trim().is_empty() {
        return Err("empty id".into());
    }
    if spec.keywords.is_empty() || spec.keywords.iter().any(|k| k.is_empty()) {
        return Err("every rule needs at least one non-empty keyword".into());
    }
    if let Some(c) = &spec.checksum {
        if !checksum::is_known(c) {
            return Err(format!(
                "unknown checksum {c:?} (known: {})",
                checksum::NAMES
                    .iter()
                    .chain(super::keyshape::NAMES)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if let Some(v) = &spec.verify {
        v.check()?;
    }
    let mut names = HashSet::new();
    for p in &spec.parts {
        if !names.insert(p.name.as_str()) {
            return Err(format!("part {:?} is named twice", p.name));
        }
    }
    if eager {
        // A mistake in a revoke recipe would otherwise surface only when a live key is found,
        // the worst moment to learn of it. Built-in recipes are proven by the test suite, so
        // start-up does not parse them.
        if let Some(t) = &spec.revoke {
            crate::issuer::revoke_recipe::RevokeRecipe::parse(t).map_err(|e| format!("revoke: {e:#}"))?;
        }
        let re = compile(&spec.pattern).map_err(|e| format!("pattern: {e}"))?;
        check_group(&re, spec.secret_group)?;
        for p in &spec.parts {
            let re = compile(&p.pattern).map_err(|e| format!("part {:?}: {e}", p.name))?;
            check_group(&re, p.secret_group).map_err(|e| format!("part {:?}: {e}", p.name))?;
        }
    }
    Ok(())
}

fn check_group(re: &regex::bytes::Regex, group: Option<usize>) -> Result<(), String> {
    if let Some(g) = group {
        if g >= re.captures_len() {
            return Err(format!(
                "secret_group {g} but the pattern has {} groups",
                re.captures_len() - 1
            ));
        }
    }
    Ok(())
}

/// Compiles a rule regex with limits that keep a hostile user rule from exhausting memory.
///
/// Unicode mode is off: credentials are ASCII, and with it off `\b`, `\w` and `\s` are ASCII
/// classes the lazy DFA can handle, instead of forcing the slow capture engines to run over any
/// window that holds a non-ASCII byte.
pub fn compile(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(8 << 20)
        .dfa_size_limit(8 << 20)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule files load replace-by-id (a user's rule overrides a built-in one on purpose), so
    /// two built-in files giving one id would drop a rule without a word: refuse that here.
    #[test]
    fn every_builtin_rule_id_is_given_once() {
        let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
        let mut twice = Vec::new();
        for (name, text, _) in BUILTIN_RULE_FILES {
            let file: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("rules/{name}: {e}"));
            let rules = file
                .get("rule")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default();
            for r in rules {
                let id = r
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                if let Some(first) = seen.insert(id.clone(), name) {
                    twice.push(format!("{id} (rules/{first} and rules/{name})"));
                }
            }
        }
        assert!(twice.is_empty(), "rule ids given twice: {twice:#?}");
    }
}
