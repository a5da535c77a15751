-- 6: what a live key can reach (its blast radius), the latest enumeration per finding. `risk`
-- is the rank findings are ordered by; `body` is the typed reach, as JSON.
CREATE TABLE reach (
    fingerprint  TEXT PRIMARY KEY REFERENCES findings(fingerprint),
    at           TEXT NOT NULL,
    risk         TEXT NOT NULL,
    body         TEXT NOT NULL
);
