//! What every verification shares: the issuer registry and `[verify]` options, the per-issuer
//! gates that bound requests in flight and space them to the configured rate (honouring
//! `Retry-After`), the verdict cache, and the plain HTTP exchange that recipes and the special
//! verifiers (`special.rs`) both send through. The dispatch over verifier kinds is in
//! `engine.rs`, so this file depends on no verifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

use super::http::{self, Failure};
use super::verdict::{Verdict, Verification};
use crate::finding::Finding;
use crate::issuer::guard::Target;
use crate::issuer::registry::{site_label, IssuerEntry, Registry};
use crate::issuer::verify_recipe::{Exchange, Kind, Recipe};
use crate::issuer::{Prepared, Vars};
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
    /// The JWT issuers (`iss` prefixes) whose signing keys quench fetches to check a token's
    /// signature. Anyone can sign a token naming their own server as `iss` and publish its
    /// JWKS there, so a signature checks out only against an issuer the operator trusts: these,
    /// or a base configured for an issuer in the registry.
    pub jwt_issuers: Vec<String>,
}

/// Issuers trusted to sign JWTs unless `[verify] jwt_issuers` says otherwise: identity
/// providers whose signing keys nobody else controls.
pub const WELL_KNOWN_JWT_ISSUERS: &[&str] = &[
    "https://accounts.google.com",
    "https://login.microsoftonline.com/",
    "https://sts.windows.net/",
    "https://token.actions.githubusercontent.com",
    "https://gitlab.com",
    "https://oidc.circleci.com/",
];

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(10),
            retries: 2,
            cache_ttl: Duration::from_secs(15 * 60),
            jwt_issuers: WELL_KNOWN_JWT_ISSUERS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Options {
    /// Whether a JWT naming `iss` may have its signature checked against that issuer's keys.
    pub fn trusts_jwt_issuer(&self, iss: &str) -> bool {
        self.jwt_issuers.iter().any(|t| {
            let t = t.trim_end_matches('/');
            iss == t || iss.strip_prefix(t).is_some_and(|rest| rest.starts_with('/'))
        })
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
    /// Replaces [`WELL_KNOWN_JWT_ISSUERS`].
    pub jwt_issuers: Option<Vec<String>>,
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
            jwt_issuers: self.jwt_issuers.clone().unwrap_or(d.jwt_issuers),
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
            secret: f.raw_secret.expose().to_vec(),
            parts: f.exposed_parts(),
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
    pub fn sensitive(&self) -> Vec<String> {
        let mut v = vec![self.secret_str()];
        v.extend(
            self.parts
                .iter()
                .map(|(_, p)| String::from_utf8_lossy(p).into_owned()),
        );
        v
    }
}

/// Request pacing held beyond this process: the shared store's, so that every process on one
/// database sends an issuer its configured rate between them, not each (see
/// `revoke::budget::StorePace`). Requests in flight (`concurrency`) stay a process's own.
pub trait Pace: Send + Sync {
    /// Reserves the next send slot of `issuer`'s rate (one request each `interval`, whoever
    /// sends): how long from now the caller waits before sending. A short round-trip to the
    /// store, made from the verification task.
    fn reserve(&self, issuer: &str, interval: Duration) -> anyhow::Result<Duration>;
    /// Holds every slot of `issuer` back for `d` (its `Retry-After`), for every process.
    fn hold(&self, issuer: &str, d: Duration) -> anyhow::Result<()>;
}

struct Gate {
    sem: Semaphore,
    next: Mutex<Instant>,
    interval: Duration,
}

impl Gate {
    /// Waits for a request slot: a permit, any `Retry-After` pause, and the next slot of the
    /// issuer's rate — the shared one when `shared` is given and answers, else this process's.
    async fn acquire(&self, shared: Option<(&dyn Pace, &str)>) -> tokio::sync::SemaphorePermit<'_> {
        let permit = self
            .sem
            .acquire()
            .await
            .expect("gate semaphores are never closed");
        let local = |pace: bool| {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = (*next).max(Instant::now());
            if pace {
                *next = at + self.interval;
            }
            at
        };
        let Some((pace, issuer)) = shared else {
            tokio::time::sleep_until(local(true).into()).await;
            return permit;
        };
        // A pause after a `Retry-After` is this process's; then the shared slot.
        tokio::time::sleep_until(local(false).into()).await;
        match pace.reserve(issuer, self.interval) {
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(e) => {
                // The store is unreachable for a moment: this process paces alone rather than
                // not at all (and says so).
                eprintln!(
                    "quench: pacing {issuer} in this process alone: the shared store did not answer: {e:#}"
                );
                tokio::time::sleep_until(local(true).into()).await;
            }
        }
        permit
    }

    /// Holds every request to this issuer back for `d` (after a `Retry-After`).
    fn pause(&self, d: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next = (*next).max(Instant::now() + d);
    }
}

