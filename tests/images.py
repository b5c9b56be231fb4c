"""Image files for tests of image prompts: a drawing, its bytes in a format, a PNG whose
header lies about its size, and PNGs with chunks of one's choosing (bombs)."""

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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunks(before: tuple[bytes, ...] = (), after: tuple[bytes, ...] = ()) -> bytes:
    """A small valid PNG with extra chunks before its pixel data (read when it is opened)
    and after it (read when its pixels are)."""
    data = encoded(drawing((16, 16)), "PNG")
    header, rest = data[:33], data[33:-12]  # signature + IHDR; the chunks up to IEND
    return header + b"".join(before) + rest + b"".join(after) + data[-12:]


def unpacking_to(size: int) -> bytes:
    """``size`` zero bytes, deflated (a few KB for megabytes)."""
    return zlib.compress(bytes(size), 9)
