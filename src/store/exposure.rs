//! Exposure windows and time-to-revoke: the numbers this product exists to shrink.
//!
//! The exposure window runs from first exposure (commit time, else detection) to confirmed
//! death, or to now for a key still alive. Time-to-revoke runs from detection to confirmed death
//! and is counted only for keys quench revoked.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Status, StoredFinding, Time};

/// Median, 95th percentile and maximum of a set of durations, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_secs: Option<f64>,
}

impl Distribution {
    pub fn of(mut secs: Vec<f64>) -> Distribution {
        secs.retain(|s| s.is_finite());
        secs.sort_by(|a, b| a.total_cmp(b));
        Distribution {
            count: secs.len(),
            median_secs: percentile(&secs, 50.0),
            p95_secs: percentile(&secs, 95.0),
            max_secs: secs.last().copied(),
        }
    }
}

/// Nearest-rank percentile of sorted values: an observed value, never an interpolation.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One finding's window, for tables and the chart.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub fingerprint: String,
    pub rule_id: String,
    pub status: Status,
    pub location: String,
    /// Seconds from first exposure to detection.
    pub to_detect_secs: f64,
    /// Seconds from detection to confirmed death (or to now).
    pub after_detect_secs: f64,
    /// Whether the window is closed (the key is confirmed dead).
    pub closed: bool,
    /// How many times the key was exposed: more than one when it came back after being
    /// revoked or found dead.
    pub windows: u32,
}

impl Window {
    pub fn total_secs(&self) -> f64 {
        self.to_detect_secs + self.after_detect_secs
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExposureReport {
    pub generated_at: String,
    pub findings: usize,
    pub by_status: BTreeMap<&'static str, usize>,
    /// Exposure windows of every finding (open ones measured up to now).
    pub exposure: Distribution,
    /// Detection to confirmed death, for revoked keys.
    pub time_to_revoke: Distribution,
    /// Keys verified live and not dead: the open risk.
    pub still_live: usize,
    /// Keys that answered live again after being revoked or found dead.
    pub revived: usize,
    pub windows: Vec<Window>,
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

impl ExposureReport {
    pub fn build(found: &[StoredFinding], now: Time) -> ExposureReport {
        let mut by_status = BTreeMap::new();
        let mut windows = Vec::new();
        for f in found {
            *by_status.entry(f.status.as_str()).or_default() += 1;
            let t = &f.timeline;
            let Some(detected) = t.detected else { continue };
            let exposed = t.first_exposed.unwrap_or(detected).min(detected);
            // A key found dead (on its first verification, or later by someone else's hand)
            // stopped being exposed when a verification proved it, not now.
            let closed = t.closed_at(f.status.is_dead());
            let to_detect = secs(detected - exposed).max(0.0);
            // Every window a revived key had counts, each up to its own close.
            let total = t
                .exposure(now, f.status.is_dead())
                .map_or(0.0, secs)
                .max(to_detect);
            windows.push(Window {
                fingerprint: f.fingerprint.clone(),
                rule_id: f.rule_id.clone(),
                status: f.status,
                location: f.first_location.clone(),
                to_detect_secs: to_detect,
                after_detect_secs: total - to_detect,
                closed: closed.is_some(),
                windows: t.windows.max(1),
            });
        }
        let exposure = Distribution::of(windows.iter().map(Window::total_secs).collect());
        let time_to_revoke = Distribution::of(
            found
                .iter()
                .filter(|f| f.status == Status::Revoked)
                .filter_map(|f| f.timeline.time_to_revoke())
                .map(secs)
                .collect(),
        );
        windows.sort_by(|a, b| b.total_secs().total_cmp(&a.total_secs()));
        ExposureReport {
            generated_at: super::fmt_time(&now),
            findings: found.len(),
            still_live: found
                .iter()
                .filter(|f| matches!(f.status, Status::Live | Status::Revoking | Status::Escalated))
                .count(),
            revived: found.iter().filter(|f| f.timeline.windows > 1).count(),
            by_status,
            exposure,
            time_to_revoke,
            windows,
        }
    }
}

pub use crate::report::chart::human;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let d = Distribution::of(v);
        assert_eq!(
            (d.median_secs, d.p95_secs, d.max_secs),
            (Some(10.0), Some(19.0), Some(20.0))
        );
        assert_eq!(Distribution::of(vec![]).median_secs, None);
        assert_eq!(Distribution::of(vec![7.0]).p95_secs, Some(7.0));
    }
}
