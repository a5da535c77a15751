//! The scan pipeline between sources and reports: turns the engine's byte-offset matches into
//! located hits (line, column, context), applies inline suppressions and decodes base64 layers,
//! and gathers hits into deduplicated findings.
//!
//! Sources (files, streams, git) call [`Scanner::scan_buffer`] with bytes and a name; they never
//! see the engine, and the engine never sees them.

pub mod collect;
pub mod decode;
pub mod offline;
pub mod selftest;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use globset::GlobSet;

use crate::engine::{lines, Engine, Match, Scratch};
use crate::finding::{Context, Decoded, Hidden, Location};
use crate::rules::{Confidence, Rule, RuleSet};

pub use collect::{Collector, ExampleSeen, ScanOutcome, Skip, Summary};

/// Default bound on a file's size: none. Big files are where keys leak (dumps, HAR captures,
/// agent transcripts) and are streamed in bounded memory; `--max-file-size` is a cap for those
/// who want one, and every file it skips is counted and named in the report.
pub const DEFAULT_MAX_FILE_SIZE: u64 = u64::MAX;

/// Markers that suppress a finding on their line. `gitleaks:allow` is honoured so that a
/// repository moving from gitleaks keeps its reviewed exceptions.
const INLINE_ALLOW: &[&[u8]] = &[b"quench:allow", b"gitleaks:allow"];

/// Directories a directory walk skips by default: what a build or a package manager writes
/// (compiled output, caches, downloaded dependencies), not what a team commits. They hold
/// thousands of files a first scan would otherwise wade through (`target/` alone holds every
/// binary of a Rust build); each skipped directory is counted, and `--include-build-dirs`
/// walks them.
pub const BUILD_DIRS: &[&str] = &[
    "target",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".gradle",
    ".next",
    "dist",
];

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub max_file_size: u64,
    pub respect_gitignore: bool,
    pub scan_binary: bool,
    /// Walk into build outputs and dependency trees ([`BUILD_DIRS`]) instead of skipping them.
    pub scan_build_dirs: bool,
    pub follow_symlinks: bool,
    pub threads: usize,
    pub min_confidence: Confidence,
    /// Paths (globs) never scanned.
    pub allow_paths: GlobSet,
    /// Fingerprints never reported (from `.quenchignore` files and the config).
    pub ignore_fingerprints: HashSet<String>,
    /// How many base64 layers to peel.
    pub decode_depth: u8,
    pub progress: bool,
    /// Record every candidate a filter drops, with the reason (`--explain`).
    pub explain: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            respect_gitignore: false,
            scan_binary: false,
            scan_build_dirs: false,
            follow_symlinks: false,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            min_confidence: Confidence::Low,
            allow_paths: GlobSet::empty(),
            ignore_fingerprints: HashSet::new(),
            decode_depth: 2,
            progress: false,
            explain: false,
        }
    }
}

/// A match placed in its file: what the collector turns into (part of) a finding.
#[derive(Clone)]
pub struct Hit {
    pub rule: Arc<Rule>,
    pub secret: Vec<u8>,
    pub parts: Vec<(String, Vec<u8>)>,
    pub location: Location,
    /// A value the issuer documents as an example: reported as such, never as a finding.
    pub example: Option<&'static crate::engine::examples::Documented>,
}

impl std::fmt::Debug for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<_> = self.parts.iter().map(|(n, v)| (n, Hidden(v))).collect();
        f.debug_struct("Hit")
            .field("rule", &self.rule.spec.id)
            .field("secret", &Hidden(&self.secret))
            .field("parts", &parts)
            .field("location", &self.location)
            .finish()
    }
}

/// Where the bytes handed to [`Scanner::scan_buffer`] sit in their source.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub path: &'a str,
    pub context: Context,
    /// Line number of the buffer's first byte (1 for a whole file; more for stream chunks).
    pub first_line: usize,
    /// Byte offset of the buffer's first byte in the source.
    pub first_offset: u64,
}

impl<'a> Origin<'a> {
    pub fn file(path: &'a str, context: Context) -> Self {
        Origin {
            path,
            context,
            first_line: 1,
            first_offset: 0,
        }
    }
}

/// How many dropped candidates `--explain` keeps in full; past this only the count grows, so a
/// tree full of placeholders cannot grow memory without bound.
pub const MAX_EXPLAINED: usize = 1000;

/// A candidate a filter dropped, placed in its file (`--explain`): the rule, the redacted
/// preview (never the value), the filter and the reason in words.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Explained {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub rule_id: String,
    pub preview: String,
    pub filter: &'static str,
    pub reason: String,
}

pub struct Scanner {
    pub engine: Engine,
    pub opts: ScanOptions,
    /// With [`ScanOptions::explain`]: the dropped candidates so far, and how many more were
    /// dropped past [`MAX_EXPLAINED`].
    explained: Mutex<(Vec<Explained>, u64)>,
}

impl Scanner {
    /// Builds the engine from the rules at or above the minimum confidence.
    pub fn new(mut rules: RuleSet, opts: ScanOptions) -> Result<Scanner, String> {
        rules.rules.retain(|r| r.spec.confidence >= opts.min_confidence);
        Ok(Scanner {
            engine: Engine::with_markers(rules, decode::HINTS)?,
            opts,
            explained: Mutex::default(),
        })
    }

