"""A job's life after admission (core/runner.py): run, failed alone, resumed after a
restart, re-queued by a clean stop, cancelled while it runs, placed in the fair order."""

from __future__ import annotations

from core.limits import Limits
from core.model import EVERYWHERE, Action, JobEvent, JobParams, NewJob
from core.recipes import Imagine
from core.runner import failure_reason
from core.services import Services, open_services
from core.sizes import size_for_aspect
from engine.scheduler import Engine
from storage.db import Storage
from tests.core.commits import ALICE, BOB, finished
from tests.gates import StepGate, gated, held_worker


async def test_a_failing_job_fails_alone_with_a_short_reason(service, caplog):
    parent = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    # The worker is held, so the press below waits while its source disappears: the
    # pipeline call then raises FileNotFoundError on the worker.
    async with held_worker(service.engine):
        broken = await service.jobs.press(ALICE, Action.UPSCALE, parent.id, 1)
        other = await service.jobs.imagine(BOB, "another fox --steps 2")
        assert service.runner.position(broken.id) == 0 and service.runner.position(other.id) == 1
        for row in await service.runner.images(parent.id):
            service.storage.image_file(row).unlink()
    failed = await service.runner.wait(broken.id)
    # Users read a short reason; the path and the exception are for the log.
    assert (failed.status, failed.error) == ("failed", "the source image is no longer kept")
    logged = [r for r in caplog.records if r.getMessage() == f"job {broken.id} failed"]
    assert logged and logged[0].exc_info[0] is FileNotFoundError
    assert (await service.runner.wait(other.id)).status == "done"
    after = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    assert len(await service.runner.images(after.id)) == 4, "the worker went on"


def test_failure_reasons_name_no_paths_or_internals():
    path = "/srv/data/images/12/1.png"
    assert failure_reason(FileNotFoundError(2, "No such file", path)) == (
        "the source image is no longer kept"
    )
    assert failure_reason(RuntimeError("CUDA out of memory. Tried to allocate")) == (
        "the GPU ran out of memory"
    )
    assert failure_reason(MemoryError()) == "the GPU ran out of memory"
    assert failure_reason(ValueError(f"bad tensor in {path}")) == "the image generator hit an error"


async def test_restart_resumes_queued_and_retries_running_once(sd_model, tmp_path):
    params = JobParams(width=128, height=128, steps=2, guidance=7.0, num_images=4)
    async with Storage(tmp_path) as storage:
        queued = await storage.create_job(NewJob(1, "queued one", "", 5, params, Imagine()))
        running = await storage.create_job(NewJob(2, "running one", "", 6, params, Imagine()))
        await storage.mark_running(running.id)
        twice = await storage.create_job(NewJob(3, "crashed twice", "", 7, params, Imagine()))
        await storage.mark_running(twice.id)
        await storage.mark_running(twice.id)
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine) as service,
    ):
        for job_id in (queued.id, running.id):
            final = await service.runner.wait(job_id)
            assert final.status == "done"
            assert len(await service.runner.images(job_id)) == 4
        assert (await service.runner.wait(running.id)).attempts == 2
        crashed = await storage.get_job(twice.id, scope=EVERYWHERE)
        assert crashed.status == "failed" and "interrupted twice" in crashed.error


