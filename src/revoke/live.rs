//! Revocation while the scan is still going: from a live verdict to the revoke call without
//! waiting for the rest of the scan or the rest of the verifications.
//!
//! ```text
//! verification ──verdict──▶ channel ──▶ store writer ──commit──▶ runner ──▶ issuer
//!   (as each arrives)                  (many findings, verdicts    (claims jobs as
//!                                       and sealed jobs per         they are written)
//!                                       transaction)
//! ```
//!
//! The writer drains whatever verdicts are waiting and records them — finding, verdict, audit
//! line and, under the policy, the sealed revocation job — in one transaction, then wakes the
//! runner. So the store pays one commit per burst rather than several per finding, and a job is
//! durable before anything is sent, as in the after-scan path.
//!
//! What the live path did not record (a write that failed, findings without a verdict) is left
//! to [`super::after_scan_with`], which records and plans everything else once the scan ends and
//! runs what is still due (retries included).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};

use super::runner::{Feed, RunStats, Runner};
use super::{policy_for, runner, Mode};
use crate::config::Config;
use crate::finding::Finding;
use crate::store::attribution::{attribute, CodeOwners};
use crate::store::{self, DataDir, Recorded, Step, StoreOptions, Time, Verdict, VerdictKind};
use crate::verify::{self, Verification};

/// A verdict on its way to the store, with the finding it is about (as first seen).
struct Arrived {
    finding: Finding,
    detected: Time,
    verified: Time,
    verdict: Verdict,
}

/// What the live path did, for the after-scan pass to build on.
pub struct Finished {
    /// When the live path started: findings detected since are this scan's.
    pub started: Time,
    pub recorded: Recorded,
    /// Fingerprints whose finding, verdict and plan are recorded: not to be recorded or planned
    /// again (new locations found later still are).
    pub handled: HashSet<String>,
    /// Fingerprints whose `detected` message the live path sent (before any other about them).
    pub announced: HashSet<String>,
    pub stats: RunStats,
}

/// The running live path: a [`verify::Tap`] for the scan's verification, and its thread.
pub struct Live {
    tap: Arc<LiveTap>,
    thread: std::thread::JoinHandle<Result<Finished>>,
}

struct LiveTap {
    /// Findings sent to verification, until their verdict comes.
    waiting: Mutex<HashMap<String, (Finding, Time)>>,
    tx: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Arrived>>>,
}

impl verify::Tap for LiveTap {
    fn submitted(&self, f: &Finding) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(f.fingerprint.clone(), (f.clone(), store::now()));
    }

    fn verdict(&self, fingerprint: &str, v: &Verification) {
        let verified = store::now();
        let Some((finding, detected)) = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fingerprint)
        else {
            return;
        };
        let verdict = Verdict::from_verification(v);
        if let Some(tx) = &*self.tx.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(Arrived {
                finding,
                detected,
                verified,
                verdict,
            });
        }
    }
}

impl Live {
    /// Starts the live path when the scan verifies and the policy may revoke; `None` otherwise
    /// (the after-scan path then does everything, as before).
    pub fn start(
        args: &StoreOptions,
        request: super::Request,
        config: &Config,
        roots: &[String],
        verifying: bool,
        rules: &[Arc<crate::rules::Rule>],
    ) -> Result<Option<Live>> {
        // Checked before the policy is even read: a scan without --verify (the pre-commit hook's
        // case) pays nothing for the live path.
        if !verifying {
            return Ok(None);
        }
        let policy = policy_for(request, config)?;
        if !policy.any_enabled() {
            return Ok(None);
        }
        let dir = DataDir::resolve(args, config, roots)?;
        dir.create()?;
        let runner = runner(
            config,
            &dir,
            policy,
            // Every rule this process scans with: on a shared store the runner may claim a job
            // another process queued before this scan met a finding of that rule.
            rules.to_vec(),
            "policy",
        )?;
        let owners = CodeOwners::discover(&store::record::repo_root(roots));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let tap = Arc::new(LiveTap {
            waiting: Mutex::new(HashMap::new()),
            tx: Mutex::new(Some(tx)),
        });
        let started = store::now();
        let thread = std::thread::Builder::new()
            .name("quench-revoke".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the revocation runtime")?;
                rt.block_on(run(runner, owners, rx, started))
            })
            .context("starting the revocation thread")?;
        Ok(Some(Live { tap, thread }))
    }

    pub fn tap(&self) -> Arc<dyn verify::Tap> {
        self.tap.clone()
    }

    /// Once verification has finished: lets the writer drain, waits for every job it queued
    /// to run, and says what was done.
    pub fn finish(self) -> Result<Finished> {
        self.tap.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        match self.thread.join() {
            Ok(r) => r,
            Err(_) => anyhow::bail!("the live revocation thread panicked"),
        }
    }
}

