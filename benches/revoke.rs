//! Live finding → revoke call reaching the issuer, over N findings against `quench simulate`
//! (default 1,000).
//!
//! `cargo bench --bench revoke [-- N]`. Runs the real binary end to end: simulate (recording
//! each request, and for a revoke call the keys it carried), then `scan --verify --revoke`, then
//! `findings --json`. For each key the simulator received in an accepted revoke call, it reports
//! p50 / p99 / max of (revoke received by the issuer − verified) and (− detected), with the
//! verified and detected times from the store's timelines; and, for comparison, the store's own
//! (revoke requested − verified).

#[path = "../tests/it/common/fake.rs"]
#[allow(dead_code)]
mod fake;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Time = chrono::DateTime<chrono::FixedOffset>;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let bin = env!("CARGO_BIN_EXE_quench");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = fake::Gen::new(4242);
    let tokens: Vec<String> = (0..n).map(|_| fake::github(&mut g, "ghp")).collect();
    let keys: String = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| format!("[[key]]\nissuer = \"github\"\nsecret = \"{t}\"\nprincipal = \"user{i}\"\n"))
        .collect();
    std::fs::write(dir.path().join("keys.toml"), keys).unwrap();
    let body: String = tokens.iter().map(|t| format!("token: {t}\n")).collect();
    std::fs::create_dir_all(dir.path().join("tree")).unwrap();
    std::fs::write(dir.path().join("tree/leak.txt"), body).unwrap();
    let sim_cfg = dir.path().join("sim.toml");
    let record = dir.path().join("requests.jsonl");
    let mut sim = Command::new(bin)
        .args(["simulate", "--listen", "127.0.0.1:0", "--keys"])
        .arg(dir.path().join("keys.toml"))
        .arg("--write-config")
        .arg(&sim_cfg)
        .arg("--record")
        .arg(&record)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn simulate");
    let t0 = Instant::now();
    while !sim_cfg.exists() {
        assert!(t0.elapsed() < Duration::from_secs(30), "simulator did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Lift the registry's politeness limits: this measures quench, not GitHub's rate limit.
    std::fs::write(
        dir.path().join("bench.toml"),
        "[issuers.github]\nrate = 100000.0\nconcurrency = 64\n[verify]\nretries = 0\n[revoke]\nmode = \"auto\"\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "scan",
            "tree",
            "--verify",
            "--data-dir",
            "data",
            "--format",
            "json",
            "--config",
        ])
        .arg(&sim_cfg)
        .args(["--config", "bench.toml"])
        .output()
        .expect("run scan");
    let wall = started.elapsed();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim());
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args(["findings", "--json", "--data-dir", "data"])
        .output()
        .expect("run findings");
    let _ = sim.kill();
    let _ = sim.wait();

    // When the simulator first received an accepted revoke call carrying each key.
    let mut received: HashMap<String, Time> = HashMap::new();
    let mut calls = 0;
    for line in std::fs::read_to_string(&record).expect("record file").lines() {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let ok = r["status"].as_u64().is_some_and(|s| (200..300).contains(&s));
        if r["kind"] != "revoke" || !ok {
            continue;
        }
        calls += 1;
        let Some(at) = r["arrived"]
            .as_str()
            .and_then(|t| Time::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        for k in r["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_u64())
        {
            received.entry(format!("user{k}")).or_insert(at);
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("findings JSON");
    let (mut to_verified, mut to_detected, mut requested) = (Vec::new(), Vec::new(), Vec::new());
    let secs = |d: chrono::Duration| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    for f in v["findings"].as_array().into_iter().flatten() {
        let t = |k: &str| Time::parse_from_rfc3339(f["timeline"][k].as_str()?).ok();
        let got = f["principal"].as_str().and_then(|p| received.get(p));
        if let (Some(r), Some(ver), Some(det)) = (got, t("verified"), t("detected")) {
            to_verified.push(secs(*r - ver));
            to_detected.push(secs(*r - det));
        }
        if let (Some(req), Some(ver)) = (t("revoke_requested"), t("verified")) {
            requested.push(secs(req - ver));
        }
    }
    assert!(!to_verified.is_empty(), "no revoke call reached the simulator");
    let show = |name: &str, mut lat: Vec<f64>| {
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
        println!(
            "  {name:<42} p50 {:.3}s  p99 {:.3}s  max {:.3}s  (n={})",
            pct(50.0),
            pct(99.0),
            lat[lat.len() - 1],
            lat.len()
        );
    };
    println!(
        "revoke latency over {} live findings ({} accepted revoke calls); whole scan+verify+revoke {:.1}s",
        to_verified.len(),
        calls,
        wall.as_secs_f64()
    );
    show("revoke received by issuer − verified", to_verified);
    show("revoke received by issuer − detected", to_detected);
    if !requested.is_empty() {
        show("revoke requested − verified (store)", requested);
    }
}
