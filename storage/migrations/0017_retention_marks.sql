-- Retention, marked first (issue 29): a pass marks the jobs whose files go
-- (images_expired_at) before it removes them, and records disk_bytes = 0 once their folder
-- is really gone. A job marked whose files are not all gone yet (a stop in between, a
-- folder that could not be removed) is in jobs_expiring, which the next passes read
-- (images_expired_at set and disk_bytes not 0: a handful of rows, never the expired ones).
-- removal_failed_at: when removing its folder last failed; such a job is tried again
-- later, not first at every pass.

ALTER TABLE jobs ADD COLUMN removal_failed_at TEXT;

CREATE INDEX jobs_expiring ON jobs (id) WHERE images_expired_at IS NOT NULL AND disk_bytes IS NOT 0;
