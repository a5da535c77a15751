//! The rule self-test: every rule's positive examples must produce a finding of that rule, and
//! its negative examples must not. Run by `quench rules check` and by the test suite, so a rule
//! change that breaks detection fails CI. Key examples are generated at run time by the real
//! generators (see [`super::keygen`]); one whose generator is missing is skipped, and said so.

use crate::engine::{Engine, Scratch};
use crate::rules::{Rule, RuleSet};

#[derive(Debug, Default)]
pub struct SelfTest {
    pub rules: usize,
    pub examples: usize,
    pub failures: Vec<String>,
    /// Examples that could not be made here (their generator is not installed).
    pub skipped: Vec<String>,
    /// For each negative example that was rightly not found, why (`rules check --explain`):
    /// the filter that dropped the rule's candidate, or that the rule never matched it.
    pub negatives: Vec<String>,
}

/// Runs every example of every rule against an engine built from the whole set (so a rule that
/// another, more confident rule shadows is caught too).
pub fn run(set: &RuleSet) -> SelfTest {
    let mut report = SelfTest {
        rules: set.rules.len(),
        ..Default::default()
    };
    let engine = match Engine::new(set) {
        Ok(e) => e,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    for (id, err) in engine.compile_all() {
        report.failures.push(format!("{id}: does not compile: {err}"));
    }
    // Explaining: a positive example that is not found says which filter dropped it.
    let mut scratch = Scratch::explaining();
    for (i, rule) in set.rules.iter().enumerate() {
        let spec = &rule.spec;
        if spec.examples.is_empty() {
            report
                .failures
                .push(format!("{}: has no positive example", spec.id));
        }
        if spec.negative_examples.is_empty() {
            report
                .failures
                .push(format!("{}: has no negative example", spec.id));
        }
        for (positive, ex) in spec
            .examples
            .iter()
            .map(|e| (true, e))
            .chain(spec.negative_examples.iter().map(|e| (false, e)))
        {
            report.examples += 1;
            let ex = match crate::rules::keygen::expand(ex) {
                Ok(ex) => ex,
                Err(crate::rules::keygen::KeygenError::Missing(why)) => {
                    report.skipped.push(format!("{}: {why}", spec.id));
                    continue;
                }
                Err(crate::rules::keygen::KeygenError::Failed(why)) => {
                    report.failures.push(format!("{}: {why}", spec.id));
                    continue;
                }
            };
            let mut ms = Vec::new();
            engine.scan(ex.as_bytes(), &mut scratch, &mut ms);
            // A documented example value is not a finding.
            let found = ms.iter().any(|m| m.rule == i && m.example.is_none());
            if positive && !found {
                let others: Vec<&str> = ms.iter().map(|m| engine.rule(m.rule).id()).collect();
                let why = dropped_by(&scratch, i, rule, true);
                let documented = ms.iter().any(|m| m.rule == i && m.example.is_some());
                report.failures.push(format!(
                    "{}: positive example not found: {:?}{}{}",
                    spec.id,
                    crate::finding::redact(ex.as_bytes()),
                    if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (matched instead: {})", others.join(", "))
                    },
                    if !why.is_empty() {
                        format!("; {}", why.join("; "))
                    } else if documented {
                        "; it is a documented example value, which is never a finding".to_string()
                    } else if others.is_empty() {
                        "; the rule's keywords or pattern did not match it at all".to_string()
                    } else {
                        String::new()
                    }
                ));
            } else if !positive && !found {
                let why = dropped_by(&scratch, i, rule, false);
                report.negatives.push(format!(
                    "{}: negative example {:?}: {}",
                    spec.id,
                    crate::finding::redact(ex.as_bytes()),
                    if why.is_empty() {
                        "the rule's pattern did not match it".to_string()
                    } else {
                        why.join("; ")
                    }
                ));
            } else if !positive && found {
                report.failures.push(format!(
                    "{}: negative example matched: {:?}",
                    spec.id,
                    crate::finding::redact(ex.as_bytes())
                ));
            }
        }
    }
    report
}

/// Why rule `i`'s candidates in the last scan were dropped, one line each: which filter and
/// its reason, after the candidate's redacted preview when `preview`.
fn dropped_by(scratch: &Scratch, i: usize, rule: &Rule, preview: bool) -> Vec<String> {
    scratch
        .dropped()
        .iter()
        .filter(|d| d.rule == i)
        .map(|d| {
            let why = format!(
                "dropped by the {} filter: {}",
                d.reason.filter(),
                d.reason.reason(rule)
            );
            if preview {
                format!("{} {why}", d.preview)
            } else {
                why
            }
        })
        .collect()
}
