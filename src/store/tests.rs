//! The store's contract, one suite run against both backends: every test here runs once on
//! a fresh SQLite file and once on a fresh PostgreSQL schema ([`super::pgtest`]), so that the
//! shared store cannot drift from the embedded one. Tests of one backend's own machinery (query
//! plans, corrupt files, pre-history schemas) stay beside that backend.

use std::sync::Arc;
use std::time::Duration;

use super::migrate;
use super::pgtest::ScratchDb;
use super::*;
use crate::finding::{CommitInfo, Context, Location};
use crate::rules::Rule;

/// A fresh, empty store of one backend, opened as often as a test needs (each open is another
/// connection, as another process would have).
pub(super) enum Harness {
    Sqlite(tempfile::TempDir),
    Postgres(ScratchDb),
}

impl Harness {
    fn sqlite() -> Harness {
        Harness::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Harness {
        Harness::Postgres(ScratchDb::require())
    }

    fn backend(&self) -> Backend {
        match self {
            Harness::Sqlite(dir) => Backend::Sqlite(dir.path().join("q.db")),
            Harness::Postgres(db) => Backend::Postgres(db.url.clone()),
        }
    }

    fn open_result(&self) -> Result<Box<dyn Store>> {
        open_backend(&self.backend(), Duration::from_secs(5))
    }

    fn open(&self) -> Box<dyn Store> {
        self.open_result().unwrap()
    }

    /// Runs `sql` behind the store's back; the database's error as text.
    fn sql(&self, sql: &str) -> std::result::Result<(), String> {
        match self {
            Harness::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("q.db"))
                .and_then(|c| c.execute_batch(sql))
                .map_err(|e| e.to_string()),
            Harness::Postgres(db) => db.client().batch_execute(sql).map_err(|e| {
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string())
            }),
        }
    }

    /// The one number `sql` selects.
    fn count(&self, sql: &str) -> i64 {
        match self {
            Harness::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("q.db"))
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Harness::Postgres(db) => db.client().query_one(sql, &[]).unwrap().get(0),
        }
    }

    /// Whether the database (its files, or its tables) holds `needle`.
    fn holds(&self, needle: &str) -> bool {
        match self {
            Harness::Sqlite(dir) => ["q.db", "q.db-wal"].iter().any(|name| {
                std::fs::read(dir.path().join(name))
                    .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            }),
            Harness::Postgres(db) => db.holds(needle),
        }
    }
}

/// Declares each named test twice: in `sqlite` and in `postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Harness::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&super::Harness::postgres()) } )*
        }
    };
}

on_both_backends!(
    findings_are_recorded_once_and_never_in_plaintext,
    verdicts_move_status_and_timeline,
    one_active_job_per_finding_and_claims_are_exclusive,
    claim_jobs_takes_many_due_jobs_at_once_and_defer_gives_the_attempt_back,
    budgets_are_spent_within_a_sliding_hour_and_held_after_a_429,
    a_batch_commits_together_or_not_at_all,
    a_step_moves_the_job_the_finding_and_the_audit_log_together,
    audit_log_is_append_only,
    two_processes_creating_one_store_at_once_apply_each_step_once,
    a_schema_newer_than_this_binary_is_refused,
    stores_racing_on_one_budget_never_exceed_it,
    stores_reserving_one_pace_at_once_get_distinct_spaced_slots,
    stores_claiming_at_once_never_claim_one_job_twice,
    calls_from_inside_an_async_runtime_work,
    another_processes_key_is_refused,
);

/// An automatic revocation job for `f`, queued, with `sealed` as its sealed secret.
fn queued_job(f: &Finding, sealed: Vec<u8>) -> NewJob {
    NewJob {
        fingerprint: f.fingerprint.clone(),
        rule_id: f.rule_id.clone(),
        issuer: "test".into(),
        mode: "auto".into(),
        policy_rule: "revoke.mode".into(),
        state: JobState::Queued,
        reason: None,
        sealed: Some(sealed),
    }
}

