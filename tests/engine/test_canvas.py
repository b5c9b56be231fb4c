"""Canvases and masks for zoom, pan and a region: sizes, where the source lands, what
is painted and what is kept."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.canvas import FEATHER, keep_outside, pan, pan_size, region, zoom_out


def drawing(size: tuple[int, int] = (128, 96)) -> Image.Image:
    """Shapes on a coloured background: every part of it is easy to tell apart."""
    image = Image.new("RGB", size, (40, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 10, 60, 60), fill=(240, 200, 30))
    draw.rectangle((70, 40, 120, 90), fill=(200, 30, 60))
    draw.line((0, 95, 127, 0), fill=(255, 255, 255), width=3)
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize("factor", [2.0, 1.5])
def test_zoom_out_keeps_the_size_and_puts_the_shrunk_source_in_the_middle(factor):
    upscaled = drawing((256, 192))
    canvas, mask = zoom_out(upscaled, (128, 96), factor)
    assert canvas.size == mask.size == (128, 96), "zooming out does not grow the output"
    inner = (round(128 / factor), round(96 / factor))
    left, top = (128 - inner[0]) // 2, (96 - inner[1]) // 2
    shrunk = upscaled.resize(inner, Image.Resampling.LANCZOS)
    middle = canvas.crop((left, top, left + inner[0], top + inner[1]))
    assert np.array_equal(pixels(middle), pixels(shrunk))
    m = np.asarray(mask)
    assert (m[0, :] == 255).all() and (m[:, 0] == 255).all(), "the border is painted"
    core = m[top + FEATHER : top + inner[1] - FEATHER, left + FEATHER : left + inner[0] - FEATHER]
    assert core.size and (core == 0).all(), "the middle is kept, past the feather"
    feather = m[top + 1 : top + inner[1] - 1, left + 1]
    assert 0 < feather.max() < 255, "the edge fades into the kept part"


@pytest.mark.parametrize("factor", [1.0, 1.5])
def test_a_zoom_to_another_shape_fits_the_whole_source_and_keeps_its_shape(factor):
    """Custom Zoom with another --ar: a 4:3 image on a square canvas."""
    upscaled = drawing((256, 192))
    canvas, mask = zoom_out(upscaled, (128, 128), factor)
    assert canvas.size == mask.size == (128, 128)
    inner = (round(128 / factor), round(96 / factor))  # fitted by width, then shrunk
    left, top = (128 - inner[0]) // 2, (128 - inner[1]) // 2
    middle = canvas.crop((left, top, left + inner[0], top + inner[1]))
    assert np.array_equal(pixels(middle), pixels(upscaled.resize(inner, Image.Resampling.LANCZOS)))
    m = np.asarray(mask)
    assert (m[0, :] == 255).all() and (m[-1, :] == 255).all(), "the new top and bottom"
    assert (m[64, left + FEATHER : left + inner[0] - FEATHER] == 0).all(), "the image is kept"


def test_zoom_out_refuses_a_factor_out_of_range():
    with pytest.raises(ValueError, match="zoom factor"):
        zoom_out(drawing(), (128, 96), 0.5)


@pytest.mark.parametrize(
    ("direction", "size", "at"),
    [
        ("left", (192, 96), (64, 0)),
        ("right", (192, 96), (0, 0)),
        ("up", (128, 144), (0, 48)),
        ("down", (128, 144), (0, 0)),
    ],
)
def test_pan_adds_half_a_side_and_keeps_the_old_pixels(direction, size, at):
    base = (128, 96)
    upscaled = drawing((256, 192))
    assert pan_size(base, direction) == size
    canvas, mask = pan(upscaled, base, direction)
    assert canvas.size == mask.size == size
    old = upscaled.resize(base, Image.Resampling.LANCZOS)
    placed = canvas.crop((*at, at[0] + base[0], at[1] + base[1]))
    assert np.array_equal(pixels(placed), pixels(old)), "the old pixels stay where they were"
    m = np.asarray(mask)
    painted = (m == 255).sum()
    strip = size[0] * size[1] - base[0] * base[1]
    assert strip <= painted < strip + FEATHER * max(base), "only the new strip is painted"


def test_a_region_paints_only_its_cells():
    m = np.asarray(region((96, 96), [1, 5]))
    assert (m[: 32 - FEATHER, : 32 - FEATHER] == 255).all(), "cell 1 (top left)"
    assert (m[32:64, 32:64] == 255).all(), "cell 5 (the middle)"
    for top, left in ((0, 64), (64, 0), (64, 64)):  # cells 3, 7, 9
        assert (m[top + FEATHER : top + 32, left + FEATHER : left + 32] == 0).all()
    with pytest.raises(ValueError, match="cells"):
        region((96, 96), [0])
    with pytest.raises(ValueError, match="cells"):
        region((96, 96), [])


def test_keep_outside_takes_the_source_exactly_where_the_mask_is_zero():
    source = drawing()
    mask = region(source.size, [9])
    painted = Image.new("RGB", source.size, (0, 255, 0))
    result = keep_outside(painted, source, mask)
    m = np.asarray(mask)
    assert np.array_equal(pixels(result)[m == 0], pixels(source)[m == 0])
    assert np.array_equal(pixels(result)[m == 255], pixels(painted)[m == 255])


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_a_pan_keeps_its_source_at_the_base_size_it_carries(tmp_path, direction):
    """A pan's paint carries the size its source keeps (the grid it came from), so the
    canvas is never read backwards into a base size."""
    from engine.canvas import painting
    from engine.types import JobSpec, Paint

    base = (96, 64)
    size = pan_size(base, direction)
    path = tmp_path / "source.png"
    Image.new("RGB", (300, 200), "red").save(path)
    spec = JobSpec(
        job_id=1,
        prompt="p",
        negative="",
        width=size[0],
        height=size[1],
        steps=1,
        guidance=0.0,
        seed=1,
        source_image=path,
        paint=Paint("pan", direction=direction, base=base),
    )
    canvas, mask = painting(spec)
    assert canvas.size == mask.size == size
    kept = np.asarray(mask) == 0
    assert kept.sum() > 0 and (np.asarray(mask) == 255).sum() > 0
    # What is kept is the source, scaled to the base size: all red.
    assert np.all(pixels(canvas)[kept] == (255, 0, 0))
