//! Fake credentials generated in code: random bodies from a seeded generator, correct
//! prefixes, lengths and checksums. None of them is or was ever a real key.

use quench::rules::checksum;

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A tiny deterministic generator (xorshift), so fixtures are reproducible per seed.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// `n` characters from `alphabet`, rejecting runs that the placeholder filter would drop.
    pub fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        loop {
            let s: String = (0..n)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
                .collect();
            if !quench::engine::filter::is_placeholder(s.as_bytes()) {
                return s;
            }
        }
    }
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn alnum(&mut self, n: usize) -> String {
        self.string(ALNUM, n)
    }
    pub fn hex(&mut self, n: usize) -> String {
        self.string(HEX, n)
    }
}

/// A GitHub token (`ghp`, `gho`, `ghu`, `ghs`, `ghr`) with a valid CRC-32 check.
pub fn github(g: &mut Gen, prefix: &str) -> String {
    let body = g.alnum(30);
    format!("{prefix}_{body}{}", checksum::github_check(body.as_bytes()))
}

/// An npm token with a valid check.
pub fn npm(g: &mut Gen) -> String {
    let body = g.alnum(30);
    format!("npm_{body}{}", checksum::github_check(body.as_bytes()))
}

/// An AWS long-term access key id and its secret.
pub fn aws(g: &mut Gen) -> (String, String) {
    (format!("AKIA{}", g.string(UPPER32, 16)), g.string(B64, 40))
}

/// A Slack bot token.
pub fn slack_bot(g: &mut Gen) -> String {
    format!(
        "xoxb-{}-{}-{}",
        g.string(b"0123456789", 12),
        g.string(b"0123456789", 13),
        g.alnum(24)
    )
}

/// An OpenAI project key.
pub fn openai_project(g: &mut Gen) -> String {
    format!(
        "sk-proj-{}T3BlbkFJ{}",
        g.string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            74
        ),
        g.string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            74
        )
    )
}

/// An Anthropic API key.
pub fn anthropic(g: &mut Gen) -> String {
    format!(
        "sk-ant-api03-{}AA",
        g.string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            93
        )
    )
}

/// A GitLab routable personal access token with a valid check.
pub fn gitlab_routable(g: &mut Gen) -> String {
    let head = format!(
        "glpat-{}.01.0w",
        g.string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            27
        )
    );
    format!("{head}{}", checksum::gitlab_check(head.as_bytes()))
}

/// A Hugging Face user token.
pub fn huggingface(g: &mut Gen) -> String {
    format!(
        "hf_{}",
        g.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)
    )
}
