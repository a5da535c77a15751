//! A tiny GitHub-shaped issuer on 127.0.0.1 for the revocation tests: `GET /user` verifies,
//! `POST /credentials/revoke` kills, an admin-style list/delete pair, and `POST /hook` receives
//! webhooks. It records every call and can fail, or hang after acting, on demand.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
pub struct IssuerState {
    /// Live secrets and the login each acts as.
    pub live: Mutex<HashMap<String, String>>,
    /// (method, path) of every call, in order.
    pub calls: Mutex<Vec<(String, String)>>,
    /// Bodies received on /hook.
    pub hooks: Mutex<Vec<Value>>,
    /// Answer this many upcoming revoke calls with 503.
    pub fail_revokes: AtomicUsize,
    /// Answer this many upcoming revoke calls with 429 and `Retry-After: 2`.
    pub rate_limit_revokes: AtomicUsize,
    /// Apply the next revoke, then never answer (for the kill -9 test).
    pub hang_after_revoke: AtomicBool,
    /// Never answer the next revoke, without applying it.
    pub hang_before_revoke: AtomicBool,
    /// Answer every revoke call this many milliseconds late (a call that is still out when
    /// other jobs arrive).
    pub revoke_delay_ms: AtomicU64,
    pub admin_key: Mutex<Option<String>>,
    /// Connections accepted: how well the client reuses them.
    pub connections: AtomicUsize,
    pub deleted_ids: Mutex<HashSet<String>>,
}

pub struct FakeIssuer {
    pub url: String,
    pub state: Arc<IssuerState>,
}

impl FakeIssuer {
    pub fn start(live: &[(&str, &str)]) -> FakeIssuer {
        let state = Arc::new(IssuerState::default());
        state
            .live
            .lock()
            .unwrap()
            .extend(live.iter().map(|(s, l)| (s.to_string(), l.to_string())));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let counted = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/user", get(user))
                    .route("/credentials/revoke", post(revoke))
                    .route("/admin/keys", get(list_keys))
                    .route("/admin/keys/{id}", delete(delete_key))
                    .route("/hook", post(hook))
                    .with_state(st);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let listener = listener.tap_io(move |_| {
                    counted.connections.fetch_add(1, Ordering::SeqCst);
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        FakeIssuer {
            url: format!("http://{addr}"),
            state,
        }
    }

    pub fn is_live(&self, secret: &str) -> bool {
        self.state.live.lock().unwrap().contains_key(secret)
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p)| m == method && p.starts_with(path))
            .count()
    }

    pub fn hooks(&self) -> Vec<Value> {
        self.state.hooks.lock().unwrap().clone()
    }
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

fn record(s: &IssuerState, m: &str, p: &str) {
    s.calls.lock().unwrap().push((m.into(), p.into()));
}

async fn user(State(s): State<Arc<IssuerState>>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    record(&s, "GET", "/user");
    match s.live.lock().unwrap().get(&bearer(&h)) {
        Some(login) => (StatusCode::OK, Json(json!({ "login": login }))),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "Bad credentials" })),
        ),
    }
}

async fn revoke(State(s): State<Arc<IssuerState>>, Json(body): Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    record(&s, "POST", "/credentials/revoke");
    if s.rate_limit_revokes
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            Json(json!({ "message": "API rate limit exceeded" })),
        )
            .into_response();
    }
    if s.fail_revokes
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "message": "try later" })),
        )
            .into_response();
    }
    if s.hang_before_revoke.swap(false, Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    // No await between the call's record and its effect unless a delay was asked for: a client
    // killed right after sending (the kill -9 test) must not be able to cancel the revocation
    // by closing the connection, as the count already says it arrived.
    let delay = s.revoke_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    for c in body["credentials"].as_array().into_iter().flatten() {
        if let Some(c) = c.as_str() {
            s.live.lock().unwrap().remove(c);
        }
    }
    if s.hang_after_revoke.swap(false, Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}

/// Admin listing: every live key with an id and a redacted hint (head…tail).
async fn list_keys(State(s): State<Arc<IssuerState>>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    record(&s, "GET", "/admin/keys");
    if Some(bearer(&h)) != *s.admin_key.lock().unwrap() {
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    let data: Vec<Value> = s
        .live
        .lock()
        .unwrap()
        .keys()
        .map(|k| json!({ "id": format!("key_{}", &k[k.len() - 6..]), "redacted_value": format!("{}...{}", &k[..8], &k[k.len() - 4..]) }))
        .collect();
    (StatusCode::OK, Json(json!({ "data": data })))
}

async fn delete_key(State(s): State<Arc<IssuerState>>, h: HeaderMap, Path(id): Path<String>) -> StatusCode {
    record(&s, "DELETE", "/admin/keys");
    if Some(bearer(&h)) != *s.admin_key.lock().unwrap() {
        return StatusCode::UNAUTHORIZED;
    }
    let mut live = s.live.lock().unwrap();
    let key = live
        .keys()
        .find(|k| format!("key_{}", &k[k.len() - 6..]) == id)
        .cloned();
    match key {
        Some(k) => {
            live.remove(&k);
            s.deleted_ids.lock().unwrap().insert(id);
            StatusCode::OK
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn hook(State(s): State<Arc<IssuerState>>, Json(body): Json<Value>) -> StatusCode {
    record(&s, "POST", "/hook");
    s.hooks.lock().unwrap().push(body);
    StatusCode::OK
}
