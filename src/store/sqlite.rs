//! The embedded SQLite store.
//!
//! WAL journaling, so that a reader (`quench findings` while a scan records) never blocks the
//! writer and the writer never blocks readers; a busy timeout, so that two writers queue rather
//! than fail; schema steps from `schema/sqlite/*.sql` ([`migrate`]); the audit log made append-only by
//! triggers, so even a buggy caller cannot rewrite history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::migrate::{self, Migrated};
use super::*;
use crate::finding::Finding;

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Inside [`Store::batch`]: writes nest as savepoints in its one transaction.
    in_batch: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrating it to the current schema.
    /// A corrupt file, a newer schema or a lock held past `busy_timeout` is a clear error.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteStore> {
        Ok(Self::open_migrated(path, busy_timeout)?.0)
    }

    /// [`SqliteStore::open`], saying which schema steps it applied.
    pub fn open_migrated(path: &Path, busy_timeout: Duration) -> Result<(SqliteStore, Migrated)> {
        let conn = Connection::open(path).map_err(|e| explain(path, e))?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            in_batch: false,
        };
        let migrated = store.init(busy_timeout).map_err(|e| explain_any(path, e))?;
        Ok((store, migrated))
    }

    /// [`SqliteStore::prepare`], tried again while another connection opening the same new file
    /// holds the lock: SQLite answers a journal-mode switch or a lock upgrade that could
    /// deadlock with "busy" at once, without waiting, so `busy_timeout` alone does not cover
    /// several processes creating one store together.
    fn init(&mut self, busy_timeout: Duration) -> Result<Migrated> {
        let start = std::time::Instant::now();
        loop {
            match self.prepare(busy_timeout) {
                Err(e) if is_busy(&e) && start.elapsed() < busy_timeout => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                done => return done,
            }
        }
    }

    fn prepare(&mut self, busy_timeout: Duration) -> Result<Migrated> {
        self.conn.busy_timeout(busy_timeout)?;
        // Room for every statement the runner and the writer repeat (see `exec`).
        self.conn.set_prepared_statement_cache_capacity(64);
        // Reading the mode touches the file header, so a file that is not a database fails
        // here, before anything is written.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("could not switch to WAL journaling (journal mode is {mode})");
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.migrate()
    }

    /// Applies the schema steps this database lacks ([`migrate::SQLITE`]), under the write lock
    /// so that two processes opening a new store at once apply each step once.
    ///
    /// A store written before the history table existed numbered its steps in `PRAGMA
    /// user_version` alone; those steps are the files 1 to `user_version`, so they are recorded
    /// as applied rather than run again. `user_version` is kept equal to the newest step, so a
    /// quench from before the history table still refuses a schema newer than it knows.
    pub fn migrate(&mut self) -> Result<Migrated> {
        let label = self.path.display().to_string();
        let before = applied_versions(&self.conn)?;
        let steps = migrate::pending(migrate::SQLITE, &before.versions, &label)?;
        if steps.is_empty() && before.has_history {
            return Ok(Migrated {
                from: before.newest(),
                to: before.newest(),
                applied: vec![],
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read inside the write lock: another process may have migrated meanwhile.
        let now_s = fmt_time(&now());
        let found = applied_versions(&tx)?;
        tx.execute_batch(migrate::HISTORY_TABLE)?;
        if !found.has_history {
            for m in migrate::SQLITE
                .iter()
                .filter(|m| found.versions.contains(&m.version))
            {
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![m.version, m.name, now_s],
                )?;
            }
        }
        let mut applied = Vec::new();
        for m in migrate::pending(migrate::SQLITE, &found.versions, &label)? {
            tx.execute_batch(m.sql)
                .with_context(|| format!("applying schema migration {}", m.name))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![m.version, m.name, now_s],
            )?;
            applied.push(m.name.to_string());
        }
        let to = migrate::latest(migrate::SQLITE);
        tx.pragma_update(None, "user_version", to)?;
        tx.commit()?;
        Ok(Migrated {
            from: found.newest(),
            to,
            applied,
        })
    }

    /// Runs `f` atomically: in its own write transaction (taken at once, so that two writers
    /// queue on the busy timeout instead of failing to upgrade), or as a savepoint inside a
    /// [`Store::batch`].
    fn write<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        if self.in_batch {
            let sp = self.conn.savepoint().map_err(|e| explain(&path, e))?;
            let out = f(&sp)?;
            sp.commit().map_err(|e| explain(&path, e))?;
            return Ok(out);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| explain(&path, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| explain(&path, e))?;
        Ok(out)
    }

    fn wrap<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| explain(&self.path, e))
    }

    fn job_from_row(row: &Row) -> rusqlite::Result<Job> {
        let state: String = row.get("state")?;
        Ok(Job {
            id: row.get("id")?,
            fingerprint: row.get("fingerprint")?,
            rule_id: row.get("rule_id")?,
            issuer: row.get("issuer")?,
            mode: row.get("mode")?,
            policy_rule: row.get("policy_rule")?,
            state: JobState::parse(&state).unwrap_or(JobState::Escalated),
            attempts: row.get::<_, i64>("attempts")? as u32,
            calls: row.get::<_, i64>("calls")? as u32,
            next_at: time_col(row, "next_at")?.unwrap_or_else(now),
            reason: row.get("reason")?,
            created_at: time_col(row, "created_at")?.unwrap_or_else(now),
            updated_at: time_col(row, "updated_at")?.unwrap_or_else(now),
            sealed: row.get("sealed")?,
        })
    }

    fn finding_from_row(row: &Row) -> rusqlite::Result<StoredFinding> {
        let status: String = row.get("status")?;
        let owners: String = row.get("owners")?;
        let path: Option<String> = row.get("first_path")?;
        let line: Option<i64> = row.get("first_line")?;
        Ok(StoredFinding {
            fingerprint: row.get("fingerprint")?,
            rule_id: row.get("rule_id")?,
            rule_name: row.get("rule_name")?,
            issuer: row.get("issuer")?,
            identity: row.get("identity")?,
            severity: row.get("severity")?,
            secret_redacted: row.get("secret_redacted")?,
            status: Status::parse(&status).unwrap_or(Status::Detected),
            principal: row.get("principal")?,
            org: row.get("org")?,
            author: row.get("author")?,
            owners: serde_json::from_str(&owners).unwrap_or_default(),
            first_location: match (path, line) {
                (Some(p), Some(l)) => format!("{p}:{l}"),
                _ => String::new(),
            },
            locations: row.get::<_, i64>("n_locations")? as u64,
            timeline: Timeline {
                first_exposed: time_col(row, "first_exposed_at")?,
                detected: time_col(row, "detected_at")?,
                verified: time_col(row, "verified_at")?,
                revoke_requested: time_col(row, "revoke_requested_at")?,
                confirmed_dead: time_col(row, "confirmed_dead_at")?,
                found_dead: time_col(row, "found_dead_at")?,
                revived: time_col(row, "revived_at")?,
                prior_exposure_ms: row.get("prior_exposure_ms")?,
                windows: row.get::<_, i64>("windows")?.max(1) as u32,
            },
        })
    }
}

