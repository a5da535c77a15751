//! The operator's configuration: TOML files given with `--config`, merged in order (later files
//! override earlier ones, table by table).
//!
//! Each subsystem reads its own section with [`Config::section`], so adding a section does not
//! touch a central struct. Configuration is only ever read from paths the operator names: a
//! file inside a scanned tree can never change what quench does (ARCHITECTURE.md, invariant 6).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub table: toml::Table,
    pub files: Vec<PathBuf>,
}

impl Config {
    pub fn load(paths: &[PathBuf]) -> Result<Config> {
        let mut cfg = Config::default();
        for p in paths {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
            let t: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing config {}", p.display()))?;
            merge(&mut cfg.table, t);
            cfg.files.push(p.clone());
        }
        Ok(cfg)
    }

    /// Deserialises section `name` (missing → default), naming the files on error.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T> {
        match self.table.get(name) {
            None => Ok(T::default()),
            Some(v) => v
                .clone()
                .try_into()
                .with_context(|| format!("config section [{name}] in {}", self.describe_files())),
        }
    }

    fn describe_files(&self) -> String {
        self.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The directory of the last config file, against which relative paths in it resolve.
    pub fn base_dir(&self) -> Option<&Path> {
        self.files.last().and_then(|p| p.parent())
    }
}

/// The longest duration a config key may give: a century. Any more is a typo, and a number
/// of seconds past what a `Duration` holds (`1e30`) would otherwise panic.
const MAX_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// Seconds from config key `key` (`[section] name`, for the error), `default` when unset: a
/// clear error naming the key for NaN, infinities, negative and absurdly large values.
pub fn secs(value: Option<f64>, default: f64, key: &str) -> Result<std::time::Duration> {
    let v = value.unwrap_or(default);
    if !(v.is_finite() && (0.0..=MAX_SECS).contains(&v)) {
        anyhow::bail!("{key} = {v}: expected a number of seconds from 0 to {MAX_SECS:.0}");
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// Deep merge: tables merge key by key; anything else is replaced.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// `[scan]`: defaults for scan options; command-line flags win.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    pub max_file_size: Option<u64>,
    pub respect_gitignore: Option<bool>,
    pub scan_binary: Option<bool>,
    pub follow_symlinks: Option<bool>,
    pub min_confidence: Option<String>,
    pub decode_depth: Option<u8>,
    pub threads: Option<usize>,
    /// Extra rule files or directories.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
}

/// `[allowlist]`: paths never scanned and fingerprints never reported.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistSection {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub fingerprints: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_out_of_range_are_errors_naming_the_key() {
        assert_eq!(secs(Some(1.5), 0.0, "[x] t").unwrap().as_millis(), 1500);
        assert_eq!(secs(None, 2.0, "[x] t").unwrap().as_secs(), 2);
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e30] {
            let e = secs(Some(bad), 0.0, "[verify] timeout_secs")
                .unwrap_err()
                .to_string();
            assert!(e.contains("[verify] timeout_secs"), "{e}");
        }
    }

    #[test]
    fn later_files_override_earlier_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        std::fs::write(&a, "[scan]\nmax_file_size = 10\nscan_binary = true\n").unwrap();
        std::fs::write(&b, "[scan]\nmax_file_size = 20\n").unwrap();
        let cfg = Config::load(&[a, b]).unwrap();
        let s: ScanSection = cfg.section("scan").unwrap();
        assert_eq!(s.max_file_size, Some(20));
        assert_eq!(s.scan_binary, Some(true));
    }
}
