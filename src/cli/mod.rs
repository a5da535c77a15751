//! The command line: one file per subcommand, each a thin layer over the library.

mod access;
mod baseline;
mod common;
mod findings;
mod git;
mod hook;
mod issuers;
mod progress;
mod recheck;
mod report;
mod revoke;
mod rules;
mod scan;
mod serve;
mod simulate;
mod store;
mod sweep;
mod verify;

use clap::{Parser, Subcommand};

pub use common::{CommonArgs, OutputArgs};

/// Exit status when nothing was found.
pub const EXIT_CLEAN: i32 = 0;
/// Exit status when findings were reported.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit status for usage and runtime errors, and for a scan that found nothing but could not
/// read some of what it was asked to scan.
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser)]
#[command(
    name = "quench",
    version,
    about = "Find leaked credentials, verify them against their issuer, and revoke the live ones.",
    after_help = "Exit status: 0 nothing found, 1 findings reported, 2 usage or runtime error, or nothing \
                  found but some of the data asked for could not be read (an unreadable file, a truncated \
                  archive, unreadable history, a path past the system's limit: each is named in the skipped list)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files, directories or standard input (`-`) for secrets.
    Scan(scan::ScanCmd),
    /// List the rules or run their self-test.
    Rules(rules::RulesCmd),
    /// Scan a git repository's history, a range of commits, or the staged changes.
    Git(git::GitCmd),
    /// Install or remove the git hook that blocks commits (or pushes) adding secrets.
    Hook(hook::HookCmd),
    /// Record today's findings so later scans report only new ones.
    Baseline(baseline::BaselineCmd),
    /// List the findings in the store, with their status, attribution and timeline.
    Findings(findings::FindingsCmd),
    /// Exposure windows and time-to-revoke (median, p95, max); `--html FILE` draws them.
    Report(report::ReportCmd),
    /// Run the revocation queue, approve held jobs, or revoke keys by fingerprint or principal.
    Revoke(revoke::RevokeCmd),
    /// What a stored finding's live key can reach (orgs, projects, repositories, capabilities).
    Access(access::AccessCmd),
    /// Verify again every finding not confirmed dead; escalate keys live for too long.
    Recheck(recheck::RecheckCmd),
    /// Check secrets (stdin, or a findings report) against their issuers.
    Verify(verify::VerifyCmd),
    /// Run the issuer simulator on loopback (for trying quench and testing integrations).
    Simulate(simulate::SimulateCmd),
    /// Print every host quench may send a credential to, and why.
    Issuers(issuers::IssuersCmd),
    /// Run the webhook service: scan pushed commits as they arrive (and sweeps on a schedule).
    Serve(serve::ServeCmd),
    /// Scan many repositories, each only for what changed since the last sweep.
    Sweep(sweep::SweepCmd),
    /// Migrate the store's schema, or copy the store to another database.
    Store(store::StoreCmd),
}

/// Parses the command line, runs it, and returns the process exit status.
pub fn run() -> i32 {
    let cli = match Cli::try_parse_from(common::join_store_urls(std::env::args_os())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => EXIT_CLEAN,
                _ => EXIT_ERROR,
            };
        }
    };
    let result = match cli.command {
        Command::Scan(c) => c.run(),
        Command::Rules(c) => c.run(),
        Command::Git(c) => c.run(),
        Command::Hook(c) => c.run(),
        Command::Baseline(c) => c.run(),
        Command::Findings(c) => c.run(),
        Command::Report(c) => c.run(),
        Command::Revoke(c) => c.run(),
        Command::Recheck(c) => c.run(),
        Command::Access(c) => c.run(),
        Command::Verify(c) => c.run(),
        Command::Simulate(c) => c.run(),
        Command::Issuers(c) => c.run(),
        Command::Serve(c) => c.run(),
        Command::Sweep(c) => c.run(),
        Command::Store(c) => c.run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quench: error: {e:#}");
            EXIT_ERROR
        }
    }
}