/// The steps a database has, from its history table or, in a store older than that table, from
/// `PRAGMA user_version` (steps 1 to it; a number past this binary's steps is kept so that
/// [`migrate::pending`] refuses it).
struct Applied {
    has_history: bool,
    versions: Vec<i64>,
}

impl Applied {
    fn newest(&self) -> i64 {
        self.versions.iter().copied().max().unwrap_or(0)
    }
}

fn applied_versions(c: &Connection) -> Result<Applied> {
    let user_version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_history: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    let mut versions: Vec<i64> = if has_history {
        let mut st = c.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    } else {
        (1..=user_version.min(migrate::latest(migrate::SQLITE))).collect()
    };
    if user_version > migrate::latest(migrate::SQLITE) {
        versions.push(user_version);
    }
    Ok(Applied {
        has_history,
        versions,
    })
}

/// A deferred attempt (the budget was spent; nothing left) is not a call.
const JOB_COLUMNS: &str = "j.*, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id
    AND (a.outcome IS NULL OR a.outcome != 'deferred')) AS calls";

const FINDING_SELECT: &str = "SELECT f.*,
    (SELECT COUNT(*) FROM locations l WHERE l.fingerprint = f.fingerprint) AS n_locations,
    (SELECT path FROM locations l WHERE l.fingerprint = f.fingerprint ORDER BY id LIMIT 1) AS first_path,
    (SELECT line FROM locations l WHERE l.fingerprint = f.fingerprint ORDER BY id LIMIT 1) AS first_line,
    (SELECT MIN(at) FROM verdicts v WHERE v.fingerprint = f.fingerprint AND v.verdict = 'dead'
        AND (f.revived_at IS NULL OR v.at >= f.revived_at)) AS found_dead_at
    FROM findings f";

