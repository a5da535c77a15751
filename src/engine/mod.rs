//! The matching engine: pure functions from bytes to candidate secrets.
//!
//! One Aho-Corasick automaton over every rule's keywords finds where a secret could be; each
//! rule's regex then runs only in small windows around its own keyword hits. Most bytes of most
//! files therefore cost one automaton step, and a rule whose keyword never appears never even
//! compiles its regex — start-up stays cheap for the pre-commit hook.
//!
//! The engine knows nothing of files, git or reports: sources hand it bytes, and it hands back
//! [`Match`]es with byte offsets.

pub mod entropy;
pub mod examples;
pub mod filter;
pub mod keywords;
pub mod lines;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::bytes::Regex;

use crate::finding::Hidden;
use crate::rules::{checksum, keyshape};
use crate::rules::{load::compile, load::DEFAULT_PART_DISTANCE, Confidence, Rule, RuleSet};
use keywords::Keywords;

/// How far past a window's end the engine looks for the end of the line, so that a token is
/// never cut in half by the window edge.
const LINE_EXTENSION: usize = 1024;

/// A secret candidate that passed every filter.
#[derive(Clone)]
pub struct Match {
    /// Index of the rule in the engine's rule list.
    pub rule: usize,
    /// Byte span of the secret in the scanned buffer.
    pub start: usize,
    pub end: usize,
    /// Start of the whole regex match (used when deciding which stream chunk owns a match).
    pub match_start: usize,
    pub secret: Vec<u8>,
    /// Named companion values found nearby, with their spans.
    pub parts: Vec<Part>,
    /// Set when the value is one an issuer publishes in its documentation: not a leak.
    pub example: Option<&'static examples::Documented>,
}

#[derive(Clone)]
pub struct Part {
    pub name: String,
    pub value: Vec<u8>,
    pub start: usize,
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("rule", &self.rule)
            .field("span", &(self.start..self.end))
            .field("secret", &Hidden(&self.secret))
            .field("parts", &self.parts)
            .finish()
    }
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("start", &self.start)
            .field("value", &Hidden(&self.value))
            .finish()
    }
}

struct CompiledRule {
    rule: Arc<Rule>,
    regex: OnceLock<Option<Regex>>,
    /// What every match must begin with, when the pattern says so (see [`Anchor`]).
    anchor: OnceLock<Option<Anchor>>,
    parts: Vec<OnceLock<Option<Regex>>>,
    stopword_res: OnceLock<Vec<Regex>>,
}

impl CompiledRule {
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| compile(&self.rule.spec.pattern).ok())
            .as_ref()
    }
    fn part_regex(&self, i: usize) -> Option<&Regex> {
        self.parts[i]
            .get_or_init(|| compile(&self.rule.spec.parts[i].pattern).ok())
            .as_ref()
    }
    fn anchor(&self) -> Option<&Anchor> {
        self.anchor
            .get_or_init(|| Anchor::of(&self.rule.spec.pattern))
            .as_ref()
    }
    /// Whether a keyword hit at `hay[start..end]` can be where a match of this rule begins —
    /// or, when it cannot, whether the rule can still match around it. Keywords are matched
    /// case-insensitively and anywhere, so `sk_` fires inside every `task_`; a rule whose
    /// pattern is `\b(sk_[0-9a-f]{48})` can only match where the exact literal follows a word
    /// boundary, and every such match has a hit of its own at its start.
    fn hit_can_match(&self, hay: &[u8], start: usize, end: usize) -> bool {
        let Some(a) = self.anchor() else { return true };
        let kw = &hay[start..end];
        if a.literal.len() < kw.len() || !a.literal[..kw.len()].eq_ignore_ascii_case(kw) {
            return true;
        }
        hay[start..].starts_with(&a.literal) && !(a.boundary && start > 0 && is_word_byte(hay[start - 1]))
    }
    fn stopword_regexes(&self) -> &[Regex] {
        self.stopword_res.get_or_init(|| {
            self.rule
                .spec
                .stopwords
                .iter()
                .filter_map(|s| s.strip_prefix("re:"))
                .filter_map(|p| compile(p).ok())
                .collect()
        })
    }
}

