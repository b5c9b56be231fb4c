"""Image files for tests of image prompts: a drawing, its bytes in a format, and a PNG
whose header lies about its size."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def drawing(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """Shapes on a coloured background (a sun and a house)."""
    image = Image.new("RGB", size, (40, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 120, 120), fill=(250, 210, 40))
    draw.rectangle((150, 80, 280, 190), fill=(200, 30, 60))
    return image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    """``image`` as a file of format ``fmt`` (Pillow's save options)."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a valid CRC, no such data)."""
    data = bytearray(encoded(Image.new("L", (4, 4)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)
