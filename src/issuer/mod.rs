//! The issuer-call language, in one room: everything quench says to an issuer, whether to
//! verify a key, revoke it or look it up, and what it reads back.
//!
//! - [`call`]: the request template every recipe shares (method, URL, headers, query, form,
//!   JSON, body, basic auth) and its `{name}` renderer.
//! - [`verify_recipe`]: `[rule.verify]` — the answer an issuer gives ([`verify_recipe::Exchange`]),
//!   the one matcher type over it (status, JSON path, headers, body), the one JSON-path dialect
//!   (dots, array indexes, `*` fan-out) and identity extraction.
//! - [`revoke_recipe`]: `[rule.revoke]` — find the key's id, then the call that kills it, and the
//!   client that sends it.
//! - [`access_recipe`]: `access.toml` — what a live key can reach: read-only steps that page
//!   through an issuer's listings, probes of permission families, and what the reach means.
//! - [`registry`]: each issuer's hosts, rates and budgets (`issuers.toml`, overridable per config).
//! - [`guard`]: the one egress guard — a secret goes only to its own issuer's configured hosts,
//!   over https (plain http to loopback only, for the simulator), never to a private address.
//!   Verification, revocation and notifications all pass through it.
//! - [`client`]: the process's shared HTTP clients over one TLS configuration.
//! - [`addrs`]: the special-purpose address table (IANA's IPv4 and IPv6 registries, embedded
//!   IPv4 forms included) the guard refuses for hosts taken from scanned data.
//!
//! Rules (`src/rules/`) hold recipes as data of these types; verification (`src/verify/`) and
//! revocation (`src/revoke/`) are two uses of this language, not two implementations.

pub mod access_recipe;
pub mod addrs;
pub mod call;
pub mod client;
pub mod guard;
pub mod registry;
pub mod revoke_recipe;
pub mod verify_recipe;

pub use call::{render, render_json, Call, Prepared, Vars};
