//! Revocation: the policy that decides, the recipes and special revokers that act, and the
//! durable job runner that makes each revocation happen exactly once in effect, re-verifies
//! it, and retries or escalates.
//!
//! [`after_scan_with`] is the hook the pipeline (`crate::pipeline`) calls once findings (and verdicts) are
//! known: it records them in the store and, under the policy, queues and runs revocations.

pub mod batch;
pub mod budget;
pub mod issuer;
pub mod live;
pub mod outcome;
pub mod policy;
pub mod recover;
pub mod runner;

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;

use crate::config::Config;
use crate::finding::Finding;
use crate::notify::Notifier;
use crate::rules::Rule;
use crate::store::{self, DataDir, StoreOptions, VerdictKind};

pub use policy::{Decision, Mode, Policy, Request};
pub use runner::{RunStats, Runner};

/// Builds a runner over the store in `dir` with the config's policy, issuers and webhooks.
pub fn runner(
    config: &Config,
    dir: &DataDir,
    policy: Policy,
    rules: impl IntoIterator<Item = Arc<Rule>>,
    actor: &str,
) -> Result<Arc<Runner>> {
    let mut st = store::open(dir)?;
    if matches!(dir.backend, store::Backend::Postgres(_)) {
        // Processes on a shared store each hold the key: one holding another key is refused
        // here, before it seals secrets the others cannot open (or fails to open theirs).
        store::check_key(st.as_mut(), &store::seal::Sealer::load(&dir.key_file)?)?;
    }
    let budgets = budget::Budgets::new(store::open(dir)?);
    let issuers = Arc::new(issuer::HttpIssuers::new(
        config,
        policy.timeout,
        Some(budgets),
        budget::shared_pace(dir)?,
    )?);
    let notifier = Notifier::from_config(config)?;
    Ok(Arc::new(Runner::new(
        st,
        policy,
        rules,
        issuers,
        notifier,
        dir.key_file.clone(),
        actor,
    )))
}

/// A current-thread runtime for the async revocation path; scanning stays on its own threads.
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Sends a `detected` notification for each finding first recorded at `at`, except those in
/// `sent` (announced already, by the live path).
fn notify_detected(
    config: &Config,
    st: &mut dyn store::Store,
    at: store::Time,
    sent: &HashSet<String>,
) -> Result<()> {
    let notifier = Notifier::from_config(config)?;
    if notifier.is_empty() {
        return Ok(());
    }
    let new = st.findings(&store::FindingFilter {
        since: Some(at),
        ..Default::default()
    })?;
    let failures = block_on(async {
        let mut failures = Vec::new();
        for f in new.iter().filter(|f| !sent.contains(&f.fingerprint)) {
            for e in notifier
                .send(crate::notify::Event::Detected, f, "new finding")
                .await
            {
                failures.push((f.fingerprint.clone(), f.rule_id.clone(), e));
            }
        }
        failures
    })?;
    for (fp, rule, e) in failures {
        st.audit(
            store::AuditEntry::new("quench", "notify-failed")
                .finding(&fp, &rule)
                .detail(e),
        )?;
    }
    Ok(())
}

/// The policy a scanning command applies: the config's `[revoke]` as the operator's request
/// makes it ([`Request`]).
fn policy_for(request: Request, config: &Config) -> Result<Policy> {
    Ok(Policy::from_config(config)?.for_request(request))
}

/// What [`after_scan_with`] did: summary lines for stderr and, when the policy ran, the counts of
/// the revocation run.
#[derive(Debug, Default)]
pub struct AfterScan {
    pub notes: Vec<String>,
    pub stats: Option<RunStats>,
    /// Each recorded finding's status once the policy ran, by fingerprint (empty when the
    /// store was not used).
    pub statuses: std::collections::HashMap<String, store::Status>,
    /// The same, as the store held them before this scan was recorded.
    pub before: std::collections::HashMap<String, store::Status>,
    /// Findings the policy would act on had the issuer answered, whose verification met a fault
    /// that passes (a 5xx, a 429, a timeout), one line each (rule, fingerprint, reason): nothing
    /// was planned for them, so a service fails the delivery and its retry asks again.
    pub unverified: Vec<String>,
}

