"""``imaginebot describe`` and ``imaginebot blend``: /describe and /blend without Discord.

``describe`` runs only the captioning model (``DESCRIBE_MODEL``), not the image model,
and prints the four prompts as /describe shows them (the server's blocked words aside:
there is no server). ``blend`` runs the job /blend makes, through the same services, and
writes its grid and images like ``imaginebot imagine``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli_jobs import run_job
from bot.settings import Settings
from core.errors import BadImage, UserError
from core.image_prompt import MAX_IMAGE_BYTES, load_image_prompt, too_big

if TYPE_CHECKING:
    from core.model import Job, Requester
    from core.services import Services

COMMANDS = ("describe", "blend", "animate")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``describe`` and ``blend`` to the ``imaginebot`` parser."""
    describe = commands.add_parser(
        "describe", help="four prompts made from an image (DESCRIBE_MODEL), as /describe"
    )
    describe.add_argument("image", type=Path, help="a PNG, JPEG or WebP file")
    describe.add_argument("--seed", type=int, default=0, help="which four (as 🔄 draws anew)")
    blend = commands.add_parser("blend", help="merge 2 to 5 images into a grid, as /blend")
    blend.add_argument("images", type=Path, nargs="+", help="2 to 5 image files")
    blend.add_argument(
        "--dimensions", choices=["portrait", "square", "landscape"], default="square"
    )
    blend.add_argument("-o", "--output", type=Path, default=Path("blend.png"))
    animate = commands.add_parser("animate", help="a clip from an image (VIDEO_MODEL), as Animate")
    animate.add_argument("source", help="a saved job's image (JOB or JOB:INDEX) or an image file")
    animate.add_argument("--motion", choices=["low", "high"], default="low")
    animate.add_argument("--loop", action="store_true", help="end on the first frame")
    animate.add_argument("--prompt", help="the motion prompt (a file: what it shows)")
    animate.add_argument("-o", "--output", type=Path, default=Path("clip.mp4"))


def read_image(path: Path) -> bytes:
    """An image file's bytes, checked like an image prompt (``UserError`` saying why not)."""
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise BadImage(too_big(path.stat().st_size))
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    load_image_prompt(data)
    return data


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``describe`` or ``blend``; 2 for a bad file or argument."""
    if args.command == "animate":
        return _animate(settings, args)
    try:
        if args.command == "describe":
            data = read_image(args.image)
        else:
            if not 2 <= len(args.images) <= 5:
                raise UserError(f"blend takes 2 to 5 images (got {len(args.images)})")
            images = [read_image(path) for path in args.images]
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "describe":
        return _describe(settings, data, args.seed)
    return asyncio.run(_blend(settings, images, args.dimensions, args.output))


def _describe(settings: Settings, data: bytes, seed: int) -> int:
    from bot.logs import configure_logging
    from core.describe import as_prompts, shrunk
    from engine.describe import Describer, DescribeUnavailable

    configure_logging("WARNING")
    picture = shrunk(data)
    device = "auto" if "," in settings.device or settings.device == "cuda:all" else settings.device
    try:
        raw = Describer(settings.describe_model, device).describe(picture, seed)
    except DescribeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for number, prompt in enumerate(as_prompts(raw, picture.size), start=1):
        print(f"{number}. {prompt}")
    return 0


async def _blend(settings: Settings, images: list[bytes], dimensions: str, output: Path) -> int:
    async def admit(services: Services, who: Requester) -> Job:
        return await services.blends.blend(who, images, dimensions)

    return await run_job(settings, admit, output)


def _animate(settings: Settings, args: argparse.Namespace) -> int:
    """``animate``: the clip Animate makes, from a saved job's image or a file (kept as a
    finished job of a scratch ``DATA_DIR``), written to ``-o`` (MP4)."""
    from bot.canvas_cli import JOB_IMAGE
    from bot.cli_jobs import import_image

    path = Path(args.source).expanduser()
    match = None if path.is_file() else JOB_IMAGE.match(args.source)
    if not path.is_file() and match is None:
        print(f"error: {args.source!r} is neither an image file nor JOB[:INDEX]", file=sys.stderr)
        return 2

    async def admit(services: Services, who: Requester) -> Job:
        from core import clips

        if match is not None:
            job_id, index = int(match["job"]), int(match["index"] or 1)
        else:
            text = args.prompt or "an image"
            job_id, index = (await import_image(services, path, text, who)).id, 1
        parent = await services.jobs.get_job(job_id, who)
        rows = {row.index: row for row in await services.runner.images(job_id)}
        if index not in rows or services.engine.video is None:
            raise UserError(f"job {job_id} has no image {index}, or VIDEO_MODEL is off")
        row = rows[index]
        prompt = None if args.prompt is None else services.jobs.check_prompt(args.prompt).prompt
        new = clips.animate(
            who, parent, row, args.motion, services.engine.video,
            size=(row.width, row.height), prompt=prompt, loop=args.loop,
        )  # fmt: skip
        return await services.admission.admit(who, new)

    return asyncio.run(run_job(settings, admit, args.output, scratch=path.is_file()))