/// A live answer for a key recorded revoked or dead (re-activated, restored): the key is live
/// again. Its closed exposure window is added to the earlier ones, a new one opens now, the
/// revocation marks are cleared so that it can be revoked (and confirmed) again, and the audit
/// log says so. Runs inside the verdict's write.
fn revive(tx: &Connection, fingerprint: &str, at: &Time) -> Result<()> {
    // Most live verdicts are for keys not dead: one indexed read decides.
    let status: Option<String> = query_row(
        tx,
        "SELECT status FROM findings WHERE fingerprint = ?1",
        [fingerprint],
        |r| r.get(0),
    )
    .optional()?;
    if !status
        .as_deref()
        .and_then(Status::parse)
        .is_some_and(Status::is_dead)
    {
        return Ok(());
    }
    let sql = format!("{FINDING_SELECT} WHERE f.fingerprint = ?1");
    let Some(f) = query_row(tx, &sql, [fingerprint], SqliteStore::finding_from_row).optional()? else {
        return Ok(());
    };
    if !f.status.is_dead() {
        return Ok(());
    }
    let (window_ms, detail) = super::revival(&f, *at);
    let at_s = fmt_time(at);
    exec(
        tx,
        "UPDATE findings SET status = 'live', revived_at = ?2, revoke_requested_at = NULL,
            confirmed_dead_at = NULL, prior_exposure_ms = prior_exposure_ms + ?3, windows = windows + 1
         WHERE fingerprint = ?1",
        params![fingerprint, at_s, window_ms],
    )?;
    exec(
        tx,
        "INSERT INTO audit (at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail)
         VALUES (?1, 'quench', 'revived', ?2, ?3, NULL, NULL, ?4)",
        params![at_s, fingerprint, f.rule_id, detail],
    )?;
    Ok(())
}

/// Whether `e` is SQLite's "database is locked" / "busy".
fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>().is_some_and(|r| {
            matches!(
                r.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
        })
    })
}

fn time_col(row: &Row, name: &str) -> rusqlite::Result<Option<Time>> {
    Ok(row
        .get::<_, Option<String>>(name)?
        .as_deref()
        .and_then(parse_time))
}

/// Turns SQLite's error codes into messages that name the database and what to do.
fn explain(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    let p = path.display();
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return anyhow!(
                    "store database {p} is corrupt or not a quench database ({e}); move it aside \
                     to start a new store"
                )
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return anyhow!(
                    "store database {p} is locked by another process ({e}); retry when it finishes \
                     or raise [store] busy_timeout_ms"
                )
            }
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
                return anyhow!("cannot open store database {p}: {e}")
            }
            _ => {}
        }
    }
    anyhow!("store database {p}: {e}")
}

fn explain_any(path: &Path, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<rusqlite::Error>() {
        Ok(e) => explain(path, e),
        Err(e) => e.context(format!("store database {}", path.display())),
    }
}

/// Runs one statement through the connection's statement cache: the runner and the live writer
/// run the same few statements thousands of times, and parsing them each time was a large part
/// of their cost.
fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// [`exec`] for a one-row query.
fn query_row<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

