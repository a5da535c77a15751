//! The durable delivery queue: a delivery is committed here before the service answers 202, and
//! a job claimed by a worker that never finished (crash, kill, restart) is handed out again at
//! start-up. Deliveries are keyed by their delivery id, so a redelivered webhook is recognised
//! rather than scanned twice.
//!
//! [`JobQueue`] is the seam for growing past one machine: the embedded [`SqliteQueue`] is the
//! zero-setup default, and the shared-database backend (several `quench serve` instances behind
//! a load balancer, `--store postgres://…`) is [`super::queue_pg::PgQueue`].

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::event::PushEvent;

/// How often a job is retried, and how long it waits between attempts.
///
/// The faults a job meets are mostly transient (a remote that does not answer for a minute, a
/// store locked by a long write, an issuer returning 5xx), so attempts are spread over
/// minutes with exponential backoff rather than spent at once; only then is the job parked as
/// `failed` with its last error, for `quench serve --retry-parked`. An attempt is counted when
/// the job is claimed, so a job that kills the process (a crash, an abort, the OOM killer)
/// uses its attempts too and cannot take the service down at every restart.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: i64,
    /// The wait after the first failure; it doubles after each further one.
    pub base: std::time::Duration,
    /// The longest wait between two attempts.
    pub max: std::time::Duration,
}

impl Default for Retry {
    /// 8 attempts over about 45 minutes: 30 s, 1, 2, 4, 8, then 15 minutes apart.
    fn default() -> Self {
        Retry {
            attempts: 8,
            base: std::time::Duration::from_secs(30),
            max: std::time::Duration::from_secs(15 * 60),
        }
    }
}

impl Retry {
    /// The wait before the attempt after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: i64) -> std::time::Duration {
        let doublings = attempt.saturating_sub(1).clamp(0, 30) as u32;
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// One queued delivery.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub delivery: String,
    pub event: PushEvent,
    pub attempts: i64,
}

/// What enqueueing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(i64),
    /// The delivery id was seen before; nothing was added.
    Duplicate(i64),
}

/// What a finished job produced; `findings` is the JSON of the (redacted) findings.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub findings_json: String,
    pub findings: usize,
    pub blobs_scanned: u64,
}

/// A delivery that used all its attempts and waits for `quench serve --retry-parked`: what
/// `quench findings` shows the operator, since its findings were never recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Parked {
    pub delivery: String,
    pub repo: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub after: String,
    pub attempts: i64,
    /// The last attempt's error (or why the job was parked).
    pub error: String,
    /// When it was parked (RFC 3339).
    pub parked_at: String,
}

impl Parked {
    /// One from a queue row; `event` is the stored normalised event (JSON).
    pub(super) fn from_row(
        delivery: String,
        event: &str,
        attempts: i64,
        error: Option<String>,
        at: String,
    ) -> Parked {
        let (repo, git_ref, after) = match serde_json::from_str::<PushEvent>(event) {
            Ok(e) => (e.repo, e.git_ref, e.after),
            Err(e) => (format!("(unreadable event: {e})"), String::new(), String::new()),
        };
        Parked {
            delivery,
            repo,
            git_ref,
            after,
            attempts,
            error: error.unwrap_or_default(),
            parked_at: at,
        }
    }
}

/// Counts by state, for `/metrics` and the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depth {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

pub trait JobQueue: Send + Sync {
    /// Durably records a delivery; returns only after it is committed.
    fn enqueue(&self, delivery: &str, event: &PushEvent) -> Result<Enqueued>;
    /// Takes the oldest queued job, marking it running and counting an attempt.
    fn claim(&self) -> Result<Option<Job>>;
    fn complete(&self, id: i64, result: &JobResult) -> Result<()>;
    /// Records a failure of the attempt in progress; the job is queued again, after its
    /// backoff, unless it has used its attempts.
    fn fail(&self, id: i64, error: &str) -> Result<()>;
    /// Queues every parked (`failed`) job again with fresh attempts; returns how many.
    fn retry_parked(&self) -> Result<u64>;
    /// Puts a running job back, giving back the attempt it was claimed with (graceful shutdown).
    fn release(&self, id: i64) -> Result<()>;
    /// At start-up: every job left running by a previous process is queued again, or parked
    /// with the reason if that process died on it at each of its attempts (a poisoned job).
    fn recover(&self) -> Result<u64>;
    fn depth(&self) -> Result<Depth>;
    /// Every parked (`failed`) job, oldest first.
    fn parked(&self) -> Result<Vec<Parked>>;
    /// The findings JSON of a finished delivery, if any.
    fn result(&self, delivery: &str) -> Result<Option<(String, String)>>;
}

