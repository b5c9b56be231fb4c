-- Purged jobs: their image files and rows are gone; the job row stays for the record.

ALTER TABLE jobs ADD COLUMN purged_at TEXT;
