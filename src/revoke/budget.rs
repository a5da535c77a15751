//! Hourly request budgets for rate-limited revoke endpoints.
//!
//! Some issuers cap their public revoke endpoint hard: GitHub's `POST /credentials/revoke` takes
//! 60 unauthenticated requests an hour. The cap is data in the issuer registry
//! (`revoke_per_hour`, overridable as `[issuers.github] revoke_per_hour = N`) and the count of
//! requests spent lives in the store, so it holds across runs, restarts and every process on the
//! same store. A call the budget cannot pay for is not sent: its jobs are deferred until a
//! request frees, with the reason in the audit log. A 429 from such an endpoint holds the whole
//! budget until its `Retry-After` has passed.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use super::outcome::CallResult;
use crate::issuer::registry::IssuerEntry;
use crate::issuer::revoke_recipe::Authority;
use crate::store::{self, Spend, Store};

/// How long a 429 without `Retry-After` holds the budget.
const DEFAULT_HOLD: Duration = Duration::from_secs(60);
/// Once half an hour's budget is spent, a batched call waits this long for company (unless it
/// fills first): sending each burst at once is fastest, but a scan finding thousands of keys
/// would otherwise spend GitHub's 60 requests on small batches and defer the rest for an hour.
/// (Measured, 5,000 keys at 60/hour: sent at once, 60 requests carried 3,778 keys and 1,222
/// waited.)
pub const FILL_WINDOW: Duration = Duration::from_secs(1);

/// The store connection budgets are counted in (its own, so that a budget check never waits
/// behind the runner's bookkeeping).
pub struct Budgets {
    store: Mutex<Box<dyn Store>>,
}

/// Issuers' verify rates kept in a shared store ([`crate::verify::Pace`]): every process on one
/// PostgreSQL database reserves its requests' slots there, so N processes send an issuer its
/// rate between them. Its own connection, like [`Budgets`].
pub struct StorePace {
    store: Mutex<Box<dyn Store>>,
}

impl crate::verify::Pace for StorePace {
    fn reserve(&self, issuer: &str, interval: Duration) -> anyhow::Result<Duration> {
        let mut st = self.store.lock().unwrap_or_else(|e| e.into_inner());
        st.pace(&format!("verify:{issuer}"), interval)
    }

    fn hold(&self, issuer: &str, d: Duration) -> anyhow::Result<()> {
        let mut st = self.store.lock().unwrap_or_else(|e| e.into_inner());
        st.pace_hold(&format!("verify:{issuer}"), d)
    }
}

/// The shared pacing of verify requests for the store `dir` names: on PostgreSQL, the
/// database's; `None` on SQLite, whose one host's processes each pace themselves.
pub fn shared_pace(dir: &store::DataDir) -> anyhow::Result<Option<std::sync::Arc<dyn crate::verify::Pace>>> {
    if !matches!(dir.backend, store::Backend::Postgres(_)) {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(StorePace {
        store: Mutex::new(store::open(dir)?),
    })))
}

/// [`shared_pace`] for a scanning command's store options: `None` when it uses no store.
pub fn pace_for(
    args: &store::StoreOptions,
    config: &crate::config::Config,
    roots: &[String],
) -> anyhow::Result<Option<std::sync::Arc<dyn crate::verify::Pace>>> {
    if !store::DataDir::enabled(args, config)? {
        return Ok(None);
    }
    shared_pace(&store::DataDir::resolve(args, config, roots)?)
}

/// One budgeted call: the issuer whose budget it spends and the issuer's hourly cap.
pub struct Guard<'a> {
    budgets: &'a Budgets,
    issuer: String,
    per_hour: u32,
}

impl Budgets {
    pub fn new(store: Box<dyn Store>) -> Budgets {
        Budgets {
            store: Mutex::new(store),
        }
    }

    /// The budget a revoke call spends, if its issuer caps its public revoke endpoints.
    pub fn guard(&self, issuer: Option<&IssuerEntry>, authority: Authority) -> Option<Guard<'_>> {
        let e = issuer?;
        if authority != Authority::Public {
            return None;
        }
        Some(Guard {
            budgets: self,
            issuer: e.name.clone(),
            per_hour: e.revoke_per_hour?,
        })
    }
}

impl Guard<'_> {
    fn key(&self) -> String {
        format!("revoke:{}", self.issuer)
    }

    /// How long a batched call should wait to fill: nothing while the budget is ample.
    pub fn fill_window(&self) -> Duration {
        match self.store().budget_spent(&self.key(), store::now()) {
            Ok(spent) if spent.saturating_mul(2) < self.per_hour => Duration::ZERO,
            _ => FILL_WINDOW,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
        self.budgets.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one request, or says why none may go now and for how long.
    fn spend(&self) -> Result<(), CallResult> {
        let now = store::now();
        let spend = self.store().spend_budget(&self.key(), self.per_hour, now);
        let (until, why) = match spend {
            Ok(Spend::Granted) => return Ok(()),
            Ok(Spend::Spent { next }) => (
                next,
                format!(
                    "{}'s revoke budget ({} requests an hour, registry revoke_per_hour) is spent",
                    self.issuer, self.per_hour
                ),
            ),
            Ok(Spend::Held { until }) => (
                until,
                format!("{} asked for a pause (429 Retry-After)", self.issuer),
            ),
            Err(e) => {
                return Err(CallResult::Retry {
                    status: None,
                    reason: format!("cannot read {}'s revoke budget: {e:#}", self.issuer),
                    after: None,
                })
            }
        };
        Err(deferred(why, until, now))
    }

    /// A 429 holds the budget for every runner until its `Retry-After`; the call's jobs wait.
    fn observe(&self, result: CallResult) -> CallResult {
        let CallResult::Retry {
            status: Some(429),
            after,
            ..
        } = result
        else {
            return result;
        };
        let now = store::now();
        let until = now + chrono::Duration::from_std(after.unwrap_or(DEFAULT_HOLD)).unwrap_or_default();
        let held = self.store().hold_budget(&self.key(), until);
        let why = match held {
            Ok(()) => format!("{} answered 429; its revoke calls are held", self.issuer),
            Err(e) => format!(
                "{} answered 429 (the hold could not be stored: {e:#})",
                self.issuer
            ),
        };
        deferred(why, until, now)
    }
}

fn deferred(why: String, until: store::Time, now: store::Time) -> CallResult {
    CallResult::Deferred {
        reason: format!("{why}; deferred until {}", store::fmt_time(&until)),
        after: (until - now).to_std().unwrap_or_default(),
    }
}

/// Sends `call` if `guard`'s budget (when there is one) pays for it.
pub async fn guarded(guard: Option<Guard<'_>>, call: impl Future<Output = CallResult>) -> CallResult {
    let Some(g) = guard else {
        return call.await;
    };
    if let Err(r) = g.spend() {
        return r;
    }
    g.observe(call.await)
}
