//! `quench store copy`: moves a whole store from one database to another (SQLite to PostgreSQL
//! when a team outgrows one host, or back), row for row, ids and timestamps unchanged, so the
//! audit log and every job's history read the same on the other side.
//!
//! Both ends are opened (and so migrated) first, which puts them on the same schema version;
//! the destination must be empty, so a copy never merges two histories; everything is written
//! in one destination transaction, so a failed copy leaves nothing behind. Rows move a page at
//! a time, so memory does not grow with the store. Sealed secrets move as they are: the
//! destination needs the same store key (`QUENCH_STORE_KEY` or the key file) to act on them.

use anyhow::{bail, Context as _, Result};

use super::Backend;

/// One table and its columns, in an order that respects the foreign keys.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// The primary key to page by.
    pub key: &'static str,
}

/// Every table of the store's schema (version 4), parents first. `rate_pace` (version 7) is not
/// copied: it holds only send slots a few seconds ahead, which mean nothing in another database.
pub const TABLES: &[Table] = &[
    Table {
        name: "findings",
        columns: &[
            "fingerprint",
            "rule_id",
            "rule_name",
            "issuer",
            "identity",
            "severity",
            "secret_redacted",
            "status",
            "principal",
            "org",
            "author",
            "owners",
            "first_exposed_at",
            "detected_at",
            "last_seen_at",
            "verified_at",
            "revoke_requested_at",
            "confirmed_dead_at",
            "revived_at",
            "prior_exposure_ms",
            "windows",
        ],
        key: "fingerprint",
    },
    Table {
        name: "locations",
        columns: &[
            "id",
            "fingerprint",
            "path",
            "line",
            "col",
            "context",
            "commit_id",
            "author_name",
            "author_email",
            "author_time",
            "first_seen_at",
        ],
        key: "id",
    },
    Table {
        name: "verdicts",
        columns: &["id", "fingerprint", "at", "verdict", "body"],
        key: "id",
    },
    Table {
        name: "jobs",
        columns: &[
            "id",
            "fingerprint",
            "rule_id",
            "issuer",
            "mode",
            "policy_rule",
            "state",
            "attempts",
            "next_at",
            "owner",
            "lease_until",
            "reason",
            "sealed",
            "created_at",
            "updated_at",
        ],
        key: "id",
    },
    Table {
        name: "attempts",
        columns: &[
            "id",
            "job_id",
            "started_at",
            "finished_at",
            "outcome",
            "http_status",
            "detail",
        ],
        key: "id",
    },
    Table {
        name: "audit",
        columns: &[
            "id",
            "at",
            "actor",
            "action",
            "fingerprint",
            "rule_id",
            "policy_rule",
            "issuer_status",
            "detail",
        ],
        key: "id",
    },
    Table {
        name: "budget_spent",
        columns: &["key", "at"],
        key: "key, at",
    },
    Table {
        name: "budget_holds",
        columns: &["key", "until"],
        key: "key",
    },
    Table {
        name: "store_key_check",
        columns: &["id", "sealed"],
        key: "id",
    },
];

/// A cell, as both backends can read and write it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// What a backend offers a copy: read a table a page at a time, write rows in one transaction.
pub trait Tables {
    fn describe(&self) -> String;
    fn count(&self, table: &Table) -> Result<i64>;
    /// Rows `offset..offset + limit` in key order, cells in `table.columns` order.
    fn page(&self, table: &Table, offset: i64, limit: i64) -> Result<Vec<Vec<Value>>>;
    fn begin(&mut self) -> Result<()>;
    fn insert(&mut self, table: &Table, rows: &[Vec<Value>]) -> Result<()>;
    /// Commits, after making new ids follow the copied ones.
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self);
}

/// Opens `backend` for copying.
fn open(backend: &Backend, busy_timeout: std::time::Duration) -> Result<Box<dyn Tables>> {
    Ok(match backend {
        Backend::Sqlite(path) => Box::new(super::SqliteStore::open(path, busy_timeout)?),
        Backend::Postgres(url) => Box::new(super::PgStore::open(url)?),
    })
}

/// How many rows of each table were copied.
#[derive(Debug, Default)]
pub struct Copied {
    pub from: String,
    pub to: String,
    pub rows: Vec<(&'static str, i64)>,
}

const PAGE: i64 = 1000;

/// Copies every row of the store in `from` into the empty store in `to`.
pub fn copy(from: &Backend, to: &Backend, busy_timeout: std::time::Duration) -> Result<Copied> {
    if from == to {
        bail!("--from and --to name the same store ({})", from.describe());
    }
    let src = open(from, busy_timeout).context("opening the store to copy from")?;
    let mut dst = open(to, busy_timeout).context("opening the store to copy to")?;
    for t in TABLES {
        let n = dst.count(t)?;
        if n > 0 {
            bail!(
                "store {} is not empty ({n} rows in {}): a copy goes into a new store only",
                dst.describe(),
                t.name
            );
        }
    }
    let mut copied = Copied {
        from: src.describe(),
        to: dst.describe(),
        rows: vec![],
    };
    dst.begin()?;
    let r = (|| -> Result<()> {
        for t in TABLES {
            let mut offset = 0;
            loop {
                let rows = src.page(t, offset, PAGE)?;
                if rows.is_empty() {
                    break;
                }
                dst.insert(t, &rows)
                    .with_context(|| format!("copying table {}", t.name))?;
                offset += rows.len() as i64;
            }
            copied.rows.push((t.name, offset));
        }
        Ok(())
    })();
    match r {
        Ok(()) => dst.commit()?,
        Err(e) => {
            dst.rollback();
            return Err(e);
        }
    }
    Ok(copied)
}
