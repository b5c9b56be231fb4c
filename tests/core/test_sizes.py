"""Aspect ratios to sizes: multiples of 64 near the model's native pixel count."""

from __future__ import annotations

import pytest

from core.sizes import size_for_aspect


@pytest.mark.parametrize(
    ("aspect", "native", "expected"),
    [
        ((1, 1), 1024, (1024, 1024)),
        ((3, 2), 1024, (1344, 896)),
        ((16, 9), 1024, (1344, 768)),
        ((1, 4), 1024, (512, 2048)),
        ((1, 1), 512, (512, 512)),
        ((3, 2), 128, (192, 128)),
        ((2, 3), 128, (128, 192)),
    ],
)
def test_sizes_are_multiples_of_64_near_the_native_pixel_count(aspect, native, expected):
    width, height = size_for_aspect(*aspect, native)
    assert (width, height) == expected


@pytest.mark.parametrize("aspect", [(1, 1), (3, 2), (16, 9), (4, 1), (1, 4), (7, 5), (21, 9)])
def test_sizes_keep_the_ratio_and_pixel_count(aspect):
    width, height = size_for_aspect(*aspect, 1024)
    assert width % 64 == 0 and height % 64 == 0
    assert abs((width / height) / (aspect[0] / aspect[1]) - 1) < 0.05
    assert 0.6 <= width * height / 1024**2 <= 1.6
