//! quench: find leaked credentials, verify them against their issuer, revoke the live ones.
//!
//! The library is the whole pipeline; `src/main.rs` is a thin CLI over it. Data flows
//! sources → [`scan`] (using the pure [`engine`]) → findings → reports.

pub mod access;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod engine;
pub mod finding;
#[doc(hidden)]
pub mod fuzzing;
pub mod issuer;
pub mod notify;
pub mod pipeline;
pub mod reach;
pub mod report;
pub mod revoke;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod server;
pub mod simulate;
pub mod source;
pub mod store;
pub mod suppress;
pub mod sweep;
pub mod verdict;
pub mod verify;
