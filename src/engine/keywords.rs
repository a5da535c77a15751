//! The keyword automaton and the loop that drives it.
//!
//! Every keyword of every rule (and the decoder's hint literals) lives in one ASCII
//! case-insensitive Aho-Corasick automaton with standard, overlapping semantics: a keyword
//! inside another (`key` in `api_key`) still fires.
//!
//! The automaton is aho-corasick's, but the search loop is ours. With hundreds of patterns the
//! crate has no prefilter to skip bytes, so every byte costs one transition, and one transition
//! depends on the last: a search is bound by load latency, not throughput. Splitting the
//! haystack into several lanes walked in lock-step gives the CPU independent loads to overlap,
//! which measured 1.6–2.6× faster on our corpus than the crate's own overlapping iterator.
//!
//! The automaton is the largest piece of start-up: with the catalogue's ~800 keywords, building
//! the NFA costs more instructions than opening a repository. A pre-commit hook scans a few
//! kilobytes, which one `memmem` pass per keyword over a lowercased copy covers for less than
//! the build; so the first `DIRECT_UNTIL` bytes are searched that way and the contiguous NFA is
//! built only when a scan goes on past them (or one buffer alone is larger). The DFA, which
//! takes several times longer to build but steps faster, takes over once the engine has scanned
//! `DFA_AFTER` bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::{dfa, nfa::contiguous, Anchored, MatchKind};
use memchr::memmem;

/// Bytes searched keyword by keyword before the NFA is built. At ~800 keywords a direct pass
/// costs about 50 instructions a byte and the NFA's build about ten million, so they break
/// even near 200 KB; below that, the direct search is cheaper.
const DIRECT_UNTIL: u64 = 128 << 10;

/// Bytes scanned with the quick-to-build automaton before the DFA is built.
const DFA_AFTER: u64 = 4 << 20;

/// Haystacks at least this long are split into [`LANES`] lanes; shorter ones are walked in one.
const LANE_MIN: usize = 1024;
const LANES: usize = 4;

/// The keyword automaton: literal patterns, matched ASCII case-insensitively.
pub struct Keywords {
    patterns: Vec<String>,
    /// One searcher per pattern, over the lowercased pattern, for the direct search.
    finders: Vec<memmem::Finder<'static>>,
    direct_until: u64,
    nfa: OnceLock<Option<contiguous::NFA>>,
    dfa: OnceLock<Option<dfa::DFA>>,
    scanned: AtomicU64,
}

impl Keywords {
    pub fn new(patterns: Vec<String>) -> Result<Keywords, String> {
        Ok(Keywords::with_direct_until(patterns, DIRECT_UNTIL))
    }

    fn with_direct_until(patterns: Vec<String>, direct_until: u64) -> Keywords {
        let finders = patterns
            .iter()
            .map(|p| memmem::Finder::new(p.to_ascii_lowercase().as_bytes()).into_owned())
            .collect();
        Keywords {
            patterns,
            finders,
            direct_until,
            nfa: OnceLock::new(),
            dfa: OnceLock::new(),
            scanned: AtomicU64::new(0),
        }
    }

    /// Calls `f(pattern, start, end)` for every occurrence of every pattern in `hay`,
    /// overlapping ones included. The order is not by position.
    pub fn for_each(&self, hay: &[u8], f: impl FnMut(usize, usize, usize)) {
        if self.patterns.is_empty() {
            return;
        }
        let len = hay.len() as u64;
        let before = self.scanned.fetch_add(len, Ordering::Relaxed);
        if before + len <= self.direct_until && self.nfa.get().is_none() {
            return self.direct(hay, f);
        }
        if before + len >= DFA_AFTER {
            if let Some(d) = self.dfa() {
                return search(d, hay, f);
            }
        }
        match self.nfa() {
            Some(n) => search(n, hay, f),
            // The automaton could not be built (it never fails at the catalogue's size): the
            // direct search finds the same matches, only slower.
            None => self.direct(hay, f),
        }
    }

    /// Every occurrence of every pattern, one `memmem` pass per pattern over a lowercased copy.
    fn direct(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let lower = hay.to_ascii_lowercase();
        for (i, finder) in self.finders.iter().enumerate() {
            let n = finder.needle().len();
            if n == 0 {
                continue; // rules refuse empty keywords; an empty needle would match everywhere
            }
            let mut at = 0;
            while let Some(p) = finder.find(&lower[at..]) {
                let start = at + p;
                f(i, start, start + n);
                at = start + 1;
            }
        }
    }

    fn nfa(&self) -> Option<&contiguous::NFA> {
        self.nfa
            .get_or_init(|| automaton!(contiguous::Builder::new(), &self.patterns))
            .as_ref()
    }

    /// The DFA, built once the engine has scanned enough to pay for it.
    fn dfa(&self) -> Option<&dfa::DFA> {
        self.dfa
            .get_or_init(|| automaton!(dfa::Builder::new(), &self.patterns))
            .as_ref()
    }
}

/// Both automata match alike: ASCII case-insensitively, every overlapping occurrence, and no
/// prefilter (with hundreds of patterns it has nothing to skip). Their builders share these
/// methods but no trait, hence a macro.
macro_rules! automaton {
    ($builder:expr, $patterns:expr) => {
        $builder
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build($patterns)
            .ok()
    };
}
use automaton;

/// Overlapping search of `hay`, in lanes when it is long enough to pay for them.
fn search<A: Automaton>(a: &A, hay: &[u8], f: impl FnMut(usize, usize, usize)) {
    if hay.len() >= LANE_MIN * LANES {
        lanes::<A, LANES>(a, hay, f)
    } else {
        lanes::<A, 1>(a, hay, f)
    }
}

