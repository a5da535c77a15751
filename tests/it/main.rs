//! The integration tests, one binary so that `cargo test` links the heavy dependencies once.
//! Each module drives the real `quench` binary (or the issuer simulator) for one area; the
//! shared helpers live in `common`.

mod accuracy;
mod baseline;
mod common;
mod config_checks;
mod fuzz_smoke;
mod git_corrupt;
mod git_deep;
mod git_errors;
mod git_history;
mod git_staged;
mod hook;
mod revoke_admin;
mod revoke_auto;
mod revoke_budget;
mod revoke_crash;
mod revoke_git_env;
mod revoke_more;
mod revoke_simulator;
mod rules_import;
mod scan;
mod scan_incomplete;
mod serve_faults;
mod serve_hooks;
mod serve_revoke;
mod serve_schedule;
mod store_exposure;
mod store_findings;
mod store_git;
mod store_location;
mod sweep_deep;
mod sweep_incremental;
mod verify_cli;
mod verify_egress;
mod verify_simulator;
mod verify_sites;
