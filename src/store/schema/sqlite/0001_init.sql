-- 1: findings, their locations and verdicts, revocation jobs and their attempts, and the
-- append-only audit log.
CREATE TABLE findings (
    fingerprint      TEXT PRIMARY KEY,
    rule_id          TEXT NOT NULL,
    rule_name        TEXT NOT NULL,
    issuer           TEXT NOT NULL,
    identity         TEXT NOT NULL,
    severity         TEXT NOT NULL,
    secret_redacted  TEXT NOT NULL,
    status           TEXT NOT NULL,
    principal        TEXT,
    org              TEXT,
    author           TEXT,
    owners           TEXT NOT NULL DEFAULT '[]',
    first_exposed_at TEXT,
    detected_at      TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    verified_at      TEXT,
    revoke_requested_at TEXT,
    confirmed_dead_at   TEXT
);
CREATE INDEX findings_status ON findings(status);
CREATE INDEX findings_principal ON findings(principal);
CREATE TABLE locations (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL REFERENCES findings(fingerprint),
    path         TEXT NOT NULL,
    line         INTEGER NOT NULL,
    col          INTEGER NOT NULL,
    context      TEXT NOT NULL,
    commit_id    TEXT NOT NULL DEFAULT '',
    author_name  TEXT,
    author_email TEXT,
    author_time  TEXT,
    first_seen_at TEXT NOT NULL,
    UNIQUE (fingerprint, path, line, col, commit_id)
);
CREATE TABLE verdicts (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL REFERENCES findings(fingerprint),
    at           TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX verdicts_fp ON verdicts(fingerprint, at);
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    fingerprint  TEXT NOT NULL REFERENCES findings(fingerprint),
    rule_id      TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    mode         TEXT NOT NULL,
    policy_rule  TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    owner        TEXT,
    lease_until  TEXT,
    reason       TEXT,
    sealed       BLOB,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, next_at);
CREATE UNIQUE INDEX jobs_one_active ON jobs(fingerprint)
    WHERE state IN ('awaiting-approval', 'queued', 'running');
CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES jobs(id),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT,
    http_status  INTEGER,
    detail       TEXT
);
CREATE TABLE audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    fingerprint   TEXT,
    rule_id       TEXT,
    policy_rule   TEXT,
    issuer_status INTEGER,
    detail        TEXT
);
CREATE INDEX audit_fp ON audit(fingerprint);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
