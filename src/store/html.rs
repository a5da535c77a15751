//! The exposure report as one HTML page (`quench report --html`): the same page and log-axis
//! chart as a scan's `-f html` (`report::html`, `report::chart`). It shows fingerprints,
//! redacted previews and locations only, never a secret.

use std::fmt::Write as _;

use super::exposure::{human, Distribution, ExposureReport};
use super::StoredFinding;
use crate::report::chart::{self, Bar};
use crate::report::html::{esc, page};

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

/// The page for `r`; `found` supplies each key's principal and author (by fingerprint).
pub fn render(r: &ExposureReport, found: &[StoredFinding]) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h1>Exposure report</h1><p class=\"k\">generated {}</p>",
        esc(&r.generated_at)
    );
    let statuses: Vec<String> = r.by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        h,
        "<p id=\"summary\">{} findings: {}. <b>{} still live or unresolved.</b></p>",
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
    let bars: Vec<Bar> = r
        .windows
        .iter()
        .map(|w| Bar {
            label: format!("{} {}", &w.fingerprint[..w.fingerprint.len().min(8)], w.rule_id),
            before_secs: w.to_detect_secs,
            after_secs: w.after_detect_secs,
            closed: w.closed,
            status: w.status.as_str().to_string(),
        })
        .collect();
    let _ = writeln!(h, "<h2>Exposure windows</h2>{}", chart::svg(&bars));
    h.push_str(
        "<h2>Findings</h2><table id=\"findings\"><thead><tr><th>fingerprint</th><th>rule</th><th>status</th>\
         <th>identity</th><th>principal</th><th>exposed by</th><th>location</th>\
         <th>before detection</th><th>after detection</th></tr></thead><tbody>\n",
    );
    for w in &r.windows {
        let f = found.iter().find(|f| f.fingerprint == w.fingerprint);
        let principal = f.and_then(|f| match (&f.principal, &f.org) {
            (Some(p), Some(o)) => Some(format!("{p} ({o})")),
            (Some(p), None) => Some(p.clone()),
            (None, o) => o.clone(),
        });
        let _ = writeln!(
            h,
            "<tr class=\"finding\"><td><code>{}</code></td><td>{}</td><td class=\"status st-{st}\">{st}</td>\
             <td class=\"identity\">{}</td><td class=\"principal\">{}</td><td class=\"author\">{}</td>\
             <td class=\"location\">{}</td><td>{}</td><td class=\"window\">{}{}</td></tr>",
            esc(&w.fingerprint),
            esc(&w.rule_id),
            esc(f.map_or("–", |f| f.identity.as_str())),
            esc(principal.as_deref().unwrap_or("–")),
            esc(f.and_then(|f| f.author.as_deref()).unwrap_or("–")),
            esc(&w.location),
            human(w.to_detect_secs),
            human(w.after_detect_secs),
            if w.closed { "" } else { " (open)" },
            st = w.status.as_str(),
        );
    }
    // The header in a <thead> repeats on every printed page (see `report::html::page`).
    h.push_str("</tbody></table>\n");
    page("quench exposure report", &h)
}
