-- Fast time and relax (issue 28): the mode a job runs in (a relax job costs no fast time
-- and waits behind every fast one), whether admission moved it to relax because the
-- member's fast time was used up, the GPU seconds admission estimated for it (counted
-- against fast time until its measured gpu_seconds replace them), and the fast minutes a
-- server's members (its default) or one member (an override) get a day.

ALTER TABLE jobs ADD COLUMN mode TEXT NOT NULL DEFAULT 'fast' CHECK (mode IN ('fast', 'relax'));
ALTER TABLE jobs ADD COLUMN moved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN gpu_estimate REAL;
ALTER TABLE guild_settings ADD COLUMN fast_minutes REAL CHECK (fast_minutes >= 0);
-- /admin stats reads a server's jobs by time (an owner's, every server's): indexes that
-- match it. Admission counts a member's relax jobs queued or running: a partial index.
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX jobs_active_mode ON jobs (user_id, mode) WHERE status IN ('queued', 'running');

CREATE TABLE fast_overrides (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    fast_minutes  REAL NOT NULL CHECK (fast_minutes >= 0),
    PRIMARY KEY (guild_id, user_id)
);