fn finding(secret: &str, path: &str, commit_time: Option<&str>) -> Finding {
    let spec: crate::rules::schema::RuleSpec = toml::from_str(
        "id = \"test.token\"\nname = \"Test\"\nissuer = \"test\"\nidentity = \"user\"\n\
         keywords = [\"tok_\"]\npattern = 'tok_[a-z]+'\n",
    )
    .unwrap();
    let rule = Arc::new(Rule {
        spec,
        origin: "test".into(),
    });
    let mut f = Finding::new(rule, secret.as_bytes().to_vec(), vec![]);
    f.locations.push(Location {
        path: path.into(),
        line: 3,
        column: 1,
        end_line: 3,
        end_column: 20,
        offset: 0,
        context: Context::File,
        commit: commit_time.map(|t| CommitInfo {
            id: "abc".into(),
            author_name: "Ada".into(),
            author_email: "ada@example.com".into(),
            author_time: t.into(),
            summary: "add config".into(),
            at_tip: None,
        }),
        decoded: None,
        blob: None,
    });
    f
}

pub(super) fn findings_are_recorded_once_and_never_in_plaintext(h: &Harness) {
    let mut s = h.open();
    let f = finding("tok_plaintextsecretvalue", "a.env", Some("2026-01-02T03:04:05Z"));
    let t0 = now();
    let r = s.record_findings(&[(&f, Attribution::default())], t0).unwrap();
    assert_eq!((r.new, r.seen_again, r.new_locations), (1, 0, 1));
    let r = s.record_findings(&[(&f, Attribution::default())], t0).unwrap();
    assert_eq!((r.new, r.seen_again, r.new_locations), (0, 1, 0));
    let got = s.finding(&f.fingerprint).unwrap().unwrap();
    assert_eq!(got.status, Status::Detected);
    assert_eq!(got.first_location, "a.env:3");
    assert_eq!(
        got.timeline.first_exposed,
        parse_time("2026-01-02T03:04:05Z"),
        "commit time is the first exposure"
    );
    drop(s);
    assert!(!h.holds("plaintextsecretvalue"), "the store holds the secret");
}

pub(super) fn verdicts_move_status_and_timeline(h: &Harness) {
    let mut s = h.open();
    let f = finding("tok_abc", "b.env", None);
    s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
    let mut v = Verdict::new(VerdictKind::Live);
    v.principal = Some("octocat".into());
    s.record_verdict(&f.fingerprint, &v, now()).unwrap();
    let got = s.finding(&f.fingerprint).unwrap().unwrap();
    assert_eq!(got.status, Status::Live);
    assert_eq!(got.principal.as_deref(), Some("octocat"));
    assert!(got.timeline.verified.is_some());
    let by_principal = s
        .findings(&FindingFilter {
            principal: Some("octocat".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_principal.len(), 1);
    assert_eq!(s.verdicts(&f.fingerprint).unwrap().len(), 1);
}

pub(super) fn one_active_job_per_finding_and_claims_are_exclusive(h: &Harness) {
    let mut s = h.open();
    let f = finding("tok_abc", "b.env", None);
    s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
    let job = queued_job(&f, vec![1, 2, 3]);
    let (id, new) = s.enqueue(job.clone(), now()).unwrap();
    assert!(new);
    assert_eq!(s.enqueue(job, now()).unwrap(), (id, false));
    let lease = chrono::Duration::seconds(60);
    let claimed = s.claim_job("pid:1", now(), lease).unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (id, 1));
    assert!(
        s.claim_job("pid:1", now(), lease).unwrap().is_none(),
        "leased job claimed twice"
    );
    // After the lease, another runner takes it over.
    let later = now() + chrono::Duration::seconds(61);
    assert_eq!(s.claim_job("pid:2", later, lease).unwrap().unwrap().attempts, 2);
    s.update_job(id, JobState::Done, now(), None).unwrap();
    assert!(
        s.job(id).unwrap().unwrap().sealed.is_none(),
        "finished job keeps its secret"
    );
}

pub(super) fn claim_jobs_takes_many_due_jobs_at_once_and_defer_gives_the_attempt_back(h: &Harness) {
    let mut s = h.open();
    let mut ids = Vec::new();
    for i in 0..3 {
        let f = finding(&format!("tok_job{}", "x".repeat(i + 1)), "b.env", None);
        s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
        let job = queued_job(&f, vec![1]);
        ids.push(s.enqueue(job, now()).unwrap().0);
    }
    let lease = chrono::Duration::seconds(60);
    let got = s.claim_jobs("pid:1", now(), lease, 2).unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), ids[..2].to_vec());
    assert_eq!(s.claim_jobs("pid:1", now(), lease, 5).unwrap().len(), 1);
    let later = now() + chrono::Duration::seconds(30);
    s.defer_job(ids[0], later, "budget spent").unwrap();
    let j = s.job(ids[0]).unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.reason.as_deref()),
        (JobState::Queued, 0, Some("budget spent"))
    );
    assert!(
        s.claim_jobs("pid:1", now(), lease, 5).unwrap().is_empty(),
        "deferred job ran early"
    );
    assert_eq!(s.claim_jobs("pid:1", later, lease, 5).unwrap()[0].id, ids[0]);
}

