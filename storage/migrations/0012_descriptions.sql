-- /describe and the Describe menu: the four prompts made from an image, so that the
-- answer's buttons (1-4, Imagine all, 🔄) work after a restart. The image itself is a file
-- named by the id (DATA_DIR/describe/<id>.png, storage/descriptions.py).

CREATE TABLE descriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER,
    channel_id  INTEGER,
    user_id     INTEGER NOT NULL,
    prompts     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
