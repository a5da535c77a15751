//! `quench serve`'s /metrics through the real binary: the build it runs and the standard
//! `process_*` families, with values that describe the serving process (not zeros or
//! placeholders).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common;

use common::fake_serve::Server;

/// The value of the one sample of `name` (a family without labels) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"));
    v.trim().parse().unwrap_or_else(|e| panic!("{name} {v:?}: {e}"))
}

#[test]
fn metrics_name_the_build_and_the_serving_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("quench.toml");
    std::fs::write(
        &cfg,
        format!("[serve]\ndata_dir = {:?}\nworkers = 0\n", tmp.path().join("data")),
    )
    .unwrap();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let s = Server::start(&["--config", cfg.to_str().unwrap()], &[]);
    let pid = s.child.id();
    let (status, text) = s.get("/metrics");
    assert_eq!(status, 200, "{text}");

    let build = format!("quench_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(text.lines().any(|l| l == build), "no {build:?} in:\n{text}");
    for family in [
        "process_cpu_seconds_total counter",
        "process_resident_memory_bytes gauge",
        "process_virtual_memory_bytes gauge",
        "process_open_fds gauge",
        "process_max_fds gauge",
        "process_start_time_seconds gauge",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "no TYPE {family} in:\n{text}"
        );
    }

    // Memory: what the kernel says of the serving process (its pid), within a page or two of
    // the scrape, and more than nothing.
    let rss = sample(&text, "process_resident_memory_bytes");
    let status_file = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kernel_rss = status_file
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap()
        * 1024.0;
    assert!(rss > 1_000_000.0, "resident memory {rss}");
    assert!(
        (rss - kernel_rss).abs() / kernel_rss < 0.5,
        "resident memory {rss} vs the kernel's {kernel_rss} for pid {pid}"
    );
    let vsz = sample(&text, "process_virtual_memory_bytes");
    assert!(vsz >= rss, "virtual {vsz} < resident {rss}");

    // File descriptors: the process has at least stdin/stdout/stderr and its listener open, and
    // no more than its limit, which is the kernel's soft limit for it.
    let open = sample(&text, "process_open_fds");
    let max = sample(&text, "process_max_fds");
    assert!(open >= 4.0 && open <= max, "open {open}, max {max}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: f64 = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(max, soft);

    // Start time: after this test began (less the clock's tick rounding), not in the future.
    let start = sample(&text, "process_start_time_seconds");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        start >= before - 2.0 && start <= now + 1.0,
        "start {start}, test began {before}, now {now}"
    );

    // CPU: a counter that does not go backwards between scrapes.
    let cpu1 = sample(&text, "process_cpu_seconds_total");
    let (_, again) = s.get("/metrics");
    let cpu2 = sample(&again, "process_cpu_seconds_total");
    assert!(cpu1 >= 0.0 && cpu2 >= cpu1, "cpu {cpu1} then {cpu2}");
    // No more CPU than every core for the whole of its life.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    assert!(
        cpu2 <= cores * (now - before) + 1.0,
        "cpu {cpu2}s in a process younger than {}s",
        now - before
    );
}
