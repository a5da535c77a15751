//! The two store backends for the integration tests: the store modules run each test once with
//! the data directory's SQLite file and once with a scratch PostgreSQL schema
//! (`quench::store::pgtest`), through the same flags a user would pass.

use quench::store::pgtest::ScratchDb;

/// Where a test's store lives. `--data-dir` is given either way: it holds the sealing key.
pub enum Backend {
    Sqlite,
    Postgres(ScratchDb),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite
    }

    pub fn postgres() -> Backend {
        Backend::Postgres(ScratchDb::require())
    }

    /// The flags that make a scanning command (`scan`, `git`) record into this store.
    pub fn record(&self) -> Vec<String> {
        match self {
            Backend::Sqlite => vec!["--store".into()],
            Backend::Postgres(db) => vec!["--store".into(), db.url.clone()],
        }
    }

    /// The flags that point a store command (`findings`, `report`, `revoke`…) at this store.
    pub fn read(&self) -> Vec<String> {
        match self {
            Backend::Sqlite => vec![],
            Backend::Postgres(db) => vec!["--store".into(), db.url.clone()],
        }
    }
}

/// Declares each named test (a `fn(Backend)`) twice: in `sqlite` and in `postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::backends::Backend::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::common::backends::Backend::postgres()) } )*
        }
    };
}
