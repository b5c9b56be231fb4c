"""Showing jobs in Discord: the waiting message, then the grid or image with its buttons.

A job started by an interaction is shown by editing that interaction's response while
its token lives (15 minutes); otherwise (a job resumed after a restart, an expired token,
a failed edit) the result is posted in the job's channel, mentioning its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import discord

from bot.discord_app.buttons import cancel_view, grid_view, upscale_view
from bot.discord_app.render import result_text, retired_text, waiting_text
from core.service import JobEvent
from engine.images import censor, encode_png, fit_png
from engine.types import Progress
from storage.db import Job

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; leave a margin for the upload itself.
TOKEN_LIFETIME = timedelta(minutes=14)
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
RETRY_DELAYS = (1.0, 2.0, 4.0)
FINISHED_KEPT = 1000
REFRESH_SECONDS = 2.0  # the fastest a waiting message is edited
DELIVERY_GRACE_SECONDS = 15.0  # at shutdown, for results already on their way
# What sending to Discord can raise; RuntimeError is a session closed by a shutdown.
SEND_ERRORS = (discord.HTTPException, aiohttp.ClientError, TimeoutError, RuntimeError)

T = TypeVar("T")


@dataclass
class _Live:
    job: Job
    interaction: discord.Interaction | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    final: bool = False
    progress: Progress | None = None
    shown: tuple | None = None  # (position, percent, preview) last shown
    last_edit: float = 0.0


class JobMessages:
    """Keeps each job's Discord message in step with the job.

    While a job waits or runs, a refresher edits its message with the queue position, or
    the percent done and a preview, at most once every ``refresh_seconds`` per message
    (Discord rate-limits edits); the final result is always posted.
    """

    def __init__(self, bot: ImagineBot, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.bot = bot
        self.refresh_seconds = refresh_seconds
        self._live: dict[int, _Live] = {}
        self._refresher: asyncio.Task | None = None
        self._edits: set[asyncio.Task] = set()
        self._deliveries: set[asyncio.Task] = set()
        self._finished: set[int] = set()  # recently delivered jobs (ids grow)

    def start(self) -> None:
        """Start the refresher (on the bot's loop)."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="job-messages")

    async def close(self, *, grace: float = DELIVERY_GRACE_SECONDS) -> None:
        """Stop the refresher and progress edits; give results on their way time to land.

        A result still not posted after ``grace`` is posted at the next start: the job
        row is only marked delivered once Discord has it.
        """
        tasks = [t for t in (self._refresher, *self._edits) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refresher = None
        if self._deliveries:
            await asyncio.wait(list(self._deliveries), timeout=grace)

    async def deliver_pending(self) -> None:
        """Post the results that a stop or an outage kept from Discord."""
        for job in await self.bot.service.undelivered():
            if job.id not in self._live:  # a job being shown now delivers itself
                logger.info("job %s: posting the result that did not reach Discord", job.id)
                await self.deliver(job)

    async def delete_message(self, job: Job) -> bool:
        """Delete the message that shows ``job`` (a purge); False when there is none."""
        if job.message_id is None or job.channel_id is None:
            return False
        try:
            channel = await self._channel(job.channel_id)
            await channel.get_partial_message(job.message_id).delete()  # type: ignore[union-attr]
        except SEND_ERRORS as exc:
            logger.warning("job %s: could not delete its message: %r", job.id, exc)
            return False
        return True

    async def track(self, job: Job, interaction: discord.Interaction) -> None:
        """Answer ``interaction`` with ``job``'s waiting message (its first and only
        response), then keep that message in step with the job."""
        if job.id in self._finished:
            # Over before it was answered (a ban cancelled it, say): its final state was
            # posted in the channel; the answer points there instead of showing "queued".
            current = await self.bot.service.job(job.id)
            with contextlib.suppress(*SEND_ERRORS):
                await interaction.response.send_message(
                    retired_text(current), allowed_mentions=discord.AllowedMentions.none()
                )
            return
        live = self._live.setdefault(job.id, _Live(job))
        live.interaction = interaction
        message = await self._show(live)
        if message is not None and live.interaction is not None:
            channel_id = getattr(message.channel, "id", None) or interaction.channel_id
            await self.bot.service.record_message(job.id, channel_id, message.id)

    async def on_event(self, event: JobEvent) -> None:
        """Service listener: keep the latest progress; post the result when a job ends."""
        if event.kind == "progress":
            live = self._live.get(event.job.id)
            if live is not None and event.progress is not None:
                preview = event.progress.preview
                if preview is None and live.progress is not None:
                    preview = live.progress.preview  # keep showing the last one
                live.progress = dataclasses.replace(event.progress, preview=preview)
        elif event.kind == "finished":
            await self.deliver(event.job)

    def _state(self, live: _Live, positions: dict[int, int] | None = None) -> tuple:
        if positions is None:
            positions = self.bot.service.positions()
        position = positions.get(live.job.id)
        if position == 0 and live.progress is not None:
            percent = int(live.progress.fraction * 100)
            return (0, percent, id(live.progress.preview) if live.progress.preview else None)
        return (position, None, None)

    async def _refresh_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.refresh_seconds / 2)
            now = loop.time()
            # The fair order is built once per refresh for every waiting job, not once per
            # message: with hundreds queued, that is the difference that keeps the loop free.
            positions = self.bot.service.positions() if self._live else {}
            for live in list(self._live.values()):
                if (
                    live.final
                    or live.interaction is None
                    or live.lock.locked()
                    or now - live.last_edit < self.refresh_seconds
                    or self._state(live, positions) == live.shown
                ):
                    continue
                task = asyncio.create_task(self._show(live, positions))
                self._edits.add(task)
                task.add_done_callback(self._edits.discard)

    async def _show(
        self, live: _Live, positions: dict[int, int] | None = None
    ) -> discord.Message | None:
        """Send (as the interaction's response) or edit the waiting message: position, or
        percent and preview, and ``Cancel``."""
        interaction = live.interaction
        if interaction is None:
            return None
        async with live.lock:
            if not interaction.response.is_done():
                return await self._answer(live, interaction)
            if live.final or not _token_alive(interaction):
                return None
            state = self._state(live, positions)
            position, percent, preview_id = state
            options: dict = {
                "content": waiting_text(live.job, position, percent),
                "view": cancel_view(live.job.id),
            }
            if preview_id is not None and (live.shown is None or live.shown[2] != preview_id):
                assert live.progress is not None and live.progress.preview is not None
                data = await asyncio.to_thread(encode_png, live.progress.preview)
                limit = getattr(interaction, "filesize_limit", None) or DEFAULT_FILE_LIMIT
                if len(data) <= limit:  # a preview over the limit is left out, not refused
                    options["attachments"] = [discord.File(io.BytesIO(data), "preview.png")]
            live.last_edit = asyncio.get_running_loop().time()
            try:
                message = await interaction.edit_original_response(**options)
            except SEND_ERRORS as exc:
                # The job goes on all the same; its result is posted when it is done.
                logger.warning("job %s: could not update its message: %s", live.job.id, exc)
                return None
            live.shown = state
            return message

    async def _answer(
        self, live: _Live, interaction: discord.Interaction
    ) -> discord.Message | None:
        """The interaction's one response: the job's waiting message (type 4, public)."""
        state = self._state(live)
        position, percent, _ = state
        try:
            response = await interaction.response.send_message(
                waiting_text(live.job, position, percent),
                view=cancel_view(live.job.id),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except SEND_ERRORS as exc:
            # The job is admitted and runs: its message goes to the channel instead.
            logger.warning("job %s: could not answer its interaction: %s", live.job.id, exc)
            live.interaction = None
            return await self._send_waiting(live.job)
        live.shown = state
        live.last_edit = asyncio.get_running_loop().time()
        message = response.resource
        return message if isinstance(message, discord.InteractionMessage) else None

    async def post_waiting(self, job: Job) -> discord.Message | None:
        """Post ``job``'s waiting message in its channel (when no interaction response can
        show it) and remember it; the result is posted below it when the job is done."""
        live = self._live.setdefault(job.id, _Live(job))
        async with live.lock:
            if live.final:
                return None
            return await self._send_waiting(job)

    async def _send_waiting(self, job: Job) -> discord.Message | None:
        if job.channel_id is None:
            logger.warning("job %s has no channel to post its waiting message in", job.id)
            return None
        try:
            channel = await self._channel(job.channel_id)
            message = await channel.send(  # type: ignore[union-attr]
                waiting_text(job, self.bot.service.position(job.id)),
                view=cancel_view(job.id),
            )
        except SEND_ERRORS as exc:
            logger.warning("job %s: could not post its waiting message: %r", job.id, exc)
            return None
        await self.bot.service.record_message(job.id, message.channel.id, message.id)
        return message

    async def deliver(self, job: Job) -> None:
        """Post the final state of ``job``: its images and buttons, or why there are none.

        Once: the row is read again under the job's lock, and marked delivered only when
        Discord has the message.
        """
        task = asyncio.current_task()
        if task is not None:
            self._deliveries.add(task)
        live = self._live.setdefault(job.id, _Live(job))
        try:
            async with live.lock:
                live.final = True
                current = await self.bot.service.job(job.id)
                if current.delivered_at is not None:
                    return
                message = None
                if live.interaction is not None and _token_alive(live.interaction):
                    message = await self._edit_response(current, live.interaction)
                if message is None:
                    message = await self._post_in_channel(current)
                if message is not None:
                    await self.bot.service.record_message(
                        job.id, message.channel.id, message.id, delivered=True
                    )
        finally:
            self._live.pop(job.id, None)
            self._finished.add(job.id)
            if len(self._finished) > FINISHED_KEPT:
                self._finished.discard(min(self._finished))
            if task is not None:
                self._deliveries.discard(task)

    async def _edit_response(
        self, job: Job, interaction: discord.Interaction
    ) -> discord.Message | None:
        limit = getattr(interaction, "filesize_limit", None) or DEFAULT_FILE_LIMIT
        payload = await self._payload(job, limit)

        async def edit() -> discord.Message:
            return await interaction.edit_original_response(
                content=payload.content(job),
                attachments=payload.files(),
                view=payload.view,
            )

        try:
            return await _with_retries(edit, f"job {job.id} result")
        except SEND_ERRORS as exc:
            logger.warning("job %s: editing the response failed (%s); posting instead", job.id, exc)
            return None

    async def _post_in_channel(self, job: Job) -> discord.Message | None:
        if job.channel_id is None:
            logger.warning("job %s has no channel to post its result in", job.id)
            return None
        await self.bot.wait_until_ready()
        try:
            channel = await self._channel(job.channel_id)
        except SEND_ERRORS as exc:
            logger.warning("job %s: channel %s unavailable: %r", job.id, job.channel_id, exc)
            return None
        guild = getattr(channel, "guild", None)
        limit = getattr(guild, "filesize_limit", None) or DEFAULT_FILE_LIMIT
        payload = await self._payload(job, limit)

        async def send() -> discord.Message:
            return await channel.send(  # type: ignore[union-attr]
                content=payload.content(job),
                files=payload.files(),
                view=payload.view,
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
            )

        try:
            message = await _with_retries(
                send, f"job {job.id} result in channel", statuses=frozenset({503})
            )
        except SEND_ERRORS as exc:
            # Not marked delivered: the next start tries again.
            logger.warning("job %s: could not post its result: %r", job.id, exc)
            return None
        await self._retire_waiting_message(job, channel)
        return message

    async def _retire_waiting_message(self, job: Job, channel: Any) -> None:
        """The old "queued"/"running" reply points to the result posted below it."""
        if job.message_id is None:
            return
        try:
            await channel.get_partial_message(job.message_id).edit(
                content=retired_text(job), attachments=[], view=None
            )
        except SEND_ERRORS as exc:
            logger.info("job %s: could not update its old message: %r", job.id, exc)

    async def _payload(self, job: Job, limit: int) -> _Payload:
        if job.status != "done":
            return _Payload([], None)
        storage = self.bot.service.storage
        rows = await self.bot.service.images(job.id)
        view = upscale_view(job.id) if len(rows) == 1 else grid_view(job.id)
        flags = [row.nsfw for row in rows]
        mode = self.bot.settings.nsfw_filter
        if any(flags) and mode != "off" and not self._channel_is_nsfw(job.channel_id):
            return await self._censored(job, rows, flags, mode, limit, view)
        path = storage.absolute(rows[0].path) if len(rows) == 1 else storage.grid_path(job.id)
        data = await asyncio.to_thread(_fitting_png, path, limit)
        return _Payload([(f"job-{job.id}.png", data)], view)

    async def _censored(self, job, rows, flags, mode, limit, view) -> _Payload:
        """Flagged images outside an NSFW channel: blurred as a spoiler, or withheld."""
        paths = [self.bot.service.storage.absolute(row.path) for row in rows]

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
        return _Payload(attachments, view, notice)

    async def _channel(self, channel_id: int) -> Any:
        """The channel from the cache, else from Discord (raises what sending raises)."""
        return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)

    def _channel_is_nsfw(self, channel_id: int | None) -> bool:
        channel = self.bot.get_channel(channel_id) if channel_id else None
        is_nsfw = getattr(channel, "is_nsfw", None)
        return bool(is_nsfw()) if callable(is_nsfw) else False


def _images(count: int) -> str:
    return "1 image was" if count == 1 else f"{count} images were"


@dataclass
class _Payload:
    attachments: list[tuple[str, bytes]]
    view: discord.ui.View | None
    notice: str = ""

    def content(self, job: Job) -> str:
        """The result text, with the filter's notice when there is one."""
        text = result_text(job)
        return f"{text}\n{self.notice}"[:2000] if self.notice else text

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


async def _with_retries(
    call: Callable[[], Awaitable[T]], what: str, *, statuses: frozenset[int] = frozenset()
) -> T:
    """Retry with backoff what discord.py does not retry itself: timeouts, dropped
    connections, and the server error ``statuses`` given (its webhook calls retry every
    5xx, its other calls 500, 502, 504 and 524). Client errors are final."""
    for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
        try:
            return await call()
        except discord.HTTPException as exc:
            if exc.status not in statuses or delay is None:
                raise
            logger.warning("%s: Discord answered %s (try %d); retrying", what, exc.status, attempt)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if delay is None:
                raise
            logger.warning("%s: %r (try %d); retrying", what, exc, attempt)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")
