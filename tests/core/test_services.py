"""The services: built as one wiring (what /imagine admits is what the runner holds and
/info shows), and opened so that a stop or crash loses nothing: queued jobs run at the
next start, one cut off while running is retried once, one cut off twice is failed."""

from __future__ import annotations

import asyncio

from core.encoders import EncoderPool
from core.model import JobStatus, Requester
from core.services import Services, open_services
from engine import Engine
from storage.db import Storage

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)


async def test_build_wires_one_runner_admission_and_jobs(sd_model, tmp_path) -> None:
    pool = EncoderPool()
    async with Storage(tmp_path) as storage:
        engine, other = Engine(sd_model), Engine(sd_model)  # never started: jobs stay queued
        try:
            services = Services.build(storage, engine, encoders=pool)
            job = await services.jobs.imagine(ALICE, "a fox --steps 2")
            assert services.runner.position(job.id) == 1  # the runner's engine holds it
            info = await services.users.info(ALICE)
            assert info.jobs == [(job.id, 1)] and info.queue_length == 1
            assert info.quota.used == 1  # admission counted it
            again = Services.build(storage, other, encoders=pool)
            assert again.runner.position(job.id) is None  # built, not started: not resumed
            await services.runner.stop()
        finally:
            await engine.stop()
            await other.stop()
            await asyncio.to_thread(pool.close)


async def test_open_services_resumes_what_a_stop_or_a_crash_left(sd_model, tmp_path) -> None:
    async with Storage(tmp_path) as storage:
        engine = Engine(sd_model)  # not started: the three jobs are left queued
        try:
            async with open_services(storage, engine) as services:
                jobs = [await services.jobs.imagine(ALICE, f"fox {n} --steps 2") for n in range(3)]
        finally:
            await engine.stop()
        queued, once, twice = (job.id for job in jobs)
        assert {(await storage.get_job(j, scope=1)).status for j in (queued, once, twice)} == {
            JobStatus.QUEUED
        }
        # A crash while running: the row says running (one attempt; then two).
        await storage.mark_running(once)
        await storage.mark_running(twice)
        await storage.mark_queued(twice)
        await storage.mark_running(twice)

    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine) as services,
    ):
        finals = {j: await services.runner.wait(j) for j in (queued, once, twice)}
    assert finals[queued].status == JobStatus.DONE and finals[queued].attempts == 1
    assert finals[once].status == JobStatus.DONE and finals[once].attempts == 2  # retried
    assert finals[twice].status == JobStatus.FAILED
    assert finals[twice].error == "interrupted twice while running; not retried"
