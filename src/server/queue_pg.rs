//! The delivery queue on the shared PostgreSQL store, for several `quench serve` processes
//! behind one load balancer (`--store postgres://…`).
//!
//! What one process's SQLite queue gets from being alone, a shared queue gets from leases: a
//! claim (`FOR UPDATE SKIP LOCKED`, so two workers never take one job) holds the job until
//! `lease_until`, and a thread of the claiming process renews the leases of its running jobs
//! while it lives. A process that dies (crash, `kill -9`) stops renewing; when its leases run
//! out, any other process claims those jobs. So start-up recovery only frees expired leases: a
//! process starting must not take back jobs that live processes are running. Lease times are
//! the database's clock, so hosts need not agree on the time. A redelivery reaching another
//! process meets the same `delivery` key and is recognised.
//!
//! Only the jobs a worker is still running are renewed: once a worker has finished a job and
//! tries to record that (`complete`, `fail`, `release`), its lease is left to run out. If the
//! database is unreachable then (a restart) and stays so, the job is not held for ever by a
//! process that can no longer settle it: another claim takes it and runs it again, which the
//! store's idempotent steps allow. A settle arriving after such a takeover changes nothing,
//! since it names its owner (a fencing condition), and the new owner finishes the job.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use postgres::Client;

use super::event::PushEvent;
use super::queue::{Depth, Enqueued, Job, JobQueue, JobResult, Parked, Retry};
use crate::store::postgres::{connect, lost_connection, off_runtime, redact};

/// The queue's tables, created under an advisory lock so that processes starting at once do
/// not race on them.
const SCHEMA: &str = include_str!("queue_pg.sql");

/// A constant advisory-lock key for creating the queue's tables.
const SCHEMA_LOCK: i64 = 0x7175_656e_6368_0002;

/// How long a claim holds a job unless renewed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

pub struct PgQueue {
    /// The connection, and whether a call on it met a lost connection.
    conn: Mutex<Option<(Client, bool)>>,
    label: String,
    /// For reconnecting after the server closed the connection (held in memory only).
    url: String,
    /// This process's name on its claims: host, process id and a random part, unique across
    /// hosts and restarts.
    owner: String,
    lease: Duration,
    /// The jobs this process's workers are running now: the only ones the renewer renews.
    held: Arc<Mutex<HashSet<i64>>>,
    stop: Arc<AtomicBool>,
    retry: Retry,
}

impl PgQueue {
    pub fn open(url: &str) -> Result<PgQueue> {
        Self::open_with_lease(url, DEFAULT_LEASE)
    }

    /// The same queue with another retry policy (`[serve] retry_*`).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// [`PgQueue::open`] with a lease of `lease` (renewed every third of it).
    pub fn open_with_lease(url: &str, lease: Duration) -> Result<PgQueue> {
        let label = redact(url);
        let mut client = connect(url)?;
        off_runtime(|| -> Result<()> {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            tx.batch_execute(SCHEMA)?;
            tx.commit()?;
            Ok(())
        })
        .with_context(|| format!("preparing the delivery queue in {label}"))?;
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let owner = format!(
            "{}:{}:{:08x}",
            host.trim(),
            std::process::id(),
            rand::random::<u32>()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = connect(url)?;
        let q = PgQueue {
            conn: Mutex::new(Some((client, false))),
            label,
            url: url.to_string(),
            owner,
            lease,
            held: Arc::default(),
            stop: stop.clone(),
            retry: Retry::default(),
        };
        q.start_renewing(renewer, stop);
        Ok(q)
    }

    /// Renews this process's leases every third of the lease, on a connection of its own, until
    /// the queue is dropped (or the process dies, which is the point).
    fn start_renewing(&self, mut client: Client, stop: Arc<AtomicBool>) {
        let (owner, secs) = (self.owner.clone(), self.lease.as_secs_f64());
        let url = self.url.clone();
        let held = self.held.clone();
        let every = self.lease / 3;
        std::thread::Builder::new()
            .name("quench-lease".into())
            .spawn(move || {
                // Short naps, so that a dropped queue's renewer ends soon after.
                let tick = every.min(Duration::from_millis(100));
                let mut last = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if last.elapsed() < every {
                        continue;
                    }
                    last = std::time::Instant::now();
                    if client.is_closed() {
                        match connect(&url) {
                            Ok(c) => client = c,
                            Err(_) => continue,
                        }
                    }
                    let ids: Vec<i64> = held
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                        .copied()
                        .collect();
                    if ids.is_empty() {
                        continue;
                    }
                    let _ = client.execute(
                        "UPDATE serve_jobs SET lease_until = now() + make_interval(secs => $2)
                         WHERE owner = $1 AND state = 'running' AND id = ANY($3)",
                        &[&owner, &secs, &ids],
                    );
                }
            })
            .expect("spawn the lease renewer");
    }

