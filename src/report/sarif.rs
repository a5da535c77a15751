//! SARIF 2.1.0, as GitHub code scanning accepts it: one rule entry per rule that fired, one
//! result per location, a partial fingerprint so code scanning tracks a finding across pushes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::scan::ScanOutcome;

pub fn write(out: &mut dyn Write, outcome: &ScanOutcome) -> io::Result<()> {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for f in &outcome.findings {
        let rule = f.rule.as_ref();
        rules.entry(&f.rule_id).or_insert_with(|| {
            json!({
                "id": f.rule_id,
                "name": f.rule_id.replace(['.', '-'], "_"),
                "shortDescription": { "text": f.rule_name },
                "fullDescription": { "text": rule.and_then(|r| r.spec.description.clone()).unwrap_or_else(|| f.rule_name.clone()) },
                "helpUri": rule.and_then(|r| r.spec.references.first().cloned()),
                "help": { "text": format!("A leaked {} credential. Revoke it at the issuer, then remove it from the code and history.", f.issuer) },
                "properties": {
                    "issuer": f.issuer,
                    "identity": f.identity,
                    "confidence": f.confidence,
                    "security-severity": severity_score(f.severity.as_str()),
                    "tags": ["security", "secret", f.issuer.as_str()],
                },
            })
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
                props["verification"] = v.clone();
            }
            results.push(json!({
                "ruleId": f.rule_id,
                "level": level(f.severity.as_str()),
                "message": { "text": format!("{} found: {} ({} credential, {})", f.rule_name, f.secret.as_deref().unwrap_or(&f.secret_redacted), f.identity.as_str(), f.issuer) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&loc.path) },
                        "region": {
                            "startLine": loc.line,
                            "startColumn": loc.column,
                            "endLine": loc.end_line,
                            "endColumn": loc.end_column,
                        }
                    }
                }],
                "partialFingerprints": { "quench/v1": f.fingerprint },
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
                "informationUri": "https://github.com/quench-dev/quench",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
            "invocations": [invocation(outcome)],
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
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
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri(&s.path) } } }],
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

/// SARIF wants relative URIs with forward slashes; strip a leading `./`.
fn uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    p.strip_prefix("./").unwrap_or(&p).to_string()
}
