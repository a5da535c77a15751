//! `quench findings`: what the store knows, filtered; with `--timeline`, each finding's
//! exposure timeline and audit trail.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use crate::config::Config;
use crate::reach::Reach;
use crate::server::config::ServeSection;
use crate::server::queue::{JobQueue, Parked};
use crate::store::Backend;
use crate::store::{self, DataDir, FindingFilter, Status, Store, StoreOptions, StoredFinding};

/// Flags every command that reads or works the store shares.
#[derive(Args, Debug, Clone)]
pub struct StoreCmdArgs {
    /// Operator configuration file; repeatable, later files override earlier ones.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// The store's data directory (default: `$XDG_DATA_HOME/quench`, else
    /// `~/.local/share/quench`).
    #[arg(long, value_name = "DIR", env = "QUENCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store's database when it is not the data directory's SQLite file: `postgres://…` or
    /// `sqlite:PATH` (also `QUENCH_STORE_URL`, `[store] url`).
    #[arg(long = "store", value_name = "URL")]
    pub store: Option<String>,
    /// Extra rules (a TOML file or a directory), needed to act on findings of custom rules.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

impl StoreCmdArgs {
    /// Loads the config and opens an existing store; a missing one is an error that says how
    /// to make one, not a silently empty result.
    pub fn open(&self) -> Result<(Config, DataDir, Box<dyn Store>)> {
        let (config, dir) = self.resolve()?;
        let store = store::open(&dir)?;
        Ok((config, dir, store))
    }

    /// Loads the config and finds the store, which must exist.
    pub fn resolve(&self) -> Result<(Config, DataDir)> {
        let (config, dir) = self.locate()?;
        if let Some(file) = missing_store(&dir) {
            bail!(
                "no store at {}: record one with `quench scan --store`, or pass --data-dir or --store URL",
                file.display()
            );
        }
        Ok((config, dir))
    }

    /// Loads the config and says where the store is, whether or not it exists yet.
    fn locate(&self) -> Result<(Config, DataDir)> {
        let config = Config::load(&self.config)?;
        let args = StoreOptions {
            data_dir: self.data_dir.clone(),
            url: super::common::store_url(self.store.as_deref()),
            ..Default::default()
        };
        let dir = DataDir::resolve(&args, &config, &[])?;
        Ok((config, dir))
    }

