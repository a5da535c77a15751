//! Suppressions that live in files: `.quenchignore` (fingerprints a team has reviewed, and
//! `path:GLOB` lines for whole files that hold only fakes, such as a rule file's examples) and
//! baselines (everything known on the day the baseline was made). Neither holds a secret, so
//! both are safe to commit.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

pub const IGNORE_FILE: &str = ".quenchignore";

/// The prefix of a `.quenchignore` line naming files (a glob relative to the file's directory)
/// rather than a fingerprint.
pub const PATH_PREFIX: &str = "path:";

/// What `.quenchignore` files say: fingerprints never reported, and path globs never scanned
/// (already spelled the ways a scan names paths, see [`ignores_for_roots`]).
#[derive(Debug, Default)]
pub struct Ignores {
    pub fingerprints: HashSet<String>,
    pub path_globs: Vec<String>,
}

/// Reads fingerprints from a `.quenchignore`: one per line, `#` starts a comment.
pub fn read_ignore_file(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_ignore(&text))
}

/// The fingerprints of a `.quenchignore` (its `path:` lines are not fingerprints).
pub fn parse_ignore(text: &str) -> HashSet<String> {
    entries(text)
        .filter(|l| !l.starts_with(PATH_PREFIX))
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect()
}

/// The `path:` globs of a `.quenchignore`, as written (relative to its directory).
pub fn parse_ignore_paths(text: &str) -> Vec<String> {
    entries(text)
        .filter_map(|l| l.strip_prefix(PATH_PREFIX))
        .map(|g| g.trim().trim_start_matches("./").to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Collects `.quenchignore` entries for each root (a directory, or a file's directory): the
/// file in that directory and, inside a git work tree, those in every directory above it up
/// to the work tree's top. A tool that hands quench single files (pre-commit passes
/// `src/app/config.env`) then honours the repository's `.quenchignore` as a scan of `.` does.
///
/// A `path:GLOB` line in the file at directory D is relative to D. Scans name paths as the
/// root was given (`./rules/a.toml`, `/abs/repo/rules/a.toml`) or, in git history, relative to
/// the work tree (`rules/a.toml`), so each glob is returned in each of those spellings that
/// can arise: under D's absolute path, under every root that is D, and bare when D is a root
/// or the current directory.
pub fn ignores_for_roots(roots: &[String]) -> Result<Ignores> {
    let mut out = Ignores::default();
    // Many file roots share directories: each directory is read once.
    let mut seen: HashSet<std::path::PathBuf> = HashSet::new();
    let cwd = std::env::current_dir().ok();
    let abs_roots: Vec<(String, Option<std::path::PathBuf>)> = roots
        .iter()
        .filter(|r| r.as_str() != "-")
        .map(|r| (r.clone(), Some(normal(Path::new(r)))))
        .collect();
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
            if !f.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
            out.fingerprints.extend(parse_ignore(&text));
            let d_abs = normal(&d);
            for glob in parse_ignore_paths(&text) {
                let mut spellings = vec![format!("{}/{glob}", escape(&d_abs.display().to_string()))];
                let mut bare = cwd.as_ref().is_some_and(|c| normal(c) == d_abs);
                for (given, abs) in &abs_roots {
                    if abs.as_ref() == Some(&d_abs) {
                        bare = true;
                        let given = given.trim_end_matches('/');
                        spellings.push(format!("{}/{glob}", escape(given)));
                    }
                }
                if bare {
                    spellings.push(glob.clone());
                    spellings.push(format!("./{glob}"));
                }
                out.path_globs.extend(spellings);
            }
        }
    }
    Ok(out)
}

/// A path made absolute, without `.` components (lexically), so `/repo/.`, `.` (in /repo)
/// and `/repo` compare equal.
fn normal(p: &Path) -> std::path::PathBuf {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A literal path as a glob prefix.
fn escape(s: &str) -> String {
    globset::escape(s)
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