async def test_zoom_pan_and_region_jobs_resume_after_a_restart(sd_model, tmp_path):
    """A painting job's canvas and mask come from its row and its source file, so a job
    queued before a stop runs after the start like any other."""
    limits = Limits(max_upscale_side=512)
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine, limits) as service,
    ):
        parent = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
        upscale = await finished(
            service, (await service.jobs.press(ALICE, Action.UPSCALE, parent.id, 1)).id
        )
    async with Storage(tmp_path) as storage:
        engine = Engine(sd_model)  # never started: the jobs stay queued, as at a stop
        async with open_services(storage, engine, limits) as service:
            queued = [
                await service.jobs.vary_region(ALICE, upscale.id, 1, [2, 4]),
                await service.jobs.press(ALICE, Action.PAN_UP, upscale.id, 1),
                await service.jobs.custom_zoom(ALICE, upscale.id, 1, "a fox --ar 2:1", "1.5"),
            ]
        await engine.stop()
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine, limits) as service,
    ):
        sizes = []
        for job in queued:
            final = await finished(service, job.id)
            assert final.attempts == 1 and service.runner.spec_for(final).paint is not None
            sizes.append({(r.width, r.height) for r in await service.runner.images(job.id)})
        cell = (parent.params.width, parent.params.height)
        assert sizes[:2] == [{cell}, {(cell[0], cell[1] * 3 // 2)}]
        native = engine.model.defaults.native_size  # 2:1 near the tiny model's 128² pixels
        assert sizes[2] == {size_for_aspect(2, 1, native)} and queued[2].params.aspect == "2:1"


async def test_a_stored_job_the_engine_cannot_run_fails_alone_at_start(sd_model, tmp_path):
    good = JobParams(width=128, height=128, steps=2, guidance=7.0)
    async with Storage(tmp_path) as storage:
        broken = await storage.create_job(
            NewJob(1, "edited by hand", "", 5, good.but(width=100), Imagine())
        )
        fine = await storage.create_job(NewJob(2, "fine", "", 6, good, Imagine()))
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine) as service,
    ):
        failed = await service.runner.wait(broken.id)
        assert (failed.status, failed.error) == ("failed", "the job's settings are not valid")
        assert (await service.runner.wait(fine.id)).status == "done"


async def test_a_clean_stop_requeues_the_running_job_without_using_its_retry(sd_model, tmp_path):
    gate = StepGate(at_step=1)  # the running job cannot finish before the stop
    async with Storage(tmp_path) as storage, Engine(gated(sd_model, gate)) as engine:
        service = Services.build(storage, engine)
        await service.runner.start()
        try:
            running = await service.jobs.imagine(ALICE, "a long fox --steps 2")
            waiting = await service.jobs.imagine(BOB, "a patient fox --steps 2")
            await gate.wait_reached()
            assert (await storage.get_job(running.id, scope=ALICE.guild_id)).status == "running"
            await service.runner.stop()
            for job_id in (running.id, waiting.id):
                row = await storage.get_job(job_id, scope=ALICE.guild_id)
                assert (row.status, row.attempts) == ("queued", 0)
            # The bot stops its engine right after the service; this engine serves on,
            # so it lets go of the waiting job here (its row stays queued).
            engine.cancel(waiting.id)
        finally:
            gate.open()
        assert (await storage.get_job(waiting.id, scope=BOB.guild_id)).status == "queued"
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine) as service,
    ):
        assert (await service.runner.wait(running.id)).status == "done"
        assert (await service.runner.wait(waiting.id)).status == "done"


async def test_positions_are_each_jobs_position_in_one_fair_order(small_service):
    service = small_service
    alice = [await service.jobs.imagine(ALICE, f"alice {i} --steps 2") for i in range(2)]
    bob = await service.jobs.imagine(BOB, "bob --steps 2")
    assert service.runner.positions() == {alice[0].id: 1, bob.id: 2, alice[1].id: 3}
    assert service.runner.positions() == {
        j.id: service.runner.position(j.id) for j in (*alice, bob)
    }


async def test_cancel_a_running_job_stops_it_before_its_last_step(make_services):
    gate = StepGate(at_step=2)
    service = await make_services(gate=gate)
    steps: list[int] = []

    async def listen(event: JobEvent) -> None:
        if event.kind == "progress":
            steps.append(event.progress.step)

    service.runner.add_listener(listen)
    job = await service.jobs.imagine(ALICE, "a fox --steps 6")
    await gate.wait_reached()  # running, held at its second step
    cancelled = await service.jobs.cancel(job.id, ALICE)
    gate.open()
    assert cancelled.status == "cancelled" and cancelled.started_at is not None
    assert steps and max(steps) <= 2
    assert await service.runner.images(job.id) == []
    after = await service.jobs.imagine(ALICE, "next --steps 2")
    assert (await service.runner.wait(after.id)).status == "done"
    assert max(steps) <= 2  # the cancelled job reported no step after its cancel
