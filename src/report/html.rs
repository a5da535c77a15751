//! HTML reports: one self-contained page (inline CSS and SVG, no script, no external asset), so
//! it can be mailed, archived, printed or opened offline. `-f html` writes a scan's findings;
//! `quench report --html` (the store's exposure report) uses the same page and chart.
//!
//! A page names keys by fingerprint and redacted preview only: the printer never reads the
//! secret, whatever `--show-secrets` says (the CLI refuses that flag with `-f html`).

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::chart::{self, human, Bar};
use super::ReportOptions;
use crate::finding::Finding;
use crate::scan::ScanOutcome;
use crate::verdict::Verdict;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page around a report's body: the one stylesheet, readable on screen and on paper.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}\
         td,th{{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;font-size:13px;vertical-align:top}}\
         code{{font-size:12px}}.k{{color:#555}}.st-live,.st-escalated{{color:#b00;font-weight:bold}}\
         .st-revoked,.st-dead{{color:#1a7f45}}svg{{max-width:100%;height:auto}}\
         .reach-table th,.reach-table td{{border:0;padding:0 6px 0 0;font-size:12px}}.risk-org-admin,.risk-privileged{{color:#b00;font-weight:bold}}{print}\
         </style></head><body>\n{body}</body></html>\n",
        title = esc(title),
        print = PRINT_CSS
    )
}

/// How a report reads on paper: A4 landscape (the findings table is ten columns wide), colours
/// kept (status and the chart's bars carry meaning; browsers drop them by default), the chart
/// scaled to fit one page beside its heading and never split, the table's header repeated on
/// every page (`thead`), a row never split across pages, and long paths wrapped anywhere
/// instead of running off the page (other cells wrap only between words).
const PRINT_CSS: &str = "@page{size:A4 landscape;margin:12mm}\
    @media print{*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
    body{margin:0;font-size:10px;color:#000}\
    table{width:100%}thead{display:table-header-group}\
    td,th{font-size:9px;padding:1px 5px}code{font-size:9px}\
    td.location,td.repository{overflow-wrap:anywhere}\
    h1{font-size:16px}h2{font-size:13px;break-after:avoid}\
    svg{max-height:140mm;width:auto;break-inside:avoid}tr{break-inside:avoid}\
    a{color:inherit;text-decoration:none}}";

/// The status a finding stands at: the store's after the pipeline ran, else the verdict.
fn status(f: &Finding) -> String {
    if let Some(s) = f.status {
        return s.as_str().to_string();
    }
    match &f.verification {
        Some(v) => v.verdict.as_str().to_string(),
        None => "detected".to_string(),
    }
}

fn is_dead(f: &Finding) -> bool {
    match f.status {
        Some(s) => s.is_dead(),
        None => f
            .verification
            .as_ref()
            .is_some_and(|v| v.verdict == Verdict::Dead),
    }
}

/// Resources named per kind in a finding's reach table; the rest are counted.
const REACH_SHOWN: usize = 5;

/// What the key can reach, as HTML for the findings table: the enumerated reach (`--access`)
/// as a small table — risk and capabilities, then each kind of resource with how many and the
/// first few with their permission, then how much could not be seen — else what verification
/// saw (project and scopes) as text.
fn reach(f: &Finding) -> String {
    if let Some(r) = &f.reach {
        return reach_table(r);
    }
    let Some(v) = &f.verification else {
        return "–".into();
    };
    let r = &v.revealed;
    let mut parts = Vec::new();
    if let Some(p) = &r.project {
        parts.push(format!("project {p}"));
    }
    if !r.scopes.is_empty() {
        parts.push(r.scopes.join(", "));
    }
    if parts.is_empty() {
        "–".into()
    } else {
        esc(&parts.join("; "))
    }
}

