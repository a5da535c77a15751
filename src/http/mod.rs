//! HTTP to issuers and webhooks: the request template that verification and revocation recipes
//! share ([`call`]) and the process's shared clients ([`client`]).

pub mod call;
pub mod client;

pub use call::{render, render_json, Call, Prepared, Vars};
