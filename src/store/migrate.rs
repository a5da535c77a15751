//! Schema migrations as data: numbered SQL files under `src/store/schema/<backend>/`, embedded
//! at build time, applied in order on open and recorded in one history table,
//! `schema_migrations`. Both backends carry the same numbers for the same change, so "schema
//! version 3" means one thing whichever database holds it.
//!
//! The backends differ only in how they apply a step and how they keep two processes from
//! applying it at once (SQLite's write lock, PostgreSQL's transaction-scoped advisory lock);
//! which steps to apply, and refusing a database newer than this binary, is decided here once.

use anyhow::{bail, Result};

/// One schema step: version `version` is the database after `sql` ran.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($backend:literal, $version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("schema/", $backend, "/", $name, ".sql")),
        }
    };
}

/// SQLite's steps. Never edit a released file: add the next number.
pub const SQLITE: &[Migration] = &[
    migration!("sqlite", 1, "0001_init"),
    migration!("sqlite", 2, "0002_attempts_index"),
    migration!("sqlite", 3, "0003_lease_index_and_budgets"),
    migration!("sqlite", 4, "0004_key_check"),
    migration!("sqlite", 5, "0005_revived"),
    migration!("sqlite", 6, "0006_reach"),
    migration!("sqlite", 7, "0007_rate_pace"),
];

/// PostgreSQL's steps, numbered as SQLite's.
pub const POSTGRES: &[Migration] = &[
    migration!("postgres", 1, "0001_init"),
    migration!("postgres", 2, "0002_attempts_index"),
    migration!("postgres", 3, "0003_lease_index_and_budgets"),
    migration!("postgres", 4, "0004_key_check"),
    migration!("postgres", 5, "0005_revived"),
    migration!("postgres", 6, "0006_reach"),
    migration!("postgres", 7, "0007_rate_pace"),
];

/// The history table, the same on both backends.
pub const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// The newest version this binary knows.
pub fn latest(steps: &[Migration]) -> i64 {
    steps.last().map_or(0, |m| m.version)
}

/// The steps still to apply to a database whose history holds `applied`, in order. A version
/// this binary does not know means the database was migrated by a newer quench: refused, since
/// writing to it with an older idea of the schema could lose data.
pub fn pending<'a>(steps: &'a [Migration], applied: &[i64], store: &str) -> Result<Vec<&'a Migration>> {
    let newest = applied.iter().copied().max().unwrap_or(0);
    if newest > latest(steps) {
        bail!(
            "store {store} has schema version {newest}, newer than this quench knows ({}); \
             upgrade quench",
            latest(steps)
        );
    }
    Ok(steps.iter().filter(|m| !applied.contains(&m.version)).collect())
}

/// What `quench store migrate` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    /// The version before.
    pub from: i64,
    /// The version now.
    pub to: i64,
    /// The steps applied, by name.
    pub applied: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_number_their_steps_one_by_one_alike() {
        for steps in [SQLITE, POSTGRES] {
            for (i, m) in steps.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
                assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
                assert!(!m.sql.trim().is_empty(), "{}", m.name);
            }
        }
        let names = |s: &[Migration]| s.iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(
            names(SQLITE),
            names(POSTGRES),
            "the backends' steps drifted apart"
        );
    }

    #[test]
    fn pending_skips_the_applied_and_refuses_a_newer_schema() {
        let all: Vec<_> = SQLITE.iter().map(|m| m.version).collect();
        let p = pending(SQLITE, &[1], "s").unwrap();
        assert_eq!(p.iter().map(|m| m.version).collect::<Vec<_>>(), all[1..]);
        assert!(pending(SQLITE, &all, "s").unwrap().is_empty());
        let newer: Vec<_> = all.iter().copied().chain([99]).collect();
        let e = pending(SQLITE, &newer, "db.sqlite").unwrap_err().to_string();
        assert!(e.contains("schema version 99") && e.contains("db.sqlite"), "{e}");
    }
}
