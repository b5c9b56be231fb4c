"""New jobs from requests (core/derive.py): the pure parts, sizes and steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.derive import scaled_size, steps_for
from engine.types import JobSpec


@pytest.mark.parametrize(
    ("steps", "strength", "expected"),
    [(4, 0.3, 4), (1, 0.3, 4), (2, 0.35, 3), (1, 0.7, 2), (30, 0.7, 30)],
)
def test_image_to_image_always_runs_at_least_one_step(steps, strength, expected):
    assert steps_for(steps, strength) == expected
    spec = JobSpec(
        job_id=1,
        prompt="p",
        negative="",
        width=64,
        height=64,
        steps=steps_for(steps, strength),
        guidance=7.0,
        seed=1,
        source_image=Path("source.png"),
        strength=strength,
    )
    assert spec.denoising_steps >= 1  # the engine's own count of the steps that run


def test_scaled_sizes_keep_the_aspect_and_the_vae_multiple():

    assert scaled_size(384, 256, 2) == (768, 512)
    assert scaled_size(384, 256, 512 / 384) == (504, 336)
    assert scaled_size(1344, 768, 2048 / 1344) == (2016, 1152)
    assert scaled_size(1344, 896, 2048 / 1344) == (2040, 1360)
    # No size keeps 1000:999 exactly: each side is rounded down on its own.
    assert scaled_size(1000, 999, 1.5) == (1496, 1496)
