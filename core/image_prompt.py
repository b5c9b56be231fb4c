"""Image prompts: an uploaded image checked and prepared before any job exists.

Pure Pillow work on bytes (the Discord layer downloads them, the CLI reads a file), run
off the event loop: a PNG header can claim any size, so the pixel cap is checked before
anything is decoded, and Pillow's decompression-bomb guard stays on. The formats are
told by content, never by name. Whatever a hostile or damaged file makes Pillow raise
(a truncated file, a text or colour-profile chunk that unpacks past Pillow's
``MAX_TEXT_CHUNK``/``MAX_TEXT_MEMORY``, a decoder that gives up) is a ``BadImage`` that
says why; truncated files are never patched up (``ImageFile.LOAD_TRUNCATED_IMAGES``
stays False).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Awaitable, Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import BadImage
from core.prompt import MAX_ASPECT

logger = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# An image prompt still to be downloaded: called once the cheap checks have passed.
ImageFetch = Callable[[], Awaitable[bytes]]
MAX_IMAGE_SIDE = 4096
FORMATS = ("PNG", "JPEG", "WEBP")
# --iw X (0..2) -> image-to-image strength (how much of the image the model redraws):
# 0 barely follows the image (0.95), 1 keeps its layout and colours (0.55), 2 stays
# very close to it (0.15).
STRENGTH_AT_IW_0 = 0.95
STRENGTH_PER_IW = 0.4
DEFAULT_IMAGE_WEIGHT = 1.0
if not Image.MAX_IMAGE_PIXELS:  # the decompression-bomb guard: never off
    Image.MAX_IMAGE_PIXELS = 89_478_485


def image_strength(weight: float | None) -> float:
    """The image-to-image strength of ``--iw`` (None: the default, 1)."""
    value = DEFAULT_IMAGE_WEIGHT if weight is None else weight
    return round(STRENGTH_AT_IW_0 - STRENGTH_PER_IW * value, 4)


def too_big(size: int) -> str:
    """The refusal of a file of ``size`` bytes."""
    return (
        f"The image is {size / 1024 / 1024:.1f} MB; the most is "
        f"{MAX_IMAGE_BYTES // 1024 // 1024} MB. Send a smaller one."
    )


def load_image_prompt(data: bytes) -> Image.Image:
    """The image in ``data``, upright (EXIF orientation applied), RGB (alpha over
    white); ``BadImage`` saying what is wrong. Blocking: run it off the event loop."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BadImage(too_big(len(data)))
    try:
        return _decoded(data)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage(
            "That file is not a PNG, JPEG or WebP image (I read what it contains, not "
            "its name). Send one of those."
        ) from None
    except Image.DecompressionBombError:
        raise BadImage(_too_many_pixels()) from None
    except Exception as exc:  # a hostile file can make Pillow raise anything
        logger.info("image prompt refused: %s: %s", type(exc).__name__, exc)
        raise BadImage(_unreadable(exc, data)) from None


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=FORMATS)
    width, height = image.size
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width < 1 or height < 1:
        raise BadImage(f"The image is {width}x{height} pixels; {_too_many_pixels()}")
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _unreadable(error: Exception, data: bytes) -> str:
    """Why Pillow could not read ``data``, in words (its messages are matched loosely: an
    unknown one still gets a clear refusal)."""
    text = str(error)
    if "MAX_TEXT" in text:  # PngImagePlugin's limits on zTXt/iTXt/tEXt and iCCP chunks
        return (
            "The image carries text or a colour profile that unpacks to far more than an "
            "image needs (a decompression bomb), so I did not read it. Save the picture "
            "again without its metadata and send that."
        )
    if "truncated" in text.lower() or isinstance(error, EOFError) or _riff_cut_off(data):
        return "The image file is cut off: it ends before the picture does. Send the whole file."
    return "The image could not be read: the file is damaged or cut off. Send another."


def _riff_cut_off(data: bytes) -> bool:
    """A WebP (RIFF) file shorter than its header says (libwebp only says it failed)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    return int.from_bytes(data[4:8], "little") + 8 > len(data)


def _too_many_pixels() -> str:
    return f"the most is {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}. Send a smaller one."


def own_aspect(image: Image.Image) -> tuple[int, int]:
    """The image's aspect ratio as ``--ar`` takes it: reduced, and within 1:4..4:1."""
    width, height = image.size
    if width / height > MAX_ASPECT:
        return int(MAX_ASPECT), 1
    if height / width > MAX_ASPECT:
        return 1, int(MAX_ASPECT)
    divisor = math.gcd(width, height)
    return width // divisor, height // divisor


def fitted(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` cover-cropped to ``size``'s aspect around its middle and resized to it."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)
