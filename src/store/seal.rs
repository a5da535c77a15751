//! Sealing secrets at rest: a pending revocation job must keep the secret until the issuer has
//! killed it, and the database must never hold it in plaintext (ARCHITECTURE.md, invariant 1).
//!
//! Secrets are encrypted with ChaCha20-Poly1305 under a key kept apart from the database: the
//! `QUENCH_STORE_KEY` environment variable (64 hex characters), or a key file readable only by
//! its owner. A copy of the database alone therefore reveals nothing. The fingerprint is bound
//! as associated data, so a sealed blob moved to another job's row fails to open instead of
//! revoking the wrong key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

/// Environment variable holding the store key (64 hex characters); wins over the key file.
pub const STORE_KEY_ENV: &str = "QUENCH_STORE_KEY";

const NONCE_LEN: usize = 12;

/// Encrypts and decrypts pending secrets.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The key from `QUENCH_STORE_KEY`, else from `key_file`, which is created (mode 0600, in a
    /// 0700 directory) when missing. A key file others can read is refused rather than used.
    pub fn load(key_file: &Path) -> Result<Sealer> {
        if let Some(v) = std::env::var_os(STORE_KEY_ENV) {
            let v = v.to_string_lossy();
            let key =
                parse_hex_key(v.trim()).with_context(|| format!("environment variable {STORE_KEY_ENV}"))?;
            return Ok(Sealer::from_key(&key));
        }
        if key_file.exists() {
            check_private(key_file)?;
            let text = std::fs::read_to_string(key_file)
                .with_context(|| format!("reading store key {}", key_file.display()))?;
            let key =
                parse_hex_key(text.trim()).with_context(|| format!("store key {}", key_file.display()))?;
            return Ok(Sealer::from_key(&key));
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private(key_file, hex::encode(key).as_bytes())?;
        Ok(Sealer::from_key(&key))
    }

    /// `nonce || ciphertext`, authenticated together with `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| anyhow::anyhow!("encrypting a pending secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            bail!("sealed secret is truncated ({} bytes)", sealed.len());
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt the pending secret: the store key ({STORE_KEY_ENV} or the key file) \
                     is not the one it was sealed with, or the row was altered"
                )
            })
    }
}

/// What [`Sealer::key_check`] seals: a fixed text, bound to its own associated data.
const KEY_CHECK_AAD: &[u8] = b"quench.store-key-check";
const KEY_CHECK_TEXT: &[u8] = b"quench store key check, version 1";

impl Sealer {
    /// A value only this key opens, for a store to keep so that a process holding another key
    /// is refused before it seals or opens anything (see `Store::check_key`). It reveals
    /// nothing of the key: the text is public, the cipher authenticated.
    pub fn key_check(&self) -> Result<Vec<u8>> {
        self.seal(KEY_CHECK_AAD, KEY_CHECK_TEXT)
    }

    /// Whether `check` (a store's [`Sealer::key_check`]) was made with this key.
    pub fn matches(&self, check: &[u8]) -> bool {
        self.open(KEY_CHECK_AAD, check).is_ok_and(|t| t == KEY_CHECK_TEXT)
    }
}

fn parse_hex_key(s: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(s).map_err(|_| anyhow::anyhow!("store key is not hexadecimal"))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("store key must be 32 bytes (64 hex characters), not {}", b.len())
    })
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading store key {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "store key {} is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// Creates `path` with owner-only permissions, failing if it already exists (two processes
/// racing to create the key must not end up with different keys silently).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating store key {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("writing store key {}", path.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating directory {}", dir.display()))
}

/// Where the key file lives by default for a data directory: its own `keys/` subdirectory,
/// a separate owner-only file, never inside the database.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("store.key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_aad() {
        let s = Sealer::from_key(&[7u8; 32]);
        let blob = s.seal(b"fp1", b"ghp_secret").unwrap();
        assert!(!blob.windows(10).any(|w| w == b"ghp_secret"));
        assert_eq!(s.open(b"fp1", &blob).unwrap(), b"ghp_secret");
        assert!(s.open(b"fp2", &blob).is_err());
        assert!(Sealer::from_key(&[8u8; 32]).open(b"fp1", &blob).is_err());
        assert!(s.open(b"fp1", &blob[..5]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_file(dir.path());
        let a = Sealer::load(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let blob = a.seal(b"x", b"y").unwrap();
        let b = Sealer::load(&path).unwrap();
        assert_eq!(b.open(b"x", &blob).unwrap(), b"y");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Sealer::load(&path).err().unwrap().to_string();
        assert!(err.contains("readable by others"), "{err}");
    }
}
