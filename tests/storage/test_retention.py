"""Retention's rows on a real SQLite file: the sweep's queries read only their partial
indexes, the disk total follows every job's bytes, and free pages go back to the disk."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from core.model import ImageRow, JobStatus
from storage.db import Storage
from storage.retention import EXPIRE_SQL, EXPIRING_SQL, UNMEASURED_SQL
from tests.storage.helpers import new_job


async def _plan(storage: Storage, sql: str, *args: object) -> list[str]:
    async with storage.db.execute("EXPLAIN QUERY PLAN " + sql, args) as cursor:
        return [row[3] for row in await cursor.fetchall()]


async def test_the_sweep_reads_its_partial_indexes_never_the_whole_table(tmp_path):
    day = "2030-01-01"
    async with Storage(tmp_path) as storage:
        expire = await _plan(storage, EXPIRE_SQL, day, day, day, "[3, 4]", 200, 9)
        expiring = await _plan(storage, EXPIRING_SQL, day, 200)
        unmeasured = await _plan(storage, UNMEASURED_SQL, day, 200)
    # Expired and purged jobs are not in jobs_unexpired, measured ones not in
    # jobs_unmeasured, removed ones not in jobs_expiring: a pass never reads them again.
    assert "SEARCH jobs USING INDEX jobs_unexpired (created_at<?)" in expire
    assert any("child USING INDEX jobs_parent (parent_id=?)" in step for step in expire)
    assert expiring == ["SCAN jobs USING INDEX jobs_expiring"]
    assert unmeasured == ["SCAN jobs USING INDEX jobs_unmeasured"]
    steps = expire + expiring + unmeasured
    assert not [step for step in steps if step in ("SCAN jobs", "SCAN child")]


async def test_the_disk_total_follows_measured_expired_and_purged_jobs(tmp_path):
    now = datetime(2026, 1, 10, tzinfo=UTC)
    async with Storage(tmp_path, clock=lambda: now) as storage:
        jobs = await storage.create_jobs([new_job() for _ in range(4)])
        ids = [job.id for job in jobs]
        for job_id in ids[:3]:
            await storage.finish_job(job_id, JobStatus.DONE)
            await storage.mark_delivered(job_id, 2, 1000 + job_id)
        assert await storage.unmeasured_jobs(now, 10) == ids[:3]  # the queued one waits
        await storage.record_disk_bytes({ids[0]: 100, ids[1]: 20, ids[2]: 3})
        await storage.record_disk_bytes({ids[0]: 999})  # measured once: kept as it was
        assert await storage.disk_used() == 123 and await storage.unmeasured_jobs(now, 10) == []
        await storage.add_images([ImageRow(ids[1], 1, 64, 64, 7)])
        await storage.purge_job(ids[0])
        assert await storage.disk_used() == 23
        later, last = now + timedelta(days=1), ids[-1]
        # The purged job is not marked; the one the queue needs is not either.
        assert await storage.mark_expired(later, [ids[2]], last, 1) == [ids[1]]
        assert await storage.disk_used() == 23  # until its folder is gone
        assert await storage.expiring_jobs(now, 10) == [ids[1]]
        await storage.record_removed([ids[1]])
        assert await storage.disk_used() == 3 and await storage.expiring_jobs(now, 10) == []
        assert await storage.mark_expired(later, [ids[2]], last, 10) == []
        purged, expired = (
            await storage.get_job(ids[0], scope=1),
            await storage.get_job(ids[1], scope=1),
        )
        assert purged is not None and purged.images_expired_at is None
        assert expired is not None and expired.images_expired_at is not None
        assert expired.prompt == "a fox" and expired.recipe == jobs[1].recipe
        assert await storage.images(ids[1]) == [ImageRow(ids[1], 1, 64, 64, 7)]  # rows kept


async def test_new_databases_give_free_pages_back_a_bounded_number_at_a_time(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage._pragma("auto_vacuum") == 2  # incremental
        await storage.db.execute("CREATE TABLE filler (x BLOB)")
        await storage.db.executemany(
            "INSERT INTO filler VALUES (?)", [(b"x" * 3000,) for _ in range(400)]
        )
        await storage.db.commit()
        await storage.db.execute("DROP TABLE filler")
        await storage.db.commit()
        free = await storage._pragma("freelist_count")
        assert free >= 300
        assert await storage.release_free_pages(100) == free - 100
        assert await storage.release_free_pages(10_000) == 0


async def test_an_older_small_database_turns_to_incremental_vacuum_at_open(tmp_path):
    path = tmp_path / "imaginebot.sqlite3"
    with sqlite3.connect(path) as connection:  # as a bot from before retention made it
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE old (x)")
        assert connection.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    connection.close()
    async with Storage(tmp_path) as storage:
        assert await storage._pragma("auto_vacuum") == 2
        assert await storage.disk_used() == 0