/// The embedded default: one SQLite file in the data directory, in WAL mode so the HTTP handlers
/// and workers do not block each other's reads.
pub struct SqliteQueue {
    conn: Mutex<Connection>,
    retry: Retry,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS serve_jobs (
    id          INTEGER PRIMARY KEY,
    delivery    TEXT NOT NULL UNIQUE,
    event       TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS serve_jobs_state ON serve_jobs(state, id);
CREATE TABLE IF NOT EXISTS serve_results (
    job_id        INTEGER PRIMARY KEY REFERENCES serve_jobs(id),
    findings      INTEGER NOT NULL,
    blobs_scanned INTEGER NOT NULL,
    findings_json TEXT NOT NULL,
    finished_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
";

impl SqliteQueue {
    /// Opens (creating) `queue.db` in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteQueue> {
        crate::store::location::private_dir(dir)?;
        let path = dir.join("queue.db");
        crate::store::location::private_file(&path)?;
        let conn = Connection::open(&path).with_context(|| format!("opening queue {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(10)))
            .and_then(|_| conn.execute_batch(SCHEMA))
            .and_then(|_| migrate(&conn))
            .with_context(|| format!("preparing queue {}", path.display()))?;
        Ok(SqliteQueue {
            conn: Mutex::new(conn),
            retry: Retry::default(),
        })
    }

    /// The same queue with another retry policy.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Columns later versions added: when a queued job may next be claimed (unix seconds), and
/// the payload's own identity (see [`push_identity`]).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let mut have = Vec::new();
    {
        let mut stmt = conn.prepare("PRAGMA table_info(serve_jobs)")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(1))?;
        for r in rows {
            have.push(r?);
        }
    }
    if !have.iter().any(|c| c == "not_before") {
        conn.execute_batch("ALTER TABLE serve_jobs ADD COLUMN not_before REAL NOT NULL DEFAULT 0")?;
    }
    if !have.iter().any(|c| c == "identity") {
        conn.execute_batch("ALTER TABLE serve_jobs ADD COLUMN identity TEXT")?;
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS serve_jobs_identity ON serve_jobs(identity)")
}

/// What a push payload itself says it is: repository, ref, and the commits before and after.
/// The delivery id is a header the signature does not cover, so a replayed body under a new
/// id is recognised by this instead.
pub fn push_identity(event: &PushEvent) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        event.provider, event.repo, event.git_ref, event.before, event.after
    )
}

fn now() -> f64 {
    super::now_secs()
}

impl JobQueue for SqliteQueue {
    fn enqueue(&self, delivery: &str, event: &PushEvent) -> Result<Enqueued> {
        let json = serde_json::to_string(event)?;
        let identity = push_identity(event);
        let mut c = self.conn();
        let tx = c.transaction()?;
        let replay: Option<i64> = tx
            .query_row(
                "SELECT id FROM serve_jobs WHERE identity = ?1 AND delivery <> ?2 ORDER BY id LIMIT 1",
                params![identity, delivery],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = replay {
            return Ok(Enqueued::Duplicate(id));
        }
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO serve_jobs (delivery, event, identity) VALUES (?1, ?2, ?3)",
                params![delivery, json, identity],
            )
            .context("recording delivery")?;
        let id: i64 = tx
            .query_row("SELECT id FROM serve_jobs WHERE delivery = ?1", [delivery], |r| {
                r.get(0)
            })
            .context("reading delivery back")?;
        tx.commit()?;
        Ok(if n == 1 {
            Enqueued::New(id)
        } else {
            Enqueued::Duplicate(id)
        })
    }

    fn claim(&self) -> Result<Option<Job>> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let row = tx
            .query_row(
                "SELECT id, delivery, event, attempts FROM serve_jobs
                 WHERE state = 'queued' AND not_before <= ?1 ORDER BY id LIMIT 1",
                [now()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, delivery, event, attempts)) = row else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE serve_jobs SET state = 'running', attempts = attempts + 1,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
            [id],
        )?;
        tx.commit()?;
        let event: PushEvent =
            serde_json::from_str(&event).with_context(|| format!("job {id}: stored event is unreadable"))?;
        Ok(Some(Job {
            id,
            delivery,
            event,
            attempts: attempts + 1,
        }))
    }

