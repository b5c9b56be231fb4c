"""The bundled migrations (storage/migrations/): an older database is brought up to date
with every row kept; on a real SQLite file in a temp dir."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.model import EVERYWHERE, ImageRow, JobKind, JobStatus
from core.recipes import (
    ImagePrompt,
    ImageRef,
    Imagine,
    Pan,
    Region,
    Reroll,
    Upscale,
    Variation,
    ZoomOut,
)
from storage.connection import bundled_migrations
from storage.db import Storage
from tests.storage.helpers import new_job

# The columns every rebuild of the jobs table keeps as they were (0010 moved what a job is
# made from out of params into its recipe).
KEPT = (
    "id, kind, parent_id, parent_index, user_id, guild_id, channel_id, message_id, prompt,"
    " negative, seed, status, error, attempts, created_at, started_at, finished_at,"
    " delivered_at, purged_at"
)


async def test_the_delivery_migration_counts_older_results_as_delivered(tmp_path):
    first = bundled_migrations()[0]
    # A database made before the delivery column existed, with a finished job in it.
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        db.executescript(first.sql)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (kind, user_id, channel_id, prompt, seed, status, created_at,"
            " finished_at) VALUES ('imagine', 1, 2, 'old', 1, 'done', 'a', 'b')"
        )
    async with Storage(tmp_path) as storage:  # applies the migrations after the first
        assert await storage.schema_version() == len(bundled_migrations())
        assert await storage.undelivered_jobs() == []
        async with storage.db.execute("SELECT delivered_at FROM jobs") as cursor:
            assert await cursor.fetchall() == [("b",)]


async def test_the_paint_kinds_migration_rebuilds_jobs_and_keeps_every_row(tmp_path):
    """0007 rebuilds the jobs table (a CHECK grows): every row and image stays, ids are
    never reused, foreign keys hold again after it."""
    before = [m for m in bundled_migrations() if m.version < 7]
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        db.execute("PRAGMA foreign_keys=ON")
        for migration in before:
            db.executescript(migration.sql)
        db.execute(f"PRAGMA user_version = {before[-1].version}")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        for number in range(1, 6):
            db.execute(
                "INSERT INTO jobs (kind, parent_id, user_id, guild_id, prompt, seed, status,"
                " created_at, delivered_at) VALUES (?, ?, 1, 9, ?, ?, 'done', 'a', 'b')",
                (
                    "imagine" if number == 1 else "variation",
                    None if number == 1 else 1,
                    f"job {number}",
                    number,
                ),
            )
            db.execute(
                "INSERT INTO images (job_id, idx, path, width, height, seed, nsfw)"
                " VALUES (?, 1, ?, 64, 64, ?, 0)",
                (number, f"images/{number}/1.png", number),
            )
        db.execute("DELETE FROM images WHERE job_id = 5")
        db.execute("DELETE FROM jobs WHERE id = 5")  # the newest id must not come back
        jobs_before = db.execute(f"SELECT {KEPT} FROM jobs ORDER BY id").fetchall()
        images_before = db.execute(
            "SELECT job_id, idx, width, height, seed, nsfw FROM images ORDER BY job_id"
        ).fetchall()
    async with Storage(tmp_path) as storage:
        assert await storage.schema_version() == len(bundled_migrations())
        kept = await storage.db.execute_fetchall(f"SELECT {KEPT} FROM jobs ORDER BY id")
        assert list(kept) == [tuple(row) for row in jobs_before]
        images = await storage.db.execute_fetchall(
            "SELECT job_id, idx, width, height, seed, nsfw FROM images ORDER BY job_id"
        )
        assert [tuple(row) for row in images] == images_before and len(images) == 4
        zoom = await storage.create_job(new_job(recipe=ZoomOut(ImageRef(1, 1))))
        assert zoom.kind is JobKind.ZOOM and zoom.id == 6
        region = await storage.create_job(new_job(recipe=Region(ImageRef(1, 1), (5,))))
        assert region.kind is JobKind.REGION and region.id == 7
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on again
            await storage.db.execute(
                "INSERT INTO images (job_id, idx, width, height, seed) VALUES (99, 1, 1, 1, 1)"
            )
        indexes = await storage.db.execute_fetchall(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs'"
            " AND name NOT LIKE 'sqlite_%'"
        )
        assert sorted(row[0] for row in indexes) == [
            "jobs_active_guild",  # 0016: /admin queue and /info, as small as the queue
            "jobs_active_mode",  # 0014: fast time's relax count, /admin stats
            "jobs_created",
            "jobs_expiring",  # 0017: the marked jobs whose folders are not gone yet
            "jobs_guild_created",
            "jobs_history",  # 0016: /history's pages by number
            "jobs_parent",
            "jobs_quota",
            "jobs_status",
            "jobs_undelivered",
            "jobs_unexpired",  # 0015: the retention sweep's oldest first
            "jobs_unmeasured",
            "jobs_user_created",
        ]
        # 0016 numbered the rows there were (member 1 in server 9), and the new ones (member
        # 42 in server 1) are numbered as they come: /history's pages.
        numbers = await storage.db.execute_fetchall("SELECT id, seq FROM jobs ORDER BY id")
        assert [tuple(row) for row in numbers] == [(1, 1), (2, 2), (3, 3), (4, 4), (6, 1), (7, 2)]
        counts = await storage.db.execute_fetchall("SELECT * FROM history_counts ORDER BY 1")
        assert [tuple(row) for row in counts] == [(1, 9, 4), (42, 1, 2)]


# Rows as versions before 0010 wrote them (every field in params), and the recipe each
# one is read as after the migration.
_P = {"width": 192, "height": 128, "steps": 4, "guidance": 7.0, "num_images": 4, "model": "m"}
_OLD_ROWS = [
    ("imagine", {**_P, "aspect": "3:2", "base_width": 192, "base_height": 128, "strength": 1.0}),
    ("imagine", {**_P, "image_weight": 1.5, "strength": 0.4, "tile": True}),
    ("variation", {**_P, "source_job": 1, "source_index": 2, "mode": "strong", "strength": 0.7}),
    (
        "upscale",
        {
            **_P,
            "width": 384,
            "height": 256,
            "num_images": 1,
            "base_width": 192,
            "base_height": 128,
            "source_job": 1,
            "source_index": 2,
            "mode": "creative",
            "strength": 0.4,
        },
    ),
    ("zoom", {**_P, "source_job": 4, "source_index": 1, "factor": 1.5}),
    (
        "pan",
        {
            **_P,
            "width": 288,
            "base_width": 288,
            "source_job": 4,
            "source_index": 1,
            "direction": "left",
        },
    ),
    ("pan", {**_P, "height": 192, "source_job": 4, "source_index": 1, "direction": "down"}),
    ("region", {**_P, "source_job": 4, "source_index": 1, "cells": [1, 5]}),
    ("reroll", {**_P, "width": 288, "source_job": 4, "source_index": 1, "direction": "left"}),
    ("reroll", {**_P, "image_weight": 1.5, "image_from": 2, "strength": 0.4}),
    ("reroll", {**_P, "source_job": 1, "source_index": 2, "mode": "subtle", "strength": 0.35}),
    ("reroll", {**_P, "aspect": "3:2"}),
]
_NEW_RECIPES = [
    Imagine(),
    Imagine(ImagePrompt(1.5)),
    Variation(ImageRef(1, 2), "strong"),
    Upscale(ImageRef(1, 2), (192, 128), "creative"),
    ZoomOut(ImageRef(4, 1), 1.5),
    Pan(ImageRef(4, 1), "left", (192, 128)),
    Pan(ImageRef(4, 1), "down", (192, 128)),
    Region(ImageRef(4, 1), (1, 5)),
    Reroll(Pan(ImageRef(4, 1), "left", (192, 128))),
    Reroll(Imagine(ImagePrompt(1.5, 2))),
    Reroll(Variation(ImageRef(1, 2), "subtle")),
    Reroll(Imagine()),
]


async def test_the_recipes_migration_reads_every_old_row_as_a_typed_recipe(tmp_path):
    """0010: what older versions kept as optional fields in params becomes each row's
    typed recipe (a reroll's: the recipe it makes again, read from the fields it kept);
    params keeps how the images are drawn, nothing else."""
    before = [m for m in bundled_migrations() if m.version < 10]
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        for migration in before:
            db.executescript(migration.sql)
        db.execute(f"PRAGMA user_version = {before[-1].version}")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        for kind, params in _OLD_ROWS:
            db.execute(
                "INSERT INTO jobs (kind, user_id, guild_id, prompt, params, seed, status,"
                " created_at) VALUES (?, 1, 9, 'a fox', ?, 7, 'done', 'a')",
                (kind, json.dumps(params)),
            )
    async with Storage(tmp_path) as storage:
        jobs = await storage.jobs_with_status(JobStatus.DONE, scope=EVERYWHERE)
        assert [job.recipe for job in jobs] == _NEW_RECIPES
        assert [job.kind for job in jobs] == [kind for kind, _ in _OLD_ROWS]
        assert jobs[1].params.tile and jobs[0].params.aspect == "3:2"
        assert jobs[3].params.size == (384, 256) and jobs[3].params.num_images == 1
        for (params,) in await storage.db.execute_fetchall("SELECT params FROM jobs"):
            assert set(json.loads(params)) <= {*_P, "aspect", "tile"}, params
        # The kind column is the recipe's tag: a row where they differ is refused.
        with pytest.raises(sqlite3.IntegrityError):
            await storage.db.execute(
                "INSERT INTO jobs (kind, user_id, prompt, recipe, seed, created_at)"
                " VALUES ('zoom', 1, 'p', '{\"kind\": \"imagine\"}', 1, 'a')"
            )


async def test_a_queued_row_this_version_cannot_read_fails_alone(tmp_path):
    """A recipe edited by hand into one no version writes: listing the queue (as a restart
    does) marks that row failed and returns the others."""
    async with Storage(tmp_path) as storage:
        bad = await storage.create_job(new_job(recipe=ZoomOut(ImageRef(1, 1))))
        good = await storage.create_job(new_job())
        await storage.db.execute(
            "UPDATE jobs SET recipe = json_set(recipe, '$.factor', 9) WHERE id = ?", (bad.id,)
        )
        await storage.db.commit()
        queued = await storage.jobs_with_status(JobStatus.QUEUED, scope=EVERYWHERE)
        assert [job.id for job in queued] == [good.id]
        failed = await storage.db.execute_fetchall(
            "SELECT status, error FROM jobs WHERE id = ?", (bad.id,)
        )
        assert list(failed) == [("failed", "the job's recipe is not valid")]


async def test_image_rows_keep_no_path_of_their_own(tmp_path):
    """0011: an image's file is named by the storage module from its job and index; the
    stored path of older rows (the same name) is dropped with every other value kept."""
    before = [m for m in bundled_migrations() if m.version < 11]
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        for migration in before:
            db.executescript(migration.sql)
        db.execute(f"PRAGMA user_version = {before[-1].version}")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (kind, user_id, prompt, recipe, seed, status, created_at)"
            " VALUES ('imagine', 1, 'a fox', '{\"kind\": \"imagine\"}', 7, 'done', 'a')"
        )
        db.execute(
            "INSERT INTO images (job_id, idx, path, width, height, seed, nsfw)"
            " VALUES (1, 2, 'images/1/2.png', 64, 48, 8, 1)"
        )
    async with Storage(tmp_path) as storage:
        [row] = await storage.images(1)
        assert row == ImageRow(1, 2, 64, 48, 8, nsfw=True)
        assert storage.image_file(row) == tmp_path / "images" / "1" / "2.png"
