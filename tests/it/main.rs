//! The integration tests, one binary so that `cargo test` links the heavy dependencies once.
//! Each module drives the real `quench` binary (or the issuer simulator) for one area; the
//! shared helpers live in `common`.

mod accuracy;
mod architecture;
mod baseline;
mod ci_files;
mod ci_gate;
mod common;
mod first_run;
mod generic_precision;
mod git_errors;
mod git_history;
mod git_staged;
mod hook;
mod keys_real;
mod pipeline;
mod report_gitlab;
mod revoke_admin;
mod revoke_answers;
mod revoke_auto;
mod revoke_budget;
mod revoke_crash;
mod revoke_exact;
mod revoke_git_env;
mod revoke_listers;
mod revoke_more;
mod revoke_revived;
mod revoke_simulator;
mod scan;
mod scan_inputs;
mod serve_hooks;
mod serve_postgres;
mod serve_revoke;
mod serve_schedule;
mod store_copy;
mod store_exposure;
mod store_findings;
mod store_git;
mod store_postgres;
mod sweep_incremental;
mod verify_answers;
mod verify_cli;
mod verify_schemas;
mod verify_simulator;
mod verify_sites;