pub(super) fn budgets_are_spent_within_a_sliding_hour_and_held_after_a_429(h: &Harness) {
    let mut s = h.open();
    let t0 = now();
    assert_eq!(s.spend_budget("revoke:github", 2, t0).unwrap(), Spend::Granted);
    let t1 = t0 + chrono::Duration::minutes(10);
    assert_eq!(s.spend_budget("revoke:github", 2, t1).unwrap(), Spend::Granted);
    let t2 = t0 + chrono::Duration::minutes(20);
    let next = t0 + chrono::Duration::hours(1);
    let spent = s.spend_budget("revoke:github", 2, t2).unwrap();
    assert!(
        matches!(spent, Spend::Spent { next: n } if (n - next).num_milliseconds().abs() < 2),
        "{spent:?}"
    );
    assert_eq!(s.spend_budget("revoke:other", 2, t2).unwrap(), Spend::Granted);
    // A reopened store (another process) sees the same count; the oldest request frees.
    drop(s);
    let mut s = h.open();
    let t3 = next + chrono::Duration::seconds(1);
    assert_eq!(s.spend_budget("revoke:github", 2, t3).unwrap(), Spend::Granted);
    let until = t3 + chrono::Duration::seconds(30);
    s.hold_budget("revoke:other", until).unwrap();
    assert!(matches!(
        s.spend_budget("revoke:other", 100, t3).unwrap(),
        Spend::Held { .. }
    ));
    assert_eq!(
        s.spend_budget("revoke:other", 100, until + chrono::Duration::seconds(1))
            .unwrap(),
        Spend::Granted
    );
}

pub(super) fn a_batch_commits_together_or_not_at_all(h: &Harness) {
    let mut s = h.open();
    let f = finding("tok_batched", "b.env", None);
    let e = s
        .batch(&mut |st| {
            st.record_findings(&[(&f, Attribution::default())], now())?;
            st.audit(AuditEntry::new("quench", "verified"))?;
            anyhow::bail!("the writer failed midway")
        })
        .unwrap_err();
    assert!(e.to_string().contains("midway"));
    assert!(
        s.finding(&f.fingerprint).unwrap().is_none(),
        "half a batch was kept"
    );
    assert!(s.audit_log(None).unwrap().is_empty());
    s.batch(&mut |st| {
        st.record_findings(&[(&f, Attribution::default())], now())?;
        st.record_verdict(&f.fingerprint, &Verdict::new(VerdictKind::Live), now())
    })
    .unwrap();
    assert_eq!(s.finding(&f.fingerprint).unwrap().unwrap().status, Status::Live);
}

/// The runner's "confirmed dead" stage as one step: the attempt ends, the job is done (its
/// sealed secret dropped), the timeline and status say revoked, the audit says why; a step that
/// fails midway leaves all of it as it was.
pub(super) fn a_step_moves_the_job_the_finding_and_the_audit_log_together(h: &Harness) {
    use super::step::AttemptEnd;
    let mut s = h.open();
    let f = finding("tok_stepped", "s.env", None);
    s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
    let (id, _) = s.enqueue(queued_job(&f, vec![9; 8]), now()).unwrap();
    let job = s
        .claim_job("pid:1", now(), chrono::Duration::seconds(60))
        .unwrap()
        .unwrap();
    let attempt = s.start_attempt(job.id, now()).unwrap();
    let step = Step::on(&f.fingerprint)
        .attempt(AttemptEnd {
            id: attempt,
            at: now(),
            outcome: "accepted".into(),
            http_status: Some(202),
            detail: None,
        })
        .job(id, JobState::Done, now(), Some("confirmed dead"))
        .verdict(&Verdict::new(VerdictKind::Dead), now())
        .event(Event::ConfirmedDead, now())
        .status(Status::Revoked)
        .audit(AuditEntry::new("policy", "confirmed-dead").finding(&f.fingerprint, &f.rule_id));

    // Inside a failing batch the step is rolled back with the rest.
    let e = s
        .batch(&mut |st| {
            st.apply(&step)?;
            anyhow::bail!("the runner died after the step")
        })
        .unwrap_err();
    assert!(e.to_string().contains("died"));
    assert_eq!(s.job(id).unwrap().unwrap().state, JobState::Running);
    assert!(s.audit_log(Some(&f.fingerprint)).unwrap().is_empty());

    s.apply(&step).unwrap();
    let j = s.job(id).unwrap().unwrap();
    assert_eq!(j.state, JobState::Done);
    assert!(j.sealed.is_none(), "a finished job keeps no sealed secret");
    assert_eq!(s.attempts(id).unwrap()[0].outcome.as_deref(), Some("accepted"));
    let stored = s.finding(&f.fingerprint).unwrap().unwrap();
    assert_eq!(stored.status, Status::Revoked);
    assert!(stored.timeline.confirmed_dead.is_some());
    let log = s.audit_log(Some(&f.fingerprint)).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "confirmed-dead");
}

