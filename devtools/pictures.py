"""The README's pictures of the canvas buttons: source, mask and result of each.

``python -m devtools.pictures docs/canvas [--model DIR]``: draws an image with Pillow
(shapes on a coloured background, so that what is kept and what is painted are plain to
see), then runs Zoom Out 2x, Custom Zoom (1.5x to a wide canvas), Pan ➡️, Pan ⬆️ and
Vary (Region) (cells 1 and 5) through the real engine on ``--model`` (default: a tiny
random-weight pipeline built here), with the canvases and masks the worker builds. Each
operation gives one strip: the source, the mask (white: painted, grey: the feather, black:
kept) over the canvas, and the first of the four results.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine import Engine, JobSpec, Paint, encode_png
from engine.canvas import painting

SOURCE_SIZE = (256, 256)  # an "upscaled" image
GRID_SIZE = (128, 128)  # the grid images it came from
LABEL_HEIGHT = 22
GAP = 8


@dataclass(frozen=True)
class Operation:
    """One button: its name (in words: Pillow's default font has no emoji), what it
    paints and the canvas it paints on."""

    slug: str
    name: str
    paint: Paint
    size: tuple[int, int]


OPERATIONS = (
    Operation("zoom-out-2x", "Zoom Out 2x", Paint("zoom", factor=2.0), GRID_SIZE),
    Operation("custom-zoom", "Custom Zoom 1.5 --ar 2:1", Paint("zoom", factor=1.5), (192, 96)),
    Operation(
        "pan-right", "Pan right", Paint("pan", direction="right", base=GRID_SIZE), (192, 128)
    ),
    Operation("pan-up", "Pan up", Paint("pan", direction="up", base=GRID_SIZE), (128, 192)),
    Operation("vary-region", "Vary (Region) 1, 5", Paint("region", cells=(1, 5)), GRID_SIZE),
)


def drawing(size: tuple[int, int] = SOURCE_SIZE) -> Image.Image:
    """Shapes on a coloured background: a sun, a house, a path."""
    width, height = size
    image = Image.new("RGB", size, (70, 130, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(60, 150, 70))
    sun = (width // 16, height // 16, width * 5 // 16, height * 5 // 16)
    draw.ellipse(sun, fill=(250, 210, 40))
    body = (width // 2, height * 7 // 16, width * 7 // 8, height * 3 // 4)
    draw.rectangle(body, fill=(200, 60, 50))
    draw.polygon(
        [(body[0] - 8, body[1]), (body[2] + 8, body[1]), ((body[0] + body[2]) // 2, height // 4)],
        fill=(110, 50, 30),
    )
    draw.line((0, height, width // 2, height * 2 // 3), fill=(240, 230, 200), width=6)
    return image


def strip(
    source: Image.Image,
    canvas: Image.Image,
    mask: Image.Image,
    result: Image.Image,
    title: str,
    height: int = 160,
) -> Image.Image:
    """Source | mask over the canvas | result, each labelled, at one height."""
    shown_mask = Image.blend(canvas.convert("RGB"), mask.convert("RGB"), 0.75)
    panels = [("source", source), ("mask", shown_mask), ("result", result)]
    scaled = [
        (label, image.resize((round(image.width * height / image.height), height)))
        for label, image in panels
    ]
    width = sum(image.width for _, image in scaled) + GAP * (len(scaled) + 1)
    out = Image.new("RGB", (width, height + 2 * LABEL_HEIGHT + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=14)
    draw.text((GAP, 3), f"{title} · mask: white painted, black kept", fill=(0, 0, 0), font=font)
    x = GAP
    for label, image in scaled:
        out.paste(image, (x, LABEL_HEIGHT))
        draw.text((x, LABEL_HEIGHT + height + 3), label, fill=(60, 60, 60), font=font)
        x += image.width + GAP
    return out


def make_pictures(model, directory: Path, *, steps: int = 8) -> list[Path]:
    """Run every operation on the drawing through ``model``; write one strip each."""
    directory.mkdir(parents=True, exist_ok=True)
    source = drawing()
    source_path = directory / "source.png"
    source_path.write_bytes(encode_png(source))
    specs = [
        JobSpec(
            job_id=number,
            prompt="a red house under a yellow sun, green hills",
            negative="",
            width=op.size[0],
            height=op.size[1],
            steps=steps,
            guidance=model.defaults.guidance,
            seed=7,
            num_images=1,
            source_image=source_path,
            paint=op.paint,
        )
        for number, op in enumerate(OPERATIONS, start=1)
    ]
    results = asyncio.run(_run(model, specs))
    written = [source_path]
    for op, spec, result in zip(OPERATIONS, specs, results, strict=True):
        canvas, mask = painting(spec)  # what the worker painted on
        path = directory / f"{op.slug}.png"
        path.write_bytes(encode_png(strip(source, canvas, mask, result, op.name)))
        written.append(path)
    return written


async def _run(model, specs: list[JobSpec]) -> list[Image.Image]:
    async with Engine(model) as engine:
        return [(await engine.submit(spec)).images[0] for spec in specs]


def main(argv: list[str] | None = None) -> int:
    """Write the pictures to the directory given."""
    from engine.model import load_model

    parser = argparse.ArgumentParser(prog="python -m devtools.pictures", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", help="a diffusers folder or hub id (default: a tiny one)")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model_id = args.model
        if model_id is None:
            from devtools.tiny import write_tiny_model

            model_id = str(write_tiny_model(Path(tmp) / "tiny"))
        model = load_model(model_id, "auto")
        for path in make_pictures(model, args.directory, steps=args.steps):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
