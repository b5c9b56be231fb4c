"""A JobSpec the pipeline could not run is refused when it is made, with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.types import JobSpec, Paint


def spec(**overrides) -> JobSpec:
    fields = {
        "job_id": 7,
        "prompt": "a fox",
        "negative": "",
        "width": 128,
        "height": 96,
        "steps": 4,
        "guidance": 7.0,
        "seed": 1,
    }
    fields.update(overrides)
    return JobSpec(**fields)


def test_a_runnable_spec_is_accepted():
    assert spec().seeds == [1, 2, 3, 4]
    image_to_image = spec(source_image=Path("1.png"), strength=0.25)
    assert image_to_image.denoising_steps == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"width": 100}, "width must be a multiple of 8"),
        ({"height": 0}, "height must be a multiple of 8"),
        ({"width": 128.0}, "width must be a multiple of 8"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"guidance": float("nan")}, "guidance must be a finite number"),
        ({"guidance": -1.0}, "guidance must be a finite number"),
        ({"seed": 2**32}, "seed must be in 0..2\\*\\*32-1"),
        ({"seed": -1}, "seed must be in"),
        ({"num_images": 0}, "num_images must be at least 1"),
        ({"source_image": Path("1.png"), "strength": 1.5}, "strength must be in"),
        ({"source_image": Path("1.png"), "strength": 0.1}, "no step would run"),
    ],
)
def test_a_spec_the_pipeline_cannot_run_is_refused(overrides, message):
    with pytest.raises(ValueError, match=rf"job 7: .*{message}"):
        spec(**overrides)


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError, match=r"width must .*; steps must"):
        spec(width=100, steps=0)


@pytest.mark.parametrize(
    ("paint", "message"),
    [
        (Paint("spin"), "paint kind"),
        (Paint("zoom", factor=2.5), "zoom factor must be from 1.0 to 2.0"),
        (Paint("zoom", factor=0.9), "zoom factor"),
        (Paint("pan", direction="north"), "pan direction"),
        (Paint("region"), "region cells"),
        (Paint("region", cells=(0, 3)), "region cells"),
    ],
)
def test_a_paint_is_checked_with_the_spec(paint, message):
    with pytest.raises(ValueError, match=message):
        spec(source_image=Path("s.png"), paint=paint)


def test_a_paint_or_mask_needs_a_source():
    with pytest.raises(ValueError, match="needs a source image"):
        spec(paint=Paint("zoom"))
    with pytest.raises(ValueError, match="needs a source image"):
        spec(mask_image=Path("m.png"))
