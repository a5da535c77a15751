-- 4: a value sealed with the store key (a fixed text, never a secret), so that a process whose
-- key differs from the one the store's pending secrets are sealed with is refused at start
-- instead of failing, job after job, to open them. Processes on a shared database each hold
-- the key themselves; it is never stored here.
CREATE TABLE store_key_check (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    sealed  BLOB NOT NULL
);
