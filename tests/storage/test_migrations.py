"""The bundled migrations (storage/migrations/): an older database is brought up to date
with every row kept; on a real SQLite file in a temp dir."""

from __future__ import annotations

import sqlite3

import pytest

from core.model import JobKind
from storage.connection import bundled_migrations
from storage.db import Storage
from tests.storage.helpers import new_job


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
        jobs_before = db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        images_before = db.execute("SELECT * FROM images ORDER BY job_id").fetchall()
    async with Storage(tmp_path) as storage:
        assert await storage.schema_version() == len(bundled_migrations())
        assert list(await storage.db.execute_fetchall("SELECT * FROM jobs ORDER BY id")) == [
            tuple(row) for row in jobs_before
        ]
        images = await storage.db.execute_fetchall("SELECT * FROM images ORDER BY job_id")
        assert [tuple(row) for row in images] == images_before and len(images) == 4
        zoom = await storage.create_job(new_job(kind=JobKind.ZOOM))
        assert zoom.kind is JobKind.ZOOM and zoom.id == 6
        region = await storage.create_job(new_job(kind=JobKind.REGION))  # 0008's kind
        assert region.kind is JobKind.REGION and region.id == 7
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on again
            await storage.db.execute(
                "INSERT INTO images (job_id, idx, path, width, height, seed)"
                " VALUES (99, 1, 'p', 1, 1, 1)"
            )
        indexes = await storage.db.execute_fetchall(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs'"
            " AND name NOT LIKE 'sqlite_%'"
        )
        assert sorted(row[0] for row in indexes) == [
            "jobs_parent",
            "jobs_quota",
            "jobs_status",
            "jobs_undelivered",
            "jobs_user_created",
        ]
