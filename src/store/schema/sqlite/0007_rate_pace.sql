-- 7: the next send slot of each paced request rate (an issuer's verify rate), in seconds since
-- the Unix epoch. One host's processes rarely share an SQLite store, but the table is here so
-- that both backends carry the same steps (and copies between them the same tables).
CREATE TABLE rate_pace (
    key          TEXT PRIMARY KEY,
    next_at      REAL NOT NULL
);
