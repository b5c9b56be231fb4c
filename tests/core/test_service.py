"""The service through real SQLite and a real tiny pipeline: jobs, children, failures, resume."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadParameter, NotAllowed, QueueFull, UnknownJob, UserError
from core.jobs import _steps_for, scaled_size
from core.limits import Limits
from core.model import EVERYWHERE, Action, JobEvent, JobKind, JobParams, NewJob, Requester
from core.runner import failure_reason
from core.services import Services, open_services
from core.sizes import size_for_aspect
from engine.scheduler import Engine
from engine.types import JobSpec
from storage.db import Storage
from tests.core.commits import waiting_to_commit
from tests.gates import StepGate, gated, held_worker

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)
BOB = Requester(user_id=202, guild_id=1, channel_id=11)


@pytest.fixture
async def service(make_services):
    return await make_services(max_steps=50, max_upscale_side=512)


async def finished(service: Services, job_id: int):
    final = await service.runner.wait(job_id)
    assert final.status == "done", final.error
    return final


async def test_imagine_writes_rows_files_and_metadata(service):
    events: list[JobEvent] = []

    async def listen(event: JobEvent) -> None:
        events.append(event)

    service.runner.add_listener(listen)
    job = await service.jobs.imagine(ALICE, "a fox in snow --ar 3:2 --seed 7 --steps 3 --no people")
    assert (job.status, job.user_id, job.guild_id, job.channel_id) == ("queued", 101, 1, 10)
    final = await finished(service, job.id)
    assert final.started_at and final.finished_at and final.attempts == 1
    assert (final.params.width, final.params.height) == (192, 128)
    rows = await service.runner.images(job.id)
    assert [(r.index, r.seed, r.width, r.height) for r in rows] == [
        (i, 6 + i, 192, 128) for i in (1, 2, 3, 4)
    ]
    for row in rows:
        path = service.storage.absolute(row.path)
        assert path.parent.name == str(job.id)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the bot's alone
        with Image.open(path) as image:
            assert image.size == (192, 128)
            assert image.text["prompt"] == "a fox in snow"
            assert image.text["negative"] == "people"
            assert image.text["seed"] == str(row.seed)
            assert image.text["steps"] == "3" and image.text["size"] == "192x128"
            assert image.text["guidance"] == "7" and image.text["model"]
            assert image.text["parameters"].startswith("a fox in snow\nNegative prompt: people\n")
            assert f"Seed: {row.seed}, Size: 192x128" in image.text["parameters"]
    assert stat.S_IMODE(service.storage.grid_path(job.id).stat().st_mode) == 0o600
    assert stat.S_IMODE(service.storage.job_dir(job.id).stat().st_mode) == 0o700
    with Image.open(service.storage.grid_path(job.id)) as grid:
        assert grid.size == (384, 256)
    assert [e.kind for e in events if e.kind != "progress"] == ["queued", "started", "finished"]
    assert any(e.kind == "progress" for e in events)


async def test_defaults_come_from_the_model(service):
    job = await service.jobs.imagine(ALICE, "a castle")
    assert job.params.steps == 25 and job.params.guidance == 7.0
    assert (job.params.width, job.params.height) == (128, 128)
    other = await service.jobs.imagine(ALICE, "a castle")
    assert job.seed != other.seed, "without --seed, each job draws its own"
    for queued in (job, other):
        await service.jobs.cancel(queued.id, ALICE)  # 25 steps are not needed here


async def test_bad_parameters_start_no_job(service):
    for text in ["", "--ar 3:2", "x --steps 51", "x --cfg 21", "x --ar 9:1", "y" * 5000]:
        with pytest.raises(BadParameter):
            await service.jobs.imagine(ALICE, text)
    assert await service.storage.count_jobs() == 0


async def test_zoom_out_and_pan_make_grids_from_an_upscaled_image(service):
    parent = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 2")).id
    )
    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    [upscaled] = await service.runner.images(upscale.id)
    assert (upscaled.width, upscaled.height) == (384, 256)
    # Zoom out: a new grid at the size of the grid it came from (not the upscaled size).
    for action, factor in ((Action.ZOOM_OUT_2, 2.0), (Action.ZOOM_OUT_1_5, 1.5)):
        zoom = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert (zoom.kind, zoom.parent_id, zoom.user_id) == ("zoom", upscale.id, BOB.user_id)
        assert (zoom.params.factor, zoom.params.strength, zoom.params.mode) == (factor, 1.0, None)
        assert [(r.width, r.height) for r in await service.runner.images(zoom.id)] == [
            (192, 128)
        ] * 4
    # Pan: half a side more in that direction.
    for action, size in ((Action.PAN_RIGHT, (288, 128)), (Action.PAN_UP, (192, 192))):
        panned = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert panned.kind == "pan" and panned.params.direction == action.pan
        assert [(r.width, r.height) for r in await service.runner.images(panned.id)] == [size] * 4
        assert service.runner.spec_for(panned).paint.direction == action.pan
    # A pan that would pass MAX_UPSCALE_SIDE (512 here) is refused before any row.
    wide = await finished(
        service, (await service.jobs.press(BOB, Action.PAN_RIGHT, upscale.id, 1)).id
    )
    wider = await finished(
        service, (await service.jobs.press(BOB, Action.PAN_RIGHT, wide.id, 1)).id
    )
    before = await service.storage.count_jobs()
    with pytest.raises(UserError, match="past the largest size I make"):
        await service.jobs.press(BOB, Action.PAN_RIGHT, wider.id, 1)
    assert await service.storage.count_jobs() == before


async def test_a_form_never_shows_another_members_saved_negative(make_services):
    service = await make_services(started=False, max_queued_per_user=10)
    await service.users.update_settings(ALICE, negative="grainy fog")
    saved = await service.jobs.imagine(ALICE, "a fox --steps 2")
    typed = await service.jobs.imagine(ALICE, "a fox --steps 2 --no rain")
    assert saved.negative == "grainy fog"  # the job is made with it
    assert "--no" not in await service.jobs.form_text(BOB, saved.id)
    assert (await service.jobs.form_text(ALICE, saved.id)).endswith("--no grainy fog")
    assert (await service.jobs.form_text(BOB, typed.id)).endswith("--no rain")
    # A child made without a form keeps the negative, and whose it is.
    child = await service.jobs.press(BOB, Action.REROLL, saved.id, None)
    assert child.negative == "grainy fog"
    assert "--no" not in await service.jobs.form_text(BOB, child.id)
    # A form's --no is what its member typed: shown to anyone.
    edited = await service.jobs.press(BOB, Action.REROLL, saved.id, None, remix="a fox --no fog")
    assert (await service.jobs.form_text(ALICE, edited.id)).endswith("--no fog")


async def test_remix_custom_zoom_and_region_edit_the_prompt_and_check_it(service):
    parent = await finished(
        service,
        (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 2 --no rain")).id,
    )
    # The forms start from the job's prompt with its parameters, which parse back the same.
    text = await service.jobs.form_text(BOB, parent.id)
    assert text == f"a fox --ar 3:2 --steps 2 --cfg {parent.params.guidance:.10g} --no rain"
    again = service.jobs.check_prompt(text)
    assert (again.prompt, again.negative, again.aspect, again.steps) == ("a fox", "rain", (3, 2), 2)
    with pytest.raises(UnknownJob):  # another server's job: as if there were none
        await service.jobs.form_text(Requester(user_id=BOB.user_id, guild_id=2), parent.id)

    # Remix: the submitted text replaces the prompt, --no and the settings it gives.
    remixed = await finished(
        service,
        (
            await service.jobs.press(
                BOB, Action.VARY_STRONG, parent.id, 1, remix="a wolf --steps 3 --seed 5"
            )
        ).id,
    )
    assert (remixed.prompt, remixed.negative, remixed.seed) == ("a wolf", "", 5)
    assert (remixed.kind, remixed.params.steps, remixed.params.strength) == ("variation", 3, 0.7)
    assert remixed.params.width == 192 and remixed.parent_id == parent.id
    # 🔄 makes new images from the text alone: its shape may change; a variation's not.
    square = await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="a fox --ar 1:1")
    assert square.params.aspect == "1:1" and square.params.width == square.params.height
    before = await service.storage.count_jobs()
    with pytest.raises(BadParameter, match="would change the shape"):
        await service.jobs.press(BOB, Action.VARY_SUBTLE, parent.id, 1, remix="a fox --ar 1:1")
    with pytest.raises(BadParameter, match="--steps"):  # checked like a new /imagine
        await service.jobs.press(BOB, Action.VARY_SUBTLE, parent.id, 1, remix="a fox --steps 999")
    with pytest.raises(BadParameter, match="prompt is empty"):
        await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="  --ar 1:1")
    with pytest.raises(UnknownJob):  # an upscale keeps the image: no remix
        await service.jobs.press(BOB, Action.UPSCALE, parent.id, 1, remix="a cat")
    assert await service.storage.count_jobs() == before

    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    # Custom Zoom: a factor from 1.0 to 2.0; --ar gives the canvas another shape.
    for factor, message in (("2.5", "out of range"), ("big", "not a number"), ("1", "nothing")):
        with pytest.raises(BadParameter, match=message):
            await service.jobs.custom_zoom(BOB, upscale.id, 1, text, factor)
    zoom = await finished(
        service, (await service.jobs.custom_zoom(BOB, upscale.id, 1, "a fox in a den", "1.25")).id
    )
    assert (zoom.kind, zoom.params.factor, zoom.prompt) == ("zoom", 1.25, "a fox in a den")
    assert [(r.width, r.height) for r in await service.runner.images(zoom.id)] == [(192, 128)] * 4
    square_zoom = await finished(
        service, (await service.jobs.custom_zoom(BOB, upscale.id, 1, "a fox --ar 1:1", "1.0")).id
    )
    [image, *_] = await service.runner.images(square_zoom.id)
    assert image.width == image.height and square_zoom.params.aspect == "1:1"
    assert service.runner.spec_for(square_zoom).paint.factor == 1.0

    # Vary (Region): only the chosen cells; an optional prompt.
    for cells in ((), (0,), (10,)):
        with pytest.raises(UserError, match=r"Choose at least one|numbered 1 to 9"):
            await service.jobs.vary_region(BOB, upscale.id, 1, cells)
    region = await finished(
        service, (await service.jobs.vary_region(BOB, upscale.id, 1, [5, 1, 5])).id
    )
    assert (region.kind, region.params.cells, region.prompt) == ("region", (1, 5), "a fox")
    assert service.runner.spec_for(region).paint.cells == (1, 5)
    assert [(r.width, r.height) for r in await service.runner.images(region.id)] == [(192, 128)] * 4
    cat = await service.jobs.vary_region(BOB, upscale.id, 1, [9], "a cat --no dogs")
    assert (cat.prompt, cat.negative, cat.params.cells) == ("a cat", "dogs", (9,))
    # 🔄 on a painted grid paints the same part again.
    again = await service.jobs.press(BOB, Action.REROLL, region.id, None)
    assert service.runner.spec_for(again).paint.cells == (1, 5)
    assert (await service.runner.wait(cat.id)).status == "done"
    assert (await service.runner.wait(again.id)).status == "done"


async def test_buttons_make_children_owned_by_who_pressed(service):
    parent = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 4")).id
    )

    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    assert (upscale.kind, upscale.parent_id, upscale.parent_index) == ("upscale", parent.id, 2)
    assert (upscale.user_id, upscale.channel_id, upscale.seed) == (202, 11, 8)
    [image] = await service.runner.images(upscale.id)
    assert (image.width, image.height) == (384, 256)

    variation = await finished(
        service, (await service.jobs.press(BOB, Action.VARY_STRONG, parent.id, 3)).id
    )
    assert (variation.kind, variation.parent_index) == ("variation", 3)
    assert variation.params.strength == 0.7
    assert [(r.width, r.height) for r in await service.runner.images(variation.id)] == [
        (192, 128)
    ] * 4

    reroll = await finished(
        service, (await service.jobs.press(ALICE, Action.REROLL, parent.id, None)).id
    )
    assert reroll.kind == "reroll" and reroll.prompt == parent.prompt
    assert reroll.seed != parent.seed
    assert reroll.params.width == 192 and reroll.params.steps == 4

    # On the upscaled image: vary strong and subtle come back at the grid's size.
    for action, strength in ((Action.VARY_STRONG, 0.7), (Action.VARY_SUBTLE, 0.35)):
        child = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert child.params.strength == strength
        assert [(r.width, r.height) for r in await service.runner.images(child.id)] == [
            (192, 128)
        ] * 4

    # Upscale (Creative): another pass, capped at the maximum side (512 here).
    creative = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE_CREATIVE, upscale.id, 1)).id
    )
    [big] = await service.runner.images(creative.id)
    assert (big.width, big.height) == (504, 336)  # 3:2 kept exactly, sides multiples of 8
    with pytest.raises(UserError, match="largest size"):
        await service.jobs.press(BOB, Action.UPSCALE_CREATIVE, creative.id, 1)


async def test_buttons_on_unknown_or_unfinished_jobs_are_refused(service):
    with pytest.raises(UnknownJob, match="no job 999"):
        await service.jobs.press(ALICE, Action.UPSCALE, 999, 1)
    job = await service.jobs.imagine(ALICE, "a fox --steps 2")
    with pytest.raises(UnknownJob, match="no images"):
        await service.jobs.press(ALICE, Action.UPSCALE, job.id, 1)
    await finished(service, job.id)
    with pytest.raises(UnknownJob, match="no image 5"):
        await service.jobs.press(ALICE, Action.UPSCALE, job.id, 5)
    with pytest.raises(UnknownJob):
        await service.jobs.press(ALICE, "q", job.id, 1)
    before = await service.storage.count_jobs()
    for row in await service.runner.images(job.id):
        service.storage.absolute(row.path).unlink()
    with pytest.raises(UnknownJob, match="no longer kept"):
        await service.jobs.press(ALICE, Action.VARY_STRONG, job.id, 1)
    assert await service.storage.count_jobs() == before


@pytest.mark.parametrize(
    ("steps", "strength", "expected"),
    [(4, 0.3, 4), (1, 0.3, 4), (2, 0.35, 3), (1, 0.7, 2), (30, 0.7, 30)],
)
def test_image_to_image_always_runs_at_least_one_step(steps, strength, expected):
    assert _steps_for(steps, strength) == expected
    spec = JobSpec(
        job_id=1,
        prompt="p",
        negative="",
        width=64,
        height=64,
        steps=_steps_for(steps, strength),
        guidance=7.0,
        seed=1,
        source_image=Path("source.png"),
        strength=strength,
    )
    assert spec.denoising_steps >= 1  # the engine's own count of the steps that run


async def test_a_failing_job_fails_alone_with_a_short_reason(service, caplog):
    parent = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    # The worker is held, so the press below waits while its source disappears: the
    # pipeline call then raises FileNotFoundError on the worker.
    async with held_worker(service.engine):
        broken = await service.jobs.press(ALICE, Action.UPSCALE, parent.id, 1)
        other = await service.jobs.imagine(BOB, "another fox --steps 2")
        assert service.runner.position(broken.id) == 0 and service.runner.position(other.id) == 1
        for row in await service.runner.images(parent.id):
            service.storage.absolute(row.path).unlink()
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
        queued = await storage.create_job(NewJob("imagine", 1, "queued one", "", 5, params))
        running = await storage.create_job(NewJob("imagine", 2, "running one", "", 6, params))
        await storage.mark_running(running.id)
        twice = await storage.create_job(NewJob("imagine", 3, "crashed twice", "", 7, params))
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
            NewJob(JobKind.IMAGINE, 1, "edited by hand", "", 5, good.but(width=100))
        )
        fine = await storage.create_job(NewJob(JobKind.IMAGINE, 2, "fine", "", 6, good))
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


@pytest.fixture
async def small_service(make_services):
    # Not started: jobs stay queued until a test starts the engine.
    return await make_services(started=False, max_queued_per_user=2, max_queue=3)


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
    calls: list[int] = []
    create_jobs = service.storage.create_jobs

    async def counted(news):
        calls.append(len(news))
        return await create_jobs(news)

    service.storage.create_jobs = counted  # type: ignore[method-assign]
    async with held_worker(service.engine):
        async with service.admission.lock:  # as a ban in progress holds it
            burst = [ALICE, BOB, carol] * 4
            tasks = [
                asyncio.create_task(service.jobs.imagine(who, f"burst {i} --steps 2"))
                for i, who in enumerate(burst)
            ]
            await waiting_to_commit(service, len(burst))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert calls == [9]
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
    assert service.admission._committer is not None
    await service.admission._committer
    (job,) = await service.storage.jobs_with_status("queued", "running", "done", scope=1)
    await finished(service, job.id)


async def test_a_failed_commit_refuses_its_batch_and_the_next_one_commits(service):
    create_jobs = service.storage.create_jobs
    broken = True

    async def flaky(news):
        if broken:
            raise OSError("disk I/O error")
        return await create_jobs(news)

    service.storage.create_jobs = flaky  # type: ignore[method-assign]
    async with service.admission.lock:
        tasks = [
            asyncio.create_task(service.jobs.imagine(who, "first --steps 2"))
            for who in (ALICE, BOB)
        ]
        await waiting_to_commit(service, 2)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results), results
    assert await service.storage.count_jobs() == 0
    broken = False
    job = await service.jobs.imagine(ALICE, "second --steps 2")
    await finished(service, job.id)
    assert await service.storage.count_jobs() == 1


async def test_positions_are_each_jobs_position_in_one_fair_order(small_service):
    service = small_service
    alice = [await service.jobs.imagine(ALICE, f"alice {i} --steps 2") for i in range(2)]
    bob = await service.jobs.imagine(BOB, "bob --steps 2")
    assert service.runner.positions() == {alice[0].id: 1, bob.id: 2, alice[1].id: 3}
    assert service.runner.positions() == {
        j.id: service.runner.position(j.id) for j in (*alice, bob)
    }


async def test_repeats_get_their_own_jobs_seeds_and_places_in_the_fair_order(small_service):
    service = small_service
    repeats = await service.jobs.imagine_all(ALICE, "a fox --seed 10 --repeat 2 --steps 2")
    assert [job.seed for job in repeats] == [10, 14], "a given seed: the repeats go on from it"
    assert [job.prompt for job in repeats] == ["a fox", "a fox"]
    bob = await service.jobs.imagine(BOB, "bob --steps 2")
    # Interleaved with other users' jobs like any of alice's.
    assert service.runner.positions() == {repeats[0].id: 1, bob.id: 2, repeats[1].id: 3}
    with pytest.raises(ValueError, match="imagine_all"):
        await service.jobs.imagine(BOB, "two {a, b} --steps 2")


async def test_tile_goes_to_the_engine_and_stays_with_variations_not_with_zooms(service):
    grid = await finished(
        service, (await service.jobs.imagine(ALICE, "leaves --tile --steps 2")).id
    )
    assert grid.params.tile is True and service.runner.spec_for(grid).tile
    with Image.open(
        service.storage.absolute((await service.runner.images(grid.id))[0].path)
    ) as png:
        assert png.text["tile"] == "on" and "Tiling: True" in png.text["parameters"]
    assert (await service.jobs.form_text(ALICE, grid.id)).endswith("--tile")
    variation = await service.jobs.press(ALICE, Action.VARY_SUBTLE, grid.id, 1)
    assert service.runner.spec_for(variation).tile, "a variation of a tile is a tile"
    upscale = await finished(
        service, (await service.jobs.press(ALICE, Action.UPSCALE, grid.id, 1)).id
    )
    zoom = await service.jobs.press(ALICE, Action.ZOOM_OUT_2, upscale.id, 1)
    assert not service.runner.spec_for(zoom).tile, "a painted border is no tile"
    untiled = await service.jobs.press(
        ALICE, Action.REROLL, grid.id, None, remix="leaves --steps 2"
    )
    assert not service.runner.spec_for(untiled).tile, "remix: the form's text decides"
    for job in (variation, zoom, untiled):
        await finished(service, job.id)


async def test_cancel_a_queued_job(small_service):
    service = small_service
    job = await service.jobs.imagine(ALICE, "wait for me --steps 2")
    with pytest.raises(NotAllowed):
        await service.jobs.cancel(job.id, BOB)
    cancelled = await service.jobs.cancel(job.id, ALICE)
    assert (cancelled.status, cancelled.started_at) == ("cancelled", None)
    assert service.runner.position(job.id) is None
    with pytest.raises(UserError, match="already cancelled"):
        await service.jobs.cancel(job.id, ALICE)
    other = await service.jobs.imagine(ALICE, "mine --steps 2")
    admin = Requester(user_id=BOB.user_id, guild_id=1, channel_id=11, is_admin=True)
    assert (await service.jobs.cancel(other.id, admin)).status == "cancelled"


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


def test_scaled_sizes_keep_the_aspect_and_the_vae_multiple():

    assert scaled_size(384, 256, 2) == (768, 512)
    assert scaled_size(384, 256, 512 / 384) == (504, 336)
    assert scaled_size(1344, 768, 2048 / 1344) == (2016, 1152)
    assert scaled_size(1344, 896, 2048 / 1344) == (2040, 1360)
    # No size keeps 1000:999 exactly: each side is rounded down on its own.
    assert scaled_size(1000, 999, 1.5) == (1496, 1496)
