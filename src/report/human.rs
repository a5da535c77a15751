//! Human output: one block per finding, then a summary line. Colour only on a terminal.

use std::io::{self, Write};

use super::ReportOptions;
use crate::finding::Status;
use crate::scan::ScanOutcome;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome, opts: &ReportOptions) -> io::Result<()> {
    let p = Paint { on: opts.color };
    for f in &outcome.findings {
        let shown = f.secret.as_deref().unwrap_or(&f.secret_redacted);
        writeln!(
            out,
            "{} {} ({})",
            p.wrap("1;31", &format!("[{}]", f.severity.as_str())),
            p.wrap("1", &f.rule_name),
            f.rule_id
        )?;
        writeln!(out, "  secret:      {shown}")?;
        for part in &f.parts {
            writeln!(out, "  {:<12} {}", format!("+{}:", part.name), part.redacted)?;
        }
        writeln!(
            out,
            "  issuer:      {}   identity: {}   confidence: {}",
            f.issuer,
            f.identity.as_str(),
            f.confidence.as_str()
        )?;
        if let Some(v) = &f.verification {
            let verdict = v.verdict.as_str();
            let summary = v.summary.as_str();
            writeln!(
                out,
                "  verified:    {} {}",
                p.wrap(if verdict == "live" { "1;31" } else { "33" }, verdict),
                summary
            )?;
        }
        if let Some(status) = f.status {
            // Where the key stands after the policy ran: the last word, after the verdict.
            let (colour, what) = match status {
                Status::Revoked => ("1;32", "revoked (confirmed dead)"),
                Status::Revoking => ("1;33", "revoking (queued, awaiting approval or in flight)"),
                Status::Escalated => ("1;31", "escalated (needs a human; see quench findings)"),
                Status::Live => ("1;31", "live (not revoked)"),
                other => ("33", other.as_str()),
            };
            writeln!(out, "  status:      {}", p.wrap(colour, what))?;
        }
        if let Some(r) = &f.reach {
            writeln!(out, "  reach:")?;
            super::access::write(out, r, "    ")?;
        }
        for (k, v) in &f.details {
            writeln!(out, "  {:<12} {}", format!("{k}:"), v)?;
        }
        for loc in &f.locations {
            let mut line = format!("  at {}:{}:{}", p.wrap("36", &loc.path), loc.line, loc.column);
            if loc.context != crate::finding::Context::File {
                line.push_str(&format!("  [{}]", loc.context.as_str()));
            }
            if let Some(d) = &loc.decoded {
                line.push_str(&format!("  [decoded {} x{}]", d.encoding, d.depth));
            }
            if let Some(c) = &loc.commit {
                let short = &c.id[..c.id.len().min(10)];
                line.push_str(&format!(
                    "  commit {} by {} <{}> {} \"{}\"",
                    short, c.author_name, c.author_email, c.author_time, c.summary
                ));
                if c.at_tip == Some(false) {
                    line.push_str(" (history only)");
                }
            }
            writeln!(out, "{line}")?;
        }
        writeln!(out, "  fingerprint: {}", f.fingerprint)?;
        writeln!(out)?;
    }
    let s = &outcome.summary;
    let skipped: u64 = s.skipped.values().sum();
    write!(
        out,
        "{} finding(s) in {} location(s); {} scanned ({}), {} skipped",
        s.findings,
        s.locations,
        plural(s.files_scanned, "file"),
        human_bytes(s.bytes_scanned),
        skipped
    )?;
    if skipped > 0 {
        let parts: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(out, " ({})", parts.join(", "))?;
    }
    let suppressed = s.suppressed_inline + s.suppressed_ignored + s.suppressed_baseline;
    if suppressed > 0 {
        write!(out, "; {suppressed} suppressed")?;
    }
    writeln!(out, "; {} ms", s.duration_ms)?;
    for n in &s.notes {
        writeln!(out, "note: {n}")?;
    }
    for e in &s.examples {
        writeln!(
            out,
            "example (not a leak): {}:{}:{}: {} ({})",
            e.path, e.line, e.column, e.what, e.source
        )?;
    }
    if !outcome.findings.is_empty() {
        writeln!(
            out,
            "To suppress a false positive: add `quench:allow` in a comment on its line, or its fingerprint to .quenchignore."
        )?;
    }
    Ok(())
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
