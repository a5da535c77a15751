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

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;

use crate::config::Config;

/// Name of the per-repository data directory earlier versions used by default; one found in or
/// above a scanned path is ignored (see the module doc).
pub const LOCAL_DIR: &str = ".quench";

/// Environment variable naming the data directory (the `--data-dir` flag's).
pub const DATA_DIR_ENV: &str = "QUENCH_DATA_DIR";

/// Flags that choose and enable the store.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Record findings, verdicts and timelines in the store (also `[store] enabled = true`).
    #[arg(long)]
    pub store: bool,
    /// Revoke live findings under the `[revoke]` policy, as if it said `mode = "auto"` where it
    /// says nothing (implies --store).
    #[arg(long)]
    pub revoke: bool,
    /// The store's data directory (default: `$XDG_DATA_HOME/quench`, else
    /// `~/.local/share/quench`; never a directory inside a scanned tree).
    #[arg(long, value_name = "DIR", env = "QUENCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
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
}

/// A resolved data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub path: PathBuf,
    pub key_file: PathBuf,
    pub busy_timeout: Duration,
    /// For the summary: a store found inside a scanned path and ignored.
    pub notes: Vec<String>,
}

impl DataDir {
    /// Resolves the data directory for a command; `roots` are the scanned paths (empty for
    /// commands that read the store only, which then look from the current directory up).
    pub fn resolve(args: &StoreArgs, config: &Config, roots: &[String]) -> Result<DataDir> {
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
        Ok(DataDir {
            path,
            key_file,
            busy_timeout: Duration::from_millis(section.busy_timeout_ms.unwrap_or(5000)),
            notes,
        })
    }

    /// Whether a scan should record into the store.
    pub fn enabled(args: &StoreArgs, config: &Config) -> Result<bool> {
        let section: StoreSection = config.section("store")?;
        Ok(args.store || args.revoke || args.data_dir.is_some() || section.enabled)
    }

    pub fn db_path(&self) -> PathBuf {
        super::db_path(&self.path)
    }

    /// Creates the directory and the database file owner-only if needed (SQLite gives its
    /// journal files the database file's mode, so they are owner-only too).
    pub fn create(&self) -> Result<()> {
        private_dir(&self.path)?;
        private_file(&self.db_path())
    }
}

/// The user's data directory for quench: `QUENCH_DATA_DIR`, else `$XDG_DATA_HOME/quench`,
/// else `~/.local/share/quench`.
pub fn user_data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .context("no data directory: pass --data-dir, or set QUENCH_DATA_DIR, XDG_DATA_HOME or HOME")?;
    Ok(data_home.join("quench"))
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

/// Creates `dir` (and missing parents) owner-only (0700).
pub fn private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

/// Creates an empty file at `path` owner-only (0600) unless it exists, so that whatever opens
/// it next (SQLite, which would use the umask) finds it private.
pub fn private_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Where the per-user fingerprint key lives: beside the user's data, owner-only.
pub fn fingerprint_key_file() -> Result<PathBuf> {
    Ok(user_data_dir()?.join("keys").join("fingerprint.key"))
}

/// The fingerprint key when `QUENCH_FINGERPRINT_KEY` sets none: this user's own random key,
/// created on first use (0600). A fixed, published default would let anyone compute the
/// fingerprint of a candidate secret, and so confirm a guess or forge a store entry for it.
pub fn load_fingerprint_key() -> Result<Vec<u8>> {
    use rand::RngCore;
    let path = fingerprint_key_file()?;
    let read = |path: &Path| -> Result<Vec<u8>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::metadata(path)?.mode();
            if mode & 0o077 != 0 {
                anyhow::bail!(
                    "fingerprint key {} is readable by others (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading fingerprint key {}", path.display()))?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() >= 16)
            .with_context(|| {
                format!(
                    "fingerprint key {}: not a hex key of 16 bytes or more",
                    path.display()
                )
            })?;
        Ok(key)
    };
    if path.exists() {
        return read(&path);
    }
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                .and_then(|_| f.sync_all())
                .with_context(|| format!("writing fingerprint key {}", path.display()))?;
            Ok(key.to_vec())
        }
        // Another process created it first: use theirs, so both agree.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e).with_context(|| format!("creating fingerprint key {}", path.display())),
    }
}