/// The fixed start of every match of a pattern: a case-sensitive literal, and whether a word
/// boundary must precede it. Read from the parsed pattern (regex-syntax's prefix extractor),
/// lazily, so start-up does not parse rules that never fire.
struct Anchor {
    literal: Vec<u8>,
    boundary: bool,
}

impl Anchor {
    fn of(pattern: &str) -> Option<Anchor> {
        use regex_syntax::hir::{literal::Extractor, HirKind, Look};
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()?;
        let seq = Extractor::new().extract(&hir);
        let literal = seq.longest_common_prefix().filter(|p| !p.is_empty())?.to_vec();
        // `\b` as the very first thing, possibly inside the capture groups that open the pattern.
        let mut h = &hir;
        let boundary = loop {
            match h.kind() {
                HirKind::Capture(c) => h = &c.sub,
                HirKind::Concat(parts) => match parts.first().map(|p| p.kind()) {
                    Some(HirKind::Look(Look::WordAscii | Look::WordUnicode)) => break true,
                    Some(_) => h = &parts[0],
                    None => break false,
                },
                _ => break false,
            }
        };
        Some(Anchor { literal, boundary })
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Compiled rules plus the keyword automaton. Cheap to share across threads.
pub struct Engine {
    rules: Vec<CompiledRule>,
    /// Every rule keyword and marker literal in one automaton.
    keywords: Keywords,
    /// Automaton pattern id → rules that use that keyword.
    keyword_rules: Vec<Vec<u32>>,
    /// Automaton pattern id → marker literals (case-sensitive) it stands for.
    pattern_markers: Vec<Vec<u16>>,
    markers: Vec<Vec<u8>>,
    max_reach: usize,
    /// Token prefixes owned by high-confidence rules (`ghp_`, `xoxb-`, `sk-ant-`…), matched
    /// anchored at the start of a low-confidence candidate: a value in a format that a specific
    /// rule rejected (bad checksum, wrong length) is malformed, not a generic secret. Built at
    /// the first low-confidence candidate: most small scans never meet one.
    owned_prefixes: OnceLock<Option<AhoCorasick>>,
    prefixes: Vec<String>,
}

/// Reusable per-thread scratch space, so scanning many small files allocates little.
#[derive(Default)]
pub struct Scratch {
    windows: Vec<(u32, usize, usize)>,
    markers: Vec<(u16, usize)>,
    /// Record every candidate a filter drops in [`Scratch::dropped`] (`--explain`).
    pub explain: bool,
    dropped: Vec<Dropped>,
    /// Dropped past [`MAX_DROPPED`] in the last scan: counted, not kept.
    dropped_more: u64,
}

/// How many dropped candidates one [`Engine::scan`] keeps, so that explaining a buffer full of
/// placeholders costs memory bounded by this, not by the input.
pub const MAX_DROPPED: usize = 1000;

impl Scratch {
    /// A scratch that records dropped candidates.
    pub fn explaining() -> Scratch {
        Scratch {
            explain: true,
            ..Scratch::default()
        }
    }

    /// The marker literals the last [`Engine::scan`] saw: (marker index, start offset).
    pub fn markers(&self) -> &[(u16, usize)] {
        &self.markers
    }

    /// The candidates the last [`Engine::scan`] dropped, when [`Scratch::explain`] is set.
    pub fn dropped(&self) -> &[Dropped] {
        &self.dropped
    }

    /// How many more candidates the last scan dropped than [`Scratch::dropped`] holds.
    pub fn dropped_more(&self) -> u64 {
        self.dropped_more
    }
}

/// A candidate a rule's regex matched and a filter dropped, with the filter's typed reason.
/// Carries the redacted preview only, never the value.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
    pub preview: String,
    pub reason: filter::Reject,
}

impl Engine {
    pub fn new(set: &RuleSet) -> Result<Engine, String> {
        Engine::with_markers(set.clone(), &[])
    }

