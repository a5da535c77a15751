//! The durable store: what quench has found, what the issuers said, what it did about it, and
//! when. It is the memory that turns a scanner into something a security team can answer to:
//! findings and their locations, verdicts, revocation jobs and their attempts, an append-only
//! audit log, and each finding's exposure timeline.
//!
//! Everything goes through the [`Store`] trait so that a shared database
//! ([`postgres::PgStore`], `--store postgres://…`) can replace the embedded SQLite one
//! ([`sqlite::SqliteStore`]) without touching its callers. A store never
//! holds a secret in plaintext: pending revocation jobs keep theirs sealed ([`seal`]).

pub mod attribution;
pub mod copy;
pub mod exposure;
pub mod html;
pub mod location;
pub mod migrate;
#[doc(hidden)]
pub mod pgtest;
pub mod postgres;
pub mod record;
pub mod seal;
pub mod sqlite;
pub mod step;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;
pub use crate::finding::Status;

pub use location::{Backend, DataDir, StoreOptions, StoreSection};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use step::Step;

/// Timestamps are UTC; stored as RFC 3339 with milliseconds so that text order is time order.
pub type Time = DateTime<Utc>;

pub fn now() -> Time {
    Utc::now()
}

pub fn fmt_time(t: &Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_time(s: &str) -> Option<Time> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An issuer's answer about a secret (the verifier's own type).
pub use crate::verdict::Verdict as VerdictKind;

/// One verification result, with what the issuer revealed about the key's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: VerdictKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The issuer's id for the key, when it names one (admin revocation needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The issuer's regional site that answered live, when not its `api` (revocation goes
    /// there too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

impl Verdict {
    pub fn new(verdict: VerdictKind) -> Verdict {
        Verdict {
            verdict,
            reason: None,
            principal: None,
            org: None,
            project: None,
            key_id: None,
            scopes: vec![],
            http_status: None,
            site: None,
        }
    }

    /// What the store keeps of a verifier's answer.
    pub fn from_verification(v: &crate::verdict::Verification) -> Verdict {
        let r = &v.revealed;
        Verdict {
            verdict: v.verdict,
            reason: v.reason.clone(),
            principal: r.principal.clone(),
            org: r.org.clone(),
            project: r.project.clone(),
            key_id: r.key_id.clone(),
            scopes: r.scopes.clone(),
            http_status: v.http_status,
            site: r.site.clone(),
        }
    }
}

/// The moments that make a finding's exposure window. `first_exposed` is when the secret
/// became readable (its commit time, or the scan time when nothing older is known);
/// `confirmed_dead` is when a verification after revocation proved it dead.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub first_exposed: Option<Time>,
    pub detected: Option<Time>,
    pub verified: Option<Time>,
    pub revoke_requested: Option<Time>,
    pub confirmed_dead: Option<Time>,
    /// The first verification that found the key dead (whoever killed it). Not serialized as
    /// a timeline step: it only closes the window of a key quench never had to revoke.
    #[serde(skip)]
    pub found_dead: Option<Time>,
    /// When the key, recorded revoked or dead, answered live again: its current window opened
    /// then (the revocation marks above belong to this window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revived: Option<Time>,
    /// The exposure of the windows closed before the current one.
    #[serde(skip_serializing_if = "is_zero")]
    pub prior_exposure_ms: i64,
    /// How many exposure windows the key has had (1 until it is revived).
    pub windows: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What a revival of the finding in `f` records: the length of the exposure window that just
/// closed (from its opening — the last revival, else first exposure or detection — to the death
/// that closed it, else `at`), and the audit line. One rule for both backends.
pub fn revival(f: &StoredFinding, at: Time) -> (i64, String) {
    let t = &f.timeline;
    let opened = t.revived.or(t.first_exposed.min(t.detected).or(t.detected));
    let closed = t.closed_at(true).unwrap_or(at);
    let window_ms = opened.map_or(0, |o| (closed - o).num_milliseconds().max(0));
    let detail = format!(
        "the issuer answers live again for a key recorded {}; exposure window {} opens",
        f.status.as_str(),
        t.windows + 1
    );
    (window_ms, detail)
}

impl Timeline {
    /// When the exposure window closed: confirmed death after our revocation, else, for a key
    /// that is dead (`dead` says so), the verification that proved it dead. `None` while open.
    pub fn closed_at(&self, dead: bool) -> Option<Time> {
        self.confirmed_dead.or(if dead { self.found_dead } else { None })
    }

