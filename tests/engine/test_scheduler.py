"""Fair order, cross-request batching, failure isolation and the out-of-memory retry."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Engine, JobCancelled, JobStarted
from engine.scheduler import fair_order
from engine.types import JobSpec, Paint
from tests.gates import StepGate, gated


def spec(job_id: int, owner: int = 1, **overrides) -> JobSpec:
    fields = {
        "job_id": job_id,
        "prompt": f"prompt {job_id}",
        "negative": "",
        "width": 128,
        "height": 128,
        "steps": 2,
        "guidance": 7.0,
        "seed": 1000 + 10 * job_id,
        "owner": owner,
    }
    fields.update(overrides)
    return JobSpec(**fields)


@dataclasses.dataclass
class Waiting:
    """A job as the fair order sees it."""

    spec: JobSpec
    order: int


def pending(order: int, owner: int, job_id: int | None = None) -> Waiting:
    return Waiting(spec(job_id or order, owner), order)


def ids(items) -> list[int]:
    return [p.spec.job_id for p in items]


def test_round_robin_across_three_users_with_uneven_queues():
    # Alice queued five, then Bob two, then Carol one.
    waiting = [pending(i, owner) for i, owner in enumerate([1, 1, 1, 1, 1, 2, 2, 3], start=1)]
    assert ids(fair_order(waiting, {})) == [1, 6, 8, 2, 7, 3, 4, 5]


def test_the_least_recently_served_user_goes_first():
    waiting = [pending(1, owner=1), pending(2, owner=2), pending(3, owner=3)]
    # Carol was served long ago, Alice just now, Bob never.
    assert ids(fair_order(waiting, {1: 9, 3: 2})) == [2, 3, 1]


async def test_positions_and_batches_follow_the_fair_order(sd_model):
    engine = Engine(sd_model, max_batch_images=8)  # not started: nothing runs
    futures = [engine.submit(spec(i, owner)) for i, owner in [(1, 1), (2, 1), (3, 1), (4, 2)]]
    assert engine.positions() == {1: 1, 4: 2, 2: 3, 3: 4}
    # Two grids fit in 8 images: the fair first (1, Alice) and the fair next (4, Bob).
    assert ids(engine.next_batch()) == [1, 4]
    assert engine.position(2) == 1 and engine.position(3) == 2
    assert ids(engine.next_batch()) == [2, 3]
    assert engine.next_batch() == []
    for future in futures:
        future.abandon()


async def test_the_fair_order_is_built_once_per_change_of_the_queue(sd_model):
    """However many waiting messages ask between two changes, they read one fair order;
    a submit, a cancel or a batch taken builds it anew."""
    engine = Engine(sd_model, max_batch_images=4)  # not started: nothing runs
    handles = [engine.submit(spec(i, owner)) for i, owner in [(1, 1), (2, 1), (3, 2)]]
    first = engine.positions()
    assert engine.positions() is first and engine.position(3) == 2
    handles.append(engine.submit(spec(4, 2)))
    assert engine.positions() is not first and engine.positions() == {1: 1, 3: 2, 2: 3, 4: 4}
    assert engine.cancel(2) and engine.positions() == {1: 1, 3: 2, 4: 3}
    assert ids(engine.next_batch()) == [1] and engine.positions() == {3: 1, 4: 2}
    for handle in handles:
        handle.abandon()


def test_jobs_of_different_shapes_are_never_fused(sd_model):
    async def scenario():
        engine = Engine(sd_model, max_batch_images=16)
        shapes = [
            spec(1),
            spec(2, width=192),
            spec(3, steps=3),
            spec(4, guidance=5.0),
            spec(5, negative="people"),
            spec(6, source_image="a.png", strength=0.7),
            spec(7, source_image="a.png", strength=0.5),
            spec(8),
        ]
        futures = [engine.submit(s) for s in shapes]
        batches = []
        while batch := engine.next_batch():
            batches.append(ids(batch))
        for future in futures:
            future.abandon()
        return batches

    assert asyncio.run(scenario()) == [[1, 8], [2], [3], [4], [5], [6], [7]]


def test_batching_off_takes_one_job_at_a_time(sd_model):
    async def scenario():
        engine = Engine(sd_model, batching=False)
        futures = [engine.submit(spec(i)) for i in (1, 2, 3)]
        batches = [ids(engine.next_batch()) for _ in range(3)]
        for future in futures:
            future.abandon()
        return batches

    assert asyncio.run(scenario()) == [[1], [2], [3]]


def assert_same_images(a, b, tolerance: float = 2.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        diff = np.abs(np.asarray(x, dtype=np.float32) - np.asarray(y, dtype=np.float32)).max()
        assert diff <= tolerance


@pytest.mark.parametrize("family", ["sd", "sdxl"])
async def test_fused_jobs_give_the_same_images_as_unfused(loaded_models, family, tmp_path):
    model = loaded_models[family]
    jobs = [
        spec(1, owner=1, prompt="a fox in snow", seed=7),
        spec(2, owner=2, prompt="a castle at night", seed=99),
        spec(3, owner=3, prompt="a red car", seed=12345),
    ]
    async with Engine(model, batching=False) as engine:
        alone = [(await engine.submit(job)).images for job in jobs]
    async with Engine(model, max_batch_images=12) as engine:
        fused = [output.images for output in await submit_together(engine, jobs)]
        assert (engine.stats.batches, engine.stats.jobs, engine.stats.images) == (1, 3, 12)
    for a, b in zip(alone, fused, strict=True):
        assert_same_images(a, b)


class FlakyPipeline:
    """Wraps a real pipeline; raises out-of-memory above a number of images per call."""

    def __init__(self, pipe, max_images: int) -> None:
        self.pipe = pipe
        self.max_images = max_images
        self.calls: list[int] = []

    def __call__(self, **kwargs):
        self.calls.append(len(kwargs["prompt"]))
        if len(kwargs["prompt"]) > self.max_images:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipe(**kwargs)

    def __getattr__(self, name):
        return getattr(self.pipe, name)


async def submit_together(engine: Engine, jobs):
    """Submit jobs before the scheduler looks, so that it can fuse them."""
    futures = [engine.submit(job) for job in jobs]
    return await asyncio.gather(*futures, return_exceptions=True)


async def test_out_of_memory_retries_in_smaller_calls(sd_model):
    jobs = [spec(1, owner=1), spec(2, owner=2)]
    async with Engine(sd_model, batching=False) as engine:
        expected = [(await engine.submit(job)).images for job in jobs]
    flaky = FlakyPipeline(sd_model.text2img, max_images=2)
    model = dataclasses.replace(sd_model, text2img=flaky)
    async with Engine(model, max_batch_images=8) as engine:
        outputs = await submit_together(engine, jobs)
    assert flaky.calls[0] == 8  # both grids fused, out of memory
    assert flaky.calls[1:] == [2, 2, 2, 2]  # then each job alone, its images in halves
    for output, images in zip(outputs, expected, strict=True):
        assert_same_images(output.images, images)


async def test_out_of_memory_twice_fails_the_job_and_the_worker_goes_on(sd_model):
    flaky = FlakyPipeline(sd_model.text2img, max_images=1)
    model = dataclasses.replace(sd_model, text2img=flaky)
    async with Engine(model) as engine:
        with pytest.raises(torch.OutOfMemoryError):
            await engine.submit(spec(1))
        single = await engine.submit(spec(2, num_images=1))
        assert len(single.images) == 1


async def test_a_failing_job_in_a_fused_call_fails_alone(sd_model, tmp_path):
    source = tmp_path / "source.png"
    (await _one_image(sd_model)).save(source)
    good = spec(1, source_image=source, strength=0.5, steps=4)
    bad = spec(2, owner=2, source_image=tmp_path / "missing.png", strength=0.5, steps=4)
    async with Engine(sd_model, max_batch_images=8) as engine:
        results = await submit_together(engine, [good, bad])
    assert len(results[0].images) == 4
    assert isinstance(results[1], FileNotFoundError)


async def _one_image(model):
    async with Engine(model) as engine:
        return (await engine.submit(spec(9, num_images=1))).images[0]


async def test_cancel_one_job_of_a_fused_call(sd_model):
    gate = StepGate(at_step=1)
    async with Engine(gated(sd_model, gate), max_batch_images=8) as engine:
        first = engine.submit(spec(1, steps=3))
        second = engine.submit(spec(2, owner=2, steps=3))
        await gate.wait_reached()  # both are in one pipeline call, held at its first step
        assert engine.position(1) == engine.position(2) == 0
        assert engine.cancel(2)
        gate.open()
        with pytest.raises(JobCancelled):
            await second
        assert len((await first).images) == 4


async def test_the_next_batch_waits_on_the_worker_from_the_last_step(sd_model):
    gate = StepGate(at_step=2)  # the first job holds at its last step, before decoding
    async with Engine(gated(sd_model, gate), batching=False) as engine:
        first = engine.submit(spec(1, steps=2))
        await gate.wait_reached()
        second = engine.submit(spec(2, owner=2, steps=2))
        third = engine.submit(spec(3, owner=3, steps=2))
        # Handed over at once (the worker will find it waiting), the next in line after.
        await _until(lambda: engine.queue_length == 1)  # job 2 is on the worker's inbox
        assert engine.positions() == {1: 0, 2: 1, 3: 2}
        started = []
        second_events = asyncio.create_task(_started(second, started))
        gate.open()
        assert len((await first).images) == 4
        assert len((await second).images) == 4 and len((await third).images) == 4
        await second_events
        assert started == [2], "the worker reports a job started when it takes it up"


async def test_a_stop_gives_back_the_batch_handed_over_but_not_started(sd_model):
    gate = StepGate(at_step=2)
    engine = Engine(gated(sd_model, gate), batching=False)
    await engine.start()
    first = engine.submit(spec(1, steps=2))
    await gate.wait_reached()
    second = engine.submit(spec(2, owner=2, steps=2))
    await _until(lambda: engine.queue_length == 0)  # handed to the worker, behind job 1
    assert engine.position(2) == 1
    stopping = asyncio.create_task(engine.stop())
    await _until(second.output.done)  # the stop took the waiting batch back: then the gate
    gate.open()
    await stopping
    assert len((await first).images) == 4, "the batch in hand finishes"
    with pytest.raises(asyncio.CancelledError):
        await second  # abandoned: not run, its row stays queued for the next start


async def _started(handle, started: list[int]) -> None:
    async for update in handle.events():
        if isinstance(update, JobStarted):
            started.append(update.job_id)


async def _until(condition) -> None:
    """Let the loop run until ``condition()`` holds (turns of the loop, not time)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


