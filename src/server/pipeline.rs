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
    pub revoked: u64,
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
/// `after_scan` returns summary lines (logged), so the counts for the metrics are read back from
/// the store: each finding's status after the policy ran. A key revoked by an earlier push and
/// pushed again counts as revoked again.
pub struct StorePipeline {
    pub store: crate::store::StoreArgs,
    pub config: crate::config::Config,
}

impl Pipeline for StorePipeline {
    fn handle(&self, event: &PushEvent, findings: &[Finding]) -> Result<PipelineReport> {
        let roots = [event.repo.clone()];
        for line in crate::revoke::after_scan(&self.store, &self.config, &roots, findings)? {
            super::log(format_args!("{}: {line}", event.repo));
        }
        let mut report = PipelineReport::default();
        if findings.is_empty() {
            return Ok(report);
        }
        use crate::store::{DataDir, Status};
        let dir = DataDir::resolve(&self.store, &self.config, &roots)?;
        let st = crate::store::open(&dir)?;
        for f in findings {
            match st.finding(&f.fingerprint)?.map(|s| s.status) {
                Some(Status::Revoked) => {
                    report.live += 1;
                    report.revoked += 1;
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
