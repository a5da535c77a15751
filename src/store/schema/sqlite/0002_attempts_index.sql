-- 2: every job read counts its attempts; without this index each count scans them all, which
-- made a thousand-job run quadratic.
CREATE INDEX attempts_job ON attempts(job_id);
