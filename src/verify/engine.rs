//! The verification engine: an async world (tokio + reqwest) kept apart from the scanning threads
//! behind a channel. It caches verdicts by fingerprint so that a secret found in 500 places is
//! checked once, and dispatches each credential to its verifier: a plain HTTP recipe or one of
//! the special verifiers. The shared state they all use (gates, cache, exchange) is in
//! `context.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OnceCell;

use super::context::{Cell, Context, Job};
use super::special;
use super::verdict::{Verdict, Verification};
use crate::finding::Finding;
use crate::issuer::verify_recipe::Kind;

impl Context {
    /// Verifies one credential, reusing a cached verdict for the same fingerprint.
    pub async fn verify(&self, job: Job) -> Verification {
        let cell: Cell = {
            let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = c
                .get(&job.fingerprint)
                .filter(|(t, _)| t.elapsed() < self.opts.cache_ttl)
                .map(|(_, cell)| cell.clone());
            match fresh {
                Some(cell) => cell,
                None => {
                    let cell: Cell = Arc::new(OnceCell::new());
                    c.insert(job.fingerprint.clone(), (Instant::now(), cell.clone()));
                    cell
                }
            }
        };
        let mut ran = false;
        let v = cell
            .get_or_init(|| {
                ran = true;
                // Only the secret itself: parts (a key id, a service account's email) are
                // meant to be shown.
                async { self.dispatch(&job).await.without_echoes(&[&job.secret]) }
            })
            .await
            .clone();
        if ran {
            v
        } else {
            Verification { cached: true, ..v }
        }
    }

    async fn dispatch(&self, job: &Job) -> Verification {
        let spec = &job.rule.spec;
        let Some(recipe) = &spec.verify else {
            return Verification::indeterminate(
                "the rule has no verify recipe",
                spec.identity,
                &spec.issuer,
                "none",
            );
        };
        let mut v = match recipe.kind {
            Kind::Http => self.run_http_sites(job, recipe).await,
            Kind::AwsSigv4 => special::aws(self, job, recipe).await,
            Kind::Jwt => special::jwt(self, job).await,
            Kind::GithubApp => special::github_app(self, job, recipe).await,
            Kind::GoogleServiceAccount => special::google_service_account(self, job, recipe).await,
            Kind::OauthClientCredentials => special::oauth_client_credentials(self, job, recipe).await,
        };
        // Belt and braces: no message may carry the secret or a part, whatever produced it.
        let secrets = job.sensitive();
        if let Some(r) = &mut v.reason {
            for s in secrets.iter().filter(|s| s.len() >= 4) {
                if r.contains(s.as_str()) {
                    *r = r.replace(s.as_str(), &crate::finding::redact(s.as_bytes()));
                }
            }
        }
        v.summary = v.summarise();
        v
    }
}

/// Told of findings as they go to verification and of each verdict the moment it arrives, so
/// that what follows a verdict (recording it, revoking a live key) need not wait for the rest.
pub trait Tap: Send + Sync {
    /// `f` is about to be verified. Called under the scan collector's lock: keep it short.
    fn submitted(&self, f: &Finding);
    /// The verdict on `fingerprint` arrived.
    fn verdict(&self, fingerprint: &str, v: &Verification);
}

/// Verification running on its own thread with its own runtime; jobs go in through a channel
/// as they are found, verdicts come out through another.
pub struct Service {
    tx: Option<tokio::sync::mpsc::UnboundedSender<(usize, Job)>>,
    rx: std::sync::mpsc::Receiver<(usize, String, Verification)>,
    thread: Option<std::thread::JoinHandle<()>>,
    submitted: Arc<std::sync::atomic::AtomicUsize>,
}