/// Walks `L` equal lanes of `hay` in lock-step. Lane `k` owns the matches that end inside its
/// own segment; it starts `max_pattern_len - 1` bytes early (without reporting), which is
/// exactly enough for any match ending in its segment to be seen whole — so every match is
/// reported once, by one lane.
fn lanes<A: Automaton, const L: usize>(a: &A, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
    let Ok(start) = a.start_state(Anchored::No) else {
        return;
    };
    let mut report = |sid: StateID, end: usize| {
        for i in 0..a.match_len(sid) {
            let p = a.match_pattern(sid, i);
            f(p.as_usize(), end - a.pattern_len(p), end);
        }
    };
    let seg = hay.len() / L;
    let reach = a.max_pattern_len().saturating_sub(1);
    let mut state = [start; L];
    let mut lane: [&[u8]; L] = [&[]; L];
    for k in 0..L {
        let own = k * seg;
        for &b in &hay[own.saturating_sub(reach)..own] {
            state[k] = a.next_state(Anchored::No, state[k], b);
        }
        lane[k] = &hay[own..own + seg];
    }
    // Indexing every lane at the same `j` is the point: the L loads are independent.
    #[allow(clippy::needless_range_loop)]
    for j in 0..seg {
        let mut special = false;
        for k in 0..L {
            state[k] = a.next_state(Anchored::No, state[k], lane[k][j]);
            special |= a.is_special(state[k]);
        }
        if special {
            for (k, &sid) in state.iter().enumerate() {
                if a.is_match(sid) {
                    report(sid, k * seg + j + 1);
                }
            }
        }
    }
    // The last lane runs on over what the even split left.
    let mut sid = state[L - 1];
    for (i, &b) in hay.iter().enumerate().skip(L * seg) {
        sid = a.next_state(Anchored::No, sid, b);
        if a.is_match(sid) {
            report(sid, i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (pattern, start, end), sorted, as aho-corasick's own overlapping iterator finds them.
    fn reference(patterns: &[&str], hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .unwrap();
        let mut v: Vec<_> = ac
            .find_overlapping_iter(hay)
            .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
            .collect();
        v.sort_unstable();
        v
    }

    fn ours(k: &Keywords, hay: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::new();
        k.for_each(hay, |p, s, e| v.push((p, s, e)));
        v.sort_unstable();
        v
    }

    #[test]
    fn lanes_find_what_the_crate_finds_at_every_boundary() {
        let patterns = [
            "key",
            "api_key",
            "ghp_",
            "token",
            "xoxb-",
            "sk-ant-api03-",
            "ab",
            "b",
        ];
        let owned = || patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let direct = Keywords::with_direct_until(owned(), u64::MAX);
        let k = Keywords::with_direct_until(owned(), 0);
        // Dense matches straddling every possible lane boundary, in both cases.
        let unit = b"API_KEY=ghp_x TOKEN xoxb-1 sk-ant-api03-z abab ";
        for len in [
            0,
            1,
            2,
            5,
            100,
            LANE_MIN * LANES - 1,
            LANE_MIN * LANES,
            3 * LANE_MIN * LANES + 7,
        ] {
            let hay: Vec<u8> = unit.iter().cycle().take(len).copied().collect();
            assert_eq!(ours(&k, &hay), reference(&patterns, &hay), "length {len}");
            assert_eq!(
                ours(&direct, &hay),
                reference(&patterns, &hay),
                "direct, length {len}"
            );
        }
        assert!(
            direct.nfa.get().is_none(),
            "the direct search never builds the automaton"
        );
    }

    #[test]
    fn the_direct_search_hands_over_to_the_automaton_and_they_agree() {
        let patterns = ["secret", "cret", "password", "aa"];
        let k = Keywords::new(patterns.iter().map(|s| s.to_string()).collect()).unwrap();
        let small = b"my SECRET password; secretcret aaaa";
        assert_eq!(ours(&k, small), reference(&patterns, small));
        assert!(k.nfa.get().is_none(), "a small scan is searched directly");
        let big: Vec<u8> = small
            .iter()
            .cycle()
            .take(DIRECT_UNTIL as usize)
            .copied()
            .collect();
        assert_eq!(ours(&k, &big), reference(&patterns, &big));
        assert!(
            k.nfa.get().is_some(),
            "the NFA is built once the scan goes past DIRECT_UNTIL"
        );
        assert_eq!(ours(&k, small), reference(&patterns, small));
    }

    #[test]
    fn dfa_takes_over_and_agrees() {
        let patterns = ["secret", "cret", "password"];
        let k = Keywords::new(patterns.iter().map(|s| s.to_string()).collect()).unwrap();
        let hay: Vec<u8> = b"my SECRET password; secretcret "
            .iter()
            .cycle()
            .take((DFA_AFTER as usize) + 4096)
            .copied()
            .collect();
        assert_eq!(ours(&k, &hay), reference(&patterns, &hay));
        assert!(
            matches!(k.dfa.get(), Some(Some(_))),
            "the DFA is built after DFA_AFTER bytes"
        );
        assert_eq!(ours(&k, &hay[..9000]), reference(&patterns, &hay[..9000]));
    }

    #[test]
    fn no_patterns_no_matches() {
        let k = Keywords::new(Vec::new()).unwrap();
        assert!(ours(&k, b"anything").is_empty());
    }
}
