//! Real key material for the key rules' examples, made by the real generators.
//!
//! A hand-typed key body proves nothing: the old examples had bodies no generator writes and
//! passed while every key `ssh-keygen` wrote was missed. So an example may say `{key:NAME}`
//! (or `{key:NAME|json}`, newlines written as `\n`) and the self-test runs the named recipe —
//! `ssh-keygen`, `openssl`, `puttygen`, `gpg` — in a private temporary directory, once per
//! process, and scans what it wrote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A way to make one kind of key: a shell command that writes `$D/key`. `$D/pass` holds a
/// passphrase and `$D/empty` an empty one (puttygen reads them from files).
pub struct Recipe {
    pub name: &'static str,
    /// The program that must be installed, and the Debian package that has it.
    pub tool: &'static str,
    pub package: &'static str,
    pub script: &'static str,
}

pub const PASSPHRASE: &str = "quench-example";

pub const RECIPES: &[Recipe] = &[
    Recipe { name: "openssh-ed25519", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t ed25519 -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "openssh-rsa", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t rsa -b 2048 -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "openssh-ecdsa", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t ecdsa -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "openssh-encrypted", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t ed25519 -N \"$(cat \"$D/pass\")\" -C '' -f \"$D/key\"" },
    Recipe { name: "ssh-pem-rsa", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "ssh-pem-ecdsa", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t ecdsa -m PEM -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "ssh-pem-dsa", tool: "ssh-keygen", package: "openssh-client", script: "ssh-keygen -q -t dsa -m PEM -N '' -C '' -f \"$D/key\"" },
    Recipe { name: "pkcs8-rsa", tool: "openssl", package: "openssl", script: "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out \"$D/key\"" },
    Recipe { name: "pkcs8-ec", tool: "openssl", package: "openssl", script: "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$D/key\"" },
    Recipe { name: "pkcs8-ed25519", tool: "openssl", package: "openssl", script: "openssl genpkey -algorithm ed25519 -out \"$D/key\"" },
    Recipe { name: "pkcs8-encrypted", tool: "openssl", package: "openssl", script: "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass \"file:$D/pass\" -out \"$D/key\"" },
    Recipe { name: "pkcs1-rsa", tool: "openssl", package: "openssl", script: "openssl genrsa -traditional -out \"$D/key\" 2048 2>/dev/null" },
    Recipe { name: "pkcs1-encrypted", tool: "openssl", package: "openssl", script: "openssl genrsa -traditional -aes128 -passout \"file:$D/pass\" -out \"$D/key\" 2048 2>/dev/null" },
    Recipe { name: "sec1-ec", tool: "openssl", package: "openssl", script: "openssl ecparam -name prime256v1 -genkey -noout -out \"$D/key\"" },
    Recipe { name: "putty-v2", tool: "puttygen", package: "putty-tools", script: "puttygen -q -t ed25519 --ppk-param version=2 --new-passphrase \"$D/empty\" -o \"$D/key\"" },
    Recipe { name: "putty-v2-rsa", tool: "puttygen", package: "putty-tools", script: "puttygen -q -t rsa -b 2048 --ppk-param version=2 --new-passphrase \"$D/empty\" -o \"$D/key\"" },
    Recipe { name: "putty-v3", tool: "puttygen", package: "putty-tools", script: "puttygen -q -t ed25519 --new-passphrase \"$D/empty\" -o \"$D/key\"" },
    Recipe { name: "putty-v3-ecdsa", tool: "puttygen", package: "putty-tools", script: "puttygen -q -t ecdsa --new-passphrase \"$D/empty\" -o \"$D/key\"" },
    Recipe { name: "putty-encrypted", tool: "puttygen", package: "putty-tools", script: "puttygen -q -t ed25519 --new-passphrase \"$D/pass\" -o \"$D/key\"" },
    Recipe {
        name: "pgp",
        tool: "gpg",
        package: "gnupg",
        script: "export GNUPGHOME=\"$D/gnupg\"; mkdir -m 700 \"$GNUPGHOME\" && \
                 gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'Example <key@example.invalid>' ed25519 sign never 2>/dev/null && \
                 gpg -q --batch --armor --pinentry-mode loopback --passphrase '' --export-secret-keys > \"$D/key\"; \
                 s=$?; gpgconf --kill gpg-agent 2>/dev/null; exit $s",
    },
];

/// Why an example could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeygenError {
    /// The generator is not installed: the example cannot be checked here.
    Missing(String),
    /// The example names no known recipe, or the generator failed.
    Failed(String),
}

/// The text of a freshly generated key of recipe `name` (the same one for the whole process).
pub fn generate(name: &str) -> Result<String, KeygenError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Result<String, KeygenError>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return hit.clone();
    }
    let made = run(name);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), made.clone());
    made
}

fn run(name: &str) -> Result<String, KeygenError> {
    let recipe = RECIPES
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| KeygenError::Failed(format!("no key recipe named {name:?}")))?;
    if !on_path(recipe.tool) {
        return Err(KeygenError::Missing(format!(
            "{} is not installed (Debian package {}), so {name:?} keys cannot be generated",
            recipe.tool, recipe.package
        )));
    }
    let dir = TempDir::new().map_err(|e| KeygenError::Failed(format!("temporary directory: {e}")))?;
    let write = |file: &str, text: &str| {
        std::fs::write(dir.0.join(file), text).map_err(|e| KeygenError::Failed(format!("{file}: {e}")))
    };
    write("pass", PASSPHRASE)?;
    write("empty", "")?;
    let out = Command::new("sh")
        .arg("-c")
        .arg(recipe.script)
        .env("D", &dir.0)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| KeygenError::Failed(format!("{name}: cannot run sh: {e}")))?;
    if !out.status.success() {
        return Err(KeygenError::Failed(format!(
            "{name}: `{}` failed ({}): {}",
            recipe.tool,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    std::fs::read_to_string(dir.0.join("key"))
        .map_err(|e| KeygenError::Failed(format!("{name}: {} wrote no key: {e}", recipe.tool)))
}

/// Replaces each `{key:NAME}` / `{key:NAME|json}` in an example with a generated key.
pub fn expand(example: &str) -> Result<String, KeygenError> {
    let mut out = String::with_capacity(example.len());
    let mut rest = example;
    while let Some(i) = rest.find("{key:") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else { break };
        let spec = &rest[i + 5..i + j];
        let (name, json) = match spec.strip_suffix("|json") {
            Some(n) => (n, true),
            None => (spec, false),
        };
        let key = generate(name)?;
        let key = key.trim_end();
        if json {
            out.push_str(&key.replace('\n', "\\n"));
        } else {
            out.push_str(key);
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// A directory only we can read, removed with everything in it when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "quench-keygen-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
