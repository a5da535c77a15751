//! Counters for `GET /metrics`, rendered in the Prometheus text exposition format.
//!
//! Plain atomics rather than a metrics crate: the set is small and fixed, and the format is a few
//! lines of text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::queue::Depth;

/// Upper bounds (seconds) of the push-received-to-revoked histogram: the goal is seconds, the
/// tail shows when it is minutes.
const BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Default)]
pub struct Metrics {
    pub deliveries_accepted: AtomicU64,
    pub deliveries_duplicate: AtomicU64,
    pub deliveries_ignored: AtomicU64,
    pub refused_unauthorized: AtomicU64,
    pub refused_too_large: AtomicU64,
    pub refused_malformed: AtomicU64,
    pub refused_remote: AtomicU64,
    pub scans_ok: AtomicU64,
    pub scans_failed: AtomicU64,
    pub blobs_scanned: AtomicU64,
    pub findings: AtomicU64,
    pub verdicts_live: AtomicU64,
    pub verdicts_dead: AtomicU64,
    pub verdicts_indeterminate: AtomicU64,
    pub revocations: AtomicU64,
    pub sweeps_ok: AtomicU64,
    pub sweeps_failed: AtomicU64,
    revoke_buckets: [AtomicU64; 8],
    revoke_count: AtomicU64,
    /// Sum in milliseconds (an integer atomic); rendered in seconds.
    revoke_sum_ms: AtomicU64,
}

pub fn inc(c: &AtomicU64) {
    add(c, 1);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Records one push whose live keys were all revoked, `secs` after it was received.
    pub fn observe_push_to_revoked(&self, secs: f64) {
        let secs = secs.max(0.0);
        for (i, &b) in BUCKETS.iter().enumerate() {
            if secs <= b {
                inc(&self.revoke_buckets[i]);
            }
        }
        inc(&self.revoke_count);
        add(&self.revoke_sum_ms, (secs * 1000.0) as u64);
    }

    pub fn render(&self, depth: Option<&Depth>) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        // What is running, for dashboards that join on the version (value always 1).
        let _ = writeln!(
            s,
            "# HELP quench_build_info The quench build serving.\n# TYPE quench_build_info gauge\n\
             quench_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        super::process_metrics::render(&mut s);
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                if labels.is_empty() {
                    let _ = writeln!(s, "{name} {v}");
                } else {
                    let _ = writeln!(s, "{name}{{{labels}}} {v}");
                }
            }
        };
        family(
            "quench_deliveries_total",
            "counter",
            "Webhook deliveries by outcome.",
            &[
                ("outcome=\"accepted\"", g(&self.deliveries_accepted)),
                ("outcome=\"duplicate\"", g(&self.deliveries_duplicate)),
                ("outcome=\"ignored\"", g(&self.deliveries_ignored)),
                ("outcome=\"unauthorized\"", g(&self.refused_unauthorized)),
                ("outcome=\"too_large\"", g(&self.refused_too_large)),
                ("outcome=\"malformed\"", g(&self.refused_malformed)),
                ("outcome=\"remote_not_allowed\"", g(&self.refused_remote)),
            ],
        );
        family(
            "quench_scans_total",
            "counter",
            "Push scans by outcome.",
            &[
                ("outcome=\"ok\"", g(&self.scans_ok)),
                ("outcome=\"failed\"", g(&self.scans_failed)),
            ],
        );
        family(
            "quench_blobs_scanned_total",
            "counter",
            "Git blobs scanned for pushes.",
            &[("", g(&self.blobs_scanned))],
        );
        family(
            "quench_findings_total",
            "counter",
            "Findings in pushed commits.",
            &[("", g(&self.findings))],
        );
        family(
            "quench_verdicts_total",
            "counter",
            "Verification verdicts.",
            &[
                ("verdict=\"live\"", g(&self.verdicts_live)),
                ("verdict=\"dead\"", g(&self.verdicts_dead)),
                ("verdict=\"indeterminate\"", g(&self.verdicts_indeterminate)),
            ],
        );
        family(
            "quench_revocations_total",
            "counter",
            "Credentials revoked.",
            &[("", g(&self.revocations))],
        );
        family(
            "quench_sweeps_total",
            "counter",
            "Scheduled sweeps by outcome.",
            &[
                ("outcome=\"ok\"", g(&self.sweeps_ok)),
                ("outcome=\"failed\"", g(&self.sweeps_failed)),
            ],
        );
        if let Some(d) = depth {
            family(
                "quench_queue_jobs",
                "gauge",
                "Jobs in the delivery queue by state.",
                &[
                    ("state=\"queued\"", d.queued),
                    ("state=\"running\"", d.running),
                    ("state=\"done\"", d.done),
                    ("state=\"failed\"", d.failed),
                ],
            );
        }
        let name = "quench_push_to_revoked_seconds";
        let _ = writeln!(
            s,
            "# HELP {name} Seconds from receiving a push to revoking its live keys.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(s, "{name}_bucket{{le=\"{b}\"}} {}", g(&self.revoke_buckets[i]));
        }
        let count = g(&self.revoke_count);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(s, "{name}_sum {}", g(&self.revoke_sum_ms) as f64 / 1000.0);
        let _ = writeln!(s, "{name}_count {count}");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_push_to_revoked(0.7);
        m.observe_push_to_revoked(3.0);
        let text = m.render(None);
        assert!(text.contains("quench_push_to_revoked_seconds_bucket{le=\"0.5\"} 0"));
        assert!(text.contains("quench_push_to_revoked_seconds_bucket{le=\"1\"} 1"));
        assert!(text.contains("quench_push_to_revoked_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("quench_push_to_revoked_seconds_count 2"));
    }

    #[test]
    fn build_info_names_the_version() {
        let text = Metrics::default().render(None);
        let line = format!("quench_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        assert!(text.lines().any(|l| l == line), "{text}");
        assert!(text.contains("# TYPE quench_build_info gauge"), "{text}");
    }
}
