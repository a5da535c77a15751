//! The mirror cache: one local bare repository per remote, fetched incrementally with git2.
//!
//! Both `quench serve` (fetch what a push announced) and `quench sweep` (fetch every listed
//! repository) read history from here, never from the remote directly, so a second fetch costs
//! only what changed. Which remotes may be fetched at all is the operator's allow-list: a
//! webhook payload names a URL, and without the list anyone holding the webhook secret could make
//! the service clone arbitrary hosts or local paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

/// Environment variable holding a token for private https remotes.
pub const GIT_TOKEN_ENV: &str = "QUENCH_GIT_TOKEN";
/// Environment variable holding the user name sent with [`GIT_TOKEN_ENV`] (default
/// `x-access-token`, which GitHub and GitLab both accept for tokens).
pub const GIT_USER_ENV: &str = "QUENCH_GIT_USERNAME";

/// Which remotes may be fetched: URL or path globs.
#[derive(Clone)]
pub struct RemotePolicy {
    globs: GlobSet,
    patterns: Vec<String>,
}

impl RemotePolicy {
    pub fn new(patterns: &[String]) -> Result<RemotePolicy> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            b.add(Glob::new(p).with_context(|| format!("allow-remote glob {p:?}"))?);
        }
        Ok(RemotePolicy {
            globs: b.build().context("building the allow-remote globs")?,
            patterns: patterns.to_vec(),
        })
    }

    /// Whether `url` may be fetched. An empty list allows nothing. The URL is matched in its
    /// normal form ([`normalise`]), so `repos/../../other` is judged as `/other`, not as
    /// something under `repos/`.
    pub fn allows(&self, url: &str) -> bool {
        normalise(url).is_some_and(|u| self.globs.is_match(&u))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// `url` with `.` and `..` path segments resolved and repeated slashes collapsed (in the path
/// of a `scheme://host/path` URL, or in a local path); `None` for what cannot be judged
/// safely: empty, a `..` above the root, backslashes, NUL, or percent-encoded dots and
/// slashes (which a server may decode into `..` after the check).
pub fn normalise(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if url.is_empty()
        || url.contains(['\\', '\0'])
        || ["%2e", "%2f", "%5c", "%00"].iter().any(|e| lower.contains(e))
    {
        return None;
    }
    let (prefix, path) = match url.find("://") {
        Some(i) => {
            let after = i + 3;
            match url[after..].find('/') {
                Some(j) => url.split_at(after + j),
                None => return Some(url.to_string()),
            }
        }
        None => ("", url),
    };
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    let mut out = String::from(prefix);
    if absolute {
        out.push('/');
    }
    out.push_str(&parts.join("/"));
    if path.ends_with('/') && !parts.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// The cache directory and the per-mirror locks that keep two fetches of one remote apart.
pub struct Mirrors {
    root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Result<Mirrors> {
        let root = root.into();
        // Owner-only: mirrors hold every secret ever pushed.
        crate::store::location::private_dir(&root)
            .with_context(|| format!("creating mirror cache {}", root.display()))?;
        Ok(Mirrors {
            root,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Where the mirror of `url` lives: a readable stem plus a hash, so two URLs that sanitise
    /// alike never share a directory.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let stem: String = url
            .rsplit(['/', ':', '\\'])
            .find(|s| !s.is_empty())
            .unwrap_or("repo")
            .trim_end_matches(".git")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let hash = hex::encode(&Sha256::digest(url.as_bytes())[..6]);
        self.root.join(format!("{stem}-{hash}.git"))
    }

    /// Fetches every branch and tag of `url` into its mirror (creating it on first use).
    /// Refs deleted upstream are pruned, so a deleted branch does not leave a stale tip behind.
    pub fn fetch(&self, url: &str) -> Result<Fetched> {
        let path = self.path_for(url);
        let lock = {
            let mut g = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            g.entry(path.clone()).or_default().clone()
        };
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = open_or_init(&path)?;
        let refs_before = ref_tips(&repo);
        let mut remote = repo
            .remote_anonymous(url)
            .with_context(|| format!("{url}: not a usable remote"))?;
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.credentials(|_url, user_from_url, allowed| credentials(user_from_url, allowed));
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(callbacks);
        opts.prune(git2::FetchPrune::On);
        opts.download_tags(git2::AutotagOption::None);
        remote
            .fetch(
                &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                Some(&mut opts),
                None,
            )
            .with_context(|| format!("fetching {url}"))?;
        Ok(Fetched { path, refs_before })
    }
}

/// A fetched mirror and the tips its refs had before the fetch.
///
/// Everything reachable from those earlier tips arrived with an earlier fetch, so a new branch
/// is scanned from its tip down to them, not down to refs that this same fetch brought in (a
/// second new branch pushed at once would otherwise hide the first one's commits).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub refs_before: Vec<(String, git2::Oid)>,
}

/// Every branch and tag of `repo` and the object it points at (tags peeled to commits).
pub fn ref_tips(repo: &git2::Repository) -> Vec<(String, git2::Oid)> {
    let mut out = Vec::new();
    if let Ok(refs) = repo.references() {
        for r in refs.flatten() {
            let Some(name) = r.name().map(str::to_string) else {
                continue;
            };
            if let Ok(c) = r.peel_to_commit() {
                out.push((name, c.id()));
            }
        }
    }
    out
}

fn open_or_init(path: &Path) -> Result<git2::Repository> {
    if path.exists() {
        git2::Repository::open_bare(path)
            .with_context(|| format!("opening mirror {} (delete it to re-clone)", path.display()))
    } else {
        git2::Repository::init_bare(path).with_context(|| format!("creating mirror {}", path.display()))
    }
}

/// Credentials for private https remotes come from the environment only, never from the
/// payload or the config file, so they are not written anywhere.
fn credentials(
    user_from_url: Option<&str>,
    allowed: git2::CredentialType,
) -> Result<git2::Cred, git2::Error> {
    if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
        if let Ok(token) = std::env::var(GIT_TOKEN_ENV) {
            let user = std::env::var(GIT_USER_ENV)
                .ok()
                .or_else(|| user_from_url.map(str::to_string))
                .unwrap_or_else(|| "x-access-token".into());
            return git2::Cred::userpass_plaintext(&user, &token);
        }
    }
    Err(git2::Error::from_str(&format!(
        "remote asks for credentials; set {GIT_TOKEN_ENV} for private https remotes"
    )))
}

/// Checks `url` against `policy` and fetches it: the one entry point both services use. What
/// is fetched is the normal form that was checked, never the string as sent.
pub fn fetch_allowed(mirrors: &Mirrors, policy: &RemotePolicy, url: &str) -> Result<Fetched> {
    match normalise(url).filter(|_| policy.allows(url)) {
        Some(checked) => mirrors.fetch(&checked),
        None => bail!(
            "{url}: remote is not in the allow-list ({} patterns)",
            policy.patterns().len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_allows_nothing_and_globs_match_paths_and_urls() {
        let none = RemotePolicy::new(&[]).unwrap();
        assert!(!none.allows("/tmp/x"));
        let p = RemotePolicy::new(&["https://github.com/acme/*".into(), "/srv/git/**".into()]).unwrap();
        assert!(p.allows("https://github.com/acme/api.git"));
        assert!(!p.allows("https://github.com/evil/api.git"));
        assert!(p.allows("/srv/git/a/b.git"));
        assert!(!p.allows("/etc/passwd"));
    }

    #[test]
    fn dot_dot_cannot_escape_an_allowed_prefix() {
        let p = RemotePolicy::new(&["https://github.com/acme/*".into(), "/srv/git/repos/**".into()]).unwrap();
        for bad in [
            "/srv/git/repos/../../other/x.git",
            "/srv/git/repos/../secret.git",
            "/srv/git/repos/a/../../../../etc",
            "https://github.com/acme/../evil/api.git",
            "https://github.com/acme/%2e%2e/evil/api.git",
            "/srv/git/repos/a\\..\\..\\x",
            "/../srv/git/repos/a.git",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        assert!(p.allows("/srv/git/repos/./team//a.git"));
        assert!(p.allows("/srv/git/repos/team/sub/../a.git"));
        assert_eq!(
            normalise("/srv/git/repos/team/sub/../a.git").unwrap(),
            "/srv/git/repos/team/a.git"
        );
        assert_eq!(
            normalise("https://github.com/acme/x/../api.git").unwrap(),
            "https://github.com/acme/api.git"
        );
    }

    #[test]
    fn mirror_paths_differ_for_urls_with_the_same_stem() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mirrors::new(dir.path()).unwrap();
        let a = m.path_for("https://a.example/x/repo.git");
        let b = m.path_for("https://b.example/x/repo.git");
        assert_ne!(a, b);
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("repo-"));
    }
}
