//! Secrets hidden one encoding deep: Kubernetes `Secret` data, Docker `auth` entries, base64
//! JSON blobs. Long base64 runs are decoded (bounded in size and depth) and scanned again; the
//! finding points at the encoded span and says it was decoded.

use base64::Engine as _;

use super::{is_allowed_inline, Hit, Origin, Scanner};
use crate::engine::{lines, Scratch};
use crate::finding::Decoded;
use crate::rules::Confidence;

/// Shortest base64 run worth decoding: below this nothing we detect fits.
const MIN_RUN: usize = 24;
/// Longest run decoded; longer ones are images or archives.
const MAX_RUN: usize = 64 << 10;
/// Total bytes decoded per buffer, so a file of base64 cannot make a scan quadratic.
const MAX_DECODED_PER_BUFFER: usize = 4 << 20;

/// Cheap hints that a buffer holds encoded credentials; without one the decode pass is skipped,
/// which keeps it off the hot path for ordinary source files. They are markers of the keyword
/// automaton (see [`crate::engine::Engine::with_markers`]), found in the same pass as keywords.
pub(super) const HINTS: &[&[u8]] = &[
    b"kind: Secret",
    b"\"auth\"",
    b"auth:",
    b"base64",
    b"b64",
    b"dockerconfigjson",
    b"eyJ",
    // `-----BEGIN` in base64: a PEM key encoded whole, wherever it sits.
    b"LS0tLS1CRUdJTi",
];

/// Bytes of the base64 alphabets (standard and URL-safe), as a lookup table.
static B64: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'-' || b == b'_';
        i += 1;
    }
    t
};

/// Scans the buffer's base64 runs; returns inline-suppressed count and the encoded spans that
/// held a specific (not low-confidence) credential. `scratch` must still hold the markers of
/// the engine's scan of `hay`.
pub(super) fn scan_encoded(
    scanner: &Scanner,
    hay: &[u8],
    limit: usize,
    origin: &Origin,
    scratch: &mut Scratch,
    out: &mut Vec<Hit>,
) -> (usize, Vec<(usize, usize)>) {
    let mut spans = Vec::new();
    let mut budget = MAX_DECODED_PER_BUFFER;
    let mut suppressed = 0;
    let mut index = lines::LineIndex::with_base(hay, origin.first_line);
    let hay_limit = limit.min(hay.len());
    let hints = scratch
        .markers()
        .iter()
        .filter(|&&(m, at)| at + HINTS[m as usize].len() <= hay_limit)
        .map(|&(_, at)| at);
    for (s, e) in hinted_runs(&hay[..hay_limit], hints) {
        if budget == 0 {
            break;
        }
        let Some(decoded) = decode(&hay[s..e]) else {
            continue;
        };
        budget = budget.saturating_sub(decoded.len());
        let mut found = Vec::new();
        layer(scanner, &decoded, 1, scratch, &mut found);
        if found
            .iter()
            .any(|(m, _)| scanner.engine.rule(m.rule).spec.confidence > Confidence::Low)
        {
            spans.push((s, e));
        }
        for (m, depth) in found {
            if is_allowed_inline(hay, s) {
                suppressed += 1;
                continue;
            }
            let dec = Some(Decoded {
                encoding: "base64".into(),
                depth,
            });
            let loc = scanner.locate(&mut index, &m, s, e, origin, dec);
            out.push(scanner.hit(m, loc));
        }
    }
    (suppressed, spans)
}

/// Scans one decoded layer, and the layers inside it up to the configured depth.
fn layer(
    scanner: &Scanner,
    bytes: &[u8],
    depth: u8,
    scratch: &mut Scratch,
    found: &mut Vec<(crate::engine::Match, u8)>,
) {
    let mut ms = Vec::new();
    scanner.engine.scan(bytes, scratch, &mut ms);
    found.extend(ms.into_iter().map(|m| (m, depth)));
    if depth < scanner.opts.decode_depth {
        for (s, e) in base64_runs(bytes) {
            if let Some(inner) = decode(&bytes[s..e]) {
                layer(scanner, &inner, depth + 1, scratch, found);
            }
        }
    }
}

/// How far around a hint encoded values are looked for.
const HINT_REACH: usize = 4096;

/// Base64 runs near a hint: Kubernetes `data:` values sit a few lines from `kind: Secret`, a
/// Docker `auth` value right after its key, a base64 JSON blob starts with `eyJ` itself. Looking
/// only there keeps the decode pass off the bytes of ordinary files.
fn hinted_runs(hay: &[u8], hints: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut regions: Vec<(usize, usize)> = hints
        .map(|at| (at.saturating_sub(HINT_REACH), (at + HINT_REACH).min(hay.len())))
        .collect();
    if regions.is_empty() {
        return Vec::new();
    }
    regions.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in regions {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut runs = Vec::new();
    for (s, e) in merged {
        // Widen to whole runs so a value is never cut at the region's edge.
        let mut s = s;
        while s > 0 && B64[hay[s - 1] as usize] {
            s -= 1;
        }
        let mut e = e;
        while e < hay.len() && (B64[hay[e] as usize] || hay[e] == b'=') {
            e += 1;
        }
        runs.extend(base64_runs(&hay[s..e]).into_iter().map(|(a, b)| (s + a, s + b)));
    }
    runs
}

/// Spans of base64 (standard or URL-safe) text of a decodable length.
fn base64_runs(hay: &[u8]) -> Vec<(usize, usize)> {
    let is_b64 = |b: u8| B64[b as usize];
    let mut runs = Vec::new();
    let mut i = 0;
    while i < hay.len() {
        if !is_b64(hay[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < hay.len() && is_b64(hay[i]) {
            i += 1;
        }
        let mut e = i;
        while e < hay.len() && hay[e] == b'=' && e - i < 2 {
            e += 1;
        }
        i = e;
        let len = e - s;
        if (MIN_RUN..=MAX_RUN).contains(&len) && looks_encoded(&hay[s..e]) {
            runs.push((s, e));
        }
    }
    runs
}

/// Cheap shape test before decoding: base64 of text mixes upper case, lower case and digits and
/// is not a snake_case or kebab-case identifier (those are the long runs source code is full of).
fn looks_encoded(run: &[u8]) -> bool {
    let (mut upper, mut lower, mut digit, mut sep) = (false, false, false, 0usize);
    for &b in run {
        upper |= b.is_ascii_uppercase();
        lower |= b.is_ascii_lowercase();
        digit |= b.is_ascii_digit();
        sep += (b == b'_' || b == b'-') as usize;
    }
    upper && lower && digit && sep * 8 < run.len()
}

/// Decodes a run if it is base64 of mostly printable text (binary payloads are not secrets we
/// can match, and decoding them wastes the budget).
fn decode(run: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(run).ok())?;
    if bytes.len() < 16 {
        return None;
    }
    let printable = bytes
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b == b' ' || b == b'\n' || b == b'\t' || b == b'\r')
        .count();
    (printable * 100 >= bytes.len() * 95).then_some(bytes)
}
