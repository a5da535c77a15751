//! Exposure windows in `quench report`: a key found already dead closes its window at the
//! verification that proved it dead; a live one stays open.

use crate::common;

use common::backends::Backend;
use common::fake::{self, Gen};
use common::fake_verify::SimProc;
use common::run_in;

crate::on_both_backends!(a_key_dead_on_first_verification_has_a_closed_window);

fn a_key_dead_on_first_verification_has_a_closed_window(store: Backend) {
    let mut g = Gen::new(611);
    let live = fake::github(&mut g, "ghp");
    let dead = fake::github(&mut g, "ghp");
    // Only `live` is known to the simulator: `dead` verifies dead (401).
    let sim = SimProc::start(&format!("[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\n"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/t.env"), format!("A={live}\nB={dead}\n")).unwrap();
    let cfg = sim.config.to_string_lossy().into_owned();
    let record = store.record();
    let args: Vec<&str> = ["scan", "src", "--config", &cfg, "--verify", "--data-dir", "data"]
        .into_iter()
        .chain(record.iter().map(String::as_str))
        .collect();
    let out = run_in(dir.path(), &args, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Let time pass so an open window would visibly keep growing past the verification.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let read = store.read();
    let args: Vec<&str> = ["report", "--json", "--data-dir", "data"]
        .into_iter()
        .chain(read.iter().map(String::as_str))
        .collect();
    let out = run_in(dir.path(), &args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let window = |secret: &str| {
        let fp = common::fingerprint("github.pat-classic", secret.as_bytes());
        v["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["fingerprint"] == fp.as_str())
            .unwrap_or_else(|| panic!("no window for a finding in {v:#}"))
            .clone()
    };
    let d = window(&dead);
    assert_eq!(d["status"], "dead", "{d:#}");
    assert_eq!(d["closed"], true, "{d:#}");
    let l = window(&live);
    assert_eq!(l["status"], "live", "{l:#}");
    assert_eq!(l["closed"], false, "{l:#}");
    // Both were detected by the same scan; the dead one's window ended at its verification
    // during the scan, the live one's runs on to the report, at least the pause later.
    let gap = l["after_detect_secs"].as_f64().unwrap() - d["after_detect_secs"].as_f64().unwrap();
    assert!(
        gap >= 1.4,
        "dead window not closed at its verification: {d:#} vs {l:#}"
    );
    assert_eq!(v["still_live"], 1);
}
