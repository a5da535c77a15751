//! Live verification: ask the issuer, safely, whether a found credential works and whose it is.
//!
//! - [`recipe`]: the declarative `[rule.verify]` format and its matcher language (the request
//!   template itself is [`crate::http::call`], shared with revocation);
//! - [`registry`]: issuers and the base URLs a secret may be sent to (config and env override);
//! - [`guard`]: egress rules (https, loopback only when configured, no private targets derived
//!   from scanned data);
//! - [`http`]: one request/answer, no redirects, bounded bodies; the verdict from matchers;
//! - [`special`], [`aws`], [`jwt`]: verifiers that need code (SigV4, JWTs, app keys);
//! - [`engine`]: the async service with per-issuer limits, `Retry-After` and a verdict cache.

pub mod addrs;
pub mod aws;
pub mod engine;
pub mod guard;
pub mod http;
pub mod jwt;
pub mod recipe;
pub mod registry;
pub mod special;
pub mod verdict;

pub use engine::{
    verify_findings, Context, DuringScan, Job, Options, Service, Stats, Submitter, Tap, VerifySection,
};
pub use recipe::Recipe;
pub use registry::Registry;
pub use verdict::{Revealed, Verdict, Verification};