pub(super) fn audit_log_is_append_only(h: &Harness) {
    let mut s = h.open();
    s.audit(AuditEntry::new("policy", "revoke-requested").detail("x"))
        .unwrap();
    assert_eq!(s.audit_log(None).unwrap().len(), 1);
    for sql in ["UPDATE audit SET action = 'nothing'", "DELETE FROM audit"] {
        let e = h.sql(sql).unwrap_err();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(s.audit_log(None).unwrap().len(), 1);
}

pub(super) fn two_processes_creating_one_store_at_once_apply_each_step_once(h: &Harness) {
    std::thread::scope(|scope| {
        let opened: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| h.open_result().map(drop)))
            .collect();
        for t in opened {
            t.join().unwrap().unwrap();
        }
    });
    let n = h.count("SELECT COUNT(*) FROM schema_migrations");
    assert_eq!(n, migrate::latest(migrate::SQLITE));
}

pub(super) fn a_schema_newer_than_this_binary_is_refused(h: &Harness) {
    drop(h.open());
    h.sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future', 'x')")
        .unwrap();
    let e = format!("{:#}", h.open_result().err().unwrap());
    assert!(
        e.contains("schema version 99") && e.contains("upgrade quench"),
        "{e}"
    );
}

/// Eight stores (eight processes' connections) spend one budget of 40 at once, 160 tries in
/// all, started together: exactly 40 are granted.
pub(super) fn stores_racing_on_one_budget_never_exceed_it(h: &Harness) {
    drop(h.open());
    let t0 = now();
    let granted = std::sync::atomic::AtomicUsize::new(0);
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let mut s = h.open();
                start.wait();
                for i in 0..20 {
                    let at = t0 + chrono::Duration::milliseconds(i);
                    if s.spend_budget("revoke:github", 40, at).unwrap() == Spend::Granted {
                        granted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 40);
    assert_eq!(h.open().budget_spent("revoke:github", t0).unwrap(), 40);
}

/// Four stores (four processes' connections) reserve 5 slots each of one 100 ms pace at once:
/// the 20 slots, sorted, are 100 ms apart, so the rate holds between them however the
/// reservations interleave; another key's pace is its own. A slot is known here within the
/// call's round trip (the store reads its clock somewhere inside it), so each is a range.
pub(super) fn stores_reserving_one_pace_at_once_get_distinct_spaced_slots(h: &Harness) {
    drop(h.open());
    let step = Duration::from_millis(100);
    let start = std::sync::Barrier::new(4);
    let t0 = std::time::Instant::now();
    let slots = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut s = h.open();
                start.wait();
                for _ in 0..5 {
                    let asked = std::time::Instant::now();
                    let wait = s.pace("verify:test", step).unwrap();
                    let answered = std::time::Instant::now();
                    let range = (
                        (asked + wait - t0).as_secs_f64(),
                        (answered + wait - t0).as_secs_f64(),
                    );
                    slots.lock().unwrap().push(range);
                }
            });
        }
    });
    let mut slots = slots.into_inner().unwrap();
    slots.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(slots.len(), 20);
    for w in slots.windows(2) {
        // Even read as far apart as their ranges allow, two slots one step apart.
        assert!(
            w[1].1 - w[0].0 >= 0.1,
            "slots {:?} and {:?}: {slots:?}",
            w[0],
            w[1]
        );
    }
    assert!(slots[19].1 >= 19.0 * 0.1, "{slots:?}");
    let other = h.open().pace("verify:other", step).unwrap();
    assert!(other < Duration::from_millis(10), "{other:?}");
    // A Retry-After seen by one holds the others' next slots back; a shorter one later does
    // not bring them forward.
    h.open()
        .pace_hold("verify:other", Duration::from_secs(2))
        .unwrap();
    h.open()
        .pace_hold("verify:other", Duration::from_millis(10))
        .unwrap();
    let held = h.open().pace("verify:other", step).unwrap();
    assert!(held > Duration::from_millis(1500), "{held:?}");
}

