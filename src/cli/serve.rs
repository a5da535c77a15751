//! `quench serve`: the webhook service (and scheduled sweeps).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;

use super::common::CommonArgs;
use crate::server::config::{
    load_secret, ServeSection, DEFAULT_MAX_BODY, DEFAULT_WORKERS, GITHUB_SECRET_ENV, GITLAB_TOKEN_ENV,
};
use crate::server::{self, Metrics, ServeOptions, Service, SqliteQueue};
use crate::sweep::mirror::{Mirrors, RemotePolicy};
use crate::sweep::schedule::Schedule;
use crate::sweep::SweepSection;

#[derive(Args)]
#[command(after_help = "\
Wiring a GitHub webhook: in the repository or organisation settings add a webhook with payload
URL https://HOST/hooks/github, content type application/json, the secret you put in
QUENCH_GITHUB_WEBHOOK_SECRET (or [serve] github_secret_file), and the push event. For GitLab,
use https://HOST/hooks/gitlab with QUENCH_GITLAB_WEBHOOK_TOKEN as the secret token and push
and tag push events. Allow the remotes the service may fetch with [serve] allow_remotes or
--allow-remote, e.g. 'https://github.com/acme/*'; private https remotes use QUENCH_GIT_TOKEN.

Example config:
  [serve]
  listen = \"0.0.0.0:8080\"
  data_dir = \"/var/lib/quench\"
  allow_remotes = [\"https://github.com/acme/*\"]
  workers = 4
  max_body_bytes = 1048576
  schedule = \"30 2 * * *\"      # nightly sweep of [sweep] (UTC)
  [sweep]
  parallel = 4
  [[sweep.github]]
  org = \"acme\"                 # token from GITHUB_TOKEN

Endpoints: POST /hooks/github, POST /hooks/gitlab, GET /healthz, GET /metrics (Prometheus).
SIGTERM or SIGINT stops accepting, lets running jobs finish for shutdown_grace_secs (10) and
queues the rest again; queued deliveries survive restarts and crashes.")]
pub struct ServeCmd {
    /// Operator configuration file(s) with a `[serve]` section; repeatable.
    #[arg(long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Address to listen on (default: `[serve] listen`, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Also allow fetching remotes matching this URL or path glob. Repeatable.
    #[arg(long = "allow-remote", value_name = "GLOB")]
    allow_remote: Vec<String>,
    /// Where the queue, mirrors and sweep state live (default: `[serve] data_dir`, else the user's data directory).
    #[arg(long, value_name = "DIR", env = "QUENCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Record into this database instead of the data directory's SQLite file: `postgres://…`
    /// (also `QUENCH_STORE_URL`, `[store] url`); the delivery queue is then there too, shared by
    /// every `quench serve` on that database.
    #[arg(long = "store", value_name = "URL")]
    store: Option<String>,
    /// Worker tasks (default: `[serve] workers`, else 4); 0 only receives and queues.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Extra rules: a TOML file or a directory of them. Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Queue every parked job (one that used all its attempts) again, with fresh attempts, then
    /// serve as usual. Parked jobs show as `quench_queue_jobs{state="failed"}` in /metrics.
    #[arg(long)]
    retry_parked: bool,
}

impl ServeCmd {
    pub fn run(self) -> Result<i32> {
        let store_flags = super::common::StoreFlags {
            store: self.store.clone(),
            ..Default::default()
        };
        let common = scan_args(&self.config, &self.rules)?;
        let prepared = common.prepare(&[])?;
        for w in &prepared.warnings {
            server::log(format_args!("warning: {w}"));
        }
        let config = prepared.config;
        let section: ServeSection = config.section("serve")?;
        let base = config.base_dir();
        let github_secret = load_secret(GITHUB_SECRET_ENV, section.github_secret_file.as_deref(), base)?;
        let gitlab_token = load_secret(GITLAB_TOKEN_ENV, section.gitlab_token_file.as_deref(), base)?;
        if github_secret.is_none() && gitlab_token.is_none() {
            server::log(format_args!(
                "warning: neither {GITHUB_SECRET_ENV} nor {GITLAB_TOKEN_ENV} (or a secret file) is set: every delivery will be refused"
            ));
        }
        let mut allow = section.allow_remotes.clone();
        allow.extend(self.allow_remote.iter().cloned());
        if allow.is_empty() {
            server::log("warning: no remotes are allowed ([serve] allow_remotes or --allow-remote): every push will be refused");
        }
        let policy = RemotePolicy::new(&allow)?;
        let dir = super::sweep::data_dir(self.data_dir.as_deref(), section.data_dir.as_deref(), &config)?;
        let retry = section.retry()?;
        // With the store on PostgreSQL the delivery queue is there too, shared by every process.
        let (store_opts, _) = super::sweep::sweep_store(&store_flags, &config, &dir)?;
        let backend = crate::store::DataDir::resolve(&store_opts, &config, &[])?.backend;
        let shared = matches!(backend, crate::store::Backend::Postgres(_));
        let queue: Arc<dyn server::JobQueue> = match backend {
            crate::store::Backend::Postgres(url) => {
                let lease = match section.lease_secs {
                    None => server::queue_pg::DEFAULT_LEASE,
                    Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                        std::time::Duration::from_secs_f64(s)
                    }
                    Some(s) => anyhow::bail!("[serve] lease_secs = {s}: expected 0 < seconds <= 86400"),
                };
                Arc::new(server::PgQueue::open_with_lease(&url, lease)?.with_retry(retry))
            }
            crate::store::Backend::Sqlite(_) => Arc::new(SqliteQueue::open(&dir)?.with_retry(retry)),
        };
        if self.retry_parked {
            let n = queue.retry_parked()?;
            server::log(format_args!("--retry-parked: {n} parked job(s) queued again"));
        }
        let mirrors = Arc::new(Mirrors::new(dir.join("mirrors"))?);
        let scanner = prepared.scanner;

        // What sweeps run with: the store and policy of the service, every rule it scans with.
        let sweep_opts = || -> Result<crate::pipeline::Options> {
            let (store, revoke) = super::sweep::sweep_store(&store_flags, &config, &dir)?;
            Ok(crate::pipeline::Options {
                store: Some(store),
                revoke,
                ignore: scanner.opts.ignore_fingerprints.clone(),
                service_rules: (0..scanner.engine.rule_count())
                    .map(|i| scanner.engine.rule(i).clone())
                    .collect(),
                ..Default::default()
            })
        };
        // On a shared store the service takes a distributed sweep's repositories too
        // (`quench sweep --enqueue`, or its own schedule), next to `quench sweep --worker`s.
        let queued_sweeps: Option<server::SweepJob> = if shared {
            let opts = sweep_opts()?;
            let worker = Arc::new(crate::sweep::Worker::open(&config, &dir, &opts)?);
            let (cfg, sc) = (config.clone(), scanner.clone());
            Some(Arc::new(move || {
                worker.take_queued(&cfg, &sc, &opts, |r, ran| {
                    server::log(format_args!("sweep: {}", r.line()));
                    for line in ran.iter().flat_map(|ran| &ran.after.notes) {
                        server::log(format_args!("sweep: {}: {line}", r.name));
                    }
                })?;
                Ok(())
            }))
        } else {
            None
        };

        let schedule = match &section.schedule {
            None => None,
            Some(expr) => {
                let s: Schedule = expr
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .context("[serve] schedule")?;
                let sweep: SweepSection = config.section("sweep")?;
                if sweep.repos.is_empty() && sweep.github.is_empty() && sweep.gitlab.is_empty() {
                    anyhow::bail!("[serve] schedule is set but the [sweep] section names no repositories");
                }
                let (cfg, d, sc) = (config.clone(), dir.clone(), scanner.clone());
                let opts = sweep_opts()?;
                let job: server::SweepJob = if shared {
                    // Queued for every process on the store to take, this one included.
                    Arc::new(move || {
                        let (queued, listed, failed) = crate::sweep::enqueue(&cfg, &opts)?;
                        server::log(format_args!(
                            "sweep: {queued} of {listed} repositories queued for the workers"
                        ));
                        for r in &failed {
                            server::log(format_args!("sweep: {}", r.line()));
                        }
                        match failed.len() {
                            0 => Ok(()),
                            n => anyhow::bail!("{n} discovery source(s) failed"),
                        }
                    })
                } else {
                    Arc::new(move || {
                        let (ran, reports) = crate::sweep::sweep_once(&cfg, &d, &sc, &opts)?;
                        let outcome = ran.outcome;
                        for line in &ran.after.notes {
                            server::log(format_args!("sweep: {line}"));
                        }
                        for r in &reports {
                            server::log(format_args!("sweep: {}", r.line()));
                        }
                        for f in &outcome.findings {
                            server::log(format_args!(
                                "sweep finding: rule={} fingerprint={} secret={} at {}",
                                f.rule_id,
                                f.fingerprint,
                                f.secret_redacted,
                                f.locations
                                    .first()
                                    .map(|l| format!("{}:{}", l.path, l.line))
                                    .unwrap_or_default()
                            ));
                        }
                        match reports.iter().filter(|r| r.error.is_some()).count() {
                            0 => Ok(()),
                            n => anyhow::bail!("{n} repositories failed"),
                        }
                    })
                };
                Some((s, job))
            }
        };

        // The store lives in the service's data directory unless `[store] data_dir` says
        // otherwise; with neither the store nor a revocation policy enabled, findings stay in
        // the queue's result table. The service's configuration is its request to act.
        let pipeline = Arc::new(server::PushPipeline {
            scanner: scanner.clone(),
            config: config.clone(),
            store: super::sweep::sweep_store(&store_flags, &config, &dir)?.0,
            rules: common
                .load_rules(&config)?
                .rules
                .into_iter()
                .map(Arc::new)
                .collect(),
        });
        let service = Arc::new(Service {
            queue,
            metrics: Arc::new(Metrics::default()),
            policy,
            github_secret,
            gitlab_token,
            max_body: section.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            wake: Default::default(),
            idle_poll: server::worker::IDLE_POLL.min(retry.base.max(Duration::from_millis(50))),
            body_slots: Arc::new(tokio::sync::Semaphore::new(
                section.max_unauthenticated.unwrap_or(16).max(1),
            )),
            request_timeout: crate::config::secs(
                section.request_timeout_secs,
                30.0,
                "[serve] request_timeout_secs",
            )?,
            max_connections: section.max_connections.unwrap_or(256).max(1),
        });
        server::run(ServeOptions {
            listen: self
                .listen
                .or(section.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir: dir,
            workers: self.workers.or(section.workers).unwrap_or(DEFAULT_WORKERS),
            shutdown_grace: Duration::from_secs(section.shutdown_grace_secs.unwrap_or(10)),
            service,
            mirrors,
            pipeline,
            schedule,
            queued_sweeps,
        })?;
        Ok(super::EXIT_CLEAN)
    }
}

/// The scanning options `serve` shares with `scan`, built through clap so that every option it
/// does not expose keeps its ordinary default (fields added to [`CommonArgs`] need no change here).
fn scan_args(config: &[PathBuf], rules: &[PathBuf]) -> Result<CommonArgs> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        common: CommonArgs,
    }
    let mut argv: Vec<std::ffi::OsString> = vec!["quench-serve".into(), "--no-progress".into()];
    for c in config {
        argv.push("--config".into());
        argv.push(c.into());
    }
    for r in rules {
        argv.push("--rules".into());
        argv.push(r.into());
    }
    let w = <Wrap as clap::Parser>::try_parse_from(argv).context("building scan options")?;
    Ok(w.common)
}
