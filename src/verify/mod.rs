//! Live verification: ask the issuer, safely, whether a found credential works and whose it is.
//!
//! - [`recipe`]: the declarative `[rule.verify]` format and its matcher language (the request
//!   template itself is [`crate::issuer::call`], shared with revocation);
//! - [`registry`]: issuers and the base URLs a secret may be sent to (config and env override);
//! - [`guard`]: egress rules (https, loopback only when configured, no private targets derived
//!   from scanned data);
//! - [`http`]: one request/answer, no redirects, bounded bodies; the verdict from matchers;
//! - [`special`], [`aws`], [`jwt`]: verifiers that need code (SigV4, JWTs, app keys);
//! - [`engine`]: the async service with per-issuer limits, `Retry-After` and a verdict cache.

pub mod aws;
pub mod context;
pub mod engine;
pub mod http;
pub mod jwt;
pub mod special;

pub use crate::issuer::registry::Registry;
pub use crate::issuer::verify_recipe::Recipe;
pub use crate::verdict::{self, Revealed, Verdict, Verification};
pub use context::{Context, Job, Options, Pace, VerifySection};
pub use engine::{verify_findings, DuringScan, Service, Stats, Submitter, Tap};
