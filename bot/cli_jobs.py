"""The one way the CLIs run jobs: ``imaginebot imagine``, ``zoom``, ``pan`` and
``vary-region`` admit their job through the same services the bot uses (as the
machine's own operator), show its progress, wait for it and copy the grid and images to
``-o``. An image file that is no saved job is first kept as a finished job of a scratch
``DATA_DIR`` (``import_image``), so that painting it runs the same child job as a button,
with the same spec, checks and PNG recipe; nothing of it is kept afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from core.errors import UserError

if TYPE_CHECKING:
    from core.model import Job, Requester
    from core.services import Services

# What a command admits: its job(s), given the services and the operator.
Admit = Callable[["Services", "Requester"], Awaitable["Job | list[Job]"]]


async def run_job(settings: Settings, admit: Admit, output: Path, *, scratch: bool = False) -> int:
    """Admit the job(s) with ``admit`` (as the machine's own operator), show the
    progress, wait for them and copy the grid to ``output`` and the images beside it
    (several jobs, from ``--repeat`` or ``{}``: ``grid-1.png``, ``grid-2.png`` ...).
    ``scratch``: in a ``DATA_DIR`` of its own, removed at the end (nothing is kept)."""
    from tqdm import tqdm

    from bot.app import open_app
    from bot.logs import configure_logging
    from core.model import EventKind, JobEvent, JobStatus, Requester

    configure_logging("WARNING")
    # The filter guards what is posted in Discord; here the files are the user's own.
    async with (
        _data_dir(settings, scratch) as settings,
        open_app(settings, nsfw_filter=False) as app,
    ):
        services, storage = app.services, app.storage
        bar = tqdm(total=1, unit="step", desc="queued")
        job_ids: set[int] = set()

        async def show(event: JobEvent) -> None:
            if event.kind == EventKind.PROGRESS and event.progress and event.job.id in job_ids:
                bar.desc = f"job {event.job.id}"
                bar.total = event.progress.total
                bar.n = event.progress.step
                bar.refresh()

        services.runner.add_listener(show)
        try:
            # The machine's own operator: no quota, no server.
            operator = Requester(user_id=0, is_admin=True, is_owner=True)
            admitted = await admit(services, operator)
        except UserError as exc:
            bar.close()
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        jobs = admitted if isinstance(admitted, list) else [admitted]
        job_ids.update(job.id for job in jobs)
        finals = [await services.runner.wait(job.id) for job in jobs]
        bar.close()
        for number, final in enumerate(finals, start=1):
            if final.status != JobStatus.DONE:
                print(f"error: job {final.id} {final.status}: {final.error}", file=sys.stderr)
                return 1
            target = output
            if len(finals) > 1:
                target = output.with_name(f"{output.stem}-{number}{output.suffix or '.png'}")
            rows = await services.runner.images(final.id)
            grid = storage.grid_path(final.id) if len(rows) > 1 else None
            images = [storage.image_file(row) for row in rows]
            clip = storage.clip_path(final.id)
            if clip.is_file():  # a clip: the MP4 itself
                target.parent.mkdir(parents=True, exist_ok=True)
                written = [Path(shutil.copyfile(clip, target))]
            else:
                written = copy_outputs(grid, images, target)
            p = final.params
            print(
                f"job {final.id}: {final.prompt[:60]!r} {p.width}x{p.height} x{len(rows)}, "
                f"seed {final.seed}, {p.steps} steps, cfg {p.guidance:g}, "
                f"model {p.model}" + "".join(f", lora {n}:{w:g}" for n, w in p.loras)
            )
            for path in written:
                print(path)
    return 0


def image_paths(output: Path, count: int) -> list[Path]:
    """Where the images of a grid written to ``output`` go: ``grid_1.png`` ... beside it."""
    suffix = output.suffix or ".png"
    return [output.with_name(f"{output.stem}_{k}{suffix}") for k in range(1, count + 1)]


def copy_outputs(grid: Path | None, images: list[Path], output: Path) -> list[Path]:
    """The grid to ``output`` and each image beside it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if grid is not None:
        shutil.copyfile(grid, output)
        written.append(output)
    for image, target in zip(images, image_paths(output, len(images)), strict=True):
        shutil.copyfile(image, target)
        written.append(target)
    return written


@contextlib.asynccontextmanager
async def _data_dir(settings: Settings, scratch: bool) -> AsyncIterator[Settings]:
    if not scratch:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="imaginebot-") as directory:
        yield settings.model_copy(update={"data_dir": Path(directory)})


async def import_image(services: Services, path: Path, text: str, who: Requester) -> Job:
    """``path`` kept as the one image of a finished job (its sides cut down to multiples
    of 8; ``text`` its prompt, parsed like /imagine's), so that buttons' jobs can start
    from it. ``UserError`` when it is not an image, or its size is not one the engine
    paints (64 px to ``MAX_UPSCALE_SIDE`` a side)."""
    import asyncio

    from PIL import Image, UnidentifiedImageError

    from core import offer
    from core.model import ImageRow, JobParams, JobStatus, NewJob
    from core.recipes import Imagine
    from engine import encode_png

    storage, limits = services.storage, services.limits
    parsed = services.jobs.check_prompt(text)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"{path} is not an image I can read: {exc}") from None
    size = (image.width // 8 * 8, image.height // 8 * 8)
    if min(size) < 64 or max(size) > limits.max_upscale_side:
        raise UserError(
            f"{path.name} is {image.width}x{image.height}; sides go from 64 px to "
            f"MAX_UPSCALE_SIDE ({limits.max_upscale_side})"
        )
    _, model = offer.model_for(services.engine, parsed.model, {})
    defaults = model.defaults
    params = JobParams(
        width=size[0],
        height=size[1],
        steps=min(parsed.steps or defaults.steps, limits.max_steps),
        guidance=defaults.guidance if parsed.cfg is None else parsed.cfg,
        num_images=1,
        model=model.name,
    )
    seed = 0 if parsed.seed is None else parsed.seed
    new = NewJob(who.user_id, parsed.prompt, parsed.negative or "", seed, params, Imagine())
    job = await storage.create_job(new)
    target = storage.image_path(job.id, 1)
    png = await asyncio.to_thread(encode_png, image.resize(size), {"Software": "imaginebot"})
    await asyncio.to_thread(storage.write_file, target, png)
    await storage.add_images([ImageRow(job.id, 1, size[0], size[1], seed)])
    await storage.finish_job(job.id, JobStatus.DONE)
    final = await storage.get_job(job.id, scope=who.scope)
    assert final is not None
    return final
