//! The verification engine: an async world (tokio + reqwest) kept apart from the scanning threads
//! behind a channel. Per issuer it bounds requests in flight and spaces them to the configured
//! rate, honours `Retry-After`, and caches verdicts by fingerprint so that a secret found in 500
//! places is checked once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

use super::guard::Target;
use super::http::{self, Failure};
use super::recipe::{Exchange, Kind, Recipe};
use super::registry::{site_label, IssuerEntry, Registry};
use super::special;
use super::verdict::{Verdict, Verification};
use crate::finding::Finding;
use crate::http::{Prepared, Vars};
use crate::rules::Rule;

/// Tunables, from `[verify]` in the config and flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per request.
    pub timeout: Duration,
    /// Longest `Retry-After` honoured; a longer one makes the verdict indeterminate.
    pub max_retry_wait: Duration,
    /// Retries after a 429 (each after its `Retry-After`).
    pub retries: u32,
    /// How long a verdict is reused for the same fingerprint.
    pub cache_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(10),
            retries: 2,
            cache_ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// `[verify]` in the operator's config.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySection {
    pub timeout_secs: Option<f64>,
    pub max_retry_wait_secs: Option<f64>,
    pub retries: Option<u32>,
    pub cache_ttl_secs: Option<u64>,
}

impl VerifySection {
    /// The options these settings give; a number of seconds out of range is an error naming
    /// its key.
    pub fn options(&self) -> anyhow::Result<Options> {
        let d = Options::default();
        let secs = crate::config::secs;
        Ok(Options {
            timeout: secs(
                self.timeout_secs,
                d.timeout.as_secs_f64(),
                "[verify] timeout_secs",
            )?,
            max_retry_wait: secs(
                self.max_retry_wait_secs,
                d.max_retry_wait.as_secs_f64(),
                "[verify] max_retry_wait_secs",
            )?,
            retries: self.retries.unwrap_or(d.retries),
            cache_ttl: self
                .cache_ttl_secs
                .map(Duration::from_secs)
                .unwrap_or(d.cache_ttl),
        })
    }
}

/// One credential to check. Holds the secret in memory only.
#[derive(Clone)]
pub struct Job {
    pub fingerprint: String,
    pub rule: Arc<Rule>,
    pub secret: Vec<u8>,
    pub parts: Vec<(String, Vec<u8>)>,
}

impl Job {
    /// A job for a finding whose rule has a verify recipe.
    pub fn from_finding(f: &Finding) -> Option<Job> {
        let rule = f.rule.clone()?;
        rule.spec.verify.as_ref()?;
        Some(Job {
            fingerprint: f.fingerprint.clone(),
            rule,
            secret: f.raw_secret.clone(),
            parts: f
                .parts
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
        })
    }

    pub fn secret_str(&self) -> String {
        String::from_utf8_lossy(&self.secret).into_owned()
    }

    pub fn part(&self, name: &str) -> Option<String> {
        self.parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Every value that must never appear in a message.
    fn sensitive(&self) -> Vec<String> {
        let mut v = vec![self.secret_str()];
        v.extend(
            self.parts
                .iter()
                .map(|(_, p)| String::from_utf8_lossy(p).into_owned()),
        );
        v
    }
}

struct Gate {
    sem: Semaphore,
    next: Mutex<Instant>,
    interval: Duration,
}

impl Gate {
    async fn acquire(&self) -> tokio::sync::SemaphorePermit<'_> {
        let permit = self
            .sem
            .acquire()
            .await
            .expect("gate semaphores are never closed");
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
        permit
    }

    /// Holds every request to this issuer back for `d` (after a `Retry-After`).
    fn pause(&self, d: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next = (*next).max(Instant::now() + d);
    }
}

type Cell = Arc<OnceCell<Verification>>;

/// Shared state of a verification run.
pub struct Context {
    pub registry: Registry,
    pub opts: Options,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    cache: Mutex<HashMap<String, (Instant, Cell)>>,
}