PAINTS = {
    "zoom": (Paint("zoom", factor=2.0), (128, 128)),
    "custom zoom": (Paint("zoom", factor=1.3), (128, 128)),
    "pan": (Paint("pan", direction="right", base=(128, 128)), (192, 128)),
    "region": (Paint("region", cells=(5,)), (128, 128)),
}


@pytest.mark.parametrize("operation", list(PAINTS))
@pytest.mark.parametrize("family", ["sd", "sdxl"])
async def test_painting_paints_the_mask_keeps_the_rest_and_fuses(
    loaded_models, family, operation, tmp_path
):
    from engine.canvas import painting

    Image.effect_noise((256, 256), 40).convert("RGB").save(tmp_path / "upscaled.png")
    paint, (width, height) = PAINTS[operation]
    jobs = [
        spec(
            k,
            owner=k,
            steps=2,
            strength=1.0,
            width=width,
            height=height,
            source_image=tmp_path / "upscaled.png",
            paint=paint,
        )
        for k in (1, 2)
    ]
    canvas, mask = painting(jobs[0])  # what the worker paints on
    async with Engine(loaded_models[family], max_batch_images=8) as engine:
        outputs = await submit_together(engine, jobs)
        assert (engine.stats.batches, engine.stats.jobs) == (1, 2), "same-shape jobs fuse"
    m = np.asarray(mask)
    before = np.asarray(canvas, dtype=np.int16)
    assert (m == 0).any() and (m == 255).any()
    for output in outputs:
        for image in output.images:
            assert image.size == (width, height)
            result = np.asarray(image, dtype=np.int16)
            assert np.array_equal(result[m == 0], before[m == 0]), "outside the mask: the source"
            assert np.abs(result[m == 255] - before[m == 255]).mean() > 5, "the mask is painted"


