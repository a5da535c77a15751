//! Gathers hits from many threads into findings deduplicated by fingerprint, plus the counts
//! and skip reasons the summary reports.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::Hit;
use crate::finding::Finding;

/// A file or object that was not scanned, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skip {
    pub path: String,
    /// A short category (`binary`, `too-large`, `unreadable`, …) for counting.
    pub kind: String,
    /// The full reason, naming the cause.
    pub reason: String,
}

/// A documented example value seen in the scan: where, and whose documentation it is from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExampleSeen {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub rule_id: String,
    pub issuer: String,
    pub what: String,
    pub source: String,
}

/// Skip kinds that mean data the user asked for was not read (as opposed to a deliberate skip
/// by policy: binary, too large, allow-listed, a symlink not followed). Any of them makes the
/// exit status 2 when nothing was found, so "nothing found" is never claimed for data that was
/// not scanned.
pub const NOT_SCANNED: &[&str] = &[
    "unreadable",
    "read-error",
    "missing-object",
    "walk-error",
    "path-too-long",
    "expansion-cap",
];

impl Summary {
    /// How many skips were of data that could not be read ([`NOT_SCANNED`]).
    pub fn not_scanned(&self) -> u64 {
        NOT_SCANNED.iter().filter_map(|k| self.skipped.get(*k)).sum()
    }
}

/// How many skip records are kept in full; beyond this only the counts grow.
const MAX_SKIP_RECORDS: usize = 1000;

/// How far a source is through work whose size it knows: the progress bar's total and ETA.
/// A source sets the unit and total when it learns them (`files` once a counting walk ends,
/// `commits` once the history is planned) and counts `done` as it goes; until then the bar
/// shows counts without a total.
#[derive(Default)]
pub struct Work {
    unit: std::sync::OnceLock<&'static str>,
    total: AtomicU64,
    pub done: AtomicU64,
}

impl Work {
    /// Records the total, in `unit`s (the first unit set stays).
    pub fn set_total(&self, unit: &'static str, total: u64) {
        let _ = self.unit.set(unit);
        self.total.store(total, Ordering::Relaxed);
    }

    /// (unit, done, total) once a total is known.
    pub fn known(&self) -> Option<(&'static str, u64, u64)> {
        let unit = *self.unit.get()?;
        Some((
            unit,
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        ))
    }
}

/// See [`Collector::on_new`].
pub type NewFindingHook = Box<dyn Fn(&Finding) + Send + Sync>;

#[derive(Default)]
pub struct Collector {
    findings: Mutex<HashMap<String, Finding>>,
    skips: Mutex<(Vec<Skip>, BTreeMap<String, u64>)>,
    notes: Mutex<Vec<String>>,
    examples: Mutex<Vec<ExampleSeen>>,
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub suppressed_inline: AtomicU64,
    pub hits: AtomicU64,
    /// The source's progress through work of known size (see [`Work`]).
    pub work: Work,
    /// Told of each finding when first seen, so that verification starts while the scan goes on
    /// (called under the findings lock: keep it to a channel send).
    pub on_new: std::sync::OnceLock<NewFindingHook>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files_scanned: u64,
    pub bytes_scanned: u64,
    pub findings: usize,
    pub locations: usize,
    pub suppressed_inline: u64,
    pub suppressed_ignored: u64,
    pub suppressed_baseline: u64,
    pub skipped: BTreeMap<String, u64>,
    pub duration_ms: u64,
    /// Documented example values (AWS's `…EXAMPLE` keys, the jwt.io token): not leaks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ExampleSeen>,
    /// Notes a user should see (truncated history, unsupported rule fields…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// With `--explain`: each candidate a filter dropped, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<super::Explained>,
}

