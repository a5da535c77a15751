//! The exposure report as one self-contained HTML page: inline CSS and an inline SVG chart,
//! no script and no external asset, so it can be mailed, archived or opened offline. It shows
//! fingerprints and redacted locations only, never a secret.

use std::fmt::Write as _;

use super::exposure::{human, Distribution, ExposureReport};

/// At most this many bars are drawn (the longest windows); the table lists them all.
const MAX_BARS: usize = 60;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn stat(d: &Distribution) -> String {
    let f = |v: Option<f64>| v.map(human).unwrap_or_else(|| "–".into());
    format!(
        "median {} · p95 {} · max {} <small>({} keys)</small>",
        f(d.median_secs),
        f(d.p95_secs),
        f(d.max_secs),
        d.count
    )
}

/// Horizontal bars on a log-free linear scale: grey from exposure to detection, then red while
/// the key lived on after detection (green once it was confirmed dead).
fn chart(r: &ExposureReport) -> String {
    let bars: Vec<_> = r.windows.iter().take(MAX_BARS).collect();
    let max = bars
        .iter()
        .map(|w| w.total_secs())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let (label_w, plot_w, row_h) = (230.0, 560.0, 18.0);
    let height = 30.0 + row_h * bars.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" role="img" aria-label="Exposure window per finding">"#,
        w = label_w + plot_w + 90.0
    );
    for (i, w) in bars.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        let x1 = plot_w * w.to_detect_secs / max;
        let x2 = plot_w * w.after_detect_secs / max;
        let color = if w.closed { "#2e9d5b" } else { "#d64545" };
        let _ = write!(
            s,
            r##"<text x="0" y="{ty}" font-size="11">{label}</text><rect x="{lx}" y="{y}" width="{x1:.1}" height="12" fill="#9aa3ad"><title>exposed before detection: {d1}</title></rect><rect x="{x2s:.1}" y="{y}" width="{x2:.1}" height="12" fill="{color}"><title>{status}: {d2} after detection</title></rect><text x="{tx:.1}" y="{ty}" font-size="11">{total}</text>"##,
            ty = y + 10.0,
            label = esc(&format!(
                "{} {}",
                &w.fingerprint[..w.fingerprint.len().min(8)],
                w.rule_id
            )),
            lx = label_w,
            x2s = label_w + x1,
            x2 = x2.max(1.0),
            d1 = human(w.to_detect_secs),
            d2 = human(w.after_detect_secs),
            status = w.status.as_str(),
            tx = label_w + x1 + x2.max(1.0) + 4.0,
            total = human(w.total_secs()),
        );
    }
    let _ = write!(
        s,
        r##"<text x="{label_w}" y="{y}" font-size="11" fill="#555">0</text><text x="{x}" y="{y}" font-size="11" fill="#555" text-anchor="end">{max}</text></svg>"##,
        y = height - 4.0,
        x = label_w + plot_w,
        max = human(max)
    );
    s
}

pub fn render(r: &ExposureReport) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>quench exposure report</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
         td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;font-size:13px}\
         code{font-size:12px}.k{color:#555}</style></head><body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>Exposure report</h1><p class=\"k\">generated {}</p>",
        esc(&r.generated_at)
    );
    let statuses: Vec<String> = r.by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        h,
        "<p>{} findings: {}. <b>{} still live or unresolved.</b></p>",
        r.findings,
        esc(&statuses.join(", ")),
        r.still_live
    );
    let _ = writeln!(
        h,
        "<p>Time to revoke (detection → confirmed dead): {}</p>",
        stat(&r.time_to_revoke)
    );
    let _ = writeln!(
        h,
        "<p>Exposure window (first exposed → dead or now): {}</p>",
        stat(&r.exposure)
    );
    let _ = writeln!(h, "<h2>Exposure windows</h2>{}", chart(r));
    h.push_str("<h2>Findings</h2><table><tr><th>fingerprint</th><th>rule</th><th>status</th><th>location</th><th>before detection</th><th>after detection</th></tr>\n");
    for w in &r.windows {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&w.fingerprint),
            esc(&w.rule_id),
            w.status.as_str(),
            esc(&w.location),
            human(w.to_detect_secs),
            human(w.after_detect_secs),
            if w.closed { "" } else { " (open)" }
        );
    }
    h.push_str("</table></body></html>\n");
    h
}
