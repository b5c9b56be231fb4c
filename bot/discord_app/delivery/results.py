"""The result: posted once, by editing the job's message while its token lives, else in
its channel (mentioning its owner); marked delivered only once Discord has it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from bot.discord_app.delivery.live import FINISHED_KEPT, Live, MessagesBase
from bot.discord_app.delivery.payload import build_payload
from bot.discord_app.sending import (
    DEFAULT_FILE_LIMIT,
    SEND_ERRORS,
    token_alive,
    with_retries,
)
from bot.discord_app.text import retired_text
from core.model import Job

logger = logging.getLogger(__name__)


class Deliveries(MessagesBase):
    """Posts each finished job's result once."""

    async def deliver_pending(self) -> None:
        """Post the results that a stop or an outage kept from Discord."""
        for job in await self.bot.services.runner.undelivered():
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

    async def deliver(self, job: Job) -> None:
        """Post the final state of ``job`` (its final row, as the finished event or the
        list of undelivered jobs brought it): its images and buttons, or why there are
        none.

        Once: under the job's lock, a job delivered since (by the other of those two
        callers) is left alone; it is marked delivered only when Discord has the message.
        """
        task = asyncio.current_task()
        if task is not None:
            self._deliveries.add(task)
        live = self._live.setdefault(job.id, Live(job))
        # Before any await: from now on, position edits in this channel give way to it.
        channel = live.channel_id
        if channel is not None:
            self._results_pending[channel] += 1
        try:
            async with live.lock:
                live.final = True
                if job.id in self._delivered:
                    return
                message = None
                interaction = live.interaction
                if interaction is not None and not live.token_dead and token_alive(interaction):
                    message = await self._edit_response(job, interaction)
                posted = False
                if message is None:
                    message = await self._post_in_channel(job)
                    posted = message is not None
                if message is not None:
                    # Delivered as soon as Discord has the result: a stop from here on
                    # never posts it twice (the old message's edit below is a courtesy).
                    await self.bot.services.runner.record_message(
                        job.id, message.channel.id, message.id, delivered=True
                    )
                    _remember(self._delivered, job.id)
                if posted:
                    await self._retire_waiting_message(job, message.channel)
        finally:
            if channel is not None:
                self._results_pending[channel] -= 1
                if self._results_pending[channel] <= 0:
                    del self._results_pending[channel]
            self._live.pop(job.id, None)
            _remember(self._finished, job.id)
            if task is not None:
                self._deliveries.discard(task)

    async def _edit_response(
        self, job: Job, interaction: discord.Interaction
    ) -> discord.Message | None:
        limit = getattr(interaction, "filesize_limit", None) or DEFAULT_FILE_LIMIT
        payload = await build_payload(self.bot, job, limit)

        async def edit() -> discord.Message:
            return await interaction.edit_original_response(
                content=payload.content(job),
                attachments=payload.files(),
                view=payload.view,
            )

        try:
            return await with_retries(edit, f"job {job.id} result")
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
        payload = await build_payload(self.bot, job, limit)

        async def send() -> discord.Message:
            async with self._posts.turn(channel.id):
                return await channel.send(  # type: ignore[union-attr]
                    content=payload.content(job),
                    files=payload.files(),
                    view=payload.view,
                    allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]),
                )

        try:
            return await with_retries(
                send, f"job {job.id} result in channel", statuses=frozenset({503})
            )
        except SEND_ERRORS as exc:
            # Not marked delivered: the next start tries again.
            logger.warning("job %s: could not post its result: %r", job.id, exc)
            return None

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


def _remember(ids: set[int], job_id: int) -> None:
    """Add ``job_id``, keeping the newest ``FINISHED_KEPT`` (ids grow)."""
    ids.add(job_id)
    if len(ids) > FINISHED_KEPT:
        ids.discard(min(ids))
