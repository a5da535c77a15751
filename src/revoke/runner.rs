//! The revocation job runner.
//!
//! Jobs live in the store, so nothing accepted is lost: a job is durable before anything is sent,
//! each revoke call is written as an attempt before it leaves and completed after, and a runner
//! that dies mid-call leaves a leased job that the next runner takes over (at once when the
//! dead runner's process is gone). Every run of a job starts by asking the issuer again whether
//! the key still works, so a retried or resumed job never acts twice: a key that died (by our
//! earlier call, or anyone's) is recorded dead, not revoked again.
//!
//! After a revoke call the key is verified again: dead is confirmed death; still live or
//! unclear is retried with exponential backoff; too many tries, a refusal, or missing admin
//! credentials escalate to a human with the reason.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::issuer::{CallResult, HttpIssuers, Target};
use super::policy::{AdminCredential, Mode, Policy};
use crate::finding::Finding;
use crate::issuer::revoke_recipe::{Authority, RevokeRecipe};
use crate::notify::{self, Notifier};
use crate::rules::Rule;
use crate::store::seal::Sealer;
use crate::store::{
    self, step::AttemptEnd, AuditEntry, Event, Job, JobState, NewJob, Status, Step, Store, StoredFinding,
    Verdict, VerdictKind,
};

/// How long a claimed job is reserved for its runner.
const LEASE: Duration = Duration::from_secs(120);
/// Jobs past their revoke call (confirming death) do not hold one of the `concurrency` slots,
/// so that a slow confirmation never delays another key's revoke call; this bounds them all.
const TASKS_PER_SLOT: usize = 4;
/// How recent a live verdict must be for a first run to act on it without asking again.
const FRESH_SECS: i64 = 60;
/// How long a job blocked on the operator (missing admin credential) waits before a scheduled
/// run tries it again; `quench revoke` tries it at once.
const BLOCKED_RETRY: Duration = Duration::from_secs(3600);

/// The secret and its parts as sealed into a job.
#[derive(Serialize, Deserialize)]
struct Sealed {
    secret: Vec<u8>,
    parts: Vec<(String, Vec<u8>)>,
}

/// What a run did, for the command's summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    pub queued: usize,
    pub dry_run: usize,
    pub awaiting_approval: usize,
    pub revoked: usize,
    pub already_dead: usize,
    pub retrying: usize,
    pub escalated: usize,
    pub skipped: usize,
    /// Waiting for an issuer's request budget (or its 429 pause): queued, not failed.
    pub deferred: usize,
    /// Waiting for an admin credential the policy must name: queued (`revoking`), not
    /// escalated, so the count agrees with the finding's status and its audit line (`blocked`).
    pub needs_admin: usize,
}

impl RunStats {
    /// Adds another run's counts (a scan's live run, then its closing run).
    pub fn add(&mut self, o: &RunStats) {
        self.queued += o.queued;
        self.dry_run += o.dry_run;
        self.awaiting_approval += o.awaiting_approval;
        self.revoked += o.revoked;
        self.already_dead += o.already_dead;
        self.retrying += o.retrying;
        self.escalated += o.escalated;
        self.skipped += o.skipped;
        self.deferred += o.deferred;
        self.needs_admin += o.needs_admin;
    }
}

impl std::fmt::Display for RunStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "revocation: {} revoked and confirmed dead, {} already dead, {} retrying, {} escalated, \
             {} dry-run, {} awaiting approval",
            self.revoked,
            self.already_dead,
            self.retrying,
            self.escalated,
            self.dry_run,
            self.awaiting_approval
        )?;
        if self.deferred > 0 {
            write!(f, ", {} deferred (issuer request budget)", self.deferred)?;
        }
        if self.needs_admin > 0 {
            write!(
                f,
                ", {} waiting for an admin credential (queued; see quench findings --status revoking)",
                self.needs_admin
            )?;
        }
        Ok(())
    }
}

