//! The exposure chart both HTML reports draw (a scan's `-f html` and the store's `quench report
//! --html`): one horizontal bar per key, on a logarithmic time axis with a legend.
//!
//! Why logarithmic: exposure spans from a second (a key revoked by the push hook) to months (a
//! key in old history). On a linear axis the short windows are invisible beside the long ones;
//! on a log axis each decade gets the same width, so 1 s, 1 h and 12 days all read. Durations
//! under a second are drawn at one second, which the legend says.

use std::fmt::Write as _;

use super::html::esc;

/// At most this many bars are drawn (the longest windows come first); the table lists all.
pub const MAX_BARS: usize = 60;

/// One key's window, already measured.
pub struct Bar {
    /// What the row is called (a fingerprint prefix and a rule id). Never a secret.
    pub label: String,
    /// Seconds from first exposure to detection.
    pub before_secs: f64,
    /// Seconds from detection to confirmed death, or to now while the key may be alive.
    pub after_secs: f64,
    /// Whether the key is confirmed dead (the window is closed).
    pub closed: bool,
    /// The finding's status, shown in the bar's tooltip.
    pub status: String,
}

/// Ticks a reader knows, in seconds.
const TICKS: &[(f64, &str)] = &[
    (1.0, "1s"),
    (10.0, "10s"),
    (60.0, "1m"),
    (600.0, "10m"),
    (3600.0, "1h"),
    (21600.0, "6h"),
    (86400.0, "1d"),
    (604800.0, "7d"),
    (2592000.0, "30d"),
    (31536000.0, "1y"),
    (315360000.0, "10y"),
];

const GREY: &str = "#9aa3ad";
const RED: &str = "#d64545";
const GREEN: &str = "#2e9d5b";

/// The x position (0..=width) of `secs` on a log axis from 1 s to `max` s.
fn x_of(secs: f64, max: f64, width: f64) -> f64 {
    let span = max.max(10.0).log10();
    width * secs.max(1.0).log10().min(span) / span
}

/// The SVG: legend, bars, and the log axis with its ticks.
pub fn svg(bars: &[Bar]) -> String {
    let bars = &bars[..bars.len().min(MAX_BARS)];
    let longest = bars
        .iter()
        .map(|b| b.before_secs + b.after_secs)
        .fold(1.0f64, f64::max);
    // The axis ends on the first tick at or past the longest window.
    let max = TICKS
        .iter()
        .map(|t| t.0)
        .find(|&t| t >= longest && t >= 10.0)
        .unwrap_or(longest);
    let (label_w, plot_w, row_h, legend_h) = (230.0, 560.0, 18.0, 26.0);
    let axis_y = legend_h + 6.0 + row_h * bars.len() as f64;
    let height = axis_y + 34.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="exposure-chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" role="img" aria-label="Exposure window per key, logarithmic time axis">"#,
        w = label_w + plot_w + 90.0
    );
    // Legend first, so it is read before the bars.
    s.push_str(r#"<g id="legend" font-size="11">"#);
    let entries = [
        (GREY, "exposed, not yet detected"),
        (RED, "detected, key may still work"),
        (GREEN, "detected, confirmed dead"),
    ];
    let mut lx = 0.0;
    for (color, text) in entries {
        let _ = write!(
            s,
            r#"<rect class="swatch" x="{lx}" y="4" width="12" height="12" fill="{color}"/><text class="legend-entry" x="{tx}" y="14">{text}</text>"#,
            tx = lx + 16.0
        );
        lx += 16.0 + 7.0 * text.len() as f64 + 18.0;
    }
    let _ = write!(
        s,
        r##"<text class="legend-entry" x="{lx}" y="14" fill="#555">log time axis; under 1s drawn at 1s</text></g>"##
    );
    for (i, b) in bars.iter().enumerate() {
        let y = legend_h + 6.0 + row_h * i as f64;
        let x1 = x_of(b.before_secs, max, plot_w);
        let x2 = x_of(b.before_secs + b.after_secs, max, plot_w).max(x1 + 1.0);
        let color = if b.closed { GREEN } else { RED };
        let _ = write!(
            s,
            r#"<g class="bar"><text x="0" y="{ty}" font-size="11">{label}</text><rect class="before" x="{lx}" y="{y}" width="{x1:.1}" height="12" fill="{GREY}"><title>exposed before detection: {d1}</title></rect><rect class="after" x="{ax:.1}" y="{y}" width="{aw:.1}" height="12" fill="{color}"><title>{status}: {d2} after detection</title></rect><text x="{tx:.1}" y="{ty}" font-size="11">{total}</text></g>"#,
            ty = y + 10.0,
            label = esc(&b.label),
            lx = label_w,
            ax = label_w + x1,
            aw = x2 - x1,
            d1 = human(b.before_secs),
            d2 = human(b.after_secs),
            status = esc(&b.status),
            tx = label_w + x2 + 4.0,
            total = human(b.before_secs + b.after_secs),
        );
    }
    let _ = write!(
        s,
        r##"<g class="axis log" font-size="10" fill="#555"><line x1="{label_w}" y1="{axis_y}" x2="{x2}" y2="{axis_y}" stroke="#888"/>"##,
        x2 = label_w + plot_w
    );
    for &(t, name) in TICKS.iter().filter(|t| t.0 <= max) {
        let x = label_w + x_of(t, max, plot_w);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{axis_y}" stroke="#ddd"/><text class="tick" x="{x:.1}" y="{ty}" text-anchor="middle">{name}</text>"##,
            y0 = legend_h,
            ty = axis_y + 13.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{cx}" y="{ty}" text-anchor="middle">time since first exposure (log scale)</text></g></svg>"#,
        cx = label_w + plot_w / 2.0,
        ty = axis_y + 28.0
    );
    s
}

/// A duration for people: `850ms`, `42s`, `3m 20s`, `5h 02m`, `4d 03h`.
pub fn human(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round() as i64);
    }
    let s = secs.round() as i64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_is_logarithmic_so_a_second_and_twelve_days_both_read() {
        // On the old linear axis an hour beside 12 days was 0.3% of the width; on a log axis
        // every decade takes an equal share, so the hour sits past the middle.
        let max = 2592000.0;
        let w = 600.0;
        let one_hour = x_of(3600.0, max, w);
        let twelve_days = x_of(12.0 * 86400.0, max, w);
        assert!((x_of(1.0, max, w)).abs() < 1e-9);
        assert!(one_hour > w / 2.0 && twelve_days > one_hour && twelve_days < w);
        // Equal ratios take equal widths.
        let d1 = x_of(10.0, max, w) - x_of(1.0, max, w);
        let d2 = x_of(1000.0, max, w) - x_of(100.0, max, w);
        assert!((d1 - d2).abs() < 1e-9);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0.25), "250ms");
        assert_eq!(human(200.0), "3m 20s");
        assert_eq!(human(3.0 * 86400.0 + 7200.0), "3d 02h");
    }
}
