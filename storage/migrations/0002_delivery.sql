-- Whether a finished job's result reached Discord: what a stop cut off is posted at the next start.

ALTER TABLE jobs ADD COLUMN delivered_at TEXT;

-- Results that existed before this column are taken as delivered.
UPDATE jobs SET delivered_at = finished_at WHERE status IN ('done', 'failed', 'cancelled');

CREATE INDEX jobs_undelivered ON jobs (status) WHERE delivered_at IS NULL;