    /// Every window's exposure: the closed ones, and the current one from its opening (first
    /// exposure, or the revival) to its close; for a key still alive, up to `now`.
    pub fn exposure(&self, now: Time, dead: bool) -> Option<chrono::Duration> {
        let start = self.revived.or(self.first_exposed).or(self.detected)?;
        Some(
            chrono::Duration::milliseconds(self.prior_exposure_ms)
                + (self.closed_at(dead).unwrap_or(now) - start),
        )
    }

    /// From detection (or revival) to confirmed death: how fast quench closed the window it saw.
    pub fn time_to_revoke(&self) -> Option<chrono::Duration> {
        Some(self.confirmed_dead? - self.revived.or(self.detected)?)
    }
}

/// A finding as the store knows it: no secret, only its fingerprint and redacted preview.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub fingerprint: String,
    pub rule_id: String,
    pub rule_name: String,
    pub issuer: String,
    pub identity: String,
    pub severity: String,
    pub secret_redacted: String,
    pub status: Status,
    /// Who the key acts as (from verification): authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Who exposed it (the commit author): attribution, kept apart from the principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Owners of the first location's path in CODEOWNERS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// Where it was first seen (path:line).
    pub first_location: String,
    pub locations: u64,
    pub timeline: Timeline,
}

/// What a scan's findings did to the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recorded {
    pub new: usize,
    pub seen_again: usize,
    /// Findings of keys already revoked: recorded again, never revoked twice.
    pub already_revoked: usize,
    pub new_locations: usize,
}

/// Who exposed a finding, resolved before it is recorded.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    pub author: Option<String>,
    pub owners: Vec<String>,
}

/// Filters for [`Store::findings`]; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub status: Vec<Status>,
    pub rule: Option<String>,
    pub issuer: Option<String>,
    pub principal: Option<String>,
    pub fingerprint: Option<String>,
    pub since: Option<Time>,
}

/// What a revocation job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Waiting for `quench revoke --approve`.
    AwaitingApproval,
    /// Ready to run at `next_at` (possibly a retry).
    Queued,
    /// Claimed by a runner (process `owner`) until `lease_until`.
    Running,
    /// Revoked and confirmed dead (or found already dead): finished.
    Done,
    /// Dry-run: what would have been revoked is recorded; nothing was sent.
    DryRun,
    /// Given up: a human must act. The audit log and the notification say why.
    Escalated,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::AwaitingApproval => "awaiting-approval",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::DryRun => "dry-run",
            JobState::Escalated => "escalated",
        }
    }
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "awaiting-approval" => JobState::AwaitingApproval,
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dry-run" => JobState::DryRun,
            "escalated" => JobState::Escalated,
            _ => return None,
        })
    }
    /// Whether the job still has work to do (and so keeps its sealed secret).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobState::AwaitingApproval | JobState::Queued | JobState::Running
        )
    }
}

/// A revocation job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub fingerprint: String,
    pub rule_id: String,
    pub issuer: String,
    /// `auto`, `ask` or `dry-run`: the mode the policy chose.
    pub mode: String,
    /// The policy entry that chose it (`revoke.rules."github.pat-classic"`, `revoke.mode`…).
    pub policy_rule: String,
    pub state: JobState,
    /// How many times a runner has claimed it.
    pub attempts: u32,
    /// How many times the revoke call itself was sent.
    pub calls: u32,
    pub next_at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Time,
    pub updated_at: Time,
    /// `nonce || ciphertext` of the secret and its parts; `None` once the job is finished.
    #[serde(skip)]
    pub sealed: Option<Vec<u8>>,
}

/// A new job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub fingerprint: String,
    pub rule_id: String,
    pub issuer: String,
    pub mode: String,
    pub policy_rule: String,
    pub state: JobState,
    pub reason: Option<String>,
    pub sealed: Option<Vec<u8>>,
}

/// One try at a job, written before the issuer is called and completed after, so that a crash
/// in between is visible to the runner that resumes the job.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub job_id: i64,
    pub started_at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One line of the audit log: what was done, by whom, under which policy entry, when, and what
/// the issuer answered. Never a secret.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Time>,
    pub actor: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            ..Default::default()
        }
    }
    pub fn finding(mut self, fingerprint: &str, rule_id: &str) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self.rule_id = Some(rule_id.into());
        self
    }
    pub fn policy(mut self, rule: &str) -> Self {
        self.policy_rule = Some(rule.into());
        self
    }
    pub fn status(mut self, status: Option<u16>) -> Self {
        self.issuer_status = status;
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// The answer of [`Store::spend_budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Granted,
    /// Every request of the last hour is used; one frees at `next`.
    Spent {
        next: Time,
    },
    /// The issuer asked for a pause (429 `Retry-After`) that lasts until `until`.
    Held {
        until: Time,
    },
}

