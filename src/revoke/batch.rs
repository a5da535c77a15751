//! Batched revocation for endpoints that take many credentials per request (GitHub's
//! `POST /credentials/revoke`: up to 1,000 per call, within 60 requests an hour).
//!
//! Jobs still run one by one (each records its own attempt and re-verifies its own key); only
//! the call is shared. The first job to reach an endpoint opens a batch and waits a short
//! window while others join; it then sends one request for all of them and every member gets
//! the same answer. A full batch closes early and the next job opens a new one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::issuer::CallResult;

struct Pending {
    secrets: Vec<String>,
    done: watch::Sender<Option<CallResult>>,
}

pub struct Batcher {
    open: Mutex<HashMap<String, Arc<Mutex<Pending>>>>,
    window: Duration,
}

impl Batcher {
    pub fn new(window: Duration) -> Batcher {
        Batcher {
            open: Mutex::new(HashMap::new()),
            window,
        }
    }

    /// Adds `secret` to the open batch for `key` (at most `max` per request) and returns the
    /// answer to the request that carried it. `send` is called once per batch, by its leader.
    pub async fn submit<F, Fut>(&self, key: &str, secret: String, max: usize, send: F) -> CallResult
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = CallResult>,
    {
        let (pending, leader) = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let joinable = open.get(key).filter(|p| {
                let g = p.lock().unwrap_or_else(|e| e.into_inner());
                g.secrets.len() < max.max(1)
            });
            match joinable {
                Some(p) => {
                    p.lock().unwrap_or_else(|e| e.into_inner()).secrets.push(secret);
                    (p.clone(), false)
                }
                None => {
                    let p = Arc::new(Mutex::new(Pending {
                        secrets: vec![secret],
                        done: watch::channel(None).0,
                    }));
                    open.insert(key.to_string(), p.clone());
                    (p, true)
                }
            }
        };
        if !leader {
            let mut rx = pending.lock().unwrap_or_else(|e| e.into_inner()).done.subscribe();
            return match rx.wait_for(|v| v.is_some()).await {
                Ok(v) => v.clone().unwrap_or(CallResult::Retry {
                    status: None,
                    reason: "batched call lost".into(),
                    after: None,
                }),
                Err(_) => CallResult::Retry {
                    status: None,
                    reason: "batched call lost".into(),
                    after: None,
                },
            };
        }
        tokio::time::sleep(self.window).await;
        let items = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.get(key).is_some_and(|p| Arc::ptr_eq(p, &pending)) {
                open.remove(key);
            }
            std::mem::take(&mut pending.lock().unwrap_or_else(|e| e.into_inner()).secrets)
        };
        let result = send(items).await;
        let _ = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .done
            .send(Some(result.clone()));
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_jobs_share_one_call_up_to_the_limit() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let b = Arc::new(Batcher::new(Duration::from_millis(100)));
        let calls = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..5 {
                let (b, calls, sizes) = (b.clone(), calls.clone(), sizes.clone());
                set.spawn(async move {
                    b.submit("k", format!("s{i}"), 3, |items| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        sizes.lock().unwrap().push(items.len());
                        CallResult::Accepted { status: 202 }
                    })
                    .await
                });
            }
            while let Some(r) = set.join_next().await {
                assert_eq!(r.unwrap(), CallResult::Accepted { status: 202 });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let mut s = sizes.lock().unwrap().clone();
        s.sort();
        assert_eq!(s, vec![2, 3]);
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