    /// Runs `f` on the connection, replacing one the server closed first (see `PgStore::run`:
    /// the call that met it failed, and the worker retries the job).
    fn with<T: Send>(&self, what: &str, f: impl FnOnce(&mut Client) -> Result<T> + Send) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let (client, broken) = guard.as_mut().expect("the connection is there until drop");
        if *broken || client.is_closed() {
            let old = std::mem::replace(client, connect(&self.url)?);
            *broken = false;
            off_runtime(move || drop(old));
        }
        let r = off_runtime(|| f(client));
        if r.as_ref().is_err_and(lost_connection) {
            *broken = true;
        }
        r.with_context(|| format!("delivery queue in {}: {what}", self.label))
    }

    /// This process stops holding job `id`: its lease is no longer renewed.
    fn let_go(&self, id: i64) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}

impl Drop for PgQueue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        off_runtime(move || drop(conn));
    }
}

/// Whether `owner` still holds job `id`, locking its row until the caller's statement (or
/// transaction) ends, so that no takeover slips in between the check and the write.
fn owns(c: &mut impl postgres::GenericClient, id: i64, owner: &str) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM serve_jobs WHERE id = $1 AND state = 'running' AND owner = $2
             FOR UPDATE",
        &[&id, &owner],
    )?
    .is_some())
}

impl JobQueue for PgQueue {
    fn enqueue(&self, delivery: &str, event: &PushEvent) -> Result<Enqueued> {
        let json = serde_json::to_string(event)?;
        self.with("recording delivery", |c| {
            let new = c.query_opt(
                "INSERT INTO serve_jobs (delivery, event) VALUES ($1, $2)
                 ON CONFLICT (delivery) DO NOTHING RETURNING id",
                &[&delivery, &json],
            )?;
            if let Some(r) = new {
                return Ok(Enqueued::New(r.get(0)));
            }
            let r = c.query_one("SELECT id FROM serve_jobs WHERE delivery = $1", &[&delivery])?;
            Ok(Enqueued::Duplicate(r.get(0)))
        })
    }

