//! `quench access FINGERPRINT`: what a stored finding's key can reach, asked again of its
//! issuer with read-only calls, stored with the finding and printed.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use super::findings::StoreCmdArgs;
use crate::access::{self, Limits, Skip};
use crate::revoke::{self, Policy};
use crate::store::{self, AuditEntry, FindingFilter, VerdictKind};

#[derive(Args)]
pub struct AccessCmd {
    /// The finding's fingerprint, or the start of it (as `quench findings` shows it).
    #[arg(value_name = "FINGERPRINT")]
    fingerprint: String,
    #[command(flatten)]
    store: StoreCmdArgs,
    /// Most pages read per listing.
    #[arg(long, value_name = "N", default_value_t = access::Limits::default().max_pages)]
    max_pages: u32,
    /// Seconds the whole enumeration may take.
    #[arg(long, value_name = "SECS", value_parser = super::common::parse_seconds)]
    access_timeout: Option<std::time::Duration>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl AccessCmd {
    pub fn run(self) -> Result<i32> {
        let (config, dir, _) = self.store.open()?;
        let rules = self.store.rules(&config)?;
        let runner = revoke::runner(
            &config,
            &dir,
            Policy::from_config(&config)?,
            rules.rules.iter().cloned().map(Arc::new),
            "access",
        )?;
        let filter = FindingFilter {
            fingerprint: Some(self.fingerprint.clone()),
            ..Default::default()
        };
        let found = runner.with_store(|s| s.findings(&filter))?;
        let stored = match found.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "no finding in the store has a fingerprint starting {:?}",
                self.fingerprint
            ),
            many => bail!(
                "{} findings have a fingerprint starting {:?}: give more of it",
                many.len(),
                self.fingerprint
            ),
        };
        if access::enumerate::recipe_for(&stored.rule_id)?.is_none() {
            bail!(
                "finding {}: rule {} has no access recipe (see `quench access --help`)",
                short(&stored.fingerprint),
                stored.rule_id
            );
        }
        // The secret: sealed with a pending job, else read again where it was found.
        let job = runner
            .with_store(|s| s.jobs(Some(&stored.fingerprint)))?
            .into_iter()
            .find(|j| j.state.is_active() && j.sealed.is_some());
        let finding = match job {
            Some(j) => runner.unseal(&j)?,
            None => {
                let paths = runner.with_store(|s| s.location_paths(&stored.fingerprint))?;
                revoke::recover::rescan(&stored, &paths, &rules, dir.path.parent())
            }
        };
        let Some(finding) = finding else {
            bail!(
                "finding {}: its secret is neither sealed in the store nor at its recorded locations any more",
                short(&stored.fingerprint)
            );
        };
        let limits = Limits {
            max_pages: self.max_pages.max(1),
            budget: self.access_timeout.unwrap_or(Limits::default().budget),
            ..Limits::default()
        };
        let ctx = crate::verify::Context::from_config(&config, None)?;
        let outcome = revoke::block_on(async {
            // A key is enumerated only while its issuer answers it live.
            let verdict = runner.verify_finding(&finding).await?;
            if verdict.as_ref().map(|v| v.verdict) != Some(VerdictKind::Live) {
                return anyhow::Ok(Err(verdict));
            }
            let model = finding.identity;
            Ok(Ok(access::reach_for(&ctx, &finding, model, &limits).await))
        })??;
        let mut reach = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(Skip::Recipes(e))) => bail!("{e}"),
            Ok(Err(_)) => bail!(
                "finding {}: rule {} has no access recipe",
                short(&stored.fingerprint),
                stored.rule_id
            ),
            Err(v) => {
                let why = v
                    .map(|v| {
                        format!(
                            "{}{}",
                            v.verdict.as_str(),
                            v.reason.map(|r| format!(": {r}")).unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "not verifiable".into());
                println!(
                    "{} {}: the key is not live ({why}); a key that does not work reaches nothing",
                    stored.rule_id,
                    short(&stored.fingerprint)
                );
                return Ok(super::EXIT_CLEAN);
            }
        };
        access::whose::attribute(&mut reach, stored.author.as_deref(), &stored.owners);
        runner.with_store(|s| {
            s.record_reach(&stored.fingerprint, &reach, store::now())?;
            s.audit(
                AuditEntry::new("access", "enumerated")
                    .finding(&stored.fingerprint, &stored.rule_id)
                    .detail(reach.summary()),
            )
        })?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if self.json {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({"fingerprint": stored.fingerprint, "rule_id": stored.rule_id, "reach": reach}),
            )?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{} {}  {}  {}",
                stored.rule_id,
                short(&stored.fingerprint),
                stored.secret_redacted,
                stored.first_location
            )
            .context("writing the report")?;
            crate::report::access::write(&mut out, &reach, "  ")?;
        }
        Ok(super::EXIT_CLEAN)
    }
}

fn short(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}
