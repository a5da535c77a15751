//! Revocation: the policy that decides, the recipes and special revokers that act, and the
//! durable job runner that makes each revocation happen exactly once in effect, re-verifies
//! it, and retries or escalates.
//!
//! [`after_scan`] is the hook scanning commands call once their findings (and verdicts) are
//! known: it records them in the store and, under the policy, queues and runs revocations.

pub mod policy;

use anyhow::Result;

use crate::config::Config;
use crate::finding::Finding;
use crate::store::{self, DataDir, StoreArgs};

pub use policy::{Decision, Mode, Policy};

/// Records a scan's findings in the store when the store is enabled (`--store`, `--revoke`,
/// `[store] enabled`, or a policy that may revoke). Returns a one-line summary for stderr.
pub fn after_scan(
    args: &StoreArgs,
    config: &Config,
    roots: &[String],
    findings: &[Finding],
) -> Result<Option<String>> {
    let mut policy = Policy::from_config(config)?;
    if args.revoke && policy.mode == Mode::Off {
        policy.mode = Mode::Auto;
    }
    if !DataDir::enabled(args, config)? && !policy.any_enabled() {
        return Ok(None);
    }
    let dir = DataDir::resolve(args, config, roots)?;
    dir.create()?;
    let mut st = store::open(&dir)?;
    let (rec, _verdicts) = store::record::record_scan(st.as_mut(), findings, roots, store::now())?;
    Ok(Some(format!(
        "store {}: {} new, {} seen again ({} already revoked), {} new locations",
        st.describe(),
        rec.new,
        rec.seen_again,
        rec.already_revoked,
        rec.new_locations
    )))
}
