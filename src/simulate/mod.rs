//! The issuer simulator: a loopback HTTP server that speaks the real request shapes of the
//! issuers quench verifies and revokes, holds a set of live keys, injects faults on demand, and
//! records every request (never a secret). It exists for the test suite and for a first try of
//! quench without real credentials:
//!
//! ```text
//! quench simulate --listen 127.0.0.1:0 --keys keys.toml --write-config sim.toml
//! quench scan DIR --config sim.toml --verify
//! ```
//!
//! Each issuer lives under its own path prefix (`/github/user`, `/slack/api/auth.test`), which is
//! what the written config's base URLs point at.

mod routes;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::verify::Registry;

/// One `[[key]]` of keys.toml: a credential the simulator treats as live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimKey {
    pub issuer: String,
    pub secret: String,
    /// AWS access key id; GitHub App id; OAuth client id; an issuer's id for the key.
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// user | org | m2m
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    /// An admin key of its issuer (OpenAI / Anthropic admin APIs).
    #[serde(default)]
    pub admin: bool,
    /// The key may not revoke itself (AWS: its policy lacks `iam:UpdateAccessKey` on its own
    /// user), so only an admin can.
    #[serde(default)]
    pub no_self_revoke: bool,
    /// 401 | 403 | 429 | 500 | slow | html | redirect: answer requests made with this key so.
    #[serde(default)]
    pub fault: Option<String>,
    /// OpenAI: whether the key's owner still has access to its project (`active`, the
    /// default, or `inactive`: listed only when the listing asks for every owner).
    #[serde(default)]
    pub owner_project_access: Option<String>,
    /// AWS: the key's partition (`aws`, the default; `aws-us-gov`; `aws-cn`). Only that
    /// partition's endpoints know it.
    #[serde(default)]
    pub partition: Option<String>,
    /// Google API keys: the application restriction (`browser` with referrers, `android`,
    /// `ios`, `server` with IPs), as the API Keys API reports it.
    #[serde(default)]
    pub restriction: Option<String>,
    /// Where the `redirect` fault points.
    #[serde(default)]
    pub redirect_to: Option<String>,
    /// What the key reaches, for the enumeration routes (`[[key.grant]]`).
    #[serde(default, rename = "grant")]
    pub grants: Vec<routes::access::Grant>,
}

/// `[simulator]` in keys.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// Added to every issuer request (benches use 50).
    #[serde(default)]
    pub latency_ms: u64,
    /// How long the `slow` fault stalls (default 30 s).
    #[serde(default)]
    pub slow_ms: Option<u64>,
    /// Faults for the next requests of one kind to one issuer, in order (`[[simulator.script]]`):
    /// an outage, a rate limit or a connection that dies mid-call, whatever key the request
    /// carries.
    #[serde(default)]
    pub script: Vec<Script>,
}

/// One scripted fault: the next `times` requests of kind `on` to `issuer` are answered with
/// `fault`. Scripts are how a test (or a user trying quench's retries) stages what real issuers
/// do to a client: answer 503 during an outage, 429 with `Retry-After`, or take a revocation and
/// never answer (`hang-after`), which is the moment a crash between "sent" and "recorded" hurts.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub issuer: String,
    /// `verify`, `revoke` or `any`.
    #[serde(default = "Script::any")]
    pub on: String,
    /// A name from [`FAULTS`].
    pub fault: String,
    #[serde(default = "Script::once")]
    pub times: usize,
    /// The `Retry-After` seconds a `429` carries (default 1).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How long `slow` stalls before the request is handled (default: `slow_ms`).
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

impl Script {
    fn any() -> String {
        "any".into()
    }
    fn once() -> usize {
        1
    }