/// Jobs written while a run goes on (a scan's live pipeline): the writer calls
/// [`Feed::wake`] after each commit and [`Feed::close`] when nothing more will come.
#[derive(Default)]
pub struct Feed {
    notify: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl Feed {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_one();
    }
    fn is_open(&self) -> bool {
        !self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub struct Runner {
    store: Mutex<Box<dyn Store>>,
    pub policy: Policy,
    /// Rules by id; a live run learns them as findings arrive.
    rules: Mutex<HashMap<String, Arc<Rule>>>,
    issuers: Arc<HttpIssuers>,
    notifier: Notifier,
    key_file: std::path::PathBuf,
    sealer: Mutex<Option<Arc<Sealer>>>,
    /// `pid:<n>`: lets a later runner see that this one died.
    owner: String,
    /// Who acts, for the audit log (`policy`, or the operator's login for approvals).
    pub actor: String,
    stats: Mutex<RunStats>,
    /// Jobs claimed that have not had their revoke call answered yet.
    acting: std::sync::atomic::AtomicUsize,
    /// Told when a job's call is answered (a slot is free).
    freed: tokio::sync::Notify,
    /// New findings whose `detected` message has not gone out yet (the live path): the first
    /// message about one of them sends it first, so no one reads "revoked" before "detected".
    unannounced: Mutex<HashSet<String>>,
    /// Those announced that way, which the after-scan notice must not announce again.
    announced: Mutex<HashSet<String>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A job's place among the `concurrency` jobs acting; given back once its revoke call is
/// answered (or the job ends without one).
struct Slot<'a>(&'a Runner);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.acting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.freed.notify_one();
    }
}

/// Which of the runner's outcomes a job ended in.
/// Why a job stops before (or instead of) its revoke call.
enum Stop {
    /// The key is already dead; `by_us` when an earlier attempt of this job revoked it.
    Dead { by_us: bool },
    /// The policy requires a live key and the issuer could not say: retry, then escalate.
    NotLive(String),
    /// An admin credential the recipe needs is missing: the job waits for it.
    NeedsAdmin(String),
    /// Nothing quench can do: a human must look.
    Escalate(String),
}

/// What a job needs to act, gathered by [`Runner::prepare`].
struct Ready {
    found: StoredFinding,
    rule: Arc<Rule>,
    recipe: RevokeRecipe,
    secret: Sealed,
    admin: Option<AdminCredential>,
    /// The last live verdict (key id, project, org for admin paths).
    known: Option<Verdict>,
    /// Verified live moments ago: no need to look again before acting.
    fresh_live: bool,
    require_live: bool,
    /// The policy asks to cut off the key's sessions before revoking it.
    cut_sessions: bool,
}

impl Ready {
    fn target<'a>(&'a self, job: &'a Job) -> Target<'a> {
        Target {
            fingerprint: &job.fingerprint,
            rule: &self.rule,
            secret: &self.secret.secret,
            parts: &self.secret.parts,
            known: self.known.as_ref(),
            admin: self.admin.as_ref(),
        }
    }
}

enum Outcome {
    NeedsAdmin,
    Revoked,
    AlreadyDead,
    Retrying,
    Escalated,
    Deferred,
}

impl Runner {
    pub fn new(
        store: Box<dyn Store>,
        policy: Policy,
        rules: impl IntoIterator<Item = Arc<Rule>>,
        issuers: Arc<HttpIssuers>,
        notifier: Notifier,
        key_file: std::path::PathBuf,
        actor: &str,
    ) -> Runner {
        Runner {
            store: Mutex::new(store),
            policy,
            rules: Mutex::new(rules.into_iter().map(|r| (r.spec.id.clone(), r)).collect()),
            issuers,
            notifier,
            key_file,
            sealer: Mutex::new(None),
            owner: format!("pid:{}", std::process::id()),
            actor: actor.into(),
            stats: Mutex::new(RunStats::default()),
            acting: std::sync::atomic::AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
            unannounced: Mutex::default(),
            announced: Mutex::default(),
        }
    }

    /// Marks a finding just recorded for the first time, whose `detected` message is due.
    pub(super) fn detected_now(&self, fingerprint: &str) {
        lock(&self.unannounced).insert(fingerprint.to_string());
    }

    /// Findings whose `detected` message this runner sent.
    pub(super) fn announced(&self) -> HashSet<String> {
        lock(&self.announced).clone()
    }

    /// An audit line about `job`, by this runner, under the job's policy entry.
    fn job_audit(&self, job: &Job, action: &str) -> AuditEntry {
        AuditEntry::new(&self.actor, action)
            .finding(&job.fingerprint, &job.rule_id)
            .policy(&job.policy_rule)
    }

