"""The grid and PNG encoding: reading order, recipe text, fitting the upload limit."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from engine.images import compose_grid, encode_png, fit_png, to_pil_images


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


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_the_pipelines_tensor_becomes_the_images_diffusers_would_make(dtype):
    import numpy as np
    import torch
    from diffusers.image_processor import VaeImageProcessor

    generator = torch.Generator().manual_seed(3)
    tensor = torch.rand(2, 3, 24, 40, generator=generator).to(getattr(torch, dtype))
    # Exact ties and the ends: x * 255 of 0.5/255 and 2.5/255 rounds to even, as numpy does.
    tensor[0, :, 0, :4] = torch.tensor([0.0, 1.0, 0.5 / 255, 2.5 / 255]).to(tensor.dtype)
    expected = VaeImageProcessor.numpy_to_pil(VaeImageProcessor.pt_to_numpy(tensor.clone()))
    images = to_pil_images(tensor)
    assert [image.size for image in images] == [(40, 24)] * 2
    assert all(image.mode == "RGB" for image in images)
    for made, wanted in zip(images, expected, strict=True):
        assert np.array_equal(np.asarray(made), np.asarray(wanted))