#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
    pub summary: Summary,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_hits(&self, hits: Vec<Hit>) {
        if hits.is_empty() {
            return;
        }
        let (examples, hits): (Vec<Hit>, Vec<Hit>) = hits.into_iter().partition(|h| h.example.is_some());
        if !examples.is_empty() {
            let mut g = self.examples.lock().unwrap_or_else(|e| e.into_inner());
            for h in examples {
                let Some(d) = h.example else { continue };
                if g.len() < MAX_SKIP_RECORDS {
                    g.push(ExampleSeen {
                        path: h.location.path,
                        line: h.location.line,
                        column: h.location.column,
                        rule_id: h.rule.spec.id.clone(),
                        issuer: d.issuer.clone(),
                        what: d.what.clone(),
                        source: d.source.clone(),
                    });
                }
            }
        }
        if hits.is_empty() {
            return;
        }
        self.hits.fetch_add(hits.len() as u64, Ordering::Relaxed);
        let mut map = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        for h in hits {
            let fp = crate::finding::fingerprint(&h.rule.spec.id, &h.secret);
            let is_new = !map.contains_key(&fp);
            let f = map.entry(fp).or_insert_with(|| {
                let mut f = Finding::new(h.rule.clone(), h.secret.clone(), h.parts.clone());
                f.details = super::offline::details(&h.secret);
                f
            });
            // A multi-part credential seen once without its companion and once with it keeps
            // the companion.
            for (name, value) in h.parts {
                if f.part(&name).is_none() {
                    f.parts.push(crate::finding::FoundPart {
                        redacted: crate::finding::redact(&value),
                        name,
                        value: crate::finding::Secret::new(value),
                    });
                }
            }
            f.locations.push(h.location);
            if is_new {
                if let Some(tell) = self.on_new.get() {
                    tell(f);
                }
            }
        }
    }

    pub fn skip(&self, path: impl Into<String>, kind: &str, reason: impl Into<String>) {
        let mut g = self.skips.lock().unwrap_or_else(|e| e.into_inner());
        *g.1.entry(kind.to_string()).or_default() += 1;
        g.0.push(Skip {
            path: path.into(),
            kind: kind.to_string(),
            reason: reason.into(),
        });
        // Keep the first MAX_SKIP_RECORDS by sort order, not by arrival (which depends on
        // thread timing), so the same tree always reports the same skips.
        if g.0.len() >= 2 * MAX_SKIP_RECORDS {
            g.0.sort_unstable();
            g.0.truncate(MAX_SKIP_RECORDS);
        }
    }

    /// Something the user should know about a file that was scanned (how it was decoded, what
    /// could not be). The first MAX_SKIP_RECORDS are kept.
    pub fn note(&self, text: String) {
        let mut g = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < MAX_SKIP_RECORDS {
            g.push(text);
        }
    }

    pub fn scanned(&self, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn finding_count(&self) -> usize {
        self.findings.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Sorts everything deterministically and applies fingerprint ignores.
    pub fn finish(&self, ignore: &std::collections::HashSet<String>) -> ScanOutcome {
        let map = std::mem::take(&mut *self.findings.lock().unwrap_or_else(|e| e.into_inner()));
        let (mut skipped, skip_counts) =
            std::mem::take(&mut *self.skips.lock().unwrap_or_else(|e| e.into_inner()));
        let mut ignored = 0;
        let mut findings: Vec<Finding> = map
            .into_values()
            .filter(|f| {
                let keep = !ignore.contains(&f.fingerprint);
                ignored += (!keep) as u64;
                keep
            })
            .collect();
        for f in &mut findings {
            f.locations.sort();
            f.locations.dedup();
        }
        findings.sort_by(|a, b| {
            a.locations
                .first()
                .map(|l| (&l.path, l.line, l.column))
                .cmp(&b.locations.first().map(|l| (&l.path, l.line, l.column)))
                .then_with(|| a.rule_id.cmp(&b.rule_id))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        skipped.sort();
        skipped.truncate(MAX_SKIP_RECORDS);
        let summary = Summary {
            files_scanned: self.files.load(Ordering::Relaxed),
            bytes_scanned: self.bytes.load(Ordering::Relaxed),
            findings: findings.len(),
            locations: findings.iter().map(|f| f.locations.len()).sum(),
            suppressed_inline: self.suppressed_inline.load(Ordering::Relaxed),
            suppressed_ignored: ignored,
            suppressed_baseline: 0,
            skipped: skip_counts,
            duration_ms: 0,
            dropped: Vec::new(),
            examples: {
                let mut e = std::mem::take(&mut *self.examples.lock().unwrap_or_else(|e| e.into_inner()));
                e.sort();
                e.dedup();
                e
            },
            notes: {
                let mut n = std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()));
                n.sort();
                n
            },
        };
        ScanOutcome {
            findings,
            skipped,
            summary,
        }
    }
}