    /// The dropped candidates recorded so far (sorted by place), and how many more there were
    /// beyond [`MAX_EXPLAINED`]; empties the record.
    pub fn take_explained(&self) -> (Vec<Explained>, u64) {
        let mut g = self.explained.lock().unwrap_or_else(|e| e.into_inner());
        let (mut list, more) = std::mem::take(&mut *g);
        list.sort();
        (list, more)
    }

    /// Scans a whole buffer.
    pub fn scan_buffer(
        &self,
        hay: &[u8],
        origin: &Origin,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) -> usize {
        self.scan_chunk(hay, hay.len(), origin, scratch, out)
    }

    /// Scans a buffer but keeps only matches that start before `limit`; a stream passes the
    /// start of the overlap it will scan again with the next chunk. Returns how many matches
    /// were suppressed inline.
    pub fn scan_chunk(
        &self,
        hay: &[u8],
        limit: usize,
        origin: &Origin,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) -> usize {
        let mut matches = Vec::new();
        scratch.explain = self.opts.explain;
        self.engine.scan(hay, scratch, &mut matches);
        matches.retain(|m| m.match_start < limit);
        let mut suppressed = 0;
        let mut index = lines::LineIndex::with_base(hay, origin.first_line);
        if self.opts.explain && (!scratch.dropped().is_empty() || scratch.dropped_more() > 0) {
            self.record_dropped(hay, scratch, limit, origin);
        }
        for m in matches {
            if is_allowed_inline(hay, m.start) {
                suppressed += 1;
                if self.opts.explain {
                    let (line, column) = index.locate(m.start);
                    let rule = self.engine.rule(m.rule);
                    self.explain(Explained {
                        path: origin.path.to_string(),
                        line,
                        column,
                        rule_id: rule.spec.id.clone(),
                        preview: crate::finding::redact(&m.secret),
                        filter: "inline-allow",
                        reason: "its line carries a quench:allow (or gitleaks:allow) marker".into(),
                    });
                }
                continue;
            }
            let loc = self.locate(&mut index, &m, m.start, m.end, origin, None);
            out.push(self.hit(m, loc));
        }
        if self.opts.decode_depth > 0 {
            let plain = out.len();
            let (n, spans) = decode::scan_encoded(self, hay, limit, origin, scratch, out);
            suppressed += n;
            // An encoded blob whose decoded content names a specific credential is reported as
            // that credential, not also as a generic high-entropy value.
            let decoded = out.split_off(plain);
            out.retain(|h| {
                h.rule.spec.confidence != Confidence::Low
                    || !spans.iter().any(|&(s, e)| {
                        let (s, e) = (origin.first_offset + s as u64, origin.first_offset + e as u64);
                        h.location.offset < e && h.location.offset + h.secret.len() as u64 > s
                    })
            });
            out.extend(decoded);
        }
        suppressed
    }

    /// Adds one dropped candidate to the record, or counts it past [`MAX_EXPLAINED`].
    fn explain(&self, e: Explained) {
        let mut g = self.explained.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() >= MAX_EXPLAINED {
            g.1 += 1;
        } else {
            g.0.push(e);
        }
    }

    /// Places the candidates the engine just dropped and adds them to the record.
    fn record_dropped(&self, hay: &[u8], scratch: &Scratch, limit: usize, origin: &Origin) {
        let mut index = lines::LineIndex::with_base(hay, origin.first_line);
        for d in scratch.dropped().iter().filter(|d| d.start < limit) {
            let (line, column) = index.locate(d.start);
            let rule = self.engine.rule(d.rule);
            self.explain(Explained {
                path: origin.path.to_string(),
                line,
                column,
                rule_id: rule.spec.id.clone(),
                preview: d.preview.clone(),
                filter: d.reason.filter(),
                reason: d.reason.reason(rule),
            });
        }
        if scratch.dropped_more() > 0 {
            self.explained.lock().unwrap_or_else(|e| e.into_inner()).1 += scratch.dropped_more();
        }
    }

    fn locate(
        &self,
        index: &mut lines::LineIndex,
        _m: &Match,
        start: usize,
        end: usize,
        origin: &Origin,
        decoded: Option<Decoded>,
    ) -> Location {
        let (line, column) = index.locate(start);
        let (end_line, end_column) = index.locate(end);
        Location {
            path: origin.path.to_string(),
            line,
            column,
            end_line,
            end_column,
            offset: origin.first_offset + start as u64,
            context: origin.context,
            commit: None,
            decoded,
            blob: None,
        }
    }

    fn hit(&self, m: Match, location: Location) -> Hit {
        Hit {
            rule: self.engine.rule(m.rule).clone(),
            secret: m.secret,
            parts: m.parts.into_iter().map(|p| (p.name, p.value)).collect(),
            location,
            example: m.example,
        }
    }
}

/// Whether the line holding `offset` carries an inline allow marker.
fn is_allowed_inline(hay: &[u8], offset: usize) -> bool {
    let line = lines::line_around(hay, offset);
    INLINE_ALLOW
        .iter()
        .any(|m| memchr::memmem::find(line, m).is_some())
}
