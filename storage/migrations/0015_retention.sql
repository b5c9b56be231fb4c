-- Retention (issue 29): KEEP_IMAGES_DAYS deletes the image files of older jobs in a
-- background sweep; the rows and recipes stay. images_expired_at: when the sweep removed a
-- job's files (an admin's purge keeps its own purged_at). disk_bytes: what a job's files
-- take on disk (NULL: not measured yet), and disk_usage the running total /info shows.

ALTER TABLE jobs ADD COLUMN images_expired_at TEXT;
ALTER TABLE jobs ADD COLUMN disk_bytes INTEGER;

-- The sweep reads the oldest jobs whose files are still there: swept and purged jobs
-- leave this index, so a pass never scans them again.
CREATE INDEX jobs_unexpired ON jobs (created_at) WHERE images_expired_at IS NULL AND purged_at IS NULL;
CREATE INDEX jobs_unmeasured ON jobs (id) WHERE disk_bytes IS NULL;

CREATE TABLE disk_usage (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    bytes  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO disk_usage (id, bytes) VALUES (1, 0);
