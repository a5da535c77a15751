//! The command line: one file per subcommand, each a thin layer over the library.

mod common;
mod progress;
mod rules;
mod scan;
mod serve;
mod sweep;

use clap::{Parser, Subcommand};

pub use common::{CommonArgs, OutputArgs};

/// Exit status when nothing was found.
pub const EXIT_CLEAN: i32 = 0;
/// Exit status when findings were reported.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit status for usage and runtime errors.
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser)]
#[command(
    name = "quench",
    version,
    about = "Find leaked credentials, verify them against their issuer, and revoke the live ones.",
    after_help = "Exit status: 0 nothing found, 1 findings reported, 2 usage or runtime error."
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
    /// Run the webhook service: scan pushed commits as they arrive (and sweeps on a schedule).
    Serve(serve::ServeCmd),
    /// Scan many repositories, each only for what changed since the last sweep.
    Sweep(sweep::SweepCmd),
}

/// Parses the command line, runs it, and returns the process exit status.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
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
        Command::Serve(c) => c.run(),
        Command::Sweep(c) => c.run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quench: error: {e:#}");
            EXIT_ERROR
        }
    }
}
