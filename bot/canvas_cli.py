"""``imaginebot zoom | pan | vary-region``: the canvas buttons without Discord.

SOURCE is a saved job's image (``12`` or ``12:3``: job 12, image 3, in ``DATA_DIR``) or
an image file. A saved job's child runs exactly as its button would (the same checks,
stored with its recipe, its prompt unless ``--prompt`` gives another); an image file is
painted through the same engine and nothing is stored (``--prompt`` says what it shows).
The grid goes to ``-o`` and the four images beside it, as for ``imaginebot imagine``.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings

_JOB = re.compile(r"^(?P<job>[0-9]{1,19})(?::(?P<index>[1-4]))?$")
PAN_ACTIONS = {"left": "a", "down": "j", "up": "k", "right": "l"}  # core.model.Action


def add_commands(commands: Any) -> None:
    """``zoom``, ``pan`` and ``vary-region`` on the ``imaginebot`` parser."""
    source_help = "a saved job's image (JOB or JOB:INDEX, in DATA_DIR) or an image file"
    prompt_help = "the prompt with its parameters (a file: required; a job: its own)"
    zoom = commands.add_parser("zoom", help="Zoom Out: the image shrunk, the border painted")
    pan = commands.add_parser("pan", help="Pan: the canvas grown by half a side, painted")
    region = commands.add_parser("vary-region", help="Vary (Region): repaint cells 1-9")
    for parser in (zoom, pan, region):
        parser.add_argument("source", help=source_help)
        parser.add_argument("--prompt", help=prompt_help)
        parser.add_argument("-o", "--output", type=Path, default=Path("grid.png"))
    zoom.add_argument("--factor", default="2", help="how far to zoom out, 1.0 to 2.0 (2)")
    pan.add_argument("direction", choices=list(PAN_ACTIONS))
    region.add_argument("cells", help="cells of a 3x3 grid, 1 to 9 row by row, e.g. 1,5,9")


def cells_of(text: str) -> tuple[int, ...]:
    """``1,5,9`` or ``159`` as cell numbers; ``ValueError`` with the rule."""
    digits = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    if len(digits) == 1 and digits[0].isdigit() and len(digits[0]) > 1:
        digits = list(digits[0])
    if not digits or not all(d.isdigit() and 1 <= int(d) <= 9 for d in digits):
        raise ValueError(f"cells are numbers 1 to 9 (row by row), like 1,5,9 (got {text!r})")
    return tuple(sorted({int(d) for d in digits}))


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``zoom``, ``pan`` or ``vary-region``; the exit status."""
    import asyncio

    from bot.cli import run_job

    try:
        cells = cells_of(args.cells) if args.command == "vary-region" else ()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = Path(args.source).expanduser()
    if path.is_file():
        if not args.prompt:
            print("error: --prompt is needed for an image file (what it shows)", file=sys.stderr)
            return 2
        return asyncio.run(_paint_file(settings, args, path, cells))
    match = _JOB.match(args.source)
    if match is None:
        print(f"error: {args.source!r} is neither an image file nor JOB[:INDEX]", file=sys.stderr)
        return 2
    job_id, index = int(match["job"]), int(match["index"] or 1)

    async def admit(services: Any, who: Any) -> Any:
        jobs = services.jobs
        if args.command == "zoom":
            text = args.prompt or await jobs.form_text(who, job_id)
            return await jobs.custom_zoom(who, job_id, index, text, args.factor)
        if args.command == "pan":
            action = PAN_ACTIONS[args.direction]
            return await jobs.press(who, action, job_id, index, remix=args.prompt)
        return await jobs.vary_region(who, job_id, index, cells, args.prompt)

    return asyncio.run(run_job(settings, admit, args.output))


async def _paint_file(
    settings: Settings, args: argparse.Namespace, path: Path, cells: tuple[int, ...]
) -> int:
    """Paint an image file through the engine (nothing stored)."""
    from PIL import Image, UnidentifiedImageError

    from bot.app import open_app
    from bot.cli import image_paths
    from bot.logs import configure_logging
    from core.errors import UserError
    from core.jobs import MAX_ZOOM, MIN_ZOOM
    from core.limits import Limits
    from core.prompt import parse_float, parse_prompt
    from engine import JobSpec, Paint, compose_grid, encode_png, pan_size

    configure_logging("WARNING")
    limits = Limits.from_settings(settings)
    try:
        parsed = parse_prompt(args.prompt, max_steps=limits.max_steps)
        factor = 2.0
        if args.command == "zoom":
            factor = parse_float(args.factor, "--factor", MIN_ZOOM, MAX_ZOOM)
        with Image.open(path) as image:
            size = (image.width // 8 * 8, image.height // 8 * 8)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, UnidentifiedImageError) as exc:
        print(f"error: {path} is not an image I can read: {exc}", file=sys.stderr)
        return 2
    if args.command == "zoom":
        paint = Paint("zoom", factor=factor)
    elif args.command == "pan":
        paint = Paint("pan", direction=args.direction)
        size = pan_size(size, args.direction)
    else:
        paint = Paint("region", cells=cells)
    if min(size) < 64 or max(size) > limits.max_upscale_side:
        print(
            f"error: the canvas would be {size[0]}x{size[1]}; sides go from 64 px to "
            f"MAX_UPSCALE_SIDE ({limits.max_upscale_side})",
            file=sys.stderr,
        )
        return 2
    async with open_app(settings, nsfw_filter=False) as app:
        defaults = app.engine.model.defaults
        spec = JobSpec(
            job_id=1,
            prompt=parsed.prompt,
            negative=parsed.negative or "",
            width=size[0],
            height=size[1],
            steps=parsed.steps or defaults.steps,
            guidance=defaults.guidance if parsed.cfg is None else parsed.cfg,
            seed=secrets.randbelow(2**32) if parsed.seed is None else parsed.seed,
            source_image=path,
            paint=paint,
        )
        output = await app.engine.submit(spec)
    recipe = {
        "prompt": spec.prompt,
        "negative": spec.negative,
        "steps": str(spec.steps),
        "guidance": f"{spec.guidance:g}",
        "size": f"{spec.width}x{spec.height}",
        "source": path.name,
        "kind": args.command,
        "Software": "imaginebot",
    }
    out = args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encode_png(compose_grid(output.images), recipe))
    written = [out]
    for image, seed, target in zip(
        output.images, spec.seeds, image_paths(out, len(output.images)), strict=True
    ):
        target.write_bytes(encode_png(image, {**recipe, "seed": str(seed)}))
        written.append(target)
    print(f"{args.command} of {path.name}: {size[0]}x{size[1]} x4, seed {spec.seed}")
    for written_path in written:
        print(written_path)
    return 0
