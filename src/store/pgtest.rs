//! A scratch schema on a real PostgreSQL for the store's tests, shared by the unit tests and
//! the integration tests so that both run the PostgreSQL cases the same way. Not for use
//! outside tests.
//!
//! The database comes from `QUENCH_TEST_PG_URL`, which `.ci/run` sets to a database it creates
//! for the run and drops after. Each test gets its own schema in it (a URL whose
//! `search_path` points there), so tests running in parallel never see each other's rows;
//! the schema is dropped when the test ends. Without the variable the tests use the local
//! server (`LOCAL_URL`), as a plain `cargo test` on a machine running PostgreSQL should; with
//! no server at all a PostgreSQL case fails and says how to run it: a suite that skipped them
//! would pass without proving anything.

use std::sync::atomic::{AtomicUsize, Ordering};

use ::postgres::{Client, NoTls};

/// The environment variable naming the test database.
pub const TEST_URL_ENV: &str = "QUENCH_TEST_PG_URL";

/// The database a plain `cargo test` uses when `QUENCH_TEST_PG_URL` is unset.
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own in the test database, dropped on drop.
pub struct ScratchDb {
    /// The URL of the schema: the test database with `search_path` set to it.
    pub url: String,
    base: String,
    pub schema: String,
}

impl ScratchDb {
    /// A fresh schema, or the reason there is none (no `QUENCH_TEST_PG_URL`, server down).
    pub fn new() -> Result<ScratchDb, String> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        // Without the variable, the local server these machines run (trust auth, database
        // `test`): a plain `cargo test` then runs the PostgreSQL cases too, each in a schema of
        // its own that is dropped after.
        let base = std::env::var(TEST_URL_ENV).unwrap_or_else(|_| LOCAL_URL.to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let schema = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = Client::connect(&base, NoTls).map_err(|e| {
            format!(
                "the PostgreSQL store tests cannot connect to {} ({e}): start PostgreSQL \
                 (`.ci/run` does), or set {TEST_URL_ENV}=postgres://USER@HOST/DB to a database \
                 these tests may write",
                redacted(&base)
            )
        })?;
        c.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .map_err(|e| format!("{TEST_URL_ENV}: cannot create schema {schema} ({e})"))?;
        let mut u = url::Url::parse(&base).map_err(|e| format!("{TEST_URL_ENV}: {e}"))?;
        // The schema names the connections too, so a test can find (and cut) its own.
        u.query_pairs_mut()
            .append_pair("options", &format!("-csearch_path={schema}"))
            .append_pair("application_name", &schema);
        Ok(ScratchDb {
            url: u.to_string(),
            base,
            schema,
        })
    }

    /// [`ScratchDb::new`], failing the test with its reason.
    pub fn require() -> ScratchDb {
        ScratchDb::new().unwrap_or_else(|why| panic!("{why}"))
    }

    /// A plain client on the scratch schema, for what a test checks behind the store's back.
    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the scratch schema")
    }

    /// Closes every connection the code under test holds to this schema, as a server restart
    /// would, and waits until they are gone; returns how many.
    pub fn cut_connections(&self) -> i64 {
        let mut c = Client::connect(&self.base, NoTls).expect("connect to the test database");
        c.query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&self.schema],
        )
        .expect("terminate connections")
        .len() as i64
    }

    /// Whether any row of any table holds `needle`, as text or as bytes.
    pub fn holds(&self, needle: &str) -> bool {
        let dump = self.dump();
        dump.contains(needle) || dump.contains(&hex::encode(needle))
    }

    /// Every row of every table in the schema as text (byte columns in hex), for checks that
    /// no secret reached the database.
    pub fn dump(&self) -> String {
        let mut c = self.client();
        let tables: Vec<String> = c
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                &[&self.schema],
            )
            .expect("list tables")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = String::new();
        for t in tables {
            for r in c
                .query(&format!("SELECT t::text FROM {t} t"), &[])
                .expect("dump table")
            {
                out.push_str(r.get::<_, &str>(0));
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.base, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "the test database URL".into(),
    }
}
