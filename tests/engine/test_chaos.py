"""``--chaos``: large shapes mixed into each image's starting noise (engine.chaos), through
the worker on the tiny SD pipeline: the same seed differs with chaos, a seed and chaos
give the same images alone or fused, and chaos and plain jobs never share a call."""

from __future__ import annotations

import asyncio

import numpy as np
import torch
import torch.nn.functional as F

from engine import Engine, JobSpec
from engine.chaos import chaos_latents
from tests.gates import held_worker


def spec(job_id: int, chaos: int, seed: int = 7, owner: int = 1) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        prompt="a harbour at dawn",
        negative="",
        width=128,
        height=128,
        steps=2,
        guidance=7.0,
        seed=seed,
        owner=owner,
        chaos=chaos,
    )


def low_share(latents: torch.Tensor) -> float:
    """The share of the latents' variance in their large shapes (an 8x smaller grid)."""
    coarse = F.avg_pool2d(latents, 8)
    return float(coarse.var() / latents.var())


def test_chaos_noise_stays_unit_noise_with_more_of_it_in_large_shapes():
    shape = (4, 64, 64)
    plain = chaos_latents([1, 2, 3, 4], 1, shape)
    wild = chaos_latents([1, 2, 3, 4], 100, shape)
    assert plain.shape == wild.shape == (4, *shape)
    assert abs(float(wild.std()) - 1) < 0.05 and abs(float(wild.mean())) < 0.05
    assert low_share(wild) > 10 * low_share(plain)  # the large shapes carry it
    assert torch.equal(chaos_latents([5], 40, shape), chaos_latents([5], 40, shape))
    assert not torch.equal(chaos_latents([5], 40, shape), chaos_latents([6], 40, shape))


def same(a: list, b: list) -> bool:
    return all(
        np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)).max() <= 2.0
        for x, y in zip(a, b, strict=True)
    )


async def test_chaos_changes_the_images_alike_alone_or_fused_and_never_fuses_with_plain(sd_model):
    async with Engine(sd_model, batching=False) as engine:
        plain = (await engine.submit(spec(1, 0))).images
        wild = (await engine.submit(spec(2, 60))).images
        again = (await engine.submit(spec(3, 60))).images
        other = (await engine.submit(spec(4, 60, seed=99, owner=2))).images
    assert not same(plain, wild) and same(wild, again)
    calls: list[list[int]] = []

    class Recorder:
        def before_batch(self, items) -> None:
            calls.append([item.spec.job_id for item in items])

        def after_step(self, step: int) -> None:
            pass

    engine = Engine(sd_model, max_batch_images=16, hooks=Recorder())
    async with engine:
        async with held_worker(engine):
            handles = [
                engine.submit(spec(5, 60)),
                engine.submit(spec(6, 0, owner=2)),
                engine.submit(spec(7, 60, seed=99, owner=3)),
            ]
        fused = await asyncio.gather(*handles)
    assert calls == [[5, 7], [6]]  # the chaos jobs share a call, the plain one does not
    assert same(fused[0].images, wild) and same(fused[2].images, other)
    assert same(fused[1].images, plain)
