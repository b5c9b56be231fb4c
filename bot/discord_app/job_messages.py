"""Showing jobs in Discord: the waiting message, then the grid or image with its buttons.

A job started by an interaction is shown by editing that interaction's response while
its token lives (15 minutes); otherwise (a job resumed after a restart, an expired token,
a failed edit) the result is posted in the job's channel, mentioning its owner.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import aiohttp
import discord

from bot.discord_app.buttons import grid_view, upscale_view
from bot.discord_app.render import result_text, waiting_text
from bot.service import JobEvent
from engine.images import fit_png
from storage.db import Job

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; leave a margin for the upload itself.
TOKEN_LIFETIME = timedelta(minutes=14)
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
RETRY_DELAYS = (1.0, 2.0, 4.0)

T = TypeVar("T")


@dataclass
class _Live:
    interaction: discord.Interaction | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    final: bool = False


class JobMessages:
    """Keeps each job's Discord message in step with the job."""

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self._live: dict[int, _Live] = {}

    async def track(self, job: Job, interaction: discord.Interaction) -> None:
        """Show ``job`` in the response to ``interaction`` (already deferred)."""
        live = self._live.setdefault(job.id, _Live())
        live.interaction = interaction
        async with live.lock:
            if live.final:
                return
            position = self.bot.service.position(job.id)
            try:
                message = await interaction.edit_original_response(
                    content=waiting_text(job, position)
                )
            except discord.HTTPException as exc:
                # The job is queued all the same; its result is posted when it is done.
                logger.warning("job %s: could not show it queued: %s", job.id, exc)
                return
            await self.bot.service.record_message(job.id, message.channel.id, message.id)

    async def on_event(self, event: JobEvent) -> None:
        """Service listener: update the message when a job starts and when it ends."""
        if event.kind == "started":
            live = self._live.get(event.job.id)
            if live is None or live.interaction is None:
                return
            async with live.lock:
                if not live.final and _token_alive(live.interaction):
                    try:
                        await live.interaction.edit_original_response(
                            content=waiting_text(event.job, 0)
                        )
                    except discord.HTTPException as exc:
                        logger.info("job %s: could not show it running: %s", event.job.id, exc)
        elif event.kind == "finished":
            await self.deliver(event.job)

    async def deliver(self, job: Job) -> None:
        """Post the final state of ``job``: its images and buttons, or why there are none."""
        live = self._live.setdefault(job.id, _Live())
        try:
            async with live.lock:
                live.final = True
                message = None
                if live.interaction is not None and _token_alive(live.interaction):
                    message = await self._edit_response(job, live.interaction)
                if message is None:
                    message = await self._post_in_channel(job)
                if message is not None:
                    await self.bot.service.record_message(job.id, message.channel.id, message.id)
        finally:
            self._live.pop(job.id, None)

    async def _edit_response(
        self, job: Job, interaction: discord.Interaction
    ) -> discord.Message | None:
        limit = getattr(interaction, "filesize_limit", None) or DEFAULT_FILE_LIMIT
        payload = await self._payload(job, limit)

        async def edit() -> discord.Message:
            return await interaction.edit_original_response(
                content=result_text(job),
                attachments=payload.files(),
                view=payload.view,
            )

        try:
            return await _with_retries(edit, f"job {job.id} result")
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("job %s: editing the response failed (%s); posting instead", job.id, exc)
            return None

    async def _post_in_channel(self, job: Job) -> discord.Message | None:
        if job.channel_id is None:
            logger.warning("job %s has no channel to post its result in", job.id)
            return None
        await self.bot.wait_until_ready()
        try:
            channel = self.bot.get_channel(job.channel_id) or await self.bot.fetch_channel(
                job.channel_id
            )
        except discord.HTTPException as exc:
            logger.warning("job %s: channel %s unavailable: %s", job.id, job.channel_id, exc)
            return None
        guild = getattr(channel, "guild", None)
        limit = getattr(guild, "filesize_limit", None) or DEFAULT_FILE_LIMIT
        payload = await self._payload(job, limit)

        async def send() -> discord.Message:
            return await channel.send(  # type: ignore[union-attr]
                content=result_text(job),
                files=payload.files(),
                view=payload.view,
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
            )

        try:
            return await _with_retries(send, f"job {job.id} result in channel")
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            logger.error("job %s: could not post its result: %s", job.id, exc)
            return None

    async def _payload(self, job: Job, limit: int) -> _Payload:
        if job.status != "done":
            return _Payload([], None)
        storage = self.bot.service.storage
        rows = await self.bot.service.images(job.id)
        if len(rows) == 1:
            path = storage.absolute(rows[0].path)
            view = upscale_view(job.id)
        else:
            path = storage.grid_path(job.id)
            view = grid_view(job.id)
        data = await asyncio.to_thread(_fitting_png, path, limit)
        return _Payload([(f"job-{job.id}.png", data)], view)


@dataclass
class _Payload:
    attachments: list[tuple[str, bytes]]
    view: discord.ui.View | None

    def files(self) -> list[discord.File]:
        # A discord.File is consumed by one upload: each try gets fresh ones.
        return [discord.File(io.BytesIO(data), filename=name) for name, data in self.attachments]


def _fitting_png(path, limit: int) -> bytes:
    """The file as it is when it fits, else scaled down to fit the attachment limit."""
    from PIL import Image

    data = path.read_bytes()
    if len(data) <= limit:
        return data
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return fit_png(image, limit, {k: str(v) for k, v in image.text.items()})


def _token_alive(interaction: discord.Interaction) -> bool:
    return datetime.now(UTC) - interaction.created_at < TOKEN_LIFETIME


async def _with_retries(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Retry Discord's server errors and timeouts with backoff; client errors are final."""
    for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
        try:
            return await call()
        except discord.HTTPException as exc:
            if exc.status < 500 or delay is None:
                raise
            logger.warning("%s: Discord answered %s (try %d); retrying", what, exc.status, attempt)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if delay is None:
                raise
            logger.warning("%s: %r (try %d); retrying", what, exc, attempt)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")