async def test_a_mask_file_paints_like_a_paint(loaded_models, tmp_path):
    from engine.canvas import region

    source = Image.effect_noise((128, 128), 40).convert("RGB")
    source.save(tmp_path / "source.png")
    mask = region((128, 128), [1, 9])
    mask.save(tmp_path / "mask.png")
    job = spec(1, steps=2, source_image=tmp_path / "source.png", mask_image=tmp_path / "mask.png")
    async with Engine(loaded_models["sd"]) as engine:
        [image, *_] = (await engine.submit(job)).images
    m = np.asarray(mask)
    result, before = np.asarray(image, dtype=np.int16), np.asarray(source, dtype=np.int16)
    assert np.array_equal(result[m == 0], before[m == 0])


async def test_a_dedicated_inpainting_checkpoint_runs_every_kind_of_job(tmp_path):
    """A 9-channel inpainting checkpoint as MODEL_ID (loaded through the real path):
    text-to-image and variations through its inpainting pipeline with a mask over the
    whole image; zoom, pan and region as for any model."""
    from devtools.tiny import write_tiny_model
    from engine.canvas import painting
    from engine.model import load_model

    model = load_model(str(write_tiny_model(tmp_path / "inpaint", inpainting=True)), "cpu")
    assert model.masked_input and model.inpaint.unet.config.in_channels == 9
    assert type(model.inpaint).__name__ == "StableDiffusionInpaintPipeline"
    Image.effect_noise((256, 256), 40).convert("RGB").save(tmp_path / "source.png")
    source = tmp_path / "source.png"
    zoom = spec(3, source_image=source, strength=1.0, paint=Paint("zoom", factor=2.0))
    jobs = [spec(1), spec(2, source_image=source, strength=0.7), zoom]
    async with Engine(model) as engine:
        outputs = [await engine.submit(job) for job in jobs]
    for output in outputs:
        assert [image.size for image in output.images] == [(128, 128)] * 4
        assert len({image.tobytes() for image in output.images}) == 4, "four seeds, four images"
    canvas, mask = painting(zoom)
    m = np.asarray(mask)
    result = np.asarray(outputs[2].images[0], dtype=np.int16)
    assert np.array_equal(result[m == 0], np.asarray(canvas, dtype=np.int16)[m == 0])


async def test_relax_work_is_not_handed_ahead_of_a_fast_job_that_comes_meanwhile(sd_model):
    """While a fast call decodes, the next batch is handed to the worker ahead of time;
    a relax job is not (it waits for an idle worker), so a fast job submitted while the
    call is at its last step still runs before it."""
    gate = StepGate(at_step=2)  # the last step of a 2-step call: its ending is signalled
    order: list[int] = []
    async with Engine(gated(sd_model, gate), max_batch_images=4) as engine:

        async def run(job: JobSpec) -> None:
            await engine.submit(job)
            order.append(job.job_id)

        first = asyncio.create_task(run(spec(1, owner=1, steps=2)))
        await gate.wait_reached()  # job 1 at its last step: the scheduler looks for the next
        relax = asyncio.create_task(run(spec(2, owner=2, steps=2, relax=True)))
        await asyncio.sleep(0)  # the scheduler sees the relax job alone
        assert engine.position(2) == 1, "waiting, not handed to the worker"
        fast = asyncio.create_task(run(spec(3, owner=3, steps=2)))
        gate.open()
        await asyncio.gather(first, relax, fast)
    assert order == [1, 3, 2]