/// A handle that submits jobs from any thread (a scan's collector).
#[derive(Clone)]
pub struct Submitter {
    tx: tokio::sync::mpsc::UnboundedSender<(usize, Job)>,
    submitted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Submitter {
    pub fn submit(&self, index: usize, job: Job) {
        if self.tx.send((index, job)).is_ok() {
            self.submitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Service {
    pub fn start(ctx: Arc<Context>) -> std::io::Result<Service> {
        Service::start_tapped(ctx, None)
    }

    /// [`Service::start`], telling `tap` of each verdict as it arrives.
    pub fn start_tapped(ctx: Arc<Context>, tap: Option<Arc<dyn Tap>>) -> std::io::Result<Service> {
        let (tx, mut jobs) = tokio::sync::mpsc::unbounded_channel::<(usize, Job)>();
        let (out, rx) = std::sync::mpsc::channel();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("quench-verify")
            .build()?;
        let thread = std::thread::Builder::new()
            .name("quench-verify".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    while let Some((i, job)) = jobs.recv().await {
                        let ctx = ctx.clone();
                        let out = out.clone();
                        let tap = tap.clone();
                        tasks.spawn(async move {
                            let fp = job.fingerprint.clone();
                            let v = ctx.verify(job).await;
                            if let Some(t) = &tap {
                                t.verdict(&fp, &v);
                            }
                            let _ = out.send((i, fp, v));
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                });
            })?;
        Ok(Service {
            tx: Some(tx),
            rx,
            thread: Some(thread),
            submitted: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }

    pub fn submitter(&self) -> Option<Submitter> {
        Some(Submitter {
            tx: self.tx.clone()?,
            submitted: self.submitted.clone(),
        })
    }

    pub fn submit(&mut self, index: usize, job: Job) {
        if let Some(s) = self.submitter() {
            s.submit(index, job);
        }
    }

    /// Waits for every submitted job: (index, fingerprint, verdict).
    pub fn finish(mut self) -> Vec<(usize, String, Verification)> {
        self.tx.take();
        let n = self.submitted.load(std::sync::atomic::Ordering::SeqCst);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.rx.recv() {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        out
    }
}

/// Counts for a summary line.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub live: usize,
    pub dead: usize,
    pub indeterminate: usize,
    pub unverifiable: usize,
}

/// Verifies every finding that has a recipe, filling `verification`.
pub fn verify_findings(findings: &mut [Finding], ctx: Arc<Context>) -> std::io::Result<Stats> {
    let mut svc = Service::start(ctx)?;
    let mut stats = Stats::default();
    for (i, f) in findings.iter().enumerate() {
        match Job::from_finding(f) {
            Some(job) => svc.submit(i, job),
            None => stats.unverifiable += 1,
        }
    }
    for (i, _, v) in svc.finish() {
        stats.count(&v);
        findings[i].verification = Some(v);
    }
    Ok(stats)
}

impl Stats {
    fn count(&mut self, v: &Verification) {
        match v.verdict {
            Verdict::Live => self.live += 1,
            Verdict::Dead => self.dead += 1,
            Verdict::Indeterminate => self.indeterminate += 1,
        }
    }
}

/// Verification that runs while a scan is still going: single-part findings are submitted the
/// moment the collector first sees them; multi-part ones (whose companion may turn up in a
/// later file) and anything missed are submitted when the scan ends.
pub struct DuringScan {
    svc: Service,
    early: Arc<Mutex<std::collections::HashSet<String>>>,
    /// The collector's hook holds the channel through this; emptied at the end so the service
    /// sees its input close.
    hook_sub: Arc<Mutex<Option<Submitter>>>,
    tap: Option<Arc<dyn Tap>>,
}

impl DuringScan {
    /// Starts the service and hooks it to `collector`. Fingerprints in `skip` (ignored or in the
    /// baseline) are never sent.
    /// `tap` hears of each finding sent and each verdict as it arrives.
    pub fn start(
        ctx: Arc<Context>,
        collector: &crate::scan::Collector,
        skip: std::collections::HashSet<String>,
        tap: Option<Arc<dyn Tap>>,
    ) -> std::io::Result<DuringScan> {
        let svc = Service::start_tapped(ctx, tap.clone())?;
        let early = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let hook_sub = Arc::new(Mutex::new(svc.submitter()));
        {
            let seen = early.clone();
            let sub = hook_sub.clone();
            let hook_tap = tap.clone();
            let hook = move |f: &Finding| {
                if !f.parts.is_empty() || skip.contains(&f.fingerprint) {
                    return;
                }
                let rule_has_parts = f.rule.as_ref().is_some_and(|r| !r.spec.parts.is_empty());
                if rule_has_parts {
                    return;
                }
                let guard = sub.lock().unwrap_or_else(|e| e.into_inner());
                if let (Some(sub), Some(job)) = (guard.as_ref(), Job::from_finding(f)) {
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(f.fingerprint.clone());
                    if let Some(t) = &hook_tap {
                        t.submitted(f);
                    }
                    sub.submit(usize::MAX, job);
                }
            };
            let _ = collector.on_new.set(Box::new(hook));
        }
        Ok(DuringScan {
            svc,
            early,
            hook_sub,
            tap,
        })
    }

    /// Submits what the scan did not, waits, and fills the findings' verdicts.
    pub fn finish(mut self, findings: &mut [Finding]) -> Stats {
        self.hook_sub.lock().unwrap_or_else(|e| e.into_inner()).take();
        let early = std::mem::take(&mut *self.early.lock().unwrap_or_else(|e| e.into_inner()));
        let mut stats = Stats::default();
        for (i, f) in findings.iter().enumerate() {
            if early.contains(&f.fingerprint) {
                continue;
            }
            match Job::from_finding(f) {
                Some(job) => {
                    if let Some(t) = &self.tap {
                        t.submitted(f);
                    }
                    self.svc.submit(i, job)
                }
                None => stats.unverifiable += 1,
            }
        }
        let index: HashMap<String, usize> = findings
            .iter()
            .enumerate()
            .map(|(i, f)| (f.fingerprint.clone(), i))
            .collect();
        for (_, fp, v) in self.svc.finish() {
            // Findings dropped after the scan (baseline, ignores) simply get no verdict.
            if let Some(&i) = index.get(&fp) {
                stats.count(&v);
                findings[i].verification = Some(v);
            }
        }
        stats
    }
}
