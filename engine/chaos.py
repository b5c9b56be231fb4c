"""``--chaos``: how different a grid's four images are from each other.

At 0 the four images differ by their seeds only: each starts from its own white noise,
and a model draws most of them with the layout and palette it likes best for the prompt.
Chaos mixes large shapes into each image's starting noise (a coarse noise field, an
eighth of the latents' size, smoothly enlarged): the noise stays noise to the model (unit
variance per channel), but its low frequencies, which settle composition and colour in
the first steps, differ far more from one image to the next. At 100, 3/4 of each image's
starting noise is its own large shapes.

It changes the starting latents only, so jobs of one chaos still share a call (each image
draws its own field from its own seed); it applies to text-to-image on a UNet's latents
(batch, channels, height, width). Seeded on the CPU, as the worker's generators are: a
seed and chaos give the same image on every device.
"""

from __future__ import annotations

import math
from typing import Any

MAX_MIX = 0.75  # the share of the starting noise's variance that is large shapes at 100


def chaos_latents(
    seeds: list[int], chaos: int, shape: tuple[int, int, int], dtype: Any = None
) -> Any:
    """The starting latents of one image per seed (``shape``: channels, height, width of
    the latents), with ``chaos`` (1..100) of large shapes mixed in."""
    import torch
    import torch.nn.functional as F

    channels, height, width = shape
    mix = MAX_MIX * chaos / 100
    coarse = (max(1, height // 8), max(1, width // 8))
    latents = []
    for seed in seeds:
        generator = torch.Generator("cpu").manual_seed(seed)
        fine = torch.randn((1, channels, height, width), generator=generator)
        field = torch.randn((1, channels, *coarse), generator=generator)
        field = F.interpolate(field, size=(height, width), mode="bicubic", align_corners=False)
        field = (field - field.mean(dim=(2, 3), keepdim=True)) / (
            field.std(dim=(2, 3), keepdim=True) + 1e-6
        )
        latents.append(math.sqrt(1 - mix) * fine + math.sqrt(mix) * field)
    result = torch.cat(latents)
    return result if dtype is None else result.to(dtype)


def chaos_arguments(model: Any, spec: Any, seeds: list[int]) -> dict[str, Any]:
    """The starting ``latents`` of a text-to-image call with chaos (none without, or
    for image-to-image and inpainting: their noise is added to the source)."""
    if not spec.chaos or spec.source_image is not None or model.masked_input:
        return {}
    pipe = model.text2img
    if getattr(pipe, "unet", None) is None:  # a UNet's latents: (batch, channels, h, w)
        raise ValueError(f"{model.defaults.family} takes no --chaos")
    scale = int(pipe.vae_scale_factor)
    shape = (int(pipe.unet.config.in_channels), spec.height // scale, spec.width // scale)
    return {"latents": chaos_latents(seeds, spec.chaos, shape, model.dtype)}
