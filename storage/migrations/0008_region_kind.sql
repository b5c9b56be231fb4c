-- foreign-keys: off
-- Vary (Region) jobs: one more kind, so the jobs table is rebuilt as in 0007 (foreign keys
-- off around it, one transaction, foreign_key_check before the commit, ids never reused).

CREATE TEMP TABLE jobs_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'jobs';

CREATE TABLE jobs_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL
                  CHECK (kind IN (
                      'imagine', 'variation', 'upscale', 'reroll', 'zoom', 'pan', 'region'
                  )),
    parent_id     INTEGER REFERENCES jobs(id),
    parent_index  INTEGER CHECK (parent_index BETWEEN 1 AND 4),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    guild_id      INTEGER,
    channel_id    INTEGER,
    message_id    INTEGER,
    prompt        TEXT NOT NULL,
    negative      TEXT NOT NULL DEFAULT '',
    params        TEXT NOT NULL DEFAULT '{}',  -- JSON: width, height, steps, guidance, strength, ...
    seed          INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    delivered_at  TEXT,
    purged_at     TEXT
);

INSERT INTO jobs_new (
    id, kind, parent_id, parent_index, user_id, guild_id, channel_id, message_id, prompt,
    negative, params, seed, status, error, attempts, created_at, started_at, finished_at,
    delivered_at, purged_at
)
SELECT
    id, kind, parent_id, parent_index, user_id, guild_id, channel_id, message_id, prompt,
    negative, params, seed, status, error, attempts, created_at, started_at, finished_at,
    delivered_at, purged_at
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

-- Ids are never reused, also those of jobs no longer in the table.
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM jobs_sequence), 0))
WHERE name = 'jobs';
DROP TABLE jobs_sequence;

CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_parent ON jobs (parent_id);
CREATE INDEX jobs_undelivered ON jobs (status) WHERE delivered_at IS NULL;
CREATE INDEX jobs_quota ON jobs (user_id, guild_id, created_at);