/// Four stores claim from one queue of 20 due jobs at once: every job is claimed exactly
/// once.
pub(super) fn stores_claiming_at_once_never_claim_one_job_twice(h: &Harness) {
    let mut s = h.open();
    for i in 0..20 {
        let f = finding(&format!("tok_race{}", "q".repeat(i + 1)), "b.env", None);
        s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
        s.enqueue(queued_job(&f, vec![1]), now()).unwrap();
    }
    drop(s);
    let lease = chrono::Duration::seconds(600);
    let claimed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..4 {
            let claimed = &claimed;
            scope.spawn(move || {
                let mut s = h.open();
                loop {
                    let got = s.claim_jobs(&format!("worker:{w}"), now(), lease, 3).unwrap();
                    if got.is_empty() {
                        break;
                    }
                    claimed.lock().unwrap().extend(got.into_iter().map(|j| j.id));
                }
            });
        }
    });
    let mut ids = claimed.into_inner().unwrap();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (20, 20), "a job was claimed twice or not at all");
}

/// The revocation runner calls the store from async tasks; a store must work there too.
pub(super) fn calls_from_inside_an_async_runtime_work(h: &Harness) {
    let mut s = h.open();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let f = finding("tok_inasync", "c.env", None);
    rt.block_on(async {
        s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
        s.batch(&mut |st| st.audit(AuditEntry::new("quench", "verified")))
            .unwrap();
        assert!(s.finding(&f.fingerprint).unwrap().is_some());
        // Opening and closing a connection there too (the client's own runtime runs both).
        let other = h.open();
        assert_eq!(other.audit_log(None).unwrap().len(), 1);
        drop(other);
    });
    assert_eq!(s.audit_log(None).unwrap().len(), 1);
}

/// A server restart (here: its connections cut) fails the call that meets it, with a message
/// saying so; the next call reconnects, and nothing was half-written.
#[test]
fn postgres_a_cut_connection_fails_one_call_and_the_next_reconnects() {
    let db = ScratchDb::require();
    let mut s = PgStore::open(&db.url).unwrap();
    s.audit(AuditEntry::new("quench", "before")).unwrap();
    assert!(db.cut_connections() >= 1);
    let f = finding("tok_acrossrestart", "r.env", None);
    let e = s
        .record_findings(&[(&f, Attribution::default())], now())
        .unwrap_err();
    let e = format!("{e:#}");
    // The server's last word, or the closed socket, whichever the client reads first.
    assert!(
        e.starts_with("store postgres://")
            && (e.contains("terminating connection") || e.contains("connection to the server was lost")),
        "{e}"
    );
    s.record_findings(&[(&f, Attribution::default())], now()).unwrap();
    let stored = s.finding(&f.fingerprint).unwrap().unwrap();
    assert_eq!(stored.locations, 1, "the failed call wrote part of its rows");
    assert_eq!(s.audit_log(None).unwrap().len(), 1);
}

/// The first key checked against a store is its key: checked again, it passes; another key is
/// refused with a message that says what to do.
pub(super) fn another_processes_key_is_refused(h: &Harness) {
    let (mine, theirs) = (seal::Sealer::from_key(&[7; 32]), seal::Sealer::from_key(&[8; 32]));
    check_key(h.open().as_mut(), &mine).unwrap();
    check_key(h.open().as_mut(), &mine).unwrap();
    let e = check_key(h.open().as_mut(), &theirs).unwrap_err().to_string();
    assert!(e.contains("same key") && e.contains("QUENCH_STORE_KEY"), "{e}");
    assert!(!h.holds(&hex::encode([7u8; 32])), "the key reached the database");
}

/// A dropped store's connection is kept for the next open; one the server closed while it
/// waited (a restart) is not handed out: the next open connects anew and works.
#[test]
fn postgres_a_kept_connection_cut_while_idle_is_not_reused() {
    let db = ScratchDb::require();
    let mut s = PgStore::open(&db.url).unwrap();
    s.audit(AuditEntry::new("quench", "first")).unwrap();
    drop(s);
    assert!(
        db.cut_connections() >= 1,
        "the kept connection is gone from the server"
    );
    let mut s = PgStore::open(&db.url).expect("a cut idle connection broke the next open");
    s.audit(AuditEntry::new("quench", "second")).unwrap();
    assert_eq!(s.audit_log(None).unwrap().len(), 2);
}