    /// An engine that also reports where each of `markers` occurs (exactly, case and all) in
    /// [`Scratch::markers`]. The decoder's hints ride the keyword automaton this way instead
    /// of costing a pass of their own over every buffer. The rules are taken, not borrowed:
    /// copying ~700 specs was a tenth of start-up.
    pub fn with_markers(set: RuleSet, markers: &[&[u8]]) -> Result<Engine, String> {
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<u32>> = Vec::new();
        // Keyword → its index in `keywords`; a linear search here was quadratic in ~800 keywords.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(set.rules.len());
        let mut max_reach = 0;
        let prefixes: Vec<String> = set
            .rules
            .iter()
            .filter(|r| r.spec.confidence == Confidence::High)
            .flat_map(|r| r.spec.keywords.iter())
            .filter(|k| k.len() >= 3 && k.ends_with(['_', '-', '.']))
            .cloned()
            .collect();
        for (i, rule) in set.rules.into_iter().enumerate() {
            for kw in &rule.spec.keywords {
                let kw = kw.to_ascii_lowercase();
                match index.get(&kw) {
                    Some(&p) => keyword_rules[p].push(i as u32),
                    None => {
                        index.insert(kw.clone(), keywords.len());
                        keywords.push(kw);
                        keyword_rules.push(vec![i as u32]);
                    }
                }
            }
            let part_reach = rule
                .spec
                .parts
                .iter()
                .map(|p| p.distance.unwrap_or(DEFAULT_PART_DISTANCE))
                .max()
                .unwrap_or(0);
            max_reach = max_reach.max(rule.lookbehind() + rule.window() + LINE_EXTENSION + part_reach);
            rules.push(CompiledRule {
                parts: rule.spec.parts.iter().map(|_| OnceLock::new()).collect(),
                rule: Arc::new(rule),
                regex: OnceLock::new(),
                anchor: OnceLock::new(),
                stopword_res: OnceLock::new(),
            });
        }
        let mut pattern_markers = vec![Vec::new(); keywords.len()];
        for (mi, m) in markers.iter().enumerate() {
            let lower = String::from_utf8_lossy(m).to_ascii_lowercase();
            match index.get(&lower) {
                Some(&p) => pattern_markers[p].push(mi as u16),
                None => {
                    index.insert(lower.clone(), keywords.len());
                    keywords.push(lower);
                    keyword_rules.push(Vec::new());
                    pattern_markers.push(vec![mi as u16]);
                }
            }
        }
        Ok(Engine {
            rules,
            keywords: Keywords::new(keywords)?,
            keyword_rules,
            pattern_markers,
            markers: markers.iter().map(|m| m.to_vec()).collect(),
            max_reach,
            owned_prefixes: OnceLock::new(),
            prefixes,
        })
    }

    /// The automaton of the owned prefixes, anchored at a candidate's start. It cannot fail
    /// to build at the catalogue's size; if it ever did, no candidate would be dropped for its
    /// prefix (a false positive, never a missed secret).
    fn owned_prefixes(&self) -> Option<&AhoCorasick> {
        self.owned_prefixes
            .get_or_init(|| {
                if self.prefixes.is_empty() {
                    return None;
                }
                AhoCorasickBuilder::new()
                    .start_kind(aho_corasick::StartKind::Anchored)
                    .build(&self.prefixes)
                    .ok()
            })
            .as_ref()
    }

    pub fn rule(&self, i: usize) -> &Arc<Rule> {
        &self.rules[i].rule
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The furthest a match (with its parts) can reach from its keyword: streams keep this much
    /// overlap between chunks so that no secret is lost at a boundary.
    pub fn max_reach(&self) -> usize {
        self.max_reach
    }

    /// Compiles every rule now; returns the ids and errors of rules that do not compile.
    pub fn compile_all(&self) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        for r in &self.rules {
            if let Err(e) = compile(&r.rule.spec.pattern) {
                bad.push((r.rule.spec.id.clone(), e.to_string()));
            }
            r.regex();
            for (i, p) in r.rule.spec.parts.iter().enumerate() {
                if let Err(e) = compile(&p.pattern) {
                    bad.push((r.rule.spec.id.clone(), format!("part {}: {e}", p.name)));
                }
                r.part_regex(i);
            }
        }
        bad
    }

