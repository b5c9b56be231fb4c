"""The README's canvas pictures are made by the real engine from a Pillow drawing."""

from __future__ import annotations

import numpy as np
from PIL import Image

from devtools.pictures import LABEL_HEIGHT, OPERATIONS, drawing, make_pictures


def test_each_operation_gets_a_strip_of_source_mask_and_result(sd_model, tmp_path):
    written = make_pictures(sd_model, tmp_path, steps=2)
    assert [p.name for p in written] == ["source.png"] + [f"{op.slug}.png" for op in OPERATIONS]
    with Image.open(written[0]) as source:
        assert np.array_equal(np.asarray(source), np.asarray(drawing()))
    for op, path in zip(OPERATIONS, written[1:], strict=True):
        with Image.open(path) as picture:
            # Three panels at 160 px high: the source (square), the mask and the result
            # (the canvas's shape), with a title above and labels below.
            canvas_width = round(op.size[0] * 160 / op.size[1])
            assert picture.height == 160 + 2 * LABEL_HEIGHT + 8
            assert picture.width == 160 + 2 * canvas_width + 4 * 8
