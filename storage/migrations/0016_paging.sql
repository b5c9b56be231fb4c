-- Pages that cost the same at any depth and any size (issue 29). A member's jobs in a
-- server are numbered 1, 2, ... as they are made (jobs.seq), and the audit rows of a
-- server likewise (audit.seq): page N of /history or /admin audit is a range of numbers,
-- read by an index seek, never an OFFSET; how many there are is a running total
-- (history_counts, audit_counts), never a COUNT over the rows. Rows are never deleted
-- (a purge or an expiry keeps them), so the numbers have no gaps.

ALTER TABLE jobs ADD COLUMN seq INTEGER;
ALTER TABLE audit ADD COLUMN seq INTEGER;

-- A job without a server (guild_id NULL) is counted under server 0 (no Discord id is 0).
CREATE TABLE history_counts (
    user_id    INTEGER NOT NULL,
    guild_key  INTEGER NOT NULL,
    jobs       INTEGER NOT NULL,
    PRIMARY KEY (user_id, guild_key)
) WITHOUT ROWID;

CREATE TABLE audit_counts (
    guild_key  INTEGER PRIMARY KEY,
    rows       INTEGER NOT NULL
);

CREATE TEMP TABLE numbered_jobs AS
SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id, guild_id ORDER BY id) AS n FROM jobs;
UPDATE jobs SET seq = numbered_jobs.n FROM numbered_jobs WHERE numbered_jobs.id = jobs.id;
DROP TABLE numbered_jobs;
INSERT INTO history_counts (user_id, guild_key, jobs)
SELECT user_id, IFNULL(guild_id, 0), COUNT(*) FROM jobs GROUP BY user_id, IFNULL(guild_id, 0);

CREATE TEMP TABLE numbered_audit AS
SELECT id, ROW_NUMBER() OVER (PARTITION BY guild_id ORDER BY id) AS n FROM audit;
UPDATE audit SET seq = numbered_audit.n FROM numbered_audit WHERE numbered_audit.id = audit.id;
DROP TABLE numbered_audit;
INSERT INTO audit_counts (guild_key, rows)
SELECT IFNULL(guild_id, 0), COUNT(*) FROM audit GROUP BY IFNULL(guild_id, 0);

CREATE TRIGGER jobs_numbered AFTER INSERT ON jobs BEGIN
    INSERT INTO history_counts (user_id, guild_key, jobs)
    VALUES (NEW.user_id, IFNULL(NEW.guild_id, 0), 1)
    ON CONFLICT (user_id, guild_key) DO UPDATE SET jobs = jobs + 1;
    UPDATE jobs SET seq = (
        SELECT jobs FROM history_counts
        WHERE user_id = NEW.user_id AND guild_key = IFNULL(NEW.guild_id, 0)
    ) WHERE id = NEW.id;
END;

-- A folded row (log_blocked_prompt's upsert that updates) is no new row: no trigger.
CREATE TRIGGER audit_numbered AFTER INSERT ON audit BEGIN
    INSERT INTO audit_counts (guild_key, rows) VALUES (IFNULL(NEW.guild_id, 0), 1)
    ON CONFLICT (guild_key) DO UPDATE SET rows = rows + 1;
    UPDATE audit SET seq = (
        SELECT rows FROM audit_counts WHERE guild_key = IFNULL(NEW.guild_id, 0)
    ) WHERE id = NEW.id;
END;

CREATE INDEX jobs_history ON jobs (user_id, guild_id, seq);
CREATE INDEX audit_paged ON audit (guild_id, seq);

-- /admin queue and /info: a server's (a member's) queued and running jobs, from an index
-- as small as the queue, whatever the size of the server's history.
CREATE INDEX jobs_active_guild ON jobs (guild_id, user_id) WHERE status IN ('queued', 'running');
