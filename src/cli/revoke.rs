//! `quench revoke`: run the revocation queue (resuming anything a crashed run left), approve
//! what the policy held for a human, or revoke named keys: `--fingerprint FP` one key,
//! `--principal LOGIN` every known live key acting as that user (the offboarding hook). The
//! policy's dry-run holds for all of them.

use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Args;

use super::findings::StoreCmdArgs;
use crate::revoke::{self, Policy};
use crate::store::{AuditEntry, FindingFilter, JobState, Status, Step, StoredFinding};

#[derive(Args)]
pub struct RevokeCmd {
    #[command(flatten)]
    store: StoreCmdArgs,
    /// Approve jobs waiting for a human (all of them, or those selected by --fingerprint or
    /// --principal) and run them.
    #[arg(long)]
    approve: bool,
    /// Revoke the key with this fingerprint (a unique prefix is enough).
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,
    /// Revoke every known live key whose verified principal is this login.
    #[arg(long, value_name = "LOGIN")]
    principal: Option<String>,
    /// Who is acting, for the audit log (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    actor: Option<String>,
}

impl RevokeCmd {
    pub fn run(self) -> Result<i32> {
        let (config, dir, st) = self.store.open()?;
        drop(st);
        let rules = self.store.rules(&config)?;
        let policy = Policy::from_config(&config)?;
        let actor = self
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "operator".into());
        let runner = revoke::runner(
            &config,
            &dir,
            policy,
            rules.rules.iter().cloned().map(Arc::new),
            &format!("operator:{actor}"),
        )?;
        // An operator's run is the moment to retry everything queued, backoff or not (a job
        // blocked on a missing admin credential, say, that the operator has now provided).
        runner.with_store(|s| s.make_due(crate::store::now()))?;
        let selected: Option<Vec<StoredFinding>> = if self.fingerprint.is_some() || self.principal.is_some() {
            let filter = FindingFilter {
                fingerprint: self.fingerprint.clone(),
                principal: self.principal.clone(),
                ..Default::default()
            };
            let found = runner.with_store(|s| s.findings(&filter))?;
            if found.is_empty() {
                bail!(
                    "no finding in the store matches {}",
                    self.fingerprint
                        .as_ref()
                        .map(|f| format!("fingerprint {f}"))
                        .unwrap_or_else(|| format!("principal {}", self.principal.as_deref().unwrap_or("")))
                );
            }
            if self.fingerprint.is_some() && found.len() > 1 {
                bail!(
                    "fingerprint prefix {:?} matches {} findings; give more of it",
                    self.fingerprint,
                    found.len()
                );
            }
            Some(found)
        } else {
            None
        };

        let mut notes = Vec::new();
        // Approvals: held jobs of the selection (or all) go to the queue.
        let jobs = runner.with_store(|s| s.jobs(None))?;
        for j in jobs.iter().filter(|j| j.state == JobState::AwaitingApproval) {
            let chosen = selected.as_ref().map_or(self.approve, |sel| {
                sel.iter().any(|f| f.fingerprint == j.fingerprint)
            });
            if !chosen {
                continue;
            }
            runner.with_store(|s| {
                s.apply(
                    &Step::on(&j.fingerprint)
                        .job(j.id, JobState::Queued, crate::store::now(), Some("approved"))
                        .audit(
                            AuditEntry::new(&runner.actor, "approved")
                                .finding(&j.fingerprint, &j.rule_id)
                                .policy(&j.policy_rule),
                        ),
                )
            })?;
            notes.push(format!(
                "approved job {} ({})",
                j.id,
                &j.fingerprint[..12.min(j.fingerprint.len())]
            ));
        }
        // Named keys without a job: find the secret again where it was seen, and queue it.
        let mut recovered = Vec::new();
        for f in selected.iter().flatten() {
            if f.status.is_dead() {
                notes.push(format!(
                    "{} is already {}",
                    short(&f.fingerprint),
                    f.status.as_str()
                ));
                continue;
            }
            if self.principal.is_some() && f.status != Status::Live && f.status != Status::Revoking {
                continue;
            }
            let has_job = jobs
                .iter()
                .any(|j| j.fingerprint == f.fingerprint && j.state.is_active());
            if has_job {
                continue;
            }
            let paths = runner.with_store(|s| s.location_paths(&f.fingerprint))?;
            let base = dir.path.parent();
            match revoke::recover::rescan(f, &paths, &rules, base) {
                Some(found) => recovered.push(found),
                None => notes.push(format!(
                    "{}: the secret is no longer at its recorded locations ({}); rescan it with `quench scan --revoke`",
                    short(&f.fingerprint),
                    paths.join(", ")
                )),
            }
        }
        let stats = revoke::block_on(async {
            for found in &recovered {
                // The policy wants a live verdict before acting; ask now.
                let v = runner.verify_finding(found).await?;
                runner.plan(found, v.as_ref(), true)?;
            }
            runner.run().await
        })??;
        for n in notes {
            eprintln!("quench: {n}");
        }
        eprintln!("quench: {stats}");
        Ok(if stats.escalated > 0 {
            super::EXIT_FINDINGS
        } else {
            super::EXIT_CLEAN
        })
    }
}

fn short(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}
