-- Blocked-word refusals fold into one audit row per member per UTC hour, so that a flood
-- of them cannot bury the admins' own actions. `hour` (e.g. '2026-11-21T10') is set on a
-- folded row only (NULL: a row of its own); `hits` counts what the row stands for.

ALTER TABLE audit ADD COLUMN hour TEXT;
ALTER TABLE audit ADD COLUMN hits INTEGER NOT NULL DEFAULT 1;

CREATE UNIQUE INDEX audit_folded ON audit (guild_id, action, target, hour)
WHERE hour IS NOT NULL;
