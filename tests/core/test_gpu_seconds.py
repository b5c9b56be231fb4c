"""Each job's GPU seconds on its row (issue 28): measured on the worker, kept for done,
failed and cancelled runs (what was spent is spent), none for a job that never ran;
through real SQLite, the runner and the tiny pipeline."""

from __future__ import annotations

import asyncio

from core.model import Action
from tests.core.commits import ALICE, BOB, finished
from tests.gates import StepGate, held_worker


async def row(service, job_id: int):
    return await service.storage.get_job(job_id, scope=ALICE.guild_id)


async def test_done_failed_and_never_run_jobs_keep_what_they_spent(make_services):
    service = await make_services(max_upscale_side=512)
    done = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    assert done.gpu_seconds is not None and done.gpu_seconds > 0
    async with held_worker(service.engine):  # its source goes while it waits
        broken = await service.jobs.press(ALICE, Action.UPSCALE, done.id, 1)
        never = await service.jobs.imagine(BOB, "an owl --steps 2")
        await service.runner.cancel(never, BOB)  # cancelled before it ran
        for image in await service.runner.images(done.id):
            service.storage.image_file(image).unlink()
    failed = await service.runner.wait(broken.id)
    assert failed.status == "failed" and failed.gpu_seconds is not None
    assert failed.gpu_seconds > 0, "a failed run spent its call"
    assert (await row(service, never.id)).gpu_seconds is None


async def test_a_running_job_cancelled_keeps_its_calls_time(make_services):
    gate = StepGate(at_step=1)
    service = await make_services(gate=gate)
    job = await service.jobs.imagine(ALICE, "a long fox --steps 4")
    await gate.wait_reached()
    cancelled = await service.runner.cancel(job, ALICE)
    assert cancelled.status == "cancelled"
    assert cancelled.gpu_seconds is None, "its call has not stopped yet"
    gate.open()
    after = await finished(service, (await service.jobs.imagine(BOB, "an owl --steps 2")).id)
    assert after.status == "done"  # the worker went on: the cancelled call is through
    for _ in range(200):  # its seconds are written once the worker is through with it
        spent = (await row(service, job.id)).gpu_seconds
        if spent is not None:
            break
        await asyncio.sleep(0.05)
    assert spent is not None and spent > 0
