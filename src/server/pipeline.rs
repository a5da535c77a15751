//! One push through the library's pipeline ([`crate::pipeline::run`]), the same trip a finding
//! of `quench scan` or `quench git` takes, plus the counts the service's metrics need.
//!
//! The worker calls [`PushPipeline::process`] once per fetched push, on a blocking thread inside
//! the tokio runtime.

use std::sync::Arc;

use anyhow::Result;

use super::event::PushEvent;
use crate::config::Config;
use crate::pipeline::{self, Options};
use crate::rules::Rule;
use crate::scan::{ScanOutcome, Scanner};
use crate::store::{Status, StoreOptions};
use crate::sweep::mirror::Fetched;

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
    /// Why the delivery must be tried again though it ran (findings the issuer could not
    /// verify for a passing reason): the worker records these counts, then fails the attempt.
    pub retry: Option<String>,
}

/// The service's pipeline: its scanner, its configuration, and the store it records into.
///
/// With neither `[store] enabled` nor a revocation policy, findings stay in the queue's result
/// table (the pipeline records nothing). The verdict counts compare each finding's status in the
/// store before this delivery with its status after: a finding already revoked before counts
/// nowhere (its verdict and revocation were counted when they happened), so pushing a dead key
/// again does not inflate the metrics. `revoked` is what this delivery's revocation run did: the
/// runner also takes jobs a concurrent delivery queued in the shared store, and each job is
/// counted once, by the run that did it.
pub struct PushPipeline {
    pub scanner: Arc<Scanner>,
    pub config: Config,
    pub store: StoreOptions,
    /// Every rule the service scans with, for jobs other deliveries queued.
    pub rules: Vec<Arc<Rule>>,
}

impl PushPipeline {
    /// Scans what `event` introduced into `mirror` and takes the findings through verify →
    /// store → revoke → notify. Any error fails the job: an accepted push is never marked done
    /// while its findings were not recorded; nor while one still lacks a verdict the issuer
    /// could give later ([`PipelineReport::retry`]).
    pub fn process(&self, event: &PushEvent, mirror: &Fetched) -> Result<(ScanOutcome, PipelineReport)> {
        let opts = Options {
            roots: vec![event.repo.clone()],
            store: Some(self.store.clone()),
            // The service's configuration is its request to act.
            revoke: crate::revoke::Request::Configured,
            ignore: self.scanner.opts.ignore_fingerprints.clone(),
            service_rules: self.rules.clone(),
            ..Default::default()
        };
        let ran = pipeline::run(&self.config, &opts, |collector| {
            super::push::scan_push(&self.scanner, mirror, event, collector)
        })?;
        for line in &ran.after.notes {
            super::log(format_args!("{}: {line}", event.repo));
        }
        // A verdict the issuer could not give for a passing reason is not a verdict: the
        // findings are recorded, and the delivery's retry (after its backoff) asks again.
        let retry = (!ran.after.unverified.is_empty()).then(|| {
            format!(
                "{} finding(s) not verified for a passing issuer fault, to be asked again: {}",
                ran.after.unverified.len(),
                ran.after.unverified.join("; ")
            )
        });
        let mut report = PipelineReport {
            revoked: ran.after.stats.as_ref().map_or(0, |s| s.revoked as u64),
            retry,
            ..Default::default()
        };
        for f in &ran.outcome.findings {
            if ran.after.before.get(&f.fingerprint) == Some(&Status::Revoked) {
                continue;
            }
            match f.status {
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
        Ok((ran.outcome, report))
    }
}
