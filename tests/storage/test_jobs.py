"""The jobs table (storage/jobs.py): a job's row from admission to delivery, each server
an island; on a real SQLite file in a temp dir."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from core.model import EVERYWHERE, JobKind, JobParams, JobStatus
from core.recipes import ImageRef, Upscale
from storage.db import Storage
from tests.storage.helpers import new_job


def ids(jobs) -> list[int]:
    return [job.id for job in jobs]


async def test_job_lifecycle_rows(tmp_path):
    moments = iter(datetime(2026, 11, 21, 10, 0, second, tzinfo=UTC) for second in range(10))
    async with Storage(tmp_path, clock=lambda: next(moments)) as storage:
        job = await storage.create_job(new_job())
        assert (job.status, job.kind, job.user_id, job.seed) == ("queued", "imagine", 42, 7)
        assert job.params == JobParams(width=192, height=128, steps=4, guidance=7.0)
        assert type(job.kind) is JobKind and type(job.status) is JobStatus  # not bare str
        assert job.created_at.startswith("2026-11-21T10:00:00")
        await storage.mark_running(job.id)
        running = await storage.get_job(job.id, scope=1)
        assert (running.status, running.attempts) == ("running", 1)
        assert running.started_at is not None
        await storage.set_message(job.id, 2, 999)
        await storage.finish_job(job.id, "done")
        done = await storage.get_job(job.id, scope=1)
        assert (done.status, done.message_id, done.error) == ("done", 999, None)
        assert done.finished_at > done.started_at > done.created_at
        child = await storage.create_job(
            new_job(
                recipe=Upscale(ImageRef(job.id, 2), (192, 128)),
                parent_id=job.id,
                parent_index=2,
                user_id=43,
            )
        )
        assert (child.parent_id, child.parent_index, child.user_id) == (job.id, 2, 43)
        await storage.finish_job(child.id, "failed", "boom")
        assert (await storage.get_job(child.id, scope=1)).error == "boom"
        assert ids(await storage.jobs_with_status("done", "failed", scope=1)) == [
            job.id,
            child.id,
        ]
        assert await storage.get_job(12345, scope=EVERYWHERE) is None
        with pytest.raises(ValueError, match="final status"):
            await storage.finish_job(job.id, "running")


async def test_a_running_job_goes_back_to_the_queue_with_or_without_its_attempt(tmp_path):
    async with Storage(tmp_path) as storage:
        crashed, stopped, done = [await storage.create_job(new_job()) for _ in range(3)]
        for job in (crashed, stopped, done):
            await storage.mark_running(job.id)
        await storage.finish_job(done.id, "done")
        await storage.mark_queued(crashed.id)  # the bot died: the attempt counts
        await storage.mark_queued(stopped.id, refund_attempt=True)  # a clean shutdown
        await storage.mark_queued(done.id)  # only a running job goes back
        rows = [await storage.get_job(job.id, scope=1) for job in (crashed, stopped, done)]
        assert [(r.status, r.attempts) for r in rows] == [
            ("queued", 1),
            ("queued", 0),
            ("done", 1),
        ]
        assert rows[0].started_at is None and rows[2].started_at is not None
        assert await storage.count_jobs() == 3


async def test_constraints_reject_bad_rows(tmp_path):
    async with Storage(tmp_path) as storage:
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_job(new_job(parent_id=777))  # no such parent


async def test_undelivered_results_are_found_until_marked_delivered(tmp_path):
    async with Storage(tmp_path) as storage:
        done = await storage.create_job(new_job())
        no_channel = await storage.create_job(new_job(channel_id=None))
        queued = await storage.create_job(new_job())
        for job in (done, no_channel):
            await storage.finish_job(job.id, "done")
        assert ids(await storage.undelivered_jobs()) == [done.id]
        await storage.mark_delivered(done.id, 2, 555)
        row = await storage.get_job(done.id, scope=1)
        assert (row.message_id, row.delivered_at is not None) == (555, True)
        assert await storage.undelivered_jobs() == []
        assert (await storage.get_job(queued.id, scope=1)).delivered_at is None


async def test_jobs_created_together_keep_their_order_or_none_is_written(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage.create_jobs([]) == []
        news = [new_job(user_id=user, prompt=f"job {n}") for n, user in enumerate((5, 6, 5, 7))]
        jobs = await storage.create_jobs(news)
        assert [(job.prompt, job.user_id) for job in jobs] == [(n.prompt, n.user_id) for n in news]
        assert ids(jobs) == sorted(ids(jobs))
        assert [await storage.get_job(job.id, scope=EVERYWHERE) for job in jobs] == jobs

        # A write that fails half-way (the users rows went in, then a job broke a
        # constraint: its parent does not exist) leaves nothing behind, and the connection
        # goes on working.
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_jobs([new_job(user_id=8), new_job(user_id=9, parent_id=777)])
        async with storage.db.execute("SELECT id FROM users ORDER BY id") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [5, 6, 7]
        assert await storage.count_jobs() == 4
        (again,) = await storage.create_jobs([new_job(user_id=8)])  # its user row too
        assert again.user_id == 8 and await storage.count_jobs() == 5
        async with storage.db.execute("SELECT id FROM users ORDER BY id") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [5, 6, 7, 8]


# --- every server an island: queries take a scope ---


async def test_jobs_are_found_only_in_their_own_scope(tmp_path):
    async with Storage(tmp_path) as storage:
        in_one = await storage.create_job(new_job(guild_id=1))
        in_two = await storage.create_job(new_job(guild_id=2, user_id=43))
        no_server = await storage.create_job(new_job(guild_id=None, channel_id=None))
        for job, scope in ((in_one, 1), (in_two, 2), (no_server, None)):
            assert (await storage.get_job(job.id, scope=scope)).id == job.id
            assert (await storage.get_job(job.id, scope=EVERYWHERE)).id == job.id
        assert await storage.get_job(in_one.id, scope=2) is None
        assert await storage.get_job(in_one.id, scope=None) is None
        assert await storage.get_job(in_two.id, scope=1) is None
        assert await storage.get_job(no_server.id, scope=1) is None


async def test_jobs_with_status_by_scope_and_user(tmp_path):
    async with Storage(tmp_path) as storage:
        a1 = await storage.create_job(new_job(guild_id=1))
        a2 = await storage.create_job(new_job(guild_id=1, user_id=43))
        b1 = await storage.create_job(new_job(guild_id=2))
        b2 = await storage.create_job(new_job(guild_id=2))
        await storage.mark_running(b2.id)
        done = await storage.create_job(new_job(guild_id=1))
        await storage.finish_job(done.id, "done")

        active = ("queued", "running")
        assert ids(await storage.jobs_with_status(*active, scope=1)) == [a1.id, a2.id]
        assert ids(await storage.jobs_with_status(*active, scope=2)) == [b1.id, b2.id]
        assert ids(await storage.jobs_with_status(*active, scope=3)) == []
        assert ids(await storage.jobs_with_status(*active, scope=None)) == []
        assert ids(await storage.jobs_with_status(*active, scope=EVERYWHERE)) == [
            a1.id,
            a2.id,
            b1.id,
            b2.id,
        ]
        assert ids(await storage.jobs_with_status(*active, scope=1, user_id=42)) == [a1.id]
        assert ids(await storage.jobs_with_status(*active, scope=EVERYWHERE, user_id=42)) == [
            a1.id,
            b1.id,
            b2.id,
        ]
        assert ids(await storage.jobs_with_status("running", scope=2, user_id=42)) == [b2.id]
        assert ids(await storage.jobs_with_status("done", scope=EVERYWHERE)) == [done.id]
