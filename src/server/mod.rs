//! `quench serve`: the webhook service.
//!
//! Receivers ([`http`]) authenticate push deliveries and commit them to the durable queue
//! ([`queue`]) before answering; a pool of workers ([`worker`]) claims jobs, fetches the pushed
//! commits into the mirror cache and runs the library's one pipeline ([`crate::pipeline`]) over
//! exactly what the push introduced ([`push`]; scan → verify → store → revoke → notify, in
//! [`pipeline`]). An optional cron schedule runs sweeps from the same process.
//!
//! The queue is a trait, [`JobQueue`], because a second backend (a shared database for several
//! instances) is planned.

pub mod auth;
pub mod config;
pub mod conn;
pub mod event;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod process_metrics;
pub mod push;
pub mod queue;
pub mod queue_pg;
pub mod worker;

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::{watch, Notify};

pub use config::ServeSection;
pub use event::PushEvent;
pub use metrics::Metrics;
pub use pipeline::{PipelineReport, PushPipeline};
pub use queue::{JobQueue, SqliteQueue};
pub use queue_pg::PgQueue;

use crate::sweep::mirror::{Mirrors, RemotePolicy};

/// Shared state of the receivers and workers.
pub struct Service {
    pub queue: Arc<dyn JobQueue>,
    pub metrics: Arc<Metrics>,
    pub policy: RemotePolicy,
    pub github_secret: Option<Vec<u8>>,
    pub gitlab_token: Option<Vec<u8>>,
    pub max_body: usize,
    /// Woken when a delivery is queued, so an idle worker starts at once instead of polling.
    pub wake: Arc<Notify>,
    /// How long an idle worker waits before looking at the queue again: at most the first
    /// retry's backoff, so a retried job does not wait longer than its backoff says.
    pub idle_poll: Duration,
    /// Bodies being read before their signature is checked (see `[serve] max_unauthenticated`).
    pub body_slots: Arc<tokio::sync::Semaphore>,
    /// How long a connection may take to send its requests.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// One scheduled sweep, run on a blocking thread.
pub type SweepJob = Arc<dyn Fn() -> Result<()> + Send + Sync>;

/// Everything `run` needs; the CLI fills it from flags and config, and the lead's wiring swaps
/// the trait objects.
pub struct ServeOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub shutdown_grace: Duration,
    pub service: Arc<Service>,
    pub mirrors: Arc<Mirrors>,
    pub pipeline: Arc<PushPipeline>,
    /// A scheduled sweep: the cron schedule and the job that runs one sweep.
    pub schedule: Option<(crate::sweep::schedule::Schedule, SweepJob)>,
    /// On a shared store: sweeps the repositories of a distributed sweep that are queued there
    /// until none is left, run whenever the service looks (every idle poll).
    pub queued_sweeps: Option<SweepJob>,
}

/// Writes one log line to standard error. Callers never pass secrets or request bodies.
pub fn log(msg: impl Display) {
    eprintln!(
        "{} quench serve: {msg}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs the service until SIGTERM or SIGINT, then stops accepting, lets in-flight jobs finish
/// for the grace period and hands any still running back to the queue.
pub fn run(opts: ServeOptions) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(serve(opts));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(opts: ServeOptions) -> Result<()> {
    let svc = opts.service.clone();
    let q = svc.queue.clone();
    let recovered = tokio::task::spawn_blocking(move || q.recover())
        .await
        .context("queue recovery")??;
    if recovered > 0 {
        log(format_args!(
            "resuming {recovered} job(s) left unfinished by the previous run"
        ));
    }
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| opts.listen.clone());
    log(format_args!(
        "listening on {addr} (data dir {}, {} worker(s))",
        opts.data_dir.display(),
        opts.workers
    ));

    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(worker::WorkerCtx {
        svc: svc.clone(),
        mirrors: opts.mirrors.clone(),
        pipeline: opts.pipeline.clone(),
        in_flight: Default::default(),
    });
    let mut tasks = Vec::new();
    for i in 0..opts.workers {
        tasks.push(tokio::spawn(worker::run(ctx.clone(), i, stop_rx.clone())));
    }
    if let Some((schedule, job)) = opts.schedule {
        tokio::spawn(worker::scheduled_sweeps(
            schedule,
            job,
            svc.metrics.clone(),
            stop_rx.clone(),
        ));
    }

    if let Some(job) = opts.queued_sweeps {
        tokio::spawn(worker::queued_sweeps(
            job,
            svc.idle_poll,
            svc.metrics.clone(),
            stop_rx.clone(),
        ));
    }

    let mut http_stop = stop_rx.clone();
    let listener = conn::Guarded {
        inner: listener,
        slots: Arc::new(tokio::sync::Semaphore::new(svc.max_connections)),
        read_timeout: svc.request_timeout,
    };
    let server = axum::serve(listener, http::router(svc.clone())).with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    log("shutting down: no longer accepting deliveries");
    let _ = stop_tx.send(true);
    svc.wake.notify_waiters();
    let _ = server.await;
    let all = futures_join(tasks);
    if tokio::time::timeout(opts.shutdown_grace, all).await.is_err() {
        let ids: Vec<i64> = ctx
            .in_flight
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in &ids {
            if let Err(e) = svc.queue.release(*id) {
                log(format_args!("could not hand job {id} back to the queue: {e:#}"));
            }
        }
        log(format_args!(
            "{} job(s) still running after the grace period were handed back to the queue",
            ids.len()
        ));
    }
    log("stopped");
    Ok(())
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