    /// The oldest job that is queued, or running under a lease that ran out (its process died).
    /// A takeover counts the dead process's try as an attempt, so a delivery that kills every
    /// process taking it is parked as `failed` after its attempts instead of going round.
    fn claim(&self) -> Result<Option<Job>> {
        let (owner, secs) = (self.owner.clone(), self.lease.as_secs_f64());
        let max_attempts = self.retry.attempts;
        let row = self.with("claiming a job", move |c| {
            c.execute(
                "UPDATE serve_jobs SET state = 'failed', attempts = attempts + 1, owner = NULL,
                    lease_until = NULL, updated_at = now(),
                    error = 'the process running it stopped without finishing, ' || (attempts + 1) || ' times'
                 WHERE state = 'running' AND lease_until < now() AND attempts + 1 >= $1",
                &[&max_attempts],
            )?;
            Ok(c.query_opt(
                "UPDATE serve_jobs SET state = 'running', owner = $1,
                    attempts = attempts + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
                    lease_until = now() + make_interval(secs => $2), updated_at = now()
                 WHERE id = (SELECT id FROM serve_jobs
                             WHERE (state = 'queued' AND not_before <= extract(epoch FROM now()))
                                OR (state = 'running' AND lease_until < now())
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, delivery, event, attempts",
                &[&owner, &secs],
            )?)
        })?;
        let Some(r) = row else { return Ok(None) };
        let id: i64 = r.get(0);
        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        let event: PushEvent = serde_json::from_str(r.get::<_, &str>(2))
            .with_context(|| format!("job {id}: stored event is unreadable"))?;
        Ok(Some(Job {
            id,
            delivery: r.get(1),
            event,
            attempts: r.get(3),
        }))
    }

    fn complete(&self, id: i64, result: &JobResult) -> Result<()> {
        let (n, blobs) = (result.findings as i64, result.blobs_scanned as i64);
        let json = result.findings_json.clone();
        self.let_go(id);
        let owner = self.owner.clone();
        self.with("completing a job", move |c| {
            let mut tx = c.transaction()?;
            // Another process took the job over (this one's lease ran out while it could not
            // reach the database): that one finishes it.
            if !owns(&mut tx, id, &owner)? {
                return Ok(());
            }
            tx.execute(
                "INSERT INTO serve_results (job_id, findings, blobs_scanned, findings_json)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (job_id) DO UPDATE SET findings = excluded.findings,
                    blobs_scanned = excluded.blobs_scanned, findings_json = excluded.findings_json,
                    finished_at = now()",
                &[&id, &n, &blobs, &json],
            )?;
            tx.execute(
                "UPDATE serve_jobs SET state = 'done', error = NULL, owner = NULL, lease_until = NULL,
                    updated_at = now() WHERE id = $1",
                &[&id],
            )?;
            Ok(tx.commit()?)
        })
    }

    fn fail(&self, id: i64, error: &str) -> Result<()> {
        let retry = self.retry;
        self.let_go(id);
        let owner = self.owner.clone();
        self.with("recording a failure", move |c| {
            let mut tx = c.transaction()?;
            if !owns(&mut tx, id, &owner)? {
                return Ok(());
            }
            let attempts: i64 = tx
                .query_opt("SELECT attempts FROM serve_jobs WHERE id = $1", &[&id])?
                .map_or(0, |r| r.get(0));
            let wait = retry.delay(attempts + 1).as_secs_f64();
            tx.execute(
                "UPDATE serve_jobs SET attempts = attempts + 1, error = $2, owner = NULL, lease_until = NULL,
                    state = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'queued' END,
                    not_before = extract(epoch FROM now())::float8 + $4::float8,
                    updated_at = now()
                 WHERE id = $1",
                &[&id, &error, &retry.attempts, &wait],
            )?;
            Ok(tx.commit()?)
        })
    }

    fn retry_parked(&self) -> Result<u64> {
        self.with("queueing parked jobs again", |c| {
            Ok(c.execute(
                "UPDATE serve_jobs SET state = 'queued', attempts = 0, not_before = 0, updated_at = now()
                 WHERE state = 'failed'",
                &[],
            )?)
        })
    }

    fn release(&self, id: i64) -> Result<()> {
        let owner = self.owner.clone();
        self.let_go(id);
        self.with("releasing a job", move |c| {
            c.execute(
                "UPDATE serve_jobs SET state = 'queued', owner = NULL, lease_until = NULL
                 WHERE id = $1 AND state = 'running' AND owner = $2",
                &[&id, &owner],
            )?;
            Ok(())
        })
    }

    /// Frees only jobs whose lease ran out: the others belong to processes still running them.
    fn recover(&self) -> Result<u64> {
        self.with("recovering jobs", |c| {
            Ok(c.execute(
                "UPDATE serve_jobs SET state = 'queued', owner = NULL, lease_until = NULL
                 WHERE state = 'running' AND lease_until < now()",
                &[],
            )?)
        })
    }

    fn depth(&self) -> Result<Depth> {
        let rows = self.with("counting jobs", |c| {
            Ok(c.query("SELECT state, COUNT(*) FROM serve_jobs GROUP BY state", &[])?)
        })?;
        let mut d = Depth::default();
        for r in rows {
            let n = r.get::<_, i64>(1).max(0) as u64;
            match r.get::<_, &str>(0) {
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
        let rows = self.with("listing parked jobs", |c| {
            Ok(c.query(
                "SELECT delivery, event, attempts, error,
                        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                 FROM serve_jobs WHERE state = 'failed' ORDER BY id",
                &[],
            )?)
        })?;
        Ok(rows
            .iter()
            .map(|r| Parked::from_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    fn result(&self, delivery: &str) -> Result<Option<(String, String)>> {
        self.with("reading a result", move |c| {
            Ok(c.query_opt(
                "SELECT j.state, COALESCE(r.findings_json, '[]') FROM serve_jobs j
                 LEFT JOIN serve_results r ON r.job_id = j.id WHERE j.delivery = $1",
                &[&delivery],
            )?
            .map(|r| (r.get(0), r.get(1))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pgtest::ScratchDb;

    fn event(n: usize) -> PushEvent {
        PushEvent {
            provider: "github".into(),
            remote: "/srv/r.git".into(),
            repo: "r".into(),
            git_ref: "refs/heads/main".into(),
            before: "0".repeat(40),
            after: format!("{n:040x}"),
            forced: false,
            received_at: 1.0,
        }
    }

    /// Two processes' queues on one database: a redelivery to the other is a duplicate, and
    /// claims racing from both hand each job out once.
    #[test]
    fn two_processes_share_deliveries_and_never_claim_one_job_twice() {
        let db = ScratchDb::require();
        let (a, b) = (PgQueue::open(&db.url).unwrap(), PgQueue::open(&db.url).unwrap());
        let Enqueued::New(id) = a.enqueue("d0", &event(0)).unwrap() else {
            panic!("not new")
        };
        assert_eq!(b.enqueue("d0", &event(0)).unwrap(), Enqueued::Duplicate(id));
        for n in 1..40 {
            b.enqueue(&format!("d{n}"), &event(n)).unwrap();
        }
        let claimed = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for q in [&a, &b, &a, &b] {
                let claimed = &claimed;
                s.spawn(move || {
                    while let Some(j) = q.claim().unwrap() {
                        claimed.lock().unwrap().push(j.id);
                        q.complete(
                            j.id,
                            &JobResult {
                                findings_json: "[]".into(),
                                findings: 0,
                                blobs_scanned: 0,
                            },
                        )
                        .unwrap();
                    }
                });
            }
        });
        let mut ids = claimed.into_inner().unwrap();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!((n, ids.len()), (40, 40));
        assert_eq!(a.depth().unwrap().done, 40);
        assert_eq!(b.result("d7").unwrap().unwrap().0, "done");
    }

    /// A process that dies mid-job stops renewing its lease; when it runs out another process
    /// takes the job. A live process's leases are renewed: nobody takes its job, and a process
    /// starting up does not take it back either.
    #[test]
    fn a_dead_process_loses_its_lease_and_a_live_one_keeps_it() {
        let db = ScratchDb::require();
        let lease = Duration::from_millis(600);
        let live = PgQueue::open_with_lease(&db.url, lease).unwrap();
        let other = PgQueue::open_with_lease(&db.url, lease).unwrap();
        live.enqueue("kept", &event(1)).unwrap();
        let kept = live.claim().unwrap().unwrap();
        std::thread::sleep(lease * 2);
        let starting = PgQueue::open_with_lease(&db.url, lease).unwrap();
        assert_eq!(
            starting.recover().unwrap(),
            0,
            "a start-up took a live process's job"
        );
        assert!(other.claim().unwrap().is_none(), "a renewed lease was taken");

        // "kill -9": the renewer stops with the queue, the claim stays as it was.
        let dying = PgQueue::open_with_lease(&db.url, lease).unwrap();
        dying.enqueue("orphan", &event(2)).unwrap();
        let orphan = dying.claim().unwrap().unwrap();
        drop(dying);
        assert!(other.claim().unwrap().is_none(), "taken before the lease ran out");
        std::thread::sleep(lease + Duration::from_millis(200));
        let taken = other.claim().unwrap().expect("the orphan is handed out again");
        assert_eq!(taken.id, orphan.id);
        assert_ne!(taken.id, kept.id);
    }

    /// A cut connection (a database restart) fails one call; the next reconnects, and the job
    /// queued before is still there.
    #[test]
    fn a_cut_connection_loses_nothing() {
        let db = ScratchDb::require();
        let q = PgQueue::open(&db.url).unwrap();
        q.enqueue("before", &event(1)).unwrap();
        assert!(db.cut_connections() >= 1);
        assert!(
            q.enqueue("after", &event(2)).is_err(),
            "a call on a cut connection succeeded"
        );
        q.enqueue("after", &event(2)).unwrap();
        let mut got = Vec::new();
        while let Some(j) = q.claim().unwrap() {
            got.push(j.delivery);
        }
        assert_eq!(got, ["before", "after"]);
    }

    /// A failed attempt is recorded and the job handed out again after its backoff, then
    /// parked after its last attempt. (`extract` gives `numeric`: the wait, an `f64`, was once
    /// refused there, and every failure stayed unrecorded.)
    #[test]
    fn a_failed_job_is_tried_again_then_parked() {
        let db = ScratchDb::require();
        let q = PgQueue::open(&db.url).unwrap().with_retry(Retry {
            attempts: 2,
            base: Duration::ZERO,
            max: Duration::ZERO,
        });
        q.enqueue("flaky", &event(3)).unwrap();
        let first = q.claim().unwrap().unwrap();
        q.fail(first.id, "the remote did not answer").unwrap();
        let again = q.claim().unwrap().expect("queued again after the failure");
        assert_eq!((again.id, again.attempts), (first.id, 1));
        q.fail(again.id, "the remote did not answer").unwrap();
        assert!(q.claim().unwrap().is_none(), "tried past its attempts");
        assert_eq!(q.depth().unwrap().failed, 1);
    }

    /// A worker that lost its lease (it could not reach the database for longer than the
    /// lease) settles nothing: the process that took the job over finishes it. Leases are
    /// renewed only while a job is held, so one whose settle failed is not held for ever.
    #[test]
    fn a_settle_after_a_takeover_changes_nothing_and_a_settled_job_is_not_renewed() {
        let db = ScratchDb::require();
        let lease = Duration::from_millis(600);
        let (a, b) = (
            PgQueue::open_with_lease(&db.url, lease).unwrap(),
            PgQueue::open_with_lease(&db.url, lease).unwrap(),
        );
        a.enqueue("d", &event(4)).unwrap();
        let j = a.claim().unwrap().unwrap();
        a.let_go(j.id); // as a settle that could not reach the database does
        std::thread::sleep(lease * 2);
        let taken = b.claim().unwrap().expect("a job let go is taken over");
        assert_eq!(taken.id, j.id);
        a.fail(j.id, "late").unwrap();
        let result = JobResult {
            findings_json: "[]".into(),
            findings: 0,
            blobs_scanned: 0,
        };
        a.complete(j.id, &result).unwrap();
        let d = b.depth().unwrap();
        assert_eq!(
            (d.running, d.done, d.queued),
            (1, 0, 0),
            "a stale settle took effect"
        );
        b.complete(j.id, &result).unwrap();
        assert_eq!(b.result("d").unwrap().unwrap().0, "done");
    }

    /// A delivery whose process dies every time it is taken is parked after its attempts.
    #[test]
    fn a_delivery_that_kills_its_process_every_time_is_parked() {
        let db = ScratchDb::require();
        let lease = Duration::from_millis(300);
        PgQueue::open_with_lease(&db.url, lease)
            .unwrap()
            .enqueue("poison", &event(9))
            .unwrap();
        for round in 0..Retry::default().attempts {
            let dying = PgQueue::open_with_lease(&db.url, lease).unwrap();
            let j = dying.claim().unwrap().expect("handed out again");
            assert_eq!(j.attempts, round, "each takeover counts the dead try");
            drop(dying);
            std::thread::sleep(lease + Duration::from_millis(150));
        }
        let q = PgQueue::open_with_lease(&db.url, lease).unwrap();
        assert!(q.claim().unwrap().is_none(), "a poison delivery went round again");
        assert_eq!(q.depth().unwrap().failed, 1);
    }
}
