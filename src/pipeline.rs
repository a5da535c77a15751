//! The one trip every finding takes, whatever found it: scan → verify → store → revoke →
//! notify.
//!
//! `quench scan`, `quench git`, the service's workers and `quench sweep` all call [`run`] with
//! their source, so the sequence is written once: a new stage, or a change of order, is made
//! here and every entry point gets it. A source is a closure that feeds the scanner's
//! [`Collector`] and returns its notes; it never sees verification, the store or revocation
//! (as gitleaks' sources yield fragments and never see the detector).
//!
//! The stages overlap where that shortens the exposure: issuers are asked while the source is
//! still being read, and with a policy that may revoke, each live verdict goes on to its
//! revocation at once ([`crate::revoke::live`]); what the live path did not finish is recorded
//! and planned after the scan ([`crate::revoke::after_scan_with`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::config::Config;
use crate::revoke::{self, live::Live, AfterScan, Request};
use crate::rules::Rule;
use crate::scan::{Collector, ScanOutcome};
use crate::store::StoreOptions;
use crate::verify;

/// What the operator asked of one run, beyond the scanner: plain data, filled by the CLI from
/// flags and by the service from its configuration.
#[derive(Default)]
pub struct Options {
    /// What the findings were found under (paths, a repository's name or directory): where the
    /// store is looked for and where CODEOWNERS is read.
    pub roots: Vec<String>,
    /// The store and the revocation policy; `None` consults neither (a baseline being made).
    pub store: Option<StoreOptions>,
    /// Whether the operator asked for revocation (see [`Request`]).
    pub revoke: Request,
    /// Ask each finding's issuer while the scan runs (`--verify`).
    pub verify: Option<VerifyOptions>,
    /// Enumerate what each live key reaches once verified (`--access`; needs `verify`).
    pub access: Option<crate::access::Limits>,
    /// Fingerprints dropped from the outcome and never verified (ignored by config,
    /// `.quenchignore`, a repository's committed ignores).
    pub ignore: HashSet<String>,
    /// Fingerprints of the baseline: never verified, dropped from the report and counted.
    pub baseline: HashSet<String>,
    /// Every rule this process scans with, so that jobs another run queued in a shared store
    /// can be revoked here rather than escalated as "rule not loaded" (see
    /// [`revoke::after_scan_with`]).
    pub service_rules: Vec<Arc<Rule>>,
}

/// `--verify` and its tuning.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Per-answer timeout; `None` keeps `[verify] timeout_secs` or the default.
    pub timeout: Option<Duration>,
}

/// What one run produced: the report's content, and what the store and the policy did.
pub struct Ran {
    pub outcome: ScanOutcome,
    pub after: AfterScan,
}

/// Runs `source` through the whole pipeline.
///
/// Each finding of the outcome carries, in `status`, where it stands in the store once the
/// policy ran (revoked, escalated, awaiting approval…), so a report never prints a key revoked
/// during the run as merely live.
pub fn run(
    config: &Config,
    opts: &Options,
    source: impl FnOnce(&Arc<Collector>) -> Result<Vec<String>>,
) -> Result<Ran> {
    let t0 = Instant::now();
    let collector = Arc::new(Collector::new());
    // With `--access` the live path waits: it would revoke a key before its reach is read, and
    // a revoked key enumerates nothing. Revocation then runs once the scan and the enumeration
    // are done, in `after_scan_with`.
    let live = match (&opts.store, &opts.access) {
        (Some(store), None) => Live::start(
            store,
            opts.revoke,
            config,
            &opts.roots,
            opts.verify.is_some(),
            &opts.service_rules,
        )?,
        _ => None,
    };
    let verifying = match &opts.verify {
        Some(v) => {
            let skip: HashSet<String> = opts.ignore.union(&opts.baseline).cloned().collect();
            // On a shared store, issuers' rates are held across every process on it.
            let pace = match &opts.store {
                Some(store) => revoke::budget::pace_for(store, config, &opts.roots)?,
                None => None,
            };
            let ctx = verify::Context::from_config_paced(config, v.timeout, pace)?;
            let tap = live.as_ref().map(|l| l.tap());
            Some(verify::DuringScan::start(ctx, &collector, skip, tap).context("starting verification")?)
        }
        None => None,
    };
    let read = source(&collector);
    let mut outcome = collector.finish(&opts.ignore);
    apply_baseline(&mut outcome, &opts.baseline);
    if let Some(v) = verifying {
        let stats = v.finish(&mut outcome.findings);
        outcome.summary.notes.push(format!(
            "verified: {} live, {} dead, {} indeterminate, {} without a verify recipe",
            stats.live, stats.dead, stats.indeterminate, stats.unverifiable
        ));
    }
    if let (Some(limits), Some(v)) = (&opts.access, &opts.verify) {
        let ctx = verify::Context::from_config(config, v.timeout)?;
        let stats = crate::access::enumerate_findings(&mut outcome.findings, ctx, limits)?;
        outcome.summary.notes.push(stats.note());
    }
    let live = live.map(|l| l.finish()).transpose()?;
    // A source that failed part-way stops the run here, after verification and the live path
    // have wound down: nothing is recorded as if the source had been read in full.
    outcome.summary.notes.extend(read?);
    outcome.summary.duration_ms = t0.elapsed().as_millis() as u64;
    let after = match &opts.store {
        Some(store) => revoke::after_scan_with(
            store,
            opts.revoke,
            config,
            &opts.roots,
            &outcome.findings,
            &opts.service_rules,
            live,
        )
        .context("recording the findings")?,
        None => AfterScan::default(),
    };
    for f in &mut outcome.findings {
        f.status = after.statuses.get(&f.fingerprint).copied();
    }
    if let Some(store) = &opts.store {
        crate::access::record(store, config, &opts.roots, &mut outcome.findings)
            .context("recording what the live keys reach")?;
    }
    Ok(Ran { outcome, after })
}

/// Drops the baseline's findings from `outcome`, counting them.
fn apply_baseline(outcome: &mut ScanOutcome, known: &HashSet<String>) {
    if known.is_empty() {
        return;
    }
    let before = outcome.findings.len();
    outcome.findings.retain(|f| !known.contains(&f.fingerprint));
    outcome.summary.suppressed_baseline = (before - outcome.findings.len()) as u64;
    outcome.summary.findings = outcome.findings.len();
    outcome.summary.locations = outcome.findings.iter().map(|f| f.locations.len()).sum();
}
