"""Image helpers that run off the worker thread: the 2x2 grid, PNG encoding, the NSFW blur."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, PngImagePlugin

from engine.png import encode_png_array


def compose_grid(images: Sequence[Image.Image]) -> Image.Image:
    """Four images side by side, 2x2, at full size (all images share one size)."""
    if len(images) != 4:
        raise ValueError(f"a grid needs 4 images, got {len(images)}")
    width, height = images[0].size
    grid = Image.new("RGB", (width * 2, height * 2))
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB"), ((index % 2) * width, (index // 2) * height))
    return grid


def to_pil_images(images: Any) -> list[Image.Image]:
    """A pipeline's output as ``output_type="pt"`` gives it (a float tensor in [0, 1],
    N x 3 x H x W, on the pipeline's device) as 8-bit RGB images, exactly as diffusers'
    ``numpy_to_pil`` makes them (``round(x * 255)`` in float32, ties to even). On a GPU the
    scaling, rounding and cast run there: the worker's CPU does no float work, and one
    uint8 copy, a quarter of the float32 one, crosses to the host. On the CPU the tensor
    is consumed: scaled and rounded in place by numpy (no second float buffer; numpy's
    kernels beat torch's on one core). The planes become RGB images with Pillow's
    ``merge`` (no transposed copy of the tensor)."""
    import torch

    if images.device.type == "cpu":
        scaled = images.float().numpy()  # the tensor's own memory when it is float32
        np.multiply(scaled, 255, out=scaled)
        planes = np.rint(scaled, out=scaled).astype(np.uint8)
    else:
        planes = (images.float() * 255).round_().to(torch.uint8).cpu().numpy()
    return [Image.merge("RGB", [Image.fromarray(plane) for plane in picture]) for picture in planes]


def encode_png(image: Image.Image, text: Mapping[str, str] | None = None) -> bytes:
    """PNG bytes with ``text`` as tEXt/iTXt chunks (RGB through ``engine.png``'s fast
    encoder, other modes through Pillow)."""
    if image.mode == "RGB":
        return encode_png_array(np.asarray(image), text)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value) if not value.isascii() else info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    return buffer.getvalue()


def fit_png(image: Image.Image, max_bytes: int, text: Mapping[str, str] | None = None) -> bytes:
    """PNG bytes no larger than ``max_bytes``, scaling the image down as needed."""
    data = encode_png(image, text)
    scaled = image
    while len(data) > max_bytes and min(scaled.size) > 64:
        ratio = max(0.5, min(0.9, (max_bytes / len(data)) ** 0.5))
        size = (max(1, int(scaled.width * ratio)), max(1, int(scaled.height * ratio)))
        scaled = image.resize(size, Image.Resampling.LANCZOS)
        data = encode_png(scaled, text)
    if len(data) > max_bytes:
        raise ValueError(f"image does not fit in {max_bytes} bytes")
    return data


BLOCKED_GREY = (96, 96, 96)  # the tile that stands for a withheld image


def censor_each(
    images: Sequence[Image.Image], flags: Sequence[bool], mode: str
) -> list[Image.Image]:
    """Each image as the NSFW filter shows it outside NSFW channels (RGB): a flagged one
    blurred (``blur``: shapes, no detail) or a grey tile (``block``); the others, and
    every image with ``off``, as they are."""
    cells = []
    for image, flagged in zip(images, flags, strict=True):
        if not flagged or mode == "off":
            cells.append(image.convert("RGB"))
        elif mode == "blur":
            cells.append(_blurred(image.convert("RGB")))
        else:
            cells.append(Image.new("RGB", image.size, BLOCKED_GREY))
    return cells


def censor(images: Sequence[Image.Image], flags: Sequence[bool], mode: str) -> Image.Image | None:
    """The picture to post when ``flags`` mark images as NSFW: ``blur`` blurs those
    (heavily: shapes, no detail), ``block`` replaces them with a grey tile. Four images
    give a grid; a single blocked image gives None."""
    cells = censor_each(images, flags, mode)
    if len(cells) == 4:
        return compose_grid(cells)
    if mode == "block" and flags[0]:
        return None
    return cells[0]


BLUR_REDUCE = 8  # the blur runs on an image this many times smaller: the same look


def _blurred(image: Image.Image) -> Image.Image:
    """A heavy blur (radius a twelfth of the longer side): shapes, no detail. Run on the
    image reduced ``BLUR_REDUCE`` times and scaled back, which looks the same (nothing
    finer than the radius survives either way) at a fraction of the cost."""
    small = image.reduce(BLUR_REDUCE) if min(image.size) >= 8 * BLUR_REDUCE else image
    scale = image.width / small.width
    blurred = small.filter(ImageFilter.GaussianBlur(max(image.size) / 12 / scale))
    return blurred.resize(image.size, Image.Resampling.BILINEAR)


def fitting_png(path: Path, limit: int) -> bytes:
    """The PNG file as it is when it fits ``limit`` (no second encode: what was written
    is what Discord is sent), else scaled down to fit, with its text chunks."""
    data = path.read_bytes()
    if len(data) <= limit:
        return data
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return fit_png(image, limit, {k: str(v) for k, v in image.text.items()})
