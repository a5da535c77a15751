//! Push received → key revoked at the issuer, through `quench serve` end to end: N signed GitHub
//! push webhooks (default 50), each for a push of 1–10 commits to one of four repositories,
//! carrying 1–3 simulated live keys (GitHub tokens, and Slack bot tokens, whose recipe is a
//! self-revoke). Deliveries come at a developer's pace (one push every 200–500 ms) and then, on
//! a fresh service, as a burst (back to back).
//!
//! `cargo bench --bench push_to_revoke [-- N] [paced|burst|rate=R] [workers=W] [servers=S]
//! [store=postgres]` (`rate=R`: R pushes a second, evenly, instead of both paces; W overrides
//! the service's default worker pool; S services, each with its own data directory, take the
//! deliveries in turn; `store=postgres` puts their store and queue on a scratch schema of
//! `QUENCH_TEST_PG_URL`, which S > 1 needs). `benches/push_to_revoke_scaling.sh` runs the
//! 1/2/4-process comparison.
//!
//! The clock starts when the webhook POST is sent (after `git push` reached the remote, as on a
//! forge) and stops when the issuer simulator revoked the key: the issuer's receipt is what ends
//! the exposure. The simulator runs on a thread of this process so the bench can read the time it
//! stamped on each revocation; `quench serve` is the real binary. The breakdown is cumulative
//! from the same start: scanned (the service logs the finding), verified, revoke requested and
//! confirmed dead (the store's timeline).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime};

use common::fake::{self, Gen};
use common::fake_serve::{commit, github_push, start_revoking_with, Remote, Server, ZERO};
use common::fake_verify::SimThread;

const SECRET: &str = "bench-webhook-secret";
const REPOS: usize = 4;
/// How long after the last delivery a key may still be revoked before the bench gives up on it.
const GIVE_UP: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq)]
enum Pace {
    /// One push every 200–500 ms (start to start).
    Paced,
    /// Back to back: each delivery right after the previous one was acknowledged.
    Burst,
    /// A sustained rate: this many pushes a second, start to start.
    Rate(f64),
}

struct Key {
    secret: String,
    issuer: &'static str,
    rule: &'static str,
    /// The push that carries it.
    push: usize,
}

/// A push prepared before the clock starts: which remote, the range it moves `main` over.
struct Push {
    repo: usize,
    before: String,
    after: String,
    commits: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(50).max(1);
    let rate: Option<f64> = args
        .iter()
        .find_map(|a| a.strip_prefix("rate=")?.parse().ok())
        .filter(|r: &f64| r.is_finite() && *r > 0.0);
    let paces: Vec<Pace> = match (
        rate,
        args.iter().any(|a| a == "paced"),
        args.iter().any(|a| a == "burst"),
    ) {
        (Some(r), _, _) => vec![Pace::Rate(r)],
        (None, true, false) => vec![Pace::Paced],
        (None, false, true) => vec![Pace::Burst],
        _ => vec![Pace::Paced, Pace::Burst],
    };
    let workers = args.iter().find_map(|a| a.strip_prefix("workers=")?.parse().ok());
    let servers: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("servers=")?.parse().ok())
        .unwrap_or(1)
        .max(1);
    let postgres = args.iter().any(|a| a == "store=postgres");
    assert!(
        postgres || servers == 1,
        "servers={servers} share one store: add store=postgres"
    );
    let mut failed = false;
    for pace in paces {
        failed |= !run(n, pace, workers, servers, postgres);
    }
    if failed {
        std::process::exit(1);
    }
}

