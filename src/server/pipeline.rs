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
