//! Where the store lives: `--data-dir`, else `[store] data_dir` in the operator's config, else
//! a `.quench/` directory beside the scanned repository (found like git finds `.git`: here or
//! in a parent), else `$XDG_DATA_HOME/quench`.
//!
//! A `.quench/` created inside a repository gets a `.gitignore` of `*`, so the store (which
//! holds fingerprints, paths and authors, though never a secret) is not committed by accident.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

use crate::config::Config;

/// Name of the per-repository data directory.
pub const LOCAL_DIR: &str = ".quench";

/// What a command asks of the store: whether to record, and where the data directory is when
/// the operator named one. Plain data: the flags that fill it are parsed in `src/cli/`.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Record findings, verdicts and timelines even when nothing else needs the store (a
    /// revocation policy that may act opens it regardless).
    pub record: bool,
    /// The store's data directory, when the operator (or the service's config) named one.
    pub data_dir: Option<PathBuf>,
    /// The store's URL (`postgres://…`, `sqlite:PATH`), when the operator named one; wins over
    /// `[store] url`. The data directory still holds the sealing key and local state.
    pub url: Option<String>,
}

/// `[store]` in the operator's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Record every scan in the store without `--store`.
    #[serde(default)]
    pub enabled: bool,
    /// Relative paths resolve against the config file's directory.
    pub data_dir: Option<PathBuf>,
    /// The key file sealing pending secrets (default `<data_dir>/keys/store.key`).
    pub key_file: Option<PathBuf>,
    /// How long to wait for another process's write lock before failing (default 5000).
    pub busy_timeout_ms: Option<u64>,
    /// A shared store (`postgres://…`) instead of the SQLite file in the data directory.
    pub url: Option<String>,
}

/// A resolved data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub path: PathBuf,
    pub key_file: PathBuf,
    pub busy_timeout: Duration,
    /// The database: the SQLite file in `path` unless a URL named another.
    pub backend: Backend,
}

/// Which database holds the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user[:password]@host[:port]/db[?…]`).
    Postgres(String),
}

impl Backend {
    /// Reads a store URL: `postgres://…` or `postgresql://…`, or `sqlite:PATH` where PATH is a
    /// database file or a data directory (its `quench.db`).
    pub fn parse(url: &str) -> Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = PathBuf::from(rest.strip_prefix("//").unwrap_or(rest));
            if path.as_os_str().is_empty() {
                bail!("store URL {url:?} names no file: write sqlite:PATH");
            }
            return Ok(Backend::Sqlite(if path.is_dir() {
                super::db_path(&path)
            } else {
                path
            }));
        }
        bail!(
            "store URL {:?} is neither postgres://… nor sqlite:PATH",
            super::postgres::redact(url)
        )
    }

    /// The URL for messages: a password is never shown.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres(u) => super::postgres::redact(u),
        }
    }
}

impl DataDir {
    /// Resolves the data directory for a command; `roots` are the scanned paths (empty for
    /// commands that read the store only, which then look from the current directory up).
    pub fn resolve(args: &StoreOptions, config: &Config, roots: &[String]) -> Result<DataDir> {
        let section: StoreSection = config.section("store")?;
        let base = config.base_dir().map(Path::to_path_buf).unwrap_or_default();
        let path = match (&args.data_dir, &section.data_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => base.join(p),
            (None, None) => default_dir(roots)?,
        };
        let key_file = section
            .key_file
            .map(|k| base.join(k))
            .unwrap_or_else(|| super::seal::default_key_file(&path));
        let backend = match args.url.as_deref().or(section.url.as_deref()) {
            Some(url) => Backend::parse(url)?,
            None => Backend::Sqlite(super::db_path(&path)),
        };
        Ok(DataDir {
            path,
            key_file,
            busy_timeout: Duration::from_millis(section.busy_timeout_ms.unwrap_or(5000)),
            backend,
        })
    }

    /// Whether a scan should record into the store.
    pub fn enabled(args: &StoreOptions, config: &Config) -> Result<bool> {
        let section: StoreSection = config.section("store")?;
        Ok(args.record || section.enabled)
    }

    /// The SQLite file the store is in, if it is in one.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(p) => Some(p),
            Backend::Postgres(_) => None,
        }
    }

    /// Creates the directory (owner-only) if needed, with a `.gitignore` inside a repository.
    pub fn create(&self) -> Result<()> {
        if self.path.is_dir() {
            return Ok(());
        }
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&self.path)
            .with_context(|| format!("creating data directory {}", self.path.display()))?;
        if self.path.file_name().is_some_and(|n| n == LOCAL_DIR) {
            std::fs::write(self.path.join(".gitignore"), "*\n")
                .with_context(|| format!("writing {}/.gitignore", self.path.display()))?;
        }
        Ok(())
    }
}

/// `.quench/` beside the repository holding the first scanned path (or the current directory),
/// else the user's data directory.
fn default_dir(roots: &[String]) -> Result<PathBuf> {
    let start = match roots.iter().find(|r| r.as_str() != "-") {
        Some(r) => {
            let p = Path::new(r);
            if p.is_dir() {
                p.to_path_buf()
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        }
        None => PathBuf::from("."),
    };
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    let abs = std::fs::canonicalize(&start).unwrap_or(start);
    for dir in abs.ancestors() {
        if dir.join(LOCAL_DIR).is_dir() || dir.join(".git").exists() {
            return Ok(dir.join(LOCAL_DIR));
        }
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("no data directory: pass --data-dir, or set XDG_DATA_HOME or HOME")?;
    Ok(data_home.join("quench"))
}
