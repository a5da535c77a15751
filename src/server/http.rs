//! The HTTP surface: webhook receivers, health and metrics.
//!
//! A receiver authenticates, parses and checks the remote before anything is queued, and answers
//! 202 only after the queue has committed the delivery. Refusals are logged with the cause and
//! the delivery id, never the body.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth;
use super::event::{self, PushEvent};
use super::metrics::inc;
use super::queue::Enqueued;
use super::{log, Service};

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/hooks/github", post(github))
        .route("/hooks/gitlab", post(gitlab))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(svc)
}

async fn healthz(State(svc): State<Arc<Service>>) -> Response {
    let q = svc.queue.clone();
    match tokio::task::spawn_blocking(move || q.depth()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("queue unavailable: {e:#}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("queue unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(svc): State<Arc<Service>>) -> Response {
    let q = svc.queue.clone();
    let depth = tokio::task::spawn_blocking(move || q.depth())
        .await
        .ok()
        .and_then(|d| d.ok());
    (
        [("content-type", "text/plain; version=0.0.4")],
        svc.metrics.render(depth.as_ref()),
    )
        .into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn reply(status: StatusCode, what: &str, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "status": what, "detail": detail.into() }))).into_response()
}

/// Reads the body up to the configured limit; `Err` is the 413 answer, already logged.
async fn read_body(
    svc: &Service,
    hook: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Response> {
    let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let too_large = |n: String| {
        inc(&svc.metrics.refused_too_large);
        log(format_args!(
            "{hook}: refused: body of {n} bytes is over the {} byte limit",
            svc.max_body
        ));
        reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "refused",
            format!("body over {} bytes", svc.max_body),
        )
    };
    if let Some(n) = declared.filter(|&n| n > svc.max_body as u64) {
        return Err(too_large(n.to_string()));
    }
    // The signature covers the whole body, so it is read before anyone is authenticated: only
    // so many at once, each within the request timeout, bound what strangers can make the
    // service hold.
    let busy = || {
        log(format_args!(
            "{hook}: refused: too many requests being read at once"
        ));
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many requests in progress; retry",
        )
    };
    let Ok(Ok(_slot)) = tokio::time::timeout(svc.request_timeout, svc.body_slots.acquire()).await else {
        return Err(busy());
    };
    match tokio::time::timeout(svc.request_timeout, axum::body::to_bytes(body, svc.max_body)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(too_large("more than that".into())),
        Err(_) => {
            log(format_args!("{hook}: refused: the body was not sent in time"));
            Err(reply(
                StatusCode::REQUEST_TIMEOUT,
                "refused",
                "request body not sent in time",
            ))
        }
    }
}

fn unauthorized(svc: &Service, hook: &str, delivery: &str, why: &str) -> Response {
    inc(&svc.metrics.refused_unauthorized);
    log(format_args!("{hook}: refused delivery {delivery}: {why}"));
    reply(StatusCode::UNAUTHORIZED, "refused", why)
}

fn malformed(svc: &Service, hook: &str, delivery: &str, why: &str) -> Response {
    inc(&svc.metrics.refused_malformed);
    log(format_args!(
        "{hook}: refused delivery {delivery}: malformed: {why}"
    ));
    reply(StatusCode::BAD_REQUEST, "refused", why)
}

fn ignored(svc: &Service, hook: &str, delivery: &str, why: &str) -> Response {
    inc(&svc.metrics.deliveries_ignored);
    log(format_args!("{hook}: ignored delivery {delivery}: {why}"));
    reply(StatusCode::OK, "ignored", why)
}

