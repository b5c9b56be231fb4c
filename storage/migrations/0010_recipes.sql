-- foreign-keys: off
-- A job's recipe is one typed value per kind (core/recipes.py), stored as JSON with a
-- `kind` tag in a column of its own; `params` keeps how the images are drawn (size,
-- steps, guidance, model, ...). Older rows kept both in `params`, as optional fields
-- (factor, direction, cells, mode, source_job, ...): they are rewritten here. The kind
-- column is the recipe's tag (a CHECK holds them equal) with no list of kinds, so a new
-- kind needs no rebuild. The table is rebuilt as in 0007 (foreign keys off around it,
-- one transaction, foreign_key_check before the commit, ids never reused).

CREATE TEMP TABLE jobs_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'jobs';

-- What each old row's fields say, and which recipe they make (a reroll: which recipe it
-- makes again).
CREATE TEMP TABLE legacy AS
SELECT
    id,
    kind,
    json_extract(params, '$.width') AS width,
    json_extract(params, '$.height') AS height,
    json_extract(params, '$.base_width') AS base_width,
    json_extract(params, '$.base_height') AS base_height,
    json_extract(params, '$.source_job') AS source_job,
    json_extract(params, '$.source_index') AS source_index,
    json_extract(params, '$.mode') AS mode,
    json_extract(params, '$.factor') AS factor,
    json_extract(params, '$.direction') AS direction,
    json_extract(params, '$.cells') AS cells,
    json_extract(params, '$.image_weight') AS image_weight,
    json_extract(params, '$.image_from') AS image_from,
    CASE
        WHEN kind != 'reroll' THEN kind
        WHEN json_extract(params, '$.factor') IS NOT NULL THEN 'zoom'
        WHEN json_extract(params, '$.direction') IS NOT NULL THEN 'pan'
        WHEN json_extract(params, '$.cells') IS NOT NULL THEN 'region'
        WHEN json_extract(params, '$.source_job') IS NOT NULL THEN 'variation'
        ELSE 'imagine'
    END AS made
FROM jobs;

CREATE TEMP TABLE recipes AS
SELECT
    id,
    kind,
    CASE made
        WHEN 'imagine' THEN
            CASE WHEN image_weight IS NULL THEN json_object('kind', 'imagine', 'image', NULL)
            ELSE json_object(
                'kind', 'imagine',
                'image', json_object('weight', image_weight, 'job', image_from)
            ) END
        WHEN 'variation' THEN json_object(
            'kind', 'variation',
            'source', json_object('job', source_job, 'index', source_index),
            'mode', coalesce(mode, 'strong')
        )
        WHEN 'upscale' THEN json_object(
            'kind', 'upscale',
            'source', json_object('job', source_job, 'index', source_index),
            'mode', coalesce(mode, 'standard'),
            'base', json_array(coalesce(base_width, width), coalesce(base_height, height))
        )
        WHEN 'zoom' THEN json_object(
            'kind', 'zoom',
            'source', json_object('job', source_job, 'index', source_index),
            'factor', coalesce(factor, 2.0)
        )
        -- The canvas grew by half a side (engine.canvas.pan_size): the source kept its
        -- size, the canvas's over 1.5 in multiples of 8.
        WHEN 'pan' THEN json_object(
            'kind', 'pan',
            'source', json_object('job', source_job, 'index', source_index),
            'direction', direction,
            'base', CASE WHEN direction IN ('left', 'right') THEN json_array(
                max(8, CAST(round(width / 1.5 / 8) AS INTEGER) * 8), height
            ) ELSE json_array(
                width, max(8, CAST(round(height / 1.5 / 8) AS INTEGER) * 8)
            ) END
        )
        WHEN 'region' THEN json_object(
            'kind', 'region',
            'source', json_object('job', source_job, 'index', source_index),
            'cells', json(cells)
        )
    END AS made
FROM legacy;

CREATE TABLE jobs_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    parent_id     INTEGER REFERENCES jobs(id),
    parent_index  INTEGER CHECK (parent_index BETWEEN 1 AND 4),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    guild_id      INTEGER,
    channel_id    INTEGER,
    message_id    INTEGER,
    prompt        TEXT NOT NULL,
    negative      TEXT NOT NULL DEFAULT '',
    params        TEXT NOT NULL DEFAULT '{}',  -- JSON: width, height, steps, guidance, ...
    recipe        TEXT NOT NULL
                  CHECK (json_valid(recipe) AND json_extract(recipe, '$.kind') = kind),
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
    negative, params, recipe, seed, status, error, attempts, created_at, started_at,
    finished_at, delivered_at, purged_at
)
SELECT
    jobs.id, jobs.kind, parent_id, parent_index, user_id, guild_id, channel_id, message_id,
    prompt, negative,
    json_remove(
        params, '$.base_width', '$.base_height', '$.source_job', '$.source_index', '$.mode',
        '$.factor', '$.direction', '$.cells', '$.image_weight', '$.image_from', '$.strength'
    ),
    CASE WHEN jobs.kind = 'reroll'
        THEN json_object('kind', 'reroll', 'again', json(recipes.made))
        ELSE recipes.made
    END,
    seed, status, error, attempts, created_at, started_at, finished_at, delivered_at,
    purged_at
FROM jobs JOIN recipes ON recipes.id = jobs.id;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
DROP TABLE legacy;
DROP TABLE recipes;

-- Ids are never reused, also those of jobs no longer in the table.
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM jobs_sequence), 0))
WHERE name = 'jobs';
DROP TABLE jobs_sequence;

CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_parent ON jobs (parent_id);
CREATE INDEX jobs_undelivered ON jobs (status) WHERE delivered_at IS NULL;
CREATE INDEX jobs_quota ON jobs (user_id, guild_id, created_at);
