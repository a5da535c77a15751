//! The shared store on PostgreSQL: what several quench processes, on one host or many, record
//! into and take revocation jobs from (`--store postgres://…`).
//!
//! It keeps the SQLite store's contract call for call: the same schema steps by number
//! (`schema/postgres/*.sql`), every multi-row step in one transaction, the audit log made
//! append-only by a trigger, secrets only ever sealed (the key stays in the key file or
//! `QUENCH_STORE_KEY`, never in the database). Where SQLite leans on its single writer,
//! PostgreSQL needs its own guards: jobs are claimed with `FOR UPDATE SKIP LOCKED`, a new
//! finding or job that another process inserted first is taken as seen rather than failing,
//! and a budget is spent under a per-key advisory lock.
//!
//! The `postgres` client drives its socket on a runtime of its own, which may not be started
//! from a thread that is running async tasks; the revocation runner calls the store from one.
//! So a call made on such a thread runs on a short-lived scoped thread instead (see
//! [`PgStore::run`]), and everywhere else on the caller's thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Row, Statement};
use anyhow::{anyhow, Context as _, Result};

use super::migrate::{self, Migrated};
use super::*;
use crate::finding::Finding;

/// A constant advisory-lock key: every process migrating this database waits on it.
const MIGRATION_LOCK: i64 = 0x7175_656e_6368_0001; // "quench" + 1

/// The connection and its prepared statements, moved together onto a scoped thread.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// A call on it met a lost connection: replace it before the next.
    broken: bool,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Conn {
    /// Prepares `sql` once per connection: the runner and the writer repeat a few statements
    /// thousands of times, and each preparation is a round trip.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
    fn exec(&mut self, sql: &str, p: Params) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(self.client.execute(&s, p)?)
    }
    fn query(&mut self, sql: &str, p: Params) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.query(&s, p)?)
    }
    fn query_opt(&mut self, sql: &str, p: Params) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.query_opt(&s, p)?)
    }
    fn query_one(&mut self, sql: &str, p: Params) -> Result<Row> {
        let s = self.statement(sql)?;
        Ok(self.client.query_one(&s, p)?)
    }
}

pub struct PgStore {
    /// In a cell because the trait reads through `&self` while the client needs `&mut`; the
    /// store is `Send`, not `Sync`, so one caller at a time holds it.
    /// `None` only while dropping.
    conn: RefCell<Option<Conn>>,
    /// The URL without its password, for messages.
    label: String,
    /// For reconnecting after the server closed the connection (held in memory only).
    url: String,
    /// Inside [`Store::batch`]: writes nest as savepoints in its one transaction.
    in_batch: bool,
}

/// `url` with any password replaced by `***`, for messages; a string that is not a URL is shown
/// only by its scheme.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // `?password=…` is accepted by the client too.
            if u.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "…".into(),
        },
    }
}

impl PgStore {
    /// Connects to `url` and migrates the database to the current schema. A URL that does not
    /// parse, a server that does not answer, a refused password, a missing database or a
    /// schema newer than this binary are errors naming the cause (never the password), and
    /// leave the database as it was.
    pub fn open(url: &str) -> Result<PgStore> {
        Ok(Self::open_migrated(url)?.0)
    }

    /// [`PgStore::open`], saying which schema steps it applied.
    pub fn open_migrated(url: &str) -> Result<(PgStore, Migrated)> {
        let label = redact(url);
        let conn = match take_idle(url) {
            Some(c) => c,
            None => Conn {
                client: connect(url)?,
                statements: HashMap::new(),
                broken: false,
            },
        };
        let mut store = PgStore {
            conn: RefCell::new(Some(conn)),
            label,
            url: url.to_string(),
            in_batch: false,
        };
        let migrated = store
            .migrate()
            .map_err(|e| e.context(format!("store {}", store.label)))?;
        Ok((store, migrated))
    }