    /// Finds every secret in `hay`. Matches are returned sorted by position; where a
    /// low-confidence match overlaps a more confident one, only the more confident one stays.
    pub fn scan(&self, hay: &[u8], scratch: &mut Scratch, out: &mut Vec<Match>) {
        let first = out.len();
        scratch.windows.clear();
        scratch.markers.clear();
        scratch.dropped.clear();
        scratch.dropped_more = 0;
        let Scratch { windows, markers, .. } = scratch;
        self.keywords.for_each(hay, |pattern, start, end| {
            for &ri in &self.keyword_rules[pattern] {
                let cr = &self.rules[ri as usize];
                if !cr.hit_can_match(hay, start, end) {
                    continue;
                }
                let rule = &cr.rule;
                let lo = start.saturating_sub(rule.lookbehind());
                let hi = (end + rule.window()).min(hay.len());
                windows.push((ri, lo, hi));
            }
            for &mi in &self.pattern_markers[pattern] {
                if hay[start..end] == self.markers[mi as usize][..] {
                    markers.push((mi, start));
                }
            }
        });
        if scratch.windows.is_empty() {
            return;
        }
        scratch.windows.sort_unstable();
        let mut i = 0;
        while i < scratch.windows.len() {
            let (ri, lo, mut hi) = scratch.windows[i];
            let mut j = i + 1;
            while j < scratch.windows.len() && scratch.windows[j].0 == ri && scratch.windows[j].1 <= hi {
                hi = hi.max(scratch.windows[j].2);
                j += 1;
            }
            let drops = scratch
                .explain
                .then_some((&mut scratch.dropped, &mut scratch.dropped_more));
            self.scan_window(ri as usize, hay, lo, extend_to_eol(hay, hi), out, drops);
            i = j;
        }
        resolve_overlaps(&self.rules, &mut out[first..]);
        out.retain(|m| m.rule != usize::MAX);
        out[first..].sort_by_key(|m| (m.start, m.rule));
    }

    fn scan_window(
        &self,
        ri: usize,
        hay: &[u8],
        lo: usize,
        hi: usize,
        out: &mut Vec<Match>,
        mut drops: Option<(&mut Vec<Dropped>, &mut u64)>,
    ) {
        let cr = &self.rules[ri];
        let mut dropped = |s: usize, e: usize, value: &[u8], reason: filter::Reject| {
            let Some((d, more)) = drops.as_mut() else { return };
            if d.len() >= MAX_DROPPED {
                **more += 1;
            } else {
                d.push(Dropped {
                    rule: ri,
                    start: s,
                    end: e,
                    preview: crate::finding::redact(value),
                    reason,
                });
            }
        };
        let Some(re) = cr.regex() else { return };
        let spec = &cr.rule.spec;
        let key_shape = spec.checksum.as_deref().filter(|c| keyshape::NAMES.contains(c));
        for_each_capture(re, spec.secret_group, hay, lo, hi, |match_start, s, e| {
            // A key is reported in its canonical text, however it was embedded.
            let canonical = key_shape.and_then(|c| keyshape::canonical(c, &hay[s..e]));
            if key_shape.is_some() && canonical.is_none() {
                dropped(s, e, &hay[s..e], filter::Reject::KeyShape);
                return;
            }
            if !spec.name_stopwords.is_empty() {
                // The whole name, also the part before the keyword the match began at
                // (`csrf_` in `csrf_token`).
                let mut from = match_start;
                while from > 0
                    && match_start - from < 64
                    && (is_word_byte(hay[from - 1]) || b".-".contains(&hay[from - 1]))
                {
                    from -= 1;
                }
                if filter::names_a_property(&hay[from..s], &spec.name_stopwords) {
                    dropped(s, e, &hay[s..e], filter::Reject::PropertyName);
                    return;
                }
            }
            let secret = canonical.as_deref().unwrap_or(&hay[s..e]);
            // A documented example is marked before the filters, which would drop it unseen.
            let example = examples::lookup(secret);
            if example.is_none() {
                if let Err(why) = self.accept(cr, secret) {
                    dropped(s, e, secret, why);
                    return;
                }
            }
            let mut parts = Vec::new();
            for (pi, part) in spec.parts.iter().enumerate() {
                match self.find_part(cr, pi, hay, s, e) {
                    Some(p) => parts.push(p),
                    None if part.required => {
                        dropped(s, e, secret, filter::Reject::MissingPart(pi as u16));
                        return;
                    }
                    None => {}
                }
            }
            out.push(Match {
                rule: ri,
                start: s,
                end: e,
                match_start,
                secret: secret.to_vec(),
                parts,
                example,
            });
        });
    }