fn reach_table(r: &crate::reach::Reach) -> String {
    let caps: Vec<&str> = r.capabilities.iter().map(|c| c.as_str()).collect();
    let mut t = format!(
        "<table class=\"reach-table\" data-risk=\"{risk}\"><tr><th>risk</th><td class=\"risk risk-{risk}\">{risk}{caps}</td></tr>",
        risk = esc(r.risk.as_str()),
        caps = if caps.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"k\">({})</span>", esc(&caps.join(", ")))
        }
    );
    if let Some(p) = &r.principal {
        let kind = r
            .principal_kind
            .as_deref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default();
        let _ = write!(
            t,
            "<tr><th>principal</th><td>{}</td></tr>",
            esc(&format!("{p}{kind}"))
        );
    }
    if !r.scopes.is_empty() {
        let _ = write!(
            t,
            "<tr><th>scopes</th><td>{}</td></tr>",
            esc(&r.scopes.join(", "))
        );
    }
    if !r.granted.is_empty() || !r.denied.is_empty() {
        let _ = write!(
            t,
            "<tr><th>permissions</th><td>granted {}; denied {}</td></tr>",
            esc(&or_none(&r.granted)),
            esc(&or_none(&r.denied))
        );
    }
    let mut kinds: Vec<&str> = Vec::new();
    for res in &r.resources {
        if !kinds.contains(&res.kind.as_str()) {
            kinds.push(&res.kind);
        }
    }
    for kind in kinds {
        let all: Vec<_> = r.of_kind(kind).collect();
        let shown: Vec<String> = all
            .iter()
            .take(REACH_SHOWN)
            .map(|res| match &res.permission {
                Some(p) => format!("{} <span class=\"k\">{}</span>", esc(&res.name), esc(p)),
                None => esc(&res.name),
            })
            .collect();
        let more = all.len().saturating_sub(REACH_SHOWN);
        let _ = write!(
            t,
            "<tr class=\"reach-kind\" data-kind=\"{k}\" data-count=\"{n}\"><th>{k} ({n})</th><td>{list}{more}</td></tr>",
            k = esc(kind),
            n = all.len(),
            list = shown.join(", "),
            more = if more > 0 { format!(" <span class=\"k\">+{more} more</span>") } else { String::new() }
        );
    }
    if !r.unseen.is_empty() {
        let _ = write!(
            t,
            "<tr><th>not seen</th><td class=\"k\">{}</td></tr>",
            r.unseen.iter().map(|u| esc(u)).collect::<Vec<_>>().join("<br>")
        );
    }
    let _ = write!(
        t,
        "<tr><th>whose</th><td>{}</td></tr></table>",
        esc(&r.whose.summary)
    );
    t
}

fn or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The repository a location belongs to: the scanned root that holds it (a `quench git`
/// run scans one repository, so every location is in it).
fn repository<'a>(path: &str, roots: &'a [String]) -> Option<&'a str> {
    if roots.len() == 1 {
        return Some(&roots[0]);
    }
    roots
        .iter()
        .find(|r| path.starts_with(r.as_str()))
        .map(String::as_str)
}

