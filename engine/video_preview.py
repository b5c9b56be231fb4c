"""A running clip's preview frame: its middle frame from the latents, no decoder pass.

Image previews (``engine.preview``) project four or sixteen latent channels to RGB with a
fixed table. LTX-Video's latents have 128 channels, in a space its VAE learnt, and no such
table comes with the model; so the projection is fitted to the model's own VAE, once per
VAE (on the first preview of a worker's first clip, on the worker's device): a few images
of flat colour cells, one cell per latent pixel, go through the encoder; the least-squares
map from the normalised latents (as the pipeline holds them) to the cells' colours is the
table. That costs one small encoder pass (8 images of 8x8 latent pixels), once, and each
preview after it an einsum over one latent frame (15 x 26 x 128 for a 480p clip): cheap
enough for the GPU's thread. A latent frame stands for eight frames; the middle one is
where the clip has moved from its start image.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

CALIBRATION_IMAGES = 8
CALIBRATION_CELLS = 8  # latent pixels a side of each calibration image
RIDGE = 1e-3  # relative to the mean squared latent: keeps 128 weights from chasing noise
_fitted: weakref.WeakKeyDictionary[Any, tuple[Any, Any] | None] = weakref.WeakKeyDictionary()
_lock = threading.Lock()

logger = logging.getLogger(__name__)


def projection(vae: Any) -> tuple[Any, Any] | None:
    """``vae``'s latent-to-RGB map (channels x 3 factors and a bias of 3), fitted on its
    first use and kept while the VAE lives (a model swapped out and back is fitted again);
    None when the fit failed (logged once: the clip runs on without previews)."""
    with _lock:
        if vae not in _fitted:
            try:
                _fitted[vae] = fit_projection(vae)
            except Exception as exc:  # out of memory beside the model, a VAE of its own kind
                logger.warning("clip previews are off for this video model: %r", exc)
                _fitted[vae] = None
        return _fitted[vae]


def fit_projection(vae: Any) -> tuple[Any, Any]:
    """Least squares from ``vae``'s normalised latents to RGB in [-1, 1], on images of
    random flat cells (a fixed seed: the same table every time)."""
    import torch

    scale = int(getattr(vae, "spatial_compression_ratio", 32))
    side = CALIBRATION_CELLS
    generator = torch.Generator("cpu").manual_seed(0)
    cells = torch.rand(CALIBRATION_IMAGES, 3, side, side, generator=generator) * 2 - 1
    pixels = cells.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    parameter = next(vae.parameters())
    video = pixels.unsqueeze(2).to(parameter.device, parameter.dtype)  # B x 3 x 1 x H x W
    with torch.no_grad():
        latents = vae.encode(video).latent_dist.mode()
    latents = _normalised(vae, latents.float()).cpu()  # B x C x 1 x h x w
    channels = latents.shape[1]
    inputs = latents[:, :, 0].permute(0, 2, 3, 1).reshape(-1, channels)
    cells = torch.nn.functional.interpolate(cells, size=latents.shape[-2:], mode="area")
    targets = cells.permute(0, 2, 3, 1).reshape(-1, 3)
    design = torch.cat([inputs, torch.ones(len(inputs), 1)], dim=1)
    gram = design.T @ design
    ridge = RIDGE * float(gram.diagonal()[:channels].mean())
    gram = gram + ridge * torch.diag(torch.tensor([1.0] * channels + [0.0]))
    solved = torch.linalg.solve(gram, design.T @ targets)
    return solved[:channels], solved[channels]


def clip_preview(
    pipe: Any, packed: Any, width: int, height: int, frames: int, max_side: int = 256
) -> Image.Image | None:
    """The middle frame of one clip's packed latents (``sequence x channels``, the
    conditioning tokens first, as ``LTXConditionPipeline`` holds them) as a small PIL
    image; None when they are not laid out as expected or no map could be fitted."""
    import torch
    from PIL import Image

    spatial = int(pipe.vae_spatial_compression_ratio)
    temporal = int(pipe.vae_temporal_compression_ratio)
    latent_frames = (frames - 1) // temporal + 1
    rows, columns = height // spatial, width // spatial
    count = latent_frames * rows * columns
    patches = (
        getattr(pipe, "transformer_spatial_patch_size", 1),
        getattr(pipe, "transformer_temporal_patch_size", 1),
    )
    if packed.ndim != 2 or packed.shape[0] < count or patches != (1, 1):
        return None
    video = packed[-count:].reshape(latent_frames, rows, columns, -1)  # patch size 1
    fitted = projection(pipe.vae)
    if fitted is None:
        return None
    factors, bias = fitted
    middle = video[latent_frames // 2].detach().to("cpu", torch.float32)
    if middle.shape[-1] != factors.shape[0]:
        return None
    rgb = middle @ factors + bias
    image = Image.fromarray(((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy(), "RGB")
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def _normalised(vae: Any, latents: Any) -> Any:
    """As ``LTXConditionPipeline`` normalises a condition's latents (and so the frames it
    denoises): per channel, less the VAE's mean, over its standard deviation (its scaling
    factor is applied only when decoding)."""
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
    std = vae.latents_std.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
    return (latents - mean) / std
