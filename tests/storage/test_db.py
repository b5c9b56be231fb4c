"""Storage on a real SQLite file in a temp dir."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from storage.db import ImageRow, Migration, NewJob, Storage, bundled_migrations


def new_job(**overrides) -> NewJob:
    fields = {
        "kind": "imagine",
        "user_id": 42,
        "prompt": "a fox",
        "negative": "people",
        "seed": 7,
        "params": {"width": 192, "height": 128, "steps": 4},
        "guild_id": 1,
        "channel_id": 2,
    }
    fields.update(overrides)
    return NewJob(**fields)


async def test_migrations_apply_from_empty_and_rerun_is_a_no_op(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage.schema_version() == len(bundled_migrations())
        assert await storage.migrate() == []
    async with Storage(tmp_path) as storage:  # reopening re-runs nothing
        assert await storage.migrate() == []
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "jobs", "images"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failing_migration_changes_nothing(tmp_path):
    async with Storage(tmp_path) as storage:
        version = await storage.schema_version()
        broken = Migration(version + 1, "broken", "CREATE TABLE extra (x);\nTHIS IS NOT SQL;")
        with pytest.raises(sqlite3.OperationalError):
            await storage.migrate([broken])
        assert await storage.schema_version() == version
        async with storage.db.execute("SELECT name FROM sqlite_master WHERE name='extra'") as c:
            assert await c.fetchone() is None


async def test_job_lifecycle_rows(tmp_path):
    moments = iter(datetime(2026, 11, 21, 10, 0, second, tzinfo=UTC) for second in range(10))
    async with Storage(tmp_path, clock=lambda: next(moments)) as storage:
        job = await storage.create_job(new_job())
        assert (job.status, job.kind, job.user_id, job.seed) == ("queued", "imagine", 42, 7)
        assert job.params == {"width": 192, "height": 128, "steps": 4}
        assert job.created_at.startswith("2026-11-21T10:00:01")
        await storage.mark_running(job.id)
        running = await storage.get_job(job.id)
        assert (running.status, running.attempts) == ("running", 1)
        assert running.started_at is not None
        await storage.set_message(job.id, 2, 999)
        await storage.finish_job(job.id, "done")
        done = await storage.get_job(job.id)
        assert (done.status, done.message_id, done.error) == ("done", 999, None)
        assert done.finished_at > done.started_at > done.created_at
        child = await storage.create_job(
            new_job(kind="upscale", parent_id=job.id, parent_index=2, user_id=43)
        )
        assert (child.parent_id, child.parent_index, child.user_id) == (job.id, 2, 43)
        await storage.finish_job(child.id, "failed", "boom")
        assert (await storage.get_job(child.id)).error == "boom"
        assert [j.id for j in await storage.jobs_with_status("done", "failed")] == [
            job.id,
            child.id,
        ]
        assert await storage.get_job(12345) is None
        with pytest.raises(ValueError, match="final status"):
            await storage.finish_job(job.id, "running")


async def test_constraints_reject_bad_rows(tmp_path):
    async with Storage(tmp_path) as storage:
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_job(new_job(kind="painting"))
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_job(new_job(parent_id=777))  # no such parent


async def test_image_rows_and_paths_come_from_ids(tmp_path):
    async with Storage(tmp_path) as storage:
        job = await storage.create_job(new_job(prompt="../../etc/passwd"))
        path = storage.image_path(job.id, 3)
        assert path == tmp_path / "images" / str(job.id) / "3.png"
        storage.write_file(path, b"png")
        rows = [
            ImageRow(job.id, i, f"images/{job.id}/{i}.png", 192, 128, 7 + i - 1) for i in (1, 2)
        ]
        await storage.add_images(rows)
        await storage.add_images(rows[:1])  # a retried job replaces its rows
        assert await storage.images(job.id) == rows
        assert storage.absolute(rows[0].path).parent == path.parent
        assert path.read_bytes() == b"png"
        assert not list(path.parent.glob("*.tmp"))


async def test_undelivered_results_are_found_until_marked_delivered(tmp_path):
    async with Storage(tmp_path) as storage:
        done = await storage.create_job(new_job())
        no_channel = await storage.create_job(new_job(channel_id=None))
        queued = await storage.create_job(new_job())
        for job in (done, no_channel):
            await storage.finish_job(job.id, "done")
        assert [j.id for j in await storage.undelivered_jobs()] == [done.id]
        await storage.mark_delivered(done.id, 2, 555)
        row = await storage.get_job(done.id)
        assert (row.message_id, row.delivered_at is not None) == (555, True)
        assert await storage.undelivered_jobs() == []
        assert (await storage.get_job(queued.id)).delivered_at is None


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
