"""The fast PNG encoder: a grid and its four images from one compression pass, read back
byte for byte, with the recipe's text chunks exactly as Pillow reads them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from devtools.output_bench import synthetic_outputs, to_images
from engine import encode_png
from engine.png import encode_grid, encode_png_array


def pixels(seed: int, side: int = 96) -> list[np.ndarray]:
    return [np.asarray(image) for image in to_images(synthetic_outputs(seed, side=side))]


def read(data: bytes) -> tuple[np.ndarray, dict]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"
        return np.asarray(image), dict(image.text)


@pytest.mark.parametrize("side", [8, 96, 200])
def test_the_grid_and_its_images_read_back_exactly(side):
    images = pixels(side, side)
    texts = [{"prompt": "a fox", "seed": str(k), "parameters": "a fox\nSteps: 4"} for k in range(4)]
    grid, pngs = encode_grid(images, {"prompt": "a fox", "job": "7"}, texts)
    decoded, text = read(grid)
    expected = np.vstack((np.hstack(images[:2]), np.hstack(images[2:])))
    assert np.array_equal(decoded, expected)
    assert text == {"prompt": "a fox", "job": "7"}
    for image, data, recipe in zip(images, pngs, texts, strict=True):
        decoded, text = read(data)
        assert np.array_equal(decoded, image)
        assert text == recipe


def test_text_outside_latin1_and_single_images():
    image = pixels(3)[0]
    recipe = {"prompt": "un renard 🦊 dans la neige", "negative": "flou", "Software": "imaginebot"}
    decoded, text = read(encode_png_array(image, recipe))
    assert np.array_equal(decoded, image) and text == recipe
    # encode_png takes PIL images: RGB through the fast path, other modes through Pillow.
    for mode in ("RGB", "L", "RGBA"):
        picture = Image.fromarray(image).convert(mode)
        with Image.open(io.BytesIO(encode_png(picture, {"k": "v"}))) as back:
            assert back.mode == mode and back.text == {"k": "v"}
            assert np.array_equal(np.asarray(back), np.asarray(picture))


def test_compressed_files_are_about_the_size_of_pillows_level_6_and_stored_ones_raw():
    images = pixels(5, 256)
    out = io.BytesIO()
    Image.fromarray(images[0]).save(out, "PNG", compress_level=6)
    assert len(encode_png_array(images[0])) < 1.2 * len(out.getvalue())
    grid, pngs = encode_grid(images, None, [None] * 4)
    raw = 256 * (256 * 3 + 1)  # the rows, each led by its filter byte
    assert all(raw < len(png) < raw + 1024 for png in pngs), "stored: the size it costs"
    assert len(grid) < 4 * 1.2 * len(out.getvalue())


def test_a_grid_needs_four_images_of_one_size():
    images = pixels(1)
    with pytest.raises(ValueError, match="four images"):
        encode_grid(images[:3], None, [None] * 3)
    with pytest.raises(ValueError, match="one size"):
        encode_grid([*images[:3], images[3][:50]], None, [None] * 4)


def test_without_isal_the_standard_zlib_writes_the_same_pixels(monkeypatch):
    import importlib.util
    import sys

    from engine import png

    image = pixels(6, 128)[0]
    fast = png.encode_png_array(image, {"k": "v"})
    # A second copy of the module, loaded where ``isal`` cannot be imported (a platform
    # with no wheel): the product's own fallback, nothing of it replaced.
    monkeypatch.setitem(sys.modules, "isal", None)
    spec = importlib.util.spec_from_file_location("png_without_isal", png.__file__)
    assert spec is not None and spec.loader is not None
    without = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(without)
    assert without.isal_zlib is None
    plain = without.encode_png_array(image, {"k": "v"})
    assert plain != fast, "the fallback ran (a different deflate stream)"
    for data in (fast, plain):
        decoded, text = read(data)
        assert np.array_equal(decoded, image) and text == {"k": "v"}


def test_a_flat_background_costs_almost_nothing():
    image = pixels(7, 256)[0].copy()
    image[:, :128] = (250, 250, 248)  # half the picture a studio backdrop
    half = image.copy()
    half[:, 128:] = (250, 250, 248)  # all of it
    photo_half, flat = len(encode_png_array(image)), len(encode_png_array(half))
    assert flat < 256 * 256 * 3 / 100, "a flat image compresses to under 1 % of its pixels"
    full = len(encode_png_array(pixels(7, 256)[0]))
    assert photo_half < 0.6 * full, "the flat half costs almost nothing"
