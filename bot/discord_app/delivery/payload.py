"""What a finished job's message carries: the grid or image (fitted to the upload
limit), blurred or withheld by the NSFW filter outside NSFW channels, and its buttons."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.discord_app.buttons import clip_view, grid_view, upscale_view
from bot.discord_app.nsfw import filter_in
from bot.discord_app.text import result_text
from core import offer
from core.clips import is_clip
from core.model import ImageRow, Job, JobStatus
from core.outputs import fitting_clip
from engine import censor, fit_png, fitting_png

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

GONE = "Its images are no longer kept."


@dataclass
class Payload:
    attachments: list[tuple[str, bytes]]
    view: discord.ui.View | None
    notice: str = ""
    alias: str | None = None  # the model's, when it is not the default

    def content(self, job: Job) -> str:
        """The result text, with the filter's notice when there is one."""
        text = result_text(job, self.alias)
        return f"{text}\n{self.notice}"[:2000] if self.notice else text

    def files(self) -> list[discord.File]:
        # A discord.File is consumed by one upload: each try gets fresh ones.
        return [discord.File(io.BytesIO(data), filename=name) for name, data in self.attachments]


async def build_payload(bot: ImagineBot, job: Job, limit: int) -> Payload:
    """The attachments and buttons of ``job``'s final message (none unless it is done)."""
    payload = await _build(bot, job, limit)
    payload.alias = offer.alias_shown(bot.services.engine, job)
    return payload


async def _build(bot: ImagineBot, job: Job, limit: int) -> Payload:
    if job.status != JobStatus.DONE:
        return Payload([], None)
    if job.images_expired_at is not None or job.purged_at is not None:
        # A result that never reached Discord while its images were kept: its text.
        logger.info("job %s: its images were removed before its result was posted", job.id)
        return Payload([], None, GONE)
    try:
        return await _with_images(bot, job, limit)
    except FileNotFoundError as exc:  # removed since its row was read
        logger.warning("job %s: its images are gone: %s", job.id, exc)
        return Payload([], None, GONE)


async def _with_images(bot: ImagineBot, job: Job, limit: int) -> Payload:
    storage = bot.services.storage
    rows = await bot.services.runner.images(job.id)
    flags = [row.nsfw for row in rows]
    mode = filter_in(bot, job.channel_id)
    if is_clip(job):
        return await _clip(bot, job, any(flags), mode, limit)
    animate = bot.services.engine.video is not None
    draft = bool(job.params.draft)
    view = upscale_view(job.id, animate=animate) if len(rows) == 1 else grid_view(job.id, draft)
    if any(flags) and mode != "off":
        return await _censored(bot, job, rows, mode, limit, view)
    path = storage.image_file(rows[0]) if len(rows) == 1 else storage.grid_path(job.id)
    data = await asyncio.to_thread(fitting_png, path, limit)
    return Payload([(f"job-{job.id}.png", data)], view)


async def _clip(bot: ImagineBot, job: Job, flagged: bool, mode: str, limit: int) -> Payload:
    """A clip (MP4, made under Discord's least limit; where files must be smaller, encoded
    again to fit on an encoder thread: ``core.outputs.fitting_clip``), withheld outside
    NSFW channels when the NSFW filter flagged a frame (``blur`` and ``block`` alike: a
    clip cannot be blurred as an image is, and a spoiler plays at one click)."""
    view = clip_view(job.id)
    if flagged and mode != "off":  # a spoiler is one click from playing: withheld
        return Payload([], view, "The clip was withheld by the NSFW filter.")
    services = bot.services
    try:
        data = await services.runner.encoders.run(fitting_clip, services.storage, job.id, limit)
    except ValueError as exc:  # a limit no clip could meet (a few kilobytes)
        logger.warning("job %s: the clip cannot be sent here: %s", job.id, exc)
        return Payload([], view, f"The clip cannot fit in this channel's {limit} byte limit.")
    return Payload([(f"job-{job.id}.mp4", data)], view)


async def _censored(
    bot: ImagineBot,
    job: Job,
    rows: list[ImageRow],
    mode: str,
    limit: int,
    view: discord.ui.View,
) -> Payload:
    """Flagged images outside an NSFW channel: blurred as a spoiler, or withheld."""
    paths = [bot.services.storage.image_file(row) for row in rows]
    flags = [row.nsfw for row in rows]

    def render() -> bytes | None:
        from PIL import Image

        images = []
        for path in paths:
            with Image.open(path) as opened:
                images.append(opened.convert("RGB"))
        picture = censor(images, flags, mode)
        return None if picture is None else fit_png(picture, limit)

    data = await asyncio.to_thread(render)
    flagged = sum(flags)
    if mode == "blur":
        notice = f"{_images(flagged)} flagged by the NSFW filter, blurred: open the spoiler."
        name = f"SPOILER_job-{job.id}.png"
    else:
        notice = f"{_images(flagged)} withheld by the NSFW filter."
        name = f"job-{job.id}.png"
    attachments = [] if data is None else [(name, data)]
    logger.info("job %s: %d images flagged, %s", job.id, flagged, mode)
    return Payload(attachments, view, notice)


def _images(count: int) -> str:
    return "1 image was" if count == 1 else f"{count} images were"