    /// Whether the script is well formed: a known fault, a known kind.
    pub fn check(&self) -> Result<()> {
        if !FAULTS.contains(&self.fault.as_str()) || ISSUER_FAULTS.contains(&self.fault.as_str()) {
            anyhow::bail!(
                "script for {}: unknown fault {:?} (known: {})",
                self.issuer,
                self.fault,
                FAULTS
                    .iter()
                    .filter(|f| !ISSUER_FAULTS.contains(f))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !["verify", "revoke", "any"].contains(&self.on.as_str()) {
            anyhow::bail!(
                "script for {}: `on = {:?}` is not verify, revoke or any",
                self.issuer,
                self.on
            );
        }
        Ok(())
    }
}

/// One request as the simulator saw it on arrival, for tests that count calls: the path names a
/// key by its position in keys.toml, never by its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seen {
    pub issuer: String,
    pub method: String,
    pub path: String,
    /// `verify` or `revoke`, from the request's shape.
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default, rename = "key")]
    pub keys: Vec<SimKey>,
    #[serde(default)]
    pub simulator: SimSettings,
}

/// The faults the simulator can inject.
/// `hang` never answers (and does nothing); `hang-after` acts on the request, then never answers;
/// `slow` stalls, then answers normally.
/// `429-once` answers the first request with a 429 and `Retry-After: 1`, then behaves.
/// The issuer's own ambiguous answers, for the issuers that give them: `ip-denied` (Slack:
/// a live token used from an address its allowlist refuses reads `invalid_auth`) and
/// `revoke-refused` (Slack: `auth.revoke` answers HTTP 200 with `"ok": false`).
pub const FAULTS: &[&str] = &[
    "401",
    "403",
    "429",
    "429-once",
    "500",
    "slow",
    "html",
    "redirect",
    "503",
    "hang",
    "hang-after",
    "ip-denied",
    "revoke-refused",
];

/// Faults an issuer's own handler answers (in the issuer's shapes) rather than the common one.
const ISSUER_FAULTS: &[&str] = &["ip-denied", "revoke-refused"];

impl KeysFile {
    pub fn read(path: &Path) -> Result<KeysFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading keys file {}", path.display()))?;
        let k: KeysFile =
            toml::from_str(&text).with_context(|| format!("parsing keys file {}", path.display()))?;
        for s in &k.simulator.script {
            s.check()
                .with_context(|| format!("in keys file {}", path.display()))?;
        }
        for (i, key) in k.keys.iter().enumerate() {
            if let Some(f) = &key.fault {
                if !FAULTS.contains(&f.as_str()) {
                    anyhow::bail!(
                        "{}: key #{} ({}): unknown fault {f:?} (known: {})",
                        path.display(),
                        i + 1,
                        key.issuer,
                        FAULTS.join(", ")
                    );
                }
            }
        }
        Ok(k)
    }
}

/// Shared simulator state.
pub struct Sim {
    pub keys: Vec<SimKey>,
    /// Revoked keys and when the revocation arrived (benches measure up to that moment).
    revoked: Mutex<HashMap<usize, std::time::SystemTime>>,
    issuer_faults: Mutex<HashMap<String, String>>,
    /// Keys whose one-shot fault has fired.
    fired: Mutex<HashSet<usize>>,
    record: Option<Mutex<std::fs::File>>,
    /// Scripted faults still to fire, in order.
    scripts: Mutex<Vec<Script>>,
    /// Every request on arrival.
    seen: Mutex<Vec<Seen>>,
    /// Bodies posted to `/_sim/hook`: the simulator doubles as a notification receiver.
    hooks: Mutex<Vec<serde_json::Value>>,
    /// TCP connections accepted: how well a client reuses them.
    connections: std::sync::atomic::AtomicUsize,
    /// Set when the simulator stops, so that hung requests end and shutdown does not wait an
    /// hour for them.
    stopped: tokio::sync::watch::Sender<bool>,
    latency: Duration,
    slow: Duration,
    addr: Mutex<Option<SocketAddr>>,
    /// AWS sessions minted and users' inline policies.
    aws: routes::aws_sessions::State,
}

