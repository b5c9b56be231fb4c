"""What the retention sweep must never break: a queued or running job's files, wherever
they are kept (a line of rerolls reads its first job's folder); a button pressed while a
pass removes files; results never delivered; a folder that cannot be removed; a file
written into a folder as it goes; the disk total with the thumbnails /history makes."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta

import pytest

import core.retention
from core.errors import UnknownJob
from core.model import Action, Job, JobParams, JobStatus
from core.recipes import Animate, Extend, ImagePrompt, ImageRef, Imagine, Reroll, Upscale
from core.retention import Retention, refuse_gone_folders, remove_files
from core.specs import folders_read
from storage.db import Storage
from storage.jobs import FoldersGone
from tests.core.commits import waiting_to_commit
from tests.core.test_retention import ALICE, ONE_JOB, START, Clock, _expired, _finished
from tests.storage.helpers import new_job

KEEP = 30
STYLE = JobParams(width=192, height=128, steps=4, guidance=7.0, references=(("style", 3, 1),))


def _job(recipe, parent_id=None, params=None) -> Job:
    """A queued job row with this recipe (pure: nothing is written)."""
    return Job(
        id=50,
        parent_id=parent_id,
        parent_index=None,
        user_id=42,
        guild_id=1,
        channel_id=2,
        message_id=None,
        prompt="a fox",
        negative="",
        params=params or new_job().params,
        recipe=recipe,
        seed=7,
        status=JobStatus.QUEUED,
        error=None,
        attempts=0,
        created_at="2026-03-01T00:00:00.000+00:00",
        started_at=None,
        finished_at=None,
    )


def test_folders_read_names_every_folder_a_job_reads():
    reroll = Reroll(Imagine(ImagePrompt(1.0, 7)))  # a reroll of a reroll of job 7
    assert folders_read(_job(reroll, parent_id=8)) == {7, 8}
    assert folders_read(_job(Imagine(ImagePrompt(1.0)))) == set()  # its own folder
    assert folders_read(_job(Imagine(), params=STYLE)) == {3}  # a --sref kept with job 3
    assert folders_read(_job(Upscale(ImageRef(4, 2), (64, 64)), parent_id=4)) == {4}
    clip = Animate(ImageRef(4, 1), end=ImageRef(5, 3))
    assert folders_read(_job(clip, parent_id=4)) == {4, 5}
    assert folders_read(_job(Animate(ImagePrompt(1.0, 6)))) == {6}
    assert folders_read(_job(Reroll(Extend(9)), parent_id=10)) == {9, 10}


async def test_a_queued_descendant_keeps_every_folder_it_reads(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        other = await _finished(storage, clock, 60)
        # A: /imagine with an uploaded image and a --sref; B: its reroll; C: B's reroll,
        # queued, reads A's source.png and ref-1.png (B's folder has neither).
        a = await _finished(storage, clock, 50, recipe=Imagine(ImagePrompt(1.0)))
        refs = dict(references=(("style", a, 1),), style_weight=100)
        again = Reroll(Imagine(ImagePrompt(1.0, a)))
        params = new_job().params.but(**refs)
        b = await _finished(storage, clock, 45, recipe=again, parent_id=a, params=params)
        clip = await _finished(storage, clock, 40)
        [c, extend] = await storage.create_jobs(
            [
                new_job(recipe=again, parent_id=b, params=params),
                new_job(recipe=Extend(clip)),  # reads the clip's folder, no parent
            ]
        )
        await storage.mark_running(extend.id)
        retention = Retention(storage, keep_days=KEEP)
        assert (await retention.sweep()).expired == 1
        assert await _expired(storage, [other, a, b, clip]) == [True, False, False, False]
        assert all(storage.job_dir(job).is_dir() for job in (a, b, clip))
        for job in (c.id, extend.id):
            await storage.finish_job(job, JobStatus.DONE)
            await storage.mark_delivered(job, 2, 9000 + job)
        assert (await retention.sweep()).expired == 3
        assert await _expired(storage, [a, b, clip, c.id]) == [True, True, True, False]


async def test_jobs_are_marked_before_their_files_go(tmp_path, monkeypatch):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        job = await _finished(storage, clock, 40)
        removing, release = threading.Event(), threading.Event()

        def slow_removal(directories, stopping):
            removing.set()
            release.wait(10)
            return remove_files(directories, stopping)

        await Retention(storage, keep_days=0).sweep()  # measured: in the total
        monkeypatch.setattr(core.retention, "remove_files", slow_removal)
        retention = Retention(storage, keep_days=KEEP)
        sweep = asyncio.ensure_future(retention.sweep())
        assert await asyncio.to_thread(removing.wait, 10)
        # While its files are being removed, the row already says so: a button pressed
        # now is refused up front (refuse_removed), never admitted to fail on the worker.
        assert await _expired(storage, [job]) == [True]
        assert storage.job_dir(job).is_dir() and await storage.disk_used() == ONE_JOB
        release.set()
        assert (await sweep).expired == 1
        assert not storage.job_dir(job).exists() and await storage.disk_used() == 0


async def test_no_job_is_marked_when_one_was_made_since_the_queue_was_read(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        job = await _finished(storage, clock, 40)
        seen = await storage.last_job_id()
        await storage.create_jobs([new_job(recipe=Reroll(Imagine(ImagePrompt(1.0, job))))])
        assert await storage.mark_expired(START, [], seen, 10) is None
        assert await _expired(storage, [job]) == [False]
        done = await Retention(storage, keep_days=KEEP).sweep()  # reads the queue again
        assert (done.expired, await _expired(storage, [job])) == (0, [False])


async def test_results_never_delivered_expire_and_are_measured(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:

        async def undelivered(days_ago: float, channel: int | None) -> int:
            clock.now = START - timedelta(days=days_ago)
            [job] = await storage.create_jobs([new_job(channel_id=channel)])
            storage.write_file(storage.job_dir(job.id) / "1.png", b"x" * 100)
            await storage.finish_job(job.id, JobStatus.DONE)
            clock.now = START
            return job.id

        # A deleted channel's, a command line job's (no channel), one waiting for Discord.
        lost, cli = await undelivered(40, 2), await undelivered(40, None)
        new_cli, waiting = await undelivered(0, None), await undelivered(0, 2)
        retention = Retention(storage, keep_days=KEEP)
        done = await retention.sweep()
        assert (done.expired, done.measured) == (2, 1)  # new_cli measured; waiting not yet
        assert await _expired(storage, [lost, cli, new_cli, waiting]) == [True, True, False, False]
        assert await storage.disk_used() == 100
        clock.now += timedelta(days=1, minutes=1)  # a day later, still not delivered
        assert (await retention.sweep()).measured == 1
        assert await storage.disk_used() == 200
        assert (await retention.sweep()).measured == 0  # nothing read twice


async def test_a_folder_that_cannot_be_removed_is_passed_and_tried_again_later(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        bad, good = await _finished(storage, clock, 50), await _finished(storage, clock, 40)
        await Retention(storage, keep_days=0).sweep()  # measured
        (storage.job_dir(bad) / "stray").mkdir()  # unlink: IsADirectoryError
        retention = Retention(storage, keep_days=KEEP)
        done = await retention.sweep()
        assert (done.expired, done.freed_bytes) == (1, ONE_JOB)
        assert not storage.job_dir(good).exists()
        # The bad one stays marked (its buttons refused), in the total, not tried again at
        # every pass: after a day.
        assert await _expired(storage, [bad]) == [True]
        assert await storage.disk_used() == ONE_JOB
        assert (await retention.sweep()).expired == 0
        (storage.job_dir(bad) / "stray").rmdir()
        clock.now += timedelta(days=1, minutes=1)
        assert (await retention.sweep()).expired == 1
        assert not storage.job_dir(bad).exists() and await storage.disk_used() == 0


def test_a_file_written_into_a_folder_as_it_goes_goes_too(tmp_path, monkeypatch):
    folder = tmp_path / "7"
    folder.mkdir()
    (folder / "1.png").write_bytes(b"x" * 10)
    written = []

    def thumbnail_meanwhile(path):
        os.unlink(path)
        if not written:  # as the folder's last file goes, /history writes a thumbnail
            written.append((folder / "thumb.webp").write_bytes(b"y" * 5))

    monkeypatch.setattr(core.retention, "_unlink", thumbnail_meanwhile)
    assert remove_files([folder], threading.Event()) == [15]
    assert not folder.exists()


async def test_a_thumbnail_made_by_history_joins_the_disk_total(make_services):
    clock = Clock(START)
    service = await make_services(clock=clock, keep_images_days=KEEP)
    job = await service.runner.wait((await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    await service.storage.mark_delivered(job.id, 10, 777)
    thumb = service.storage.thumbnail_path(job.id)
    await asyncio.to_thread(thumb.unlink)  # as for a job from before thumbnails
    await service.retention.sweep()
    before = await service.storage.disk_used()
    assert await service.users.thumbnails(await service.users.history(ALICE))
    assert await service.storage.disk_used() == before + thumb.stat().st_size
    await service.users.thumbnails(await service.users.history(ALICE))  # made once
    assert await service.storage.disk_used() == before + thumb.stat().st_size


async def test_a_job_that_would_read_a_gone_folder_is_refused_up_front(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        a = await _finished(storage, clock, 50, recipe=Imagine(ImagePrompt(1.0)))
        again = Reroll(Imagine(ImagePrompt(1.0, a)))
        b = await _finished(storage, clock, 1, recipe=again, parent_id=a)
        c = new_job(recipe=again, parent_id=b)  # B's 🔄: reads A's source.png
        await refuse_gone_folders(storage, c)  # A's files are there: admitted
        assert (await Retention(storage, keep_days=KEEP).sweep()).expired == 1
        with pytest.raises(UnknownJob, match=f"kept with job {a}\\) were removed"):
            await refuse_gone_folders(storage, c)
        await refuse_gone_folders(storage, new_job(parent_id=a))  # its button checks A


async def test_a_button_pressed_as_a_pass_marks_its_job_is_refused_not_queued(make_services):
    # The press read its job before the pass marked it; the insert itself sees the mark,
    # so no job is queued to fail on a folder that is gone.
    clock = Clock(START)
    service = await make_services(clock=clock, keep_images_days=KEEP)
    job = await service.runner.wait((await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    await service.storage.mark_delivered(job.id, 10, 777)
    clock.now += timedelta(days=KEEP + 1)
    async with service.admission.lock:  # the commit waits here, past the press's checks
        press = asyncio.create_task(service.jobs.press(ALICE, Action.UPSCALE, job.id, 1))
        await waiting_to_commit(service, 1)
        assert (await service.retention.sweep()).expired == 1
    with pytest.raises(UnknownJob, match=f"kept with job {job.id}\\) were removed or have"):
        await press
    assert await service.storage.last_job_id() == job.id, "nothing queued"


async def test_rows_that_read_a_gone_folder_are_not_written(tmp_path):
    clock = Clock(START)
    async with Storage(tmp_path, clock=clock) as storage:
        kept = await _finished(storage, clock, 1)
        gone = await _finished(storage, clock, 40)
        assert (await Retention(storage, keep_days=KEEP).sweep()).expired == 1
        stranger = new_job(user_id=999, parent_id=gone)  # its user row is not written either
        with pytest.raises(FoldersGone) as refused:
            await storage.create_jobs([new_job(parent_id=kept), stranger], reads={kept, gone})
        assert refused.value.job_ids == [gone]
        assert await storage.last_job_id() == gone, "no row written"
        async with storage.db.execute("SELECT count(*) FROM users WHERE id = 999") as cursor:
            assert await cursor.fetchone() == (0,)
        [child] = await storage.create_jobs([new_job(parent_id=kept)], reads={kept})
        assert child.parent_id == kept and child.status == JobStatus.QUEUED