/// One scenario on a fresh simulator, service and set of repositories; false when a key was not
/// revoked in time.
fn run(n: usize, pace: Pace, workers: Option<usize>, servers: usize, postgres: bool) -> bool {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut g = Gen::new(7 + n as u64);
    let remotes: Vec<Remote> = (0..REPOS)
        .map(|r| Remote::new(tmp.path(), &format!("app{r}")))
        .collect();
    let (pushes, keys) = prepare(&mut g, &remotes, n);
    let keys_toml: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "[[key]]\nissuer = \"{}\"\nsecret = \"{}\"\nprincipal = \"dev{i}\"\n",
                k.issuer, k.secret
            )
        })
        .collect();
    let sim = SimThread::start(&keys_toml);
    // GitHub's public revoke endpoint allows 60 calls an hour, and each push's run makes its own
    // call: 75 GitHub keys over 50 pushes would spend the budget and defer the rest for up to an
    // hour, as it should. This measures quench's path, not GitHub's quota, so the budget is lifted
    // (tests/revoke_budget.rs proves the deferral).
    let lift = "[issuers.github]\nrevoke_per_hour = 1000000\n";
    let db = postgres.then(quench::store::pgtest::ScratchDb::require);
    let store_args: Vec<String> = match &db {
        Some(db) => vec!["--store".into(), db.url.clone()],
        None => vec!["--data-dir".into(), tmp.path().join("data").display().to_string()],
    };
    let store_key = "5a".repeat(32);
    let pool: Vec<Server> = (0..servers)
        .map(|i| {
            let data = tmp.path().join(format!("data{i}")).display().to_string();
            let mut more: Vec<&str> = Vec::new();
            if let Some(db) = &db {
                more.extend(["--store", db.url.as_str(), "--data-dir", data.as_str()]);
            }
            let env = [("QUENCH_STORE_KEY", store_key.as_str())];
            start_revoking_with(tmp.path(), &sim.config, workers, lift, SECRET, &more, &env)
        })
        .collect();
    let workers = pool[0]
        .log_text()
        .lines()
        .find_map(|l| {
            l.split_once(", ")?
                .1
                .split_once(" worker(s)")
                .map(|(w, _)| w.to_string())
        })
        .unwrap_or_else(|| "?".into());
    let backend = match &db {
        Some(_) => format!("{servers} service(s) on PostgreSQL"),
        None => "1 service on SQLite".to_string(),
    };

    let started = Instant::now();
    let mut sent = Vec::with_capacity(n);
    let mut next = Instant::now();
    for (i, p) in pushes.iter().enumerate() {
        match pace {
            Pace::Paced => {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += Duration::from_millis(200 + g.below(301));
            }
            Pace::Rate(r) => {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += Duration::from_secs_f64(1.0 / r);
            }
            Pace::Burst => {}
        }
        let remote = &remotes[p.repo];
        remote.push(&p.after);
        let body = github_push(&remote.bare, &p.before, &p.after);
        sent.push(SystemTime::now());
        let server = &pool[i % pool.len()];
        let (status, answer) = server.github(SECRET, "push", &format!("bench-{i}"), &body);
        assert_eq!(status, 202, "delivery {i}: {answer}\n{}", server.log_text());
    }
    let sending = started.elapsed();
    // Until every key is dead at the issuer (or the bench gives up), then until every delivery
    // is finished, so the store's timelines and the metrics are complete.
    let issuer = &sim.handle.sim;
    let deadline = Instant::now() + GIVE_UP;
    while (0..keys.len()).any(|i| !issuer.is_revoked(i)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed();
    let revoked_at: Vec<Option<SystemTime>> = (0..keys.len()).map(|i| issuer.revoked_at(i)).collect();
    if revoked_at.iter().all(Option::is_some) {
        // Any service may have finished a delivery (a peer takes over a dead one's).
        let deadline = Instant::now() + GIVE_UP;
        while Instant::now() < deadline
            && (0..n).any(|i| {
                let done = format!("(bench-{i}) done");
                !pool.iter().any(|s| s.log_text().contains(&done))
            })
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let logs: String = pool.iter().map(|s| s.log_text() + "\n").collect();
    let stages = Stages::collect(&logs, tmp.path(), &store_args, &keys, &sent, &revoked_at);
    let total = &stages.rows[3].1;
    let missing = keys.len() - total.len();
    let commits: usize = pushes.iter().map(|p| p.commits).sum();
    let github = keys.iter().filter(|k| k.issuer == "github").count();
    println!(
        "push_to_revoke {}: {n} pushes to {REPOS} repositories ({commits} commits, 1–10 per push), \
         {} live keys ({github} GitHub, {} Slack), {backend}, {workers} worker(s) each; deliveries \
         took {:.1}s, all revoked after {:.1}s",
        match pace {
            Pace::Paced => "paced (a push every 200–500 ms)".to_string(),
            Pace::Burst => "burst (back to back)".to_string(),
            Pace::Rate(r) => format!("sustained ({r} pushes a second)"),
        },
        keys.len(),
        keys.len() - github,
        sending.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "  webhook sent → issuer revoked:  {}",
        summary(total).unwrap_or_else(|| "no key was revoked".into())
    );
    let ten: Vec<f64> = keys
        .iter()
        .zip(&revoked_at)
        .filter(|(k, _)| pushes[k.push].commits == 10)
        .filter_map(|(k, t)| secs(sent[k.push], (*t)?))
        .collect();
    if let Some(s) = summary(&ten) {
        println!("    pushes of 10 commits only:    {s}");
    }
    println!("  breakdown, cumulative from webhook sent:");
    for (name, v) in &stages.rows {
        println!("    {name:<24}{}", summary(v).unwrap_or_else(|| "none".into()));
    }
    let revocations: Option<f64> = pool.iter().map(|s| s.metric("quench_revocations_total")).sum();
    println!(
        "  quench_revocations_total {}",
        revocations.map_or("missing".into(), |v| v.to_string())
    );
    if missing > 0 {
        println!(
            "  {missing} key(s) not revoked within {}s of the last delivery; service log and data \
             kept in {}",
            GIVE_UP.as_secs(),
            tmp.path().display()
        );
        let _ = std::fs::write(tmp.path().join("serve.log"), &logs);
        let _ = tmp.keep();
    }
    missing == 0
}

/// Builds every push's commits in the work trees (untimed): push `i` goes to repository
/// `i % REPOS`, has 1–10 commits (each count once per ten pushes) of ordinary source changes,
/// and 1–3 keys in commits spread over it.
fn prepare(g: &mut Gen, remotes: &[Remote], n: usize) -> (Vec<Push>, Vec<Key>) {
    let mut tips = vec![ZERO.to_string(); remotes.len()];
    let mut pushes = Vec::with_capacity(n);
    let mut keys = Vec::new();
    for i in 0..n {
        let repo = i % remotes.len();
        let commits = 1 + (i * 3) % 10;
        let first_key = keys.len();
        for _ in 0..1 + i % 3 {
            keys.push(if keys.len() % 4 == 3 {
                Key {
                    secret: fake::slack_bot(g),
                    issuer: "slack",
                    rule: "slack.bot-token",
                    push: i,
                }
            } else {
                Key {
                    secret: fake::github(g, "ghp"),
                    issuer: "github",
                    rule: "github.pat-classic",
                    push: i,
                }
            });
        }
        let mut after = String::new();
        for c in 0..commits {
            let mut files = vec![
                (format!("src/mod{}.rs", g.below(12)), source_file(g)),
                (
                    format!("docs/notes{}.md", g.below(5)),
                    format!("Push {i}, commit {c}.\n"),
                ),
            ];
            for (k, key) in keys.iter().enumerate().skip(first_key) {
                if (k - first_key) * commits / (keys.len() - first_key) == c {
                    let var = if key.issuer == "slack" {
                        "SLACK_BOT_TOKEN"
                    } else {
                        "GH_TOKEN"
                    };
                    files.push((
                        format!("deploy/env{k}.sh"),
                        format!("export {var}={}\n", key.secret),
                    ));
                }
            }
            let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
            after = commit(&remotes[repo].work, &files, &format!("push {i} commit {c}"));
        }
        pushes.push(Push {
            repo,
            before: std::mem::replace(&mut tips[repo], after.clone()),
            after,
            commits,
        });
    }
    (pushes, keys)
}

/// About 3 KB of Rust-shaped text with identifiers and literals that resemble nothing secret.
fn source_file(g: &mut Gen) -> String {
    (0..60)
        .map(|l| {
            format!(
                "    let v{l} = compute_{}(\"{}\", {});\n",
                g.alnum(6).to_lowercase(),
                g.alnum(12).to_lowercase(),
                g.below(1000)
            )
        })
        .collect()
}

/// Seconds per key from its push's delivery to each step, for the keys that reached it.
struct Stages {
    rows: Vec<(&'static str, Vec<f64>)>,
}

impl Stages {
    fn collect(
        log: &str,
        root: &std::path::Path,
        store_args: &[String],
        keys: &[Key],
        sent: &[SystemTime],
        revoked_at: &[Option<SystemTime>],
    ) -> Stages {
        let mut args = vec!["findings", "--json"];
        args.extend(store_args.iter().map(String::as_str));
        let out = common::run_in(root, &args, None);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "findings --json is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let findings = v["findings"].as_array().cloned().unwrap_or_default();
        let mut rows: Vec<(&'static str, Vec<f64>)> = [
            "scanned (logged)",
            "verified",
            "revoke requested",
            "issuer revoked",
            "confirmed dead",
        ]
        .into_iter()
        .map(|s| (s, Vec::new()))
        .collect();
        for (k, key) in keys.iter().enumerate() {
            let start = sent[key.push];
            // The service runs with the tests' fingerprint key (`common::quench`), so this matches.
            let fp = common::fingerprint(key.rule, key.secret.as_bytes());
            let needle = format!("fingerprint={fp} ");
            let scanned = log
                .lines()
                .find(|l| l.contains(" finding in ") && l.contains(&needle))
                .and_then(|l| time(l.split_whitespace().next()?));
            let f = findings.iter().find(|f| f["fingerprint"] == fp.as_str());
            let step = |name: &str| time(f?["timeline"][name].as_str()?);
            let ends = [
                scanned,
                step("verified"),
                step("revoke_requested"),
                revoked_at[k],
                step("confirmed_dead"),
            ];
            for (row, end) in rows.iter_mut().zip(ends) {
                if let Some(s) = end.and_then(|e| secs(start, e)) {
                    row.1.push(s);
                }
            }
        }
        Stages { rows }
    }
}

fn time(rfc3339: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(SystemTime::from)
}

fn secs(from: SystemTime, to: SystemTime) -> Option<f64> {
    Some(to.duration_since(from).ok()?.as_secs_f64())
}

/// `p50 … p99 … max … n=…` (nearest-rank percentiles), or `None` for no samples.
fn summary(v: &[f64]) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(format!(
        "p50 {:.3}s  p99 {:.3}s  max {:.3}s  n={}",
        pct(50.0),
        pct(99.0),
        v[v.len() - 1],
        v.len()
    ))
}