/// Timeline events a caller may set; each keeps its first value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Verified,
    RevokeRequested,
    ConfirmedDead,
}

/// The store's operations. Implementations must make each call atomic, and
/// [`Store::claim_job`] safe against concurrent runners.
pub trait Store: Send {
    /// Where the store lives, for messages.
    fn describe(&self) -> String;

    /// Records a scan's findings (new ones, new locations of known ones) with their attribution.
    fn record_findings(&mut self, findings: &[(&Finding, Attribution)], at: Time) -> Result<Recorded>;
    fn record_verdict(&mut self, fingerprint: &str, verdict: &Verdict, at: Time) -> Result<()>;
    fn verdicts(&self, fingerprint: &str) -> Result<Vec<(Time, Verdict)>>;
    fn set_status(&mut self, fingerprint: &str, status: Status) -> Result<()>;
    fn mark(&mut self, fingerprint: &str, event: Event, at: Time) -> Result<()>;
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>>;
    fn finding(&self, fingerprint: &str) -> Result<Option<StoredFinding>>;
    /// The distinct paths a finding was seen at, first seen first.
    fn location_paths(&self, fingerprint: &str) -> Result<Vec<String>>;

    /// Enqueues a job unless the finding already has an active one; returns the job's id and
    /// whether it is new.
    fn enqueue(&mut self, job: NewJob, at: Time) -> Result<(i64, bool)>;
    /// Claims the next due job for process `owner`, including jobs whose previous runner died
    /// (lease expired or owner process gone).
    fn claim_job(&mut self, owner: &str, at: Time, lease: chrono::Duration) -> Result<Option<Job>> {
        Ok(self.claim_jobs(owner, at, lease, 1)?.pop())
    }
    /// Claims up to `limit` due jobs at once, earliest due first (one transaction, so a runner
    /// starting many jobs does not pay a commit per job).
    fn claim_jobs(
        &mut self,
        owner: &str,
        at: Time,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<Job>>;
    /// Puts a claimed job back in the queue until `next_at` without counting the claim as an
    /// attempt: nothing was tried (an issuer's request budget was spent).
    fn defer_job(&mut self, id: i64, next_at: Time, reason: &str) -> Result<()>;
    fn jobs(&self, fingerprint: Option<&str>) -> Result<Vec<Job>>;
    /// Makes every queued job due at `at` (an operator's explicit run); returns how many.
    fn make_due(&mut self, at: Time) -> Result<usize>;
    /// When the earliest queued job is due, if any is queued.
    fn next_due(&self) -> Result<Option<Time>>;
    fn job(&self, id: i64) -> Result<Option<Job>>;
    /// Moves a job to `state`; finished states drop the sealed secret.
    fn update_job(&mut self, id: i64, state: JobState, next_at: Time, reason: Option<&str>) -> Result<()>;
    fn start_attempt(&mut self, job_id: i64, at: Time) -> Result<i64>;
    fn finish_attempt(
        &mut self,
        attempt_id: i64,
        at: Time,
        outcome: &str,
        http_status: Option<u16>,
        detail: Option<&str>,
    ) -> Result<()>;
    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>>;

    /// Keeps `reach` as the finding's latest enumeration (what its key can reach).
    fn record_reach(&mut self, fingerprint: &str, reach: &crate::reach::Reach, at: Time) -> Result<()>;
    /// The latest reach of one finding, or of every finding that has one.
    fn reaches(&self, fingerprint: Option<&str>) -> Result<Vec<(String, crate::reach::Reach)>>;

    fn audit(&mut self, entry: AuditEntry) -> Result<()>;
    fn audit_log(&self, fingerprint: Option<&str>) -> Result<Vec<AuditEntry>>;

    /// Spends one request of the hourly budget named `key` (`per_hour` requests in any sliding
    /// hour) at `at`, unless it is spent or held: then nothing is spent and the answer says
    /// when the next request may go. Atomic against other runners and processes on the store.
    fn spend_budget(&mut self, key: &str, per_hour: u32, at: Time) -> Result<Spend>;
    /// How many requests of budget `key` were spent in the hour before `at`.
    fn budget_spent(&self, key: &str, at: Time) -> Result<u32>;
    /// Holds every request under budget `key` until `until` (an issuer's 429 `Retry-After`).
    fn hold_budget(&mut self, key: &str, until: Time) -> Result<()>;

    /// Reserves the next send slot of the request rate named `key` — one request each
    /// `interval`, whoever sends — and returns how long from now its holder waits before
    /// sending. Atomic against other processes on the store; PostgreSQL keeps the slots in the
    /// database's clock, so hosts whose clocks differ still pace as one.
    fn pace(&mut self, key: &str, interval: std::time::Duration) -> Result<std::time::Duration>;
    /// Holds every slot of the rate `key` back until `hold` from now (an issuer's 429
    /// `Retry-After`, seen by one process, pauses them all).
    fn pace_hold(&mut self, key: &str, hold: std::time::Duration) -> Result<()>;

    /// Records `check` ([`seal::Sealer::key_check`]) as this store's key check unless one is
    /// recorded, and returns the recorded one. Every process sharing a database must hold the
    /// key its pending secrets are sealed with; comparing against the first key recorded
    /// refuses one that does not.
    fn key_check(&mut self, check: &[u8]) -> Result<Vec<u8>>;

    /// Runs `f` as one atomic unit: every write it makes commits together (or none does). Lets
    /// a writer that records many findings, verdicts and jobs pay one commit for all of them.
    fn batch(&mut self, f: &mut dyn FnMut(&mut dyn Store) -> Result<()>) -> Result<()>;

    /// Writes what one stage concluded about a finding and its job, all or nothing: the way
    /// the revocation runner and the operator commands change state (the single-row writes
    /// above are its parts).
    fn apply(&mut self, step: &Step) -> Result<()> {
        self.batch(&mut |st| {
            let fp = step.fingerprint.as_str();
            if let Some(a) = &step.attempt {
                st.finish_attempt(a.id, a.at, &a.outcome, a.http_status, a.detail.as_deref())?;
            }
            match &step.job {
                Some(step::JobChange::Move {
                    id,
                    state,
                    next_at,
                    reason,
                }) => st.update_job(*id, *state, *next_at, reason.as_deref())?,
                Some(step::JobChange::Defer { id, next_at, reason }) => {
                    st.defer_job(*id, *next_at, reason)?
                }
                None => {}
            }
            if let Some((v, at)) = &step.verdict {
                st.record_verdict(fp, v, *at)?;
            }
            for (e, at) in &step.events {
                st.mark(fp, *e, *at)?;
            }
            if let Some(s) = step.status {
                st.set_status(fp, s)?;
            }
            for a in &step.audit {
                st.audit(a.clone())?;
            }
            Ok(())
        })
    }
}

/// Refuses `sealer` unless its key is the one the store's pending secrets are sealed with (the
/// first key checked against the store, see [`Store::key_check`]).
pub fn check_key(st: &mut dyn Store, sealer: &seal::Sealer) -> Result<()> {
    let recorded = st.key_check(&sealer.key_check()?)?;
    if !sealer.matches(&recorded) {
        anyhow::bail!(
            "the store key ({} or the key file) is not the key of store {}: every process \
             sharing a store needs the same key to open its pending secrets",
            seal::STORE_KEY_ENV,
            st.describe()
        );
    }
    Ok(())
}

/// Opens the store a command should use: the SQLite file in its data directory, or the
/// database its URL names.
pub fn open(dir: &DataDir) -> Result<Box<dyn Store>> {
    open_backend(&dir.backend, dir.busy_timeout)
}

/// Opens the store in `backend` to bring its schema up to date on purpose (`quench store
/// migrate`); says what it applied.
pub fn migrate_backend(backend: &Backend, busy_timeout: std::time::Duration) -> Result<migrate::Migrated> {
    Ok(match backend {
        Backend::Sqlite(path) => SqliteStore::open_migrated(path, busy_timeout)?.1,
        Backend::Postgres(url) => PgStore::open_migrated(url)?.1,
    })
}

/// Opens (creating and migrating if needed) the store in `backend`.
pub fn open_backend(backend: &Backend, busy_timeout: std::time::Duration) -> Result<Box<dyn Store>> {
    Ok(match backend {
        Backend::Sqlite(path) => Box::new(SqliteStore::open(path, busy_timeout)?),
        Backend::Postgres(url) => Box::new(PgStore::open(url)?),
    })
}

/// The database file inside a data directory.
pub fn db_path(dir: &std::path::Path) -> PathBuf {
    dir.join("quench.db")
}
