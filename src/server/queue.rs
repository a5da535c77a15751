//! The durable delivery queue: a delivery is committed here before the service answers 202, and
//! a job claimed by a worker that never finished (crash, kill, restart) is handed out again at
//! start-up. Deliveries are keyed by their delivery id, so a redelivered webhook is recognised
//! rather than scanned twice.
//!
//! [`JobQueue`] is the seam for growing past one machine: the embedded [`SqliteQueue`] is the
//! zero-setup default, and a shared-database backend (several `quench serve` instances behind a
//! load balancer) implements the same trait with `SELECT … FOR UPDATE SKIP LOCKED` or similar.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::event::PushEvent;

/// How often a job may fail (fetch errors, corrupt mirror) before it is parked as `failed`.
/// An attempt is counted when the job is claimed, so a job that kills the process (a crash, an
/// abort, the OOM killer) uses its attempts too and cannot take the service down at every
/// restart.
pub const MAX_ATTEMPTS: i64 = 3;

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
    /// Records a failure of the attempt in progress; the job is queued again unless it has used
    /// its attempts.
    fn fail(&self, id: i64, error: &str) -> Result<()>;
    /// Puts a running job back, giving back the attempt it was claimed with (graceful shutdown).
    fn release(&self, id: i64) -> Result<()>;
    /// At start-up: every job left running by a previous process is queued again, or parked
    /// with the reason if that process died on it at each of its attempts (a poisoned job).
    fn recover(&self) -> Result<u64>;
    fn depth(&self) -> Result<Depth>;
    /// The findings JSON of a finished delivery, if any.
    fn result(&self, delivery: &str) -> Result<Option<(String, String)>>;
}

/// The embedded default: one SQLite file in the data directory, in WAL mode so the HTTP handlers
/// and workers do not block each other's reads.
pub struct SqliteQueue {
    conn: Mutex<Connection>,
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
            .with_context(|| format!("preparing queue {}", path.display()))?;
        Ok(SqliteQueue {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl JobQueue for SqliteQueue {
    fn enqueue(&self, delivery: &str, event: &PushEvent) -> Result<Enqueued> {
        let json = serde_json::to_string(event)?;
        let c = self.conn();
        let n = c
            .execute(
                "INSERT OR IGNORE INTO serve_jobs (delivery, event) VALUES (?1, ?2)",
                params![delivery, json],
            )
            .context("recording delivery")?;
        let id: i64 = c
            .query_row("SELECT id FROM serve_jobs WHERE delivery = ?1", [delivery], |r| {
                r.get(0)
            })
            .context("reading delivery back")?;
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
                "SELECT id, delivery, event, attempts FROM serve_jobs WHERE state = 'queued' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
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
        self.conn().execute(
            "UPDATE serve_jobs SET error = ?2,
                 state = CASE WHEN attempts >= ?3 THEN 'failed' ELSE 'queued' END,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
             WHERE id = ?1",
            params![id, error, MAX_ATTEMPTS],
        )?;
        Ok(())
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
            [MAX_ATTEMPTS],
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

    #[test]
    fn failures_retry_then_park() {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(dir.path()).unwrap();
        q.enqueue("d", &event()).unwrap();
        for _ in 0..MAX_ATTEMPTS {
            let j = q.claim().unwrap().unwrap();
            q.fail(j.id, "boom").unwrap();
        }
        assert!(q.claim().unwrap().is_none());
        assert_eq!(q.depth().unwrap().failed, 1);
    }

    #[test]
    fn a_job_the_process_dies_on_uses_its_attempts_and_is_parked_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        SqliteQueue::open(dir.path())
            .unwrap()
            .enqueue("poison", &event())
            .unwrap();
        // Each "process" claims the job and dies without recording anything.
        for _ in 0..MAX_ATTEMPTS {
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
        for _ in 0..MAX_ATTEMPTS + 2 {
            let j = q.claim().unwrap().unwrap();
            assert_eq!(j.attempts, 1);
            q.release(j.id).unwrap();
        }
    }
}
