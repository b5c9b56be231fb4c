"""The waiting message: the interaction's one response, kept in step with the job
(queue position, percent and preview, ``Cancel``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
from functools import partial

import discord

from bot.discord_app.buttons import cancel_view
from bot.discord_app.delivery.budget import Waiting, choose
from bot.discord_app.delivery.live import Live, MessagesBase
from bot.discord_app.nsfw import filter_in
from bot.discord_app.sending import DEFAULT_FILE_LIMIT, SEND_ERRORS, token_alive, token_refused
from bot.discord_app.text import retired_text, waiting_text
from core import offer
from core.model import EventKind, Job, JobEvent
from engine import Progress, censor_each, encode_png

logger = logging.getLogger(__name__)

TOKEN, CHANNEL = "token", "channel"  # the two ways to edit a waiting message


class WaitingMessages(MessagesBase):
    """Answers an interaction with the job's message and refreshes it while it waits."""

    def start(self) -> None:
        """Start the refresher (on the bot's loop)."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="job-messages")

    async def adopt_waiting(self) -> int:
        """Keep in step the waiting messages of the jobs this start resumed: their places
        moved while the bot was away, and their tokens died with the last process, so
        through their channels, within the refresher's budget. Read a chunk at a time,
        the loop free between chunks; returns how many were adopted."""
        runner, after, adopted = self.bot.services.runner, 0, 0
        while jobs := await runner.active_jobs(after):
            for job in jobs:
                # Only a job the engine holds now: one that ended meanwhile was delivered.
                known = job.id in self._live or job.id in self._finished
                if known or job.message_id is None or runner.position(job.id) is None:
                    continue
                self._live[job.id] = Live(job, channel_id=job.channel_id, message_id=job.message_id)
                adopted += 1
            after = jobs[-1].id
            await asyncio.sleep(0)
        if adopted:
            logger.info("keeping %d waiting messages from before the start in step", adopted)
        return adopted

    async def track(self, job: Job, interaction: discord.Interaction) -> None:
        """Answer ``interaction`` with ``job``'s waiting message (its first and only
        response), then keep that message in step with the job."""
        if job.id in self._finished:
            # Over before it was answered (a ban cancelled it, say): its final state was
            # posted in the channel; the answer points there instead of showing "queued".
            current = await self.bot.services.runner.job(job.id)
            with contextlib.suppress(*SEND_ERRORS):
                await interaction.response.send_message(
                    retired_text(current), allowed_mentions=discord.AllowedMentions.none()
                )
            return
        live = self._live.setdefault(job.id, Live(job))
        live.interaction = interaction
        message = await self._show(live)
        if message is not None and live.interaction is not None:
            channel_id = getattr(message.channel, "id", None) or interaction.channel_id
            await self.bot.services.runner.record_message(job.id, channel_id, message.id)

    def keep_progress(self, event: JobEvent) -> None:
        """Remember a job's latest progress (and its last preview) for the refresher."""
        live = self._live.get(event.job.id)
        if event.kind != EventKind.PROGRESS or live is None or event.progress is None:
            return
        preview, flagged = event.progress.preview, event.progress.preview_nsfw
        if preview is None and live.progress is not None:
            # Keep showing the last one (with the classifier's verdict on it).
            preview, flagged = live.progress.preview, live.progress.preview_nsfw
        live.progress = dataclasses.replace(event.progress, preview=preview, preview_nsfw=flagged)

    def _state(self, live: Live, positions: dict[int, int] | None = None) -> tuple:
        if positions is None:
            positions = self.bot.services.runner.positions()
        position = positions.get(live.job.id)
        if position == 0 and live.progress is not None:
            percent = int(live.progress.fraction * 100)
            return (0, percent, id(live.progress.preview) if live.progress.preview else None)
        return (position, None, None)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds / 2)
            self._refresh()

    def _refresh(self) -> None:
        """Start this refresh's edits: the stale messages ``budget.choose`` picks."""
        if not self._live:
            return
        now = asyncio.get_running_loop().time()
        # The fair order is built once per refresh for every waiting job, not once per
        # message: with hundreds queued, that is the difference that keeps the loop free.
        positions = self.bot.services.runner.positions()
        stale = []
        for live in self._live.values():
            route = self._route(live)
            if route is None or live.lock.locked() or now - live.last_edit < self.refresh_seconds:
                continue
            state = self._state(live, positions)
            if state != live.shown:
                running = state[0] == 0
                stale.append(
                    Waiting(live.job.id, live.channel_id, running, live.last_edit, route == CHANNEL)
                )
        chosen = choose(
            stale,
            now=now,
            in_flight=len(self._edits),
            channel_busy=self._busy_channels,
            results_pending=self._results_pending,
            pace=self._pace,
        )
        for waiting in chosen:
            task = asyncio.create_task(self._show(self._live[waiting.job_id], positions))
            self._edits.add(task)
            task.add_done_callback(self._edits.discard)
            if waiting.channel_route and waiting.channel_id is not None:
                self._busy_channels.add(waiting.channel_id)
                task.add_done_callback(partial(_free, self._busy_channels, waiting.channel_id))

    @staticmethod
    def _route(live: Live) -> str | None:
        """How the waiting message can be edited now: through the interaction's token
        while it lives, else through its channel (when the message is known), else not."""
        interaction = live.interaction
        if interaction is not None and not live.token_dead and token_alive(interaction):
            return TOKEN
        if live.message_id is not None and live.channel_id is not None:
            return CHANNEL
        return None

    async def _show(
        self, live: Live, positions: dict[int, int] | None = None
    ) -> discord.Message | None:
        """Send (as the interaction's response) or edit the waiting message: position, or
        percent and preview, and ``Cancel``. An edit that fails (rate limited past
        discord.py's own retries, say) is left to a later refresh: nothing retries here."""
        interaction = live.interaction
        async with live.lock:
            if interaction is not None and not interaction.response.is_done():
                return await self._answer(live, interaction)
            route = self._route(live)
            if live.final or route is None:
                return None
            state = self._state(live, positions)
            position, percent, preview_id = state
            options: dict = {
                "content": waiting_text(live.job, position, percent, self._alias(live.job)),
                "view": cancel_view(live.job.id),
            }
            if preview_id is not None and (live.shown is None or live.shown[2] != preview_id):
                assert live.progress is not None and live.progress.preview is not None
                limit = getattr(interaction, "filesize_limit", None) or DEFAULT_FILE_LIMIT
                preview = await self._preview_file(live.job, live.progress, limit)
                if preview is not None:
                    options["attachments"] = [preview]
            live.last_edit = asyncio.get_running_loop().time()
            message: discord.Message
            try:
                if route == TOKEN:
                    assert interaction is not None
                    message = await interaction.edit_original_response(**options)
                else:
                    assert live.channel_id is not None and live.message_id is not None
                    channel = self.bot.get_partial_messageable(live.channel_id)
                    message = await channel.get_partial_message(live.message_id).edit(**options)
            except SEND_ERRORS as exc:
                if route == TOKEN and token_refused(exc):
                    # Expired (or revoked) before our clock said so: the channel from now on.
                    logger.info(
                        "job %s: its token was refused; editing in its channel", live.job.id
                    )
                    live.token_dead = True
                else:
                    # The job goes on all the same; its result is posted when it is done.
                    logger.warning("job %s: could not update its message: %s", live.job.id, exc)
                return None
            live.shown = state
            return message

    async def _preview_file(self, job: Job, progress: Progress, limit: int) -> discord.File | None:
        """The preview as its channel may see it: one the classifier flagged is blurred
        (a spoiler) or left out (``block``) outside NSFW channels; one over ``limit`` is
        left out, not refused."""
        mode = filter_in(self.bot, job.channel_id) if progress.preview_nsfw else "off"
        if mode == "block":
            return None

        def render() -> bytes:
            return encode_png(censor_each([progress.preview], [progress.preview_nsfw], mode)[0])

        data = await asyncio.to_thread(render)
        if len(data) > limit:
            return None
        name = "SPOILER_preview.png" if mode == "blur" else "preview.png"
        return discord.File(io.BytesIO(data), name)

    async def _answer(self, live: Live, interaction: discord.Interaction) -> discord.Message | None:
        """The interaction's one response: the job's waiting message (type 4, public)."""
        state = self._state(live)
        position, percent, _ = state
        try:
            response = await interaction.response.send_message(
                waiting_text(live.job, position, percent, self._alias(live.job)),
                view=cancel_view(live.job.id),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except SEND_ERRORS as exc:
            # The job is admitted and runs: its message goes to the channel instead.
            logger.warning("job %s: could not answer its interaction: %s", live.job.id, exc)
            live.interaction = None
            message = await self._send_waiting(live.job)
            if message is not None:
                live.message_id, live.channel_id = message.id, message.channel.id
            return message
        live.shown = state
        live.last_edit = asyncio.get_running_loop().time()
        answer = response.resource
        if not isinstance(answer, discord.InteractionMessage):
            return None
        live.message_id, live.channel_id = answer.id, answer.channel.id
        return answer

    def _alias(self, job: Job) -> str | None:
        """The alias a job's message names: its model's, when not the default."""
        return offer.alias_shown(self.bot.services.engine, job)

    async def post_waiting(self, job: Job) -> discord.Message | None:
        """Post ``job``'s waiting message in its channel (when no interaction response can
        show it) and remember it; the result is posted below it when the job is done."""
        live = self._live.setdefault(job.id, Live(job))
        async with live.lock:
            if live.final:
                return None
            shown = self._state(live)
            message = await self._send_waiting(job)
            if message is not None:
                live.message_id, live.channel_id = message.id, message.channel.id
                live.shown, live.last_edit = shown, asyncio.get_running_loop().time()
            return message

    async def _send_waiting(self, job: Job) -> discord.Message | None:
        if job.channel_id is None:
            logger.warning("job %s has no channel to post its waiting message in", job.id)
            return None
        try:
            channel = await self._channel(job.channel_id)
            async with self._posts.turn(job.channel_id):
                message = await channel.send(  # type: ignore[union-attr]
                    waiting_text(
                        job, self.bot.services.runner.position(job.id), alias=self._alias(job)
                    ),
                    view=cancel_view(job.id),
                )
        except SEND_ERRORS as exc:
            logger.warning("job %s: could not post its waiting message: %r", job.id, exc)
            return None
        await self.bot.services.runner.record_message(job.id, message.channel.id, message.id)
        return message


def _free(channels: set[int], channel: int, _: asyncio.Task) -> None:
    """A channel's position edit is over: the next may start."""
    channels.discard(channel)