    /// Applies the schema steps this database lacks ([`migrate::POSTGRES`]) in one transaction
    /// under an advisory lock, so that processes starting at once apply each step once and a
    /// failed step leaves nothing behind.
    pub fn migrate(&mut self) -> Result<Migrated> {
        let label = self.label.clone();
        // Most opens find the schema current: one read says so, without the lock and its
        // transaction (a service opens the store several times per push).
        let current = self.run(|c| {
            Ok(c.client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                .ok()
                .map(|r| r.get::<_, i64>(0)))
        })?;
        let latest = migrate::latest(migrate::POSTGRES);
        if current == Some(latest) {
            return Ok(Migrated {
                from: latest,
                to: latest,
                applied: vec![],
            });
        }
        self.run(move |c| {
            c.client.batch_execute("BEGIN")?;
            let r = (|| -> Result<Migrated> {
                c.client
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
                c.client.batch_execute(migrate::HISTORY_TABLE)?;
                let applied: Vec<i64> = c
                    .client
                    .query("SELECT version FROM schema_migrations ORDER BY version", &[])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let from = applied.iter().copied().max().unwrap_or(0);
                let now_s = fmt_time(&now());
                let mut names = Vec::new();
                for m in migrate::pending(migrate::POSTGRES, &applied, &label)? {
                    c.client
                        .batch_execute(m.sql)
                        .with_context(|| format!("applying schema migration {}", m.name))?;
                    c.client.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                        &[&m.version, &m.name, &now_s],
                    )?;
                    names.push(m.name.to_string());
                }
                Ok(Migrated {
                    from,
                    to: migrate::latest(migrate::POSTGRES),
                    applied: names,
                })
            })();
            finish(c, r, "COMMIT", "ROLLBACK")
        })
    }

    /// Runs `f` on the connection, off any async runtime's thread (see the module's doc).
    ///
    /// A connection the server closed (a restart, a failover, an administrator) is replaced
    /// before the call: the call that met the closed connection failed and said so, and its
    /// caller retries as after any store error (a job stays leased, a delivery is retried), so
    /// nothing is lost and nothing is written twice. Inside a [`Store::batch`] it is not
    /// replaced: the batch's transaction died with it, and the batch must fail whole.
    fn run<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T> + Send) -> Result<T> {
        let mut guard = self.conn.borrow_mut();
        let conn: &mut Conn = guard.as_mut().expect("the connection is there until drop");
        if (conn.broken || conn.client.is_closed()) && !self.in_batch {
            let client = connect(&self.url)?;
            let old = std::mem::replace(
                conn,
                Conn {
                    client,
                    statements: HashMap::new(),
                    broken: false,
                },
            );
            off_runtime(move || drop(old));
        }
        let r = off_runtime(|| f(conn));
        if r.as_ref().is_err_and(lost_connection) {
            conn.broken = true;
        }
        r.map_err(|e| explain(&self.label, e))
    }

    /// Runs `f` atomically: in its own transaction, or as a savepoint inside a
    /// [`Store::batch`].
    fn write<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T> + Send) -> Result<T> {
        let (begin, commit, rollback) = if self.in_batch {
            (
                "SAVEPOINT quench_write",
                "RELEASE SAVEPOINT quench_write",
                "ROLLBACK TO SAVEPOINT quench_write",
            )
        } else {
            ("BEGIN", "COMMIT", "ROLLBACK")
        };
        self.run(move |c| {
            c.client.batch_execute(begin)?;
            let r = f(c);
            finish(c, r, commit, rollback)
        })
    }

    fn job_from_row(row: &Row) -> Job {
        let state: String = row.get("state");
        let time = |name: &str| row.get::<_, Option<String>>(name).as_deref().and_then(parse_time);
        Job {
            id: row.get("id"),
            fingerprint: row.get("fingerprint"),
            rule_id: row.get("rule_id"),
            issuer: row.get("issuer"),
            mode: row.get("mode"),
            policy_rule: row.get("policy_rule"),
            state: JobState::parse(&state).unwrap_or(JobState::Escalated),
            attempts: row.get::<_, i64>("attempts").clamp(0, u32::MAX as i64) as u32,
            calls: row.get::<_, i64>("calls").clamp(0, u32::MAX as i64) as u32,
            next_at: time("next_at").unwrap_or_else(now),
            reason: row.get("reason"),
            created_at: time("created_at").unwrap_or_else(now),
            updated_at: time("updated_at").unwrap_or_else(now),
            sealed: row.get("sealed"),
        }
    }

    fn finding_from_row(row: &Row) -> StoredFinding {
        let status: String = row.get("status");
        let owners: String = row.get("owners");
        let path: Option<String> = row.get("first_path");
        let line: Option<i64> = row.get("first_line");
        let time = |name: &str| row.get::<_, Option<String>>(name).as_deref().and_then(parse_time);
        StoredFinding {
            fingerprint: row.get("fingerprint"),
            rule_id: row.get("rule_id"),
            rule_name: row.get("rule_name"),
            issuer: row.get("issuer"),
            identity: row.get("identity"),
            severity: row.get("severity"),
            secret_redacted: row.get("secret_redacted"),
            status: Status::parse(&status).unwrap_or(Status::Detected),
            principal: row.get("principal"),
            org: row.get("org"),
            author: row.get("author"),
            owners: serde_json::from_str(&owners).unwrap_or_default(),
            first_location: match (path, line) {
                (Some(p), Some(l)) => format!("{p}:{l}"),
                _ => String::new(),
            },
            locations: row.get::<_, i64>("n_locations").max(0) as u64,
            timeline: Timeline {
                first_exposed: time("first_exposed_at"),
                detected: time("detected_at"),
                verified: time("verified_at"),
                revoke_requested: time("revoke_requested_at"),
                confirmed_dead: time("confirmed_dead_at"),
                found_dead: time("found_dead_at"),
                revived: time("revived_at"),
                prior_exposure_ms: row.get("prior_exposure_ms"),
                windows: row.get::<_, i64>("windows").max(1) as u32,
            },
        }
    }
}

