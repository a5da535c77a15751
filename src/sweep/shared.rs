//! Sweeps on a shared PostgreSQL store (`--store postgres://…`): the record of what earlier
//! sweeps scanned lives in the database, so a repository is never scanned twice for the same
//! blobs whichever process sweeps it; and a distributed sweep's repositories are queued there,
//! one row each, for any number of `quench sweep --worker` processes to claim.
//!
//! A claim (`FOR UPDATE SKIP LOCKED`, so two workers never take one repository) holds the
//! repository until `lease_until`, renewed by a thread of the claiming process while it lives;
//! a worker that dies stops renewing, and when the lease runs out another worker takes the
//! repository and sweeps it again (its blob record makes that cost only what was not recorded).
//! Lease times are the database's clock. Mirrors stay per host.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use git2::Oid;
use postgres::Client;

use super::Target;
use crate::store::postgres::{connect, off_runtime, redact};

const SCHEMA: &str = include_str!("shared.sql");
/// A constant advisory-lock key for creating the sweep tables.
const SCHEMA_LOCK: i64 = 0x7175_656e_6368_0003;

/// How long a claim holds a repository unless renewed (renewed every third of it).
pub const LEASE: Duration = Duration::from_secs(60);

/// One connection to the shared sweep tables.
pub struct Shared {
    conn: Mutex<Client>,
    label: String,
    /// How long a claim holds a repository unless renewed ([`LEASE`]).
    lease: Duration,
}

impl Shared {
    pub fn open(url: &str) -> Result<Shared> {
        let label = redact(url);
        let mut client = connect(url)?;
        off_runtime(|| -> Result<()> {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            tx.batch_execute(SCHEMA)?;
            tx.commit()?;
            Ok(())
        })
        .with_context(|| format!("preparing the sweep tables in {label}"))?;
        Ok(Shared {
            conn: Mutex::new(client),
            label,
            lease: LEASE,
        })
    }

    /// The same tables with claims of `lease` (tests: a lease that runs out in a moment).
    pub fn with_lease(mut self, lease: Duration) -> Shared {
        self.lease = lease;
        self
    }

