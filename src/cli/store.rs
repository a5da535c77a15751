//! `quench store`: work on the store itself rather than on what it records. `migrate` brings
//! its schema up to date on purpose (every command also does on open), so an operator can
//! upgrade a shared database once, before rolling out the new binary to many workers; `copy`
//! moves a store to another database (SQLite to PostgreSQL when one host is outgrown, or back).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use super::findings::StoreCmdArgs;
use crate::store::{self, Backend};

#[derive(Args)]
pub struct StoreCmd {
    #[command(subcommand)]
    command: StoreSub,
}

#[derive(Subcommand)]
enum StoreSub {
    /// Apply the schema migrations the store lacks and say which ran.
    Migrate(MigrateCmd),
    /// Copy every row of a store into a new, empty one (`--from sqlite:PATH --to postgres://…`,
    /// or back). Sealed secrets move as they are: keep the same store key.
    Copy(CopyCmd),
}

#[derive(Args)]
struct MigrateCmd {
    #[command(flatten)]
    store: StoreCmdArgs,
}

#[derive(Args)]
struct CopyCmd {
    /// The store to copy: `sqlite:PATH` (a database file or a data directory) or `postgres://…`.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The new store, which must be empty: `postgres://…` or `sqlite:PATH`.
    #[arg(long, value_name = "URL")]
    to: String,
}

impl StoreCmd {
    pub fn run(self) -> Result<i32> {
        match self.command {
            StoreSub::Migrate(c) => c.run(),
            StoreSub::Copy(c) => c.run(),
        }
    }
}

impl MigrateCmd {
    fn run(self) -> Result<i32> {
        let (_, dir) = self.store.resolve()?;
        let m = store::migrate_backend(&dir.backend, dir.busy_timeout)?;
        let label = dir.backend.describe();
        if m.applied.is_empty() {
            eprintln!("quench: store {label}: schema version {}, up to date", m.to);
        } else {
            eprintln!(
                "quench: store {label}: schema version {} -> {}, applied {}",
                m.from,
                m.to,
                m.applied.join(", ")
            );
        }
        Ok(super::EXIT_CLEAN)
    }
}

impl CopyCmd {
    fn run(self) -> Result<i32> {
        let from = Backend::parse(&self.from)?;
        let to = Backend::parse(&self.to)?;
        // Opening a missing SQLite file would create an empty store and copy nothing.
        if let Backend::Sqlite(p) = &from {
            if !p.is_file() {
                bail!(
                    "no store at {}: --from names a file that does not exist",
                    p.display()
                );
            }
        }
        let copied = store::copy::copy(&from, &to, std::time::Duration::from_secs(5))?;
        let rows: Vec<String> = copied.rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
        eprintln!(
            "quench: copied store {} to {}: {}",
            copied.from,
            copied.to,
            rows.join(", ")
        );
        Ok(super::EXIT_CLEAN)
    }
}
