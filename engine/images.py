"""Image helpers that run off the worker thread: the 2x2 grid and PNG encoding."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from PIL import Image, ImageFilter, PngImagePlugin


def compose_grid(images: Sequence[Image.Image]) -> Image.Image:
    """Four images side by side, 2x2, at full size (all images share one size)."""
    if len(images) != 4:
        raise ValueError(f"a grid needs 4 images, got {len(images)}")
    width, height = images[0].size
    grid = Image.new("RGB", (width * 2, height * 2))
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB"), ((index % 2) * width, (index // 2) * height))
    return grid


def encode_png(image: Image.Image, text: Mapping[str, str] | None = None) -> bytes:
    """PNG bytes with ``text`` as tEXt/iTXt chunks."""
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


def censor(images: Sequence[Image.Image], flags: Sequence[bool], mode: str) -> Image.Image | None:
    """The picture to post when ``flags`` mark images as NSFW: ``blur`` blurs those
    (heavily: shapes, no detail), ``block`` replaces them with a grey tile. Four images
    give a grid; a single blocked image gives None."""
    cells = []
    for image, flagged in zip(images, flags, strict=True):
        if not flagged:
            cells.append(image.convert("RGB"))
        elif mode == "blur":
            radius = max(image.size) / 12
            cells.append(image.convert("RGB").filter(ImageFilter.GaussianBlur(radius)))
        else:
            cells.append(Image.new("RGB", image.size, (96, 96, 96)))
    if len(cells) == 4:
        return compose_grid(cells)
    if mode != "blur" and flags[0]:
        return None
    return cells[0]