    /// The filters every candidate must pass, cheapest first; the first that fails says why.
    fn accept(&self, cr: &CompiledRule, secret: &[u8]) -> Result<(), filter::Reject> {
        use filter::Reject;
        let spec = &cr.rule.spec;
        if secret.is_empty() {
            return Err(Reject::Empty);
        }
        if let Some(min) = spec.entropy {
            let bits = entropy::shannon(secret);
            if bits < min {
                return Err(Reject::LowEntropy {
                    bits: bits as f32,
                    min: min as f32,
                });
            }
        }
        if let Some(c) = &spec.checksum {
            if !checksum::validate(c, secret) {
                return Err(Reject::Checksum);
            }
        }
        if filter::is_reference(secret) {
            return Err(Reject::Reference);
        }
        if !spec.allow_placeholders {
            if let Some(p) = filter::placeholder(secret) {
                return Err(Reject::Placeholder(p));
            }
        }
        if spec.confidence == Confidence::Low {
            if let Some(n) = filter::unlikely_generic(secret) {
                return Err(Reject::NotASecret(n));
            }
            if let Some(ac) = self.owned_prefixes() {
                let input = aho_corasick::Input::new(secret).anchored(aho_corasick::Anchored::Yes);
                if ac.find(input).is_some() {
                    return Err(Reject::OwnedPrefix);
                }
            }
        }
        if spec
            .stopwords
            .iter()
            .any(|w| !w.starts_with("re:") && w.as_bytes() == secret)
        {
            return Err(Reject::Stopword { regex: false });
        }
        if cr.stopword_regexes().iter().any(|r| r.is_match(secret)) {
            return Err(Reject::Stopword { regex: true });
        }
        Ok(())
    }

