"""Telling a blurred picture from a clear one, in tests of the NSFW filter."""

from __future__ import annotations

import numpy as np
from PIL import Image


def roughness(image: Image.Image) -> float:
    """The mean difference between neighbouring pixels (0 to 255): what a heavy blur
    takes away."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    across = np.abs(np.diff(pixels, axis=1)).mean()
    down = np.abs(np.diff(pixels, axis=0)).mean()
    return float((across + down) / 2)


def difference(a: Image.Image, b: Image.Image) -> float:
    """The mean difference between two pictures of one size (0 to 255)."""
    assert a.size == b.size, (a.size, b.size)
    first = np.asarray(a.convert("RGB"), dtype=np.float32)
    return float(np.abs(first - np.asarray(b.convert("RGB"), dtype=np.float32)).mean())