/// Whether the process named in a job's `owner` (`pid:<n>`) is gone. Only answerable where
/// `/proc` exists; elsewhere the lease expiry alone frees the job.
fn owner_gone(owner: &str) -> bool {
    let Some(pid) = owner.strip_prefix("pid:") else {
        return false;
    };
    let proc = Path::new("/proc");
    proc.is_dir() && !proc.join(pid).exists()
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn record_findings(&mut self, findings: &[(&Finding, Attribution)], at: Time) -> Result<Recorded> {
        let now_s = fmt_time(&at);
        self.write(|tx| {
        let mut rec = Recorded::default();
        {
            let mut get = tx.prepare_cached("SELECT status FROM findings WHERE fingerprint = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO findings (fingerprint, rule_id, rule_name, issuer, identity, severity,
                    secret_redacted, status, author, owners, first_exposed_at, detected_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'detected', ?8, ?9, ?10, ?11, ?11)",
            )?;
            let mut touch = tx.prepare_cached(
                "UPDATE findings SET last_seen_at = ?2,
                    first_exposed_at = CASE WHEN ?3 IS NOT NULL AND (first_exposed_at IS NULL OR ?3 < first_exposed_at)
                                            THEN ?3 ELSE first_exposed_at END,
                    author = COALESCE(author, ?4)
                 WHERE fingerprint = ?1",
            )?;
            let mut loc = tx.prepare_cached(
                "INSERT OR IGNORE INTO locations (fingerprint, path, line, col, context, commit_id,
                    author_name, author_email, author_time, first_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for (f, attr) in findings {
                // The earliest commit time among the locations is when the secret was exposed;
                // without history, the scan is the first time anyone can show it was readable.
                let exposed = f
                    .locations
                    .iter()
                    .filter_map(|l| l.commit.as_ref())
                    .filter_map(|c| parse_time(&c.author_time))
                    .min()
                    .map(|t| fmt_time(&t));
                let status: Option<String> = get.query_row([&f.fingerprint], |r| r.get(0)).optional()?;
                match status {
                    None => {
                        insert.execute(params![
                            f.fingerprint,
                            f.rule_id,
                            f.rule_name,
                            f.issuer,
                            f.identity.as_str(),
                            f.severity.as_str(),
                            f.secret_redacted,
                            attr.author,
                            serde_json::to_string(&attr.owners)?,
                            exposed.as_deref().unwrap_or(&now_s),
                            now_s,
                        ])?;
                        rec.new += 1;
                    }
                    Some(s) => {
                        touch.execute(params![f.fingerprint, now_s, exposed, attr.author])?;
                        rec.seen_again += 1;
                        if s == Status::Revoked.as_str() {
                            rec.already_revoked += 1;
                        }
                    }
                }
                for l in &f.locations {
                    let c = l.commit.as_ref();
                    rec.new_locations += loc.execute(params![
                        f.fingerprint,
                        l.path,
                        l.line as i64,
                        l.column as i64,
                        l.context.as_str(),
                        c.map(|c| c.id.as_str()).unwrap_or(""),
                        c.map(|c| c.author_name.as_str()),
                        c.map(|c| c.author_email.as_str()),
                        c.map(|c| c.author_time.as_str()),
                        now_s,
                    ])?;
                }
            }
        }
        Ok(rec)
        })
    }

    fn record_verdict(&mut self, fingerprint: &str, verdict: &Verdict, at: Time) -> Result<()> {
        let at_s = fmt_time(&at);
        self.write(|tx| {
        exec(tx,
            "INSERT INTO verdicts (fingerprint, at, verdict, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                fingerprint,
                at_s,
                verdict.verdict.as_str(),
                serde_json::to_string(verdict)?
            ],
        )?;
        if verdict.verdict == VerdictKind::Live {
            revive(tx, fingerprint, &at)?;
        }
        // A verdict moves the status only while nothing stronger is known: a revoked or
        // escalated key keeps its status; a revoking one becomes revoked through `mark`.
        let status = match verdict.verdict {
            VerdictKind::Live => "live",
            VerdictKind::Dead => "dead",
            VerdictKind::Indeterminate => "indeterminate",
        };
        exec(tx,
            "UPDATE findings SET
                status = CASE WHEN status IN ('detected', 'live', 'dead', 'indeterminate') THEN ?2 ELSE status END,
                principal = COALESCE(?3, principal),
                org = COALESCE(?4, org),
                verified_at = CASE WHEN ?5 = 'indeterminate' THEN verified_at ELSE COALESCE(verified_at, ?6) END
             WHERE fingerprint = ?1",
            params![fingerprint, status, verdict.principal, verdict.org, status, at_s],
        )?;
        Ok(())
        })
    }

    fn verdicts(&self, fingerprint: &str) -> Result<Vec<(Time, Verdict)>> {
        let mut st = self.wrap(
            self.conn
                .prepare("SELECT at, body FROM verdicts WHERE fingerprint = ?1 ORDER BY at, id"),
        )?;
        let rows = st.query_map([fingerprint], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, body) = row?;
            if let (Some(at), Ok(v)) = (parse_time(&at), serde_json::from_str(&body)) {
                out.push((at, v));
            }
        }
        Ok(out)
    }

    fn set_status(&mut self, fingerprint: &str, status: Status) -> Result<()> {
        let r = exec(
            &self.conn,
            "UPDATE findings SET status = ?2 WHERE fingerprint = ?1",
            params![fingerprint, status.as_str()],
        );
        self.wrap(r).map(drop)
    }

    fn mark(&mut self, fingerprint: &str, event: Event, at: Time) -> Result<()> {
        let col = match event {
            Event::Verified => "verified_at",
            Event::RevokeRequested => "revoke_requested_at",
            Event::ConfirmedDead => "confirmed_dead_at",
        };
        let sql = format!("UPDATE findings SET {col} = COALESCE({col}, ?2) WHERE fingerprint = ?1");
        let r = exec(&self.conn, &sql, params![fingerprint, fmt_time(&at)]);
        self.wrap(r).map(drop)
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let mut sql = format!("{FINDING_SELECT} WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, v: String| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if !filter.status.is_empty() {
            let list: Vec<String> = filter
                .status
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND f.status IN ({})", list.join(",")));
        }
        if let Some(r) = &filter.rule {
            bind(&mut sql, " AND f.rule_id = ?", r.clone());
        }
        if let Some(i) = &filter.issuer {
            bind(&mut sql, " AND f.issuer = ?", i.clone());
        }
        if let Some(p) = &filter.principal {
            bind(&mut sql, " AND f.principal = ?", p.clone());
        }
        if let Some(fp) = &filter.fingerprint {
            bind(&mut sql, " AND f.fingerprint LIKE ?", format!("{fp}%"));
        }
        if let Some(t) = &filter.since {
            bind(&mut sql, " AND f.detected_at >= ?", fmt_time(t));
        }
        sql.push_str(" ORDER BY f.detected_at, f.fingerprint");
        let mut st = self.wrap(self.conn.prepare_cached(&sql))?;
        let rows =
            self.wrap(st.query_map(rusqlite::params_from_iter(args.iter()), Self::finding_from_row))?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<StoredFinding>> {
        let sql = format!("{FINDING_SELECT} WHERE f.fingerprint = ?1");
        let r = query_row(&self.conn, &sql, [fingerprint], Self::finding_from_row).optional();
        self.wrap(r)
    }

    fn location_paths(&self, fingerprint: &str) -> Result<Vec<String>> {
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT path FROM locations WHERE fingerprint = ?1 GROUP BY path ORDER BY MIN(id)",
        ))?;
        let rows = self.wrap(st.query_map([fingerprint], |r| r.get(0)))?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn enqueue(&mut self, job: NewJob, at: Time) -> Result<(i64, bool)> {
        self.write(|tx| {
            let existing: Option<i64> = query_row(
                tx,
                "SELECT id FROM jobs WHERE fingerprint = ?1
                 AND state IN ('awaiting-approval', 'queued', 'running')",
                [&job.fingerprint],
                |r| r.get(0),
            )
            .optional()?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
            let at_s = fmt_time(&at);
            exec(
                tx,
                "INSERT INTO jobs (fingerprint, rule_id, issuer, mode, policy_rule, state, next_at, reason,
                sealed, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7, ?7)",
                params![
                    job.fingerprint,
                    job.rule_id,
                    job.issuer,
                    job.mode,
                    job.policy_rule,
                    job.state.as_str(),
                    at_s,
                    job.reason,
                    if job.state.is_active() { job.sealed } else { None },
                ],
            )?;
            let id = tx.last_insert_rowid();
            if job.state.is_active() {
                exec(
                    tx,
                    "UPDATE findings SET status = 'revoking' WHERE fingerprint = ?1",
                    [&job.fingerprint],
                )?;
            }
            Ok((id, true))
        })
    }

    fn claim_jobs(
        &mut self,
        owner: &str,
        at: Time,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let at_s = fmt_time(&at);
        let until = fmt_time(&(at + lease));
        self.write(|tx| {
            // Running jobs whose runner died are due again, whatever their lease says.
            let orphans: Vec<(i64, String)> = {
                let mut st =
                    tx.prepare_cached("SELECT id, COALESCE(owner, '') FROM jobs WHERE state = 'running'")?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (id, o) in orphans {
                if o != owner && owner_gone(&o) {
                    exec(
                        tx,
                        "UPDATE jobs SET lease_until = ?2 WHERE id = ?1",
                        params![id, at_s],
                    )?;
                }
            }
            // Two indexed reads (jobs_due, jobs_lease) rather than one `OR`, which SQLite answers
            // by scanning every job.
            let mut due: Vec<(String, i64)> = Vec::new();
            for sql in [
                "SELECT next_at, id FROM jobs WHERE state = 'queued' AND next_at <= ?1
                 ORDER BY next_at, id LIMIT ?2",
                "SELECT next_at, id FROM jobs WHERE state = 'running' AND lease_until <= ?1 LIMIT ?2",
            ] {
                let mut st = tx.prepare_cached(sql)?;
                let rows = st.query_map(params![at_s, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
                due.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            due.sort();
            due.truncate(limit);
            let mut claim = tx.prepare_cached(
                "UPDATE jobs SET state = 'running', owner = ?2, lease_until = ?3, attempts = attempts + 1,
                    updated_at = ?4 WHERE id = ?1",
            )?;
            let mut read = tx.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ?1"))?;
            let mut jobs = Vec::with_capacity(due.len());
            for (_, id) in due {
                claim.execute(params![id, owner, until, at_s])?;
                jobs.push(read.query_row([id], Self::job_from_row)?);
            }
            Ok(jobs)
        })
    }

    fn defer_job(&mut self, id: i64, next_at: Time, reason: &str) -> Result<()> {
        let r = exec(
            &self.conn,
            "UPDATE jobs SET state = 'queued', next_at = ?2, reason = ?3, updated_at = ?4, owner = NULL,
                lease_until = NULL, attempts = MAX(attempts - 1, 0)
             WHERE id = ?1",
            params![id, fmt_time(&next_at), reason, fmt_time(&now())],
        );
        self.wrap(r).map(drop)
    }

    fn jobs(&self, fingerprint: Option<&str>) -> Result<Vec<Job>> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE ?1 IS NULL OR j.fingerprint = ?1 ORDER BY j.id");
        let mut st = self.wrap(self.conn.prepare_cached(&sql))?;
        let rows = self.wrap(st.query_map([fingerprint], Self::job_from_row))?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn make_due(&mut self, at: Time) -> Result<usize> {
        let r = exec(
            &self.conn,
            "UPDATE jobs SET next_at = ?1 WHERE state = 'queued' AND next_at > ?1",
            [fmt_time(&at)],
        );
        self.wrap(r)
    }

    fn next_due(&self) -> Result<Option<Time>> {
        let r = query_row(
            &self.conn,
            "SELECT MIN(next_at) FROM jobs WHERE state = 'queued'",
            [],
            |r| r.get::<_, Option<String>>(0),
        );
        Ok(self.wrap(r)?.as_deref().and_then(parse_time))
    }

    fn job(&self, id: i64) -> Result<Option<Job>> {
        let r = query_row(
            &self.conn,
            &format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ?1"),
            [id],
            Self::job_from_row,
        )
        .optional();
        self.wrap(r)
    }

    fn update_job(&mut self, id: i64, state: JobState, next_at: Time, reason: Option<&str>) -> Result<()> {
        let r = exec(
            &self.conn,
            "UPDATE jobs SET state = ?2, next_at = ?3, reason = ?4, updated_at = ?5,
                owner = CASE WHEN ?2 = 'running' THEN owner ELSE NULL END,
                lease_until = CASE WHEN ?2 = 'running' THEN lease_until ELSE NULL END,
                sealed = CASE WHEN ?2 IN ('awaiting-approval', 'queued', 'running') THEN sealed ELSE NULL END
             WHERE id = ?1",
            params![id, state.as_str(), fmt_time(&next_at), reason, fmt_time(&now())],
        );
        self.wrap(r).map(drop)
    }

    fn start_attempt(&mut self, job_id: i64, at: Time) -> Result<i64> {
        let r = exec(
            &self.conn,
            "INSERT INTO attempts (job_id, started_at) VALUES (?1, ?2)",
            params![job_id, fmt_time(&at)],
        );
        self.wrap(r)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn finish_attempt(
        &mut self,
        attempt_id: i64,
        at: Time,
        outcome: &str,
        http_status: Option<u16>,
        detail: Option<&str>,
    ) -> Result<()> {
        let r = exec(
            &self.conn,
            "UPDATE attempts SET finished_at = ?2, outcome = ?3, http_status = ?4, detail = ?5 WHERE id = ?1",
            params![attempt_id, fmt_time(&at), outcome, http_status, detail],
        );
        self.wrap(r).map(drop)
    }

    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT job_id, started_at, finished_at, outcome, http_status, detail FROM attempts
             WHERE job_id = ?1 ORDER BY id",
        ))?;
        let rows = self.wrap(st.query_map([job_id], |r| {
            Ok(Attempt {
                job_id: r.get(0)?,
                started_at: parse_time(&r.get::<_, String>(1)?).unwrap_or_else(now),
                finished_at: r.get::<_, Option<String>>(2)?.as_deref().and_then(parse_time),
                outcome: r.get(3)?,
                http_status: r.get(4)?,
                detail: r.get(5)?,
            })
        }))?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn record_reach(&mut self, fingerprint: &str, reach: &crate::reach::Reach, at: Time) -> Result<()> {
        let body = serde_json::to_string(reach)?;
        let r = exec(
            &self.conn,
            "INSERT INTO reach (fingerprint, at, risk, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(fingerprint) DO UPDATE SET at = excluded.at, risk = excluded.risk, body = excluded.body",
            params![fingerprint, fmt_time(&at), reach.risk.as_str(), body],
        );
        self.wrap(r).map(drop)
    }

    fn reaches(&self, fingerprint: Option<&str>) -> Result<Vec<(String, crate::reach::Reach)>> {
        let mut st = self.wrap(self.conn.prepare(
            "SELECT fingerprint, body FROM reach WHERE ?1 IS NULL OR fingerprint = ?1 ORDER BY fingerprint",
        ))?;
        let rows = st.query_map([fingerprint], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (fp, body) = row?;
            let reach = serde_json::from_str(&body)
                .with_context(|| format!("the stored reach of finding {fp} is not a reach"))?;
            out.push((fp, reach));
        }
        Ok(out)
    }

    fn audit(&mut self, e: AuditEntry) -> Result<()> {
        let at = e.at.unwrap_or_else(now);
        let r = exec(
            &self.conn,
            "INSERT INTO audit (at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                fmt_time(&at),
                e.actor,
                e.action,
                e.fingerprint,
                e.rule_id,
                e.policy_rule,
                e.issuer_status,
                e.detail
            ],
        );
        self.wrap(r).map(drop)
    }

    fn audit_log(&self, fingerprint: Option<&str>) -> Result<Vec<AuditEntry>> {
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail
             FROM audit WHERE ?1 IS NULL OR fingerprint = ?1 ORDER BY id",
        ))?;
        let rows = self.wrap(st.query_map([fingerprint], |r| {
            Ok(AuditEntry {
                at: parse_time(&r.get::<_, String>(0)?),
                actor: r.get(1)?,
                action: r.get(2)?,
                fingerprint: r.get(3)?,
                rule_id: r.get(4)?,
                policy_rule: r.get(5)?,
                issuer_status: r.get(6)?,
                detail: r.get(7)?,
            })
        }))?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn spend_budget(&mut self, key: &str, per_hour: u32, at: Time) -> Result<Spend> {
        let hour = chrono::Duration::hours(1);
        let (at_s, start_s) = (fmt_time(&at), fmt_time(&(at - hour)));
        self.write(|tx| {
            let held: Option<String> =
                query_row(tx, "SELECT until FROM budget_holds WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(until) = held.filter(|u| *u > at_s) {
                return Ok(Spend::Held {
                    until: parse_time(&until).unwrap_or(at + hour),
                });
            }
            exec(
                tx,
                "DELETE FROM budget_spent WHERE key = ?1 AND at <= ?2",
                params![key, start_s],
            )?;
            let (spent, oldest): (i64, Option<String>) = query_row(
                tx,
                "SELECT COUNT(*), MIN(at) FROM budget_spent WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if spent >= per_hour as i64 {
                // The window frees a request an hour after its oldest one.
                let next = oldest.as_deref().and_then(parse_time).unwrap_or(at) + hour;
                return Ok(Spend::Spent { next });
            }
            exec(
                tx,
                "INSERT INTO budget_spent (key, at) VALUES (?1, ?2)",
                params![key, at_s],
            )?;
            Ok(Spend::Granted)
        })
    }

    fn pace(&mut self, key: &str, interval: std::time::Duration) -> Result<std::time::Duration> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let step = interval.as_secs_f64();
        let slot = self.write(|tx| {
            let next: Option<f64> =
                query_row(tx, "SELECT next_at FROM rate_pace WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?;
            let slot = next.unwrap_or(now).max(now);
            exec(
                tx,
                "INSERT INTO rate_pace (key, next_at) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at",
                params![key, slot + step],
            )?;
            Ok(slot)
        })?;
        Ok(std::time::Duration::try_from_secs_f64(slot - now).unwrap_or_default())
    }

    fn pace_hold(&mut self, key: &str, hold: std::time::Duration) -> Result<()> {
        let until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            + hold.as_secs_f64();
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO rate_pace (key, next_at) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET next_at = MAX(next_at, excluded.next_at)",
                params![key, until],
            )?;
            Ok(())
        })
    }

    fn budget_spent(&self, key: &str, at: Time) -> Result<u32> {
        let start = fmt_time(&(at - chrono::Duration::hours(1)));
        let r = query_row(
            &self.conn,
            "SELECT COUNT(*) FROM budget_spent WHERE key = ?1 AND at > ?2",
            params![key, start],
            |r| r.get::<_, i64>(0),
        );
        Ok(self.wrap(r)?.clamp(0, u32::MAX as i64) as u32)
    }

    fn hold_budget(&mut self, key: &str, until: Time) -> Result<()> {
        let r = exec(
            &self.conn,
            "INSERT INTO budget_holds (key, until) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET until = MAX(until, excluded.until)",
            params![key, fmt_time(&until)],
        );
        self.wrap(r).map(drop)
    }

    fn key_check(&mut self, check: &[u8]) -> Result<Vec<u8>> {
        self.write(|tx| {
            exec(
                tx,
                "INSERT OR IGNORE INTO store_key_check (id, sealed) VALUES (1, ?1)",
                [check],
            )?;
            Ok(query_row(
                tx,
                "SELECT sealed FROM store_key_check WHERE id = 1",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn batch(&mut self, f: &mut dyn FnMut(&mut dyn Store) -> Result<()>) -> Result<()> {
        if self.in_batch {
            return f(self);
        }
        let begin = self.conn.execute_batch("BEGIN IMMEDIATE");
        self.wrap(begin)?;
        self.in_batch = true;
        let r = f(self);
        self.in_batch = false;
        let end = match r {
            Ok(()) => self.conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if end.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.wrap(end)
    }
}

impl super::copy::Tables for SqliteStore {
    fn describe(&self) -> String {
        Store::describe(self)
    }

    fn count(&self, t: &super::copy::Table) -> Result<i64> {
        let r = self
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", t.name), [], |r| r.get(0));
        self.wrap(r)
    }

    fn page(&self, t: &super::copy::Table, offset: i64, limit: i64) -> Result<Vec<Vec<super::copy::Value>>> {
        use super::copy::Value;
        use rusqlite::types::ValueRef;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT ?1 OFFSET ?2",
            t.columns.join(", "),
            t.name,
            t.key
        );
        let mut st = self.wrap(self.conn.prepare_cached(&sql))?;
        let rows = st.query_map(params![limit, offset], |r| {
            (0..t.columns.len())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Int(v),
                        ValueRef::Real(v) => Value::Text(v.to_string()),
                        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                        ValueRef::Blob(v) => Value::Bytes(v.to_vec()),
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let rows = self.wrap(rows)?;
        rows.map(|r| r.map_err(|e| explain(&self.path, e))).collect()
    }

    fn begin(&mut self) -> Result<()> {
        let r = self.conn.execute_batch("BEGIN IMMEDIATE");
        self.wrap(r)
    }

    fn insert(&mut self, t: &super::copy::Table, rows: &[Vec<super::copy::Value>]) -> Result<()> {
        use super::copy::Value;
        use rusqlite::types::Value as V;
        let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            t.name,
            t.columns.join(", "),
            marks.join(", ")
        );
        let mut st = self.wrap(self.conn.prepare_cached(&sql))?;
        for row in rows {
            let cells = row.iter().map(|v| match v {
                Value::Null => V::Null,
                Value::Int(i) => V::Integer(*i),
                Value::Text(s) => V::Text(s.clone()),
                Value::Bytes(b) => V::Blob(b.clone()),
            });
            st.execute(rusqlite::params_from_iter(cells))
                .map_err(|e| explain(&self.path, e))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let r = self.conn.execute_batch("COMMIT");
        self.wrap(r)
    }

    fn rollback(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(&dir.join("q.db"), Duration::from_millis(200)).unwrap()
    }

    /// Claiming runs once per batch of jobs on a store that keeps every job ever written: its
    /// reads must go through the jobs_due and jobs_lease indexes, never a scan of the table.
    #[test]
    fn claim_reads_use_the_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        for sql in [
            "SELECT next_at, id FROM jobs WHERE state = 'queued' AND next_at <= ?1
             ORDER BY next_at, id LIMIT ?2",
            "SELECT next_at, id FROM jobs WHERE state = 'running' AND lease_until <= ?1 LIMIT ?2",
        ] {
            let mut st = s.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = st
                .query_map(params!["x", 1], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let plan = plan.join("; ");
            assert!(
                plan.contains("USING") && plan.contains("INDEX jobs_"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }

    #[test]
    fn corrupt_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.db");
        std::fs::write(&p, vec![0x42u8; 8192]).unwrap();
        let e = SqliteStore::open(&p, Duration::from_millis(100)).err().unwrap();
        let msg = format!("{e:#}");
        assert!(msg.contains("corrupt or not a quench database"), "{msg}");
        assert!(msg.contains("q.db"), "{msg}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let c = Connection::open(dir.path().join("q.db")).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 'x')",
            [],
        )
        .unwrap();
        drop(c);
        let e = SqliteStore::open(&dir.path().join("q.db"), Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("schema version 99"), "{e:#}");
        // A store from before the history table says its version in `user_version` only.
        let legacy = dir.path().join("legacy.db");
        Connection::open(&legacy)
            .unwrap()
            .pragma_update(None, "user_version", 42)
            .unwrap();
        let e = SqliteStore::open(&legacy, Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("schema version 42"), "{e:#}");
    }

    /// A store as the code before `schema_migrations` left it: the same steps run one after the
    /// other, the version counted in `PRAGMA user_version` only (what `init` did then).
    fn legacy_store(path: &Path, version: usize) {
        let c = Connection::open(path).unwrap();
        c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
        for m in &migrate::SQLITE[..version] {
            c.execute_batch(m.sql).unwrap();
            c.pragma_update(None, "user_version", m.version).unwrap();
        }
        c.execute(
            "INSERT INTO findings (fingerprint, rule_id, rule_name, issuer, identity, severity,
                secret_redacted, status, detected_at, last_seen_at)
             VALUES ('fp-old', 'test.token', 'Test', 'test', 'user', 'high', 'tok_…', 'revoked',
                '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_store_from_before_the_history_table_keeps_its_data_and_gets_the_missing_steps() {
        let dir = tempfile::tempdir().unwrap();
        for version in [1, migrate::SQLITE.len()] {
            let path = dir.path().join(format!("v{version}.db"));
            legacy_store(&path, version);
            let mut s = SqliteStore::open(&path, Duration::from_millis(200)).unwrap();
            let old = s.finding("fp-old").unwrap().expect("old finding readable");
            assert_eq!(old.status, Status::Revoked);
            let history: Vec<i64> = {
                let mut st = s
                    .conn
                    .prepare("SELECT version FROM schema_migrations ORDER BY version")
                    .unwrap();
                st.query_map([], |r| r.get(0))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect()
            };
            assert_eq!(
                history,
                (1..=migrate::latest(migrate::SQLITE)).collect::<Vec<_>>()
            );
            // The steps after the legacy version ran: the budget tables of step 3 work.
            assert_eq!(s.spend_budget("k", 1, now()).unwrap(), Spend::Granted);
            assert_eq!(
                s.migrate().unwrap().applied,
                Vec::<String>::new(),
                "migrated twice"
            );
        }
    }
}
