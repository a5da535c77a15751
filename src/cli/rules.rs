//! `quench rules list` and `quench rules check`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::rules::RuleSet;

#[derive(Args)]
pub struct RulesCmd {
    #[command(subcommand)]
    action: RulesAction,
    /// Extra rules: a TOML file or a directory of them. Repeatable.
    #[arg(long = "rules", value_name = "PATH", global = true)]
    rules: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum RulesAction {
    /// One line per rule: id, issuer, identity class, confidence, verify / revoke recipes.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run every rule's examples: positives must match, negatives must not.
    Check,
}

impl RulesCmd {
    pub fn run(self) -> Result<i32> {
        // The self-test needs the examples, which the slim start-up copy leaves out.
        let mut set = match self.action {
            RulesAction::Check => RuleSet::builtin_with_examples()?,
            RulesAction::List { .. } => RuleSet::builtin()?,
        };
        for p in &self.rules {
            set.add_path(p)?;
        }
        for w in &set.warnings {
            eprintln!("quench: warning: {w}");
        }
        match self.action {
            RulesAction::List { json } => {
                if json {
                    let rows: Vec<_> = set
                        .rules
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "id": r.spec.id, "name": r.spec.name, "issuer": r.spec.issuer,
                                "identity": r.spec.identity, "severity": r.spec.severity,
                                "confidence": r.spec.confidence, "verify": r.spec.verify.is_some(),
                                "revoke": r.spec.revoke.is_some(), "origin": r.origin,
                                "revoke_authority": revoke_authority(r),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    println!(
                        "{:<44} {:<16} {:<8} {:<10} {:<7} {:<7}",
                        "ID", "ISSUER", "IDENTITY", "CONFIDENCE", "VERIFY", "REVOKE"
                    );
                    for r in &set.rules {
                        let s = &r.spec;
                        println!(
                            "{:<44} {:<16} {:<8} {:<10} {:<7} {:<7}",
                            s.id,
                            s.issuer,
                            s.identity.as_str(),
                            s.confidence.as_str(),
                            yes(s.verify.is_some()),
                            yes(s.revoke.is_some())
                        );
                    }
                    println!("{} rules", set.rules.len());
                }
                Ok(0)
            }
            RulesAction::Check => {
                let report = crate::scan::selftest::run(&set);
                for f in &report.failures {
                    println!("FAIL {f}");
                }
                for s in &report.skipped {
                    println!("SKIP {s}");
                }
                println!(
                    "{} rules, {} examples: {} passed, {} failed, {} skipped",
                    report.rules,
                    report.examples,
                    report
                        .examples
                        .saturating_sub(report.failures.len() + report.skipped.len()),
                    report.failures.len(),
                    report.skipped.len()
                );
                Ok(if report.failures.is_empty() { 0 } else { 1 })
            }
        }
    }
}

/// Who may make the rule's revoke call (`public`, `self`, `admin`, `none`), with `+admin` when
/// an admin fallback backs a self call; `null` without a revoke recipe or when it does not parse.
fn revoke_authority(r: &crate::rules::Rule) -> Option<String> {
    let recipe = crate::issuer::revoke_recipe::RevokeRecipe::parse(r.spec.revoke.as_ref()?).ok()?;
    let mut a = recipe.authority.as_str().to_string();
    if recipe.fallback.is_some() {
        a.push_str("+admin");
    }
    Some(a)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "-"
    }
}
