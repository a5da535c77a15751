//! SARIF 2.1.0, as GitHub code scanning accepts it: one rule entry per rule that fired (with
//! help and a `security-severity`), one result per location. Each result's partial fingerprint
//! names the secret *at that place*, so code scanning tracks it across pushes without merging
//! the same key in two files into one alert. A verification verdict grades the result: a live
//! key is an error that says so, one the issuer confirmed dead a note. When keys were
//! enumerated (`--access`), their risk rank (`Risk::security_severity`) sets the rule's
//! `security-severity` and each result carries its risk and reach.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::finding::{Finding, Location};
use crate::reach::Risk;
use crate::scan::ScanOutcome;

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    // Where a rule's keys were enumerated (`--access`), what the riskiest of them reaches
    // grades the rule, not the rule's guess: code scanning ranks alerts by this number.
    let mut riskiest: BTreeMap<&str, Risk> = BTreeMap::new();
    for f in &outcome.findings {
        if let Some(r) = &f.reach {
            let e = riskiest.entry(&f.rule_id).or_insert(r.risk);
            *e = (*e).max(r.risk);
        }
    }
    for f in &outcome.findings {
        let rule = f.rule.as_ref();
        rules.entry(&f.rule_id).or_insert_with(|| {
            let mut r = json!({
                "id": f.rule_id,
                "name": f.rule_id.replace(['.', '-'], "_"),
                "shortDescription": { "text": f.rule_name },
                "fullDescription": { "text": rule.and_then(|r| r.spec.description.clone()).unwrap_or_else(|| f.rule_name.clone()) },
                "help": {
                    "text": format!("A leaked {} credential. Revoke it at the issuer, then remove it from the code and history.", f.issuer),
                    "markdown": format!("A leaked **{}** credential ({}). Revoke it at the issuer first: it stays exposed in every clone and fork of this history. Then remove it from the code.", f.issuer, f.rule_name),
                },
                "properties": {
                    "issuer": f.issuer,
                    "identity": f.identity,
                    "confidence": f.confidence,
                    "security-severity": riskiest.get(f.rule_id.as_str()).map_or_else(|| severity_score(f.severity.as_str()), |r| r.security_severity()),
                    "tags": ["security", "secret", f.issuer.as_str()],
                },
            });
            // SARIF wants a URI here or no key at all.
            if let Some(uri) = rule.and_then(|r| r.spec.references.first()) {
                r["helpUri"] = json!(uri);
            }
            r
        });
        for loc in &f.locations {
            let mut props = json!({
                "fingerprint": f.fingerprint,
                "issuer": f.issuer,
                "identity": f.identity,
                "severity": f.severity,
                "confidence": f.confidence,
                "context": loc.context,
                "secret": f.secret_redacted,
            });
            if let Some(c) = &loc.commit {
                props["commit"] = serde_json::to_value(c).unwrap_or(Value::Null);
            }
            if let Some(d) = &loc.decoded {
                props["decoded"] = serde_json::to_value(d).unwrap_or(Value::Null);
            }
            if let Some(v) = &f.verification {
                props["verification"] = serde_json::to_value(v).unwrap_or(Value::Null);
            }
            if let Some(r) = &f.reach {
                props["risk"] = json!(r.risk.as_str());
                props["security-severity"] = json!(r.risk.security_severity());
                props["reach"] = json!(r.summary());
                props["whose"] = json!(r.whose.summary);
            }
            let (level, verdict_text) = graded(f);
            results.push(json!({
                "ruleId": f.rule_id,
                "level": level,
                "message": { "text": format!("{} found: {} ({} credential, {}){verdict_text}", f.rule_name, f.secret.as_deref().unwrap_or(&f.secret_redacted), f.identity.as_str(), f.issuer) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": super::relative_path(&loc.path) },
                        "region": {
                            "startLine": loc.line,
                            "startColumn": loc.column,
                            "endLine": loc.end_line,
                            "endColumn": loc.end_column,
                        }
                    }
                }],
                "partialFingerprints": { "quench/location/v1": location_fingerprint(f, loc) },
                "properties": props,
            }));
        }
    }
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "quench",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
            "invocations": [invocation(outcome)],
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// A finding's SARIF level and the words its message ends with, from its verdict when
/// verification ran (live is an error whatever the rule's severity; dead is a note), else
/// from the rule's severity.
fn graded(f: &Finding) -> (&'static str, String) {
    match super::verdict(f) {
        Some(v) if v.verdict == crate::verdict::Verdict::Live => ("error", format!(" — LIVE: {}", v.summary)),
        Some(v) if v.verdict == crate::verdict::Verdict::Dead => {
            ("note", format!(" — confirmed dead by the issuer: {}", v.summary))
        }
        Some(v) => (
            level(f.severity.as_str()),
            format!(" — verification inconclusive: {}", v.summary),
        ),
        None => (level(f.severity.as_str()), String::new()),
    }
}

/// The secret at one place, hashed: distinct for the same key in two files or two lines.
fn location_fingerprint(f: &Finding, loc: &Location) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(super::location_key(f, loc).as_bytes())[..16])
}

/// What was not scanned, and notes on what was, as tool execution notifications: a skipped file
/// is a gap in the results that code scanning should show, not hide.
fn invocation(outcome: &ScanOutcome) -> Value {
    let mut notes: Vec<Value> = outcome
        .skipped
        .iter()
        .map(|s| {
            json!({
                "level": "warning",
                "descriptor": { "id": format!("skipped/{}", s.kind) },
                "message": { "text": s.reason },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": super::relative_path(&s.path) } } }],
            })
        })
        .collect();
    notes.extend(
        outcome
            .summary
            .notes
            .iter()
            .map(|n| json!({ "level": "note", "descriptor": { "id": "note" }, "message": { "text": n } })),
    );
    json!({
        "executionSuccessful": true,
        "toolExecutionNotifications": notes,
        "properties": { "skipped": outcome.summary.skipped },
    })
}

fn level(sev: &str) -> &'static str {
    match sev {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

fn severity_score(sev: &str) -> &'static str {
    match sev {
        "critical" => "9.5",
        "high" => "8.0",
        "medium" => "5.5",
        _ => "3.0",
    }
}