impl Sim {
    pub fn new(keys: KeysFile, record: Option<&Path>, latency: Option<Duration>) -> Result<Arc<Sim>> {
        let record = match record {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening record file {}", p.display()))?,
            )),
            None => None,
        };
        Ok(Arc::new(Sim {
            latency: latency.unwrap_or(Duration::from_millis(keys.simulator.latency_ms)),
            slow: Duration::from_millis(keys.simulator.slow_ms.unwrap_or(30_000)),
            scripts: Mutex::new(keys.simulator.script),
            seen: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
            connections: std::sync::atomic::AtomicUsize::new(0),
            stopped: tokio::sync::watch::channel(false).0,
            keys: keys.keys,
            revoked: Mutex::new(HashMap::new()),
            issuer_faults: Mutex::new(HashMap::new()),
            fired: Mutex::new(HashSet::new()),
            record,
            addr: Mutex::new(None),
            aws: Default::default(),
        }))
    }

    /// The live (not revoked) key of `issuer` whose secret is `secret`.
    pub fn live(&self, issuer: &str, secret: &str) -> Option<usize> {
        let revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        self.keys
            .iter()
            .position(|k| k.issuer == issuer && k.secret == secret)
            .filter(|i| !revoked.contains_key(i))
    }

    pub fn is_revoked(&self, i: usize) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&i)
    }

    /// When key `i` was revoked (its first revocation), if it was.
    pub fn revoked_at(&self, i: usize) -> Option<std::time::SystemTime> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&i)
            .copied()
    }

    pub fn revoke(&self, i: usize) {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(i)
            .or_insert_with(std::time::SystemTime::now);
    }

    /// Makes a revoked key live again (the issuer re-activated or restored it).
    pub fn unrevoke(&self, i: usize) {
        self.revoked.lock().unwrap_or_else(|e| e.into_inner()).remove(&i);
    }

    /// The live key of `issuer` with this secret, by position, if there is one: what a test asks
    /// after a revocation.
    pub fn is_live(&self, issuer: &str, secret: &str) -> bool {
        self.live(issuer, secret).is_some()
    }

    /// Adds a scripted fault after those already waiting.
    pub fn script(&self, s: Script) -> Result<()> {
        s.check()?;
        self.scripts.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        Ok(())
    }

    /// Takes one firing of the first script that matches a request of `kind` to `issuer`.
    fn take_script(&self, issuer: &str, kind: &str) -> Option<Script> {
        let mut scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        let i = scripts
            .iter()
            .position(|s| s.issuer == issuer && (s.on == "any" || s.on == kind) && s.times > 0)?;
        let s = scripts[i].clone();
        scripts[i].times -= 1;
        if scripts[i].times == 0 {
            scripts.remove(i);
        }
        Some(s)
    }

    fn saw(&self, issuer: &str, method: &str, path: &str, kind: &str) {
        let path = self.name_keys(issuer, path);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            issuer: issuer.into(),
            method: method.into(),
            path,
            kind: kind.into(),
        });
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests to `issuer` had `method` and a path (after the issuer prefix) starting
    /// with `path`.
    pub fn count(&self, issuer: &str, method: &str, path: &str) -> usize {
        let full = format!("/{issuer}{path}");
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.issuer == issuer && s.method == method && s.path.starts_with(&full))
            .count()
    }

    /// Waits as a hung issuer does: far longer than any client, but no longer than the
    /// simulator runs.
    async fn hang(&self) {
        let mut stopped = self.stopped.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
    }

    fn hook(&self, body: serde_json::Value) {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner()).push(body);
    }

    /// The notification bodies posted to `/_sim/hook`, in order.
    pub fn hooks(&self) -> Vec<serde_json::Value> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `path` with every configured secret of `issuer` in it replaced by `[key N]` (npm deletes
    /// a token by its value, in the path).
    fn name_keys(&self, issuer: &str, path: &str) -> String {
        let mut path = path.to_string();
        for i in self.keys_in(issuer, &path) {
            path = path.replace(&self.keys[i].secret, &format!("[key {i}]"));
        }
        path
    }

    fn base(&self) -> String {
        match *self.addr.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(a) => format!("http://{a}"),
            None => String::new(),
        }
    }

    /// Indices (in keys.toml order) of the configured keys of `issuer` whose secret appears in
    /// `hay`: every credential a request carries (GitHub's batched revoke carries many).
    fn keys_in(&self, issuer: &str, hay: &str) -> Vec<usize> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.issuer == issuer && !k.secret.is_empty() && hay.contains(&k.secret))
            .map(|(i, _)| i)
            .collect()
    }

    /// Appends one line for a request to the record file. `arrived` is when the request reached
    /// the simulator (before any simulated latency); a revoke call also lists the keys it
    /// carried by index, so that a bench can time each credential's revocation to its receipt
    /// without any secret being written.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        issuer: &str,
        method: &str,
        path: &str,
        kind: &str,
        status: u16,
        fault: Option<&str>,
        arrived: chrono::DateTime<chrono::Utc>,
        hay: impl FnOnce() -> String,
    ) {
        if let Some(f) = &self.record {
            let path = self.name_keys(issuer, path);
            let mut line = serde_json::json!({
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "arrived": arrived.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "issuer": issuer, "method": method, "path": path, "kind": kind, "status": status,
            });
            if let Some(fault) = fault {
                line["fault"] = serde_json::Value::String(fault.to_string());
            }
            if kind == "revoke" {
                line["keys"] = serde_json::json!(self.keys_in(issuer, &hay()));
            }
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The quench configuration that points every registry issuer at a simulator on `addr`.
pub fn config_for(addr: SocketAddr, registry: &Registry) -> String {
    let mut out = format!(
        "# Written by `quench simulate` on {addr}: every issuer points at the simulator.\n\
         # Use it as `quench scan DIR --config THIS_FILE --verify`.\n"
    );
    for (name, e) in &registry.issuers {
        out.push_str(&format!("\n[issuers.{name}]\n"));
        let mut bases: Vec<&String> = e.bases.keys().collect();
        if bases.is_empty() {
            bases = vec![];
            out.push_str(&format!("api = \"http://{addr}/{name}\"\n"));
        }
        for b in bases {
            // Keep the default base's path (Slack's `/api`) so recipes' paths line up.
            let path = url::Url::parse(&e.bases[b].url)
                .map(|u| u.path().trim_end_matches('/').to_string())
                .unwrap_or_default();
            let prefix = if b == "api" {
                String::new()
            } else {
                format!("/{b}")
            };
            out.push_str(&format!("{b} = \"http://{addr}/{name}{prefix}{path}\"\n"));
        }
        // A base derived from the key's surroundings (Okta's org) points at the issuer's root.
        for b in e.derived_bases.keys().filter(|b| !e.bases.contains_key(*b)) {
            out.push_str(&format!("{b} = \"http://{addr}/{name}\"\n"));
        }
    }
    out.push_str(&format!("\n# A JWT issuer (OpenID discovery + JWKS) for keys with issuer = \"idp\", trusted to sign.\n[issuers.idp]\napi = \"http://{addr}/idp\"\n\n[verify]\njwt_issuers = [\"http://{addr}/idp\"]\n"));
    out
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Sim>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    use axum::serve::ListenerExt as _;
    *sim.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener.local_addr()?);
    let app = routes::router(sim.clone());
    let counted = sim.clone();
    let listener = listener.tap_io(move |_| {
        counted
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            sim.stopped.send_replace(true);
        })
        .await?;
    Ok(())
}

/// A simulator running on its own thread (for tests and benches in-process).
pub struct Handle {
    pub addr: SocketAddr,
    pub sim: Arc<Sim>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// The base URL of the simulator (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a simulator in the background on `listen` (port 0 picks a free one).
pub fn start(listen: &str, sim: Arc<Sim>) -> Result<Handle> {
    let std_listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("quench-simulate")
        .build()?;
    let s2 = sim.clone();
    let thread = std::thread::Builder::new()
        .name("quench-simulate".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Ok(l) = tokio::net::TcpListener::from_std(std_listener) {
                    let _ = serve(l, s2, async {
                        let _ = rx.await;
                    })
                    .await;
                }
            });
        })?;
    Ok(Handle {
        addr,
        sim,
        stop: Some(tx),
        thread: Some(thread),
    })
}

/// Where `--record` writes, for the CLI.
pub type RecordPath = Option<PathBuf>;