/// Connects to `url` (a 10 s connect timeout unless the URL sets one). Errors name the cause and
/// the URL without its password.
pub fn connect(url: &str) -> Result<Client> {
    let label = redact(url);
    let mut config: ::postgres::Config = url
        .parse()
        .map_err(|e| anyhow!("store URL {label} is not a PostgreSQL connection URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("quench");
    }
    off_runtime(move || config.connect(NoTls)).map_err(|e| explain_connect(&label, e))
}

/// Closing the connection runs the client's runtime too: off any async runtime's thread.
/// Connections of dropped stores, kept for the next open of the same URL in this process: a
/// service opens the store several times per push, and each new connection costs the server a
/// process and the client a handshake. A few per URL, the oldest closed first; a broken one is
/// never kept.
static IDLE: std::sync::Mutex<Vec<(String, Conn)>> = std::sync::Mutex::new(Vec::new());
const MAX_IDLE_PER_URL: usize = 4;
const MAX_IDLE: usize = 32;

/// An idle connection to `url` that still answers, if one is kept.
fn take_idle(url: &str) -> Option<Conn> {
    loop {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let i = idle.iter().position(|(u, _)| u == url)?;
        let (_, mut conn) = idle.swap_remove(i);
        drop(idle);
        // The server may have closed it while it waited (a restart, an idle timeout).
        if off_runtime(|| conn.client.is_valid(Duration::from_secs(2)).is_ok()) {
            return Some(conn);
        }
        off_runtime(move || drop(conn));
    }
}

/// Keeps the store's connection for the next open, unless it is broken or the pool is full
/// (then it is closed, off any async runtime's thread: closing runs the client's runtime too).
impl Drop for PgStore {
    fn drop(&mut self) {
        let Some(conn) = self.conn.get_mut().take() else {
            return;
        };
        // A batch left open, or a panic mid-call, may have left a transaction open: not kept.
        let clean = !self.in_batch && !std::thread::panicking();
        if !clean || conn.broken || conn.client.is_closed() {
            off_runtime(move || drop(conn));
            return;
        }
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        idle.push((self.url.clone(), conn));
        let same = idle.iter().filter(|(u, _)| *u == self.url).count();
        let evict = if same > MAX_IDLE_PER_URL {
            idle.iter().position(|(u, _)| *u == self.url)
        } else if idle.len() > MAX_IDLE {
            Some(0)
        } else {
            None
        };
        let Some(i) = evict else { return };
        let (_, old) = idle.remove(i);
        drop(idle);
        off_runtime(move || drop(old));
    }
}

/// Ends the transaction (or savepoint) `f` ran in: `commit` when it succeeded, else `rollback`,
/// keeping `f`'s error.
fn finish<T>(c: &mut Conn, r: Result<T>, commit: &str, rollback: &str) -> Result<T> {
    match r {
        Ok(v) => {
            if let Err(e) = c.client.batch_execute(commit) {
                let _ = c.client.batch_execute(rollback);
                return Err(e.into());
            }
            Ok(v)
        }
        Err(e) => {
            let _ = c.client.batch_execute(rollback);
            if rollback.starts_with("ROLLBACK TO") {
                let _ = c.client.batch_execute("RELEASE SAVEPOINT quench_write");
            }
            Err(e)
        }
    }
}

/// Runs `f` here, or on a scoped thread when this thread is running an async runtime (whose
/// `block_on` the client may not nest).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Why a connection failed, in words that name the cause; the password is never repeated.
fn explain_connect(label: &str, e: ::postgres::Error) -> anyhow::Error {
    if let Some(db) = e.as_db_error() {
        let why = match *db.code() {
            SqlState::INVALID_PASSWORD => "the password was refused".to_string(),
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                format!("the server refused the login ({})", db.message())
            }
            SqlState::INVALID_CATALOG_NAME => format!("{}; create it first (createdb)", db.message()),
            _ => db.message().to_string(),
        };
        return anyhow!("cannot connect to store {label}: {why}");
    }
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    anyhow!("cannot connect to store {label}: {why}")
}

/// Whether `e` says the connection is gone (closed, or the server ending it: a restart, a
/// failover, an administrator), so that the next call must make a new one. The socket may not
/// look closed yet when the server's last message is read.
pub fn lost_connection(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<::postgres::Error>())
        .any(|pg| {
            pg.is_closed()
                || pg.as_db_error().is_some_and(|d| {
                    let code = d.code().code();
                    code.starts_with("08") || code.starts_with("57P")
                })
        })
}

/// A failed statement, named with the store it ran on.
fn explain(label: &str, e: anyhow::Error) -> anyhow::Error {
    if let Some(pg) = e.downcast_ref::<::postgres::Error>() {
        if pg.is_closed() {
            return anyhow!("store {label}: the connection to the server was lost ({pg})");
        }
        if let Some(db) = pg.as_db_error() {
            return anyhow!("store {label}: {}", db.message());
        }
    }
    e.context(format!("store {label}"))
}

const JOB_COLUMNS: &str = "j.*, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id
    AND (a.outcome IS NULL OR a.outcome != 'deferred')) AS calls";

const FINDING_SELECT: &str = "SELECT f.*,
    (SELECT COUNT(*) FROM locations l WHERE l.fingerprint = f.fingerprint) AS n_locations,
    (SELECT path FROM locations l WHERE l.fingerprint = f.fingerprint ORDER BY id LIMIT 1) AS first_path,
    (SELECT line FROM locations l WHERE l.fingerprint = f.fingerprint ORDER BY id LIMIT 1) AS first_line,
    (SELECT MIN(at) FROM verdicts v WHERE v.fingerprint = f.fingerprint AND v.verdict = 'dead'
        AND (f.revived_at IS NULL OR v.at >= f.revived_at)) AS found_dead_at
    FROM findings f";

