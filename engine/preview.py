"""Cheap previews while a job runs: a fixed latent-to-RGB projection, no weights needed."""

from __future__ import annotations

from typing import Any

# Linear maps from the 4 latent channels to RGB, fitted for each VAE family (as used by
# the common Stable Diffusion UIs for their live previews).
SD_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SD_BIAS = (0.0, 0.0, 0.0)
SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def latents_to_preview(latents: Any, family: str, max_side: int = 256):
    """A small RGB PIL image from one image's latents (channels x height x width)."""
    import torch
    from PIL import Image

    xl = family.startswith("sdxl")
    factors = torch.tensor(SDXL_FACTORS if xl else SD_FACTORS, dtype=torch.float32)
    bias = torch.tensor(SDXL_BIAS if xl else SD_BIAS, dtype=torch.float32)
    channels = latents.detach().to("cpu", torch.float32)[:4]
    rgb = torch.einsum("chw,cr->hwr", channels, factors) + bias
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
