-- Daily quotas: a server's default and per-user overrides (DAILY_QUOTA applies otherwise).

CREATE TABLE guild_settings (
    guild_id     INTEGER PRIMARY KEY,
    daily_quota  INTEGER CHECK (daily_quota >= 0)
);

CREATE TABLE quota_overrides (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    daily_quota  INTEGER NOT NULL CHECK (daily_quota >= 0),
    PRIMARY KEY (guild_id, user_id)
);

CREATE INDEX jobs_quota ON jobs (user_id, guild_id, created_at);
