//! Workers: claim a job, fetch, scan, record, hand the findings to the pipeline.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::metrics::{add, inc, Metrics};
use super::pipeline::PushPipeline;
use super::queue::{Job, JobResult};
use super::{log, now_secs, Service};
use crate::sweep::mirror::{fetch_allowed, Mirrors};
use crate::sweep::schedule::Schedule;

/// How long an idle worker sleeps before looking at the queue again when nothing woke it (jobs
/// queued by another instance sharing the queue do not wake this one, nor does a retry's
/// backoff running out).
pub const IDLE_POLL: Duration = Duration::from_secs(2);

/// How long a worker keeps trying to record a job's outcome in the queue when that fails (a
/// database restarting, a locked SQLite file): long enough for a restart, short enough that a
/// worker is not lost to an outage. A job whose outcome could not be recorded is run again
/// (see `queue_pg`: its lease runs out; the SQLite queue recovers it at the next start).
const SETTLE_FOR: Duration = Duration::from_secs(60);

pub struct WorkerCtx {
    pub svc: Arc<Service>,
    pub mirrors: Arc<Mirrors>,
    pub pipeline: Arc<PushPipeline>,
    /// Jobs being processed now, handed back to the queue if shutdown outlasts the grace period.
    pub in_flight: Mutex<HashSet<i64>>,
}

pub async fn run(ctx: Arc<WorkerCtx>, index: usize, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let q = ctx.svc.queue.clone();
        let claimed = tokio::task::spawn_blocking(move || q.claim()).await;
        let job = match claimed {
            Ok(Ok(Some(job))) => job,
            Ok(Ok(None)) => {
                tokio::select! {
                    _ = ctx.svc.wake.notified() => {},
                    _ = tokio::time::sleep(ctx.svc.idle_poll) => {},
                    _ = stop.changed() => {},
                }
                continue;
            }
            Ok(Err(e)) => {
                log(format_args!("worker {index}: cannot claim a job: {e:#}"));
                tokio::time::sleep(ctx.svc.idle_poll).await;
                continue;
            }
            Err(e) => {
                log(format_args!("worker {index}: {e}"));
                continue;
            }
        };
        if let Ok(mut s) = ctx.in_flight.lock() {
            s.insert(job.id);
        }
        let c = ctx.clone();
        let id = job.id;
        if let Err(e) = tokio::task::spawn_blocking(move || process(&c, index, job)).await {
            // A panic while processing: the attempt failed, and the worker goes on.
            inc(&ctx.svc.metrics.scans_failed);
            log(format_args!("worker {index}: job {id} failed: {e}"));
            let why = format!("the worker failed: {e}");
            settle(index, "the failure of", id, || ctx.svc.queue.fail(id, &why));
        }
        if let Ok(mut s) = ctx.in_flight.lock() {
            s.remove(&id);
        }
    }
}

/// One job, start to finish. Failures are recorded on the job (and retried by the queue), never
/// propagated: one bad push must not stop a worker. Every error from the fetch to the stored
/// verdict fails the job, so a push is never completed with its findings unrecorded.
fn process(ctx: &WorkerCtx, index: usize, job: Job) {
    let svc = &ctx.svc;
    let ev = &job.event;
    let done = fetch_allowed(&ctx.mirrors, &svc.policy, &ev.remote)
        .and_then(|fetched| ctx.pipeline.process(ev, &fetched));
    let (outcome, report) = match done {
        Ok(o) => o,
        Err(e) => {
            inc(&svc.metrics.scans_failed);
            log(format_args!(
                "worker {index}: job {} ({}) failed (attempt {}): {e:#}",
                job.id, job.delivery, job.attempts
            ));
            let why = format!("{e:#}");
            settle(index, "the failure of", job.id, || svc.queue.fail(job.id, &why));
            return;
        }
    };
    if let Some(why) = &report.retry {
        // What this attempt did (revocations included) is counted; the job is tried again.
        record_pipeline(&svc.metrics, &report, ev.received_at);
        inc(&svc.metrics.scans_failed);
        log(format_args!(
            "worker {index}: job {} ({}) failed (attempt {}): {why}",
            job.id, job.delivery, job.attempts
        ));
        settle(index, "the failure of", job.id, || svc.queue.fail(job.id, why));
        return;
    }
    inc(&svc.metrics.scans_ok);
    add(&svc.metrics.blobs_scanned, outcome.summary.files_scanned);
    add(&svc.metrics.findings, outcome.findings.len() as u64);
    for f in &outcome.findings {
        let loc = f.locations.first();
        log(format_args!(
            "finding in {} {}: rule={} fingerprint={} secret={} at {} commit {}",
            ev.repo,
            ev.git_ref,
            f.rule_id,
            f.fingerprint,
            f.secret_redacted,
            loc.map(|l| format!("{}:{}", l.path, l.line)).unwrap_or_default(),
            loc.and_then(|l| l.commit.as_ref())
                .map(|c| c.id.as_str())
                .unwrap_or("-"),
        ));
    }
    // Serialisation skips the secret itself (see `Finding`), so the stored JSON is redacted.
    let findings_json = serde_json::to_string(&outcome.findings).unwrap_or_else(|_| "[]".into());
    record_pipeline(&svc.metrics, &report, ev.received_at);
    let result = JobResult {
        findings: outcome.findings.len(),
        blobs_scanned: outcome.summary.files_scanned,
        findings_json,
    };
    if settle(index, "the outcome of", job.id, || {
        svc.queue.complete(job.id, &result)
    }) {
        log(format_args!(
            "worker {index}: job {} ({}) done: {} blob(s) scanned, {} finding(s)",
            job.id, job.delivery, result.blobs_scanned, result.findings
        ));
    }
}

