"""``--tile``: seamless images through circular padding, for one pipeline call.

Every 2-D convolution of the UNet and of the VAE decoder pads its input by wrapping
around (``padding_mode="circular"``) instead of with zeros, so the image's right edge
continues into its left and its bottom into its top: it tiles without a seam. The modes
are set on the worker thread right before the call and restored right after it (also
when it fails), so the next call, which may be an untiled job, runs as if this one had
never happened. Components are shared with the image-to-image and inpainting twins
(``from_pipe``), so one switch covers all three pipelines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

CIRCULAR = "circular"


def tiled_convolutions(pipeline: Any) -> list[Any]:
    """The convolutions ``--tile`` switches: the UNet's and the VAE decoder's that pad."""
    import torch

    vae = getattr(pipeline, "vae", None)
    parts = [getattr(pipeline, "unet", None), getattr(vae, "decoder", None)]
    return [
        module
        for part in parts
        if part is not None
        for module in part.modules()
        # What the convolution pads by, on each side (a 1x1 convolution pads nothing).
        if isinstance(module, torch.nn.Conv2d) and any(module._reversed_padding_repeated_twice)
    ]


@contextlib.contextmanager
def tiling(pipeline: Any, enabled: bool) -> Iterator[None]:
    """Within the block, the pipeline's convolutions pad circularly (when ``enabled``)."""
    if not enabled:
        yield
        return
    convolutions = tiled_convolutions(pipeline)
    before = [conv.padding_mode for conv in convolutions]
    try:
        for conv in convolutions:
            conv.padding_mode = CIRCULAR
        yield
    finally:
        for conv, mode in zip(convolutions, before, strict=True):
            conv.padding_mode = mode
