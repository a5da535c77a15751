//! Getting a secret back for a stored finding. The store keeps a secret only while a job
//! needs it (sealed); for any other finding, `quench revoke --fingerprint` and `quench recheck`
//! read the secret again from where it was found, matching it by fingerprint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::finding::Finding;
use crate::rules::RuleSet;
use crate::scan::{Collector, ScanOptions, Scanner};
use crate::store::StoredFinding;

/// Rescans the finding's recorded locations (as recorded, then relative to `base`) and returns
/// the finding whose fingerprint matches, with its secret in memory.
pub fn rescan(f: &StoredFinding, paths: &[String], rules: &RuleSet, base: Option<&Path>) -> Option<Finding> {
    let mut kept = rules.clone();
    kept.rules.retain(|r| r.spec.id == f.rule_id);
    let opts = ScanOptions {
        threads: 1,
        ..ScanOptions::default()
    };
    let scanner = Arc::new(Scanner::new(kept, opts).ok()?);
    let mut candidates: Vec<PathBuf> = Vec::new();
    for p in paths {
        candidates.push(PathBuf::from(p));
        if let Some(b) = base {
            candidates.push(b.join(p));
        }
    }
    for c in candidates.into_iter().filter(|c| c.is_file()) {
        let collector = Arc::new(Collector::new());
        crate::source::fs::scan_paths(&[c.to_string_lossy().into_owned()], &scanner, &collector);
        let outcome = collector.finish(&Default::default());
        if let Some(found) = outcome
            .findings
            .into_iter()
            .find(|x| x.fingerprint == f.fingerprint)
        {
            return Some(found);
        }
    }
    None
}
