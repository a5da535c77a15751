//! `quench simulate`: run the issuer simulator (for trying quench and testing integrations).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use crate::config::Config;
use crate::simulate::{self, KeysFile, Sim};
use crate::verify::Registry;

#[derive(Args)]
pub struct SimulateCmd {
    /// Loopback address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: String,
    /// The live keys: `[[key]]` tables with issuer, secret, and optional key_id, principal,
    /// org, project, scopes, identity, expires_at, admin, fault.
    #[arg(long, value_name = "FILE")]
    keys: PathBuf,
    /// Write a quench config pointing every issuer at this simulator.
    #[arg(long, value_name = "FILE")]
    write_config: Option<PathBuf>,
    /// Append one JSON line per request received (never a secret): when it arrived, the issuer,
    /// path, kind and status; a revoke call also lists the keys it carried (`keys`, by their
    /// index in the keys file).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Delay added to every issuer answer, in milliseconds.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    /// Configuration whose issuers the written config should also cover.
    #[arg(long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
}

impl SimulateCmd {
    pub fn run(self) -> Result<i32> {
        let addr: std::net::SocketAddr = self
            .listen
            .parse()
            .with_context(|| format!("--listen {}: expected IP:PORT such as 127.0.0.1:0", self.listen))?;
        if !addr.ip().is_loopback() {
            bail!(
                "--listen {}: the simulator only listens on loopback addresses",
                self.listen
            );
        }
        let keys = KeysFile::read(&self.keys)?;
        let n = keys.keys.len();
        let sim = Sim::new(
            keys,
            self.record.as_deref(),
            self.latency_ms.map(Duration::from_millis),
        )?;
        let registry = Registry::load(&Config::load(&self.config)?)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            if let Some(path) = &self.write_config {
                // Written whole, then renamed: a script polling for the file never reads half.
                let tmp = path.with_extension("tmp~");
                std::fs::write(&tmp, simulate::config_for(local, &registry))
                    .with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!("quench simulate: {n} live key(s); listening on http://{local} (Ctrl-C stops)");
            simulate::serve(listener, sim, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        })?;
        Ok(super::EXIT_CLEAN)
    }
}
