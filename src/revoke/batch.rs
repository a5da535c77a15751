//! Batched revocation for endpoints that take many credentials per request (GitHub's
//! `POST /credentials/revoke`: up to 1,000 per call, within 60 requests an hour).
//!
//! Jobs still run one by one (each records its own attempt and re-verifies its own key); only
//! the call is shared. Each endpoint has at most one call in flight: a job that finds the
//! endpoint idle sends at once (a lone key is not held back waiting for company), and jobs that
//! arrive while a call is out queue up; when that call returns, the first of them sends
//! everything pending (up to the endpoint's maximum) as the next call. So a burst of findings
//! costs a handful of requests, and no key waits for a fixed window.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::outcome::CallResult;

/// What a queued job is woken with: the answer to the call that carried it, or the turn to
/// send the next call itself.
enum Wake {
    Done(CallResult),
    Lead,
}

#[derive(Default)]
struct Endpoint {
    /// A call is out (or about to be).
    busy: bool,
    queue: VecDeque<(String, oneshot::Sender<Wake>)>,
}

#[derive(Default)]
pub struct Batcher {
    endpoints: Mutex<HashMap<String, Endpoint>>,
}

fn lost() -> CallResult {
    CallResult::Retry {
        status: None,
        reason: "batched call lost".into(),
        after: None,
    }
}

/// The job sending a call. If its future is dropped mid-call, the members it carried are told
/// the call was lost and the next queued job takes over, so an endpoint is never left busy.
struct Leader<'a> {
    batcher: &'a Batcher,
    key: &'a str,
    members: Vec<oneshot::Sender<Wake>>,
    finished: bool,
}

impl Leader<'_> {
    fn finish(&mut self, result: &CallResult) {
        // The next sender is woken first, so that the next call goes out before this call's
        // members start their own bookkeeping.
        self.batcher.hand_on(self.key);
        for m in self.members.drain(..) {
            let _ = m.send(Wake::Done(result.clone()));
        }
        self.finished = true;
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(&lost());
        }
    }
}

impl Batcher {
    pub fn new() -> Batcher {
        Batcher::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Endpoint>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queued(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |ep| ep.queue.len())
    }

    /// Gives the endpoint to the first queued job still waiting, or marks it idle.
    fn hand_on(&self, key: &str) {
        let mut eps = self.lock();
        let Some(ep) = eps.get_mut(key) else { return };
        // The job handed the turn sends its own secret with the rest; one whose future is gone
        // cannot lead, so the next one does.
        while let Some((_, tx)) = ep.queue.pop_front() {
            if tx.send(Wake::Lead).is_ok() {
                return;
            }
        }
        ep.busy = false;
    }

    /// Adds `secret` to the next call for `key` (at most `max` credentials per request) and
    /// returns the answer to the request that carried it. `send` is called once per request, by
    /// the job that sends it, after waiting up to `fill()` (asked of the sender only) for the
    /// call to fill.
    pub async fn submit<F, Fut>(
        &self,
        key: &str,
        secret: String,
        max: usize,
        fill: impl FnOnce() -> std::time::Duration,
        send: F,
    ) -> CallResult
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = CallResult>,
    {
        let wait = {
            let mut eps = self.lock();
            let ep = eps.entry(key.to_string()).or_default();
            if ep.busy {
                let (tx, rx) = oneshot::channel();
                ep.queue.push_back((secret.clone(), tx));
                Some(rx)
            } else {
                ep.busy = true;
                None
            }
        };
        if let Some(rx) = wait {
            match rx.await {
                Ok(Wake::Done(r)) => return r,
                Ok(Wake::Lead) => {}
                Err(_) => return lost(),
            }
        }
        let window = fill();
        if !window.is_zero() {
            let until = tokio::time::Instant::now() + window;
            while tokio::time::Instant::now() < until && self.queued(key) + 1 < max {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        // This job sends: its own secret and whatever else is pending, up to `max`.
        let (secrets, members) = {
            let mut eps = self.lock();
            let ep = eps.entry(key.to_string()).or_default();
            let take = ep.queue.len().min(max.max(1) - 1);
            let mut secrets = vec![secret];
            let mut members = Vec::with_capacity(take);
            for (s, tx) in ep.queue.drain(..take) {
                secrets.push(s);
                members.push(tx);
            }
            (secrets, members)
        };
        let mut leader = Leader {
            batcher: self,
            key,
            members,
            finished: false,
        };
        let result = send(secrets).await;
        leader.finish(&result);
        result
    }
}

/// The JSON body template with every array element `"{secret}"` replaced by all `items`.
pub fn expand(template: &toml::Value, items: &[String]) -> toml::Value {
    match template {
        toml::Value::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                if x.as_str() == Some("{secret}") {
                    out.extend(items.iter().cloned().map(toml::Value::String));
                } else {
                    out.push(expand(x, items));
                }
            }
            toml::Value::Array(out)
        }
        toml::Value::Table(t) => {
            toml::Value::Table(t.iter().map(|(k, v)| (k.clone(), expand(v, items))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Jobs arriving while a call is out share the next call, up to the limit; nothing waits
    /// for a window: the first job sends alone at once.
    #[test]
    fn jobs_queued_behind_a_call_share_the_next_one_up_to_the_limit() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let b = Arc::new(Batcher::new());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let started = std::time::Instant::now();
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..8 {
                let (b, sizes) = (b.clone(), sizes.clone());
                set.spawn(async move {
                    b.submit("k", format!("s{i}"), 3, Duration::default, |items| async move {
                        sizes.lock().unwrap().push(items.len());
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        CallResult::Accepted { status: 202 }
                    })
                    .await
                });
                // Let the first job's call go out before the others arrive.
                if i == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
            while let Some(r) = set.join_next().await {
                assert_eq!(r.unwrap(), CallResult::Accepted { status: 202 });
            }
        });
        // 1 alone, then the 7 that queued meanwhile in calls of at most 3.
        assert_eq!(*sizes.lock().unwrap(), vec![1, 3, 3, 1]);
        assert!(started.elapsed() < std::time::Duration::from_millis(400));
    }

    /// A sender whose future is dropped mid-call does not leave the endpoint busy.
    #[test]
    fn a_dropped_sender_hands_the_endpoint_on() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let b = Arc::new(Batcher::new());
        rt.block_on(async {
            let b1 = b.clone();
            let first = tokio::spawn(async move {
                b1.submit("k", "a".into(), 10, Duration::default, |_| std::future::pending())
                    .await
            });
            tokio::task::yield_now().await;
            let b2 = b.clone();
            let second = tokio::spawn(async move {
                b2.submit("k", "b".into(), 10, Duration::default, |items| async move {
                    assert_eq!(items, vec!["b".to_string()]);
                    CallResult::Accepted { status: 202 }
                })
                .await
            });
            tokio::task::yield_now().await;
            first.abort();
            let r = tokio::time::timeout(std::time::Duration::from_secs(2), second)
                .await
                .expect("the queued job was never handed the endpoint")
                .unwrap();
            assert_eq!(r, CallResult::Accepted { status: 202 });
        });
    }

    #[test]
    fn expand_replaces_the_secret_placeholder() {
        let t: toml::Value = toml::from_str::<toml::Table>("credentials = [\"{secret}\"]")
            .unwrap()
            .into();
        let v = expand(&t, &["a".into(), "b".into()]);
        assert_eq!(v["credentials"].as_array().unwrap().len(), 2);
    }
}
