-- The core loop: users, jobs and their images.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,          -- the Discord user id
    first_seen  TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}'    -- JSON: the user's /settings defaults
);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('imagine', 'variation', 'upscale', 'reroll')),
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
    finished_at   TEXT
);

CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_parent ON jobs (parent_id);

CREATE TABLE images (
    job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL CHECK (idx >= 1),
    path    TEXT NOT NULL,                  -- relative to DATA_DIR
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    seed    INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);
