-- Sweeps shared by several processes on one PostgreSQL (src/sweep/shared.rs): what earlier
-- sweeps scanned, per repository (blobs and ref tips), wherever they ran; and the repositories
-- of a distributed sweep, each claimed by one worker with a lease in the database's time.
CREATE TABLE IF NOT EXISTS sweep_blobs (
    repo TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (repo, blob)
);
CREATE TABLE IF NOT EXISTS sweep_tips (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    oid  TEXT NOT NULL,
    PRIMARY KEY (repo, name)
);
CREATE TABLE IF NOT EXISTS sweep_repos (
    remote      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    owner       TEXT,
    lease_until TIMESTAMPTZ,
    error       TEXT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sweep_repos_state ON sweep_repos(state, updated_at);
