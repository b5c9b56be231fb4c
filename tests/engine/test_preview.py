"""Previews while a job runs (engine/preview.py): latents projected to a small RGB image
with each VAE family's factors."""

from __future__ import annotations

import pytest
import torch

from engine.preview import latents_to_preview


@pytest.mark.parametrize(
    ("shape", "max_side", "size"),
    [((4, 8, 12), 256, (256, 171)), ((4, 12, 8), 64, (43, 64)), ((4, 64, 64), 32, (32, 32))],
)
def test_the_preview_is_rgb_with_its_longest_side_at_max_side(shape, max_side, size):
    image = latents_to_preview(torch.zeros(shape), "sd", max_side=max_side)
    assert image.mode == "RGB" and image.size == size


def test_zero_latents_show_each_familys_bias():
    sd = latents_to_preview(torch.zeros(4, 8, 8), "sd")
    xl = latents_to_preview(torch.zeros(4, 8, 8), "sdxl")
    assert sd.getpixel((10, 10)) == (127, 127, 127)  # (0 + 1) * 127.5, no bias
    assert xl.getpixel((10, 10)) == (141, 125, 127)  # SDXL's bias, from 127.5
    assert latents_to_preview(torch.zeros(4, 8, 8), "sdxl-turbo").getpixel((0, 0)) == (
        141,
        125,
        127,
    )


def test_each_channel_is_projected_by_its_factors():
    latents = torch.zeros(4, 8, 8)
    latents[0] = 1.0  # SD's first channel: (0.3512, 0.2297, 0.3227)
    assert latents_to_preview(latents, "sd").getpixel((5, 5)) == (172, 156, 168)
    latents[0] = 10.0  # far out of range: clamped, not wrapped
    assert latents_to_preview(latents, "sd").getpixel((5, 5)) == (255, 255, 255)
    latents[0], latents[3] = 0.0, 10.0  # (-0.2120, -0.2616, -0.7177) each
    assert latents_to_preview(latents, "sd").getpixel((5, 5)) == (0, 0, 0)


def test_only_the_first_four_channels_count_and_any_dtype_is_read():
    latents = torch.zeros(16, 8, 8, dtype=torch.float16)
    latents[4:] = 9.0
    assert latents_to_preview(latents, "sd").getpixel((0, 0)) == (127, 127, 127)
