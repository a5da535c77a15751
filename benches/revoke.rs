//! Live finding → revoke call, over N findings against `quench simulate` (default 1,000):
//! p50 / p99 / max of (revoke requested − verified) from the store's timelines.
//!
//! `cargo bench --bench revoke [-- N]`. Runs the real binary end to end: simulate, then
//! `scan --verify --revoke`, then reads `findings --json`.

#[path = "../tests/common/fake.rs"]
#[allow(dead_code)]
mod fake;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let mut sim = Command::new(bin)
        .args(["simulate", "--listen", "127.0.0.1:0", "--keys"])
        .arg(dir.path().join("keys.toml"))
        .arg("--write-config")
        .arg(&sim_cfg)
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
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("findings JSON");
    let mut lat: Vec<f64> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let t = |k: &str| chrono::DateTime::parse_from_rfc3339(f["timeline"][k].as_str()?).ok();
            Some((t("revoke_requested")? - t("verified")?).num_microseconds()? as f64 / 1e6)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
    assert!(!lat.is_empty(), "no finding was revoked");
    println!(
        "revoke latency over {} live findings (verified → revoke requested): p50 {:.3}s  p99 {:.3}s  max {:.3}s; \
         whole scan+verify+revoke {:.1}s",
        lat.len(),
        pct(50.0),
        pct(99.0),
        lat[lat.len() - 1],
        wall.as_secs_f64()
    );
}