    fn with<T: Send>(&self, what: &str, f: impl FnOnce(&mut Client) -> Result<T> + Send) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let c: &mut Client = &mut guard;
        off_runtime(|| f(c)).with_context(|| format!("sweep state in {}: {what}", self.label))
    }

    pub fn known_blobs(&self, repo: &str) -> Result<HashSet<Oid>> {
        let rows = self.with("reading scanned blobs", |c| {
            Ok(c.query("SELECT blob FROM sweep_blobs WHERE repo = $1", &[&repo])?)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| Oid::from_str(r.get::<_, &str>(0)).ok())
            .collect())
    }

    pub fn tips(&self, repo: &str) -> Result<Vec<Oid>> {
        let rows = self.with("reading swept tips", |c| {
            Ok(c.query("SELECT oid FROM sweep_tips WHERE repo = $1", &[&repo])?)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| Oid::from_str(r.get::<_, &str>(0)).ok())
            .collect())
    }

    /// Records scanned blobs and, when the whole walk succeeded, the new tips, in one transaction.
    pub fn record(&self, repo: &str, blobs: &[Oid], tips: Option<&[(String, Oid)]>) -> Result<()> {
        let blobs: Vec<String> = blobs.iter().map(Oid::to_string).collect();
        let tips: Option<(Vec<String>, Vec<String>)> =
            tips.map(|t| t.iter().map(|(n, o)| (n.clone(), o.to_string())).unzip());
        self.with("recording the sweep", move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO sweep_blobs (repo, blob) SELECT $1, unnest($2::text[])
                 ON CONFLICT DO NOTHING",
                &[&repo, &blobs],
            )?;
            if let Some((names, oids)) = &tips {
                tx.execute("DELETE FROM sweep_tips WHERE repo = $1", &[&repo])?;
                tx.execute(
                    "INSERT INTO sweep_tips (repo, name, oid)
                     SELECT $1, unnest($2::text[]), unnest($3::text[])",
                    &[&repo, names, oids],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Queues each of `targets` for the workers, unless it is queued or being swept already;
    /// returns how many were queued.
    pub fn enqueue(&self, targets: &[Target]) -> Result<u64> {
        let remotes: Vec<String> = targets.iter().map(|t| t.remote.clone()).collect();
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        self.with("queueing repositories", move |c| {
            Ok(c.execute(
                "INSERT INTO sweep_repos (remote, name) SELECT unnest($1::text[]), unnest($2::text[])
                 ON CONFLICT (remote) DO UPDATE
                     SET state = 'queued', name = excluded.name, owner = NULL, lease_until = NULL,
                         error = NULL, updated_at = now()
                     WHERE sweep_repos.state IN ('done', 'failed')",
                &[&remotes, &names],
            )?)
        })
    }

    /// Takes the repository queued longest (or one whose worker's lease ran out) for `owner`.
    pub fn claim(&self, owner: &str) -> Result<Option<Target>> {
        let secs = self.lease.as_secs_f64();
        let row = self.with("claiming a repository", move |c| {
            Ok(c.query_opt(
                "UPDATE sweep_repos SET state = 'running', owner = $1,
                     lease_until = now() + make_interval(secs => $2), updated_at = now()
                 WHERE remote = (SELECT remote FROM sweep_repos
                                 WHERE state = 'queued' OR (state = 'running' AND lease_until < now())
                                 ORDER BY updated_at, remote LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING name, remote",
                &[&owner, &secs],
            )?)
        })?;
        Ok(row.map(|r| Target {
            name: r.get(0),
            remote: r.get(1),
        }))
    }

    /// Repositories other workers hold now (leases not run out): a worker with nothing to claim
    /// waits for them, in case one dies and its repository comes back.
    pub fn running(&self) -> Result<i64> {
        let row = self.with("counting running repositories", |c| {
            Ok(c.query_one("SELECT COUNT(*) FROM sweep_repos WHERE state = 'running'", &[])?)
        })?;
        Ok(row.get(0))
    }

    /// Records how `owner`'s sweep of `remote` ended; a worker whose lease was taken over
    /// changes nothing.
    pub fn finish(&self, owner: &str, remote: &str, error: Option<&str>) -> Result<()> {
        let state = if error.is_some() { "failed" } else { "done" };
        self.with("recording a repository swept", move |c| {
            c.execute(
                "UPDATE sweep_repos SET state = $3, error = $4, owner = NULL, lease_until = NULL,
                     updated_at = now()
                 WHERE remote = $1 AND owner = $2 AND state = 'running'",
                &[&remote, &owner, &state, &error],
            )?;
            Ok(())
        })
    }
}

/// A worker's name on its claims: host, process id and a random part.
pub fn owner_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "{}:{}:{:08x}",
        host.trim(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Renews `owner`'s leases every third of [`LEASE`] on a connection of its own, until dropped.
pub struct Renewer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Renewer {
    pub fn start(url: &str, owner: &str) -> Result<Renewer> {
        let mut client = connect(url)?;
        let owner = owner.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("quench-sweep-lease".into())
            .spawn(move || {
                let tick = Duration::from_millis(100);
                let mut since = Duration::ZERO;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    since += tick;
                    if since < LEASE / 3 {
                        continue;
                    }
                    since = Duration::ZERO;
                    if let Err(e) = client.execute(
                        "UPDATE sweep_repos SET lease_until = now() + make_interval(secs => $2)
                         WHERE owner = $1 AND state = 'running'",
                        &[&owner, &LEASE.as_secs_f64()],
                    ) {
                        eprintln!("quench sweep: could not renew the lease on a repository: {e}");
                    }
                }
            })
            .context("starting the lease renewer")?;
        Ok(Renewer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pgtest::ScratchDb;

    fn targets(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                name: format!("r{i}"),
                remote: format!("/repos/r{i}"),
            })
            .collect()
    }

    /// Four workers claim from 20 queued repositories at once: each is claimed exactly once.
    #[test]
    fn workers_claiming_at_once_never_claim_one_repository_twice() {
        let db = ScratchDb::require();
        assert_eq!(Shared::open(&db.url).unwrap().enqueue(&targets(20)).unwrap(), 20);
        let claimed = Mutex::new(Vec::new());
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for w in 0..4 {
                let (db, claimed, start) = (&db, &claimed, &start);
                s.spawn(move || {
                    let q = Shared::open(&db.url).unwrap();
                    start.wait();
                    while let Some(t) = q.claim(&format!("w{w}")).unwrap() {
                        claimed.lock().unwrap().push(t.remote);
                    }
                });
            }
        });
        let mut claimed = claimed.into_inner().unwrap();
        claimed.sort();
        let mut want: Vec<String> = targets(20).into_iter().map(|t| t.remote).collect();
        want.sort();
        assert_eq!(claimed, want);
    }

    /// A worker that stops renewing loses its repository when the lease runs out; another
    /// takes it, and the first one's late report changes nothing. Only a finished repository
    /// is queued again.
    #[test]
    fn a_lapsed_lease_hands_the_repository_to_another_worker() {
        let db = ScratchDb::require();
        let q = Shared::open(&db.url)
            .unwrap()
            .with_lease(Duration::from_millis(300));
        q.enqueue(&targets(1)).unwrap();
        let t = q.claim("dead").unwrap().unwrap();
        assert!(q.claim("alive").unwrap().is_none(), "held while the lease runs");
        assert_eq!(q.enqueue(&targets(1)).unwrap(), 0, "running: not queued again");
        assert_eq!(q.running().unwrap(), 1);
        std::thread::sleep(Duration::from_millis(500));
        let again = q.claim("alive").unwrap().expect("taken over after the lease");
        assert_eq!(again.remote, t.remote);
        q.finish("dead", &t.remote, Some("late")).unwrap();
        assert_eq!(
            q.running().unwrap(),
            1,
            "the late report of the old owner changed nothing"
        );
        q.finish("alive", &t.remote, None).unwrap();
        assert_eq!(q.running().unwrap(), 0);
        assert!(q.claim("alive").unwrap().is_none());
        assert_eq!(q.enqueue(&targets(1)).unwrap(), 1, "done: queued again");
    }

    /// The blob record is the database's: what one connection recorded, another reads; tips
    /// are replaced only when given.
    #[test]
    fn recorded_blobs_and_tips_are_read_by_another_process() {
        let db = ScratchDb::require();
        let a = Oid::from_str(&"a".repeat(40)).unwrap();
        let b = Oid::from_str(&"b".repeat(40)).unwrap();
        Shared::open(&db.url)
            .unwrap()
            .record("/r", &[a], Some(&[("refs/heads/main".into(), b)]))
            .unwrap();
        let other = Shared::open(&db.url).unwrap();
        other.record("/r", &[a, b], None).unwrap();
        assert_eq!(other.known_blobs("/r").unwrap(), HashSet::from([a, b]));
        assert_eq!(other.tips("/r").unwrap(), vec![b]);
        assert!(other.known_blobs("/other").unwrap().is_empty());
    }
}