/// Records a scan's findings in the store when the store is enabled (`--store`, `--revoke`,
/// `[store] enabled`, or a policy that may revoke) and applies the revocation policy as
/// `request` makes it. Returns summary lines for stderr, the run's counts and the statuses.
///
/// Two additions for callers that need them:
///
/// `rules`: for a long-running service. The runner claims every due job in the store, so with
/// several scans sharing one store it may take a job another scan queued, for a finding of a
/// rule this scan never saw: `rules` (every rule the service scans with) are loaded besides the
/// findings' own so that job is revoked instead of escalated as "rule not loaded". The run's
/// counts come back for the service's metrics.
///
/// `live`: for a scan whose live path ([`live::Live`]) already recorded and planned some
/// findings as their verdicts arrived: those get only their new locations; the rest are
/// recorded and planned here, and every due job runs.
pub fn after_scan_with(
    args: &StoreOptions,
    request: Request,
    config: &Config,
    roots: &[String],
    findings: &[Finding],
    rules: &[Arc<Rule>],
    live: Option<live::Finished>,
) -> Result<AfterScan> {
    let policy = policy_for(request, config)?;
    let revoking = policy.any_enabled();
    if !DataDir::enabled(args, config)? && !revoking {
        return Ok(AfterScan::default());
    }
    let dir = DataDir::resolve(args, config, roots)?;
    dir.create()?;
    let mut notes = dir.notes.clone();
    let mut st = store::open(&dir)?;
    let before = statuses(st.as_ref(), findings)?;
    let at = store::now();
    let handled = live.as_ref().map(|l| l.handled.clone()).unwrap_or_default();
    let (mut rec, verdicts) = store::record::record_scan(st.as_mut(), findings, roots, at, &handled)?;
    if let Some(l) = &live {
        rec.new += l.recorded.new;
        rec.seen_again += l.recorded.seen_again;
        rec.already_revoked += l.recorded.already_revoked;
        rec.new_locations += l.recorded.new_locations;
    }
    let (since, sent) = match &live {
        Some(l) => (l.started, l.announced.clone()),
        None => (at, HashSet::new()),
    };
    notify_detected(config, st.as_mut(), since, &sent)?;
    notes.push(format!(
        "store {}: {} new, {} seen again ({} already revoked), {} new locations",
        st.describe(),
        rec.new,
        rec.seen_again,
        rec.already_revoked,
        rec.new_locations
    ));
    if !revoking {
        let statuses = statuses(st.as_mut(), findings)?;
        return Ok(AfterScan {
            notes,
            stats: None,
            statuses,
            before,
            unverified: Vec::new(),
        });
    }
    drop(st);
    let rules: Vec<Arc<Rule>> = (rules.iter().cloned())
        .chain(findings.iter().filter_map(|f| f.rule.clone()))
        .collect();
    let runner = runner(config, &dir, policy, rules, "policy")?;
    let mut unverified = Vec::new();
    let mut stats = block_on(async {
        for (f, v) in findings.iter().zip(&verdicts) {
            if handled.contains(&f.fingerprint) {
                continue;
            }
            let decision = runner.policy.decide(&f.rule_id, &f.issuer, f.identity.as_str());
            if decision.mode == Mode::Off {
                continue;
            }
            // Verification fills the verdict when it ran during the scan; otherwise the policy
            // needs one now, before it may act.
            let mut verdict = v.clone();
            if verdict.is_none() && decision.require_live && decision.mode != Mode::DryRun {
                verdict = runner.verify_finding(f).await?;
            }
            if verdict.as_ref().is_some_and(|v| v.verdict == VerdictKind::Dead) {
                continue;
            }
            if let Some(v) = verdict.as_ref().filter(|v| {
                v.verdict == VerdictKind::Indeterminate
                    && decision.require_live
                    && decision.mode != Mode::DryRun
                    && crate::verify::http::transient(v.http_status, v.reason.as_deref())
            }) {
                unverified.push(format!(
                    "{} {}: {}",
                    f.rule_id,
                    f.fingerprint,
                    v.reason.as_deref().unwrap_or("indeterminate")
                ));
            }
            runner.plan(f, verdict.as_ref(), false)?;
        }
        runner.run().await
    })??;
    if let Some(l) = &live {
        stats.add(&l.stats);
    }
    notes.push(stats.to_string());
    if !unverified.is_empty() {
        notes.push(format!(
            "{} finding(s) not verified, the issuer failing for a passing reason (a 5xx, a 429, a \
             timeout): nothing was revoked for them; run again to ask again",
            unverified.len()
        ));
    }
    let statuses = statuses(store::open(&dir)?.as_mut(), findings)?;
    Ok(AfterScan {
        notes,
        stats: Some(stats),
        statuses,
        before,
        unverified,
    })
}

/// Where each of `findings` stands in the store now.
fn statuses(
    st: &dyn store::Store,
    findings: &[Finding],
) -> Result<std::collections::HashMap<String, store::Status>> {
    let mut out = std::collections::HashMap::new();
    for f in findings {
        if let Some(s) = st.finding(&f.fingerprint)? {
            out.insert(f.fingerprint.clone(), s.status);
        }
    }
    Ok(out)
}
