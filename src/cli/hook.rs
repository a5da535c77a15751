//! `quench hook install|uninstall`: a git hook that scans what a commit adds (or a push sends)
//! and blocks it when a secret is found.
//!
//! The hook runs the quench that installed it, by the absolute path recorded at install time,
//! so it works whatever the `PATH` of the program running `git commit` (IDEs, GUIs); when that
//! binary has moved (an upgrade, a reinstall elsewhere) it falls back to the `quench` on
//! `PATH`, and when neither is there it stops the commit with a message saying so rather than
//! failing with status 127. A hook that was already there is chained, not replaced: it is kept
//! as `<hook>.pre-quench`, run first with the same arguments and input, and put back by
//! `uninstall`. A marker line tells our hooks from anyone else's.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};

use crate::source::git;

/// The line that marks a hook as ours.
const MARKER: &str =
    "# quench-managed-hook: written by `quench hook install`; `quench hook uninstall` removes it.";
/// Where a hook that was there before ours is kept (and run from), and restored from on
/// uninstall.
const BACKUP_SUFFIX: &str = ".pre-quench";

#[derive(Args)]
pub struct HookCmd {
    #[command(subcommand)]
    action: HookAction,
}

#[derive(Subcommand)]
enum HookAction {
    /// Write a pre-commit (or pre-push) hook that blocks commits adding secrets; a hook already
    /// there is kept and run first.
    Install(HookArgs),
    /// Remove the hook `install` wrote (never anyone else's), restoring the one it chained.
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
    let (name, run, what, bypass) = if pre_push {
        (
            "pre-push",
            "git --pre-push \"$1\"",
            "push",
            "git push --no-verify",
        )
    } else {
        ("pre-commit", "git --staged", "commit", "git commit --no-verify")
    };
    let exe = sh_quote(&exe.display().to_string());
    // A pre-push hook reads the pushed refs on standard input: both the chained hook and quench
    // need them, so they are read once and handed to each.
    let (save_input, feed) = if pre_push {
        ("input=$(cat)\n", "printf '%s\\n' \"$input\" | ")
    } else {
        ("", "")
    };
    format!(
        r#"#!/bin/sh
{MARKER}
# Scans what this {what} adds for secrets and blocks it if one is found.
{save_input}
# The hook that was here before quench's, run first (as git would have run it).
previous="$(dirname "$0")/{name}{BACKUP_SUFFIX}"
if [ -x "$previous" ]; then
    {feed}"$previous" "$@" || exit $?
fi

# The quench that installed this hook; if it has moved, the one on PATH.
QUENCH={exe}
if [ ! -x "$QUENCH" ]; then
    if command -v quench >/dev/null 2>&1; then
        QUENCH=quench
    else
        cat >&2 <<END
quench: {what} stopped: the secret scan cannot run. quench is no longer at $QUENCH
  (where \`quench hook install\` found it) and there is no quench on PATH.
  - Put quench on PATH, or run \`quench hook install\` again with the new binary.
  - To {what} anyway, this once: {bypass}
END
        exit 1
    fi
fi
{feed}"$QUENCH" {run} --no-progress 1>&2
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
        let backup = backup_of(&path);
        if backup.exists() {
            bail!(
                "{}: a hook quench did not write is there, and {} already holds an earlier one; \
                 left both alone (merge them into one, then install again)",
                path.display(),
                backup.display()
            );
        }
        std::fs::rename(&path, &backup)
            .with_context(|| format!("moving {} to {}", path.display(), backup.display()))?;
        eprintln!(
            "quench: kept the existing hook as {}; it runs first, then quench",
            backup.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, script(&exe, args.pre_push))
        .with_context(|| format!("writing {}", path.display()))?;
    make_executable(&path)?;
    eprintln!(
        "quench: installed {} (runs {}, or the quench on PATH if that moves)",
        path.display(),
        exe.display()
    );
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
