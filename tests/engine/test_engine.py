"""The engine on tiny sd and sdxl pipelines saved to disk and loaded back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from engine import Engine, JobCancelled, JobStarted, compose_grid
from engine.types import JobSpec, Progress
from tests.gates import StepGate, gated


def spec(job_id: int = 1, **overrides) -> JobSpec:
    fields = {
        "job_id": job_id,
        "prompt": "a fox in snow",
        "negative": "people",
        "width": 128,
        "height": 128,
        "steps": 3,
        "guidance": 7.0,
        "seed": 7,
    }
    fields.update(overrides)
    return JobSpec(**fields)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def max_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(pixels(a) - pixels(b)).max())


@pytest.fixture(params=["sd", "sdxl"])
async def engine(request, loaded_models):
    async with Engine(loaded_models[request.param], progress_interval=0.0) as running:
        yield running


async def test_loaded_models_know_their_family(loaded_models):
    sd, sdxl = loaded_models["sd"], loaded_models["sdxl"]
    assert type(sd.text2img).__name__ == "StableDiffusionPipeline"
    assert type(sdxl.text2img).__name__ == "StableDiffusionXLPipeline"
    assert (sd.defaults.family, sd.defaults.steps, sd.defaults.guidance) == ("sd", 25, 7.0)
    assert (sdxl.defaults.family, sdxl.defaults.steps, sdxl.defaults.guidance) == ("sdxl", 30, 6.0)
    # Native size comes from the loaded UNet and VAE: 32 latent x 4.
    assert sd.defaults.native_size == sdxl.defaults.native_size == 128
    # Image-to-image shares every module with text-to-image (no copy).
    assert sd.img2img.unet is sd.text2img.unet and sd.img2img.vae is sd.text2img.vae
    assert sd.device == "cpu" and str(sd.dtype) == "torch.float32"


async def test_a_job_gives_a_grid_of_four(engine):
    handle = engine.submit(spec())
    updates = [update async for update in handle.events()]
    output = await handle
    assert updates[0] == JobStarted(1)
    progress = [update for update in updates if isinstance(update, Progress)]
    assert len(output.images) == 4
    assert all(image.size == (128, 128) for image in output.images)
    assert compose_grid(output.images).size == (256, 256)
    assert [p.step for p in progress] == [1, 2, 3] and progress[-1].fraction == 1.0
    # Four different seeds give four different images.
    assert max_difference(output.images[0], output.images[1]) > 10


async def test_same_seed_same_images_and_image_k_is_seed_plus_k(engine):
    first = await engine.submit(spec(seed=100))
    again = await engine.submit(spec(job_id=2, seed=100))
    for a, b in zip(first.images, again.images, strict=True):
        assert max_difference(a, b) == 0
    for k in range(4):
        alone = await engine.submit(spec(job_id=10 + k, seed=100 + k, num_images=1))
        # Batched and single runs agree to float tolerance (at most 1/255 after rounding).
        assert max_difference(alone.images[0], first.images[k]) <= 2.0


async def test_wide_aspect_gives_wide_images(engine):
    output = await engine.submit(spec(width=192, height=128))
    assert {image.size for image in output.images} == {(192, 128)}


async def test_variation_and_upscale(engine, tmp_path):
    base = await engine.submit(spec(width=192, height=128))
    source = tmp_path / "source.png"
    base.images[2].save(source)
    variation = await engine.submit(
        spec(job_id=2, source_image=source, strength=0.7, width=192, height=128, steps=4)
    )
    assert len(variation.images) == 4
    assert {image.size for image in variation.images} == {(192, 128)}
    upscale = await engine.submit(
        spec(job_id=3, source_image=source, strength=0.5, width=384, height=256, num_images=1)
    )
    assert len(upscale.images) == 1 and upscale.images[0].size == (384, 256)
    # Image-to-image changed the picture, it did not only resize it.
    resized = base.images[2].resize((384, 256), Image.Resampling.LANCZOS)
    assert max_difference(upscale.images[0], resized) > 5


async def test_the_worker_keeps_serving_after_a_job_raises(engine, tmp_path):
    with pytest.raises(FileNotFoundError):
        await engine.submit(spec(source_image=tmp_path / "missing.png", strength=0.5))
    (tmp_path / "not-an-image.png").write_bytes(b"not a PNG")
    with pytest.raises(UnidentifiedImageError):
        await engine.submit(spec(job_id=2, source_image=tmp_path / "not-an-image.png"))
    output = await engine.submit(spec(job_id=3, steps=2))
    assert len(output.images) == 4


async def test_jobs_run_in_order_with_positions(sd_model):
    async with Engine(sd_model) as engine:
        futures = [engine.submit(spec(job_id=i, steps=2)) for i in (1, 2, 3)]
        assert [engine.position(i) for i in (1, 2, 3)] == [1, 2, 3]
        assert engine.queue_length == 3
        finished: list[int] = []
        for future in asyncio.as_completed(futures):
            finished.append((await future).job_id)
        assert finished == [1, 2, 3]
        assert engine.position(1) is None and engine.queue_length == 0


async def test_cancel_a_waiting_job_and_a_running_one(sd_model):
    gate = StepGate(at_step=2)
    async with Engine(gated(sd_model, gate), progress_interval=0) as engine:
        running = engine.submit(spec(job_id=1, steps=6))
        waiting = engine.submit(spec(job_id=2, steps=2))
        assert engine.cancel(2)
        with pytest.raises(JobCancelled):
            await waiting
        await gate.wait_reached()  # job 1 is in its pipeline call, held at step 2
        assert engine.cancel(1)
        gate.open()
        with pytest.raises(JobCancelled):
            await running
        steps = [u.step for u in [u async for u in running.events()] if isinstance(u, Progress)]
        assert steps == [1, 2]  # no step reported after the cancel
        # The call was interrupted: the worker is free for the next job at once.
        assert len((await engine.submit(spec(job_id=3, steps=2))).images) == 4
        assert not engine.cancel(99)