    fn st(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rule(&self, id: &str) -> Option<Arc<Rule>> {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Makes `rule` known to later jobs (a live run meets rules as findings arrive).
    pub fn learn(&self, rule: Arc<Rule>) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(rule.spec.id.clone())
            .or_insert(rule);
    }

    pub fn stats(&self) -> RunStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, f: impl FnOnce(&mut RunStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The sealer, loaded (and the key file created) only when a secret must be sealed or opened.
    fn sealer(&self) -> Result<Arc<Sealer>> {
        let mut g = self.sealer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = &*g {
            return Ok(s.clone());
        }
        let s = Arc::new(Sealer::load(&self.key_file)?);
        *g = Some(s.clone());
        Ok(s)
    }

    fn recipe(&self, rule: &Rule) -> Option<Result<RevokeRecipe>> {
        rule.spec.revoke.as_ref().map(|t| {
            RevokeRecipe::parse(t).with_context(|| format!("rule {} ({})", rule.spec.id, rule.origin))
        })
    }

    /// Applies the policy to one scanned finding: queues, records a dry run, waits for
    /// approval, escalates a key no API can revoke, or does nothing. `verdict` is what
    /// verification said during this scan, if it ran.
    ///
    /// `operator` is set when a person asked for this key by name (`quench revoke
    /// --fingerprint/--principal`): that request is the approval, so `ask` and `off` become
    /// `auto`, but a policy's dry-run still holds.
    pub fn plan(&self, f: &Finding, verdict: Option<&Verdict>, operator: bool) -> Result<()> {
        let mut st = self.st();
        self.plan_in(st.as_mut(), f, verdict, operator)
    }

    /// [`Runner::plan`] on `st`, so that a writer can plan many findings in one transaction.
    pub fn plan_in(
        &self,
        st: &mut dyn Store,
        f: &Finding,
        verdict: Option<&Verdict>,
        operator: bool,
    ) -> Result<()> {
        let mut decision = self.policy.decide(&f.rule_id, &f.issuer, f.identity.as_str());
        if operator && decision.mode != Mode::DryRun {
            decision.mode = Mode::Auto;
            decision.source = format!("operator request ({})", self.actor);
        }
        if decision.mode == Mode::Off {
            return Ok(());
        }
        let Some(stored) = st.finding(&f.fingerprint)? else {
            return Ok(());
        };
        let audit = |action: &str, detail: String| {
            AuditEntry::new(&self.actor, action)
                .finding(&f.fingerprint, &f.rule_id)
                .policy(&decision.source)
                .detail(detail)
        };
        // A key already revoked (or dead) found again is recorded, never revoked twice; one
        // whose revocation a human has (an escalated job) is left to them unless a person asks
        // by name. A key escalated only for staying live (recheck) may still be revoked.
        let with_human = stored.status == Status::Escalated
            && !operator
            && st
                .jobs(Some(&f.fingerprint))?
                .iter()
                .any(|j| j.state == JobState::Escalated);
        if stored.status.is_dead() || with_human {
            if stored.status == Status::Revoked {
                st.audit(audit("seen-again", "already revoked; not revoked again".into()))?;
            }
            self.count(|s| s.skipped += 1);
            return Ok(());
        }
        let known = verdict.map(|v| v.verdict).or(match stored.status {
            Status::Live => Some(VerdictKind::Live),
            _ => None,
        });
        if decision.require_live && known != Some(VerdictKind::Live) && decision.mode != Mode::DryRun {
            // The runner verifies again before acting anyway; without any live verdict there is
            // nothing the policy allows.
            self.count(|s| s.skipped += 1);
            return Ok(());
        }
        let Some(rule) = f.rule.clone().or_else(|| self.rule(&f.rule_id)) else {
            return Ok(());
        };
        let recipe = match self.recipe(&rule) {
            Some(r) => r?,
            None => {
                let manual = rule.spec.manual_revoke.clone().unwrap_or_else(|| {
                    "no revocation API is known: revoke it in the issuer's console".into()
                });
                let job = self.new_job(
                    f,
                    &decision.source,
                    decision.mode,
                    JobState::Escalated,
                    None,
                    Some(&manual),
                );
                let (_, new) = st.enqueue(job, store::now())?;
                if new {
                    st.apply(&Step::on(&f.fingerprint).status(Status::Escalated).audit(audit(
                        "escalated",
                        format!("no revocation recipe; manual steps: {manual}"),
                    )))?;
                    self.count(|s| s.escalated += 1);
                }
                return Ok(());
            }
        };
        let existing = st.jobs(Some(&f.fingerprint))?;
        match decision.mode {
            Mode::Off => {}
            Mode::DryRun => {
                if existing.iter().any(|j| j.state == JobState::DryRun) {
                    return Ok(());
                }
                let what = format!(
                    "dry-run: would revoke via {}{}",
                    recipe.describe(),
                    if known == Some(VerdictKind::Live) {
                        ""
                    } else {
                        " once verified live"
                    }
                );
                let job = self.new_job(
                    f,
                    &decision.source,
                    decision.mode,
                    JobState::DryRun,
                    None,
                    Some(&what),
                );
                st.enqueue(job, store::now())?;
                st.audit(audit("dry-run", what))?;
                self.count(|s| s.dry_run += 1);
            }
            Mode::Ask | Mode::Auto => {
                let state = if decision.mode == Mode::Ask {
                    JobState::AwaitingApproval
                } else {
                    JobState::Queued
                };
                let sealed = self.seal(f)?;
                let job = self.new_job(f, &decision.source, decision.mode, state, Some(sealed), None);
                let (_, new) = st.enqueue(job, store::now())?;
                if new {
                    let action = if state == JobState::Queued {
                        "revoke-queued"
                    } else {
                        "awaiting-approval"
                    };
                    st.audit(audit(action, recipe.describe()))?;
                    if state == JobState::Queued {
                        self.count(|s| s.queued += 1);
                    } else {
                        self.count(|s| s.awaiting_approval += 1);
                    }
                }
            }
        }
        Ok(())
    }

    fn seal(&self, f: &Finding) -> Result<Vec<u8>> {
        let payload = serde_json::to_vec(&Sealed {
            secret: f.raw_secret.expose().to_vec(),
            parts: f.exposed_parts(),
        })?;
        self.sealer()?.seal(f.fingerprint.as_bytes(), &payload)
    }

    fn new_job(
        &self,
        f: &Finding,
        source: &str,
        mode: Mode,
        state: JobState,
        sealed: Option<Vec<u8>>,
        reason: Option<&str>,
    ) -> NewJob {
        NewJob {
            fingerprint: f.fingerprint.clone(),
            rule_id: f.rule_id.clone(),
            issuer: f.issuer.clone(),
            mode: mode.as_str().into(),
            policy_rule: source.into(),
            state,
            reason: reason.map(String::from),
            sealed,
        }
    }

    /// Runs due jobs until none is left, waiting up to the policy's `wait_secs` for retries
    /// that fall due; later ones stay queued for the next run.
    pub async fn run(self: &Arc<Self>) -> Result<RunStats> {
        self.run_fed(None).await
    }

    /// [`Runner::run`], also starting jobs as `feed`'s writer commits them, until the feed is
    /// closed and every job it brought has run. A fed run leaves retries to the run after it.
    pub async fn run_fed(self: &Arc<Self>, feed: Option<&Feed>) -> Result<RunStats> {
        let deadline = store::now() + chrono::Duration::from_std(self.policy.wait).unwrap_or_default();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        let mut tasks = tokio::task::JoinSet::new();
        let max_tasks = self.policy.concurrency.saturating_mul(TASKS_PER_SLOT);
        loop {
            let acting = self.acting.load(std::sync::atomic::Ordering::SeqCst);
            let room = self
                .policy
                .concurrency
                .saturating_sub(acting)
                .min(max_tasks.saturating_sub(tasks.len()));
            if room > 0 {
                let claimed = self.st().claim_jobs(&self.owner, store::now(), lease, room)?;
                for job in claimed {
                    self.acting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let me = self.clone();
                    tasks.spawn(async move {
                        let id = job.id;
                        if let Err(e) = me.process(job).await {
                            // A store error mid-job: leave the job leased; the next run resumes it.
                            eprintln!("quench: warning: revocation job {id}: {e:#}");
                        }
                    });
                }
            }
            let fed = feed.filter(|f| f.is_open());
            if tasks.is_empty() && fed.is_none() {
                if feed.is_some() {
                    break;
                }
                // Nothing running and nothing due now: wait for the next retry if it is soon.
                let next = self.st().next_due()?;
                match next {
                    Some(t) if t <= deadline => {
                        let wait = (t - store::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                        continue;
                    }
                    _ => break,
                }
            }
            tokio::select! {
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = self.freed.notified() => {}
                _ = async { if let Some(f) = fed { f.notify.notified().await } }, if fed.is_some() => {}
            }
        }
        Ok(self.stats())
    }

    async fn process(&self, job: Job) -> Result<()> {
        let mut slot = Some(Slot(self));
        let outcome = self.work(&job, &mut slot).await?;
        self.count(|s| match outcome {
            Outcome::Revoked => s.revoked += 1,
            Outcome::AlreadyDead => s.already_dead += 1,
            Outcome::Retrying => s.retrying += 1,
            Outcome::Escalated => s.escalated += 1,
            Outcome::Deferred => s.deferred += 1,
            Outcome::NeedsAdmin => s.needs_admin += 1,
        });
        Ok(())
    }

    /// One job in four stages: [`Runner::prepare`] gathers what acting needs, [`Runner::look`]
    /// re-verifies before acting (what makes a retried or resumed job idempotent),
    /// [`Runner::call`] sends the revocation and records it, [`Runner::confirm`] verifies
    /// after. A stage that cannot go on says why with a typed [`Stop`], and one place turns
    /// that into the job's next state. `slot` is given back as soon as the revoke call is
    /// answered.
    async fn work(&self, job: &Job, slot: &mut Option<Slot<'_>>) -> Result<Outcome> {
        let ready = match self.prepare(job)? {
            Ok(r) => r,
            Err((found, stop)) => return self.stop(job, found.as_ref(), stop).await,
        };
        if let Some(stop) = self.look(job, &ready).await? {
            return self.stop(job, Some(&ready.found), stop).await;
        }
        let result = self.call(job, &ready, slot).await?;
        self.confirm(job, &ready, result).await
    }

    /// Carries out a stage's [`Stop`].
    async fn stop(&self, job: &Job, found: Option<&StoredFinding>, stop: Stop) -> Result<Outcome> {
        match (stop, found) {
            (Stop::Dead { by_us }, Some(f)) => self.dead(job, f, by_us).await,
            (Stop::NotLive(why), Some(f)) => self.retry_or_escalate(job, f, &why, None, None).await,
            (Stop::NeedsAdmin(why), Some(f)) => self.block(job, f, &why).await,
            (Stop::Escalate(why), f) => self.escalate(job, f, &why, None).await,
            (Stop::Dead { .. } | Stop::NotLive(_) | Stop::NeedsAdmin(_), None) => {
                self.escalate(job, None, "the finding is no longer in the store", None)
                    .await
            }
        }
    }

    /// Everything acting needs, read from the store, the rule, the sealed secret and the
    /// policy before anything is sent.
    fn prepare(&self, job: &Job) -> Result<std::result::Result<Ready, (Option<StoredFinding>, Stop)>> {
        let Some(found) = self.st().finding(&job.fingerprint)? else {
            return Ok(Err((
                None,
                Stop::Escalate("the finding is no longer in the store".into()),
            )));
        };
        let fail = |found: StoredFinding, stop: Stop| Ok(Err((Some(found), stop)));
        let Some(rule) = self.rule(&job.rule_id) else {
            return fail(
                found,
                Stop::Escalate(format!("rule {} is not loaded", job.rule_id)),
            );
        };
        let recipe = match self.recipe(&rule) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return fail(found, Stop::Escalate(format!("{e:#}"))),
            None => return fail(found, Stop::Escalate("the rule has no revocation recipe".into())),
        };
        if recipe.authority == Authority::None {
            let manual = recipe
                .manual
                .clone()
                .or(rule.spec.manual_revoke.clone())
                .unwrap_or_default();
            return fail(
                found,
                Stop::Escalate(format!("no revocation API; manual steps: {manual}")),
            );
        }
        let Some(sealed) = &job.sealed else {
            return fail(found, Stop::Escalate("the job holds no secret".into()));
        };
        let payload = match self
            .sealer()
            .and_then(|s| s.open(job.fingerprint.as_bytes(), sealed))
        {
            Ok(p) => p,
            Err(e) => return fail(found, Stop::Escalate(format!("{e:#}"))),
        };
        let Ok(secret) = serde_json::from_slice::<Sealed>(&payload) else {
            return fail(found, Stop::Escalate("the sealed secret is malformed".into()));
        };
        let admin = if recipe.authority == Authority::Admin {
            let issuer = recipe
                .admin_issuer
                .clone()
                .unwrap_or_else(|| rule.spec.issuer.clone());
            match self.policy.admin_credential(&issuer) {
                Ok(Some(a)) => Some(a),
                Ok(None) => {
                    let why = format!(
                        "admin revocation needs an admin credential for {issuer}: add [revoke.admin.{issuer}] \
                         env = \"VAR\" (or file = \"PATH\") to the policy"
                    );
                    return fail(found, Stop::NeedsAdmin(why));
                }
                Err(e) => return fail(found, Stop::NeedsAdmin(format!("{e:#}"))),
            }
        } else {
            None
        };
        let (known, fresh_live) = {
            let st = self.st();
            let all = st.verdicts(&job.fingerprint)?;
            // A first run right after a live verdict need not ask again: nothing has acted on
            // the key since. Any other run (a retry, a resumed or approved job) looks first.
            let fresh = job.attempts == 1
                && job.calls == 0
                && all.last().is_some_and(|(at, v)| {
                    v.verdict == VerdictKind::Live
                        && store::now() - *at < chrono::Duration::seconds(FRESH_SECS)
                });
            let known = all
                .into_iter()
                .rev()
                .map(|(_, v)| v)
                .find(|v| v.verdict == VerdictKind::Live);
            (known, fresh)
        };
        let decision = self.policy.decide(&job.rule_id, &job.issuer, &found.identity);
        Ok(Ok(Ready {
            found,
            rule,
            recipe,
            secret,
            admin,
            known,
            fresh_live,
            require_live: decision.require_live,
            cut_sessions: decision.cut_sessions,
        }))
    }

    /// Looks before acting: a key already dead is recorded so, one that cannot be shown live
    /// (when the policy requires it) waits or escalates.
    async fn look(&self, job: &Job, r: &Ready) -> Result<Option<Stop>> {
        let before = if r.fresh_live {
            None
        } else {
            self.reverify(job, &r.target(job)).await?
        };
        Ok(match before.as_ref().map(|v| v.verdict) {
            Some(VerdictKind::Dead) => Some(Stop::Dead { by_us: job.calls > 0 }),
            Some(VerdictKind::Indeterminate) if r.require_live && job.calls == 0 => {
                let reason = before
                    .and_then(|v| v.reason)
                    .unwrap_or_else(|| "indeterminate".into());
                Some(Stop::NotLive(format!("not verified live: {reason}")))
            }
            None if !r.fresh_live
                && r.require_live
                && job.calls == 0
                && r.found.status != Status::Revoking =>
            {
                Some(Stop::Escalate("the rule cannot be re-verified".into()))
            }
            _ => None,
        })
    }

    /// Sends the revocation and records the attempt, the timeline step and the audit line in
    /// one transaction.
    async fn call(&self, job: &Job, r: &Ready, slot: &mut Option<Slot<'_>>) -> Result<CallResult> {
        if let (true, Some(s)) = (r.cut_sessions, r.recipe.sessions.as_deref()) {
            self.cut_sessions(job, r, s).await?;
        }
        let now = store::now();
        let attempt = self.st().start_attempt(job.id, now)?;
        let result = self.issuers.revoke(&r.target(job), &r.recipe).await;
        slot.take();
        let (outcome, status, detail) = match &result {
            CallResult::Accepted { status } => ("accepted", Some(*status), None),
            CallResult::Gone { status } => ("gone", Some(*status), None),
            CallResult::Retry { status, reason, .. } => ("retry", *status, Some(reason.clone())),
            CallResult::Failed { status, reason } => ("failed", *status, Some(reason.clone())),
            CallResult::Deferred { reason, .. } => ("deferred", None, Some(reason.clone())),
        };
        let step = Step::on(&job.fingerprint).attempt(AttemptEnd {
            id: attempt,
            at: store::now(),
            outcome: outcome.into(),
            http_status: status,
            detail,
        });
        let step = match &result {
            CallResult::Deferred { reason, after } => {
                // Nothing was sent: the claim does not count as a try and the timeline has no
                // request yet.
                let next = store::now() + chrono::Duration::from_std(*after).unwrap_or_default();
                step.defer(job.id, next, reason)
                    .audit(self.job_audit(job, "deferred").detail(reason.clone()))
            }
            _ => step.event(Event::RevokeRequested, now).audit(
                self.job_audit(job, "revoke-call")
                    .status(status)
                    .detail(format!("{outcome}: {}", r.recipe.describe())),
            ),
        };
        self.st().apply(&step)?;
        Ok(result)
    }

    /// Cuts off what the key already minted (AWS: an inline deny on sessions issued before
    /// now), before the revocation while the key can still sign it, and audits it on its own
    /// line. A refusal does not hold the revocation back: killing the key matters more, and
    /// the audit line says what is still open.
    async fn cut_sessions(&self, job: &Job, r: &Ready, s: &RevokeRecipe) -> Result<()> {
        let result = self.issuers.revoke(&r.target(job), s).await;
        let (action, status, detail) = match &result {
            CallResult::Accepted { status } => (
                "sessions-cut",
                Some(*status),
                format!("accepted: {}", s.describe()),
            ),
            CallResult::Gone { status } => (
                "sessions-cut-failed",
                Some(*status),
                format!("the key's owner was not found: {}", s.describe()),
            ),
            CallResult::Retry { status, reason, .. } | CallResult::Failed { status, reason } => (
                "sessions-cut-failed",
                *status,
                format!("{reason}; sessions the key minted stay valid until they expire"),
            ),
            CallResult::Deferred { reason, .. } => (
                "sessions-cut-failed",
                None,
                format!("deferred: {reason}; sessions the key minted stay valid until they expire"),
            ),
        };
        self.st()
            .audit(self.job_audit(job, action).status(status).detail(detail))?;
        Ok(())
    }

    /// After the call: verify again and record the key revoked, or retry, or escalate.
    async fn confirm(&self, job: &Job, r: &Ready, result: CallResult) -> Result<Outcome> {
        let found = &r.found;
        match result {
            CallResult::Deferred { .. } => Ok(Outcome::Deferred),
            CallResult::Accepted { status } | CallResult::Gone { status } => {
                let gone = matches!(result, CallResult::Gone { .. });
                let after = self.reverify(job, &r.target(job)).await?;
                match after.map(|v| v.verdict) {
                    Some(VerdictKind::Dead) => self.dead(job, found, true).await,
                    // Nothing can confirm it. An accepted call is the best evidence that we
                    // killed the key; "no such key" (a lookup that found nothing) is not, so
                    // that key is recorded dead, not revoked by us.
                    None => self.dead(job, found, !gone).await,
                    Some(v) => {
                        self.retry_or_escalate(
                            job,
                            found,
                            &format!("revoke accepted but the key still verifies {}", v.as_str()),
                            Some(status),
                            None,
                        )
                        .await
                    }
                }
            }
            CallResult::Retry {
                reason,
                after,
                status,
            } => self.retry_or_escalate(job, found, &reason, status, after).await,
            CallResult::Failed { reason, status } => self.escalate(job, Some(found), &reason, status).await,
        }
    }

    async fn reverify(&self, job: &Job, target: &Target<'_>) -> Result<Option<Verdict>> {
        let v = self.issuers.verify(target).await;
        if let Some(v) = &v {
            self.st().apply(
                &Step::on(&job.fingerprint).verdict(v, store::now()).audit(
                    self.job_audit(job, "re-verified")
                        .status(v.http_status)
                        .detail(v.verdict.as_str()),
                ),
            )?;
        }
        Ok(v)
    }

    async fn dead(&self, job: &Job, found: &StoredFinding, by_us: bool) -> Result<Outcome> {
        let now = store::now();
        let (reason, action) = if by_us {
            ("confirmed dead", "confirmed-dead")
        } else {
            ("already dead; nothing sent", "already-dead")
        };
        let mut step = Step::on(&job.fingerprint).job(job.id, JobState::Done, now, Some(reason));
        step = if by_us {
            step.event(Event::ConfirmedDead, now).status(Status::Revoked)
        } else {
            step.status(Status::Dead)
        };
        self.st().apply(&step.audit(self.job_audit(job, action)))?;
        if by_us {
            self.notify(notify::Event::Revoked, found, "revoked and confirmed dead")
                .await?;
            Ok(Outcome::Revoked)
        } else {
            Ok(Outcome::AlreadyDead)
        }
    }

    async fn retry_or_escalate(
        &self,
        job: &Job,
        found: &StoredFinding,
        reason: &str,
        status: Option<u16>,
        after: Option<Duration>,
    ) -> Result<Outcome> {
        if job.attempts >= self.policy.max_attempts {
            let why = format!("gave up after {} attempts: {reason}", job.attempts);
            return self.escalate(job, Some(found), &why, status).await;
        }
        let delay = self
            .policy
            .backoff_for(job.attempts)
            .max(after.unwrap_or_default().min(self.policy.backoff_max));
        let next = store::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        self.st().apply(
            &Step::on(&job.fingerprint)
                .job(job.id, JobState::Queued, next, Some(reason))
                .audit(
                    self.job_audit(job, "retry-scheduled")
                        .status(status)
                        .detail(format!("{reason}; next try in {:.1}s", delay.as_secs_f64())),
                ),
        )?;
        // The first failure is news; the retries after it are in the audit log.
        if job.attempts == 1 {
            self.notify(notify::Event::Failed, found, &format!("{reason}; retrying"))
                .await?;
        }
        Ok(Outcome::Retrying)
    }

    /// A job that cannot run until an operator acts (missing admin credential): it stays
    /// queued, with the reason, and is escalated once.
    async fn block(&self, job: &Job, found: &StoredFinding, why: &str) -> Result<Outcome> {
        let first = job.reason.as_deref() != Some(why);
        let next = store::now() + chrono::Duration::from_std(BLOCKED_RETRY).unwrap_or_default();
        let mut step = Step::on(&job.fingerprint).job(job.id, JobState::Queued, next, Some(why));
        if first {
            step = step.audit(self.job_audit(job, "blocked").detail(why));
        }
        self.st().apply(&step)?;
        if first {
            // A human must act (name the credential), so the escalation channel hears of it;
            // the job itself stays queued and is counted as waiting, not escalated.
            self.notify(notify::Event::Escalated, found, why).await?;
        }
        Ok(Outcome::NeedsAdmin)
    }

    async fn escalate(
        &self,
        job: &Job,
        found: Option<&StoredFinding>,
        why: &str,
        status: Option<u16>,
    ) -> Result<Outcome> {
        self.st().apply(
            &Step::on(&job.fingerprint)
                .job(job.id, JobState::Escalated, store::now(), Some(why))
                .status(Status::Escalated)
                .audit(self.job_audit(job, "escalated").status(status).detail(why)),
        )?;
        if let Some(f) = found {
            self.notify(notify::Event::Escalated, f, why).await?;
        }
        Ok(Outcome::Escalated)
    }

    async fn notify(&self, event: notify::Event, f: &StoredFinding, detail: &str) -> Result<()> {
        if self.notifier.is_empty() {
            return Ok(());
        }
        let mut failures = Vec::new();
        if lock(&self.unannounced).remove(&f.fingerprint) {
            lock(&self.announced).insert(f.fingerprint.clone());
            failures = self
                .notifier
                .send(notify::Event::Detected, f, "new finding")
                .await;
        }
        failures.extend(self.notifier.send(event, f, detail).await);
        let mut st = self.st();
        for e in failures {
            st.audit(
                AuditEntry::new(&self.actor, "notify-failed")
                    .finding(&f.fingerprint, &f.rule_id)
                    .detail(e),
            )?;
        }
        Ok(())
    }

    /// Escalates a finding outside a job (recheck: still live too long).
    pub async fn escalate_finding(&self, f: &StoredFinding, why: &str) -> Result<()> {
        self.st().apply(
            &Step::on(&f.fingerprint).status(Status::Escalated).audit(
                AuditEntry::new(&self.actor, "escalated")
                    .finding(&f.fingerprint, &f.rule_id)
                    .detail(why),
            ),
        )?;
        self.notify(notify::Event::Escalated, f, why).await
    }

    /// Access to the store for commands built on the runner.
    pub fn with_store<T>(&self, f: impl FnOnce(&mut dyn Store) -> T) -> T {
        f(self.st().as_mut())
    }

    /// Re-verifies a stored finding's key from its active job's sealed secret (recheck).
    pub async fn recheck_job(&self, job: &Job) -> Result<Option<Verdict>> {
        let Some(rule) = self.rule(&job.rule_id) else {
            return Ok(None);
        };
        let Some(sealed) = &job.sealed else {
            return Ok(None);
        };
        let payload = self.sealer()?.open(job.fingerprint.as_bytes(), sealed)?;
        let secret: Sealed = serde_json::from_slice(&payload).context("the sealed secret is malformed")?;
        let target = Target {
            fingerprint: &job.fingerprint,
            rule: &rule,
            secret: &secret.secret,
            parts: &secret.parts,
            known: None,
            admin: None,
        };
        self.reverify(job, &target).await
    }

    /// The finding a pending job's sealed secret makes, with its secret in memory (for a
    /// command that must ask the issuer again, `quench access`); `None` when the job holds no
    /// secret or its rule is not loaded.
    pub fn unseal(&self, job: &Job) -> Result<Option<Finding>> {
        let (Some(rule), Some(sealed)) = (self.rule(&job.rule_id), &job.sealed) else {
            return Ok(None);
        };
        let payload = self.sealer()?.open(job.fingerprint.as_bytes(), sealed)?;
        let secret: Sealed = serde_json::from_slice(&payload).context("the sealed secret is malformed")?;
        Ok(Some(Finding::new(rule, secret.secret, secret.parts)))
    }

    /// Re-verifies a finding whose secret is in memory (a scan's finding).
    pub async fn verify_finding(&self, f: &Finding) -> Result<Option<Verdict>> {
        let Some(rule) = f.rule.clone().or_else(|| self.rule(&f.rule_id)) else {
            return Ok(None);
        };
        let parts = f.exposed_parts();
        let target = Target {
            fingerprint: &f.fingerprint,
            rule: &rule,
            secret: f.raw_secret.expose(),
            parts: &parts,
            known: None,
            admin: None,
        };
        let v = self.issuers.verify(&target).await;
        if let Some(v) = &v {
            self.st().apply(&Step::verified(
                &self.actor,
                &f.fingerprint,
                &f.rule_id,
                v,
                store::now(),
            ))?;
        }
        Ok(v)
    }
}
