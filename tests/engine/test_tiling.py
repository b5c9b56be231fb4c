"""``--tile``: circular padding on every padding convolution of the UNet and the VAE
decoder during the call, restored after it; tiled and untiled jobs never share a call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import Engine
from engine.tiling import CIRCULAR, tiled_convolutions, tiling
from engine.types import JobSpec


def spec(job_id: int, *, tile: bool, seed: int = 5, **overrides) -> JobSpec:
    fields = {
        "job_id": job_id,
        "prompt": "a seamless pattern of leaves",
        "negative": "",
        "width": 128,
        "height": 128,
        "steps": 2,
        "guidance": 7.0,
        "seed": seed,
        "tile": tile,
    }
    fields.update(overrides)
    return JobSpec(**fields)


@pytest.mark.parametrize("family", ["sd", "sdxl"])
async def test_every_convolution_pads_circularly_during_a_tiled_call_only(loaded_models, family):
    model = loaded_models[family]
    pipe = model.text2img
    convolutions = tiled_convolutions(pipe)
    unet_convs = [m for m in pipe.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convolutions) > 10
    assert {id(c) for c in unet_convs if any(c._reversed_padding_repeated_twice)} <= {
        id(c) for c in convolutions
    }
    assert any(c in convolutions for c in pipe.vae.decoder.modules())
    seen: list[set[str]] = []

    def record(module, args):
        seen.append({conv.padding_mode for conv in convolutions})

    hooks = [pipe.unet.register_forward_pre_hook(record)]
    hooks.append(pipe.vae.decoder.register_forward_pre_hook(record))
    try:
        async with Engine(model) as engine:
            alone = (await engine.submit(spec(1, tile=False))).images
            seen.clear()
            await engine.submit(spec(2, tile=True))
            assert seen and all(modes == {CIRCULAR} for modes in seen), "circular in the call"
            assert {conv.padding_mode for conv in convolutions} == {"zeros"}, "restored after"
            after = (await engine.submit(spec(3, tile=False))).images
    finally:
        for hook in hooks:
            hook.remove()
    # The untiled job after a tiled one gives exactly what it gives alone.
    assert [a.tobytes() for a in alone] == [b.tobytes() for b in after]


async def test_tiled_and_untiled_jobs_never_share_a_call(sd_model):
    async with Engine(sd_model, max_batch_images=16) as engine:
        handles = [engine.submit(spec(k, tile=k % 2 == 0, seed=k)) for k in range(1, 5)]
        outputs = [await handle for handle in handles]
        assert engine.stats.batches == 2 and engine.stats.jobs == 4
    assert all(len(output.images) == 4 for output in outputs)


def test_circular_padding_makes_the_pipeline_wrap_around(sd_model):
    """With every convolution circular, shifting the starting noise around the edge shifts
    the image the same way, pixel for pixel: what leaves on the right comes back on the
    left, so the image has no edge at all. With zero padding it does not."""
    pipe = sd_model.text2img
    scale = pipe.vae_scale_factor
    height = width = 128
    shift = 4  # latent pixels: a multiple of every downsampling of the UNet
    generator = torch.Generator("cpu").manual_seed(3)
    latents = torch.randn((1, 4, height // scale, width // scale), generator=generator)
    options = {
        "prompt": "tiles",
        "num_inference_steps": 2,
        "guidance_scale": 7.0,
        "height": height,
        "width": width,
        "output_type": "np",
    }

    def run(start: torch.Tensor) -> np.ndarray:
        return pipe(latents=start.clone(), **options).images[0]

    with tiling(pipe, True):
        tiled = run(latents)
        tiled_shifted = run(torch.roll(latents, shifts=shift, dims=-1))
    plain = run(latents)
    plain_shifted = run(torch.roll(latents, shifts=shift, dims=-1))
    rolled = np.roll(tiled, shift * scale, axis=1)
    assert np.abs(rolled - tiled_shifted).max() < 1e-3, "tiled: the image wraps around"
    seam = np.abs(np.roll(plain, shift * scale, axis=1) - plain_shifted).max()
    assert seam > 1e-2, "zero padding: the edges show"
    # And the tiled image itself: across its wrap-around edge it changes no more than
    # between any two neighbouring columns or rows, and differs from the untiled one.
    for axis in (0, 1):
        edge = np.abs(np.take(tiled, 0, axis=axis) - np.take(tiled, -1, axis=axis)).mean()
        inside = np.abs(np.diff(tiled, axis=axis)).mean()
        assert edge < 1.5 * inside
    assert np.abs(tiled - plain).max() > 1e-2
