//! The user's data directory and the owner-only files quench keeps in it (the store's default
//! home, the per-user fingerprint key). On the ground floor because a finding's fingerprint
//! needs the key, and findings know nothing of the store.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// Environment variable naming the data directory (the `--data-dir` flag's).
pub const DATA_DIR_ENV: &str = "QUENCH_DATA_DIR";

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