    /// Looks for part `pi` within its distance of the main secret, nearest first.
    fn find_part(&self, cr: &CompiledRule, pi: usize, hay: &[u8], s: usize, e: usize) -> Option<Part> {
        let spec = &cr.rule.spec.parts[pi];
        let re = cr.part_regex(pi)?;
        let dist = spec.distance.unwrap_or(DEFAULT_PART_DISTANCE);
        let (lo, hi) = (s.saturating_sub(dist), (e + dist).min(hay.len()));
        let mut best: Option<(usize, Part)> = None;
        for_each_capture(re, spec.secret_group, hay, lo, hi, |_, ps, pe| {
            // The part must be a different value from the main secret (the AWS secret pattern
            // would otherwise happily match the key id's surroundings).
            if ps < e && pe > s {
                return;
            }
            let value = &hay[ps..pe];
            if spec.entropy.is_some_and(|min| entropy::shannon(value) < min)
                || filter::is_placeholder(value)
                || filter::is_reference(value)
            {
                return;
            }
            let distance = if ps >= e { ps - e } else { s - pe };
            if best.as_ref().is_none_or(|(d, _)| distance < *d) {
                best = Some((
                    distance,
                    Part {
                        name: spec.name.clone(),
                        value: value.to_vec(),
                        start: ps,
                    },
                ));
            }
        });
        best.map(|(_, p)| p)
    }
}

/// Calls `f(match_start, group_start, group_end)` for each match of `re` that starts in
/// `hay[lo..hi]`, with look-around context from the whole of `hay` before `lo`. The group is
/// `group`, else 1 when the pattern has one, else the whole match.
fn for_each_capture(
    re: &Regex,
    group: Option<usize>,
    hay: &[u8],
    lo: usize,
    hi: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let group = group.unwrap_or(if re.captures_len() > 1 { 1 } else { 0 });
    let sub = &hay[..hi];
    let mut locs = re.capture_locations();
    let mut pos = lo;
    while pos <= sub.len() {
        let Some(m) = re.captures_read_at(&mut locs, sub, pos) else {
            break;
        };
        pos = if m.end() > m.start() { m.end() } else { m.end() + 1 };
        if let Some((s, e)) = locs.get(group) {
            f(m.start(), s, e);
        }
    }
}

/// Extends `hi` to the end of its line (bounded), so a window never ends inside a token.
fn extend_to_eol(hay: &[u8], hi: usize) -> usize {
    if hi >= hay.len() {
        return hay.len();
    }
    let limit = (hi + LINE_EXTENSION).min(hay.len());
    match memchr::memchr(b'\n', &hay[hi..limit]) {
        Some(p) => hi + p,
        None => limit,
    }
}

/// Marks (with rule = usize::MAX) matches that overlap a match of higher confidence, or of equal
/// confidence and a longer secret: one secret, one finding, from the most specific rule.
///
/// O(n log n): a file of 200,000 generic assignments is 200,000 matches, and comparing every
/// pair took minutes. Claims are resolved level by level from an interval index, overlaps by
/// one sweep over the matches sorted by start.
fn resolve_overlaps(rules: &[CompiledRule], ms: &mut [Match]) {
    if ms.len() < 2 {
        return;
    }
    let conf = |m: &Match| rules[m.rule].rule.spec.confidence;
    // A value already claimed as a part of a more confident multi-part match (the AWS secret
    // next to its key id) is not also a generic finding. A match claimed this way claims
    // nothing itself, so the levels are settled from the most confident down.
    if ms.iter().any(|m| !m.parts.is_empty()) {
        for level in [Confidence::Medium, Confidence::Low] {
            let claims = PartIndex::new(
                ms.iter()
                    .filter(|m| m.rule != usize::MAX && conf(m) > level)
                    .flat_map(|m| m.parts.iter().map(|p| (p.start, p.start + p.value.len()))),
            );
            if claims.is_empty() {
                continue;
            }
            for m in ms.iter_mut() {
                if m.rule != usize::MAX && conf(m) == level && claims.overlaps(m.start, m.end) {
                    m.rule = usize::MAX;
                }
            }
        }
    }
    ms.sort_by_key(|m| (m.start, m.rule));
    let rank = |m: &Match| {
        let spec = &rules[m.rule].rule.spec;
        (spec.confidence, spec.priority, m.end - m.start)
    };
    // Linear in practice: a survivor marks every other rule's match it overlaps, so a match is
    // looked at again only by later survivors of its own rule that overlap it, and one rule's
    // matches do not overlap one another.
    for i in 0..ms.len() {
        if ms[i].rule == usize::MAX {
            continue;
        }
        let mut j = i + 1;
        while j < ms.len() && ms[j].start < ms[i].end {
            if ms[j].rule != usize::MAX && ms[j].rule != ms[i].rule {
                if rank(&ms[j]) > rank(&ms[i]) {
                    ms[i].rule = usize::MAX;
                    break;
                } else {
                    ms[j].rule = usize::MAX;
                }
            }
            j += 1;
        }
    }
}

/// Spans sorted by start with a running maximum of their ends: whether any span overlaps a
/// query range is one binary search.
struct PartIndex {
    starts: Vec<usize>,
    max_end: Vec<usize>,
}

impl PartIndex {
    fn new(spans: impl Iterator<Item = (usize, usize)>) -> PartIndex {
        let mut spans: Vec<(usize, usize)> = spans.collect();
        spans.sort_unstable();
        let mut max_end = Vec::with_capacity(spans.len());
        let mut m = 0;
        for &(_, e) in &spans {
            m = m.max(e);
            max_end.push(m);
        }
        PartIndex {
            starts: spans.into_iter().map(|(s, _)| s).collect(),
            max_end,
        }
    }

    fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Whether a span starting before `end` ends after `start`.
    fn overlaps(&self, start: usize, end: usize) -> bool {
        let n = self.starts.partition_point(|&s| s < end);
        n > 0 && self.max_end[n - 1] > start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The all-pairs resolution this module used to run, kept as the reference.
    fn resolve_all_pairs(rules: &[CompiledRule], ms: &mut [Match]) {
        for i in 0..ms.len() {
            for j in 0..ms.len() {
                if i == j || ms[i].rule == usize::MAX || ms[j].rule == usize::MAX {
                    continue;
                }
                let (ci, cj) = (
                    rules[ms[i].rule].rule.spec.confidence,
                    rules[ms[j].rule].rule.spec.confidence,
                );
                let claimed = ms[j]
                    .parts
                    .iter()
                    .any(|p| p.start < ms[i].end && p.start + p.value.len() > ms[i].start);
                if claimed && cj > ci {
                    ms[i].rule = usize::MAX;
                }
            }
        }
        ms.sort_by_key(|m| (m.start, m.rule));
        let rank = |m: &Match| {
            let spec = &rules[m.rule].rule.spec;
            (spec.confidence, spec.priority, m.end - m.start)
        };
        for i in 0..ms.len() {
            if ms[i].rule == usize::MAX {
                continue;
            }
            let mut j = i + 1;
            while j < ms.len() && ms[j].start < ms[i].end {
                if ms[j].rule != usize::MAX && ms[j].rule != ms[i].rule {
                    if rank(&ms[j]) > rank(&ms[i]) {
                        ms[i].rule = usize::MAX;
                        break;
                    } else {
                        ms[j].rule = usize::MAX;
                    }
                }
                j += 1;
            }
        }
    }

    fn four_rules() -> Engine {
        let mut toml = String::new();
        for (id, conf, prio) in [
            ("h", "high", 0),
            ("h2", "high", 1),
            ("m", "medium", 0),
            ("l", "low", 0),
        ] {
            toml.push_str(&format!(
                "[[rule]]\nid = 't.{id}'\nname = 't'\nissuer = 't'\nidentity = 'user'\nconfidence = '{conf}'\npriority = {prio}\nkeywords = ['{id}_']\npattern = 'x'\n"
            ));
        }
        let mut set = RuleSet::default();
        set.add_text("test", &toml, false).unwrap();
        Engine::new(&set).unwrap()
    }

    fn m(rule: usize, start: usize, end: usize, parts: &[(usize, usize)]) -> Match {
        Match {
            rule,
            start,
            end,
            match_start: start,
            secret: vec![b'x'; end - start],
            parts: parts
                .iter()
                .map(|&(s, e)| Part {
                    name: "p".into(),
                    value: vec![b'y'; e - s],
                    start: s,
                })
                .collect(),
            example: None,
        }
    }

    fn survivors(
        mut ms: Vec<Match>,
        f: fn(&[CompiledRule], &mut [Match]),
        e: &Engine,
    ) -> Vec<(usize, usize, usize)> {
        f(&e.rules, &mut ms);
        let mut v: Vec<_> = ms
            .iter()
            .filter(|m| m.rule != usize::MAX)
            .map(|m| (m.start, m.end, m.rule))
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn overlap_resolution_keeps_the_most_specific_match() {
        let e = four_rules();
        let (h, h2, med, low) = (0, 1, 2, 3);
        // A generic match over a value a high-confidence rule claimed as its part goes; one
        // beside it stays.
        let ms = vec![
            m(h, 0, 20, &[(40, 60)]),
            m(low, 40, 60, &[]),
            m(low, 100, 120, &[]),
        ];
        assert_eq!(
            survivors(ms, resolve_overlaps, &e),
            vec![(0, 20, h), (100, 120, low)]
        );
        // A medium match's parts claim low matches, not high ones.
        let ms = vec![
            m(med, 0, 10, &[(20, 30), (50, 60)]),
            m(low, 20, 30, &[]),
            m(h, 50, 60, &[]),
        ];
        assert_eq!(
            survivors(ms, resolve_overlaps, &e),
            vec![(0, 10, med), (50, 60, h)]
        );
        // Overlapping spans: higher confidence, then priority, then the longer secret wins.
        let ms = vec![
            m(low, 0, 30, &[]),
            m(med, 5, 25, &[]),
            m(h, 10, 20, &[]),
            m(h2, 12, 18, &[]),
        ];
        assert_eq!(survivors(ms, resolve_overlaps, &e), vec![(12, 18, h2)]);
        let ms = vec![m(h, 0, 10, &[]), m(h, 20, 30, &[]), m(med, 25, 40, &[])];
        assert_eq!(survivors(ms, resolve_overlaps, &e), vec![(0, 10, h), (20, 30, h)]);
    }

    #[test]
    fn overlap_resolution_agrees_with_all_pairs() {
        let e = four_rules();
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..300 {
            let ms: Vec<Match> = (0..next(40) + 2)
                .map(|_| {
                    let (rule, start, len) = (next(4), next(500), next(40) + 1);
                    // Only high-confidence matches carry parts: a claimed match that would
                    // itself claim is where the old order-dependent loop had no defined answer.
                    let parts: Vec<(usize, usize)> = if rule < 2 && next(3) == 0 {
                        let s = next(500);
                        vec![(s, s + next(30) + 1)]
                    } else {
                        vec![]
                    };
                    m(rule, start, start + len, &parts)
                })
                .collect();
            assert_eq!(
                survivors(ms.clone(), resolve_overlaps, &e),
                survivors(ms, resolve_all_pairs, &e)
            );
        }
    }

    #[test]
    fn anchors_come_from_the_parsed_pattern() {
        let a = Anchor::of(r"\b(sk_[0-9a-f]{48})(?:[^A-Za-z0-9_-]|$)").unwrap();
        assert_eq!((a.literal.as_slice(), a.boundary), (&b"sk_"[..], true));
        let a = Anchor::of(r"(xoxb-[0-9]{10})").unwrap();
        assert_eq!((a.literal.as_slice(), a.boundary), (&b"xoxb-"[..], false));
        // Case-insensitive or alternative starts have no common literal to insist on.
        assert!(Anchor::of(r"(?i:token)\s*=\s*(\w+)").is_none_or(|a| a.literal.len() < 5));
        assert!(Anchor::of(r"\b(?:sc|ext)_[a-z]+").is_none());
        assert!(Anchor::of(r"(a|\bb)c").is_none());
    }

    #[test]
    fn explaining_records_each_drop_with_its_reason_up_to_a_bound() {
        let toml = r#"
[[rule]]
id = "t.sk"
name = "t"
issuer = "t"
identity = "user"
keywords = ["sk_"]
pattern = '''\b(sk_[0-9a-z]{8})\b'''
"#;
        let mut set = RuleSet::default();
        set.add_text("test", toml, false).unwrap();
        let engine = Engine::new(&set).unwrap();
        let mut out = Vec::new();
        let hay = b"a=sk_q8rk2lmz b=sk_abcdef12 c=sk_xxxxq8rk";
        // Not explaining: nothing is recorded.
        let mut plain = Scratch::default();
        engine.scan(hay, &mut plain, &mut out);
        assert!(plain.dropped().is_empty());
        let mut scratch = Scratch::explaining();
        out.clear();
        engine.scan(hay, &mut scratch, &mut out);
        assert_eq!(out.len(), 1);
        let why: Vec<(usize, filter::Reject)> =
            scratch.dropped().iter().map(|d| (d.start, d.reason)).collect();
        assert_eq!(
            why,
            vec![
                (16, filter::Reject::Placeholder(filter::Placeholder::Sequential)),
                (30, filter::Reject::Placeholder(filter::Placeholder::Word(1))),
            ]
        );
        assert!(scratch.dropped().iter().all(|d| !d.preview.contains("abcdef12")));
        // A buffer of nothing but placeholders keeps MAX_DROPPED of them and counts the rest.
        let many: String = (0..MAX_DROPPED + 250).map(|_| "k=sk_abcdefgh\n").collect();
        engine.scan(many.as_bytes(), &mut scratch, &mut out);
        assert_eq!(
            (scratch.dropped().len(), scratch.dropped_more()),
            (MAX_DROPPED, 250)
        );
    }

    #[test]
    fn anchored_rules_skip_hits_inside_words_and_of_the_wrong_case() {
        let toml = r#"
[[rule]]
id = "t.sk"
name = "t"
issuer = "t"
identity = "user"
keywords = ["sk_"]
pattern = '''\b(sk_[0-9a-f]{8})\b'''
"#;
        let mut set = RuleSet::default();
        set.add_text("test", toml, false).unwrap();
        let engine = Engine::new(&set).unwrap();
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        let hay = b"task_0123abcd SK_0123abcd x=sk_0123abcd";
        engine.scan(hay, &mut scratch, &mut out);
        let found: Vec<&[u8]> = out.iter().map(|m| m.secret.as_slice()).collect();
        assert_eq!(found, vec![&b"sk_0123abcd"[..]]);
        let cr = &engine.rules[0];
        assert!(!cr.hit_can_match(hay, 2, 5), "inside `task_`");
        assert!(!cr.hit_can_match(hay, 14, 17), "wrong case");
        assert!(cr.hit_can_match(hay, 28, 31));
    }
}
