//! `quench hook install|uninstall`: a git hook that scans what a commit adds (or a push sends)
//! and blocks it when a secret is found.
//!
//! The hook calls the quench binary that installed it by absolute path, so it works whatever
//! the `PATH` of the program running `git commit` (IDEs, GUIs). A marker line tells our hooks
//! from anyone else's: we never overwrite or remove a hook we did not write unless forced.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};

use crate::source::git;

/// The line that marks a hook as ours.
const MARKER: &str =
    "# quench-managed-hook: written by `quench hook install`; `quench hook uninstall` removes it.";
/// Where a hook replaced with `--force` is kept, and restored from on uninstall.
const BACKUP_SUFFIX: &str = ".pre-quench";

#[derive(Args)]
pub struct HookCmd {
    #[command(subcommand)]
    action: HookAction,
}

#[derive(Subcommand)]
enum HookAction {
    /// Write a pre-commit (or pre-push) hook that blocks commits adding secrets.
    Install(HookArgs),
    /// Remove the hook `install` wrote (never anyone else's), restoring one it replaced.
    Uninstall(HookArgs),
}

#[derive(Args)]
struct HookArgs {
    /// The repository (default: the one the current directory is in).
    #[arg(value_name = "REPO")]
    repo: Option<PathBuf>,
    /// The pre-push hook (scans the commits being pushed) instead of pre-commit.
    #[arg(long)]
    pre_push: bool,
    /// Replace an existing hook quench did not write (it is kept as `<hook>.pre-quench`).
    #[arg(long)]
    force: bool,
}

impl HookCmd {
    pub fn run(self) -> Result<i32> {
        match self.action {
            HookAction::Install(a) => install(&a),
            HookAction::Uninstall(a) => uninstall(&a),
        }
    }
}

fn hook_path(args: &HookArgs) -> Result<PathBuf> {
    let repo = git::open(args.repo.as_deref())?;
    let name = if args.pre_push { "pre-push" } else { "pre-commit" };
    // `core.hooksPath` moves hooks elsewhere (relative paths are from the work tree).
    let configured = repo.config().ok().and_then(|c| c.get_path("core.hooksPath").ok());
    let dir = match configured {
        Some(p) if p.is_absolute() => p,
        Some(p) => repo.workdir().unwrap_or(repo.path()).join(p),
        None => repo.commondir().join("hooks"),
    };
    Ok(dir.join(name))
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l == MARKER))
}

/// Quotes a string for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn script(exe: &Path, pre_push: bool) -> String {
    let (run, what, bypass) = if pre_push {
        ("git --pre-push \"$1\"", "push", "git push --no-verify")
    } else {
        ("git --staged", "commit", "git commit --no-verify")
    };
    let exe = sh_quote(&exe.display().to_string());
    format!(
        r#"#!/bin/sh
{MARKER}
# Scans what this {what} adds for secrets and blocks it if one is found.
QUENCH={exe}
"$QUENCH" {run} --no-progress 1>&2
status=$?
if [ "$status" -eq 1 ]; then
    cat >&2 <<'END'

quench: {what} blocked: it adds the secret(s) listed above (file:line, rule).
  - Remove the secret, then stage the file again; if the key was real, revoke it.
  - A false positive? Put `quench:allow` in a comment on that line, or add the finding's
    fingerprint to .quenchignore at the repository root.
  - To {what} anyway, this once: {bypass}
END
elif [ "$status" -ne 0 ]; then
    echo "quench: the secret scan failed (status $status), so the {what} was stopped; {bypass} skips it" >&2
fi
exit "$status"
"#
    )
}

fn install(args: &HookArgs) -> Result<i32> {
    let path = hook_path(args)?;
    let exe = std::env::current_exe().context("finding the path of the running quench")?;
    if path.exists() && !is_ours(&path) {
        if !args.force {
            bail!(
                "{}: a hook quench did not write is already there; left alone (use --force to replace \
                 it, keeping it as {}{BACKUP_SUFFIX})",
                path.display(),
                path.display()
            );
        }
        let backup = backup_of(&path);
        std::fs::rename(&path, &backup)
            .with_context(|| format!("moving {} to {}", path.display(), backup.display()))?;
        eprintln!("quench: kept the previous hook as {}", backup.display());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, script(&exe, args.pre_push))
        .with_context(|| format!("writing {}", path.display()))?;
    make_executable(&path)?;
    eprintln!("quench: installed {}", path.display());
    Ok(super::EXIT_CLEAN)
}

fn uninstall(args: &HookArgs) -> Result<i32> {
    let path = hook_path(args)?;
    if !path.exists() {
        eprintln!("quench: no hook at {}; nothing to remove", path.display());
        return Ok(super::EXIT_CLEAN);
    }
    if !is_ours(&path) {
        return Err(anyhow!("{}: not written by quench; left alone", path.display()));
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    let backup = backup_of(&path);
    if backup.exists() {
        std::fs::rename(&backup, &path)
            .with_context(|| format!("restoring {} to {}", backup.display(), path.display()))?;
        eprintln!(
            "quench: removed the quench hook and restored the previous {}",
            path.display()
        );
    } else {
        eprintln!("quench: removed {}", path.display());
    }
    Ok(super::EXIT_CLEAN)
}

fn backup_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}{BACKUP_SUFFIX}", path.display()))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<()> {
    Ok(())
}
