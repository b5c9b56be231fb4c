"""The diffusion-transformer families (FLUX.1, SD3, Z-Image) through the engine, on tiny pipelines
loaded by the product's own path: their defaults, and text-to-image, image-to-image and
inpainting jobs with previews decoded from their latents (FLUX's unpacked first)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import torch
from PIL import Image

from engine import Engine, JobStarted
from engine.model import FLUX_DEV, FLUX_SCHNELL, SD3
from engine.preview import latents_to_preview, unpack_latents
from engine.types import JobSpec, Paint, Progress


def test_each_family_knows_its_defaults(dit_models):
    flux, sd3 = dit_models["flux"], dit_models["sd3"]
    # The tiny FLUX has no guidance embedding: [schnell]'s 4 steps and no guidance.
    assert (flux.defaults.family, flux.defaults.steps, flux.defaults.guidance) == (
        "flux-schnell",
        4,
        0.0,
    )
    assert not flux.defaults.negative and sd3.defaults.negative
    assert not flux.defaults.tile and not sd3.defaults.tile  # attention does not wrap
    assert (sd3.defaults.family, sd3.defaults.steps) == ("sd3", 28)
    z_image = dit_models["z-image"].defaults  # Z-Image-Turbo's 9 steps, no guidance
    assert (z_image.family, z_image.steps, z_image.guidance, z_image.tile) == (
        "z-image",
        9,
        0.0,
        False,
    )
    # Native sizes are the pipelines' defaults (1024 for the real ones).
    assert flux.defaults.native_size == 256 and sd3.defaults.native_size == 64
    # The T5 sequence as the reference code runs it, capped by the T5 tokenizer's own
    # limit (the tiny one reads 64 tokens); Z-Image keeps its pipeline's.
    assert (FLUX_DEV.text_tokens, FLUX_SCHNELL.text_tokens, SD3.text_tokens) == (512, 256, 256)
    assert flux.defaults.text_tokens == sd3.defaults.text_tokens == 64
    assert flux.defaults.call_arguments() == {"max_sequence_length": 64}
    assert z_image.call_arguments() == {}


async def test_every_call_of_the_family_gets_its_text_sequence(dit_models, tmp_path):
    """Text-to-image and inpainting calls alike are given the family's T5 sequence length:
    a job's images do not depend on the call it runs in."""
    model = dit_models["flux"]
    seen: list[dict] = []

    class Recording:
        def __init__(self, pipe):
            self.pipe = pipe

        def __call__(self, **kwargs):
            seen.append(kwargs)
            return self.pipe(**kwargs)

        def __getattr__(self, name):
            return getattr(self.pipe, name)

    recording = dataclasses.replace(
        model, text2img=Recording(model.text2img), inpaint=Recording(model.inpaint)
    )
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    common = {"prompt": "a fox", "negative": "", "steps": 2, "guidance": 0.0, "seed": 5}
    async with Engine(recording) as engine:
        await engine.submit(JobSpec(job_id=1, width=64, height=64, num_images=1, **common))
        zoom = Paint("zoom", factor=2.0)
        await engine.submit(
            JobSpec(job_id=2, width=64, height=64, source_image=source, paint=zoom, **common)
        )
    assert [call["max_sequence_length"] for call in seen] == [64, 64]


def test_flux_latents_unpack_to_their_image():
    channels, height, width = 16, 6, 8
    latents = torch.arange(channels * height * width, dtype=torch.float32).reshape(
        channels, height, width
    )
    # Packed as diffusers' FluxPipeline packs them (2x2 patches).
    packed = (
        latents.view(channels, height // 2, 2, width // 2, 2)
        .permute(1, 3, 0, 2, 4)
        .reshape((height // 2) * (width // 2), channels * 4)
    )
    assert torch.equal(unpack_latents(packed, height, width), latents)
    assert latents_to_preview(latents, "flux").size == (256, 192)


async def _run(model, specs: list[JobSpec]) -> tuple[list, list[Progress]]:
    progress: list[Progress] = []
    async with Engine(model, preview_interval=0.0, progress_interval=0.0) as engine:
        handles = [engine.submit(spec) for spec in specs]

        async def follow(handle):
            async for update in handle.events():
                if not isinstance(update, JobStarted):
                    progress.append(update)
            return await handle

        outputs = await asyncio.gather(*(follow(handle) for handle in handles))
    return outputs, progress


@pytest.mark.parametrize("family", ["flux", "sd3", "z-image"])
async def test_every_kind_of_job_runs_on_the_family(dit_models, family, tmp_path):
    model = dit_models[family]
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    common = {"prompt": "a fox", "negative": "", "steps": 3, "guidance": 0.0, "seed": 5}
    specs = [
        JobSpec(job_id=1, width=64, height=48, num_images=2, **common),
        JobSpec(job_id=2, width=64, height=64, source_image=source, strength=0.7, **common),
        JobSpec(
            job_id=3,
            width=64,
            height=64,
            source_image=source,
            paint=Paint("zoom", factor=2.0),
            **common,
        ),
    ]
    outputs, progress = await _run(model, specs)
    assert [[image.size for image in out.images] for out in outputs] == [
        [(64, 48)] * 2,
        [(64, 64)] * 4,
        [(64, 64)] * 4,
    ]
    # A zoom keeps its source where the mask is 0: the middle stays the source's red.
    assert outputs[2].images[0].getpixel((32, 32)) == (200, 40, 40)
    previews = [update.preview for update in progress if update.preview is not None]
    assert previews, "previews decoded from the family's latents"
    assert {update.job_id for update in progress} == {1, 2, 3}
