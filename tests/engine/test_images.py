"""The grid and PNG encoding: reading order, recipe text, fitting the upload limit."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from engine.images import compose_grid, encode_png, fit_png


def test_grid_places_images_in_reading_order():
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    grid = compose_grid([Image.new("RGB", (30, 20), c) for c in colors])
    assert grid.size == (60, 40)
    assert [grid.getpixel(p) for p in [(5, 5), (35, 5), (5, 25), (35, 25)]] == colors
    with pytest.raises(ValueError, match="4 images"):
        compose_grid([Image.new("RGB", (2, 2))] * 3)


def test_png_text_round_trips_and_fitting_scales_down():
    noise = Image.effect_noise((512, 512), 80).convert("RGB")
    data = encode_png(noise, {"prompt": "a fox", "negative": "ünïcode"})
    with Image.open(io.BytesIO(data)) as image:
        assert image.text == {"prompt": "a fox", "negative": "ünïcode"}
    fitted = fit_png(noise, len(data) // 3, {"prompt": "a fox"})
    assert len(fitted) <= len(data) // 3
    with Image.open(io.BytesIO(fitted)) as image:
        assert image.width < 512 and image.text["prompt"] == "a fox"
    assert fit_png(noise, len(data) + 1) == encode_png(noise)
