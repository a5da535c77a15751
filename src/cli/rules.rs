//! `quench rules list`, `quench rules check` and `quench rules revocation`.

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
    /// Run every rule's examples: positives must match, negatives must not. A positive that is
    /// not found says which filter dropped it.
    Check {
        /// Also say, for each negative example, what kept it from matching (the filter that
        /// dropped it, or that the pattern never matched).
        #[arg(long)]
        explain: bool,
    },
    /// The revocation table (Markdown): every rule with a revoke API recipe, its kind (public,
    /// self, admin, none), the call, and what confirms the key dead. The README carries this
    /// table as printed, and a test keeps the two equal.
    Revocation,
}

impl RulesCmd {
    pub fn run(self) -> Result<i32> {
        // The self-test needs the examples, which the slim start-up copy leaves out.
        let mut set = match self.action {
            RulesAction::Check { .. } => RuleSet::builtin_with_examples()?,
            RulesAction::List { .. } | RulesAction::Revocation => RuleSet::builtin()?,
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
            RulesAction::Revocation => {
                print!("{}", revocation_table(&set));
                Ok(0)
            }
            RulesAction::Check { explain } => {
                let report = crate::scan::selftest::run(&set);
                for f in &report.failures {
                    println!("FAIL {f}");
                }
                if explain {
                    for n in &report.negatives {
                        println!("NEGATIVE {n}");
                    }
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

/// One row per rule whose revoke recipe calls an API, in rule order, then a count of the
/// rules that can only be escalated. Written from the recipes themselves, so the table cannot
/// say what the code does not do.
fn revocation_table(set: &RuleSet) -> String {
    use crate::issuer::revoke_recipe::{Authority, RevokeRecipe};
    let mut out = String::from("| rule | kind | call | confirmed by |\n| --- | --- | --- | --- |\n");
    let (mut api, mut none) = (0, 0);
    for r in &set.rules {
        let Some(recipe) = r.spec.revoke.as_ref().and_then(|t| RevokeRecipe::parse(t).ok()) else {
            none += 1;
            continue;
        };
        if recipe.authority == Authority::None {
            none += 1;
            continue;
        }
        api += 1;
        // A query API (AWS) names its operation in `Action`, not in the path.
        let one = |c: &crate::issuer::Call, method: &str| {
            let action = c.query.get("Action").map(|a| format!("?Action={a}"));
            format!(
                "`{} {}{}`",
                c.method.as_deref().unwrap_or(method),
                c.url.as_deref().unwrap_or(""),
                action.unwrap_or_default()
            )
        };
        let call = |rc: &RevokeRecipe| {
            let mut c = one(&rc.call, "POST");
            if let Some(f) = &rc.find {
                c.push_str(&format!(" after {}", one(&f.call, "GET")));
            }
            c
        };
        let mut calls = call(&recipe);
        if let Some(f) = &recipe.fallback {
            calls.push_str(&format!("; refused: {} ({})", call(f), f.authority.as_str()));
        }
        if let Some(s) = &recipe.sessions {
            calls.push_str(&format!(
                "; first, under `cut_sessions`: {} ({}",
                call(s),
                s.authority.as_str()
            ));
            if let Some(f) = &s.fallback {
                calls.push_str(&format!(", else {} ({})", call(f), f.authority.as_str()));
            }
            calls.push(')');
        }
        let accepted = recipe
            .ok
            .as_ref()
            .filter(|m| !m.status.is_empty())
            .map(|m| {
                let s: Vec<String> = m.status.iter().map(u16::to_string).collect();
                format!("{} accepted", s.join("/"))
            })
            .unwrap_or_else(|| "a 2xx accepted".into());
        let confirm = match &r.spec.verify {
            Some(v) if v.kind == crate::issuer::verify_recipe::Kind::Http => format!(
                "{accepted}, then `{} {}` answers dead",
                v.call.method.as_deref().unwrap_or("GET"),
                v.call.url.as_deref().unwrap_or("")
            ),
            Some(v) => format!("{accepted}, then the {} check answers dead", v.kind.as_str()),
            None => format!("{accepted} (the rule cannot verify)"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.spec.id,
            revoke_authority(r).unwrap_or_default(),
            calls.replace('|', "\\|"),
            confirm.replace('|', "\\|")
        ));
    }
    out.push_str(&format!(
        "\n{api} rules revoke through an API; {none} rules have none (kind `none`): they are escalated with their manual steps (`quench rules list --json`).\n"
    ));
    out
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "-"
    }
}
