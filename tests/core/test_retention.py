"""The retention sweep over real SQLite and real files: bounded passes, oldest first, what
it skips, what it keeps, the disk total, a stop in the middle; and what members are told."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import BadParameter, UnknownJob
from core.model import Action, ImageRow, JobStatus, Requester
from core.references import job_image
from core.retention import Retention, remove_files
from storage.db import Storage
from tests.storage.helpers import new_job

START = datetime(2026, 3, 1, tzinfo=UTC)
FILES = {"1.png": 1000, "2.png": 2000, "grid.png": 300, "thumb.webp": 40}
ONE_JOB = sum(FILES.values())
ALICE = Requester(user_id=101, guild_id=1, channel_id=10)
ADMIN = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _finished(storage: Storage, clock: Clock, days_ago: float, **fields) -> int:
    """A done, delivered job created ``days_ago``, with its files and image rows."""
    now = clock.now
    clock.now = now - timedelta(days=days_ago)
    [job] = await storage.create_jobs([new_job(**fields)])
    clock.now = now
    for name, size in FILES.items():
        storage.write_file(storage.job_dir(job.id) / name, b"x" * size)
    await storage.add_images([ImageRow(job.id, 1, 64, 64, 7), ImageRow(job.id, 2, 64, 64, 8)])
    await storage.finish_job(job.id, JobStatus.DONE)
    await storage.mark_delivered(job.id, 2, 5000 + job.id)
    return job.id


async def _expired(storage: Storage, job_ids: list[int]) -> list[bool]:
    jobs = [await storage.get_job(job_id, scope=1) for job_id in job_ids]
    return [job is not None and job.images_expired_at is not None for job in jobs]


async def test_passes_expire_the_oldest_first_a_bounded_number_at_a_time(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        old = [await _finished(storage, clock, days) for days in (40, 35, 50, 31, 45)]
        new = await _finished(storage, clock, 29)
        retention = Retention(storage, keep_days=30, batch=2)
        first = await retention.sweep()
        assert (first.expired, first.freed_bytes, first.more) == (2, 2 * ONE_JOB, True)
        assert await _expired(storage, old) == [False, False, True, False, True]  # 50, 45
        second = await retention.sweep()
        assert second.expired == 2  # 40, 35
        assert await _expired(storage, old) == [True, True, True, False, True]
        third = await retention.sweep()
        assert (third.expired, third.more) == (1, False)
        assert (await retention.sweep()).expired == 0  # nothing twice
        for job_id in old:
            assert not storage.job_dir(job_id).exists()
            job = await storage.get_job(job_id, scope=1)
            assert job is not None and job.status == "done" and job.prompt == "a fox"
            assert [row.seed for row in await storage.images(job_id)] == [7, 8]
        assert sorted(path.name for path in storage.job_dir(new).iterdir()) == sorted(FILES)
        assert await storage.disk_used() == ONE_JOB  # the one job left, measured once


async def test_jobs_not_finished_or_delivered_or_with_a_child_at_work_keep_their_files(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        done = await _finished(storage, clock, 60)
        parent = await _finished(storage, clock, 60)
        clock.now = START - timedelta(days=60)
        queued, running, undelivered = (
            job.id for job in await storage.create_jobs([new_job() for _ in range(3)])
        )
        clock.now = START
        await storage.mark_running(running)
        await storage.finish_job(undelivered, JobStatus.DONE)
        [child] = await storage.create_jobs([new_job(parent_id=parent, parent_index=1)])
        retention = Retention(storage, keep_days=30)
        assert (await retention.sweep()).expired == 1
        skipped = [parent, queued, running, undelivered]
        assert await _expired(storage, [done, *skipped]) == [True, False, False, False, False]
        assert storage.job_dir(parent).is_dir()
        await storage.finish_job(child.id, JobStatus.DONE)  # the upscale is through
        assert (await retention.sweep()).expired == 1
        assert not storage.job_dir(parent).exists()


async def test_keep_forever_measures_but_never_removes(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        jobs = [await _finished(storage, clock, days) for days in (900, 400, 1)]
        retention = Retention(storage, keep_days=0, batch=2)
        assert ((await retention.sweep()).measured, (await retention.sweep()).measured) == (2, 1)
        assert (await retention.sweep()).measured == 0
        assert await storage.disk_used() == 3 * ONE_JOB
        assert all(storage.job_dir(job_id).is_dir() for job_id in jobs)


async def test_passes_give_free_pages_back_a_slice_each_until_none_is_left(tmp_path):
    async with Storage(tmp_path) as storage:
        await storage.db.execute("CREATE TABLE filler (x BLOB)")
        await storage.db.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 3000,)] * 250)
        await storage.db.execute("DROP TABLE filler")
        await storage.db.commit()
        retention = Retention(storage, keep_days=30, vacuum_pages=100)
        passes = [await retention.sweep()]
        while passes[-1].more:
            passes.append(await retention.sweep())
        left = [done.free_pages for done in passes]
        assert len(passes) >= 3 and left[-1] == 0
        steps = [before - after for before, after in itertools.pairwise(left[:-1])]
        assert steps == [100] * (len(left) - 2)  # 100 a pass, the rest in the last


async def test_a_stop_in_the_middle_leaves_the_rest_to_the_next_start(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        jobs = [await _finished(storage, clock, 40 + days) for days in range(3)]
        await Retention(storage, keep_days=0).sweep()  # measured first: in the total
        assert await storage.disk_used() == 3 * ONE_JOB
        # A stop after the rows were marked and the files of the oldest went, before
        # anything was recorded.
        marked = await storage.mark_expired(START - timedelta(days=30), [], jobs[-1], 10)
        assert marked == jobs and await _expired(storage, jobs) == [True, True, True]
        dirs = [storage.job_dir(job_id) for job_id in reversed(jobs)]
        stopping = threading.Event()
        assert remove_files(dirs[:1], stopping) == [ONE_JOB]
        stopping.set()
        assert remove_files(dirs[1:], stopping) == []  # stops between two jobs
        assert await storage.disk_used() == 3 * ONE_JOB  # nothing recorded yet
        # The next start: the files already gone are no error; every folder is removed.
        restarted = Retention(storage, keep_days=30, interval=3600)
        restarted.start()
        await asyncio.wait_for(restarted.caught_up.wait(), timeout=10)
        await restarted.stop()
        assert await _expired(storage, jobs) == [True, True, True]
        assert await storage.disk_used() == 0
        assert not any(directory.exists() for directory in dirs)
        assert restarted._task is None and restarted._executor is None


async def test_an_expired_jobs_buttons_say_so_and_its_row_stays(make_services):
    clock = Clock(START)
    service = await make_services(clock=clock, keep_images_days=30)
    job = await service.runner.wait((await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    await service.storage.mark_delivered(job.id, 10, 777)
    await service.retention.sweep()
    info = await service.users.info(ADMIN)
    assert info.disk_bytes == await asyncio.to_thread(_size, service.storage.job_dir(job.id))
    assert info.disk_bytes and info.keep_images_days == 30
    assert (await service.users.info(ALICE)).disk_bytes is None  # admins only
    clock.now += timedelta(days=31)
    assert (await service.retention.sweep()).expired == 1
    said = f"The images of job {job.id} have expired: images are kept 30 days on this bot."
    for action, index in ((Action.UPSCALE, 1), (Action.VARY_SUBTLE, 2), (Action.REROLL, None)):
        with pytest.raises(UnknownJob) as refused:
            await service.jobs.press(ALICE, action, job.id, index)
        assert refused.value.message == said
    with pytest.raises(UnknownJob, match="have expired"):
        await service.jobs.form_text(ALICE, job.id)
    with pytest.raises(BadParameter, match="no images to use"):  # as a --sref
        await job_image(service.storage, ALICE, job.id, 1, "--sref")
    page = await service.users.history(ALICE)
    assert [listed.id for listed in page.jobs] == [job.id]  # a line, without a thumbnail
    assert await service.users.thumbnails(page) == {}
    assert (await service.users.info(ADMIN)).disk_bytes == 0
    assert not service.storage.job_dir(job.id).exists()


def _size(directory) -> int:
    return sum(path.stat().st_size for path in directory.iterdir())
