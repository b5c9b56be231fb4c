-- Retention (issue 29): KEEP_IMAGES_DAYS deletes the image files of older jobs in a
-- background sweep (core/retention.py); the job rows, their recipes and their image rows
-- (sizes, seeds, flags) stay. images_expired_at: when the sweep removed a job's files (an
-- admin's purge keeps its own purged_at). disk_bytes: what a job's files take on disk
-- (NULL: not measured yet; 0 once they are gone), and disk_usage their running total, which
-- /info shows admins without walking the files.

ALTER TABLE jobs ADD COLUMN images_expired_at TEXT;
ALTER TABLE jobs ADD COLUMN disk_bytes INTEGER CHECK (disk_bytes >= 0);
UPDATE jobs SET disk_bytes = 0 WHERE purged_at IS NOT NULL;

-- The sweep reads the oldest jobs whose files are still there: expired and purged jobs
-- leave this index, so that a pass never scans them again. Jobs not measured yet are few
-- (the newest), but for all the jobs of a database from before this migration.
CREATE INDEX jobs_unexpired ON jobs (created_at) WHERE images_expired_at IS NULL AND purged_at IS NULL;
CREATE INDEX jobs_unmeasured ON jobs (id) WHERE disk_bytes IS NULL;

CREATE TABLE disk_usage (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    bytes  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO disk_usage (id, bytes) VALUES (1, 0);

-- The total follows every change of a job's disk_bytes (measured, expired, purged) in the
-- statement that makes it: it cannot drift from their sum, whoever writes them.
CREATE TRIGGER jobs_disk_bytes AFTER UPDATE OF disk_bytes ON jobs
WHEN OLD.disk_bytes IS NOT NEW.disk_bytes
BEGIN
    UPDATE disk_usage
    SET bytes = bytes + coalesce(NEW.disk_bytes, 0) - coalesce(OLD.disk_bytes, 0)
    WHERE id = 1;
END;