    fn complete(&self, id: i64, result: &JobResult) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO serve_results (job_id, findings, blobs_scanned, findings_json) VALUES (?1, ?2, ?3, ?4)",
            params![id, result.findings as i64, result.blobs_scanned as i64, result.findings_json],
        )?;
        tx.execute(
            "UPDATE serve_jobs SET state = 'done', error = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
            [id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn fail(&self, id: i64, error: &str) -> Result<()> {
        let c = self.conn();
        let attempts: i64 = c.query_row("SELECT attempts FROM serve_jobs WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
        let not_before = now() + self.retry.delay(attempts).as_secs_f64();
        c.execute(
            "UPDATE serve_jobs SET error = ?2,
                 state = CASE WHEN attempts >= ?3 THEN 'failed' ELSE 'queued' END,
                 not_before = ?4,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
             WHERE id = ?1",
            params![id, error, self.retry.attempts, not_before],
        )?;
        Ok(())
    }

    fn retry_parked(&self) -> Result<u64> {
        let n = self.conn().execute(
            "UPDATE serve_jobs SET state = 'queued', attempts = 0, not_before = 0,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
             WHERE state = 'failed'",
            [],
        )?;
        Ok(n as u64)
    }

    fn release(&self, id: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE serve_jobs SET state = 'queued', attempts = MAX(attempts - 1, 0)
             WHERE id = ?1 AND state = 'running'",
            [id],
        )?;
        Ok(())
    }

    fn recover(&self) -> Result<u64> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "UPDATE serve_jobs SET state = 'failed',
                 error = 'the service stopped while scanning this job, on each of its ' || attempts ||
                         ' attempt(s) (a crash, an abort or a kill): parked so that it cannot stop the service again'
                         || COALESCE('; last error: ' || error, ''),
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
             WHERE state = 'running' AND attempts >= ?1",
            [self.retry.attempts],
        )?;
        let n = tx.execute(
            "UPDATE serve_jobs SET state = 'queued' WHERE state = 'running'",
            [],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    fn depth(&self) -> Result<Depth> {
        let c = self.conn();
        let mut stmt = c.prepare_cached("SELECT state, COUNT(*) FROM serve_jobs GROUP BY state")?;
        let mut d = Depth::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = n as u64;
            match state.as_str() {
                "queued" => d.queued = n,
                "running" => d.running = n,
                "done" => d.done = n,
                "failed" => d.failed = n,
                _ => {}
            }
        }
        Ok(d)
    }

    fn parked(&self) -> Result<Vec<Parked>> {
        let c = self.conn();
        let mut stmt = c.prepare_cached(
            "SELECT delivery, event, attempts, error, updated_at FROM serve_jobs
             WHERE state = 'failed' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Parked::from_row(
                r.get(0)?,
                &r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn result(&self, delivery: &str) -> Result<Option<(String, String)>> {
        let c = self.conn();
        let row = c
            .query_row(
                "SELECT j.state, COALESCE(r.findings_json, '[]') FROM serve_jobs j
                 LEFT JOIN serve_results r ON r.job_id = j.id WHERE j.delivery = ?1",
                [delivery],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PushEvent {
        PushEvent {
            provider: "github".into(),
            remote: "/srv/r.git".into(),
            repo: "r".into(),
            git_ref: "refs/heads/main".into(),
            before: "0".repeat(40),
            after: "a".repeat(40),
            forced: false,
            received_at: 1.0,
        }
    }

    #[test]
    fn duplicate_deliveries_are_recognised_and_running_jobs_recover() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap();
        let Enqueued::New(id) = q.enqueue("d1", &event()).unwrap() else {
            panic!("not new")
        };
        assert_eq!(q.enqueue("d1", &event()).unwrap(), Enqueued::Duplicate(id));
        let job = q.claim().unwrap().unwrap();
        assert_eq!(job.event, event());
        assert!(q.claim().unwrap().is_none());
        drop(q);
        // A new process (a restart after a crash) finds the job running and queues it again.
        let q = SqliteQueue::open(dir.path()).unwrap();
        assert_eq!(q.recover().unwrap(), 1);
        assert_eq!(q.claim().unwrap().unwrap().id, id);
    }

    /// Retries with no wait, for tests of what happens between attempts.
    const NOW: Retry = Retry {
        attempts: 3,
        base: std::time::Duration::ZERO,
        max: std::time::Duration::ZERO,
    };

    #[test]
    fn failures_retry_then_park_and_can_be_retried() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap().with_retry(NOW);
        q.enqueue("d", &event()).unwrap();
        for _ in 0..NOW.attempts {
            let j = q.claim().unwrap().unwrap();
            q.fail(j.id, "boom").unwrap();
        }
        assert!(q.claim().unwrap().is_none());
        assert_eq!(q.depth().unwrap().failed, 1);
        assert_eq!(q.retry_parked().unwrap(), 1);
        assert_eq!(q.claim().unwrap().unwrap().attempts, 1, "fresh attempts");
    }

    #[test]
    fn a_failed_attempt_waits_its_backoff_before_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap();
        q.enqueue("d", &event()).unwrap();
        let j = q.claim().unwrap().unwrap();
        q.fail(j.id, "fetch failed").unwrap();
        assert!(q.claim().unwrap().is_none(), "not before its backoff");
        assert_eq!(q.depth().unwrap().queued, 1, "still queued, not parked");
        let r = Retry::default();
        assert_eq!(r.delay(1).as_secs(), 30);
        assert_eq!(r.delay(2).as_secs(), 60);
        assert_eq!(r.delay(7).as_secs(), 15 * 60);
        let total: u64 = (1..r.attempts).map(|a| r.delay(a).as_secs()).sum();
        assert!(total >= 30 * 60, "attempts spread over minutes: {total} s");
    }

    #[test]
    fn a_replayed_payload_under_a_new_delivery_id_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap();
        let Enqueued::New(id) = q.enqueue("d1", &event()).unwrap() else {
            panic!("not new")
        };
        assert_eq!(q.enqueue("d2", &event()).unwrap(), Enqueued::Duplicate(id));
        let mut other = event();
        other.after = "b".repeat(40);
        assert!(matches!(q.enqueue("d3", &other).unwrap(), Enqueued::New(_)));
    }

    #[test]
    fn a_job_the_process_dies_on_uses_its_attempts_and_is_parked_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        SqliteQueue::open(dir.path())
            .unwrap()
            .enqueue("poison", &event())
            .unwrap();
        // Each "process" claims the job and dies without recording anything.
        for _ in 0..Retry::default().attempts {
            let q = SqliteQueue::open(dir.path()).unwrap();
            q.recover().unwrap();
            assert_eq!(q.claim().unwrap().unwrap().delivery, "poison");
        }
        let q = SqliteQueue::open(dir.path()).unwrap();
        assert_eq!(q.recover().unwrap(), 0, "not handed out again");
        assert!(q.claim().unwrap().is_none());
        assert_eq!(q.depth().unwrap().failed, 1);
        let error: String = q
            .conn()
            .query_row("SELECT error FROM serve_jobs", [], |r| r.get(0))
            .unwrap();
        assert!(error.contains("stopped while scanning"), "{error}");
    }

    #[test]
    fn a_graceful_release_does_not_count_an_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap();
        q.enqueue("d", &event()).unwrap();
        for _ in 0..Retry::default().attempts + 2 {
            let j = q.claim().unwrap().unwrap();
            assert_eq!(j.attempts, 1);
            q.release(j.id).unwrap();
        }
    }
}