/// A live answer for a key recorded revoked or dead: the key is live again (as in SQLite's
/// `revive`): its closed window is added to the earlier ones, a new one opens now, the
/// revocation marks are cleared so that it can be revoked and confirmed again, and the audit
/// log says so. Runs inside the verdict's write.
fn revive(c: &mut Conn, fingerprint: &str, at: &Time) -> Result<()> {
    let sql = format!("{FINDING_SELECT} WHERE f.fingerprint = $1");
    let Some(row) = c.query_opt(&sql, &[&fingerprint])? else {
        return Ok(());
    };
    let f = PgStore::finding_from_row(&row);
    if !f.status.is_dead() {
        return Ok(());
    }
    let (window_ms, detail) = super::revival(&f, *at);
    let at_s = fmt_time(at);
    c.exec(
        "UPDATE findings SET status = 'live', revived_at = $2, revoke_requested_at = NULL,
            confirmed_dead_at = NULL, prior_exposure_ms = prior_exposure_ms + $3, windows = windows + 1
         WHERE fingerprint = $1",
        &[&fingerprint, &at_s, &window_ms],
    )?;
    c.exec(
        "INSERT INTO audit (at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail)
         VALUES ($1, 'quench', 'revived', $2, $3, NULL, NULL, $4)",
        &[&at_s, &fingerprint, &f.rule_id, &detail],
    )?;
    Ok(())
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn record_findings(&mut self, findings: &[(&Finding, Attribution)], at: Time) -> Result<Recorded> {
        let now_s = fmt_time(&at);
        // Plain rows, so that the closure may cross to the connection's thread.
        struct Loc {
            path: String,
            line: i64,
            col: i64,
            context: &'static str,
            commit: String,
            author_name: Option<String>,
            author_email: Option<String>,
            author_time: Option<String>,
        }
        struct Row1 {
            fingerprint: String,
            rule_id: String,
            rule_name: String,
            issuer: String,
            identity: String,
            severity: String,
            redacted: String,
            author: Option<String>,
            owners: String,
            exposed: Option<String>,
            locations: Vec<Loc>,
        }
        let mut rows = Vec::with_capacity(findings.len());
        for (f, attr) in findings {
            // The earliest commit time among the locations is when the secret was exposed.
            let exposed = f
                .locations
                .iter()
                .filter_map(|l| l.commit.as_ref())
                .filter_map(|c| parse_time(&c.author_time))
                .min()
                .map(|t| fmt_time(&t));
            rows.push(Row1 {
                fingerprint: f.fingerprint.clone(),
                rule_id: f.rule_id.clone(),
                rule_name: f.rule_name.clone(),
                issuer: f.issuer.clone(),
                identity: f.identity.as_str().to_string(),
                severity: f.severity.as_str().to_string(),
                redacted: f.secret_redacted.clone(),
                author: attr.author.clone(),
                owners: serde_json::to_string(&attr.owners)?,
                exposed,
                locations: f
                    .locations
                    .iter()
                    .map(|l| {
                        let c = l.commit.as_ref();
                        Loc {
                            path: l.path.clone(),
                            line: l.line as i64,
                            col: l.column as i64,
                            context: l.context.as_str(),
                            commit: c.map(|c| c.id.clone()).unwrap_or_default(),
                            author_name: c.map(|c| c.author_name.clone()),
                            author_email: c.map(|c| c.author_email.clone()),
                            author_time: c.map(|c| c.author_time.clone()),
                        }
                    })
                    .collect(),
            });
        }
        self.write(move |c| {
            let mut rec = Recorded::default();
            for r in &rows {
                // Another process may insert the same new finding first: then it is seen again.
                let inserted = c.exec(
                    "INSERT INTO findings (fingerprint, rule_id, rule_name, issuer, identity, severity,
                        secret_redacted, status, author, owners, first_exposed_at, detected_at, last_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'detected', $8, $9, $10, $11, $11)
                     ON CONFLICT (fingerprint) DO NOTHING",
                    &[
                        &r.fingerprint,
                        &r.rule_id,
                        &r.rule_name,
                        &r.issuer,
                        &r.identity,
                        &r.severity,
                        &r.redacted,
                        &r.author,
                        &r.owners,
                        &r.exposed.as_deref().unwrap_or(&now_s),
                        &now_s,
                    ],
                )?;
                if inserted == 1 {
                    rec.new += 1;
                } else {
                    let status: String = c
                        .query_one(
                            "UPDATE findings SET last_seen_at = $2,
                                first_exposed_at = CASE WHEN $3::text IS NOT NULL
                                    AND (first_exposed_at IS NULL OR $3::text < first_exposed_at)
                                    THEN $3::text ELSE first_exposed_at END,
                                author = COALESCE(author, $4)
                             WHERE fingerprint = $1 RETURNING status",
                            &[&r.fingerprint, &now_s, &r.exposed, &r.author],
                        )?
                        .get(0);
                    rec.seen_again += 1;
                    if status == Status::Revoked.as_str() {
                        rec.already_revoked += 1;
                    }
                }
                for l in &r.locations {
                    rec.new_locations += c.exec(
                        "INSERT INTO locations (fingerprint, path, line, col, context, commit_id,
                            author_name, author_email, author_time, first_seen_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                        &[
                            &r.fingerprint,
                            &l.path,
                            &l.line,
                            &l.col,
                            &l.context,
                            &l.commit,
                            &l.author_name,
                            &l.author_email,
                            &l.author_time,
                            &now_s,
                        ],
                    )? as usize;
                }
            }
            Ok(rec)
        })
    }

    fn record_verdict(&mut self, fingerprint: &str, verdict: &Verdict, at: Time) -> Result<()> {
        let at_s = fmt_time(&at);
        let body = serde_json::to_string(verdict)?;
        let status = verdict.verdict.as_str();
        let (principal, org) = (verdict.principal.clone(), verdict.org.clone());
        self.write(move |c| {
            c.exec(
                "INSERT INTO verdicts (fingerprint, at, verdict, body) VALUES ($1, $2, $3, $4)",
                &[&fingerprint, &at_s, &status, &body],
            )?;
            if status == "live" {
                revive(c, fingerprint, &at)?;
            }
            // A verdict moves the status only while nothing stronger is known.
            c.exec(
                "UPDATE findings SET
                    status = CASE WHEN status IN ('detected', 'live', 'dead', 'indeterminate') THEN $2 ELSE status END,
                    principal = COALESCE($3, principal),
                    org = COALESCE($4, org),
                    verified_at = CASE WHEN $2 = 'indeterminate' THEN verified_at ELSE COALESCE(verified_at, $5) END
                 WHERE fingerprint = $1",
                &[&fingerprint, &status, &principal, &org, &at_s],
            )?;
            Ok(())
        })
    }

    fn verdicts(&self, fingerprint: &str) -> Result<Vec<(Time, Verdict)>> {
        let rows = self.run(move |c| {
            c.query(
                "SELECT at, body FROM verdicts WHERE fingerprint = $1 ORDER BY at, id",
                &[&fingerprint],
            )
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let at = parse_time(&r.get::<_, String>(0))?;
                let v = serde_json::from_str(&r.get::<_, String>(1)).ok()?;
                Some((at, v))
            })
            .collect())
    }

    fn set_status(&mut self, fingerprint: &str, status: Status) -> Result<()> {
        self.run(move |c| {
            c.exec(
                "UPDATE findings SET status = $2 WHERE fingerprint = $1",
                &[&fingerprint, &status.as_str()],
            )
            .map(drop)
        })
    }

    fn mark(&mut self, fingerprint: &str, event: Event, at: Time) -> Result<()> {
        let col = match event {
            Event::Verified => "verified_at",
            Event::RevokeRequested => "revoke_requested_at",
            Event::ConfirmedDead => "confirmed_dead_at",
        };
        let sql = format!("UPDATE findings SET {col} = COALESCE({col}, $2) WHERE fingerprint = $1");
        let at_s = fmt_time(&at);
        self.run(move |c| c.exec(&sql, &[&fingerprint, &at_s]).map(drop))
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let mut sql = format!("{FINDING_SELECT} WHERE TRUE");
        let mut args: Vec<String> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, v: String| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if !filter.status.is_empty() {
            // Statuses come from the enum's own names, never from input.
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
            let escaped = fp.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            bind(&mut sql, " AND f.fingerprint LIKE ?", format!("{escaped}%"));
        }
        if let Some(t) = &filter.since {
            bind(&mut sql, " AND f.detected_at >= ?", fmt_time(t));
        }
        sql.push_str(" ORDER BY f.detected_at, f.fingerprint");
        let rows = self.run(move |c| {
            let p: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            c.query(&sql, &p)
        })?;
        Ok(rows.iter().map(Self::finding_from_row).collect())
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<StoredFinding>> {
        let sql = format!("{FINDING_SELECT} WHERE f.fingerprint = $1");
        let row = self.run(move |c| c.query_opt(&sql, &[&fingerprint]))?;
        Ok(row.as_ref().map(Self::finding_from_row))
    }

    fn location_paths(&self, fingerprint: &str) -> Result<Vec<String>> {
        let rows = self.run(move |c| {
            c.query(
                "SELECT path FROM locations WHERE fingerprint = $1 GROUP BY path ORDER BY MIN(id)",
                &[&fingerprint],
            )
        })?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn enqueue(&mut self, job: NewJob, at: Time) -> Result<(i64, bool)> {
        let at_s = fmt_time(&at);
        self.write(move |c| {
            const ACTIVE: &str = "SELECT id FROM jobs WHERE fingerprint = $1
                AND state IN ('awaiting-approval', 'queued', 'running')";
            if let Some(r) = c.query_opt(ACTIVE, &[&job.fingerprint])? {
                return Ok((r.get(0), false));
            }
            let active = job.state.is_active();
            let sealed = if active { job.sealed.clone() } else { None };
            // Another process may enqueue the same finding's job between the read and here:
            // the one-active-job index turns that into "exists", not an error.
            let inserted = c.query_opt(
                "INSERT INTO jobs (fingerprint, rule_id, issuer, mode, policy_rule, state, next_at, reason,
                    sealed, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $7)
                 ON CONFLICT (fingerprint) WHERE state IN ('awaiting-approval', 'queued', 'running')
                 DO NOTHING RETURNING id",
                &[
                    &job.fingerprint,
                    &job.rule_id,
                    &job.issuer,
                    &job.mode,
                    &job.policy_rule,
                    &job.state.as_str(),
                    &at_s,
                    &job.reason,
                    &sealed,
                ],
            )?;
            let Some(row) = inserted else {
                let r = c.query_one(ACTIVE, &[&job.fingerprint])?;
                return Ok((r.get(0), false));
            };
            if active {
                c.exec(
                    "UPDATE findings SET status = 'revoking' WHERE fingerprint = $1",
                    &[&job.fingerprint],
                )?;
            }
            Ok((row.get(0), true))
        })
    }

    /// Jobs are claimed with `FOR UPDATE SKIP LOCKED`: runners in other processes skip the
    /// rows one is claiming instead of waiting for it or claiming them too. A runner that died
    /// frees its jobs when their lease expires (its process id means nothing on another host).
    fn claim_jobs(
        &mut self,
        owner: &str,
        at: Time,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let at_s = fmt_time(&at);
        let until = fmt_time(&(at + lease));
        let limit = limit as i64;
        self.write(move |c| {
            let ids: Vec<i64> = c
                .query(
                    "SELECT id FROM jobs
                     WHERE (state = 'queued' AND next_at <= $1) OR (state = 'running' AND lease_until <= $1)
                     ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    &[&at_s, &limit],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if ids.is_empty() {
                return Ok(vec![]);
            }
            c.exec(
                "UPDATE jobs SET state = 'running', owner = $2, lease_until = $3, attempts = attempts + 1,
                    updated_at = $4 WHERE id = ANY($1)",
                &[&ids, &owner, &until, &at_s],
            )?;
            let sql =
                format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ANY($1) ORDER BY j.next_at, j.id");
            Ok(c.query(&sql, &[&ids])?.iter().map(Self::job_from_row).collect())
        })
    }

    fn defer_job(&mut self, id: i64, next_at: Time, reason: &str) -> Result<()> {
        let (next_s, now_s) = (fmt_time(&next_at), fmt_time(&now()));
        self.run(move |c| {
            c.exec(
                "UPDATE jobs SET state = 'queued', next_at = $2, reason = $3, updated_at = $4, owner = NULL,
                    lease_until = NULL, attempts = GREATEST(attempts - 1, 0)
                 WHERE id = $1",
                &[&id, &next_s, &reason, &now_s],
            )
            .map(drop)
        })
    }

    fn jobs(&self, fingerprint: Option<&str>) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE $1::text IS NULL OR j.fingerprint = $1 ORDER BY j.id"
        );
        let rows = self.run(move |c| c.query(&sql, &[&fingerprint]))?;
        Ok(rows.iter().map(Self::job_from_row).collect())
    }

    fn make_due(&mut self, at: Time) -> Result<usize> {
        let at_s = fmt_time(&at);
        self.run(move |c| {
            c.exec(
                "UPDATE jobs SET next_at = $1 WHERE state = 'queued' AND next_at > $1",
                &[&at_s],
            )
            .map(|n| n as usize)
        })
    }

    fn next_due(&self) -> Result<Option<Time>> {
        let row = self.run(|c| c.query_one("SELECT MIN(next_at) FROM jobs WHERE state = 'queued'", &[]))?;
        Ok(row.get::<_, Option<String>>(0).as_deref().and_then(parse_time))
    }

    fn job(&self, id: i64) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = $1");
        let row = self.run(move |c| c.query_opt(&sql, &[&id]))?;
        Ok(row.as_ref().map(Self::job_from_row))
    }

    fn update_job(&mut self, id: i64, state: JobState, next_at: Time, reason: Option<&str>) -> Result<()> {
        let (next_s, now_s) = (fmt_time(&next_at), fmt_time(&now()));
        self.run(move |c| {
            c.exec(
                "UPDATE jobs SET state = $2, next_at = $3, reason = $4, updated_at = $5,
                    owner = CASE WHEN $2 = 'running' THEN owner ELSE NULL END,
                    lease_until = CASE WHEN $2 = 'running' THEN lease_until ELSE NULL END,
                    sealed = CASE WHEN $2 IN ('awaiting-approval', 'queued', 'running') THEN sealed ELSE NULL END
                 WHERE id = $1",
                &[&id, &state.as_str(), &next_s, &reason, &now_s],
            )
            .map(drop)
        })
    }

    fn start_attempt(&mut self, job_id: i64, at: Time) -> Result<i64> {
        let at_s = fmt_time(&at);
        self.run(move |c| {
            let r = c.query_one(
                "INSERT INTO attempts (job_id, started_at) VALUES ($1, $2) RETURNING id",
                &[&job_id, &at_s],
            )?;
            Ok(r.get(0))
        })
    }

    fn finish_attempt(
        &mut self,
        attempt_id: i64,
        at: Time,
        outcome: &str,
        http_status: Option<u16>,
        detail: Option<&str>,
    ) -> Result<()> {
        let at_s = fmt_time(&at);
        let status = http_status.map(i32::from);
        self.run(move |c| {
            c.exec(
                "UPDATE attempts SET finished_at = $2, outcome = $3, http_status = $4, detail = $5 WHERE id = $1",
                &[&attempt_id, &at_s, &outcome, &status, &detail],
            )
            .map(drop)
        })
    }

    fn attempts(&self, job_id: i64) -> Result<Vec<Attempt>> {
        let rows = self.run(move |c| {
            c.query(
                "SELECT job_id, started_at, finished_at, outcome, http_status, detail FROM attempts
                 WHERE job_id = $1 ORDER BY id",
                &[&job_id],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| Attempt {
                job_id: r.get(0),
                started_at: parse_time(&r.get::<_, String>(1)).unwrap_or_else(now),
                finished_at: r.get::<_, Option<String>>(2).as_deref().and_then(parse_time),
                outcome: r.get(3),
                http_status: r.get::<_, Option<i32>>(4).and_then(|s| u16::try_from(s).ok()),
                detail: r.get(5),
            })
            .collect())
    }

    fn record_reach(&mut self, fingerprint: &str, reach: &crate::reach::Reach, at: Time) -> Result<()> {
        let body = serde_json::to_string(reach)?;
        let (at_s, risk) = (fmt_time(&at), reach.risk.as_str());
        self.write(move |c| {
            c.exec(
                "INSERT INTO reach (fingerprint, at, risk, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (fingerprint) DO UPDATE SET at = excluded.at, risk = excluded.risk, body = excluded.body",
                &[&fingerprint, &at_s, &risk, &body],
            )?;
            Ok(())
        })
    }

    fn reaches(&self, fingerprint: Option<&str>) -> Result<Vec<(String, crate::reach::Reach)>> {
        let rows = self.run(move |c| {
            c.query(
                "SELECT fingerprint, body FROM reach WHERE $1::TEXT IS NULL OR fingerprint = $1 ORDER BY fingerprint",
                &[&fingerprint],
            )
        })?;
        let mut out = Vec::new();
        for r in &rows {
            let fp: String = r.get(0);
            let reach = serde_json::from_str(&r.get::<_, String>(1))
                .with_context(|| format!("the stored reach of finding {fp} is not a reach"))?;
            out.push((fp, reach));
        }
        Ok(out)
    }

    fn audit(&mut self, e: AuditEntry) -> Result<()> {
        let at = fmt_time(&e.at.unwrap_or_else(now));
        let status = e.issuer_status.map(i32::from);
        self.run(move |c| {
            c.exec(
                "INSERT INTO audit (at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &at,
                    &e.actor,
                    &e.action,
                    &e.fingerprint,
                    &e.rule_id,
                    &e.policy_rule,
                    &status,
                    &e.detail,
                ],
            )
            .map(drop)
        })
    }

    fn audit_log(&self, fingerprint: Option<&str>) -> Result<Vec<AuditEntry>> {
        let rows = self.run(move |c| {
            c.query(
                "SELECT at, actor, action, fingerprint, rule_id, policy_rule, issuer_status, detail
                 FROM audit WHERE $1::text IS NULL OR fingerprint = $1 ORDER BY id",
                &[&fingerprint],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at: parse_time(&r.get::<_, String>(0)),
                actor: r.get(1),
                action: r.get(2),
                fingerprint: r.get(3),
                rule_id: r.get(4),
                policy_rule: r.get(5),
                issuer_status: r.get::<_, Option<i32>>(6).and_then(|s| u16::try_from(s).ok()),
                detail: r.get(7),
            })
            .collect())
    }

    /// Spent under an advisory lock on the budget's key, so that processes spending one budget
    /// at once take turns reading the count and adding to it, and never exceed it together.
    fn spend_budget(&mut self, key: &str, per_hour: u32, at: Time) -> Result<Spend> {
        let hour = chrono::Duration::hours(1);
        let (at_s, start_s) = (fmt_time(&at), fmt_time(&(at - hour)));
        let per_hour = per_hour as i64;
        self.write(move |c| {
            c.exec(
                "SELECT pg_advisory_xact_lock(hashtextextended('quench.budget:' || $1, 0))",
                &[&key],
            )?;
            let held = c.query_opt("SELECT until FROM budget_holds WHERE key = $1", &[&key])?;
            if let Some(until) = held.map(|r| r.get::<_, String>(0)).filter(|u| *u > at_s) {
                return Ok(Spend::Held {
                    until: parse_time(&until).unwrap_or(at + hour),
                });
            }
            c.exec(
                "DELETE FROM budget_spent WHERE key = $1 AND at <= $2",
                &[&key, &start_s],
            )?;
            let r = c.query_one(
                "SELECT COUNT(*), MIN(at) FROM budget_spent WHERE key = $1",
                &[&key],
            )?;
            let (spent, oldest): (i64, Option<String>) = (r.get(0), r.get(1));
            if spent >= per_hour {
                // The window frees a request an hour after its oldest one.
                let next = oldest.as_deref().and_then(parse_time).unwrap_or(at) + hour;
                return Ok(Spend::Spent { next });
            }
            c.exec(
                "INSERT INTO budget_spent (key, at) VALUES ($1, $2)",
                &[&key, &at_s],
            )?;
            Ok(Spend::Granted)
        })
    }

    fn budget_spent(&self, key: &str, at: Time) -> Result<u32> {
        let start = fmt_time(&(at - chrono::Duration::hours(1)));
        let row = self.run(move |c| {
            c.query_one(
                "SELECT COUNT(*) FROM budget_spent WHERE key = $1 AND at > $2",
                &[&key, &start],
            )
        })?;
        Ok(row.get::<_, i64>(0).clamp(0, u32::MAX as i64) as u32)
    }

    fn hold_budget(&mut self, key: &str, until: Time) -> Result<()> {
        let until_s = fmt_time(&until);
        self.run(move |c| {
            c.exec(
                "INSERT INTO budget_holds (key, until) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET until = GREATEST(budget_holds.until, excluded.until)",
                &[&key, &until_s],
            )
            .map(drop)
        })
    }

    fn pace(&mut self, key: &str, interval: std::time::Duration) -> Result<std::time::Duration> {
        let secs = interval.as_secs_f64();
        let row = self.run(move |c| {
            // One statement: the row lock of the upsert orders racing processes.
            c.query_one(
                "INSERT INTO rate_pace (key, next_at)
                     VALUES ($1, clock_timestamp() + make_interval(secs => $2::float8))
                 ON CONFLICT (key) DO UPDATE
                     SET next_at = GREATEST(rate_pace.next_at, clock_timestamp())
                                   + make_interval(secs => $2::float8)
                 RETURNING EXTRACT(EPOCH FROM (next_at - clock_timestamp()))::float8 - $2::float8",
                &[&key, &secs],
            )
        })?;
        let wait: f64 = row.get(0);
        Ok(std::time::Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or_default())
    }

    fn pace_hold(&mut self, key: &str, hold: std::time::Duration) -> Result<()> {
        let secs = hold.as_secs_f64();
        self.run(move |c| {
            c.exec(
                "INSERT INTO rate_pace (key, next_at)
                     VALUES ($1, clock_timestamp() + make_interval(secs => $2::float8))
                 ON CONFLICT (key) DO UPDATE
                     SET next_at = GREATEST(rate_pace.next_at, excluded.next_at)",
                &[&key, &secs],
            )
            .map(drop)
        })
    }

    fn key_check(&mut self, check: &[u8]) -> Result<Vec<u8>> {
        self.write(move |c| {
            c.exec(
                "INSERT INTO store_key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                &[&check],
            )?;
            Ok(
                c.query_one("SELECT sealed FROM store_key_check WHERE id = 1", &[])?
                    .get(0),
            )
        })
    }

    fn batch(&mut self, f: &mut dyn FnMut(&mut dyn Store) -> Result<()>) -> Result<()> {
        if self.in_batch {
            return f(self);
        }
        self.run(|c| Ok(c.client.batch_execute("BEGIN")?))?;
        self.in_batch = true;
        let r = f(self);
        self.in_batch = false;
        match r {
            Ok(()) => self.run(|c| finish(c, Ok(()), "COMMIT", "ROLLBACK")),
            Err(e) => {
                let _ = self.run(|c| Ok(c.client.batch_execute("ROLLBACK")?));
                Err(e)
            }
        }
    }
}