/// The writer and the runner, side by side until the channel closes and the jobs are done.
async fn run(
    runner: Arc<Runner>,
    owners: CodeOwners,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Arrived>,
    started: Time,
) -> Result<Finished> {
    let feed = Arc::new(Feed::default());
    // The writer is a task of its own: while verdicts keep coming it would otherwise keep the
    // thread, and the jobs it queued would wait for the last verdict.
    let writer = tokio::spawn({
        let (runner, feed) = (runner.clone(), feed.clone());
        async move {
            let mut recorded = Recorded::default();
            let mut handled = HashSet::new();
            let mut warned = false;
            while let Some(first) = rx.recv().await {
                let mut burst = vec![first];
                while burst.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(a) => burst.push(a),
                        Err(_) => break,
                    }
                }
                match write(&runner, &owners, &burst) {
                    Ok(rec) => {
                        add(&mut recorded, &rec);
                        handled.extend(burst.iter().map(|a| a.finding.fingerprint.clone()));
                        feed.wake();
                        // Let the runner start the jobs just written before the next burst.
                        tokio::task::yield_now().await;
                    }
                    // The after-scan pass records and plans these instead.
                    Err(e) if !warned => {
                        warned = true;
                        eprintln!("quench: warning: recording verdicts as they arrive: {e:#}; they are recorded after the scan");
                    }
                    Err(_) => {}
                }
            }
            feed.close();
            (recorded, handled)
        }
    });
    let run = runner.run_fed(Some(&feed)).await;
    let (recorded, handled) = writer.await.context("the store writer failed")?;
    Ok(Finished {
        started,
        recorded,
        handled,
        announced: runner.announced(),
        stats: run?,
    })
}

/// Most verdicts one transaction records. Small: the runner shares the writer's thread and
/// store connection, so a long transaction holds every job back; at 32 a burst of 1,000
/// verdicts still costs only ~30 commits (measured: p50 verified → revoke received 0.3 s at 32,
/// 0.85 s at 256, on the revoke bench).
const WRITE_BATCH: usize = 32;

/// Records a burst in one transaction: each finding (as first seen), its verdict, and what the
/// policy makes of it.
fn write(runner: &Runner, owners: &CodeOwners, burst: &[Arrived]) -> Result<Recorded> {
    let mut total = Recorded::default();
    runner.with_store(|st| {
        st.batch(&mut |st| {
            total = Recorded::default();
            for a in burst {
                let f = &a.finding;
                let rec = st.record_findings(&[(f, attribute(f, owners))], a.detected)?;
                if rec.new > 0 {
                    runner.detected_now(&f.fingerprint);
                }
                add(&mut total, &rec);
                st.apply(&Step::verified(
                    "quench",
                    &f.fingerprint,
                    &f.rule_id,
                    &a.verdict,
                    a.verified,
                ))?;
                let decision = runner.policy.decide(&f.rule_id, &f.issuer, f.identity.as_str());
                if decision.mode == Mode::Off || a.verdict.verdict == VerdictKind::Dead {
                    continue;
                }
                if let Some(rule) = &f.rule {
                    runner.learn(rule.clone());
                }
                runner.plan_in(st, f, Some(&a.verdict), false)?;
            }
            Ok(())
        })
    })?;
    Ok(total)
}

fn add(to: &mut Recorded, r: &Recorded) {
    to.new += r.new;
    to.seen_again += r.seen_again;
    to.already_revoked += r.already_revoked;
    to.new_locations += r.new_locations;
}
