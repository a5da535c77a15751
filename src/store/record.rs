//! Recording a scan: findings with their attribution, and the verdicts verification left on
//! them, in one place so every scanning command records the same way.

use std::path::Path;

use anyhow::Result;

use super::attribution::{attribute, CodeOwners};
use super::{Recorded, Store, Time, Verdict};
use crate::finding::Finding;

/// The repository root for CODEOWNERS: the first scanned directory (or a file's directory),
/// walked up to the directory holding `.git`.
pub fn repo_root(roots: &[String]) -> std::path::PathBuf {
    let first = roots
        .iter()
        .find(|r| r.as_str() != "-")
        .map(String::as_str)
        .unwrap_or(".");
    let p = Path::new(first);
    let dir = if p.is_dir() {
        p
    } else {
        p.parent().unwrap_or(Path::new("."))
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// Records `findings` and their verdicts; returns the counts and, for each finding, the
/// verdict it carried (if verification ran). Findings in `already` were recorded with their
/// verdict earlier in this scan (as the verdict arrived): only their new locations are added,
/// and they are not counted again.
pub fn record_scan(
    store: &mut dyn Store,
    findings: &[Finding],
    roots: &[String],
    at: Time,
    already: &std::collections::HashSet<String>,
) -> Result<(Recorded, Vec<Option<Verdict>>)> {
    let owners = CodeOwners::discover(&repo_root(roots));
    let (earlier, fresh): (Vec<_>, Vec<_>) = findings
        .iter()
        .map(|f| (f, attribute(f, &owners)))
        .partition(|(f, _)| already.contains(&f.fingerprint));
    let mut recorded = store.record_findings(&fresh, at)?;
    if !earlier.is_empty() {
        recorded.new_locations += store.record_findings(&earlier, at)?.new_locations;
    }
    let mut verdicts = Vec::with_capacity(findings.len());
    for f in findings {
        let v = f.verification.as_ref().map(Verdict::from_verification);
        if let Some(v) = v.as_ref().filter(|_| !already.contains(&f.fingerprint)) {
            store.apply(&super::Step::verified(
                "quench",
                &f.fingerprint,
                &f.rule_id,
                v,
                at,
            ))?;
        }
        verdicts.push(v);
    }
    Ok((recorded, verdicts))
}
