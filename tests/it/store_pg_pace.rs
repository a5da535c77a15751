//! Issuer verify rates on a shared store are the database's, not each process's: two
//! processes verifying at once on one PostgreSQL send an issuer its configured rate between
//! them (issue 15).

use crate::common;

use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use quench::store::pgtest::ScratchDb;

/// GitHub at 4 requests a second: two `quench scan --verify` processes of 8 keys each, started
/// together on one database, never put 9 requests into much less than 2 s at the simulator.
/// (Each keeping its own pace, as before, they send about 8 a second between them.)
#[test]
fn two_processes_on_one_database_share_an_issuers_verify_rate() {
    let db = ScratchDb::require();
    let sim = SimProc::start("");
    let slow = sim.extra_config(
        "rate.toml",
        "[verify]\nretries = 0\n\n[issuers.github]\nrate = 4\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(1516);
    for t in ["a", "b"] {
        let tree = dir.path().join(t);
        std::fs::create_dir_all(&tree).unwrap();
        for i in 0..8 {
            let key = fake::github(&mut g, "ghp");
            std::fs::write(tree.join(format!("{i}.env")), format!("GITHUB_TOKEN={key}\n")).unwrap();
        }
    }
    let scan = |tree: &str| {
        let mut c = common::quench();
        c.current_dir(dir.path())
            .args(["scan", tree, "--verify", "--store", &db.url, "--data-dir", "data"])
            .arg("--config")
            .arg(&sim.config)
            .arg("--config")
            .arg(&slow);
        c
    };
    // The store and its key exist before the two race.
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let out = scan("empty").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let a = scan("a").stderr(std::process::Stdio::piped()).spawn().unwrap();
    let b = scan("b").stderr(std::process::Stdio::piped()).spawn().unwrap();
    for p in [a, b] {
        let out = p.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
    }
    let mut arrived: Vec<chrono::DateTime<chrono::Utc>> = sim
        .recorded()
        .iter()
        .filter(|r| r["issuer"] == "github" && r["kind"] == "verify")
        .map(|r| r["arrived"].as_str().unwrap().parse().unwrap())
        .collect();
    arrived.sort();
    assert_eq!(arrived.len(), 16);
    // Any 9 requests in a row span 8 intervals of 250 ms, 2 s. A request leaves some time
    // after its slot (its process's first builds the HTTP client), so up to one interval is
    // allowed at either end; processes pacing alone put 9 requests into about 1 s.
    for w in arrived.windows(9) {
        let span = (w[8] - w[0]).num_milliseconds();
        assert!(span >= 1600, "9 requests in {span} ms: {arrived:?}");
    }
}
