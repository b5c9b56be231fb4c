-- Moderation: bans and blocked words per server, and the audit log of admin actions.

CREATE TABLE bans (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    banned_by   INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE blocked_words (
    guild_id    INTEGER NOT NULL,
    phrase      TEXT NOT NULL,
    added_by    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, phrase)
);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER,
    actor_id    INTEGER,                -- NULL for the bot's own automatic refusals
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE INDEX audit_guild ON audit (guild_id, id);
