//! `quench recheck`: verify again every known finding not yet confirmed dead, and escalate keys
//! still live long after detection. Most leaked keys still work days later because nobody
//! looked again; this is the looking again, meant for a schedule.

use std::sync::Arc;

use anyhow::Result;
use clap::Args;

use super::findings::StoreCmdArgs;
use crate::revoke::{self, Policy};
use crate::store::{self, FindingFilter, Status, VerdictKind};

#[derive(Args)]
pub struct RecheckCmd {
    #[command(flatten)]
    store: StoreCmdArgs,
}

impl RecheckCmd {
    pub fn run(self) -> Result<i32> {
        let (config, dir, _) = self.store.open()?;
        let rules = self.store.rules(&config)?;
        let policy = Policy::from_config(&config)?;
        let max_age = policy.escalate_live_after;
        let runner = revoke::runner(
            &config,
            &dir,
            policy,
            rules.rules.iter().cloned().map(Arc::new),
            "recheck",
        )?;
        // Revoked and dead keys too: one that answers live again (re-activated, restored) is
        // revived and revoked again under the policy.
        let filter = FindingFilter {
            status: vec![
                Status::Detected,
                Status::Indeterminate,
                Status::Live,
                Status::Revoking,
                Status::Escalated,
                Status::Dead,
                Status::Revoked,
            ],
            ..Default::default()
        };
        let found = runner.with_store(|s| s.findings(&filter))?;
        let (mut live, mut dead, mut unknown, mut escalated, mut unreachable) = (0, 0, 0, 0, 0);
        let mut revived = 0;
        revoke::block_on(async {
            for f in &found {
                // A pending job holds the secret sealed; otherwise read it again where it was.
                let job = runner
                    .with_store(|s| s.jobs(Some(&f.fingerprint)))?
                    .into_iter()
                    .find(|j| j.state.is_active() && j.sealed.is_some());
                let verdict = match job {
                    Some(j) => runner.recheck_job(&j).await?,
                    None => {
                        let paths = runner.with_store(|s| s.location_paths(&f.fingerprint))?;
                        match revoke::recover::rescan(f, &paths, &rules, dir.path.parent()) {
                            Some(secret) => {
                                let v = runner.verify_finding(&secret).await?;
                                if f.status.is_dead()
                                    && v.as_ref().is_some_and(|v| v.verdict == VerdictKind::Live)
                                {
                                    // Revived by that verdict: the policy decides again.
                                    revived += 1;
                                    runner.plan(&secret, v.as_ref(), false)?;
                                }
                                v
                            }
                            None => {
                                unreachable += 1;
                                continue;
                            }
                        }
                    }
                };
                match verdict.map(|v| v.verdict) {
                    Some(VerdictKind::Live) => {
                        live += 1;
                        let age = f.timeline.detected.map(|d| store::now() - d);
                        // A revived key was just handed to the policy; its age is its old window's.
                        if f.status != Status::Escalated
                            && !f.status.is_dead()
                            && age.is_some_and(|a| a >= max_age)
                        {
                            let hours = age.map(|a| a.num_hours()).unwrap_or(0);
                            runner
                                .escalate_finding(f, &format!("still live {hours}h after detection"))
                                .await?;
                            escalated += 1;
                        }
                    }
                    Some(VerdictKind::Dead) => dead += 1,
                    _ => unknown += 1,
                }
            }
            anyhow::Ok(())
        })??;
        let revived = if revived > 0 {
            format!("; {revived} revived after revocation or death, handed to the policy again")
        } else {
            String::new()
        };
        eprintln!(
            "quench: recheck of {} findings: {live} live, {dead} dead, {unknown} indeterminate or unverifiable, \
             {unreachable} no longer at their locations; {escalated} escalated{revived}",
            found.len()
        );
        // Revocations queued for these keys are due again now that they were looked at.
        let stats = revoke::block_on(runner.run())??;
        if stats.revoked + stats.escalated + stats.retrying > 0 {
            eprintln!("quench: {stats}");
        }
        Ok(if live > 0 {
            super::EXIT_FINDINGS
        } else {
            super::EXIT_CLEAN
        })
    }
}
