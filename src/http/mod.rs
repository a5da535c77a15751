//! HTTP to issuers: the request template that verification and revocation recipes share
//! ([`call`]).

pub mod call;

pub use call::{render, render_json, Call, Prepared, Vars};
