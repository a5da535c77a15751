-- 3: claiming reads expired leases through their own index (the old `(queued …) OR (running
-- …)` query scanned every job ever written); hourly request budgets of rate-limited revoke
-- endpoints, kept here so that every process on the store shares them and a restart does
-- not forget what was spent.
CREATE INDEX jobs_lease ON jobs(state, lease_until);
CREATE TABLE budget_spent (
    key          TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX budget_spent_key ON budget_spent(key, at);
CREATE TABLE budget_holds (
    key          TEXT PRIMARY KEY,
    until        TEXT NOT NULL
);
