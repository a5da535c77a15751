-- 5: a key recorded revoked or dead that the issuer answers live again is revived: its current
-- exposure window opens at `revived_at`, the closed ones are summed in `prior_exposure_ms`, and
-- `windows` counts them all.
ALTER TABLE findings ADD COLUMN revived_at TEXT;
ALTER TABLE findings ADD COLUMN prior_exposure_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN windows BIGINT NOT NULL DEFAULT 1;