    /// The built-in rules plus `[scan] rules` and `--rules`.
    pub fn rules(&self, config: &Config) -> Result<crate::rules::RuleSet> {
        let mut set = crate::rules::RuleSet::builtin()?;
        let section: crate::config::ScanSection = config.section("scan")?;
        for p in section.rules.iter().chain(&self.rules) {
            set.add_path(p)?;
        }
        Ok(set)
    }
}

type Reaches = std::collections::HashMap<String, Reach>;

#[derive(Args)]
pub struct FindingsCmd {
    #[command(flatten)]
    store: StoreCmdArgs,
    /// Only findings with this status (repeatable).
    #[arg(long, value_parser = super::common::status_parser())]
    status: Vec<Status>,
    /// Only findings of this rule id.
    #[arg(long)]
    rule: Option<String>,
    /// Only findings of this issuer.
    #[arg(long)]
    issuer: Option<String>,
    /// Only keys whose verified principal is this login.
    #[arg(long, value_name = "LOGIN")]
    principal: Option<String>,
    /// Only the finding whose fingerprint starts with this.
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,
    /// Show each finding's timeline, jobs and audit log.
    #[arg(long)]
    timeline: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl FindingsCmd {
    pub fn run(self) -> Result<i32> {
        let (config, dir) = self.store.locate()?;
        let parked = parked_deliveries(self.store.data_dir.as_deref(), &config, &dir)?;
        if !parked.is_empty() && missing_store(&dir).is_some() {
            // A service whose every push failed has recorded nothing yet: its parked
            // deliveries are all there is to show, and they matter most.
            if self.json {
                println!(
                    "{}",
                    serde_json::json!({ "findings": [], "parked_deliveries": parked })
                );
            } else {
                println!("no store yet: nothing has been recorded");
                write_parked(&mut std::io::stdout().lock(), &parked)?;
            }
            return Ok(super::EXIT_CLEAN);
        }
        let (_, _, store) = self.store.open()?;
        let filter = FindingFilter {
            status: self.status.clone(),
            rule: self.rule.clone(),
            issuer: self.issuer.clone(),
            principal: self.principal.clone(),
            fingerprint: self.fingerprint.clone(),
            since: None,
        };
        let mut found = store.findings(&filter)?;
        // Riskiest first: what a key can reach orders the list (org admin, then push to a
        // default branch…); findings never enumerated keep the store's order after them.
        let reaches: std::collections::HashMap<String, Reach> = store.reaches(None)?.into_iter().collect();
        found.sort_by_key(|f| std::cmp::Reverse(reaches.get(&f.fingerprint).map(|r| r.risk)));
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let r = if self.json {
            self.write_json(&mut out, store.as_ref(), &found, &reaches, &parked)
        } else {
            self.write_human(&mut out, store.as_ref(), &found, &reaches)
                .and_then(|()| write_parked(&mut out, &parked))
        };
        match r {
            Err(e)
                if e.downcast_ref::<std::io::Error>().map(|e| e.kind())
                    == Some(std::io::ErrorKind::BrokenPipe) => {}
            other => other?,
        }
        Ok(super::EXIT_CLEAN)
    }

    fn write_json(
        &self,
        out: &mut dyn Write,
        store: &dyn Store,
        found: &[StoredFinding],
        reaches: &Reaches,
        parked: &[Parked],
    ) -> Result<()> {
        let mut items = Vec::new();
        for f in found {
            let mut v = serde_json::to_value(f)?;
            if let Some(r) = reaches.get(&f.fingerprint) {
                v["reach"] = serde_json::to_value(r)?;
            }
            if self.timeline {
                v["jobs"] = serde_json::to_value(store.jobs(Some(&f.fingerprint))?)?;
                v["audit"] = serde_json::to_value(store.audit_log(Some(&f.fingerprint))?)?;
                v["verdicts"] = serde_json::to_value(store.verdicts(&f.fingerprint)?)?;
            }
            items.push(v);
        }
        serde_json::to_writer_pretty(
            &mut *out,
            &serde_json::json!({ "findings": items, "parked_deliveries": parked }),
        )?;
        writeln!(out)?;
        Ok(())
    }

    fn write_human(
        &self,
        out: &mut dyn Write,
        store: &dyn Store,
        found: &[StoredFinding],
        reaches: &Reaches,
    ) -> Result<()> {
        for f in found {
            writeln!(
                out,
                "{:<13} {:<28} {}  {}  {}",
                f.status.as_str(),
                f.rule_id,
                &f.fingerprint[..f.fingerprint.len().min(12)],
                f.secret_redacted,
                f.first_location,
            )?;
            let who: Vec<String> = [
                f.principal.as_ref().map(|p| format!("acts as {p}")),
                f.org.as_ref().map(|o| format!("in {o}")),
                f.author.as_ref().map(|a| format!("exposed by {a}")),
                (!f.owners.is_empty()).then(|| format!("owners {}", f.owners.join(" "))),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !who.is_empty() {
                writeln!(out, "    {}", who.join("; "))?;
            }
            if let Some(r) = reaches.get(&f.fingerprint) {
                writeln!(out, "    {}", r.summary())?;
                writeln!(out, "    {}", r.whose.summary)?;
            }
            if self.timeline {
                let t = &f.timeline;
                for (name, at) in [
                    ("first exposed", t.first_exposed),
                    ("detected", t.detected),
                    ("verified", t.verified),
                    ("revoke requested", t.revoke_requested),
                    ("confirmed dead", t.confirmed_dead),
                ] {
                    if let Some(at) = at {
                        writeln!(out, "    {name:<17} {}", store::fmt_time(&at))?;
                    }
                }
                for j in store.jobs(Some(&f.fingerprint))? {
                    writeln!(
                        out,
                        "    job {} {} ({} via {}), {} call(s){}",
                        j.id,
                        j.state.as_str(),
                        j.mode,
                        j.policy_rule,
                        j.calls,
                        j.reason.map(|r| format!(": {r}")).unwrap_or_default()
                    )?;
                }
                for a in store.audit_log(Some(&f.fingerprint))? {
                    writeln!(
                        out,
                        "    audit {} {} by {}{}{}",
                        a.at.map(|t| store::fmt_time(&t)).unwrap_or_default(),
                        a.action,
                        a.actor,
                        a.issuer_status.map(|s| format!(" [{s}]")).unwrap_or_default(),
                        a.detail.map(|d| format!(": {d}")).unwrap_or_default(),
                    )?;
                }
            }
        }
        if found.is_empty() {
            writeln!(out, "no findings in the store match")?;
        }
        Ok(())
    }
}

/// The SQLite file of a store that does not exist yet.
fn missing_store(dir: &DataDir) -> Option<PathBuf> {
    dir.sqlite_file().filter(|f| !f.exists()).map(|f| f.to_path_buf())
}

/// The service's parked deliveries: pushes whose findings were never recorded because every
/// attempt failed. The store cannot list what they hold, so the operator sees them here, next to
/// the findings, until `quench serve --retry-parked`. The queue is where `quench serve` keeps it:
/// in the PostgreSQL store, or `queue.db` in the service's data directory (`--data-dir`, else
/// `[serve] data_dir`, else the user's data directory); no queue there means no service ran.
fn parked_deliveries(flag: Option<&Path>, config: &Config, store: &DataDir) -> Result<Vec<Parked>> {
    let queue: Box<dyn JobQueue> = match &store.backend {
        Backend::Postgres(url) => Box::new(crate::server::PgQueue::open(url)?),
        Backend::Sqlite(_) => {
            let section: ServeSection = config.section("serve")?;
            let dir = super::sweep::data_dir(flag, section.data_dir.as_deref(), config)?;
            if !dir.join("queue.db").exists() {
                return Ok(Vec::new());
            }
            Box::new(crate::server::SqliteQueue::open(&dir)?)
        }
    };
    queue.parked()
}

fn write_parked(out: &mut dyn Write, parked: &[Parked]) -> Result<()> {
    if parked.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{} parked deliver{} (findings not recorded; `quench serve --retry-parked` queues them again):",
        parked.len(),
        if parked.len() == 1 { "y" } else { "ies" }
    )?;
    for p in parked {
        let after = &p.after[..p.after.len().min(12)];
        writeln!(
            out,
            "  {} {} {} {after}, {} attempt(s), parked {}: {}",
            p.delivery, p.repo, p.git_ref, p.attempts, p.parked_at, p.error
        )?;
    }
    Ok(())
}
