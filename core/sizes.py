"""Output sizes from an aspect ratio and the model's native pixel count."""

from __future__ import annotations

import math

SIDE_MULTIPLE = 64
# A ratio this close (relative) counts as the asked one, so sizes stay near the native
# pixel count (16:9 on SDXL is 1344x768, as the model was trained).
RATIO_TOLERANCE = 0.02
AREA_BAND = (0.6, 1.6)


def size_for_aspect(aspect_w: int, aspect_h: int, native: int) -> tuple[int, int]:
    """Width and height, multiples of 64, for ``aspect_w:aspect_h`` near ``native``² pixels.

    Among the sizes whose pixel count lies within ``AREA_BAND`` of the native one, those
    whose ratio is within ``RATIO_TOLERANCE`` of the asked ratio win, and of them the one
    nearest the native pixel count; when none is that close, the closest ratio wins.
    """
    if aspect_w <= 0 or aspect_h <= 0:
        raise ValueError("aspect ratio sides must be positive")
    target = aspect_w / aspect_h
    area = native * native
    max_side = max(SIDE_MULTIPLE, int(native * 4))
    candidates: list[tuple[float, float, int, int]] = []
    for w in range(SIDE_MULTIPLE, max_side + 1, SIDE_MULTIPLE):
        for h in range(SIDE_MULTIPLE, max_side + 1, SIDE_MULTIPLE):
            ratio_error = abs(math.log((w / h) / target))
            area_error = abs(math.log(w * h / area))
            if AREA_BAND[0] <= w * h / area <= AREA_BAND[1]:
                candidates.append((ratio_error, area_error, w, h))
    close = [c for c in candidates if c[0] <= math.log1p(RATIO_TOLERANCE)]
    if close:
        best = min(close, key=lambda c: (c[1], c[0]))
    else:
        best = min(candidates, key=lambda c: (c[0], c[1]))
    return best[2], best[3]
