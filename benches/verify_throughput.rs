//! Verification throughput: 1,000 distinct findings across 10 issuers against the in-process
//! issuer simulator adding 50 ms to every answer, under the registry's per-issuer concurrency
//! and rate limits. Prints the wall time and the highest request rate each issuer saw.
//!
//! `cargo bench --bench verify_throughput` (add `-- --rate N` to lift every issuer's rate).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quench::config::Config;
use quench::finding::Finding;
use quench::rules::checksum::github_check;
use quench::rules::RuleSet;
use quench::simulate::{self, KeysFile, Sim, SimKey};
use quench::verify::{self, Registry};

const PER_ISSUER: usize = 100;

struct Rng(u64);
impl Rng {
    fn s(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                alphabet[(self.0 % alphabet.len() as u64) as usize] as char
            })
            .collect()
    }
}

const AN: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Makes one fake secret of a rule's shape.
type Maker = Box<dyn Fn(&mut Rng) -> String>;

/// (rule id, issuer, secret maker)
fn makers() -> Vec<(&'static str, &'static str, Maker)> {
    vec![
        (
            "github.pat-classic",
            "github",
            Box::new(|r: &mut Rng| {
                let b = r.s(AN, 30);
                format!("ghp_{b}{}", github_check(b.as_bytes()))
            }),
        ),
        (
            "slack.bot-token",
            "slack",
            Box::new(|r: &mut Rng| {
                format!(
                    "xoxb-{}-{}-{}",
                    r.s(b"0123456789", 12),
                    r.s(b"0123456789", 13),
                    r.s(AN, 24)
                )
            }),
        ),
        (
            "openai.project-key",
            "openai",
            Box::new(|r: &mut Rng| format!("sk-proj-{}T3BlbkFJ{}", r.s(AN, 74), r.s(AN, 74))),
        ),
        (
            "anthropic.api-key",
            "anthropic",
            Box::new(|r: &mut Rng| format!("sk-ant-api03-{}AA", r.s(AN, 93))),
        ),
        (
            "huggingface.access-token",
            "huggingface",
            Box::new(|r: &mut Rng| {
                format!(
                    "hf_{}",
                    r.s(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 34)
                )
            }),
        ),
        (
            "npm.access-token",
            "npm",
            Box::new(|r: &mut Rng| {
                let b = r.s(AN, 30);
                format!("npm_{b}{}", github_check(b.as_bytes()))
            }),
        ),
        (
            "doppler.personal-token",
            "doppler",
            Box::new(|r: &mut Rng| format!("dp.pt.{}", r.s(AN, 43))),
        ),
        (
            "gitlab.pat",
            "gitlab",
            Box::new(|r: &mut Rng| format!("glpat-{}", r.s(AN, 20))),
        ),
        ("mistral.api-key", "mistral", Box::new(|r: &mut Rng| r.s(AN, 32))),
        (
            "groq.api-key",
            "groq",
            Box::new(|r: &mut Rng| format!("gsk_{}", r.s(AN, 52))),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rate: Option<f64> = args
        .iter()
        .position(|a| a == "--rate")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let rules = RuleSet::builtin().expect("built-in rules");
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut keys = Vec::new();
    let mut findings = Vec::new();
    for (rule_id, issuer, make) in makers() {
        let rule = Arc::new(rules.get(rule_id).expect(rule_id).clone());
        for i in 0..PER_ISSUER {
            let secret = make(&mut rng);
            // Three in four are live; the rest are unknown to the issuer (dead).
            if i % 4 != 3 {
                keys.push(SimKey {
                    issuer: issuer.into(),
                    secret: secret.clone(),
                    key_id: None,
                    principal: Some(format!("user{i}")),
                    org: Some("acme".into()),
                    project: None,
                    scopes: vec!["read".into()],
                    identity: None,
                    expires_at: None,
                    admin: false,
                    no_self_revoke: false,
                    fault: None,
                    redirect_to: None,
                    // Fields added later keep their defaults.
                    ..SimKey::default()
                });
            }
            findings.push(Finding::new(rule.clone(), secret.into_bytes(), vec![]));
        }
    }
    let record = std::env::temp_dir().join(format!("quench-bench-verify-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&record);
    let sim = Sim::new(
        KeysFile {
            keys,
            simulator: Default::default(),
        },
        Some(&record),
        Some(Duration::from_millis(50)),
    )
    .expect("simulator");
    let handle = simulate::start("127.0.0.1:0", sim).expect("start simulator");
    let base = Registry::load(&Config::default()).expect("registry");
    let mut text = simulate::config_for(handle.addr, &base);
    if let Some(r) = rate {
        for (_, issuer, _) in makers() {
            text = text.replace(
                &format!("[issuers.{issuer}]\n"),
                &format!("[issuers.{issuer}]\nrate = {r:.1}\n"),
            );
        }
    }
    let config = Config {
        table: toml::from_str(&text).expect("sim config"),
        files: vec![],
    };
    let registry = Registry::load(&config).expect("registry");
    let limits: BTreeMap<String, (usize, f64)> = makers()
        .iter()
        .filter_map(|(_, i, _)| registry.get(i).map(|e| (i.to_string(), (e.concurrency, e.rate))))
        .collect();
    let ctx = verify::Context::new(registry, verify::Options::default());
    let n = findings.len();
    let t0 = Instant::now();
    let stats = verify::verify_findings(&mut findings, ctx).expect("verification");
    let took = t0.elapsed();
    println!(
        "verify_throughput: {n} findings, 10 issuers, 50 ms simulated latency: {:.2} s ({:.0} findings/s); {} live, {} dead, {} indeterminate",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        stats.live,
        stats.dead,
        stats.indeterminate
    );
    // The busiest one-second window per issuer, from the simulator's record.
    let mut times: BTreeMap<String, Vec<chrono::DateTime<chrono::FixedOffset>>> = BTreeMap::new();
    for line in std::fs::read_to_string(&record).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if let (Some(i), Some(t)) = (v["issuer"].as_str(), v["time"].as_str()) {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) {
                times.entry(i.to_string()).or_default().push(t);
            }
        }
    }
    for (issuer, mut ts) in times {
        ts.sort();
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..ts.len() {
            while ts[hi] - ts[lo] >= chrono::Duration::seconds(1) {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        let (conc, rate) = limits.get(&issuer).copied().unwrap_or_default();
        println!("  {issuer:<12} {:>4} requests, busiest second {best:>3} (configured: {rate} req/s, {conc} in flight)", ts.len());
    }
    let _ = std::fs::remove_file(&record);
    assert_eq!(
        stats.live + stats.dead,
        n,
        "every finding got a conclusive verdict"
    );
}