/// The earliest commit time among a finding's locations: when the key was first exposed.
fn first_exposed(f: &Finding) -> Option<DateTime<Utc>> {
    f.locations
        .iter()
        .filter_map(|l| l.commit.as_ref())
        .filter_map(|c| DateTime::parse_from_rfc3339(&c.author_time).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()
}

/// Writes a scan's findings as an HTML page.
pub fn write(out: &mut dyn Write, outcome: &ScanOutcome, opts: &ReportOptions) -> io::Result<()> {
    write_at(out, outcome, opts, Utc::now())
}

/// [`write`] as of `now` (the end of every open window).
pub fn write_at(
    out: &mut dyn Write,
    outcome: &ScanOutcome,
    opts: &ReportOptions,
    now: DateTime<Utc>,
) -> io::Result<()> {
    let mut b = String::new();
    let s = &outcome.summary;
    let _ = writeln!(
        b,
        "<h1>quench {} report</h1><p class=\"k\">generated {} · scanned {}: {} files, {} · quench {}</p>",
        esc(&opts.command),
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        esc(&opts.roots.join(", ")),
        s.files_scanned,
        super::human::human_bytes(s.bytes_scanned),
        env!("CARGO_PKG_VERSION"),
    );
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for f in &outcome.findings {
        *counts.entry(status(f)).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let open = outcome.findings.iter().filter(|f| !is_dead(f)).count();
    let _ = writeln!(
        b,
        "<p id=\"summary\">{} findings{}{}. <b>{open} not confirmed dead.</b></p>",
        outcome.findings.len(),
        if counts.is_empty() { "" } else { ": " },
        esc(&counts.join(", "))
    );

    // One window per finding: from its first commit (or now, when no commit is known) to now,
    // closed when the key is confirmed dead.
    let mut rows: Vec<(&Finding, f64)> = outcome
        .findings
        .iter()
        .map(|f| {
            let before =
                first_exposed(f).map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
            (f, before)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(f, before)| Bar {
            label: format!("{} {}", &f.fingerprint[..f.fingerprint.len().min(8)], f.rule_id),
            before_secs: *before,
            after_secs: 0.0,
            closed: is_dead(f),
            status: status(f),
        })
        .collect();
    if !bars.is_empty() {
        let _ = writeln!(b, "<h2>Exposure windows</h2>{}", chart::svg(&bars));
    }

    b.push_str(
        "<h2>Findings</h2><table id=\"findings\"><thead><tr><th>key</th><th>status</th><th>identity model</th>\
         <th>principal</th><th>reach</th><th>repository</th><th>commit</th><th>location</th>\
         <th>exposed since</th><th>exposure window</th></tr></thead><tbody>\n",
    );
    for (f, before) in &rows {
        let loc = f.primary();
        let commit = loc.and_then(|l| l.commit.as_ref());
        let principal = f.verification.as_ref().map(|v| {
            let r = &v.revealed;
            match (&r.principal, &r.org) {
                (Some(p), Some(o)) => format!("{p} ({o})"),
                (Some(p), None) => p.clone(),
                (None, Some(o)) => o.clone(),
                (None, None) => "–".into(),
            }
        });
        let st = status(f);
        let _ = writeln!(
            b,
            "<tr class=\"finding\" data-fingerprint=\"{fp}\"><td class=\"key\"><code>{fps}</code> {rule}<br><span class=\"k\">{issuer} · {redacted}</span></td>\
             <td class=\"status st-{st}\">{st}</td><td class=\"identity\">{identity}</td>\
             <td class=\"principal\">{principal}</td><td class=\"reach\">{reach}</td>\
             <td class=\"repository\">{repo}</td><td class=\"commit\">{commit}</td>\
             <td class=\"location\">{location}</td><td class=\"exposed\">{since}</td>\
             <td class=\"window\">{window}</td></tr>",
            fp = esc(&f.fingerprint),
            fps = esc(&f.fingerprint[..f.fingerprint.len().min(12)]),
            rule = esc(&f.rule_id),
            issuer = esc(&f.issuer),
            redacted = esc(&f.secret_redacted),
            st = esc(&st),
            identity = f
                .verification
                .as_ref()
                .map_or(f.identity, |v| v.identity_model)
                .as_str(),
            principal = esc(principal.as_deref().unwrap_or("not verified")),
            reach = reach(f),
            repo = esc(loc.and_then(|l| repository(&l.path, &opts.roots)).unwrap_or("–")),
            commit = commit.map_or("–".into(), |c| format!(
                "<code>{}</code> {}<br><span class=\"k\">{}</span>",
                esc(&c.id[..c.id.len().min(10)]),
                esc(&c.author_name),
                esc(&c.summary)
            )),
            location = loc.map_or("–".into(), |l| {
                let more = f.locations.len() - 1;
                format!(
                    "{}:{}{}",
                    esc(&l.path),
                    l.line,
                    if more > 0 { format!(" <span class=\"k\">+{more} more</span>") } else { String::new() }
                )
            }),
            since = first_exposed(f).map_or("unknown (no commit)".into(), |t| t
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            window = if is_dead(f) {
                format!("{} (closed: dead)", human(*before))
            } else {
                format!("{} (open)", human(*before))
            },
        );
    }
    b.push_str("</tbody></table>\n");
    if !outcome.skipped.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"k\">{} item(s) not scanned; the JSON report lists them.</p>",
            outcome.skipped.len()
        );
    }
    for n in &s.notes {
        let _ = writeln!(b, "<p class=\"k note\">{}</p>", esc(n));
    }
    out.write_all(page(&format!("quench {} report", opts.command), &b).as_bytes())
}