async fn github(State(svc): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    const HOOK: &str = "github";
    let delivery = header(&headers, "x-github-delivery")
        .unwrap_or("")
        .trim()
        .to_string();
    let shown = if delivery.is_empty() {
        "(no id)"
    } else {
        delivery.as_str()
    };
    // What can be refused from the headers alone is, before the body is read.
    let Some(secret) = svc.github_secret.as_deref() else {
        return unauthorized(&svc, HOOK, shown, "no GitHub webhook secret is configured");
    };
    if header(&headers, "x-hub-signature-256").is_none() {
        return unauthorized(&svc, HOOK, shown, "unsigned (no X-Hub-Signature-256)");
    }
    let body = match read_body(&svc, HOOK, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !auth::github_signature_ok(secret, &body, header(&headers, "x-hub-signature-256")) {
        return unauthorized(&svc, HOOK, shown, "X-Hub-Signature-256 does not match the body");
    }
    match header(&headers, "x-github-event").unwrap_or("") {
        "ping" => {
            log(format_args!("{HOOK}: ping {shown}"));
            return (StatusCode::OK, Json(json!({ "status": "pong" }))).into_response();
        }
        "push" => {}
        "" => return malformed(&svc, HOOK, shown, "no X-GitHub-Event header"),
        other => return ignored(&svc, HOOK, shown, &format!("event {other:?} is not scanned")),
    }
    if delivery.is_empty() || delivery.len() > 200 {
        return malformed(&svc, HOOK, shown, "X-GitHub-Delivery is missing or too long");
    }
    let event = match event::parse_github(&body) {
        Ok(e) => e,
        Err(e) => return malformed(&svc, HOOK, shown, &e.to_string()),
    };
    accept(&svc, HOOK, &delivery, event).await
}

async fn gitlab(State(svc): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    const HOOK: &str = "gitlab";
    // The token is a header: checked before a byte of the body is read.
    let Some(token) = svc.gitlab_token.as_deref() else {
        return unauthorized(&svc, HOOK, "(unread)", "no GitLab webhook token is configured");
    };
    if !auth::token_ok(token, header(&headers, "x-gitlab-token")) {
        return unauthorized(&svc, HOOK, "(unread)", "X-Gitlab-Token is missing or wrong");
    }
    let body = match read_body(&svc, HOOK, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // GitLab names a delivery with X-Gitlab-Event-UUID (older versions: nothing; newer also
    // Idempotency-Key); without one the body's hash stands in, so a replay is still recognised.
    let delivery = header(&headers, "idempotency-key")
        .or_else(|| header(&headers, "x-gitlab-event-uuid"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
    match header(&headers, "x-gitlab-event").unwrap_or("") {
        "Push Hook" | "Tag Push Hook" => {}
        "" => return malformed(&svc, HOOK, &delivery, "no X-Gitlab-Event header"),
        other => return ignored(&svc, HOOK, &delivery, &format!("event {other:?} is not scanned")),
    }
    if delivery.len() > 200 {
        let cut: String = delivery.chars().take(64).collect();
        return malformed(&svc, HOOK, &cut, "delivery id is too long");
    }
    let event = match event::parse_gitlab(&body) {
        Ok(e) => e,
        Err(e) => return malformed(&svc, HOOK, &delivery, &e.to_string()),
    };
    accept(&svc, HOOK, &format!("gitlab:{delivery}"), event).await
}

/// Checks the remote, then queues the delivery durably and answers.
async fn accept(svc: &Arc<Service>, hook: &str, delivery: &str, mut event: PushEvent) -> Response {
    if event.is_deletion() {
        return ignored(svc, hook, delivery, "ref deleted; nothing to scan");
    }
    if !svc.policy.allows(&event.remote) {
        inc(&svc.metrics.refused_remote);
        log(format_args!(
            "{hook}: refused delivery {delivery}: remote {} is not in the allow-list",
            event.remote
        ));
        return reply(
            StatusCode::FORBIDDEN,
            "refused",
            "remote is not in the allow-list",
        );
    }
    event.received_at = super::now_secs();
    let q = svc.queue.clone();
    let id = delivery.to_string();
    let ev = event.clone();
    match tokio::task::spawn_blocking(move || q.enqueue(&id, &ev)).await {
        Ok(Ok(Enqueued::New(job))) => {
            inc(&svc.metrics.deliveries_accepted);
            log(format_args!(
                "{hook}: queued delivery {delivery} as job {job}: {} {} {}..{}",
                event.repo,
                event.git_ref,
                short(&event.before),
                short(&event.after)
            ));
            svc.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({ "status": "queued", "job": job })),
            )
                .into_response()
        }
        Ok(Ok(Enqueued::Duplicate(job))) => {
            inc(&svc.metrics.deliveries_duplicate);
            log(format_args!(
                "{hook}: delivery {delivery} already queued as job {job}; not queued again"
            ));
            (StatusCode::OK, Json(json!({ "status": "duplicate", "job": job }))).into_response()
        }
        Ok(Err(e)) => {
            log(format_args!("{hook}: could not queue delivery {delivery}: {e:#}"));
            reply(StatusCode::SERVICE_UNAVAILABLE, "error", "queue unavailable")
        }
        Err(e) => {
            log(format_args!("{hook}: could not queue delivery {delivery}: {e}"));
            reply(StatusCode::SERVICE_UNAVAILABLE, "error", "queue unavailable")
        }
    }
}

fn short(oid: &str) -> &str {
    &oid[..oid.len().min(10)]
}
