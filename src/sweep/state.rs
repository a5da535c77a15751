//! What earlier sweeps already covered, per repository: the blobs scanned and the ref tips seen.
//! Tips bound the history walk to what is new; blob ids make sure content seen anywhere in the
//! repository's history is not scanned twice (a revert, a cherry-pick, a file copied between
//! branches).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use git2::Oid;
use rusqlite::{params, Connection};

/// One host's SQLite file (`sweep.db` in the data directory), or the shared PostgreSQL store's
/// tables ([`super::shared`]) so that every process sweeping on it shares one memory.
pub struct SweepState {
    /// `None` when the state is the shared store's.
    conn: Option<Mutex<Connection>>,
    shared: Option<super::shared::Shared>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sweep_blobs (
    repo TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (repo, blob)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sweep_tips (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    oid  TEXT NOT NULL,
    PRIMARY KEY (repo, name)
) WITHOUT ROWID;
";

impl SweepState {
    /// Opens (creating) `sweep.db` in `dir`.
    pub fn open(dir: &Path) -> Result<SweepState> {
        crate::store::location::private_dir(dir)?;
        let path = dir.join("sweep.db");
        crate::store::location::private_file(&path)?;
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(30)))
            .and_then(|_| conn.execute_batch(SCHEMA))
            .with_context(|| format!("preparing {}", path.display()))?;
        Ok(SweepState {
            conn: Some(Mutex::new(conn)),
            shared: None,
        })
    }

    /// The sweep state of the PostgreSQL store at `url`.
    pub fn open_shared(url: &str) -> Result<SweepState> {
        Ok(SweepState {
            conn: None,
            shared: Some(super::shared::Shared::open(url)?),
        })
    }

    /// The shared tables, when this state is the shared store's (for a distributed sweep's queue).
    pub fn shared(&self) -> Option<&super::shared::Shared> {
        self.shared.as_ref()
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .as_ref()
            .expect("a state without a shared store has its file")
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn known_blobs(&self, repo: &str) -> Result<HashSet<Oid>> {
        if let Some(s) = &self.shared {
            return s.known_blobs(repo);
        }
        let c = self.conn();
        let mut stmt = c.prepare_cached("SELECT blob FROM sweep_blobs WHERE repo = ?1")?;
        let rows = stmt.query_map([repo], |r| r.get::<_, String>(0))?;
        let mut out = HashSet::new();
        for r in rows {
            if let Ok(id) = Oid::from_str(&r?) {
                out.insert(id);
            }
        }
        Ok(out)
    }

    pub fn tips(&self, repo: &str) -> Result<Vec<Oid>> {
        if let Some(s) = &self.shared {
            return s.tips(repo);
        }
        let c = self.conn();
        let mut stmt = c.prepare_cached("SELECT oid FROM sweep_tips WHERE repo = ?1")?;
        let rows = stmt.query_map([repo], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(id) = Oid::from_str(&r?) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Records scanned blobs and, when the whole walk succeeded, the new tips, in one transaction.
    pub fn record(&self, repo: &str, blobs: &[Oid], tips: Option<&[(String, Oid)]>) -> Result<()> {
        if let Some(s) = &self.shared {
            return s.record(repo, blobs, tips);
        }
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut ins =
                tx.prepare_cached("INSERT OR IGNORE INTO sweep_blobs (repo, blob) VALUES (?1, ?2)")?;
            for b in blobs {
                ins.execute(params![repo, b.to_string()])?;
            }
        }
        if let Some(tips) = tips {
            tx.execute("DELETE FROM sweep_tips WHERE repo = ?1", [repo])?;
            let mut ins =
                tx.prepare_cached("INSERT INTO sweep_tips (repo, name, oid) VALUES (?1, ?2, ?3)")?;
            for (name, oid) in tips {
                ins.execute(params![repo, name, oid.to_string()])?;
            }
        }
        tx.commit().context("recording sweep state")?;
        Ok(())
    }
}
