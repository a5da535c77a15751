//! Entry points for the fuzz targets under `tests/fuzz/` and for their stable-toolchain
//! driver (`tests/it/fuzz_smoke.rs`): each takes arbitrary bytes, runs one parser or decoder
//! that reads untrusted input, and must return (with an error or a result) rather than panic
//! or run away. Not part of the API.

use std::sync::OnceLock;

pub use crate::source::git::fuzz::{delta as git_delta, pack as git_pack, tree as git_tree};

/// One fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// The targets by name, for drivers that run them all.
pub const TARGETS: &[(&str, Target)] = &[
    ("git_pack", git_pack),
    ("git_tree", git_tree),
    ("git_delta", git_delta),
    ("rules", rules),
    ("gitleaks", gitleaks),
    ("scan", scan),
    ("gzip", gzip),
    ("webhook", webhook),
    ("jwt", jwt),
];

/// A rule file in quench's own format or gitleaks' (compiled eagerly, as user rules are).
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut set = crate::rules::RuleSet::default();
    let _ = set.add_text("fuzz.toml", text, true);
}

/// A gitleaks rule file through the importer alone.
pub fn gitleaks(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = toml::from_str::<toml::Table>(text) {
        let _ = crate::rules::gitleaks::convert(&doc);
    }
}

/// A buffer through the scanner with the built-in rules: the base64 (and nested) decoding
/// layer and every built-in pattern's post-processing.
pub fn scan(data: &[u8]) {
    let scanner = scanner();
    let origin = crate::scan::Origin::file("fuzz.txt", crate::finding::Context::File);
    let mut scratch = crate::engine::Scratch::default();
    let mut hits = Vec::new();
    scanner.scan_buffer(data, &origin, &mut scratch, &mut hits);
}

/// A `.gz` stream as a log file is read: inflated (capped as a scan caps it) and scanned.
pub fn gzip(data: &[u8]) {
    use std::io::Read;
    fixed_fingerprint_key();
    let scanner = scanner();
    let collector = crate::scan::Collector::new();
    let mut reader = flate2::read::MultiGzDecoder::new(data).take(64 << 20);
    let _ = crate::source::stream::scan_reader(
        &mut reader,
        "fuzz.log.gz",
        crate::finding::Context::Log,
        scanner,
        &collector,
        crate::source::stream::CHUNK,
    );
}

/// A webhook body as GitHub's and GitLab's push parsers read it.
pub fn webhook(data: &[u8]) {
    let _ = crate::server::event::parse_github(data);
    let _ = crate::server::event::parse_gitlab(data);
}

/// A JWT as the verifier decodes it.
pub fn jwt(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::verify::jwt::decode(text);
    }
}

/// Findings are fingerprinted as they are collected: with a fixed key, so a fuzz run (or the
/// test that drives these targets) never creates a key in the user's data directory.
fn fixed_fingerprint_key() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(crate::finding::FINGERPRINT_KEY_ENV).is_none() {
            std::env::set_var(crate::finding::FINGERPRINT_KEY_ENV, "quench-fuzzing");
        }
    });
}

fn scanner() -> &'static crate::scan::Scanner {
    static SCANNER: OnceLock<crate::scan::Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        let rules = crate::rules::RuleSet::builtin().expect("built-in rules load");
        crate::scan::Scanner::new(rules, crate::scan::ScanOptions::default()).expect("built-in rules compile")
    })
}
