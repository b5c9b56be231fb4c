"""The README's pictures of /describe and /blend: what each makes from drawings.

``python -m devtools.image_words docs/image-words [--model DIR] [--describe-model DIR]
[--ip-adapter DIR]``: draws two pictures with Pillow (a house under a sun; a tree by a
lake), describes the first through the captioning model (``engine.describe``, the four
prompts as /describe shows them: ``core.describe.as_prompts``) and blends the two through
the real engine with the IP-Adapter (``engine.references``), as /blend does. Without
models given, tiny random-weight ones are built here (the captioning model then writes
random words and the blend paints noise: they show the path, not a real model's output).
Writes ``describe.png`` (the drawing beside its four prompts), ``blend.png`` (the two
drawings and the grid) and prints the prompts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from devtools.pictures import GAP, LABEL_HEIGHT, drawing
from engine import Engine, JobSpec, compose_grid, encode_png
from engine.types import Reference

SIDE = 256


def lake(size: tuple[int, int] = (SIDE, SIDE)) -> Image.Image:
    """Shapes on a coloured background: a tree by a lake under an evening sky."""
    width, height = size
    image = Image.new("RGB", size, (240, 150, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height // 2, width, height), fill=(40, 90, 150))
    draw.rectangle((0, height * 3 // 4, width, height), fill=(90, 140, 60))
    draw.rectangle(
        (width // 5, height * 5 // 16, width // 5 + 16, height * 3 // 4), fill=(90, 60, 30)
    )
    draw.ellipse((width // 10, height // 8, width * 2 // 5, height * 7 // 16), fill=(30, 110, 40))
    draw.ellipse(
        (width * 5 // 8, height // 10, width * 13 // 16, height * 5 // 16), fill=(255, 230, 170)
    )
    return image


def describe_picture(picture: Image.Image, prompts: list[str]) -> Image.Image:
    """The drawing beside its numbered prompts (wrapped), as one image."""
    font = ImageFont.load_default(size=13)
    lines: list[str] = []
    for number, prompt in enumerate(prompts, start=1):
        wrapped = textwrap.wrap(prompt, 60) or [""]
        lines.append(f"{number}. {wrapped[0]}")
        lines.extend(f"   {rest}" for rest in wrapped[1:])
    text_height = 18 * len(lines) + LABEL_HEIGHT
    height = max(picture.height, text_height) + 2 * GAP
    out = Image.new("RGB", (picture.width + 520, height), (255, 255, 255))
    out.paste(picture, (GAP, GAP))
    draw = ImageDraw.Draw(out)
    x = picture.width + 2 * GAP
    draw.text((x, GAP), "/describe: four prompts to start from", fill=(0, 0, 0), font=font)
    for row, line in enumerate(lines):
        draw.text((x, GAP + LABEL_HEIGHT + 18 * row), line, fill=(40, 40, 40), font=font)
    return out


def blend_picture(sources: list[Image.Image], grid: Image.Image, height: int = 200) -> Image.Image:
    """The images blended, a plus between them, an equals sign, then the grid."""
    font = ImageFont.load_default(size=22)
    scaled = [s.resize((round(s.width * height / s.height), height)) for s in sources]
    shown_grid = grid.resize((round(grid.width * height / grid.height), height))
    sign = 28
    width = sum(s.width for s in scaled) + shown_grid.width + sign * len(scaled) + 2 * GAP
    out = Image.new("RGB", (width, height + 2 * GAP), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x = GAP
    for position, image in enumerate(scaled):
        out.paste(image, (x, GAP))
        x += image.width
        mark = "+" if position < len(scaled) - 1 else "="  # the default font has no arrows
        draw.text((x + 6, GAP + height // 2 - 12), mark, fill=0, font=font)
        x += sign
    out.paste(shown_grid, (x, GAP))
    return out


def make_pictures(
    directory: Path, model_id: str, describe_id: str, adapter: str, *, steps: int = 8
) -> tuple[list[Path], list[str]]:
    """Describe the house and blend it with the lake; the files written and the prompts."""
    from core.describe import as_prompts
    from engine.describe import Describer
    from engine.loras import base_family
    from engine.model import load_model
    from engine.resident import Resident

    directory.mkdir(parents=True, exist_ok=True)
    house, evening = drawing((SIDE, SIDE)), lake()
    picture = house  # SIDE px: within what /describe gives the model (core.describe.shrunk)
    prompts = as_prompts(Describer(describe_id, "auto").describe(picture, 0), picture.size)
    described = directory / "describe.png"
    described.write_bytes(encode_png(describe_picture(house, prompts)))
    sources = []
    for name, image in (("house", house), ("lake", evening)):
        path = directory / f"blend-{name}.png"
        path.write_bytes(encode_png(image))
        sources.append(path)
    model = load_model(model_id, "auto")
    family = base_family(model.defaults.family)
    resident = Resident({}, default="m", loaded={"m": model}, ip_adapters={family: adapter})
    side = model.defaults.native_size
    spec = JobSpec(
        job_id=1,
        prompt="",
        negative="",
        width=side,
        height=side,
        steps=steps,
        guidance=model.defaults.guidance,
        seed=7,
        references=tuple(Reference("blend", path, 1.0) for path in sources),
    )
    grid = compose_grid(asyncio.run(_run(resident, spec)))
    blended = directory / "blend.png"
    blended.write_bytes(encode_png(blend_picture([house, evening], grid)))
    for path in sources:
        path.unlink()
    return [described, blended], prompts


async def _run(resident, spec: JobSpec) -> list[Image.Image]:
    async with Engine(resident) as engine:
        return (await engine.submit(spec)).images


def main(argv: list[str] | None = None) -> int:
    """Write the pictures to the directory given."""
    parser = argparse.ArgumentParser(prog="python -m devtools.image_words", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", help="an SD 1.5 or SDXL folder or hub id (default: tiny)")
    parser.add_argument("--describe-model", help="a Florence-2 folder or hub id (default: tiny)")
    parser.add_argument("--ip-adapter", help="a folder like h94/IP-Adapter (default: tiny)")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model_id, describe_id, adapter = args.model, args.describe_model, args.ip_adapter
        if model_id is None:
            from devtools.tiny import write_tiny_model

            model_id = str(write_tiny_model(Path(tmp) / "tiny"))
        if describe_id is None:
            from devtools.tiny_describe import write_tiny_describe_model

            describe_id = str(write_tiny_describe_model(Path(tmp) / "florence"))
        if adapter is None:
            from diffusers import UNet2DConditionModel

            from devtools.tiny_ip_adapter import write_tiny_ip_adapter

            unet = UNet2DConditionModel.from_pretrained(Path(model_id) / "unet")
            adapter = str(write_tiny_ip_adapter(Path(tmp) / "adapter", unet, "sd"))
        written, prompts = make_pictures(
            args.directory, model_id, describe_id, adapter, steps=args.steps
        )
    for number, prompt in enumerate(prompts, start=1):
        print(f"{number}. {prompt}")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
