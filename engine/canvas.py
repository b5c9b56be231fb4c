"""Canvases and masks for painting part of an image: zoom out, pan, vary a region.

Each function returns the image the inpainting pipeline starts from and its mask
(``L``: 255 where the model paints, 0 where the source is kept). Masks are feathered a
few pixels into the kept part so that no seam shows; outside the feather the result is
the source pixel for pixel (``keep_outside``). The parts to paint are pre-filled with a
heavy blur of the source rather than black, so that the model continues the scene.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from engine.types import MAX_ZOOM, MIN_ZOOM, REGION_CELLS

if TYPE_CHECKING:
    from engine.types import JobSpec

FEATHER = 8  # pixels the painted part reaches into the kept part, fading out
MULTIPLE = 8  # sides the VAE takes

Direction = Literal["left", "right", "up", "down"]


def _even(side: float) -> int:
    return max(MULTIPLE, round(side / MULTIPLE) * MULTIPLE)


def feathered(hard: Image.Image, radius: int = FEATHER) -> Image.Image:
    """``hard`` with an edge that fades out over ``radius`` pixels into the kept part:
    255 wherever ``hard`` is, 0 from ``radius`` pixels away (box filters: no long tail)."""
    if radius <= 1:
        return hard.copy()
    half = radius // 2
    grown = hard.filter(ImageFilter.BoxBlur(half)).point(lambda value: 255 if value else 0)
    return ImageChops.lighter(grown.filter(ImageFilter.BoxBlur(radius - half)), hard)


def _backdrop(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The source stretched over ``size`` and blurred: colours that continue the scene."""
    stretched = source.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    return stretched.filter(ImageFilter.GaussianBlur(max(size) / 16))


def zoom_out(
    source: Image.Image, size: tuple[int, int], factor: float
) -> tuple[Image.Image, Image.Image]:
    """``source`` shrunk by ``factor`` into the middle of a ``size`` canvas (the size of
    the grid images it came from: zooming out does not grow the output); the border is
    painted. A canvas of another shape (Custom Zoom with ``--ar``) takes the source
    whole, its shape kept, fitted and then shrunk by ``factor``."""
    if not MIN_ZOOM <= factor <= MAX_ZOOM:
        raise ValueError(f"zoom factor must be in {MIN_ZOOM:g}..{MAX_ZOOM:g} (got {factor})")
    width, height = size
    scale = min(width / source.width, height / source.height) / factor
    inner = (
        min(width, max(1, round(source.width * scale))),
        min(height, max(1, round(source.height * scale))),
    )
    at = ((width - inner[0]) // 2, (height - inner[1]) // 2)
    canvas = _backdrop(source, size)
    canvas.paste(source.convert("RGB").resize(inner, Image.Resampling.LANCZOS), at)
    hard = Image.new("L", size, 255)
    hard.paste(0, (*at, at[0] + inner[0], at[1] + inner[1]))
    return canvas, feathered(hard)


def pan_size(base: tuple[int, int], direction: Direction) -> tuple[int, int]:
    """The canvas of a pan: half of the base side more, in that direction."""
    width, height = base
    if direction in ("left", "right"):
        return _even(width * 1.5), height
    return width, _even(height * 1.5)


def pan(
    source: Image.Image, base: tuple[int, int], direction: Direction
) -> tuple[Image.Image, Image.Image]:
    """``source`` at ``base`` size, on a canvas grown by half a side towards
    ``direction``; only the new strip is painted, the old pixels stay where they were."""
    size = pan_size(base, direction)
    old = source.convert("RGB").resize(base, Image.Resampling.LANCZOS)
    at = {
        "left": (size[0] - base[0], 0),
        "right": (0, 0),
        "up": (0, size[1] - base[1]),
        "down": (0, 0),
    }[direction]
    canvas = _backdrop(old, size)
    canvas.paste(old, at)
    hard = Image.new("L", size, 255)
    hard.paste(0, (*at, at[0] + base[0], at[1] + base[1]))
    return canvas, feathered(hard)


def region(size: tuple[int, int], cells: list[int]) -> Image.Image:
    """The mask of the chosen cells (1..9, row by row) of a 3x3 grid over ``size``."""
    if not cells or any(not 1 <= cell <= REGION_CELLS**2 for cell in cells):
        raise ValueError(f"cells are 1..{REGION_CELLS**2}, at least one (got {cells})")
    width, height = size
    hard = Image.new("L", size, 0)
    for cell in cells:
        row, column = divmod(cell - 1, REGION_CELLS)
        box = (
            width * column // REGION_CELLS,
            height * row // REGION_CELLS,
            width * (column + 1) // REGION_CELLS,
            height * (row + 1) // REGION_CELLS,
        )
        hard.paste(255, box)
    return feathered(hard)


def keep_outside(painted: Image.Image, canvas: Image.Image, mask: Image.Image) -> Image.Image:
    """``painted`` where ``mask`` paints, blended through its feather, and ``canvas``
    (the source) exactly where it is 0: the VAE's round trip does not touch kept pixels."""
    painted = painted.convert("RGB")
    if painted.size != canvas.size:
        painted = painted.resize(canvas.size, Image.Resampling.LANCZOS)
    return Image.composite(painted, canvas.convert("RGB"), mask)


def painting(spec: JobSpec) -> tuple[Image.Image, Image.Image]:
    """The canvas and mask of ``spec.paint`` from its source file, at the job's size."""
    paint = spec.paint
    assert paint is not None and spec.source_image is not None
    with Image.open(spec.source_image) as opened:
        source = opened.convert("RGB")
    size = (spec.width, spec.height)
    if paint.kind == "zoom":
        return zoom_out(source, size, paint.factor)
    if paint.kind == "pan":
        assert paint.base is not None
        return pan(source, paint.base, paint.direction)  # type: ignore[arg-type]
    canvas = source.resize(size, Image.Resampling.LANCZOS)
    return canvas, region(size, list(paint.cells))


def region_preview(source: Image.Image, longest: int = 384) -> Image.Image:
    """``source`` (at most ``longest`` px a side) with the 3x3 grid of Vary (Region) drawn
    over it and each cell numbered, as the picker shows it."""

    image = source.convert("RGB")
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    width, height = image.size
    draw = ImageDraw.Draw(image)
    line = max(1, min(width, height) // 128)
    for k in range(1, REGION_CELLS):
        for shade, grow in (("black", line + 1), ("white", 0)):
            x, y = width * k // REGION_CELLS, height * k // REGION_CELLS
            draw.line([(x, 0), (x, height)], fill=shade, width=line + grow)
            draw.line([(0, y), (width, y)], fill=shade, width=line + grow)
    font = ImageFont.load_default(size=max(10, min(width, height) // 8))
    for cell in range(1, REGION_CELLS**2 + 1):
        row, column = divmod(cell - 1, REGION_CELLS)
        middle = (
            width * (2 * column + 1) // (2 * REGION_CELLS),
            height * (2 * row + 1) // (2 * REGION_CELLS),
        )
        draw.text(
            middle,
            str(cell),
            fill="white",
            font=font,
            anchor="mm",
            stroke_width=max(1, line),
            stroke_fill="black",
        )
    return image
