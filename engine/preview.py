"""Cheap previews while a job runs: a fixed latent-to-RGB projection, no weights needed."""

from __future__ import annotations

from typing import Any

# Linear maps from the latent channels to RGB, fitted for each VAE family (as used by
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
# The 16-channel VAEs of FLUX.1 and SD3 (the same UIs' tables).
FLUX_FACTORS = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_BIAS = (-0.0329, -0.0718, -0.0851)
SD3_FACTORS = (
    (-0.0922, -0.0175, 0.0749),
    (0.0311, 0.0633, 0.0954),
    (0.1994, 0.0927, 0.0458),
    (0.0856, 0.0339, 0.0902),
    (0.0587, 0.0272, -0.0496),
    (-0.0006, 0.1104, 0.0309),
    (0.0978, 0.0306, 0.0427),
    (-0.0042, 0.1038, 0.1358),
    (-0.0194, 0.0020, 0.0669),
    (-0.0488, 0.0130, -0.0268),
    (0.0922, 0.0988, 0.0951),
    (-0.0278, 0.0524, -0.0542),
    (0.0332, 0.0456, 0.0895),
    (-0.0069, -0.0030, -0.0810),
    (-0.0596, -0.0465, -0.0293),
    (-0.1448, -0.1463, -0.1189),
)
SD3_BIAS = (0.2394, 0.2135, 0.1925)


def _projection(family: str) -> tuple[tuple, tuple]:
    """The family's latent-to-RGB factors and bias."""
    if family.startswith(("flux", "z-image")):  # Z-Image decodes with FLUX.1's VAE
        return FLUX_FACTORS, FLUX_BIAS
    if family.startswith("sd3"):
        return SD3_FACTORS, SD3_BIAS
    if family.startswith("sdxl"):
        return SDXL_FACTORS, SDXL_BIAS
    return SD_FACTORS, SD_BIAS


def unpack_latents(packed: Any, height: int, width: int):
    """FLUX's packed latents of one image (2x2 patches: ``(h/2 * w/2, channels * 4)``) as
    ``channels x height x width``, for an image ``height`` x ``width`` latent pixels (made
    even: FLUX crops odd sides to its patches)."""
    height, width = height // 2 * 2, width // 2 * 2
    channels = packed.shape[-1] // 4
    patches = packed.reshape(height // 2, width // 2, channels, 2, 2)
    return patches.permute(2, 0, 3, 1, 4).reshape(channels, height, width)


def latents_to_preview(latents: Any, family: str, max_side: int = 256):
    """A small RGB PIL image from one image's latents (channels x height x width)."""
    import torch
    from PIL import Image

    table, offset = _projection(family)
    factors = torch.tensor(table, dtype=torch.float32)
    bias = torch.tensor(offset, dtype=torch.float32)
    channels = latents.detach().to("cpu", torch.float32)[: len(table)]
    rgb = torch.einsum("chw,cr->hwr", channels, factors) + bias
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
