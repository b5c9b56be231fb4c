"""A job's recipe (core/recipes.py): one typed value per kind, checked when made, stored as
JSON with a kind tag, and the engine's paint derived from it."""

from __future__ import annotations

import json

import pytest

from core.model import JobKind, JobParams
from core.recipes import (
    KINDS,
    ImagePrompt,
    ImageRef,
    Imagine,
    Pan,
    RecipeError,
    Region,
    Reroll,
    Upscale,
    Variation,
    ZoomOut,
    from_json,
    made,
    paint,
    starts_from,
    to_json,
)
from engine.types import MAX_ZOOM, Paint

SOURCE = ImageRef(7, 2)
EVERY_KIND = [
    Imagine(),
    Imagine(ImagePrompt(0.5)),
    Imagine(ImagePrompt(2.0, job=3)),
    Variation(SOURCE, "subtle"),
    Upscale(SOURCE, (192, 128), "creative"),
    ZoomOut(SOURCE, 1.5),
    Pan(SOURCE, "up", (192, 128)),
    Region(SOURCE, (1, 5, 9)),
    Reroll(Region(SOURCE, (3,))),
    Reroll(Imagine(ImagePrompt(1.0, job=3))),
]


@pytest.mark.parametrize("recipe", EVERY_KIND, ids=repr)
def test_every_recipe_reads_back_from_its_json(recipe):
    text = to_json(recipe)
    assert json.loads(text)["kind"] == recipe.KIND
    assert from_json(text) == recipe


def test_the_kinds_are_the_job_kinds():
    """One vocabulary: the recipe's tag is the kind the jobs table and the bot show."""
    assert set(KINDS) == {kind.value for kind in JobKind}


@pytest.mark.parametrize(
    "make",
    [
        lambda: ImageRef(0, 1),
        lambda: ImageRef(7, 5),
        lambda: ImagePrompt(2.5),
        lambda: Variation(SOURCE, "wild"),  # type: ignore[arg-type]
        lambda: Upscale(SOURCE, (100, 128)),
        lambda: ZoomOut(SOURCE, MAX_ZOOM + 0.5),
        lambda: ZoomOut(SOURCE, 0.5),
        lambda: Pan(SOURCE, "sideways", (64, 64)),  # type: ignore[arg-type]
        lambda: Region(SOURCE, ()),
        lambda: Region(SOURCE, (10,)),
        lambda: Region(SOURCE, (5, 1)),
        lambda: Reroll(Reroll(Imagine())),  # type: ignore[arg-type]
        lambda: Reroll(Upscale(SOURCE, (64, 64))),  # type: ignore[arg-type]
    ],
)
def test_a_recipe_that_cannot_be_made_is_refused_when_made(make):
    with pytest.raises(RecipeError):
        make()


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "painting"}',
        '{"kind": "zoom", "source": {"job": 1, "index": 1}, "factor": 9}',
        '{"kind": "zoom", "factor": 2}',
        '{"kind": "region", "source": {"job": 1, "index": 1}, "cells": "all"}',
        "not json",
    ],
)
def test_a_row_that_is_not_a_recipe_says_so(text):
    with pytest.raises(RecipeError):
        from_json(text)


def test_strength_paint_and_source_come_from_the_recipe_alone():
    assert [r.strength for r in EVERY_KIND[:6]] == [1.0, 0.75, 0.15, 0.35, 0.4, 1.0]
    assert paint(Imagine()) is None and paint(Variation(SOURCE)) is None
    assert paint(ZoomOut(SOURCE, 1.5)) == Paint("zoom", factor=1.5)
    assert paint(Pan(SOURCE, "left", (64, 96))) == Paint("pan", direction="left", base=(64, 96))
    # A reroll paints what the recipe it makes again paints, from the same image.
    again = Reroll(Region(SOURCE, (2, 4)))
    assert paint(again) == Paint("region", cells=(2, 4)) and made(again) == again.again
    assert starts_from(again) == SOURCE and again.strength == 1.0
    assert starts_from(Imagine()) is None
    assert starts_from(Reroll(Imagine(ImagePrompt(1.0, 3)))) == ImagePrompt(1.0, 3)


def test_params_read_back_from_their_json_zero_guidance_included():
    """Turbo models draw at guidance 0: a zero is a value, not a field left out."""
    turbo = JobParams(width=512, height=512, steps=1, guidance=0.0, model="turbo")
    assert JobParams.from_json(turbo.to_json()) == turbo
    tiled = turbo.but(tile=True, aspect="1:1", negative_from=3)
    assert JobParams.from_json(tiled.to_json()) == tiled
    assert "tile" not in json.loads(turbo.to_json())
