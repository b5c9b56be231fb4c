"""Admission (core/admission.py): limits that hold when jobs arrive together, one
transaction per burst, commits that outlive their callers, a failed commit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest

from core.errors import QueueFull
from core.model import Requester
from tests.core.commits import ALICE, BOB, finished, waiting_to_commit
from tests.gates import held_worker


async def test_queue_limits_refuse_and_queue_nothing(small_service):
    service = small_service
    await service.jobs.imagine(ALICE, "one --steps 2")
    await service.jobs.imagine(ALICE, "two --steps 2")
    with pytest.raises(QueueFull, match="2 jobs queued or running; the most is 2"):
        await service.jobs.imagine(ALICE, "three --steps 2")
    await service.jobs.imagine(BOB, "bob one --steps 2")
    carol = Requester(user_id=303, guild_id=1, channel_id=10)
    with pytest.raises(QueueFull, match="queue is full"):
        await service.jobs.imagine(carol, "carol --steps 2")
    assert await service.storage.count_jobs() == 3


async def test_limits_hold_when_jobs_arrive_at_the_same_instant(small_service):
    results = await asyncio.gather(
        *(small_service.jobs.imagine(ALICE, f"burst {i} --steps 2") for i in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 2
    assert all(isinstance(r, QueueFull) for r in results if isinstance(r, Exception))
    counts = await small_service.storage.admission_counts(
        ALICE.user_id, ALICE.guild_id, datetime(2000, 1, 1, tzinfo=UTC)
    )
    assert counts.active_mine == 2


async def test_a_burst_is_committed_in_one_transaction_with_its_limits(make_services):
    """Jobs that arrive while a commit is held wait and are then checked in their order
    on one read (those before them in the batch count) and written in one transaction."""
    carol = Requester(user_id=303, guild_id=1, channel_id=12)
    service = await make_services(max_queued_per_user=3)
    # SQLite's own trace of the statements run: each insert of job rows, one per commit
    # (the trace repeats a statement's text for each statement its triggers run: the
    # numbering of /history's pages, storage's 0016; two inserts would differ in rows).
    inserts: list[str] = []

    def traced(statement: str) -> None:
        if statement.startswith("INSERT INTO jobs"):
            inserts.append(statement)

    await service.storage.db.set_trace_callback(traced)
    async with held_worker(service.engine):
        async with service.admission.lock:  # as a ban in progress holds it
            burst = [ALICE, BOB, carol] * 4
            tasks = [
                asyncio.create_task(service.jobs.imagine(who, f"burst {i} --steps 2"))
                for i, who in enumerate(burst)
            ]
            await waiting_to_commit(service, len(burst))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(set(inserts)) == 1 and inserts[0].count("), (") == 8  # nine rows, one insert
        # The first three of each user pass, the fourth is refused.
        assert [isinstance(r, QueueFull) for r in results] == [False] * 9 + [True] * 3
        jobs = [r for r in results if not isinstance(r, BaseException)]
        assert [job.prompt for job in jobs] == [f"burst {i}" for i in range(9)]
        assert [job.id for job in jobs] == sorted(job.id for job in jobs)
        # All handed to the engine, in the fair order (the burst already alternates users).
        places = service.runner.positions()
        assert [places[job.id] for job in jobs] == sorted(places[job.id] for job in jobs)
    for job in jobs:
        await finished(service, job.id)


async def test_a_job_committed_after_its_caller_left_still_runs(service):
    async with service.admission.lock:
        caller = asyncio.create_task(service.jobs.imagine(ALICE, "left early --steps 2"))
        await waiting_to_commit(service, 1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
    await service.admission.settled()
    (job,) = await service.storage.jobs_with_status("queued", "running", "done", scope=1)
    await finished(service, job.id)


async def test_a_failed_commit_refuses_its_batch_and_the_next_one_commits(service):
    # A real failure of the database: a trigger refuses every job row until dropped.
    await service.storage.db.execute(
        "CREATE TEMP TRIGGER broken BEFORE INSERT ON jobs"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    async with service.admission.lock:
        tasks = [
            asyncio.create_task(service.jobs.imagine(who, "first --steps 2"))
            for who in (ALICE, BOB)
        ]
        await waiting_to_commit(service, 2)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert all("disk I/O error" in str(r) for r in results)
    assert await service.storage.count_jobs() == 0
    await service.storage.db.execute("DROP TRIGGER broken")
    job = await service.jobs.imagine(ALICE, "second --steps 2")
    await finished(service, job.id)
    assert await service.storage.count_jobs() == 1