/// Records a job's outcome with `write`, trying again with backoff for [`SETTLE_FOR`] while it
/// fails; whether it was recorded. `what` names the outcome in the log ("the failure of").
fn settle(index: usize, what: &str, id: i64, mut write: impl FnMut() -> anyhow::Result<()>) -> bool {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match write() {
            Ok(()) => return true,
            Err(e) if started.elapsed() + wait < SETTLE_FOR => {
                log(format_args!(
                    "worker {index}: could not record {what} job {id} yet (trying again in \
                     {:.1} s): {e:#}",
                    wait.as_secs_f64()
                ));
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                log(format_args!(
                    "worker {index}: could not record {what} job {id} for {} s, giving up; it \
                     will be run again: {e:#}",
                    SETTLE_FOR.as_secs()
                ));
                return false;
            }
        }
    }
}

fn record_pipeline(m: &Metrics, r: &super::PipelineReport, received_at: f64) {
    add(&m.verdicts_live, r.live);
    add(&m.verdicts_dead, r.dead);
    add(&m.verdicts_indeterminate, r.indeterminate);
    add(&m.revocations, r.revoked);
    if r.keys_revoked > 0 && received_at > 0.0 {
        m.observe_push_to_revoked(now_secs() - received_at);
    }
}

/// Runs `job` (one sweep) at each time `schedule` names until shutdown. A sweep still running
/// when the next time comes delays that one; a failing sweep is logged and the schedule goes on.
pub async fn scheduled_sweeps(
    schedule: Schedule,
    job: super::SweepJob,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let now = chrono::Utc::now();
        let Some(next) = schedule.next_after(now) else {
            log("schedule: no future time matches; scheduled sweeps stop");
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        log(format_args!("schedule: next sweep at {}", next.to_rfc3339()));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = stop.changed() => return,
        }
        let j = job.clone();
        match tokio::task::spawn_blocking(move || j()).await {
            Ok(Ok(())) => {
                inc(&metrics.sweeps_ok);
                log("schedule: sweep finished");
            }
            Ok(Err(e)) => {
                inc(&metrics.sweeps_failed);
                log(format_args!("scheduled sweep failed: {e:#}"));
            }
            Err(e) => {
                inc(&metrics.sweeps_failed);
                log(format_args!("scheduled sweep failed: {e}"));
            }
        }
    }
}

/// Takes a distributed sweep's queued repositories (`job`, see [`crate::sweep::Worker`]) every
/// `poll` until shutdown. A failing round is logged and counted; the next one goes on.
pub async fn queued_sweeps(
    job: super::SweepJob,
    poll: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let j = job.clone();
        match tokio::task::spawn_blocking(move || j()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                inc(&metrics.sweeps_failed);
                log(format_args!("queued sweep: {e:#}"));
            }
            Err(e) => {
                inc(&metrics.sweeps_failed);
                log(format_args!("queued sweep: {e}"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {},
            _ = stop.changed() => return,
        }
    }
}