pub(super) type Cell = Arc<OnceCell<Verification>>;

/// Shared state of a verification run.
pub struct Context {
    pub registry: Registry,
    pub opts: Options,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// The shared store's pacing, when there is one (else each gate paces this process).
    pace: Option<Arc<dyn Pace>>,
    pub(super) cache: Mutex<HashMap<String, (Instant, Cell)>>,
}

impl Context {
    pub fn new(registry: Registry, opts: Options) -> Arc<Context> {
        Context::paced(registry, opts, None)
    }

    /// [`Context::new`] whose issuer rates are `pace`'s, shared with other processes.
    pub fn paced(registry: Registry, opts: Options, pace: Option<Arc<dyn Pace>>) -> Arc<Context> {
        Arc::new(Context {
            registry,
            opts,
            gates: Mutex::new(HashMap::new()),
            pace,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The context the operator's config describes (registry, `[verify]` options); `timeout`
    /// (`--verify-timeout`) overrides `[verify] timeout_secs`.
    pub fn from_config(
        config: &crate::config::Config,
        timeout: Option<Duration>,
    ) -> anyhow::Result<Arc<Context>> {
        Context::from_config_paced(config, timeout, None)
    }

    /// [`Context::from_config`] with the shared store's pacing ([`Context::paced`]).
    pub fn from_config_paced(
        config: &crate::config::Config,
        timeout: Option<Duration>,
        pace: Option<Arc<dyn Pace>>,
    ) -> anyhow::Result<Arc<Context>> {
        let registry = Registry::load(config)?;
        let section: VerifySection = config.section("verify")?;
        let mut opts = section.options()?;
        if let Some(t) = timeout {
            opts.timeout = t;
        }
        Ok(Context::paced(registry, opts, pace))
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
                let _permit = gate.acquire(self.pace.as_deref().map(|p| (p, issuer))).await;
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
                    if let Some(p) = &self.pace {
                        if let Err(e) = p.hold(issuer, wait) {
                            eprintln!("quench: {issuer}'s Retry-After holds this process alone: the shared store did not answer: {e:#}");
                        }
                    }
                    attempt += 1;
                    continue;
                }
            }
            return Ok(ex);
        }
    }

    /// Egress check for `issuer`, then [`Context::exchange`].
    pub async fn send(&self, issuer: &IssuerEntry, req: Prepared) -> Result<Exchange, Failure> {
        let target = crate::issuer::guard::check(&req.url, issuer)
            .await
            .map_err(Failure::Refused)?;
        self.exchange(&issuer.name, target, req).await
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
    pub(super) async fn run_http_sites(&self, job: &Job, recipe: &Recipe) -> Verification {
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
                crate::issuer::registry::ENV_PREFIX,
                issuer.name.to_ascii_uppercase().replace('-', "_"),
                k.to_ascii_uppercase()
            );
        }
    }
    format!("cannot build the request: {err}")
}
