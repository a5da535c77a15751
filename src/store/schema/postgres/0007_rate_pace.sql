-- 7: the next send slot of each paced request rate (an issuer's verify rate), so that every
-- process on the store sends an issuer its configured rate between them, not each. Slots are
-- the database's clock.
CREATE TABLE rate_pace (
    key          TEXT PRIMARY KEY,
    next_at      TIMESTAMPTZ NOT NULL
);
