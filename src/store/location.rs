//! Where the store lives: `--data-dir` (or `QUENCH_DATA_DIR`), else `[store] data_dir` in the
//! operator's config, else the user's data directory (`$XDG_DATA_HOME/quench`, else
//! `~/.local/share/quench`).
//!
//! Never a directory found in or above a scanned tree: the store decides what was already
//! revoked and what is suppressed, so a store a scanned repository ships (a committed
//! `.quench/quench.db` listing its own leaked key as revoked) would let the data being scanned
//! switch off revocation. Such a store is named in a note and ignored.
//!
//! Every directory and file quench creates for its data is owner-only (0700 / 0600): the store
//! holds fingerprints, paths and authors, a service's mirrors hold the secrets themselves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::config::Config;

/// Name of the per-repository data directory earlier versions used by default; one found in or
/// above a scanned path is ignored (see the module doc).
pub const LOCAL_DIR: &str = ".quench";

pub use crate::datadir::{
    fingerprint_key_file, load_fingerprint_key, private_dir, private_file, user_data_dir, DATA_DIR_ENV,
};

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
    /// For the summary: a store found inside a scanned path and ignored.
    pub notes: Vec<String>,
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
            (None, None) => user_data_dir()?,
        };
        let notes = planted_stores(roots, &path)
            .into_iter()
            .map(|found| {
                format!(
                    "{}: a store inside a scanned path is ignored (data in a scanned tree never \
                     changes what quench does); the store is {}",
                    found.display(),
                    path.display()
                )
            })
            .collect();
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
            notes,
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

    /// Creates the directory and, for SQLite, the database file owner-only if needed (SQLite
    /// gives its journal files the database file's mode, so they are owner-only too).
    pub fn create(&self) -> Result<()> {
        private_dir(&self.path)?;
        match &self.backend {
            Backend::Sqlite(file) => {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    private_dir(parent)?;
                }
                private_file(file)
            }
            Backend::Postgres(_) => Ok(()),
        }
    }
}

/// Stores (`.quench/quench.db`) in or above the scanned `roots` (or the current directory)
/// other than the one in use, `chosen`: what earlier versions would have read.
fn planted_stores(roots: &[String], chosen: &Path) -> Vec<PathBuf> {
    let mut starts: Vec<PathBuf> = roots
        .iter()
        .filter(|r| r.as_str() != "-")
        .map(PathBuf::from)
        .collect();
    if starts.is_empty() {
        starts.push(PathBuf::from("."));
    }
    let chosen = std::fs::canonicalize(chosen).unwrap_or_else(|_| chosen.to_path_buf());
    let mut found = Vec::new();
    for start in starts {
        let Ok(abs) = std::fs::canonicalize(&start) else {
            continue;
        };
        for dir in abs.ancestors() {
            let local = dir.join(LOCAL_DIR);
            if local.join("quench.db").is_file() && local != chosen && !found.contains(&local) {
                found.push(local);
            }
            if dir.join(".git").exists() {
                break;
            }
        }
    }
    found
}
