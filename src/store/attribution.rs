//! Attribution: who exposed a secret, kept apart from whose authority the secret carries.
//!
//! The author is the commit author of the earliest location that has one; the owners are the
//! CODEOWNERS entries for the first location's path. Notifications can be routed to either,
//! and neither is confused with the principal the issuer reports for the key.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

use super::Attribution;
use crate::finding::Finding;

/// The places GitHub and GitLab look for a CODEOWNERS file, in their order.
const CODEOWNERS_PATHS: &[&str] = &[
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitlab/CODEOWNERS",
];

/// A parsed CODEOWNERS file: the last matching pattern wins, as on GitHub.
#[derive(Debug, Default)]
pub struct CodeOwners {
    root: PathBuf,
    entries: Vec<(GlobMatcher, Vec<String>)>,
}

impl CodeOwners {
    /// Finds and parses the CODEOWNERS of the repository at `root`; none is an empty set.
    /// Unparseable patterns are skipped: a typo in CODEOWNERS must not stop a scan.
    pub fn discover(root: &Path) -> CodeOwners {
        for rel in CODEOWNERS_PATHS {
            if let Ok(text) = std::fs::read_to_string(root.join(rel)) {
                return CodeOwners::parse(root, &text);
            }
        }
        CodeOwners {
            root: root.to_path_buf(),
            entries: vec![],
        }
    }

    pub fn parse(root: &Path, text: &str) -> CodeOwners {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else { continue };
            let owners: Vec<String> = words.map(String::from).collect();
            if let Some(m) = compile(pattern) {
                entries.push((m, owners));
            }
        }
        CodeOwners {
            root: root.to_path_buf(),
            entries,
        }
    }

    /// Owners of `path` (relative to the repository, or absolute under its root).
    pub fn owners(&self, path: &str) -> Vec<String> {
        let p = Path::new(path);
        let rel = p
            .strip_prefix(&self.root)
            .or_else(|_| p.strip_prefix("./"))
            .unwrap_or(p);
        let rel = rel.to_string_lossy();
        self.entries
            .iter()
            .rev()
            .find(|(m, _)| m.is_match(rel.as_ref()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    }
}

/// CODEOWNERS patterns follow gitignore rules: a leading `/` anchors at the root, a pattern
/// without a slash matches at any depth, a trailing `/` (or a directory) covers everything below.
fn compile(pattern: &str) -> Option<GlobMatcher> {
    let anchored = pattern.starts_with('/') || pattern.trim_end_matches('/').contains('/');
    let mut p = pattern.trim_start_matches('/').to_string();
    if p.ends_with('/') {
        p.push_str("**");
    }
    let glob = if anchored { p.clone() } else { format!("**/{p}") };
    // `docs` also covers `docs/...`.
    let glob = if glob.ends_with("**") {
        glob
    } else {
        format!("{{{glob},{glob}/**}}")
    };
    Glob::new(&glob).ok().map(|g| g.compile_matcher())
}

/// Attribution of one finding.
pub fn attribute(f: &Finding, owners: &CodeOwners) -> Attribution {
    let author = f
        .locations
        .iter()
        .filter_map(|l| l.commit.as_ref())
        .min_by(|a, b| a.author_time.cmp(&b.author_time))
        .map(|c| format!("{} <{}>", c.author_name, c.author_email));
    let owners = f.primary().map(|l| owners.owners(&l.path)).unwrap_or_default();
    Attribution { author, owners }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_matching_codeowners_line_wins() {
        let co = CodeOwners::parse(
            Path::new("/repo"),
            "* @everyone\n/config/ @platform\n*.env @secops # env files\n",
        );
        assert_eq!(co.owners("src/main.rs"), vec!["@everyone"]);
        assert_eq!(co.owners("config/app.toml"), vec!["@platform"]);
        assert_eq!(co.owners("/repo/config/prod.env"), vec!["@secops"]);
        assert_eq!(co.owners("deep/dir/x.env"), vec!["@secops"]);
    }
}
