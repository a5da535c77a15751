//! What happens to a push's findings after the scan: the hook point for verify → revoke →
//! notify → store.
//!
//! The service calls [`Pipeline::handle`] once per finished push scan, on a blocking worker
//! thread inside the tokio runtime (an async implementation may use
//! `tokio::runtime::Handle::current().block_on`). The default does nothing beyond what the
//! queue already records; the store/revoke work plugs in here without the receiver, queue or
//! scanner changing.

use anyhow::Result;

use super::event::PushEvent;
use crate::finding::Finding;

/// What the pipeline did with one push's findings, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineReport {
    pub live: u64,
    pub dead: u64,
    pub indeterminate: u64,
    /// Revocations the pipeline carried out (confirmed dead).
    pub revoked: u64,
    /// This push's keys that are revoked now and were not before it.
    pub keys_revoked: u64,
}

pub trait Pipeline: Send + Sync {
    /// Handles the findings of one push. `findings` hold their secrets in memory (verification
    /// and revocation need them); an implementation must not log or persist them in plaintext.
    fn handle(&self, event: &PushEvent, findings: &[Finding]) -> Result<PipelineReport>;
}

/// Records nothing and revokes nothing: findings stay in the queue's result table.
pub struct NoopPipeline;

impl Pipeline for NoopPipeline {
    fn handle(&self, _event: &PushEvent, _findings: &[Finding]) -> Result<PipelineReport> {
        Ok(PipelineReport::default())
    }
}

/// Records each push's findings in the store and applies the `[revoke]` policy, exactly as
/// `quench git --store` does after a scan ([`crate::revoke::after_scan`]). Used when the config
/// enables the store (`[store] enabled = true`) or a revocation policy.
///
/// The verdict counts are read back from the store: each finding's status after the policy ran.
/// A finding already revoked before this delivery counts nowhere (its verdict and revocation
/// were counted when they happened), so pushing a dead key again does not inflate the metrics.
/// `revoked` is what this delivery's revocation run did: the runner also takes jobs a concurrent
/// delivery queued in the shared store, and each job is counted once, by the run that did it.
pub struct StorePipeline {
    pub store: crate::store::StoreArgs,
    pub config: crate::config::Config,
    /// Every rule the service scans with, for jobs other deliveries queued (see
    /// [`crate::revoke::after_scan_with`]).
    pub rules: Vec<std::sync::Arc<crate::rules::Rule>>,
}

impl Pipeline for StorePipeline {
    fn handle(&self, event: &PushEvent, findings: &[Finding]) -> Result<PipelineReport> {
        use crate::store::{DataDir, Status};
        let roots = [event.repo.clone()];
        let statuses = || -> Result<Vec<Option<Status>>> {
            let dir = DataDir::resolve(&self.store, &self.config, &roots)?;
            if findings.is_empty() || !dir.db_path().exists() {
                return Ok(vec![None; findings.len()]);
            }
            let st = crate::store::open(&dir)?;
            findings
                .iter()
                .map(|f| Ok(st.finding(&f.fingerprint)?.map(|s| s.status)))
                .collect()
        };
        let before = statuses()?;
        let done =
            crate::revoke::after_scan_with(&self.store, &self.config, &roots, findings, &self.rules, None)?;
        for line in &done.notes {
            super::log(format_args!("{}: {line}", event.repo));
        }
        let mut report = PipelineReport {
            revoked: done.stats.map_or(0, |s| s.revoked as u64),
            ..Default::default()
        };
        for (was, now) in before.into_iter().zip(statuses()?) {
            if was == Some(Status::Revoked) {
                continue;
            }
            match now {
                Some(Status::Revoked) => {
                    report.live += 1;
                    report.keys_revoked += 1;
                }
                Some(Status::Live | Status::Revoking | Status::Escalated) => report.live += 1,
                Some(Status::Dead) => report.dead += 1,
                Some(Status::Indeterminate) => report.indeterminate += 1,
                Some(Status::Detected) | None => {}
            }
        }
        Ok(report)
    }
}
