//! Blast radius: what a live key can reach, for each of the three identity models.
//!
//! Verification says a key works and whose it is; this room asks its issuer, with read-only
//! calls only, what it can touch: organisations and roles, projects and workspaces,
//! repositories with their permission, channels, permission families, and so what it can do
//! that matters first (org admin, push to a default branch, read secrets, create principals).
//!
//! - [`enumerate`]: runs an access recipe (`src/issuer/access.toml`, the issuer-call
//!   language's third use) within page, item and time bounds, through verification's context:
//!   the egress guard, each issuer's rate and concurrency gates, `Retry-After`.
//! - [`meaning`]: the recipe's capability rules over what was gathered; echoes of the key
//!   cleared before anything leaves.
//! - [`whose`]: the identity verdict (person, workflow owner, or client and token lifetime).
//!
//! The result is a [`crate::reach::Reach`] on the finding (`--access` on `scan`, `git` and
//! `verify`), stored with it (`quench access FINGERPRINT` enumerates a stored finding again),
//! and ranks findings by [`crate::reach::Risk`] in `quench findings` and SARIF.

pub mod enumerate;
pub mod meaning;
pub mod whose;

use std::sync::Arc;

pub use enumerate::Limits;

use crate::finding::Finding;
use crate::issuer::access_recipe;
use crate::reach::Reach;
use crate::rules::Identity;
use crate::verdict::Verdict;
use crate::verify::{Context, Job};

/// Why a finding was not enumerated: no recipe for its rule, or not live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NoRecipe,
    NotLive,
    /// The built-in recipes failed to load (a build defect, reported rather than hidden).
    Recipes(String),
}

/// Enumerates one finding's reach. The key must be known live (a dead key reaches nothing and
/// an indeterminate one is not asked again).
pub async fn reach_of(ctx: &Context, f: &Finding, limits: &Limits) -> Result<Reach, Skip> {
    let Some(v) = f.verification.as_ref().filter(|v| v.verdict == Verdict::Live) else {
        return Err(Skip::NotLive);
    };
    reach_for(ctx, f, v.identity_model, limits).await
}

/// Enumerates the reach of the key in `f` (its secret in memory) under identity `model`,
/// whatever its last verdict: the caller has just found it live.
pub async fn reach_for(ctx: &Context, f: &Finding, model: Identity, limits: &Limits) -> Result<Reach, Skip> {
    let recipe = access_recipe::for_rule(&f.rule_id)
        .map_err(Skip::Recipes)?
        .ok_or(Skip::NoRecipe)?;
    let rule = f.rule.clone().ok_or(Skip::NoRecipe)?;
    let job = Job {
        fingerprint: f.fingerprint.clone(),
        rule,
        secret: f.raw_secret.expose().to_vec(),
        parts: f.exposed_parts(),
    };
    Ok(enumerate::enumerate(ctx, recipe, &job, model, limits).await)
}

/// How many findings an `--access` run enumerated, and why the rest were not.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub enumerated: usize,
    pub no_recipe: usize,
    pub not_live: usize,
}

impl Stats {
    pub fn note(&self) -> String {
        format!(
            "access: {} live keys enumerated, {} live without an access recipe, {} not live (not enumerated)",
            self.enumerated, self.no_recipe, self.not_live
        )
    }
}

/// Enumerates every live finding, a few at a time (each issuer's own gate spaces the calls),
/// and sets its `reach`.
pub fn enumerate_findings(
    findings: &mut [Finding],
    ctx: Arc<Context>,
    limits: &Limits,
) -> anyhow::Result<Stats> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results: Vec<Result<Reach, Skip>> = rt.block_on(async {
        let mut out = Vec::with_capacity(findings.len());
        let futures = findings.iter().map(|f| reach_of(&ctx, f, limits));
        // Issuers differ; one slow issuer should not hold the others back.
        let mut set = futures_join(futures).await;
        out.append(&mut set);
        out
    });
    let mut stats = Stats::default();
    for (f, r) in findings.iter_mut().zip(results) {
        match r {
            Ok(reach) => {
                stats.enumerated += 1;
                f.reach = Some(reach);
            }
            Err(Skip::NoRecipe) => stats.no_recipe += 1,
            Err(Skip::NotLive) => stats.not_live += 1,
            Err(Skip::Recipes(e)) => anyhow::bail!("{e}"),
        }
    }
    Ok(stats)
}

/// Runs the futures concurrently, keeping their order.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Stores each enumerated reach with its finding, after the scan recorded the findings, and
/// adds the owner the store attributes the finding to (CODEOWNERS, commit author). Nothing is
/// written when the run keeps no store.
pub fn record(
    args: &crate::store::StoreOptions,
    config: &crate::config::Config,
    roots: &[String],
    findings: &mut [Finding],
) -> anyhow::Result<()> {
    use crate::store::{self, AuditEntry, DataDir};
    if !findings.iter().any(|f| f.reach.is_some()) || !DataDir::enabled(args, config)? {
        return Ok(());
    }
    let dir = DataDir::resolve(args, config, roots)?;
    let mut st = store::open(&dir)?;
    let at = store::now();
    for f in findings.iter_mut() {
        let Some(reach) = f.reach.as_mut() else { continue };
        let Some(stored) = st.finding(&f.fingerprint)? else {
            continue;
        };
        whose::attribute(reach, stored.author.as_deref(), &stored.owners);
        st.record_reach(&f.fingerprint, reach, at)?;
        st.audit(
            AuditEntry::new("access", "enumerated")
                .finding(&f.fingerprint, &f.rule_id)
                .detail(reach.summary()),
        )?;
    }
    Ok(())
}