impl ToSql for super::copy::Value {
    fn to_sql(
        &self,
        ty: &::postgres::types::Type,
        out: &mut ::postgres::types::private::BytesMut,
    ) -> std::result::Result<::postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use super::copy::Value;
        use ::postgres::types::Type;
        match self {
            Value::Null => Ok(::postgres::types::IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &::postgres::types::Type) -> bool {
        true
    }

    ::postgres::types::to_sql_checked!();
}

impl super::copy::Tables for PgStore {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn count(&self, t: &super::copy::Table) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", t.name);
        Ok(self.run(move |c| c.query_one(&sql, &[]))?.get(0))
    }

    fn page(&self, t: &super::copy::Table, offset: i64, limit: i64) -> Result<Vec<Vec<super::copy::Value>>> {
        use super::copy::Value;
        use ::postgres::types::Type;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
            t.columns.join(", "),
            t.name,
            t.key
        );
        let rows = self.run(move |c| c.query(&sql, &[&limit, &offset]))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut cells = Vec::with_capacity(r.len());
            for (i, col) in r.columns().iter().enumerate() {
                let ty = col.type_();
                cells.push(if *ty == Type::INT8 {
                    r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int)
                } else if *ty == Type::INT4 {
                    r.get::<_, Option<i32>>(i)
                        .map_or(Value::Null, |v| Value::Int(v.into()))
                } else if *ty == Type::BYTEA {
                    r.get::<_, Option<Vec<u8>>>(i).map_or(Value::Null, Value::Bytes)
                } else {
                    r.get::<_, Option<String>>(i).map_or(Value::Null, Value::Text)
                });
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<()> {
        self.run(|c| Ok(c.client.batch_execute("BEGIN")?))
    }

    fn insert(&mut self, t: &super::copy::Table, rows: &[Vec<super::copy::Value>]) -> Result<()> {
        let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            t.name,
            t.columns.join(", "),
            marks.join(", ")
        );
        self.run(move |c| {
            for row in rows {
                let p: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                c.exec(&sql, &p)?;
            }
            Ok(())
        })
    }

    /// Moves each identity past the copied ids, so the next row the store writes does not
    /// collide with one it copied.
    fn commit(&mut self) -> Result<()> {
        self.run(|c| {
            for t in super::copy::TABLES.iter().filter(|t| t.key == "id") {
                c.client.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
                    t.name
                ))?;
            }
            Ok(c.client.batch_execute("COMMIT")?)
        })
    }

    fn rollback(&mut self) {
        let _ = self.run(|c| Ok(c.client.batch_execute("ROLLBACK")?));
    }
}
