//! One stage's writes, applied as one unit. The revocation runner ends each stage (queued,
//! called, confirmed, retried, escalated) by changing a job, a finding's status and timeline,
//! and the audit log together; written one query at a time, a crash between "job done" and
//! "finding revoked" left the two disagreeing, and each write paid its own commit. A [`Step`]
//! names what the stage concluded, and [`super::Store::apply`] writes it in one transaction on
//! either backend.

use super::{AuditEntry, Event, JobState, Status, Time, Verdict};

/// What a stage changes on one job.
#[derive(Debug, Clone)]
pub enum JobChange {
    /// The job moves to `state`, due again at `next_at` if it is queued.
    Move {
        id: i64,
        state: JobState,
        next_at: Time,
        reason: Option<String>,
    },
    /// Nothing was sent (a request budget was spent): back in the queue without counting the
    /// claim as an attempt.
    Defer { id: i64, next_at: Time, reason: String },
}

/// How a recorded attempt ended (see [`super::Store::start_attempt`]).
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    pub id: i64,
    pub at: Time,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub detail: Option<String>,
}

/// The writes one stage makes to one finding, in the order they are applied: the attempt's
/// end, the job, a verdict, timeline events, the status, then the audit lines.
#[derive(Debug, Clone)]
pub struct Step {
    pub fingerprint: String,
    pub attempt: Option<AttemptEnd>,
    pub job: Option<JobChange>,
    pub verdict: Option<(Verdict, Time)>,
    pub events: Vec<(Event, Time)>,
    pub status: Option<Status>,
    pub audit: Vec<AuditEntry>,
}

impl Step {
    /// A step on the finding `fingerprint` that changes nothing yet.
    pub fn on(fingerprint: &str) -> Step {
        Step {
            fingerprint: fingerprint.into(),
            attempt: None,
            job: None,
            verdict: None,
            events: vec![],
            status: None,
            audit: vec![],
        }
    }

    pub fn job(mut self, id: i64, state: JobState, next_at: Time, reason: Option<&str>) -> Step {
        self.job = Some(JobChange::Move {
            id,
            state,
            next_at,
            reason: reason.map(String::from),
        });
        self
    }

    pub fn defer(mut self, id: i64, next_at: Time, reason: &str) -> Step {
        self.job = Some(JobChange::Defer {
            id,
            next_at,
            reason: reason.into(),
        });
        self
    }

    pub fn attempt(mut self, end: AttemptEnd) -> Step {
        self.attempt = Some(end);
        self
    }

    pub fn verdict(mut self, v: &Verdict, at: Time) -> Step {
        self.verdict = Some((v.clone(), at));
        self
    }

    pub fn event(mut self, e: Event, at: Time) -> Step {
        self.events.push((e, at));
        self
    }

    pub fn status(mut self, s: Status) -> Step {
        self.status = Some(s);
        self
    }

    pub fn audit(mut self, entry: AuditEntry) -> Step {
        self.audit.push(entry);
        self
    }

    /// A verdict on a finding and the audit line that says `actor` verified it: what a scan,
    /// a recheck and the runner each record when an issuer answers.
    pub fn verified(actor: &str, fingerprint: &str, rule_id: &str, v: &Verdict, at: Time) -> Step {
        Step::on(fingerprint).verdict(v, at).audit(
            AuditEntry::new(actor, "verified")
                .finding(fingerprint, rule_id)
                .status(v.http_status)
                .detail(v.verdict.as_str()),
        )
    }
}
