//! Suppressions that live in files: `.quenchignore` (fingerprints a team has reviewed) and
//! baselines (everything known on the day the baseline was made). Neither holds a secret, so
//! both are safe to commit.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

pub const IGNORE_FILE: &str = ".quenchignore";

/// Reads fingerprints from a `.quenchignore`: one per line, `#` starts a comment.
pub fn read_ignore_file(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_ignore(&text))
}

pub fn parse_ignore(text: &str) -> HashSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect()
}

/// Collects `.quenchignore` fingerprints for each root (a directory, or a file's directory):
/// the file in that directory and, inside a git work tree, those in every directory above it up
/// to the work tree's top. A tool that hands quench single files (pre-commit passes
/// `src/app/config.env`) then honours the repository's `.quenchignore` as a scan of `.` does.
pub fn ignores_for_roots(roots: &[String]) -> Result<HashSet<String>> {
    let mut set = HashSet::new();
    // Many file roots share directories: each directory is read once.
    let mut seen: HashSet<std::path::PathBuf> = HashSet::new();
    for r in roots {
        if r == "-" {
            continue;
        }
        let p = Path::new(r);
        let dir = if p.is_dir() {
            p
        } else {
            p.parent().unwrap_or(Path::new("."))
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        for d in ignore_dirs(dir) {
            if !seen.insert(d.clone()) {
                continue;
            }
            let f = d.join(IGNORE_FILE);
            if f.is_file() {
                set.extend(read_ignore_file(&f)?);
            }
        }
    }
    Ok(set)
}

/// `dir`, and when it lies in a git work tree every directory above it up to the top (the one
/// holding `.git`); outside a work tree only `dir`, so no stray file above it applies.
fn ignore_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(abs) = std::path::absolute(dir) else {
        return vec![dir.to_path_buf()];
    };
    let mut chain = Vec::new();
    for d in abs.ancestors() {
        chain.push(d.to_path_buf());
        if d.join(".git").exists() {
            return chain;
        }
    }
    vec![dir.to_path_buf()]
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub created: String,
    pub findings: Vec<BaselineEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub fingerprint: String,
    pub rule_id: String,
    /// Where it was first seen, for a reviewer; never the secret.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub line: usize,
}

impl Baseline {
    pub fn from_findings(findings: &[Finding]) -> Baseline {
        Baseline {
            version: 1,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            findings: findings
                .iter()
                .map(|f| BaselineEntry {
                    fingerprint: f.fingerprint.clone(),
                    rule_id: f.rule_id.clone(),
                    path: f.primary().map(|l| l.path.clone()).unwrap_or_default(),
                    line: f.primary().map(|l| l.line).unwrap_or(0),
                })
                .collect(),
        }
    }

    pub fn read(path: &Path) -> Result<Baseline> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading baseline {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing baseline {}", path.display()))
    }

    pub fn fingerprints(&self) -> HashSet<String> {
        self.findings.iter().map(|f| f.fingerprint.clone()).collect()
    }
}
