"""``imaginebot zoom | pan | vary-region``: the canvas buttons without Discord.

SOURCE is a saved job's image (``12`` or ``12:3``: job 12, image 3, in ``DATA_DIR``) or
an image file. A saved job's child runs exactly as its button would (the same checks,
stored with its recipe, its prompt unless ``--prompt`` gives another); an image file is
painted through the same engine and nothing is stored (``--prompt`` says what it shows).
The grid goes to ``-o`` and the four images beside it, as for ``imaginebot imagine``;
both run through ``bot.cli_jobs``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings
from core.model import Action
from engine.types import MAX_ZOOM, MIN_ZOOM

JOB_IMAGE = re.compile(r"^(?P<job>[0-9]{1,18})(?::(?P<index>[1-4]))?$")
# The pan buttons by direction: ``imaginebot pan left`` presses ``Action.PAN_LEFT``.
PAN_ACTIONS = {action.pan: action for action in Action if action.pan is not None}


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
    zoom.add_argument(
        "--factor", default="2", help=f"how far to zoom out, {MIN_ZOOM:g} to {MAX_ZOOM:g} (2)"
    )
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

    from bot.cli_jobs import import_image, run_job
    from core.errors import BadParameter

    try:
        cells = cells_of(args.cells) if args.command == "vary-region" else ()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = Path(args.source).expanduser()
    is_file = path.is_file()
    if is_file and not args.prompt:
        print("error: --prompt is needed for an image file (what it shows)", file=sys.stderr)
        return 2
    match = None if is_file else JOB_IMAGE.match(args.source)
    if not is_file and match is None:
        print(f"error: {args.source!r} is neither an image file nor JOB[:INDEX]", file=sys.stderr)
        return 2

    async def admit(services: Any, who: Any) -> Any:
        jobs = services.jobs
        if match is not None:
            job_id, index = int(match["job"]), int(match["index"] or 1)
        else:  # the file, kept as a finished job of the scratch DATA_DIR
            job_id, index = (await import_image(services, path, args.prompt, who)).id, 1
        if args.command == "zoom":
            text = args.prompt or await jobs.form_text(who, job_id)
            try:
                return await jobs.custom_zoom(who, job_id, index, text, args.factor)
            except BadParameter as exc:  # the CLI's option is --factor, not the form's field
                raise BadParameter("--factor", exc.message) from None
        if args.command == "pan":
            action = PAN_ACTIONS[args.direction]
            return await jobs.press(who, action, job_id, index, remix=args.prompt)
        return await jobs.vary_region(who, job_id, index, cells, args.prompt)

    return asyncio.run(run_job(settings, admit, args.output, scratch=is_file))