impl Context {
    pub fn new(registry: Registry, opts: Options) -> Arc<Context> {
        Arc::new(Context {
            registry,
            opts,
            gates: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn gate(&self, issuer: &str) -> Arc<Gate> {
        let mut g = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        g.entry(issuer.to_string())
            .or_insert_with(|| {
                let (conc, rate) = self
                    .registry
                    .get(issuer)
                    .map(|e| (e.concurrency, e.rate))
                    .unwrap_or((4, 10.0));
                Arc::new(Gate {
                    sem: Semaphore::new(conc.max(1)),
                    next: Mutex::new(Instant::now()),
                    interval: Duration::from_secs_f64(1.0 / rate.max(0.001)),
                })
            })
            .clone()
    }

    /// Sends one request under the issuer's limits, retrying after a short `Retry-After`.
    pub async fn exchange(&self, issuer: &str, target: Target, req: Prepared) -> Result<Exchange, Failure> {
        let gate = self.gate(issuer);
        let mut attempt = 0;
        loop {
            let ex = {
                let _permit = gate.acquire().await;
                http::send_to(self.opts.timeout, target.clone(), req.clone()).await?
            };
            if ex.status == 429 && attempt < self.opts.retries {
                let wait = ex
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    // An issuer's header: NaN or 1e30 must not panic, just not be waited for.
                    .map(|v| Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX))
                    .unwrap_or(Duration::from_secs(1));
                if wait <= self.opts.max_retry_wait {
                    gate.pause(wait);
                    attempt += 1;
                    continue;
                }
            }
            return Ok(ex);
        }
    }

    /// Egress check for `issuer`, then [`Context::exchange`].
    pub async fn send(&self, issuer: &IssuerEntry, req: Prepared) -> Result<Exchange, Failure> {
        let target = super::guard::check(&req.url, issuer)
            .await
            .map_err(Failure::Refused)?;
        self.exchange(&issuer.name, target, req).await
    }

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

    /// The standard variables: secret, parts and the issuer's configured bases.
    pub fn vars(&self, job: &Job, issuer: Option<&IssuerEntry>) -> Vars {
        let mut vars = Vars::default();
        vars.set("secret", job.secret_str());
        for (n, v) in &job.parts {
            vars.set(format!("part.{n}"), String::from_utf8_lossy(v).into_owned());
        }
        if let Some(e) = issuer {
            for (k, b) in &e.bases {
                if !b.url.is_empty() {
                    vars.set(k.clone(), b.url.clone());
                }
            }
            e.set_derived_bases(&mut vars);
        }
        vars
    }

    /// Runs a plain HTTP recipe on `api` and, when that answer reads dead and the recipe calls
    /// `{api}`, again on each of the issuer's regional sites in turn
    /// ([`IssuerEntry::fan_out_sites`]): Datadog and PostHog answer a key from another region
    /// exactly like a bad key, and a live key recorded dead is never revoked. Sequential, through
    /// the issuer's gate like any request. The first live answer wins and names its site; the
    /// verdict is dead only if every site said dead, and indeterminate if one could not tell.
    async fn run_http_sites(&self, job: &Job, recipe: &Recipe) -> Verification {
        let first = self.run_http(job, recipe, Vars::default(), None).await.0;
        let calls_api = recipe.call.url.as_deref().is_some_and(|u| u.contains("{api}"));
        let sites = match self.registry.get(&job.rule.spec.issuer) {
            Some(e) if first.verdict == Verdict::Dead && calls_api => e.fan_out_sites(),
            _ => return first,
        };
        if sites.is_empty() {
            return first;
        }
        let mut unsure: Option<(String, Verification)> = None;
        for site in sites {
            let mut extra = Vars::default();
            extra.set("api", site.clone());
            let mut v = self.run_http(job, recipe, extra, None).await.0;
            match v.verdict {
                Verdict::Live => {
                    v.revealed.site = Some(site_label(site));
                    return v;
                }
                Verdict::Indeterminate if unsure.is_none() => unsure = Some((site_label(site), v)),
                _ => {}
            }
        }
        let dead = first
            .reason
            .clone()
            .unwrap_or_else(|| "the issuer rejected it".into());
        match unsure {
            Some((label, v)) => Verification {
                reason: Some(format!(
                    "{dead} on some sites, but {label} gave no conclusive answer: {}",
                    v.reason.as_deref().unwrap_or("unknown")
                )),
                ..v
            },
            None => Verification {
                reason: Some(format!("{dead} on each of its {} sites", sites.len() + 1)),
                ..first
            },
        }
    }

    /// Runs an HTTP recipe (with `extra` variables and an optional request rewrite, e.g. a
    /// signature) and judges the answer.
    pub async fn run_http(
        &self,
        job: &Job,
        recipe: &Recipe,
        extra: Vars,
        rewrite: Option<&(dyn Fn(&mut Prepared) + Sync)>,
    ) -> (Verification, Option<Exchange>) {
        let spec = &job.rule.spec;
        let verifier = recipe.kind.as_str();
        let ind = |r: String| Verification::indeterminate(r, spec.identity, &spec.issuer, verifier);
        let Some(issuer) = self.registry.get(&spec.issuer) else {
            return (
                ind(format!(
                    "issuer {:?} is not in the registry (add [issuers.{}] to the config)",
                    spec.issuer, spec.issuer
                )),
                None,
            );
        };
        let mut vars = self.vars(job, Some(issuer));
        vars.values.extend(extra.values);
        let template = match recipe.kind {
            Kind::OauthClientCredentials | Kind::GoogleServiceAccount => recipe.token_url.as_deref(),
            _ => recipe.call.url.as_deref(),
        }
        .unwrap_or("");
        let mut req = match recipe.call.prepare(template, "GET", &vars) {
            Ok(r) => r,
            Err(e) => return (ind(render_problem(issuer, &e)), None),
        };
        if let Some(f) = rewrite {
            f(&mut req);
        }
        let ex = match self.send(issuer, req).await {
            Ok(ex) => ex,
            Err(f) => return (ind(f.reason()), None),
        };
        let (verdict, reason) = http::judge(recipe, &ex);
        let (model, revealed) = if verdict == Verdict::Live {
            http::reveal(recipe, &ex, spec.identity)
        } else {
            (spec.identity, Default::default())
        };
        let v = Verification::new(verdict, reason, model, revealed, &spec.issuer, verifier)
            .with_status(Some(ex.status));
        (v, Some(ex))
    }
}

/// A render error about a missing base becomes advice on configuring it.
fn render_problem(issuer: &IssuerEntry, err: &str) -> String {
    for (k, b) in &issuer.bases {
        if b.url.is_empty() && err.contains(&format!("{{{k}}}")) {
            return format!(
                "issuer {} has no `{k}` base configured (set [issuers.{}] {k} = \"https://…\" or {}{}_{})",
                issuer.name,
                issuer.name,
                super::registry::ENV_PREFIX,
                issuer.name.to_ascii_uppercase().replace('-', "_"),
                k.to_ascii_uppercase()
            );
        }
    }
    format!("cannot build the request: {err}")
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
        findings[i].verification = Some(v.to_value());
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
                findings[i].verification = Some(v.to_value());
            }
        }
        stats
    }
}
